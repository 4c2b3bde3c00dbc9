"""The Modbus driver: one polling coordinator per device that batches reads and guards every write.

Reads are planned once per map (contiguous registers batched, gap-aware, at most the map's block size, slow
points in their own blocks) and decoded into readings with quality; a bad reading never becomes a number.
Each block's reply is unpacked in one go (its layout is worked out with the plan) and each point's checks
(sentinels, enum states, scaling, calibration, range) are worked out once per device.
A block the device refuses with "illegal data address" is split in halves until the refused registers are
isolated, and the split is remembered. Writes go only to points the map marks writable, only inside their
limits (refused, never clamped), only beyond the deadband, never more often than the map allows, after the
map's control preconditions, and are verified by reading back. Every write and every refusal is recorded.

Stale quality: a point with a ``poll_interval_s`` (a slow value such as an energy counter) is read only that
often; between reads, and when the device refuses to give it (an exception reply), its last reading is served
as it was (with its original timestamp) while younger than the point's allowed age, and as STALE (no number)
once older. A counter that simply has not changed is fresh: only a reading that was not refreshed is stale.
A point without a poll interval is read every poll, so it is either fresh or a comms error.

Comms: a failed poll backs off exponentially (1 s doubling to 60 s) before the device is tried again; after
``comms_lost_after`` consecutive failures the device is marked comms-lost and an event recorded, and a
``comms_restored`` event when it answers again. Meanwhile the device's own watchdog lapses (no heartbeat), so
the unit returns to its own control. ``release()`` gives control preconditions back on a clean shutdown.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from app.clock import Clock
from app.config import RtuConnection, TcpConnection
from app.devices import codec
from app.devices.registermap import Derived, Point, RegisterMap, SerialDefaults, Table
from app.snapshot import DeviceSnapshot, Quality, Reading

ILLEGAL_DATA_ADDRESS = 2
MAX_BITS_PER_READ = 2000
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
COMM_ERRORS = (ModbusException, OSError, asyncio.TimeoutError)
READ_METHODS = {Table.COIL: "read_coils", Table.DISCRETE: "read_discrete_inputs",
                Table.INPUT: "read_input_registers", Table.HOLDING: "read_holding_registers"}


class WriteRecorder(Protocol):
    """Where write outcomes go (the historian's ``record_write``)."""

    def __call__(self, ts: Any, device: str, point: str, outcome: str, reason: str, **kw: Any) -> None: ...


class EventRecorder(Protocol):
    """Where comms events go (the historian's ``record_event``)."""

    def __call__(self, ts: Any, kind: str, source: str, reason: str, **kw: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: a register table, a start address, the points it covers, how often it is read, and
    where each point's raw number sits in the reply."""

    table: Table
    start: int
    count: int
    points: tuple[Point, ...]
    layout: codec.BlockLayout
    interval_s: float | None = None

    @classmethod
    def of(cls, regmap: RegisterMap, table: Table, start: int, count: int, points: tuple[Point, ...],
           interval_s: float | None) -> ReadBlock:
        entries = [(regmap.wire_address(p)[1] - start, p.data_type) for p in points]
        return cls(table, start, count, points, codec.BlockLayout(entries, count, *regmap.orders(for_write=False)),
                   interval_s)

    @property
    def span(self) -> tuple[Table, int, int]:
        return (self.table, self.start, self.count)


@dataclass(slots=True)
class WriteResult:
    """How a requested write ended: verified, written (write-only point), unchanged, refused or failed."""

    outcome: str
    reason: str
    value: float | None = None


@dataclass(slots=True)
class Health:
    """Per-device counters a commissioning engineer looks at first."""

    polls: int = 0
    poll_failures: int = 0
    consecutive_failures: int = 0
    skipped_polls: int = 0
    exceptions: int = 0
    writes: int = 0
    refusals: int = 0
    write_failures: int = 0
    reconnects: int = 0
    split_blocks: int = 0
    heartbeats: int = 0
    heartbeat_failures: int = 0
    comms_lost: bool = False
    last_error: str | None = None
    last_ok: datetime | None = None


def write_refusal(point: Point, value: float, low: float | None, high: float | None) -> str | None:
    """Why `value` may not be written to `point` (not writable, not a number, not a state, outside low..high)."""
    if not point.writable:
        return f"{point.name} is not writable ({point.access})"
    if not math.isfinite(value):
        return f"{value} is not a number"
    if point.enum is not None and (value != int(value) or int(value) not in point.enum):
        return f"{value:g} is not one of the states {sorted(point.enum)}"
    if point.data_type == "bit" and value not in (0, 1):
        return f"{value:g} is not 0 or 1"
    if low is not None and value < low:
        return f"{value:g} is below the minimum {low:g}"
    if high is not None and value > high:
        return f"{value:g} is above the maximum {high:g}"
    return None


class PointDecoder:
    """One point's reading from its raw register number, the map's checks worked out once: sentinels,
    enum states, scaling, the site's calibration offset and the plausible range. A bad reading never
    becomes a number."""

    __slots__ = ("calibration", "high", "low", "scaling", "sentinels", "states", "unit")

    def __init__(self, point: Point, calibration: float = 0.0) -> None:
        self.unit = point.unit
        self.sentinels = frozenset(point.sentinels)
        self.states = frozenset(point.enum) if point.enum is not None else None
        self.scaling = codec.Scaling(point)
        self.calibration = calibration
        self.low, self.high = point.min, point.max

    def reading(self, raw: float, ts: datetime) -> Reading:
        """Sentinel, non-finite float, unknown enum state or out-of-range value: a reading without a number."""
        if raw in self.sentinels or (isinstance(raw, float) and not math.isfinite(raw)):
            return Reading(None, self.unit, Quality.SENTINEL, ts)
        if self.states is not None and int(raw) not in self.states:
            return Reading(None, self.unit, Quality.OUT_OF_RANGE, ts)
        value = self.scaling.value(raw) + self.calibration
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            return Reading(None, self.unit, Quality.OUT_OF_RANGE, ts)
        return Reading(value, self.unit, Quality.GOOD, ts)


def role_names(regmap: RegisterMap) -> dict[str, str]:
    """Role key -> point name: ``flow_temp`` for a single or index-0 point, ``dhw_temp.1`` for index 1."""
    return {p.role.value if not p.index else f"{p.role.value}.{p.index}": p.name
            for p in [*regmap.points, *regmap.derived] if p.role.value != "other"}


def plan_reads(regmap: RegisterMap) -> list[ReadBlock]:
    """Batch the map's readable points into as few reads as its block size and gap limit allow."""
    blocks: list[ReadBlock] = []
    groups: dict[tuple[Table, float | None], list[tuple[int, Point]]] = {}
    for point in regmap.points:
        if point.readable:
            table, addr = regmap.wire_address(point)
            groups.setdefault((table, point.poll_interval_s), []).append((addr, point))
    for (table, interval), entries in groups.items():
        entries.sort(key=lambda e: e[0])
        limit = MAX_BITS_PER_READ if table.is_bit else regmap.max_read_registers
        start, end, members = entries[0][0], entries[0][0] + entries[0][1].count, [entries[0][1]]
        for addr, point in entries[1:]:
            new_end = max(end, addr + point.count)
            if addr - end <= regmap.max_read_gap and new_end - start <= limit:
                end = new_end
                members.append(point)
            else:
                blocks.append(ReadBlock.of(regmap, table, start, end - start, tuple(members), interval))
                start, end, members = addr, addr + point.count, [point]
        blocks.append(ReadBlock.of(regmap, table, start, end - start, tuple(members), interval))
    return blocks


def split_block(regmap: RegisterMap, block: ReadBlock) -> list[ReadBlock]:
    """The two halves of a refused block (by points), each spanning only its own points."""
    half = len(block.points) // 2
    out = []
    for members in (block.points[:half], block.points[half:]):
        first = regmap.wire_address(members[0])[1]
        last = max(regmap.wire_address(p)[1] + p.count for p in members)
        out.append(ReadBlock.of(regmap, block.table, first, last - first, members, block.interval_s))
    return out


class Link:
    """One Modbus connection (a TCP endpoint or a serial port), shared by every unit id behind it."""

    def __init__(self, connection: TcpConnection | RtuConnection, serial: SerialDefaults, name: str) -> None:
        self.connection = connection
        self.serial = serial
        self.name = name
        self.reconnects = 0
        self._client: Any = None

    @staticmethod
    def key(connection: TcpConnection | RtuConnection) -> tuple[str, ...]:
        if isinstance(connection, TcpConnection):
            return ("tcp", connection.host, str(connection.port))
        return ("rtu", connection.device)

    @property
    def is_serial(self) -> bool:
        return isinstance(self.connection, RtuConnection)

    def describe(self) -> str:
        conn = self.connection
        return f"{conn.host}:{conn.port}" if isinstance(conn, TcpConnection) else conn.device

    def _make_client(self) -> Any:
        conn, serial = self.connection, self.serial
        if isinstance(conn, TcpConnection):
            return AsyncModbusTcpClient(conn.host, port=conn.port, timeout=conn.timeout_s, retries=0,
                                        reconnect_delay=0, name=self.name)
        return AsyncModbusSerialClient(conn.device, baudrate=conn.baudrate or serial.baudrate,
                                       parity=conn.parity or serial.parity, stopbits=conn.stopbits or serial.stopbits,
                                       bytesize=conn.bytesize or serial.bytesize, timeout=conn.timeout_s,
                                       retries=0, reconnect_delay=0, name=self.name)

    async def client(self) -> Any:
        """The connected client, connecting (again) when needed."""
        if self._client is None or not self._client.connected:
            if self._client is not None:
                self._client.close()
                self.reconnects += 1
            self._client = self._make_client()
            if not await self._client.connect():
                self._client.close()
                self._client = None
                raise ConnectionException(f"cannot connect to {self.describe()}")
        return self._client

    def drop(self) -> None:
        """Close the connection so the next request starts a fresh one."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        self.drop()


class ModbusDevice:
    """A device reached over Modbus: polls its map into readings and performs guarded writes."""

    def __init__(self, device_id: str, regmap: RegisterMap, connection: TcpConnection | RtuConnection,
                 clock: Clock, recorder: WriteRecorder | None = None,
                 calibration: dict[str, float] | None = None, *, events: EventRecorder | None = None,
                 link: Link | None = None, comms_lost_after: int = 3) -> None:
        self.device_id = device_id
        self.map = regmap
        self.connection = connection
        self.clock = clock
        self.recorder = recorder
        self.events = events
        self.calibration = calibration or {}
        self.comms_lost_after = comms_lost_after
        self.link = link or Link(connection, regmap.serial, device_id)
        self.health = Health()
        self.blocks = plan_reads(regmap)
        self.last: dict[str, Reading] = {}
        self._due: dict[tuple[Table, int, int], float] = {}  # slow block -> when it is next read
        self._last_write_at: dict[str, float] = {}
        self._found: dict[str, float] = {}  # precondition values found before this supervisor changed them
        self._retry_at = -math.inf
        self._next_request = 0.0
        self._heartbeat_at = -math.inf
        self._heartbeat_value: int | None = None
        self._released = False
        self._roles = role_names(regmap)
        self._orders_read = regmap.orders(for_write=False)
        self._decoders = {p.name: PointDecoder(p, self.calibration.get(p.name, 0.0)) for p in regmap.points}

    @property
    def unit(self) -> int:
        return self.connection.unit_id

    async def close(self) -> None:
        await self.link.close()

    # -- requests -----------------------------------------------------------------------------------
    async def _request(self, method: str, *args: Any, **kw: Any) -> Any:
        """One request on the link, paced as the map asks; a Modbus exception reply raises DeviceException."""
        loop = asyncio.get_running_loop()
        if self.map.min_request_interval_s:
            wait = self._next_request - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        client = await self.link.client()
        try:
            reply = await getattr(client, method)(*args, device_id=self.unit, **kw)
        finally:
            self._next_request = loop.time() + self.map.min_request_interval_s
        if reply.isError():
            raise DeviceException(getattr(reply, "exception_code", 0))
        return reply

    async def _read(self, table: Table, start: int, count: int) -> list[int]:
        reply = await self._request(READ_METHODS[table], start, count=count)
        if table.is_bit:
            return [int(b) for b in reply.bits[:count]]
        if len(reply.registers) != count:
            raise ModbusException(f"asked for {count} registers, got {len(reply.registers)}")
        return reply.registers  # type: ignore[no-any-return]

    # -- reading ------------------------------------------------------------------------------------
    async def poll(self) -> DeviceSnapshot:
        """Read every due point. Comms failure gives COMM_ERROR readings, never numbers."""
        ts = self.clock.now()
        now = self.clock.monotonic()
        self.health.polls += 1
        if now < self._retry_at:
            self.health.skipped_polls += 1
            return self._comms_error_snapshot(ts, f"retrying in {self._retry_at - now:.0f} s after "
                                                  f"{self.health.last_error}")
        readings: dict[str, Reading] = {}
        try:
            for block in list(self.blocks):
                if block.interval_s is not None and now < self._due.get(block.span, -math.inf):
                    readings.update(self._cached(block.points, ts))
                    continue
                fresh = await self._read_block(block, ts)
                if block.interval_s is not None:
                    refused = [p for p in block.points if fresh[p.name].quality is Quality.COMM_ERROR]
                    if refused:  # a slow value the device would not give now: the last one while young enough
                        fresh.update(self._cached(refused, ts))
                    else:
                        self._due[block.span] = now + block.interval_s
                self.last.update({name: r for name, r in fresh.items() if r.quality is not Quality.STALE})
                readings.update(fresh)
        except COMM_ERRORS as exc:
            return self._failed(exc, ts, now)
        self._answered(ts)
        for derived in self.map.derived:
            readings[derived.name] = self._derive(derived, readings, ts)
        if self.map.heartbeat is not None and not self._released and now >= self._heartbeat_at:
            await self._beat(now)
        return DeviceSnapshot(self.device_id, readings=readings, comms_ok=True, roles=self._roles)

    def _cached(self, points: Iterable[Point], ts: datetime) -> dict[str, Reading]:
        out = {}
        for point in points:
            reading = self.last.get(point.name)
            allowed = point.allowed_age_s
            if reading is None or (allowed is not None and (ts - reading.ts).total_seconds() > allowed):
                out[point.name] = Reading(None, point.unit, Quality.STALE, ts)
            else:
                out[point.name] = reading
        return out

    def _comms_error_snapshot(self, ts: datetime, error: str) -> DeviceSnapshot:
        snapshot = DeviceSnapshot(self.device_id, comms_ok=False, roles=self._roles, error=error)
        for point in [*self.map.points, *self.map.derived]:
            if not isinstance(point, Point) or point.readable:
                snapshot.readings[point.name] = Reading(None, point.unit, Quality.COMM_ERROR, ts)
        return snapshot

    def _failed(self, exc: BaseException, ts: datetime, now: float) -> DeviceSnapshot:
        health = self.health
        health.poll_failures += 1
        health.consecutive_failures += 1
        health.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not self.link.is_serial or isinstance(exc, ConnectionException):
            self.link.drop()  # a late reply must not be taken for the next request's
        self._retry_at = now + min(BACKOFF_FIRST_S * 2 ** (health.consecutive_failures - 1), BACKOFF_MAX_S)
        if not health.comms_lost and health.consecutive_failures >= self.comms_lost_after:
            health.comms_lost = True
            self._event(ts, "comms_lost", f"no answer from {self.link.describe()} unit {self.unit} "
                        f"({health.consecutive_failures} polls): {health.last_error}", "ok", "lost")
        return self._comms_error_snapshot(ts, health.last_error)

    def _answered(self, ts: datetime) -> None:
        health = self.health
        if health.comms_lost:
            self._event(ts, "comms_restored", f"answering again after {health.consecutive_failures} failed polls",
                        "lost", "ok")
        health.comms_lost = False
        health.consecutive_failures = 0
        health.last_ok = ts
        self._retry_at = -math.inf

    def _event(self, ts: datetime, kind: str, reason: str, from_state: str, to_state: str) -> None:
        if self.events is not None:
            self.events(ts, kind, self.device_id, reason, from_state=from_state, to_state=to_state,
                        data={"unit": self.unit, "link": self.link.describe()})

    async def _read_block(self, block: ReadBlock, ts: datetime) -> dict[str, Reading]:
        try:
            words = await self._read(block.table, block.start, block.count)
        except DeviceException as exc:
            self.health.exceptions += 1
            if exc.code != ILLEGAL_DATA_ADDRESS or len(block.points) == 1:
                return {p.name: Reading(None, p.unit, Quality.COMM_ERROR, ts) for p in block.points}
            # The device refuses the batched span (a hole in its map): read the halves from now on.
            self.health.split_blocks += 1
            halves = split_block(self.map, block)
            at = self.blocks.index(block)
            self.blocks[at:at + 1] = halves
            out: dict[str, Reading] = {}
            for half in halves:
                out.update(await self._read_block(half, ts))
            return out
        return self.decode_block(block, words, ts)

    def decode_block(self, block: ReadBlock, words: list[int], ts: datetime) -> dict[str, Reading]:
        """Readings of every point of `block` from the words (or bits) of its reply, all unpacked at once."""
        decoders = self._decoders
        return {point.name: decoders[point.name].reading(raw, ts)
                for point, raw in zip(block.points, block.layout.raws(words), strict=True)}

    def decode(self, point: Point, words: list[int], ts: datetime) -> Reading:
        """A reading with quality: sentinel, out-of-range and unknown enum states are not numbers."""
        return self._decoders[point.name].reading(codec.words_to_raw(words, point.data_type, *self._orders_read), ts)

    @staticmethod
    def _derive(derived: Derived, readings: dict[str, Reading], ts: datetime) -> Reading:
        total = 0.0
        for part in derived.parts:
            reading = readings.get(part.point)
            if reading is None or not reading.good:
                return Reading(None, derived.unit, reading.quality if reading else Quality.STALE, ts)
            total += reading.value * part.factor
        if (derived.min is not None and total < derived.min) or (derived.max is not None and total > derived.max):
            return Reading(None, derived.unit, Quality.OUT_OF_RANGE, ts)
        return Reading(total, derived.unit, Quality.GOOD, ts)

    # -- heartbeat and release ----------------------------------------------------------------------
    async def _beat(self, now: float) -> None:
        """Write the watchdog register; only failures and resumptions are recorded, not every beat."""
        heartbeat = self.map.heartbeat
        assert heartbeat is not None
        point = self.map.by_name[heartbeat.point]
        if self._heartbeat_value is None:
            seen = self.last.get(point.name)
            self._heartbeat_value = int(seen.value) if seen is not None and seen.good else 0
        value = (self._heartbeat_value + 1) % 65536 if heartbeat.mode == "counter" else 1 - self._heartbeat_value
        table, address = self.map.wire_address(point, for_write=True)
        try:
            await self._send(point, table, address, codec.encode(point, value, *self.map.orders(for_write=True)))
        except COMM_ERRORS as exc:
            self.health.heartbeat_failures += 1
            self._record(point, "failed", f"heartbeat: {type(exc).__name__}: {exc}", value)
            self._heartbeat_at = now + heartbeat.period_s / 4
            return
        if self.health.heartbeats == 0 or self.health.heartbeat_failures:
            self._record(point, "written", "heartbeat started" if self.health.heartbeats == 0 else "heartbeat resumed",
                         value)
            self.health.heartbeat_failures = 0
        self.health.heartbeats += 1
        self._heartbeat_value = value
        self._heartbeat_at = now + heartbeat.period_s

    async def release(self, reason: str = "supervisor stopping") -> list[WriteResult]:
        """Hand the unit back to its own control: stop the heartbeat, give each control precondition back
        the value found before this supervisor changed it (or the map's release value)."""
        self._released = True
        results = []
        for pre in reversed(self.map.control_preconditions):
            found = self._found.get(pre.point)
            value = found if found is not None and found != pre.value else pre.release_value
            state = self.last.get(pre.point)
            if value is None or (found is None and not (state is not None and state.good and state.value == pre.value)):
                continue  # this supervisor never took the unit over, and nobody left it in external control
            point = self.map.by_name[pre.point]
            refusal = self._refusal(point, value)
            if refusal is not None:
                self._record(point, "refused", f"{refusal}; requested by: release", value)
                results.append(WriteResult("refused", refusal, value))
                continue
            results.append(await self._write_and_verify(point, value, f"release: {reason}"))
        return results

    # -- writing ------------------------------------------------------------------------------------
    def point_for(self, role: str) -> Point | None:
        """The point playing `role` ('flow_setpoint', or 'operating_mode.1' for an indexed one).

        A bare role whose first point is read-only (an operating mode reported on an input register) means
        the writable point with that role, when the map has one.
        """
        name = self._roles.get(role)
        point = self.map.by_name.get(name) if name else None
        if point is not None and not point.writable and "." not in role:
            return next((p for p in self.map.points if p.role.value == role and p.writable), point)
        return point

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
            refusal = await self._meet_preconditions(point)
        if refusal is not None:
            self.health.refusals += 1
            self._record(point, "refused", f"{refusal}; requested by: {reason}", value)
            return WriteResult("refused", refusal, value)
        return await self._write_and_verify(point, value, reason)

    async def _meet_preconditions(self, point: Point) -> str | None:
        for pre in self.map.preconditions_for(point):
            target = self.map.by_name[pre.point]
            state = self.last.get(target.name)
            if state is not None and state.good and state.value == pre.value:
                continue
            if state is not None and state.good and target.name not in self._found:
                self._found[target.name] = state.value
            result = await self.write(target, pre.value, f"precondition for {point.name}", check_preconditions=False)
            if result.outcome not in ("verified", "unchanged", "written"):
                return f"precondition {pre.point}={pre.value:g} not met: {result.reason}"
        return None

    def _refusal(self, point: Point, value: float) -> str | None:
        low, high = self._live_limit(point.min, point.min_from, max), self._live_limit(point.max, point.max_from, min)
        return write_refusal(point, value, low, high)

    def _live_limit(self, static: float | None, source: str | None, pick: Callable[[float, float], float]
                    ) -> float | None:
        """The static limit, narrowed by the present reading of a limit point where the map names one."""
        reading = self.last.get(source) if source else None
        if reading is None or not reading.good:
            return static
        return reading.value if static is None else pick(static, reading.value)

    async def _send(self, point: Point, table: Table, address: int, words: list[int]) -> None:
        code, _ = self.map.write_codes(point)
        if code == 5:
            await self._request("write_coil", address, bool(words[0]))
        elif code == 15:
            await self._request("write_coils", address, [bool(w) for w in words])
        elif code == 6:
            await self._request("write_register", address, words[0])
        else:
            await self._request("write_registers", address, words)

    async def _write_and_verify(self, point: Point, value: float, reason: str) -> WriteResult:
        table, address = self.map.wire_address(point, for_write=True)
        previous = self.last.get(point.name)
        try:
            words = codec.encode(point, value, *self.map.orders(for_write=True))
            await self._send(point, table, address, words)
            self._last_write_at[point.name] = self.clock.monotonic()
            self.health.writes += 1
            if not point.readable:
                self._record(point, "written", f"{reason} (write-only point, not read back)", value, previous, words)
                return WriteResult("written", reason, value)
            back = await self._read(table, address, point.count)
        except (codec.EncodeError, *COMM_ERRORS) as exc:
            self.health.write_failures += 1
            reason_text = f"{type(exc).__name__}: {exc}"
            self._record(point, "failed", f"{reason_text}; requested by: {reason}", value, previous)
            return WriteResult("failed", reason_text, value)
        readback = self.decode(point, back, self.clock.now())  # a read, so in the device's read order
        self.last[point.name] = readback
        resolution = abs(point.scale) / 2 + 1e-9 if point.data_type != "float32" else 1e-4 * max(1, abs(value))
        if not readback.good or abs(readback.value - value) > resolution:
            got = readback.value if readback.good else readback.quality.value
            self.health.write_failures += 1
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
