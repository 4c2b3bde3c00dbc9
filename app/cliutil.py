"""Helpers every command shares: load a validated file or exit 2 printing FILE:LINE: field: message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from app.yamlsrc import SourceError

if TYPE_CHECKING:
    from app.config import SiteConfig

EXIT_INVALID = 2
T = TypeVar("T")


def loaded_or_exit(load: Callable[[Path], T], path: Path) -> T:
    """`load(path)`, or print every problem (one per line, on stderr) and exit with status 2."""
    try:
        return load(path)
    except SourceError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(EXIT_INVALID) from None


def site_or_exit(path: Path) -> SiteConfig:
    """The validated site file at `path`, or exit 2 with its problems."""
    from app.config import load_site

    return loaded_or_exit(load_site, path)
