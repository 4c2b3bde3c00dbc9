"""Export quirks and bad files: each error names the file, line, column and value."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.monitoring.figures import summary
from app.monitoring.intervals import MeteringConfig
from app.monitoring.parsers import DataFileError, load, read_daily_energy

UTC = ZoneInfo("UTC")
NAMES = ("ConsumedElectricalEnergy:Heating;ConsumedElectricalEnergy:DomesticHotWater;HeatGenerated:Heating;"
         "HeatGenerated:DomesticHotWater;EarnedEnvironmentEnergy:Heating;EarnedEnvironmentEnergy:DomesticHotWater")


def _raw(tmp_path: Path, rows: list[str], name: str = "energy.csv", blocks: int = 2) -> Path:
    path = tmp_path / name
    header = "DateTime;" + ";".join([NAMES] * blocks)
    path.write_text("# This file contains the energy consumption\n# All values are given in Watt hours (Wh)\n"
                    + header + "\n" + "\n".join(rows) + "\n")
    return path


def test_month_blocks_missing_day_and_rounding(tmp_path: Path) -> None:
    empty = ";" * 6
    path = _raw(tmp_path, [
        f"2023-07-30 00:00:00;1000;1000;4000;5000;3000;4000{empty}",
        f"2023-07-31 00:00:00;0;1834.3;0;6420;0;4585.7{empty}",
        f"2023-08-02 00:00:00{empty};2000;1000;7000;3000;5000;2000",
    ])
    report = summary(load(path, UTC, MeteringConfig()).intervals, UTC)
    assert report["heat_kwh"] == pytest.approx(4 + 5 + 6.42 + 7 + 3, abs=6e-4)
    assert report["elec_kwh"] == pytest.approx(1 + 1 + 1.8343 + 2 + 1, abs=6e-4)
    assert report["days"] == 3
    assert report["bad_intervals"] == [{
        "start": "2023-08-01T00:00:00+00:00", "end": "2023-08-02T00:00:00+00:00",
        "reason": "missing day", "intervals": 1,
    }]


def test_bad_value_names_file_line_column_and_value(tmp_path: Path) -> None:
    rows = ["2023-07-30 00:00:00;1000;1,5;4000;5000;3000;4000", "2023-07-31 00:00:00;1;2;3;4;5;x7"]
    path = _raw(tmp_path, rows, blocks=1)
    with pytest.raises(DataFileError) as err:
        read_daily_energy(path)
    msg = str(err.value)
    assert f"{path}:4" in msg and "ConsumedElectricalEnergy:DomesticHotWater" in msg and "'1,5'" in msg


def test_two_filled_blocks_and_conflicting_duplicate_days_are_refused(tmp_path: Path) -> None:
    path = _raw(tmp_path, ["2023-07-30 00:00:00;1;1;4;5;3;4;1;1;4;5;3;4"])
    with pytest.raises(DataFileError, match=r":4: 2 column blocks filled"):
        read_daily_energy(path)
    a = _raw(tmp_path, ["2023-07-30 00:00:00;1000;1000;4000;5000;3000;4000"], "a.csv", blocks=1)
    table = "DateTime," + NAMES.replace(";", ",") + "\n2023-07-30,1000,1000,4100,5000,3000,4000\n"
    (tmp_path / "b.csv").write_text(table)
    a.with_name("energy.csv").unlink()
    with pytest.raises(DataFileError, match=r"2023-07-30 heat_space = 4.1 kWh, but .*a.csv:4 has 4.0"):
        load(tmp_path, UTC, MeteringConfig())


def test_timeseries_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ts.csv"
    path.write_text("timestamp,elec_kwh,heat_kwh\n2024-01-01T00:00:00,1.0,3.0\n2024-01-01T00:01:00,1.1,oops\n")
    with pytest.raises(DataFileError, match=r"ts.csv:3: column 'heat_kwh': not a number: 'oops'"):
        load(path, UTC, MeteringConfig())
    path.write_text("timestamp,elec_kwh,heat_kwh\n2024-01-01T00:01:00,1.0,3.0\n2024-01-01T00:00:00,1.1,3.2\n")
    with pytest.raises(DataFileError, match=r"ts.csv:3: timestamp '2024-01-01T00:00:00' does not follow"):
        load(path, UTC, MeteringConfig())
    path.write_text("when,elec_kwh\n2024-01-01T00:00:00,1.0\n")
    with pytest.raises(DataFileError, match=r"ts.csv:1: no timestamp column"):
        load(path, UTC, MeteringConfig())


def test_heatpumpmonitor_feed_names_and_semicolons_are_read(tmp_path: Path) -> None:
    path = tmp_path / "feeds.csv"
    rows = ["# exported feeds", "time;heatpump_elec_kwh;heatpump_heat_kwh;heatpump_flowT;other"]
    for i in range(11):
        rows.append(f"{1704067200 + 60 * i};{100 + 0.03 * i:.2f};{300 + 0.12 * i:.2f};40;x")
    path.write_text("\n".join(rows) + "\n")
    loaded = load(path, UTC, MeteringConfig())
    report = summary(loaded.intervals, UTC)
    assert report["spf"] == pytest.approx(4.0, abs=1e-3)
    assert report["weighted_flow_temp_c"] == 40.0
    assert any("'other'" in s for s in loaded.skipped)
