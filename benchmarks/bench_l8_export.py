"""L8 export speed: a year of 1-minute readings from two sensors (1,051,200 records), CSV and PDF.

Targets: CSV under 5 s, PDF under 15 s. Run: python benchmarks/bench_l8_export.py [--days N]
Prints ``name: value unit`` lines.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.audit.log import L8Entry, L8Log
from app.storage.engine import make_engine, upgrade

SITE = "Benchmark School"


def populate(url: str, days: int) -> int:
    log = L8Log(make_engine(url), SITE)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    n, batch = 0, []
    for minute in range(days * 1440):
        t = t0 + timedelta(minutes=minute)
        top = 62.0 - (minute % 240) / 60.0
        batch += [L8Entry.temperature(t, "dhw1", "top", top), L8Entry.temperature(t, "dhw1", "bottom", top - 9.0)]
        if minute % 1440 == 240:
            batch.append(L8Entry.cycle(t, "dhw1", "boost", passed=True, peak_c=62.0))
        if len(batch) >= 20_000:
            n += len(log.append(batch))
            batch = []
    return n + len(log.append(batch))


def timed(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app", *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    days = parser.parse_args().days
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        start = time.perf_counter()
        records = populate(url, days)
        print(f"l8_records: {records} records")
        print(f"l8_append_rate: {records / (time.perf_counter() - start):.0f} records/s")
        last = (datetime(2025, 1, 1) + timedelta(days=days - 1)).date().isoformat()
        common = ("l8-export", "--site", SITE, "--url", url, "--from", "2025-01-01", "--to", last)
        print(f"l8_export_csv: {timed(*common, '--format', 'csv', '--out', str(Path(tmp) / 'l8.csv')):.2f} s")
        print(f"l8_export_pdf: {timed(*common, '--format', 'pdf', '--out', str(Path(tmp) / 'l8.pdf')):.2f} s")
        print(f"l8_verify_db: {timed('l8-verify', '--db', '--site', SITE, '--url', url):.2f} s")


if __name__ == "__main__":
    main()
