"""`hpsup tp12 eval` and `hpsup tp12 check`: outputs, exit codes, and errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import hpsup
from tp12_reference import needs_vectors, vector_file

pytestmark = needs_vectors


def _subset(tmp_path: Path, name: str, count: int, edit=None) -> Path:
    cases = json.loads(vector_file(name).read_text())[:count]
    if edit:
        edit(cases)
    path = tmp_path / name
    path.write_text(json.dumps(cases))
    return path


def test_eval_writes_outputs_in_the_vectors_structure(tmp_path: Path) -> None:
    vectors = _subset(tmp_path, "dhw_and_combined.json", 400)
    out = tmp_path / "results.json"
    done = hpsup("tp12", "eval", str(vectors), "--out", str(out))
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    cases = json.loads(vectors.read_text())
    assert [r["id"] for r in results] == [c["id"] for c in cases]
    for result, case in zip(results, cases, strict=True):
        assert len(result["outputs"]["services"]) == len(case["outputs"]["services"])
        for ours, expected in zip(result["outputs"]["services"], case["outputs"]["services"], strict=True):
            assert set(expected) - set(ours) <= {
                "load_ratio_continuous_min_intended_interp",
                "energy_output_max_kWh_return_C_as_emitters",
            }
        assert set(case["outputs"]) <= set(result["outputs"])


def test_eval_of_a_sequence_gives_steps(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = hpsup("tp12", "eval", str(vector_file("sequences.json")), "--out", str(out))
    assert done.returncode == 0, done.stderr
    first = json.loads(out.read_text())[0]["outputs"]["steps"]
    assert len(first) == 8 and "services" in first[0]["outputs"]


def test_check_passes_on_reference_file_and_prints_worst_errors() -> None:
    done = hpsup("tp12", "check", str(vector_file("sequences.json")))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cop_op_cond" in done.stdout and "all cases match" in done.stdout
    assert "LRMIN_FORMULA" in done.stdout


def test_check_fails_on_a_changed_value(tmp_path: Path) -> None:
    def nudge(cases: list[dict]) -> None:
        cases[3]["outputs"]["services"][0]["cop_op_cond"] *= 1 + 1e-6

    done = hpsup("tp12", "check", str(_subset(tmp_path, "ashp_space_35_55.json", 10, nudge)))
    assert done.returncode == 1
    assert "cop_op_cond" in done.stdout and "MISMATCH" in done.stdout


def test_check_fails_on_a_changed_departed_value(tmp_path: Path) -> None:
    """A quantity reached by a documented departure is still checked: HEM's value must be reproducible."""

    def nudge(cases: list[dict]) -> None:
        cases[1]["outputs"]["services"][0]["energy_input_HP_kWh"] += 0.01

    done = hpsup("tp12", "check", str(_subset(tmp_path, "ashp_space_35_55.json", 4, nudge)))
    assert done.returncode == 1


def test_bad_test_data_exits_2_naming_case_record_and_field(tmp_path: Path) -> None:
    def drop_letter(cases: list[dict]) -> None:
        cases[0]["inputs"]["heat_pump"]["test_data"] = [
            r for r in cases[0]["inputs"]["heat_pump"]["test_data"] if r["test_letter"] != "C"
        ]

    done = hpsup("tp12", "check", str(_subset(tmp_path, "ashp_space_35_55.json", 2, drop_letter)))
    assert done.returncode == 2
    assert "ashp-0000" in done.stderr and "missing C" in done.stderr

    def nan_cop(cases: list[dict]) -> None:
        cases[1]["inputs"]["heat_pump"]["test_data"][3]["cop"] = float("nan")

    done = hpsup(
        "tp12",
        "eval",
        str(_subset(tmp_path, "ashp_space_35_55.json", 2, nan_cop)),
        "--out",
        str(tmp_path / "o.json"),
    )
    assert done.returncode == 2
    assert "ashp-0001" in done.stderr and "test_data.3.cop" in done.stderr


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    done = hpsup("tp12", "check", str(path))
    assert done.returncode == 2 and "broken.json" in done.stderr
