"""The BACnet device of a running supervisor, seen from an independent BACnet stack (rusty-bacnet) over UDP.

One `hpsup run` process serves the school site against a Modbus heat pump whose readings the test sets;
the test is the FM front-end: discovery, reads, priority writes, COV, alarms with acknowledgement, trend
log ReadRange. BACnet ports are free ports on loopback (the device on one, the client on another).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bacnet_peer import Background, Plant, SupervisorProcess, free_udp_port, school_site, wait_until

rb = pytest.importorskip("rusty_bacnet", reason="rusty-bacnet (the independent BACnet peer) is not installed")
OI, OT, P, PV = rb.ObjectIdentifier, rb.ObjectType, rb.PropertyIdentifier, rb.PropertyValue

DEVICE = OI(OT.DEVICE, 3056)
FLOW_TEMP = OI(OT.ANALOG_INPUT, 10001)
RETURN_TEMP = OI(OT.ANALOG_INPUT, 10002)
HP_MODE = OI(OT.MULTI_STATE_INPUT, 10007)
HP_ENABLE = OI(OT.BINARY_VALUE, 10017)
HP_COMMS = OI(OT.BINARY_INPUT, 10016)
COMMS_LOST = OI(OT.BINARY_INPUT, 10030)
SENSOR_FAULT = OI(OT.BINARY_INPUT, 10031)
FLOW_SETPOINT = OI(OT.ANALOG_VALUE, 30001)
STORAGE_SETPOINT = OI(OT.ANALOG_VALUE, 40011)
PASTEURISE_DAY = OI(OT.MULTI_STATE_VALUE, 40014)
DHW_TOP = OI(OT.ANALOG_INPUT, 40001)
DHW_TOP_TREND = OI(OT.TREND_LOG, 40001)
EVENT_LOG = OI(OT.EVENT_LOG, 1)
WRITE_ACCESS_DENIED, VALUE_OUT_OF_RANGE, INVALID_DATA_TYPE, UNKNOWN_OBJECT, READ_ACCESS_DENIED = 40, 37, 9, 31, 27
NO_SENSOR = 1
FAULT = 0x40  # status-flags: in-alarm 0x80, fault 0x40, overridden 0x20, out-of-service 0x10


@dataclass
class Device:
    """The running supervisor's BACnet device as the front-end sees it."""

    bg: Background
    client: Any
    addr: str
    client_addr: str
    db: Path
    plant: Plant
    recipient_addr: str

    def run(self, make: Any, timeout: float = 20) -> Any:
        return self.bg.run(make, timeout)

    def read(self, oid: Any, prop: Any = P.PRESENT_VALUE, index: int | None = None) -> Any:
        return self.run(lambda: self.client.read_property(self.addr, oid, prop, index)).value

    def write(self, oid: Any, value: Any, priority: int | None = 8, prop: Any = P.PRESENT_VALUE) -> int | None:
        """None when accepted, else the BACnet error code."""
        try:
            self.run(lambda: self.client.write_property(self.addr, oid, prop, value, priority))
        except rb.BacnetProtocolError as exc:
            return exc.error_code
        return None

    def events(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        with sqlite3.connect(self.db) as conn:
            rows = conn.execute("select reason, data from events where kind = ? order by id", (kind,)).fetchall()
        return [(reason, json.loads(data) if isinstance(data, str) else data) for reason, data in rows]

    def received_alarms(self) -> list[dict[str, Any]]:
        """The event notifications the front-end's event log has received, oldest first."""
        result = self.run(lambda: self.client.read_range(self.recipient_addr, EVENT_LOG, P.LOG_BUFFER))
        return [r["datum"]["notification"] for r in rb.decode_log_records(result) if r["datum"]["kind"] ==
                "notification"]


def flags(value: Any) -> int:
    """A status-flags bit string as its octet."""
    return value.value["data"][0]


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    bg = Background()
    plant = Plant(bg)
    plant.start()
    recipient_port = free_udp_port()
    recipient = rb.BACnetServer(device_instance=4001, device_name="front-end", interface="127.0.0.1",
                                port=recipient_port, broadcast_address="127.255.255.255")
    recipient.add_event_log(1, "received alarms", buffer_size=100, log_received_notifications=True)
    bg.run(recipient.start)
    folder = tmp_path_factory.mktemp("bacnet")
    bacnet_port, client_port = free_udp_port(), free_udp_port()
    site = school_site(folder / "site.yaml", modbus_port=plant.port, bacnet_port=bacnet_port,
                       recipient_port=recipient_port)
    proc = SupervisorProcess(site, f"sqlite:///{folder / 'hpsup.db'}")
    client = rb.BACnetClient(interface="127.0.0.1", port=client_port, broadcast_address="127.255.255.255",
                             apdu_timeout_ms=2000)
    bg.run(client.__aenter__)
    dev = Device(bg, client, f"127.0.0.1:{bacnet_port}", f"127.0.0.1:{client_port}", folder / "hpsup.db", plant,
                 f"127.0.0.1:{recipient_port}")

    def answers() -> bool:
        assert proc.alive(), proc.stop()
        try:
            return dev.read(FLOW_TEMP, P.RELIABILITY) == 0  # up, and the first cycle has been shown
        except rb.BacnetError:
            return False

    try:
        assert wait_until(answers, 30, 0.3), "the supervisor's BACnet device did not come up"
        yield dev
    finally:
        bg.run(lambda: client.__aexit__(None, None, None))
        out, err = proc.stop()
        bg.run(recipient.stop)
        plant.stop()
        bg.close()
    assert "Traceback" not in err, err


def test_who_is_is_answered_by_the_device_named_in_the_site_file(device: Device) -> None:
    device.run(lambda: device.client.who_is_directed(device.addr))
    assert wait_until(lambda: device.run(lambda: device.client.get_device(3056)) is not None, 3)
    found = device.run(lambda: device.client.get_device(3056))
    assert found.vendor_id == 999
    assert device.read(DEVICE, P.OBJECT_NAME) == "Riverside HP Supervisor"
    assert device.read(DEVICE, P.VENDOR_NAME) == "hp-supervisor"


def test_read_property_multiple_shows_the_plant_with_status(device: Device) -> None:
    objects = [OI(OT.ANALOG_INPUT, i) for i in (10001, 10002, 10003, 10004, 10009, 10010, 10011, 10012, 10013,
                                                 40001, 40002, 40010, 30050, 30051)]
    objects += [OI(OT.BINARY_INPUT, 10005), HP_COMMS, HP_MODE, FLOW_SETPOINT, STORAGE_SETPOINT, PASTEURISE_DAY]
    assert len(objects) == 20
    results = device.run(lambda: device.client.read_property_multiple(
        device.addr, [(oid, [(P.PRESENT_VALUE, None), (P.STATUS_FLAGS, None)]) for oid in objects]))
    values = {r["object_id"].instance: r["results"][0]["value"].value for r in results}
    assert all(e["error"] is None for r in results for e in r["results"])
    assert all(flags(r["results"][1]["value"]) == 0 for r in results)
    assert values[10001] == pytest.approx(40.0) and values[10003] == pytest.approx(5.0)
    assert values[10002] == pytest.approx(35.0 - 0.2, abs=1e-4)  # the site's calibration offset is applied
    assert values[10013] == pytest.approx(3.0)  # COP = 15 kW heat / 5 kW electricity
    assert values[40001] == pytest.approx(61.0) and values[30050] == pytest.approx(20.5)
    assert values[10016] == 1 and values[10005] == 1  # comms ok, compressor running
    assert device.read(HP_MODE, P.STATE_TEXT)[values[10007] - 1] == "heating"
    assert values[40011] == pytest.approx(62.0)  # the site's storage setpoint as relinquish default
    assert device.read(PASTEURISE_DAY, P.NUMBER_OF_STATES) == 7 and values[40014] == 7  # sunday
    assert device.read(FLOW_TEMP, P.UNITS) == 62  # degrees-celsius
    assert device.read(FLOW_TEMP, P.COV_INCREMENT) == pytest.approx(0.5)
    missing = device.run(lambda: device.client.read_property_multiple(
        device.addr, [(FLOW_TEMP, [(P.PRESENT_VALUE, None)]), (OI(OT.ANALOG_VALUE, 999), [(P.PRESENT_VALUE, None)])]))
    assert missing[1]["results"][0]["error"][1] == rb.ErrorCode.UNKNOWN_OBJECT
    every = device.run(lambda: device.client.read_property_multiple(device.addr, [(STORAGE_SETPOINT, [(P.ALL, None)])]))
    found = {e["property_id"]: e["value"].value for e in every[0]["results"]}
    assert found[P.PRESENT_VALUE] == pytest.approx(62.0) and found[P.MIN_PRES_VALUE] == pytest.approx(60.0)
    assert found[P.EVENT_STATE] == 0 and found[P.OUT_OF_SERVICE] is False and len(found[P.PRIORITY_ARRAY]) == 16


def test_priority_8_and_5_writes_and_relinquish_follow_the_priority_array(device: Device) -> None:
    automatic = device.read(FLOW_SETPOINT, P.RELINQUISH_DEFAULT)
    assert device.read(FLOW_SETPOINT) == pytest.approx(automatic)
    assert device.write(FLOW_SETPOINT, PV.real(45.0), 8) is None
    assert device.read(FLOW_SETPOINT) == pytest.approx(45.0)
    assert device.read(FLOW_SETPOINT, P.PRIORITY_ARRAY, 8) == pytest.approx(45.0)
    assert device.write(FLOW_SETPOINT, PV.real(50.0), 5) is None
    assert device.read(FLOW_SETPOINT) == pytest.approx(50.0)
    assert device.write(FLOW_SETPOINT, PV.null(), 5) is None
    assert device.read(FLOW_SETPOINT) == pytest.approx(45.0)
    assert device.read(FLOW_SETPOINT, P.PRIORITY_ARRAY, 5) is None
    assert device.write(FLOW_SETPOINT, PV.null(), 8) is None
    assert device.read(FLOW_SETPOINT) == pytest.approx(device.read(FLOW_SETPOINT, P.RELINQUISH_DEFAULT))
    writes = [data for _, data in device.events("bacnet_write") if data.get("object") == "ch1.flow_setpoint"]
    assert [(w["priority"], w["written"], w["new"]) for w in writes] == [
        (8, 45.0, 45.0), (5, 50.0, 50.0), (5, None, 45.0), (8, None, writes[-1]["new"])]
    assert writes[0]["old"] == pytest.approx(automatic, abs=0.05)
    assert all(w["address"] == device.client_addr for w in writes)


def test_a_commanded_value_reaches_the_heat_pump_at_the_next_cycle(device: Device) -> None:
    unit = device.plant.unit
    assert wait_until(lambda: unit.data["enable"] == 1, 5)  # automatic: outdoor 5 °C is below the cut-off
    assert device.write(HP_ENABLE, PV.enumerated(0), 8) is None
    assert device.read(HP_ENABLE) == 0
    assert wait_until(lambda: unit.data["enable"] == 0, 5), "the supervisor did not apply the command"
    assert device.write(HP_ENABLE, PV.null(), 8) is None
    assert wait_until(lambda: unit.data["enable"] == 1, 5), "relinquishing did not hand back to automatic"


def test_bad_writes_are_refused_with_their_bacnet_error_and_change_nothing(device: Device) -> None:
    assert device.write(STORAGE_SETPOINT, PV.real(55.0)) == WRITE_ACCESS_DENIED  # HSE L8: never below 60 °C
    assert device.write(STORAGE_SETPOINT, PV.real(80.0)) == VALUE_OUT_OF_RANGE
    assert device.write(STORAGE_SETPOINT, PV.character_string("62")) == INVALID_DATA_TYPE
    assert device.write(STORAGE_SETPOINT, PV.unsigned(62)) == INVALID_DATA_TYPE
    assert device.write(STORAGE_SETPOINT, PV.real(62.0), prop=P.PRIORITY_ARRAY) == WRITE_ACCESS_DENIED
    assert device.write(FLOW_TEMP, PV.real(20.0)) == WRITE_ACCESS_DENIED  # a measurement is read-only
    assert device.write(PASTEURISE_DAY, PV.unsigned(8)) == VALUE_OUT_OF_RANGE
    assert device.write(PASTEURISE_DAY, PV.unsigned(0)) == VALUE_OUT_OF_RANGE
    assert device.write(OI(OT.ANALOG_VALUE, 999), PV.real(1.0)) == UNKNOWN_OBJECT
    assert device.read(STORAGE_SETPOINT) == pytest.approx(62.0)
    assert device.read(STORAGE_SETPOINT, P.PRIORITY_ARRAY, 8) is None
    refused = [data for _, data in device.events("bacnet_write_refused") if data["object"] == "dhw1.storage_setpoint"]
    assert [r["error"] for r in refused] == ["writeAccessDenied", "valueOutOfRange"]


async def _next_cov(stream: Any, oid: Any, timeout: float) -> Any:
    """The next COV notification about `oid` within `timeout` s, else None."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            note = await asyncio.wait_for(stream.__anext__(), left)
        except TimeoutError:
            return None
        if note.monitored_object_identifier == oid:
            return note
    return None


def _cov_value(note: Any, prop: Any) -> Any:
    return next(v["value"] for v in note.values if v["property_id"] == prop)


def test_cov_notifies_within_2_s_of_a_change_beyond_the_increment_and_not_below_it(device: Device) -> None:
    unit, run = device.plant.unit, device.run
    stream = run(lambda: device.client.cov_notifications())
    run(lambda: device.client.subscribe_cov(device.addr, 11, FLOW_TEMP, False, 300))
    first = run(lambda: _next_cov(stream, FLOW_TEMP, 3))
    assert first is not None and _cov_value(first, P.PRESENT_VALUE).value == pytest.approx(40.0)
    unit.data["flow_temp"] = 40.3  # below the 0.5 K increment
    assert run(lambda: _next_cov(stream, FLOW_TEMP, 2.5)) is None
    assert device.read(FLOW_TEMP) == pytest.approx(40.3)  # it was seen, just not reported
    unit.data["flow_temp"] = 41.0
    changed = time.monotonic()
    note = run(lambda: _next_cov(stream, FLOW_TEMP, 3))
    assert note is not None and time.monotonic() - changed < 2.0
    assert _cov_value(note, P.PRESENT_VALUE).value == pytest.approx(41.0)
    assert note.delivery == "unconfirmed"

    run(lambda: device.client.subscribe_cov(device.addr, 12, RETURN_TEMP, True, 300))
    assert run(lambda: _next_cov(stream, RETURN_TEMP, 3)) is not None
    unit.data["return_temp"] = 37.0
    note = run(lambda: _next_cov(stream, RETURN_TEMP, 3))
    assert note is not None and note.delivery == "confirmed"
    assert _cov_value(note, P.PRESENT_VALUE).value == pytest.approx(36.8, abs=1e-4)
    run(lambda: device.client.unsubscribe_cov(device.addr, 11, FLOW_TEMP))
    run(lambda: device.client.unsubscribe_cov(device.addr, 12, RETURN_TEMP))


def test_a_bad_reading_is_a_fault_with_reliability_and_raises_an_acknowledgeable_alarm(device: Device) -> None:
    unit = device.plant.unit
    before = len(device.received_alarms())
    unit.data["flow_temp"] = None  # the controller serves its sentinel: no sensor
    try:
        assert wait_until(lambda: device.read(FLOW_TEMP, P.RELIABILITY) == NO_SENSOR, 5)
        assert flags(device.run(lambda: device.client.read_property(device.addr, FLOW_TEMP, P.STATUS_FLAGS))) & FAULT
        assert wait_until(lambda: device.read(SENSOR_FAULT) == 1, 3)
        assert wait_until(lambda: any(a["event_object_identifier"] == SENSOR_FAULT
                                      for a in device.received_alarms()[before:]), 5), device.received_alarms()
        alarm = next(a for a in device.received_alarms()[before:] if a["event_object_identifier"] == SENSOR_FAULT)
        assert alarm["to_state"] == rb.EventState.OFFNORMAL and alarm["notification_class"] == 1
        assert alarm["initiating_device_identifier"] == DEVICE and alarm["process_identifier"] == 7
        assert alarm["ack_required"] and alarm["priority"] == 64  # the notification class's to-offnormal entries
        assert device.read(SENSOR_FAULT, P.ACKED_TRANSITIONS)["data"][0] & 0x80 == 0  # to-offnormal awaits an ack
        device.run(lambda: device.client.acknowledge_alarm_request(
            device.addr, 1, SENSOR_FAULT, rb.EventState.OFFNORMAL, alarm["timestamp"], "FM engineer",
            rb.BACnetTimeStamp.sequence_number(1)))
        assert device.read(SENSOR_FAULT, P.ACKED_TRANSITIONS)["data"][0] & 0x80
        assert any(d["object"] == "hp1.alarm_sensor_fault" for _, d in device.events("bacnet_ack"))
    finally:
        unit.data["flow_temp"] = 40.0
    assert wait_until(lambda: device.read(SENSOR_FAULT) == 0 and device.read(FLOW_TEMP, P.RELIABILITY) == 0, 5)
    assert wait_until(lambda: any(a["event_object_identifier"] == SENSOR_FAULT and
                                  a["to_state"] == rb.EventState.NORMAL for a in device.received_alarms()[before:]), 5)


def test_trend_log_of_the_cylinder_is_read_with_read_range(device: Device) -> None:
    def read_range(**kw: Any) -> Any:
        return device.run(lambda: device.client.read_range(device.addr, DHW_TOP_TREND, P.LOG_BUFFER, **kw))

    assert wait_until(lambda: device.read(DHW_TOP_TREND, P.RECORD_COUNT) >= 4, 8)
    everything = read_range()
    records = rb.decode_log_records(everything)
    assert everything["item_count"] == len(records) >= 4
    assert everything["result_flags"][0]  # first item
    assert all(r["datum"]["real"] == pytest.approx(61.0) and r["status_flags"] == 0 for r in records)
    first_two = read_range(range_type="position", reference_index=1, count=2)
    assert first_two["item_count"] == 2 and first_two["result_flags"] == (True, False, False)
    assert rb.decode_log_records(first_two) == records[:2]
    total = device.read(DHW_TOP_TREND, P.TOTAL_RECORD_COUNT)
    by_seq = read_range(range_type="sequence", reference_seq=total - 1, count=5)
    assert by_seq["first_sequence_number"] == total - 1 and by_seq["item_count"] >= 2
    date, clock = records[1]["timestamp"]
    newer = read_range(range_type="time", reference_time=(tuple(date), tuple(clock)), count=1)
    assert newer["item_count"] == 1 and rb.decode_log_records(newer)[0]["timestamp"] == records[2]["timestamp"]
    with pytest.raises(rb.BacnetProtocolError) as refused:
        device.run(lambda: device.client.read_property(device.addr, DHW_TOP_TREND, P.LOG_BUFFER))
    assert refused.value.error_code == READ_ACCESS_DENIED


def test_losing_the_heat_pump_raises_the_comms_alarm_and_restores(device: Device) -> None:
    before = len(device.received_alarms())
    device.plant.stop()
    try:
        assert wait_until(lambda: device.read(HP_COMMS) == 0 and device.read(COMMS_LOST) == 1, 5)
        assert wait_until(lambda: any(a["event_object_identifier"] == COMMS_LOST
                                      for a in device.received_alarms()[before:]), 5)
        assert device.read(FLOW_TEMP, P.RELIABILITY) == 12  # communication-failure
    finally:
        device.plant.start()
    assert wait_until(lambda: device.read(HP_COMMS) == 1 and device.read(COMMS_LOST) == 0, 12)


def test_cop_today_and_season_come_from_the_live_monitoring(tmp_path: Path) -> None:
    bg = Background()
    port = free_udp_port()
    site = school_site(tmp_path / "site.yaml", modbus_port=1, bacnet_port=port, cycle_s=30)
    proc = SupervisorProcess(site, f"sqlite:///{tmp_path / 'hpsup.db'}", "--simulate", "--speed", "300",
                             "--duration", "6h")
    client = rb.BACnetClient(interface="127.0.0.1", port=free_udp_port(), apdu_timeout_ms=2000)
    bg.run(client.__aenter__)
    addr = f"127.0.0.1:{port}"

    def read(instance: int, prop: Any = P.PRESENT_VALUE) -> Any:
        try:
            return bg.run(lambda: client.read_property(addr, OI(OT.ANALOG_INPUT, instance), prop)).value
        except rb.BacnetError:
            return None

    try:
        assert wait_until(lambda: read(10014, P.RELIABILITY) == 0 and read(10015, P.RELIABILITY) == 0, 60, 0.5)
        today, season, instant = read(10014), read(10015), read(10013)
        assert 1.0 < today < 8.0 and 1.0 < season < 8.0 and instant is not None
        alarm = bg.run(lambda: client.read_property(addr, OI(OT.BINARY_INPUT, 10032), P.RELIABILITY)).value
        assert alarm == 0  # judged: the COP-below-expected alarm is a real state, not unknown
    finally:
        bg.run(lambda: client.__aexit__(None, None, None))
        proc.stop()
        bg.close()
