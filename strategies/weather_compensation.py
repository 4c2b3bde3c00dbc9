"""Weather compensation: outdoor temperature -> the lowest flow temperature that keeps rooms at setpoint.

Curves come in three forms: explicit (outdoor, flow) points, the slope/offset/curvature form heat pump
controllers use, and a curve designed from the emitter survey. Around the curve: clamps (circuit limits
and the heat pump's maximum flow temperature), a summer cut-off with hysteresis, a bounded PI trim on the
room temperature, the occupancy schedule with setback, and optimum start.

The designed curve is a heat balance, not a rule of thumb. The load the emitters must carry at an
outdoor temperature is the steady-state fabric and ventilation loss (the design heat loss less the margin
the calculation declares) minus the useful internal gains while the building is occupied; the emitters
deliver EN 442's Q = Q_rated · (ΔT_mean / ΔT_mean,rated)^n, with Q_rated the installed output (oversize
factor × design heat loss); at constant flow rate, flow − return scales with the output, set so that it
equals the curve's design ΔT at the design point. The flow temperature is the one whose mean water
temperature gives exactly that output.

Every function here is pure: floats or numpy arrays in, the same out; times are passed in, never read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class RoomTarget:
    """What the room should be held at now, and why."""

    setpoint_c: float
    occupied: bool
    mode: str  # occupied | preheat | setback
    reason: str
    until: datetime | None = None  # local time up to which this target holds whatever the room and outdoor
    #                                temperatures (the occupied period's end, the earliest preheat); None: ask again


def room_target(circuit: HeatingCircuitConfig, schedule: ScheduleConfig, local: datetime, room_c: float | None,
                outdoor_c: float, max_output_kw: float | None = None) -> RoomTarget:
    """Occupied setpoint, setback, or the occupied setpoint early enough (optimum start) to be warm on arrival.

    `max_output_kw` is the heat available for the preheat; by default the emitters' output at the circuit's
    maximum flow temperature (:func:`emitter_max_output_kw`).
    """
    end = _occupied_period_end(schedule, local)
    if end is not None:
        return RoomTarget(circuit.design_room_c, True, "occupied", "occupied by schedule",
                          datetime.combine(local.date(), end, local.tzinfo))
    start = next_occupancy_start(schedule, local)
    earliest = start - timedelta(hours=circuit.max_preheat_h) if start is not None else None
    if earliest is not None and local < earliest:  # before the longest preheat could begin, whatever the room
        return RoomTarget(circuit.setback_room_c, False, "setback", "unoccupied: setback", earliest)
    if start is not None and room_c is not None:
        full_kw = float(emitter_max_output_kw(circuit, room_c)) if max_output_kw is None else max_output_kw
        hours = preheat_hours(room_c, circuit.design_room_c, outdoor_c, loss_coefficient_kw_per_k(circuit),
                              full_kw, circuit.building_time_constant_h)
        lead = min(hours, circuit.max_preheat_h)
        if local >= start - timedelta(hours=lead):
            return RoomTarget(circuit.design_room_c, False, "preheat",
                              f"optimum start: {lead:.1f} h to lift room {room_c:.1f} °C to "
                              f"{circuit.design_room_c:g} °C by {start:%a %H:%M}")
    return RoomTarget(circuit.setback_room_c, False, "setback", "unoccupied: setback")
