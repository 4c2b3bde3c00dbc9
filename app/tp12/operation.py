"""Running time, energy delivered and consumed: HEM-TP-12 §3–§6, the hot-water-only SPF and the hybrid test.

Pure functions over numpy arrays (one element per timestep). Energies in kWh, powers in kW, times in
hours unless a name says otherwise. The choices where HEM v0.24 departs from the paper are listed in
:mod:`app.tp12.conventions`; the functions concerned reproduce HEM when told to (``hem_formula``).
"""

from __future__ import annotations

import numpy as np

from app.tp12.testdata import C_TO_K

F_AUX = 0.0  # fraction of auxiliary energy not in the COP: zero for electric heat pumps (TP-12 eq. 18)
TIME_CONSTANT_WATER_S = 1560.0  # EN 15316-4-2 Table 13 (TP-12 eq. 17)
TIME_CONSTANT_SPACE_LIQUID_S = 1370.0
TIME_CONSTANT_SPACE_AIR_S = 120.0
TEMP_MIN_MODULATION_HIGH_C = 55.0


def energy_output_limited(
    energy_required: np.ndarray,
    temp_output_K: np.ndarray,
    temp_scaling_K: np.ndarray,
    temp_limit_upper_K: np.ndarray,
    temp_diff_flow_return_min_K: float,
) -> np.ndarray:
    """Energy the heat pump can deliver when the flow temperature is above its upper limit (TP-12 §5.1).

    Above the limit the output is scaled by (θ_limit − θ_return)/(θ_flow − θ_return), or is zero when
    the achievable flow–return difference is below the minimum for the heat pump to operate.
    """
    above = temp_output_K > temp_limit_upper_K
    equal = temp_output_K == temp_scaling_K
    achievable = temp_limit_upper_K - temp_scaling_K
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = energy_required * achievable / (temp_output_K - temp_scaling_K)
    limited = np.where(achievable >= temp_diff_flow_return_min_K, scaled, 0.0)
    return np.where(above & ~equal, limited, energy_required)


def running_time(energy_h: np.ndarray, capacity_kW: np.ndarray, time_available_h: np.ndarray) -> np.ndarray:
    """Full-load running time of a service, limited to the time left in the timestep (TP-12 eq. 12)."""
    return np.minimum(energy_h / capacity_kW, time_available_h)


def min_load_ratio_continuous(
    temp_output_K: np.ndarray,
    rate_low: float,
    temp_low_C: float,
    rate_55: float | None,
    hem_formula: bool = False,
) -> np.ndarray:
    """Minimum modulation rate LR_cont,min at the flow temperature (TP-12 §4.3).

    With a declared rate at 55 °C, TP-12 interpolates linearly in flow temperature between the low
    point (20 °C air sink, 35 °C liquid sink) and 55 °C, holding the end values outside. HEM v0.24
    (``hem_formula``) mixes kelvin with °C and misplaces a bracket, which gives the constant
    ``rate_low − 0.95·rate_55``.
    """
    shape = np.shape(temp_output_K)
    if rate_55 is None:
        return np.full(shape, rate_low)
    span = TEMP_MIN_MODULATION_HIGH_C - temp_low_C
    if hem_formula:
        clamped = np.minimum(np.maximum(np.asarray(temp_output_K), temp_low_C), TEMP_MIN_MODULATION_HIGH_C)
        return (clamped - temp_low_C) / span * rate_low + (1.0 - (clamped - temp_low_C)) / span * rate_55
    temp_C = np.minimum(np.maximum(np.asarray(temp_output_K) - C_TO_K, temp_low_C), TEMP_MIN_MODULATION_HIGH_C)
    return rate_low + (rate_55 - rate_low) * (temp_C - temp_low_C) / span


def compressor_power_full_load(capacity_kW: np.ndarray, cop: np.ndarray) -> np.ndarray:
    """Compressor power at full load, kW (TP-12 eq. 15)."""
    return capacity_kW / cop


def compressor_power_min_load(power_full_load_kW: np.ndarray, load_ratio_continuous_min: np.ndarray) -> np.ndarray:
    """Compressor power at the lowest continuous load, kW (TP-12 eq. 16)."""
    return power_full_load_kW * load_ratio_continuous_min


def power_inertia(
    power_min_load_kW: np.ndarray,
    load_ratio: np.ndarray,
    load_ratio_continuous_min: np.ndarray,
    time_constant_onoff_s: float,
    time_constant_service_s: float | np.ndarray,
) -> np.ndarray:
    """Power due to on/off inertia, kW: zero at LR ≥ LR_cont,min (TP-12 eq. 17)."""
    cycling = power_min_load_kW * time_constant_onoff_s * load_ratio * (1.0 - load_ratio) / time_constant_service_s
    return np.where(load_ratio >= load_ratio_continuous_min, 0.0, cycling)


def warm_air_divisor(
    deg_coeff: np.ndarray, load_ratio: np.ndarray, load_ratio_continuous_min: np.ndarray
) -> np.ndarray:
    """Denominator 1 − Cdh·(1 − LR/LR_cont,min) of TP-12 eq. 19 (air-sink units).

    As in HEM v0.24 it is applied to the hot-water service of an air-sink heat pump only; warm-air
    space heating uses a divisor of 1 and the off-cycle energy of eq. 23 instead.
    """
    return 1.0 - deg_coeff * (1.0 - load_ratio / load_ratio_continuous_min)


def energy_input_onoff(
    power_full_load_kW: np.ndarray,
    power_inertia_kW: np.ndarray,
    time_running_h: np.ndarray,
    divisor: np.ndarray | float,
) -> np.ndarray:
    """Compressor energy in on/off operation, before the off-cycle term (TP-12 eqs. 18–19)."""
    return (power_full_load_kW * (1.0 + F_AUX) + power_inertia_kW) * time_running_h / divisor


def energy_backup(
    energy_required: np.ndarray,
    energy_delivered_hp: np.ndarray,
    power_max_backup_kW: float,
    time_available_h: np.ndarray,
) -> np.ndarray:
    """Backup heater output: the shortfall, within 0 and its maximum over the time left (TP-12 eqs. 20–22)."""
    return np.maximum(np.minimum(power_max_backup_kW * time_available_h, energy_required - energy_delivered_hp), 0.0)


def off_cycle_time(
    timestep_h: float,
    time_running_before_h: np.ndarray,
    time_running_h: np.ndarray,
    load_ratio: np.ndarray,
    load_ratio_continuous_min: np.ndarray,
    hem_formula: bool = False,
) -> np.ndarray:
    """Off part of the on/off cycle of the lowest-priority running service, h (TP-12 §6.1).

    TP-12: t_off,X = t_ci − Σ t_higher − LR_X/LR_cont,min,X · t_ci, at least zero. HEM v0.24 starts from
    the time left after all services and so subtracts the service's own running time twice
    (``hem_formula``).
    """
    if hem_formula:
        start = timestep_h - (time_running_before_h + time_running_h)
    else:
        start = timestep_h - time_running_before_h
    return np.maximum(start - load_ratio / load_ratio_continuous_min * timestep_h, 0.0)


def energy_ancillary_off(deg_coeff: np.ndarray, power_full_load_kW: np.ndarray, time_off_h: np.ndarray) -> np.ndarray:
    """Compressor-unit use in the off part of the cycle, kWh: (1 − Cdh)·P_LR100·t_off (TP-12 eq. 23)."""
    return (1.0 - deg_coeff) * power_full_load_kW * time_off_h


def energy_standby_crankcase_off(
    time_idle_h: np.ndarray,
    timestep_h: float,
    heating_on: np.ndarray,
    water_on: np.ndarray,
    power_standby_kW: float,
    power_crankcase_kW: float,
    power_off_kW: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Auxiliary energy at zero load: standby, crankcase heater, off mode, kWh (TP-12 eqs. 24–26)."""
    any_on = heating_on | water_on
    standby = np.where(any_on, time_idle_h * power_standby_kW, 0.0)
    crankcase = np.where(heating_on, time_idle_h * power_crankcase_kW, 0.0)
    off = np.where(any_on, 0.0, timestep_h * power_off_kW)
    return standby, crankcase, off


def ventilation_throughput_factor(
    timestep_h: float, time_running_total_h: np.ndarray, overventilation_ratio: float
) -> np.ndarray:
    """Mechanical ventilation throughput factor F_mv of an exhaust-air heat pump (TP-12 §3)."""
    return ((timestep_h - time_running_total_h) + overventilation_ratio * time_running_total_h) / timestep_h


def overventilation_ratio(lowest_tested_air_flow_l_per_s: float, throughput_l_per_s: float) -> float:
    """R_hp: air the heat pump needs over what the ventilation gives, at least 1 (TP-12 §3)."""
    return max(1.0, lowest_tested_air_flow_l_per_s / throughput_l_per_s)


def heat_pump_cost_effective(
    cop: np.ndarray,
    cost_hp_per_kWh: np.ndarray,
    cost_boiler_per_kWh: np.ndarray,
    boiler_efficiency: np.ndarray,
) -> np.ndarray:
    """Hybrid test: the heat pump runs while cost_hp/COP ≤ cost_boiler/η_boiler (TP-12 §5.1, hybrids)."""
    return np.asarray(cost_hp_per_kWh) / cop <= np.asarray(cost_boiler_per_kWh) / boiler_efficiency


# --- hot-water-only heat pumps (EN 16147) ----------------------------------------------------------

TEMP_FACTOR_VESSEL = 0.6 * 0.9  # daily vessel temperature variation × separate DHW time control (eq. 27)
HOURS_PER_DAY = 24.0
DAILY_VOLUME_M_L = 100.2  # SAP 10.2 N3.7: below this, profile M alone; above 199.8, profile L alone
DAILY_VOLUME_L_L = 199.8


def hot_water_only_efficiency(
    cop_dhw: float,
    energy_tapping_profile_kWh: float,
    energy_input_measured_kWh: float,
    power_standby_kW: float,
    vessel_loss_daily_kWh: float,
) -> float:
    """SPF of a hot-water-only heat pump for one EN 16147 tapping profile, as a ratio (TP-12 eq. 27 / 100).

    Removes the test vessel's losses (tested at 45 K) so that the tank modelled separately counts once.
    """
    demand = energy_tapping_profile_kWh + vessel_loss_daily_kWh * TEMP_FACTOR_VESSEL
    energy_input = (
        energy_input_measured_kWh
        - power_standby_kW * HOURS_PER_DAY * TEMP_FACTOR_VESSEL
        + vessel_loss_daily_kWh / cop_dhw * TEMP_FACTOR_VESSEL
    )
    return demand / energy_input


def hot_water_only_spf(efficiency_M: float, efficiency_L: float | None, daily_volume_l: float) -> float:
    """SPF for the dwelling's daily hot water volume: profile M, or M and L interpolated (TP-12 eq. 27)."""
    if efficiency_L is None or daily_volume_l <= DAILY_VOLUME_M_L:
        return efficiency_M
    if daily_volume_l >= DAILY_VOLUME_L_L:
        return efficiency_L
    return efficiency_M + (efficiency_L - efficiency_M) / (DAILY_VOLUME_L_L - DAILY_VOLUME_M_L) * (
        daily_volume_l - DAILY_VOLUME_M_L
    )
