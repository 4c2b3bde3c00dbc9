"""The L8 log in storage: append-only, hash-chained per site, each append durable before it returns.

Cylinder temperatures (every sensor), the secondary return and every DHW cycle outcome are appended
here. `L8Log.append` returns only after the transaction holding the records has committed — on SQLite
in WAL mode with synchronous=FULL, i.e. after the write-ahead log is on disk — so a record the
controller treats as written survives a crash or power cut. Concurrent writers for the same site are
serialised by the unique (site, seq) constraint: a writer that lost the race re-reads the head and
retries.

Reading back renders each record's canonical text; on SQLite the database renders it (a year of
minute readings is a million records), elsewhere Python does, and both give the same text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Engine, Select, extract, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from app.audit.chain import (
    GENESIS,
    KINDS,
    SEP,
    ChainLine,
    canonical_data,
    canonical_text,
    canonical_ts,
    canonical_value,
    record_hash,
    stored_value,
)
from app.storage.models import L8Record

RETRIES = 50
Series = dict[tuple[str, str], tuple[NDArray[np.float64], NDArray[np.float64]]]

# SQLite renders the records that carry a value and no data (every temperature reading) itself, in
# one printf: SQLAlchemy stores datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff', values rounded to 0.001.
# Records it leaves NULL are rendered in Python.
_SQLITE_FAST = "(data IS NULL OR data = 'null') AND value IS NOT NULL AND length(ts) = 26"
_SQLITE_FIELDS = "seq, replace(ts, ' ', 'T'), site, cylinder, kind, coalesce(sensor, ''), value, prev_hash"
_SQLITE_FORMAT = ("%d", "%sZ", "%s", "%s", "%s", "%s", "%.3f", "", "%s")
_CSV_SAFE = " AND NOT (cylinder || coalesce(sensor, '') GLOB '*[,\"'||char(10)||char(13)||']*')"
_SQL_TS = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True, slots=True)
class L8Entry:
    """A record to append: a temperature reading, or a DHW cycle outcome (``data`` says which and how)."""

    ts: datetime
    cylinder: str
    kind: str
    sensor: str | None = None
    value: float | None = None
    data: dict[str, Any] | None = None

    @classmethod
    def temperature(cls, ts: datetime, cylinder: str, sensor: str, value_c: float) -> L8Entry:
        return cls(ts, cylinder, "temperature", sensor, float(value_c))

    @classmethod
    def cycle(cls, ts: datetime, cylinder: str, cycle: str, passed: bool, peak_c: float | None = None,
              **detail: Any) -> L8Entry:
        """A DHW cycle outcome (``boost``, ``pasteurise`` …), pass or fail, with what decided it."""
        return cls(ts, cylinder, "cycle", None, peak_c,
                   {"cycle": cycle, "outcome": "pass" if passed else "fail", **detail})


class L8Log:
    """One site's L8 records: append (durably) and read back in chain order."""

    def __init__(self, engine: Engine, site: str) -> None:
        self.engine = engine
        self.site = site
        self._lock = threading.Lock()

    def head(self) -> tuple[int, str]:
        """The last record's sequence number and hash (0 and the genesis hash for an empty chain)."""
        with self.engine.connect() as conn:
            row = conn.execute(self._head_query()).first()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def _head_query(self) -> Select[Any]:
        return (select(L8Record.seq, L8Record.hash).where(L8Record.site == self.site)
                .order_by(L8Record.seq.desc()).limit(1))

    def append(self, entries: Sequence[L8Entry]) -> list[ChainLine]:
        """Chain and store ``entries`` in one transaction; return them once committed to disk."""
        for e in entries:
            if e.kind not in KINDS:
                raise ValueError(f"L8 record kind {e.kind!r} is not one of {KINDS}")
        with self._lock:
            for attempt in range(RETRIES):
                try:
                    return self._append_once(entries)
                except (IntegrityError, OperationalError):
                    if attempt == RETRIES - 1:
                        raise
                    time.sleep(0.002 * (attempt + 1))
        raise AssertionError("unreachable")

    def _append_once(self, entries: Sequence[L8Entry]) -> list[ChainLine]:
        with self.engine.begin() as conn:
            last = conn.execute(self._head_query()).first()
            seq, prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)
            lines, values = [], []
            for e in entries:
                seq += 1
                value = stored_value(e.value)
                body = canonical_text(seq, canonical_ts(e.ts), self.site, e.cylinder, e.kind, e.sensor or "",
                                      canonical_value(value), canonical_data(e.data), prev)
                h = record_hash(body)
                lines.append(ChainLine(0, seq, body, h))
                values.append({"seq": seq, "ts": e.ts, "site": self.site, "cylinder": e.cylinder, "kind": e.kind,
                               "sensor": e.sensor, "value": value, "data": e.data, "prev_hash": prev, "hash": h})
                prev = h
            if values:
                conn.execute(insert(L8Record), values)
        return lines

    def _where(self, query: Select[Any], start: datetime | None, end: datetime | None) -> Select[Any]:
        query = query.where(L8Record.site == self.site)
        if start is not None:
            query = query.where(L8Record.ts >= start)
        if end is not None:
            query = query.where(L8Record.ts < end)
        return query

    def _typed_lines(self, query: Select[Any]) -> Iterator[ChainLine]:
        with self.engine.connect() as conn:
            for rid, seq, ts, cyl, kind, sensor, value, data, prev, h in conn.execute(query):
                body = canonical_text(seq, canonical_ts(ts), self.site, cyl, kind, sensor or "",
                                      canonical_value(value), canonical_data(data), prev)
                yield ChainLine(int(rid), int(seq), body, h)

    def _typed_query(self) -> Select[Any]:
        return select(L8Record.id, L8Record.seq, L8Record.ts, L8Record.cylinder, L8Record.kind, L8Record.sensor,
                      L8Record.value, L8Record.data, L8Record.prev_hash, L8Record.hash)

    def _sqlite_rendered(self, csv: bool, start: datetime | None, end: datetime | None) -> Iterator[list[Any]]:
        """Chunks of records in chain order, rendered by SQLite: (id, seq, text or None, hash) rows; for
        ``csv``, one-item rows holding the CSV line, or the id where Python must render it."""
        fmt = (",".join(_SQLITE_FORMAT) + ",%s") if csv else SEP.join(_SQLITE_FORMAT)
        fields = _SQLITE_FIELDS + (", hash" if csv else "")
        where, params = self._sqlite_where(start, end, "+")  # '+ts': walk the (site, seq) index, no sort
        fast = _SQLITE_FAST + (_CSV_SAFE if csv else "")
        columns = (f"CASE WHEN {fast} THEN printf(?, {fields}) ELSE id END" if csv
                   else f"id, seq, CASE WHEN {fast} THEN printf(?, {fields}) END, hash")
        with self.engine.connect() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                if start is not None or end is not None:  # the period's sequence numbers, by the ts index
                    lo, hi = cur.execute(f"SELECT min(seq), max(seq) FROM l8_records WHERE {where.replace('+', '')}",
                                         params).fetchone()
                    if lo is None:
                        return
                    where += " AND seq BETWEEN ? AND ?"
                    params += [lo, hi]
                cur.execute(f"SELECT {columns} FROM l8_records WHERE {where} ORDER BY seq, id", [fmt, *params])
                while chunk := cur.fetchmany(50_000):
                    yield chunk
            finally:
                cur.close()

    def _sqlite_where(self, start: datetime | None, end: datetime | None, ts_prefix: str = "") -> tuple[str, list[Any]]:
        """A WHERE clause for the site and period on SQLite's stored text timestamps, and its parameters."""
        where, params = "site = ?", [self.site]
        for bound, op in ((start, ">="), (end, "<")):
            if bound is not None:
                where += f" AND {ts_prefix}ts {op} ?"
                params.append(bound.astimezone(UTC).strftime(_SQL_TS))
        return where, params

    def _rendered(self, slow: list[int]) -> dict[int, ChainLine]:
        """Python's rendering of the records (by id) SQLite left to it."""
        if not slow:
            return {}
        query = self._typed_query().where(L8Record.id.in_(slow))
        return {line.ref: line for line in self._typed_lines(query)}

    def lines(self, start: datetime | None = None, end: datetime | None = None,
              kind: str | None = None) -> Iterator[ChainLine]:
        """The site's records in chain order (sequence number, then id), optionally ``start <= ts < end``."""
        return map(ChainLine._make, self.rows(start, end, kind))

    def rows(self, start: datetime | None = None, end: datetime | None = None,
             kind: str | None = None) -> Iterator[tuple[int, int, str, str]]:
        """As `lines`, as plain (id, seq, canonical text, hash) tuples: what `verify` reads, faster."""
        if self.engine.dialect.name != "sqlite" or kind is not None:
            typed = self._where(self._typed_query(), start, end)
            if kind is not None:
                typed = typed.where(L8Record.kind == kind)
            yield from self._typed_lines(typed.order_by(L8Record.seq, L8Record.id))
            return
        for chunk in self._sqlite_rendered(False, start, end):
            rendered = self._rendered([r[0] for r in chunk if r[2] is None])
            for row in chunk:
                yield row if row[2] is not None else rendered[row[0]]  # type: ignore[misc]

    def csv_blocks(self, start: datetime | None, end: datetime | None,
                   render: Callable[[ChainLine], str]) -> Iterator[tuple[list[str], str]]:
        """The records' CSV lines (SEQ,…,PREV_HASH,HASH) in chain order, in blocks, each with the hash
        of its last record; ``render`` makes the lines the database does not (quoting, data)."""
        if self.engine.dialect.name != "sqlite" or any(c in self.site for c in ',"\r\n'):
            for line in self.lines(start, end):
                yield [render(line)], line.hash
            return
        for chunk in self._sqlite_rendered(True, start, end):
            rendered = self._rendered([r[0] for r in chunk if isinstance(r[0], int)])
            out = [r[0] if isinstance(r[0], str) else render(rendered[r[0]]) for r in chunk]
            yield out, out[-1][-64:]

    def period(self, start: datetime, end: datetime) -> tuple[int, int | None, int | None, str | None]:
        """Records with ``start <= ts < end``: how many, the first and last sequence numbers, the last hash."""
        where = self._where(select(func.count(), func.min(L8Record.seq), func.max(L8Record.seq)), start, end)
        with self.engine.connect() as conn:
            count, first, last = conn.execute(where).one()
            final = None if last is None else conn.execute(select(L8Record.hash).where(
                L8Record.site == self.site, L8Record.seq == last).order_by(L8Record.id).limit(1)).scalar()
        return int(count), first, last, final

    def temperature_series(self, start: datetime | None = None, end: datetime | None = None) -> Series:
        """Each (cylinder, sensor)'s readings as time-ordered arrays of epoch seconds and °C."""
        epoch: ColumnElement[float] = (
            (func.julianday(L8Record.ts) - 2440587.5) * 86400.0 if self.engine.dialect.name == "sqlite"
            else extract("epoch", L8Record.ts)
        )
        temps = self._where(select(L8Record.cylinder, L8Record.sensor), start, end).where(
            L8Record.kind == "temperature", L8Record.value.is_not(None))
        series: Series = {}
        with self.engine.connect() as conn:
            for cyl, sensor in conn.execute(temps.distinct().order_by(L8Record.cylinder, L8Record.sensor)).all():
                query = self._where(select(epoch, L8Record.value), start, end).where(
                    L8Record.kind == "temperature", L8Record.cylinder == cyl, L8Record.sensor == sensor,
                    L8Record.value.is_not(None)).order_by(L8Record.ts)
                if self.engine.dialect.name == "sqlite":  # a million rows: skip SQLAlchemy's row objects
                    where, params = self._sqlite_where(start, end)
                    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                    rows = cur.execute(
                        f"SELECT (julianday(ts) - 2440587.5) * 86400.0, value FROM l8_records WHERE {where} "
                        "AND kind = 'temperature' AND cylinder = ? AND sensor = ? AND value IS NOT NULL "
                        "ORDER BY ts", [*params, cyl, sensor]).fetchall()
                    cur.close()
                    arr = np.array(rows, dtype=float).reshape(-1, 2)
                else:
                    arr = np.array([tuple(r) for r in conn.execute(query)], dtype=float).reshape(-1, 2)
                series[(cyl, sensor or "")] = (np.round(arr[:, 0], 3), arr[:, 1])
        return series
