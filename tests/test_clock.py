"""Clocks: simulated time advances only when slept, at the requested speed; real time is UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from app.clock import RealClock, SimClock

T0 = datetime(2024, 1, 1, tzinfo=UTC)


async def test_simclock_advances_only_when_slept_and_without_waiting() -> None:
    clock = SimClock(T0)
    assert clock.now() == T0
    wall = time.monotonic()
    for _ in range(1000):
        await clock.sleep(3600)
    assert time.monotonic() - wall < 1.0
    assert clock.now() == T0 + timedelta(hours=1000)
    assert clock.monotonic() == 3600 * 1000


async def test_simclock_speed_scales_wall_time() -> None:
    clock = SimClock(T0, speed=600)
    wall = time.monotonic()
    await clock.sleep(60)  # one simulated minute = 0.1 s of wall time
    elapsed = time.monotonic() - wall
    assert 0.08 <= elapsed < 1.0
    assert clock.now() == T0 + timedelta(minutes=1)


def test_simclock_refuses_naive_start_and_backwards_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="backwards"):
        SimClock(T0).advance(-1)
    with pytest.raises(ValueError, match="positive"):
        SimClock(T0, speed=0)


def test_realclock_is_utc_and_monotonic() -> None:
    clock = RealClock()
    assert clock.now().tzinfo is UTC
    a = clock.monotonic()
    assert clock.monotonic() >= a
