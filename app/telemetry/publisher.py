"""Site telemetry: each control cycle's readings, commands and plant status, and every alarm, state transition
and L8 cycle outcome recorded in storage, queued in the outbox and published to MQTT.

`Telemetry.observe` is a supervisor cycle observer. What other parts record in storage reaches the broker
without them calling anything: an ``alarm`` event, a ``transition`` event, an L8 ``cycle`` record and
today's COP figures (``cop_today:{unit}`` controller state) are picked up in the cycle that stored them
(read past cursors kept in the outbox, committed with the messages they made).
Telemetry never stops control: a failure to queue is logged and the cycle goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, select

from app.config import SiteConfig, resolve_refs
from app.estate.cop_today import KEY_PREFIX as COP_TODAY
from app.storage.models import ControllerState, Event, L8Record
from app.telemetry.messages import SiteTopics, segment
from app.telemetry.mqtt import BrokerSettings, MqttSender
from app.telemetry.outbox import Message, Outbox

if TYPE_CHECKING:
    from app.control.supervisor import CycleResult

log = logging.getLogger(__name__)
FEED_BATCH = 500


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    broker: BrokerSettings
    prefix: str
    queue_path: Path


def _env_bool(name: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: expected 1/0, true/false, yes/no or on/off (got {value!r})")


def telemetry_settings(site: SiteConfig, env: dict[str, str] | None = None) -> TelemetrySettings | None:
    """The broker for `site`: the site file's ``telemetry.mqtt``, each field overridden by its environment
    variable (``HPSUP_MQTT_HOST``, ``_PORT``, ``_TLS``, ``_CA_FILE``, ``_USERNAME``, ``_PASSWORD``,
    ``_QUEUE``). None when neither names a broker. Secret references are resolved here."""
    env = dict(os.environ) if env is None else env
    cfg = site.telemetry.mqtt
    host = env.get("HPSUP_MQTT_HOST") or (cfg.host if cfg else None)
    if not host:
        return None
    port_text = env.get("HPSUP_MQTT_PORT")
    if port_text is not None and not (port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise ValueError(f"HPSUP_MQTT_PORT: not a TCP port number (got {port_text!r})")
    username = env.get("HPSUP_MQTT_USERNAME") or (resolve_refs(cfg.username) if cfg and cfg.username else None)
    password = env.get("HPSUP_MQTT_PASSWORD") or (resolve_refs(cfg.password) if cfg and cfg.password else None)
    ca_file = env.get("HPSUP_MQTT_CA_FILE") or (resolve_refs(cfg.ca_file) if cfg and cfg.ca_file else None)
    tls = _env_bool("HPSUP_MQTT_TLS", env["HPSUP_MQTT_TLS"]) if "HPSUP_MQTT_TLS" in env else bool(cfg and cfg.tls)
    broker = BrokerSettings(host=host, port=int(port_text) if port_text else (cfg.port if cfg else 1883),
                            tls=tls, ca_file=ca_file, username=username, password=password)
    queue = env.get("HPSUP_MQTT_QUEUE") or (cfg.queue_path if cfg else "hpsup-mqtt-queue.db")
    return TelemetrySettings(broker, cfg.topic_prefix if cfg else "hpsup", Path(queue))


class StorageFeed:
    """What one site stored since it was last published: alarms and state transitions (events), L8 cycle
    outcomes (the L8 log) and COP figures for today (controller state ``cop_today:{unit}``)."""

    def __init__(self, engine: Engine, topics: SiteTopics) -> None:
        self.engine = engine
        self.topics = topics

    def collect(self, outbox: Outbox) -> tuple[list[Message], dict[str, str]]:
        """Messages for what is new past the outbox's cursors, and the cursors after them. A first run starts at
        the end of the stored events and L8 records (history is not replayed) and publishes today's COP."""
        messages: list[Message] = []
        cursors: dict[str, str] = {}
        with self.engine.connect() as conn:
            for name, read in (("events", self._events), ("l8_cycles", self._l8_cycles), ("cop_today", self._cop)):
                found, cursor = read(conn, outbox.cursor(name))
                messages += found
                if cursor is not None:
                    cursors[name] = cursor
        return messages, cursors

    def _events(self, conn: Connection, after: str | None) -> tuple[list[Message], str | None]:
        site = self.topics.site_name
        if after is None:
            return [], str(conn.execute(select(func.coalesce(func.max(Event.id), 0)).where(Event.site == site))
                           .scalar_one())
        rows = conn.execute(select(Event).where(Event.site == site, Event.id > int(after))
                            .order_by(Event.id).limit(FEED_BATCH)).all()
        messages = []
        for e in rows:
            if e.kind == "alarm":
                messages.append(self.topics.alarm(e.ts, e.source, e.to_state, e.reason, e.data))
            elif e.kind == "transition":
                messages.append(self.topics.transition(e.ts, e.source, e.from_state, e.to_state, e.reason, e.data))
        return messages, str(rows[-1].id) if rows else None

    def _l8_cycles(self, conn: Connection, after: str | None) -> tuple[list[Message], str | None]:
        site = self.topics.site_name
        if after is None:
            return [], str(conn.execute(select(func.coalesce(func.max(L8Record.id), 0))
                                        .where(L8Record.site == site)).scalar_one())
        rows = conn.execute(select(L8Record).where(L8Record.site == site, L8Record.kind == "cycle",
                                                   L8Record.id > int(after))
                            .order_by(L8Record.id).limit(FEED_BATCH)).all()
        return ([self.topics.l8_cycle(r.ts, r.cylinder, r.value, r.data, r.hash) for r in rows],
                str(rows[-1].id) if rows else None)

    def _cop(self, conn: Connection, after: str | None) -> tuple[list[Message], str | None]:
        query = select(ControllerState).where(ControllerState.site == self.topics.site_name,
                                              ControllerState.key.like(f"{COP_TODAY}%"))
        if after is not None:
            query = query.where(ControllerState.updated_at > datetime.fromisoformat(after))
        rows = conn.execute(query.order_by(ControllerState.updated_at, ControllerState.key)).all()
        return ([self.topics.cop(r.updated_at, r.key.removeprefix(COP_TODAY), r.value["day"], r.value["figures"])
                 for r in rows], rows[-1].updated_at.isoformat() if rows else None)


class Telemetry:
    """One site's publisher: the outbox, the MQTT sender, and the feed from storage."""

    def __init__(self, topics: SiteTopics, outbox: Outbox, sender: MqttSender, feed: StorageFeed | None) -> None:
        self.topics = topics
        self.outbox = outbox
        self.sender = sender
        self.feed = feed

    @classmethod
    def start(cls, settings: TelemetrySettings, site_name: str, now: Callable[[], datetime],
              engine: Engine | None = None, *, window: int = 64, retry_min_s: float = 0.5,
              retry_max_s: float = 30.0) -> Telemetry:
        """Open the outbox, start sending (connecting in the background), and feed from `engine` if given."""
        topics = SiteTopics(settings.prefix, site_name)
        outbox = Outbox(settings.queue_path)
        sender = MqttSender(settings.broker, outbox, f"hpsup-{segment(site_name)}", topics.status, now,
                            window=window, retry_min_s=retry_min_s, retry_max_s=retry_max_s)
        sender.start()
        return cls(topics, outbox, sender, StorageFeed(engine, topics) if engine is not None else None)

    @classmethod
    def for_site(cls, site: SiteConfig, now: Callable[[], datetime], engine: Engine) -> Telemetry | None:
        """Telemetry for `site` when its file or the environment names a broker, else None."""
        settings = telemetry_settings(site)
        return cls.start(settings, site.site.name, now, engine) if settings is not None else None

    def publish(self, messages: Iterable[Message], cursors: dict[str, str] | None = None) -> list[int]:
        """Queue `messages` durably for the broker; return their sequence numbers."""
        seqs = self.outbox.put(messages, cursors)
        self.sender.wake()
        return seqs

    def enqueue_cycle(self, result: CycleResult) -> list[int]:
        """Queue one cycle's readings and commands, and whatever storage gained since the last cycle."""
        snapshot = result.snapshot
        messages = [self.topics.readings(snapshot.ts, device) for device in snapshot.devices.values()]
        messages += self.topics.commands(result.commands, [(w.outcome, w.reason) for w in result.writes])
        if result.status is not None:
            messages.append(self.topics.plant(result.status))
        cursors: dict[str, str] = {}
        if self.feed is not None:
            stored, cursors = self.feed.collect(self.outbox)
            messages += stored
        return self.publish(messages, cursors)

    async def observe(self, result: CycleResult) -> None:
        """Supervisor observer: queue the cycle off the event loop; never raise into the control cycle."""
        try:
            await asyncio.to_thread(self.enqueue_cycle, result)
        except Exception:
            log.exception("telemetry could not queue cycle %s", result.snapshot.ts)

    def flush(self, timeout_s: float) -> bool:
        """Wait until the broker has acknowledged everything queued; False on timeout."""
        return self.sender.flush(timeout_s)

    def close(self, flush_s: float = 0.0) -> None:
        """Give the broker up to `flush_s` to take what is queued, publish the offline status, disconnect and
        close the outbox (what is still undelivered stays in it for the next start)."""
        if flush_s > 0:
            self.flush(flush_s)
        self.sender.stop()
        self.outbox.close()
