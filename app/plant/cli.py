"""`hpsup simulate` (one strategy over a period, JSON report and plot) and `hpsup demo` (the school's season,
the supervisor against both baselines, side by side)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from app.config import SiteConfig
    from app.plant.simulate import Simulation
    from app.plant.weather import WeatherSeries

console = Console()


def _site(path: Path) -> SiteConfig:
    from app.cliutil import site_or_exit

    return site_or_exit(path)


def _weather(path: Path | None, tz: str) -> WeatherSeries:
    from app.plant.weather import WeatherError, load

    try:
        return load(path, tz=tz)
    except WeatherError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _start(site: SiteConfig, text: str) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date like 2024-01-01", param_hint="--from") from None
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(site.site.timezone)).astimezone(UTC)


def _run(site: SiteConfig, strategy: str, start: datetime, days: float, step: float, weather: WeatherSeries,
         site_dir: Path) -> Simulation:
    """One strategy with a progress bar (simulated days)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from app.plant.plant import PlantError
    from app.plant.simulate import simulate
    from app.plant.weather import WeatherError

    columns = (TextColumn(f"[bold]{strategy:>18}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} d"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(strategy, total=days)
        try:
            return simulate(site, strategy, start, days, step, weather,
                            lambda done_s: progress.update(task, completed=done_s / 86400), site_dir)
        except (WeatherError, PlantError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None


def simulate_cmd(
    site: Path = typer.Option(..., "--site", help="site file (YAML)"),
    start: str = typer.Option("2024-01-01", "--from", help="first day (local midnight at the site)"),
    days: float = typer.Option(182.0, "--days", min=0.01, help="days to simulate"),
    step: float = typer.Option(60.0, "--step", min=1, max=3600, help="simulation step, seconds"),
    strategy: str = typer.Option("supervisor", "--strategy",
                                 help="supervisor | boiler-replacement | gas-only"),
    report: Path = typer.Option(..., "--report", help="write the JSON report here"),
    plot: Path | None = typer.Option(None, "--plot", help="write the season plot (PNG) here"),
    weather: Path | None = typer.Option(None, "--weather",
                                        help="hourly CSV or EPW (default: the built-in 2024 UK year)"),
    weather_tz: str = typer.Option("UTC", "--weather-tz", help="time zone of naive times in a weather CSV"),
) -> None:
    """Simulate a strategy against the site's plant and report energy, SCOP, cost, carbon, comfort and L8."""
    from app.plant.simulate import STRATEGIES

    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"{strategy!r} is not one of {', '.join(STRATEGIES)}", param_hint="--strategy")
    cfg = _site(site)
    run = _run(cfg, strategy, _start(cfg, start), days, step, _weather(weather, weather_tz), site.parent)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(run.report, indent=2) + "\n")
    _table([run])
    console.print(f"report: {report}", markup=False)
    if plot is not None:
        from app.plant.plot import season_plot

        console.print(f"plot: {season_plot([run], plot)}", markup=False)


def _l8(r: dict[str, Any]) -> str:
    l8 = r["l8"]
    scheduled = l8["boosts_ok"] + l8["pasteurisations_ok"] + l8["failures"]
    return f"{l8['boosts_ok'] + l8['pasteurisations_ok']}/{scheduled} passed"


ROWS: list[tuple[str, Any]] = [
    ("SCOP H4 (H1)", lambda r: f"{r['scop_h4']} ({r['scop_h1']})" if r["scop_h4"] is not None else "—"),
    ("heat: heat pump / boiler / immersion, MWh", lambda r: f"{r['heat_hp_kwh'] / 1000:.1f} / "
     f"{r['heat_boiler_kwh'] / 1000:.1f} / {r['heat_immersion_kwh'] / 1000:.1f}"),
    ("electricity / gas, MWh", lambda r: f"{r['elec_total_kwh'] / 1000:.1f} / {r['gas_kwh'] / 1000:.1f}"),
    ("cost, £", lambda r: f"{r['cost_gbp']:,.0f}"),
    ("carbon, t CO₂", lambda r: f"{r['carbon_kg'] / 1000:.1f}"),
    ("discomfort, K·h (occupied)", lambda r: f"{r['discomfort_kh']:.1f}"),
    ("L8 boosts + pasteurisations", _l8),
    ("boiler on above crossover, h", lambda r: f"{r['hours_boiler_on_above_crossover']:.1f}"),
]


def _table(runs: list[Simulation]) -> None:
    reports = [run.report for run in runs]
    first = reports[0]
    table = Table(title=f"{first['site']}: {first['days']:g} days from {first['from'][:10]}, "
                        f"{first['step_s']:g} s steps")
    table.add_column("")
    for r in reports:
        table.add_column(r["strategy"], justify="right")
    for label, cell in ROWS:
        table.add_row(label, *[cell(r) for r in reports])
    gas = next((r for r in reports if r["strategy"] == "gas-only"), None)
    if gas is not None and len(reports) > 1:
        table.add_row("cost against gas-only", *[f"{100 * (r['cost_gbp'] / gas['cost_gbp'] - 1):+.0f} %"
                                                for r in reports])
    console.print(table)


def demo_cmd(
    site: Path | None = typer.Option(None, "--site", help="site file (default: the school of examples/)"),
    start: str = typer.Option("2024-01-01", "--from", help="first day"),
    days: float = typer.Option(182.0, "--days", min=0.01, help="days to simulate (a heating season)"),
    step: float = typer.Option(300.0, "--step", min=1, max=3600, help="simulation step, seconds"),
    out: Path = typer.Option(Path("hpsup-demo"), "--out", help="folder for the reports and the plot"),
) -> None:
    """The school of the case study through a heating season: the supervisor against the boiler-replacement
    failure and the gas boiler it replaced, side by side, with the season plot."""
    from app.paths import data_dir
    from app.plant.plot import season_plot
    from app.plant.simulate import STRATEGIES

    path = site or data_dir("examples") / "school.yaml"
    cfg = _site(path)
    weather = _weather(None, "UTC")
    first = _start(cfg, start)
    runs = [_run(cfg, strategy, first, days, step, weather, path.parent) for strategy in STRATEGIES]
    out.mkdir(parents=True, exist_ok=True)
    for run in runs:
        (out / f"{run.strategy}.json").write_text(json.dumps(run.report, indent=2) + "\n")
    _table(runs)
    console.print(f"tariffs: {cfg.tariffs.source}", markup=False)
    console.print(f"reports: {out}/<strategy>.json   plot: {season_plot(runs, out / 'season.png')}", markup=False)
