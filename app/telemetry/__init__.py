"""MQTT telemetry (optional): a site's readings, states, COP figures, alarms and L8 cycle outcomes as JSON
topics, queued on disk and delivered in order at least once (QoS 1), with a retained status and last will."""

from app.telemetry.messages import SiteTopics
from app.telemetry.mqtt import BrokerSettings, MqttSender
from app.telemetry.outbox import Message, Outbox
from app.telemetry.publisher import Telemetry, TelemetrySettings, telemetry_settings

__all__ = ["BrokerSettings", "Message", "MqttSender", "Outbox", "SiteTopics", "Telemetry", "TelemetrySettings",
           "telemetry_settings"]
