"""`hpsup run`: the supervisor on the clock, against real devices or a simulated plant over loopback Modbus."""

from __future__ import annotations

import asyncio
import gc
import math
import signal
import socket
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from app.clock import Clock, RealClock, SimClock
from app.config import SiteConfig, TcpConnection, database_url
from app.control.supervisor import CycleResult, Supervisor
from app.devices.plantio import ModbusPlantIO
from app.devices.registermap import load_map, resolve_map_path
from app.devices.simulator import ModbusSimulator
from app.estate.cop_today import CopToday
from app.monitoring.store import LiveCop
from app.plant.plant import HeatPumpPoints, Plant
from app.plant.weather import builtin
from app.storage import engine as storage_engine
from app.storage.historian import Historian
from app.telemetry.publisher import Telemetry

SIMULATED_HOURS = 366 * 24  # an open-ended simulated run: one year of the built-in weather


@dataclass
class RunSummary:
    database: str
    started: datetime
    ended: datetime | None = None
    cycles: int = 0
    samples: int = 0
    writes: Counter[str] = field(default_factory=Counter)
    last: CycleResult | None = None
    stopped_by: signal.Signals | None = None  # SIGINT or SIGTERM ended the run


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def simulated_site(site: SiteConfig) -> SiteConfig:
    """The site with every heat pump moved to a free loopback port, where the simulator will serve it."""
    pumps = [hp.model_copy(update={"connection": TcpConnection(host="127.0.0.1", port=free_port(), unit_id=1)})
             for hp in site.heat_pumps]
    return site.model_copy(update={"heat_pumps": pumps, "meters": [], "io_modules": []})


async def sleep_unless(clock: Clock, seconds: float, stopping: asyncio.Task[object]) -> bool:
    """Sleep `seconds` of clock time unless `stopping` ends first; True when the whole sleep passed."""
    sleeping = asyncio.ensure_future(clock.sleep(seconds))
    await asyncio.wait([sleeping, stopping], return_when=asyncio.FIRST_COMPLETED)
    if sleeping.done():
        return True
    sleeping.cancel()
    return False


async def run(site: SiteConfig, *, simulate: bool, duration_s: float | None, speed: float | None,
              site_dir: Path | None = None, clock: Clock | None = None) -> RunSummary:
    """Run control cycles until `duration_s` of clock time has passed (forever when None)."""
    url = database_url(site)
    storage_engine.upgrade(url)
    engine = storage_engine.make_engine(url)
    if clock is None:
        start = RealClock().now().replace(second=0, microsecond=0)
        clock = SimClock(start, speed) if simulate else RealClock()
    historian = Historian(engine, site.site.name)
    summary = RunSummary(database=url, started=clock.now())
    simulators: list[ModbusSimulator] = []
    plant: Plant | None = None
    if simulate:
        site = simulated_site(site)
        hours = math.ceil(duration_s / 3600) + 1 if duration_s is not None else SIMULATED_HOURS
        plant = Plant(site, builtin(), clock.now(), hours)
        for hp in site.heat_pumps:
            regmap = load_map(resolve_map_path(hp.register_map, site_dir))
            assert isinstance(hp.connection, TcpConnection)
            unit = HeatPumpPoints(plant, hp.id)  # the simulator keeps the unit's watchdog
            sim = ModbusSimulator({1: (regmap, unit)}, hp.connection.host, hp.connection.port)
            await sim.start()
            simulators.append(sim)
    plant_io = ModbusPlantIO(site, clock, historian.record_write, site_dir, events=historian.record_event)
    supervisor = Supervisor(site, plant_io, historian, clock)
    live_cop = LiveCop(site, engine, site_dir=site_dir, events=historian)
    supervisor.observers += [live_cop, CopToday(live_cop, historian)]
    bacnet = None
    if site.bacnet is not None and site.bacnet.enabled:
        from app.bacnet.device import attach

        bacnet = attach(supervisor, site_dir)
    telemetry = Telemetry.for_site(site, clock.now, engine)
    if telemetry is not None:
        supervisor.observers.append(telemetry.observe)
    period = site.control.cycle_s
    gc.freeze()  # what start-up built lasts the run: garbage collections need not walk it again
    began = clock.monotonic()
    stop = asyncio.Event()
    stopping = asyncio.ensure_future(stop.wait())  # one waiter for the whole run, raced against each sleep
    loop = asyncio.get_running_loop()

    def stop_on(sig: signal.Signals) -> None:
        summary.stopped_by = sig
        stop.set()

    for sig in STOP_SIGNALS:  # a stop signal ends the run between cycles, never in the middle of a write
        loop.add_signal_handler(sig, stop_on, sig)
    try:
        while not stop.is_set() and (duration_s is None or clock.monotonic() - began < duration_s):
            result = await supervisor.cycle()
            summary.cycles += 1
            summary.samples += result.samples
            summary.writes.update(w.outcome for w in result.writes)
            summary.last = result
            if await sleep_unless(clock, period, stopping) and plant is not None:
                plant.step(period)
    finally:
        stopping.cancel()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        if bacnet is not None:
            bacnet.stop()
        try:
            await plant_io.release()  # hand each unit back to its own control
        finally:
            await plant_io.close()
        if telemetry is not None:
            await asyncio.to_thread(telemetry.close, flush_s=5.0)
        for sim in simulators:
            await sim.stop()
        engine.dispose()
    summary.ended = clock.now()
    return summary

