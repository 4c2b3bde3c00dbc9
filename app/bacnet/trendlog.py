"""Trend Log objects and the ReadRange service (ASHRAE 135 Clauses 12.25 and 15.8) bacpypes3 lacks.

A trend log records its point's present value and status flags once per control cycle, stamped with the
cycle's time in the site's local time. Its Log_Buffer is read with ReadRange by position, by sequence
number or by time; ReadProperty of it is refused (read-access-denied), as the standard requires.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bacpypes3.basetypes import (
    DateTime,
    DeviceObjectPropertyReference,
    LogRecord,
    LogRecordLogDatum,
    StatusFlags,
)
from bacpypes3.local.object import Object as LocalObject
from bacpypes3.object import TrendLogObject
from bacpypes3.primitivedata import Date, Time

from app.bacnet import wire
from app.bacnet.points import Point

LOG_BUFFER = 131  # PropertyIdentifier logBuffer
SEQUENCE_LIMIT = 2**32  # sequence numbers run 1 .. 2^32 - 1 and wrap


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    ts: datetime  # local wall time, naive (how BACnet devices stamp logs)
    data: bytes  # the encoded BACnetLogRecord


@dataclass(frozen=True, slots=True)
class Selection:
    """What a ReadRange returns: the records, the result flags, whether to give the first sequence number."""

    records: list[Record]
    first_item: bool
    last_item: bool
    more_items: bool


def bacnet_datetime(local: datetime) -> DateTime:
    return DateTime(date=Date((local.year - 1900, local.month, local.day, local.isoweekday())),
                    time=Time((local.hour, local.minute, local.second, local.microsecond // 10000)))


class TrendLog(LocalObject, TrendLogObject):
    """A polled trend log of one point's present value, logged every control cycle."""

    _records: deque[Record]

    @classmethod
    def for_point(cls, point: Point, device_instance: int, buffer_size: int, interval_s: float) -> TrendLog:
        log = cls(objectIdentifier=("trendLog", point.instance), objectName=f"{point.key}.trend",
                  description=f"{point.description}, logged every control cycle", enable=True,
                  stopWhenFull=False, bufferSize=buffer_size, recordCount=0, totalRecordCount=0,
                  loggingType="polled", logInterval=round(interval_s * 100), eventState="normal",
                  reliability="noFaultDetected", logDeviceObjectProperty=DeviceObjectPropertyReference(
                      objectIdentifier=(point.kind.value, point.instance), propertyIdentifier="presentValue",
                      deviceIdentifier=("device", device_instance)))
        log._records = deque(maxlen=buffer_size)
        return log

    def log(self, local: datetime, value: Any, flags: StatusFlags) -> None:
        """Append one record (a real value with the point's status flags)."""
        if not self.enable:
            return
        local = local.replace(microsecond=local.microsecond // 10000 * 10000)  # what the record carries
        total = int(self.totalRecordCount) % (SEQUENCE_LIMIT - 1) + 1
        record = LogRecord(timestamp=bacnet_datetime(local), logDatum=LogRecordLogDatum(realValue=float(value)),
                           statusFlags=flags)
        self._records.append(Record(total, local.replace(tzinfo=None), bytes(record.encode().encode().pduData)))
        self.totalRecordCount = total
        self.recordCount = len(self._records)

    def select(self, kind: str | None, reference: Any, count: int, budget: int) -> Selection:
        """Records matching a ReadRange request, at most `budget` octets of them.

        kind: None (all), "position" (1-based index), "sequence" or "time" (a naive local datetime).
        A positive count reads forward from the reference, a negative one backward.
        """
        records = list(self._records)
        n = len(records)
        if kind is None:
            chosen, forward = records, True
        elif kind == "position":
            forward = count > 0
            if not 1 <= reference <= n:
                chosen = []
            elif forward:
                chosen = records[reference - 1:reference - 1 + count]
            else:
                chosen = records[max(0, reference + count):reference]
        else:
            keys = [r.seq for r in records] if kind == "sequence" else [r.ts for r in records]
            forward = count > 0
            if kind == "sequence":
                start = bisect_left(keys, reference) if forward else bisect_right(keys, reference)
            else:  # by time: strictly newer (forward) or strictly older (backward) than the reference
                start = bisect_right(keys, reference) if forward else bisect_left(keys, reference)
            chosen = records[start:start + count] if forward else records[max(0, start + count):start]
        kept = _fit(chosen, budget, forward)
        return Selection(kept, bool(kept) and kept[0] is records[0], bool(kept) and kept[-1] is records[-1],
                         len(kept) < len(chosen))


def _fit(records: list[Record], budget: int, forward: bool) -> list[Record]:
    """The records nearest the reference whose encodings fit in `budget` octets."""
    size, kept = 0, []
    for record in records if forward else reversed(records):
        size += len(record.data)
        if size > budget:
            break
        kept.append(record)
    return kept if forward else kept[::-1]


def read_range_ack(object_type: int, instance: int, selection: Selection, with_sequence: bool) -> bytes:
    """The service data of a ReadRange-ACK of a Log_Buffer."""
    items = b"".join(r.data for r in selection.records)
    out = (wire.context_object_id(0, object_type, instance) + wire.context_unsigned(1, LOG_BUFFER)
           + wire.context_bits(3, [int(selection.first_item), int(selection.last_item), int(selection.more_items)])
           + wire.context_unsigned(4, len(selection.records)) + wire.enclosed(5, items))
    if with_sequence and selection.records:
        out += wire.context_unsigned(6, selection.records[0].seq)
    return out
