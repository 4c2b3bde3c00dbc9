"""Register maps as data: the schema every `register_maps/*.yaml` file is validated against, and its loader.

A map describes one manufacturer model (heat pump, electricity meter, heat meter or I/O module): each
point's role, register table, documented address and addressing convention, data type, scaling, limits,
sentinels, and the map-wide byte/word order, control preconditions, heartbeat and write-wear limits.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app import yamlsrc
from app.paths import data_dir


class Role(StrEnum):
    """What a point means to the supervisor, whatever the manufacturer calls it."""

    ENABLE = "enable"
    FLOW_SETPOINT = "flow_setpoint"
    DHW_SETPOINT = "dhw_setpoint"
    OPERATING_MODE = "operating_mode"
    FLOW_TEMP = "flow_temp"
    RETURN_TEMP = "return_temp"
    OUTDOOR_TEMP = "outdoor_temp"
    DHW_TEMP = "dhw_temp"
    COMPRESSOR_RUNNING = "compressor_running"
    COMPRESSOR_FREQUENCY = "compressor_frequency"
    DEFROST_ACTIVE = "defrost_active"
    FAULT_CODE = "fault_code"
    ALARM = "alarm"
    ELECTRICAL_POWER = "electrical_power"
    ELECTRICAL_ENERGY_TOTAL = "electrical_energy_total"
    HEAT_OUTPUT_POWER = "heat_output_power"
    HEAT_ENERGY_TOTAL = "heat_energy_total"
    IMMERSION_ACTIVE = "immersion_active"
    BACKUP_HEATER_ACTIVE = "backup_heater_active"
    FLOW_RATE = "flow_rate"
    SOURCE_TEMP = "source_temp"
    ROOM_TEMP = "room_temp"
    SECONDARY_RETURN_TEMP = "secondary_return_temp"
    CONTROL_MODE = "control_mode"
    HEARTBEAT = "heartbeat"
    BOILER_ENABLE = "boiler_enable"
    IMMERSION_ENABLE = "immersion_enable"
    ANALOG_OUTPUT = "analog_output"
    DIGITAL_INPUT = "digital_input"
    VOLTAGE = "voltage"
    CURRENT = "current"
    FREQUENCY = "frequency"
    OTHER = "other"


class Table(StrEnum):
    COIL = "coil"
    DISCRETE = "discrete"
    INPUT = "input"
    HOLDING = "holding"

    @property
    def is_bit(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)

    @property
    def writable(self) -> bool:
        return self in (Table.COIL, Table.HOLDING)


# Modicon reference prefixes: 0xxxx coils, 1xxxx discrete inputs, 3xxxx input registers, 4xxxx holding.
_MODICON_PREFIX = {Table.COIL: 0, Table.DISCRETE: 1, Table.INPUT: 3, Table.HOLDING: 4}
REGISTER_COUNT = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "bit": 1}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Point(_Strict):
    """One point of a device."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    role: Role
    index: int | None = Field(None, ge=0, description="which one, when a role occurs more than once")
    description: str = ""
    register_type: Table
    address: int = Field(ge=0, description="as documented, in the map's addressing convention")
    data_type: Literal["int16", "uint16", "int32", "uint32", "float32", "bit"]
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    access: Literal["read", "write", "read_write"] = "read"
    min: float | None = None
    max: float | None = None
    enum: dict[int, str] | None = None
    sentinels: list[float] = Field(default_factory=list, description="raw values meaning 'no reading'")
    write_register_type: Table | None = None
    write_address: int | None = Field(None, ge=0, description="write-back register when it differs from status")
    min_write_interval_s: float | None = Field(None, ge=0, description="EEPROM wear: never write more often")
    deadband: float = Field(0.0, ge=0, description="engineering units; smaller changes are not written")
    poll_interval_s: float | None = Field(None, gt=0, description="read this often (default: every poll)")
    max_age_s: float | None = Field(None, gt=0, description="a cached reading older than this is stale "
                                    "(default: twice poll_interval_s)")
    min_from: str | None = Field(None, description="a readable point whose present value narrows `min` for writes")
    max_from: str | None = Field(None, description="a readable point whose present value narrows `max` for writes")
    inferred: bool = Field(False, description="some fact of this point is not stated by the source")

    @property
    def writable(self) -> bool:
        return self.access in ("write", "read_write")

    @property
    def readable(self) -> bool:
        return self.access in ("read", "read_write")

    @property
    def count(self) -> int:
        """Registers (or bits) the point occupies."""
        return REGISTER_COUNT[self.data_type]

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.role.value, self.index)

    @property
    def allowed_age_s(self) -> float | None:
        """How old a cached reading may be before it is stale (None: read every poll, never cached)."""
        if self.max_age_s is not None:
            return self.max_age_s
        return 2 * self.poll_interval_s if self.poll_interval_s is not None else None


class Part(_Strict):
    """One register-level point contributing ``factor`` × its value to a derived point."""

    point: str
    factor: float = 1.0


class Derived(_Strict):
    """A value the device splits across points, e.g. an energy counter kept as kWh remainder + MWh whole.

    Its value is the sum of its parts times their factors; any part that is not a good reading makes the
    derived reading carry that part's quality instead of a number.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    role: Role
    index: int | None = Field(None, ge=0)
    description: str = ""
    unit: str = ""
    parts: list[Part] = Field(min_length=2)
    min: float | None = None
    max: float | None = None

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.role.value, self.index)


class SerialDefaults(_Strict):
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class Precondition(_Strict):
    """A point that must hold `value` before control writes are accepted (BMS/external-control mode).

    On release (a clean shutdown) the point is given back the value found before it was first changed,
    or `release_value` when that is unknown: the unit returns to its own control.
    """

    point: str
    value: float
    release_value: float | None = None
    applies_to: list[str] | None = Field(None, description="points it guards (default: every writable point)")


class Heartbeat(_Strict):
    """A watchdog register written every `period_s`; if it stops changing for `timeout_s` the unit drops
    back to local control (the device's own behaviour, which the simulator reproduces)."""

    point: str
    period_s: float = Field(gt=0)
    timeout_s: float | None = Field(None, gt=0, description="the device's watchdog (default 3 × period_s)")
    mode: Literal["counter", "toggle"] = "counter"

    @property
    def watchdog_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else 3 * self.period_s


class RegisterMap(_Strict):
    """A manufacturer model's register map."""

    manufacturer: str
    model: str
    device_kind: Literal["heat_pump", "electricity_meter", "heat_meter", "io_module"]
    source: str = Field(min_length=1, description="where the register facts come from")
    notes: str = ""
    addressing: Literal["zero_based", "one_based", "modicon"] = "zero_based"
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    write_byte_order: Literal["big", "little"] | None = None
    write_word_order: Literal["big", "little"] | None = None
    max_read_registers: int = Field(125, ge=1, le=125)
    max_read_gap: int = Field(8, ge=0, le=125, description="unused registers a batched read may span")
    write_function: Literal["auto", "single", "multiple"] = Field(
        "auto", description="auto: FC06/FC05 for one register or bit, FC16 for more; single: the device "
        "accepts only FC06/FC05 (no multi-register point can be written); multiple: only FC16/FC15")
    min_request_interval_s: float = Field(0.0, ge=0, le=10, description="pause between requests (slow gateways)")
    tcp_port: int = Field(502, ge=1, le=65535)
    default_unit_id: int = Field(1, ge=0, le=247)
    serial: SerialDefaults = SerialDefaults()
    control_preconditions: list[Precondition] = Field(default_factory=list)
    heartbeat: Heartbeat | None = None
    points: list[Point] = Field(min_length=1)
    derived: list[Derived] = Field(default_factory=list)

    @cached_property
    def by_name(self) -> dict[str, Point]:
        return {p.name: p for p in self.points}

    @cached_property
    def by_role(self) -> dict[tuple[str, int | None], Point | Derived]:
        return {p.key: p for p in [*self.points, *self.derived]}

    def role(self, role: str | Role, index: int | None = None) -> Point | Derived | None:
        """The point playing `role` (the first one when no index is given and the role is indexed)."""
        point = self.by_role.get((str(role), index))
        if point is None and index is None:
            point = self.by_role.get((str(role), 0))
        return point

    def preconditions_for(self, point: Point) -> list[Precondition]:
        """The control preconditions that guard a write to `point` (none for the precondition points)."""
        own = {pre.point for pre in self.control_preconditions}
        if point.name in own or (self.heartbeat is not None and point.name == self.heartbeat.point):
            return []
        return [pre for pre in self.control_preconditions if pre.applies_to is None or point.name in pre.applies_to]

    def write_codes(self, point: Point) -> tuple[int, int]:
        """(function code, register or bit count) a write of `point` uses on the wire."""
        table = point.write_register_type or point.register_type
        multiple = self.write_function == "multiple" or (self.write_function == "auto" and point.count > 1)
        if table is Table.COIL:
            return (15 if self.write_function == "multiple" else 5), 1
        return (16 if multiple else 6), point.count

    def wire_address(self, point: Point, *, for_write: bool = False) -> tuple[Table, int]:
        """The register table and 0-based PDU address used on the wire."""
        table = (point.write_register_type or point.register_type) if for_write else point.register_type
        documented = point.write_address if for_write and point.write_address is not None else point.address
        if self.addressing == "zero_based":
            return table, documented
        if self.addressing == "one_based":
            return table, documented - 1
        digits = 100000 if documented >= 100000 else 10000
        return table, documented - _MODICON_PREFIX[table] * digits - 1

    def orders(self, *, for_write: bool) -> tuple[str, str]:
        """(byte order, word order) for reading, or for writing where the map says they differ."""
        if for_write:
            return (self.write_byte_order or self.byte_order, self.write_word_order or self.word_order)
        return (self.byte_order, self.word_order)


Loc = tuple[str | int, ...]
_RAW_RANGE = {"int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-(2**31), 2**31 - 1),
              "uint32": (0, 2**32 - 1), "bit": (0, 1)}


def _representable(p: Point, value: float) -> bool:
    """Whether engineering `value` fits the point's registers after scale and offset."""
    if p.data_type == "float32":
        return True
    lo, hi = _RAW_RANGE[p.data_type]
    return lo <= round((value - p.offset) / p.scale) <= hi


def _point_problems(regmap: RegisterMap, i: int, p: Point) -> list[tuple[Loc, str, Any]]:
    """Checks of one point against its register table, data type, limits and the map's write function."""
    problems: list[tuple[Loc, str, Any]] = []
    if p.data_type == "bit" and not p.register_type.is_bit:
        problems.append((("points", i, "data_type"), "data_type bit needs register_type coil or discrete", "bit"))
    if p.register_type.is_bit and p.data_type != "bit":
        problems.append((("points", i, "data_type"), f"register_type {p.register_type} holds bits: data_type "
                         "must be bit", p.data_type))
    if p.scale == 0:
        return [*problems, (("points", i, "scale"), "scale cannot be 0", 0)]
    if p.min is not None and p.max is not None and p.min > p.max:
        problems.append((("points", i, "min"), f"min is above max {p.max:g}", p.min))
    if p.writable:
        target = p.write_register_type or p.register_type
        if not target.writable:
            problems.append((("points", i, "access"), f"a writable point needs a coil or holding register, "
                             f"not {target}", p.access))
        if p.data_type != "bit" and p.enum is None and (p.min is None or p.max is None):
            problems.append((("points", i, "access"), "a writable point needs min and max limits "
                             "(or enum states)", p.access))
    if p.data_type != "float32":
        lo, hi = _RAW_RANGE[p.data_type]
        for j, raw in enumerate(p.sentinels):
            if raw != int(raw) or not lo <= raw <= hi:
                problems.append((("points", i, "sentinels", j), f"raw sentinel cannot occur in {p.data_type}", raw))
        for key in p.enum or {}:
            if not lo <= key <= hi:
                problems.append((("points", i, "enum"), f"state {key} cannot occur in {p.data_type}", key))
    if p.writable:
        for limit in ("min", "max"):
            value = getattr(p, limit)
            if value is not None and not _representable(p, value):
                problems.append((("points", i, limit), f"limit does not fit {p.data_type} at scale {p.scale:g}",
                                 value))
        if regmap.write_function == "single" and p.count > 1:
            problems.append((("points", i, "access"), "the map allows single-register writes only: a "
                             f"{p.data_type} point cannot be written", p.access))
    return problems


def map_problems(regmap: RegisterMap) -> list[tuple[Loc, str, Any]]:
    """Map-wide checks pydantic cannot do point by point: overlaps, duplicate roles, references."""
    problems: list[tuple[Loc, str, Any]] = []
    names: dict[str, Loc] = {}
    keys: dict[tuple[str, int | None], Loc] = {}
    role_counts: dict[str, int] = {}
    for p in [*regmap.points, *regmap.derived]:
        role_counts[p.role.value] = role_counts.get(p.role.value, 0) + 1
    occupied: dict[tuple[Table, int], int] = {}
    entries: list[tuple[Loc, Point | Derived]] = [(("points", i), p) for i, p in enumerate(regmap.points)]
    entries += [(("derived", i), d) for i, d in enumerate(regmap.derived)]
    for loc, p in entries:
        if p.name in names:
            problems.append(((*loc, "name"), f"name already used by {'.'.join(map(str, names[p.name]))}", p.name))
        names.setdefault(p.name, loc)
        if p.role is not Role.OTHER:
            if p.key in keys:
                where = ".".join(map(str, keys[p.key]))
                problems.append(((*loc, "role"), f"role already used by {where}"
                                 + (" (give each an index)" if p.index is None else " with the same index"),
                                 p.role.value))
            elif p.index is None and role_counts[p.role.value] > 1:
                problems.append(((*loc, "index"), f"role {p.role.value} occurs more than once: "
                                 "give each an index", None))
            keys.setdefault(p.key, loc)
    for i, d in enumerate(regmap.derived):
        for j, part in enumerate(d.parts):
            target = regmap.by_name.get(part.point)
            if target is None or not target.readable:
                problems.append((("derived", i, "parts", j, "point"), "no such readable point", part.point))
    for i, p in enumerate(regmap.points):
        problems.extend(_point_problems(regmap, i, p))
        for field in ("min_from", "max_from"):
            ref = getattr(p, field)
            if ref is not None and (ref not in regmap.by_name or not regmap.by_name[ref].readable):
                problems.append((("points", i, field), "no such readable point", ref))
        spans = {regmap.wire_address(p)} | ({regmap.wire_address(p, for_write=True)} if p.writable else set())
        for table, wire in sorted(spans):
            field = "address" if (table, wire) == regmap.wire_address(p) else "write_address"
            if wire < 0 or wire + p.count > 65536:
                problems.append((("points", i, field), f"outside the {regmap.addressing} address space",
                                 getattr(p, field)))
                continue
            for reg in range(wire, wire + p.count):
                other = occupied.get((table, reg))
                if other is not None and other != i:
                    problems.append((("points", i, field), f"overlaps points.{other} "
                                     f"({regmap.points[other].name}) at {table} register {reg}", getattr(p, field)))
                    break
            for reg in range(wire, wire + p.count):
                occupied.setdefault((table, reg), i)
    for i, pre in enumerate(regmap.control_preconditions):
        target = regmap.by_name.get(pre.point)
        if target is None:
            problems.append((("control_preconditions", i, "point"), "no such point", pre.point))
        elif not target.writable:
            problems.append((("control_preconditions", i, "point"), "precondition point is not writable", pre.point))
        for j, name in enumerate(pre.applies_to or []):
            guarded = regmap.by_name.get(name)
            if guarded is None or not guarded.writable:
                problems.append((("control_preconditions", i, "applies_to", j), "no such writable point", name))
    if regmap.heartbeat:
        target = regmap.by_name.get(regmap.heartbeat.point)
        if target is None or not target.writable:
            problems.append((("heartbeat", "point"), "heartbeat point must exist and be writable",
                             regmap.heartbeat.point))
    return problems


def load_map(path: str | Path) -> RegisterMap:
    """Load and validate a register map file; raise SourceError listing every problem with its line."""
    return yamlsrc.load_model(path, RegisterMap, "a register map", map_problems)


def resolve_map_path(name: str, base: Path | None = None) -> Path:
    """A map named in a site file: a shipped map's name (``generic_heat_pump``) or a path to a YAML file."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate if candidate.is_absolute() or base is None else base / candidate
    return data_dir("register_maps") / f"{name}.yaml"
