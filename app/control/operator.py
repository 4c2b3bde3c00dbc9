"""Operator inputs: values an FM engineer commands from outside (BACnet writes), applied at the next cycle.

The BACnet device resolves its priority arrays and puts the effective value here under a parameter key
(``ch1.flow_setpoint_offset``, ``dhw1.storage_setpoint``, ``hp1.enable`` ...); relinquishing removes it.
The supervisor takes the effective values once at the start of each cycle (:meth:`OperatorInputs.current`),
so a cycle sees one consistent set whatever is written meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from threading import Lock


@dataclass(frozen=True, slots=True)
class OperatorValue:
    value: float
    source: str      # who commanded it (e.g. BACnet source address)
    priority: int    # BACnet priority 1..16 it was written at
    ts: datetime


class OperatorInputs:
    """Thread-safe table of commanded values by parameter key."""

    def __init__(self) -> None:
        self._values: dict[str, OperatorValue] = {}
        self._lock = Lock()

    def command(self, key: str, value: OperatorValue) -> None:
        with self._lock:
            self._values[key] = value

    def relinquish(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def current(self) -> dict[str, OperatorValue]:
        """Every commanded value now (a copy: later commands do not change it)."""
        with self._lock:
            return dict(self._values)

    def get(self, key: str) -> OperatorValue | None:
        with self._lock:
            return self._values.get(key)

    def value(self, key: str, default: float) -> float:
        """The commanded value of `key`, or `default` when nobody commands it."""
        found = self.get(key)
        return found.value if found is not None else default
