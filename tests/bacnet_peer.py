"""Test helpers for BACnet: a background event loop, a scripted heat pump, a supervisor process, free ports.

The plant side (a Modbus TCP server whose readings the test sets) and the front-end side (rusty-bacnet, an
independent BACnet stack, as client and as alarm recipient) run on one background event loop in the test
process; the supervisor runs as `hpsup run` in its own process, talking to both over real sockets.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from conftest import EXAMPLES, ROOT

from app.devices.registermap import load_map, resolve_map_path
from app.devices.simulator import ModbusSimulator

T = TypeVar("T")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Background:
    """An asyncio loop in a thread, for servers and clients that outlive one test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self.thread.start()

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
        """Run what `make` starts on the loop (rusty-bacnet needs the loop running when a call is made)."""

        async def inside() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(inside(), self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class ScriptedUnit:
    """A heat pump controller whose readings the test sets; None is served as the point's sentinel."""

    def __init__(self, readings: Mapping[str, float | None]) -> None:
        self.data: dict[str, float | None] = dict(readings)
        self.writes: list[tuple[str, float]] = []

    def values(self) -> Mapping[str, float | None]:
        return self.data

    def write(self, name: str, value: float) -> None:
        self.data[name] = value
        self.writes.append((name, value))


HEAT_PUMP_READINGS = {
    "outdoor_temp": 5.0, "flow_temp": 40.0, "return_temp": 35.0, "dhw_top_temp": 61.0, "dhw_bottom_temp": 55.0,
    "compressor_frequency": 50.0, "fault_code": 0.0, "electrical_power": 5.0, "heat_output_power": 15.0,
    "operating_state": 2.0, "electrical_energy": 100.0, "heat_energy": 300.0, "secondary_return_temp": 55.0,
    "room_temp_1": 20.5, "room_temp_2": 20.0, "flow_setpoint_active": 40.0, "compressor_running": 1.0,
    "defrost_active": 0.0, "immersion_active": 0.0, "alarm": 0.0, "bms_control": 0.0, "enable": 1.0,
    "flow_setpoint": 40.0, "dhw_setpoint": 55.0, "heartbeat": 0.0, "dhw_mode": 0.0, "immersion_enable": 0.0,
}


class Plant:
    """The school's heat pump as a Modbus TCP server on a free port, serving a ScriptedUnit."""

    def __init__(self, bg: Background) -> None:
        self.bg = bg
        self.port = free_tcp_port()
        self.unit = ScriptedUnit(HEAT_PUMP_READINGS)
        self.map = load_map(resolve_map_path("generic_heat_pump"))
        self.server: ModbusSimulator | None = None

    def start(self) -> None:
        self.server = ModbusSimulator({1: (self.map, self.unit)}, "127.0.0.1", self.port)
        self.bg.run(self.server.start)

    def stop(self) -> None:
        if self.server is not None:
            self.bg.run(self.server.stop)
        self.server = None


def school_site(path: Path, *, modbus_port: int, bacnet_port: int, recipient_port: int | None = None,
                cycle_s: float = 1.0) -> Path:
    """The school example, its heat pump on `modbus_port`, its BACnet device on `bacnet_port`."""
    doc = yaml.safe_load((EXAMPLES / "school.yaml").read_text(encoding="utf-8"))
    doc["heat_pumps"][0]["connection"] = {"transport": "tcp", "host": "127.0.0.1", "port": modbus_port,
                                          "unit_id": 1, "timeout_s": 0.5}
    doc["control"] = {"cycle_s": cycle_s}
    # carbon crossover (~0.57): automatic sequencing keeps the heat pump leading whatever the hour's COP
    doc["tariffs"]["crossover"] = "carbon"
    doc["bacnet"]["port"] = bacnet_port
    doc["bacnet"]["address"] = "127.0.0.1/8"
    if recipient_port is not None:
        doc["bacnet"]["notification_recipients"] = [{"address": f"127.0.0.1:{recipient_port}", "process_id": 7}]
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


class SupervisorProcess:
    """`hpsup run --site SITE` in its own process."""

    def __init__(self, site: Path, db_url: str, *extra: str) -> None:
        env = {**os.environ, "HPSUP_DATABASE_URL": db_url}
        self.proc = subprocess.Popen([sys.executable, "-m", "app", "run", "--site", str(site), *extra], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> tuple[str, str]:
        """Interrupt as an operator would (Ctrl-C), so it hands the plant back; kill if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.communicate()


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
