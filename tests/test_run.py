"""`hpsup run --simulate`: a real end-to-end slice from register map to stored samples and writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import EXAMPLES, hpsup


def test_simulated_run_stores_samples_and_a_setpoint_write(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    result = hpsup("run", "--site", str(EXAMPLES / "school.yaml"), "--simulate", "--duration", "10m",
                   "--speed", "600", env={"HPSUP_DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert "20 control cycles" in result.stdout
    conn = sqlite3.connect(db)
    samples = conn.execute("select count(*), count(distinct ts) from samples").fetchone()
    assert samples[0] > 100 and samples[1] == 20
    writes = conn.execute("select ts, value, outcome from register_writes where point='flow_setpoint' "
                          "order by ts").fetchall()
    verified = [(ts, value) for ts, value, outcome in writes if outcome == "verified"]
    assert verified and all(25 <= value <= 60 for _, value in verified)
    assert {outcome for *_, outcome in writes} <= {"verified", "refused"}  # refused: the write-rate guard
    # the plant really holds what was written: the next cycle's poll reads each write back
    read_back = [
        (value, conn.execute("select value from samples where point='hp1.flow_setpoint' and ts > ? "
                             "order by ts limit 1", (ts,)).fetchone())
        for ts, value in verified
    ]
    checked = [(value, row[0]) for value, row in read_back if row is not None]
    assert checked and all(written == polled for written, polled in checked)


def test_speed_without_simulate_is_refused() -> None:
    result = hpsup("run", "--site", str(EXAMPLES / "school.yaml"), "--speed", "10", "--duration", "1m")
    assert result.returncode != 0
    assert "--simulate" in result.stderr
