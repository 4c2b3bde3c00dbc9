"""Test helpers for MQTT: a Mosquitto broker process of the test's own (which it may stop and restart without
touching the machine's shared broker), and a subscriber that records what arrives."""

from __future__ import annotations

import getpass
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from conftest import service_unavailable
from paho.mqtt.enums import CallbackAPIVersion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.02)


class Mosquitto:
    """A broker on a free loopback port with on-disk persistence, so sessions survive a restart."""

    def __init__(self, workdir: Path, *, listener: str = "listener {port} 127.0.0.1\nallow_anonymous true\n") -> None:
        """`listener`: the listener section, ``{port}`` standing for the port chosen here."""
        binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if binary is None:
            service_unavailable("the mosquitto broker binary is not installed (Debian package mosquitto)")
        self.binary = str(binary)
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            listener.replace("{port}", str(self.port))
            + f"persistence true\npersistence_location {self.dir}/\nautosave_interval 1\n"
            + f"log_dest file {self.dir}/mosquitto.log\n"
            + f"user {getpass.getuser()}\n")  # run as root, it would switch to a user that cannot write here
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                    raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None


class Recorder:
    """A QoS 1 subscriber with a persistent session that records (topic, JSON body, retained) as they arrive."""

    def __init__(self, port: int, topic: str, *, host: str = "127.0.0.1", persistent: bool = True) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.lock = threading.Lock()
        self.topic = topic
        self.subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:12]}",
                                  clean_session=not persistent)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=5)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise AssertionError(f"could not subscribe to {topic} on {host}:{port}")

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        body = json.loads(msg.payload) if msg.payload else {}
        with self.lock:
            self.messages.append((msg.topic, body, bool(msg.retain)))

    def bodies(self, suffix: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [b for t, b, _ in self.messages if t.endswith(suffix)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
