"""The BACnet point table, write validation, the request parser, the points schedule (no network)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from conftest import EXAMPLES, hpsup

from app.bacnet import wire
from app.bacnet.points import Sample, View, build_points, evaluate, register_maps
from app.bacnet.services import parse_rpm
from app.config import load_site
from app.snapshot import Commands, DeviceSnapshot, PlantSnapshot, Quality, Reading

SITE = load_site(EXAMPLES / "school.yaml")
POINTS = build_points(SITE, register_maps(SITE, EXAMPLES))
BY_KEY = {p.key: p for p in POINTS}


def test_every_object_has_a_unique_identifier_and_name() -> None:
    ids = [(p.kind, p.instance) for p in POINTS]
    assert len(set(ids)) == len(ids)
    assert len({p.key for p in POINTS}) == len(POINTS)
    assert BY_KEY["hp1.flow_temp"].instance == 10001 and BY_KEY["dhw1.storage_setpoint"].instance == 40011


def test_the_storage_setpoint_refuses_below_60_as_access_denied_and_above_75_as_out_of_range() -> None:
    setpoint = BY_KEY["dhw1.storage_setpoint"]
    assert setpoint.check_write(59.9).code == "writeAccessDenied"  # type: ignore[union-attr]
    assert setpoint.check_write(75.1).code == "valueOutOfRange"  # type: ignore[union-attr]
    assert setpoint.check_write(float("nan")).code == "valueOutOfRange"  # type: ignore[union-attr]
    assert setpoint.check_write(60.0) is None and setpoint.check_write(75.0) is None
    assert BY_KEY["hp1.flow_temp"].check_write(40.0).code == "writeAccessDenied"  # type: ignore[union-attr]
    day = BY_KEY["dhw1.pasteurise_day"]
    assert day.check_write(7) is None and day.check_write(8) is not None and day.check_write(2.5) is not None
    assert BY_KEY["hp1.enable"].check_write(2) is not None


def _view(**readings: Reading) -> View:
    t = datetime(2026, 1, 14, 17, 0, tzinfo=UTC)  # a Wednesday in the school's peak period
    device = DeviceSnapshot("hp1", readings={name: r for name, r in readings.items()},
                            roles={"flow_temp": "flow_temp", "heat_output_power": "heat", "electrical_power": "elec"})
    return View(PlantSnapshot(t, {"hp1": device}), Commands(t), {}, t)


def test_sources_turn_quality_into_reliability_and_never_a_number() -> None:
    t = datetime(2026, 1, 14, 17, 0, tzinfo=UTC)
    samples = evaluate(POINTS, _view(flow_temp=Reading(None, "degC", Quality.SENTINEL, t),
                                     heat=Reading(12.0, "kW", Quality.GOOD, t),
                                     elec=Reading(4.0, "kW", Quality.GOOD, t)))
    assert samples["hp1.flow_temp"] == Sample(None, "noSensor")
    assert samples["hp1.cop"] == Sample(3.0)
    assert samples["hp1.return_temp"] == Sample(None, "noSensor")  # this snapshot's map has no such role
    assert samples["hp1.cop_today"].fault  # nothing published yet
    assert BY_KEY["plant.active_tariff"].text(samples["plant.active_tariff"].value) == "peak"  # type: ignore[arg-type]
    tariffs = load_site(EXAMPLES / "school.yaml").tariffs
    peak_cop = tariffs.electricity.periods[0].rate_gbp_per_kwh * 0.88 / tariffs.gas.unit_rate_gbp_per_kwh
    assert samples["plant.crossover_cop"].value == pytest.approx(round(peak_cop, 2))


def test_read_property_multiple_requests_are_parsed_from_their_octets() -> None:
    body = (wire.context_object_id(0, 0, 10001) + wire.opening(1) + wire.context_unsigned(0, 85)
            + wire.context_unsigned(0, 87) + wire.context_unsigned(1, 8) + wire.closing(1)
            + wire.context_object_id(0, 2, 4194303) + wire.opening(1) + wire.context_unsigned(0, 111) + wire.closing(1))
    assert parse_rpm(b"\x00\x05\x01\x0e" + body, 4) == [((0, 10001), [(85, None), (87, 8)]),
                                                        ((2, 4194303), [(111, None)])]
    assert parse_rpm(b"\x00\x05\x01\x0e" + body[:-1], 4) is None  # truncated
    assert parse_rpm(b"\x00\x05\x01\x0e" + wire.context_object_id(0, 0, 1) + wire.enclosed(1, b""), 4) is None


def test_points_schedule_lists_every_object_as_csv_and_markdown() -> None:
    result = hpsup("points", "--site", str(EXAMPLES / "school.yaml"), "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(POINTS) + 2 + sum(p.trend for p in POINTS)  # + device, notification class, trends
    storage = next(r for r in rows if r["name"] == "dhw1.storage_setpoint")
    assert storage["object type"] == "analog-value" and storage["instance"] == "40011"
    assert storage["units"] == "degrees-celsius" and storage["access"] == "command"
    assert storage["priority"].startswith("1-16") and "write-access-denied" in storage["values"]
    flow = next(r for r in rows if r["name"] == "hp1.flow_temp")
    assert flow["COV increment"] == "0.5" and flow["alarm limits"].startswith("high 65")
    mode = next(r for r in rows if r["name"] == "hp1.mode")
    assert mode["values"].split("; ")[2] == "3=heating"
    assert {r["object type"] for r in rows} == {"device", "notification-class", "analog-input", "analog-value",
                                                "binary-input", "binary-value", "multi-state-input",
                                                "multi-state-value", "datetime-value", "trend-log"}
    md = hpsup("points", "--site", str(EXAMPLES / "school.yaml"), "--format", "md")
    assert md.returncode == 0 and md.stdout.count("\n") == len(rows) + 2
    assert hpsup("points", "--site", str(EXAMPLES / "school.yaml"), "--format", "xml").returncode != 0
