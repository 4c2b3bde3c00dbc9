"""Weather for simulations: the built-in 2024 UK year, user CSV and EPW files, and clear errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.plant import weather
from app.plant.weather import WeatherError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _raw_builtin() -> dict[str, float]:
    rows = [line.split(";") for line in weather.BUILTIN.read_text().splitlines()[2:]]
    return {stamp: float(value) for stamp, value in rows}


def test_builtin_year_is_every_hour_of_2024_with_provenance() -> None:
    w = weather.builtin()
    assert w.start == T0 and len(w.outdoor_c) == 366 * 24
    notes = (weather.BUILTIN.parent / "README.md").read_text()
    assert "public domain" in notes and "Unlicense" in notes
    winter = w.hourly(T0, 31 * 24)
    assert -10 < min(winter) < 0 < max(winter) < 16   # a UK January


def test_builtin_sentinels_and_sun_on_the_sensor_are_cleaned() -> None:
    raw = _raw_builtin()
    w = weather.builtin()
    stamps = list(raw)
    sentinel_hours = [i for i, s in enumerate(stamps) if raw[s] <= -39.9]
    assert sentinel_hours, "the raw export has sentinel hours"
    assert all(w.outdoor_c[i] > -5 for i in sentinel_hours)
    sunny = stamps.index("2024-03-30 15:00:00")  # raw 35.5 °C, with 16.7 °C the hour before
    assert raw["2024-03-30 15:00:00"] == 35.5
    assert abs(w.outdoor_c[sunny] - raw["2024-03-30 14:00:00"]) < 4
    changed = [i for i, s in enumerate(stamps) if raw[s] != w.outdoor_c[i]]
    assert all(int(stamps[i][11:13]) in (12, 13, 14, 15, 16, 17, 18) or raw[stamps[i]] <= -39.9 for i in changed)
    assert len(changed) < 400   # the rest of the year is left as measured


def test_hourly_window_and_typical_year() -> None:
    w = weather.builtin()
    assert w.hourly(datetime(2024, 1, 1, 0, 30, tzinfo=UTC), 2) == list(w.outdoor_c[:3])
    # the built-in year repeats: the same hour of another year
    assert w.hourly(datetime(2026, 1, 1, tzinfo=UTC), 1) == list(w.outdoor_c[:2])


def test_user_csv_with_local_times(tmp_path: Path) -> None:
    f = tmp_path / "site.csv"
    f.write_text("# logger export\ntime,temp_air\n2024-06-01 00:00,12.5\n2024-06-01 01:00,12.0\n"
                 "2024-06-01 02:00,11.5\n")
    w = weather.load(f, tz="Europe/London")
    assert w.start == datetime(2024, 5, 31, 23, 0, tzinfo=UTC)   # BST
    assert w.outdoor_c == (12.5, 12.0, 11.5)
    with pytest.raises(WeatherError, match="covers"):
        w.hourly(datetime(2024, 7, 1, tzinfo=UTC), 5)


@pytest.mark.parametrize(("body", "where", "what"), [
    ("time;OutdoorTemperature\n2024-01-01 00:00;5\n2024-01-01 02:00;6\n", ":3:", "expected the next hour"),
    ("time,temperature\n2024-01-01 00:00,5\n2024-01-01 01:00,warm\n", ":3:", "not a number (got 'warm')"),
    ("time,temperature\n2024-01-01 00:00,5\n2024-01-01 01:00,99\n", ":3:", "outside"),
    ("time,temperature\nyesterday,5\n2024-01-01 01:00,6\n", ":2:", "not an ISO 8601 time"),
    ("when,wind\n2024-01-01 00:00,5\n2024-01-01 01:00,6\n", ":1:", "no outdoor temperature column"),
])
def test_bad_csv_names_file_line_and_value(tmp_path: Path, body: str, where: str, what: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(WeatherError) as err:
        weather.load(f)
    assert f"{f}{where}" in str(err.value) and what in str(err.value)


def _epw(path: Path, temps: list[float]) -> None:
    header = ["LOCATION,London Gatwick,-,GBR,IWEC,037760,51.15,-0.18,0.0,62.0"] + ["X"] * 7
    rows = [f"1999,1,{1 + i // 24},{i % 24 + 1},60,*,{t:.1f},0" for i, t in enumerate(temps)]
    path.write_text("\n".join(header + rows) + "\n")


def test_epw_is_a_typical_year_of_hour_ending_records(tmp_path: Path) -> None:
    f = tmp_path / "gatwick.epw"
    _epw(f, [float(i % 24) for i in range(8760)])   # the hour ending at h:00 reads h - 1
    w = weather.load(f)
    assert w.typical
    # 10:00 UTC is 10:00 standard time in the UK: the record for the hour ending 10:00 (value 9)
    assert w.hourly(datetime(2030, 1, 5, 10, tzinfo=UTC), 1) == [9.0, 10.0]


def test_epw_with_a_bad_record_names_its_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.epw"
    _epw(f, [5.0] * 8760)
    lines = f.read_text().splitlines()
    lines[20] = lines[20].replace(",5.0,", ",hot,")
    f.write_text("\n".join(lines))
    with pytest.raises(WeatherError, match=r"bad\.epw:21: dry bulb"):
        weather.load(f)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(WeatherError, match="no such weather file"):
        weather.load(tmp_path / "nowhere.csv")
