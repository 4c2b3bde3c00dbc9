"""The thin slice over real Modbus TCP: simulator serves a plant through a map; the driver reads and writes it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT

from app.clock import SimClock
from app.config import TcpConnection, load_site
from app.devices.modbus import ModbusDevice, plan_reads
from app.devices.registermap import load_map
from app.devices.simulator import ModbusSimulator
from app.plant.plant import HeatPumpPoints, Plant
from app.plant.weather import builtin
from app.snapshot import Quality

T0 = datetime(2024, 1, 10, 6, 0, tzinfo=UTC)
MAP = load_map(ROOT / "register_maps" / "generic_heat_pump.yaml")


class Recorder:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def __call__(self, ts, device, point, outcome, reason, **kw):  # noqa: ANN001, ANN003
        self.rows.append((point, outcome, reason))


@pytest.fixture
async def served(free_port: int):  # noqa: ANN201
    site = load_site(EXAMPLES / "school.yaml")
    plant = HeatPumpPoints(Plant(site, builtin(), T0, 24), "hp1")
    sim = ModbusSimulator({1: (MAP, plant)}, "127.0.0.1", free_port)
    await sim.start()
    recorder = Recorder()
    device = ModbusDevice("hp1", MAP, TcpConnection(host="127.0.0.1", port=free_port), SimClock(T0), recorder)
    yield plant, device, recorder
    await device.close()
    await sim.stop()


def test_reads_are_batched_into_few_requests() -> None:
    blocks = plan_reads(MAP)
    assert len(blocks) == 3  # input registers, discrete inputs, holding registers: one read each
    assert sum(len(b.points) for b in blocks) == len([p for p in MAP.points if p.readable])
    assert all(b.count <= 125 for b in blocks)


async def test_poll_decodes_what_the_plant_reports(served) -> None:  # noqa: ANN001
    plant, device, _ = served
    snap = await device.poll()
    assert snap.comms_ok
    values = plant.values()
    assert snap.value("flow_temp") == pytest.approx(values["flow_temp"], abs=0.05)
    assert snap.value("outdoor_temp") == pytest.approx(plant.plant.outdoor_c, abs=0.05)
    assert snap.value("dhw_temp.1") == pytest.approx(values["dhw_bottom_temp"], abs=0.05)
    assert snap.value("compressor_running") == 0.0


async def test_sentinel_reading_is_not_a_number(served) -> None:  # noqa: ANN001
    plant, device, _ = served
    original = plant.values

    def broken_sensor():  # noqa: ANN202
        return {**original(), "flow_temp": None}

    plant.values = broken_sensor
    snap = await device.poll()
    reading = snap.by_role("flow_temp")
    assert reading.quality is Quality.SENTINEL and reading.value is None
    assert snap.value("flow_temp") is None


async def test_guarded_writes_refuse_unwritable_and_out_of_range_and_verify_good_ones(served) -> None:  # noqa: ANN001
    plant, device, recorder = served
    await device.poll()
    refused = await device.write(MAP.by_name["flow_temp"], 40.0, "test")
    assert refused.outcome == "refused" and "not writable" in refused.reason
    too_hot = await device.write(MAP.by_name["flow_setpoint"], 75.0, "test")
    assert too_hot.outcome == "refused" and "above the maximum 60" in too_hot.reason
    controls = plant.plant.controls["hp1"]
    assert controls.flow_setpoint_c == 45.0 and not controls.bms_control  # nothing reached the plant
    good = await device.write(MAP.by_name["flow_setpoint"], 48.5, "weather compensation")
    assert good.outcome == "verified"
    assert controls.flow_setpoint_c == pytest.approx(48.5) and controls.bms_control  # precondition set first
    assert recorder.rows[0] == ("heartbeat", "written", "heartbeat started")  # the first poll starts the watchdog
    assert [(p, o) for p, o, _ in recorder.rows[1:]] == [
        ("flow_temp", "refused"), ("flow_setpoint", "refused"), ("bms_control", "verified"),
        ("flow_setpoint", "verified")]
    again = await device.write(MAP.by_name["flow_setpoint"], 50.0, "weather compensation")
    assert again.outcome == "refused" and "too frequent" in again.reason
    small = await device.write(MAP.by_name["flow_setpoint"], 48.7, "weather compensation")
    assert small.outcome == "unchanged"


async def test_device_gone_gives_comm_error_not_numbers(tmp_path: Path, free_port: int) -> None:
    device = ModbusDevice("hp1", MAP, TcpConnection(host="127.0.0.1", port=free_port, timeout_s=0.2), SimClock(T0))
    snap = await device.poll()
    assert not snap.comms_ok
    assert all(r.quality is Quality.COMM_ERROR and r.value is None for r in snap.readings.values())
    assert device.health.poll_failures == 1
