"""Hybrid sequencing: the heat pump leads, the boiler fires only under the economic, capacity and fault rules."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import SequencingConfig, TouPeriod, load_site
from strategies.hybrid_sequencing import (
    BOILER_ONLY,
    FAILSAFE,
    HP_BOILER,
    HP_ONLY,
    MODES,
    Crossover,
    SourceInputs,
    SourceState,
    StageState,
    choose_lead,
    crossover_cop,
    electrical_shed,
    electricity_rate,
    heat_pump_flow_c,
    in_peak_window,
    sequence_sources,
    stage_heat_pumps,
)

SITE = load_site(EXAMPLES / "school.yaml")
TARIFFS = SITE.tariffs
CFG = SequencingConfig(crossover_hysteresis=0.2, min_dwell_min=30, capacity_shortfall_min=30)
X = Crossover(3.0, "economic", None, "test")


def inputs(**kw: object) -> SourceInputs:
    base = dict(now_s=10_000.0, outdoor_ok=True, has_boiler=True, hp_available=True, hp_unavailable_reason="",
                predicted_cop=3.5, crossover=X, at_capacity=False, flow_c=45.0, flow_setpoint_c=45.0, load_kw=20.0,
                hp_capacity_kw=50.0)
    return SourceInputs(**{**base, **kw})  # type: ignore[arg-type]


def test_crossover_is_price_ratio_times_boiler_efficiency_and_follows_time_of_use() -> None:
    monday_noon, monday_peak = datetime(2025, 1, 6, 12), datetime(2025, 1, 6, 17)
    standard, peak_rate = TARIFFS.electricity.unit_rate_gbp_per_kwh, TARIFFS.electricity.periods[0].rate_gbp_per_kwh
    gas = TARIFFS.gas.unit_rate_gbp_per_kwh
    assert crossover_cop(TARIFFS, 0.88, monday_noon).cop == pytest.approx(standard * 0.88 / gas)
    peak = crossover_cop(TARIFFS, 0.88, monday_peak)
    assert peak.cop == pytest.approx(peak_rate * 0.88 / gas) and peak.period == "peak"
    assert electricity_rate(TARIFFS, datetime(2025, 1, 11, 17)) == (standard, None)  # Saturday: no peak band
    assert in_peak_window(TARIFFS, monday_peak) == "peak" and in_peak_window(TARIFFS, monday_noon) is None
    carbon = crossover_cop(TARIFFS.model_copy(update={"crossover": "carbon"}), 0.88, monday_peak)
    assert carbon.cop == pytest.approx(0.136 * 0.88 / 0.210) and carbon.basis == "carbon"


def test_a_time_of_use_period_may_run_past_midnight() -> None:
    night = TouPeriod(name="night", days=["mon"], start=time(23), end=time(2), rate_gbp_per_kwh=0.1)
    tariffs = TARIFFS.model_copy(update={"electricity": TARIFFS.electricity.model_copy(update={"periods": [night]})})
    assert electricity_rate(tariffs, datetime(2025, 1, 6, 23, 30)) == (0.1, "night")
    assert electricity_rate(tariffs, datetime(2025, 1, 7, 1, 0)) == (0.1, "night")
    assert electricity_rate(tariffs, datetime(2025, 1, 7, 23, 30))[1] is None


def test_boiler_takes_the_lead_below_crossover_minus_hysteresis_after_dwell_and_leaves_at_crossover() -> None:
    state = SourceState(HP_ONLY, since_s=0.0)
    decision, state = sequence_sources(inputs(predicted_cop=2.9), state, CFG)
    assert decision.mode == HP_ONLY  # inside the hysteresis band
    decision, state = sequence_sources(inputs(predicted_cop=2.7, now_s=1000.0), SourceState(HP_ONLY, 0.0), CFG)
    assert decision.mode == HP_ONLY  # dwell of 30 min not over
    decision, state = sequence_sources(inputs(predicted_cop=2.7), SourceState(HP_ONLY, 0.0), CFG)
    assert decision.mode == BOILER_ONLY and decision.boiler_leads and "2.700" in decision.reason
    decision, state = sequence_sources(inputs(predicted_cop=2.95, now_s=10_060.0), state, CFG)
    assert decision.mode == BOILER_ONLY  # still below the crossover: stays
    decision, state = sequence_sources(inputs(predicted_cop=3.0, now_s=10_120.0), state, CFG)
    assert decision.mode == HP_ONLY  # at the crossover the heat pump leads again, dwell or not


def test_boiler_lags_only_after_capacity_shortfall_held_and_releases_when_load_fits() -> None:
    short = dict(at_capacity=True, flow_c=40.0, flow_setpoint_c=45.0, load_kw=60.0, hp_capacity_kw=50.0)
    decision, state = sequence_sources(inputs(**short, now_s=0.0), SourceState(HP_ONLY, 0.0), CFG)
    assert decision.mode == HP_ONLY and state.shortfall_since_s == 0.0
    decision, state = sequence_sources(inputs(**short, now_s=1700.0), state, CFG)
    assert decision.mode == HP_ONLY
    decision, state = sequence_sources(inputs(**{**short, "flow_c": 44.5}, now_s=1750.0), state, CFG)
    assert decision.mode == HP_ONLY and state.shortfall_since_s is None  # met setpoint: the timer restarts
    for t in (1800.0, 3599.0):
        decision, state = sequence_sources(inputs(**short, now_s=t), state, CFG)
    assert decision.mode == HP_ONLY
    decision, state = sequence_sources(inputs(**short, now_s=3600.0), state, CFG)
    assert decision.mode == HP_BOILER and not decision.boiler_leads and decision.heat_pumps_on
    decision, state = sequence_sources(inputs(load_kw=40.0, now_s=3600.0 + 600), state, CFG)
    assert decision.mode == HP_BOILER  # load fits, but the dwell is not over
    decision, state = sequence_sources(inputs(load_kw=40.0, now_s=3600.0 + 1800), state, CFG)
    assert decision.mode == HP_ONLY and "released" in decision.reason


def test_fault_comms_loss_and_operating_limits_hand_over_to_the_boiler_at_once() -> None:
    decision, state = sequence_sources(inputs(hp_available=False, hp_unavailable_reason="hp1 comms lost",
                                              now_s=10.0), SourceState(HP_ONLY, 0.0), CFG)
    assert decision.mode == BOILER_ONLY and "comms lost" in decision.reason
    decision, _ = sequence_sources(inputs(now_s=20.0), state, CFG)
    assert decision.mode == HP_ONLY  # back, and the economics favour it
    decision, _ = sequence_sources(inputs(now_s=20.0, predicted_cop=2.5), state, CFG)
    assert decision.mode == BOILER_ONLY and "cheaper" in decision.reason


def test_no_boiler_no_outdoor_and_operator_forcing() -> None:
    assert sequence_sources(inputs(has_boiler=False, predicted_cop=1.5), SourceState(), CFG)[0].mode == HP_ONLY
    failsafe = sequence_sources(inputs(outdoor_ok=False), SourceState(), CFG)[0]
    assert failsafe.mode == FAILSAFE and "local" in failsafe.reason
    assert sequence_sources(inputs(forced=BOILER_ONLY), SourceState(), CFG)[0].mode == BOILER_ONLY
    assert sequence_sources(inputs(forced=HP_ONLY, predicted_cop=1.5), SourceState(), CFG)[0].mode == HP_ONLY
    limited = sequence_sources(inputs(over_electrical_limit=True, electrical_reason="site 120 kW > 100 kW"),
                               SourceState(), CFG)[0]
    assert limited.mode == BOILER_ONLY and "electrical limit" in limited.reason


@settings(max_examples=300, deadline=None)
@given(cop=st.floats(0.5, 8), crossover=st.floats(1, 6), mode=st.sampled_from(MODES), since=st.floats(0, 1e5),
       now=st.floats(0, 2e5), at_capacity=st.booleans(), flow=st.floats(20, 70), setpoint=st.floats(20, 70),
       load=st.floats(0, 100), capacity=st.floats(1, 100), shortfall=st.none() | st.floats(0, 2e5),
       hyst=st.floats(0, 2), dwell=st.floats(0, 600))
def test_boiler_never_leads_while_predicted_cop_is_above_crossover_and_heat_pump_has_capacity(
        cop: float, crossover: float, mode: str, since: float, now: float, at_capacity: bool, flow: float,
        setpoint: float, load: float, capacity: float, shortfall: float | None, hyst: float, dwell: float) -> None:
    cfg = SequencingConfig(crossover_hysteresis=hyst, min_dwell_min=dwell)
    inp = inputs(predicted_cop=cop, crossover=Crossover(crossover, "economic", None, ""), now_s=max(now, since),
                 at_capacity=at_capacity, flow_c=flow, flow_setpoint_c=setpoint, load_kw=load, hp_capacity_kw=capacity)
    decision, state = sequence_sources(inp, SourceState(mode, since, shortfall), cfg)
    if cop >= crossover:
        assert not decision.boiler_leads and decision.heat_pumps_on
    if decision.boiler_on and not decision.boiler_leads:  # lagging boiler: only for a capacity shortfall
        assert mode == HP_BOILER or (at_capacity and flow < setpoint - 1.0)
    assert decision.mode == state.mode


def test_lead_rotates_by_run_hours_with_a_margin() -> None:
    hours = {"hp1": 100.0, "hp2": 90.0}
    assert choose_lead(["hp1", "hp2"], hours, "hp1", 24.0) == "hp1"
    assert choose_lead(["hp1", "hp2"], {"hp1": 130.0, "hp2": 90.0}, "hp1", 24.0) == "hp2"
    assert choose_lead(["hp1"], hours, "hp2", 24.0) == "hp1"  # the lead is faulted: the other takes over
    assert choose_lead([], hours, "hp1", 24.0) is None


def test_staging_up_and_down_waits_for_the_delay_and_sheds_at_once() -> None:
    cfg = SequencingConfig(stage_delay_min=15, stage_down_fraction=0.7)
    units, hours, cap = ["hp1", "hp2"], {"hp1": 10.0, "hp2": 20.0}, {"hp1": 40.0, "hp2": 40.0}
    state, _ = stage_heat_pumps(units, hours, cap, 30.0, 0.0, StageState(), cfg)
    assert state.running == ("hp1",)
    state, _ = stage_heat_pumps(units, hours, cap, 60.0, 60.0, state, cfg)
    assert state.running == ("hp1",)  # needs two, not yet for 15 min
    state, reason = stage_heat_pumps(units, hours, cap, 60.0, 60.0 + 900, state, cfg)
    assert state.running == ("hp1", "hp2") and "2 unit(s)" in reason
    state, _ = stage_heat_pumps(units, hours, cap, 35.0, 2000.0, state, cfg)
    assert state.running == ("hp1", "hp2")  # 35 kW > 0.7 × 40 kW: stays on two
    state, _ = stage_heat_pumps(units, hours, cap, 20.0, 2100.0, state, cfg)
    state, _ = stage_heat_pumps(units, hours, cap, 20.0, 2100.0 + 900, state, cfg)
    assert state.running == ("hp1",)
    shed, _ = stage_heat_pumps(units, hours, cap, 60.0, 4000.0, StageState(("hp1", "hp2"), "hp1"), cfg, shed=1)
    assert shed.running == ("hp1",)
    gone, _ = stage_heat_pumps(["hp2"], hours, cap, 60.0, 4000.0, StageState(("hp1", "hp2"), "hp1"), cfg)
    assert gone.running == ("hp2",)  # a faulted unit drops out at once


def test_electrical_shed_counts_units_from_the_last_staged() -> None:
    assert electrical_shed(None, 100.0, [20.0]) == (0, "")
    assert electrical_shed(90.0, 100.0, [20.0]) == (0, "")
    n, why = electrical_shed(125.0, 100.0, [20.0, 15.0, 15.0])
    assert n == 2 and "125.0 kW" in why


def test_flat_out_the_heat_pump_is_asked_for_the_flow_its_capacity_lifts_the_return_to() -> None:
    assert heat_pump_flow_c(60.0, 20.0, 50.0, 4.0) == pytest.approx(32.5)   # a cold circuit: 20 + 50 / 4
    assert heat_pump_flow_c(60.0, 50.0, 50.0, 4.0) == 60.0                  # warm: up to the setpoint
    assert heat_pump_flow_c(60.0, None, 50.0, 4.0) == 60.0                  # no return reading
    assert heat_pump_flow_c(60.0, 20.0, 50.0, 0.0) == 60.0
