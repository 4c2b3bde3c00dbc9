"""The L8 DHW regime: boost and pasteurisation pass or fail on measured temperatures, the immersion takes over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import EXAMPLES
from hypothesis import given
from hypothesis import strategies as st

from app.config import load_site
from strategies.dhw_legionella import (
    BOOST,
    HEAT_PUMP,
    IMMERSION,
    PASTEURISE,
    REHEAT,
    DhwCycle,
    DhwInputs,
    heat_pump_reach_c,
    needs_reheat,
    resume_cycle,
    start_cycle,
    step_cycle,
    storage_setpoint,
)

SITE = load_site(EXAMPLES / "school.yaml")
CYL = SITE.cylinders[0]
T0 = datetime(2025, 1, 6, 4, 0, tzinfo=UTC)


def at(minutes: float, temps: list[float | None], **kw: object) -> DhwInputs:
    base = dict(now=T0 + timedelta(minutes=minutes), temps=temps, hp_reach_c=70.0, hp_available=True,
                hp_heat_kw=30.0, immersion_kw=9.0)
    return DhwInputs(**{**base, **kw})  # type: ignore[arg-type]


@given(st.floats(-50, 200, allow_nan=False))
def test_storage_setpoint_is_never_below_60(requested: float) -> None:
    value, why = storage_setpoint(requested)
    assert value >= 60.0 and (why is None) == (requested >= 60.0)


def test_boost_by_heat_pump_passes_on_the_top_sensor_and_accounts_energy() -> None:
    cycle = start_cycle(BOOST, T0, CYL, 62.0, "daily boost 04:00", at(0, [55.0, 50.0]))
    assert cycle.source == HEAT_PUMP and cycle.setpoint_c == 62.0
    cycle, intent, outcome = step_cycle(cycle, at(0, [55.0, 50.0]), 60)
    assert intent.hp_dhw and outcome is None
    cycle, intent, outcome = step_cycle(cycle, at(30, [59.0, 55.0]), 60)
    assert intent.hp_dhw and not intent.immersion_on and outcome is None
    cycle, intent, outcome = step_cycle(cycle, at(60, [61.6, 60.0]), 60)
    assert outcome is not None and outcome.passed and outcome.sources == (HEAT_PUMP,)
    assert outcome.hp_kwh == pytest.approx(30.0 * 1.0) and outcome.immersion_kwh == 0.0
    assert outcome.max_c == 61.6 and outcome.minutes_at_60 == pytest.approx(30.0)
    assert not intent.hp_dhw and not intent.immersion_on


def test_immersion_takes_over_when_the_heat_pump_window_runs_out() -> None:
    cycle = start_cycle(BOOST, T0, CYL, 62.0, "boost", at(0, [50.0, 45.0]))
    cycle, intent, _ = step_cycle(cycle, at(119, [56.0, 54.0]), 60)
    assert intent.hp_dhw and cycle.source == HEAT_PUMP
    cycle, intent, _ = step_cycle(cycle, at(120, [56.0, 54.0]), 60)
    assert intent.immersion_on and not intent.hp_dhw and "within its window" in intent.reason
    cycle, intent, outcome = step_cycle(cycle, at(180, [62.0, 61.0]), 60)
    assert outcome is not None and outcome.passed and outcome.sources == (HEAT_PUMP, IMMERSION)
    assert outcome.immersion_kwh == pytest.approx(9.0)


def test_a_heat_pump_whose_maximum_flow_is_too_low_heats_as_far_as_it_reaches_then_hands_over() -> None:
    """The coil's zone (the lowest sensor) decides: the heat pump works while it is below its reach."""
    reach = heat_pump_reach_c(60.0, CYL)
    assert reach == 55.0
    cycle = start_cycle(BOOST, T0, CYL, 62.0, "boost", at(0, [45.0, 40.0], hp_reach_c=reach))
    assert cycle.source == HEAT_PUMP  # it can still do most of the work
    cycle, intent, _ = step_cycle(cycle, at(20, [54.2, 50.0], hp_reach_c=reach), 60)
    assert intent.hp_dhw and not intent.immersion_on  # the top is near its reach, the coil's zone is not
    cycle, intent, _ = step_cycle(cycle, at(40, [56.0, 54.2], hp_reach_c=reach), 60)
    assert intent.immersion_on and not intent.hp_dhw and "reaches only 55.0" in intent.reason
    cycle, intent, outcome = step_cycle(cycle, at(60, [61.6, 60.0], hp_reach_c=reach), 60)
    assert outcome is not None and outcome.passed and outcome.sources == (HEAT_PUMP, IMMERSION)
    hot = start_cycle(BOOST, T0, CYL, 62.0, "boost", at(0, [58.0, 57.0], hp_reach_c=reach))
    assert hot.source == IMMERSION


def test_a_reheat_of_a_hot_top_over_cold_make_up_water_starts_with_the_heat_pump() -> None:
    """After a draw-off the top is still near 60 °C but cold mains water fills the bottom: the heat pump heats
    that, and the immersion only tops up the last kelvin."""
    reach = heat_pump_reach_c(60.0, CYL)
    cycle = start_cycle(REHEAT, T0, CYL, 62.0, "top below 60", at(0, [59.8, 30.0], hp_reach_c=reach))
    assert cycle.source == HEAT_PUMP and cycle.target_c == 62.0
    cycle, intent, outcome = step_cycle(cycle, at(5, [59.9, 38.0], hp_reach_c=reach), 60)
    assert intent.hp_dhw and outcome is None
    hot = start_cycle(REHEAT, T0, CYL, 62.0, "top below 60", at(0, [59.8, 58.0], hp_reach_c=reach))
    assert hot.source == IMMERSION


def test_fault_and_optimum_start_send_the_cycle_to_the_immersion() -> None:
    cycle = start_cycle(BOOST, T0, CYL, 62.0, "boost", at(0, [50.0, 45.0]))
    _, intent, _ = step_cycle(cycle, at(5, [51.0, 46.0], hp_available=False, hp_unavailable_reason="fault 17"), 60)
    assert intent.immersion_on and not intent.hp_dhw and "fault 17" in intent.reason
    _, intent, _ = step_cycle(cycle, at(5, [51.0, 46.0], release_hp="optimum start 05:10"), 60)
    assert intent.immersion_on and not intent.hp_dhw and "optimum start" in intent.reason
    no_immersion = CYL.model_copy(update={"immersion": None})
    cycle = start_cycle(BOOST, T0, no_immersion, 62.0, "boost", at(0, [50.0, 45.0], has_immersion=False))
    _, intent, _ = step_cycle(cycle, at(5, [51.0, 46.0], hp_available=False, has_immersion=False), 60)
    assert not intent.immersion_on and not intent.hp_dhw


def test_pasteurisation_needs_every_sensor_held_continuously_and_fails_at_the_deadline() -> None:
    cycle = start_cycle(PASTEURISE, T0, CYL, 62.0, "weekly", at(0, [58.0, 52.0]))
    assert cycle.target_c == 60.0 and cycle.setpoint_c == 62.0
    cycle, _, _ = step_cycle(cycle, at(30, [61.0, 60.5]), 60)
    assert cycle.hold_since == T0 + timedelta(minutes=30)
    cycle, _, outcome = step_cycle(cycle, at(60, [61.0, 59.9]), 60)  # the bottom dips: the hold restarts
    assert cycle.hold_since is None and outcome is None
    cycle, _, _ = step_cycle(cycle, at(70, [61.0, 60.1]), 60)
    cycle, _, outcome = step_cycle(cycle, at(129, [61.0, 60.1]), 60)
    assert outcome is None
    cycle, _, outcome = step_cycle(cycle, at(130, [61.0, 60.1]), 60)
    assert outcome is not None and outcome.passed and "60 of 60 min" in outcome.reason
    cycle = start_cycle(PASTEURISE, T0, CYL, 62.0, "weekly", at(0, [50.0, 45.0]))
    _, _, outcome = step_cycle(cycle, at(CYL.legionella.cycle_window_min, [59.0, 58.0]), 60)
    assert outcome is not None and not outcome.passed and "deadline" in outcome.reason
    bad = start_cycle(PASTEURISE, T0, CYL, 62.0, "weekly", at(0, [61.0, None]))
    bad, _, _ = step_cycle(bad, at(90, [61.0, None]), 60)
    assert bad.hold_since is None  # an unreadable sensor cannot prove the hold


def test_immersion_tops_up_during_a_pasteurisation_hold() -> None:
    cycle = start_cycle(PASTEURISE, T0, CYL, 62.0, "weekly", at(0, [61.0, 60.5], hp_reach_c=50.0))
    assert cycle.source == IMMERSION
    cycle, intent, _ = step_cycle(cycle, at(1, [61.5, 61.2], hp_reach_c=50.0), 60)
    assert not intent.immersion_on  # above target + band during the hold
    cycle, intent, _ = step_cycle(cycle, at(2, [61.0, 60.4], hp_reach_c=50.0), 60)
    assert intent.immersion_on


def test_restart_notes_the_interruption_and_restarts_the_hold() -> None:
    cycle = start_cycle(PASTEURISE, T0, CYL, 62.0, "weekly", at(0, [61.0, 60.5]))
    cycle, _, _ = step_cycle(cycle, at(30, [61.0, 60.5]), 60)
    stored = cycle.to_state()
    again = DhwCycle.from_state(stored)
    assert again == cycle
    resumed = resume_cycle(again, T0 + timedelta(minutes=45))
    assert resumed.hold_since is None and "hold restarted" in resumed.interruptions[0]
    resumed, _, _ = step_cycle(resumed, at(50, [61.0, 60.5]), 60)
    _, _, outcome = step_cycle(resumed, at(110, [61.0, 60.5]), 60)
    assert outcome is not None and outcome.passed and outcome.interruptions == resumed.interruptions
    assert outcome.record()["interruptions"] and outcome.record()["outcome"] == "pass"


def test_reheat_below_setpoint_less_differential_or_60() -> None:
    assert needs_reheat([59.9, 55.0], 62.0, CYL)
    assert not needs_reheat([60.5, 55.0], 62.0, CYL)
    assert needs_reheat([64.0, 55.0], 68.0, CYL)
    assert not needs_reheat([None, 55.0], 62.0, CYL)
