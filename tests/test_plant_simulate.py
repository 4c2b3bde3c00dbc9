"""`hpsup simulate` and `hpsup demo`: the school's winter and spring under each strategy, and the report.

The season runs once per module at 5-minute steps (the benchmark runs the 1-minute case).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES, hpsup

from app.config import load_site
from app.plant.simulate import STRATEGIES, Simulation, simulate
from app.plant.weather import builtin

SITE = load_site(EXAMPLES / "school.yaml")
START = datetime(2024, 1, 1, tzinfo=UTC)
SEASON_DAYS = 182
STEP_S = 300.0
REPORT_KEYS = {"heat_hp_kwh", "heat_boiler_kwh", "heat_immersion_kwh", "elec_hp_kwh", "elec_total_kwh", "gas_kwh",
               "scop_h1", "scop_h4", "cost_gbp", "carbon_kg", "discomfort_kh", "hours_boiler_on_above_crossover", "l8"}
L8_KEYS = {"boosts_run", "boosts_ok", "pasteurisations_run", "pasteurisations_ok", "immersion_fallbacks", "failures"}


@pytest.fixture(scope="module")
def season() -> dict[str, Simulation]:
    weather = builtin()
    return {s: simulate(SITE, s, START, SEASON_DAYS, STEP_S, weather) for s in STRATEGIES}


def test_report_has_every_figure(season: dict[str, Simulation]) -> None:
    for run in season.values():
        assert REPORT_KEYS <= set(run.report) and set(run.report["l8"]) == L8_KEYS
        json.dumps(run.report)   # JSON as it is


# -- the supervisor against the case study's own numbers ----------------------------------------------
def test_supervisor_heat_pump_runs_at_the_case_studys_cop(season: dict[str, Simulation]) -> None:
    r = season["supervisor"].report
    assert r["scop_h1"] >= 3.2   # the heat pump unit itself: the case study's measured 3.2
    assert r["heat_hp_kwh"] > r["heat_boiler_kwh"]   # the heat pump leads


def test_supervisor_never_fires_the_boiler_when_the_heat_pump_is_cheaper(season: dict[str, Simulation]) -> None:
    r = season["supervisor"].report
    assert r["hours_boiler_on_above_crossover"] == 0
    assert season["boiler-replacement"].report["heat_boiler_kwh"] > 0   # the metric has something to see


def test_supervisor_passes_every_l8_cycle(season: dict[str, Simulation]) -> None:
    r = season["supervisor"].report
    l8 = r["l8"]
    assert l8["failures"] == 0
    assert l8["boosts_ok"] == l8["boosts_run"] == SEASON_DAYS and l8["pasteurisations_ok"] == 25
    assert r["l8_records"]["fail"] == 0 and r["l8_records"]["pass"] >= SEASON_DAYS + 25   # its own records agree


@pytest.mark.xfail(strict=True, reason="the heat pump reaches 55 °C in the cylinder (60 °C flow less the coil's "
                   "5 K), so the store's losses at 60 °C and over (secondary circulation and standing, ~5.2 MWh) and "
                   "the last kelvin of every reheat come from the immersion at COP 1 (~4.5 MWh), and the heat pump's "
                   "own DHW runs at COP ~2 through a 3 m² coil: H4 ~2.6")
def test_supervisor_seasonal_performance_factor_h4_meets_the_bar(season: dict[str, Simulation]) -> None:
    assert season["supervisor"].report["scop_h4"] >= 3.0   # goal 3.2, the case study's measured figure


@pytest.mark.xfail(strict=True, reason="DHW costs ~£1,690 a season (immersion ~£1,190 for the losses at 60 °C "
                   "and over, heat pump ~£500) against ~£730 of gas for the same heat; space heating by heat pump at "
                   "COP ~4 (6.4 p/kWh) saves only a sixth against gas at 7.7 p/kWh, not enough to pay for it: "
                   "~£5,700 against ~£4,400")
def test_supervisor_costs_less_than_gas_only(season: dict[str, Simulation]) -> None:
    assert season["supervisor"].report["cost_gbp"] < season["gas-only"].report["cost_gbp"]


def test_supervisor_comfort_is_no_worse_than_gas_only(season: dict[str, Simulation]) -> None:
    """Optimum start learns how long the heavy fabric takes at full output, the heat pump's reduced curve keeps
    it from cooling far overnight, and the boiler leads a preheat the heat pump cannot do economically."""
    assert season["supervisor"].report["discomfort_kh"] <= season["gas-only"].report["discomfort_kh"]


def test_gas_only_is_the_building_before_the_heat_pump(season: dict[str, Simulation]) -> None:
    r = season["gas-only"].report
    assert r["heat_hp_kwh"] == 0 and r["elec_hp_kwh"] == 0 and r["scop_h4"] is None
    assert r["gas_kwh"] > r["heat_boiler_kwh"] > 0   # gross efficiency below 1
    assert 0.85 < r["heat_boiler_kwh"] / r["gas_kwh"] < 0.98
    assert r["discomfort_kh"] < 50   # a competent boiler system keeps the classrooms in the band
    assert r["l8"]["failures"] == 0 and r["l8"]["pasteurisations_ok"] == 26 - 1   # Sundays in the period
    cost = r["gas_kwh"] * SITE.tariffs.gas.unit_rate_gbp_per_kwh
    assert r["cost_gbp"] == pytest.approx(cost + r["cost_elec_gbp"], abs=0.05)


def test_boiler_replacement_lands_in_the_case_studys_failure_band(season: dict[str, Simulation]) -> None:
    r, gas = season["boiler-replacement"].report, season["gas-only"].report
    assert 1.7 <= r["scop_h4"] <= 2.3          # the case study: "COP sitting at 1.9", band 1.8–2.2
    assert r["cost_gbp"] > 1.2 * gas["cost_gbp"]   # and it costs more than the gas system it replaced
    assert r["heat_boiler_kwh"] > 0.2 * (r["heat_hp_kwh"] + r["heat_boiler_kwh"])   # the boiler as an equal
    assert r["l8"]["pasteurisations_run"] == 0 and r["l8"]["failures"] > 150   # no pasteurisation schedule
    assert r["l8"]["immersion_fallbacks"] == 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_same_run_twice_gives_the_identical_report(strategy: str) -> None:
    weather = builtin()
    first = simulate(SITE, strategy, START, 4, 120, weather)
    again = simulate(SITE, strategy, START, 4, 120, weather)
    assert first.report == again.report
    assert list(first.plant.trace.room_c) == list(again.plant.trace.room_c)


def test_simulate_command_writes_report_and_plot(tmp_path: Path) -> None:
    report, plot = tmp_path / "out" / "r.json", tmp_path / "season.png"
    result = hpsup("simulate", "--site", str(EXAMPLES / "school.yaml"), "--from", "2024-02-01", "--days", "3",
                   "--step", "300", "--strategy", "gas-only", "--report", str(report), "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["strategy"] == "gas-only" and data["days"] == 3 and data["from"].startswith("2024-02-01")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20_000
    assert "cost, £" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--strategy", "heat-pump-only"], "not one of"),
    (["--from", "January"], "not a date"),
    (["--weather", "nowhere.csv"], "no such weather file"),
])
def test_simulate_command_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = hpsup("simulate", "--site", str(EXAMPLES / "school.yaml"), "--days", "1", "--report",
                   str(tmp_path / "r.json"), *args)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "r.json").exists()


def test_weather_shorter_than_the_period_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "short.csv"
    csv.write_text("time,temp\n" + "".join(f"2024-01-01 {h:02d}:00,5\n" for h in range(24)))
    result = hpsup("simulate", "--site", str(EXAMPLES / "school.yaml"), "--days", "2", "--weather", str(csv),
                   "--report", str(tmp_path / "r.json"))
    assert result.returncode == 2 and "covers" in result.stderr
