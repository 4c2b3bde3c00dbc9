"""bacpypes3 objects for the point table: standard semantics, an encoded-value cache, status-flag COV.

Every served object keeps the BACnet encoding of its frequently read properties (present-value, status-flags
...) so ReadProperty(Multiple) answers without re-encoding; any property assignment clears the cache.
bacpypes3 computes status-flags from event-state, reliability and out-of-service without telling COV
detection, so a change of those also reports a status-flags change to COV subscribers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bacpypes3.basetypes import (
    BinaryPV,
    DateTime,
    EventState,
    EventTransitionBits,
    LimitEnable,
    PropertyIdentifier,
    TimeStamp,
)
from bacpypes3.constructeddata import Any as AnyValue
from bacpypes3.local.analog import AnalogInputObject, AnalogInputObjectIR, AnalogValueObject
from bacpypes3.local.binary import BinaryInputObject, BinaryInputObjectIR, BinaryValueObject
from bacpypes3.local.cmd import Commandable
from bacpypes3.local.cov import GenericCriteria
from bacpypes3.local.multistate import MultiStateInputObject, MultiStateValueObject
from bacpypes3.local.object import Object as LocalObject
from bacpypes3.object import DateTimeValueObject, NotificationClassObject
from bacpypes3.primitivedata import Date, Time

from app.bacnet.points import NO_FAULT, NOTIFICATION_CLASS, UNRELIABLE, Kind, Point, Sample

# properties whose encoding is cached: what front-ends poll
CACHED = frozenset(int(PropertyIdentifier(name)) for name in (
    "presentValue", "statusFlags", "eventState", "reliability", "outOfService", "objectName", "objectIdentifier",
    "objectType", "description", "units", "covIncrement", "numberOfStates", "relinquishDefault",
    "currentCommandPriority", "inactiveText", "activeText", "polarity"))
_FLAG_SOURCES = ("eventState", "reliability", "outOfService")
_TRANSITION_INDEX = {EventState.offnormal: 0, EventState.fault: 1, EventState.normal: 2}


class _TransitionOrder:
    """A notification class as bacpypes3's event algorithm reads it.

    bacpypes3 indexes Priority and Ack_Required by the new event state's value (normal 0, fault 1,
    offnormal 2), where BACnet orders them to-offnormal, to-fault, to-normal (Clause 12.21); this view
    hands it the element BACnet means, and everything else of the notification class unchanged.
    """

    def __init__(self, nc: Any) -> None:
        self._nc = nc

    @property
    def priority(self) -> list[int]:
        p = self._nc.priority
        return [p[2], p[1], p[0]]

    @property
    def ackRequired(self) -> list[int]:  # noqa: N802 - the BACnet property name
        a = self._nc.ackRequired
        return [a[2], a[1], a[0]]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nc, name)


class _PreviousReliability:
    """What bacpypes3's event algorithm asks a fault algorithm for: the reliability before the latest change.

    Intrinsic reporting without fault detection has no fault algorithm, and bacpypes3 then fails when a
    fault changes to another fault; with this, that change is reported as a new to-fault transition.
    """

    def __init__(self, obj: Served) -> None:
        self._obj = obj

    @property
    def pCurrentReliability(self) -> Any:  # noqa: N802 - bacpypes3's parameter name
        return self._obj.__dict__.get("_previous_reliability")


class Served:
    """Mixin for every object the device serves (listed before the bacpypes3 class)."""

    _point: Point | None = None

    async def _post_init(self) -> None:
        await super()._post_init()  # type: ignore[misc]
        nc = getattr(self, "_notification_class_object", None)
        if nc is not None:
            self._notification_class_object = _TransitionOrder(nc)
        algorithm = getattr(self, "_event_algorithm", None)
        if algorithm is not None and algorithm.fault_algorithm is None:
            algorithm.fault_algorithm = _PreviousReliability(self)

    def encoded(self, property_id: int) -> bytes | None:
        """The application-tagged encoding of a cached property's value, or None (read it the slow way)."""
        cache: dict[int, bytes] = self.__dict__.setdefault("_encoded", {})
        data = cache.get(property_id)
        if data is None:
            if property_id not in CACHED:
                return None
            value = getattr(self, PropertyIdentifier(property_id).attr, None)
            if value is None:
                return None
            data = bytes(AnyValue(value).tagList.encode().pduData)
            cache[property_id] = data
        return data

    def __setattr__(self, attr: str, value: Any) -> None:
        if attr.startswith("_"):
            super().__setattr__(attr, value)
            return
        before = self.statusFlags if attr in _FLAG_SOURCES else None  # type: ignore[attr-defined]
        if attr == "reliability":
            self.__dict__["_previous_reliability"] = getattr(self, "reliability", None)
        super().__setattr__(attr, value)
        self.__dict__.get("_encoded", {}).clear()
        if before is not None:
            after = self.statusFlags  # type: ignore[attr-defined]
            if after != before:
                for monitor in self._property_monitors["statusFlags"]:  # type: ignore[attr-defined]
                    monitor(before, after)
        if attr == "eventState":
            self._unack(value)

    def _unack(self, state: Any) -> None:
        """A transition that needs acknowledgement clears its bit of acked-transitions (Clause 13.2.2.1.6)."""
        view = getattr(self, "_notification_class_object", None)
        acked = getattr(self, "ackedTransitions", None)
        if view is None or acked is None:
            return
        nc = view._nc
        group = state if state in (EventState.normal, EventState.fault) else EventState.offnormal
        index = _TRANSITION_INDEX[EventState(group)]
        if nc.ackRequired[index]:
            bits = list(acked)
            bits[index] = 0
            super().__setattr__("ackedTransitions", EventTransitionBits(bits))

    def apply(self, sample: Sample, tz: ZoneInfo) -> None:
        """Show one cycle's sample: the relinquish default of a commandable point, else the present value."""
        point = self._point
        if point is None or getattr(self, "outOfService", False):
            return  # out of service: present value and reliability are decoupled from the plant
        if sample.value is not None:
            value = present_value(point.kind, sample.value, tz)
            if point.commandable:
                self.relinquishDefault = value
                self.recalculating()  # type: ignore[attr-defined]
            else:
                self.presentValue = value
        if getattr(self, "reliability", None) != sample.reliability:
            self.reliability = sample.reliability


def present_value(kind: Kind, value: float | datetime, tz: ZoneInfo) -> Any:
    """A sample value in the object type's present-value form."""
    if kind is Kind.DATETIME_VALUE:
        assert isinstance(value, datetime)
        local = value.astimezone(tz)
        return DateTime(date=Date((local.year - 1900, local.month, local.day, local.isoweekday())),
                        time=Time((local.hour, local.minute, local.second, 0)))
    assert not isinstance(value, datetime)
    if kind.binary:
        return BinaryPV("active" if value else "inactive")
    if kind.multistate:
        return int(value)
    return float(value)


class AnalogInput(Served, AnalogInputObject):
    pass


class AnalogInputAlarm(Served, AnalogInputObjectIR):
    pass


class AnalogValue(Served, AnalogValueObject):
    pass


class AnalogValueCommand(Commandable, Served, AnalogValueObject):
    _required = ("priorityArray",)


class BinaryInput(Served, BinaryInputObject):
    pass


class BinaryInputAlarm(Served, BinaryInputObjectIR):
    pass


class BinaryValueCommand(Commandable, Served, BinaryValueObject):
    _required = ("priorityArray",)


class MultiStateInput(Served, MultiStateInputObject):
    _cov_criteria = GenericCriteria


class MultiStateValueCommand(Commandable, Served, MultiStateValueObject):
    _required = ("priorityArray",)
    _cov_criteria = GenericCriteria


class DateTimeValue(Served, LocalObject, DateTimeValueObject):
    _cov_criteria = GenericCriteria


class NotificationClass(LocalObject, NotificationClassObject):
    pass


_CLASSES: dict[tuple[Kind, bool, bool], type[Served]] = {
    # (kind, commandable, alarm) -> class
    (Kind.ANALOG_INPUT, False, False): AnalogInput,
    (Kind.ANALOG_INPUT, False, True): AnalogInputAlarm,
    (Kind.ANALOG_VALUE, False, False): AnalogValue,
    (Kind.ANALOG_VALUE, True, False): AnalogValueCommand,
    (Kind.BINARY_INPUT, False, False): BinaryInput,
    (Kind.BINARY_INPUT, False, True): BinaryInputAlarm,
    (Kind.BINARY_VALUE, True, False): BinaryValueCommand,
    (Kind.MULTI_STATE_INPUT, False, False): MultiStateInput,
    (Kind.MULTI_STATE_VALUE, True, False): MultiStateValueCommand,
    (Kind.DATETIME_VALUE, False, False): DateTimeValue,
}

_UNSPECIFIED_TIME = TimeStamp(time=Time((255, 255, 255, 255)))


def make_object(point: Point, tz: ZoneInfo) -> Served:
    """The bacpypes3 object for a point, with every property a front-end expects set explicitly."""
    cls = _CLASSES.get((point.kind, point.commandable, point.alarm is not None))
    if cls is None:
        raise ValueError(f"{point.key}: no object class for a {'commandable ' if point.commandable else ''}"
                         f"{point.kind}{' with an alarm' if point.alarm else ''}")
    initial = present_value(point.kind, point.default, tz) if point.kind is not Kind.DATETIME_VALUE else \
        present_value(point.kind, datetime(2000, 1, 1, tzinfo=tz), tz)
    kw: dict[str, Any] = {
        "objectIdentifier": (point.kind.value, point.instance), "objectName": point.key,
        "description": point.description, "presentValue": initial, "eventState": "normal",
        "outOfService": False,
        # a read point has no data until the first cycle; a configured or commanded one has its default
        "reliability": NO_FAULT if point.commandable else UNRELIABLE,
    }
    if point.kind.analog:
        kw["units"] = point.units
        if point.cov_increment is not None:
            kw["covIncrement"] = point.cov_increment
        if point.minimum is not None or point.safety_min is not None:
            kw["minPresValue"] = point.safety_min if point.safety_min is not None else point.minimum
        if point.maximum is not None:
            kw["maxPresValue"] = point.maximum
    if point.kind is Kind.BINARY_INPUT:
        kw["polarity"] = "normal"
    if point.kind.binary:
        if point.states:
            kw["inactiveText"], kw["activeText"] = point.states
    if point.kind.multistate:
        kw["numberOfStates"] = len(point.states)
        kw["stateText"] = list(point.states)
    if point.commandable:
        kw["relinquishDefault"] = initial
    if point.alarm is not None:
        kw.update(notificationClass=NOTIFICATION_CLASS, eventEnable=[1, 1, 1], ackedTransitions=[1, 1, 1],
                  notifyType="alarm", eventTimeStamps=[_UNSPECIFIED_TIME] * 3, eventDetectionEnable=True,
                  timeDelay=point.alarm.time_delay_s, timeDelayNormal=point.alarm.time_delay_s)
        if point.kind.binary:
            kw["alarmValue"] = "active"
        else:
            kw.update(highLimit=point.alarm.high if point.alarm.high is not None else 0.0,
                      lowLimit=point.alarm.low if point.alarm.low is not None else 0.0,
                      deadband=point.alarm.deadband,
                      limitEnable=LimitEnable([int(point.alarm.low is not None), int(point.alarm.high is not None)]))
    obj = cls(**kw)
    obj._point = point
    return obj


def notification_class(recipients: list[Any]) -> NotificationClass:
    """The one notification class every alarm uses: alarm priorities, acknowledgement of to-offnormal/fault."""
    return NotificationClass(
        objectIdentifier=("notificationClass", NOTIFICATION_CLASS), objectName="alarms",
        description="hp-supervisor alarms", notificationClass=NOTIFICATION_CLASS, priority=[64, 64, 200],
        ackRequired=[1, 1, 0], recipientList=recipients)

