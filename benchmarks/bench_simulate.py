"""A heating season in seconds: the school of the example, 182 days at 60 s steps, in-process plant.

Runs each strategy through :func:`app.plant.simulate.simulate` (the supervisor is the real control core
through the in-process PlantIO, one control cycle per step) and prints ``name: value unit`` lines: wall and
CPU time of the whole run, and CPU microseconds per step. For the supervisor it also splits one simulated
day's CPU time between the plant read, the controller's decision, the writes and the plant step.
Target: the supervisor's season in under 30 s. First it times a fixed pure-Python loop, the machine's speed
for pure Python, so that figures from different machines can be compared.

    python benchmarks/bench_simulate.py [--days 182] [--step 60] [--strategy supervisor ...]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from app.clock import SimClock
from app.config import load_site
from app.paths import data_dir
from app.plant.plant import Plant
from app.plant.plantio import SimulatedPlantIO, simulated_maps
from app.plant.simulate import STRATEGIES, SimulationHistorian, simulate
from app.plant.weather import builtin

START = datetime(2024, 1, 1, tzinfo=UTC)


def season(strategy: str, days: float, step: float) -> None:
    site = load_site(data_dir("examples") / "school.yaml")
    weather = builtin()
    wall, cpu = time.perf_counter(), time.process_time()
    run = simulate(site, strategy, START, days, step, weather)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    steps = round(days * 86400 / step)
    name = f"simulate_{strategy.replace('-', '_')}_{days:g}d_{step:g}s"
    print(f"{name}_wall: {wall:.1f} s")
    print(f"{name}_cpu: {cpu:.1f} s")
    print(f"{name}_per_step: {cpu / steps * 1e6:.0f} us")
    print(f"{name}_scop_h4: {run.report['scop_h4']} (check)")


async def split(step: float) -> None:
    """One simulated day of the supervisor, CPU time per part of the cycle."""
    from app.control.supervisor import Supervisor

    site = simulated_maps(load_site(data_dir("examples") / "school.yaml"))
    plant = Plant(site, builtin(), START, 26)
    clock = SimClock(START)
    historian = SimulationHistorian(site.site.name)
    io = SimulatedPlantIO(site, plant, clock, historian.record_write)
    supervisor = Supervisor(site, io, historian, clock)
    parts = dict.fromkeys(("read", "decide", "write", "plant_step"), 0.0)
    steps = round(86400 / step)
    for _ in range(steps):
        t0 = time.process_time()
        snapshot = await io.read()
        t1 = time.process_time()
        commands = supervisor.decide(snapshot)
        t2 = time.process_time()
        await io.write(commands)
        t3 = time.process_time()
        plant.step(step)
        clock.advance(step)
        t4 = time.process_time()
        for key, spent in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            parts[key] += spent
    for key, spent in parts.items():
        print(f"supervisor_cycle_{key}: {spent / steps * 1e6:.0f} us")


def machine_reference() -> None:
    """CPU seconds of a fixed pure-Python loop (10 million additions): what this machine does per unit of work."""
    cpu = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    print(f"machine_reference_loop_1e7: {time.process_time() - cpu:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=182.0)
    parser.add_argument("--step", type=float, default=60.0)
    parser.add_argument("--strategy", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    args = parser.parse_args()
    machine_reference()
    if "supervisor" in args.strategy:
        asyncio.run(split(args.step))
    for strategy in args.strategy:
        season(strategy, args.days, args.step)


if __name__ == "__main__":
    main()
