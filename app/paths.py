"""Where the shipped data folders live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The shipped folder `name` (register_maps, migrations, examples).

    A wheel carries them under ``app/_data/``; a source checkout (editable install) has them at the
    project root beside ``app/``.
    """
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"shipped data folder {name!r} not found beside {_PACKAGE}")
