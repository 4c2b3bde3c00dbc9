"""`hpsup estate`: many sites summarised from one central historian, on PostgreSQL and SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import EXAMPLES, hpsup
from sqlalchemy import insert, select

from app.audit.log import L8Entry, L8Log
from app.config import load_site
from app.control.supervisor import CycleResult
from app.estate.cop_today import CopToday
from app.estate.summary import season_start, summarise
from app.monitoring.store import LiveCop
from app.snapshot import Commands, DeviceSnapshot, PlantSnapshot, Quality, Reading
from app.storage.engine import make_engine, upgrade
from app.storage.historian import Historian
from app.storage.models import ControllerState, CopDaily

AT = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)  # "today" is 2025-01-15 in Europe/London; the season began 2024-10-01
SCHOOL, CARE_HOME, ACADEMY = "Riverside Primary School", "Oak House Care Home", "Hillside Academy"


def cop_row(site: str, unit: str, day: str, heat: float, elec: float) -> dict[str, Any]:
    figures = {"spf": round(heat / elec, 3), "heat_kwh": heat, "elec_kwh": elec, "boundary": "H2"}
    return {"site": site, "unit": unit, "day": day, "figures": json.dumps(figures, sort_keys=True)}


def populate(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    school, care = Historian(engine, SCHOOL), Historian(engine, CARE_HOME)
    # The school reports: its newest sample is on a different point from the first point's newest.
    school.record_samples([(AT - timedelta(minutes=30), "hp1.flow_temp", 45.0, "good"),
                           (AT - timedelta(minutes=2), "hp1.return_temp", 38.0, "good"),
                           (AT - timedelta(minutes=9), "hp2.flow_temp", None, "comm_error")])
    care.record_samples([(AT - timedelta(hours=2), "hp1.flow_temp", 41.0, "good")])
    school.record_event(AT - timedelta(hours=5), "alarm", "hp1", "COP 2.1 below 85 % of expected 2.9",
                        to_state="active")
    school.record_event(AT - timedelta(hours=4), "alarm", "dhw1", "cylinder top below 60 °C", to_state="active")
    school.record_event(AT - timedelta(hours=3), "alarm", "dhw1", "cylinder back above 60 °C", to_state="cleared")
    school.record_event(AT - timedelta(hours=1), "comms_lost", "hp2", "no answer", from_state="ok", to_state="lost")
    school.record_event(AT - timedelta(hours=2), "comms_lost", "hp1", "no answer", from_state="ok", to_state="lost")
    school.record_event(AT - timedelta(hours=1), "comms_restored", "hp1", "answering", from_state="lost",
                        to_state="ok")
    care.record_event(AT - timedelta(days=3), "alarm", "hp1", "high discharge", to_state="active")
    care.record_event(AT - timedelta(days=2), "alarm", "hp1", "reset", to_state="normal")
    Historian(engine, ACADEMY).record_event(AT - timedelta(days=1), "operator", "bacnet", "commissioning")
    # Today: hp1 so far (controller state, as CopToday keeps it), hp2's day already closed (it wins over its
    # provisional figures); a provisional row left from an earlier day is not today's.
    school.save_state("cop_today:hp1", {"day": "2025-01-15", "figures": {"heat_kwh": 30.0, "elec_kwh": 10.0}}, AT)
    school.save_state("cop_today:hp2", {"day": "2025-01-15", "figures": {"heat_kwh": 99.0, "elec_kwh": 1.0}}, AT)
    care.save_state("cop_today:hp1", {"day": "2025-01-14", "figures": {"heat_kwh": 99.0, "elec_kwh": 1.0}}, AT)
    with engine.begin() as conn:
        conn.execute(insert(CopDaily), [
            cop_row(SCHOOL, "hp2", "2025-01-15", 10.0, 5.0),
            cop_row(SCHOOL, "hp1", "2024-12-01", 300.0, 100.0), cop_row(SCHOOL, "hp1", "2024-10-01", 60.0, 20.0),
            cop_row(SCHOOL, "hp1", "2024-09-30", 1000.0, 100.0),  # last season: not counted
            cop_row(SCHOOL, "hp1", "2025-01-16", 1000.0, 100.0),  # after the view's time: not counted
            cop_row(CARE_HOME, "hp1", "2024-06-01", 50.0, 10.0),
        ])
    L8Log(engine, SCHOOL).append([
        L8Entry.cycle(AT - timedelta(days=3), "dhw1", "pasteurise", True, 60.8),
        L8Entry.cycle(AT - timedelta(hours=8), "dhw1", "boost", True, 62.1),
    ])
    L8Log(engine, CARE_HOME).append([
        L8Entry.cycle(AT - timedelta(days=1), "dhw_main", "pasteurise", False, 57.2, reason="immersion failed"),
    ])
    engine.dispose()


def test_season_starts_on_the_latest_start_date_not_after_the_day() -> None:
    assert season_start(date(2025, 1, 15), (10, 1)) == date(2024, 10, 1)
    assert season_start(date(2024, 10, 1), (10, 1)) == date(2024, 10, 1)
    assert season_start(date(2024, 9, 30), (10, 1)) == date(2023, 10, 1)


def test_estate_summarises_each_site_from_one_historian(db_url: str) -> None:
    populate(db_url)
    result = hpsup("estate", "--database", db_url, "--at", AT.isoformat(), "--stale", "15m", "--json")
    assert result.returncode == 0, result.stderr
    sites = {s["site"]: s for s in json.loads(result.stdout)}
    assert list(sites) == [ACADEMY, CARE_HOME, SCHOOL]

    school = sites[SCHOOL]
    assert school["status"] == "reporting"
    assert datetime.fromisoformat(school["last_seen"]) == AT - timedelta(minutes=2)
    assert school["comms_lost"] == ["hp2"]
    assert [(a["source"], a["reason"]) for a in school["alarms"]] == [("hp1", "COP 2.1 below 85 % of expected 2.9")]
    assert school["cop_today"] == round(40 / 15, 2)
    assert school["cop_season"] == round((40 + 300 + 60) / (15 + 100 + 20), 2)
    assert school["season_start"] == "2024-10-01"
    assert (school["last_l8_cycle"]["cycle"], school["last_l8_cycle"]["outcome"],
            school["last_l8_cycle"]["peak_c"]) == ("boost", "pass", 62.1)

    care = sites[CARE_HOME]
    assert care["status"] == "stale" and care["alarms"] == [] and care["comms_lost"] == []
    assert care["cop_today"] is None and care["cop_season"] is None
    assert (care["last_l8_cycle"]["cylinder"], care["last_l8_cycle"]["outcome"]) == ("dhw_main", "fail")

    academy = sites[ACADEMY]
    assert academy["status"] == "no data" and academy["last_seen"] is None and academy["last_l8_cycle"] is None


def test_estate_table_names_every_site_and_what_needs_attention(postgres_url: str) -> None:
    populate(postgres_url)
    result = hpsup("estate", "--database", postgres_url, "--at", "2025-01-15T12:00:00+00:00", "--stale", "15m",
                   env={"COLUMNS": "240"})
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    for text in (SCHOOL, CARE_HOME, ACADEMY, "3 site(s)", "comms lost: hp2", "hp1: COP 2.1 below 85 %",
                 "2.67", "2.96", "dhw_main pasteurise fail", "stale", "no data"):
        assert text in out, text
    assert "postgres@" in out and "hpsup_test_" in out


@pytest.mark.parametrize(("args", "code", "message"), [
    ((), 2, "give --database URL or set HPSUP_DATABASE_URL"),
    (("--database", "nonsense"), 2, "--database: not a usable database URL"),
    (("--database", "postgresql://hp:secret@127.0.0.1:1/estate"), 1, "cannot read the historian at "
                                                                      "postgresql+psycopg://hp:***@127.0.0.1:1/estate"),
    (("--database", "sqlite://", "--at", "yesterday"), 2, "'yesterday' is not an ISO 8601 time"),
    (("--database", "sqlite://", "--season-start", "13-01"), 2, "'13-01' is not a month-day like 10-01"),
])
def test_estate_reports_bad_input_clearly(args: tuple[str, ...], code: int, message: str) -> None:
    result = hpsup("estate", *args, env={"HPSUP_DATABASE_URL": ""})
    assert result.returncode == code, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "secret" not in result.stderr


def test_estate_on_a_database_without_the_schema_says_how_to_create_it(postgres_url: str) -> None:
    result = hpsup("estate", "--database", postgres_url)
    assert result.returncode == 1
    assert "hpsup db upgrade" in result.stderr and "Traceback" not in result.stderr


def cop_snapshots(start: datetime, minutes: int) -> Iterator[PlantSnapshot]:
    """A heat pump running steadily at 10 kW electrical, 30 kW heat (COP 3), one snapshot a minute."""
    for i in range(minutes):
        ts = start + timedelta(minutes=i)
        elec, heat = 1000.0 + 10.0 * i / 60, 3000.0 + 30.0 * i / 60

        def good(v: float, unit: str = "", ts: datetime = ts) -> Reading:
            return Reading(v, unit, Quality.GOOD, ts)

        yield PlantSnapshot(ts, {"hp1": DeviceSnapshot("hp1", {
            "outdoor_temp": good(5.0, "degC"), "flow_temp": good(40.0, "degC"), "return_temp": good(35.0, "degC"),
            "compressor_running": good(1.0), "defrost_active": good(0.0), "operating_state": good(2.0),
            "electrical_energy": good(round(elec, 3), "kWh"), "heat_energy": good(round(heat, 3), "kWh")})})


def test_live_cop_so_far_reaches_the_central_view_every_few_minutes(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    site = load_site(EXAMPLES / "school.yaml")
    historian = Historian(engine, site.site.name)
    live = LiveCop(site, engine, site_dir=EXAMPLES, events=historian)
    keeper = CopToday(live, historian, every_s=300)
    updates: set[datetime] = set()
    start = datetime(2025, 1, 15, 6, 0, tzinfo=UTC)
    for snap in cop_snapshots(start, 61):
        result = CycleResult(snap, Commands(snap.ts))
        live(result)
        keeper(result)
        with engine.connect() as conn:
            updates.update(conn.execute(select(ControllerState.updated_at)).scalars())
    stamps = sorted(updates)
    assert len(stamps) >= 11 and all(b - a == timedelta(minutes=5) for a, b in zip(stamps, stamps[1:], strict=False))
    state = historian.load_state("cop_today:hp1")
    assert state is not None and state["day"] == "2025-01-15" and state["figures"] == live.today("hp1")
    (school,) = summarise(engine, start + timedelta(hours=1), tz=ZoneInfo("Europe/London"),
                          stale_after=timedelta(minutes=10))
    assert school.cop_today == pytest.approx(3.0, abs=0.01) and school.cop_season == school.cop_today


def test_a_supervisor_run_into_postgresql_shows_in_the_estate_view(postgres_url: str) -> None:
    run = hpsup("run", "--site", str(EXAMPLES / "school.yaml"), "--simulate", "--duration", "10m", "--speed", "600",
                env={"HPSUP_DATABASE_URL": postgres_url})
    assert run.returncode == 0, run.stderr
    result = hpsup("estate", "--database", postgres_url, "--json", "--stale", "1h")
    assert result.returncode == 0, result.stderr
    (site,) = json.loads(result.stdout)
    assert site["site"] == "Riverside Primary School" and site["status"] == "reporting"
    assert site["comms_lost"] == [] and site["alarms"] == []
