"""DHW schedule triggers on the clock: an operator's start time and pasteurisation day take effect at once, and
relinquishing them goes back to the site file's."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from control_plant import Rig, fast_directory, school_variant
from sqlalchemy import Engine

from app.control.performance import PerformanceTable
from app.control.schedule import CronSchedule
from app.storage import engine as storage_engine

TUESDAY_3AM = datetime(2025, 1, 7, 3, tzinfo=UTC)  # UTC = local in January
LONDON = ZoneInfo("Europe/London")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    url = f"sqlite:///{fast_directory(tmp_path_factory, 'schedule') / 'hpsup.db'}"
    storage_engine.upgrade(url)
    return storage_engine.make_engine(url)


def boosts_started(rig: Rig) -> list[tuple[datetime, str]]:
    return [(e.ts, e.reason) for e in rig.transitions("dhw1") if e.reason.startswith("boost: scheduled")]


def test_an_operator_boost_time_moves_the_boost_and_relinquishing_restores_the_site_file_time(
        engine: Engine) -> None:
    hp = school_variant().heat_pumps[0]
    rig = Rig(engine, {hp.id: PerformanceTable.for_heat_pump(hp)}, "schedule boost", TUESDAY_3AM, school_variant())
    rig.command("dhw1.boost_time", 5.5)
    for _ in range(6):  # 03:30 … 06:00 (a hot cylinder: each boost passes as it starts)
        rig.step(30.0)
    assert boosts_started(rig) == [(datetime(2025, 1, 7, 5, 30, tzinfo=UTC), "boost: scheduled boost Tue 05:30")]
    changed = rig.events("operator", "dhw1")
    assert changed[0].reason == "DHW schedule changed" and changed[0].data["boost"] == "05:30:00"

    rig.operator.relinquish("dhw1.boost_time")
    rig.step(30.0)
    back = rig.events("operator", "dhw1")[-1]
    assert back.reason == "DHW schedule back to the site file's" and back.data["boost"] == "04:00:00"
    while rig.clock.now() < datetime(2025, 1, 8, 6, tzinfo=UTC):
        rig.step(30.0)
    assert boosts_started(rig)[1:] == [(datetime(2025, 1, 8, 4, tzinfo=UTC), "boost: scheduled boost Wed 04:00")]


def test_a_trigger_fires_once_per_due_time_in_local_time_across_the_clock_change() -> None:
    start = datetime(2025, 3, 28, 12, tzinfo=UTC)  # British Summer Time starts on Sunday 30 March, 01:00 UTC
    daily = CronSchedule.daily(time(4, 0), LONDON, start)
    fired = []
    now = start
    while now < start + timedelta(days=3):
        if (at := daily.due(now)) is not None:
            fired.append((at.astimezone(UTC), now))
        now += timedelta(minutes=10)
    assert [at for at, _ in fired] == [datetime(2025, 3, 29, 4, tzinfo=UTC), datetime(2025, 3, 30, 3, tzinfo=UTC),
                                       datetime(2025, 3, 31, 3, tzinfo=UTC)]  # 04:00 local, GMT then BST
    assert all(seen - at < timedelta(minutes=10) for at, seen in fired)


def test_a_time_missed_while_stopped_fires_once_on_restart_not_once_per_missed_day() -> None:
    stopped = datetime(2025, 1, 6, 12, tzinfo=UTC)
    daily = CronSchedule.daily(time(4, 0), LONDON, stopped + timedelta(days=3), last_fired=datetime(
        2025, 1, 6, 4, tzinfo=UTC))
    back = stopped + timedelta(days=3)
    assert daily.due(back) == datetime(2025, 1, 7, 4, tzinfo=LONDON)  # the first missed one, once
    assert daily.due(back) is None and daily.due(back + timedelta(hours=12)) is None
    assert daily.due(datetime(2025, 1, 10, 4, tzinfo=UTC)) == datetime(2025, 1, 10, 4, tzinfo=LONDON)
