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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from app import yamlsrc
from app.paths import data_dir
from app.yamlsrc import SourceError


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
    min_write_interval_s: float | None = Field(None, ge=0)
    deadband: float = Field(0.0, ge=0, description="engineering units; smaller changes are not written")

    @model_validator(mode="after")
    def _consistent(self) -> Point:
        if self.data_type == "bit" and not self.register_type.is_bit:
            raise ValueError("data_type bit needs register_type coil or discrete")
        if self.register_type.is_bit and self.data_type != "bit":
            raise ValueError(f"register_type {self.register_type} holds bits: data_type must be bit")
        if self.scale == 0:
            raise ValueError("scale cannot be 0")
        if self.writable:
            target = self.write_register_type or self.register_type
            if not target.writable:
                raise ValueError(f"a writable point needs a coil or holding register, not {target}")
            if self.data_type != "bit" and self.enum is None and (self.min is None or self.max is None):
                raise ValueError("a writable point needs min and max limits")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

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


class SerialDefaults(_Strict):
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class Precondition(_Strict):
    """A point that must hold `value` before control writes are accepted (BMS/external-control mode)."""

    point: str
    value: float


class Heartbeat(_Strict):
    """A watchdog register the device expects to change every `period_s`, or it returns to local control."""

    point: str
    period_s: float = Field(gt=0)
    mode: Literal["counter", "toggle"] = "counter"


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
    serial: SerialDefaults = SerialDefaults()
    control_preconditions: list[Precondition] = Field(default_factory=list)
    heartbeat: Heartbeat | None = None
    points: list[Point] = Field(min_length=1)

    @cached_property
    def by_name(self) -> dict[str, Point]:
        return {p.name: p for p in self.points}

    @cached_property
    def by_role(self) -> dict[tuple[str, int | None], Point]:
        return {p.key: p for p in self.points}

    def role(self, role: str | Role, index: int | None = None) -> Point | None:
        """The point playing `role` (the first one when no index is given and the role is indexed)."""
        point = self.by_role.get((str(role), index))
        if point is None and index is None:
            point = self.by_role.get((str(role), 0))
        return point

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


def map_problems(regmap: RegisterMap) -> list[tuple[tuple[str | int, ...], str, Any]]:
    """Map-wide checks pydantic cannot do point by point: overlaps, duplicate roles, references."""
    problems: list[tuple[tuple[str | int, ...], str, Any]] = []
    names: dict[str, int] = {}
    keys: dict[tuple[str, int | None], int] = {}
    role_counts: dict[str, int] = {}
    for p in regmap.points:
        role_counts[p.role.value] = role_counts.get(p.role.value, 0) + 1
    occupied: dict[tuple[Table, int], int] = {}
    for i, p in enumerate(regmap.points):
        if p.name in names:
            problems.append((("points", i, "name"), f"name already used by points.{names[p.name]}", p.name))
        names.setdefault(p.name, i)
        if p.role is not Role.OTHER:
            if p.key in keys:
                problems.append((("points", i, "role"), f"role already used by points.{keys[p.key]}"
                                 + (" (give each an index)" if p.index is None else " with the same index"),
                                 p.role.value))
            elif p.index is None and role_counts[p.role.value] > 1:
                problems.append((("points", i, "index"), f"role {p.role.value} occurs more than once: "
                                 "give each an index", None))
            keys.setdefault(p.key, i)
        table, wire = regmap.wire_address(p)
        if wire < 0 or wire + p.count > 65536:
            problems.append((("points", i, "address"), f"outside the {regmap.addressing} address space", p.address))
            continue
        for reg in range(wire, wire + p.count):
            other = occupied.get((table, reg))
            if other is not None:
                problems.append((("points", i, "address"), f"overlaps points.{other} "
                                 f"({regmap.points[other].name}) at {table} register {reg}", p.address))
                break
        for reg in range(wire, wire + p.count):
            occupied.setdefault((table, reg), i)
    for i, pre in enumerate(regmap.control_preconditions):
        target = regmap.by_name.get(pre.point)
        if target is None:
            problems.append((("control_preconditions", i, "point"), "no such point", pre.point))
        elif not target.writable:
            problems.append((("control_preconditions", i, "point"), "precondition point is not writable", pre.point))
    if regmap.heartbeat:
        target = regmap.by_name.get(regmap.heartbeat.point)
        if target is None or not target.writable:
            problems.append((("heartbeat", "point"), "heartbeat point must exist and be writable",
                             regmap.heartbeat.point))
    return problems


def load_map(path: str | Path) -> RegisterMap:
    """Load and validate a register map file; raise SourceError listing every problem with its line."""
    doc = yamlsrc.load(path)
    if not isinstance(doc.data, dict):
        raise SourceError([doc.problem((), "a register map must be a mapping", doc.data)])
    try:
        regmap = RegisterMap.model_validate(doc.data)
    except ValidationError as exc:
        raise SourceError(doc.validation_problems(exc)) from None
    problems = map_problems(regmap)
    if problems:
        raise SourceError([doc.problem(loc, message, got, show_got=got is not None)
                           for loc, message, got in problems])
    return regmap


def resolve_map_path(name: str, base: Path | None = None) -> Path:
    """A map named in a site file: a shipped map's name (``generic_heat_pump``) or a path to a YAML file."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate if candidate.is_absolute() or base is None else base / candidate
    return data_dir("register_maps") / f"{name}.yaml"
