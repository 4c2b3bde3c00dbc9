"""The MQTT topic schema (version 1): which topic each piece of a site's telemetry goes to, as which JSON.

All topics sit under ``{prefix}/{site}/`` where ``site`` is the site name as a topic segment
(``Riverside Primary School`` → ``riverside-primary-school``). Every body carries ``v`` (schema version),
``site`` (the name) and ``ts`` (ISO 8601 UTC, ``Z``); the outbox adds ``seq`` and ``stream``. The README's
"MQTT topic schema" section is the reference for consumers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.snapshot import Commands, DeviceSnapshot
from app.telemetry.outbox import Message

if TYPE_CHECKING:
    from app.control.status import SupervisorStatus

SCHEMA_VERSION = 1
_NOT_IN_SEGMENT = re.compile(r"[^a-z0-9_.-]+")


def segment(text: str) -> str:
    """`text` as one topic level: lower case, runs of anything but ``a-z 0-9 _ . -`` become ``-``."""
    out = _NOT_IN_SEGMENT.sub("-", text.lower()).strip("-")
    if not out:
        raise ValueError(f"{text!r} has nothing that can name a topic level")
    return out


def iso(ts: datetime) -> str:
    """A timezone-aware time as ISO 8601 UTC with milliseconds and ``Z``."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class SiteTopics:
    """Topic names and message bodies for one site."""

    prefix: str
    site_name: str

    @property
    def root(self) -> str:
        return f"{self.prefix}/{segment(self.site_name)}"

    def topic(self, *levels: str) -> str:
        return "/".join((self.root, *(segment(level) for level in levels)))

    def body(self, ts: datetime | None, **fields: Any) -> dict[str, Any]:
        head: dict[str, Any] = {"v": SCHEMA_VERSION, "site": self.site_name}
        if ts is not None:
            head["ts"] = iso(ts)
        return {**head, **fields}

    def status(self, online: bool, reason: str, ts: datetime | None) -> tuple[str, dict[str, Any]]:
        """``status`` (retained, also the last will): whether the site's supervisor is connected."""
        return self.topic("status"), self.body(ts, online=online, reason=reason)

    def readings(self, ts: datetime, device: DeviceSnapshot) -> Message:
        """``readings/{device}`` (retained): every point of one poll with value, unit, quality and time."""
        points = {name: {"value": r.value, "unit": r.unit, "quality": r.quality.value, "ts": iso(r.ts)}
                  for name, r in device.readings.items()}
        return Message(self.topic("readings", device.device_id), self.body(
            ts, device=device.device_id, comms_ok=device.comms_ok, error=device.error, readings=points))

    def commands(self, commands: Commands, outcomes: list[tuple[str, str]]) -> list[Message]:
        """``commands/{device}`` (retained): what the cycle asked of each device, why, and how the write ended."""
        per_device: dict[str, list[dict[str, Any]]] = {}
        for cmd, (outcome, why) in zip(commands.points, outcomes, strict=True):
            per_device.setdefault(cmd.device_id, []).append(
                {"role": cmd.role, "value": cmd.value, "reason": cmd.reason, "outcome": outcome, "outcome_reason": why})
        return [Message(self.topic("commands", device), self.body(commands.ts, device=device, commands=cmds))
                for device, cmds in per_device.items()]

    def plant(self, status: SupervisorStatus) -> Message:
        """``plant`` (retained): the plant as the supervisor ran it this cycle — the sequencer and the economics
        behind it, each machine, the last DHW cycle of each cylinder, and the supervisor's alarms."""
        cylinders = {cid: {"state": c.state, "last_cycle": c.last_cycle, "last_result": c.last_result,
                           "last_time": iso(c.last_time) if c.last_time is not None else None,
                           "failed": list(c.failed), "secondary_return_low": c.secondary_return_low}
                     for cid, c in status.cylinders.items()}
        return Message(self.topic("plant"), self.body(
            status.ts, sequencer=status.sequencer, reason=status.reason, heating_on=status.heating_on,
            flow_setpoint_c=status.flow_setpoint_c, lead=status.lead, predicted_cop=status.predicted_cop,
            crossover_cop=status.crossover_cop, crossover_basis=status.crossover_basis,
            tariff_period=status.tariff_period, heat_pumps=dict(status.heat_pumps), boilers=dict(status.boilers),
            cylinders=cylinders, alarms=status.alarms()))

    def transition(self, ts: datetime, source: str, from_state: str | None, to_state: str | None, reason: str,
                   data: Mapping[str, Any] | None) -> Message:
        """``state/{source}`` (retained): a state machine's current state, the one before, and why it moved."""
        return Message(self.topic("state", source), self.body(
            ts, source=source, state=to_state, previous=from_state, reason=reason, data=data))

    def alarm(self, ts: datetime, source: str, state: str | None, reason: str,
              data: Mapping[str, Any] | None) -> Message:
        """``alarms/{source}`` (retained): an alarm raised (state ``active``) or ended (any other state)."""
        return Message(self.topic("alarms", source), self.body(
            ts, source=source, active=state == "active", state=state, reason=reason, data=data))

    def l8_cycle(self, ts: datetime, cylinder: str, peak_c: float | None, data: Mapping[str, Any] | None,
                 record_hash: str) -> Message:
        """``l8/{cylinder}/cycle`` (retained): an L8 DHW cycle outcome as recorded in the hash-chained log."""
        details = dict(data or {})
        return Message(self.topic("l8", cylinder, "cycle"), self.body(
            ts, cylinder=cylinder, cycle=details.get("cycle"), outcome=details.get("outcome"), peak_c=peak_c,
            data=details, hash=record_hash))

    def cop(self, ts: datetime, unit: str, day: str, figures: Mapping[str, Any]) -> Message:
        """``cop/{unit}`` (retained): a heat pump's COP figures for today so far (local `day`)."""
        return Message(self.topic("cop", unit), self.body(ts, unit=unit, day=day, figures=dict(figures)))
