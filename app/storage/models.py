"""Typed tables: samples (historian), events and transitions, register writes, L8 records, controller state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive; they come back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored: use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON}


class Sample(Base):
    """One reading of one point (historian). ``value`` is NULL unless quality is good."""

    __tablename__ = "samples"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    site: Mapped[str] = mapped_column(String(80))
    point: Mapped[str] = mapped_column(String(120))
    value: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[str] = mapped_column(String(16))
    __table_args__ = (Index("ix_samples_site_point_ts", "site", "point", "ts"),)


class Event(Base):
    """A state-machine transition, alarm, comms change or operator action, with its reason."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    site: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(120))
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None]
    __table_args__ = (Index("ix_events_site_ts", "site", "ts"), Index("ix_events_kind_source", "kind", "source"))


class RegisterWrite(Base):
    """Every register write and every refusal (audit): what, why, and how it ended."""

    __tablename__ = "register_writes"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    site: Mapped[str] = mapped_column(String(80))
    device: Mapped[str] = mapped_column(String(80))
    point: Mapped[str] = mapped_column(String(80))
    register_type: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)
    previous_value: Mapped[float | None] = mapped_column(Float)
    raw: Mapped[dict[str, Any] | None]
    outcome: Mapped[str] = mapped_column(String(16))  # verified | written | refused | failed
    reason: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_register_writes_site_ts", "site", "ts"),)


class L8Record(Base):
    """An HSE L8 record: a cylinder temperature or a DHW cycle outcome, chained to the previous by hash."""

    __tablename__ = "l8_records"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)  # per site, from 1, no gaps (part of the hash)
    ts: Mapped[datetime]
    site: Mapped[str] = mapped_column(String(80))
    cylinder: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))  # temperature | cycle
    sensor: Mapped[str | None] = mapped_column(String(80))
    value: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, Any] | None]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    __table_args__ = (Index("ix_l8_records_site_ts", "site", "ts"),
                      UniqueConstraint("site", "seq", name="uq_l8_records_site_seq"))


class CopDaily(Base):
    """One heat pump's COP figures for one local day, as canonical JSON (a recomputation is byte-identical)."""

    __tablename__ = "cop_daily"
    site: Mapped[str] = mapped_column(String(80), primary_key=True)
    unit: Mapped[str] = mapped_column(String(80), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # local date, YYYY-MM-DD
    figures: Mapped[str] = mapped_column(Text)


class ControllerState(Base):
    """Persisted controller state (machine states, timers) so a restart resumes where it stopped."""

    __tablename__ = "controller_state"
    site: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
