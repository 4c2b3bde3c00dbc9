"""The HSE L8 / HSG274 DHW regime: daily boost, weekly pasteurisation, immersion fallback, every outcome recorded.

A cycle (``boost``, ``pasteurise``, or a ``reheat`` when the store falls below its setpoint) heats the
cylinder with the heat pump first, as far as it reaches — its maximum flow temperature less the coil
approach, judged at the coil's zone (the lowest sensor: cold make-up water collects there) — and the
electric immersion tops up the last kelvin the heat pump cannot give. The immersion also takes over when
the heat pump is faulted or its comms are lost, when its window runs out, or when space heating needs it
back for optimum start. A boost passes when the top sensor reaches the boost target;
a pasteurisation passes when every cylinder sensor has held at least the pasteurisation target
continuously for the hold time. A cycle not passed by its deadline fails. The outcome always carries: pass or
fail, maximum temperature, minutes with every sensor at ≥ 60 °C, heat-pump and immersion energy, the
sources used, and interruptions (a restart in the middle restarts the hold: continuity across the gap is
not proven).

The storage setpoint is never below 60 °C, whatever is asked (:func:`storage_setpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any

from app.config import L8_MIN_STORAGE_C, CylinderConfig

BOOST, PASTEURISE, REHEAT = "boost", "pasteurise", "reheat"
HEAT_PUMP, IMMERSION = "heat_pump", "immersion"
PASS_TOLERANCE_K = 0.5       # a boost is reached within the sensors' tolerance of its target
HP_REACH_MARGIN_K = 1.0      # hand over to the immersion this close to what the heat pump can reach
IMMERSION_HOLD_BAND_K = 1.0  # during a hold the immersion tops up below target + this
DHW_SETPOINT_MARGIN_K = 2.0  # a pasteurisation asks the heat pump for target + this


def storage_setpoint(requested_c: float) -> tuple[float, str | None]:
    """The storage setpoint to use for a requested one: never below 60 °C; the reason when it was raised."""
    if requested_c >= L8_MIN_STORAGE_C:
        return requested_c, None
    return L8_MIN_STORAGE_C, f"requested {requested_c:g} °C is below the L8 minimum {L8_MIN_STORAGE_C:g} °C"


def heat_pump_reach_c(max_flow_c: float, cylinder: CylinderConfig) -> float:
    """The warmest the heat pump can make the cylinder: maximum flow less the coil approach."""
    return max_flow_c - cylinder.heat_pump_approach_k


def needs_reheat(temps: Sequence[float | None], setpoint_c: float, cylinder: CylinderConfig) -> bool:
    """The store has fallen below its setpoint less the reheat differential (top sensor), or below 60 °C.

    A reheat heats to the setpoint, and at least the differential above 60 °C, so it never chatters at 60.
    """
    top = temps[0] if temps else None
    return top is not None and top < max(setpoint_c - cylinder.reheat_differential_k, L8_MIN_STORAGE_C)


@dataclass(frozen=True, slots=True)
class DhwCycle:
    """One DHW cycle in progress: its targets, deadlines, source, and what has been measured so far."""

    kind: str
    started: datetime
    target_c: float
    setpoint_c: float
    source: str
    hp_deadline: datetime
    deadline: datetime
    reason: str
    last_ts: datetime
    max_c: float | None = None
    hold_since: datetime | None = None
    minutes_at_60: float = 0.0
    hp_kwh: float = 0.0
    immersion_kwh: float = 0.0
    sources_used: tuple[str, ...] = ()
    handover: str | None = None
    interruptions: tuple[str, ...] = ()
    hp_was_on: bool = False          # what ran since the last step (energy is counted for that interval)
    immersion_was_on: bool = False

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dict (controller state) from which :meth:`from_state` rebuilds the cycle."""
        out: dict[str, Any] = {}
        for key in _CYCLE_FIELDS:
            value = getattr(self, key)
            out[key] = (value.isoformat() if isinstance(value, datetime) else list(value) if isinstance(value, tuple)
                        else value)
        return out

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> DhwCycle:
        values = dict(data)
        for key in ("started", "hp_deadline", "deadline", "last_ts", "hold_since"):
            if values.get(key) is not None:
                values[key] = datetime.fromisoformat(values[key])
        for key in ("sources_used", "interruptions"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)


_CYCLE_FIELDS = tuple(f.name for f in fields(DhwCycle))


@dataclass(slots=True)
class DhwInputs:
    """What a cycle step sees: the cylinder, the heat pump's state, and whether heating wants it back (built
    every step: not frozen, which costs to build)."""

    now: datetime
    temps: Sequence[float | None]    # cylinder sensors, top first; None for a bad reading
    hp_reach_c: float | None         # None: no heat pump serves this cylinder
    hp_available: bool
    hp_unavailable_reason: str = ""
    hp_heat_kw: float = 0.0          # heat the heat pump delivers to the cylinder now
    release_hp: str | None = None    # why space heating needs the heat pump back (optimum start), if it does
    has_immersion: bool = True
    immersion_kw: float = 0.0


@dataclass(frozen=True, slots=True)
class DhwIntent:
    """What the cycle asks of the plant this step."""

    hp_dhw: bool
    setpoint_c: float
    immersion_on: bool
    reason: str


@dataclass(frozen=True, slots=True)
class DhwOutcome:
    """A finished cycle, as recorded for the L8 audit."""

    kind: str
    passed: bool
    reason: str
    started: datetime
    ended: datetime
    max_c: float | None
    minutes_at_60: float
    hp_kwh: float
    immersion_kwh: float
    sources: tuple[str, ...]
    interruptions: tuple[str, ...] = field(default=())

    def record(self) -> dict[str, Any]:
        return {"cycle": self.kind, "outcome": "pass" if self.passed else "fail", "reason": self.reason,
                "started": self.started.isoformat(), "ended": self.ended.isoformat(),
                "max_c": None if self.max_c is None else round(self.max_c, 2),
                "minutes_at_60": round(self.minutes_at_60, 1), "heat_pump_kwh": round(self.hp_kwh, 3),
                "immersion_kwh": round(self.immersion_kwh, 3), "sources": list(self.sources),
                "interruptions": list(self.interruptions)}


def start_cycle(kind: str, now: datetime, cylinder: CylinderConfig, setpoint_c: float, reason: str,
                inputs: DhwInputs) -> DhwCycle:
    """A new cycle of `kind` starting now; its first source is chosen at the first step."""
    regime = cylinder.legionella
    reheat_to = max(setpoint_c, L8_MIN_STORAGE_C + cylinder.reheat_differential_k)
    target = {BOOST: regime.boost_target_c, PASTEURISE: regime.pasteurise_target_c, REHEAT: reheat_to}[kind]
    ask = max(setpoint_c, target + (DHW_SETPOINT_MARGIN_K if kind == PASTEURISE else 0.0))
    cycle = DhwCycle(kind, now, target, storage_setpoint(ask)[0], HEAT_PUMP,
                     now + timedelta(minutes=regime.heat_pump_window_min),
                     now + timedelta(minutes=regime.cycle_window_min), reason, now)
    source, handover = _source(cycle, inputs)
    return replace(cycle, source=source, handover=handover)


def _source(cycle: DhwCycle, inp: DhwInputs) -> tuple[str, str | None]:
    """Heat pump or immersion for this step, and the reason for a hand-over to the immersion."""
    if cycle.source == IMMERSION:
        return IMMERSION, cycle.handover
    why = None
    if inp.hp_reach_c is None:
        why = "no heat pump serves this cylinder"
    elif not inp.hp_available:
        why = f"heat pump unavailable: {inp.hp_unavailable_reason}"
    elif inp.release_hp:
        why = f"heat pump returned to space heating: {inp.release_hp}"
    elif inp.now >= cycle.hp_deadline:
        why = f"heat pump did not reach {cycle.target_c:g} °C within its window"
    elif inp.hp_reach_c < cycle.target_c + (0.0 if cycle.kind != PASTEURISE else IMMERSION_HOLD_BAND_K):
        coil = inp.temps[-1] if inp.temps else None  # the lowest sensor: the coil's zone
        if coil is None or coil >= inp.hp_reach_c - HP_REACH_MARGIN_K:
            why = (f"heat pump maximum flow reaches only {inp.hp_reach_c:.1f} °C in the cylinder "
                   f"(target {cycle.target_c:g} °C)")
    if why is None or not inp.has_immersion:
        return HEAT_PUMP, why
    return IMMERSION, why


def step_cycle(cycle: DhwCycle, inp: DhwInputs, hold_min: float) -> tuple[DhwCycle, DhwIntent, DhwOutcome | None]:
    """Advance a cycle by one control step: account, check pass/fail, choose the source, say what to do."""
    dt_h = max(0.0, (inp.now - cycle.last_ts).total_seconds()) / 3600
    valid = [t for t in inp.temps if t is not None]
    complete = bool(valid) and len(valid) == len(inp.temps)
    all_hot = complete and min(valid) >= L8_MIN_STORAGE_C
    at_target = complete and min(valid) >= cycle.target_c
    source, handover = _source(cycle, inp)
    hp_on = source == HEAT_PUMP and inp.hp_reach_c is not None and inp.hp_available and not inp.release_hp
    top = inp.temps[0] if inp.temps else None
    immersion_on = source == IMMERSION and inp.has_immersion
    if cycle.kind == PASTEURISE and immersion_on and at_target:
        immersion_on = min(valid) < cycle.target_c + IMMERSION_HOLD_BAND_K
    cycle = replace(
        cycle, last_ts=inp.now, source=source, handover=handover,
        max_c=max([*valid, *([] if cycle.max_c is None else [cycle.max_c])], default=None),
        minutes_at_60=cycle.minutes_at_60 + (dt_h * 60 if all_hot else 0.0),
        hold_since=(cycle.hold_since or inp.now) if at_target else None,
        hp_kwh=cycle.hp_kwh + (inp.hp_heat_kw * dt_h if cycle.hp_was_on else 0.0),
        immersion_kwh=cycle.immersion_kwh + (inp.immersion_kw * dt_h if cycle.immersion_was_on else 0.0),
        hp_was_on=hp_on, immersion_was_on=immersion_on,
        sources_used=cycle.sources_used + tuple(s for s, on in ((HEAT_PUMP, hp_on), (IMMERSION, immersion_on))
                                                if on and s not in cycle.sources_used),
    )
    if cycle.kind == PASTEURISE:
        held = (inp.now - cycle.hold_since).total_seconds() / 60 if cycle.hold_since else 0.0
        passed = held >= hold_min
        progress = f"every sensor ≥ {cycle.target_c:g} °C for {held:.0f} of {hold_min:g} min"
    else:
        passed = top is not None and top >= cycle.target_c - PASS_TOLERANCE_K
        progress = f"top {top:.1f} °C of {cycle.target_c:g} °C" if top is not None else "top sensor unreadable"
    if passed or inp.now >= cycle.deadline:
        reason = progress if passed else f"not passed by the deadline {cycle.deadline:%H:%M} UTC: {progress}"
        if handover and not passed:
            reason += f"; {handover}"
        outcome = DhwOutcome(cycle.kind, passed, reason, cycle.started, inp.now, cycle.max_c, cycle.minutes_at_60,
                             cycle.hp_kwh, cycle.immersion_kwh, cycle.sources_used, cycle.interruptions)
        return cycle, DhwIntent(False, cycle.setpoint_c, False, f"{cycle.kind} {'passed' if passed else 'failed'}"), \
            outcome
    reason = f"{cycle.kind} by {source.replace('_', ' ')}: {progress}" + (f" ({handover})" if handover else "")
    return cycle, DhwIntent(hp_on, cycle.setpoint_c, immersion_on, reason), None


def resume_cycle(cycle: DhwCycle, now: datetime) -> DhwCycle:
    """A cycle found in stored state after a restart: the interruption is noted and any hold starts again."""
    gap_min = (now - cycle.last_ts).total_seconds() / 60
    note = (f"controller restarted at {now:%Y-%m-%d %H:%M} UTC after {gap_min:.0f} min without control"
            + (" during the hold: hold restarted" if cycle.hold_since else ""))
    return replace(cycle, hold_since=None, last_ts=now, hp_was_on=False, immersion_was_on=False,
                   interruptions=cycle.interruptions + (note,))
