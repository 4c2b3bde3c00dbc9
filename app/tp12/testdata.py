"""EN 14825 test data → the derived, time-independent quantities TP-12 interpolates between.

For each design flow temperature the records A–D and F are checked, sorted by test temperature and
turned into arrays: Carnot COP and exergetic efficiency of each record, the theoretical (exergetic)
load ratio relative to the coldest record (TP-12 eq. 6 at test conditions), the quadratic regression
of COP on test temperature (eq. 2), the average Cdh and capacity over A–D, and the condenser
temperature spread at test conditions (EN 15316-4-2 Table D1 as used by HEM).

Duplicate test temperatures (typically F at the same temperature as A) are kept, as HEM and the
DAHPSE implementation do: each later duplicate gets 1e-10 K added to its test and source temperature
per earlier record it duplicates, so the load-ratio brackets stay distinct.

Exhaust-air heat pumps declare test data at several air flow rates; :func:`interpolate_air_flow_rate`
interpolates capacity, COP and Cdh to the ventilation throughput before anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import polynomial

from app.tp12.records import En14825Record

C_TO_K = 273.15
N_EXER = 3.0
TEST_LETTERS = ("A", "B", "C", "D", "F")
NON_BIVALENT_LETTERS = ("A", "B", "C", "D")
# Condenser temperature spread at test conditions by design flow temperature, K (TP-12 §2.2 eq. 8 inputs).
TEMP_SPREAD_TEST_CONDITIONS_K = {20.0: 5.0, 35.0: 5.0, 45.0: 6.0, 55.0: 8.0, 65.0: 10.0}
DUPLICATE_OFFSET = 1e-10


class TestDataError(ValueError):
    """EN 14825 test data that the model cannot use; the message names the record and field."""

    __test__ = False  # not a pytest class


def carnot_cop(
    temp_source_K: np.ndarray | float,
    temp_outlet_K: np.ndarray | float,
    temp_diff_limit_low_K: float | None = None,
) -> np.ndarray:
    """Carnot COP θ_out / (θ_out − θ_in), temperatures in K (TP-12 eq. 5).

    ``temp_diff_limit_low_K`` floors the lift (6 K at operating conditions, CALCM-01 §4.5.3).
    """
    lift = np.subtract(temp_outlet_K, temp_source_K)
    if temp_diff_limit_low_K is not None:
        lift = np.maximum(lift, temp_diff_limit_low_K)
    return np.divide(temp_outlet_K, lift)


@dataclass(frozen=True)
class DesignFlowTests:
    """The records of one design flow temperature, sorted by test temperature (coldest first)."""

    design_flow_temp_C: float
    letters: tuple[str, ...]
    temp_test_C: np.ndarray
    temp_source_K: np.ndarray
    temp_outlet_K: np.ndarray
    capacity_kW: np.ndarray
    cop: np.ndarray
    degradation_coeff: np.ndarray
    carnot_cop: np.ndarray
    exergetic_efficiency: np.ndarray
    theoretical_load_ratio: np.ndarray
    regression_coeffs: np.ndarray  # c0, c1, c2 of COP = c0 + c1·T + c2·T² (T = test temperature, °C)
    index_D: int
    load_ratios_ascending: bool  # theoretical load ratios non-decreasing in test order (the usual case)
    bracket_table: np.ndarray  # rows: theoretical load ratio, exergetic efficiency, Cdh (for eqs. 7, 11)


@dataclass(frozen=True)
class En14825Data:
    """Derived EN 14825 quantities for one or more design flow temperatures (sorted ascending).

    The per-design-flow-temperature arrays (shape ``(N,)``) are what TP-12 interpolates in flow
    temperature; ``sets`` keeps the full sorted records of each design flow temperature.
    """

    sets: tuple[DesignFlowTests, ...]
    design_flow_temps_C: np.ndarray
    average_degradation_coeff: np.ndarray
    average_capacity_kW: np.ndarray
    temp_spread_test_K: np.ndarray
    regression_coeffs: np.ndarray  # (N, 3)
    temp_outlet_cld_K: np.ndarray
    temp_source_cld_K: np.ndarray
    carnot_cop_cld: np.ndarray
    capacity_cld_kW: np.ndarray
    temp_outlet_D_K: np.ndarray
    temp_source_D_K: np.ndarray
    capacity_D_kW: np.ndarray


def _describe(index: int, record: En14825Record) -> str:
    return f"test_data record {index} (letter {record.test_letter!r}, design flow {record.design_flow_temp:g} °C)"


def _check_records(records: Sequence[En14825Record]) -> dict[float, list[tuple[int, En14825Record]]]:
    """Group records by design flow temperature, in input order, after checking each one."""
    if not records:
        raise TestDataError("test_data: no EN 14825 records given")
    groups: dict[float, list[tuple[int, En14825Record]]] = {}
    for index, record in enumerate(records):
        where = _describe(index, record)
        for field in (
            "design_flow_temp",
            "temp_outlet",
            "temp_source",
            "temp_test",
            "capacity",
            "cop",
            "degradation_coeff",
        ):
            value = getattr(record, field)
            if not np.isfinite(value):
                raise TestDataError(f"{where}: field {field!r} is {value!r}; a finite number is required")
        if not record.test_letter.strip():
            raise TestDataError(f"{where}: field 'test_letter' is empty; expected A, B, C, D or F")
        if float(record.design_flow_temp) not in TEMP_SPREAD_TEST_CONDITIONS_K:
            known = ", ".join(f"{t:g}" for t in TEMP_SPREAD_TEST_CONDITIONS_K)
            raise TestDataError(
                f"{where}: field 'design_flow_temp' is {record.design_flow_temp:g}; no temperature spread at "
                f"test conditions is defined for it (known: {known} °C)"
            )
        if record.capacity <= 0 or record.cop <= 0:
            field = "capacity" if record.capacity <= 0 else "cop"
            raise TestDataError(f"{where}: field {field!r} is {getattr(record, field)!r}; it must be positive")
        if record.temp_outlet <= record.temp_source:
            raise TestDataError(
                f"{where}: field 'temp_outlet' is {record.temp_outlet:g} °C, not above temp_source "
                f"{record.temp_source:g} °C"
            )
        groups.setdefault(float(record.design_flow_temp), []).append((index, record))
    for dft, members in groups.items():
        letters = [r.test_letter for _, r in members]
        missing = [letter for letter in TEST_LETTERS if letter not in letters]
        if len(members) < len(TEST_LETTERS) or missing:
            raise TestDataError(
                f"test_data, design flow {dft:g} °C: {len(members)} records with letters "
                f"{', '.join(letters) or 'none'}; EN 14825 records A, B, C, D and F are all required"
                + (f" (missing {', '.join(missing)})" if missing else "")
            )
        for letter in NON_BIVALENT_LETTERS:
            found = [i for i, r in members if r.test_letter == letter]
            if len(found) > 1:
                raise TestDataError(
                    f"test_data, design flow {dft:g} °C: letter {letter!r} appears in records "
                    f"{', '.join(map(str, found))}; give each of A–D once"
                )
    return groups


def _offset_duplicates(members: list[tuple[int, En14825Record]]) -> list[tuple[float, float]]:
    """(temp_test, temp_source) per record after the duplicate offset, in input order."""
    adjusted: list[tuple[float, float]] = []
    for _, record in members:
        temp_test, temp_source = float(record.temp_test), float(record.temp_source)
        for earlier_test, _ in adjusted:
            if temp_test == earlier_test:
                temp_test += DUPLICATE_OFFSET
                temp_source += DUPLICATE_OFFSET
        adjusted.append((temp_test, temp_source))
    return adjusted


def _design_flow_tests(dft: float, members: list[tuple[int, En14825Record]]) -> DesignFlowTests:
    adjusted = _offset_duplicates(members)
    order = sorted(range(len(members)), key=lambda i: adjusted[i][0])  # stable, like list.sort
    records = [members[i][1] for i in order]
    temp_test = np.array([adjusted[i][0] for i in order])
    temp_source_K = np.array([adjusted[i][1] for i in order]) + C_TO_K
    temp_outlet_K = np.array([r.temp_outlet for r in records], dtype=float) + C_TO_K
    cop = np.array([r.cop for r in records], dtype=float)
    degradation_coeff = np.array([r.degradation_coeff for r in records], dtype=float)
    carnot = carnot_cop(temp_source_K, temp_outlet_K)
    # Theoretical load ratio at each test point relative to the coldest (TP-12 eq. 6 at test conditions).
    ratio = (temp_outlet_K[0] * temp_source_K) / (temp_source_K[0] * temp_outlet_K)
    theoretical_lr = (carnot / carnot[0]) * ratio**N_EXER
    letters = tuple(r.test_letter for r in records)
    return DesignFlowTests(
        design_flow_temp_C=dft,
        letters=letters,
        temp_test_C=temp_test,
        temp_source_K=temp_source_K,
        temp_outlet_K=temp_outlet_K,
        capacity_kW=np.array([r.capacity for r in records], dtype=float),
        cop=cop,
        degradation_coeff=degradation_coeff,
        carnot_cop=carnot,
        exergetic_efficiency=cop / carnot,
        theoretical_load_ratio=theoretical_lr,
        regression_coeffs=np.asarray(polynomial.polyfit(temp_test, cop, 2), dtype=float),  # TP-12 eq. 2
        index_D=letters.index("D"),
        load_ratios_ascending=bool(np.all(np.diff(theoretical_lr) >= 0.0)),
        bracket_table=np.vstack([theoretical_lr, cop / carnot, degradation_coeff]),
    )


def prepare_test_data(records: Sequence[En14825Record]) -> En14825Data:
    """Check EN 14825 records and derive the quantities TP-12 needs, per design flow temperature."""
    groups = _check_records(records)
    sets = tuple(_design_flow_tests(dft, groups[dft]) for dft in sorted(groups))

    def per_set(values: list[float]) -> np.ndarray:
        return np.array(values, dtype=float)

    def mean_A_to_D(s: DesignFlowTests, field: str) -> float:
        values = getattr(s, field)
        return sum(float(values[i]) for i, letter in enumerate(s.letters) if letter in NON_BIVALENT_LETTERS) / 4

    return En14825Data(
        sets=sets,
        design_flow_temps_C=per_set([s.design_flow_temp_C for s in sets]),
        average_degradation_coeff=per_set([mean_A_to_D(s, "degradation_coeff") for s in sets]),
        average_capacity_kW=per_set([mean_A_to_D(s, "capacity_kW") for s in sets]),
        temp_spread_test_K=per_set([TEMP_SPREAD_TEST_CONDITIONS_K[s.design_flow_temp_C] for s in sets]),
        regression_coeffs=np.array([s.regression_coeffs for s in sets]),
        temp_outlet_cld_K=per_set([s.temp_outlet_K[0] for s in sets]),
        temp_source_cld_K=per_set([s.temp_source_K[0] for s in sets]),
        carnot_cop_cld=per_set([s.carnot_cop[0] for s in sets]),
        capacity_cld_kW=per_set([s.capacity_kW[0] for s in sets]),
        temp_outlet_D_K=per_set([s.temp_outlet_K[s.index_D] for s in sets]),
        temp_source_D_K=per_set([s.temp_source_K[s.index_D] for s in sets]),
        capacity_D_kW=per_set([s.capacity_kW[s.index_D] for s in sets]),
    )


def interpolate_air_flow_rate(
    records: Sequence[En14825Record], throughput_l_per_s: float
) -> tuple[float, list[En14825Record]]:
    """Exhaust-air test data at several air flow rates → one record set at the actual throughput.

    Capacity, COP and Cdh are interpolated linearly in air flow rate (clamped at the tested range);
    returns the lowest tested air flow rate (for the overventilation ratio) and the records.
    """
    if not np.isfinite(throughput_l_per_s) or throughput_l_per_s <= 0:
        raise TestDataError(f"exhaust air throughput is {throughput_l_per_s!r} l/s; a positive number is required")
    by_rate: dict[float, dict[tuple[float, str, float, float, float], En14825Record]] = {}
    for index, record in enumerate(records):
        if record.air_flow_rate is None:
            raise TestDataError(f"{_describe(index, record)}: field 'air_flow_rate' is missing (exhaust-air source)")
        key = (
            record.design_flow_temp,
            record.test_letter,
            record.temp_outlet,
            record.temp_source,
            record.temp_test,
        )
        by_rate.setdefault(float(record.air_flow_rate), {})[key] = record
    rates = sorted(by_rate)
    first = by_rate[rates[0]]
    for rate in rates[1:]:
        if set(by_rate[rate]) != set(first):
            raise TestDataError(
                f"test_data: records at air flow rate {rate:g} l/s do not cover the same design flow "
                f"temperatures, "
                f"letters and temperatures as those at {rates[0]:g} l/s"
            )
    interpolated = []
    for key, record in first.items():

        def interp(field: str, key: tuple[float, str, float, float, float] = key) -> float:
            return float(np.interp(throughput_l_per_s, rates, [getattr(by_rate[r][key], field) for r in rates]))

        interpolated.append(
            record.model_copy(
                update={
                    "capacity": interp("capacity"),
                    "cop": interp("cop"),
                    "degradation_coeff": interp("degradation_coeff"),
                    "air_flow_rate": None,
                }
            )
        )
    return rates[0], interpolated
