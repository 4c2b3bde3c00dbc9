"""Where the TP-12 reference vectors are, for the tests that need them (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARED

VECTORS_DIR = SHARED / "tp12" / "vectors"
VECTOR_FILES = sorted(VECTORS_DIR.glob("*.json")) if VECTORS_DIR.is_dir() else []
KEYMARK_CSV = SHARED / "data" / "keymark_en14825" / "keymark_en14825_average_35_55.csv"

needs_vectors = pytest.mark.skipif(
    not VECTOR_FILES, reason=f"TP-12 reference vectors not found in {VECTORS_DIR}"
)


def vector_file(name: str) -> Path:
    path = VECTORS_DIR / name
    if not path.is_file():
        pytest.skip(f"TP-12 reference vector file {path} not found")
    return path
