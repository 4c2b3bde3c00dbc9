"""The BACnet point table: every object the device serves, generated from the site configuration.

One table drives the device (``app.bacnet.device``), the points schedule (``hpsup points``) and the
validation of writes. Each point says where its value comes from in a control cycle (its source), how a
front-end may command it (limits, the L8 safety floor), its COV increment and its alarm. Adding a point is
one line in a template below; the supervisor's own live values (sequencer state, predicted COP, the last DHW
cycle, its alarms) come with each cycle's result (``app.control.status``), and a value that another part of
the controller computes (COP today ...) is fed with ``BacnetDevice.publish(key, value)``.

A commandable point's key is also its operator-input key (``ch1.flow_setpoint``, ``dhw1.storage_setpoint``,
``hp1.enable`` ...): the effective value of its priority array is put in ``Supervisor.operator`` under it.
Values: analog in the point's units, binary 0/1, multi-state the state number (1-based, as BACnet counts).

Instances are stable: each site entity owns a block (heat pump n: 10000 + 100·n, boiler n: 20000 + 100·n,
heating circuit n: 30000 + 100·n, cylinder n: 40000 + 100·n, plant: 1..99) and each point a slot in it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from app.config import (
    L8_MIN_STORAGE_C,
    BoilerConfig,
    CurveSlope,
    CylinderConfig,
    HeatingCircuitConfig,
    HeatPumpConfig,
    SiteConfig,
    TariffConfig,
)
from app.control.status import CYCLE_RESULTS, SupervisorStatus
from app.control.supervisor import FLOW_OFFSET_LIMIT_K, CycleResult
from app.devices.modbus import role_names
from app.devices.registermap import RegisterMap, load_map, resolve_map_path
from app.snapshot import Commands, PlantSnapshot, Quality
from strategies.hybrid_sequencing import MODES, crossover_cop, electricity_rate
from strategies.weather_compensation import WEEKDAYS

# BACnet Reliability values (bacpypes3 attribute names)
NO_FAULT = "noFaultDetected"
NO_SENSOR = "noSensor"
UNRELIABLE = "unreliableOther"
COMMS_FAILURE = "communicationFailure"
MULTI_STATE_FAULT = "multiStateFault"
RELIABILITY = {Quality.GOOD: NO_FAULT, Quality.SENTINEL: NO_SENSOR, Quality.OUT_OF_RANGE: UNRELIABLE,
               Quality.STALE: COMMS_FAILURE, Quality.COMM_ERROR: COMMS_FAILURE}

# BACnet engineering units (bacpypes3 attribute names)
DEG_C = "degreesCelsius"
DELTA_K = "deltaDegreesKelvin"
KW = "kilowatts"
KWH = "kilowattHours"
HOURS = "hours"
NO_UNITS = "noUnits"


class Kind(StrEnum):
    """BACnet object types the table uses (bacpypes3 names)."""

    ANALOG_INPUT = "analogInput"
    ANALOG_VALUE = "analogValue"
    BINARY_INPUT = "binaryInput"
    BINARY_VALUE = "binaryValue"
    MULTI_STATE_INPUT = "multiStateInput"
    MULTI_STATE_VALUE = "multiStateValue"
    DATETIME_VALUE = "datetimeValue"

    @property
    def analog(self) -> bool:
        return self in (Kind.ANALOG_INPUT, Kind.ANALOG_VALUE)

    @property
    def binary(self) -> bool:
        return self in (Kind.BINARY_INPUT, Kind.BINARY_VALUE)

    @property
    def multistate(self) -> bool:
        return self in (Kind.MULTI_STATE_INPUT, Kind.MULTI_STATE_VALUE)


class Access(StrEnum):
    READ = "read"
    COMMAND = "command"  # commandable: 16-level priority array, relinquish default


@dataclass(frozen=True, slots=True)
class Sample:
    """A point's value from one cycle. ``value`` None with no fault: nothing new, keep the present value."""

    value: float | datetime | None
    reliability: str = NO_FAULT

    @property
    def fault(self) -> bool:
        return self.reliability != NO_FAULT


@dataclass(frozen=True, slots=True)
class View:
    """What sources read: one cycle's snapshot, commands and supervisor status, values published by other parts,
    local time."""

    snapshot: PlantSnapshot
    commands: Commands
    published: Mapping[str, Sample]
    local_time: datetime
    status: SupervisorStatus | None = None

    @classmethod
    def of(cls, result: CycleResult, published: Mapping[str, Sample], tz: ZoneInfo) -> View:
        return cls(result.snapshot, result.commands, published, result.snapshot.ts.astimezone(tz), result.status)


Source = Callable[[View], Sample]


@dataclass(frozen=True, slots=True)
class Alarm:
    """Intrinsic reporting: a binary point alarms when active; an analog point outside high/low limits."""

    high: float | None = None
    low: float | None = None
    deadband: float = 0.0
    time_delay_s: int = 0

    def describe(self, kind: Kind) -> str:
        if kind.binary:
            return "alarm when active"
        limits = [f"high {self.high:g}" if self.high is not None else "", f"low {self.low:g}" if self.low is not None
                  else ""]
        return " / ".join(x for x in limits if x) + (f" (deadband {self.deadband:g})" if self.deadband else "")


@dataclass(frozen=True, slots=True)
class WriteRefusal:
    """Why a write is refused: a BACnet error code (bacpypes3 name) and a human reason."""

    code: str
    reason: str


@dataclass(frozen=True)
class Point:
    """One BACnet object of the device."""

    key: str  # object name, publish key and (commandable) operator-input key
    kind: Kind
    instance: int
    description: str
    source: Source
    units: str = NO_UNITS
    access: Access = Access.READ
    cov_increment: float | None = None
    states: tuple[str, ...] = ()  # multi-state: state texts; binary: (inactive text, active text)
    minimum: float | None = None
    maximum: float | None = None
    safety_min: float | None = None  # a write below this is refused as write-access-denied (HSE L8 60 °C)
    default: float = 0.0  # relinquish default until the source says otherwise
    alarm: Alarm | None = None
    trend: bool = False  # a TrendLog of this point's present value, instance = the point's instance
    operator_offset: float = 0.0  # added to the present value in the operator input (0-based controller codes)

    @property
    def commandable(self) -> bool:
        return self.access is Access.COMMAND

    def check_write(self, value: float) -> WriteRefusal | None:
        """Validate a commanded present value before it acts; None when acceptable."""
        if not self.commandable:
            return WriteRefusal("writeAccessDenied", f"{self.key} is read-only")
        return self.check_value(value)

    def check_value(self, value: float) -> WriteRefusal | None:
        """Whether `value` is a present value this point can hold (limits, states, the safety floor)."""
        if self.kind.analog:
            if not math.isfinite(value):
                return WriteRefusal("valueOutOfRange", f"{self.key}: {value} is not a number")
            if self.safety_min is not None and value < self.safety_min:
                return WriteRefusal("writeAccessDenied", f"{self.key}: {value:g} is below the safety minimum "
                                                         f"{self.safety_min:g} {self.units}")
            low = self.minimum if self.minimum is not None else self.safety_min
            if (low is not None and value < low) or (self.maximum is not None and value > self.maximum):
                return WriteRefusal("valueOutOfRange", f"{self.key}: {value:g} outside {_bound(low)}.."
                                                       f"{_bound(self.maximum)} {self.units}")
        elif self.kind.binary and value not in (0, 1):
            return WriteRefusal("valueOutOfRange", f"{self.key}: {value:g} is not 0 or 1")
        elif self.kind.multistate and (value != int(value) or not 1 <= value <= len(self.states)):
            return WriteRefusal("valueOutOfRange", f"{self.key}: state {value:g} outside 1..{len(self.states)}")
        return None

    def text(self, value: float) -> str:
        """A value as an FM engineer reads it (state text for binary and multi-state points)."""
        if self.kind.multistate and 1 <= value <= len(self.states):
            return self.states[int(value) - 1]
        if self.kind.binary:
            return self.states[int(bool(value))] if self.states else ("active" if value else "inactive")
        return f"{value:g}"


def _bound(limit: float | None) -> str:
    return "" if limit is None else f"{limit:g}"


# -- sources ------------------------------------------------------------------------------------------------

def reading(device: str, *roles: str) -> Source:
    """The first of `roles` the device has, with its quality as reliability."""

    def source(view: View) -> Sample:
        dev = view.snapshot.devices.get(device)
        if dev is None:
            return Sample(None, COMMS_FAILURE)
        for role in roles:
            r = dev.by_role(role)
            if r is not None:
                return Sample(r.value, RELIABILITY[r.quality])
        return Sample(None, NO_SENSOR)

    return source


def enum_reading(device: str, role: str, codes: tuple[int, ...]) -> Source:
    """A multi-state reading: the device's code as a 1-based state number in `codes` order."""
    raw = reading(device, role)

    def source(view: View) -> Sample:
        s = raw(view)
        if s.value is None:
            return s
        code = int(s.value)  # type: ignore[arg-type]
        return Sample(codes.index(code) + 1) if code in codes else Sample(None, MULTI_STATE_FAULT)

    return source


def ratio(device: str, numerator: str, denominator: str) -> Source:
    """numerator / denominator readings (instantaneous COP); 0 when the denominator is not positive."""
    top, bottom = reading(device, numerator), reading(device, denominator)

    def source(view: View) -> Sample:
        n, d = top(view), bottom(view)
        if n.value is None or d.value is None:
            return Sample(None, n.reliability if n.fault else d.reliability if d.fault else UNRELIABLE)
        return Sample(round(n.value / d.value, 2) if d.value > 0 else 0.0)  # type: ignore[operator]

    return source


def comms(device: str, *, lost: bool = False) -> Source:
    """1 while the device answers (or, with `lost`, 1 while it does not)."""

    def source(view: View) -> Sample:
        dev = view.snapshot.devices.get(device)
        ok = dev is not None and dev.comms_ok
        return Sample(float(ok != lost))

    return source


def sensor_fault(device: str, roles: tuple[str, ...]) -> Source:
    """1 when the device answers but any of its `roles` reads bad (sentinel, out of range)."""

    def source(view: View) -> Sample:
        dev = view.snapshot.devices.get(device)
        if dev is None or not dev.comms_ok:
            return Sample(0.0)  # the comms-lost alarm covers it
        bad = [r for r in (dev.by_role(role) for role in roles) if r is not None and not r.good]
        return Sample(1.0 if bad else 0.0)

    return source


def commanded(device: str, role: str) -> Source:
    """What the controller commanded `device.role` this cycle (nothing new when it commanded nothing)."""

    def source(view: View) -> Sample:
        for cmd in reversed(view.commands.points):
            if cmd.device_id == device and cmd.role == role:
                return Sample(cmd.value)
        return Sample(None)

    return source


def published(key: str) -> Source:
    """A value another part publishes under `key`; unreliable until it has."""

    def source(view: View) -> Sample:
        return view.published.get(key, Sample(None, UNRELIABLE))

    return source


def supervisor(read: Callable[[SupervisorStatus], float | datetime | None], *, keep: bool = False) -> Source:
    """A value of the cycle's supervisor status; when it has none, unreliable (or, with `keep`, nothing new)."""

    def source(view: View) -> Sample:
        value = read(view.status) if view.status is not None else None
        return Sample(value) if value is not None or keep else Sample(None, UNRELIABLE)

    return source


def constant(value: float) -> Source:
    """A configured value (the relinquish default of a site parameter)."""
    sample = Sample(value)
    return lambda view: sample


def tariff_states(tariffs: TariffConfig) -> tuple[str, ...]:
    return ("standard", *(p.name for p in tariffs.electricity.periods))


def tariff_period(tariffs: TariffConfig) -> Source:
    """The electricity tariff period in force at the cycle's local time (1 = the standard unit rate)."""
    states = tariff_states(tariffs)

    def source(view: View) -> Sample:
        _, period = electricity_rate(tariffs, view.local_time)
        return Sample(float(states.index(period) + 1 if period is not None else 1))

    return source


def crossover(tariffs: TariffConfig, boiler_efficiency: float) -> Source:
    """The crossover COP in force at the cycle's local time (economic or carbon, as the site chooses)."""

    def source(view: View) -> Sample:
        return Sample(round(crossover_cop(tariffs, boiler_efficiency, view.local_time).cop, 2))

    return source


def hours(t: time) -> float:
    """A time of day as decimal hours (22:30 -> 22.5)."""
    return t.hour + t.minute / 60 + t.second / 3600


# -- templates ----------------------------------------------------------------------------------------------

HP_BASE, BOILER_BASE, CIRCUIT_BASE, CYLINDER_BASE, BLOCK = 10000, 20000, 30000, 40000, 100
NOTIFICATION_CLASS = 1  # the one notification class every alarm reports through
ON_OFF = ("off", "on")


def _role_key(role: str, index: int) -> str:
    return role if index == 0 else f"{role}.{index}"


class _Block:
    """Builds the points of one site entity: key prefix, instance block, description prefix."""

    def __init__(self, prefix: str, base: int, name: str) -> None:
        self.prefix, self.base, self.name = prefix, base, name
        self.points: list[Point] = []

    def add(self, slot: int, kind: Kind, point: str, text: str, source: Source, **kw: object) -> None:
        if not 0 < slot < BLOCK:
            raise ValueError(f"slot {slot} outside the block")
        self.points.append(Point(f"{self.prefix}.{point}", kind, self.base + slot, f"{self.name}: {text}",
                                 source, **kw))  # type: ignore[arg-type]


def _heat_pump(n: int, hp: HeatPumpConfig, regmap: RegisterMap) -> list[Point]:
    b, d = _Block(hp.id, HP_BASE + BLOCK * n, hp.name), hp.id
    has = role_names(regmap)
    ai, bi = Kind.ANALOG_INPUT, Kind.BINARY_INPUT
    temps = [r for r in ("flow_temp", "return_temp", "outdoor_temp", "source_temp") if r in has]
    b.add(1, ai, "flow_temp", "flow temperature", reading(d, "flow_temp"), units=DEG_C, cov_increment=0.5,
          alarm=Alarm(high=hp.max_flow_temp_c + 5, deadband=2))
    b.add(2, ai, "return_temp", "return temperature", reading(d, "return_temp"), units=DEG_C, cov_increment=0.5)
    b.add(3, ai, "outdoor_temp", "outdoor temperature", reading(d, "outdoor_temp"), units=DEG_C,
          cov_increment=0.5)
    if "source_temp" in has or hp.tp12.source_type == "OutsideAir":  # an air-source unit's source is outdoor air
        b.add(4, ai, "source_temp", "source temperature", reading(d, "source_temp", "outdoor_temp"), units=DEG_C,
              cov_increment=0.5)
    b.add(5, bi, "compressor", "compressor running", reading(d, "compressor_running"), states=ON_OFF)
    if "defrost_active" in has:
        b.add(6, bi, "defrost", "defrost active", reading(d, "defrost_active"), states=ON_OFF)
    mode = regmap.role("operating_mode")
    if mode is not None and mode.enum:
        codes = tuple(sorted(mode.enum))
        b.add(7, Kind.MULTI_STATE_INPUT, "mode", "operating mode", enum_reading(d, "operating_mode", codes),
              states=tuple(mode.enum[c] for c in codes))
    if "fault_code" in has:
        b.add(8, ai, "fault_code", "fault code (0 = none)", reading(d, "fault_code"), cov_increment=1)
    b.add(9, ai, "electrical_power", "electrical power", reading(d, "electrical_power"), units=KW,
          cov_increment=0.5)
    b.add(10, ai, "heat_output", "heat output", reading(d, "heat_output_power"), units=KW, cov_increment=0.5)
    b.add(11, ai, "electrical_energy", "electrical energy meter", reading(d, "electrical_energy_total"),
          units=KWH, cov_increment=1)
    b.add(12, ai, "heat_energy", "heat energy meter", reading(d, "heat_energy_total"), units=KWH, cov_increment=1)
    b.add(13, ai, "cop", "COP instantaneous (heat output / electrical power)",
          ratio(d, "heat_output_power", "electrical_power"), cov_increment=0.1)
    b.add(14, ai, "cop_today", "COP today", published(f"{d}.cop_today"), cov_increment=0.05)
    b.add(15, ai, "cop_season", "COP season to date (SPF)", published(f"{d}.cop_season"), cov_increment=0.05)
    b.add(16, bi, "comms", "communication status", comms(d), states=("lost", "ok"))
    b.add(17, Kind.BINARY_VALUE, "enable", "enable (relinquished: controller decides)", commanded(d, "enable"),
          access=Access.COMMAND, states=("disabled", "enabled"))
    b.add(30, bi, "alarm_comms_lost", "communication lost alarm", comms(d, lost=True), states=("normal", "alarm"),
          alarm=Alarm())
    b.add(31, bi, "alarm_sensor_fault", "sensor fault alarm", sensor_fault(d, tuple(temps)),
          states=("normal", "alarm"), alarm=Alarm())
    b.add(32, bi, "alarm_cop_low", "COP below expected alarm", published(f"{d}.alarm_cop_low"),
          states=("normal", "alarm"), alarm=Alarm())
    return b.points


def _boiler(n: int, boiler: BoilerConfig) -> list[Point]:
    b = _Block(boiler.id, BOILER_BASE + BLOCK * n, boiler.name)
    b.add(1, Kind.BINARY_VALUE, "enable", "enable (relinquished: sequencer decides)",
          commanded(boiler.enable_device or boiler.id, "boiler_enable"), access=Access.COMMAND,
          states=("disabled", "enabled"))
    return b.points


def _circuit(n: int, c: HeatingCircuitConfig, site: SiteConfig, maps: Mapping[str, RegisterMap]) -> list[Point]:
    b = _Block(c.id, CIRCUIT_BASE + BLOCK * n, c.name)
    av, cmd = Kind.ANALOG_VALUE, Access.COMMAND
    lead = site.heat_pumps[0].id
    b.add(1, av, "flow_setpoint", "flow temperature setpoint (relinquished: weather compensation)",
          commanded(lead, "flow_setpoint"), units=DEG_C, access=cmd, cov_increment=0.5, minimum=c.min_flow_c,
          maximum=c.max_flow_c, default=c.min_flow_c)
    b.add(2, av, "room_setpoint", "design room temperature", constant(c.design_room_c), units=DEG_C, access=cmd,
          minimum=10, maximum=30, default=c.design_room_c)
    b.add(3, av, "design_outdoor", "design outdoor temperature", constant(c.design_outdoor_c), units=DEG_C)
    b.add(4, av, "min_flow", "minimum flow temperature", constant(c.min_flow_c), units=DEG_C, access=cmd,
          minimum=15, maximum=50, default=c.min_flow_c)
    b.add(5, av, "max_flow", "maximum flow temperature", constant(c.max_flow_c), units=DEG_C, access=cmd,
          minimum=30, maximum=85, default=c.max_flow_c)
    b.add(6, av, "summer_cutoff", "summer cut-off outdoor temperature", constant(c.summer_cutoff_c), units=DEG_C,
          access=cmd, minimum=5, maximum=25, default=c.summer_cutoff_c)
    if isinstance(c.curve, CurveSlope):
        b.add(7, av, "curve_slope", "curve slope (K flow per K outdoor)", constant(c.curve.slope), access=cmd,
              minimum=0.1, maximum=5, default=c.curve.slope)
        b.add(8, av, "curve_offset", "curve offset", constant(c.curve.offset_k), units=DELTA_K, access=cmd,
              minimum=-20, maximum=20, default=c.curve.offset_k)
    elif c.curve.kind == "designed":
        b.add(9, av, "design_delta_t", "design flow-return difference", constant(c.curve.design_delta_t_k),
              units=DELTA_K, access=cmd, minimum=2, maximum=25, default=c.curve.design_delta_t_k)
    b.add(10, av, "flow_setpoint_offset", "flow setpoint offset on the curve", constant(0.0), units=DELTA_K,
          access=cmd, minimum=-FLOW_OFFSET_LIMIT_K, maximum=FLOW_OFFSET_LIMIT_K)
    b.add(11, av, "setback_setpoint", "setback room temperature", constant(c.setback_room_c), units=DEG_C,
          access=cmd, minimum=5, maximum=25, default=c.setback_room_c)
    for i, sensor in enumerate(c.room_sensors[:40]):
        role = _role_key("room_temp", i)
        device = next((hp.id for hp in site.heat_pumps if role in role_names(maps[hp.id])), None)
        if device is not None:
            b.add(50 + i, Kind.ANALOG_INPUT, f"room_temp_{sensor}", f"room temperature {sensor}",
                  reading(device, role), units=DEG_C, cov_increment=0.2)
    return b.points


def _cylinder(n: int, cyl: CylinderConfig, maps: Mapping[str, RegisterMap]) -> list[Point]:
    b, d = _Block(cyl.id, CYLINDER_BASE + BLOCK * n, cyl.name), cyl.id
    l8, av, cmd = cyl.legionella, Kind.ANALOG_VALUE, Access.COMMAND
    has = role_names(maps[cyl.heat_pump]) if cyl.heat_pump else {}
    for i, sensor in enumerate(cyl.sensors[:9]):
        if _role_key("dhw_temp", i) in has:
            b.add(1 + i, Kind.ANALOG_INPUT, f"temp_{sensor}", f"cylinder temperature {sensor}",
                  reading(cyl.heat_pump or "", _role_key("dhw_temp", i)), units=DEG_C, cov_increment=0.5, trend=True)
    if cyl.secondary_return_sensor and "secondary_return_temp" in has:
        b.add(10, Kind.ANALOG_INPUT, "secondary_return_temp", "secondary return temperature (L8: at least "
              f"{l8.secondary_return_min_c:g} °C)", reading(cyl.heat_pump or "", "secondary_return_temp"),
              units=DEG_C, cov_increment=0.5, alarm=Alarm(low=l8.secondary_return_min_c, deadband=1))
    b.add(11, av, "storage_setpoint", "storage setpoint (HSE L8: never below 60 °C)",
          constant(cyl.storage_setpoint_c), units=DEG_C, access=cmd, cov_increment=0.5,
          safety_min=L8_MIN_STORAGE_C, maximum=75, default=cyl.storage_setpoint_c)
    b.add(12, Kind.BINARY_VALUE, "boost", "manual boost request", constant(0.0), access=cmd, states=ON_OFF)
    b.add(13, av, "boost_time", "daily boost start (hours, local time)", constant(hours(l8.boost_time)),
          units=HOURS, access=cmd, minimum=0, maximum=23.99, default=hours(l8.boost_time))
    b.add(14, Kind.MULTI_STATE_VALUE, "pasteurise_day", "weekly pasteurisation day",
          constant(WEEKDAYS.index(l8.pasteurise_day) + 1.0), access=cmd, states=WEEKDAYS,
          default=WEEKDAYS.index(l8.pasteurise_day) + 1.0)
    b.add(15, av, "pasteurise_time", "weekly pasteurisation start (hours, local time)",
          constant(hours(l8.pasteurise_time)), units=HOURS, access=cmd, minimum=0, maximum=23.99,
          default=hours(l8.pasteurise_time))
    if "immersion_active" in has:
        b.add(16, Kind.BINARY_INPUT, "immersion", "immersion heater on", reading(cyl.heat_pump or "",
              "immersion_active"), states=ON_OFF)
    b.add(17, Kind.MULTI_STATE_INPUT, "last_cycle_result", "last L8 cycle result",
          supervisor(lambda s: CYCLE_RESULTS.index(s.cylinders[d].last_result) + 1.0), states=CYCLE_RESULTS)
    b.add(18, Kind.DATETIME_VALUE, "last_cycle_time", "last L8 cycle time",
          supervisor(lambda s: s.cylinders[d].last_time, keep=True))
    b.add(30, Kind.BINARY_INPUT, "alarm_l8_failed", "L8 cycle failed alarm (until a cycle of the kind passes)",
          supervisor(lambda s: float(s.cylinders[d].l8_alarm)), states=("normal", "alarm"), alarm=Alarm())
    return b.points


def _plant(site: SiteConfig) -> list[Point]:
    b = _Block("plant", 0, site.site.name)
    b.add(1, Kind.MULTI_STATE_INPUT, "sequencer_state", "sequencer state",
          supervisor(lambda s: MODES.index(s.sequencer) + 1.0), states=MODES)
    if site.boilers:
        b.add(2, Kind.ANALOG_INPUT, "crossover_cop", f"{site.tariffs.crossover} crossover COP (the boiler is "
              "preferred below it)", crossover(site.tariffs, site.boilers[0].seasonal_efficiency),
              cov_increment=0.05)
    b.add(3, Kind.ANALOG_INPUT, "predicted_cop", "predicted COP of the lead heat pump (TP-12)",
          supervisor(lambda s: round(s.predicted_cop, 2) if s.predicted_cop is not None else None),
          cov_increment=0.05)
    b.add(5, Kind.MULTI_STATE_VALUE, "sequencer_mode", "sequencer mode (automatic, or a source forced)",
          constant(1.0), access=Access.COMMAND, states=("automatic", "hp_only", "boiler_only"), default=1.0,
          operator_offset=-1.0)
    b.add(4, Kind.MULTI_STATE_INPUT, "active_tariff", "active electricity tariff period",
          tariff_period(site.tariffs), states=tariff_states(site.tariffs))
    return b.points


def register_maps(site: SiteConfig, site_dir: Path | None = None) -> dict[str, RegisterMap]:
    """Each heat pump's register map by heat pump id."""
    return {hp.id: load_map(resolve_map_path(hp.register_map, site_dir)) for hp in site.heat_pumps}


def build_points(site: SiteConfig, maps: Mapping[str, RegisterMap]) -> list[Point]:
    """The device's whole point table, in schedule order."""
    points = _plant(site)
    for n, hp in enumerate(site.heat_pumps):
        points += _heat_pump(n, hp, maps[hp.id])
    for n, boiler in enumerate(site.boilers):
        points += _boiler(n, boiler)
    for n, circuit in enumerate(site.heating_circuits):
        points += _circuit(n, circuit, site, maps)
    for n, cyl in enumerate(site.cylinders):
        points += _cylinder(n, cyl, maps)
    return points


def evaluate(points: list[Point], view: View) -> dict[str, Sample]:
    """Every point's sample for one cycle."""
    return {p.key: p.source(view) for p in points}
