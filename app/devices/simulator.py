"""A Modbus TCP slave that serves any register map, its values coming from a physical model.

Each request refreshes the registers it touches from the model through the map's own encoding (scale,
data type, byte and word order), so a master sees exactly what the map implies. Writes are decoded and
handed to the model; a value outside the point's limits is answered with exception 3 (illegal data value),
a read-only or unmapped register with exception 2, as a real controller does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from app.devices import codec
from app.devices.registermap import Point, RegisterMap, Table

_READ_FC = {1: Table.COIL, 2: Table.DISCRETE, 3: Table.HOLDING, 4: Table.INPUT}
_WRITE_FC = {5: Table.COIL, 15: Table.COIL, 6: Table.HOLDING, 16: Table.HOLDING, 23: Table.HOLDING}


class SimulatedUnit(Protocol):
    """What the simulator needs from a physical model: point values by name, and writes."""

    def values(self) -> Mapping[str, float | None]:
        """Engineering values by point name (None: the device has no reading, serve the sentinel)."""
        ...

    def write(self, name: str, value: float) -> None:
        """A master wrote `value` to point `name`."""
        ...


class _Image:
    """One unit's register image: which point lives at each (table, wire address)."""

    def __init__(self, regmap: RegisterMap, unit: SimulatedUnit) -> None:
        self.map = regmap
        self.unit = unit
        self.at: dict[tuple[Table, int], tuple[Point, int]] = {}
        for point in regmap.points:
            for for_write in (False, True):
                table, addr = regmap.wire_address(point, for_write=for_write)
                for i in range(point.count):
                    self.at[(table, addr + i)] = (point, addr)

    def words(self, point: Point, for_write: bool = False) -> list[int]:
        value = self.unit.values().get(point.name)
        byte_order, word_order = self.map.orders(for_write=for_write)
        if value is None:
            raw = point.sentinels[0] if point.sentinels else 0
            return codec.raw_to_words(raw, point.data_type, byte_order, word_order)
        return codec.encode(point, value, byte_order, word_order)

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
        """pymodbus request hook: refresh what is read from the model; hand writes to the model."""
        if set_values is not None and func_code in _WRITE_FC:
            return self._write(_WRITE_FC[func_code], address, list(set_values))
        table = _READ_FC.get(func_code)
        if table is None:
            return None
        if table.is_bit:  # pymodbus passes the span in packed registers: refresh every bit of the table
            span = [key for key in self.at if key[0] is table]
        else:
            span = [(table, addr) for addr in range(address, address + count)]
        done: set[str] = set()
        for key in span:
            entry = self.at.get(key)
            if entry is None or entry[0].name in done:
                continue
            point, first = entry
            done.add(point.name)
            for_write = (table, first) != self.map.wire_address(point)
            for i, word in enumerate(self.words(point, for_write=for_write)):
                _put(registers, start, table, first + i, word)
        return None

    def _write(self, table: Table, address: int, values: list[int]) -> ExcCodes | None:
        touched: dict[str, tuple[Point, int]] = {}
        for i in range(len(values)):
            entry = self.at.get((table, address + i))
            if entry is None or not entry[0].writable:
                return ExcCodes.ILLEGAL_ADDRESS
            touched[entry[0].name] = entry
        byte_order, word_order = self.map.orders(for_write=True)
        decoded: list[tuple[str, float]] = []
        for point, first in touched.values():
            words = self.words(point, for_write=True)
            for i in range(point.count):
                if address <= first + i < address + len(values):
                    words[i] = int(values[first + i - address])
            _, value = codec.decode(point, words, byte_order, word_order)
            if point.enum is not None and int(value) not in point.enum:
                return ExcCodes.ILLEGAL_VALUE
            if (point.min is not None and value < point.min) or (point.max is not None and value > point.max):
                return ExcCodes.ILLEGAL_VALUE
            decoded.append((point.name, value))
        for name, value in decoded:
            self.unit.write(name, value)
        return None


def _put(registers: list[int], start: int, table: Table, addr: int, word: int) -> None:
    """Store one register (or one bit, for bit tables packed 16 to a register) into pymodbus's block."""
    if not table.is_bit:
        registers[addr - start] = word
        return
    index, bit = addr // 16 - start, addr % 16
    registers[index] = (registers[index] | (1 << bit)) if word else (registers[index] & ~(1 << bit))


class ModbusSimulator:
    """A TCP server on `host:port` serving one or more units (unit id -> model) with one register map each."""

    def __init__(self, units: Mapping[int, tuple[RegisterMap, SimulatedUnit]], host: str = "127.0.0.1",
                 port: int = 5020) -> None:
        self.images = {uid: _Image(regmap, unit) for uid, (regmap, unit) in units.items()}
        self.host = host
        self.port = port
        self._server: ModbusTcpServer | None = None

    def _devices(self) -> list[SimDevice]:
        return [SimDevice(uid, simdata=image.tables(), action=image.action) for uid, image in self.images.items()]

    async def start(self) -> None:
        """Listen and serve in the background of the running event loop."""
        self._server = ModbusTcpServer(self._devices(), address=(self.host, self.port))
        try:
            await self._server.serve_forever(background=True)
        except RuntimeError as exc:
            raise OSError(f"Modbus simulator could not listen on {self.host}:{self.port}: {exc}") from exc

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
        self._server = None

