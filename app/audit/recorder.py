"""Feeding the L8 log from the control cycle: every cylinder sensor and the secondary return.

A supervisor cycle observer. Once per logging interval it appends each cylinder's good temperature
readings (the heat pump's ``dhw_temp`` points in the cylinder's sensor order, and its
``secondary_return_temp`` where the cylinder has one) and returns only when they are committed; a
reading that is not good is not logged, so it shows as a gap in the export. DHW cycle outcomes are
appended by whoever runs the cycle, through `record_cycle`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from app.audit.chain import ChainLine
from app.audit.log import L8Entry, L8Log
from app.config import SiteConfig
from app.snapshot import PlantSnapshot


class L8Recorder:
    """Appends the site's cylinder temperatures to the L8 log, at most once per ``interval_s``."""

    def __init__(self, site: SiteConfig, engine: Engine, interval_s: float = 60.0) -> None:
        self.site = site
        self.log = L8Log(engine, site.site.name)
        self.interval_s = interval_s
        self.last: datetime | None = None

    def __call__(self, result: Any) -> None:
        """A supervisor cycle observer."""
        self.record(result.snapshot)

    def entries(self, snapshot: PlantSnapshot) -> list[L8Entry]:
        """The snapshot's good cylinder readings as L8 records."""
        out: list[L8Entry] = []
        for cyl in self.site.cylinders:
            device = snapshot.devices.get(cyl.heat_pump) if cyl.heat_pump else None
            if device is None or not device.comms_ok:
                continue
            roles = [("dhw_temp" if i == 0 else f"dhw_temp.{i}", name) for i, name in enumerate(cyl.sensors)]
            if cyl.secondary_return_sensor:
                roles.append(("secondary_return_temp", "secondary_return"))
            for role, sensor in roles:
                reading = device.by_role(role)
                if reading is not None and reading.good and reading.value is not None:
                    out.append(L8Entry.temperature(reading.ts, cyl.id, sensor, reading.value))
        return out

    def record(self, snapshot: PlantSnapshot) -> list[ChainLine]:
        """Append this snapshot's readings if the logging interval has passed; committed on return."""
        if self.last is not None and (snapshot.ts - self.last).total_seconds() < self.interval_s:
            return []
        self.last = snapshot.ts
        entries = self.entries(snapshot)
        return self.log.append(entries) if entries else []

    def record_cycle(self, ts: datetime, cylinder: str, cycle: str, passed: bool, peak_c: float | None = None,
                     **detail: Any) -> ChainLine:
        """Append a DHW cycle outcome (pass or fail, with what decided it); committed on return."""
        return self.log.append([L8Entry.cycle(ts, cylinder, cycle, passed, peak_c, **detail)])[0]
