"""Real products from the packaged Heat Pump Keymark table: EN 14825 records and a working model."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES, hpsup
from tp12_reference import KEYMARK_CSV

from app.config import load_site
from app.tp12 import HeatPumpModel, HeatPumpSpec, SourceType
from app.tp12.keymark import KeymarkError, find_product, keymark_records, package_table, records_for

VAILLANT = ("Vaillant", "VWL 105/5 AS + VWL 127/5 IS")


def _by(records, design: float) -> dict[str, object]:
    return {r.test_letter: r for r in records if r.design_flow_temp == design}


def test_a_real_product_gives_records_A_to_D_and_F_at_35_and_55() -> None:
    records = keymark_records(*VAILLANT, SourceType.OUTSIDE_AIR)
    for design, outlets in ((35.0, (34, 30, 27, 24)), (55.0, (52, 42, 36, 30))):
        by = _by(records, design)
        assert sorted(by) == ["A", "B", "C", "D", "F"]
        assert [by[x].temp_test for x in "ABCD"] == [-7.0, 2.0, 7.0, 12.0]
        assert [by[x].temp_outlet for x in "ABCD"] == list(outlets)
        assert [by[x].temp_source for x in "ABCD"] == [-7.0, 2.0, 7.0, 12.0]  # air source: outdoor air
        assert by["F"].temp_test == -7.0 and by["F"].temp_outlet == by["A"].temp_outlet  # Tbiv = −7 °C
    assert _by(records, 35.0)["A"].capacity == 10.18 and _by(records, 55.0)["C"].cop == 4.27


def test_bivalent_outlet_temperature_is_interpolated_on_the_standard_curve() -> None:
    records = keymark_records("BAXI Climatización", "PBM3-i 20", SourceType.OUTSIDE_AIR)  # Tbiv −5 °C
    assert _by(records, 35.0)["F"].temp_test == -5.0
    assert _by(records, 35.0)["F"].temp_outlet == pytest.approx(34 + (30 - 34) * 2 / 9)
    assert _by(records, 55.0)["F"].temp_outlet == pytest.approx(52 + (42 - 52) * 2 / 9)
    cold = keymark_records("Mitsubishi Electric", "SUZ-SHWM30VAH + EHST17D-*M*D", SourceType.OUTSIDE_AIR)
    assert _by(cold, 35.0)["F"].temp_test == -10.0 and _by(cold, 35.0)["F"].temp_outlet == 35.0


def test_brine_water_product_uses_fixed_brine_temperature() -> None:
    records = records_for(find_product("Vaillant", "VWF 117/4"))
    assert {r.temp_source for r in records} == {0.0}
    with pytest.raises(KeymarkError, match="source Ground.*source_type OutsideAir"):
        keymark_records("Vaillant", "VWF 117/4", SourceType.OUTSIDE_AIR)


def test_missing_cdh_takes_the_en14825_default() -> None:
    records = keymark_records("DAIKIN", "EPRA18DV37 / ETBH16E(6V/9W)7", SourceType.OUTSIDE_AIR)
    assert _by(records, 35.0)["A"].degradation_coeff == 0.9
    assert _by(records, 35.0)["B"].degradation_coeff == 1.0


@pytest.mark.parametrize(
    ("manufacturer", "model", "message"),
    [
        ("Vailant", "VWL 105/5 AS + VWL 127/5 IS", "did you mean: Vaillant"),
        ("Vaillant", "VWL 105/5 AS + VWL 127/6 IS", "did you mean: VWL 105/5 AS"),
        ("Electric", "anything", "ambiguous"),
    ],
)
def test_unknown_or_ambiguous_names_are_clear_errors(manufacturer: str, model: str, message: str) -> None:
    with pytest.raises(KeymarkError, match=message):
        find_product(manufacturer, model)


def test_model_from_keymark_predicts_from_the_declared_data() -> None:
    hp = HeatPumpModel.from_keymark(
        *VAILLANT, modulating_control=True, min_modulation_rate_35=0.3, min_modulation_rate_55=0.35
    )
    assert hp.spec.temp_lower_operating_limit == -10.0 and hp.spec.power_standby == pytest.approx(0.017)
    # At test point A (−7 °C outdoor, 34 °C flow, 5 K spread) the model returns the declared COP.
    assert float(hp.cop(-7.0, 34.0, 5.0)) == pytest.approx(2.83, rel=1e-9)
    assert float(hp.capacity_kw(-7.0, 34.0)) == pytest.approx(10.18, rel=1e-9)


def test_site_file_heat_pump_builds_a_model() -> None:
    site = load_site(EXAMPLES / "school.yaml")
    settings = site.heat_pumps[0].tp12.model_dump(exclude_none=True)
    hp = HeatPumpModel(HeatPumpSpec.model_validate(settings))
    assert 2.0 < float(hp.cop(-7.0, 45.0)) < 4.0
    named = HeatPumpSpec.model_validate(
        {
            **{k: v for k, v in settings.items() if k != "test_data"},
            "keymark": {"manufacturer": VAILLANT[0], "model": VAILLANT[1]},
        }
    )
    assert HeatPumpModel(named).data.design_flow_temps_C.tolist() == [35.0, 55.0]


@pytest.mark.skipif(not KEYMARK_CSV.is_file(), reason=f"Keymark source table not found at {KEYMARK_CSV}")
def test_packaged_table_is_the_source_table(tmp_path: Path) -> None:
    rebuilt = tmp_path / "table.csv.gz"
    package_table(KEYMARK_CSV, rebuilt)
    packaged = (
        Path(__file__).resolve().parents[1]
        / "app"
        / "tp12"
        / "data"
        / rebuilt.name.replace("table", "keymark_en14825_average_35_55")
    )
    assert gzip.decompress(rebuilt.read_bytes()) == gzip.decompress(packaged.read_bytes())
    with KEYMARK_CSV.open(newline="", encoding="utf-8") as handle:
        source = [row for row in csv.DictReader(handle) if row["title"] == VAILLANT[1]]
    records = keymark_records(*VAILLANT, SourceType.OUTSIDE_AIR)
    for row in source:
        by = _by(records, float(row["flow_temp_C"]))
        assert [by[x].capacity for x in "ABCD"] == [float(row[f"{x}_Pdh"]) for x in "ABCD"]
        assert np.isclose(by["F"].cop, float(row["F_Tbiv_COP"]))


def test_cli_lists_products() -> None:
    done = hpsup("tp12", "keymark", "VWL 105/5 AS +")
    assert done.returncode == 0 and VAILLANT[1] in done.stdout
    assert hpsup("tp12", "keymark", "no such heat pump anywhere").returncode == 1
