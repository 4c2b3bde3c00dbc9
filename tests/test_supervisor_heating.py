"""The supervisor's space heating around the occupancy schedule: the reduced curve and the setback thermostat,
optimum start at full output (the heat pump asked only for what its capacity reaches), the boiler leading a
preheat the heat pump cannot do economically, and the learned building response kept across a restart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from control_plant import COLD_CYLINDER, Rig, school_variant
from sqlalchemy import Engine

from app.control.performance import PerformanceTable
from app.control.supervisor import CycleResult
from strategies.weather_compensation import (
    OPTIMUM_START_TOLERANCE_K,
    OptimiserState,
    design_mcp_kw_per_k,
    flow_setpoint,
)

TUESDAY_NIGHT = datetime(2025, 1, 7, 23, tzinfo=UTC)   # unoccupied; UTC = local time in January
WEDNESDAY_0500 = datetime(2025, 1, 8, 5, tzinfo=UTC)  # 2.5 h before occupancy


def _commanded(result: CycleResult, role: str, device: str = "hp1") -> float | None:
    return next((c.value for c in result.commands.points if c.role == role and c.device_id == device), None)


def test_unoccupied_the_heat_pump_runs_its_reduced_curve_and_the_boiler_waits_for_the_setback_thermostat(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "heating reduced", TUESDAY_NIGHT, school_variant())
    rig.supervisor.optimiser = OptimiserState((0.5, 0.5))  # a quick building: no preheat yet
    result = rig.step(outdoor_temp=5.0, room_temp=19.0)
    circuit = rig.site.heating_circuits[0]
    st = result.status
    assert st is not None and st.sequencer == "hp_only"
    assert _commanded(result, "enable") == 1.0   # the reduced curve, though the room is above its setback
    assert _commanded(result, "flow_setpoint") == pytest.approx(round(flow_setpoint(  # the room trim pulls it down
        circuit, 5.0, max_flow_c=70.0, room_setpoint_c=circuit.setback_room_c, occupied=False,
        trim_k=-circuit.room_trim.limit_k), 1))
    assert _commanded(result, "boiler_enable", "boiler1") == 0.0
    faulted = rig.step(fault_code=17.0, alarm=1.0, compressor_running=0.0, heat_output_power=0.0)
    assert faulted.status is not None and faulted.status.sequencer == "boiler_only"
    assert _commanded(faulted, "boiler_enable", "boiler1") == 0.0   # room 19 °C: the setback holds
    cold = rig.step(room_temp=15.5)
    assert _commanded(cold, "boiler_enable", "boiler1") == 1.0
    warmer = rig.step(room_temp=16.5)   # inside the setback thermostat's differential: still calling
    assert _commanded(warmer, "boiler_enable", "boiler1") == 1.0
    warm = rig.step(room_temp=17.1)
    assert _commanded(warm, "boiler_enable", "boiler1") == 0.0


def test_optimum_start_runs_full_output_led_by_the_cheaper_source_and_the_boiler_frees_the_heat_pump_for_dhw(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    site = school_variant()
    rig = Rig(engine, performance, "heating preheat", WEDNESDAY_0500, site)
    circuit = site.heating_circuits[0]
    # a cold circuit: flat out, the heat pump makes the return plus its capacity over the flow rate
    result = rig.step(outdoor_temp=5.0, room_temp=16.0, return_temp=20.0, flow_temp=20.0)
    assert rig.supervisor.optimiser.run is not None   # the preheat is watched from its first cycle
    st = result.status
    capacity = performance["hp1"].capacity_kw(5.0, circuit.max_flow_c)
    expected = 20.0 + capacity / design_mcp_kw_per_k(circuit)
    assert st is not None and st.flow_setpoint_c == pytest.approx(expected, abs=0.1)
    assert st.sequencer == "hp_only" and st.predicted_cop > st.crossover_cop
    assert _commanded(result, "enable") == 1.0 and _commanded(result, "boiler_enable", "boiler1") == 0.0
    # the circuit warm: full output is the circuit's maximum flow, where the boiler's heat is cheaper
    result = rig.step(31.0, return_temp=50.0, flow_temp=58.0)
    st = result.status
    assert st is not None and st.flow_setpoint_c == circuit.max_flow_c
    assert st.sequencer == "boiler_only" and st.predicted_cop < st.crossover_cop and "boiler cheaper" in st.reason
    assert _commanded(result, "boiler_enable", "boiler1") == 1.0
    # a hot-water boost now goes to the heat pump: the boiler does the preheat
    rig.command("dhw1.boost", 1.0)
    boosted = rig.step(**COLD_CYLINDER)
    assert rig.machine("dhw1").state == "boost" and _commanded(boosted, "immersion_enable") == 0.0
    assert _commanded(boosted, "enable") == 0.0   # just switched off: its anti-short-cycle time first
    boosted = rig.step(5.0)
    assert _commanded(boosted, "enable") == 1.0 and _commanded(boosted, "operating_mode") == 1.0
    assert _commanded(boosted, "immersion_enable") == 0.0
    # the room within the tolerance: the preheat has got there and the curve holds it until occupancy
    there = rig.step(room_temp=21.0 - OPTIMUM_START_TOLERANCE_K + 0.1)
    run = rig.supervisor.optimiser.run
    assert run is not None and run.reached == rig.clock.now()
    assert there.status is not None and there.status.flow_setpoint_c < circuit.max_flow_c


def test_the_learned_building_response_survives_a_restart(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "heating learned", WEDNESDAY_0500, school_variant())
    rig.step(outdoor_temp=5.0, room_temp=16.0, return_temp=45.0, flow_temp=50.0)
    rig.step(60.0, room_temp=18.0)
    rig.step(90.0, room_temp=20.8)    # 07:31: occupied, the recovery is learned
    learned = rig.supervisor.optimiser.time_constants_h
    base = rig.site.heating_circuits[0].building_time_constant_h
    assert len(learned) == 2 and learned[0] < base and learned[1] == base
    rig.resume()
    assert rig.supervisor.optimiser.time_constants_h == pytest.approx(learned)
    assert rig.supervisor.state()["optimiser_tau_h"] == pytest.approx(list(learned))


def test_a_boost_while_the_heat_pump_leads_the_preheat_goes_to_the_immersion(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "heating release", WEDNESDAY_0500, school_variant())
    rig.step(outdoor_temp=5.0, room_temp=16.0, return_temp=20.0, flow_temp=20.0)
    rig.command("dhw1.boost", 1.0)
    result = rig.step(**COLD_CYLINDER)
    assert result.status is not None and result.status.sequencer == "hp_only"
    assert _commanded(result, "operating_mode") == 0.0 and _commanded(result, "immersion_enable") == 1.0
    assert rig.machine("dhw1").state == "immersion_fallback"
    assert "optimum start" in rig.transitions("dhw1")[-1].reason


def test_a_preheat_the_heat_pump_leads_flat_out_short_of_full_output_calls_the_boiler_in_behind(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    """Asked only for what it can reach, the heat pump still falls short of the circuit's full output: held
    for the capacity-shortfall time, the boiler lags (it is what optimum start needs), and says why."""
    rig = Rig(engine, performance, "heating lag", WEDNESDAY_0500, school_variant())
    circuit = rig.site.heating_circuits[0]
    flat_out = dict(outdoor_temp=5.0, room_temp=16.0, return_temp=20.0, flow_temp=20.0, heat_output_power=60.0)
    first = rig.step(**flat_out).status
    assert first is not None and first.sequencer == "hp_only" and first.flow_setpoint_c < circuit.max_flow_c
    assert f"/ {first.flow_setpoint_c:.1f} °C flow" in first.reason   # the COP at the flow it was asked for
    rig.step(flow_temp=first.flow_setpoint_c)   # it makes what it is asked for; staged and at capacity from here
    held = rig.step(rig.site.sequencing.capacity_shortfall_min).status
    assert held is not None and held.sequencer == "hp_boiler"
    assert f"below setpoint {circuit.max_flow_c:.1f} °C" in held.reason and "boiler lags" in held.reason
