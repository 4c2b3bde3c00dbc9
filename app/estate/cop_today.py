"""Each heat pump's COP figures for today so far, kept in controller state for the central view and telemetry.

Daily COP figures are stored when a day closes; between closes the site's live figures exist only in the
running supervisor. `CopToday` (a supervisor cycle observer, after `LiveCop`) stores them every few
minutes under the controller-state key ``cop_today:{unit}`` as ``{"day": "YYYY-MM-DD", "figures": {...}}``,
where `hpsup estate` and the MQTT ``cop/{unit}`` topic read them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.monitoring.store import LiveCop
    from app.storage.historian import Historian

KEY_PREFIX = "cop_today:"


class CopToday:
    """Stores `live`'s figures for today, at most every `every_s` seconds of plant time."""

    def __init__(self, live: LiveCop, historian: Historian, every_s: float = 300.0) -> None:
        self.live = live
        self.historian = historian
        self.every_s = every_s
        self._last: datetime | None = None

    def __call__(self, result: Any) -> None:
        """A supervisor cycle observer."""
        ts: datetime = result.snapshot.ts
        if self._last is not None and (ts - self._last).total_seconds() < self.every_s:
            return
        self._last = ts
        for unit, day in self.live.open_day.items():
            figures = self.live.today(unit)
            if day is not None and figures is not None:
                self.historian.save_state(f"{KEY_PREFIX}{unit}", {"day": day.isoformat(), "figures": figures}, ts)
