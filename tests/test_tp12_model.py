"""The TP-12 model's behaviour: prediction API, timesteps and state, sources, backup, hybrid, DHW-only SPF."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from tp12_reference import SET_35

from app.tp12 import (
    Conditions,
    HeatPumpModel,
    HeatPumpState,
    HotWaterDemand,
    SpaceHeatingDemand,
    WarmAirDemand,
)
from app.tp12 import operation as op
from app.tp12 import performance as perf
from app.tp12.model import continuous_running_time

SET_55 = [
    {
        **r,
        "design_flow_temp": 55,
        "temp_outlet": {34: 52, 30: 42, 27: 36, 24: 30}[r["temp_outlet"]],
        "capacity": r["capacity"] + 0.3,
        "cop": r["cop"] - 1.3,
    }
    for r in SET_35
]
RECORDS = SET_35 + SET_55


def _air(**settings) -> HeatPumpModel:
    base = dict(
        modulating_control=True,
        min_modulation_rate_35=0.3,
        min_modulation_rate_55=0.4,
        power_standby=0.015,
        power_crankcase_heater=0.01,
        power_off=0.012,
        power_heating_circ_pump=0.02,
    )
    return HeatPumpModel.from_records(RECORDS, **{**base, **settings})


# --- prediction API --------------------------------------------------------------------------------


@pytest.mark.parametrize("modulating", [True, False])
def test_cop_falls_with_flow_temperature_and_rises_with_outdoor_temperature(modulating: bool) -> None:
    hp = HeatPumpModel.from_keymark(
        "Vaillant",
        "VWL 105/5 AS + VWL 127/5 IS",
        modulating_control=modulating,
        min_modulation_rate_35=0.3,
        min_modulation_rate_55=0.4,
    )
    outdoor = np.linspace(-15.0, 15.0, 31)
    flow = np.linspace(25.0, 60.0, 36)
    cop = hp.cop(outdoor[:, None], flow[None, :], 5.0)
    assert cop.shape == (31, 36)
    assert np.all(np.diff(cop, axis=1) < 0), "COP must fall as flow temperature rises"
    assert np.all(np.diff(cop, axis=0) > 0), "COP must rise with outdoor temperature"


def test_prediction_agrees_with_the_full_model() -> None:
    hp = _air()
    outdoor = np.array([-10.0, -2.0, 4.0, 11.0])
    flow = np.array([50.0, 45.0, 38.0, 30.0])
    result, _ = hp.run(Conditions(temp_ext_C=outdoor), [SpaceHeatingDemand(100.0, flow, flow - 5.0, 5.0, 65.0)], 1.0)
    full = result.services[0]
    assert np.array_equal(hp.cop(outdoor, flow, 5.0), full.cop_op_cond)
    assert np.array_equal(hp.capacity_kw(outdoor, flow), full.thermal_capacity_op_cond_kW)
    # Part load: the effective COP is the model's delivered heat over compressor energy in that hour.
    lr = np.array([0.1, 0.25, 0.6, 0.9])
    part, _ = hp.run(
        Conditions(temp_ext_C=outdoor),
        [SpaceHeatingDemand(lr * full.thermal_capacity_op_cond_kW, flow, flow - 5.0, 5.0, 65.0)],
        1.0,
    )
    s = part.services[0]
    assert np.allclose(
        hp.cop(outdoor, flow, 5.0, load_ratio=lr), s.energy_delivered_HP_kWh / s.energy_input_HP_kWh, rtol=1e-12
    )
    effective = hp.cop(outdoor, flow, 5.0, load_ratio=lr)
    assert np.all(effective[lr < 0.3] < full.cop_op_cond[lr < 0.3])  # cycling below the minimum rate costs


def test_scalar_prediction_returns_a_scalar_array() -> None:
    hp = _air()
    value = hp.cop(2.0, 45.0)
    assert np.ndim(value) == 0 and 2.0 < float(value) < 5.0


# --- timesteps and state ----------------------------------------------------------------------------


def test_step_by_step_equals_vectorised_run_bit_for_bit() -> None:
    hp = _air(backup_ctrl_type="TopUp", power_max_backup=3.0, time_delay_backup=1.0)
    n = 48
    hours = np.arange(n)
    temp = -6.0 + 6.0 * np.sin(hours / 7.0)
    space = np.where(hours % 12 < 8, 11.0, 2.0)
    flow = 45.0 - 0.5 * temp
    services = [
        HotWaterDemand(np.where(hours % 24 == 6, 3.0, 0.0), 55.0, 50.0, 10.0),
        SpaceHeatingDemand(space, flow, flow - 7.0, 7.0, 65.0),
    ]
    whole, final = hp.run(Conditions(temp_ext_C=temp), services, 1.0)
    state = HeatPumpState()
    for i in range(n):
        step_services = [
            HotWaterDemand(services[0].energy_demand_kWh[i], 55.0, 50.0, 10.0),
            SpaceHeatingDemand(space[i], flow[i], flow[i] - 7.0, 7.0, 65.0),
        ]
        one, state = hp.step(Conditions(temp_ext_C=temp[i]), step_services, 1.0, state)
        for ours, theirs in zip(one.services, whole.services, strict=True):
            for key, value in ours.as_dict().items():
                if isinstance(value, np.ndarray):
                    assert np.array_equal(value, getattr(theirs, key)[i : i + 1], equal_nan=True), (i, key)
    assert state == final
    assert whole.time_running_continuous_after_h.max() >= 2.0  # the backup delay did elapse
    assert sum(s.energy_delivered_backup_kWh.sum() for s in whole.services) > 0


def test_continuous_running_time_builds_only_over_full_timesteps() -> None:
    before, after = continuous_running_time(np.array([1.0, 1.0, 0.4, 1.0, 1.0, 1.0]), 1.0, 0.5)
    assert after.tolist() == [1.5, 2.5, 0.0, 1.0, 2.0, 3.0]
    assert before.tolist() == [0.5, 1.5, 2.5, 0.0, 1.0, 2.0]


def test_hot_water_has_priority_and_space_heating_gets_the_time_left() -> None:
    hp = _air()
    result, _ = hp.run(
        Conditions(temp_ext_C=[0.0]),
        [HotWaterDemand(6.0, 55.0, 50.0, 10.0), SpaceHeatingDemand(20.0, 45.0, 38.0, 7.0)],
        1.0,
    )
    water, space = result.services
    assert 0 < water.time_running_h[0] < 1.0
    assert space.time_running_h[0] == pytest.approx(1.0 - water.time_running_h[0])
    assert water.energy_delivered_HP_kWh[0] == pytest.approx(6.0)
    assert result.energy_standby_kWh[0] == 0.0  # no idle time left


# --- sources, sinks, limits -------------------------------------------------------------------------


def test_ground_source_temperature_follows_eq_1_within_0_to_8() -> None:
    assert perf.ground_source_temperature_C(np.array([-20.0, 0.0, 10.0, 30.0])).tolist() == pytest.approx(
        [0.0, 2.8387, 10 * 0.25806 + 2.8387, 8.0]
    )


def test_source_temperature_for_each_source_type() -> None:
    c = Conditions(
        temp_ext_C=[-3.0, 12.0], temp_internal_C=[21.0, 22.0], temp_ext_annual_C=10.0, temp_ext_monthly_C=[5.0, 15.0]
    )
    expect = {
        "OutsideAir": [-3.0, 12.0],
        "Ground": perf.ground_source_temperature_C(np.array([-3.0, 12.0])).tolist(),
        "ExhaustAirMEV": [21.0, 22.0],
        "ExhaustAirMVHR": [21.0, 22.0],
        "WaterGround": [10.0, 10.0],
        "WaterSurface": [5.0, 15.0],
        "HeatNetwork": [25.0, 25.0],
        # ratio 0.5: −3 °C outside → 9 °C mixed ≥ min 5 °C; 12 °C outside is above the 10 °C maximum → indoor.
        "ExhaustAirMixed": [9.0, 22.0],
    }
    for source, temps in expect.items():
        settings = dict(
            source_type=source,
            temp_distribution_heat_network=25.0,
            eahp_mixed_ext_air_ratio=0.5,
            eahp_mixed_max_temp=10.0,
            eahp_mixed_min_temp=5.0,
        )
        records = RECORDS
        extra = {}
        if source.startswith("ExhaustAir"):
            records = [{**r, "air_flow_rate": 50.0} for r in RECORDS]
            extra = {"throughput_exhaust_air_l_per_s": 40.0}
        hp = HeatPumpModel.from_records(records, **settings, **extra)
        assert (hp.source_temperature_K(c, 2) - 273.15).tolist() == pytest.approx(temps), source
        if extra:
            assert hp.overventilation_ratio == pytest.approx(50.0 / 40.0)


def test_water_source_needs_its_average_temperature() -> None:
    hp = HeatPumpModel.from_records(RECORDS, source_type="WaterGround")
    with pytest.raises(ValueError, match="temp_ext_annual_C"):
        hp.run(Conditions(temp_ext_C=[5.0]), [SpaceHeatingDemand(1.0, 35.0, 30.0)], 1.0)


def test_glycol_sink_is_a_liquid_sink_with_the_return_limit() -> None:
    hp = HeatPumpModel.from_records(
        RECORDS,
        sink_type="Glycol25",
        backup_ctrl_type="TopUp",
        power_max_backup=6.0,
        time_delay_backup=0.0,
        temp_return_feed_max=50.0,
    )
    result, _ = hp.run(
        Conditions(temp_ext_C=[5.0, 5.0]), [SpaceHeatingDemand(4.0, [45.0, 60.0], [40.0, 55.0], 5.0, 65.0)], 1.0
    )
    s = result.services[0]
    assert s.use_backup_heater_only.tolist() == [False, True]  # 55 °C return above its 50 °C maximum
    assert s.energy_delivered_backup_kWh[1] == pytest.approx(4.0) and s.energy_delivered_HP_kWh[1] == 0.0
    assert s.deg_coeff_op_cond[0] >= 0.9


def test_upper_limit_scales_the_deliverable_energy() -> None:
    limited = op.energy_output_limited(
        np.array([10.0, 10.0]), np.array([343.15, 343.15]), np.array([323.15, 323.15]), np.array([338.15, 338.15]), 0.0
    )
    assert limited.tolist() == pytest.approx([10.0 * 15 / 20] * 2)
    assert op.energy_output_limited(
        np.array([10.0]), np.array([343.15]), np.array([333.15]), np.array([338.15]), 6.0
    ).tolist() == [0.0]


def test_minimum_modulation_rate_interpolates_in_flow_temperature() -> None:
    temps = np.array([30.0, 35.0, 45.0, 55.0, 60.0]) + 273.15
    assert op.min_load_ratio_continuous(temps, 0.3, 35.0, 0.4).tolist() == pytest.approx([0.3, 0.3, 0.35, 0.4, 0.4])
    assert op.min_load_ratio_continuous(temps, 0.3, 35.0, 0.4, hem_formula=True).tolist() == pytest.approx(
        [0.3 - 0.95 * 0.4] * 5
    )


def test_warm_air_uses_the_lowest_design_flow_temperature() -> None:
    records = [{**r, "design_flow_temp": 20, "temp_outlet": 20} for r in SET_35] + SET_55
    hp = HeatPumpModel.from_records(records, sink_type="Air")
    result, _ = hp.run(Conditions(temp_ext_C=[2.0]), [WarmAirDemand(3.0)], 1.0)
    s = result.services[0]
    assert s.temp_output_K[0] == pytest.approx(293.15)
    assert 0.0 <= s.deg_coeff_op_cond[0] <= 0.25


# --- backup and hybrid --------------------------------------------------------------------------------


def test_substitute_backup_replaces_the_compressor_when_it_is_larger() -> None:
    hp = _air(backup_ctrl_type="Substitute", power_max_backup=12.0, time_delay_backup=1.0)
    demand = [SpaceHeatingDemand(15.0, 50.0, 43.0, 7.0)]
    waiting, _ = hp.step(Conditions(temp_ext_C=-3.0), demand, 1.0, HeatPumpState(0.0))
    elapsed, _ = hp.step(Conditions(temp_ext_C=-3.0), demand, 1.0, HeatPumpState(1.0))
    assert not waiting.services[0].use_backup_heater_only[0] and waiting.services[0].energy_delivered_backup_kWh[0] == 0
    assert elapsed.services[0].use_backup_heater_only[0]
    assert elapsed.services[0].energy_delivered_HP_kWh[0] == 0.0
    assert elapsed.services[0].energy_delivered_backup_kWh[0] == pytest.approx(12.0)


def test_hybrid_boiler_serves_when_the_heat_pump_is_not_cost_effective() -> None:
    hp = _air(power_max_backup=30.0)
    cop = hp.cop([-8.0, 10.0], [55.0, 35.0], 5.0)
    # Electricity 0.28/kWh, gas 0.07/kWh at 90 %: break-even COP 3.6.
    conditions = Conditions(
        temp_ext_C=[-8.0, 10.0], cost_hp_per_kWh=0.28, cost_boiler_per_kWh=0.07, boiler_efficiency=0.9
    )
    assert cop[0] < 3.6 < cop[1]
    result, _ = hp.run(conditions, [SpaceHeatingDemand(5.0, [55.0, 35.0], [50.0, 30.0], 5.0)], 1.0)
    s = result.services[0]
    assert s.hp_cost_effective.tolist() == [False, True]
    assert s.energy_delivered_HP_kWh[0] == 0.0 and s.energy_delivered_backup_kWh[0] == pytest.approx(5.0)
    assert s.energy_delivered_HP_kWh[1] == pytest.approx(5.0) and s.energy_delivered_backup_kWh[1] == 0.0
    assert op.heat_pump_cost_effective(np.array([3.6]), 0.28, 0.07, 0.9).tolist() == [True]  # inclusive


# --- hot-water-only heat pumps (eq. 27) ----------------------------------------------------------------


def test_hot_water_only_spf_removes_the_test_vessel_losses() -> None:
    # E_DTP 5.845, vessel loss 1.5 kWh/day, Q_elec 2.5, P_es 0.015 kW, COP_DHW 2.8.
    eta = op.hot_water_only_efficiency(2.8, 5.845, 2.5, 0.015, 1.5)
    expected = (5.845 + 1.5 * 0.54) / (2.5 - 0.015 * 24 * 0.54 + 1.5 / 2.8 * 0.54)
    assert eta == pytest.approx(expected, rel=1e-14)
    assert op.hot_water_only_spf(2.5, 3.0, 150.0) == pytest.approx(2.5 + 0.5 * (150.0 - 100.2) / (199.8 - 100.2))
    assert op.hot_water_only_spf(2.5, 3.0, 90.0) == 2.5 and op.hot_water_only_spf(2.5, None, 250.0) == 2.5


def test_exhaust_air_throughput_factor() -> None:
    assert op.ventilation_throughput_factor(1.0, np.array([0.0, 0.5, 1.0]), 1.5).tolist() == [1.0, 1.25, 1.5]


def test_bracket_search_is_the_same_without_the_ascending_shortcut() -> None:
    hp = _air()
    data = hp.data
    unsorted = replace(data, sets=tuple(replace(s, load_ratios_ascending=False) for s in data.sets))
    lr = np.linspace(1.0, 3.0, 101)
    weights = perf.flow_temp_weights(data, np.full(101, 318.15))
    fast, general = perf.load_ratio_brackets(data, weights, lr), perf.load_ratio_brackets(unsorted, weights, lr)
    assert all(np.array_equal(getattr(fast, f), getattr(general, f)) for f in vars(fast))


def test_three_design_flow_temperatures_interpolate_between_the_bracketing_pair() -> None:
    set_45 = [{**r, "design_flow_temp": 45, "temp_outlet": r["temp_outlet"] + 9, "cop": r["cop"] - 0.7} for r in SET_35]
    three = HeatPumpModel.from_records(SET_35 + set_45 + SET_55)
    low = HeatPumpModel.from_records(SET_35 + set_45)
    high = HeatPumpModel.from_records(set_45 + SET_55)
    outdoor = np.array([-5.0, 3.0, 10.0])
    for flow, pair in ((40.0, low), (50.0, high)):
        assert np.allclose(three.cop(outdoor, flow), pair.cop(outdoor, flow), rtol=1e-13)
        assert np.allclose(three.capacity_kw(outdoor, flow), pair.capacity_kw(outdoor, flow), rtol=1e-13)
