"""PlantIO: the seam between the supervisor and the plant. One read gives a snapshot, one write applies commands.

The Modbus implementation talks to every configured device through its register map; the supervisor
cannot tell it from an in-process simulated plant. Devices behind one connection (several unit ids on an
RS-485 bus or a TCP gateway) share it; devices are polled concurrently.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from app.clock import Clock
from app.config import RtuConnection, SiteConfig, TcpConnection
from app.devices.modbus import EventRecorder, Link, ModbusDevice, WriteRecorder, WriteResult
from app.devices.registermap import load_map, resolve_map_path
from app.snapshot import Commands, PlantSnapshot


class PlantIO(Protocol):
    """What the supervisor needs from a plant, real or simulated."""

    async def read(self) -> PlantSnapshot: ...

    async def write(self, commands: Commands) -> list[WriteResult]: ...

    async def close(self) -> None: ...


class ModbusPlantIO:
    """Every Modbus device of a site (heat pumps, meters, I/O modules), each through its register map."""

    def __init__(self, site: SiteConfig, clock: Clock, recorder: WriteRecorder | None = None,
                 site_dir: Path | None = None, events: EventRecorder | None = None) -> None:
        self.clock = clock
        self.devices: dict[str, ModbusDevice] = {}
        self.links: dict[tuple[str, ...], Link] = {}
        for hp in site.heat_pumps:
            self._add(hp.id, hp.register_map, hp.connection, site_dir, recorder, events, hp.calibration)
        for meter in site.meters:
            self._add(meter.id, meter.register_map, meter.connection, site_dir, recorder, events, meter.calibration)
        for io in site.io_modules:
            self._add(io.id, io.register_map, io.connection, site_dir, recorder, events, None)

    def _add(self, device_id: str, map_name: str, connection: TcpConnection | RtuConnection, site_dir: Path | None,
             recorder: WriteRecorder | None, events: EventRecorder | None, calibration: dict[str, float] | None
             ) -> None:
        regmap = load_map(resolve_map_path(map_name, site_dir))
        key = Link.key(connection)
        link = self.links.setdefault(key, Link(connection, regmap.serial, device_id))
        self.devices[device_id] = ModbusDevice(device_id, regmap, connection, self.clock, recorder, calibration,
                                               events=events, link=link)

    async def read(self) -> PlantSnapshot:
        snapshot = PlantSnapshot(self.clock.now())
        polled = await asyncio.gather(*(device.poll() for device in self.devices.values()))
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
