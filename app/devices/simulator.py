"""A Modbus slave (TCP, or RTU on a serial port or pty) that serves any register map, its values from a physical model.

Each request refreshes the registers it touches from the model through the map's own encoding (scale,
data type, byte and word order), so a master sees exactly what the map implies. Writes are decoded and
handed to the model; a value outside the point's limits is answered with exception 3 (illegal data value),
a read-only or unmapped register with exception 2, as a real controller does.

A map with a heartbeat gets the device's watchdog: when the heartbeat stops changing for the map's timeout,
the unit gives its control preconditions their release values (an I/O module releases every output), i.e.
returns to its own control. Faults can be injected per unit: delay, no reply, exception code, sentinel or
garbage values, disconnect, and (on RTU) a corrupted CRC.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from app.devices import codec
from app.devices.modbus import role_names
from app.devices.registermap import Derived, Point, RegisterMap, Table

_READ_FC = {1: Table.COIL, 2: Table.DISCRETE, 3: Table.HOLDING, 4: Table.INPUT}
_WRITE_FC = {5: Table.COIL, 15: Table.COIL, 6: Table.HOLDING, 16: Table.HOLDING, 23: Table.HOLDING}
_GARBAGE_RAW = {"int16": 32766, "uint16": 65534, "int32": 2**31 - 2, "uint32": 2**32 - 2, "float32": 3.0e38, "bit": 1}
_UNIT_FACTORS = {("kW", "W"): 1000.0, ("kWh", "Wh"): 1000.0, ("kWh", "MWh"): 0.001, ("kW", "MW"): 0.001}

FaultKind = Literal["delay", "no_reply", "exception", "sentinel", "garbage", "disconnect", "crc"]


class SimulatedUnit(Protocol):
    """What the simulator needs from a physical model: point values by name, and writes."""

    def values(self) -> Mapping[str, float | None]:
        """Engineering values by point name (None: the device has no reading, serve the sentinel)."""
        ...

    def write(self, name: str, value: float) -> None:
        """A master wrote `value` to point `name`."""
        ...


@dataclass
class Fault:
    """A misbehaviour injected into one unit, for `remaining` requests (None: until cleared)."""

    kind: FaultKind
    seconds: float = 0.0
    code: int = 4
    points: tuple[str, ...] = ()
    remaining: int | None = None

    @classmethod
    def parse(cls, text: str) -> Fault:
        """``delay=2``, ``no_reply``, ``exception=6``, ``sentinel=flow_temp,return_temp``, ``garbage``,
        ``disconnect``, ``crc``."""
        kind, _, arg = text.partition("=")
        if kind not in FaultKind.__args__:  # type: ignore[attr-defined]
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(FaultKind.__args__)}")  # type: ignore[attr-defined]
        if kind == "delay":
            return cls("delay", seconds=float(arg or 1))
        if kind == "exception":
            return cls("exception", code=int(arg or 4))
        if kind in ("sentinel", "garbage"):
            return cls(kind, points=tuple(p for p in arg.split(",") if p))  # type: ignore[arg-type]
        return cls(kind)  # type: ignore[arg-type]

    def covers(self, point: str) -> bool:
        return not self.points or point in self.points


class MappedUnit:
    """Any register map served from a plant that speaks the generic heat pump map's point names.

    Points whose role the plant reports carry the plant's value (converted between kW/W, kWh/Wh/MWh); a
    derived value the map splits across registers is spread over its parts; every other point holds what
    was last written to it (initially its first enum state, the middle of its limits, or 0). The map's
    control preconditions, when all met, put the plant under external control.
    """

    def __init__(self, regmap: RegisterMap, plant: SimulatedUnit, plant_map: RegisterMap) -> None:
        self.map = regmap
        self.plant = plant
        self.plant_roles = role_names(plant_map)
        self.plant_units = {p.name: p.unit for p in [*plant_map.points, *plant_map.derived]}
        self.roles = {name: key for key, name in role_names(regmap).items()}
        self.held: dict[str, float] = {p.name: _initial(p) for p in regmap.points}
        if not regmap.control_preconditions:
            plant.write("bms_control", 1.0)

    def _plant_value(self, key: str | None, unit: str, plant_values: Mapping[str, float | None]) -> float | None:
        name = self.plant_roles.get(key) if key else None
        if name is None or plant_values.get(name) is None:
            return None
        value = float(plant_values[name])  # type: ignore[arg-type]
        source_unit = self.plant_units.get(name, "")
        return value * _UNIT_FACTORS.get((source_unit, unit), 1.0)

    def values(self) -> Mapping[str, float | None]:
        plant_values = self.plant.values()
        out: dict[str, float | None] = dict(self.held)
        for point in self.map.points:
            value = self._plant_value(self.roles.get(point.name), point.unit, plant_values)
            if value is not None and (point.enum is None or int(value) in point.enum):
                out[point.name] = value
        for derived in self.map.derived:
            total = self._plant_value(self.roles.get(derived.name), derived.unit, plant_values)
            if total is not None:
                out.update(_spread(derived, total))
        return out

    def write(self, name: str, value: float) -> None:
        self.held[name] = value
        key = self.roles.get(name)
        plant_name = self.plant_roles.get(key) if key else None
        if plant_name is not None and key not in ("heartbeat", "control_mode"):
            try:
                self.plant.write(plant_name, value)
            except KeyError:
                pass  # the plant has no such control: the register simply holds the value
        if self.map.control_preconditions:
            met = all(self.held.get(pre.point) == pre.value for pre in self.map.control_preconditions)
            self.plant.write("bms_control", 1.0 if met else 0.0)


def _initial(point: Point) -> float:
    if point.enum:
        return float(min(point.enum))
    if point.min is not None and point.max is not None:
        return (point.min + point.max) / 2
    return 0.0


def _spread(derived: Derived, total: float) -> dict[str, float]:
    """Split `total` over the parts, largest factor first (e.g. 12345 kWh -> 12 MWh + 345 kWh)."""
    out = {}
    parts = sorted(derived.parts, key=lambda p: -p.factor)
    for part in parts[:-1]:
        whole = math.floor(total / part.factor)
        out[part.point] = float(whole)
        total -= whole * part.factor
    out[parts[-1].point] = total / parts[-1].factor
    return out


class _Image:
    """One unit's register image: which point lives at each (table, wire address), its faults and watchdog."""

    def __init__(self, regmap: RegisterMap, unit: SimulatedUnit) -> None:
        self.map = regmap
        self.unit = unit
        self.faults: list[Fault] = []
        self.at: dict[tuple[Table, int], tuple[Point, int]] = {}
        for point in regmap.points:
            for for_write in (False, True):
                table, addr = regmap.wire_address(point, for_write=for_write)
                for i in range(point.count):
                    self.at[(table, addr + i)] = (point, addr)
        self.heartbeat_seen: float | None = None  # loop time of the last heartbeat change
        self.released = 0  # how many times the watchdog handed the unit back to its own control

    def fault(self, kind: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind), None)

    def consume(self, fault: Fault) -> None:
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.remove(fault)

    def words(self, point: Point, values: Mapping[str, float | None], for_write: bool = False) -> list[int]:
        byte_order, word_order = self.map.orders(for_write=for_write)
        garbage, sentinel = (self.fault("garbage"), self.fault("sentinel")) if self.faults else (None, None)
        if garbage is not None and garbage.covers(point.name):
            return codec.raw_to_words(_GARBAGE_RAW[point.data_type], point.data_type, byte_order, word_order)
        value = values.get(point.name)
        if value is not None and not (sentinel is not None and sentinel.covers(point.name)):
            try:
                return codec.encode(point, value, byte_order, word_order)
            except codec.EncodeError:
                pass  # the model's value does not fit the register: the device has no valid reading
        raw = point.sentinels[0] if point.sentinels else (math.nan if point.data_type == "float32" else 0)
        return codec.raw_to_words(raw, point.data_type, byte_order, word_order)

    def check_watchdog(self, now: float) -> None:
        """Return the unit to its own control when its heartbeat has lapsed."""
        heartbeat = self.map.heartbeat
        if heartbeat is None or self.heartbeat_seen is None or now - self.heartbeat_seen <= heartbeat.watchdog_s:
            return
        self.heartbeat_seen = None
        self.released += 1
        if self.map.control_preconditions:
            for pre in self.map.control_preconditions:
                self.unit.write(pre.point, pre.release_value if pre.release_value is not None else 0.0)
        else:
            for point in self.map.points:
                if point.writable and point.name != heartbeat.point:
                    self.unit.write(point.name, 0.0)

    def tables(self) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        """SimData blocks (coils, discrete inputs, holding, input) covering every mapped register."""
        blocks: dict[Table, list[SimData]] = {t: [] for t in Table}
        seen: set[tuple[Table, int]] = set()
        for (table, _addr), (point, start) in sorted(self.at.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if (table, start) in seen:
                continue
            seen.add((table, start))
            readonly = table.writable and not point.writable
            if table.is_bit:
                blocks[table].append(SimData(start, values=[False], datatype=DataType.BITS, readonly=readonly))
            else:
                blocks[table].append(SimData(start, values=[0] * point.count, datatype=DataType.REGISTERS,
                                             readonly=readonly))
        for table in Table:  # pymodbus needs every table; an unused one gets a placeholder at the top of the range
            if not blocks[table]:
                kind = DataType.BITS if table.is_bit else DataType.INVALID
                blocks[table].append(SimData(65535, values=[False] if table.is_bit else 0, datatype=kind))
        return blocks[Table.COIL], blocks[Table.DISCRETE], blocks[Table.HOLDING], blocks[Table.INPUT]

    async def action(self, func_code: int, start: int, address: int, count: int, registers: list[int],
                     set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        """pymodbus request hook: faults first, then refresh what is read from the model or apply writes."""
        if self.map.heartbeat is not None:
            self.check_watchdog(asyncio.get_running_loop().time())
        if self.faults:
            delay = self.fault("delay")
            if delay is not None:
                self.consume(delay)
                await asyncio.sleep(delay.seconds)
            exception = self.fault("exception")
            if exception is not None:
                self.consume(exception)
                return ExcCodes(exception.code)
        if set_values is not None and func_code in _WRITE_FC:
            return self._write(_WRITE_FC[func_code], address, list(set_values))
        table = _READ_FC.get(func_code)
        if table is None:
            return None
        if table.is_bit:  # pymodbus passes the span in packed registers: refresh every bit of the table
            span = [key for key in self.at if key[0] is table]
        else:
            span = [(table, addr) for addr in range(address, address + count)]
        values = self.unit.values()
        done: set[str] = set()
        for key in span:
            entry = self.at.get(key)
            if entry is None or entry[0].name in done:
                continue
            point, first = entry
            done.add(point.name)
            for_write = (table, first) != self.map.wire_address(point)
            for i, word in enumerate(self.words(point, values, for_write=for_write)):
                _put(registers, start, table, first + i, word)
        for kind in ("sentinel", "garbage") if self.faults else ():
            fault = self.fault(kind)
            if fault is not None:
                self.consume(fault)
        return None

    def _write(self, table: Table, address: int, values: list[int]) -> ExcCodes | None:
        touched: dict[str, tuple[Point, int]] = {}
        for i in range(len(values)):
            entry = self.at.get((table, address + i))
            if entry is None or not entry[0].writable:
                return ExcCodes.ILLEGAL_ADDRESS
            touched[entry[0].name] = entry
        byte_order, word_order = self.map.orders(for_write=True)
        current = self.unit.values()
        decoded: list[tuple[str, float]] = []
        for point, first in touched.values():
            words = self.words(point, current, for_write=True)
            for i in range(point.count):
                if address <= first + i < address + len(values):
                    words[i] = int(values[first + i - address])
            _, value = codec.decode(point, words, byte_order, word_order)
            if point.enum is not None and int(value) not in point.enum:
                return ExcCodes.ILLEGAL_VALUE
            if (point.min is not None and value < point.min) or (point.max is not None and value > point.max):
                return ExcCodes.ILLEGAL_VALUE
            decoded.append((point.name, value))
        heartbeat = self.map.heartbeat
        for name, value in decoded:
            if heartbeat is not None and name == heartbeat.point and current.get(name) != value:
                self.heartbeat_seen = asyncio.get_running_loop().time()
            self.unit.write(name, value)
        return None


def _put(registers: list[int], start: int, table: Table, addr: int, word: int) -> None:
    """Store one register (or one bit, for bit tables packed 16 to a register) into pymodbus's block."""
    if not table.is_bit:
        registers[addr - start] = word
        return
    index, bit = addr // 16 - start, addr % 16
    registers[index] = (registers[index] | (1 << bit)) if word else (registers[index] & ~(1 << bit))


@dataclass(frozen=True)
class SerialPort:
    """Where an RTU simulator listens: a serial device or one end of a pty pair."""

    device: str
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8


class ModbusSimulator:
    """A slave on `host:port` (TCP) or a serial port (RTU) serving units (unit id -> map and model)."""

    def __init__(self, units: Mapping[int, tuple[RegisterMap, SimulatedUnit]], host: str = "127.0.0.1",
                 port: int = 5020, *, serial: SerialPort | None = None) -> None:
        self.images = {uid: _Image(regmap, unit) for uid, (regmap, unit) in units.items()}
        self.host = host
        self.port = port
        self.serial = serial
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._watchdog: asyncio.Task[None] | None = None

    def inject(self, unit_id: int, fault: Fault) -> None:
        """Make unit `unit_id` misbehave until `clear` (or for the fault's `remaining` requests)."""
        self.images[unit_id].faults.append(fault)

    def clear(self, unit_id: int | None = None) -> None:
        """Remove every injected fault (of one unit, or of all)."""
        for uid, image in self.images.items():
            if unit_id is None or uid == unit_id:
                image.faults.clear()

    def _devices(self) -> list[SimDevice]:
        return [SimDevice(uid, simdata=image.tables(), action=image.action) for uid, image in self.images.items()]

    def _unit_of(self, frame: bytes) -> int | None:
        if self.serial is not None:
            return frame[0] if frame else None
        return frame[6] if len(frame) > 6 else None

    def _trace(self, sending: bool, frame: bytes) -> bytes:
        """Packet hook: drop or corrupt replies, or cut the connection, for units with such faults."""
        image = self.images.get(self._unit_of(frame) or -1)
        if image is None:  # pymodbus answers an unknown unit with exception 4; a real RTU slave stays silent
            return b"" if sending and self.serial is not None else frame
        if not sending:
            fault = image.fault("disconnect")
            if fault is not None:
                image.consume(fault)
                asyncio.get_running_loop().call_soon(self.disconnect)
            return frame
        for kind in ("no_reply", "crc"):
            fault = image.fault(kind)
            if fault is not None:
                image.consume(fault)
                return b"" if kind == "no_reply" else frame[:-1] + bytes([frame[-1] ^ 0xFF])
        return frame

    def disconnect(self) -> None:
        """Cut every open connection (the masters see a reset and must reconnect)."""
        if self._server is not None:
            for connection in list(self._server.active_connections.values()):
                connection.close()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.2)
            for image in self.images.values():
                image.check_watchdog(loop.time())

    async def start(self) -> None:
        """Listen and serve in the background of the running event loop."""
        if self.serial is None:
            self._server = ModbusTcpServer(self._devices(), address=(self.host, self.port), trace_packet=self._trace)
            where = f"{self.host}:{self.port}"
        else:
            s = self.serial
            self._server = ModbusSerialServer(self._devices(), framer=FramerType.RTU, port=s.device,
                                              baudrate=s.baudrate, parity=s.parity, stopbits=s.stopbits,
                                              bytesize=s.bytesize, ignore_missing_devices=True,
                                              trace_packet=self._trace)
            where = s.device
        try:
            await self._server.serve_forever(background=True)
        except RuntimeError as exc:
            raise OSError(f"Modbus simulator could not listen on {where}: {exc}") from exc
        if any(image.map.heartbeat for image in self.images.values()):
            self._watchdog = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._server is not None:
            await self._server.shutdown()
        self._server = None
