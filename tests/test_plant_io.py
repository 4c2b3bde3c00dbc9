"""The in-process PlantIO: the simulated plant as its register maps show it, indistinguishable from Modbus."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import EXAMPLES

from app.clock import SimClock
from app.config import TcpConnection, load_site
from app.devices.plantio import ModbusPlantIO
from app.devices.registermap import load_map, resolve_map_path
from app.devices.simulator import ModbusSimulator
from app.plant.plant import HeatPumpPoints, Plant
from app.plant.plantio import SimulatedPlantIO, simulated_maps
from app.plant.weather import builtin
from app.snapshot import Commands, Quality

T0 = datetime(2024, 1, 15, 6, 0, tzinfo=UTC)


@pytest.fixture
def site():  # noqa: ANN201
    return simulated_maps(load_site(EXAMPLES / "school.yaml"))


async def test_snapshot_has_the_maps_points_roles_and_calibration(site) -> None:  # noqa: ANN001
    plant = Plant(site, builtin(), T0, 24)
    io = SimulatedPlantIO(site, plant, SimClock(T0))
    snap = await io.read()
    hp = snap.devices["hp1"]
    regmap = load_map(resolve_map_path("generic_heat_pump"))
    assert set(hp.readings) == {p.name for p in regmap.points if p.readable}
    assert hp.value("outdoor_temp") == pytest.approx(plant.outdoor_c)
    assert hp.value("return_temp") == pytest.approx(plant.return_c - 0.2)   # the site's calibration offset
    assert hp.value("dhw_temp.1") == pytest.approx(plant.cylinder.sensor(-1))
    assert all(r.ts == T0 for r in hp.readings.values())


async def test_writes_pass_the_maps_guards_and_set_control_mode_first(site) -> None:  # noqa: ANN001
    plant = Plant(site, builtin(), T0, 24)
    writes: list[tuple[str, str]] = []
    io = SimulatedPlantIO(site, plant, SimClock(T0), lambda ts, dev, point, outcome, reason, **kw:
                          writes.append((point, outcome)))
    cmds = Commands(T0)
    cmds.set("hp1", "flow_setpoint", 75.0, "too hot")
    cmds.set("hp1", "flow_temp", 40.0, "not writable")
    cmds.set("hp1", "flow_setpoint", 47.0, "weather compensation")
    cmds.set("boiler9", "boiler_enable", 1.0, "no such device")
    results = await io.write(cmds)
    assert [r.outcome for r in results] == ["refused", "refused", "verified", "refused"]
    assert "above the maximum 60" in results[0].reason
    assert writes == [("flow_setpoint", "refused"), ("flow_temp", "refused"), ("bms_control", "verified"),
                      ("flow_setpoint", "verified")]
    assert plant.controls["hp1"].bms_control and plant.controls["hp1"].flow_setpoint_c == 47.0
    again = await io.write(Commands(T0, [cmds.points[2]]))
    assert again[0].outcome == "unchanged"
    await io.close()
    assert not plant.controls["hp1"].bms_control   # released back to the unit's own control


async def test_in_process_and_modbus_reads_agree(site, free_port: int) -> None:  # noqa: ANN001
    plant = Plant(site, builtin(), T0, 24)
    for _ in range(30):
        plant.step(60)
    hp = site.heat_pumps[0]
    regmap = load_map(resolve_map_path(hp.register_map))
    sim = ModbusSimulator({1: (regmap, HeatPumpPoints(plant, hp.id))}, "127.0.0.1", free_port)
    await sim.start()
    wired = site.model_copy(update={"heat_pumps": [hp.model_copy(update={
        "connection": TcpConnection(host="127.0.0.1", port=free_port)})]})
    clock = SimClock(T0)
    modbus = ModbusPlantIO(wired, clock)
    try:
        over_tcp = (await modbus.read()).devices["hp1"]
        in_process = (await SimulatedPlantIO(site, plant, clock).read()).devices["hp1"]
    finally:
        await modbus.close()
        await sim.stop()
    assert over_tcp.comms_ok and set(over_tcp.readings) == set(in_process.readings)
    assert over_tcp.roles == in_process.roles
    for name, reading in in_process.readings.items():
        other = over_tcp.readings[name]
        assert other.quality is reading.quality, name
        if reading.quality is Quality.GOOD:
            resolution = abs(regmap.by_name[name].scale)
            assert other.value == pytest.approx(reading.value, abs=resolution), name
