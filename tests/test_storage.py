"""Storage: migrations create the schema, models and migration head agree, the historian round-trips."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import hpsup
from sqlalchemy import func, inspect, select

from app.snapshot import DeviceSnapshot, PlantSnapshot, Quality, Reading
from app.storage.engine import make_engine, upgrade
from app.storage.historian import Historian
from app.storage.models import Base, Event, RegisterWrite, Sample

T0 = datetime(2024, 1, 7, 22, 0, tzinfo=UTC)


def test_db_upgrade_command_creates_schema_on_empty_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    result = hpsup("db", "upgrade", "--url", f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    tables = {row[0] for row in sqlite3.connect(db).execute("select name from sqlite_master where type='table'")}
    assert {"samples", "events", "register_writes", "l8_records", "controller_state", "alembic_version"} <= tables


def test_db_upgrade_reads_url_from_environment(tmp_path: Path) -> None:
    db = tmp_path / "from_env.db"
    result = hpsup("db", "upgrade", env={"HPSUP_DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_models_and_migration_head_agree(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_historian_stores_snapshot_with_quality_and_utc_times(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    historian = Historian(make_engine(sqlite_url), "school")
    snap = PlantSnapshot(T0, {"hp1": DeviceSnapshot("hp1", {
        "flow_temp": Reading(45.5, "degC", Quality.GOOD, T0),
        "return_temp": Reading(None, "degC", Quality.SENTINEL, T0),
    })})
    assert historian.record_snapshot(snap) == 2
    with historian.engine.connect() as conn:
        rows = {r.point: r for r in conn.execute(select(Sample))}
    assert rows["hp1.flow_temp"].value == 45.5 and rows["hp1.flow_temp"].quality == "good"
    assert rows["hp1.return_temp"].value is None and rows["hp1.return_temp"].quality == "sentinel"
    assert rows["hp1.flow_temp"].ts == T0 and rows["hp1.flow_temp"].ts.tzinfo is not None


def test_naive_datetimes_are_refused(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    historian = Historian(make_engine(sqlite_url), "school")
    with pytest.raises(Exception, match="naive datetime"):
        historian.record_event(datetime(2024, 1, 1), "transition", "hp1", "test")


def test_events_writes_and_state_persist(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    historian = Historian(engine, "school")
    historian.record_event(T0, "transition", "dhw1", "weekly pasteurisation due", from_state="idle",
                           to_state="pasteurise", data={"target_c": 60})
    historian.record_write(T0, "hp1", "flow_setpoint", "verified", "weather compensation", value=48.0,
                           previous_value=50.0, register_type="holding", address=2, raw={"words": [480]})
    assert historian.load_state("dhw1") is None
    historian.save_state("dhw1", {"state": "pasteurise"}, T0)
    historian.save_state("dhw1", {"state": "passed"}, T0 + timedelta(hours=1))
    assert Historian(make_engine(sqlite_url), "school").load_state("dhw1") == {"state": "passed"}
    assert Historian(engine, "other site").load_state("dhw1") is None
    with engine.connect() as conn:
        event = conn.execute(select(Event)).one()
        write = conn.execute(select(RegisterWrite)).one()
        assert conn.execute(select(func.count()).select_from(Sample)).scalar() == 0
    assert (event.from_state, event.to_state, event.data) == ("idle", "pasteurise", {"target_c": 60})
    assert (write.outcome, write.value, write.previous_value, write.raw) == ("verified", 48.0, 50.0, {"words": [480]})
