"""Fluid properties and heat-meter maths against IAPWS-95 and Melinder as implemented by CoolProp."""

from __future__ import annotations

import numpy as np
import pytest

from app.monitoring.fluids import Fluid, density_kg_m3, specific_heat_j_kgk
from app.monitoring.heat_meter import thermal_power_w

CP = pytest.importorskip(
    "CoolProp.CoolProp", reason="CoolProp (test extra) is the independent property reference"
)


def _coolprop(fluid: Fluid) -> str:
    if fluid.kind == "water":
        return "Water"
    code = {"propylene_glycol": "MPG", "ethylene_glycol": "MEG"}[fluid.kind]
    return f"INCOMP::{code}-{fluid.mass_fraction * 100:g}%"


@pytest.mark.parametrize("fluid", [
    Fluid(), Fluid("propylene_glycol", 0.25), Fluid("propylene_glycol", 0.4),
    Fluid("ethylene_glycol", 0.2), Fluid("ethylene_glycol", 0.35),
])
def test_density_and_specific_heat_match_reference_within_0_05_percent(fluid: Fluid) -> None:
    temps = np.array([1.3, 7.5, 18.2, 33.3, 47.9, 61.1, 77.7, 92.4])
    name = _coolprop(fluid)
    rho_ref = np.array([CP.PropsSI("D", "T", t + 273.15, "P", 3e5, name) for t in temps])
    cp_ref = np.array([CP.PropsSI("C", "T", t + 273.15, "P", 3e5, name) for t in temps])
    np.testing.assert_allclose(density_kg_m3(fluid, temps), rho_ref, rtol=5e-4)
    np.testing.assert_allclose(specific_heat_j_kgk(fluid, temps), cp_ref, rtol=5e-4)


def test_heat_meter_matches_enthalpy_difference_for_water() -> None:
    flow_m3h, tf, tr = 1.8, 45.0, 39.5
    # EN 1434 exact form: mass flow (volume at the return-pipe meter) times the enthalpy difference.
    rho = CP.PropsSI("D", "T", tr + 273.15, "P", 3e5, "Water")
    def h(t: float) -> float:
        return CP.PropsSI("H", "T", t + 273.15, "P", 3e5, "Water")

    dh = h(tf) - h(tr)
    expected = flow_m3h / 3600 * rho * dh
    assert thermal_power_w(flow_m3h, tf, tr, Fluid(), "return") == pytest.approx(expected, rel=1e-3)


def test_glycol_loop_read_as_water_overstates_heat_by_a_fixed_offset() -> None:
    glycol = Fluid.parse("propylene_glycol:25%")
    tf = np.array([30.0, 35.0, 45.0, 55.0])
    tr = tf - 5.0
    true = thermal_power_w(1.5, tf, tr, glycol)
    as_water = thermal_power_w(1.5, tf, tr, Fluid())
    offset = as_water / true - 1.0
    assert np.all(offset > 0.025) and np.all(offset < 0.05)
    assert np.ptp(offset) < 0.015  # nearly the same error at every operating point


def test_fluid_parse_and_limits() -> None:
    assert Fluid.parse("ethylene_glycol:0.3") == Fluid("ethylene_glycol", 0.3)
    assert str(Fluid.parse("propylene_glycol:25%")) == "propylene_glycol:25%"
    with pytest.raises(ValueError, match="outside"):
        Fluid.parse("propylene_glycol:70%")
    with pytest.raises(ValueError, match="not one of"):
        Fluid.parse("brine:20%")


def test_glycol_loop_time_series_gives_true_cop_only_with_the_right_fluid(tmp_path) -> None:
    from zoneinfo import ZoneInfo

    from cop_synth import held_kwh, profile, write_csv

    from app.monitoring.figures import totals
    from app.monitoring.intervals import MeteringConfig
    from app.monitoring.parsers import load

    p = profile()
    on = p["compressor_on"] > 0.5
    flow_rate = np.where(on, 1.4, 0.0)
    tf = np.where(p["dhw"] > 0.5, 52.0, np.where(on, 38.0, 24.0))
    tr = np.where(on, tf - 5.0, tf)
    name = "INCOMP::MPG-25%"
    true_w = np.array([
        q / 3600 * CP.PropsSI("D", "T", b + 273.15, "P", 3e5, name)
        * (CP.PropsSI("H", "T", a + 273.15, "P", 3e5, name)
           - CP.PropsSI("H", "T", b + 273.15, "P", 3e5, name))
        if q else 0.0
        for q, a, b in zip(flow_rate, tf, tr, strict=True)
    ])
    path = write_csv(tmp_path / "loop.csv", p["t"], {
        "elec_w": p["elec_w"], "flow_rate_m3h": flow_rate, "flow_temp_c": tf, "return_temp_c": tr,
        "dhw": p["dhw"], "compressor_on": p["compressor_on"],
    })
    true_cop = held_kwh(p["t"], true_w) / held_kwh(p["t"], p["elec_w"])
    utc = ZoneInfo("UTC")
    right = totals(load(path, utc, MeteringConfig(fluid=Fluid.parse("propylene_glycol:25%"))).intervals)
    wrong = totals(load(path, utc, MeteringConfig()).intervals)
    assert right["spf"] == pytest.approx(true_cop, rel=2e-3)
    assert wrong["spf"] / true_cop - 1 == pytest.approx(0.035, abs=0.01)
