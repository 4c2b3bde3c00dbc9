"""COP figures: defrost accounting, SEPEMO boundaries, running vs combined, starts, rolling and periods."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from cop_synth import DAY0, counter, held_kwh, profile

from app.monitoring.figures import figures_by, rolling_cop, summary, totals
from app.monitoring.intervals import MeteringConfig, Samples, build_intervals

UTC = ZoneInfo("UTC")


def _power_samples(days: int = 1, **extra: np.ndarray) -> tuple[dict[str, np.ndarray], Samples]:
    p = profile(days=days)
    cols = {k: p[k] for k in ("elec_w", "heat_w", "compressor_on", "dhw", "flow_temp_c", "outdoor_temp_c")}
    cols.update(extra)
    return p, Samples(p["t"], cols)


def test_defrost_heat_is_subtracted_and_reported_as_a_share_of_heat() -> None:
    p, s = _power_samples()
    f = totals(build_intervals(s, MeteringConfig()))
    gross = held_kwh(p["t"], np.maximum(p["heat_w"], 0.0))
    drawn = -held_kwh(p["t"], np.minimum(p["heat_w"], 0.0))
    assert drawn == pytest.approx(0.5)  # two 5-minute defrosts at 3 kW
    assert f["defrost_kwh"] == pytest.approx(drawn, abs=1e-3)
    assert f["heat_kwh"] == pytest.approx(gross - drawn, abs=1e-3)
    assert f["defrost_share"] == pytest.approx(drawn / gross, abs=1e-4)
    assert f["defrosts"] == 2
    assert f["spf"] == pytest.approx((gross - drawn) / held_kwh(p["t"], p["elec_w"]), abs=1e-3)


def test_running_cop_excludes_standby_and_standby_energy_is_counted() -> None:
    p, s = _power_samples()
    f = totals(build_intervals(s, MeteringConfig()))
    on = p["compressor_on"] > 0.5
    running = on.copy()
    running[:-1] |= on[1:]  # an interval runs if the compressor is on at either end
    standby = held_kwh(p["t"], p["elec_w"], ~running)
    assert f["standby_kwh"] == pytest.approx(standby, abs=1e-3)
    run_cop = held_kwh(p["t"], p["heat_w"], running) / held_kwh(p["t"], p["elec_w"], running)
    assert f["running_cop"] == pytest.approx(run_cop, abs=1e-3)
    assert f["running_cop"] > f["spf"]


def test_space_and_dhw_split_and_heat_weighted_flow_temperature() -> None:
    p, s = _power_samples()
    f = totals(build_intervals(s, MeteringConfig()))
    dhw = p["dhw"] > 0.5
    assert f["spf_dhw"] == pytest.approx(6500 / 2500, abs=1e-3)
    space_heat = held_kwh(p["t"], p["heat_w"], ~dhw)
    assert f["spf_space"] == pytest.approx(space_heat / held_kwh(p["t"], p["elec_w"], ~dhw), abs=1e-3)
    gross = np.maximum(p["heat_w"], 0.0)[:-1]
    expected = float((p["flow_temp_c"][:-1] * gross).sum() / gross.sum())
    assert f["weighted_flow_temp_c"] == pytest.approx(expected, abs=0.01)


def test_starts_per_hour_counts_compressor_starts() -> None:
    p, s = _power_samples(days=2)
    f = totals(build_intervals(s, MeteringConfig()))
    assert f["starts"] == 6  # 06:00, 13:00 and 16:00 on each day
    assert f["starts_per_hour"] == pytest.approx(6 / 48, abs=1e-3)


def test_sepemo_boundaries_follow_the_meters_present() -> None:
    p = profile()
    t = p["t"]
    backup_w = np.where(p["dhw"] > 0.5, 3000.0, 0.0)
    pumps_w = np.full(len(t), 60.0)
    compressor_w = np.maximum(p["elec_w"] - 120.0, 0.0)  # the unit's fan and controls on top
    cols = {
        "elec_kwh": counter(t, p["elec_w"]), "heat_kwh": counter(t, np.maximum(p["heat_w"], 0)),
        "compressor_elec_kwh": counter(t, compressor_w), "backup_elec_kwh": counter(t, backup_w),
        "pumps_elec_kwh": counter(t, pumps_w),
    }
    heat = held_kwh(t, np.maximum(p["heat_w"], 0.0))
    hp, comp = held_kwh(t, p["elec_w"]), held_kwh(t, compressor_w)
    backup, pumps = held_kwh(t, backup_w), held_kwh(t, pumps_w)
    f = totals(build_intervals(Samples(t, cols), MeteringConfig()))
    assert f["spf_h1"] == pytest.approx(heat / comp, abs=1e-3)
    assert f["spf_h2"] == pytest.approx(heat / hp, abs=1e-3)
    assert f["spf_h3"] == pytest.approx((heat + backup) / (hp + backup), abs=1e-3)
    assert f["spf_h4"] == pytest.approx((heat + backup) / (hp + backup + pumps), abs=1e-3)
    assert f["boundary"] == "H4" and f["spf"] == f["spf_h4"]
    assert f["spf_h1"] > f["spf_h2"] > f["spf_h3"] > f["spf_h4"]
    del cols["pumps_elec_kwh"], cols["compressor_elec_kwh"]
    f = totals(build_intervals(Samples(t, cols), MeteringConfig()))
    assert f["boundary"] == "H3" and f["spf_h4"] is None and f["spf_h1"] is None


def test_rolling_five_minute_cop() -> None:
    p, s = _power_samples()
    iv = build_intervals(s, MeteringConfig())
    t_end, cop = rolling_cop(iv, 300)
    at = int(np.searchsorted(t_end, DAY0 + 7 * 3600 + 2 * 60))  # 06:57–07:02, defrosting from 07:00
    assert cop[at] == pytest.approx((3 * 7200 - 2 * 3000) / (5 * 2000), abs=1e-9)
    steady = int(np.searchsorted(t_end, DAY0 + 8 * 3600))
    assert cop[steady] == pytest.approx(7200 / 2000)


def test_hourly_daily_monthly_sum_to_the_whole() -> None:
    p, s = _power_samples(days=3)
    iv = build_intervals(s, MeteringConfig())
    whole = totals(iv)
    for period, count in (("hour", 72), ("day", 3), ("month", 1)):
        parts = figures_by(iv, UTC, period)
        assert len(parts) == count
        total = sum(f["heat_kwh"] for f in parts.values())
        assert total == pytest.approx(whole["heat_kwh"], abs=count * 1e-3)
    hours = figures_by(iv, UTC, "hour")
    assert hours["2024-01-15T13"]["spf_dhw"] == pytest.approx(6500 / 2500, abs=1e-3)
    london = figures_by(iv, ZoneInfo("America/New_York"), "day")
    assert list(london)[0] == "2024-01-14"  # periods are local


def test_a_day_from_a_window_equals_the_day_from_the_whole_history() -> None:
    p, s = _power_samples(days=3)
    s.columns["elec_kwh"] = counter(p["t"], p["elec_w"], 500.0)
    del s.columns["elec_w"]
    s.columns["elec_kwh"][1500:1510] = np.nan  # a short dropout near the day boundary
    s.columns["elec_kwh"][2000:2100] = np.nan  # and a gap
    cfg = MeteringConfig()
    day = (DAY0 + 86400, DAY0 + 2 * 86400)
    whole = build_intervals(s, cfg)
    keep = np.flatnonzero((whole.start >= day[0]) & (whole.start < day[1]))
    lo, hi = int(day[0] - cfg.max_gap_s - 60), int(day[1] + cfg.max_gap_s + 60)
    win = build_intervals(s.window(lo, hi), cfg)
    keep_w = np.flatnonzero((win.start >= day[0]) & (win.start < day[1]))
    a = json.dumps(summary(whole.select(keep), UTC), sort_keys=True)
    b = json.dumps(summary(win.select(keep_w), UTC), sort_keys=True)
    assert a == b
    assert summary(whole.select(keep), UTC)["bad_interval_count"] > 0
