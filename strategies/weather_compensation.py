"""Weather compensation: outdoor temperature -> the lowest flow temperature that keeps rooms at setpoint.

Curves come in three forms: explicit (outdoor, flow) points, the slope/offset/curvature form heat pump
controllers use, and a curve designed from the emitter survey. Around the curve: clamps (circuit limits
and the heat pump's maximum flow temperature), a summer cut-off with hysteresis, a bounded PI trim on the
room temperature, the occupancy schedule with setback (a setback thermostat), the heat the circuit should
take (a cooled fabric counted, a room thermostat above setpoint), and optimum start at full output that
learns from each recovery how fast the building responds (self-adapting, the time constant of a
first-order response fitted to the last mornings, one for after a night and one for after a weekend).

The designed curve is a heat balance, not a rule of thumb. The load the emitters must carry at an
outdoor temperature is the steady-state fabric and ventilation loss (the design heat loss less the margin
the calculation declares) minus the useful internal gains while the building is occupied; the emitters
deliver EN 442's Q = Q_rated · (ΔT_mean / ΔT_mean,rated)^n, with Q_rated the installed output (oversize
factor × design heat loss); at constant flow rate, flow − return scales with the output, set so that it
equals the curve's design ΔT at the design point. The flow temperature is the one whose mean water
temperature gives exactly that output.

Every function here is pure: floats or numpy arrays in, the same out; times are passed in, never read; the
optimiser's memory is a value passed in and returned (:class:`OptimiserState`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

import numpy as np

from app.config import (
    CurveDesigned,
    CurvePoints,
    CurveSlope,
    HeatingCircuitConfig,
    RoomTrimConfig,
    ScheduleConfig,
)

Num = float | np.ndarray
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
INTEGRAL_BAND_K = 2.0  # the trim integrates only while the room is within this of its setpoint
MAX_FLOW_TO_MEAN_K = 5.0  # mean water temperature below the flow at full output (half a 10 K flow-return drop)
SETBACK_DIFFERENTIAL_K = 1.0  # the setback thermostat stops this far above the setback setpoint
ROOM_HIGH_K = 1.0             # no heat wanted with the room this far above its (occupied) setpoint
BOOST_BELOW_K = 1.0           # occupied: full output when the room falls this far below its setpoint
OPTIMUM_START_TOLERANCE_K = 0.5  # optimum start aims to have the room this close to the occupied setpoint
LONG_SETBACK_H = 24.0         # longer than this unoccupied: a long recovery (a weekend), learned apart
LEARNING_GAIN = 0.5           # share of a new observation taken into the learned time constant
MIN_LEARNING_RISE_K = 1.0     # a recovery must lift the room at least this much to be learned from
TIME_CONSTANT_RANGE = (0.02, 2.0)  # learned time constants stay within these shares of the circuit's


def _positive(x: Num) -> Num:
    return np.maximum(x, 0.0) if isinstance(x, np.ndarray) else max(x, 0.0)


# -- the heat balance --------------------------------------------------------------------------------------
def loss_coefficient_kw_per_k(circuit: HeatingCircuitConfig) -> float:
    """Steady-state heat loss coefficient (kW/K): design heat loss less its declared margin, per design ΔT."""
    steady = circuit.design_heat_loss_kw / (1 + circuit.heat_loss_margin)
    return steady / (circuit.design_room_c - circuit.design_outdoor_c)


def required_output_kw(circuit: HeatingCircuitConfig, outdoor_c: Num, room_c: float, occupied: bool) -> Num:
    """Heat the emitters must deliver to hold `room_c`: steady-state loss less occupied gains, never negative."""
    gains = circuit.occupied_gains_kw if occupied else 0.0
    return _positive(loss_coefficient_kw_per_k(circuit) * (room_c - outdoor_c) - gains)


def installed_output_kw(circuit: HeatingCircuitConfig) -> float:
    """Emitter output at the rating condition: oversize factor × design heat loss."""
    return circuit.emitters.oversize_factor * circuit.design_heat_loss_kw


def rated_mean_excess_k(circuit: HeatingCircuitConfig) -> float:
    e = circuit.emitters
    return (e.rated_flow_c + e.rated_return_c) / 2 - e.rated_room_c


def emitter_output_kw(circuit: HeatingCircuitConfig, mean_water_c: Num, room_c: Num) -> Num:
    """Emitter output at a mean water temperature (EN 442 characteristic)."""
    excess = _positive(mean_water_c - room_c)
    return installed_output_kw(circuit) * (excess / rated_mean_excess_k(circuit)) ** circuit.emitters.exponent


def emitter_max_output_kw(circuit: HeatingCircuitConfig, room_c: Num) -> Num:
    """Emitter output at the circuit's maximum flow temperature (mean water MAX_FLOW_TO_MEAN_K below it)."""
    return emitter_output_kw(circuit, circuit.max_flow_c - MAX_FLOW_TO_MEAN_K, room_c)


def emitter_mean_for_output(circuit: HeatingCircuitConfig, output_kw: Num, room_c: float) -> Num:
    """Mean water temperature at which the emitters deliver `output_kw` (inverse of EN 442)."""
    share = _positive(output_kw) / installed_output_kw(circuit)
    return room_c + rated_mean_excess_k(circuit) * share ** (1 / circuit.emitters.exponent)


def design_mcp_kw_per_k(circuit: HeatingCircuitConfig) -> float:
    """Circuit flow rate × cp (kW/K): the design-point output over the curve's design flow − return difference."""
    curve = circuit.curve
    delta = (curve.design_delta_t_k if isinstance(curve, CurveDesigned)
             else CurveDesigned.model_fields["design_delta_t_k"].default)
    return float(required_output_kw(circuit, circuit.design_outdoor_c, circuit.design_room_c, True)) / delta


def designed_flow_return(circuit: HeatingCircuitConfig, outdoor_c: Num, room_c: float | None = None,
                         occupied: bool = True) -> tuple[Num, Num]:
    """Flow and return (°C) of the designed curve: the lowest temperatures that meet the load at `outdoor_c`."""
    curve = circuit.curve
    delta_design = (curve.design_delta_t_k if isinstance(curve, CurveDesigned)
                    else CurveDesigned.model_fields["design_delta_t_k"].default)
    room = circuit.design_room_c if room_c is None else room_c
    load = required_output_kw(circuit, outdoor_c, room, occupied)
    at_design = required_output_kw(circuit, circuit.design_outdoor_c, circuit.design_room_c, True)
    mean = emitter_mean_for_output(circuit, load, room)
    half_spread = delta_design * load / at_design / 2
    return mean + half_spread, mean - half_spread


# -- curves ------------------------------------------------------------------------------------------------
def curve_flow(circuit: HeatingCircuitConfig, outdoor_c: Num, room_setpoint_c: float | None = None,
               occupied: bool = True) -> Num:
    """Unclamped flow temperature of the circuit's curve at `outdoor_c` for the room setpoint."""
    room = circuit.design_room_c if room_setpoint_c is None else room_setpoint_c
    curve = circuit.curve
    if isinstance(curve, CurvePoints):
        xs, ys = zip(*curve.points, strict=True)
        flow = np.interp(outdoor_c, xs, ys) + (room - circuit.design_room_c)
        return flow if isinstance(outdoor_c, np.ndarray) else float(flow)
    if isinstance(curve, CurveSlope):
        below = _positive(room - outdoor_c)
        return room + curve.offset_k + curve.slope * below + curve.curvature * below**2
    return designed_flow_return(circuit, outdoor_c, room, occupied)[0]


def flow_setpoint(circuit: HeatingCircuitConfig, outdoor_c: float, *, max_flow_c: float | None = None,
                  room_setpoint_c: float | None = None, occupied: bool = True, trim_k: float = 0.0) -> float:
    """The circuit's flow setpoint at `outdoor_c` plus `trim_k`, clamped to the circuit and heat pump limits."""
    upper = min(circuit.max_flow_c, max_flow_c) if max_flow_c is not None else circuit.max_flow_c
    flow = float(curve_flow(circuit, outdoor_c, room_setpoint_c, occupied)) + trim_k
    return min(max(flow, circuit.min_flow_c), upper)


def heating_season(outdoor_c: float, was_heating: bool, cutoff_c: float, hysteresis_k: float) -> bool:
    """Summer cut-off: heating stops at or above `cutoff_c` and resumes below `cutoff_c - hysteresis_k`."""
    return outdoor_c < (cutoff_c if was_heating else cutoff_c - hysteresis_k)


# -- room-temperature trim ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TrimState:
    """The PI trim's memory: its integral term, K of flow temperature."""

    integral_k: float = 0.0


def room_trim(state: TrimState, room_c: float | None, setpoint_c: float, dt_s: float, cfg: RoomTrimConfig,
              integrate: bool = True) -> tuple[float, TrimState]:
    """Bounded PI correction of the flow temperature from the room error; (trim K, new state).

    Without a trustworthy room reading the trim holds its integral and drops the proportional part. The
    integral only grows while `integrate` and the room is within INTEGRAL_BAND_K of setpoint (a setback or
    preheat is not an error to remember), is bounded to ±limit, and stops growing while the output is
    saturated in the same direction (anti-windup).
    """
    limit = cfg.limit_k
    if room_c is None:
        return max(-limit, min(limit, state.integral_k)), state
    error = setpoint_c - room_c
    proportional = cfg.kp_k_per_k * error
    integral = state.integral_k
    if integrate and abs(error) <= INTEGRAL_BAND_K:
        grown = integral + cfg.ki_k_per_k_h * error * dt_s / 3600
        saturated = abs(proportional + grown) > limit and (proportional + grown) * error > 0
        if not saturated:
            integral = max(-limit, min(limit, grown))
    trim = max(-limit, min(limit, proportional + integral))
    return trim, state if integral == state.integral_k else TrimState(integral)


# -- occupancy, setback, optimum start ---------------------------------------------------------------------
def _periods(schedule: ScheduleConfig, day: datetime) -> list[tuple[time, time]]:
    return schedule.days.get(WEEKDAYS[day.weekday()], [])  # type: ignore[call-overload]


def occupied(schedule: ScheduleConfig, local: datetime) -> bool:
    """Whether the schedule says occupied at the local time `local`."""
    return _occupied_period_end(schedule, local) is not None


def _occupied_period_end(schedule: ScheduleConfig, local: datetime) -> time | None:
    """The end of an occupied period `local` is in (local time of day), None when unoccupied."""
    now = local.time()
    for start, end in _periods(schedule, local):
        if start <= now < end:
            return end
    return None


def next_occupancy_start(schedule: ScheduleConfig, local: datetime) -> datetime | None:
    """The next occupied period's start strictly after `local` (local time), within a week; None if never."""
    for offset in range(8):
        day = local + timedelta(days=offset)
        for start, _ in sorted(_periods(schedule, day)):
            at = day.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
            if at > local:
                return at
    return None


def previous_occupancy_end(schedule: ScheduleConfig, local: datetime) -> datetime | None:
    """The end of the last occupied period ending at or before `local` (local time), within a week; None if never."""
    for offset in range(8):
        day = local - timedelta(days=offset)
        for _, end in sorted(_periods(schedule, day), reverse=True):
            at = day.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
            if at <= local:
                return at
    return None


def recovery_kind(schedule: ScheduleConfig, start: datetime) -> int:
    """Which recovery the occupancy starting at `start` needs: 0 after an overnight setback, 1 after a longer one
    (more than LONG_SETBACK_H unoccupied, a weekend) — the fabric has cooled further and warms more slowly."""
    ended = previous_occupancy_end(schedule, start - timedelta(seconds=1))
    return 1 if ended is None or (start - ended).total_seconds() > LONG_SETBACK_H * 3600 else 0


def preheat_hours(room_c: float, target_c: float, outdoor_c: float, loss_kw_per_k: float, max_output_kw: float,
                  time_constant_h: float) -> float:
    """Optimum start: hours at full output to lift the room from `room_c` to `target_c` (first-order building).

    The room approaches T_ss = outdoor + Q_max / UA with the building time constant, so the time to reach
    the target is τ · ln((T_ss − T_room) / (T_ss − T_target)); infinite when full output cannot reach it.
    """
    if room_c >= target_c:
        return 0.0
    steady = outdoor_c + max_output_kw / loss_kw_per_k
    if steady <= target_c:
        return math.inf
    return time_constant_h * math.log((steady - room_c) / (steady - target_c))


# -- the optimiser's memory: the building's response, learned from its own recoveries --------------------------
@dataclass(frozen=True, slots=True)
class PreheatRun:
    """A preheat in progress: when it began (local time), the room and full-output steady temperature then, its
    recovery kind, and when the room first reached the target."""

    started: datetime
    room_c: float
    steady_c: float
    kind: int
    reached: datetime | None = None


@dataclass(frozen=True, slots=True)
class OptimiserState:
    """Optimum start's memory: the learned time constant of each recovery kind (none learned yet: the circuit's
    ``building_time_constant_h``) and the preheat being watched."""

    time_constants_h: tuple[float, ...] = ()
    run: PreheatRun | None = None

    def time_constant_h(self, circuit: HeatingCircuitConfig, kind: int) -> float:
        learned = self.time_constants_h
        return learned[kind] if kind < len(learned) else circuit.building_time_constant_h


def _full_output_kw(circuit: HeatingCircuitConfig, room_c: float, max_output_kw: float | None) -> float:
    return float(emitter_max_output_kw(circuit, room_c)) if max_output_kw is None else max_output_kw


def learn_recovery(state: OptimiserState, circuit: HeatingCircuitConfig, target: RoomTarget, local: datetime,
                   room_c: float | None, outdoor_c: float, max_output_kw: float | None = None) -> OptimiserState:
    """Watch preheats and learn from each how fast the building responds (self-adapting optimum start).

    A preheat is watched from its first cycle; the first time the room comes within OPTIMUM_START_TOLERANCE_K
    of the target is noted (the preheat has reached it). When the occupied period begins, the time constant
    that explains the recovery — τ = t / ln((T_ss − T_start) / (T_ss − T_end)), T_ss the room the preheat's
    output would hold at the outdoor temperature of its start, T_end the target less the tolerance at the time
    it was reached, else the room at occupancy — is blended into that recovery kind's with LEARNING_GAIN,
    within TIME_CONSTANT_RANGE of the circuit's. A recovery that lifted the room less than MIN_LEARNING_RISE_K
    teaches nothing (a fault or a warm morning).
    """
    run = state.run
    if target.mode == "preheat" and room_c is not None:
        if run is None:
            kind = target.upcoming.kind if target.upcoming is not None else 0
            return OptimiserState(state.time_constants_h, PreheatRun(
                local, room_c, outdoor_c + _full_output_kw(circuit, room_c, max_output_kw)
                / loss_coefficient_kw_per_k(circuit), kind))
        if run.reached is None and room_c >= target.setpoint_c - OPTIMUM_START_TOLERANCE_K:
            return OptimiserState(state.time_constants_h, replace(run, reached=local))
        return state
    if run is None or target.mode != "occupied":
        return state
    end_c = target.setpoint_c - OPTIMUM_START_TOLERANCE_K if run.reached is not None else room_c
    hours = ((run.reached or local) - run.started).total_seconds() / 3600
    taus = state.time_constants_h
    if end_c is not None and end_c - run.room_c >= MIN_LEARNING_RISE_K and run.steady_c > end_c and hours > 0:
        observed = hours / math.log((run.steady_c - run.room_c) / (run.steady_c - end_c))
        base = circuit.building_time_constant_h
        learned = [state.time_constant_h(circuit, k) for k in range(max(len(taus), run.kind + 1, 2))]
        blended = learned[run.kind] + LEARNING_GAIN * (observed - learned[run.kind])
        learned[run.kind] = min(max(blended, TIME_CONSTANT_RANGE[0] * base), TIME_CONSTANT_RANGE[1] * base)
        taus = tuple(learned)
    return OptimiserState(taus, None)


@dataclass(frozen=True, slots=True)
class Upcoming:
    """The next occupied period's start (local time) and the recovery it needs (:func:`recovery_kind`)."""

    start: datetime
    kind: int


def upcoming_occupancy(schedule: ScheduleConfig, local: datetime) -> Upcoming | None:
    """The occupancy coming after `local`; None if the schedule has none."""
    start = next_occupancy_start(schedule, local)
    return None if start is None else Upcoming(start, recovery_kind(schedule, start))


@dataclass(frozen=True, slots=True)
class RoomTarget:
    """What the room should be held at now, and why."""

    setpoint_c: float
    occupied: bool
    mode: str  # occupied | preheat | setback
    reason: str
    until: datetime | None = None  # local time up to which this target holds whatever the room and outdoor
    #                                temperatures (the occupied period's end, the earliest preheat); None: ask again
    upcoming: Upcoming | None = None  # unoccupied: the occupancy it leads up to


def room_target(circuit: HeatingCircuitConfig, schedule: ScheduleConfig, local: datetime, room_c: float | None,
                outdoor_c: float, max_output_kw: float | None = None, optimiser: OptimiserState | None = None,
                tolerance_k: float = 0.0, upcoming: Upcoming | None = None) -> RoomTarget:
    """Occupied setpoint, setback, or the occupied setpoint early enough (optimum start) to be warm on arrival.

    `max_output_kw` is the heat available for the preheat; by default the emitters' output at the circuit's
    maximum flow temperature (:func:`emitter_max_output_kw`). The preheat time is the time at that output to
    bring the room within `tolerance_k` of the occupied setpoint, with the time constant the `optimiser` has
    learned for the coming recovery's kind (:func:`learn_recovery`), else the circuit's. Once a preheat the
    optimiser watches has begun, it holds until the occupied period starts. `upcoming`, when given, is an
    earlier unoccupied target's (the same unoccupied period: it is used while `local` is before its start).
    """
    end = _occupied_period_end(schedule, local)
    if end is not None:
        return RoomTarget(circuit.design_room_c, True, "occupied", "occupied by schedule",
                          datetime.combine(local.date(), end, local.tzinfo))
    if upcoming is None or not local < upcoming.start:
        upcoming = upcoming_occupancy(schedule, local)
    if upcoming is None:
        return RoomTarget(circuit.setback_room_c, False, "setback", "unoccupied: setback")
    start = upcoming.start
    earliest = start - timedelta(hours=circuit.max_preheat_h)
    if local < earliest:  # before the longest preheat could begin, whatever the room
        return RoomTarget(circuit.setback_room_c, False, "setback", "unoccupied: setback", earliest, upcoming)
    optimiser = optimiser or OptimiserState()
    if optimiser.run is not None and optimiser.run.started <= local:
        return RoomTarget(circuit.design_room_c, False, "preheat", f"optimum start since "
                          f"{optimiser.run.started:%a %H:%M} for {start:%a %H:%M}", start, upcoming)
    if room_c is not None:
        tau = optimiser.time_constant_h(circuit, upcoming.kind)
        hours = preheat_hours(room_c, circuit.design_room_c - tolerance_k, outdoor_c,
                              loss_coefficient_kw_per_k(circuit), _full_output_kw(circuit, room_c, max_output_kw),
                              tau)
        lead = min(hours, circuit.max_preheat_h)
        if local >= start - timedelta(hours=lead):
            return RoomTarget(circuit.design_room_c, False, "preheat",
                              f"optimum start: {lead:.1f} h to lift room {room_c:.1f} °C to "
                              f"{circuit.design_room_c:g} °C by {start:%a %H:%M} (τ {tau:.1f} h)", upcoming=upcoming)
    return RoomTarget(circuit.setback_room_c, False, "setback", "unoccupied: setback", upcoming=upcoming)


def heating_demand_kw(circuit: HeatingCircuitConfig, outdoor_c: float, target: RoomTarget, room_c: float | None,
                      flow_c: float) -> float:
    """Heat the circuit should take now (what the sources are staged for).

    The steady-state need at the target (:func:`required_output_kw`, occupied gains counted), but with the room
    more than OPTIMUM_START_TOLERANCE_K below the target at least what the emitters give at the flow setpoint (a
    fabric cooled by a setback takes heat the steady state does not count), and while occupied or preheating
    nothing with the room more than ROOM_HIGH_K above it (the room thermostat). In setback it is the reduced
    curve's need, whatever the room: the heat pump runs it at its lowest flow temperatures.
    """
    steady = float(required_output_kw(circuit, outdoor_c, target.setpoint_c, target.occupied))
    if room_c is None:
        return steady
    if room_c > target.setpoint_c + ROOM_HIGH_K and target.mode != "setback":
        return 0.0
    if room_c < target.setpoint_c - OPTIMUM_START_TOLERANCE_K:
        return max(steady, float(emitter_output_kw(circuit, flow_c - MAX_FLOW_TO_MEAN_K, room_c)))
    return steady


def full_output(target: RoomTarget, room_c: float | None, boosting: bool, reached: bool) -> bool:
    """Whether the circuit runs at full output (the preheat flow): during optimum start until the room is within
    OPTIMUM_START_TOLERANCE_K of the setpoint (`reached`); while occupied, from the room falling below the comfort
    band (BOOST_BELOW_K under the setpoint) — or still `boosting` on from a preheat that had not got there — until
    it is back within the tolerance."""
    if room_c is None or target.mode == "setback" or room_c >= target.setpoint_c - OPTIMUM_START_TOLERANCE_K:
        return False
    if target.mode == "preheat":
        return not reached
    return boosting or room_c < target.setpoint_c - BOOST_BELOW_K


def setback_call(room_c: float | None, setpoint_c: float, calling: bool) -> bool:
    """Setback thermostat: heat when the room falls below the setback setpoint, stop SETBACK_DIFFERENTIAL_K above
    it; without a room reading, heat (the curve at the setback setpoint limits it)."""
    if room_c is None:
        return True
    return room_c < setpoint_c + SETBACK_DIFFERENTIAL_K if calling else room_c < setpoint_c


def preheat_flow_c(circuit: HeatingCircuitConfig, max_flow_c: float | None = None) -> float:
    """Flow temperature during optimum start: full output, the circuit's maximum (and the heat pump's)."""
    return min(circuit.max_flow_c, max_flow_c) if max_flow_c is not None else circuit.max_flow_c
