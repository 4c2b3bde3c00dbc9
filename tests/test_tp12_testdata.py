"""EN 14825 test data: derived quantities, duplicate handling, and clear errors for bad data."""

from __future__ import annotations

import math

import numpy as np
import pydantic
import pytest
from tp12_reference import SET_35

from app.tp12 import En14825Record, HeatPumpModel, HeatPumpSpec, TestDataError
from app.tp12.testdata import interpolate_air_flow_rate, prepare_test_data


def _records(rows: list[dict]) -> list[En14825Record]:
    return [En14825Record(**r) for r in rows]


def test_derived_quantities_follow_their_definitions() -> None:
    data = prepare_test_data(_records(SET_35))
    s = data.sets[0]
    assert s.letters[:2] == ("A", "F")  # sorted by test temperature, the duplicate after the original
    carnot_B = (30 + 273.15) / (30 - 2)
    i_B = s.letters.index("B")
    assert s.carnot_cop[i_B] == pytest.approx(carnot_B, rel=1e-14)
    assert s.exergetic_efficiency[i_B] == pytest.approx(4.9 / carnot_B, rel=1e-14)
    # Theoretical load ratio relative to the coldest record (TP-12 eq. 6 at test conditions).
    carnot_A = (34 + 273.15) / (34 + 7)
    expected_lr = carnot_B / carnot_A * ((34 + 273.15) * (2 + 273.15) / ((-7 + 273.15) * (30 + 273.15))) ** 3
    assert s.theoretical_load_ratio[i_B] == pytest.approx(expected_lr, rel=1e-13)
    assert s.theoretical_load_ratio[0] == 1.0
    assert data.average_degradation_coeff[0] == pytest.approx((0.9 + 0.9 + 0.9 + 0.95) / 4)
    assert data.average_capacity_kW[0] == pytest.approx((8.4 + 8.3 + 8.3 + 8.2) / 4)
    assert data.temp_spread_test_K[0] == 5.0
    c0, c1, c2 = data.regression_coeffs[0]
    fitted = np.polynomial.polynomial.polyval(s.temp_test_C, [c0, c1, c2])
    assert np.sum((fitted - s.cop) ** 2) < np.sum((np.mean(s.cop) - s.cop) ** 2)  # a least-squares fit


def test_duplicate_test_temperature_is_offset_so_brackets_stay_distinct() -> None:
    s = prepare_test_data(_records(SET_35)).sets[0]
    assert s.temp_test_C[1] - s.temp_test_C[0] == pytest.approx(1e-10, rel=1e-3)
    assert s.theoretical_load_ratio[1] > s.theoretical_load_ratio[0]


def test_exhaust_air_records_are_interpolated_in_air_flow_rate() -> None:
    rows = [{**r, "air_flow_rate": 100.0} for r in SET_35] + [
        {**r, "air_flow_rate": 200.0, "cop": r["cop"] + 1.0} for r in SET_35
    ]
    lowest, records = interpolate_air_flow_rate(_records(rows), 150.0)
    assert lowest == 100.0
    assert sorted(r.cop for r in records if r.test_letter == "B") == [pytest.approx(5.4)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: rows[:2] + rows[3:], "missing C"),
        (lambda rows: rows[:4], "missing F"),
        (lambda rows: [{**r, "design_flow_temp": 50} for r in rows], "design_flow_temp' is 50"),
        (lambda rows: rows + [{**rows[1], "test_letter": "B"}], "letter 'B' appears in records 1, 5"),
    ],
)
def test_bad_test_data_names_the_record_and_field(change, message) -> None:
    with pytest.raises(TestDataError, match=message):
        prepare_test_data(_records(change([dict(r) for r in SET_35])))


def test_nan_in_a_record_is_rejected_naming_record_and_field() -> None:
    rows = [dict(r) for r in SET_35]
    rows[2]["cop"] = math.nan
    with pytest.raises(pydantic.ValidationError) as err:
        HeatPumpSpec(test_data=rows)
    assert "test_data.2.cop" in str(err.value)
    # Records built without validation are still caught by the model's own check.
    bad = [En14825Record.model_construct(**r) for r in rows]
    with pytest.raises(TestDataError, match=r"record 2 \(letter 'C'.*'cop' is nan"):
        prepare_test_data(bad)


def test_fewer_than_five_records_is_rejected() -> None:
    with pytest.raises(TestDataError, match="design flow 35 °C: 4 records"):
        HeatPumpModel.from_records(SET_35[:4])


def test_55_degree_data_of_a_modulating_unit_needs_its_rate() -> None:
    rows = SET_35 + [{**r, "design_flow_temp": 55, "temp_outlet": r["temp_outlet"] + 18} for r in SET_35]
    with pytest.raises(TestDataError, match="min_modulation_rate_55"):
        HeatPumpModel.from_records(rows, modulating_control=True, min_modulation_rate_35=0.3)
