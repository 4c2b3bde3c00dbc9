"""`hpsup l8-export` and `hpsup l8-verify`: the auditor's view of the L8 record."""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

EXIT_TAMPERED = 1
EXIT_INVALID = 2


class ExportFormat(StrEnum):
    csv = "csv"
    pdf = "pdf"


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_INVALID)


def resolve_site(site: str, url: str | None) -> tuple[str, str, str]:
    """(site name, database URL, time zone) from a site file path or a site name."""
    from app.config import SourceError, database_url, load_site

    path = Path(site)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        try:
            cfg = load_site(path)
        except SourceError as exc:
            raise _fail("; ".join(map(str, exc.problems))) from None
        return cfg.site.name, url or database_url(cfg), cfg.site.timezone
    return site, url or database_url(None), "UTC"


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint=option) from None


def l8_export(
    site: Annotated[str, typer.Option("--site", help="Site file (YAML) or site name.")],
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (site time).")],
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD, included.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="csv or pdf.")],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    url: Annotated[str | None, typer.Option("--url", help="Database URL (default: site file / env).")] = None,
    max_gap_min: Annotated[float, typer.Option("--max-gap-minutes", help="Logging gap threshold.")] = 15.0,
) -> None:
    """Export the L8 temperature log and DHW cycle outcomes: CSV (with hashes) or PDF (summary, weekly charts)."""
    from zoneinfo import ZoneInfo

    from app.audit.chain import verify
    from app.audit.log import L8Log
    from app.audit.report import csv_line, summarise, write_csv, write_pdf
    from app.storage.engine import make_engine

    name, db, tz = resolve_site(site, url)
    first, last = _day(from_, "--from"), _day(to, "--to")
    if last < first:
        raise typer.BadParameter(f"--to {last} is before --from {first}", param_hint="--to")
    zone = ZoneInfo(tz)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime(last.year, last.month, last.day, tzinfo=zone) + timedelta(days=1)
    log = L8Log(make_engine(db), name)
    if fmt is ExportFormat.csv:
        count, final = write_csv(log.csv_blocks(start, end, csv_line), out)
        print(f"{out}: {count} L8 records of {name}, {first} to {last}; final hash {final}")
        return
    from app.clock import RealClock

    now = RealClock().now()
    verdict = verify(log.rows())
    records, first_seq, last_seq, final = log.period(start, end)
    summary = summarise(log.temperature_series(start, end), list(log.lines(start, end, kind="cycle")), name,
                        start, min(end, now), records=records, max_gap_s=max_gap_min * 60.0)
    summary.verdict, summary.head_seq, summary.head_hash = verdict, verdict.last_seq, verdict.head
    summary.period_first_seq, summary.period_last_seq, summary.period_last_hash = first_seq, last_seq, final
    write_pdf(summary, out, now, max_gap_min * 60.0)
    state = "verified" if verdict.ok else f"FAILED: {verdict.problems[0]}"
    print(f"{out}: {summary.records} L8 records of {name}, {first} to {last}; chain {state}; "
          f"final hash {summary.period_last_hash}")


def l8_verify(
    file: Annotated[Path | None, typer.Argument(help="An L8 CSV export to check.")] = None,
    db: Annotated[bool, typer.Option("--db", help="Check the chain stored in the database.")] = False,
    site: Annotated[str | None, typer.Option("--site", help="Site file or name (with --db).")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Database URL (with --db).")] = None,
    head: Annotated[str | None, typer.Option("--head", help="A head hash published earlier.")] = None,
) -> None:
    """Check the L8 hash chain (database or CSV export); name every altered, inserted or deleted record."""
    from app.audit.chain import verify

    if db == (file is not None):
        raise typer.BadParameter("give either --db or FILE")
    if file is not None:
        from app.audit.report import read_csv
        from app.monitoring.parsers import DataFileError

        try:
            rows = read_csv(file)
        except (OSError, DataFileError) as exc:
            raise _fail(str(exc)) from None
        sites = {r.field("site") for r in rows}
        if len(sites) > 1:
            raise _fail(f"{file}: records of {len(sites)} sites in one export")
        verdict = verify(rows, ref="line", from_genesis=bool(rows) and rows[0].seq == 1, expect_head=head)
        what = str(file)
    else:
        from app.audit.log import L8Log
        from app.storage.engine import make_engine

        if site is None:
            raise typer.BadParameter("--db needs --site (site file or name)", param_hint="--site")
        name, dburl, _ = resolve_site(site, url)
        verdict = verify(L8Log(make_engine(dburl), name).rows(), expect_head=head)
        what = f"L8 chain of {name}"
    for p in verdict.problems:
        print(p)
    if verdict.ok:
        print(f"{what}: {verdict.rows} records, seq {verdict.first_seq} to {verdict.last_seq}, verified; "
              f"head {verdict.head}")
        return
    print(f"{what}: {len(verdict.problems)} finding(s) in {verdict.rows} records", file=sys.stderr)
    raise typer.Exit(EXIT_TAMPERED)
