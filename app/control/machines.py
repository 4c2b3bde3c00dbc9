"""State machines (``transitions``): what each heat pump, the plant sequencer and each DHW cycle may do next.

Strategies propose; these machines only allow the moves listed here, and every move is handed to a
recorder with its reason (the supervisor stores it as a ``transition`` event). A move the table does not
allow raises ``transitions.MachineError``: a bug, never a silent change.

- Heat pump: off, standby, heating, hot_water, defrost, fault, comms_lost, lockout (held off by the
  anti-short-cycle timer).
- Plant sequencer: hp_only, hp_boiler (boiler lags), boiler_only (boiler leads), failsafe (everything
  on its own local control).
- DHW cycle: idle, boost, pasteurise, immersion_fallback, passed, failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from transitions import Machine


@dataclass(frozen=True, slots=True)
class Transition:
    machine: str
    from_state: str
    to_state: str
    trigger: str
    reason: str
    ts: datetime


Recorder = Callable[[Transition], None]


class RecordedMachine:
    """A ``transitions`` machine over this object whose every move is recorded with its reason."""

    STATES: ClassVar[tuple[str, ...]]
    MOVES: ClassVar[dict[str, tuple[tuple[str, ...] | str, str]]]  # trigger -> (sources, destination)
    state: str

    def __init__(self, name: str, recorder: Recorder, initial: str | None = None) -> None:
        self.name = name
        self.recorder = recorder
        self._to_trigger = {dest: trigger for trigger, (_, dest) in self.MOVES.items()}
        transitions = [{"trigger": trigger, "source": list(sources) if isinstance(sources, tuple) else sources,
                        "dest": dest} for trigger, (sources, dest) in self.MOVES.items()]
        self.machine = Machine(model=self, states=list(self.STATES), transitions=transitions,
                               initial=initial or self.STATES[0], auto_transitions=False)

    def move(self, trigger: str, ts: datetime, reason: str) -> bool:
        """Fire `trigger` (must be allowed from the present state); record it. False when already there."""
        before = self.state
        if self.MOVES[trigger][1] == before:
            return False
        self.trigger(trigger)  # type: ignore[attr-defined]  # added by transitions
        self.recorder(Transition(self.name, before, self.state, trigger, reason, ts))
        return True

    def go(self, dest: str, ts: datetime, reason: str) -> bool:
        """Move to `dest` by the trigger that leads there; False when already there."""
        if dest == self.state:
            return False
        return self.move(self._to_trigger[dest], ts, reason)

    def can_go(self, dest: str) -> bool:
        """Whether the table allows `dest` from the present state (staying put is always allowed)."""
        trigger = self._to_trigger.get(dest)
        return dest == self.state or (trigger is not None and bool(getattr(self, f"may_{trigger}")()))

    def restore(self, state: str) -> None:
        """Put the machine back in a stored state after a restart (the restart itself is recorded elsewhere)."""
        if state not in self.STATES:
            raise ValueError(f"{self.name}: stored state {state!r} is not one of {self.STATES}")
        self.machine.set_state(state)

    def snapshot(self) -> dict[str, Any]:
        return {"state": self.state}


_HP_RUNNING = ("standby", "heating", "hot_water", "defrost")
_HP_ALL = ("off", "standby", "heating", "hot_water", "defrost", "fault", "comms_lost", "lockout")


class HeatPumpMachine(RecordedMachine):
    STATES = _HP_ALL
    MOVES: ClassVar[dict[str, tuple[tuple[str, ...] | str, str]]] = {
        "switch_off": (("standby", "heating", "hot_water", "defrost", "fault", "comms_lost", "lockout"), "off"),
        "stand_by": (("off", "heating", "hot_water", "defrost", "fault", "comms_lost", "lockout"), "standby"),
        "heat": (("off", "standby", "hot_water", "defrost", "fault", "comms_lost", "lockout"), "heating"),
        "heat_water": (("off", "standby", "heating", "defrost", "fault", "comms_lost", "lockout"), "hot_water"),
        "start_defrost": (("off", "standby", "heating", "hot_water", "fault", "comms_lost", "lockout"), "defrost"),
        "trip": (("off", *_HP_RUNNING, "comms_lost", "lockout"), "fault"),
        "lose_comms": (("off", *_HP_RUNNING, "fault", "lockout"), "comms_lost"),
        "lock_out": (("off", *_HP_RUNNING, "fault", "comms_lost"), "lockout"),
    }


class SequencerMachine(RecordedMachine):
    STATES = ("hp_only", "hp_boiler", "boiler_only", "failsafe")
    MOVES: ClassVar[dict[str, tuple[tuple[str, ...] | str, str]]] = {
        "heat_pump_only": (("hp_boiler", "boiler_only", "failsafe"), "hp_only"),
        "add_boiler": (("hp_only",), "hp_boiler"),  # the boiler lags only behind a leading heat pump
        "boiler_leads": (("hp_only", "hp_boiler", "failsafe"), "boiler_only"),
        "fail_safe": (("hp_only", "hp_boiler", "boiler_only"), "failsafe"),
    }


class DhwMachine(RecordedMachine):
    STATES = ("idle", "boost", "pasteurise", "immersion_fallback", "passed", "failed")
    MOVES: ClassVar[dict[str, tuple[tuple[str, ...] | str, str]]] = {
        "start_boost": (("idle", "passed", "failed"), "boost"),
        "start_pasteurise": (("idle", "passed", "failed"), "pasteurise"),
        "fall_back": (("boost", "pasteurise"), "immersion_fallback"),
        "pass_cycle": (("boost", "pasteurise", "immersion_fallback"), "passed"),
        "fail_cycle": (("boost", "pasteurise", "immersion_fallback"), "failed"),
    }
