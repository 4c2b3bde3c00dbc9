"""A simulated fortnight through the supervisor (SimClock, in-process plant): the L8 regime, the boiler rules,
and a kill/restart in the middle of a pasteurisation that loses no record."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import hpsup
from control_plant import ControlTestPlant, fast_directory, school_variant
from sqlalchemy import select

from app.audit.chain import ChainLine, verify
from app.audit.log import L8Log
from app.clock import SimClock
from app.config import SiteConfig
from app.control.supervisor import SAVE_IN_CYCLE_S, Supervisor
from app.storage import engine as storage_engine
from app.storage.historian import Historian
from app.storage.models import Event
from app.tp12 import HeatPumpModel, HeatPumpSpec
from strategies.hybrid_sequencing import electricity_rate

START = datetime(2025, 1, 6, tzinfo=UTC)          # a Monday; Europe/London is on UTC in January
STEP_S = 60.0
FAULT = (datetime(2025, 1, 8, 10, tzinfo=UTC), datetime(2025, 1, 8, 11, tzinfo=UTC))
COMMS = (datetime(2025, 1, 9, 13, tzinfo=UTC), datetime(2025, 1, 9, 13, 30, tzinfo=UTC))
KILL = datetime(2025, 1, 12, 22, 40, tzinfo=UTC)  # inside the first pasteurisation's hold
DOWN = timedelta(minutes=10)
UNABLE = datetime(2025, 1, 15, tzinfo=UTC)        # from here the heat pump cannot heat the cylinder to 60 °C
END = datetime(2025, 1, 20, 3, tzinfo=UTC)
ECONOMIC = re.compile(r"predicted COP (?P<cop>[\d.]+) at (?P<out>-?[\d.]+) °C outdoor / (?P<flow>[\d.]+) °C flow "
                      r"vs crossover (?P<x>[\d.]+)")


@dataclass
class Fortnight:
    site: SiteConfig
    url: str
    events: list[Event]
    before_kill: list[tuple[int, str, str, str]]
    l8_before_kill: list[tuple[int, int, str, str]]
    l8: list[ChainLine]
    plant: ControlTestPlant


@pytest.fixture(scope="module")
def fortnight(tmp_path_factory: pytest.TempPathFactory) -> Fortnight:
    import asyncio

    site = school_variant()
    url = f"sqlite:///{fast_directory(tmp_path_factory, 'fortnight') / 'hpsup.db'}"
    storage_engine.upgrade(url)
    engine = storage_engine.make_engine(url)
    historian = Historian(engine, site.site.name)
    clock = SimClock(START)
    plant = ControlTestPlant(site, clock, draw_kw=0.5)

    log = L8Log(engine, site.site.name)

    def rows() -> list[tuple[int, str, str, str]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(Event.id, Event.kind, Event.source, Event.reason))]

    async def run() -> tuple[list[tuple[int, str, str, str]], list[tuple[int, int, str, str]]]:
        supervisor = Supervisor(site, plant, historian, clock, sample_every_s=600)
        before: list[tuple[int, str, str, str]] = []
        l8_before: list[tuple[int, int, str, str]] = []
        while clock.now() < END:
            now = clock.now()
            plant.fault_code = 17 if FAULT[0] <= now < FAULT[1] else 0
            plant.comms_ok = not (COMMS[0] <= now < COMMS[1])
            if now == UNABLE:
                plant.limit_heat_pump_flow(50.0)
            if now == KILL:  # the process dies: no shutdown, the plant runs on its last commands
                before, l8_before = rows(), list(log.rows())
                del supervisor
                for _ in range(int(DOWN.total_seconds() / STEP_S)):
                    clock.advance(STEP_S)
                    plant.step(STEP_S)
                supervisor = Supervisor(site, plant, historian, clock, sample_every_s=600)
            await supervisor.cycle()
            clock.advance(STEP_S)
            plant.step(STEP_S)
        return before, l8_before

    before, l8_before = asyncio.run(run())
    with engine.connect() as conn:
        events = list(conn.execute(select(Event.__table__).order_by(Event.id)))
    l8 = list(log.lines())
    engine.dispose()
    return Fortnight(site, url, events, before, l8_before, l8, plant)


def outcomes(f: Fortnight, cycle: str) -> list[dict]:
    return [e.data for e in f.events if e.kind == "l8_cycle" and e.data and e.data["cycle"] == cycle]


def test_a_boost_runs_every_day_at_the_configured_time_and_passes(fortnight: Fortnight) -> None:
    boosts = outcomes(fortnight, "boost")
    started = [datetime.fromisoformat(b["started"]) for b in boosts]
    assert started == [START + timedelta(days=d, hours=4) for d in range(14)]
    assert all(b["outcome"] == "pass" and b["max_c"] >= 61.5 for b in boosts)


def test_a_pasteurisation_runs_every_week_and_holds_every_sensor(fortnight: Fortnight) -> None:
    runs = outcomes(fortnight, "pasteurise")
    assert [datetime.fromisoformat(r["started"]) for r in runs] == [
        datetime(2025, 1, 12, 22, tzinfo=UTC), datetime(2025, 1, 19, 22, tzinfo=UTC)]
    hold = fortnight.site.cylinders[0].legionella.pasteurise_hold_min
    assert all(r["outcome"] == "pass" and r["minutes_at_60"] >= hold for r in runs)


def test_the_immersion_takes_over_when_the_heat_pump_cannot_reach_60(fortnight: Fortnight) -> None:
    boosts = outcomes(fortnight, "boost")
    able = [b for b in boosts if datetime.fromisoformat(b["started"]) < UNABLE]
    unable = [b for b in boosts if datetime.fromisoformat(b["started"]) >= UNABLE]
    assert len(able) == 9 and len(unable) == 5
    assert all(b["sources"] == ["heat_pump"] and b["immersion_kwh"] == 0 for b in able)
    assert all("immersion" in b["sources"] and b["immersion_kwh"] > 0 for b in unable)
    last = outcomes(fortnight, "pasteurise")[-1]
    assert last["sources"] == ["heat_pump", "immersion"] and last["immersion_kwh"] > 0
    fallbacks = [e for e in fortnight.events if e.kind == "transition" and e.to_state == "immersion_fallback"
                 and e.ts >= UNABLE]
    assert any("did not reach" in e.reason for e in fallbacks)


def test_the_boiler_is_enabled_only_under_the_sequencing_rules(fortnight: Fortnight) -> None:
    site, plant = fortnight.site, fortnight.plant
    model = HeatPumpModel(HeatPumpSpec.model_validate(site.heat_pumps[0].tp12.model_dump(exclude_none=True)))
    gas = site.tariffs.gas.unit_rate_gbp_per_kwh
    eta = site.boilers[0].seasonal_efficiency
    on = [(ts, reason) for ts, dev, role, value, reason in plant.log if role == "boiler_enable" and value == 1]
    assert on, "the fortnight never needed the boiler"
    economic = []
    for ts, reason in on:
        match = ECONOMIC.search(reason)
        if "boiler cheaper" in reason and match:
            economic.append((ts, match))
        elif "heat pump unavailable" in reason:
            assert FAULT[0] <= ts < FAULT[1] and "fault code 17" in reason
        elif "no trustworthy outdoor temperature" in reason:  # comms lost: failsafe, boiler on local enable
            assert COMMS[0] <= ts < COMMS[1]
        else:
            assert "at capacity" in reason or "boiler lags" in reason, reason
    assert len(economic) > 100
    ts, matches = zip(*economic, strict=True)
    outdoor = np.array([float(m["out"]) for m in matches])
    flow = np.array([float(m["flow"]) for m in matches])
    weather = np.array([plant.plant.weather(t) for t in ts])
    assert np.allclose(outdoor, weather, atol=0.06)  # the outdoor temperature the plant really had
    predicted = np.array([float(m["cop"]) for m in matches])
    assert np.allclose(predicted, model.cop(outdoor, flow), atol=0.02)  # an independent TP-12 evaluation
    crossover = np.array([electricity_rate(site.tariffs, t)[0] * eta / gas for t in ts])
    assert np.all(predicted < crossover)
    in_fault = [reason for ts, _, role, value, reason in plant.log
                if role == "boiler_enable" and FAULT[0] <= ts < FAULT[1]]
    assert in_fault and all("fault code 17" in r for r in in_fault)


def test_faults_and_comms_loss_are_on_the_record_as_transitions(fortnight: Fortnight) -> None:
    moves = [(e.ts, e.source, e.to_state) for e in fortnight.events if e.kind == "transition"]
    assert any(src == "hp1" and to == "fault" and FAULT[0] <= ts < FAULT[1] for ts, src, to in moves)
    assert any(src == "hp1" and to == "comms_lost" and ts == COMMS[0] for ts, src, to in moves)
    assert any(src == "plant" and to == "failsafe" and ts == COMMS[0] for ts, src, to in moves)
    during = [(value, reason) for ts, _, role, value, reason in fortnight.plant.log
              if role == "boiler_enable" and FAULT[0] <= ts < FAULT[1]]
    assert during and all(value == 1 and "heat pump unavailable: hp1 fault code 17" in r for value, r in during)


def test_a_kill_and_restart_mid_pasteurisation_loses_no_record(fortnight: Fortnight) -> None:
    kept = {e.id: (e.id, e.kind, e.source, e.reason) for e in fortnight.events}
    assert fortnight.before_kill and all(kept.get(row[0]) == row for row in fortnight.before_kill)
    restart = [e for e in fortnight.events if e.kind == "restart"]
    # the state stored last (at most SAVE_IN_CYCLE_S before the kill, a DHW cycle running) is what resumes
    assert len(restart) == 1 and restart[0].ts == KILL + DOWN
    stored_at = datetime.fromisoformat(restart[0].data["stored_at"])
    assert KILL - timedelta(seconds=SAVE_IN_CYCLE_S) <= stored_at < KILL
    interruption = [e for e in fortnight.events if e.kind == "interruption"]
    assert len(interruption) == 1 and "hold restarted" in interruption[0].reason
    first = outcomes(fortnight, "pasteurise")[0]
    assert first["outcome"] == "pass" and first["interruptions"] == [interruption[0].reason]
    ended = datetime.fromisoformat(first["ended"])
    assert ended >= KILL + DOWN + timedelta(minutes=fortnight.site.cylinders[0].legionella.pasteurise_hold_min)


def test_the_fortnight_leaves_a_transition_reason_for_every_machine_move(fortnight: Fortnight) -> None:
    transitions = [e for e in fortnight.events if e.kind == "transition"]
    assert transitions and all(e.reason and e.from_state and e.to_state != e.from_state for e in transitions)
    assert {e.source for e in transitions} == {"hp1", "plant", "dhw1"}




# -- the L8 log ----------------------------------------------------------------------------------------------
def l8_cycles(f: Fortnight) -> list[dict]:
    return [{**json.loads(ln.field("data")), "value": ln.field("value"), "ts": ln.field("ts")}
            for ln in f.l8 if ln.field("kind") == "cycle"]


def test_every_cycle_outcome_is_in_the_l8_log_with_what_decided_it(fortnight: Fortnight) -> None:
    records = l8_cycles(fortnight)
    events = [e.data for e in fortnight.events if e.kind == "l8_cycle"]
    assert len(records) == len(events)
    kinds = [r["cycle"] for r in records]
    assert kinds.count("boost") == 14 and kinds.count("pasteurise") == 2 and set(kinds) == {"boost", "pasteurise",
                                                                                             "reheat"}
    for record, event in zip(records, events, strict=True):
        assert record["cycle"] == event["cycle"] and record["outcome"] == event["outcome"] == "pass"
        assert float(record["value"]) == pytest.approx(event["max_c"])  # the record's value: its peak
        for key in ("started", "ended", "reason", "minutes_at_60", "heat_pump_kwh", "immersion_kwh", "sources",
                    "interruptions"):
            assert record[key] == event[key], key
        assert record["ts"] == datetime.fromisoformat(event["ended"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        heated = record["heat_pump_kwh"] + record["immersion_kwh"]
        assert heated > 0 if record["ended"] != record["started"] else heated == 0, record  # or already hot
    pasteurised = [r for r in records if r["cycle"] == "pasteurise"]
    assert all(r["minutes_at_60"] >= 60 for r in pasteurised)
    assert len(pasteurised[0]["interruptions"]) == 1 and not pasteurised[1]["interruptions"]


def test_every_sensor_and_the_secondary_return_are_logged_at_the_cylinder_interval(fortnight: Fortnight) -> None:
    cyl = fortnight.site.cylinders[0]
    interval = timedelta(minutes=cyl.legionella.log_interval_min)
    temps = [ln for ln in fortnight.l8 if ln.field("kind") == "temperature"]
    by_sensor: dict[str, list[datetime]] = {}
    for ln in temps:
        assert ln.field("cylinder") == cyl.id and 5.0 < float(ln.field("value")) < 95.0
        by_sensor.setdefault(ln.field("sensor"), []).append(datetime.fromisoformat(ln.field("ts")))
    assert set(by_sensor) == {*cyl.sensors, "secondary_return"}
    for sensor, times in by_sensor.items():
        assert all(t.second == 0 and t.minute % 5 == 0 for t in times), sensor
        gaps = [(a, b) for a, b in zip(times, times[1:], strict=False) if b - a != interval]
        # no readings while the unit did not answer, nor while the controller was down
        assert gaps == [(COMMS[0] - interval, COMMS[1]), (KILL - interval, KILL + DOWN)], sensor
        assert times[0] == START and times[-1] == END - interval


def test_the_l8_chain_verifies_and_the_audit_commands_show_the_supervisor_records(fortnight: Fortnight,
                                                                                 tmp_path: Path) -> None:
    verdict = verify(fortnight.l8)
    assert verdict.ok and verdict.rows == len(fortnight.l8) and verdict.first_seq == 1
    name = fortnight.site.site.name
    checked = hpsup("l8-verify", "--db", "--site", name, "--url", fortnight.url)
    assert checked.returncode == 0, checked.stderr
    assert f"{len(fortnight.l8)} records, seq 1 to {len(fortnight.l8)}, verified; head {verdict.head}" in checked.stdout
    out = tmp_path / "l8.csv"
    exported = hpsup("l8-export", "--site", name, "--url", fortnight.url, "--from", "2025-01-12", "--to",
                     "2025-01-12", "--format", "csv", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    day = [ln for ln in fortnight.l8 if ln.field("ts").startswith("2025-01-12")]
    lines = out.read_text().splitlines()
    assert len(lines) == len(day) + 1 and lines[-1].endswith(day[-1].hash)
    cycles = [ln for ln in day if ln.field("kind") == "cycle"]
    assert cycles and sum(",cycle," in line for line in lines) == len(cycles)
    again = hpsup("l8-verify", str(out))
    assert again.returncode == 0 and "verified" in again.stdout, again.stdout + again.stderr


def test_a_kill_and_restart_mid_pasteurisation_loses_no_l8_record(fortnight: Fortnight) -> None:
    after = {line.seq: tuple(line) for line in fortnight.l8}
    before = [tuple(row) for row in fortnight.l8_before_kill]
    assert before and all(after.get(row[1]) == row for row in before)  # same record, same text, same hash
    head = ChainLine(*before[-1])
    resumed = ChainLine(*after[head.seq + 1])  # the chain goes on from the record written last before the kill
    assert resumed.prev_hash == head.hash and resumed.field("ts").startswith((KILL + DOWN).strftime("%Y-%m-%dT%H:%M"))
    assert datetime.fromisoformat(head.field("ts")) == KILL - timedelta(minutes=5)
