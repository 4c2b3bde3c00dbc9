"""A season in seconds: a strategy against the simulated plant of a site, and its report.

``supervisor`` runs the real :class:`~app.control.supervisor.Supervisor` through the in-process PlantIO on
simulated time, one control cycle per step, with an in-memory historian (samples counted, not kept; the
L8 records it makes go into the report beside the plant's own judgement). The baselines act on the
plant directly (:mod:`app.plant.baselines`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.audit.chain import ChainLine
from app.audit.log import L8Entry
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
    """The supervisor's historian for accelerated runs, in memory: a season has millions of samples and
    thousands of writes, events and state saves, and nothing of a simulation needs to outlive it. Samples
    are counted, not kept; events, writes and the controller state are kept for the report."""

    def __init__(self, site: str) -> None:
        super().__init__(None, site)  # type: ignore[arg-type]
        self.events: list[tuple[datetime, str, str, str, dict[str, Any] | None]] = []
        self.writes: list[tuple[datetime, str, str, str, float | None]] = []
        self.state: dict[str, dict[str, Any]] = {}
        self.l8: list[L8Entry] = []

    def record_samples(self, rows: Iterable[Any]) -> int:
        return sum(1 for _ in rows)

    def record_snapshot(self, snapshot: PlantSnapshot) -> int:
        return sum(len(d.readings) for d in snapshot.devices.values())

    def record_event(self, ts: datetime, kind: str, source: str, reason: str, *, from_state: str | None = None,
                     to_state: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.events.append((ts, kind, source, reason, data))

    def record_write(self, ts: datetime, device: str, point: str, outcome: str, reason: str, *,
                     value: float | None = None, **_: Any) -> None:
        self.writes.append((ts, device, point, outcome, value))

    def record_l8(self, entries: Sequence[L8Entry]) -> list[ChainLine]:
        """L8 records are kept in memory, unchained: a simulation's log is not an audit record."""
        self.l8.extend(entries)
        return []

    def load_state(self, key: str) -> dict[str, Any] | None:
        return self.state.get(key)

    def save_state(self, key: str, value: dict[str, Any], ts: datetime) -> None:
        self.state[key] = value


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
    records: list[dict[str, Any]] | None = None
    if strategy == "supervisor":
        historian = asyncio.run(_supervised(site, plant, start, steps, step_s, progress, site_dir))
        records = [data for _, kind, _, _, data in historian.events if kind == "l8_cycle" and data]
    else:
        baseline = BASELINES[strategy](site)
        for i in range(steps):
            baseline.control(plant)
            plant.step(step_s)
            if progress is not None and i % 1440 == 0:
                progress(plant.t_s)
    if progress is not None:
        progress(plant.t_s)
    return Simulation(site, strategy, plant, report(site, plant, strategy, step_s, records))


async def _supervised(site: SiteConfig, plant: Plant, start: datetime, steps: int, step_s: float,
                      progress: Progress | None, site_dir: Path | None) -> SimulationHistorian:
    from app.control.supervisor import Supervisor

    site = simulated_maps(site)
    clock = SimClock(start)
    historian = SimulationHistorian(site.site.name)
    plant_io = SimulatedPlantIO(site, plant, clock, historian.record_write, site_dir)
    supervisor = Supervisor(site, plant_io, historian, clock)
    for i in range(steps):
        await supervisor.cycle()
        plant.step(step_s)
        clock.advance(step_s)
        if progress is not None and i % 1440 == 0:
            progress(plant.t_s)
    await plant_io.close()
    return historian
