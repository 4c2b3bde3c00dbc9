"""Feeding the L8 log from the control cycle: every cylinder sensor and the secondary return, and each DHW
cycle's outcome.

The supervisor hands each cycle's snapshot to `L8Recorder.record`. Once per cylinder logging interval
(``legionella.log_interval_min``, on the interval's boundaries: 5 min gives :00, :05, :10 ...) it appends
that cylinder's good temperature readings — the heat pump's ``dhw_temp`` points in the cylinder's sensor
order, and its ``secondary_return_temp`` where the cylinder has one — and returns only when they are
committed. A reading that is not good is not logged, so it shows as a gap in the export. A DHW cycle's
outcome goes in through `record_cycle`, committed before the controller moves on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from app.audit.chain import ChainLine
from app.audit.log import L8Entry
from app.config import CylinderConfig, SiteConfig
from app.snapshot import PlantSnapshot

Append = Callable[[Sequence[L8Entry]], list[ChainLine]]  # durable: returns once committed
SECONDARY_RETURN = "secondary_return"
Cylinder = tuple[str, str, tuple[tuple[str, str], ...], float]  # id, heat pump, (role, sensor)s, interval s


def _roles(cyl: CylinderConfig) -> tuple[tuple[str, str], ...]:
    """(snapshot role, L8 sensor name) of everything logged for a cylinder."""
    roles = [("dhw_temp" if i == 0 else f"dhw_temp.{i}", name) for i, name in enumerate(cyl.sensors)]
    if cyl.secondary_return_sensor:
        roles.append(("secondary_return_temp", SECONDARY_RETURN))
    return tuple(roles)


class L8Recorder:
    """Appends a site's cylinder temperatures (once per logging interval) and DHW cycle outcomes to the L8 log.

    ``interval_s`` overrides every cylinder's own ``legionella.log_interval_min``.
    """

    def __init__(self, site: SiteConfig, append: Append, interval_s: float | None = None) -> None:
        self.append = append
        self.cylinders: list[Cylinder] = [
            (c.id, c.heat_pump, _roles(c), interval_s if interval_s is not None else c.legionella.log_interval_min * 60)
            for c in site.cylinders if c.heat_pump]
        self._logged: dict[str, int] = {}  # cylinder -> the last interval logged (index since the epoch)
        # the time range inside which every cylinder's interval is already logged (empty until the first reading)
        self._quiet = (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC))

    def entries(self, snapshot: PlantSnapshot, cylinders: Sequence[Cylinder] | None = None) -> list[L8Entry]:
        """The snapshot's good readings of `cylinders` (default: every cylinder) as L8 records."""
        out: list[L8Entry] = []
        for cyl, unit, roles, _ in self.cylinders if cylinders is None else cylinders:
            device = snapshot.devices.get(unit)
            if device is None or not device.comms_ok:
                continue
            for role, sensor in roles:
                reading = device.by_role(role)
                if reading is not None and reading.good and reading.value is not None:
                    out.append(L8Entry.temperature(reading.ts, cyl, sensor, reading.value))
        return out

    def due(self, ts: datetime) -> list[Cylinder]:
        """The cylinders whose logging interval has come by `ts` (each is then marked logged for it)."""
        if self._quiet[0] <= ts < self._quiet[1]:
            return []
        epoch_s = ts.timestamp()
        due = []
        for cyl in self.cylinders:
            slot = math.floor(epoch_s / cyl[3])
            if self._logged.get(cyl[0]) != slot:
                self._logged[cyl[0]] = slot
                due.append(cyl)
        # every cylinder is logged for the interval it is in: nothing is due until one of them enters the next
        slots = [(self._logged[cyl[0]], cyl[3]) for cyl in self.cylinders]
        if slots:
            self._quiet = (datetime.fromtimestamp(max(n * s for n, s in slots), UTC),
                           datetime.fromtimestamp(min((n + 1) * s for n, s in slots), UTC))
        else:
            self._quiet = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
        return due

    def record(self, snapshot: PlantSnapshot) -> list[ChainLine]:
        """Append the readings of the cylinders whose logging interval has come; committed on return."""
        due = self.due(snapshot.ts)
        entries = self.entries(snapshot, due) if due else []
        return self.append(entries) if entries else []

    def record_cycle(self, ts: datetime, cylinder: str, cycle: str, passed: bool, peak_c: float | None = None,
                     **detail: Any) -> list[ChainLine]:
        """Append a DHW cycle outcome (pass or fail, with what decided it); committed on return."""
        return self.append([L8Entry.cycle(ts, cylinder, cycle, passed, peak_c, **detail)])
