"""A season in seconds: a strategy against the simulated plant of a site, and its report.

``supervisor`` runs the real :class:`~app.control.supervisor.Supervisor` through the in-process PlantIO on
simulated time (one control cycle per step; samples are not stored, events, writes and state are, in a
temporary SQLite database). The baselines act on the plant directly (:mod:`app.plant.baselines`).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from app.clock import SimClock
from app.config import SiteConfig
from app.plant.baselines import BASELINES
from app.plant.kpi import report
from app.plant.plant import Plant
from app.plant.plantio import SimulatedPlantIO, simulated_maps
from app.plant.weather import WeatherSeries
from app.snapshot import PlantSnapshot
from app.storage.historian import Historian

STRATEGIES = ("supervisor", "boiler-replacement", "gas-only")
Progress = Callable[[float], None]   # called with the simulated seconds done so far


@dataclass
class Simulation:
    site: SiteConfig
    strategy: str
    plant: Plant
    report: dict[str, Any]


class SimulationHistorian(Historian):
    """A historian for accelerated runs: every sample is counted but not stored (a season is millions)."""

    def record_samples(self, rows: Iterable[Any]) -> int:
        return sum(1 for _ in rows)

    def record_snapshot(self, snapshot: PlantSnapshot) -> int:
        return sum(len(d.readings) for d in snapshot.devices.values())


def simulate(site: SiteConfig, strategy: str, start: datetime, days: float, step_s: float,
             weather: WeatherSeries, progress: Progress | None = None, site_dir: Path | None = None) -> Simulation:
    """Run `strategy` for `days` from `start` at `step_s` steps and report on it."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    if step_s <= 0 or step_s > 3600:
        raise ValueError(f"step must be between 1 s and 3600 s (got {step_s:g})")
    steps = round(days * 86400 / step_s)
    hours = int(steps * step_s // 3600) + 2
    plant = Plant(site, weather, start, hours, heat_pumps=strategy != "gas-only")
    if strategy == "supervisor":
        asyncio.run(_supervised(site, plant, start, steps, step_s, progress, site_dir))
    else:
        baseline = BASELINES[strategy](site)
        for i in range(steps):
            baseline.control(plant)
            plant.step(step_s)
            if progress is not None and i % 1440 == 0:
                progress(plant.t_s)
    if progress is not None:
        progress(plant.t_s)
    return Simulation(site, strategy, plant, report(site, plant, strategy, step_s))


def _throwaway(dbapi_conn: Any, _record: Any) -> None:
    """A simulation's database is scratch: commits need not reach the disk."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


async def _supervised(site: SiteConfig, plant: Plant, start: datetime, steps: int, step_s: float,
                      progress: Progress | None, site_dir: Path | None) -> None:
    from app.control.supervisor import Supervisor
    from app.storage import engine as storage_engine

    site = simulated_maps(site)
    clock = SimClock(start)
    with tempfile.TemporaryDirectory(prefix="hpsup-sim-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'simulation.db'}"
        storage_engine.upgrade(url)
        engine = storage_engine.make_engine(url)
        event.listen(engine, "connect", _throwaway)
        try:
            historian = SimulationHistorian(engine, site.site.name)
            plant_io = SimulatedPlantIO(site, plant, clock, historian.record_write, site_dir)
            supervisor = Supervisor(site, plant_io, historian, clock)
            for i in range(steps):
                await supervisor.cycle()
                plant.step(step_s)
                clock.advance(step_s)
                if progress is not None and i % 1440 == 0:
                    progress(plant.t_s)
            await plant_io.close()
        finally:
            engine.dispose()
