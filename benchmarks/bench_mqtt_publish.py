"""MQTT publish rate through the telemetry outbox: queueing, live delivery, and draining a backlog.

Messages are readings bodies of `--points` points, as a control cycle publishes them, to the broker at
--host/--port (default the Mosquitto on 127.0.0.1:1883) under a topic prefix of their own; the retained
messages are removed at the end. Rates count messages acknowledged by the broker (QoS 1, PUBACK).

Run: python benchmarks/bench_mqtt_publish.py [--messages N] [--points N] [--host H] [--port P]
Prints ``name: value unit`` lines.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from app.snapshot import DeviceSnapshot, Quality, Reading
from app.telemetry import BrokerSettings, Message, Telemetry, TelemetrySettings

SITE = "Benchmark School"


def readings(topic_device: str, points: int, telemetry: Telemetry, i: int) -> Message:
    ts = datetime.now(UTC)
    device = DeviceSnapshot(topic_device, {f"point_{p}": Reading(40.0 + (i + p) % 13 * 0.5, "degC", Quality.GOOD, ts)
                                           for p in range(points)})
    return telemetry.topics.readings(ts, device)


def clear_retained(settings: TelemetrySettings, topics: list[str]) -> None:
    """Remove what the benchmark left retained on the broker."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect(settings.broker.host, settings.broker.port)
    client.loop_start()
    for topic in topics:
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--points", type=int, default=20, help="points per readings message")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args()
    prefix = f"hpsup-bench-{secrets.token_hex(4)}"
    now = lambda: datetime.now(UTC)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        settings = TelemetrySettings(BrokerSettings(args.host, args.port), prefix, Path(tmp) / "outbox.db")
        # Live: the sender is connected while messages are queued, one cycle's worth per transaction.
        tel = Telemetry.start(settings, SITE, now)
        deadline = time.monotonic() + 10
        while not tel.sender.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        if not tel.sender.connected:
            raise SystemExit(f"no MQTT broker at {args.host}:{args.port}")
        batch = 10  # devices per control cycle
        start = time.perf_counter()
        for i in range(0, args.messages, batch):
            tel.publish([readings(f"hp{d}", args.points, tel, i) for d in range(batch)])
        queued_s = time.perf_counter() - start
        assert tel.flush(300), "the broker did not acknowledge everything"
        live_s = time.perf_counter() - start
        size = len(tel.outbox.after(0, 1)[0].payload) if len(tel.outbox) else None
        tel.close()
        print(f"mqtt_queue_rate: {args.messages / queued_s:.0f} messages/s")
        print(f"mqtt_publish_rate_live: {args.messages / live_s:.0f} messages/s (QoS 1 acknowledged)")

        # Backlog: everything queued while the broker is unreachable, then delivered when it is back.
        offline = TelemetrySettings(BrokerSettings(args.host, 1), prefix, Path(tmp) / "backlog.db")
        tel = Telemetry.start(offline, SITE, now, retry_min_s=60)
        messages = [readings("hp0", args.points, tel, i) for i in range(args.messages)]
        tel.publish(messages)
        size = len(tel.outbox.after(0, 1)[0].payload)
        tel.close()
        tel = Telemetry.start(TelemetrySettings(settings.broker, prefix, offline.queue_path), SITE, now)
        start = time.perf_counter()
        assert tel.flush(300), "the backlog was not delivered"
        drain_s = time.perf_counter() - start
        tel.close()
        print(f"mqtt_backlog_drain_rate: {args.messages / drain_s:.0f} messages/s (QoS 1 acknowledged)")
        print(f"mqtt_message_size: {size} bytes")
        clear_retained(settings, [tel.topics.topic("readings", f"hp{d}") for d in range(batch)]
                       + [tel.topics.topic("status")])


if __name__ == "__main__":
    main()
