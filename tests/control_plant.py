"""In-process PlantIOs for control tests, and the site and database directory they share.

``ControlTestPlant``: the lumped plant behind the generic heat pump map, plus a boiler. Implements the
command vocabulary of ``app.control`` directly on the plant (no sockets), with hooks to inject a heat pump
fault, a comms loss, a heat pump that cannot heat the cylinder past a temperature, and a daytime hot-water
draw-off. ``ScriptedPlant``: a heat pump reporting exactly the role values a test sets, cycle by cycle;
``Rig``: a supervisor against one, resumed from whatever stored state a test needs.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES
from lumped_plant import WATER_KJ_PER_L_K, LumpedPlant, sinusoidal_weather
from sqlalchemy import Engine, select

from app.clock import SimClock
from app.config import SiteConfig, load_site
from app.control.machines import RecordedMachine
from app.control.operator import OperatorInputs, OperatorValue
from app.control.performance import PerformanceTable
from app.control.supervisor import STATE_KEY, CycleResult, Supervisor
from app.devices.modbus import ModbusDevice, WriteResult, role_names
from app.devices.registermap import load_map, resolve_map_path
from app.snapshot import Commands, DeviceSnapshot, PlantSnapshot, Quality, Reading
from app.storage.historian import Historian
from app.storage.models import Event


def school_variant() -> SiteConfig:
    """The school with a heat pump that reaches 70 °C flow, so it can do L8 cycles until it is made unable."""
    site = load_site(EXAMPLES / "school.yaml")
    hp = site.heat_pumps[0].model_copy(update={"max_flow_temp_c": 70.0})
    cylinder = site.cylinders[0].model_copy(update={"storage_setpoint_c": 60.0})
    return site.model_copy(update={"heat_pumps": [hp], "cylinders": [cylinder]})


def no_immersion() -> SiteConfig:
    """The school variant with a cylinder that has no immersion heater: nothing to fall back on."""
    site = school_variant()
    return site.model_copy(update={"cylinders": [site.cylinders[0].model_copy(update={"immersion": None})]})


@pytest.fixture(scope="module")
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A migrated SQLite database for a test module's rigs, in a fast directory of its own."""
    from app.storage import engine as storage_engine

    url = f"sqlite:///{fast_directory(tmp_path_factory, request.module.__name__) / 'hpsup.db'}"
    storage_engine.upgrade(url)
    return storage_engine.make_engine(url)


@pytest.fixture(scope="module")
def performance() -> dict[str, PerformanceTable]:
    """The school variant's heat pump performance table, by heat pump id (what a rig's supervisor is given)."""
    hp = school_variant().heat_pumps[0]
    return {hp.id: PerformanceTable.for_heat_pump(hp)}


def fast_directory(factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory for a run's database: in RAM (/dev/shm) where there is one, since every L8 record and
    transition is committed durably (fsync) and a run makes thousands; else a temporary directory."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix=f"hpsup-{name}-", dir=shm))
        atexit.register(shutil.rmtree, path, True)
        return path
    return factory.mktemp(name)


@dataclass
class ControlTestPlant:
    """One heat pump, its radiator circuit, cylinder and a gas boiler, stepped in simulated time."""

    site: SiteConfig
    clock: SimClock
    mean_outdoor_c: float = 5.0
    fault_code: int = 0
    comms_ok: bool = True
    boiler_on: bool = False
    draw_kw: float = 1.5
    boiler_kwh: float = 0.0
    log: list[tuple[datetime, str, str, float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        hp = self.site.heat_pumps[0]
        self.plant = LumpedPlant(hp, self.site.heating_circuits[0], self.site.cylinders[0],
                                 sinusoidal_weather(self.mean_outdoor_c), self.clock.now())
        regmap = load_map(resolve_map_path(hp.register_map))
        self.units = {p.name: p.unit for p in regmap.points}
        self.roles = role_names(regmap)
        self.device = ModbusDevice(hp.id, regmap, hp.connection, self.clock)  # for role -> point lookup only
        self.hp_id = hp.id

    def limit_heat_pump_flow(self, max_flow_c: float) -> None:
        """The unit can no longer deliver above `max_flow_c` (the supervisor is not told)."""
        self.plant.heat_pump = self.plant.heat_pump.model_copy(update={"max_flow_temp_c": max_flow_c})

    async def read(self) -> PlantSnapshot:
        ts = self.clock.now()
        snap = PlantSnapshot(ts)
        if not self.comms_ok:
            readings = {n: Reading(None, u, Quality.COMM_ERROR, ts) for n, u in self.units.items()}
            snap.devices[self.hp_id] = DeviceSnapshot(self.hp_id, readings, False, self.roles, "timed out")
            return snap
        values = dict(self.plant.values())
        values["fault_code"] = float(self.fault_code)
        values["alarm"] = float(self.fault_code != 0)
        snap.devices[self.hp_id] = DeviceSnapshot(
            self.hp_id, {n: Reading(float(v), self.units.get(n, ""), Quality.GOOD, ts)
                         for n, v in values.items() if v is not None}, True, self.roles)
        return snap

    async def write(self, commands: Commands) -> list[WriteResult]:
        results = []
        for cmd in commands.points:
            self.log.append((commands.ts, cmd.device_id, cmd.role, cmd.value, cmd.reason))
            if cmd.role == "boiler_enable":
                self.boiler_on = bool(cmd.value)
            elif cmd.device_id == self.hp_id and self.comms_ok:
                if cmd.role == "control_mode":
                    self.plant.write("bms_control", cmd.value)
                else:
                    point = self.device.point_for(cmd.role)
                    assert point is not None and point.writable, cmd.role
                    self.plant.bms_control = True
                    self.plant.write(point.name, cmd.value)
            results.append(WriteResult("verified", cmd.reason, cmd.value))
        return results

    async def close(self) -> None:
        return None

    def step(self, seconds: float) -> None:
        """Advance the plant: heat pump and building, then boiler heat into the loop, then the DHW draw-off."""
        if self.fault_code:
            self.plant.enable = False
        self.plant.step(seconds)
        p = self.plant
        loop_kj_per_k = p.loop_volume_l * WATER_KJ_PER_L_K
        if self.boiler_on:
            boiler = self.site.boilers[0]
            demand = p.emitter_kw() + loop_kj_per_k * (p.flow_setpoint_c - p.flow_c) / 600
            kw = min(boiler.capacity_kw, max(0.0, demand))
            p.flow_c += kw * seconds / loop_kj_per_k
            self.boiler_kwh += kw * seconds / 3600
        local = p.now
        if self.draw_kw and local.weekday() < 5 and 8 <= local.hour < 16:
            drop = self.draw_kw * seconds / (self.site.cylinders[0].volume_l * WATER_KJ_PER_L_K)
            p.cylinder_top_c -= drop
            p.cylinder_bottom_c -= drop


@dataclass
class ScriptedPlant:
    """One heat pump (and whatever else the site has) reporting exactly ``values`` (role -> value) each read;
    ``comms_ok`` False: it does not answer. Commands are kept, last cycle's in ``commands``."""

    clock: SimClock
    device_id: str
    values: dict[str, float]
    comms_ok: bool = True
    commands: Commands | None = None

    async def read(self) -> PlantSnapshot:
        ts = self.clock.now()
        if not self.comms_ok:
            readings = {r: Reading(None, "", Quality.COMM_ERROR, ts) for r in self.values}
        else:
            readings = {r: Reading(float(v), "", Quality.GOOD, ts) for r, v in self.values.items()}
        device = DeviceSnapshot(self.device_id, readings, self.comms_ok, {r: r for r in self.values},
                                None if self.comms_ok else "timed out")
        return PlantSnapshot(ts, {self.device_id: device})

    async def write(self, commands: Commands) -> list[WriteResult]:
        self.commands = commands
        return [WriteResult("verified", c.reason, c.value) for c in commands.points]

    async def close(self) -> None:
        return None


# a unit healthy and heating on a mild day, cylinder hot: nothing for the supervisor to change
HEALTHY = {"outdoor_temp": 10.0, "flow_temp": 38.0, "return_temp": 33.0, "compressor_running": 1.0,
           "heat_output_power": 20.0, "electrical_power": 5.0, "defrost_active": 0.0, "fault_code": 0.0,
           "alarm": 0.0, "dhw_temp": 62.0, "dhw_temp.1": 61.0, "secondary_return_temp": 55.0, "room_temp": 21.0}
FAULT = {"fault_code": 17.0, "alarm": 1.0, "compressor_running": 0.0, "heat_output_power": 0.0}
COLD_CYLINDER = {"dhw_temp": 50.0, "dhw_temp.1": 45.0}


class Rig:
    """A supervisor on its own site name (its own stored state and events) against a scripted heat pump."""

    def __init__(self, engine: Engine, performance: dict[str, PerformanceTable], name: str, start: datetime,
                 site: SiteConfig) -> None:
        self.site = site.model_copy(update={"site": site.site.model_copy(update={"name": name})})
        self.engine, self.performance = engine, performance
        self.historian = Historian(engine, name)
        self.clock = SimClock(start)
        self.operator = OperatorInputs()
        self.plant = ScriptedPlant(self.clock, "hp1", dict(HEALTHY))
        self.supervisor = self._start()

    def _start(self) -> Supervisor:
        return Supervisor(self.site, self.plant, self.historian, self.clock, self.operator,
                          performance=self.performance)

    def resume(self, *, hp: str | None = None, enable: bool = True, since_min: float = 120.0,
               sequencer: str | None = None, dhw: str | None = None) -> None:
        """Store a controller state with these machine states and restart the supervisor from it."""
        state = self.supervisor.state()
        now = self.clock.now()
        if hp is not None:
            state["heat_pumps"]["hp1"].update(state=hp, enable=enable,
                                              since=(now - timedelta(minutes=since_min)).isoformat())
        if sequencer is not None:
            state["sequencer"] = {"state": sequencer, "since": now.timestamp() - 7200.0}
        if dhw is not None:
            state["cylinders"]["dhw1"]["state"] = dhw
        self.historian.save_state(STATE_KEY, state, now)
        self.supervisor = self._start()
        for name, want in (("hp1", hp), ("plant", sequencer), ("dhw1", dhw)):
            assert want is None or self.machine(name).state == want

    def machine(self, name: str) -> RecordedMachine:
        sup = self.supervisor
        return {"plant": sup.sequencer, **sup.heat_pumps, **sup.cylinders}[name]

    def step(self, minutes: float = 1.0, *, comms: bool = True, **values: float) -> CycleResult:
        """Advance the clock, set the readings (on top of the present ones), run one supervisor cycle."""
        self.clock.advance(minutes * 60)
        self.plant.values.update(values)
        self.plant.comms_ok = comms
        return asyncio.run(self.supervisor.cycle())

    def command(self, key: str, value: float) -> None:
        self.operator.command(key, OperatorValue(value, "192.168.1.50", 8, self.clock.now()))

    def transitions(self, machine: str) -> list[Any]:
        return self.events("transition", machine)

    def events(self, kind: str, source: str | None = None) -> list[Any]:
        """This rig's stored events of `kind` (from `source`), oldest first."""
        query = select(Event.__table__).where(Event.site == self.historian.site, Event.kind == kind)
        if source is not None:
            query = query.where(Event.source == source)
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(Event.id)))
