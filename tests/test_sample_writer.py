"""The background sample writer: stores exactly what inline storage stores, in order, catches up on a backlog
in one transaction, and reports a storage failure instead of storing around it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, select, text

from app.snapshot import DeviceSnapshot, PlantSnapshot, Quality, Reading
from app.storage.engine import make_engine, upgrade
from app.storage.historian import Historian
from app.storage.models import Sample
from app.storage.sample_writer import SampleWriter

T0 = datetime(2025, 1, 6, 7, 0, tzinfo=UTC)


def snapshot(i: int, naive: bool = False) -> PlantSnapshot:
    ts = T0 + timedelta(seconds=i)
    ts = ts.replace(tzinfo=None) if naive else ts
    devices = {f"hp{d}": DeviceSnapshot(f"hp{d}", {
        "flow_temp": Reading(40.0 + i + d / 10, "degC", Quality.GOOD, ts),
        "return_temp": Reading(None, "degC", Quality.SENTINEL, ts),
    }) for d in range(3)}
    return PlantSnapshot(ts, devices)


def rows(engine: Engine, site: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(Sample.ts, Sample.point, Sample.value, Sample.quality)
                                               .where(Sample.site == site).order_by(Sample.id))]


@pytest.fixture
def engine(db_url: str) -> Engine:
    upgrade(db_url)
    return make_engine(db_url)


def test_writer_stores_what_inline_storage_stores_in_submission_order(engine: Engine) -> None:
    inline, writer = Historian(engine, "inline"), SampleWriter(Historian(engine, "writer"))
    futures = [writer.submit(snapshot(i)) for i in range(5)]
    for i in range(5):
        inline.record_snapshot(snapshot(i))
    writer.close()
    assert [f.result() for f in futures] == [6] * 5
    assert rows(engine, "writer") == rows(engine, "inline") and len(rows(engine, "inline")) == 30


@contextmanager
def samples_locked(engine: Engine) -> Iterator[None]:
    """Another connection holds the samples table against writers until the block ends."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.begin()
            conn.execute(text("LOCK TABLE samples IN EXCLUSIVE MODE"))
        yield
        conn.rollback()


def test_a_backlog_is_caught_up_in_one_transaction(engine: Engine) -> None:
    commits, storing = [], threading.Event()
    event.listen(engine, "commit", lambda conn: commits.append(threading.current_thread().name))
    event.listen(engine, "begin", lambda conn: storing.set() if threading.current_thread().name == "sample-writer"
                 else None)
    writer = SampleWriter(Historian(engine, "school"))
    with samples_locked(engine):
        first = writer.submit(snapshot(0))
        assert storing.wait(30)  # the writer has begun storing the first and waits for the lock
        backlog = [writer.submit(snapshot(i)) for i in range(1, 6)]
        assert not first.done()
    assert first.result(timeout=30) == 6 and [f.result(timeout=30) for f in backlog] == [6] * 5
    writer.close()
    assert commits.count("sample-writer") == 2
    assert [r[0] for r in rows(engine, "school")] == [T0 + timedelta(seconds=i) for i in range(6) for _ in range(6)]


def test_a_storage_failure_is_reported_and_nothing_is_stored_around_it(engine: Engine) -> None:
    writer = SampleWriter(Historian(engine, "school"))
    assert writer.submit(snapshot(0)).result(timeout=30) == 6
    failed = writer.submit(snapshot(1, naive=True))
    with pytest.raises(ValueError, match="naive datetime"):
        failed.result(timeout=30)
    with pytest.raises(RuntimeError, match="sample storage failed: .*naive datetime"):
        writer.submit(snapshot(2))
    with pytest.raises(RuntimeError, match="sample storage failed"):
        writer.close()
    assert len(rows(engine, "school")) == 6
