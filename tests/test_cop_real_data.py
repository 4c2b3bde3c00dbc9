"""The Hanlon / Vaillant aroTHERM plus data set: raw app exports and the combined daily table."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.monitoring.figures import summary
from app.monitoring.intervals import MeteringConfig
from app.monitoring.parsers import load, read_daily_energy

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hanlon_vaillant"
pytestmark = pytest.mark.skipif(
    not DATA.is_dir(), reason="reference data ../shared/data/hanlon_vaillant not present"
)
UTC = ZoneInfo("UTC")
COLS = ("ConsumedElectricalEnergy:Heating", "ConsumedElectricalEnergy:DomesticHotWater",
        "HeatGenerated:Heating", "HeatGenerated:DomesticHotWater")


def _truth() -> dict[str, dict[str, float]]:
    """Σ per year and overall, read from the combined table with the csv module alone."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    with (DATA / "daily_energy_combined_2023-2025.csv").open() as fh:
        for row in csv.DictReader(fh):
            for key in (row["DateTime"][:4], "all"):
                for c in COLS:
                    sums[key][c] += float(row[c]) / 1000
                sums[key]["days"] += 1
    return sums


def _check(report: dict, truth: dict[str, float]) -> None:
    heat = truth[COLS[2]] + truth[COLS[3]]
    elec = truth[COLS[0]] + truth[COLS[1]]
    assert report["heat_kwh"] == pytest.approx(heat, abs=1e-3)
    assert report["elec_kwh"] == pytest.approx(elec, abs=1e-3)
    assert report["spf"] == pytest.approx(heat / elec, abs=5e-4)
    assert report["spf_space"] == pytest.approx(truth[COLS[2]] / truth[COLS[0]], abs=5e-4)
    assert report["spf_dhw"] == pytest.approx(truth[COLS[3]] / truth[COLS[1]], abs=5e-4)
    assert report["days"] == truth["days"]


@pytest.mark.parametrize("source", ["raw", "daily_energy_combined_2023-2025.csv", "."])
def test_seasonal_and_yearly_figures_equal_sum_heat_over_sum_electricity(source: str) -> None:
    report = summary(load(DATA / source, UTC, MeteringConfig()).intervals, UTC)
    truth = _truth()
    _check(report, truth["all"])
    assert report["spf"] == pytest.approx(3.45, abs=0.01)
    assert set(report["by_year"]) == {"2023", "2024", "2025"}
    for year, fig in report["by_year"].items():
        _check(fig, truth[year])


def test_missing_days_are_marked_bad_not_dropped() -> None:
    with (DATA / "daily_energy_combined_2023-2025.csv").open() as fh:
        present = {date.fromisoformat(r["DateTime"]) for r in csv.DictReader(fh)}
    first, last = min(present), max(present)
    absent = {first + timedelta(days=i) for i in range((last - first).days + 1)} - present
    report = summary(load(DATA / "raw", UTC, MeteringConfig()).intervals, UTC)
    assert report["bad_interval_count"] == len(absent)
    marked = sum(s["intervals"] for s in report["bad_intervals"] if s["reason"] == "missing day")
    assert marked == len(absent)
    assert sum(s["intervals"] for s in report["by_year"]["2025"]["bad_intervals"]) == sum(
        d.year == 2025 for d in absent
    ) == 126


def test_raw_2023_export_has_one_column_block_per_month_read_by_name() -> None:
    path = next((DATA / "raw" / "2023").glob("energy_data_*.csv"))
    days = read_daily_energy(path)
    assert len(days) == 173 and days[0].day == date(2023, 7, 12)
    aug3 = next(d for d in days if d.day == date(2023, 8, 3))  # the August block, columns 7–12
    got = (aug3.elec_space, aug3.elec_dhw, aug3.heat_space, aug3.heat_dhw)
    assert got == pytest.approx((1.0, 1.1731, 1.0, 5.5186), abs=1e-9)
    rounded = sum(all(v is not None and v == round(v) for v in (d.elec_space, d.elec_dhw)) for d in days)
    assert rounded > 50  # many days carry the 1 kWh rounding, read as they are
