"""Live COP from plant snapshots, stored daily figures, idempotent recomputation, and the TP-12 alarm."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from conftest import EXAMPLES, hpsup
from sqlalchemy import select

from app.config import load_site
from app.monitoring.site import tp12_model, unit_channels
from app.monitoring.store import CopStore, LiveCop, cop_alarm, recompute
from app.snapshot import DeviceSnapshot, PlantSnapshot, Quality, Reading
from app.storage.engine import make_engine, upgrade
from app.storage.historian import Historian
from app.storage.models import CopDaily, Event

SITE_FILE = EXAMPLES / "school.yaml"
START = datetime(2025, 1, 13, 0, 0, 30, tzinfo=UTC)  # a winter Monday; Europe/London is UTC then


def _snapshots(days: float, factors: dict[date, float], *, step_s: int = 60):
    """A heat pump running 06:00–22:00 at 40 °C flow, outdoor 2–8 °C, its heat register counting
    ``factor`` × TP-12's COP × electricity; a 20-minute comms loss on the second day."""
    site = load_site(SITE_FILE)
    model = tp12_model(site.heat_pumps[0])
    elec = heat = 1000.0
    n = int(days * 86400 / step_s)
    for i in range(n):
        ts = START + timedelta(seconds=i * step_s)
        hour = ts.hour + ts.minute / 60
        running = 6 <= hour < 22
        outdoor = 5.0 + 3.0 * np.sin((hour - 9) / 24 * 2 * np.pi)
        flow = 40.0 if running else 25.0
        lost = ts.date() == (START + timedelta(days=1)).date() and 12 * 60 <= ts.hour * 60 + ts.minute < 12 * 60 + 20
        def r(v: float | None, unit: str = "", lost: bool = lost, ts: datetime = ts) -> Reading:
            if lost or v is None:
                return Reading(None, unit, Quality.COMM_ERROR, ts)
            return Reading(float(v), unit, Quality.GOOD, ts)
        dev = DeviceSnapshot("hp1", {
            "outdoor_temp": r(round(outdoor, 1), "degC"), "flow_temp": r(flow, "degC"),
            "return_temp": r(flow - 5, "degC"), "compressor_running": r(1.0 if running else 0.0),
            "defrost_active": r(0.0), "operating_state": r(2.0 if running else 1.0),
            "electrical_energy": r(round(elec, 2), "kWh"), "heat_energy": r(round(heat, 2), "kWh"),
        }, comms_ok=not lost)
        yield PlantSnapshot(ts, {"hp1": dev})
        p_elec = 10.0 if running else 0.02
        cop = float(model.cop(round(outdoor, 1), flow)) * factors.get(ts.date(), 1.0) if running else 0.0
        elec += p_elec * step_s / 3600
        heat += p_elec * cop * step_s / 3600


@pytest.fixture
def db(sqlite_url: str) -> str:
    upgrade(sqlite_url)
    return sqlite_url


def _table(url: str) -> list[tuple[str, str, str, str]]:
    with make_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(select(CopDaily.site, CopDaily.unit, CopDaily.day, CopDaily.figures)
                                               .order_by(CopDaily.unit, CopDaily.day))]


def test_live_days_equal_recomputed_days_byte_for_byte_and_recompute_is_idempotent(db: str) -> None:
    site = load_site(SITE_FILE)
    engine = make_engine(db)
    historian = Historian(engine, site.site.name)
    live = LiveCop(site, engine, site_dir=SITE_FILE.parent, events=historian)
    stored_rows = []
    for snap in _snapshots(3.3, {}):
        stored_rows += [(r.ts, f"{dev.device_id}.{name}", r.value, r.quality.value)
                        for dev in snap.devices.values() for name, r in dev.readings.items()]
        live.feed(snap)
    historian.record_samples(stored_rows)  # as record_snapshot stores each cycle, in one transaction
    closed = _table(db)
    assert [row[2] for row in closed] == ["2025-01-13", "2025-01-14", "2025-01-15"]
    day2 = json.loads(closed[1][3])
    assert day2["bad_interval_count"] >= 1  # the comms loss is marked, not dropped
    assert day2["cop_ratio"] == pytest.approx(1.0, abs=0.01)
    recompute(engine, site, date(2025, 1, 13), date(2025, 1, 15), site_dir=SITE_FILE.parent)
    assert _table(db) == closed
    run = hpsup("cop", "recompute", "--site", str(SITE_FILE), "--url", db, "--from", "2025-01-13", "--to", "2025-01-15")
    assert run.returncode == 0, run.stderr
    assert "hp1: 3 day(s) stored" in run.stdout and "no alarm" in run.stdout
    assert _table(db) == closed
    today = live.today("hp1")
    assert today is not None and today["heat_kwh"] > 0
    assert live.instantaneous("hp1") is not None


def test_sustained_degradation_raises_the_alarm_and_a_single_bad_day_does_not(db: str) -> None:
    site = load_site(SITE_FILE)
    engine = make_engine(db)
    historian = Historian(engine, site.site.name)
    live = LiveCop(site, engine, site_dir=SITE_FILE.parent, events=historian)
    d0 = START.date()
    factors = {d0 + timedelta(days=1): 0.7, d0 + timedelta(days=3): 0.75, d0 + timedelta(days=4): 0.75,
               d0 + timedelta(days=5): 0.75}
    states = []
    for snap in _snapshots(6.1, factors):
        live.feed(snap)
        states.append(live.alarms.get("hp1"))
    stored = CopStore(engine, site.site.name).load("hp1")
    ratios = [json.loads(f)["cop_ratio"] for f in stored.values()]
    assert ratios == pytest.approx([1.0, 0.7, 1.0, 0.75, 0.75, 0.75], abs=0.01)
    assert live.alarms["hp1"].active and live.alarms["hp1"].since == "2025-01-16"
    assert not any(s is not None and s.active for s in states[: int(5.05 * 1440)])  # not before day 6 closed
    with engine.connect() as conn:
        events = conn.execute(select(Event.source, Event.to_state, Event.reason)).all()
    assert [(e[0], e[1]) for e in events] == [("cop.hp1", "active")]
    assert "75% of TP-12 expected for 3 days since 2025-01-16" in events[0][2]


def test_alarm_rule_persistence_and_skipped_days() -> None:
    def day(ratio: float | None, heat: float = 100.0) -> dict[str, float | None]:
        return {"cop_ratio": ratio, "expected_cop_heat_kwh": heat}
    series = [("d1", day(0.8)), ("d2", day(0.8)), ("d3", day(None)), ("d4", day(0.8, heat=1.0)), ("d5", day(0.8))]
    state = cop_alarm(series, fraction=0.85, persist_days=3, min_heat_kwh=50)
    assert state.active and state.streak == 3 and state.since == "d1" and state.judged_days == 3
    assert not cop_alarm(series[:2], fraction=0.85, persist_days=3, min_heat_kwh=50).active
    assert not cop_alarm([*series, ("d6", day(0.9))], fraction=0.85, persist_days=3, min_heat_kwh=50).active


def test_site_channels_prefer_counters_and_read_dhw_from_the_mode_enum() -> None:
    units = unit_channels(load_site(SITE_FILE), SITE_FILE.parent)
    cols = {c.column: c for c in units["hp1"].channels}
    assert "elec_kwh" in cols and "elec_w" not in cols and "heat_w" not in cols
    assert cols["dhw"].states == frozenset({3}) and cols["dhw"].convert(3.0) == 1.0
