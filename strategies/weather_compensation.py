"""Weather compensation: outdoor temperature -> the lowest flow temperature that keeps rooms at setpoint.

Curves come in three forms: explicit (outdoor, flow) points, the slope/offset/curvature form heat pump
controllers use, and a curve designed from the emitter survey (rated output, exponent, oversize factor,
design heat loss and temperatures). Every result is clamped to the circuit's limits and the heat pump's
maximum flow temperature.
"""

from __future__ import annotations

import numpy as np

from app.config import CurveDesigned, CurvePoints, CurveSlope, EmitterConfig, HeatingCircuitConfig


def emitter_flow_for_load(load_fraction: float | np.ndarray, emitters: EmitterConfig, room_c: float,
                          design_delta_t_k: float) -> float | np.ndarray:
    """Flow temperature at which the surveyed emitters deliver `load_fraction` of the design heat loss.

    Emitter output follows EN 442: Q = Q_rated · (ΔT_mean / ΔT_mean,rated)^n, with Q_rated the installed
    output (oversize factor × design heat loss). Constant flow rate: flow−return scales with load.
    """
    f = np.clip(load_fraction, 0.0, None)
    rated_dt = (emitters.rated_flow_c + emitters.rated_return_c) / 2 - emitters.rated_room_c
    mean_excess = rated_dt * (f / emitters.oversize_factor) ** (1 / emitters.exponent)
    return room_c + mean_excess + design_delta_t_k * f / 2


def curve_flow(circuit: HeatingCircuitConfig, outdoor_c: float | np.ndarray, room_setpoint_c: float | None = None
               ) -> float | np.ndarray:
    """Unclamped flow temperature of the circuit's curve at `outdoor_c` for the room setpoint."""
    room = circuit.design_room_c if room_setpoint_c is None else room_setpoint_c
    curve = circuit.curve
    if isinstance(curve, CurvePoints):
        xs, ys = zip(*curve.points, strict=True)
        return np.interp(outdoor_c, xs, ys) + (room - circuit.design_room_c)
    if isinstance(curve, CurveSlope):
        below = np.clip(room - np.asarray(outdoor_c, dtype=float), 0.0, None)
        return room + curve.offset_k + curve.slope * below + curve.curvature * below**2
    assert isinstance(curve, CurveDesigned)
    load = (room - np.asarray(outdoor_c, dtype=float)) / (circuit.design_room_c - circuit.design_outdoor_c)
    return emitter_flow_for_load(load, circuit.emitters, room, curve.design_delta_t_k)


def flow_setpoint(circuit: HeatingCircuitConfig, outdoor_c: float, *, max_flow_c: float | None = None,
                  room_setpoint_c: float | None = None) -> float:
    """The circuit's flow setpoint at `outdoor_c`, clamped to the circuit and heat pump limits."""
    upper = min(circuit.max_flow_c, max_flow_c) if max_flow_c is not None else circuit.max_flow_c
    return float(np.clip(curve_flow(circuit, outdoor_c, room_setpoint_c), circuit.min_flow_c, upper))
