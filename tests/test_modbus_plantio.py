"""ModbusPlantIO over real loopback Modbus TCP: every device polled concurrently, never more at once than the
bound, devices of one register map sharing it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from conftest import EXAMPLES

from app.clock import SimClock
from app.config import SiteConfig, TcpConnection, load_site
from app.devices.modbus import ModbusDevice
from app.devices.plantio import ModbusPlantIO
from app.devices.registermap import load_map, resolve_map_path
from app.devices.simulator import Fault, ModbusSimulator
from app.plant.plant import HeatPumpPoints
from app.snapshot import DeviceSnapshot

T0 = datetime(2024, 1, 10, 6, 0, tzinfo=UTC)
UNITS = 6


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture
async def estate() -> AsyncIterator[SiteConfig]:
    """The school's heat pump repeated on UNITS simulators, each answering every request 50 ms late."""
    school = load_site(EXAMPLES / "school.yaml")
    template = school.heat_pumps[0]
    regmap = load_map(resolve_map_path(template.register_map))
    pumps = [template.model_copy(update={"id": f"hp{i}", "connection": TcpConnection(host="127.0.0.1", port=port)})
             for i, port in enumerate(free_ports(UNITS))]
    sims = []
    for hp in pumps:
        sim = ModbusSimulator({1: (regmap, HeatPumpPoints.standalone(school, T0, hours=2))}, "127.0.0.1",
                              hp.connection.port)  # type: ignore[union-attr]
        await sim.start()
        sim.inject(1, Fault("delay", seconds=0.05))
        sims.append(sim)
    yield school.model_copy(update={"heat_pumps": pumps, "meters": [], "io_modules": []})
    for sim in sims:
        await sim.stop()


def count_in_flight(plant_io: ModbusPlantIO) -> list[int]:
    """Watch each device's polls: the returned list gets the number in flight each time one starts."""
    seen: list[int] = []
    in_flight = 0
    for device in plant_io.devices.values():
        def watched(poll=device.poll):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
            async def run() -> DeviceSnapshot:
                nonlocal in_flight
                in_flight += 1
                seen.append(in_flight)
                try:
                    return await poll()
                finally:
                    in_flight -= 1
            return run()
        device.poll = watched  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize("bound", [2, UNITS])
async def test_devices_are_polled_concurrently_never_more_than_the_bound(estate: SiteConfig, bound: int) -> None:
    plant_io = ModbusPlantIO(estate, SimClock(T0), max_concurrent_polls=bound)
    seen = count_in_flight(plant_io)
    try:
        snapshot = await plant_io.read()
    finally:
        await plant_io.close()
    assert sorted(snapshot.devices) == sorted(hp.id for hp in estate.heat_pumps)
    assert all(d.comms_ok for d in snapshot.devices.values())
    assert all(d.value("flow_temp") is not None for d in snapshot.devices.values())
    assert len(seen) == UNITS and max(seen) == bound


async def test_devices_of_one_register_map_share_the_loaded_map(estate: SiteConfig) -> None:
    plant_io = ModbusPlantIO(estate, SimClock(T0))
    maps = {id(device.map) for device in plant_io.devices.values()}
    assert len(plant_io.devices) == UNITS and len(maps) == 1
    assert all(isinstance(d, ModbusDevice) for d in plant_io.devices.values())


def test_a_bound_below_one_is_refused(estate: SiteConfig) -> None:
    with pytest.raises(ValueError, match="max_concurrent_polls must be at least 1 \\(got 0\\)"):
        ModbusPlantIO(estate, SimClock(T0), max_concurrent_polls=0)
