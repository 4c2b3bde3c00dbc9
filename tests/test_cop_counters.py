"""Counter handling: resets, rollovers, gaps, implausible jumps and short dropouts."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pytest
from cop_synth import DAY0, counter, held_kwh, profile

from app.monitoring.figures import figures_by, summary
from app.monitoring.intervals import (
    GAP,
    GOOD,
    IMPLAUSIBLE,
    RESET,
    MeteringConfig,
    Samples,
    build_intervals,
    counter_deltas,
)

UTC = ZoneInfo("UTC")


def _day_samples(**edits: object) -> tuple[dict[str, np.ndarray], Samples]:
    p = profile(days=2)
    cols = {
        "elec_kwh": counter(p["t"], p["elec_w"], 12_000.0),
        "heat_kwh": counter(p["t"], np.maximum(p["heat_w"], 0.0), 40_000.0),
        "compressor_on": p["compressor_on"], "dhw": p["dhw"],
    }
    return p, Samples(p["t"], cols)


def test_meter_reset_is_marked_and_never_books_the_lifetime_into_a_day() -> None:
    p, s = _day_samples()
    at = 600 + 1440  # second day, 10:00
    s.columns["heat_kwh"][at:] -= s.columns["heat_kwh"][at] - 0.2  # meter replaced, restarts near zero
    iv = build_intervals(s, MeteringConfig())
    days = figures_by(iv, UTC, "day")
    truth = held_kwh(p["t"], np.maximum(p["heat_w"], 0.0), (p["t"] >= DAY0 + 86400))
    day2 = days["2024-01-16"]
    lost = max(p["heat_w"][at - 1], 0.0) * 60 / 3.6e6  # the one interval spanning the reset
    assert day2["heat_kwh"] == pytest.approx(truth - lost, abs=6e-4)  # a lifetime is ≈40 MWh
    assert iv.bad.sum() == 1
    assert "meter reset (heat_kwh)" in iv.reason[iv.bad][0]
    report = summary(iv, UTC)
    assert report["bad_intervals"][0]["reason"] == "meter reset (heat_kwh)"
    assert report["by_year"]["2024"]["bad_intervals"] == report["bad_intervals"]


def test_rollover_at_configured_and_decimal_wrap_is_corrected_not_bad() -> None:
    t = np.arange(6, dtype=np.int64) * 60
    v = np.array([99_999.7, 99_999.9, 0.1, 0.3, 0.5, 0.7])
    delta, reason = counter_deltas(t, v, max_kw=100, max_gap_s=900)
    assert np.all(reason == GOOD)
    np.testing.assert_allclose(delta, 0.2, atol=1e-9)
    v32 = np.array([4294967.0, 4294967.2, 0.105, 0.305, 0.505, 0.705])  # 32-bit Wh register in kWh
    delta, reason = counter_deltas(t, v32, max_kw=100, max_gap_s=900, rollover_kwh=4294967.295)
    assert np.all(reason == GOOD)
    np.testing.assert_allclose(delta[1], 0.2, atol=1e-6)


def test_gap_longer_than_limit_is_bad_and_short_dropout_is_shared_over_time() -> None:
    t = np.arange(10, dtype=np.int64) * 60
    v = np.arange(10, dtype=float) * 0.05
    v[3] = np.nan  # one missed reading: the 2-minute span is shared
    delta, reason = counter_deltas(t, v, max_kw=100, max_gap_s=900)
    assert np.all(reason == GOOD)
    np.testing.assert_allclose(delta, 0.05, atol=1e-12)
    t2 = t.copy()
    t2[5:] += 3600  # an hour without any reading
    delta, reason = counter_deltas(t2, v, max_kw=100, max_gap_s=900)
    assert reason[4] == GAP and np.isnan(delta[4])
    assert np.all(reason[[0, 1, 2, 3, 5, 6, 7, 8]] == GOOD)


def test_gap_in_a_day_is_left_out_of_both_sides_of_the_ratio() -> None:
    p, s = _day_samples()
    keep = (p["t"] < DAY0 + 8 * 3600) | (p["t"] >= DAY0 + 12 * 3600)  # 08:00–12:00 never logged
    s = Samples(p["t"][keep], {k: v[keep] for k, v in s.columns.items()})
    iv = build_intervals(s, MeteringConfig())
    day1 = figures_by(iv, UTC, "day")["2024-01-15"]
    lost = (p["t"] >= DAY0 + 8 * 3600 - 60) & (p["t"] < DAY0 + 12 * 3600)
    in_day1 = p["t"] < DAY0 + 86400
    heat = held_kwh(p["t"], np.maximum(p["heat_w"], 0.0), in_day1 & ~lost)
    elec = held_kwh(p["t"], p["elec_w"], in_day1 & ~lost)
    assert day1["heat_kwh"] == pytest.approx(heat, abs=6e-4)  # figures carry 1 Wh resolution
    assert day1["elec_kwh"] == pytest.approx(elec, abs=6e-4)
    assert day1["bad_interval_count"] == 1
    assert summary(iv, UTC)["bad_intervals"][0]["reason"].startswith("gap")


def test_implausible_jump_is_bad() -> None:
    t = np.arange(5, dtype=np.int64) * 60
    v = np.array([10.0, 10.05, 510.05, 510.1, 510.15])  # +500 kWh in a minute: 30 MW
    delta, reason = counter_deltas(t, v, max_kw=100, max_gap_s=900)
    assert list(reason) == [GOOD, IMPLAUSIBLE, GOOD, GOOD]
    down = np.array([10.0, 10.05, 3.0, 3.05, 3.1])
    _, reason = counter_deltas(t, down, max_kw=100, max_gap_s=900)
    assert reason[1] == RESET
