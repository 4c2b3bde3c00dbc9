"""Command-line tools for devices: validate register maps, probe a live device, serve a simulated one."""

from __future__ import annotations

from pathlib import Path

import typer

from app.devices.registermap import RegisterMap, load_map
from app.yamlsrc import SourceError

EXIT_INVALID = 2


def map_or_exit(path: Path) -> RegisterMap:
    """Load a register map, or print its problems as FILE:LINE: field: message and exit 2."""
    try:
        return load_map(path)
    except SourceError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(EXIT_INVALID) from None


def check_map(files: list[Path] = typer.Argument(..., help="register map files (YAML)")) -> None:
    """Validate register maps: exit 0 when all are valid, else exit 2 with FILE:LINE: field: message lines."""
    failed = False
    for path in files:
        try:
            regmap = load_map(path)
        except SourceError as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(problem, err=True)
            continue
        writable = sum(1 for p in regmap.points if p.writable)
        typer.echo(f"{path}: valid {regmap.device_kind} map '{regmap.manufacturer} {regmap.model}' — "
                   f"{len(regmap.points)} points, {writable} writable")
    if failed:
        raise typer.Exit(EXIT_INVALID)
