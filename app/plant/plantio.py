"""PlantIO over the in-process simulated plant: each device as its register map shows it, without sockets.

Reads give the same readings a Modbus poll of the simulator would (point names, roles, units, quality
from sentinels and limits, calibration offsets), at full float resolution. Writes pass the same guards
as a Modbus write — the driver's role lookup, only points the map marks writable, only states it lists,
only inside its limits, the map's control-mode precondition first — and are applied to the plant at once.
A boiler wired to no I/O module takes ``boiler_enable`` by its own id (the control vocabulary).

The simulated devices speak the generic maps (``generic_heat_pump`` for heat pumps, ``generic_io_module``
for I/O modules); :func:`simulated_maps` gives a site those.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol

from app.clock import Clock
from app.config import RtuConnection, SiteConfig, TcpConnection
from app.devices.modbus import ModbusDevice, WriteRecorder, WriteResult, role_names, write_refusal
from app.devices.registermap import Point, RegisterMap, load_map, resolve_map_path
from app.plant.plant import HeatPumpPoints, IoModulePoints, Plant
from app.snapshot import Commands, DeviceSnapshot, PlantSnapshot, Quality, Reading

HEAT_PUMP_MAP = "generic_heat_pump"
IO_MODULE_MAP = "generic_io_module"


class _Unit(Protocol):
    def values(self) -> Mapping[str, float | None]: ...

    def setting(self, name: str) -> float | None: ...

    def write(self, name: str, value: float) -> None: ...


def simulated_maps(site: SiteConfig) -> SiteConfig:
    """The site with its heat pumps and I/O modules on the maps the simulated plant speaks; meters removed."""
    pumps = [hp.model_copy(update={"register_map": HEAT_PUMP_MAP}) for hp in site.heat_pumps]
    ios = [io.model_copy(update={"register_map": IO_MODULE_MAP}) for io in site.io_modules]
    return site.model_copy(update={"heat_pumps": pumps, "io_modules": ios, "meters": []})


class _Readings(Mapping[str, Reading]):
    """One device's readings of one poll, each made when first asked for: a season is millions of polls and
    a controller looks at a few points of each."""

    __slots__ = ("_device", "_values", "_ts", "_made")

    def __init__(self, device: _Device, values: Mapping[str, float | None], ts: datetime) -> None:
        self._device, self._values, self._ts = device, values, ts
        self._made: dict[str, Reading] = {}

    def __getitem__(self, name: str) -> Reading:
        made = self._made.get(name)
        if made is None:
            if name not in self._device.readable:
                raise KeyError(name)
            made = self._made[name] = self._device.reading(name, self._values.get(name), self._ts)
        return made

    def get(self, name: str, default: Reading | None = None) -> Reading | None:  # type: ignore[override]
        made = self._made.get(name)
        if made is not None:
            return made
        return self[name] if name in self._device.readable else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._device.readable)

    def __len__(self) -> int:
        return len(self._device.readable)


class _Snapshot(DeviceSnapshot):
    """A device snapshot over `_Readings`: a value is answered without making its reading."""

    __slots__ = ()

    def value(self, role: str) -> float | None:
        """The value of the role's point if its reading is good, else None, without making the reading."""
        name = self.roles.get(role)
        if not name:
            return None
        readings: _Readings = self.readings  # type: ignore[assignment]
        made = readings._made.get(name)
        if made is not None:
            return made.value
        return readings._device.good(name, readings._values.get(name))


class _Device:
    def __init__(self, device_id: str, regmap: RegisterMap, unit: _Unit, calibration: dict[str, float],
                 connection: TcpConnection | RtuConnection, clock: Clock) -> None:
        self.device_id = device_id
        self.map = regmap
        self.unit = unit
        self.calibration = calibration
        self.roles = role_names(regmap)
        self._lookup = ModbusDevice(device_id, regmap, connection, clock).point_for  # the driver's role lookup
        self._points: dict[str, Point | None] = {}
        self.preconditions = {p.name: regmap.preconditions_for(p) for p in regmap.points}
        self.readable = {p.name: (p.unit, p.enum, calibration.get(p.name, 0.0),
                                  -math.inf if p.min is None else p.min, math.inf if p.max is None else p.max)
                         for p in regmap.points if p.readable}
        self.passed: dict[str, float] = {}  # point -> the last value it was asked to take that passed the guards

    def good(self, name: str, value: float | None) -> float | None:
        """The calibrated value a poll would give for point `name` holding engineering `value`, or None: not
        readable, a sentinel (None), a state outside its enumeration or a value outside its limits."""
        limits = self.readable.get(name)
        if limits is None or value is None:
            return None
        _, enum, offset, low, high = limits
        if enum is not None and int(value) not in enum:
            return None
        value += offset
        return value if low <= value <= high else None

    def judge(self, name: str, value: float | None) -> tuple[float | None, Quality]:
        """The value and quality a poll would give for point `name` holding engineering `value`."""
        good = self.good(name, value)
        if good is not None:
            return good, Quality.GOOD
        return None, Quality.SENTINEL if value is None else Quality.OUT_OF_RANGE

    def reading(self, name: str, value: float | None, ts: datetime) -> Reading:
        """What a poll would give for point `name` holding engineering `value`."""
        judged, quality = self.judge(name, value)
        return Reading(judged, self.readable[name][0], quality, ts)

    def snapshot(self, ts: datetime) -> DeviceSnapshot:
        readings = _Readings(self, self.unit.values(), ts)
        return _Snapshot(self.device_id, readings=readings, comms_ok=True, roles=self.roles)  # type: ignore[arg-type]

    def point_for(self, role: str) -> Point | None:
        if role not in self._points:
            self._points[role] = self._lookup(role)
        return self._points[role]


class SimulatedPlantIO:
    """The supervisor's PlantIO for an in-process :class:`~app.plant.plant.Plant`."""

    def __init__(self, site: SiteConfig, plant: Plant, clock: Clock, recorder: WriteRecorder | None = None,
                 site_dir: Path | None = None) -> None:
        self.clock = clock
        self.plant = plant
        self.recorder = recorder
        self.devices: dict[str, _Device] = {}
        for hp in site.heat_pumps:
            regmap = load_map(resolve_map_path(hp.register_map, site_dir))
            watchdog = regmap.heartbeat.watchdog_s if regmap.heartbeat else None
            unit = HeatPumpPoints(plant, hp.id, watchdog)
            self.devices[hp.id] = _Device(hp.id, regmap, unit, hp.calibration, hp.connection, clock)
        for io in site.io_modules:
            regmap = load_map(resolve_map_path(io.register_map, site_dir))
            watchdog = regmap.heartbeat.watchdog_s if regmap.heartbeat else None
            self.devices[io.id] = _Device(io.id, regmap, IoModulePoints(plant, io.id, watchdog), {}, io.connection,
                                          clock)
        self.boilers = {b.id for b in site.boilers if b.enable_device is None}  # enabled by their own id

    async def read(self) -> PlantSnapshot:
        ts = self.clock.now()
        return PlantSnapshot(ts, {device_id: d.snapshot(ts) for device_id, d in self.devices.items()})

    async def write(self, commands: Commands) -> list[WriteResult]:
        results = []
        for cmd in commands.points:
            if cmd.device_id in self.boilers and cmd.role == "boiler_enable":
                results.append(self._boiler(cmd.device_id, cmd.value, cmd.reason))
                continue
            device = self.devices.get(cmd.device_id)
            point = device.point_for(cmd.role) if device else None
            if device is None or point is None:
                results.append(WriteResult("refused", f"{cmd.device_id} has no {cmd.role} point", cmd.value))
                continue
            results.append(self._write(device, point, cmd.value, cmd.reason))
        return results

    def _write(self, device: _Device, point: Point, value: float, reason: str) -> WriteResult:
        if device.passed.get(point.name) != value:  # the guards are a function of point and value: once per value
            refusal = write_refusal(point, value, point.min, point.max)
            if refusal is not None:
                self._record(device, point.name, "refused", f"{refusal}; requested by: {reason}", value)
                return WriteResult("refused", refusal, value)
            device.passed[point.name] = value
        unit = device.unit
        for pre in device.preconditions[point.name]:
            if unit.setting(pre.point) != pre.value:
                unit.write(pre.point, pre.value)
                self._record(device, pre.point, "verified", f"precondition for {point.name}", pre.value)
        if unit.setting(point.name) == value:
            return WriteResult("unchanged", f"already {value:g}", value)
        device.unit.write(point.name, value)
        self._record(device, point.name, "verified", reason, value)
        return WriteResult("verified", reason, value)

    def _boiler(self, boiler_id: str, value: float, reason: str) -> WriteResult:
        """A boiler wired to no I/O module: its enable contact, on or off."""
        if value not in (0, 1):
            return WriteResult("refused", f"{value:g} is not 0 or 1", value)
        if self.plant.boiler_enable[boiler_id] == bool(value):
            return WriteResult("unchanged", f"already {value:g}", value)
        self.plant.boiler_enable[boiler_id] = bool(value)
        if self.recorder is not None:
            self.recorder(self.clock.now(), boiler_id, "boiler_enable", "verified", reason, value=value)
        return WriteResult("verified", reason, value)

    def _record(self, device: _Device, point: str, outcome: str, reason: str, value: float) -> None:
        if self.recorder is not None:
            self.recorder(self.clock.now(), device.device_id, point, outcome, reason, value=value)

    async def close(self) -> None:
        """Hand every unit back to its own control (the maps' release values)."""
        for device in self.devices.values():
            for pre in device.map.control_preconditions:
                if pre.release_value is not None:
                    device.unit.write(pre.point, pre.release_value)
