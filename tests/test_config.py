"""Site files: the example validates; every kind of bad file gives FILE:LINE: field: message and exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import EXAMPLES, hpsup

from app.config import SourceError, load_site, resolve_refs

SCHOOL = EXAMPLES / "school.yaml"
PROBLEM = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<field>[^:]+): (?P<message>.+)$")


def school_text() -> str:
    return SCHOOL.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def write_variant(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    text = school_text()
    assert old in text
    changed = text.replace(old, new, 1)
    path = tmp_path / "site.yaml"
    path.write_text(changed, encoding="utf-8")
    return path, changed


def test_school_example_is_valid_and_models_the_case_study_school() -> None:
    site = load_site(SCHOOL)
    circuit = site.heating_circuits[0]
    assert (circuit.emitters.rated_flow_c, circuit.emitters.rated_return_c) == (82, 71)
    assert circuit.emitters.oversize_factor == pytest.approx(1.4)
    assert (circuit.design_outdoor_c, circuit.design_room_c) == (-4, 21)
    assert site.heat_pumps[0].tp12.source_type == "OutsideAir"
    assert site.boilers and site.cylinders[0].immersion is not None
    result = hpsup("check-config", str(SCHOOL))
    assert result.returncode == 0, result.stderr
    assert "valid site" in result.stdout


@pytest.mark.parametrize(
    ("old", "new", "field", "message", "needle"),
    [
        ("    rated_capacity_kw: 53.4\n", "", "heat_pumps.0.rated_capacity_kw", "Field required", "- id: hp1"),
        ("rated_capacity_kw: 53.4", "rated_capacity_kw: plenty", "heat_pumps.0.rated_capacity_kw",
         "valid number", "rated_capacity_kw: plenty"),
        ("  timezone: Europe/London", "  timezone: Europe/London\n  colour: blue", "site.colour", "unknown key",
         "colour: blue"),
        ("storage_setpoint_c: 62", "storage_setpoint_c: 55", "cylinders.0.storage_setpoint_c", "60 °C",
         "storage_setpoint_c: 55"),
        ("    schedule: occupancy\n", "    schedule: weekends\n", "heating_circuits.0.schedule", "no such schedule",
         "schedule: weekends"),
    ],
    ids=["missing-field", "wrong-type", "unknown-key", "l8-setpoint-below-60", "dangling-reference"],
)
def test_bad_site_file_names_file_line_field_and_value(tmp_path: Path, old: str, new: str, field: str,
                                                        message: str, needle: str) -> None:
    path, text = write_variant(tmp_path, old, new)
    result = hpsup("check-config", str(path))
    assert result.returncode == 2
    problems = [PROBLEM.match(line) for line in result.stderr.strip().splitlines()]
    assert problems and all(problems), result.stderr
    hit = next((p for p in problems if p["field"] == field), None)
    assert hit is not None, result.stderr
    assert hit["file"] == str(path)
    assert int(hit["line"]) == line_of(text, needle)
    assert message in hit["message"]
    assert "(got " in hit["message"]


def test_literal_secret_is_refused_and_reference_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    literal = "telemetry:\n  mqtt:\n    host: 127.0.0.1\n    username: site\n    password: hunter2\n"
    path, text = write_variant(tmp_path, "storage:\n", literal + "storage:\n")
    result = hpsup("check-config", str(path))
    assert result.returncode == 2
    assert f"{path}:{line_of(text, 'password: hunter2')}: telemetry.mqtt.password: " in result.stderr
    path.write_text(text.replace("password: hunter2", "password: ${MQTT_PASSWORD}")
                    .replace("username: site", "username: ${MQTT_USER}"), encoding="utf-8")
    site = load_site(path)
    monkeypatch.setenv("MQTT_PASSWORD", "s3cret")
    assert resolve_refs(site.telemetry.mqtt.password) == "s3cret"


def test_literal_database_password_is_refused(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, "url: sqlite:///hpsup.db", "url: postgresql+psycopg://hp:letmein@db/hp")
    with pytest.raises(SourceError) as exc:
        load_site(path)
    assert exc.value.problems == [
        f"{path}:{line_of(text, 'letmein')}: storage.url: the database password must be an ${{ENV_VAR}} reference, "
        "not a literal (got 'postgresql+psycopg://hp:letmein@db/hp')"]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, "    volume_l: 500\n", "    volume_l: [500\n")
    result = hpsup("check-config", str(path))
    assert result.returncode == 2
    match = PROBLEM.match(result.stderr.strip().splitlines()[0])
    assert match and match["field"] == "(yaml)" and "syntax error" in match["message"]
    assert abs(int(match["line"]) - line_of(text, "volume_l: [500")) <= 2


def test_duplicate_key_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, "    volume_l: 500\n", "    volume_l: 500\n    volume_l: 300\n")
    with pytest.raises(SourceError) as exc:
        load_site(path)
    assert exc.value.problems[0].startswith(f"{path}:{line_of(text, 'volume_l: 300')}: cylinders.0.volume_l: "
                                            "duplicate key")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path, _ = write_variant(tmp_path, "rated_capacity_kw: 53.4", "rated_capacity_kw: -1")
    text = path.read_text().replace("volume_l: 500", "volume_l: lots")
    path.write_text(text)
    with pytest.raises(SourceError) as exc:
        load_site(path)
    fields = {PROBLEM.match(p)["field"] for p in exc.value.problems}
    assert {"heat_pumps.0.rated_capacity_kw", "cylinders.0.volume_l"} <= fields


def test_missing_environment_variable_is_named() -> None:
    with pytest.raises(KeyError, match="HPSUP_SURELY_UNSET"):
        resolve_refs("postgresql://u:${HPSUP_SURELY_UNSET}@h/db")


def test_curve_points_closer_than_a_tenth_of_a_kelvin_are_refused(tmp_path: Path) -> None:
    path, text = write_variant(tmp_path, "curve: {kind: designed, design_delta_t_k: 10}",
                               "curve: {kind: points, points: [[-4, 55], [-3.99, 54], [16, 35]]}")
    with pytest.raises(SourceError) as exc:
        load_site(path)
    assert "at least 0.1 K" in exc.value.problems[0]
    assert exc.value.problems[0].startswith(f"{path}:{line_of(text, 'kind: points')}: heating_circuits.0.curve")
