"""PlantIO: the seam between the supervisor and the plant. One read gives a snapshot, one write applies commands.

The Modbus implementation talks to every configured device through its register map; the supervisor
cannot tell it from an in-process simulated plant. Devices behind one connection (several unit ids on an
RS-485 bus or a TCP gateway) share it; devices are polled concurrently, at most ``max_concurrent_polls`` at
once (a large estate does not open every poll at the same instant, and fewer half-finished polls are held in
memory together). Devices of one register map share the loaded map.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from app.clock import Clock
from app.config import RtuConnection, SiteConfig, TcpConnection
from app.devices.modbus import EventRecorder, Link, ModbusDevice, WriteRecorder, WriteResult
from app.devices.registermap import RegisterMap, load_map, resolve_map_path
from app.snapshot import Commands, DeviceSnapshot, PlantSnapshot

MAX_CONCURRENT_POLLS = 200


class PlantIO(Protocol):
    """What the supervisor needs from a plant, real or simulated."""

    async def read(self) -> PlantSnapshot: ...

    async def write(self, commands: Commands) -> list[WriteResult]: ...

    async def close(self) -> None: ...


class ModbusPlantIO:
    """Every Modbus device of a site (heat pumps, meters, I/O modules), each through its register map."""

    def __init__(self, site: SiteConfig, clock: Clock, recorder: WriteRecorder | None = None,
                 site_dir: Path | None = None, events: EventRecorder | None = None,
                 max_concurrent_polls: int = MAX_CONCURRENT_POLLS) -> None:
        if max_concurrent_polls < 1:
            raise ValueError(f"max_concurrent_polls must be at least 1 (got {max_concurrent_polls})")
        self.clock = clock
        self.max_concurrent_polls = max_concurrent_polls
        self.devices: dict[str, ModbusDevice] = {}
        self.links: dict[tuple[str, ...], Link] = {}
        self._maps: dict[Path, RegisterMap] = {}
        for hp in site.heat_pumps:
            self._add(hp.id, hp.register_map, hp.connection, site_dir, recorder, events, hp.calibration)
        for meter in site.meters:
            self._add(meter.id, meter.register_map, meter.connection, site_dir, recorder, events, meter.calibration)
        for io in site.io_modules:
            self._add(io.id, io.register_map, io.connection, site_dir, recorder, events, None)

    def _add(self, device_id: str, map_name: str, connection: TcpConnection | RtuConnection, site_dir: Path | None,
             recorder: WriteRecorder | None, events: EventRecorder | None, calibration: dict[str, float] | None
             ) -> None:
        path = resolve_map_path(map_name, site_dir)
        regmap = self._maps.get(path) or self._maps.setdefault(path, load_map(path))
        key = Link.key(connection)
        link = self.links.setdefault(key, Link(connection, regmap.serial, device_id))
        self.devices[device_id] = ModbusDevice(device_id, regmap, connection, self.clock, recorder, calibration,
                                               events=events, link=link)

    async def read(self) -> PlantSnapshot:
        snapshot = PlantSnapshot(self.clock.now())
        slots = asyncio.Semaphore(self.max_concurrent_polls)

        async def poll(device: ModbusDevice) -> DeviceSnapshot:
            async with slots:
                return await device.poll()

        polled = await asyncio.gather(*(poll(device) for device in self.devices.values()))
        snapshot.devices = {device.device_id: device for device in polled}
        return snapshot

    async def write(self, commands: Commands) -> list[WriteResult]:
        results = []
        for cmd in commands.points:
            device = self.devices.get(cmd.device_id)
            point = device.point_for(cmd.role) if device else None
            if device is None or point is None:
                results.append(WriteResult("refused", f"{cmd.device_id} has no {cmd.role} point", cmd.value))
                continue
            results.append(await device.write(point, cmd.value, cmd.reason))
        return results

    async def release(self, reason: str = "supervisor stopping") -> list[WriteResult]:
        """Hand every unit back to its own control (a clean shutdown calls this before close)."""
        results: list[WriteResult] = []
        for device in self.devices.values():
            results.extend(await device.release(reason))
        return results

    async def close(self) -> None:
        for link in self.links.values():
            await link.close()
