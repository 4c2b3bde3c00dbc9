"""Report figures: BOPTEST discomfort, time-of-use cost, and the L8 judgement from cylinder temperatures."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import EXAMPLES

from app.config import load_site
from app.plant.kpi import _local, discomfort_kh, electricity_rates, l8_assessment
from app.plant.plant import Plant
from app.plant.weather import builtin

SITE = load_site(EXAMPLES / "school.yaml")


def test_discomfort_reproduces_boptest_from_its_own_trajectory(shared_dir: Path) -> None:
    """BOPTEST bestest_hydronic_heat_pump, peak heat day: tdis from the published trajectory and bounds."""
    folder = shared_dir / "boptest"
    traj = np.genfromtxt(folder / "results_peak_heat_day.csv", delimiter=",", names=True)
    bounds = np.genfromtxt(folder / "comfort_bounds.csv", delimiter=",", names=True)
    with open(folder / "kpis_peak_heat_day_constant.csv") as f:
        official = {row["keys"]: row["value"] for row in csv.DictReader(f)}
    t0 = 1_382_400.0   # day 16: the scenario's test window, two days long
    window = (traj["time"] >= t0) & (traj["time"] <= t0 + 2 * 86400)
    t = traj["time"][window]
    lower = np.interp(t, bounds["time"], bounds["LowerSetp1"])
    upper = np.interp(t, bounds["time"], bounds["UpperSetp1"])
    tdis = discomfort_kh(t, traj["reaTZon_y"][window], lower, upper)
    assert tdis == pytest.approx(1.1949, abs=5e-4)       # the subsampled trajectory
    assert tdis == pytest.approx(float(official["tdis_tot"]), rel=5e-3)   # the full-resolution official KPI


def test_discomfort_counts_both_sides_of_the_band() -> None:
    t = np.array([0.0, 3600.0, 7200.0])
    assert discomfort_kh(t, np.array([19.0, 19.0, 19.0]), np.full(3, 20.0), np.full(3, 24.0)) == pytest.approx(2.0)
    assert discomfort_kh(t, np.array([26.0, 26.0, 26.0]), np.full(3, 20.0), np.full(3, 24.0)) == pytest.approx(4.0)
    assert discomfort_kh(t, np.array([21.0, 22.0, 23.0]), np.full(3, 20.0), np.full(3, 24.0)) == 0.0


def test_time_of_use_rates_follow_local_time() -> None:
    plant = Plant(SITE, builtin(), datetime(2024, 6, 3, 14, 0, tzinfo=UTC), 6)   # a Monday, BST
    t_s = np.arange(0, 5 * 3600, 1800.0)
    weekday, minute = _local(plant, t_s, __import__("zoneinfo").ZoneInfo("Europe/London"))
    rates = electricity_rates(SITE.tariffs, weekday, minute)
    local_hours = (minute // 60).tolist()
    assert local_hours[0] == 15 and weekday[0] == 0
    peak = SITE.tariffs.electricity.periods[0].rate_gbp_per_kwh
    base = SITE.tariffs.electricity.unit_rate_gbp_per_kwh
    assert [r == peak for r in rates] == [16 <= h < 19 for h in local_hours]
    assert set(rates.tolist()) == {peak, base}


def test_l8_is_judged_from_the_cylinder_not_the_controller() -> None:
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)   # a Monday; pasteurisation is Sunday 22:00
    plant = Plant(SITE, builtin(), start, 7 * 24 + 6)
    cyl = plant.cylinder
    plant.controls["hp1"].bms_control = True   # the heat pump stays off: only the immersion heats the store
    for i in range(7 * 24 * 60 + 5 * 60):
        t = plant.now
        hour = t.hour + t.minute / 60
        boost = 4 <= hour < 6 and t.day != 10                  # Wednesday's boost never runs
        pasteurise = t.weekday() == 6 and hour >= 22            # Sunday night: the immersion heats it all
        plant.immersion_on = boost or pasteurise
        plant.step(60)
        if i == 0:
            cyl.temps[:] = [50.0] * len(cyl.temps)
    counts = l8_assessment(SITE, plant, np.asarray(plant.trace.t_s))
    assert counts["boosts_run"] == 7 - 1 and counts["boosts_ok"] <= counts["boosts_run"]
    assert counts["pasteurisations_run"] == 1 and counts["pasteurisations_ok"] == 1
    assert counts["immersion_fallbacks"] == counts["boosts_run"] + 1
    assert counts["failures"] == 8 - counts["boosts_ok"] - counts["pasteurisations_ok"]
    assert counts["failures"] >= 1   # the missed Wednesday
