"""Weather compensation: curves fall as it gets milder, and are clamped to circuit and heat pump limits."""

from __future__ import annotations

import numpy as np
from conftest import EXAMPLES

from app.config import CurvePoints, CurveSlope, load_site
from strategies.weather_compensation import curve_flow, flow_setpoint

SITE = load_site(EXAMPLES / "school.yaml")
CIRCUIT = SITE.heating_circuits[0]


def test_designed_curve_falls_monotonically_with_outdoor_temperature() -> None:
    outdoor = np.linspace(-10, 20, 61)
    flows = curve_flow(CIRCUIT, outdoor)
    assert np.all(np.diff(flows) < 0)


def test_setpoint_is_clamped_to_circuit_and_heat_pump_limits() -> None:
    assert flow_setpoint(CIRCUIT, -20.0) == CIRCUIT.max_flow_c
    assert flow_setpoint(CIRCUIT, -20.0, max_flow_c=50.0) == 50.0
    assert flow_setpoint(CIRCUIT, 20.0) == CIRCUIT.min_flow_c


def test_points_and_slope_curves() -> None:
    points = CIRCUIT.model_copy(update={"curve": CurvePoints(points=[(-4, 55), (16, 35)])})
    assert flow_setpoint(points, -4) == 55 and flow_setpoint(points, 6) == 45
    slope = CIRCUIT.model_copy(update={"curve": CurveSlope(kind="slope", slope=1.0, offset_k=5)})
    assert flow_setpoint(slope, 1.0) == 21 + 5 + 20
