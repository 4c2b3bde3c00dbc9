"""Polling scale: N simulated heat pumps polled every second over loopback Modbus TCP through the full driver.

Each unit has its own TCP port and a simulated plant behind the generic heat pump map, served from a separate
process, so the figures are the driver's: the site's `ModbusPlantIO` (every unit polled concurrently, at most
its bound at once), batched reads (three requests per unit), decoding with quality, the heartbeat writes the
map asks for, and storage of every sample in SQLite through the historian, set up as `hpsup run` sets them up
(write and event recorders, start-up objects frozen out of garbage collection). ``--slave image`` (the
default) serves each unit's registers from an image the simulator's own encoding refreshes once a second,
answered by a minimal asyncio Modbus TCP slave: pymodbus's server costs about 0.5 ms of CPU per request, so on
two cores it, not the driver, would decide the figure for 1,000 units. ``--slave simulator`` uses the full
simulator.

A cycle is one read of every unit followed by the storage of all its samples (committed); the next cycle starts
on the next second. Reports the cycle time p50/p99 and its two parts (poll, store), the read rate while
polling, the CPU of the driver process (share of one core over the run, and CPU time per cycle), and the
machine's load average before and after (it is shared: other work takes the cores too).
Target: 1,000 units with p99 < 1 s on a 2-core machine.

Samples go to a fresh SQLite file or PostgreSQL database (``--backend``), stored inline (the cycle ends when
they are committed, as `hpsup run` stores them) or by a background `SampleWriter` while the next poll runs
(``--storage``; then ``stored_after`` says how long after the poll began they were committed). ``--history``
stores that many seconds of the same points first: storage slows as the samples table and its index grow.

Run: python benchmarks/bench_modbus_poll.py [--units 10 100 1000] [--cycles 20] [--max-concurrent 200]
        [--storage inline background] [--backend sqlite postgresql] [--history SECONDS]
Prints ``name: value unit`` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import resource
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.synchronize import Event
from pathlib import Path

from bench_historian_ingest import postgres_database

from app.clock import RealClock
from app.config import SiteConfig, TcpConnection, load_site
from app.devices.plantio import MAX_CONCURRENT_POLLS, ModbusPlantIO
from app.devices.registermap import RegisterMap, load_map, resolve_map_path
from app.paths import data_dir
from app.snapshot import PlantSnapshot
from app.storage.engine import make_engine, upgrade
from app.storage.historian import Historian, snapshot_rows
from app.storage.sample_writer import SampleWriter


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
    """A minimal Modbus TCP slave over a register image (tables of 16-bit words or bits): reads FC 1-4, writes
    FC 5, 6 and 16 (the heartbeat and setpoints a driver writes)."""

    def __init__(self, image: dict[int, list[int]]) -> None:
        self.image = image
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 6 and len(self.buffer) >= 6 + int.from_bytes(self.buffer[4:6], "big"):
            length = int.from_bytes(self.buffer[4:6], "big")
            frame, self.buffer = self.buffer[:6 + length], self.buffer[6 + length:]
            tid, unit = frame[0:2], frame[6]
            assert self.transport is not None
            self.transport.write(tid + b"\x00\x00" + (len(pdu := self.answer(frame[7:])) + 1).to_bytes(2, "big")
                                 + bytes([unit]) + pdu)

    def answer(self, request: bytes) -> bytes:
        fc = request[0]
        start, count = int.from_bytes(request[1:3], "big"), int.from_bytes(request[3:5], "big")
        table = self.image.get({5: 1, 6: 3, 16: 3}.get(fc, fc))
        span = 1 if fc in (5, 6) else count
        if table is None or start + span > len(table):
            return bytes([fc | 0x80, 2])
        if fc in (1, 2):
            bits = table[start:start + count]
            packed = bytes(sum(b << i for i, b in enumerate(bits[j:j + 8])) for j in range(0, count, 8))
            return bytes([fc, len(packed)]) + packed
        if fc in (3, 4):
            return bytes([fc, 2 * count]) + b"".join(w.to_bytes(2, "big") for w in table[start:start + count])
        if fc == 16:
            table[start:start + count] = [int.from_bytes(request[6 + 2 * i:8 + 2 * i], "big") for i in range(count)]
        else:
            table[start] = (1 if count else 0) if fc == 5 else count
        return request[:5]


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


@dataclass
class Figures:
    """What one run measured: per-cycle wall and CPU times (seconds) and totals."""

    cycles: list[float] = field(default_factory=list)
    polls: list[float] = field(default_factory=list)
    stores: list[float] = field(default_factory=list)
    stored_after: list[float] = field(default_factory=list)
    poll_cpu: list[float] = field(default_factory=list)
    samples: int = 0
    failures: int = 0
    history_rows: int = 0
    cpu_share: float = 0.0


def estate(ports: list[int]) -> SiteConfig:
    """The school's site with its heat pump repeated once per port."""
    school = load_site(data_dir("examples") / "school.yaml")
    template = school.heat_pumps[0]
    pumps = [template.model_copy(update={"id": f"hp{i}", "connection": TcpConnection(host="127.0.0.1", port=port)})
             for i, port in enumerate(ports)]
    return school.model_copy(update={"heat_pumps": pumps, "meters": [], "io_modules": []})


def prefill(historian: Historian, snapshot: PlantSnapshot, seconds: int) -> int:
    """Store `seconds` of history of the same points before the snapshot, one second (one commit) each."""
    rows = list(snapshot_rows(snapshot))
    return sum(historian.record_samples((snapshot.ts - timedelta(seconds=s), point, value, quality)
                                        for _, point, value, quality in rows) for s in range(seconds, 0, -1))


def committed(figures: Figures, polled_at: float, done: Future[int]) -> None:
    figures.samples += done.result()
    figures.stored_after.append(time.monotonic() - polled_at)


async def poll_loop(ports: list[int], cycles: int, url: str, max_concurrent: int, storage: str,
                    history_s: int) -> Figures:
    clock = RealClock()
    historian = Historian(make_engine(url), "bench")
    plant_io = ModbusPlantIO(estate(ports), clock, historian.record_write, events=historian.record_event,
                             max_concurrent_polls=max_concurrent)
    loop = asyncio.get_running_loop()
    figures = Figures()
    first = await plant_io.read()  # connect everything and start the heartbeats first
    figures.history_rows = await asyncio.to_thread(prefill, historian, first, history_s)
    writer = SampleWriter(historian) if storage == "background" else None
    gc.freeze()  # as `hpsup run` does once started
    cpu0 = time.process_time()
    start = loop.time()
    for cycle in range(cycles):
        t0, c0 = loop.time(), time.process_time()
        snapshot = await plant_io.read()
        t1, c1 = loop.time(), time.process_time()
        figures.failures += sum(not d.comms_ok for d in snapshot.devices.values())
        if writer is None:
            figures.samples += await asyncio.to_thread(historian.record_snapshot, snapshot)
            figures.stores.append(loop.time() - t1)
            figures.stored_after.append(loop.time() - t0)
        else:  # the loop's clock is time.monotonic: the writer thread notes when the samples are committed
            writer.submit(snapshot).add_done_callback(partial(committed, figures, t0))
        figures.cycles.append(loop.time() - t0)
        figures.polls.append(t1 - t0)
        figures.poll_cpu.append(c1 - c0)
        await asyncio.sleep(max(0.0, start + (cycle + 1) * 1.0 - loop.time()))
    if writer is not None:
        await asyncio.to_thread(writer.close)
    figures.cpu_share = (time.process_time() - cpu0) / (loop.time() - start)
    await plant_io.close()
    return figures


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


@contextmanager
def database(backend: str) -> Iterator[str]:
    """An empty database for one run: a SQLite file, or a PostgreSQL database of its own (dropped afterwards)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    server = os.environ.get("HPSUP_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with postgres_database(server) as url:
        if url is None:
            raise SystemExit(f"PostgreSQL at {server} is not reachable")
        yield url


def run(n: int, cycles: int, slave: str, max_concurrent: int, storage: str, history_s: int, backend: str) -> None:
    ports = free_ports(n)
    ctx = multiprocessing.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    server = ctx.Process(target=serve, args=(ports, slave, ready, stop), daemon=True)
    server.start()
    if not ready.wait(120):
        raise SystemExit("simulator did not start")
    load_before = os.getloadavg()[0]
    with database(backend) as url:
        upgrade(url)
        f = asyncio.run(poll_loop(ports, cycles, url, max_concurrent, storage, history_s))
    load_after = os.getloadavg()[0]
    stop.set()
    server.join(30)
    ms = 1000
    lines = [("cycle_p50", statistics.median(f.cycles) * ms, "ms"), ("cycle_p99", p99(f.cycles) * ms, "ms"),
             ("poll_p50", statistics.median(f.polls) * ms, "ms"), ("poll_p99", p99(f.polls) * ms, "ms")]
    if f.stores:
        lines += [("store_p50", statistics.median(f.stores) * ms, "ms"), ("store_p99", p99(f.stores) * ms, "ms")]
    lines += [("stored_after_p50", statistics.median(f.stored_after) * ms, "ms"),
              ("stored_after_p99", p99(f.stored_after) * ms, "ms"),
              ("reads_per_s", n * 3 * cycles / sum(f.polls), "reads/s"),
              ("samples_stored", f.samples, "samples"), ("history_before", f.history_rows, "samples"),
              ("failed_polls", f.failures, "polls"), ("driver_cpu", f.cpu_share * 100, "% of one core"),
              ("driver_cpu_per_poll_p50", statistics.median(f.poll_cpu) * ms, "ms"),
              ("driver_max_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB")]
    for name, value, unit in lines:
        print(f"units_{n}_{backend}_{storage}_{name}: {value:.0f} {unit}")
    print(f"units_{n}_{backend}_{storage}_load_avg_1min_before: {load_before:.2f} runnable")
    print(f"units_{n}_{backend}_{storage}_load_avg_1min_after: {load_after:.2f} runnable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--slave", choices=["image", "simulator"], default="image")
    parser.add_argument("--max-concurrent", type=int, default=MAX_CONCURRENT_POLLS,
                        help="units polled at once (the bound of ModbusPlantIO)")
    parser.add_argument("--storage", choices=["inline", "background"], nargs="+", default=["inline"],
                        help="inline: each cycle stores its samples before it ends (as hpsup run); background: a "
                        "SampleWriter stores them while the next poll runs")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], nargs="+", default=["sqlite"],
                        help="where samples go: a fresh SQLite file, or a fresh database on the PostgreSQL server "
                        "named by HPSUP_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    parser.add_argument("--history", type=int, default=0, metavar="SECONDS",
                        help="samples of this many earlier cycles stored before measuring (a database in use)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    for n in args.units:
        for backend in args.backend:
            for storage in args.storage:
                run(n, args.cycles, args.slave, args.max_concurrent, storage, args.history, backend)


if __name__ == "__main__":
    main()
