"""PlantIO: the seam between the supervisor and the plant. One read gives a snapshot, one write applies commands.

The Modbus implementation talks to every configured device through its register map; the supervisor
cannot tell it from an in-process simulated plant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from app.clock import Clock
from app.config import SiteConfig
from app.devices.modbus import ModbusDevice, WriteRecorder, WriteResult
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
                 site_dir: Path | None = None) -> None:
        self.clock = clock
        self.devices: dict[str, ModbusDevice] = {}
        for hp in site.heat_pumps:
            regmap = load_map(resolve_map_path(hp.register_map, site_dir))
            self.devices[hp.id] = ModbusDevice(hp.id, regmap, hp.connection, clock, recorder, hp.calibration)
        for meter in site.meters:
            regmap = load_map(resolve_map_path(meter.register_map, site_dir))
            self.devices[meter.id] = ModbusDevice(meter.id, regmap, meter.connection, clock, recorder,
                                                  meter.calibration)
        for io in site.io_modules:
            regmap = load_map(resolve_map_path(io.register_map, site_dir))
            self.devices[io.id] = ModbusDevice(io.id, regmap, io.connection, clock, recorder)

    async def read(self) -> PlantSnapshot:
        snapshot = PlantSnapshot(self.clock.now())
        for device_id, device in self.devices.items():
            snapshot.devices[device_id] = await device.poll()
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

    async def close(self) -> None:
        for device in self.devices.values():
            await device.close()
