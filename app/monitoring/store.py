"""Stored daily COP figures: recomputed from the historian, or closed live day by day; and the alarm.

`recompute` reads the historian's samples for the days asked (and one gap limit either side), makes
each day's figures with `daily_figures` and replaces what was stored for those days — so running it
twice stores the same bytes, and the same bytes the live accumulator stored when each day closed.

`LiveCop` is a supervisor cycle observer: it keeps the recent readings of each heat pump, gives the
running figures (5-minute COP, today so far), closes each day once one gap limit has passed after
midnight, stores its figures, and raises or clears the degradation alarm (see `cop_alarm`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Engine, delete, insert, select

from app.config import SiteConfig
from app.monitoring.figures import rolling_cop
from app.monitoring.intervals import build_intervals
from app.monitoring.site import DayWindow, Row, UnitChannels, daily_figures, pivot, tp12_model, unit_channels
from app.snapshot import PlantSnapshot
from app.storage.models import CopDaily, Sample

CHUNK_DAYS = 31


class CopStore:
    """One site's stored daily figures."""

    def __init__(self, engine: Engine, site: str) -> None:
        self.engine = engine
        self.site = site

    def replace(self, unit: str, first: date, last: date, figures: dict[str, str]) -> None:
        """Make the stored days ``first``…``last`` exactly ``figures`` (one transaction)."""
        with self.engine.begin() as conn:
            conn.execute(delete(CopDaily).where(
                CopDaily.site == self.site, CopDaily.unit == unit,
                CopDaily.day >= first.isoformat(), CopDaily.day <= last.isoformat()))
            if figures:
                conn.execute(insert(CopDaily), [{"site": self.site, "unit": unit, "day": d, "figures": f}
                                                for d, f in sorted(figures.items())])

    def load(self, unit: str, first: date | None = None, last: date | None = None) -> dict[str, str]:
        query = select(CopDaily.day, CopDaily.figures).where(CopDaily.site == self.site, CopDaily.unit == unit)
        if first is not None:
            query = query.where(CopDaily.day >= first.isoformat())
        if last is not None:
            query = query.where(CopDaily.day <= last.isoformat())
        with self.engine.connect() as conn:
            return dict(conn.execute(query.order_by(CopDaily.day)).all())


def load_rows(engine: Engine, site: str, points: Sequence[str], start: datetime, end: datetime) -> list[Row]:
    """The historian's readings of ``points`` with ``start <= ts < end`` (None where not good)."""
    query = (select(Sample.ts, Sample.point, Sample.value)
             .where(Sample.site == site, Sample.point.in_(points), Sample.ts >= start, Sample.ts < end))
    with engine.connect() as conn:
        return [(ts.timestamp(), point, value) for ts, point, value in conn.execute(query)]


def snapshot_rows(snapshot: PlantSnapshot) -> list[Row]:
    """A snapshot's readings as the historian stores them."""
    return [(r.ts.timestamp(), f"{dev.device_id}.{name}", r.value if r.good else None)
            for dev in snapshot.devices.values() for name, r in dev.readings.items()]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def recompute(engine: Engine, site: SiteConfig, first: date, last: date, *,
              site_dir: Path | None = None, units: dict[str, UnitChannels] | None = None) -> dict[str, dict[str, str]]:
    """Recompute and store every heat pump's daily figures for ``first``…``last``; return them."""
    tz = ZoneInfo(site.site.timezone)
    units = units if units is not None else unit_channels(site, site_dir)
    store = CopStore(engine, site.site.name)
    models = {hp.id: tp12_model(hp) for hp in site.heat_pumps if hp.id in units}
    out: dict[str, dict[str, str]] = {}
    for unit_id, unit in units.items():
        out[unit_id] = {}
        for c0 in range(0, (last - first).days + 1, CHUNK_DAYS):
            days = _days(first + timedelta(days=c0), min(first + timedelta(days=c0 + CHUNK_DAYS - 1), last))
            lo = DayWindow(days[0], tz, unit.config.max_gap_s).load_from
            hi = DayWindow(days[-1], tz, unit.config.max_gap_s).load_to
            rows = load_rows(engine, site.site.name, unit.points, lo, hi)
            out[unit_id].update(daily_figures(pivot(rows, unit), unit, tz, days, models[unit_id]))
        store.replace(unit_id, first, last, out[unit_id])
    return out


@dataclass
class AlarmState:
    """The COP degradation alarm of one heat pump after the days seen."""

    active: bool
    streak: int  # consecutive judged days below the fraction
    since: str | None  # first day of the current streak
    last_ratio: float | None
    judged_days: int


def cop_alarm(days: Iterable[tuple[str, dict[str, Any]]], *, fraction: float, persist_days: int,
              min_heat_kwh: float) -> AlarmState:
    """Measured running COP against TP-12's at the same outdoor and flow temperatures, day by day.

    A day is judged when TP-12 covers at least ``min_heat_kwh`` of its heat; days without enough
    running are skipped (they neither raise nor clear). The alarm is active once ``persist_days``
    judged days in a row fall below ``fraction`` of the expected COP: a heat meter is only good to
    about ±7 % in COP, and defrost and weather move single days further, so one bad day is noise.
    """
    streak, since, last, judged = 0, None, None, 0
    for day, fig in days:
        ratio = fig.get("cop_ratio")
        if ratio is None or (fig.get("expected_cop_heat_kwh") or 0.0) < min_heat_kwh:
            continue
        judged += 1
        last = ratio
        if ratio < fraction:
            streak += 1
            since = since if streak > 1 else day
        else:
            streak, since = 0, None
    return AlarmState(streak >= persist_days, streak, since, last, judged)


class LiveCop:
    """COP figures from every control cycle: instantaneous, today so far, and each day as it closes."""

    def __init__(self, site: SiteConfig, engine: Engine, *, site_dir: Path | None = None,
                 events: Any = None) -> None:
        self.site = site
        self.tz = ZoneInfo(site.site.timezone)
        self.units = unit_channels(site, site_dir)
        self.models = {hp.id: tp12_model(hp) for hp in site.heat_pumps}
        self.store = CopStore(engine, site.site.name)
        self.events = events  # Historian-like: record_event(ts, kind, source, reason, data=...)
        self.rows: dict[str, list[Row]] = {u: [] for u in self.units}
        self.open_day: dict[str, date | None] = dict.fromkeys(self.units)
        self.alarms: dict[str, AlarmState] = {}

    def __call__(self, result: Any) -> None:
        """A supervisor cycle observer."""
        self.feed(result.snapshot)

    def feed(self, snapshot: PlantSnapshot) -> None:
        rows = snapshot_rows(snapshot)
        now = snapshot.ts.timestamp()
        for unit_id, unit in self.units.items():
            wanted = set(unit.points)
            self.rows[unit_id].extend(r for r in rows if r[1] in wanted)
            if self.open_day[unit_id] is None:
                self.open_day[unit_id] = datetime.fromtimestamp(now, UTC).astimezone(self.tz).date()
            while True:
                day = self.open_day[unit_id]
                assert day is not None
                window = DayWindow(day, self.tz, unit.config.max_gap_s)
                if now < window.load_to.timestamp():
                    break
                self._close(unit_id, window)

    def _close(self, unit_id: str, window: DayWindow) -> None:
        unit = self.units[unit_id]
        lo, hi = window.load_from.timestamp(), window.load_to.timestamp()
        rows = [r for r in self.rows[unit_id] if lo <= r[0] < hi]
        figures = daily_figures(pivot(rows, unit), unit, self.tz, [window.day], self.models[unit_id])
        self.store.replace(unit_id, window.day, window.day, figures)
        nxt = DayWindow(window.day + timedelta(days=1), self.tz, unit.config.max_gap_s)
        self.rows[unit_id] = [r for r in self.rows[unit_id] if r[0] >= nxt.load_from.timestamp()]
        self.open_day[unit_id] = nxt.day
        self._judge(unit_id, window.end)

    def _judge(self, unit_id: str, at: datetime) -> None:
        cfg = self.site.monitoring
        unit = self.units[unit_id]
        stored = self.store.load(unit_id, None, None)
        state = cop_alarm(((d, json.loads(f)) for d, f in stored.items()), fraction=cfg.cop_alarm_fraction,
                          persist_days=cfg.cop_alarm_days, min_heat_kwh=unit.rated_kw)
        before = self.alarms.get(unit_id)
        self.alarms[unit_id] = state
        if self.events is not None and (before is None or before.active != state.active) and (
                state.active or before is not None):
            reason = (f"running COP {state.last_ratio:.0%} of TP-12 expected for {state.streak} days "
                      f"since {state.since} (limit {cfg.cop_alarm_fraction:.0%} for {cfg.cop_alarm_days} days)"
                      if state.active else "running COP back within the expected band")
            self.events.record_event(at, "alarm", f"cop.{unit_id}", reason,
                                     to_state="active" if state.active else "normal",
                                     data={"ratio": state.last_ratio, "streak": state.streak})

    def today(self, unit_id: str) -> dict[str, Any] | None:
        """The open day's figures so far (provisional until it closes)."""
        day = self.open_day[unit_id]
        if day is None:
            return None
        fig = daily_figures(pivot(self.rows[unit_id], self.units[unit_id]), self.units[unit_id], self.tz, [day],
                            self.models[unit_id]).get(day.isoformat())
        return None if fig is None else json.loads(fig)

    def instantaneous(self, unit_id: str) -> float | None:
        """COP over the last five minutes (None while the compressor has drawn nothing)."""
        unit = self.units[unit_id]
        cutoff = max((r[0] for r in self.rows[unit_id]), default=0.0) - 2 * unit.config.max_gap_s
        samples = pivot([r for r in self.rows[unit_id] if r[0] >= cutoff], unit)
        if len(samples.t) < 2:
            return None
        _, cop = rolling_cop(build_intervals(samples, unit.config), 300.0)
        return None if not np.isfinite(cop[-1]) else round(float(cop[-1]), 3)
