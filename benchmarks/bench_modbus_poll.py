"""Polling scale: N simulated heat pumps polled every second over loopback Modbus TCP through the full driver.

Each unit has its own TCP port and a simulated plant behind the generic heat pump map, served from a separate
process, so the figures are the driver's: connection, batched reads (three requests per unit), decoding with
quality, and storage of every sample in SQLite through the historian. ``--slave image`` (the default) serves
each unit's registers from an image the simulator's own encoding refreshes once a second, answered by a
minimal asyncio Modbus TCP slave: pymodbus's server costs about 0.5 ms of CPU per request, so on two cores
it, not the driver, would decide the figure for 1,000 units. ``--slave simulator`` uses the full simulator.
Reports the achieved cycle time (all N units polled concurrently) p50/p99, the read rate and the CPU of the
polling process. Target: 1,000 units with p99 < 1 s on a 2-core machine.

Run: python benchmarks/bench_modbus_poll.py [--units 10 100 1000] [--cycles 20]
Prints ``name: value unit`` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import socket
import statistics
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from multiprocessing.synchronize import Event
from pathlib import Path

from app.clock import RealClock
from app.config import TcpConnection, load_site
from app.devices.modbus import ModbusDevice
from app.devices.registermap import RegisterMap, load_map, resolve_map_path
from app.paths import data_dir
from app.snapshot import PlantSnapshot
from app.storage.engine import make_engine, upgrade
from app.storage.historian import Historian


def free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class ImageSlave(asyncio.Protocol):
    """A minimal Modbus TCP slave answering FC 1-4 from a register image (tables of 16-bit words or bits)."""

    def __init__(self, image: dict[int, list[int]]) -> None:
        self.image = image
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 12:
            length = int.from_bytes(self.buffer[4:6], "big")
            frame, self.buffer = self.buffer[:6 + length], self.buffer[6 + length:]
            tid, unit, fc = frame[0:2], frame[6], frame[7]
            start, count = int.from_bytes(frame[8:10], "big"), int.from_bytes(frame[10:12], "big")
            table = self.image.get(fc)
            if table is None or start + count > len(table):
                pdu = bytes([fc | 0x80, 2])
            elif fc in (1, 2):
                bits = table[start:start + count]
                packed = bytes(sum(b << i for i, b in enumerate(bits[j:j + 8])) for j in range(0, count, 8))
                pdu = bytes([fc, len(packed)]) + packed
            else:
                pdu = bytes([fc, 2 * count]) + b"".join(w.to_bytes(2, "big") for w in table[start:start + count])
            assert self.transport is not None
            self.transport.write(tid + b"\x00\x00" + (len(pdu) + 1).to_bytes(2, "big") + bytes([unit]) + pdu)


def image_of(regmap: RegisterMap, values: Mapping[str, float | None]) -> dict[int, list[int]]:
    """Function code -> the table's words (or bits), encoded exactly as the simulator encodes them."""
    from app.devices.simulator import _Image

    encoder = _Image(regmap, None)  # type: ignore[arg-type]
    tables: dict[int, list[int]] = {fc: [0] * 64 for fc in (1, 2, 3, 4)}
    fc_of = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
    for point in regmap.points:
        table, address = regmap.wire_address(point)
        tables[fc_of[table.value]][address:address + point.count] = encoder.words(point, values)
    return tables


def serve(ports: list[int], slave: str, ready: Event, stop: Event) -> None:
    """The plant process: one slave per port, plants stepped once a second."""
    from app.devices.simulator import ModbusSimulator
    from app.plant.plant import HeatPumpPoints

    async def main() -> None:
        regmap = load_map(resolve_map_path("generic_heat_pump"))
        site = load_site(data_dir("examples") / "school.yaml")
        plants = [HeatPumpPoints.standalone(site, datetime.now(UTC), hours=24 * 7) for _ in ports]
        loop = asyncio.get_running_loop()
        images = [image_of(regmap, plant.values()) for plant in plants]
        if slave == "image":
            servers = [await loop.create_server(lambda image=image: ImageSlave(image), "127.0.0.1", port, backlog=1024)
                       for port, image in zip(ports, images, strict=True)]
        else:
            sims = [ModbusSimulator({1: (regmap, plant)}, "127.0.0.1", port)
                    for port, plant in zip(ports, plants, strict=True)]
            for sim in sims:
                await sim.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(1.0)
            for plant, image in zip(plants, images, strict=True):
                plant.step(60)
                if slave == "image":
                    image.update(image_of(regmap, plant.values()))
        if slave == "image":
            for server in servers:
                server.close()
        else:
            for sim in sims:
                await sim.stop()

    asyncio.run(main())


async def poll_loop(ports: list[int], cycles: int, url: str) -> tuple[list[float], list[float], int, int, float]:
    regmap = load_map(resolve_map_path("generic_heat_pump"))
    clock = RealClock()
    devices = [ModbusDevice(f"hp{i}", regmap, TcpConnection(host="127.0.0.1", port=port, timeout_s=2.0), clock)
               for i, port in enumerate(ports)]
    historian = Historian(make_engine(url), "bench")
    loop = asyncio.get_running_loop()
    durations: list[float] = []
    polls: list[float] = []
    samples = failures = 0
    await asyncio.gather(*(d.poll() for d in devices))  # connect everything first
    cpu0 = time.process_time()
    start = loop.time()
    for cycle in range(cycles):
        t0 = loop.time()
        snapshot = PlantSnapshot(clock.now())
        for snap in await asyncio.gather(*(d.poll() for d in devices)):
            snapshot.devices[snap.device_id] = snap
            failures += not snap.comms_ok
        polls.append(loop.time() - t0)
        samples += await asyncio.to_thread(historian.record_snapshot, snapshot)
        durations.append(loop.time() - t0)
        await asyncio.sleep(max(0.0, start + (cycle + 1) * 1.0 - loop.time()))
    cpu = time.process_time() - cpu0
    for device in devices:
        await device.close()
    return durations, polls, samples, failures, cpu / (loop.time() - start)


def run(n: int, cycles: int, slave: str) -> None:
    ports = free_ports(n)
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    server = ctx.Process(target=serve, args=(ports, slave, ready, stop), daemon=True)
    server.start()
    if not ready.wait(120):
        raise SystemExit("simulator did not start")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        durations, polls, samples, failures, cpu_share = asyncio.run(poll_loop(ports, cycles, url))
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    server.join(30)
    ordered = sorted(durations)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    reads = n * 3 * cycles
    print(f"units_{n}_cycle_p50: {statistics.median(durations) * 1000:.0f} ms")
    print(f"units_{n}_cycle_p99: {p99 * 1000:.0f} ms")
    print(f"units_{n}_poll_p50: {statistics.median(polls) * 1000:.0f} ms")
    print(f"units_{n}_reads_per_s: {reads / sum(durations):.0f} reads/s")
    print(f"units_{n}_samples_stored: {samples} samples")
    print(f"units_{n}_failed_polls: {failures} polls")
    print(f"units_{n}_driver_cpu: {cpu_share * 100:.0f} % of one core")
    print(f"units_{n}_driver_max_rss: {max(usage0.ru_maxrss, usage1.ru_maxrss) / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--slave", choices=["image", "simulator"], default="image")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    for n in args.units:
        run(n, args.cycles, args.slave)


if __name__ == "__main__":
    main()
