"""BACnet read throughput: ReadPropertyMultiple of 20 objects × (present-value, status-flags), sequential.

The client is an independent stack (rusty-bacnet) in this process; each server runs in its own process on
loopback, on free UDP ports:

- ``plain``: a stock BAC0 device serving 20 analog values with bacpypes3's own handlers (the baseline);
- ``school``: ``hpsup run --simulate`` of the school example, control cycles running meanwhile;
- ``estate``: ``hpsup run --simulate`` of the heaviest realistic table: the school's plant repeated to six
  heat pumps, three boilers, four heating circuits and three cylinders.

Prints ``name: value unit`` lines: requests/s, p50 and p99 latency, and the server's CPU time per request.

    python benchmarks/bench_bacnet.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_plain(port: int) -> None:
    """A stock BAC0 device with 20 analog values (run in its own process)."""
    import BAC0
    from bacpypes3.local.analog import AnalogValueObject

    async def main() -> None:
        BAC0.log_level("error", log_this=False)
        device = BAC0.start(ip=f"127.0.0.1/8:{port}", deviceId=3999, localObjName="plain", ping=False)
        for i in range(20):
            device.this_application.app.add_object(AnalogValueObject(
                objectIdentifier=("analogValue", i + 1), objectName=f"av{i + 1}", presentValue=float(i),
                units="degreesCelsius", eventState="normal", outOfService=False, covIncrement=0.5))
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def estate_site(path: Path, port: int) -> Path:
    """The school's plant repeated: 6 heat pumps, 3 boilers, 4 circuits, 3 cylinders (about 300 objects)."""
    doc = yaml.safe_load((ROOT / "examples" / "school.yaml").read_text(encoding="utf-8"))
    for group, n in (("heat_pumps", 6), ("boilers", 3), ("heating_circuits", 4), ("cylinders", 3)):
        first = doc[group][0]
        doc[group] = []
        for i in range(n):
            item = copy.deepcopy(first)
            item["id"], item["name"] = f"{first['id'][:-1]}{i + 1}", f"{first['name']} {i + 1}"
            if group == "cylinders":
                item["heat_pump"] = f"hp{i + 1}"
            doc[group].append(item)
    doc["bacnet"]["port"] = port
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def school_site(path: Path, port: int) -> Path:
    doc = yaml.safe_load((ROOT / "examples" / "school.yaml").read_text(encoding="utf-8"))
    doc["bacnet"]["port"] = port
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (and its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def measure(port: int, objects: list[tuple[int, int]], requests: int) -> dict[str, float]:
    from rusty_bacnet import BACnetClient, ObjectIdentifier, ObjectType, PropertyIdentifier

    addr = f"127.0.0.1:{port}"
    specs = [(ObjectIdentifier(ObjectType.from_raw(t), i), [(PropertyIdentifier.PRESENT_VALUE, None),
                                                            (PropertyIdentifier.STATUS_FLAGS, None)])
             for t, i in objects]
    async with BACnetClient(interface="127.0.0.1", port=free_udp_port(), apdu_timeout_ms=3000) as client:
        deadline = time.monotonic() + 60
        while True:  # until the device answers the request in full
            try:
                results = await client.read_property_multiple(addr, specs)
                if all(e["error"] is None for r in results for e in r["results"]):
                    break
            except Exception:  # noqa: BLE001 - not up yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no complete answer from {addr}")
            await asyncio.sleep(0.2)
        for _ in range(50):  # warm-up
            await client.read_property_multiple(addr, specs)
        latencies = []
        began = time.perf_counter()
        for _ in range(requests):
            t = time.perf_counter()
            await client.read_property_multiple(addr, specs)
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": requests / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000, "elapsed": elapsed}


def run_case(name: str, command: list[str], port: int, objects: list[tuple[int, int]], requests: int,
             env: dict[str, str]) -> None:
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(1.0)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} server exited: {proc.stderr.read() if proc.stderr else ''}")
        asyncio.run(measure(port, objects, 20))  # until it answers
        cpu_before = cpu_s(proc.pid)
        result = asyncio.run(measure(port, objects, requests))
        cpu = cpu_s(proc.pid) - cpu_before
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"{name}_rpm_20x2_requests_per_s: {result['rps']:.0f} req/s")
    print(f"{name}_rpm_20x2_p50: {result['p50']:.2f} ms")
    print(f"{name}_rpm_20x2_p99: {result['p99']:.2f} ms")
    print(f"{name}_server_cpu_per_request: {cpu / (requests + 70) * 1000:.2f} ms")


def point_objects(site: Path) -> list[tuple[int, int]]:
    """The first 20 analog, binary and multi-state objects of the site's point table, as (type, instance)."""
    from bacpypes3.primitivedata import ObjectType

    from app.bacnet.points import build_points, register_maps
    from app.config import load_site

    cfg = load_site(site)
    points = build_points(cfg, register_maps(cfg, site.parent))
    return [(int(ObjectType(p.kind.value)), p.instance) for p in points if p.kind.value != "datetimeValue"][:20]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--serve-plain", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_plain:
        serve_plain(args.serve_plain)
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HPSUP_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}
        port = free_udp_port()
        run_case("plain_bac0", [sys.executable, __file__, "--serve-plain", str(port)], port,
                 [(2, i + 1) for i in range(20)], args.requests, env)
        for name, make in (("school", school_site), ("estate", estate_site)):
            port = free_udp_port()
            site = make(Path(tmp) / f"{name}.yaml", port)
            env["HPSUP_DATABASE_URL"] = f"sqlite:///{tmp}/{name}.db"
            run_case(name, [sys.executable, "-m", "app", "run", "--site", str(site), "--simulate", "--speed", "30"],
                     port, point_objects(site), args.requests, env)


if __name__ == "__main__":
    main()
