"""`hpsup estate`: the central view of many sites from one historian, as a table or JSON."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.table import Table

EXIT_INVALID = 2
EXIT_UNREADABLE = 1


def _month_day(text: str) -> tuple[int, int]:
    try:
        parsed = datetime.strptime(f"2000-{text}", "%Y-%m-%d")
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a month-day like 10-01", param_hint="--season-start") from None
    return parsed.month, parsed.day


def _when(text: str | None, tz: ZoneInfo) -> datetime:
    if text is None:
        from app.clock import RealClock

        return RealClock().now()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint="--at") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=tz)


def estate(
    database: str | None = typer.Option(None, "--database", help="SQLAlchemy URL of the central historian "
                                        "(default: HPSUP_DATABASE_URL)"),
    at: str | None = typer.Option(None, "--at", help="as at this ISO 8601 time (default: now; no offset: --timezone)"),
    stale: str = typer.Option("10m", "--stale", help="a site whose last sample is older than this is stale"),
    timezone: str = typer.Option("Europe/London", "--timezone", help="time zone of 'today' and the season"),
    season_start: str = typer.Option("10-01", "--season-start", help="month-day the heating season starts"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (one object per site) instead of a table"),
) -> None:
    """Summarise every site of a central historian: status, alarms, COP today / season, last L8 cycle."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from app.cli import parse_duration
    from app.config import resolve_refs
    from app.estate.summary import summarise
    from app.storage.engine import make_engine

    url = database or os.environ.get("HPSUP_DATABASE_URL")
    if not url:
        typer.echo("give --database URL or set HPSUP_DATABASE_URL", err=True)
        raise typer.Exit(EXIT_INVALID)
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"{timezone!r} is not a known time zone", param_hint="--timezone") from None
    when, month_day = _when(at, tz), _month_day(season_start)
    stale_after = timedelta(seconds=parse_duration(stale))
    try:
        engine = make_engine(resolve_refs(url))
        shown = engine.url.render_as_string(hide_password=True)
    except (ArgumentError, KeyError, ValueError) as exc:
        typer.echo(f"--database: not a usable database URL: {exc} (got {_shown(url)})", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    try:
        sites = summarise(engine, when, tz=tz, stale_after=stale_after, season_start_month_day=month_day)
    except SQLAlchemyError as exc:
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).strip().splitlines()[0]
        typer.echo(f"cannot read the historian at {shown}: {reason} "
                   f"(a new database needs `hpsup db upgrade --url URL`)", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in sites], indent=2))
        return
    console = Console()
    if not sites:
        console.print(f"no sites in {shown}", markup=False)
        return
    local = when.astimezone(tz)
    table = Table(title=f"Estate: {len(sites)} site(s) at {local:%Y-%m-%d %H:%M %Z} — {shown}")
    for name in ("site", "status", "last seen", "alarms", "COP today", f"COP season (from {sites[0].season_start})",
                 "last L8 cycle"):
        table.add_column(name)
    for s in sites:
        status = s.status if not s.comms_lost else f"{s.status}; comms lost: {', '.join(s.comms_lost)}"
        alarms = "\n".join(f"{a.source}: {a.reason}" for a in s.alarms) or "none"
        cycle = s.last_l8_cycle
        l8 = (f"{cycle.ts.astimezone(tz):%Y-%m-%d %H:%M} {cycle.cylinder} {cycle.cycle or ''} {cycle.outcome or ''}"
              if cycle else "none")
        table.add_row(s.site, status, f"{s.last_seen.astimezone(tz):%Y-%m-%d %H:%M}" if s.last_seen else "never",
                      alarms, _cop(s.cop_today), _cop(s.cop_season), l8)
    console.print(table)


def _cop(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _shown(url: str) -> str:
    """`url` for an error message, any password hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url.split("@")[-1])
