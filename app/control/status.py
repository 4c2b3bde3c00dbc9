"""What the supervisor shows live: the plant sequencer and the economics behind it, the DHW cycles, and the
controller's own alarms, as of one control cycle.

Each cycle's result carries one (``CycleResult.status``) for the BACnet device and the MQTT telemetry; it is
made from what the cycle decided, reading nothing again. Both types are immutable tuples: a status handed to
an observer never changes under it.

Alarms, by source name (the ``source`` of their ``alarm`` events, whose ``to_state`` is ``active`` or
``normal``):

- ``l8.{cylinder}``: a DHW cycle failed (HSE L8), until a cycle of that kind passes;
- ``secondary_return.{cylinder}``: the secondary return is below its L8 minimum.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

CYCLE_RESULTS = ("none", "passed", "failed")  # a cylinder's last cycle result, as the BACnet point numbers them


class CylinderStatus(NamedTuple):
    """One cylinder's DHW cycles."""

    state: str                    # the DHW cycle machine: idle, boost, pasteurise, immersion_fallback, passed, failed
    last_cycle: str | None        # kind of the last cycle to finish (boost, pasteurise, reheat); None: none yet
    last_result: str              # one of CYCLE_RESULTS
    last_time: datetime | None    # when it finished
    failed: tuple[str, ...]       # kinds that failed and have not passed since: the L8 alarm is on while any
    secondary_return_low: bool    # the secondary return is below its L8 minimum

    @property
    def l8_alarm(self) -> bool:
        return bool(self.failed)


class SupervisorStatus(NamedTuple):
    """The plant as the supervisor ran it in one cycle."""

    ts: datetime
    sequencer: str                # hp_only, hp_boiler, boiler_only or failsafe
    reason: str                   # why the sequencer is there this cycle
    heating_on: bool              # inside the heating season (summer cut-off)
    flow_setpoint_c: float
    lead: str | None              # the lead heat pump
    predicted_cop: float | None   # TP-12 COP of the lead heat pump at this outdoor and flow temperature
    crossover_cop: float          # below it the boiler's heat is cheaper (economic) or lower-carbon
    crossover_basis: str          # economic or carbon
    tariff_period: str | None     # the time-of-use period in force; None at the standard rate
    heat_pumps: Mapping[str, str]  # each heat pump's machine state
    boilers: Mapping[str, bool]   # each boiler: enabled
    cylinders: Mapping[str, CylinderStatus]

    def alarms(self) -> dict[str, bool]:
        """The controller's alarms by source name, active or not."""
        out: dict[str, bool] = {}
        for cid, cyl in self.cylinders.items():
            out[f"l8.{cid}"] = cyl.l8_alarm
            out[f"secondary_return.{cid}"] = cyl.secondary_return_low
        return out
