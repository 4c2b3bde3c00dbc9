"""Every move in every state machine's table, driven through the supervisor and found stored with its reason.

Each case resumes a supervisor from a stored state (the restart path) with the machine in the move's source
state, then feeds the plant readings (faults, comms loss, defrost, temperatures) or operator inputs that make
the supervisor take the move. The stored ``transition`` event must name the machine, both states, the
table's trigger and the reason the supervisor gave. A move added to a table without a case here fails
`test_every_move_in_the_tables_has_a_case`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product
from typing import Any

import pytest
from control_plant import COLD_CYLINDER, FAULT, Rig, no_immersion, school_variant
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from transitions import MachineError

from app.audit.chain import ChainLine, verify
from app.audit.log import L8Entry, L8Log
from app.config import SequencingConfig, SiteConfig
from app.control.machines import DhwMachine, HeatPumpMachine, RecordedMachine, SequencerMachine, Transition
from app.control.performance import PerformanceTable
from app.storage.historian import Historian
from app.storage.models import Event
from strategies.hybrid_sequencing import MODES, Crossover, SourceInputs, SourceState, sequence_sources

WEDNESDAY = datetime(2025, 1, 8, 10, tzinfo=UTC)  # occupied, no peak tariff, no DHW cycle due (UTC = local)
MACHINES: dict[str, type[RecordedMachine]] = {"hp1": HeatPumpMachine, "plant": SequencerMachine,
                                              "dhw1": DhwMachine}


@dataclass(frozen=True)
class Case:
    machine: str
    source: str
    dest: str
    reason: str                       # a part of the stored reason that says why
    drive: Callable[[Rig], None]      # from the source state, what happens
    start: datetime = WEDNESDAY
    site: Callable[[], SiteConfig] = school_variant

    @property
    def id(self) -> str:
        return f"{self.machine}:{self.source}->{self.dest}"


# -- heat pump: the supervisor derives the unit's state from what it reports and what it is asked -----------
HP_STATES = HeatPumpMachine.STATES


def hp_stimulus(dest: str) -> tuple[dict[str, Any], str, Callable[[Rig], None]]:
    """(memory to resume with, expected reason, what happens) that takes a heat pump into `dest`."""
    run = {"enable": True, "since_min": 120.0}
    table: dict[str, tuple[dict[str, Any], str, Callable[[Rig], None]]] = {
        "off": (run, "no space heating: outdoor above summer cut-off", lambda r: r.step(outdoor_temp=20.0)),
        "standby": (run, "space heating (occupied)", lambda r: r.step(compressor_running=0.0, heat_output_power=0.0)),
        "heating": (run, "space heating (occupied)", lambda r: r.step()),
        "hot_water": (run, "reheat by heat pump: top 50.0 °C", lambda r: r.step(**COLD_CYLINDER)),
        "defrost": (run, "space heating (occupied)", lambda r: r.step(defrost_active=1.0)),
        "fault": (run, "fault code 17", lambda r: r.step(**FAULT)),
        "comms_lost": (run, "no answer from the unit", lambda r: r.step(comms=False)),
        "lockout": ({"enable": False, "since_min": 1.0}, "anti-short-cycle: off 2 of 5 min", lambda r: r.step()),
    }
    return table[dest]


def hp_case(source: str, dest: str) -> Case:
    memory, reason, drive = hp_stimulus(dest)

    def run(rig: Rig) -> None:
        rig.resume(hp=source, **memory)
        drive(rig)

    return Case("hp1", source, dest, reason, run)


# -- plant sequencer -----------------------------------------------------------------------------------------
def sequencer_case(source: str, dest: str) -> Case:
    def resume(rig: Rig) -> None:
        rig.resume(sequencer=source, hp="heating")

    def shortfall(rig: Rig) -> None:  # at capacity, flow far below setpoint, held for the shortfall time
        resume(rig)
        for _ in range(40):
            rig.step(heat_output_power=100.0, flow_temp=20.0)
            if rig.machine("plant").state != source:
                return

    drives: dict[str, tuple[str, Callable[[Rig], None]]] = {
        "failsafe": ("no trustworthy outdoor temperature", lambda r: (resume(r), r.step(comms=False))),
        "boiler_only": ("heat pump unavailable: hp1 fault code 17", lambda r: (resume(r), r.step(**FAULT))),
        "hp_only": ("boiler released" if source == "hp_boiler" else "heat pump leads: predicted COP",
                    lambda r: (resume(r), r.step())),
        "hp_boiler": ("heat pump at capacity and flow 20.0 °C below setpoint", shortfall),
    }
    reason, drive = drives[dest]
    return Case("plant", source, dest, reason, drive)


# -- DHW cycle -----------------------------------------------------------------------------------------------
def start_cycle(rig: Rig, kind: str, **temps: float) -> None:
    """An operator starts a boost or a pasteurisation with the cylinder at `temps`."""
    rig.command("dhw1.boost" if kind == "boost" else "dhw1.pasteurise_now", 1.0)
    rig.step(**{**COLD_CYLINDER, **temps})
    assert rig.machine("dhw1").state == kind


def fall_back(rig: Rig, kind: str) -> None:
    start_cycle(rig, kind)
    rig.step(**FAULT)
    assert rig.machine("dhw1").state == "immersion_fallback"


def until_deadline(rig: Rig) -> None:
    running = rig.machine("dhw1").state
    for _ in range(10):  # 30 min steps past the 240 min window, the cylinder stuck at 50 °C
        rig.step(30.0, **COLD_CYLINDER)
        if rig.machine("dhw1").state != running:
            return


def held_hot(rig: Rig) -> None:
    for _ in range(70):
        rig.step(dhw_temp=61.0, **{"dhw_temp.1": 60.5})
        if rig.machine("dhw1").state == "passed":
            return


def restart_in(state: str, then: Callable[[Rig], None]) -> Callable[[Rig], None]:
    return lambda rig: (rig.resume(dhw=state), then(rig))


def operator(kind: str) -> Callable[[Rig], None]:
    return lambda rig: start_cycle(rig, kind)


DHW_CASES = [
    Case("dhw1", "idle", "boost", "boost: scheduled boost Wed 04:00", lambda r: r.step(**COLD_CYLINDER),
         start=WEDNESDAY.replace(hour=3, minute=59)),
    Case("dhw1", "passed", "boost", "boost: operator request", restart_in("passed", operator("boost"))),
    Case("dhw1", "failed", "boost", "boost: operator request", restart_in("failed", operator("boost"))),
    Case("dhw1", "idle", "pasteurise", "pasteurise: scheduled pasteurise Sun 22:00",
         lambda r: r.step(**COLD_CYLINDER),
         start=datetime(2025, 1, 12, 21, 59, tzinfo=UTC)),
    Case("dhw1", "passed", "pasteurise", "pasteurise: operator request", restart_in("passed", operator("pasteurise"))),
    Case("dhw1", "failed", "pasteurise", "pasteurise: operator request", restart_in("failed", operator("pasteurise"))),
    Case("dhw1", "boost", "immersion_fallback", "heat pump unavailable: fault code 17",
         lambda r: (start_cycle(r, "boost"), r.step(**FAULT))),
    Case("dhw1", "pasteurise", "immersion_fallback", "heat pump unavailable: plant in failsafe",
         lambda r: (start_cycle(r, "pasteurise"), r.step(comms=False))),
    Case("dhw1", "boost", "passed", "top 62.0 °C of 62 °C",
         lambda r: (start_cycle(r, "boost", dhw_temp=58.0), r.step(dhw_temp=62.0))),
    Case("dhw1", "pasteurise", "passed", "every sensor ≥ 60 °C for 60 of 60 min",
         lambda r: (start_cycle(r, "pasteurise"), held_hot(r))),
    Case("dhw1", "immersion_fallback", "passed", "top 62.0 °C of 62 °C",
         lambda r: (fall_back(r, "boost"), r.step(dhw_temp=62.0))),
    Case("dhw1", "boost", "failed", "not passed by the deadline", lambda r: (start_cycle(r, "boost"),
                                                                             until_deadline(r)), site=no_immersion),
    Case("dhw1", "pasteurise", "failed", "not passed by the deadline",
         lambda r: (start_cycle(r, "pasteurise"), until_deadline(r)), site=no_immersion),
    Case("dhw1", "immersion_fallback", "failed", "not passed by the deadline",
         lambda r: (fall_back(r, "pasteurise"), until_deadline(r))),
]

SEQUENCER_MOVES = ([(s, "failsafe") for s in ("hp_only", "hp_boiler", "boiler_only")]
                   + [(s, "boiler_only") for s in ("hp_only", "hp_boiler", "failsafe")]
                   + [(s, "hp_only") for s in ("hp_boiler", "boiler_only", "failsafe")]
                   + [("hp_only", "hp_boiler")])  # the boiler joins as lag only behind a leading heat pump
CASES = ([hp_case(s, d) for s, d in product(HP_STATES, HP_STATES) if s != d]
         + [sequencer_case(s, d) for s, d in SEQUENCER_MOVES] + DHW_CASES)


def table_moves() -> set[tuple[str, str, str, str]]:
    """(machine, source, destination, trigger) for every move the machines' tables allow."""
    moves = set()
    for name, cls in MACHINES.items():
        for trigger, (sources, dest) in cls.MOVES.items():
            for source in (sources,) if isinstance(sources, str) else sources:
                moves.add((name, source, dest, trigger))
    return moves


def test_every_move_in_the_tables_has_a_case() -> None:
    covered = {(c.machine, c.source, c.dest) for c in CASES}
    assert len(covered) == len(CASES)  # no case twice
    assert covered == {(m, s, d) for m, s, d, _ in table_moves()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_move_is_driven_through_the_supervisor_and_stored_with_its_reason(
        case: Case, engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, f"machines {case.id}", case.start, case.site())
    case.drive(rig)
    trigger = next(t for m, s, d, t in table_moves() if (m, s, d) == (case.machine, case.source, case.dest))
    stored = [e for e in rig.transitions(case.machine) if e.from_state == case.source and e.to_state == case.dest]
    assert stored, f"no {case.id} among {[(e.from_state, e.to_state) for e in rig.transitions(case.machine)]}"
    event = stored[-1]
    assert case.reason in event.reason, event.reason
    assert event.data == {"trigger": trigger} and event.ts == rig.clock.now()
    assert rig.machine(case.machine).state == case.dest


def test_a_failed_cycle_is_in_the_l8_log_before_the_machine_moves_and_raises_an_alarm(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "machines l8 failure", WEDNESDAY, no_immersion())
    start_cycle(rig, "pasteurise")
    until_deadline(rig)
    log = L8Log(engine, rig.historian.site)
    cycles = list(log.lines(kind="cycle"))
    assert len(cycles) == 1 and verify(log.lines()).ok
    data = json.loads(cycles[0].field("data"))
    assert (data["cycle"], data["outcome"], data["sources"], data["immersion_kwh"]) == ("pasteurise", "fail",
                                                                                         ["heat_pump"], 0.0)
    assert data["heat_pump_kwh"] > 0 and data["minutes_at_60"] == 0 and cycles[0].field("value") == "50.000"
    assert rig.transitions("dhw1")[-1].to_state == "failed"
    with engine.connect() as conn:
        alarms = list(conn.execute(select(Event.reason).where(Event.site == rig.historian.site,
                                                              Event.kind == "alarm")))
    assert [a.reason for a in alarms] == [f"L8 pasteurise failed: {data['reason']}"]


class UnwritableOutcomes(Historian):
    """A historian whose L8 log refuses cycle outcomes (a full disk, a lost database) until `writable`."""

    writable = False

    def record_l8(self, entries: Sequence[L8Entry]) -> list[ChainLine]:
        if not self.writable and any(e.kind == "cycle" for e in entries):
            raise OSError("disk full")
        return super().record_l8(entries)


def test_a_cycle_outcome_not_committed_to_the_l8_log_is_not_treated_as_recorded(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "machines l8 unwritable", WEDNESDAY, school_variant())
    rig.historian = UnwritableOutcomes(engine, rig.historian.site)
    rig.resume()
    start_cycle(rig, "boost", dhw_temp=58.0)
    with pytest.raises(OSError, match="disk full"):
        rig.step(dhw_temp=62.0)
    assert rig.machine("dhw1").state == "boost"  # the cycle is still open: nothing moved on
    rig.historian.writable = True
    rig.step(dhw_temp=62.0)
    assert rig.machine("dhw1").state == "passed"
    cycles = list(L8Log(engine, rig.historian.site).lines(kind="cycle"))
    assert len(cycles) == 1 and json.loads(cycles[0].field("data"))["outcome"] == "pass"


def test_a_move_the_table_does_not_allow_is_refused_and_not_recorded() -> None:
    recorded: list[Transition] = []
    cycle = DhwMachine("dhw1", recorded.append)
    with pytest.raises(MachineError):
        cycle.go("passed", WEDNESDAY, "no cycle ran")
    assert cycle.state == "idle" and not recorded
    assert not cycle.go("idle", WEDNESDAY, "already there") and not recorded


def test_a_stored_state_that_is_not_a_state_of_the_machine_is_refused() -> None:
    with pytest.raises(ValueError, match="'heating' is not one of"):
        SequencerMachine("plant", print).restore("heating")


CFG = SequencingConfig()
FLOAT = st.floats(min_value=-5.0, max_value=80.0, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(mode=st.sampled_from(MODES), since=st.floats(0, 20_000), shortfall=st.none() | st.floats(0, 20_000),
       outdoor_ok=st.booleans(), has_boiler=st.booleans(), hp_available=st.booleans(),
       cop=st.none() | st.floats(0.5, 8.0), crossover=st.floats(1.0, 6.0), at_capacity=st.booleans(),
       flow=st.none() | FLOAT, setpoint=FLOAT, load=st.floats(0, 200), capacity=st.floats(0, 200),
       over_limit=st.booleans(), forced=st.sampled_from([None, "hp_only", "boiler_only"]))
def test_the_sequencer_strategy_only_asks_for_moves_the_sequencer_machine_allows(
        mode: str, since: float, shortfall: float | None, outdoor_ok: bool, has_boiler: bool, hp_available: bool,
        cop: float | None, crossover: float, at_capacity: bool, flow: float | None, setpoint: float, load: float,
        capacity: float, over_limit: bool, forced: str | None) -> None:
    inputs = SourceInputs(now_s=20_000.0, outdoor_ok=outdoor_ok, has_boiler=has_boiler, hp_available=hp_available,
                          hp_unavailable_reason="x", predicted_cop=cop, crossover=Crossover(crossover, "economic",
                                                                                            None, "x"),
                          at_capacity=at_capacity, flow_c=flow, flow_setpoint_c=setpoint, load_kw=load,
                          hp_capacity_kw=capacity, over_electrical_limit=over_limit, forced=forced)
    held = shortfall if mode in ("hp_only", "hp_boiler") else None  # only a leading heat pump tracks a shortfall
    decision, _ = sequence_sources(inputs, SourceState(mode, since, held), CFG)
    machine = SequencerMachine("plant", print)
    machine.restore(mode)
    assert machine.can_go(decision.mode), f"{mode} -> {decision.mode}: {decision.reason}"
