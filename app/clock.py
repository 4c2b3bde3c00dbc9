"""All time comes from here: a real clock for live plant, a simulated clock for accelerated runs.

Nothing else in the application reads wall time. Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the supervisor, devices and storage need to know about time."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals and timeouts)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` of this clock's time pass."""
        ...


class RealClock:
    """Wall-clock time for live operation."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class SimClock:
    """Simulated time that advances only when slept, `speed` times faster than wall time.

    ``speed=None`` advances without waiting at all (annual simulations); ``speed=600`` makes ten
    simulated minutes take one wall second (a live-looking run against real sockets).
    """

    def __init__(self, start: datetime, speed: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("SimClock start must be timezone-aware")
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive (got {speed})")
        self._start = start.astimezone(UTC)
        self._elapsed = 0.0
        self.speed = speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def advance(self, seconds: float) -> None:
        """Move simulated time forward without waiting."""
        if seconds < 0:
            raise ValueError(f"time cannot go backwards (got {seconds} s)")
        self._elapsed += seconds

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        await asyncio.sleep(seconds / self.speed if self.speed else 0)
        self.advance(seconds)
