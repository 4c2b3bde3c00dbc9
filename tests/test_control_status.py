"""The supervisor's live status in each cycle's result (``app.control.status``), and how the BACnet points and
the MQTT ``plant`` topic show it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from control_plant import COLD_CYLINDER, FAULT, Rig, no_immersion, school_variant
from sqlalchemy import Engine

from app.bacnet.points import View, build_points, evaluate, register_maps
from app.control.performance import PerformanceTable
from app.control.status import CylinderStatus
from app.telemetry.messages import SiteTopics

WEDNESDAY = datetime(2025, 1, 8, 10, tzinfo=UTC)  # occupied, standard rate (UTC = local in January)


def test_a_cycle_carries_the_sequencer_the_economics_and_every_machine(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "status steady", WEDNESDAY, school_variant())
    result = rig.step()
    st = result.status
    assert st is not None and st is rig.supervisor.status and st.ts == rig.clock.now()
    assert (st.sequencer, st.heating_on, st.lead) == ("hp_only", True, "hp1") and "heat pump leads" in st.reason
    commanded = next(c.value for c in result.commands.points if c.role == "flow_setpoint")
    assert st.flow_setpoint_c == pytest.approx(commanded, abs=0.05)
    # the COP the sequencer compared: the lead unit's TP-12 table at this outdoor and flow temperature
    assert st.predicted_cop == pytest.approx(performance["hp1"].predict_cop(10.0, st.flow_setpoint_c))
    tariffs = rig.site.tariffs
    gas = tariffs.gas.unit_rate_gbp_per_kwh
    assert st.crossover_cop == pytest.approx(tariffs.electricity.unit_rate_gbp_per_kwh * 0.88 / gas)
    assert (st.crossover_basis, st.tariff_period) == ("economic", None)
    assert st.heat_pumps == {"hp1": "heating"} and st.boilers == {"boiler1": False}
    assert st.cylinders == {"dhw1": CylinderStatus("idle", None, "none", None, (), False)}
    assert st.alarms() == {"l8.dhw1": False, "secondary_return.dhw1": False}

    peak = rig.step(7 * 60 - 1).status  # 17:00, the peak band
    assert peak is not None and peak.tariff_period == "peak"
    assert peak.crossover_cop == pytest.approx(tariffs.electricity.periods[0].rate_gbp_per_kwh * 0.88 / gas)
    fault = rig.step(**FAULT).status  # setback, the room warm: the boiler leads but nothing calls for heat
    assert fault is not None and (fault.sequencer, fault.heat_pumps, fault.boilers) == (
        "boiler_only", {"hp1": "fault"}, {"boiler1": False})
    cold = rig.step(room_temp=15.0).status  # below the 16 °C setback: the setback thermostat calls
    assert cold is not None and (cold.sequencer, cold.boilers) == ("boiler_only", {"boiler1": True})
    assert st.heat_pumps == {"hp1": "heating"}  # a status already handed out does not change


def test_a_failed_cycle_raises_the_l8_alarm_until_one_of_its_kind_passes_across_a_restart(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "status l8", WEDNESDAY, no_immersion())
    rig.command("dhw1.boost", 1.0)
    rig.step(**COLD_CYLINDER)
    while rig.machine("dhw1").state == "boost":
        result = rig.step(30.0)
    failed = result.status
    assert failed is not None
    cyl = failed.cylinders["dhw1"]
    assert (cyl.state, cyl.last_cycle, cyl.last_result, cyl.last_time) == ("failed", "boost", "failed",
                                                                           rig.clock.now())
    assert cyl.l8_alarm and failed.alarms()["l8.dhw1"]
    (raised,) = rig.events("alarm", "l8.dhw1")
    assert raised.to_state == "active" and raised.reason.startswith("L8 boost failed: not passed by the deadline")

    rig.operator.relinquish("dhw1.boost")
    rig.resume()  # a restart keeps the last cycle and the alarm
    after = rig.step(dhw_temp=62.0, **{"dhw_temp.1": 61.0}).status
    assert after is not None and after.cylinders["dhw1"] == cyl
    rig.command("dhw1.boost", 1.0)
    passed = rig.step().status
    assert passed is not None
    assert passed.cylinders["dhw1"][:3] == ("passed", "boost", "passed") and not passed.alarms()["l8.dhw1"]
    assert [e.to_state for e in rig.events("alarm", "l8.dhw1")] == ["active", "normal"]


def test_a_low_secondary_return_is_an_alarm_in_the_status_and_the_event_log(
        engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "status return", WEDNESDAY, school_variant())
    low = rig.step(secondary_return_temp=47.5).status
    assert low is not None and low.cylinders["dhw1"].secondary_return_low and low.alarms()["secondary_return.dhw1"]
    back = rig.step(secondary_return_temp=52.0).status
    assert back is not None and not back.alarms()["secondary_return.dhw1"]
    events = rig.events("alarm", "secondary_return.dhw1")
    assert [(e.to_state, e.data["value"]) for e in events] == [("active", 47.5), ("normal", 52.0)]
    assert "47.5 °C below 50 °C" in events[0].reason


def test_bacnet_points_show_the_status_of_the_cycle(engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "status bacnet", WEDNESDAY, no_immersion())
    points = build_points(rig.site, register_maps(rig.site))
    by_key = {p.key: p for p in points}
    tz = ZoneInfo(rig.site.site.timezone)

    def shown(result: object) -> dict[str, object]:
        samples = evaluate(points, View.of(result, {}, tz))  # type: ignore[arg-type]
        return {key: by_key[key].text(s.value) if by_key[key].kind.multistate and s.value is not None else s.value
                for key, s in samples.items()}

    steady = rig.step()
    values = shown(steady)
    assert values["plant.sequencer_state"] == "hp_only" and values["dhw1.last_cycle_result"] == "none"
    assert values["plant.predicted_cop"] == round(steady.status.predicted_cop, 2)  # type: ignore[union-attr]
    assert values["dhw1.alarm_l8_failed"] == 0.0 and values["boiler1.enable"] == 0.0
    assert values["dhw1.last_cycle_time"] is None  # no cycle yet: nothing to show

    rig.command("dhw1.boost", 1.0)
    rig.step(**COLD_CYLINDER)
    while rig.machine("dhw1").state == "boost":
        result = rig.step(30.0)
    values = shown(result)
    assert values["dhw1.last_cycle_result"] == "failed" and values["dhw1.alarm_l8_failed"] == 1.0
    assert values["dhw1.last_cycle_time"] == rig.clock.now()
    values = shown(rig.step(**FAULT))
    assert values["plant.sequencer_state"] == "boiler_only" and values["boiler1.enable"] == 1.0
    outdoor_lost = rig.step(comms=False)
    assert shown(outdoor_lost)["plant.sequencer_state"] == "failsafe"
    assert evaluate(points, View.of(outdoor_lost, {}, tz))["plant.predicted_cop"].fault  # no outdoor: no COP


def test_the_mqtt_plant_topic_carries_the_status(engine: Engine, performance: dict[str, PerformanceTable]) -> None:
    rig = Rig(engine, performance, "status mqtt", WEDNESDAY, school_variant())
    status = rig.step(secondary_return_temp=47.5).status
    assert status is not None
    message = SiteTopics("hpsup", rig.site.site.name).plant(status)
    assert message.topic == "hpsup/status-mqtt/plant"
    body = json.loads(json.dumps(message.body))  # JSON all the way down
    assert body["ts"] == "2025-01-08T10:01:00.000Z" and body["sequencer"] == "hp_only"
    assert body["predicted_cop"] == status.predicted_cop and body["tariff_period"] is None
    assert body["heat_pumps"] == {"hp1": "heating"} and body["boilers"] == {"boiler1": False}
    assert body["cylinders"]["dhw1"] == {"state": "idle", "last_cycle": None, "last_result": "none",
                                         "last_time": None, "failed": [], "secondary_return_low": True}
    assert body["alarms"] == {"l8.dhw1": False, "secondary_return.dhw1": True}
