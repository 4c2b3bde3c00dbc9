"""`hpsup cop`: COP figures of an exported time series or daily energy export."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

cop_app = typer.Typer(
    help="In-situ COP: analyse an export (--input), or recompute stored daily figures.",
    no_args_is_help=False,
)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _fmt(value: Any, pattern: str = "{:.2f}") -> str:
    return "–" if value is None else pattern.format(value)


def _print_table(report: dict[str, Any], source: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"COP of {source} ({report['boundary']} boundary)")
    for head in ("period", "days", "heat kWh", "elec kWh", "SPF", "space", "DHW", "running",
                 "defrost", "flow °C", "starts/h", "bad"):
        table.add_column(head, justify="right")

    def row(label: str, f: dict[str, Any]) -> None:
        bad = len(f["bad_intervals"]) if "bad_intervals" in f else f["bad_interval_count"]
        table.add_row(
            label, str(f.get("days", "–")), _fmt(f["heat_kwh"], "{:,.1f}"), _fmt(f["elec_kwh"], "{:,.1f}"),
            _fmt(f["spf"]), _fmt(f["spf_space"]), _fmt(f["spf_dhw"]), _fmt(f["running_cop"]),
            _fmt(f["defrost_share"], "{:.1%}"), _fmt(f["weighted_flow_temp_c"], "{:.1f}"),
            _fmt(f["starts_per_hour"]), str(bad),
        )

    for period in ("by_hour", "by_day"):
        for label, f in report.get(period, {}).items():
            row(label, f)
        if period in report:
            table.add_section()
    for year, f in report["by_year"].items():
        row(year, f)
    table.add_section()
    row("whole period", report)
    console = Console() if sys.stdout.isatty() else Console(width=130)
    console.print(table)
    spans = report["bad_intervals"]
    if spans:
        console.print(f"{len(spans)} bad interval span(s), left out of every figure:")
        for s in spans[:20]:
            console.print(f"  {s['start']} → {s['end']}  {s['reason']}  ({s['intervals']} interval(s))")
        if len(spans) > 20:
            console.print(f"  … and {len(spans) - 20} more (--format json lists them all)")


@cop_app.callback(invoke_without_command=True)
def cop(
    ctx: typer.Context,
    input_path: Annotated[
        Path | None, typer.Option("--input", help="An exported file, or a folder of them.")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.table,
    fluid: Annotated[
        str, typer.Option(help="Loop fluid for flow-based heat, e.g. propylene_glycol:25%.")
    ] = "water",
    tz: Annotated[str, typer.Option(help="Time zone of naive timestamps and of local periods.")] = "UTC",
    by: Annotated[list[str] | None, typer.Option(
        "--by", help="Also give figures per hour or per day (by_hour / by_day); repeatable.")] = None,
) -> None:
    """Print the COP figures of an export: SPF overall, space/DHW, H1–H4, defrost, per year and month."""
    if ctx.invoked_subcommand is not None:
        return
    if input_path is None:
        raise typer.BadParameter("give --input FILE_OR_FOLDER (or a subcommand)", param_hint="--input")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from app.monitoring.figures import figures_by, summary
    from app.monitoring.fluids import Fluid
    from app.monitoring.intervals import MeteringConfig
    from app.monitoring.parsers import DataFileError, load

    try:
        zone = ZoneInfo(tz)
        config = MeteringConfig(fluid=Fluid.parse(fluid))
        loaded = load(input_path, zone, config)
    except ZoneInfoNotFoundError:
        raise typer.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from None
    except DataFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    report = summary(loaded.intervals, zone)
    for period in by or []:
        if period not in ("hour", "day"):
            raise typer.BadParameter(f"{period!r} is not hour or day", param_hint="--by")
        report[f"by_{period}"] = figures_by(loaded.intervals, zone, period)
    report["source"] = {"kind": loaded.kind, "files": loaded.files, "skipped": loaded.skipped}
    if output is OutputFormat.json:
        print(json.dumps(report, indent=1))
    else:
        _print_table(report, str(input_path))


@cop_app.command("recompute")
def recompute_cmd(
    site: Annotated[Path, typer.Option("--site", help="Site file (YAML).")],
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (site time).")],
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD, included.")],
    url: Annotated[str | None, typer.Option("--url", help="Database URL (default: site file / env).")] = None,
) -> None:
    """Recompute the stored daily COP figures of every heat pump from the historian (idempotent)."""
    from datetime import date

    from app.cliutil import site_or_exit
    from app.config import database_url
    from app.monitoring.store import CopStore, cop_alarm, recompute
    from app.storage.engine import make_engine

    try:
        first, last = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError as exc:
        raise typer.BadParameter(f"dates are YYYY-MM-DD ({exc})") from None
    if last < first:
        raise typer.BadParameter(f"--to {last} is before --from {first}", param_hint="--to")
    cfg = site_or_exit(site)
    engine = make_engine(url or database_url(cfg))
    stored = recompute(engine, cfg, first, last, site_dir=site.parent)
    mon = cfg.monitoring
    for hp in cfg.heat_pumps:
        days = stored.get(hp.id, {})
        history = CopStore(engine, cfg.site.name).load(hp.id, None, last)
        alarm = cop_alarm(((d, json.loads(f)) for d, f in history.items()), fraction=mon.cop_alarm_fraction,
                          persist_days=mon.cop_alarm_days, min_heat_kwh=hp.rated_capacity_kw)
        state = (f"ALARM since {alarm.since} ({alarm.streak} days below {mon.cop_alarm_fraction:.0%} of TP-12)"
                 if alarm.active else f"no alarm ({alarm.judged_days} days judged)")
        print(f"{hp.id}: {len(days)} day(s) stored, {first} to {last}; {state}")
