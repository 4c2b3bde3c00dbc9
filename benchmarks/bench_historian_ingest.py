"""Historian ingest rate on SQLite and PostgreSQL, and the estate view over the result.

Samples go in through `Historian.record_samples` as the supervisor stores them: one transaction per control
cycle of `--points` readings, and in large batches (a backfill). PostgreSQL is the server named by
HPSUP_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test); the benchmark works in
a database of its own, dropped afterwards, and leaves PostgreSQL out when the server is not reachable.

Run: python benchmarks/bench_historian_ingest.py [--cycles N] [--points N] [--sites N]
Prints ``name: value unit`` lines.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

from app.estate.summary import summarise
from app.storage.engine import make_engine, upgrade
from app.storage.historian import Historian, SampleRow

T0 = datetime(2025, 1, 1, tzinfo=UTC)
CYCLE_S = 30


def cycle_rows(cycle: int, points: int) -> list[SampleRow]:
    ts = T0 + timedelta(seconds=cycle * CYCLE_S)
    return [(ts, f"hp{p // 20 + 1}.point_{p % 20}", 40.0 + (cycle + p) % 17 * 0.5, "good") for p in range(points)]


def ingest(url: str, cycles: int, points: int, sites: int) -> dict[str, float]:
    """Samples per second: one transaction per cycle (each site in turn), then 10,000-row batches."""
    upgrade(url)
    engine = make_engine(url)
    historians = [Historian(engine, f"Site {s:03d}") for s in range(sites)]
    start = time.perf_counter()
    for cycle in range(cycles):
        for h in historians:
            h.record_samples(cycle_rows(cycle, points))
    per_cycle = cycles * sites * points / (time.perf_counter() - start)
    backfill = [row for cycle in range(cycles, 2 * cycles) for row in cycle_rows(cycle, points)]
    start = time.perf_counter()
    for i in range(0, len(backfill), 10_000):
        historians[0].record_samples(backfill[i:i + 10_000])
    batched = len(backfill) / (time.perf_counter() - start)
    at = T0 + timedelta(seconds=2 * cycles * CYCLE_S)
    start = time.perf_counter()
    summary = summarise(engine, at, tz=ZoneInfo("Europe/London"), stale_after=timedelta(minutes=10))
    estate_s = time.perf_counter() - start
    assert len(summary) == sites
    engine.dispose()
    return {"per_cycle": per_cycle, "batched": batched, "estate_s": estate_s,
            "rows": cycles * sites * points + len(backfill)}


@contextmanager
def postgres_database(server_url: str) -> Iterator[str | None]:
    """A database of its own on the server (dropped afterwards), or None when the server is unreachable."""
    import psycopg
    from psycopg import sql

    server = make_url(server_url)
    try:
        admin = psycopg.connect(host=server.host, port=server.port or 5432, user=server.username,
                                password=server.password, dbname=server.database, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        print(f"# PostgreSQL at {server.render_as_string()} not reachable: {' '.join(str(exc).split())}")
        yield None
        return
    name = f"hpsup_bench_{secrets.token_hex(6)}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def report(backend: str, r: dict[str, float], points: int) -> None:
    print(f"historian_ingest_{backend}_per_cycle_{points}_points: {r['per_cycle']:.0f} samples/s")
    print(f"historian_ingest_{backend}_batch_10000: {r['batched']:.0f} samples/s")
    print(f"estate_summary_{backend}_{r['rows']:.0f}_samples: {r['estate_s'] * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=400, help="control cycles per site")
    parser.add_argument("--points", type=int, default=60, help="readings per cycle")
    parser.add_argument("--sites", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report("sqlite", ingest(f"sqlite:///{Path(tmp) / 'bench.db'}", args.cycles, args.points, args.sites),
               args.points)
    server = os.environ.get("HPSUP_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with postgres_database(server) as url:
        if url is not None:
            report("postgresql", ingest(url, args.cycles, args.points, args.sites), args.points)


if __name__ == "__main__":
    main()
