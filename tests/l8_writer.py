"""A process that appends L8 records as fast as it can, printing each one once it is committed.

Run: python l8_writer.py DATABASE_URL SITE. Each output line is ``SEQ HASH`` for a record that
`L8Log.append` has returned, i.e. one the controller would treat as written.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from app.audit.log import L8Entry, L8Log
from app.storage.engine import make_engine


def main() -> None:
    url, site = sys.argv[1], sys.argv[2]
    log = L8Log(make_engine(url), site)
    t = datetime(2025, 1, 6, tzinfo=UTC)
    n = 0
    while True:
        n += 1
        t += timedelta(seconds=60)
        entries = [L8Entry.temperature(t, "dhw1", "top", 60.0 + (n % 70) / 10)]
        if n % 3 == 0:
            entries.append(L8Entry.temperature(t, "dhw1", "secondary_return", 52.5))
        if n % 50 == 0:
            entries.append(L8Entry.cycle(t, "dhw1", "boost", passed=n % 100 != 0, peak_c=61.5))
        for row in log.append(entries):
            sys.stdout.write(f"{row.seq} {row.hash}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
