"""The BACnet/IP device of a site: started by ``hpsup run``, fed by every control cycle, commanded by FM.

The device runs BAC0 in its own thread with its own event loop, so BACnet answers do not wait for a
control cycle (Modbus polling, database writes) and a cycle does not wait for BACnet. The supervisor
thread hands over each cycle's samples (``observe``); accepted writes go into the supervisor's
``OperatorInputs`` table, which is thread-safe and read at the start of the next cycle, and are recorded
as ``bacnet_write`` events (source address, priority, old and new value).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from datetime import datetime
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bacpypes3.basetypes import Destination, DeviceAddress, EventState, Recipient
from bacpypes3.errors import ExecutionError
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import Null

from app.bacnet.objects import NotificationClass, Served, make_object, notification_class
from app.bacnet.points import (
    NO_FAULT,
    UNRELIABLE,
    Point,
    Sample,
    View,
    build_points,
    evaluate,
    register_maps,
)
from app.bacnet.services import DeviceApplication, FastAccessPoint
from app.bacnet.trendlog import TrendLog
from app.clock import Clock
from app.config import BacnetConfig, BacnetRecipient, SiteConfig
from app.control.operator import OperatorInputs, OperatorValue
from app.control.supervisor import CycleResult, Supervisor
from app.devices.registermap import RegisterMap
from app.storage.historian import Historian

TREND_RECORDS = 2880  # a day of 30 s cycles


class BacnetStartError(RuntimeError):
    """The device could not start (address or port unusable)."""


def _denied(code: str = "writeAccessDenied") -> ExecutionError:
    return ExecutionError(errorClass="property", errorCode=code)


def _destination(recipient: BacnetRecipient) -> Destination:
    """A notification-class recipient list entry for an address, every day, all day, every transition."""
    return Destination(validDays=[1] * 7, fromTime=(0, 0, 0, 0), toTime=(23, 59, 59, 99),
                       recipient=Recipient(address=DeviceAddress(
                           networkNumber=0, macAddress=Address(recipient.address).addrAddr)),
                       processIdentifier=recipient.process_id,
                       issueConfirmedNotifications=recipient.confirmed, transitions=[1, 1, 1])


class BacnetDevice:
    """The site's BACnet device: point objects, trend logs, the alarm notification class."""

    def __init__(self, site: SiteConfig, operator: OperatorInputs, historian: Historian | None, clock: Clock,
                 *, site_dir: Path | None = None, maps: dict[str, RegisterMap] | None = None) -> None:
        if site.bacnet is None:
            raise ValueError("the site has no bacnet section")
        self.config: BacnetConfig = site.bacnet
        self.site_name = site.site.name
        self.tz = ZoneInfo(site.site.timezone)
        self.points: list[Point] = build_points(site, maps if maps is not None else register_maps(site, site_dir))
        self.by_key = {p.key: p for p in self.points}
        self.operator, self.historian, self.clock = operator, historian, clock
        self.cycle_s = site.control.cycle_s
        self.objects: dict[str, Served] = {}
        self._trends: list[tuple[TrendLog, Served]] = []
        self._published: dict[str, Sample] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def address(self) -> str:
        """The interface address with prefix and the UDP port, as BAC0 takes it (``127.0.0.1/8:47808``)."""
        return f"{self.config.address}:{self.config.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Bind and serve in a background thread; raise BacnetStartError when that is not possible."""
        ip = str(IPv4Interface(self.config.address).ip)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((ip, self.config.port))
            except OSError as exc:
                raise BacnetStartError(f"BACnet/IP cannot use {ip} UDP port {self.config.port}: {exc.strerror}"
                                       " (set bacnet.address / bacnet.port in the site file)") from None
        self._thread = threading.Thread(target=self._run, name="bacnet", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise BacnetStartError(f"BACnet/IP device did not start within {timeout_s:g} s")
        if self._error is not None:
            raise BacnetStartError(f"BACnet/IP device failed to start: {self._error}") from self._error

    def stop(self) -> None:
        """Stop serving and release the socket."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(), the thread ends
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        import BAC0

        BAC0.log_level("error", log_this=False)  # the supervisor reports what matters; BAC0's INFO is noise
        bacnet = BAC0.start(ip=self.address, deviceId=self.config.device_instance,
                            localObjName=self.config.device_name, vendorId=self.config.vendor_id,
                            modelName="hp-supervisor", description=f"{self.site_name} heat pump supervisor",
                            ping=False)
        try:
            app = bacnet.this_application.app
            app.__class__ = DeviceApplication  # bacpypes3 Application plus the services it lacks
            app.writes = self
            app.asap.__class__ = FastAccessPoint
            app.asap.app = app
            app.device_object.vendorName = self.config.vendor_name
            app.add_object(notification_class([_destination(r) for r in self.config.notification_recipients]))
            for point in self.points:
                obj = make_object(point, self.tz)
                app.add_object(obj)
                self.objects[point.key] = obj
                if point.trend:
                    log = TrendLog.for_point(point, self.config.device_instance, TREND_RECORDS, self.cycle_s)
                    app.add_object(log)
                    self._trends.append((log, obj))
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
        finally:
            await bacnet._disconnect()

    # -- feeding ---------------------------------------------------------------------------------------
    def observe(self, result: CycleResult) -> None:
        """Supervisor observer: show this cycle's values (called from the supervisor's thread)."""
        with self._lock:
            published = dict(self._published)
        samples = evaluate(self.points, View.of(result, published, self.tz))
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._apply, samples, result.snapshot.ts)

    def publish(self, key: str, value: float | str | datetime | None, reliability: str = NO_FAULT) -> None:
        """Feed a value computed elsewhere (COP today, sequencer state ...) to point `key` from the next cycle.

        A multi-state point takes its state text or number; None with a reliability marks it unreliable.
        """
        point = self.by_key.get(key)
        if point is None:
            raise KeyError(f"no BACnet point {key!r}")
        if isinstance(value, str):
            if value not in point.states:
                raise ValueError(f"{key}: {value!r} is not one of {', '.join(point.states)}")
            value = float(point.states.index(value) + 1)
        with self._lock:
            self._published[key] = Sample(value, reliability)

    def _apply(self, samples: dict[str, Sample], ts: datetime) -> None:
        for key, obj in self.objects.items():
            obj.apply(samples[key], self.tz)
        local = ts.astimezone(self.tz)
        for log, obj in self._trends:
            log.log(local, obj.presentValue, obj.statusFlags)

    # -- writes (called by the services in the device thread) ------------------------------------------
    def writable(self, obj: Any, attr: str) -> bool:
        """Which properties a front-end may write: commandable present values, an input's out-of-service (and
        then its present value), COV increments, alarm recipients, trend log enable. Nothing else."""
        if isinstance(obj, NotificationClass):
            return attr == "recipientList"
        if isinstance(obj, TrendLog):
            return attr == "enable"
        point: Point | None = getattr(obj, "_point", None)
        if point is None:
            return False
        if attr == "presentValue":
            return point.commandable or bool(obj.outOfService)
        return (attr == "outOfService" and not point.commandable) or (attr == "covIncrement" and point.kind.analog)

    async def write(self, obj: Any, attr: str, value: Any, index: int | None, priority: int | None,
                    source: str) -> None:
        """Apply a decoded WriteProperty to a writable property, or raise the BACnet error that refuses it."""
        point: Point | None = getattr(obj, "_point", None)
        if point is None:  # notification class recipients, trend log enable
            await obj.write_property(attr, value, index, priority)
            self._record("bacnet_write", source, f"{obj.objectName}.{attr} written", {"priority": priority})
            return
        if attr == "presentValue" and point.commandable:
            await self._command(obj, point, value, priority or 16, source)
            return
        if isinstance(value, Null):
            raise _denied("invalidDataType")
        old = getattr(obj, attr)
        if attr == "presentValue":  # an input out of service, for testing what depends on it
            self._refuse_if(point.check_value(float(value)), point, source, priority, value)
        elif attr == "covIncrement" and float(value) < 0:
            raise _denied("valueOutOfRange")
        setattr(obj, attr, value)
        self._record("bacnet_write", source, f"{point.key}.{attr}: {old} -> {value}",
                     {"object": point.key, "property": attr, "priority": priority, "old": str(old),
                      "new": str(value)})

    async def _command(self, obj: Any, point: Point, value: Any, priority: int, source: str) -> None:
        """Write a commandable point's priority array; put its effective value in the operator inputs."""
        relinquish = isinstance(value, Null)
        if not relinquish:
            self._refuse_if(point.check_write(float(value)), point, source, priority, value)
        old = float(obj.presentValue)
        await obj.write_property("presentValue", value, None, priority)
        sources: dict[int, str] = obj.__dict__.setdefault("_sources", {})
        if relinquish:
            sources.pop(priority, None)
        else:
            sources[priority] = source
        winner = obj.currentCommandPriority.unsigned
        new = float(obj.presentValue)
        now = self.clock.now()
        if winner is None:
            self.operator.relinquish(point.key)
        else:
            self.operator.command(point.key, OperatorValue(new + point.operator_offset, sources.get(winner, source),
                                                           int(winner), now))
        written = None if relinquish else float(value)
        self._record("bacnet_write", source,
                     f"{point.key} priority {priority}: {'relinquished' if relinquish else point.text(written or 0)}"
                     f" (present value {point.text(old)} -> {point.text(new)})",
                     {"object": point.key, "property": "presentValue", "address": source, "priority": priority,
                      "written": written, "old": old, "new": new,
                      "winning_priority": None if winner is None else int(winner)})

    def _refuse_if(self, refusal: Any, point: Point, source: str, priority: int | None, value: Any) -> None:
        if refusal is None:
            return
        self._record("bacnet_write_refused", source, f"{refusal.reason} ({refusal.code})",
                     {"object": point.key, "address": source, "priority": priority, "written": str(value),
                      "error": refusal.code})
        raise _denied(refusal.code)

    def acknowledged(self, obj: Any, state: EventState, source: str, who: str) -> None:
        self._record("bacnet_ack", source, f"{obj.objectName} {state} acknowledged by {who}",
                     {"object": str(obj.objectName), "state": str(state), "address": source, "by": who})

    def _record(self, kind: str, source: str, reason: str, data: dict[str, Any]) -> None:
        if self.historian is not None:
            self.historian.record_event(self.clock.now(), kind, f"bacnet {source}", reason,
                                        data={"address": source, **data})



class CopFeed:
    """Publishes a LiveCop's figures to the heat pumps' COP points every `every_s` of plant time.

    COP today is the open day's SPF so far; COP season the SPF of the stored days since 1 September
    and today (the UK heating season); the COP-below-expected alarm follows the monitoring's judgement.
    """

    def __init__(self, device: BacnetDevice, live: Any, every_s: float = 300.0) -> None:
        self.device, self.live, self.every_s = device, live, every_s
        self._last: datetime | None = None

    def __call__(self, result: CycleResult) -> None:
        ts = result.snapshot.ts
        if self._last is not None and (ts - self._last).total_seconds() < self.every_s:
            return
        self._last = ts
        local = ts.astimezone(self.device.tz).date()
        season_start = local.replace(month=9, day=1) if local.month >= 9 else local.replace(year=local.year - 1,
                                                                                            month=9, day=1)
        for unit in self.live.units:
            today = self.live.today(unit) or {}
            days = [json.loads(f) for f in self.live.store.load(unit, season_start, None).values()]
            heat = sum(d.get("heat_kwh") or 0.0 for d in [*days, today])
            elec = sum(d.get("elec_kwh") or 0.0 for d in [*days, today])
            self._publish(f"{unit}.cop_today", today.get("spf"))
            self._publish(f"{unit}.cop_season", round(heat / elec, 2) if elec > 0 else None)
            alarm = self.live.alarms.get(unit)
            self._publish(f"{unit}.alarm_cop_low", float(alarm.active) if alarm is not None else 0.0)

    def _publish(self, key: str, value: float | None) -> None:
        if key in self.device.by_key:
            self.device.publish(key, value, NO_FAULT if value is not None else UNRELIABLE)


def attach(supervisor: Supervisor, site_dir: Path | None = None) -> BacnetDevice | None:
    """Start the site's BACnet device and feed it every cycle; None (with the reason on stderr and in the
    event log) when it cannot start: the plant is still controlled without it."""
    device = BacnetDevice(supervisor.site, supervisor.operator, supervisor.historian, supervisor.clock,
                          site_dir=site_dir)
    try:
        device.start()
    except BacnetStartError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        supervisor.historian.record_event(supervisor.clock.now(), "bacnet_error", "bacnet", str(exc))
        return None
    from app.monitoring.store import LiveCop

    live = next((o for o in supervisor.observers if isinstance(o, LiveCop)), None)
    if live is not None:
        supervisor.observers.append(CopFeed(device, live))
    supervisor.observers.append(device.observe)
    return device
