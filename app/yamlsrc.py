"""YAML with line numbers: every value's source line, so any validation error can name FILE:LINE.

Used for site files and register maps. Duplicate keys are errors (PyYAML would keep the last silently).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, Any]
M = TypeVar("M", bound=BaseModel)


class SourceError(Exception):
    """A file that cannot be used, with every problem as ``FILE:LINE: dotted.field: message (got VALUE)``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class LocatedYaml:
    """A parsed YAML document and the line (1-based) where each key path starts."""

    def __init__(self, path: Path, data: Any, lines: dict[Loc, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    def line_of(self, loc: Iterable[str | int]) -> int:
        """The line of the deepest part of `loc` that exists in the file."""
        parts = tuple(loc)
        for n in range(len(parts), -1, -1):
            if parts[:n] in self.lines:
                return self.lines[parts[:n]]
        return 1

    def problem(self, loc: Iterable[str | int], message: str, got: Any = None, show_got: bool = True) -> str:
        """One problem line in the documented format."""
        loc = tuple(loc)
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        text = f"{self.path}:{self.line_of(loc)}: {dotted}: {message}"
        if show_got:
            text += f" (got {_short(got)})"
        return text

    def validation_problems(self, exc: ValidationError) -> list[str]:
        """Translate pydantic errors to problem lines, keeping only locations that exist in the data."""
        problems = []
        for err in exc.errors(include_url=False):
            loc = _data_loc(self.data, err["loc"])
            missing = err["type"] == "missing"
            got = "nothing" if missing else err.get("input")
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(self.problem(loc, message, got))
        return problems


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, str) and value == "nothing":
        return value
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """Drop pydantic's synthetic location parts (union tags, validator names) that are not keys in the data."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.replace("_", "").isalnum() \
                and part not in _SYNTHETIC and not part.startswith("function-"):
            out.append(part)  # a missing or unknown key: name it, its line is the parent's
            node = None
    return tuple(out)


_SYNTHETIC = {"list", "dict", "str", "int", "float", "bool", "literal_error"}


def load(path: str | Path) -> LocatedYaml:
    """Parse `path`; raise SourceError naming the line on any syntax error or duplicate key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError([f"{path}:1: (file): cannot read: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        raise SourceError([f"{path}:1: (file): not UTF-8 text: {exc.reason}"]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise SourceError([f"{path}:{line}: (yaml): syntax error: {exc.problem or exc}"]) from exc
    if node is None:
        raise SourceError([f"{path}:1: (top level): the file is empty"])
    lines: dict[Loc, int] = {(): node.start_mark.line + 1}
    problems: list[str] = []
    data = _construct(node, (), lines, problems, path)
    if problems:
        raise SourceError(problems)
    return LocatedYaml(path, data, lines)


def _construct(node: yaml.Node, loc: Loc, lines: dict[Loc, int], problems: list[str], path: Path) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            child = (*loc, key)
            if key in out:
                problems.append(f"{path}:{key_node.start_mark.line + 1}: {'.'.join(map(str, child))}: "
                                f"duplicate key (first at line {lines[child]})")
                continue
            lines[child] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, child, lines, problems, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            items.append(_construct(item, (*loc, i), lines, problems, path))
        return items
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    """Construct a scalar with the safe loader's type resolution (ints, floats, bools, null, strings)."""
    return yaml.SafeLoader("").construct_object(node, deep=True)


def load_model(path: str | Path, model: type[M], what: str,
               checks: Callable[[M], list[Problem]] | None = None) -> M:
    """Parse `path`, validate it as `model`, then run the cross-field `checks`.

    Raises SourceError listing every problem with its line; nothing is returned half-valid.
    A check's problem with value None is reported without a ``(got ...)`` part.
    """
    doc = load(path)
    if not isinstance(doc.data, dict):
        raise SourceError([doc.problem((), f"{what} must be a mapping", doc.data)])
    try:
        obj = model.model_validate(doc.data)
    except ValidationError as exc:
        raise SourceError(doc.validation_problems(exc)) from None
    problems = checks(obj) if checks else []
    if problems:
        raise SourceError([doc.problem(loc, message, got, show_got=got is not None)
                           for loc, message, got in problems])
    return obj
