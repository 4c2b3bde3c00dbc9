"""The historian: what the controller saw, decided and wrote, recorded in batches per control cycle, and the
L8 records it appends to the hash-chained L8 log (:mod:`app.audit.log`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from app.snapshot import PlantSnapshot
from app.storage.models import ControllerState, Event, RegisterWrite, Sample

if TYPE_CHECKING:  # app.audit.log builds on app.storage.models
    from app.audit.chain import ChainLine
    from app.audit.log import L8Entry, L8Log

SampleRow = tuple[datetime, str, float | None, str]
_PARAM_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def snapshot_rows(snapshot: PlantSnapshot) -> Iterator[SampleRow]:
    """Every reading of a plant snapshot as a ``device.point`` sample row."""
    for dev in snapshot.devices.values():
        prefix = f"{dev.device_id}."
        for name, r in dev.readings.items():
            yield r.ts, prefix + name, r.value, r.quality.value


class Historian:
    """Writes samples, events, register writes and controller state for one site."""

    def __init__(self, engine: Engine, site: str) -> None:
        self.engine = engine
        self.site = site
        self._l8: L8Log | None = None

    def record_l8(self, entries: Sequence[L8Entry]) -> list[ChainLine]:
        """Append L8 records (cylinder temperatures, DHW cycle outcomes) to the site's hash-chained L8 log;
        returns once they are committed durably."""
        if self._l8 is None:
            from app.audit.log import L8Log

            self._l8 = L8Log(self.engine, self.site)
        return self._l8.append(entries)

    @cached_property
    def _sample_insert(self) -> tuple[str, Callable[[datetime], Any]]:
        """The driver-level INSERT of one sample row, and the timestamp column's bind conversion."""
        dialect = self.engine.dialect
        mark = _PARAM_MARKS.get(dialect.paramstyle)
        bind = Sample.__table__.c.ts.type.dialect_impl(dialect).bind_processor(dialect)
        if mark is None or bind is None:
            raise RuntimeError(f"samples cannot be stored through the {dialect.driver} driver "
                               f"(parameter style {dialect.paramstyle})")
        return f"INSERT INTO samples (ts, site, point, value, quality) VALUES ({', '.join([mark] * 5)})", bind

    def record_samples(self, rows: Iterable[SampleRow]) -> int:
        """Store (ts, point, value, quality) rows in one transaction; return how many.

        One DBAPI ``executemany`` of positional rows: each distinct timestamp goes through the column's bind
        conversion once (a cycle's readings share a handful); values are passed as floats (or NULL).
        """
        sql, bind = self._sample_insert
        bound: dict[datetime, Any] = {}
        site = self.site
        batch = []
        for ts, point, value, quality in rows:
            stored = bound.get(ts)
            if stored is None:
                stored = bound[ts] = bind(ts)
            batch.append((stored, site, point, None if value is None else float(value), quality))
        if batch:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(sql, batch)
        return len(batch)

    def record_snapshot(self, snapshot: PlantSnapshot) -> int:
        """Store every reading of a plant snapshot as ``device.point`` samples."""
        return self.record_samples(snapshot_rows(snapshot))

    def record_event(self, ts: datetime, kind: str, source: str, reason: str, *, from_state: str | None = None,
                     to_state: str | None = None, data: dict[str, Any] | None = None) -> None:
        """Store a transition, alarm or operator action, committed before returning."""
        with self.engine.begin() as conn:
            conn.execute(insert(Event).values(ts=ts, site=self.site, kind=kind, source=source, reason=reason,
                                              from_state=from_state, to_state=to_state, data=data))

    def record_write(self, ts: datetime, device: str, point: str, outcome: str, reason: str, *,
                     value: float | None = None, previous_value: float | None = None,
                     register_type: str | None = None, address: int | None = None,
                     raw: dict[str, Any] | None = None) -> None:
        """Store a register write or refusal (audit), committed before returning."""
        with self.engine.begin() as conn:
            conn.execute(insert(RegisterWrite).values(
                ts=ts, site=self.site, device=device, point=point, outcome=outcome, reason=reason, value=value,
                previous_value=previous_value, register_type=register_type, address=address, raw=raw))

    def load_state(self, key: str) -> dict[str, Any] | None:
        """The controller state stored under `key`, or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(ControllerState.value).where(
                ControllerState.site == self.site, ControllerState.key == key)).scalar_one_or_none()

    def save_state(self, key: str, value: dict[str, Any], ts: datetime) -> None:
        """Store (insert or replace) the controller state under `key`."""
        values = {"site": self.site, "key": key, "value": value, "updated_at": ts}
        dialect = self.engine.dialect.name
        ins = postgresql.insert(ControllerState) if dialect == "postgresql" else sqlite.insert(ControllerState)
        stmt = ins.values(**values).on_conflict_do_update(
            index_elements=["site", "key"], set_={"value": value, "updated_at": ts})
        with self.engine.begin() as conn:
            conn.execute(stmt)
