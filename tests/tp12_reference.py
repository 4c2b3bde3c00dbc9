"""Where the TP-12 reference vectors are, for the tests that need them (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARED

VECTORS_DIR = SHARED / "tp12" / "vectors"
VECTOR_FILES = sorted(VECTORS_DIR.glob("*.json")) if VECTORS_DIR.is_dir() else []
KEYMARK_CSV = SHARED / "data" / "keymark_en14825" / "keymark_en14825_average_35_55.csv"

needs_vectors = pytest.mark.skipif(not VECTOR_FILES, reason=f"TP-12 reference vectors not found in {VECTORS_DIR}")


def vector_file(name: str) -> Path:
    path = VECTORS_DIR / name
    if not path.is_file():
        pytest.skip(f"TP-12 reference vector file {path} not found")
    return path


# An illustrative 35 °C set in the EN 14825 average-climate pattern (outlet 34/30/27/24 °C), air source,
# F at Tbiv = −7 °C duplicating A.
SET_35 = [
    dict(
        test_letter="A",
        capacity=8.4,
        cop=4.6,
        degradation_coeff=0.9,
        design_flow_temp=35,
        temp_outlet=34,
        temp_source=-7,
        temp_test=-7,
    ),
    dict(
        test_letter="B",
        capacity=8.3,
        cop=4.9,
        degradation_coeff=0.9,
        design_flow_temp=35,
        temp_outlet=30,
        temp_source=2,
        temp_test=2,
    ),
    dict(
        test_letter="C",
        capacity=8.3,
        cop=5.1,
        degradation_coeff=0.9,
        design_flow_temp=35,
        temp_outlet=27,
        temp_source=7,
        temp_test=7,
    ),
    dict(
        test_letter="D",
        capacity=8.2,
        cop=5.4,
        degradation_coeff=0.95,
        design_flow_temp=35,
        temp_outlet=24,
        temp_source=12,
        temp_test=12,
    ),
    dict(
        test_letter="F",
        capacity=8.4,
        cop=4.6,
        degradation_coeff=0.9,
        design_flow_temp=35,
        temp_outlet=34,
        temp_source=-7,
        temp_test=-7,
    ),
]
