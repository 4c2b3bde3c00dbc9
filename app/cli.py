"""The `hpsup` command line: one entry point, each area's commands registered here."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from app.audit.cli import l8_export, l8_verify
from app.cliutil import EXIT_INVALID, site_or_exit
from app.config import database_url
from app.devices import cli as devices_cli
from app.estate.cli import estate
from app.monitoring.cli import cop_app
from app.plant import cli as plant_cli
from app.tp12.cli import tp12_app

cli = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="hp-supervisor: heat pump supervisory controller.")
db_cli = typer.Typer(no_args_is_help=True, help="Database schema (alembic migrations).")
cli.add_typer(db_cli, name="db")
cli.add_typer(cop_app, name="cop")
cli.add_typer(tp12_app, name="tp12")
cli.command("check-map")(devices_cli.check_map)
cli.command("l8-export")(l8_export)
cli.command("l8-verify")(l8_verify)
cli.command("probe")(devices_cli.probe)
cli.command("simulator")(devices_cli.simulator)
cli.command("estate")(estate)
cli.command("simulate")(plant_cli.simulate_cmd)
cli.command("demo")(plant_cli.demo_cmd)
console = Console()



def parse_duration(text: str) -> float:
    """Seconds in '90', '90s', '10m', '2h', '3d'."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 10m, 2h or 3d")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


@cli.command("check-config")
def check_config(file: Path = typer.Argument(..., help="site file (YAML)")) -> None:
    """Validate a site file: exit 0 when valid, else exit 2 listing every problem as FILE:LINE: field: message."""
    site = site_or_exit(file)
    console.print(f"{file}: valid site '{site.site.name}' — {len(site.heat_pumps)} heat pump(s), "
                  f"{len(site.boilers)} boiler(s), {len(site.cylinders)} cylinder(s), "
                  f"{len(site.heating_circuits)} heating circuit(s)", markup=False)


@cli.command("run")
def run_cmd(
    site: Path = typer.Option(..., "--site", help="site file (YAML)"),
    simulate: bool = typer.Option(False, "--simulate", help="serve a simulated plant over loopback Modbus TCP"),
    duration: str | None = typer.Option(None, "--duration", help="stop after this much (simulated) time: 10m, 2h"),
    speed: float | None = typer.Option(None, "--speed", help="simulated seconds per wall second (--simulate)"),
) -> None:
    """Run the supervisor: poll the plant through its register maps, decide, write, record."""
    from app.control.runner import run

    cfg = site_or_exit(site)
    if speed is not None and not simulate:
        raise typer.BadParameter("--speed needs --simulate (live plant runs on the real clock)")
    seconds = parse_duration(duration) if duration else None
    summary = asyncio.run(run(cfg, simulate=simulate, duration_s=seconds, speed=speed, site_dir=site.parent))
    table = Table(title=f"{cfg.site.name}: {summary.cycles} control cycles", show_header=False)
    table.add_row("period", f"{summary.started:%Y-%m-%d %H:%M} → {summary.ended:%Y-%m-%d %H:%M} UTC")
    table.add_row("database", summary.database)
    table.add_row("samples stored", str(summary.samples))
    table.add_row("register writes", ", ".join(f"{k} {v}" for k, v in sorted(summary.writes.items())) or "none")
    if summary.last is not None:
        for device in summary.last.snapshot.devices.values():
            shown = [f"{role} {device.value(role):.1f}" for role in ("outdoor_temp", "flow_temp", "return_temp")
                     if device.value(role) is not None]
            table.add_row(device.device_id, ", ".join(shown) if device.comms_ok else f"comms lost: {device.error}")
        for cmd in summary.last.commands.points:
            table.add_row(f"{cmd.device_id}.{cmd.role}", f"{cmd.value:g} ({cmd.reason})")
    console.print(table)
    if summary.stopped_by is not None:  # the shell's convention: 128 + the signal's number
        raise typer.Exit(128 + summary.stopped_by)


@cli.command("points")
def points_cmd(
    site: Path = typer.Option(..., "--site", help="site file (YAML)"),
    fmt: str = typer.Option("md", "--format", help="csv or md"),
) -> None:
    """The BACnet points schedule of a site: object type, instance, name, units, access, priority, COV, alarms."""
    from app.bacnet.schedule import render

    if fmt not in ("csv", "md"):
        raise typer.BadParameter(f"--format must be csv or md (got {fmt!r})")
    cfg = site_or_exit(site)
    if cfg.bacnet is None:
        typer.echo(f"{site}: the site has no bacnet section", err=True)
        raise typer.Exit(EXIT_INVALID)
    typer.echo(render(cfg, site.parent, fmt), nl=False)


@db_cli.command("upgrade")
def db_upgrade(
    site: Path | None = typer.Option(None, "--site", help="site file whose storage URL to use"),
    url: str | None = typer.Option(None, "--url", help="SQLAlchemy URL (default: HPSUP_DATABASE_URL, site, hpsup.db)"),
    revision: str = typer.Option("head", help="target revision"),
) -> None:
    """Create or migrate the database schema."""
    from app.storage.engine import upgrade

    target = url or database_url(site_or_exit(site) if site else None)
    upgrade(target, revision)
    console.print(f"database {target} at revision {revision}", markup=False)


def main() -> None:
    """Console-script entry point."""
    cli()
