"""The `hpsup` command line: one entry point, each area's commands registered here."""

from __future__ import annotations

import typer

cli = typer.Typer(
    no_args_is_help=True, add_completion=False, help="hp-supervisor: heat pump supervisory controller."
)

from app.monitoring.cli import cop_app  # noqa: E402

cli.add_typer(cop_app, name="cop")


def main() -> None:
    """Console-script entry point."""
    cli()
