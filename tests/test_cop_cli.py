"""`hpsup cop` through the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cop_synth import counter, profile, write_csv

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hanlon_vaillant"
KEYS = {"spf", "spf_space", "spf_dhw", "heat_kwh", "elec_kwh", "days", "bad_intervals"}


def _hpsup(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("hpsup", path=str(Path(sys.executable).parent))
    assert exe, "the hpsup console script is installed beside the interpreter"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not DATA.is_dir(), reason="reference data ../shared/data/hanlon_vaillant not present")
def test_json_report_of_the_raw_exports_has_the_contract_keys() -> None:
    run = _hpsup("cop", "--input", str(DATA / "raw"), "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert KEYS | {"by_year"} <= set(report)
    assert all(KEYS <= set(f) for f in report["by_year"].values())
    assert 3.4 < report["spf"] < 3.5


def test_table_report_of_a_time_series_and_a_clear_error_for_a_bad_file(tmp_path: Path) -> None:
    p = profile(days=2)
    path = write_csv(tmp_path / "ts.csv", p["t"], {
        "elec_kwh": counter(p["t"], p["elec_w"]), "heat_kwh": counter(p["t"], np.maximum(p["heat_w"], 0)),
        "dhw": p["dhw"], "compressor_on": p["compressor_on"], "flow_temp_c": p["flow_temp_c"],
    })
    run = _hpsup("cop", "--input", str(path), "--by", "day")
    assert run.returncode == 0, run.stderr
    assert "whole period" in run.stdout and "2024-01-15" in run.stdout and "2024-01-16" in run.stdout
    run = _hpsup("cop", "--input", str(path), "--by", "hour", "--format", "json")
    hours = json.loads(run.stdout)["by_hour"]
    assert len(hours) == 48 and hours["2024-01-15T13"]["spf_dhw"] == pytest.approx(6500 / 2500, abs=1e-3)
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,elec_kwh,heat_kwh\n2024-01-01T00:00:00,1.0,nope\n")
    run = _hpsup("cop", "--input", str(bad), "--format", "json")
    assert run.returncode == 2
    assert "bad.csv:2: column 'heat_kwh': not a number: 'nope'" in run.stderr
