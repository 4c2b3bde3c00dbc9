"""The estate view: many sites summarised from one central historian (PostgreSQL, or any storage URL).

Per site: whether it is reporting (last sample within the stale limit) and which devices have lost
comms, the active alarms, COP today and over the heating season to date, and the last L8 DHW cycle.
Conventions read from storage: a source's alarm is active while its latest ``alarm`` event has
``to_state`` ``active`` (any other state — ``normal``, ``cleared`` — ends it); ``comms_lost`` /
``comms_restored`` events give a device's comms state; COP is the ratio of ``heat_kwh`` and ``elec_kwh``
summed over the site's units — today from the ``cop_today:{unit}`` controller state (see
`app.estate.cop_today`) until the day is closed, the season from the closed days in ``cop_daily`` plus
today; L8 cycles are the ``cycle`` records of the L8 log.

The queries stay cheap on a large samples table: sites and each site's points are found by skipping
along the (site, point, ts) index, and the last sample time is the latest of each point's last sample.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, column, func, select, text

from app.estate.cop_today import KEY_PREFIX
from app.storage.models import ControllerState, CopDaily, Event, L8Record, UtcDateTime

Figures = dict[str, Any]
_SITES = """
WITH RECURSIVE s(site) AS (
  SELECT min(site) FROM {table}
  UNION ALL
  SELECT (SELECT min(site) FROM {table} WHERE site > s.site) FROM s WHERE s.site IS NOT NULL
)
SELECT site FROM s WHERE site IS NOT NULL
"""
_LAST_SAMPLE = """
WITH RECURSIVE p(point) AS (
  SELECT min(point) FROM samples WHERE site = :site
  UNION ALL
  SELECT (SELECT min(point) FROM samples WHERE site = :site AND point > p.point) FROM p WHERE p.point IS NOT NULL
)
SELECT max((SELECT max(ts) FROM samples WHERE site = :site AND point = p.point)) AS last_seen
FROM p WHERE p.point IS NOT NULL
"""


@dataclass
class Alarm:
    source: str
    since: datetime
    reason: str


@dataclass
class L8Cycle:
    ts: datetime
    cylinder: str
    cycle: str | None
    outcome: str | None
    peak_c: float | None


@dataclass
class SiteSummary:
    site: str
    status: str  # reporting | stale | no data
    last_seen: datetime | None
    comms_lost: list[str] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    cop_today: float | None = None
    cop_season: float | None = None
    season_start: date | None = None
    last_l8_cycle: L8Cycle | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times ISO 8601)."""

        def plain(value: Any) -> Any:
            if isinstance(value, datetime | date):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        return plain(asdict(self))  # type: ignore[no-any-return]


def season_start(day: date, start_month_day: tuple[int, int]) -> date:
    """The first day of the heating season that `day` falls in (the latest `start_month_day` on or before it)."""
    start = date(day.year, *start_month_day)
    return start if start <= day else date(day.year - 1, *start_month_day)


def _ratio(heat: float, elec: float) -> float | None:
    return round(heat / elec, 2) if elec > 1e-9 else None


def _energy(figures: Iterable[Figures]) -> tuple[float, float]:
    """Heat and electricity (kWh) summed over `figures`."""
    heat = elec = 0.0
    for f in figures:
        heat += float(f.get("heat_kwh") or 0.0)
        elec += float(f.get("elec_kwh") or 0.0)
    return heat, elec


def _sites(conn: Connection) -> list[str]:
    found: set[str] = set()
    for table in ("samples", "events", "l8_records", "cop_daily", "controller_state"):
        found.update(conn.execute(text(_SITES.format(table=table))).scalars())
    return sorted(found)


def _latest_per(conn: Connection, kinds: tuple[str, ...]) -> list[Any]:
    """The latest event of `kinds` for each (site, source)."""
    rank = func.row_number().over(partition_by=(Event.site, Event.source), order_by=(Event.ts.desc(), Event.id.desc()))
    ranked = select(Event.site, Event.source, Event.kind, Event.to_state, Event.ts, Event.reason,
                    rank.label("rank")).where(Event.kind.in_(kinds)).subquery()
    return list(conn.execute(select(ranked).where(ranked.c.rank == 1).order_by(ranked.c.site, ranked.c.source)))


_last_sample = text(_LAST_SAMPLE).columns(column("last_seen", UtcDateTime()))


def _cop_figures(conn: Connection, season: date, today: date) -> dict[str, tuple[list[Figures], list[Figures]]]:
    """Per site: each unit's figures for today (the closed day if stored, else today so far), and every
    closed day of the season before today."""
    per_unit_today: dict[tuple[str, str], Figures] = {}
    for site, key, value in conn.execute(select(ControllerState.site, ControllerState.key, ControllerState.value)
                                         .where(ControllerState.key.like(f"{KEY_PREFIX}%"))):
        if value.get("day") == today.isoformat():
            per_unit_today[(site, key.removeprefix(KEY_PREFIX))] = value["figures"]
    closed: dict[str, list[Figures]] = {}
    for site, unit, day, figures in conn.execute(
            select(CopDaily.site, CopDaily.unit, CopDaily.day, CopDaily.figures)
            .where(CopDaily.day >= season.isoformat(), CopDaily.day <= today.isoformat())):
        if day == today.isoformat():
            per_unit_today[(site, unit)] = json.loads(figures)
        else:
            closed.setdefault(site, []).append(json.loads(figures))
    out: dict[str, tuple[list[Figures], list[Figures]]] = {}
    for (site, _unit), figures in per_unit_today.items():
        out.setdefault(site, ([], closed.get(site, [])))[0].append(figures)
    for site, days in closed.items():
        out.setdefault(site, ([], days))
    return out


def summarise(engine: Engine, at: datetime, *, tz: ZoneInfo, stale_after: timedelta,
              season_start_month_day: tuple[int, int] = (10, 1)) -> list[SiteSummary]:
    """Every site in the historian as seen at `at`; "today" and the season are local dates in `tz`."""
    today = at.astimezone(tz).date()
    season = season_start(today, season_start_month_day)
    with engine.connect() as conn:
        summaries: dict[str, SiteSummary] = {}
        for site in _sites(conn):
            last = conn.execute(_last_sample, {"site": site}).scalar()
            status = "no data" if last is None else "reporting" if at - last <= stale_after else "stale"
            summaries[site] = SiteSummary(site, status, last, season_start=season)
        for row in _latest_per(conn, ("alarm",)):
            if row.to_state == "active":
                summaries[row.site].alarms.append(Alarm(row.source, row.ts, row.reason))
        for row in _latest_per(conn, ("comms_lost", "comms_restored")):
            if row.kind == "comms_lost":
                summaries[row.site].comms_lost.append(row.source)
        rank = func.row_number().over(partition_by=L8Record.site, order_by=(L8Record.ts.desc(), L8Record.id.desc()))
        ranked = select(L8Record.site, L8Record.ts, L8Record.cylinder, L8Record.value, L8Record.data,
                        rank.label("rank")).where(L8Record.kind == "cycle").subquery()
        for row in conn.execute(select(ranked).where(ranked.c.rank == 1)):
            data = row.data or {}
            summaries[row.site].last_l8_cycle = L8Cycle(row.ts, row.cylinder, data.get("cycle"), data.get("outcome"),
                                                        row.value)
        for site, (today_figures, closed) in _cop_figures(conn, season, today).items():
            (heat_today, elec_today), (heat_before, elec_before) = _energy(today_figures), _energy(closed)
            summaries[site].cop_today = _ratio(heat_today, elec_today)
            summaries[site].cop_season = _ratio(heat_today + heat_before, elec_today + elec_before)
    return list(summaries.values())
