"""Supervisor cost per control cycle: `Supervisor.decide()` and the whole cycle, against the in-process plant.

The example school on the simulated plant at 60 s steps, in January (heating, DHW boosts, a weekly
pasteurisation): one warm-up day, then ``--days`` timed. CPU time (the machine may be shared), printed as
``name: value unit`` lines:

- ``supervisor_decide``: µs per cycle in ``decide()`` — strategies, machines, the L8 log and the controller
  state bookkeeping (the snapshot's values are first read here), averaged over every cycle;
- ``supervisor_decide_steady``: the same over the steady-state cycles (no DHW cycle running, no machine
  move or other event recorded), and ``supervisor_steady_share`` the share of cycles that are;
- ``supervisor_cycle``: µs per cycle of the whole cycle (plant read, decide, guarded writes);
- ``plant_step``: µs per step of the plant simulation;
- ``season_estimate``: s of CPU for 182 days at 60 s steps (cycle + plant step);
- with ``--season``: ``season_wall``, the wall time of ``simulate`` over 182 days (target: under 30 s).

    python benchmarks/bench_supervisor.py [--days 7] [--season]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

from app.clock import SimClock
from app.config import load_site
from app.control.supervisor import Supervisor
from app.paths import data_dir
from app.plant.plant import Plant
from app.plant.plantio import SimulatedPlantIO, simulated_maps
from app.plant.simulate import SimulationHistorian, simulate
from app.plant.weather import builtin

START = datetime(2024, 1, 1, tzinfo=UTC)
STEP_S = 60.0
SEASON_STEPS = 182 * 86400 // 60


async def per_cycle(days: float) -> dict[str, float]:
    """CPU µs per cycle of each part, over `days` after a warm-up day."""
    site = simulated_maps(load_site(data_dir("examples") / "school.yaml"))
    plant = Plant(site, builtin(), START, int((days + 1) * 24) + 2)
    clock = SimClock(START)
    historian = SimulationHistorian(site.site.name)
    io = SimulatedPlantIO(site, plant, clock, historian.record_write)
    supervisor = Supervisor(site, io, historian, clock)
    warm_up = round(86400 / STEP_S)
    steps = round(days * 86400 / STEP_S)
    spent = dict.fromkeys(("read", "decide", "write", "plant_step"), 0.0)
    steady, steady_n = 0.0, 0
    cpu = time.process_time
    for i in range(warm_up + steps):
        t0 = cpu()
        snapshot = await io.read()
        events = len(historian.events)
        t1 = cpu()
        commands = supervisor.decide(snapshot)
        t2 = cpu()
        await io.write(commands)
        t3 = cpu()
        plant.step(STEP_S)
        clock.advance(STEP_S)
        t4 = cpu()
        if i >= warm_up:
            for key, dt in zip(spent, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                spent[key] += dt
            if len(historian.events) == events and all(m.cycle is None for m in supervisor.cyl_memory.values()):
                steady, steady_n = steady + t2 - t1, steady_n + 1
    return {**{key: dt / steps * 1e6 for key, dt in spent.items()}, "steady": steady / steady_n * 1e6,
            "steady_share": steady_n / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0, help="simulated days timed (after a warm-up day)")
    parser.add_argument("--season", action="store_true", help="also time a 182-day `simulate` run (wall)")
    args = parser.parse_args()
    us = asyncio.run(per_cycle(args.days))
    cycle = us["read"] + us["decide"] + us["write"]
    print(f"supervisor_decide: {us['decide']:.1f} us")
    print(f"supervisor_decide_steady: {us['steady']:.1f} us")
    print(f"supervisor_steady_share: {us['steady_share'] * 100:.0f} %")
    print(f"supervisor_cycle: {cycle:.1f} us")
    print(f"plant_step: {us['plant_step']:.1f} us")
    print(f"season_estimate: {(cycle + us['plant_step']) * SEASON_STEPS / 1e6:.1f} s")
    if args.season:
        site = load_site(data_dir("examples") / "school.yaml")
        wall = time.perf_counter()
        simulate(site, "supervisor", START, 182, STEP_S, builtin())
        print(f"season_wall: {time.perf_counter() - wall:.1f} s")


if __name__ == "__main__":
    main()
