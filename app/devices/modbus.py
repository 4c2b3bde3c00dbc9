"""The Modbus driver: one polling coordinator per device that batches reads and guards every write.

Reads are planned once per map (contiguous registers batched, gap-aware, at most the map's block size)
and decoded into readings with quality; a bad reading never becomes a number. Writes go only to points the
map marks writable, only inside their limits (refused, never clamped), only beyond the deadband, never more
often than the map allows, after the map's control preconditions, and are verified by reading back.
Every write and every refusal is handed to the recorder.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from app.clock import Clock
from app.config import RtuConnection, TcpConnection
from app.devices import codec
from app.devices.registermap import Point, RegisterMap, Table
from app.snapshot import DeviceSnapshot, Quality, Reading

ILLEGAL_DATA_ADDRESS = 2
MAX_BITS_PER_READ = 2000


class WriteRecorder(Protocol):
    """Where write outcomes go (the historian's ``record_write``)."""

    def __call__(self, ts: Any, device: str, point: str, outcome: str, reason: str, **kw: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: a register table, a start address and the points it covers."""

    table: Table
    start: int
    count: int
    points: tuple[Point, ...]


@dataclass(slots=True)
class WriteResult:
    """How a requested write ended: verified, unchanged (inside the deadband), refused or failed."""

    outcome: str
    reason: str
    value: float | None = None


@dataclass(slots=True)
class Health:
    """Per-device counters a commissioning engineer looks at first."""

    polls: int = 0
    poll_failures: int = 0
    consecutive_failures: int = 0
    exceptions: int = 0
    writes: int = 0
    refusals: int = 0
    reconnects: int = 0
    split_blocks: int = 0


def role_names(regmap: RegisterMap) -> dict[str, str]:
    """Role key -> point name: ``flow_temp`` for a single or index-0 point, ``dhw_temp.1`` for index 1."""
    return {p.role.value if not p.index else f"{p.role.value}.{p.index}": p.name
            for p in regmap.points if p.role.value != "other"}


def plan_reads(regmap: RegisterMap) -> list[ReadBlock]:
    """Batch the map's readable points into as few reads as its block size and gap limit allow."""
    blocks: list[ReadBlock] = []
    by_table: dict[Table, list[tuple[int, Point]]] = {}
    for point in regmap.points:
        if point.readable:
            table, addr = regmap.wire_address(point)
            by_table.setdefault(table, []).append((addr, point))
    for table, entries in by_table.items():
        entries.sort(key=lambda e: e[0])
        limit = MAX_BITS_PER_READ if table.is_bit else regmap.max_read_registers
        start, end, members = entries[0][0], entries[0][0] + entries[0][1].count, [entries[0][1]]
        for addr, point in entries[1:]:
            new_end = max(end, addr + point.count)
            if addr - end <= regmap.max_read_gap and new_end - start <= limit:
                end = new_end
                members.append(point)
            else:
                blocks.append(ReadBlock(table, start, end - start, tuple(members)))
                start, end, members = addr, addr + point.count, [point]
        blocks.append(ReadBlock(table, start, end - start, tuple(members)))
    return blocks


class ModbusDevice:
    """A device reached over Modbus: polls its map into readings and performs guarded writes."""

    def __init__(self, device_id: str, regmap: RegisterMap, connection: TcpConnection | RtuConnection,
                 clock: Clock, recorder: WriteRecorder | None = None,
                 calibration: dict[str, float] | None = None) -> None:
        self.device_id = device_id
        self.map = regmap
        self.connection = connection
        self.clock = clock
        self.recorder = recorder
        self.calibration = calibration or {}
        self.health = Health()
        self.blocks = plan_reads(regmap)
        self.last: dict[str, Reading] = {}
        self._last_write_at: dict[str, float] = {}
        self._client: Any = None
        self._roles = role_names(regmap)

    # -- connection ---------------------------------------------------------------------------------
    def _make_client(self) -> Any:
        conn = self.connection
        if isinstance(conn, TcpConnection):
            return AsyncModbusTcpClient(conn.host, port=conn.port, timeout=conn.timeout_s, retries=0,
                                        reconnect_delay=0, name=self.device_id)
        from pymodbus.client import AsyncModbusSerialClient

        serial = self.map.serial
        return AsyncModbusSerialClient(conn.device, baudrate=conn.baudrate or serial.baudrate,
                                       parity=conn.parity or serial.parity, stopbits=conn.stopbits or serial.stopbits,
                                       bytesize=conn.bytesize or serial.bytesize, timeout=conn.timeout_s,
                                       retries=0, reconnect_delay=0, name=self.device_id)

    async def _connected(self) -> Any:
        if self._client is None or not self._client.connected:
            if self._client is not None:
                self._client.close()
                self.health.reconnects += 1
            self._client = self._make_client()
            if not await self._client.connect():
                raise ModbusException(f"{self.device_id}: cannot connect to {self._describe()}")
        return self._client

    def _describe(self) -> str:
        conn = self.connection
        return f"{conn.host}:{conn.port}" if isinstance(conn, TcpConnection) else conn.device

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def unit(self) -> int:
        return self.connection.unit_id

    # -- reading ------------------------------------------------------------------------------------
    async def _read(self, table: Table, start: int, count: int) -> list[int]:
        client = await self._connected()
        call: Callable[..., Any] = {
            Table.COIL: client.read_coils, Table.DISCRETE: client.read_discrete_inputs,
            Table.INPUT: client.read_input_registers, Table.HOLDING: client.read_holding_registers,
        }[table]
        reply = await call(start, count=count, device_id=self.unit)
        if reply.isError():
            raise DeviceException(getattr(reply, "exception_code", 0))
        if table.is_bit:
            return [int(b) for b in reply.bits[:count]]
        if len(reply.registers) != count:
            raise ModbusException(f"asked for {count} registers, got {len(reply.registers)}")
        return list(reply.registers)

    async def poll(self) -> DeviceSnapshot:
        """Read every readable point once. Comms failure gives COMM_ERROR readings, never numbers."""
        ts = self.clock.now()
        self.health.polls += 1
        readings: dict[str, Reading] = {}
        try:
            for block in list(self.blocks):
                readings.update(await self._read_block(block, ts))
        except (ModbusException, OSError) as exc:
            self.health.poll_failures += 1
            self.health.consecutive_failures += 1
            await self.close()
            snapshot = DeviceSnapshot(self.device_id, comms_ok=False, roles=self._roles)
            for point in self.map.points:
                if point.readable:
                    snapshot.readings[point.name] = Reading(None, point.unit, Quality.COMM_ERROR, ts)
            snapshot.error = str(exc) or type(exc).__name__
            return snapshot
        self.health.consecutive_failures = 0
        self.last.update(readings)
        return DeviceSnapshot(self.device_id, readings=readings, comms_ok=True, roles=self._roles)

    async def _read_block(self, block: ReadBlock, ts: Any) -> dict[str, Reading]:
        try:
            words = await self._read(block.table, block.start, block.count)
        except DeviceException as exc:
            self.health.exceptions += 1
            if exc.code != ILLEGAL_DATA_ADDRESS or len(block.points) == 1:
                return {p.name: Reading(None, p.unit, Quality.COMM_ERROR, ts) for p in block.points}
            # The device refuses the batched span (a hole in its map): read point by point from now on.
            self.health.split_blocks += 1
            singles = [ReadBlock(block.table, self.map.wire_address(p)[1], p.count, (p,)) for p in block.points]
            self.blocks[self.blocks.index(block):self.blocks.index(block) + 1] = singles
            out: dict[str, Reading] = {}
            for single in singles:
                out.update(await self._read_block(single, ts))
            return out
        out = {}
        for point in block.points:
            offset = self.map.wire_address(point)[1] - block.start
            out[point.name] = self.decode(point, words[offset:offset + point.count], ts)
        return out

    def decode(self, point: Point, words: list[int], ts: Any) -> Reading:
        """A reading with quality: sentinel, out-of-range and unknown enum states are not numbers."""
        byte_order, word_order = self.map.orders(for_write=False)
        raw, value = codec.decode(point, words, byte_order, word_order)
        if raw in point.sentinels or (isinstance(raw, float) and not math.isfinite(raw)):
            return Reading(None, point.unit, Quality.SENTINEL, ts)
        if point.enum is not None and int(raw) not in point.enum:
            return Reading(None, point.unit, Quality.OUT_OF_RANGE, ts)
        value += self.calibration.get(point.name, 0.0)
        if (point.min is not None and value < point.min) or (point.max is not None and value > point.max):
            return Reading(None, point.unit, Quality.OUT_OF_RANGE, ts)
        return Reading(value, point.unit, Quality.GOOD, ts)

    # -- writing ------------------------------------------------------------------------------------
    def point_for(self, role: str) -> Point | None:
        """The point playing `role` ('flow_setpoint', or 'operating_mode.1' for an indexed one)."""
        name = self._roles.get(role)
        return self.map.by_name.get(name) if name else None

    async def write(self, point: Point, value: float, reason: str, *, check_preconditions: bool = True) -> WriteResult:
        """Write `value` to `point` under every guard; the outcome is recorded whatever it is."""
        refusal = self._refusal(point, value)
        if refusal is None:
            last = self.last.get(point.name)
            if last is not None and last.good and abs(last.value - value) < max(point.deadband, 1e-9):
                return WriteResult("unchanged", f"within deadband {point.deadband:g} of {last.value:g}", last.value)
            since = self.clock.monotonic() - self._last_write_at.get(point.name, -math.inf)
            if point.min_write_interval_s and since < point.min_write_interval_s:
                refusal = (f"too frequent: last write {since:.0f} s ago, "
                           f"minimum interval {point.min_write_interval_s:g} s")
        if refusal is None and check_preconditions:
            for pre in self.map.control_preconditions:
                target = self.map.by_name[pre.point]
                state = self.last.get(target.name)
                if state is None or not state.good or state.value != pre.value:
                    result = await self.write(target, pre.value, f"precondition for {point.name}",
                                              check_preconditions=False)
                    if result.outcome not in ("verified", "unchanged"):
                        refusal = f"precondition {pre.point}={pre.value:g} not met: {result.reason}"
                        break
        if refusal is not None:
            self.health.refusals += 1
            self._record(point, "refused", f"{refusal}; requested by: {reason}", value)
            return WriteResult("refused", refusal, value)
        return await self._write_and_verify(point, value, reason)

    def _refusal(self, point: Point, value: float) -> str | None:
        if not point.writable:
            return f"{point.name} is not writable ({point.access})"
        if not math.isfinite(value):
            return f"{value} is not a number"
        if point.enum is not None and (value != int(value) or int(value) not in point.enum):
            return f"{value:g} is not one of the states {sorted(point.enum)}"
        if point.min is not None and value < point.min:
            return f"{value:g} is below the minimum {point.min:g}"
        if point.max is not None and value > point.max:
            return f"{value:g} is above the maximum {point.max:g}"
        return None

    async def _write_and_verify(self, point: Point, value: float, reason: str) -> WriteResult:
        table, address = self.map.wire_address(point, for_write=True)
        byte_order, word_order = self.map.orders(for_write=True)
        previous = self.last.get(point.name)
        try:
            words = codec.encode(point, value, byte_order, word_order)
            client = await self._connected()
            if table is Table.COIL:
                reply = await client.write_coil(address, bool(words[0]), device_id=self.unit)
            elif len(words) == 1:
                reply = await client.write_register(address, words[0], device_id=self.unit)
            else:
                reply = await client.write_registers(address, words, device_id=self.unit)
            if reply.isError():
                raise DeviceException(getattr(reply, "exception_code", 0))
            self._last_write_at[point.name] = self.clock.monotonic()
            self.health.writes += 1
            back = await self._read(table, address, point.count)
        except (codec.EncodeError, ModbusException, OSError) as exc:
            reason_text = f"{type(exc).__name__}: {exc}"
            self._record(point, "failed", f"{reason_text}; requested by: {reason}", value, previous)
            return WriteResult("failed", reason_text, value)
        readback = self.decode(point, back, self.clock.now())
        self.last[point.name] = readback
        resolution = abs(point.scale) / 2 + 1e-9 if point.data_type != "float32" else 1e-4 * max(1, abs(value))
        if not readback.good or abs(readback.value - value) > resolution:
            got = readback.value if readback.good else readback.quality.value
            self._record(point, "failed", f"read-back {got} differs from {value:g}; requested by: {reason}",
                         value, previous, words)
            return WriteResult("failed", f"read-back {got} differs", value)
        self._record(point, "verified", reason, value, previous, words)
        return WriteResult("verified", reason, value)

    def _record(self, point: Point, outcome: str, reason: str, value: float, previous: Reading | None = None,
                words: list[int] | None = None) -> None:
        if self.recorder is None:
            return
        table, address = self.map.wire_address(point, for_write=True)
        self.recorder(self.clock.now(), self.device_id, point.name, outcome, reason, value=value,
                      previous_value=previous.value if previous is not None and previous.good else None,
                      register_type=table.value, address=address, raw={"words": words} if words else None)


class DeviceException(ModbusException):
    """The device answered with a Modbus exception code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exception code {code}")
        self.code = code

