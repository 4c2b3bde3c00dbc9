"""The driver against real sockets: independent masters and slaves, RTU over a pty pair, injected faults,
write guards, stale values, the device watchdog and release of control."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, ROOT

from app.clock import SimClock
from app.config import RtuConnection, TcpConnection, load_site
from app.devices import codec
from app.devices.cli import simulated_unit
from app.devices.modbus import ModbusDevice
from app.devices.registermap import RegisterMap, load_map
from app.devices.simulator import Fault, ModbusSimulator, SerialPort
from app.plant.plant import HeatPumpPoints
from app.snapshot import Quality

T0 = datetime(2024, 1, 10, 6, 0, tzinfo=UTC)
MAPS = ROOT / "register_maps"
GENERIC = load_map(MAPS / "generic_heat_pump.yaml")


class Rows:
    """Collects what the driver records (writes or events)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def __call__(self, ts, *args, **kw):  # noqa: ANN001, ANN002, ANN003
        self.rows.append(args)


def make_plant() -> HeatPumpPoints:
    site = load_site(EXAMPLES / "school.yaml")
    return HeatPumpPoints.standalone(site, T0, hours=24)


def map_variant(tmp_path: Path, base: str, **changes: object) -> RegisterMap:
    """A shipped map with top-level fields or points changed (points: {name: {field: value}})."""
    doc = yaml.safe_load((MAPS / base).read_text())
    for name, fields in dict(changes.pop("points", {})).items():  # type: ignore[call-overload]
        next(p for p in doc["points"] if p["name"] == name).update(fields)
    doc.update(changes)
    path = tmp_path / base
    path.write_text(yaml.safe_dump(doc))
    return load_map(path)


@pytest.fixture
async def sim(free_port: int):  # noqa: ANN201
    plant = make_plant()
    simulator = ModbusSimulator({1: (GENERIC, plant)}, "127.0.0.1", free_port)
    await simulator.start()
    yield simulator, plant, free_port
    await simulator.stop()


def tcp(port: int, unit: int = 1, timeout: float = 1.0) -> TcpConnection:
    return TcpConnection(host="127.0.0.1", port=port, unit_id=unit, timeout_s=timeout)


# -- independent peers --------------------------------------------------------------------------------
def mbpoll_words(port: int, table: int, start: int, count: int) -> list[int]:
    result = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(port), "-a", "1", "-0", "-1", "-t", f"{table}:hex",
                             "-r", str(start), "-c", str(count), "127.0.0.1"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stdout + result.stderr
    return [int(v, 16) for v in re.findall(r"^\[\d+\]:\s+0x([0-9A-Fa-f]+)", result.stdout, re.M)]


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll (Debian package) is not installed")
async def test_mbpoll_reads_the_registers_the_map_implies_and_the_driver_agrees(sim) -> None:  # noqa: ANN001
    simulator, plant, port = sim
    values = plant.values()
    inputs = [p for p in GENERIC.points if p.register_type.value == "input"]
    count = max(p.address + p.count for p in inputs)
    words = await asyncio.to_thread(mbpoll_words, port, 3, 0, count)
    expected = [0] * count
    for p in inputs:
        expected[p.address:p.address + p.count] = codec.encode(p, values[p.name])
    assert words == expected
    snap = await ModbusDevice("hp1", GENERIC, tcp(port), SimClock(T0)).poll()
    for p in inputs:
        decoded = codec.decode(p, words[p.address:p.address + p.count])[1]
        assert snap.readings[p.name].value == pytest.approx(decoded)


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll (Debian package) is not installed")
async def test_mbpoll_sees_a_low_word_first_map_as_the_map_says(free_port: int) -> None:
    nibe = load_map(MAPS / "nibe_s1156_s1256.yaml")
    plant = make_plant()
    unit = simulated_unit(nibe, plant)
    simulator = ModbusSimulator({1: (nibe, unit)}, "127.0.0.1", free_port)
    await simulator.start()
    try:
        unit.write("degree_minutes_32_bit", -200.0)  # type: ignore[attr-defined]
        point = nibe.by_name["degree_minutes_32_bit"]
        words = await asyncio.to_thread(mbpoll_words, free_port, 4, nibe.wire_address(point)[1], 2)
        assert words == [0xF830, 0xFFFF]  # -2000 raw, low word first as the S-series reads
        snap = await ModbusDevice("nibe", nibe, tcp(free_port), SimClock(T0)).poll()
        assert snap.value("flow_temp") == pytest.approx(plant.flow_c, abs=0.05)
        assert snap.readings["degree_minutes_32_bit"].value == -200.0
    finally:
        await simulator.stop()


@pytest.fixture
def modbus_tk_slave(free_port: int):  # noqa: ANN201
    """A slave that is not pymodbus: modbus-tk's TCP server holding the generic map's registers."""
    tk_defines = pytest.importorskip("modbus_tk.defines", reason="modbus-tk (PyPI) is not installed")
    from modbus_tk.modbus_tcp import TcpServer

    values = make_plant().values()
    server = TcpServer(port=free_port, address="127.0.0.1")
    slave = server.add_slave(1)
    kinds = {"holding": tk_defines.HOLDING_REGISTERS, "input": tk_defines.ANALOG_INPUTS,
             "coil": tk_defines.COILS, "discrete": tk_defines.DISCRETE_INPUTS}
    for table, kind in kinds.items():
        points = [p for p in GENERIC.points if p.register_type.value == table]
        if not points:
            continue
        size = max(p.address + p.count for p in points)
        slave.add_block(table, kind, 0, size)
        for p in points:
            slave.set_values(table, p.address, codec.encode(p, values[p.name]))
    server.start()  # listens from a thread of its own: wait until it accepts connections
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", free_port)) == 0:
                break
        time.sleep(0.05)
    yield free_port, values, slave
    server.stop()


async def test_driver_reads_a_slave_that_is_not_pymodbus(modbus_tk_slave) -> None:  # noqa: ANN001
    port, values, _ = modbus_tk_slave
    snap = await ModbusDevice("hp1", GENERIC, tcp(port), SimClock(T0)).poll()
    assert snap.comms_ok
    for name in ("flow_temp", "outdoor_temp", "electrical_energy", "bms_control"):
        assert snap.readings[name].value == pytest.approx(values[name], abs=GENERIC.by_name[name].scale / 2)


async def test_a_silent_unknown_unit_times_out_then_the_right_unit_answers(modbus_tk_slave) -> None:  # noqa: ANN001
    port, values, _ = modbus_tk_slave
    events = Rows()
    clock = SimClock(T0)
    wrong = ModbusDevice("ghost", GENERIC, tcp(port, unit=7, timeout=0.3), clock, events=events, comms_lost_after=2)
    for _ in range(2):
        snap = await wrong.poll()  # modbus-tk, like a real RTU slave, does not answer a unit it is not
        assert not snap.comms_ok and all(r.quality is Quality.COMM_ERROR for r in snap.readings.values())
        clock.advance(60)
    assert wrong.health.comms_lost and events.rows[0][0] == "comms_lost"
    right = ModbusDevice("hp1", GENERIC, tcp(port, unit=1), clock)
    assert (await right.poll()).value("flow_temp") == pytest.approx(values["flow_temp"], abs=0.05)


# -- RTU over a pty pair ------------------------------------------------------------------------------
@pytest.fixture
async def pty_pair(tmp_path: Path):  # noqa: ANN201
    if shutil.which("socat") is None:
        pytest.skip("socat (Debian package) is not installed")
    a, b = tmp_path / "slave", tmp_path / "master"
    proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if a.exists() and b.exists():
            break
        await asyncio.sleep(0.05)
    yield str(a), str(b)
    proc.terminate()
    proc.wait(5)


async def test_rtu_over_a_pty_pair_with_crc_errors_and_a_silent_unit(pty_pair) -> None:  # noqa: ANN001
    slave_end, master_end = pty_pair
    plant = make_plant()
    simulator = ModbusSimulator({1: (GENERIC, plant)}, serial=SerialPort(slave_end, 19200))
    await simulator.start()
    clock = SimClock(T0)
    device = ModbusDevice("hp1", GENERIC, RtuConnection(transport="rtu", device=master_end, unit_id=1,
                                                        baudrate=19200, timeout_s=1.0), clock)
    try:
        snap = await device.poll()
        assert snap.comms_ok and snap.value("flow_temp") == pytest.approx(plant.flow_c, abs=0.05)
        simulator.inject(1, Fault("crc"))
        snap = await device.poll()
        assert not snap.comms_ok and snap.by_role("flow_temp").quality is Quality.COMM_ERROR
        simulator.clear()
        clock.advance(5)
        await asyncio.sleep(0.3)  # let the line settle
        assert (await device.poll()).comms_ok
        ghost = ModbusDevice("hp9", GENERIC, RtuConnection(transport="rtu", device=master_end, unit_id=9,
                                                           baudrate=19200, timeout_s=0.3), clock, link=device.link)
        assert not (await ghost.poll()).comms_ok  # an RTU slave stays silent for a unit id it is not
        clock.advance(5)
        assert (await device.poll()).comms_ok  # and the bus still serves the real unit
    finally:
        await device.close()
        await simulator.stop()


# -- faults over real sockets -------------------------------------------------------------------------
@pytest.mark.parametrize(("fault", "quality"), [
    (Fault("sentinel", points=("flow_temp",)), Quality.SENTINEL),
    (Fault("garbage", points=("flow_temp",)), Quality.OUT_OF_RANGE),
])
async def test_bad_values_are_never_numbers(sim, fault: Fault, quality: Quality) -> None:  # noqa: ANN001
    simulator, plant, port = sim
    device = ModbusDevice("hp1", GENERIC, tcp(port), SimClock(T0))
    simulator.inject(1, fault)
    snap = await device.poll()
    assert snap.comms_ok and snap.by_role("flow_temp").quality is quality and snap.value("flow_temp") is None
    assert snap.value("return_temp") == pytest.approx(plant.return_c, abs=0.05)
    simulator.clear()
    assert (await device.poll()).value("flow_temp") == pytest.approx(plant.flow_c, abs=0.05)


@pytest.mark.parametrize("fault", [Fault("no_reply"), Fault("delay", seconds=2.0), Fault("disconnect"),
                                   Fault("exception", code=4)], ids=lambda f: f.kind)
async def test_comms_faults_give_comm_errors_events_and_recovery(sim, fault: Fault) -> None:  # noqa: ANN001
    simulator, plant, port = sim
    clock, events = SimClock(T0), Rows()
    device = ModbusDevice("hp1", GENERIC, tcp(port), clock, events=events, comms_lost_after=2)
    assert (await device.poll()).comms_ok
    simulator.inject(1, fault)
    for _ in range(2):
        snap = await device.poll()
        assert all(r.quality is Quality.COMM_ERROR and r.value is None for r in snap.readings.values())
        clock.advance(120)
    if fault.kind == "exception":  # the device answers: the readings are errors, the link is not lost
        assert snap.comms_ok and device.health.exceptions >= 2 and not events.rows
    else:
        assert not snap.comms_ok and device.health.comms_lost
        assert [e[0] for e in events.rows] == ["comms_lost"]
    simulator.clear()
    await asyncio.sleep(2.1 if fault.kind == "delay" else 0)  # let a delayed reply drain
    snap = await device.poll()
    assert snap.comms_ok and snap.value("flow_temp") == pytest.approx(plant.flow_c, abs=0.05)
    if fault.kind != "exception":
        assert [e[0] for e in events.rows] == ["comms_lost", "comms_restored"]


async def test_backoff_skips_polls_until_the_retry_time(sim) -> None:  # noqa: ANN001
    simulator, _, port = sim
    clock = SimClock(T0)
    device = ModbusDevice("hp1", GENERIC, tcp(port), clock)
    simulator.inject(1, Fault("no_reply"))
    await device.poll()
    simulator.clear()
    assert not (await device.poll()).comms_ok and device.health.skipped_polls == 1  # still inside 1 s backoff
    clock.advance(1.0)
    assert (await device.poll()).comms_ok


async def test_a_refused_block_is_halved_and_the_split_remembered(free_port: int) -> None:
    stiebel = load_map(MAPS / "stiebel_eltron_wpm_isg.yaml")
    simulator = ModbusSimulator({1: (stiebel, simulated_unit(stiebel, make_plant()))}, "127.0.0.1", free_port)
    await simulator.start()
    try:
        device = ModbusDevice("wpm", stiebel, tcp(free_port), SimClock(T0))
        snap = await device.poll()  # the simulator, like an ISG, refuses reads spanning unserved registers
        assert snap.comms_ok and device.health.split_blocks > 0
        assert all(r.quality is not Quality.COMM_ERROR for r in snap.readings.values())
        assert snap.value("heat_energy_total") is not None  # kWh remainder + MWh whole
        splits, blocks = device.health.split_blocks, len(device.blocks)
        await device.poll()
        assert device.health.split_blocks == splits and len(device.blocks) == blocks
    finally:
        await simulator.stop()


# -- write guards ---------------------------------------------------------------------------------------
async def test_write_guards_refuse_and_record_and_a_good_write_is_read_back(sim) -> None:  # noqa: ANN001
    simulator, plant, port = sim
    clock, recorder = SimClock(T0), Rows()
    device = ModbusDevice("hp1", GENERIC, tcp(port), clock, recorder)
    point = GENERIC.by_name["flow_setpoint"]
    simulator.inject(1, Fault("exception", code=4, remaining=1))  # the unit refuses BMS mode once
    missing = await device.write(point, 45.0, "weather compensation")
    assert missing.outcome == "refused" and "precondition bms_control=1 not met" in missing.reason
    assert not plant.bms_control and plant.flow_setpoint_c == 45.0
    good = await device.write(point, 47.0, "weather compensation")
    assert good.outcome == "verified" and plant.flow_setpoint_c == pytest.approx(47.0)
    assert (await device.write(point, 49.0, "again")).outcome == "refused"  # too frequent (EEPROM)
    assert (await device.write(point, 61.0, "too hot")).outcome == "refused"
    assert (await device.write(GENERIC.by_name["flow_temp"], 40.0, "not writable")).outcome == "refused"
    outcomes = [(point_name, outcome) for _, point_name, outcome, _ in recorder.rows]
    assert outcomes == [("bms_control", "failed"), ("flow_setpoint", "refused"), ("bms_control", "verified"),
                        ("flow_setpoint", "verified"), ("flow_setpoint", "refused"), ("flow_setpoint", "refused"),
                        ("flow_temp", "refused")]
    assert "too frequent" in recorder.rows[4][3] and "above the maximum 60" in recorder.rows[5][3]


async def test_live_limits_from_the_device_narrow_a_write(free_port: int) -> None:
    daikin = load_map(MAPS / "daikin_altherma3_ekrhh.yaml")
    unit = simulated_unit(daikin, make_plant())
    unit.held["lwt_heating_upper_limit"] = 50.0  # type: ignore[attr-defined]
    simulator = ModbusSimulator({1: (daikin, unit)}, "127.0.0.1", free_port)
    await simulator.start()
    try:
        device = ModbusDevice("daikin", daikin, tcp(free_port), SimClock(T0))
        await device.poll()
        setpoint = daikin.by_name["leaving_water_main_heating_setpoint"]
        refused = await device.write(setpoint, 55.0, "test")
        assert refused.outcome == "refused" and "above the maximum 50" in refused.reason  # the map allows 65
        assert (await device.write(setpoint, 48.0, "test")).outcome == "verified"
        assert unit.held["weather_dependent_mode_main"] == 0  # type: ignore[attr-defined]  # precondition set
    finally:
        await simulator.stop()


# -- stale values, watchdog and release -----------------------------------------------------------------
async def test_a_slow_value_is_served_while_young_and_stale_when_not_refreshed(tmp_path: Path, free_port: int) -> None:
    regmap = map_variant(tmp_path, "generic_heat_pump.yaml",
                         points={"heat_energy": {"poll_interval_s": 10, "max_age_s": 30}})
    simulator = ModbusSimulator({1: (regmap, make_plant())}, "127.0.0.1", free_port)
    await simulator.start()
    try:
        clock = SimClock(T0)
        device = ModbusDevice("hp1", regmap, tcp(free_port), clock)
        first = (await device.poll()).readings["heat_energy"]
        assert first.good
        clock.advance(5)
        assert (await device.poll()).readings["heat_energy"] is first  # not due: the same reading, same time
        simulator.inject(1, Fault("exception", code=4))
        clock.advance(10)
        assert (await device.poll()).readings["heat_energy"] is first  # refused, 15 s old: still good
        clock.advance(20)
        stale = (await device.poll()).readings["heat_energy"]
        assert stale.quality is Quality.STALE and stale.value is None
        simulator.clear()
        fresh = (await device.poll()).readings["heat_energy"]
        assert fresh.good and fresh.ts == clock.now()
    finally:
        await simulator.stop()


async def test_the_unit_returns_to_local_control_when_the_heartbeat_lapses(tmp_path: Path, free_port: int) -> None:
    regmap = map_variant(tmp_path, "generic_heat_pump.yaml",
                         heartbeat={"point": "heartbeat", "period_s": 0.2, "timeout_s": 0.6, "mode": "counter"})
    plant = make_plant()
    simulator = ModbusSimulator({1: (regmap, plant)}, "127.0.0.1", free_port)
    await simulator.start()
    try:
        clock = SimClock(T0)
        device = ModbusDevice("hp1", regmap, tcp(free_port), clock)
        await device.poll()
        assert (await device.write(regmap.by_name["enable"], 1, "test")).outcome == "verified"
        assert plant.bms_control
        for _ in range(5):  # polling keeps the heartbeat going
            clock.advance(0.2)
            await device.poll()
            await asyncio.sleep(0.2)
        assert plant.bms_control and device.health.heartbeats >= 5
        await asyncio.sleep(1.2)  # the supervisor stops without a word
        assert not plant.bms_control and simulator.images[1].released == 1
    finally:
        await simulator.stop()


async def test_release_gives_the_control_mode_back(sim) -> None:  # noqa: ANN001
    _, plant, port = sim
    recorder = Rows()
    device = ModbusDevice("hp1", GENERIC, tcp(port), SimClock(T0), recorder)
    await device.poll()
    assert (await device.write(GENERIC.by_name["flow_setpoint"], 46.0, "test")).outcome == "verified"
    assert plant.bms_control
    results = await device.release()
    assert [r.outcome for r in results] == ["verified"] and not plant.bms_control
    assert recorder.rows[-1][1:3] == ("bms_control", "verified") and recorder.rows[-1][3].startswith("release")
    assert await device.release() == [] or not plant.bms_control
