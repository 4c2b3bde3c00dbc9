"""MQTT telemetry against real Mosquitto brokers: the machine's shared one on 1883, and brokers of the test's own
that are stopped, restarted, secured with TLS and passwords. The outbox is a real SQLite file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from conftest import EXAMPLES, ROOT, hpsup
from mqtt_broker import Mosquitto, Recorder, wait_until
from paho.mqtt.enums import CallbackAPIVersion

from app.audit.log import L8Entry, L8Log
from app.config import MqttConfig, TelemetryConfig, load_site
from app.control.supervisor import CycleResult
from app.devices.modbus import WriteResult
from app.snapshot import Commands, DeviceSnapshot, PlantSnapshot, Quality, Reading
from app.storage.engine import make_engine, upgrade
from app.storage.historian import Historian
from app.telemetry import BrokerSettings, Message, Outbox, SiteTopics, Telemetry, TelemetrySettings
from app.telemetry.messages import segment
from app.telemetry.publisher import StorageFeed, telemetry_settings

T0 = datetime(2025, 1, 13, 6, 0, tzinfo=UTC)
SITE = "Estate School No. 7"


def now() -> datetime:
    return datetime.now(UTC)


def first_arrivals(seqs: list[int]) -> list[int]:
    """What a consumer keeps when it drops every ``seq`` not above the highest seen (QoS 1 duplicates)."""
    kept: list[int] = []
    for s in seqs:
        if not kept or s > kept[-1]:
            kept.append(s)
    return kept


def unique_prefix() -> str:
    return f"hpsup-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A started Mosquitto of this test's own (the shared broker on 1883 is never stopped)."""
    b = Mosquitto(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def start_telemetry(port: int, prefix: str, queue: Path, engine: Any = None, **broker: Any) -> Telemetry:
    settings = TelemetrySettings(BrokerSettings("127.0.0.1", port, **broker), prefix, queue)
    return Telemetry.start(settings, SITE, now, engine, retry_min_s=0.1, retry_max_s=0.5)


def cycle_result() -> CycleResult:
    snap = PlantSnapshot(T0, {"hp1": DeviceSnapshot("hp1", {
        "flow_temp": Reading(45.5, "degC", Quality.GOOD, T0),
        "return_temp": Reading(None, "degC", Quality.SENTINEL, T0),
    }, roles={"flow_temp": "flow_temp"})})
    commands = Commands(T0)
    commands.set("hp1", "flow_setpoint", 45.0, "weather compensation: outdoor 3.0 °C -> flow 45.0 °C")
    return CycleResult(snap, commands, [WriteResult("verified", "read back 45.0", 45.0)], 2)


# --- the outbox ----------------------------------------------------------------------------------------------------


def test_outbox_keeps_order_sequence_and_cursors_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    box = Outbox(path)
    assert box.put([Message("a/x", {"i": 1}), Message("a/y", {"i": 2}, retain=False)], {"events": "7"}) == [1, 2]
    stream = box.stream
    box.close()
    box = Outbox(path)
    assert box.stream == stream and box.cursor("events") == "7" and len(box) == 2
    waiting = box.after(0, 10)
    assert [(q.seq, q.topic, q.retain) for q in waiting] == [(1, "a/x", True), (2, "a/y", False)]
    assert waiting[0].payload.decode() == f'{{"seq":1,"stream":"{stream}","i":1}}'
    box.ack([1])
    assert box.put([Message("a/z", {"i": 3})]) == [3]  # sequence numbers are never reused
    assert [q.seq for q in box.after(0, 10)] == [2, 3] and [q.seq for q in box.after(2, 10)] == [3]


def test_outbox_rejects_a_body_json_cannot_carry_and_stores_nothing_of_the_batch(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    with pytest.raises(ValueError):
        box.put([Message("a/x", {"ok": 1}), Message("a/y", {"bad": float("nan")})], {"events": "9"})
    assert len(box) == 0 and box.cursor("events") is None
    assert box.put([Message("a/x", {"ok": 1})]) == [1]


# --- the topic schema and settings ---------------------------------------------------------------------------------


def test_topic_levels_are_safe_and_bodies_follow_the_schema() -> None:
    topics = SiteTopics("hpsup", SITE)
    assert topics.root == "hpsup/estate-school-no.-7"
    assert segment("Boiler #2 / Plant+Room") == "boiler-2-plant-room"
    with pytest.raises(ValueError, match="nothing"):
        segment("///")
    result = cycle_result()
    reading = topics.readings(T0, result.snapshot.devices["hp1"])
    assert reading.topic == "hpsup/estate-school-no.-7/readings/hp1" and reading.retain
    assert reading.body["readings"]["return_temp"] == {"value": None, "unit": "degC", "quality": "sentinel",
                                                       "ts": "2025-01-13T06:00:00.000Z"}
    (cmd,) = topics.commands(result.commands, [("verified", "read back 45.0")])
    assert cmd.topic.endswith("/commands/hp1")
    assert cmd.body["commands"][0] == {"role": "flow_setpoint", "value": 45.0, "outcome": "verified",
                                       "reason": "weather compensation: outdoor 3.0 °C -> flow 45.0 °C",
                                       "outcome_reason": "read back 45.0"}
    alarm = topics.alarm(T0, "hp1", "normal", "COP back above 85 % of expected", None)
    assert alarm.body["active"] is False and alarm.topic.endswith("/alarms/hp1")
    topic, will = topics.status(False, "connection lost", None)
    assert topic.endswith("/status") and "ts" not in will and will["online"] is False


def test_settings_come_from_the_site_file_with_environment_overrides(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    site = load_site(EXAMPLES / "school.yaml")
    assert telemetry_settings(site, env={}) is None  # no broker named: telemetry off
    monkeypatch.setenv("SITE_MQTT_USER", "school-7")
    monkeypatch.setenv("SITE_MQTT_PASS", "s3cret")
    site.telemetry = TelemetryConfig(mqtt=MqttConfig(host="broker.example", username="${SITE_MQTT_USER}",
                                                     password="${SITE_MQTT_PASS}", tls=True))
    s = telemetry_settings(site, env={})
    assert s is not None
    assert (s.broker.host, s.broker.port, s.broker.tls, s.broker.username, s.broker.password) == (
        "broker.example", 1883, True, "school-7", "s3cret")
    assert "s3cret" not in repr(s.broker)
    s = telemetry_settings(site, env={"HPSUP_MQTT_HOST": "mosquitto", "HPSUP_MQTT_PORT": "8883",
                                      "HPSUP_MQTT_PASSWORD": "from-env", "HPSUP_MQTT_TLS": "0",
                                      "HPSUP_MQTT_QUEUE": str(tmp_path / "q.db")})
    assert s is not None
    assert (s.broker.host, s.broker.port, s.broker.tls, s.broker.password, s.queue_path) == (
        "mosquitto", 8883, False, "from-env", tmp_path / "q.db")
    with pytest.raises(ValueError, match=r"HPSUP_MQTT_PORT: not a TCP port number \(got '18830x'\)"):
        telemetry_settings(site, env={"HPSUP_MQTT_PORT": "18830x"})
    with pytest.raises(ValueError, match=r"HPSUP_MQTT_TLS: .*\(got 'maybe'\)"):
        telemetry_settings(site, env={"HPSUP_MQTT_TLS": "maybe"})


# --- storage feed ----------------------------------------------------------------------------------------------------


def test_storage_feed_publishes_new_alarms_transitions_and_l8_cycles_once(db_url: str, tmp_path: Path) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    historian = Historian(engine, SITE)
    historian.record_event(T0, "alarm", "hp1", "before telemetry started", to_state="active")
    historian.save_state("cop_today:hp1", {"day": "2025-01-13", "figures": {"spf": 3.1}}, T0)
    feed, box = StorageFeed(engine, SiteTopics("hpsup", SITE)), Outbox(tmp_path / "outbox.db")
    messages, cursors = feed.collect(box)
    assert set(cursors) == {"events", "l8_cycles", "cop_today"}
    # History is not replayed; today's COP, a state, is published at once.
    assert [(m.topic.split("/", 2)[2], m.body["figures"]) for m in messages] == [("cop/hp1", {"spf": 3.1})]
    box.put(messages, cursors)

    historian.record_event(T0 + timedelta(minutes=1), "alarm", "hp1", "COP 2.1 below 85 % of expected 2.9",
                           to_state="active", data={"cop": 2.1})
    historian.record_event(T0 + timedelta(minutes=2), "transition", "dhw1", "weekly pasteurisation due",
                           from_state="idle", to_state="pasteurise")
    historian.record_event(T0 + timedelta(minutes=3), "operator", "bacnet", "override written")
    Historian(engine, "another site").record_event(T0, "alarm", "hp9", "not ours", to_state="active")
    historian.record_event(T0 + timedelta(minutes=4), "alarm", "cop.hp1", "running COP back within the expected band",
                           to_state="normal")
    (cycle,) = L8Log(engine, SITE).append([L8Entry.cycle(T0 + timedelta(hours=2), "dhw1", "pasteurise", True, 60.4)])
    historian.save_state("cop_today:hp1", {"day": "2025-01-13", "figures": {"spf": 3.3}}, T0 + timedelta(minutes=5))
    messages, cursors = feed.collect(box)
    assert [m.topic.split("/", 2)[2] for m in messages] == ["alarms/hp1", "state/dhw1", "alarms/cop.hp1",
                                                            "l8/dhw1/cycle", "cop/hp1"]
    assert messages[2].body["active"] is False and messages[4].body["figures"] == {"spf": 3.3}
    assert messages[0].body["active"] is True and messages[0].body["data"] == {"cop": 2.1}
    assert (messages[1].body["state"], messages[1].body["previous"]) == ("pasteurise", "idle")
    assert (messages[3].body["cycle"], messages[3].body["outcome"], messages[3].body["peak_c"]) == (
        "pasteurise", "pass", 60.4)
    assert messages[3].body["hash"] == cycle.hash
    box.put(messages, cursors)
    box.close()
    assert feed.collect(Outbox(tmp_path / "outbox.db"))[0] == []  # the cursors were committed with the messages


# --- against real brokers --------------------------------------------------------------------------------------------


def test_cycle_and_storage_records_reach_the_shared_broker_with_retained_status(
        system_mqtt: tuple[str, int], tmp_path: Path, sqlite_url: str) -> None:
    host, port = system_mqtt
    prefix = unique_prefix()
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    rec = Recorder(port, f"{prefix}/#", host=host, persistent=False)
    tel = start_telemetry(port, prefix, tmp_path / "outbox.db", engine)
    try:
        tel.enqueue_cycle(cycle_result())  # first cycle: cursors start at the end of storage
        Historian(engine, SITE).record_event(T0, "alarm", "hp1", "low flow", to_state="active")
        tel.enqueue_cycle(cycle_result())
        assert tel.flush(10)
        wait_until(lambda: rec.bodies("/alarms/hp1"), 10, "the alarm")
        readings = rec.bodies("/readings/hp1")
        assert len(readings) == 2 and readings[0]["readings"]["flow_temp"]["value"] == 45.5
        assert [b["seq"] for b in readings] == [1, 3]  # one sequence across the site's topics
        assert rec.bodies("/commands/hp1")[0]["commands"][0]["outcome"] == "verified"
        assert rec.bodies("/status")[0]["online"] is True
    finally:
        tel.close()
        wait_until(lambda: any(not b.get("online", True) for b in rec.bodies("/status")), 10, "offline status")
        rec.close()
    late = Recorder(port, f"{prefix}/#", host=host, persistent=False)  # a dashboard connecting afterwards
    try:
        wait_until(lambda: len({t for t, _, r in late.messages if r}) >= 4, 10, "retained last state")
        retained = {t.removeprefix(f"{prefix}/"): b for t, b, r in late.messages if r}
        assert retained["estate-school-no.-7/status"]["reason"] == "stopped"
        assert retained["estate-school-no.-7/readings/hp1"]["seq"] == 3
        assert retained["estate-school-no.-7/alarms/hp1"]["reason"] == "low flow"
    finally:
        for topic in {t for t, _, r in late.messages if r}:
            late.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)  # leave the broker clean
        late.close()


def test_broker_restart_mid_stream_loses_nothing_and_keeps_order(tmp_path: Path, broker: Mosquitto) -> None:
    prefix = unique_prefix()
    rec = Recorder(broker.port, f"{prefix}/#")
    tel = start_telemetry(broker.port, prefix, tmp_path / "outbox.db")
    topic = tel.topics.topic("readings", "hp1")
    n, queued_in_outage = 300, 0
    try:
        for i in range(n):
            tel.publish([Message(topic, {"i": i})])
            if i == 100:
                broker.stop()
            if i == 200:
                queued_in_outage = len(tel.outbox)
                broker.start()
            time.sleep(0.01)
        assert tel.flush(30), f"{len(tel.outbox)} message(s) never acknowledged"
        wait_until(lambda: len(set(b["seq"] for b in rec.bodies("/readings/hp1"))) >= n, 30, "all messages")
    finally:
        tel.close()
        rec.close()
    assert queued_in_outage >= 90  # the outage really held messages back on disk
    assert tel.sender.connections >= 2
    bodies = rec.bodies("/readings/hp1")
    assert first_arrivals([b["seq"] for b in bodies]) == list(range(1, n + 1))
    assert [b["i"] for b in bodies if b["seq"] in range(1, n + 1)][:1] == [0]
    assert {b["seq"]: b["i"] for b in bodies} == {s: s - 1 for s in range(1, n + 1)}


PUBLISHER = textwrap.dedent("""
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from app.telemetry import BrokerSettings, Message, Telemetry, TelemetrySettings
    port, prefix, queue, count = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    settings = TelemetrySettings(BrokerSettings("127.0.0.1", port), prefix, queue)
    tel = Telemetry.start(settings, "Estate School No. 7", lambda: datetime.now(UTC), retry_min_s=0.1,
                          retry_max_s=0.2)
    if count:
        tel.publish([Message(tel.topics.topic("readings", "hp1"), {"i": i}) for i in range(count)])
    deadline = time.monotonic() + 10
    while not count and not tel.sender.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    print("connected" if tel.sender.connected else "queued", flush=True)
    time.sleep(60)
""")


def run_publisher(port: int, prefix: str, queue: Path, count: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(port), prefix, str(queue), str(count)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise AssertionError(f"publisher failed: {proc.communicate()[1]}")
    return proc


def test_queued_messages_survive_a_killed_process_and_are_delivered_in_order_later(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")  # not started yet: the site is offline
    prefix, queue = unique_prefix(), tmp_path / "outbox.db"
    proc = run_publisher(broker.port, prefix, queue, 50)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    broker.start()
    rec = Recorder(broker.port, f"{prefix}/#")
    tel = start_telemetry(broker.port, prefix, queue)
    try:
        assert tel.publish([Message(tel.topics.topic("readings", "hp1"), {"i": 50})]) == [51]
        assert tel.flush(15)
        wait_until(lambda: len(rec.bodies("/readings/hp1")) >= 51, 10, "the queued messages")
    finally:
        tel.close()
        rec.close()
        broker.stop()
    bodies = rec.bodies("/readings/hp1")
    assert first_arrivals([b["seq"] for b in bodies]) == list(range(1, 52))
    assert [b["i"] for b in bodies] == list(range(51))


def test_broker_publishes_the_last_will_when_the_supervisor_dies(tmp_path: Path, broker: Mosquitto) -> None:
    prefix = unique_prefix()
    rec = Recorder(broker.port, f"{prefix}/+/status")
    proc = run_publisher(broker.port, prefix, tmp_path / "outbox.db", 0)
    try:
        wait_until(lambda: rec.bodies("/status"), 10, "online status")
        assert rec.bodies("/status")[-1]["online"] is True
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_until(lambda: rec.bodies("/status")[-1]["online"] is False, 10, "the last will")
        assert rec.bodies("/status")[-1] == {"v": 1, "site": SITE, "online": False, "reason": "connection lost"}
    finally:
        proc.kill()
        rec.close()


def make_tls_material(d: Path) -> None:
    """A CA, and a server certificate for 127.0.0.1 signed by it (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a TLS certificate for the test broker")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = {"cwd": d, "check": True, "capture_output": True}
    subprocess.run(["openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                    "-subj", "/CN=hpsup test CA"], **run)  # type: ignore[call-overload]
    subprocess.run(["openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr",
                    "-subj", "/CN=127.0.0.1"], **run)  # type: ignore[call-overload]
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext"],
                   **run)  # type: ignore[call-overload]


def test_tls_and_credentials_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "broker"
    d.mkdir()
    make_tls_material(d)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(d / "passwd"), "site7", "correct horse"], check=True,
                   capture_output=True)
    os.chmod(d / "passwd", 0o600)
    broker = Mosquitto(d, listener="listener {port} 127.0.0.1\nallow_anonymous false\n"
                                   f"password_file {d}/passwd\ncafile {d}/ca.crt\ncertfile {d}/server.crt\n"
                                   f"keyfile {d}/server.key\n")
    port = broker.port
    broker.start()
    site = load_site(EXAMPLES / "school.yaml")
    prefix = unique_prefix()
    env = {"HPSUP_MQTT_HOST": "127.0.0.1", "HPSUP_MQTT_PORT": str(port), "HPSUP_MQTT_TLS": "1",
           "HPSUP_MQTT_CA_FILE": str(d / "ca.crt"), "HPSUP_MQTT_USERNAME": "site7",
           "HPSUP_MQTT_QUEUE": str(tmp_path / "outbox.db")}
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="tls-reader")
    sub.tls_set(ca_certs=str(d / "ca.crt"))
    sub.username_pw_set("site7", "correct horse")
    got: list[bytes] = []
    sub.on_message = lambda c, u, m: got.append(m.payload)
    sub.connect("127.0.0.1", port)
    sub.subscribe(f"{prefix}/+/readings/#", qos=1)
    sub.loop_start()
    try:
        wrong = telemetry_settings(site, env={**env, "HPSUP_MQTT_PASSWORD": "wrong"})
        assert wrong is not None
        bad = Telemetry.start(TelemetrySettings(wrong.broker, prefix, wrong.queue_path), SITE, now)
        bad.publish([Message(bad.topics.topic("readings", "hp1"), {"i": 0})])
        time.sleep(1.0)
        assert not bad.sender.connected and len(bad.outbox) == 1  # refused: kept, not lost
        bad.close()
        good = telemetry_settings(site, env={**env, "HPSUP_MQTT_PASSWORD": "correct horse"})
        assert good is not None and good.broker.tls
        tel = Telemetry.start(TelemetrySettings(good.broker, prefix, good.queue_path), SITE, now)
        assert tel.flush(10)  # the message the refused attempt queued goes out now
        tel.close()
        wait_until(lambda: got, 10, "the message over TLS")
        assert b'"seq":1' in got[0] and b'"i":0' in got[0]
    finally:
        sub.loop_stop()
        sub.disconnect()
        broker.stop()


def test_simulated_run_publishes_every_cycle_when_the_environment_names_a_broker(
        tmp_path: Path, broker: Mosquitto) -> None:
    rec = Recorder(broker.port, "hpsup/#")  # the default topic prefix, on a broker of this test's own
    try:
        result = hpsup("run", "--site", str(EXAMPLES / "school.yaml"), "--simulate", "--duration", "5m",
                       "--speed", "600", env={"HPSUP_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
                                              "HPSUP_MQTT_HOST": "127.0.0.1", "HPSUP_MQTT_PORT": str(broker.port),
                                              "HPSUP_MQTT_QUEUE": str(tmp_path / "outbox.db")})
        assert result.returncode == 0, result.stderr
        wait_until(lambda: any(b.get("reason") == "stopped" for b in rec.bodies("/status")), 10, "offline status")
    finally:
        rec.close()
    readings = rec.bodies("riverside-primary-school/readings/hp1")
    assert len(readings) == 10 and all(b["comms_ok"] for b in readings)
    stamps = [b["ts"] for b in readings]
    assert stamps == sorted(stamps) and len(set(stamps)) == 10  # one per simulated 30 s cycle, in order
    assert rec.bodies("riverside-primary-school/commands/hp1")
    assert len(Outbox(tmp_path / "outbox.db")) == 0
