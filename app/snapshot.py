"""The data that flows through one control cycle: readings with quality, plant snapshots, commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class Quality(StrEnum):
    """Why a reading can or cannot be trusted. Only GOOD readings carry a number."""

    GOOD = "good"
    SENTINEL = "sentinel"          # the device's own "no reading" value (0xFFFF, -32768, ...)
    OUT_OF_RANGE = "out_of_range"  # decoded value outside the map's plausible range
    STALE = "stale"                # not refreshed within the allowed age
    COMM_ERROR = "comm_error"      # the device did not answer, or answered with an exception


@dataclass(frozen=True, slots=True)
class Reading:
    """One point's value at one time. ``value`` is None unless ``quality`` is GOOD."""

    value: float | None
    unit: str
    quality: Quality
    ts: datetime

    def __post_init__(self) -> None:
        if (self.quality is Quality.GOOD) != (self.value is not None):
            raise ValueError(f"a {self.quality} reading cannot carry value {self.value!r}")

    @property
    def good(self) -> bool:
        return self.quality is Quality.GOOD


@dataclass(slots=True)
class DeviceSnapshot:
    """Everything read from one device in one poll, keyed by point name."""

    device_id: str
    readings: dict[str, Reading] = field(default_factory=dict)
    comms_ok: bool = True
    roles: dict[str, str] = field(default_factory=dict)  # role key -> point name
    error: str | None = None  # why comms failed, when they did

    def by_role(self, role: str) -> Reading | None:
        """The reading of the point that plays `role` (flow_temp, outdoor_temp, ...), if the map has one."""
        name = self.roles.get(role)
        return self.readings.get(name) if name else None

    def value(self, role: str) -> float | None:
        """The value of `role` if it is a good reading, else None (only a good reading carries a value)."""
        name = self.roles.get(role)
        reading = self.readings.get(name) if name else None
        return reading.value if reading is not None else None


@dataclass(slots=True)
class PlantSnapshot:
    """The plant as read at one instant: every device's readings."""

    ts: datetime
    devices: dict[str, DeviceSnapshot] = field(default_factory=dict)


class PointCommand(NamedTuple):
    """A request to set one role on one device, with the reason it was decided (a tuple: several a cycle)."""

    device_id: str
    role: str
    value: float
    reason: str


@dataclass(slots=True)
class Commands:
    """What one control cycle asks the plant to do."""

    ts: datetime
    points: list[PointCommand] = field(default_factory=list)

    def set(self, device_id: str, role: str, value: float, reason: str) -> None:
        self.points.append(PointCommand(device_id, role, value, reason))
