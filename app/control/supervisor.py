"""The supervisor: one control cycle — read, record, decide, write, observe — repeated on the clock.

Strategies decide (weather compensation, hybrid sequencing, the L8 DHW regime), the state machines of
``app.control.machines`` constrain and record, and the commands use the vocabulary documented in
``app.control``. The controller's memory (machine states, timers, DHW cycles in progress, run hours, the
building response optimum start has learned) is
saved whenever a machine moves and every few minutes otherwise; after a restart it resumes from there,
with the restart and any interrupted DHW cycle on the record. Per-cycle work is plain arithmetic on
tables built once, so the same supervisor runs a season of simulated time in seconds.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from app.audit.recorder import L8Recorder
from app.clock import Clock
from app.config import CylinderConfig, HeatPumpConfig, SiteConfig
from app.control.machines import DhwMachine, HeatPumpMachine, SequencerMachine, Transition
from app.control.operator import OperatorInputs, OperatorValue
from app.control.performance import PerformanceTable
from app.control.schedule import CronSchedule
from app.control.status import CylinderStatus, SupervisorStatus
from app.devices.modbus import WriteResult
from app.devices.plantio import PlantIO
from app.snapshot import Commands, DeviceSnapshot, PlantSnapshot
from app.storage.historian import Historian
from strategies import dhw_legionella as dhw
from strategies import hybrid_sequencing as seq
from strategies import weather_compensation as wc

STATE_KEY = "control"
SAVE_EVERY_S = 900.0
SAVE_IN_CYCLE_S = 300.0
AT_CAPACITY_FRACTION = 0.95
FLOW_OFFSET_LIMIT_K = 10.0
FORCED_MODES = {1: seq.HP_ONLY, 2: seq.BOILER_ONLY}


@dataclass
class CycleResult:
    """One control cycle: what was read, commanded and written, and the plant as the supervisor ran it."""

    snapshot: PlantSnapshot
    commands: Commands
    writes: list[WriteResult] = field(default_factory=list)
    samples: int = 0
    status: SupervisorStatus | None = None


CycleObserver = Callable[[CycleResult], Awaitable[None] | None]


@dataclass(slots=True)
class HeatPumpStatus:
    """One heat pump as read this cycle."""

    comms_ok: bool
    fault: str | None
    running: bool
    defrost: bool
    heat_kw: float | None
    elec_kw: float | None


@dataclass
class HeatPumpMemory:
    enable: bool = False
    since: datetime | None = None   # when `enable` last changed
    run_h: float = 0.0
    operator: OperatorValue | None = None


@dataclass(frozen=True, slots=True)
class CylinderKeys:
    """What the cycle looks up for one cylinder, worked out once: readings, operator keys, devices."""

    temps: tuple[str, ...]                       # its sensors' roles on its heat pump, top first
    heat_pump: HeatPumpConfig | None
    immersion_device: str | None
    storage_setpoint: str
    times: tuple[tuple[str, str], ...]           # (cycle kind, operator key of its start time)
    pasteurise_day: str
    requests: tuple[tuple[str, str], ...]        # (cycle kind, operator key that starts one now)
    schedule: tuple[dict[str, time], str]        # the site file's start times by kind, and pasteurisation day

    @classmethod
    def of(cls, cyl: CylinderConfig, site: SiteConfig) -> CylinderKeys:
        return cls(tuple("dhw_temp" if i == 0 else f"dhw_temp.{i}" for i in range(len(cyl.sensors))),
                   next((h for h in site.heat_pumps if h.id == cyl.heat_pump), None),
                   (cyl.immersion.device or cyl.heat_pump or cyl.id) if cyl.immersion is not None else None,
                   f"{cyl.id}.storage_setpoint",
                   tuple((kind, f"{cyl.id}.{kind}_time") for kind in (dhw.BOOST, dhw.PASTEURISE)),
                   f"{cyl.id}.pasteurise_day",
                   ((dhw.BOOST, f"{cyl.id}.boost"), (dhw.PASTEURISE, f"{cyl.id}.pasteurise_now")),
                   ({dhw.BOOST: cyl.legionella.boost_time, dhw.PASTEURISE: cyl.legionella.pasteurise_time},
                    cyl.legionella.pasteurise_day))


@dataclass
class CylinderMemory:
    cycle: dhw.DhwCycle | None = None
    pending: list[tuple[str, str]] = field(default_factory=list)  # (kind, reason) waiting to start
    last_fired: dict[str, str] = field(default_factory=dict)      # schedule -> ISO time
    operator_edges: dict[str, float] = field(default_factory=dict)
    return_low: bool = False
    last: tuple[str, str, datetime] | None = None  # the last cycle to finish: kind, passed | failed, when
    failed: list[str] = field(default_factory=list)  # kinds failed and not passed since (the L8 alarm)

    def status(self, state: str) -> CylinderStatus:
        kind, result, ended = self.last if self.last is not None else (None, "none", None)
        return CylinderStatus(state, kind, result, ended, tuple(self.failed), self.return_low)


def _hp_status(device: DeviceSnapshot | None, with_power: bool) -> HeatPumpStatus:
    """What a heat pump reports; its electrical power only `with_power` (the site demand limit needs it)."""
    if device is None or not device.comms_ok:
        return HeatPumpStatus(False, None, False, False, None, None)
    value = device.value
    code, alarm = value("fault_code"), value("alarm")
    fault = f"fault code {code:g}" if code else ("alarm active" if alarm else None)
    heat = value("heat_output_power")
    compressor = value("compressor_running")
    running = bool(compressor) if compressor is not None else bool(heat and heat > 0)
    return HeatPumpStatus(True, fault, running, bool(value("defrost_active")), heat,
                          value("electrical_power") if with_power else None)


def _op(ops: dict[str, OperatorValue], key: str, default: float) -> float:
    """The commanded value of `key` in this cycle's operator inputs, or `default`."""
    found = ops.get(key)
    return default if found is None else found.value


def _observed_state(st: HeatPumpStatus) -> str:
    """The machine state a unit on its own control is in, from what it reports."""
    if not st.comms_ok:
        return "comms_lost"
    return "fault" if st.fault else "defrost" if st.defrost else "heating" if st.running else "standby"


class Supervisor:
    """Runs the control cycle of design.md against any PlantIO.

    Observers (COP monitoring, BACnet present values, telemetry) are called with every cycle's result;
    operator inputs (BACnet writes) are read at the start of each cycle. ``performance`` maps heat pump id to
    its predicted-performance table; by default it is built from each heat pump's TP-12 data.
    ``sample_every_s`` thins the stored samples to one snapshot per that much clock time (simulations);
    0 stores every cycle's.
    """

    def __init__(self, site: SiteConfig, plant: PlantIO, historian: Historian, clock: Clock,
                 operator: OperatorInputs | None = None, *,
                 performance: dict[str, PerformanceTable] | None = None, sample_every_s: float = 0.0) -> None:
        self.site = site
        self.plant = plant
        self.historian = historian
        self.clock = clock
        self.operator = operator or OperatorInputs()
        self.observers: list[CycleObserver] = []
        self.sample_every_s = sample_every_s
        self._sampled_at: datetime | None = None
        self.zone = ZoneInfo(site.site.timezone)
        self.circuit = site.heating_circuits[0]
        self.schedule = site.schedules[self.circuit.schedule] if self.circuit.schedule in site.schedules else None
        self.performance = performance if performance is not None else {
            hp.id: PerformanceTable.for_heat_pump(hp) for hp in site.heat_pumps}
        self.boiler_efficiency = site.boilers[0].seasonal_efficiency if site.boilers else 1.0
        self.heat_pumps: dict[str, HeatPumpMachine] = {
            hp.id: HeatPumpMachine(hp.id, self._transition) for hp in site.heat_pumps}
        self.sequencer = SequencerMachine("plant", self._transition)
        self.cylinders: dict[str, DhwMachine] = {c.id: DhwMachine(c.id, self._transition) for c in site.cylinders}
        self.hp_memory = {hp.id: HeatPumpMemory() for hp in site.heat_pumps}
        self.cyl_memory = {c.id: CylinderMemory() for c in site.cylinders}
        self.source_state = seq.SourceState()
        self.stage_state = seq.StageState()
        self.trim_state = wc.TrimState()
        self.optimiser = wc.OptimiserState()
        self.heating_on = True
        self.setback_calling = False
        self.boosting = False
        self.last_ts: datetime | None = None
        self._saved_at: datetime | None = None
        self._dirty = False
        self._operator_notes: dict[str, float] = {}
        self.l8 = L8Recorder(site, historian.record_l8)
        # looked up every cycle: worked out once
        circuit_id = self.circuit.id
        self._circuit_keys = {k: f"{circuit_id}.{k}" for k in (
            "summer_cutoff", "flow_setpoint_offset", "flow_setpoint", "room_setpoint", "setback_setpoint")}
        self._hp_ids = tuple(hp.id for hp in site.heat_pumps)
        self._enable_keys = {hp.id: f"{hp.id}.enable" for hp in site.heat_pumps}
        self._boiler_keys = [(b.id, b.enable_device or b.id, f"{b.id}.enable") for b in site.boilers]
        self._cylinder_keys = {c.id: CylinderKeys.of(c, site) for c in site.cylinders}
        self._hp_max_flow = max(hp.max_flow_temp_c for hp in site.heat_pumps)
        self._circuit_mcp = wc.design_mcp_kw_per_k(self.circuit)
        self._site_meter = next((m.id for m in site.meters if m.kind == "electricity" and m.measures == "site"), None)
        self._with_power = site.sequencing.site_kw_limit is not None and self._site_meter is not None
        self._room_roles: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {}  # device -> (its roles, room ones)
        self._crossovers: dict[tuple[float, str | None], seq.Crossover] = {}
        self._target: wc.RoomTarget | None = None  # the schedule's target, reused while it holds (its `until`)
        self._target_at: datetime | None = None
        self._restore(clock.now())
        self._status_changed = True
        self._hp_states: dict[str, str] = {}
        self._cylinder_status: dict[str, CylinderStatus] = {}
        self.status: SupervisorStatus | None = None  # the last cycle's (app.control.status)
        self.triggers = {c.id: self._triggers(c, clock.now()) for c in site.cylinders}
        self.schedule_times = {cid: keys.schedule for cid, keys in self._cylinder_keys.items()}

    # -- records ------------------------------------------------------------------------------------------
    def _transition(self, t: Transition) -> None:
        self.historian.record_event(t.ts, "transition", t.machine, t.reason, from_state=t.from_state,
                                    to_state=t.to_state, data={"trigger": t.trigger})
        self._dirty = self._status_changed = True

    def _event(self, ts: datetime, kind: str, source: str, reason: str, data: dict[str, Any] | None = None) -> None:
        self.historian.record_event(ts, kind, source, reason, data=data)

    def _record_outcome(self, cylinder: str, outcome: dhw.DhwOutcome) -> None:
        """A DHW cycle outcome in the L8 log (pass or fail), committed before the cycle moves on; the same as an
        event (and an alarm when it failed) for the live feeds."""
        record = outcome.record()
        detail = {k: v for k, v in record.items() if k not in ("cycle", "outcome")}
        self.l8.record_cycle(outcome.ended, cylinder, outcome.kind, outcome.passed, record["max_c"], **detail)
        self._event(outcome.ended, "l8_cycle", cylinder, f"{outcome.kind} {record['outcome']}: {outcome.reason}",
                    record)
        memory = self.cyl_memory[cylinder]
        memory.last = (outcome.kind, "passed" if outcome.passed else "failed", outcome.ended)
        if not outcome.passed:
            if outcome.kind not in memory.failed:
                memory.failed.append(outcome.kind)
            self._alarm(outcome.ended, f"l8.{cylinder}", True, f"L8 {outcome.kind} failed: {outcome.reason}", record)
        elif outcome.kind in memory.failed:
            memory.failed.remove(outcome.kind)
            if not memory.failed:
                self._alarm(outcome.ended, f"l8.{cylinder}", False, f"L8 {outcome.kind} passed: {outcome.reason}",
                            record)
        self._status_changed = True

    def _alarm(self, ts: datetime, source: str, active: bool, reason: str, data: dict[str, Any] | None = None) -> None:
        """An alarm raised or ended (``app.control.status`` names the supervisor's alarms)."""
        self.historian.record_event(ts, "alarm", source, reason, to_state="active" if active else "normal", data=data)

    # -- persisted state ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to resume after a restart (JSON-able)."""
        return {
            "ts": self.last_ts.isoformat() if self.last_ts else None,
            "heating_on": self.heating_on,
            "trim_k": self.trim_state.integral_k,
            "optimiser_tau_h": list(self.optimiser.time_constants_h),
            "sequencer": {"state": self.sequencer.state, "since": self.source_state.since_s},
            "stage": {"running": list(self.stage_state.running), "lead": self.stage_state.lead},
            "heat_pumps": {hid: {"state": self.heat_pumps[hid].state, "enable": m.enable, "run_h": m.run_h,
                                 "since": m.since.isoformat() if m.since else None}
                           for hid, m in self.hp_memory.items()},
            "cylinders": {cid: {"state": self.cylinders[cid].state, "pending": m.pending,
                                "cycle": m.cycle.to_state() if m.cycle else None, "last_fired": m.last_fired,
                                "last": [m.last[0], m.last[1], m.last[2].isoformat()] if m.last else None,
                                "failed": m.failed, "return_low": m.return_low}
                          for cid, m in self.cyl_memory.items()},
        }

    def _save(self, now: datetime) -> None:
        self.historian.save_state(STATE_KEY, self.state(), now)
        self._saved_at, self._dirty = now, False

    def _restore(self, now: datetime) -> None:
        stored = self.historian.load_state(STATE_KEY)
        if not stored:
            return
        self.heating_on = bool(stored.get("heating_on", True))
        self.trim_state = wc.TrimState(float(stored.get("trim_k", 0.0)))
        self.optimiser = wc.OptimiserState(tuple(float(t) for t in stored.get("optimiser_tau_h", ())))
        self.sequencer.restore(stored["sequencer"]["state"])
        self.source_state = seq.SourceState(self.sequencer.state, float(stored["sequencer"]["since"]))
        self.stage_state = seq.StageState(tuple(stored["stage"]["running"]), stored["stage"]["lead"])
        for hid, saved in stored.get("heat_pumps", {}).items():
            if hid in self.hp_memory:
                self.heat_pumps[hid].restore(saved["state"])
                self.hp_memory[hid] = HeatPumpMemory(bool(saved["enable"]), datetime.fromisoformat(saved["since"])
                                                     if saved["since"] else None, float(saved["run_h"]))
        last = datetime.fromisoformat(stored["ts"]) if stored.get("ts") else now
        self._event(now, "restart", "supervisor", f"resumed from the state stored at {last:%Y-%m-%d %H:%M:%S} UTC, "
                    f"{(now - last).total_seconds() / 60:.0f} min ago", {"stored_at": stored.get("ts")})
        for cid, saved in stored.get("cylinders", {}).items():
            if cid not in self.cyl_memory:
                continue
            self.cylinders[cid].restore(saved["state"])
            finished = saved.get("last")
            memory = CylinderMemory(pending=[tuple(p) for p in saved["pending"]],  # type: ignore[misc]
                                    last_fired=dict(saved["last_fired"]), return_low=bool(saved.get("return_low")),
                                    last=(finished[0], finished[1], datetime.fromisoformat(finished[2]))
                                    if finished else None, failed=list(saved.get("failed", [])))
            if saved["cycle"]:
                memory.cycle = dhw.resume_cycle(dhw.DhwCycle.from_state(saved["cycle"]), now)
                self._event(now, "interruption", cid, memory.cycle.interruptions[-1],
                            {"cycle": memory.cycle.kind, "started": memory.cycle.started.isoformat()})
            self.cyl_memory[cid] = memory
        self.last_ts = last
        self._dirty = True

    def _triggers(self, cyl: CylinderConfig, now: datetime, times: dict[str, time] | None = None,
                  weekday: str | None = None) -> dict[str, CronSchedule]:
        regime = cyl.legionella
        times = times or {dhw.BOOST: regime.boost_time, dhw.PASTEURISE: regime.pasteurise_time}
        fired = {k: datetime.fromisoformat(v) for k, v in self.cyl_memory[cyl.id].last_fired.items()}
        return {
            dhw.BOOST: CronSchedule.daily(times[dhw.BOOST], self.zone, now, fired.get(dhw.BOOST)),
            dhw.PASTEURISE: CronSchedule.daily(times[dhw.PASTEURISE], self.zone, now, fired.get(dhw.PASTEURISE),
                                               day_of_week=weekday or regime.pasteurise_day),
        }

    # -- operator -----------------------------------------------------------------------------------------
    def _operator_note(self, ts: datetime, key: str, value: float, reason: str) -> None:
        """Record a refused or adjusted operator value once per distinct value."""
        if self._operator_notes.get(key) != value:
            self._operator_notes[key] = value
            self._event(ts, "operator", key, reason, {"value": value})

    # -- the cycle ----------------------------------------------------------------------------------------
    def decide(self, snapshot: PlantSnapshot) -> Commands:
        """Strategies and machines turn one snapshot into the cycle's commands."""
        now = snapshot.ts
        now_s = now.timestamp()
        local = now.astimezone(self.zone)
        dt_s = (now - self.last_ts).total_seconds() if self.last_ts else 0.0
        commands = Commands(now)
        site, circuit, keys = self.site, self.circuit, self._circuit_keys
        ops = self.operator.current()
        self.l8.record(snapshot)  # cylinder temperatures at their logging interval, committed before deciding
        devices = snapshot.devices
        status: dict[str, HeatPumpStatus] = {}
        for hid in self._hp_ids:
            st = status[hid] = _hp_status(devices.get(hid), self._with_power)
            if st.running:
                self.hp_memory[hid].run_h += dt_s / 3600
        outdoor = None
        for device in devices.values():
            if device.comms_ok:
                outdoor = device.value("outdoor_temp")
                if outdoor is not None:
                    break

        # space heating: season, room target, trim, flow setpoint
        cutoff = _op(ops, keys["summer_cutoff"], circuit.summer_cutoff_c)
        if outdoor is not None:
            self.heating_on = wc.heating_season(outdoor, self.heating_on, cutoff, circuit.summer_hysteresis_k)
        room = self._room_temperature(snapshot)
        outdoor_or_design = outdoor if outdoor is not None else circuit.design_outdoor_c
        target = self._room_target(local, room, outdoor_or_design, ops)
        run = self.optimiser.run
        if target.mode == "occupied" and run is not None and run.reached is None:
            self.boosting = True  # the preheat has not got there: it carries on into the occupied period
        if self.heating_on:  # a recovery is watched and learned from only while there is heating
            self.optimiser = wc.learn_recovery(self.optimiser, circuit, target, local, room, outdoor_or_design)
            run = self.optimiser.run
        full = wc.full_output(target, room, self.boosting, run is not None and run.reached is not None)
        self.boosting = full and target.occupied
        if target.mode == "setback":
            self.setback_calling = wc.setback_call(room, target.setpoint_c, self.setback_calling)
        # any source may heat; unoccupied, only below the setback setpoint (the heat pumps' reduced curve apart)
        space_call = self.heating_on and (target.mode != "setback" or self.setback_calling)
        trim, self.trim_state = wc.room_trim(self.trim_state, room, target.setpoint_c, dt_s, circuit.room_trim,
                                             integrate=target.occupied and self.heating_on)
        offset = max(-FLOW_OFFSET_LIMIT_K, min(FLOW_OFFSET_LIMIT_K, _op(ops, keys["flow_setpoint_offset"], 0)))
        hp_max = self._hp_max_flow
        override = ops.get(keys["flow_setpoint"])
        if outdoor is None:
            flow_sp = circuit.min_flow_c
        elif override is not None:
            flow_sp = min(max(override.value, circuit.min_flow_c), circuit.max_flow_c, hp_max)
        elif full:
            flow_sp = wc.preheat_flow_c(circuit, hp_max)
        else:
            flow_sp = wc.flow_setpoint(circuit, outdoor, max_flow_c=hp_max, room_setpoint_c=target.setpoint_c,
                                       occupied=target.occupied, trim_k=trim + offset)

        # heat pump availability and predicted performance
        unavailable: dict[str, str] = {}
        available: list[str] = []
        capacity: dict[str, float] = {}
        performance = self.performance
        for hp in site.heat_pumps:
            why = self._unavailable(hp, status[hp.id], outdoor, ops)
            if why:
                unavailable[hp.id] = why
                continue
            available.append(hp.id)
            if hp.id in performance:
                capacity[hp.id] = performance[hp.id].capacity_kw(outdoor, flow_sp) if outdoor is not None else 0.0
        circuit_flow = flow_sp  # what the circuit should get: a shortfall against it calls the boiler in behind
        if full and override is None and outdoor is not None and capacity:
            # flat out: the heat pumps are asked for the flow their capacity lifts the return to, up to full output
            flow_sp = seq.heat_pump_flow_c(flow_sp, self._mean_value(snapshot, tuple(available), "return_temp"),
                                           sum(capacity.values()), self._circuit_mcp)
            capacity = {hid: performance[hid].capacity_kw(outdoor, flow_sp) for hid in capacity}
        load = wc.heating_demand_kw(circuit, outdoor, target, room, flow_sp) \
            if outdoor is not None and self.heating_on else 0.0
        run_hours = {hid: m.run_h for hid, m in self.hp_memory.items()}
        lead = seq.choose_lead(available, run_hours, self.stage_state.lead, site.sequencing.lead_rotation_h)
        cop = (performance[lead].predict_cop(outdoor, flow_sp)
               if lead is not None and outdoor is not None and lead in performance else None)

        # sources
        crossover = self._crossover(local)
        staged = self.stage_state.running
        if self._with_power:
            running_kw = [status[h].elec_kw or 0.0 for h in staged]
            shed, shed_reason = seq.electrical_shed(self._site_kw(snapshot), site.sequencing.site_kw_limit,
                                                    running_kw)
        else:
            shed, shed_reason = 0, ""
        running_heat = sum(status[h].heat_kw or 0.0 for h in staged if h in status)
        running_cap = sum(capacity.get(h, 0.0) for h in staged)
        forced = FORCED_MODES.get(int(_op(ops, "plant.sequencer_mode", 0)))
        if self.heating_on or outdoor is None:
            at_capacity = running_cap > 0 and running_heat >= AT_CAPACITY_FRACTION * running_cap
            inputs = seq.SourceInputs(
                now_s=now_s, outdoor_ok=outdoor is not None, has_boiler=bool(site.boilers),
                hp_available=bool(available),
                hp_unavailable_reason="" if available else "; ".join(f"{h} {w}" for h, w in unavailable.items()),
                predicted_cop=cop, crossover=crossover, outdoor_c=outdoor, at_capacity=at_capacity,
                flow_c=self._mean_value(snapshot, staged, "flow_temp") if at_capacity else None,  # a shortfall's
                flow_setpoint_c=circuit_flow, load_kw=load, hp_capacity_kw=sum(capacity.values()),
                over_electrical_limit=shed > 0 and len(staged) <= shed, electrical_reason=shed_reason, forced=forced,
                predicted_flow_c=flow_sp)
            decision, self.source_state = seq.sequence_sources(inputs, self.source_state, site.sequencing)
        else:
            decision = seq.SourceDecision(seq.HP_ONLY, f"no space heating: outdoor above summer cut-off {cutoff:g} °C",
                                          False)
            self.source_state = seq.SourceState(decision.mode, self.source_state.since_s)
        self.sequencer.go(decision.mode, now, decision.reason)
        if decision.heat_pumps_on and self.heating_on:
            self.stage_state, stage_reason = seq.stage_heat_pumps(
                available, run_hours, capacity, load, now_s, self.stage_state, site.sequencing, shed=shed)
        else:
            self.stage_state, stage_reason = seq.StageState(lead=lead), decision.reason

        # DHW
        preheating = space_call and target.mode == "preheat" and bool(self.stage_state.running)
        release = target.reason if preheating else None  # the heat pumps are wanted for optimum start
        if decision.mode == seq.FAILSAFE:  # heat pumps are on their own control: the immersion does DHW
            unavailable = {hp.id: "plant in failsafe" for hp in site.heat_pumps}
        dhw_hp: dict[str, dhw.DhwIntent] = {}
        for cyl in site.cylinders:
            intent = self._dhw(cyl, snapshot, now, local, status, unavailable, release, commands, ops)
            if intent is not None and intent.hp_dhw and cyl.heat_pump:
                dhw_hp[cyl.heat_pump] = intent

        # commands
        if decision.mode == seq.FAILSAFE:
            for hp in site.heat_pumps:
                st = status[hp.id]
                if st.comms_ok:
                    commands.set(hp.id, "control_mode", 0.0, decision.reason)
                self.heat_pumps[hp.id].go(_observed_state(st), now, decision.reason if st.comms_ok else
                                          "no answer from the unit")
        else:
            running = self.stage_state.running
            for hp in site.heat_pumps:
                self._heat_pump_commands(hp, status[hp.id], unavailable.get(hp.id), now, commands,
                                         hp.id in running, dhw_hp.get(hp.id), flow_sp, stage_reason, target,
                                         ops.get(self._enable_keys[hp.id]))
        boiler_on = decision.mode == seq.FAILSAFE or (decision.boiler_on and space_call and load > 0)
        boilers: dict[str, bool] = {}
        for boiler_id, device_id, key in self._boiler_keys:
            forced_boiler = ops.get(key)
            on, why = ((forced_boiler.value >= 0.5, f"operator from {forced_boiler.source} at priority "
                        f"{forced_boiler.priority}") if forced_boiler is not None else (boiler_on, decision.reason))
            commands.set(device_id, "boiler_enable", 1.0 if on else 0.0, why)
            boilers[boiler_id] = on
        if self._status_changed:  # a machine moved or a DHW cycle ended: new (immutable) tables
            self._hp_states = {hid: m.state for hid, m in self.heat_pumps.items()}
            self._cylinder_status = {cid: m.status(self.cylinders[cid].state) for cid, m in self.cyl_memory.items()}
            self._status_changed = False
        self.status = SupervisorStatus(now, decision.mode, decision.reason, self.heating_on, flow_sp, lead, cop,
                                       crossover.cop, crossover.basis, crossover.period, self._hp_states, boilers,
                                       self._cylinder_status)
        self.last_ts = now
        every = SAVE_EVERY_S
        for memory in self.cyl_memory.values():
            if memory.cycle is not None:  # L8 progress is saved more often
                every = SAVE_IN_CYCLE_S
                break
        if self._dirty or self._saved_at is None or (now - self._saved_at).total_seconds() >= every:
            self._save(now)
        return commands

    async def cycle(self) -> CycleResult:
        """Read the plant, store what was read, decide, and write under the devices' guards."""
        snapshot = await self.plant.read()
        samples = 0
        if self._sampled_at is None or (snapshot.ts - self._sampled_at).total_seconds() >= self.sample_every_s:
            samples, self._sampled_at = self.historian.record_snapshot(snapshot), snapshot.ts
        commands = self.decide(snapshot)
        writes = await self.plant.write(commands)
        result = CycleResult(snapshot, commands, writes, samples, self.status)
        for observer in self.observers:
            outcome = observer(result)
            if inspect.isawaitable(outcome):
                await outcome
        return result

    # -- pieces of the cycle ------------------------------------------------------------------------------
    def _room_temperature(self, snapshot: PlantSnapshot) -> float | None:
        """The mean of every good room temperature any answering device reports."""
        values = [v for d in snapshot.devices.values() if d.comms_ok
                  for key in self._room_keys(d) if (v := d.value(key)) is not None]
        return sum(values) / len(values) if values else None

    def _room_keys(self, device: DeviceSnapshot) -> tuple[str, ...]:
        """The device's room temperature roles (its map's roles are the same object poll after poll)."""
        cached = self._room_roles.get(device.device_id)
        if cached is None or cached[0] is not device.roles:
            cached = self._room_roles[device.device_id] = (
                device.roles, tuple(key for key in device.roles if key.startswith("room_temp")))
        return cached[1]

    def _room_target(self, local: datetime, room: float | None, outdoor: float,
                     ops: dict[str, OperatorValue]) -> wc.RoomTarget:
        circuit, keys = self.circuit, self._circuit_keys
        occupied_sp = _op(ops, keys["room_setpoint"], circuit.design_room_c)
        setback_sp = _op(ops, keys["setback_setpoint"], circuit.setback_room_c)
        if self.schedule is None:
            return wc.RoomTarget(occupied_sp, True, "occupied", "no schedule: always occupied")
        target, since = self._target, self._target_at  # local times: the schedule's own clock
        if target is None or target.until is None or since is None or not since <= local < target.until:
            upcoming = target.upcoming if target is not None else None  # reused through an unoccupied period
            target = self._target = wc.room_target(circuit, self.schedule, local, room, outdoor,
                                                   optimiser=self.optimiser, tolerance_k=wc.OPTIMUM_START_TOLERANCE_K,
                                                   upcoming=upcoming)
            self._target_at = local
        setpoint = setback_sp if target.mode == "setback" else occupied_sp
        return target if setpoint == target.setpoint_c else replace(target, setpoint_c=setpoint)

    def _unavailable(self, hp: HeatPumpConfig, st: HeatPumpStatus, outdoor: float | None,
                     ops: dict[str, OperatorValue]) -> str | None:
        if not st.comms_ok:
            return "comms lost"
        if st.fault:
            return st.fault
        if _op(ops, self._enable_keys[hp.id], 1.0) < 0.5:
            return "taken out of service by the operator"
        if outdoor is not None and outdoor < hp.tp12.temp_lower_operating_limit:
            return (f"outdoor {outdoor:.1f} °C below its operating limit "
                    f"{hp.tp12.temp_lower_operating_limit:g} °C")
        return None

    def _mean_value(self, snapshot: PlantSnapshot, units: tuple[str, ...], role: str) -> float | None:
        """The mean of a role's good readings over `units` (flow or return temperature)."""
        values = [v for u in units if (d := snapshot.devices.get(u)) and (v := d.value(role)) is not None]
        return sum(values) / len(values) if values else None

    def _site_kw(self, snapshot: PlantSnapshot) -> float | None:
        device = snapshot.devices.get(self._site_meter) if self._site_meter is not None else None
        return device.value("electrical_power") if device is not None and device.comms_ok else None

    def _crossover(self, local: datetime) -> seq.Crossover:
        """The crossover COP in force (one per electricity rate: it changes only with the time-of-use period)."""
        rate = seq.electricity_rate(self.site.tariffs, local)
        found = self._crossovers.get(rate)
        if found is None:
            found = self._crossovers[rate] = seq.crossover_at_rate(self.site.tariffs, self.boiler_efficiency, *rate)
        return found

    def _heat_pump_commands(self, hp: HeatPumpConfig, st: HeatPumpStatus, unavailable: str | None, now: datetime,
                            commands: Commands, staged: bool, dhw_intent: dhw.DhwIntent | None, flow_sp: float,
                            stage_reason: str, target: wc.RoomTarget, commanded: OperatorValue | None) -> None:
        machine, memory, cfg = self.heat_pumps[hp.id], self.hp_memory[hp.id], self.site.sequencing
        if not st.comms_ok:
            machine.go("comms_lost", now, "no answer from the unit: nothing can be written")
            return
        want = (staged or dhw_intent is not None) and unavailable is None
        why = (dhw_intent.reason if dhw_intent is not None else
               f"space heating ({target.mode}): {stage_reason}" if staged else stage_reason)
        if unavailable:
            why = f"unavailable: {unavailable}"
        if commanded != memory.operator:  # an operator command or relinquish: the operator owns the timing
            memory.operator, memory.since = commanded, None
        if commanded is not None and commanded.value >= 0.5 and not st.fault:
            want, why = True, f"operator enable from {commanded.source} at priority {commanded.priority}"
        held = (now - memory.since).total_seconds() / 60 if memory.since else float("inf")
        if want != memory.enable and unavailable is None and commanded is None:
            if memory.enable and held < cfg.min_on_min:
                want, why = True, f"minimum run time: on {held:.0f} of {cfg.min_on_min:g} min"
            elif not memory.enable and held < cfg.min_off_min:
                want, why = False, f"anti-short-cycle: off {held:.0f} of {cfg.min_off_min:g} min"
        if want != memory.enable:
            memory.enable, memory.since = want, now
            self._dirty = True
        state = ("fault" if st.fault else "lockout" if why.startswith("anti-short-cycle") else
                 "off" if not want else "defrost" if st.defrost else
                 ("hot_water" if dhw_intent is not None else "heating") if st.running else "standby")
        machine.go(state, now, st.fault or why)
        commands.set(hp.id, "enable", 1.0 if want else 0.0, why)
        if want:
            commands.set(hp.id, "operating_mode", 1.0 if dhw_intent is not None else 0.0, why)
            commands.set(hp.id, "flow_setpoint", round(min(flow_sp, hp.max_flow_temp_c), 1), why)

    def _dhw(self, cyl: CylinderConfig, snapshot: PlantSnapshot, now: datetime, local: datetime,
             status: dict[str, HeatPumpStatus], unavailable: dict[str, str], release: str | None,
             commands: Commands, ops: dict[str, OperatorValue]) -> dhw.DhwIntent | None:
        """Schedule, start, step and record this cylinder's L8 cycles; command its immersion and setpoint."""
        machine, memory, keys = self.cylinders[cyl.id], self.cyl_memory[cyl.id], self._cylinder_keys[cyl.id]
        hp = keys.heat_pump
        device = snapshot.devices.get(cyl.heat_pump) if cyl.heat_pump else None
        temps = [device.value(role) for role in keys.temps] if device is not None else [None] * len(keys.temps)
        setpoint = cyl.storage_setpoint_c  # at least 60 °C: the site file is checked
        if (commanded := ops.get(keys.storage_setpoint)) is not None:
            setpoint, refused = dhw.storage_setpoint(commanded.value)
            if refused:
                self._operator_note(now, keys.storage_setpoint, commanded.value, f"refused: {refused}")
        self._schedule_cycles(cyl, now, memory, keys, ops)
        if cyl.secondary_return_sensor and device is not None:
            self._watch_secondary_return(cyl, device.value("secondary_return_temp"), now, memory)
        if memory.cycle is None:
            if not memory.pending and dhw.needs_reheat(temps, setpoint, cyl):
                memory.pending.append((dhw.REHEAT, f"top sensor below {setpoint:g} °C less "
                                                   f"{cyl.reheat_differential_k:g} K"))
            if memory.pending:
                self._start_pending(cyl, now, local, setpoint,
                                    self._dhw_inputs(cyl, now, temps, status, unavailable, release), memory)
        intent = None
        if memory.cycle is not None:
            inputs = self._dhw_inputs(cyl, now, temps, status, unavailable, release)
            cycle, intent, outcome = dhw.step_cycle(memory.cycle, inputs, cyl.legionella.pasteurise_hold_min)
            if cycle.source == dhw.IMMERSION and machine.state in (dhw.BOOST, dhw.PASTEURISE):
                machine.go("immersion_fallback", now, cycle.handover or "immersion")
            if outcome is not None:
                self._record_outcome(cyl.id, outcome)
                machine.go("passed" if outcome.passed else "failed", now, outcome.reason)
                if not outcome.passed and outcome.interruptions and outcome.kind == dhw.PASTEURISE:
                    memory.pending.insert(0, (dhw.PASTEURISE, "re-run of an interrupted pasteurisation"))
                memory.cycle = None
                self._dirty = True
            else:
                memory.cycle = cycle
        immersion_on = intent is not None and intent.immersion_on
        if keys.immersion_device is not None:
            commands.set(keys.immersion_device, "immersion_enable", 1.0 if immersion_on else 0.0,
                         intent.reason if intent is not None else "no DHW cycle running")
        if hp is not None and hp.id not in unavailable and status[hp.id].comms_ok:
            ask = intent.setpoint_c if intent is not None and intent.hp_dhw else setpoint
            commands.set(hp.id, "dhw_setpoint", dhw.storage_setpoint(ask)[0],
                         intent.reason if intent is not None else "storage setpoint")
        return intent if intent is not None and intent.hp_dhw else None

    def _dhw_inputs(self, cyl: CylinderConfig, now: datetime, temps: list[float | None],
                    status: dict[str, HeatPumpStatus], unavailable: dict[str, str],
                    release: str | None) -> dhw.DhwInputs:
        """What a DHW cycle step (or start) sees of the cylinder and its heat pump."""
        hp = self._cylinder_keys[cyl.id].heat_pump
        return dhw.DhwInputs(
            now=now, temps=temps, hp_reach_c=dhw.heat_pump_reach_c(hp.max_flow_temp_c, cyl) if hp else None,
            hp_available=hp is not None and hp.id not in unavailable,
            hp_unavailable_reason=unavailable.get(hp.id, "") if hp else "",
            hp_heat_kw=(status[hp.id].heat_kw or 0.0) if hp else 0.0, release_hp=release,
            has_immersion=cyl.immersion is not None,
            immersion_kw=cyl.immersion.power_kw if cyl.immersion else 0.0)

    def _schedule_cycles(self, cyl: CylinderConfig, now: datetime, memory: CylinderMemory, keys: CylinderKeys,
                         ops: dict[str, OperatorValue]) -> None:
        if ops or self.schedule_times[cyl.id] is not keys.schedule:  # commanded, or back from a command
            times, weekday = keys.schedule
            wanted = dict(times)
            for kind, key in keys.times:
                if (hours := _op(ops, key, -1.0)) >= 0:
                    minutes = round(hours * 60)
                    wanted[kind] = time(minutes // 60 % 24, minutes % 60)
            day = int(_op(ops, keys.pasteurise_day, 0))
            weekday = wc.WEEKDAYS[day - 1] if 1 <= day <= 7 else weekday
            if (wanted, weekday) != self.schedule_times[cyl.id]:
                relinquished = (wanted, weekday) == keys.schedule
                self.schedule_times[cyl.id] = keys.schedule if relinquished else (wanted, weekday)
                self.triggers[cyl.id] = self._triggers(cyl, now, wanted, weekday)
                self._event(now, "operator", cyl.id, "DHW schedule back to the site file's" if relinquished else
                            "DHW schedule changed",
                            {**{k: v.isoformat() for k, v in wanted.items()}, "pasteurise_day": weekday})
        for kind, schedule in self.triggers[cyl.id].items():
            fired = schedule.due(now)
            if fired is not None:
                memory.last_fired[kind] = fired.isoformat()
                late = (now - fired).total_seconds() > 3600
                memory.pending.append((kind, f"scheduled {kind} {fired.astimezone(self.zone):%a %H:%M}"
                                             + (" (missed while stopped, run late)" if late else "")))
                self._dirty = True
        if not ops:  # nothing commanded: no request, and none held to make an edge next time
            memory.operator_edges.clear()
            return
        for kind, key in keys.requests:
            value = _op(ops, key, 0.0)
            if value >= 0.5 and memory.operator_edges.get(key, 0.0) < 0.5:
                memory.pending.append((kind, "operator request"))
            memory.operator_edges[key] = value

    def _start_pending(self, cyl: CylinderConfig, now: datetime, local: datetime, setpoint: float,
                       inputs: dhw.DhwInputs, memory: CylinderMemory) -> None:
        if not memory.pending:
            return
        memory.pending.sort(key=lambda p: p[0] != dhw.PASTEURISE)  # a pasteurisation goes first
        kind, reason = memory.pending[0]
        peak = seq.in_peak_window(self.site.tariffs, local)
        if kind == dhw.BOOST and peak and self.site.sequencing.defer_dhw_in_peak:
            if not reason.endswith("(deferred)"):
                memory.pending[0] = (kind, f"{reason} (deferred)")
                self._event(now, "deferral", cyl.id, f"{kind} deferred: {peak} tariff window")
            return
        memory.pending.pop(0)
        memory.cycle = dhw.start_cycle(kind, now, cyl, setpoint, reason, inputs)
        self.cylinders[cyl.id].go(dhw.PASTEURISE if kind == dhw.PASTEURISE else dhw.BOOST, now,
                                  f"{kind}: {reason}")

    def _watch_secondary_return(self, cyl: CylinderConfig, value: float | None, now: datetime,
                                memory: CylinderMemory) -> None:
        low = value is not None and value < cyl.legionella.secondary_return_min_c
        if low != memory.return_low:
            memory.return_low = low
            self._dirty = self._status_changed = True
            if low:
                self._alarm(now, f"secondary_return.{cyl.id}", True, f"secondary return {value:.1f} °C below "
                            f"{cyl.legionella.secondary_return_min_c:g} °C (HSE L8)", {"value": value})
            else:
                self._alarm(now, f"secondary_return.{cyl.id}", False, "secondary return back in range",
                            {"value": value})
