"""The device's BACnet services on top of bacpypes3's Application.

BAC0 builds a bacpypes3 ``Application``; the device switches it to this subclass, which adds:

- ReadProperty / ReadPropertyMultiple answered from each object's cached encodings (the stock handlers
  spend most of a request re-reading and re-encoding the same values);
- WriteProperty validated before it acts: unknown object or property, wrong datatype
  (invalid-data-type), read-only or safety-protected (write-access-denied), out of range
  (value-out-of-range); what is accepted is handed to the device's write handler;
- ReadRange of a Trend Log's Log_Buffer (bacpypes3's server answers it with an error);
- AcknowledgeAlarm for intrinsically reported objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bacpypes3.apdu import (
    AcknowledgeAlarmRequest,
    ComplexAckPDU,
    ReadPropertyMultipleRequest,
    ReadPropertyRequest,
    ReadRangeRequest,
    SimpleAckPDU,
    WritePropertyRequest,
)
from bacpypes3.app import Application
from bacpypes3.appservice import ApplicationServiceAccessPoint
from bacpypes3.basetypes import EventState, EventTransitionBits, PropertyIdentifier
from bacpypes3.constructeddata import Array
from bacpypes3.errors import ExecutionError, InvalidTag
from bacpypes3.primitivedata import Unsigned
from bacpypes3.service.object import read_property_to_result_element

from app.bacnet import wire
from app.bacnet.objects import Served
from app.bacnet.trendlog import LOG_BUFFER, TrendLog, read_range_ack

SELECTORS = {int(PropertyIdentifier(name)) for name in ("all", "required", "optional")}
DEVICE_TYPE, WILDCARD_INSTANCE = 8, 4194303
RPM_SERVICE = 14  # ConfirmedServiceChoice readPropertyMultiple
RpmSpec = tuple[tuple[int, int], list[tuple[int, int | None]]]  # (type, instance), [(property, index)]
_MAX_APDU = (50, 128, 206, 480, 1024, 1476, 1476, 1476, 1476, 1476, 1476, 1476, 1476, 1476, 1476, 1476)
_ACK_OVERHEAD = 40  # APDU header and the ReadRange-ACK fields around the items
_TRANSITION = {EventState.offnormal: 0, EventState.fault: 1, EventState.normal: 2}


class WriteHandler(Protocol):
    """What the services hand accepted writes and acknowledgements to (the device)."""

    def writable(self, obj: Any, attr: str) -> bool: ...

    async def write(self, obj: Any, attr: str, value: Any, index: int | None, priority: int | None,
                    source: str) -> None: ...

    def acknowledged(self, obj: Any, state: EventState, source: str, who: str) -> None: ...


def _error(error_class: str, code: str) -> ExecutionError:
    return ExecutionError(errorClass=error_class, errorCode=code)


class DeviceApplication(Application):
    """bacpypes3's Application with the services of the module docstring."""

    writes: WriteHandler

    def _object(self, object_id: Any) -> Any:
        return self._numbered(int(object_id[0]), object_id[1])

    # -- reading ---------------------------------------------------------------------------------------
    async def do_ReadPropertyRequest(self, apdu: ReadPropertyRequest) -> None:
        obj = self._object(apdu.objectIdentifier)
        pid = int(apdu.propertyIdentifier)
        if isinstance(obj, TrendLog) and pid == LOG_BUFFER:
            raise _error("property", "readAccessDenied")
        data = obj.encoded(pid) if isinstance(obj, Served) and apdu.propertyArrayIndex is None else None
        if data is None:
            await super().do_ReadPropertyRequest(apdu)
            return
        oid = obj.objectIdentifier
        await self._ack(apdu, wire.context_object_id(0, int(oid[0]), oid[1]) + wire.context_unsigned(1, pid)
                        + wire.enclosed(3, data))

    async def do_ReadPropertyMultipleRequest(self, apdu: ReadPropertyMultipleRequest) -> None:
        specs = [((int(spec.objectIdentifier[0]), spec.objectIdentifier[1]),
                  [(int(ref.propertyIdentifier), ref.propertyArrayIndex) for ref in spec.listOfPropertyReferences])
                 for spec in apdu.listOfReadAccessSpecs]
        data = await self.rpm_data(specs)
        if data is None:  # all / required / optional, or no such object at all: bacpypes3's own handling
            await super().do_ReadPropertyMultipleRequest(apdu)
            return
        await self._ack(apdu, data)

    def _numbered(self, object_type: int, instance: int) -> Any:
        """An object by (type number, instance), the device by its wildcard instance too."""
        index: dict[tuple[int, int], Any] | None = self.__dict__.get("_index")
        if index is None or len(index) != len(self.objectIdentifier):
            index = {(int(oid[0]), oid[1]): obj for oid, obj in self.objectIdentifier.items()}
            self.__dict__["_index"] = index
        if (object_type, instance) == (DEVICE_TYPE, WILDCARD_INSTANCE) and self.device_object is not None:
            return self.device_object
        return index.get((object_type, instance))

    async def rpm_data(self, specs: list[RpmSpec]) -> bytes | None:
        """The service data of a ReadPropertyMultiple-ACK, or None to leave the request to bacpypes3."""
        if any(pid in SELECTORS for _, refs in specs for pid, _ in refs):
            return None
        objects = [self._numbered(*oid) for oid, _ in specs]
        if not any(objects):
            return None
        out = bytearray()
        for (oid, refs), obj in zip(specs, objects, strict=True):
            if obj is not None:
                oid = (int(obj.objectIdentifier[0]), obj.objectIdentifier[1])
            out += wire.context_object_id(0, *oid) + wire.opening(1)
            for pid, index in refs:
                out += await self._element(obj, pid, index)
            out += wire.closing(1)
        return bytes(out)

    async def _element(self, obj: Any, pid: int, index: int | None) -> bytes:
        """One ReadAccessResult element: property, optional index, value or error."""
        data = obj.encoded(pid) if isinstance(obj, Served) and index is None else None
        if data is not None:
            return wire.context_unsigned(2, pid) + wire.enclosed(4, data)
        if isinstance(obj, TrendLog) and pid == LOG_BUFFER:
            return wire.context_unsigned(2, pid) + wire.enclosed(5, bytes([0x91, 2, 0x91, 27]))  # read-access-denied
        element = await read_property_to_result_element(obj, PropertyIdentifier(pid), index)
        return bytes(element.encode().encode().pduData)

    async def _ack(self, apdu: Any, data: bytes) -> None:
        ack = ComplexAckPDU(context=apdu)
        ack.put_data(data)
        await self.response(ack)

    # -- writing ---------------------------------------------------------------------------------------
    async def do_WritePropertyRequest(self, apdu: WritePropertyRequest) -> None:
        obj = self._object(apdu.objectIdentifier)
        if obj is None:
            raise _error("object", "unknownObject")
        prop = apdu.propertyIdentifier
        datatype = obj.get_property_type(prop)
        if datatype is None:
            raise _error("property", "unknownProperty")
        if not self.writes.writable(obj, prop.attr):
            raise _error("property", "writeAccessDenied")
        index = apdu.propertyArrayIndex
        if issubclass(datatype, Array) and index is not None:
            datatype = Unsigned if index == 0 else datatype._subtype
        try:
            value = apdu.propertyValue.cast_out(datatype, null=apdu.priority is not None or
                                                prop == PropertyIdentifier.presentValue)
        except (InvalidTag, TypeError, ValueError):
            raise _error("property", "invalidDataType") from None
        priority = apdu.priority
        if priority is not None and not 1 <= priority <= 16:
            raise _error("property", "valueOutOfRange")
        await self.writes.write(obj, prop.attr, value, index, priority, str(apdu.pduSource))
        await self.response(SimpleAckPDU(context=apdu))

    # -- trend logs ------------------------------------------------------------------------------------
    async def do_ReadRangeRequest(self, apdu: ReadRangeRequest) -> None:
        obj = self._object(apdu.objectIdentifier)
        if obj is None:
            raise _error("object", "unknownObject")
        if not isinstance(obj, TrendLog) or int(apdu.propertyIdentifier) != LOG_BUFFER:
            raise _error("services", "propertyIsNotAList")
        if apdu.propertyArrayIndex is not None:
            raise _error("property", "propertyIsNotAnArray")
        rng = apdu.range
        kind: str | None = None
        reference: Any = None
        count = 0
        if rng is not None and rng.byPosition is not None:
            kind, reference, count = "position", int(rng.byPosition.referenceIndex), int(rng.byPosition.count)
        elif rng is not None and rng.bySequenceNumber is not None:
            kind, count = "sequence", int(rng.bySequenceNumber.count)
            reference = int(rng.bySequenceNumber.referenceSequenceNumber)
        elif rng is not None and rng.byTime is not None:
            kind, count = "time", int(rng.byTime.count)
            reference = _naive(rng.byTime.referenceTime)
        if kind is not None and count == 0:
            raise _error("services", "parameterOutOfRange")
        budget = _MAX_APDU[min(apdu.apduMaxResp, 15)] - _ACK_OVERHEAD
        selection = obj.select(kind, reference, count, budget)
        oid = obj.objectIdentifier
        await self._ack(apdu, read_range_ack(int(oid[0]), oid[1], selection, kind in ("sequence", "time")))

    # -- alarms ----------------------------------------------------------------------------------------
    async def do_AcknowledgeAlarmRequest(self, apdu: AcknowledgeAlarmRequest) -> None:
        obj = self._object(apdu.eventObjectIdentifier)
        if obj is None:
            raise _error("object", "unknownObject")
        acked = getattr(obj, "ackedTransitions", None)
        if acked is None:
            raise _error("services", "invalidEventState")
        state = EventState(apdu.eventStateAcknowledged)
        group = state if state in (EventState.normal, EventState.fault) else EventState.offnormal
        index = _TRANSITION[EventState(group)]
        if obj.eventTimeStamps[index] != apdu.timeStamp:
            raise _error("services", "invalidTimeStamp")
        bits = list(acked)
        bits[index] = 1
        obj.ackedTransitions = EventTransitionBits(bits)
        self.writes.acknowledged(obj, state, str(apdu.pduSource), str(apdu.acknowledgmentSource))
        await self.response(SimpleAckPDU(context=apdu))


def _naive(value: Any) -> datetime:
    """A BACnet DateTime as a naive datetime (its fields are local time)."""
    d, t = value.date, value.time
    return datetime(d[0] + 1900, d[1], d[2], t[0], t[1], t[2], t[3] * 10000)


class FastAccessPoint(ApplicationServiceAccessPoint):
    """bacpypes3's application service access point, answering unsegmented ReadPropertyMultiple directly.

    bacpypes3 turns every request into objects (about sixty for twenty objects × two properties) before
    the application sees it; that decoding is most of a request's time. A plain ReadPropertyMultiple is
    parsed here straight from its octets and answered from the objects' cached encodings; anything
    else (other services, segmentation, selectors, odd encodings, an answer too big for the client)
    takes bacpypes3's full path, transaction state machine included.
    """

    app: DeviceApplication

    async def confirmation(self, pdu: Any) -> None:
        data = pdu.pduData
        if (len(data) > 4 and data[0] & 0xF8 == 0 and data[3] == RPM_SERVICE
                and self.dccEnableDisable == "enable"):
            specs = parse_rpm(data, 4)
            answer = await self.app.rpm_data(specs) if specs is not None else None
            if answer is not None and len(answer) + 3 <= _MAX_APDU[data[1] & 0x0F]:
                ack = ComplexAckPDU(service_choice=RPM_SERVICE, invoke_id=data[2])
                ack.apduSeg = ack.apduMor = False
                ack.pduDestination, ack.pduUserData = pdu.pduSource, pdu.pduUserData
                ack.pduExpectingReply, ack.pduNetworkPriority = False, pdu.pduNetworkPriority
                ack.put_data(answer)
                await self.request(ack)
                return
        await super().confirmation(pdu)


def _tag(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """(tag number, class/kind byte, length, position after the header) of the tag at `pos`.

    kind: 0 application, 1 context primitive, 6 opening, 7 closing.
    """
    first = data[pos]
    pos += 1
    number = first >> 4
    if number == 15:
        number, pos = data[pos], pos + 1
    lvt = first & 0x07
    if first & 0x08 and lvt in (6, 7):
        return number, lvt, 0, pos
    length = lvt
    if lvt == 5:
        length, pos = data[pos], pos + 1
        if length == 254:
            length, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
        elif length == 255:
            length, pos = int.from_bytes(data[pos:pos + 4], "big"), pos + 4
    return number, 1 if first & 0x08 else 0, length, pos


def parse_rpm(data: bytes, pos: int) -> list[RpmSpec] | None:
    """The read access specifications of a ReadPropertyMultiple request, or None if not plainly encoded."""
    specs: list[RpmSpec] = []
    try:
        while pos < len(data):
            number, kind, length, pos = _tag(data, pos)
            if (number, kind, length) != (0, 1, 4):
                return None
            raw = int.from_bytes(data[pos:pos + 4], "big")
            pos += 4
            number, kind, _, pos = _tag(data, pos)
            if (number, kind) != (1, 6):
                return None
            refs: list[tuple[int, int | None]] = []
            while True:
                number, kind, length, after = _tag(data, pos)
                if (number, kind) == (1, 7):
                    pos = after
                    break
                if (number, kind) != (0, 1) or not 1 <= length <= 4:
                    return None
                pid, pos = int.from_bytes(data[after:after + length], "big"), after + length
                index = None
                if pos < len(data):
                    number, kind, length, after = _tag(data, pos)
                    if (number, kind) == (1, 1) and 1 <= length <= 4:
                        index, pos = int.from_bytes(data[after:after + length], "big"), after + length
                refs.append((pid, index))
            if not refs:
                return None
            specs.append(((raw >> 22, raw & 0x3FFFFF), refs))
    except IndexError:
        return None
    return specs or None
