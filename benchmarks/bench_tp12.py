"""Annual TP-12 benchmark: one heat pump, space heating + hot water, weather-compensated flow.

The heat pump is the school example's (examples/school.yaml: a 53 kW air-to-water unit with its
declared EN 14825 data) with a 12 kW top-up heater after one hour of continuous full-load running;
the flow temperature follows the example's classroom circuit curve. Weather and demand are synthetic
and deterministic. The year is run three ways: vectorised hourly (8760 steps), vectorised half-hourly
(17520 steps), and one timestep at a time through ``HeatPumpModel.step`` carrying the state; the
vectorised and step-by-step results must be identical, bit for bit.

Also times the prediction API (``HeatPumpModel.cop``) for one query and for 1000. Prints one
``name: value unit`` line per figure. The reference implementation of TP-12 (HEM, one
object call per service per timestep) takes about 0.48 s for an hourly year on this machine class.

    python benchmarks/bench_tp12.py
"""

from __future__ import annotations

import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import load_site  # noqa: E402
from app.tp12 import (  # noqa: E402
    Conditions,
    HeatPumpModel,
    HeatPumpSpec,
    HeatPumpState,
    HotWaterDemand,
    RunResult,
    SpaceHeatingDemand,
)
from strategies.weather_compensation import curve_flow  # noqa: E402

REFERENCE_SECONDS_PER_HOURLY_YEAR = 0.48
REPEATS = 30


def weather_and_demand(steps_per_hour: int) -> tuple[Conditions, list, float]:
    """A synthetic UK-like year: outdoor temperature, space heating and hot water demand per timestep."""
    site = load_site(ROOT / "examples" / "school.yaml")
    circuit = site.heating_circuits[0]
    n = 8760 * steps_per_hour
    timestep_h = 1.0 / steps_per_hour
    hours = np.arange(n) * timestep_h
    rng = np.random.default_rng(2026)
    seasonal = 10.5 - 7.5 * np.cos(2 * np.pi * (hours / 24 - 20) / 365)
    daily = -3.0 * np.cos(2 * np.pi * ((hours % 24) - 15) / 24)
    temp_ext = seasonal + daily + np.repeat(rng.normal(0.0, 2.0, 8760), steps_per_hour)
    ua_kw_per_k = circuit.design_heat_loss_kw / (circuit.design_room_c - circuit.design_outdoor_c)
    heating = temp_ext < circuit.summer_cutoff_c
    space_kWh = np.where(heating, ua_kw_per_k * np.maximum(circuit.design_room_c - temp_ext, 0.0), 0.0) * timestep_h
    flow = np.clip(curve_flow(circuit, temp_ext), circuit.min_flow_c, circuit.max_flow_c)
    load = np.clip((circuit.design_room_c - temp_ext) / (circuit.design_room_c - circuit.design_outdoor_c), 0, 1)
    delta_t = circuit.curve.design_delta_t_k
    hour_of_day = np.floor(hours % 24)
    dhw_kWh = np.where(np.isin(hour_of_day, (5, 6, 15, 16)), 6.0, 0.0) * timestep_h
    services = [
        HotWaterDemand(
            dhw_kWh, temp_hot_water_C=60.0, temp_return_feed_C=52.0, temp_cold_water_C=10.0, temp_limit_upper_C=65.0
        ),
        SpaceHeatingDemand(
            space_kWh,
            temp_flow_C=flow,
            temp_return_C=flow - delta_t * load,
            temp_diff_emit_dsgn_K=delta_t,
            temp_limit_upper_C=65.0,
            service_on=heating,
        ),
    ]
    return Conditions(temp_ext_C=temp_ext), services, timestep_h


def heat_pump() -> HeatPumpModel:
    site = load_site(ROOT / "examples" / "school.yaml")
    settings = site.heat_pumps[0].tp12.model_dump(exclude_none=True)
    settings.update(backup_ctrl_type="TopUp", power_max_backup=12.0, time_delay_backup=1.0)
    return HeatPumpModel(HeatPumpSpec.model_validate(settings))


def best_time(run, repeats: int = REPEATS) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def step_by_step(hp: HeatPumpModel, conditions: Conditions, services: list, timestep_h: float) -> RunResult:
    """The same year one timestep at a time, the state carried explicitly; results stacked."""
    n = len(np.asarray(conditions.temp_ext_C))
    state = HeatPumpState()
    steps: list[RunResult] = []
    for i in range(n):
        step_services = [
            type(s)(
                **{
                    f.name: np.asarray(getattr(s, f.name))[i] if np.ndim(getattr(s, f.name)) else getattr(s, f.name)
                    for f in fields(s)
                }
            )
            for s in services
        ]
        result, state = hp.step(
            Conditions(temp_ext_C=float(conditions.temp_ext_C[i])), step_services, timestep_h, state
        )
        steps.append(result)
    return steps


def arrays(result: RunResult | list[RunResult]) -> dict[str, np.ndarray]:
    """Every numeric output of a run as flat arrays (a list of one-step runs is concatenated)."""
    runs = result if isinstance(result, list) else [result]
    out: dict[str, list[np.ndarray]] = {}
    for run in runs:
        for name in (
            "energy_standby_kWh",
            "energy_crankcase_heater_mode_kWh",
            "energy_off_mode_kWh",
            "time_running_continuous_before_h",
            "time_running_continuous_after_h",
        ):
            out.setdefault(name, []).append(np.atleast_1d(getattr(run, name)))
        for index, service in enumerate(run.services):
            for key, value in service.as_dict().items():
                if isinstance(value, np.ndarray):
                    out.setdefault(f"{index}.{key}", []).append(np.atleast_1d(value).astype(float))
    return {k: np.concatenate(v) for k, v in out.items()}


def main() -> None:
    hp = heat_pump()
    hourly = weather_and_demand(1)
    half_hourly = weather_and_demand(2)

    t_hourly = best_time(lambda: hp.run(*hourly))
    t_half = best_time(lambda: hp.run(*half_hourly))
    vector_result, _ = hp.run(*hourly)

    start = time.perf_counter()
    scalar_steps = step_by_step(hp, *hourly)
    t_scalar = time.perf_counter() - start

    vec, sca = arrays(vector_result), arrays(scalar_steps)
    identical = vec.keys() == sca.keys() and all(np.array_equal(vec[k], sca[k], equal_nan=True) for k in vec)
    max_diff = max(float(np.nanmax(np.abs(vec[k] - sca[k]), initial=0.0)) for k in vec)

    outdoor_grid = np.linspace(-15.0, 15.0, 1000)
    t_cop_scalar = best_time(lambda: hp.cop(2.0, 45.0, 5.0), 200)
    t_cop_part_load = best_time(lambda: hp.cop(2.0, 45.0, 5.0, load_ratio=0.3), 200)
    t_cop_array = best_time(lambda: hp.cop(outdoor_grid, 45.0, 5.0), 50)

    delivered = float(vector_result.energy_delivered_kWh.sum())
    electricity = float(vector_result.energy_input_kWh.sum())
    backup = float(sum(s.energy_delivered_backup_kWh.sum() for s in vector_result.services))

    print(f"hourly_year_vectorised: {t_hourly * 1e3:.2f} ms")
    print(f"hourly_step_vectorised: {t_hourly / 8760 * 1e6:.3f} us")
    print(f"half_hourly_year_vectorised: {t_half * 1e3:.2f} ms")
    print(f"half_hourly_step_vectorised: {t_half / 17520 * 1e6:.3f} us")
    print(f"speedup_vs_reference_hourly_year: {REFERENCE_SECONDS_PER_HOURLY_YEAR / t_hourly:.0f} x")
    print("target_hourly_year: 5.00 ms")
    print(f"hourly_year_step_by_step: {t_scalar * 1e3:.0f} ms")
    print(f"hourly_step_step_by_step: {t_scalar / 8760 * 1e6:.1f} us")
    print(f"identity_vectorised_vs_step_by_step: {'identical' if identical else 'DIFFERENT'} bool")
    print(f"identity_arrays_compared: {len(vec)} arrays")
    print(f"identity_max_abs_difference: {max_diff:.3g} -")
    print(f"prediction_cop_scalar: {t_cop_scalar * 1e6:.0f} us")
    print(f"prediction_cop_scalar_part_load: {t_cop_part_load * 1e6:.0f} us")
    print(f"prediction_cop_1000_points: {t_cop_array * 1e6:.0f} us")
    print(f"annual_heat_delivered: {delivered:.0f} kWh")
    print(f"annual_backup_heat: {backup:.0f} kWh")
    print(f"annual_electricity: {electricity:.0f} kWh")
    print(f"annual_spf_h4: {delivered / electricity:.3f} -")
    if not identical:
        raise SystemExit("vectorised and step-by-step runs differ")


if __name__ == "__main__":
    main()
