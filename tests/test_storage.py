"""Storage on SQLite and PostgreSQL: migrations create the schema, models and migration head agree, every table
and the historian round-trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import hpsup
from sqlalchemy import JSON, Column, Table, func, insert, inspect, select, update

from app.audit.chain import verify
from app.audit.log import L8Entry, L8Log
from app.monitoring.store import CopStore
from app.snapshot import DeviceSnapshot, PlantSnapshot, Quality, Reading
from app.storage.engine import alembic_config, make_engine, normalise_url, upgrade
from app.storage.historian import Historian
from app.storage.models import Base, Event, L8Record, RegisterWrite, Sample

T0 = datetime(2024, 1, 7, 22, 0, tzinfo=UTC)


def test_db_upgrade_command_creates_schema_on_empty_database(db_url: str) -> None:
    result = hpsup("db", "upgrade", "--url", db_url)
    assert result.returncode == 0, result.stderr
    tables = set(inspect(make_engine(db_url)).get_table_names())
    assert {"samples", "events", "register_writes", "l8_records", "controller_state", "alembic_version"} <= tables


def test_db_upgrade_reads_url_from_environment(tmp_path: Path) -> None:
    db = tmp_path / "from_env.db"
    result = hpsup("db", "upgrade", env={"HPSUP_DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_models_and_migration_head_agree(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)


def test_migrations_downgrade_to_base_and_upgrade_again(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    command.downgrade(alembic_config(db_url), "base")
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()
    upgrade(db_url)
    assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)


def test_postgresql_urls_use_psycopg_3() -> None:
    assert normalise_url("postgresql://hp@db:5432/estate") == "postgresql+psycopg://hp@db:5432/estate"
    assert normalise_url("postgres://hp@db/estate") == "postgresql+psycopg://hp@db/estate"
    assert normalise_url("sqlite:///hpsup.db") == "sqlite:///hpsup.db"
    assert make_engine("postgresql://hp@db:5432/estate").dialect.driver == "psycopg"


def _example_value(table: Table, column: Column[Any], n: int) -> Any:
    """A value of the column's type that differs per row `n` (strings fill the column's full length)."""
    kind = getattr(column.type, "impl", column.type)  # a TypeDecorator stores as its impl
    py = dict if isinstance(kind, JSON) else kind.python_type
    if py is datetime:
        return (T0 + timedelta(minutes=n)).astimezone(timezone(timedelta(hours=1)))  # stored as UTC
    if py is str:
        length = getattr(column.type, "length", None) or 200
        return (f"{table.name}.{column.name}.{n}-é" * length)[:length]
    if py is int:
        return 2**40 + n if column.type.__class__.__name__ == "BigInteger" else 1000 + n
    if py is float:
        return 0.1 + n
    if py is bool:
        return n % 2 == 0
    if py is dict:
        return {"n": n, "nested": [1.5, "ünïcode", None], "flag": True}
    raise AssertionError(f"no example value for {table.name}.{column.name} ({column.type})")


def test_every_table_round_trips_rows_on_each_backend(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    for table in Base.metadata.sorted_tables:
        rows = [{c.name: _example_value(table, c, n) for c in table.columns
                 if not (c.primary_key and c.autoincrement is True)} for n in range(2)]
        with engine.begin() as conn:
            conn.execute(insert(table), rows)
        with engine.connect() as conn:
            stored = [dict(r._mapping) for r in conn.execute(select(table))]
        assert len(stored) == 2, table.name
        for want, got in zip(rows, stored, strict=True):
            assert {k: got[k] for k in want} == want, table.name
            for k, v in want.items():
                if isinstance(v, datetime):
                    assert got[k].utcoffset() == timedelta(0), f"{table.name}.{k} not returned as UTC"


def test_sqlite_runs_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_historian_stores_snapshot_with_quality_and_utc_times(db_url: str) -> None:
    upgrade(db_url)
    historian = Historian(make_engine(db_url), "school")
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


def test_naive_datetimes_are_refused(db_url: str) -> None:
    upgrade(db_url)
    historian = Historian(make_engine(db_url), "school")
    with pytest.raises(Exception, match="naive datetime"):
        historian.record_event(datetime(2024, 1, 1), "transition", "hp1", "test")


def test_events_writes_and_state_persist(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    historian = Historian(engine, "school")
    historian.record_event(T0, "transition", "dhw1", "weekly pasteurisation due", from_state="idle",
                           to_state="pasteurise", data={"target_c": 60})
    historian.record_write(T0, "hp1", "flow_setpoint", "verified", "weather compensation", value=48.0,
                           previous_value=50.0, register_type="holding", address=2, raw={"words": [480]})
    assert historian.load_state("dhw1") is None
    historian.save_state("dhw1", {"state": "pasteurise"}, T0)
    historian.save_state("dhw1", {"state": "passed"}, T0 + timedelta(hours=1))
    assert Historian(make_engine(db_url), "school").load_state("dhw1") == {"state": "passed"}
    assert Historian(engine, "other site").load_state("dhw1") is None
    with engine.connect() as conn:
        event = conn.execute(select(Event)).one()
        write = conn.execute(select(RegisterWrite)).one()
        assert conn.execute(select(func.count()).select_from(Sample)).scalar() == 0
    assert (event.from_state, event.to_state, event.data) == ("idle", "pasteurise", {"target_c": 60})
    assert (write.outcome, write.value, write.previous_value, write.raw) == ("verified", 48.0, 50.0, {"words": [480]})


def test_l8_log_chains_verifies_and_names_tampering_on_each_backend(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    log = L8Log(engine, "school")
    log.append([L8Entry.temperature(T0 + timedelta(minutes=i), "dhw1", "top", 60.5 + i / 10) for i in range(5)])
    log.append([L8Entry.cycle(T0 + timedelta(hours=1), "dhw1", "pasteurise", True, 61.2, held_min=60)])
    L8Log(engine, "other site").append([L8Entry.temperature(T0, "dhw1", "top", 58.0)])
    verdict = verify(log.rows())
    assert verdict.ok and verdict.rows == 6 and (verdict.first_seq, verdict.last_seq) == (1, 6)
    assert verdict.head == log.head()[1]
    with engine.begin() as conn:
        conn.execute(update(L8Record).where(L8Record.site == "school", L8Record.seq == 3).values(value=65.0))
    assert [(p.kind, p.seq) for p in verify(log.rows()).problems] == [("altered", 3)]


def test_daily_cop_figures_replace_and_load_on_each_backend(db_url: str) -> None:
    upgrade(db_url)
    store = CopStore(make_engine(db_url), "school")
    store.replace("hp1", date(2025, 1, 13), date(2025, 1, 14),
                  {"2025-01-13": '{"spf":3.1}', "2025-01-14": '{"spf":2.9}'})
    store.replace("hp1", date(2025, 1, 14), date(2025, 1, 14), {"2025-01-14": '{"spf":3.0}'})
    assert store.load("hp1") == {"2025-01-13": '{"spf":3.1}', "2025-01-14": '{"spf":3.0}'}
    assert store.load("hp1", date(2025, 1, 14)) == {"2025-01-14": '{"spf":3.0}'}
    assert CopStore(store.engine, "other site").load("hp1") == {}
