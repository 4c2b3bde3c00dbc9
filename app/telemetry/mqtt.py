"""Delivery of the outbox to an MQTT broker (paho-mqtt 2): QoS 1, in order, a last will, TLS and credentials.

One thread owns the paho client and drives its network loop, so publishing, acknowledgements and
reconnection never race. While connected it keeps up to `window` messages in flight, in sequence order,
and removes each from the outbox when its PUBACK arrives. When the connection drops the client is
discarded and, once a new connection is up, everything still in the outbox is sent again from the
oldest: order is kept, nothing is lost, and a message whose PUBACK was lost arrives twice (the
consumer drops a ``seq`` it has seen). The broker publishes the retained last will (status offline)
if the connection dies; a clean stop publishes the offline status itself.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from app.telemetry.outbox import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and how to connect. ``ca_file`` None with ``tls`` uses the system's trusted CAs."""

    host: str
    port: int = 1883
    tls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30

    def __repr__(self) -> str:  # never show the password
        return (f"BrokerSettings(host={self.host!r}, port={self.port}, tls={self.tls}, ca_file={self.ca_file!r}, "
                f"username={self.username!r})")


StatusMessage = Callable[[bool, str, datetime | None], tuple[str, dict[str, Any]]]
"""(online, reason, ts) -> (topic, body) of the retained status message; ts is None for the last will."""


def _payload(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class MqttSender:
    """Sends an `Outbox` to a broker from a thread of its own until stopped."""

    def __init__(self, broker: BrokerSettings, outbox: Outbox, client_id: str, status: StatusMessage,
                 now: Callable[[], datetime], *, window: int = 64, retry_min_s: float = 0.5, retry_max_s: float = 30.0,
                 connect_timeout_s: float = 10.0) -> None:
        self.broker = broker
        self.outbox = outbox
        self.client_id = client_id
        self.status = status
        self.now = now
        self.window = window
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.connect_timeout_s = connect_timeout_s
        self.connections = 0  # successful connections so far (a reconnect counts again)
        self._client: paho.Client | None = None
        self._connected = False
        self._refused: str | None = None
        self._reachable = True  # as far as we know: the first failure is logged as a warning
        self._inflight: dict[int, int] = {}  # mid -> seq
        self._acked: list[int] = []
        self._last_sent = 0
        self._more = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{client_id}", daemon=True)

    @property
    def connected(self) -> bool:
        return self._connected

    def start(self) -> None:
        self._more.set()
        self._thread.start()

    def wake(self) -> None:
        """New messages are in the outbox."""
        self._more.set()

    def flush(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (everything acknowledged by the broker); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while len(self.outbox):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.2))
        return True

    def stop(self, timeout_s: float = 5.0) -> None:
        """Publish the offline status, disconnect cleanly (no last will) and end the thread."""
        self._stop.set()
        self._thread.join(timeout_s + self.connect_timeout_s)

    # --- the sender thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.retry_min_s
        while not self._stop.is_set():
            try:
                if self._client is None:
                    if self._connect():
                        delay = self.retry_min_s
                    else:
                        self._stop.wait(delay)
                        delay = min(delay * 2, self.retry_max_s)
                    continue
                self._feed()
                rc = self._client.loop(timeout=0.05)
                self._settle()
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    log.warning("MQTT connection to %s:%d lost (%s); %d message(s) wait in the outbox",
                                self.broker.host, self.broker.port, paho.error_string(rc), len(self.outbox))
                    self._drop()
            except Exception:  # the sender must outlive any one failure; what is queued stays queued
                log.exception("MQTT sender failed; reconnecting in %.1f s", delay)
                self._drop()
                self._stop.wait(delay)
        if self._client is not None:
            self._say_goodbye()

    def _new_client(self) -> paho.Client:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True,
                             reconnect_on_failure=False)
        client.max_inflight_messages_set(self.window)
        client.max_queued_messages_set(0)
        topic, will = self.status(False, "connection lost", None)
        client.will_set(topic, _payload(will), qos=1, retain=True)
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set(ca_certs=self.broker.ca_file)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        return client

    def _connect(self) -> bool:
        client = self._new_client()
        self._refused = None
        try:
            client.connect(self.broker.host, self.broker.port, keepalive=self.broker.keepalive_s)
        except OSError as exc:  # refused, unreachable, name unknown, TLS handshake failed
            level = logging.WARNING if self._reachable else logging.DEBUG  # once per outage, not per retry
            log.log(level, "MQTT broker %s:%d not reachable: %s", self.broker.host, self.broker.port, exc)
            self._reachable = False
            return False
        self._reachable = True
        deadline = time.monotonic() + self.connect_timeout_s
        while not self._connected and self._refused is None and time.monotonic() < deadline:
            if client.loop(timeout=0.1) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        if not self._connected:
            log.warning("MQTT broker %s:%d refused or did not answer: %s", self.broker.host, self.broker.port,
                        self._refused or "no CONNACK")
            client.disconnect()
            return False
        self._client = client
        self.connections += 1
        self._last_sent = 0
        self._more.set()
        topic, online = self.status(True, "connected", self.now())
        client.publish(topic, _payload(online), qos=1, retain=True)
        log.info("MQTT connected to %s:%d; %d message(s) to deliver", self.broker.host, self.broker.port,
                 len(self.outbox))
        return True

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        else:
            self._connected = True

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is not None:
            self._acked.append(seq)

    def _feed(self) -> None:
        room = self.window - len(self._inflight)
        if room <= 0 or not self._more.is_set():
            return
        self._more.clear()
        batch = self.outbox.after(self._last_sent, room)
        if len(batch) == room:
            self._more.set()  # there may be more behind these
        assert self._client is not None
        for q in batch:
            info = self._client.publish(q.topic, q.payload, qos=1, retain=q.retain)
            self._inflight[info.mid] = q.seq
            self._last_sent = q.seq

    def _settle(self) -> None:
        """Remove acknowledged messages from the outbox; wake flush() when it is empty."""
        if not self._acked:
            return
        self.outbox.ack(self._acked)
        self._acked.clear()
        self._more.set()
        with self._idle:
            self._idle.notify_all()

    def _drop(self) -> None:
        self._client = None
        self._connected = False
        self._inflight.clear()
        self._acked.clear()

    def _say_goodbye(self) -> None:
        """Offline status (retained), then a clean DISCONNECT so the broker does not send the last will."""
        client = self._client
        assert client is not None
        topic, stopped = self.status(False, "stopped", self.now())
        info = client.publish(topic, _payload(stopped), qos=1, retain=True)
        deadline = time.monotonic() + 2.0
        while not info.is_published() and time.monotonic() < deadline:
            if client.loop(timeout=0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            self._settle()
        client.disconnect()
        client.loop(timeout=0.1)
        self._drop()
