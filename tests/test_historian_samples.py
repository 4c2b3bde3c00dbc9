"""Sample storage: the historian's one-executemany path stores exactly what SQLAlchemy's own insert stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import insert, text

from app.storage.engine import make_engine, upgrade
from app.storage.historian import Historian, SampleRow
from app.storage.models import Sample

T0 = datetime(2025, 3, 30, 0, 59, 59, 999_999, tzinfo=UTC)
BST = timezone(timedelta(hours=1))


def cycle_rows() -> list[SampleRow]:
    """Readings of two cycles as a snapshot gives them: shared timestamps, an older cached one, another zone,
    numbers of several Python and numpy types, and values withheld for bad quality."""
    older = T0 - timedelta(minutes=15)
    later = (T0 + timedelta(seconds=1)).astimezone(BST)  # the same instant as a UTC time of the next cycle
    return [
        (T0, "hp1.flow_temp", 45.5, "good"),
        (T0, "hp1.return_temp", None, "sentinel"),
        (T0, "hp1.compressor_running", 1, "good"),
        (older, "hp1.heat_energy_total", 123456.7, "good"),
        (T0, "hp1.outdoor_temp", np.float32(-3.25), "good"),
        (T0, "hp2.flow_temp", np.float64(41.2), "good"),
        (T0, "hp2.fault_code", None, "out_of_range"),
        (later, "hp1.flow_temp", 45.6, "good"),
        (T0 + timedelta(seconds=1), "hp1.return_temp", 39.0, "good"),
        (T0 + timedelta(microseconds=1), "hp1.flow_temp", 45.7, "good"),  # on the second: no fraction
    ]


def stored(engine, site: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    """The rows of `site` as the database holds them (timestamps as text) and as the ORM types read them."""
    with engine.connect() as conn:
        as_text = conn.execute(text("SELECT CAST(ts AS TEXT), point, value, quality FROM samples "
                                    "WHERE site = :site ORDER BY id"), {"site": site}).all()
        typed = conn.execute(Sample.__table__.select().where(Sample.site == site).order_by(Sample.id)).all()
    return [(*raw, row.ts) for raw, row in zip(as_text, typed, strict=True)]


def test_batched_samples_equal_sqlalchemy_insert(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    rows = cycle_rows()
    assert Historian(engine, "batched").record_samples(rows) == len(rows)
    with engine.begin() as conn:
        conn.execute(insert(Sample), [{"ts": ts, "site": "core", "point": p, "value": v, "quality": q}
                                      for ts, p, v, q in rows])
    batched, core = stored(engine, "batched"), stored(engine, "core")
    assert batched == core
    assert [r[-1] for r in batched] == [ts for ts, *_ in rows]  # UTC-aware, same instants
    assert all(r[-1].utcoffset() == timedelta(0) for r in batched)
    assert [r[2] for r in batched] == [None if v is None else float(v) for _, _, v, _ in rows]


def test_a_naive_timestamp_stores_nothing_of_the_batch(db_url: str) -> None:
    upgrade(db_url)
    historian = Historian(make_engine(db_url), "school")
    historian.record_samples(cycle_rows()[:2])
    bad = [*cycle_rows(), (datetime(2025, 3, 30, 1, 0, 1), "hp1.flow_temp", 45.0, "good")]
    with pytest.raises(ValueError, match="naive datetime"):
        historian.record_samples(bad)
    assert len(stored(historian.engine, "school")) == 2


def test_no_rows_no_transaction(db_url: str) -> None:
    upgrade(db_url)
    historian = Historian(make_engine(db_url), "school")
    assert historian.record_samples([]) == 0
    assert stored(historian.engine, "school") == []
