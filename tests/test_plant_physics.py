"""Physics of the simulated plant: energy balance, emitters, building, heat pump, boiler and cylinder."""

from __future__ import annotations

import random
from dataclasses import astuple
from datetime import UTC, datetime

import numpy as np
import pytest
from conftest import EXAMPLES

from app.config import load_site
from app.plant.building import Building
from app.plant.dhw import NODES, Cylinder, standing_loss_kw_per_k
from app.plant.plant import HeatPumpPoints, Plant
from app.plant.sources import Boiler, HeatPumpUnit, PerformanceTable, SourceOutput
from app.plant.weather import WeatherSeries, builtin
from app.tp12 import HeatPumpModel, HeatPumpSpec
from strategies.weather_compensation import installed_output_kw, loss_coefficient_kw_per_k

T0 = datetime(2024, 1, 8, tzinfo=UTC)
SITE = load_site(EXAMPLES / "school.yaml")


def _constant_weather(outdoor_c: float) -> WeatherSeries:
    return WeatherSeries(datetime(2024, 1, 1, tzinfo=UTC), (outdoor_c,) * (366 * 24), "constant")


def _energy_in_out(plant: Plant) -> tuple[float, float]:
    t = plant.totals
    heat_in = t.heat_hp_space + t.heat_hp_dhw + t.heat_boiler_space + t.heat_boiler_dhw + t.heat_immersion + t.gains
    heat_out = t.building_loss + t.cylinder_standing + t.cylinder_secondary + t.dhw_drawn
    return heat_in, heat_out


def test_energy_balance_closes_every_step_under_random_control() -> None:
    """Heat delivered = building and storage change + losses, each step, to 0.1 % of the heat delivered."""
    plant = Plant(SITE, builtin(), T0, 24 * 4)
    hp = HeatPumpPoints(plant, "hp1")
    rng = random.Random(7)
    worst = 0.0
    for i in range(4 * 24 * 60 // 5):
        if i % 6 == 0:  # a new random command every half hour
            hp.write("bms_control", 1)
            hp.write("enable", rng.random() < 0.8)
            hp.write("flow_setpoint", rng.uniform(30, 60))
            hp.write("dhw_mode", rng.random() < 0.3)
            hp.write("dhw_setpoint", rng.uniform(45, 65))
            hp.write("immersion_enable", rng.random() < 0.2)
            plant.boiler_enable["boiler1"] = rng.random() < 0.3
        stored0, (in0, out0) = plant.stored_kwh(), _energy_in_out(plant)
        plant.step(300)
        stored1, (in1, out1) = plant.stored_kwh(), _energy_in_out(plant)
        delivered = in1 - in0
        error = delivered - (out1 - out0) - (stored1 - stored0)
        worst = max(worst, abs(error) / max(abs(delivered), 1e-3))
    assert worst < 1e-3
    t = plant.totals
    assert t.heat_hp_space > 0 and t.heat_hp_dhw > 0 and t.heat_boiler_space > 0 and t.heat_immersion > 0
    assert t.dhw_drawn > 0 and t.building_loss > 0


def test_emitters_give_their_rated_output_at_the_rating_condition() -> None:
    circuit = SITE.heating_circuits[0]
    building = Building(circuit, room_c=20.0, water_c=(82 + 71) / 2)
    assert building.emitter_output_kw() == pytest.approx(installed_output_kw(circuit))   # 1.4 × 60 kW
    building.water_c = 20 + (82 + 71 - 40) / 2 / 2   # half the rated excess: (1/2)^1.3 of the output
    assert building.emitter_output_kw() == pytest.approx(84.0 * 0.5**1.3)


def test_building_in_steady_state_loses_its_loss_coefficient_times_the_difference() -> None:
    circuit = SITE.heating_circuits[0]
    building = Building(circuit, room_c=15.0)
    assert building.loss_coefficient_kw_per_k == pytest.approx(loss_coefficient_kw_per_k(circuit))
    heat = 30.0
    for _ in range(24 * 60 * 30):   # a month of one-minute steps at constant input
        building.step(60, 0.0, 0.0, 0.0, heat)
    assert building.loss_kw == pytest.approx(heat, rel=1e-3)
    assert building.air_c == pytest.approx(heat / building.loss_coefficient_kw_per_k, rel=1e-3)


def test_time_constant_is_the_site_files() -> None:
    circuit = SITE.heating_circuits[0]
    b = Building(circuit, room_c=20.0)
    tau_h = (b.c_air + b.c_fabric) / b.loss_coefficient_kw_per_k
    assert tau_h == pytest.approx(circuit.building_time_constant_h)


def test_performance_table_reproduces_tp12() -> None:
    hp = SITE.heat_pumps[0]
    table = PerformanceTable.for_heat_pump(hp)
    model = HeatPumpModel(HeatPumpSpec.model_validate(hp.tp12.model_dump(exclude_none=True)))
    for outdoor, flow in [(-7.0, 35.0), (2.0, 45.0), (7.0, 55.0), (-3.0, 47.5)]:   # on grid nodes
        assert table.capacity_kw(outdoor, flow) == pytest.approx(float(model.capacity_kw(outdoor, flow)), rel=1e-9)
        assert table.cop(outdoor, flow, 1.0) == pytest.approx(float(model.cop(outdoor, flow)), rel=1e-9)
        assert table.cop(outdoor, flow, 0.3) == pytest.approx(float(model.cop(outdoor, flow, load_ratio=0.3)),
                                                              rel=1e-9)
    between = table.cop(3.4, 41.3, 1.0)   # between nodes: within the neighbours' range, near TP-12
    assert between == pytest.approx(float(model.cop(3.4, 41.3)), rel=0.02)
    # EN 14825 test points come back (A at 35 °C design: -7 °C, 34 °C outlet, COP 2.70)
    assert float(model.cop(-7.0, 34.0)) == pytest.approx(2.70, rel=0.02)


def test_heat_pump_never_exceeds_its_maximum_flow_temperature() -> None:
    hp = SITE.heat_pumps[0]
    unit = HeatPumpUnit(hp, PerformanceTable.for_heat_pump(hp))
    out = SourceOutput()
    unit.run(out, 5.0, 50.0, 70.0, 4.0, 60)
    assert out.heat_kw == pytest.approx(4.0 * (hp.max_flow_temp_c - 50.0))
    unit.run(out, 5.0, hp.max_flow_temp_c + 1, 70.0, 4.0, 60)
    assert out.heat_kw == 0.0 and out.input_kw == pytest.approx(unit.standby_kw)


@pytest.mark.parametrize(("outdoor", "expect_defrost"), [(2.0, True), (-3.0, True), (10.0, False), (-12.0, False)])
def test_defrost_happens_when_driven_hard_near_freezing(outdoor: float, expect_defrost: bool) -> None:
    hp = SITE.heat_pumps[0]
    unit = HeatPumpUnit(hp, PerformanceTable.for_heat_pump(hp))
    out = SourceOutput()
    drawn = 0.0
    for _ in range(180):   # three hours flat out
        unit.run(out, outdoor, 40.0, 55.0, 50.0, 60)
        drawn += min(out.heat_kw, 0.0)
    assert (unit.defrosts > 0) is expect_defrost
    assert (drawn < 0) is expect_defrost   # a defrost takes heat back from the water
    gentle = HeatPumpUnit(hp, PerformanceTable.for_heat_pump(hp))
    for _ in range(180):   # at part load the test-point defrost share already covers it
        gentle.run(out, outdoor, 40.0, 45.0, 1.0, 60)
    assert gentle.defrosts == 0


def test_condensing_boiler_efficiency_rises_as_the_return_falls() -> None:
    boiler = Boiler(SITE.boilers[0])
    assert boiler.efficiency(55.0) == pytest.approx(0.88)
    assert boiler.efficiency(30.0) == pytest.approx(0.88 + 0.09)
    assert boiler.efficiency(70.0) == pytest.approx(0.87)
    assert boiler.efficiency(40.0) > boiler.efficiency(50.0) > boiler.efficiency(60.0)
    out = SourceOutput()
    boiler.run(out, 40.0, 60.0, 10.0)
    assert out.heat_kw == pytest.approx(min(200.0, SITE.boilers[0].capacity_kw))
    assert out.input_kw == pytest.approx(out.heat_kw / boiler.efficiency(40.0))


def test_cylinder_stratifies_on_draw_off_and_mixes_when_heated_from_below() -> None:
    cyl = Cylinder(SITE.cylinders[0], initial_c=60.0)
    cyl.step(3600, 0.0, False, 200.0, 10.0)   # draw 200 l of 500: cold water enters the bottom
    assert cyl.temps[0] > 59 and cyl.temps[-1] < 25
    assert all(a >= b for a, b in zip(cyl.temps, cyl.temps[1:], strict=False))
    before = cyl.stored_kwh()
    cyl.step(60, 30.0, False, 0.0, 10.0)   # the coil heats the bottom half; buoyancy keeps layers ordered
    assert all(a >= b for a, b in zip(cyl.temps, cyl.temps[1:], strict=False))
    losses = (cyl.standing_kw + cyl.secondary_kw) / 60
    assert cyl.stored_kwh() - before == pytest.approx(30.0 / 60 - losses, rel=1e-6)


def test_cylinder_standing_loss_is_the_erp_figure() -> None:
    cyl = Cylinder(SITE.cylinders[0].model_copy(update={"secondary_return_sensor": False}), initial_c=63.0)
    cyl.step(60, 0.0, False, 0.0, 10.0)
    # ErP class C limit for 500 l: 16.66 + 8.33 × 500^0.4 ≈ 117 W at a 45 K difference
    assert cyl.standing_kw == pytest.approx(standing_loss_kw_per_k(500) * (63.0 - 18.0), rel=1e-3)
    assert 0.11 < cyl.standing_kw < 0.12
    assert len(cyl.temps) == NODES >= 2


def test_heat_pump_alone_holds_a_mild_day_at_its_flow_setpoint() -> None:
    plant = Plant(SITE, _constant_weather(7.0), T0, 48, room_c=20.0)
    hp = HeatPumpPoints(plant, "hp1")
    for name, value in (("bms_control", 1), ("enable", 1), ("flow_setpoint", 40.0)):
        hp.write(name, value)
    for _ in range(48 * 60 - 60):
        plant.step(60)
    v = hp.values()
    assert v["flow_temp"] == pytest.approx(40.0, abs=0.2)
    assert 0 < v["return_temp"] < v["flow_temp"]
    assert v["compressor_running"] == 1.0 and v["electrical_power"] > 0
    assert 3.0 < v["heat_output_power"] / v["electrical_power"] < 6.0


def test_heat_pump_falls_back_to_its_own_control_when_the_heartbeat_stops() -> None:
    plant = Plant(SITE, _constant_weather(5.0), T0, 24, room_c=20.0)
    hp = HeatPumpPoints(plant, "hp1", watchdog_s=60.0)
    hp.write("bms_control", 1)
    hp.write("enable", 0)
    hp.write("heartbeat", 1)
    plant.step(60)
    assert plant.under_bms("hp1") and hp.values()["compressor_running"] == 0.0
    for _ in range(5):
        plant.step(60)   # nobody writes the heartbeat any more
    assert not plant.under_bms("hp1")
    plant.step(60)
    assert hp.values()["compressor_running"] == 1.0   # its own curve heats the building


def test_same_inputs_give_the_same_trace() -> None:
    def run() -> tuple[float, ...]:
        plant = Plant(SITE, builtin(), T0, 24)
        hp = HeatPumpPoints(plant, "hp1")
        hp.write("bms_control", 1)
        hp.write("enable", 1)
        for _ in range(24 * 60):
            plant.step(60)
        return (*astuple(plant.totals), float(np.sum(plant.trace.room_c)))

    assert run() == run()
