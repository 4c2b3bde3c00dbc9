"""Heat pump performance under operating conditions: HEM-TP-12 §2 (source temperature, COP, capacity, Cdh).

Pure functions over numpy arrays of operating points (one element per timestep or query). Temperatures
are in kelvin unless a name says ``_C``. Where EN 14825 data exist for more than one design flow
temperature, each quantity is computed per design flow temperature and then interpolated linearly in
the operating flow temperature, clamped outside the tested range (TP-12 §2.2–2.4); see
:class:`FlowTempWeights`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.tp12.testdata import C_TO_K, En14825Data, carnot_cop

TEMP_DIFF_LIMIT_LOW_K = 6.0  # minimum lift at operating conditions (CALCM-01 §4.5.3)
TEMP_DIFF_CONDENSER_K = 5.0  # EN 15316-4-2 Table D1 (TP-12 eq. 8)
TEMP_DIFF_EVAPORATOR_AIR_K = 15.0
TEMP_DIFF_EVAPORATOR_LIQUID_K = 10.0
GROUND_SOURCE_MIN_C = 0.0
GROUND_SOURCE_MAX_C = 8.0


def _exergy_power(ratio: np.ndarray) -> np.ndarray:
    """ratio**n_exer with n_exer = 3 (EN 15316-4-2 Table 9), as plain products so every element of an
    array rounds exactly as a lone value does (vectorised and step-by-step runs agree bit for bit)."""
    return ratio * ratio * ratio


# --- source temperature (TP-12 §2.1) ----------------------------------------------------------------


def ground_source_temperature_C(temp_ext_C: np.ndarray) -> np.ndarray:
    """Brine temperature of a ground-source heat pump, °C: 0.25806·T_o + 2.8387 in [0, 8] (TP-12 eq. 1)."""
    return np.maximum(GROUND_SOURCE_MIN_C, np.minimum(GROUND_SOURCE_MAX_C, np.asarray(temp_ext_C) * 0.25806 + 2.8387))


def exhaust_air_mixed_source_temperature_C(
    temp_ext_C: np.ndarray,
    temp_internal_C: np.ndarray,
    ext_air_ratio: float,
    max_temp_ext_C: float,
    min_temp_mixed_C: float,
) -> np.ndarray:
    """Mixed exhaust/outside air at the evaporator, °C (TP-12 §2.1, exhaust air mixed).

    Outside air is blended in at ``ext_air_ratio``; only indoor air is used when the outside air is
    warmer than ``max_temp_ext_C`` or the blend would be colder than ``min_temp_mixed_C``.
    """
    temp_ext_C = np.asarray(temp_ext_C, dtype=float)
    temp_internal_C = np.asarray(temp_internal_C, dtype=float)
    mixed = ext_air_ratio * temp_ext_C + (1.0 - ext_air_ratio) * temp_internal_C
    use_internal = (temp_ext_C > max_temp_ext_C) | (mixed < min_temp_mixed_C)
    return np.where(use_internal, temp_internal_C, mixed)


# --- interpolation between design flow temperatures ------------------------------------------------


@dataclass(frozen=True)
class FlowTempWeights:
    """Where each operating flow temperature falls between the tested design flow temperatures.

    A value known per design flow temperature — ``N`` constants, or ``N`` arrays over the operating
    points — is interpolated as ``v[lo] + w·(v[lo + 1] − v[lo])`` with ``w`` clamped to [0, 1] (the
    form of ``numpy.interp``: equal end values give exactly that value); with a single design flow
    temperature it is used as it is.
    """

    lo: np.ndarray | None  # None with one or two design flow temperatures
    w: np.ndarray | None  # None with one design flow temperature

    def __call__(self, values: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        if self.w is None:
            return values[0]
        if self.lo is None:
            v0, v1 = values[0], values[1]
        else:
            v0, v1 = np.choose(self.lo, values), np.choose(self.lo + 1, values)
        return v0 + self.w * (v1 - v0)


def flow_temp_weights(data: En14825Data, temp_output_K: np.ndarray) -> FlowTempWeights:
    """Interpolation weights in flow temperature (°C) over the design flow temperatures of ``data``."""
    dfts = data.design_flow_temps_C
    if len(dfts) == 1:
        return FlowTempWeights(lo=None, w=None)
    temp_C = np.asarray(temp_output_K, dtype=float) - C_TO_K
    if len(dfts) == 2:
        lo = None
        w = np.clip((temp_C - dfts[0]) / (dfts[1] - dfts[0]), 0.0, 1.0)
    else:
        lo = np.clip(np.searchsorted(dfts, temp_C, side="right") - 1, 0, len(dfts) - 2)
        w = np.clip((temp_C - dfts[lo]) / (dfts[lo + 1] - dfts[lo]), 0.0, 1.0)
    return FlowTempWeights(lo=lo, w=w)


# --- COP, exergetic path (TP-12 eqs. 4–8, 11) -------------------------------------------------------


def exergy_scaling(data: En14825Data, temp_source_K: np.ndarray, temp_output_K: np.ndarray) -> list[np.ndarray]:
    """[(θ_out,cld/θ_in,cld) / (θ_out/θ_in)]^n_exer per design flow temperature (TP-12 eqs. 6 and 10)."""
    return [
        _exergy_power((outlet_cld * temp_source_K) / (temp_output_K * source_cld))
        for outlet_cld, source_cld in zip(data.temp_outlet_cld_K.tolist(), data.temp_source_cld_K.tolist(), strict=True)
    ]


def exergetic_load_ratio(
    data: En14825Data, weights: FlowTempWeights, carnot_cop_op: np.ndarray, scaling: list[np.ndarray]
) -> np.ndarray:
    """Exergetic load ratio at operating conditions, at least 1 per design flow temperature (TP-12 eq. 6)."""
    return weights(
        [
            np.maximum(1.0, (carnot_cop_op / carnot_cld) * scaled)
            for carnot_cld, scaled in zip(data.carnot_cop_cld.tolist(), scaling, strict=True)
        ]
    )


@dataclass(frozen=True)
class LoadRatioBrackets:
    """Test records either side of the operating exergetic load ratio, interpolated in flow temperature."""

    lr_below: np.ndarray
    lr_above: np.ndarray
    eff_below: np.ndarray
    eff_above: np.ndarray
    deg_coeff_below: np.ndarray
    deg_coeff_above: np.ndarray


def load_ratio_brackets(data: En14825Data, weights: FlowTempWeights, load_ratio: np.ndarray) -> LoadRatioBrackets:
    """Nearest test load ratios below/above ``load_ratio`` with their efficiencies and Cdh (TP-12 eqs. 7, 11).

    In test-temperature order, the first record whose theoretical load ratio exceeds the operating one
    and its predecessor bracket it; beyond the last record the last two are used (extrapolation).
    """
    below: list[list[np.ndarray]] = []
    above: list[list[np.ndarray]] = []
    for s in data.sets:
        idx = _first_record_above(s.theoretical_load_ratio, s.load_ratios_ascending, load_ratio)
        below.append([np.take(row, idx - 1) for row in s.bracket_table])
        above.append([np.take(row, idx) for row in s.bracket_table])
    lr_b, eff_b, cdh_b = (weights([rows[k] for rows in below]) for k in range(3))
    lr_a, eff_a, cdh_a = (weights([rows[k] for rows in above]) for k in range(3))
    return LoadRatioBrackets(lr_b, lr_a, eff_b, eff_a, cdh_b, cdh_a)


def _first_record_above(theoretical_lr: np.ndarray, ascending: bool, load_ratio: np.ndarray) -> np.ndarray:
    """Index of the first record (from the second) whose load ratio exceeds ``load_ratio``; else the last."""
    last = len(theoretical_lr) - 1
    if ascending:  # count the records at or below: cheaper than a search for five records
        idx = np.ones(len(load_ratio), dtype=np.intp)
        for value in theoretical_lr[1:last]:
            idx += load_ratio >= value
        return idx
    above_mask = theoretical_lr[None, :] > load_ratio[:, None]
    first = above_mask.argmax(axis=1)
    found = above_mask[np.arange(len(first)), first]
    return np.maximum(np.where(found, first, last), 1)


def interpolate_in_load_ratio(
    load_ratio: np.ndarray,
    lr_below: np.ndarray,
    lr_above: np.ndarray,
    value_below: np.ndarray,
    value_above: np.ndarray,
) -> np.ndarray:
    """Linear interpolation between bracketing test records in exergetic load ratio (TP-12 eqs. 7 and 11)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return value_below + (value_below - value_above) * (load_ratio - lr_below) / (lr_below - lr_above)


def degradation_coefficient(
    load_ratio: np.ndarray, brackets: LoadRatioBrackets, lower: float, upper: float
) -> np.ndarray:
    """Cdh at operating conditions, clamped to [lower, upper] (TP-12 eq. 11, §4.3 and §6.1 limits)."""
    same = brackets.lr_below == brackets.lr_above
    interpolated = interpolate_in_load_ratio(
        load_ratio, brackets.lr_below, brackets.lr_above, brackets.deg_coeff_below, brackets.deg_coeff_above
    )
    cdh = np.where(same, brackets.deg_coeff_below, interpolated)
    return np.maximum(np.minimum(cdh, upper), lower)


def temp_spread_correction(
    data: En14825Data,
    weights: FlowTempWeights,
    temp_source_K: np.ndarray,
    temp_output_K: np.ndarray,
    temp_diff_evaporator_K: float,
    temp_spread_emitter_K: np.ndarray | float,
) -> np.ndarray:
    """Correction of COP for the emitter temperature spread differing from the test spread (TP-12 eq. 8)."""
    return weights(
        [
            1.0
            - ((spread_test - temp_spread_emitter_K) / 2.0)
            / (temp_output_K - spread_test / 2.0 + TEMP_DIFF_CONDENSER_K - temp_source_K + temp_diff_evaporator_K)
            for spread_test in data.temp_spread_test_K.tolist()
        ]
    )


# --- COP, regression path (TP-12 eqs. 2–3) ---------------------------------------------------------


def cop_regression(
    data: En14825Data,
    weights: FlowTempWeights,
    temp_ext_C: np.ndarray,
    temp_source_K: np.ndarray,
    temp_output_K: np.ndarray,
) -> np.ndarray:
    """COP from the quadratic fit in outdoor temperature, corrected to operating conditions (TP-12 eqs. 2–3).

    For heat pumps tested at fixed source and flow temperatures; the lift under operating conditions
    is floored at 6 K. The temperature-spread correction is applied by the caller.
    """
    lift_op = np.maximum(temp_output_K - temp_source_K, TEMP_DIFF_LIMIT_LOW_K)
    temp_ext_squared = temp_ext_C * temp_ext_C
    return weights(
        [
            (c0 + c1 * temp_ext_C + c2 * temp_ext_squared)
            * temp_output_K
            * (outlet_cld - source_cld)
            / (outlet_cld * lift_op)
            for (c0, c1, c2), outlet_cld, source_cld in zip(
                data.regression_coeffs.tolist(),
                data.temp_outlet_cld_K.tolist(),
                data.temp_source_cld_K.tolist(),
                strict=True,
            )
        ]
    )


# --- thermal capacity (TP-12 §2.3) -----------------------------------------------------------------


def capacity_variable_speed(data: En14825Data, weights: FlowTempWeights, scaling: list[np.ndarray]) -> np.ndarray:
    """Capacity of a variable-capacity heat pump, kW, scaled from the coldest test (TP-12 eq. 10)."""
    return weights([cap_cld * scaled for cap_cld, scaled in zip(data.capacity_cld_kW.tolist(), scaling, strict=True)])


def capacity_fixed_speed(
    data: En14825Data, weights: FlowTempWeights, temp_source_K: np.ndarray, temp_output_K: np.ndarray
) -> np.ndarray:
    """Capacity of a fixed-capacity heat pump, kW: linear in lift between coldest test and D (TP-12 eq. 9)."""
    lift_op = temp_output_K - temp_source_K
    return weights(
        [
            cap_cld + (cap_D - cap_cld) * ((lift_cld - lift_op) / (lift_cld - lift_D))
            for cap_cld, cap_D, lift_cld, lift_D in zip(
                data.capacity_cld_kW.tolist(),
                data.capacity_D_kW.tolist(),
                (data.temp_outlet_cld_K - data.temp_source_cld_K).tolist(),
                (data.temp_outlet_D_K - data.temp_source_D_K).tolist(),
                strict=True,
            )
        ]
    )


def operating_carnot_cop(temp_source_K: np.ndarray, temp_output_K: np.ndarray) -> np.ndarray:
    """Carnot COP at operating conditions with the 6 K minimum lift (TP-12 eq. 5)."""
    return carnot_cop(temp_source_K, temp_output_K, TEMP_DIFF_LIMIT_LOW_K)
