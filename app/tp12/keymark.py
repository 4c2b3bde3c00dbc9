"""Real products: EN 14825 records for TP-12 from the Heat Pump Keymark declarations packaged with the project.

``data/keymark_en14825_average_35_55.csv.gz`` holds the declared EN 14825 results (average climate,
35 °C and 55 °C design flow) of about 9,000 certified products — Heat Pump Keymark certificate
exports of 2023-04-17, CC-BY-4.0, as collected by the hplib project (see ``data/NOTICE.md``). This
module is the only part of the model that reads a file, and it reads only that packaged table.

A product is named by manufacturer and model: the model is the certificate's product title (e.g.
``"VWL 105/5 AS + VWL 127/5 IS"``); the manufacturer may be given in full or by a distinctive part of
its name (``"Vaillant"``). Matching ignores case and repeated spaces. Where a product appears in more
than one certificate, the most recent certificate is used.

Records A–D and F per design flow temperature follow EN 14825's average-climate conditions:

- test (outdoor) temperatures: A −7 °C, B +2 °C, C +7 °C, D +12 °C, F at the declared bivalent
  temperature Tbiv;
- outlet temperatures (variable outlet, average climate): 35 °C design → A 34, B 30, C 27, D 24 °C;
  55 °C design → A 52, B 42, C 36, D 30 °C; F linearly interpolated in outdoor temperature between
  these points and the design point (−10 °C → 35 / 55 °C), held at the design value below −10 °C;
- source temperature: the outdoor temperature for air-to-water units, 0 °C brine for
  brine-to-water, 10 °C water for water-to-water;
- capacity and COP are the declared Pdh and COP; Cdh is the declared value, or EN 14825's default
  0.9 where none is declared; F takes the Cdh of the nearest of A–D in test temperature.

The product's TOL, standby, crankcase-heater and off-mode powers and supplementary heater capacity
become the heat pump's lower operating limit and auxiliary powers (:func:`keymark_settings`).
"""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from app.tp12.records import En14825Record, SourceType
from app.tp12.testdata import TestDataError

PACKAGED_TABLE = "keymark_en14825_average_35_55.csv.gz"
TEST_TEMPERATURES_C = {"A": -7.0, "B": 2.0, "C": 7.0, "D": 12.0}
DESIGN_OUTDOOR_C = -10.0
# EN 14825 average climate, variable outlet: (outdoor °C, outlet °C) from the design point to D.
OUTLET_CURVES_C = {
    35.0: ((-10.0, 35.0), (-7.0, 34.0), (2.0, 30.0), (7.0, 27.0), (12.0, 24.0)),
    55.0: ((-10.0, 55.0), (-7.0, 52.0), (2.0, 42.0), (7.0, 36.0), (12.0, 30.0)),
}
DEFAULT_CDH = 0.9  # EN 14825 default degradation coefficient when none is measured
SOURCE_BY_TYPE = {
    "Outdoor Air/Water": SourceType.OUTSIDE_AIR,
    "Hybrid Air/Water": SourceType.OUTSIDE_AIR,
    "Brine/Water": SourceType.GROUND,
    "Brine/Water and Water/Water": SourceType.GROUND,
    "Water/Water": SourceType.WATER_GROUND,
}
FIXED_SOURCE_C = {SourceType.GROUND: 0.0, SourceType.WATER_GROUND: 10.0}
KEPT_COLUMNS = (
    "Manufacturer",
    "Modelname",
    "title",
    "Type",
    "flow_temp_C",
    "Refrigerant",
    "Date",
    "Prated_kW",
    "SCOP",
    "Tbiv",
    "TOL",
    "A_Pdh",
    "A_COP",
    "A_Cdh",
    "B_Pdh",
    "B_COP",
    "B_Cdh",
    "C_Pdh",
    "C_COP",
    "C_Cdh",
    "D_Pdh",
    "D_COP",
    "D_Cdh",
    "F_Tbiv_Pdh",
    "F_Tbiv_COP",
    "E_TOL_Pdh",
    "E_TOL_COP",
    "E_TOL_Cdh",
    "Poff_W",
    "PTO_W",
    "PSB_W",
    "PCK_W",
    "Psup_kW",
    "file",
)


class KeymarkError(TestDataError):
    """No usable Keymark product for the name given (the message lists near matches)."""


@dataclass(frozen=True)
class KeymarkEntry:
    """One certified product's rows (one per design flow temperature)."""

    manufacturer: str
    model: str
    type: str
    rows: tuple[dict[str, str], ...]


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


@cache
def _table() -> tuple[dict[str, str], ...]:
    raw = resources.files("app.tp12").joinpath("data", PACKAGED_TABLE).read_bytes()
    return tuple(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))


def _certificate_date(row: dict[str, str]) -> datetime:
    try:
        return datetime.strptime(row["Date"].strip(), "%d.%m.%Y")
    except ValueError:
        return datetime.min


def _manufacturer(name: str, manufacturers: set[str]) -> str:
    wanted = _normal(name)
    exact = [m for m in manufacturers if _normal(m) == wanted]
    if exact:
        return exact[0]
    partial = sorted(m for m in manufacturers if wanted and wanted in _normal(m))
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise KeymarkError(f"Keymark manufacturer {name!r} is ambiguous: {'; '.join(partial[:10])}")

    def likeness(candidate: str) -> float:
        words = [_normal(candidate), *_normal(candidate).split()]
        return max(difflib.SequenceMatcher(None, wanted, word).ratio() for word in words)

    near = sorted((m for m in manufacturers if likeness(m) >= 0.75), key=likeness, reverse=True)[:5]
    raise KeymarkError(f"no Keymark manufacturer {name!r}" + (f"; did you mean: {'; '.join(near)}" if near else ""))


def find_product(manufacturer: str, model: str) -> KeymarkEntry:
    """The product ``model`` (certificate title) of ``manufacturer`` in the packaged Keymark table."""
    table = _table()
    maker = _manufacturer(manufacturer, {row["Manufacturer"] for row in table})
    rows = [row for row in table if row["Manufacturer"] == maker]
    wanted = _normal(model)
    matching = [row for row in rows if _normal(row["title"]) == wanted]
    if not matching:
        titles = sorted({row["title"].strip() for row in rows})
        near = difflib.get_close_matches(model, titles, n=5, cutoff=0.4)
        raise KeymarkError(
            f"no Keymark model {model!r} from {maker!r}" + (f"; did you mean: {'; '.join(near)}" if near else "")
        )
    by_flow: dict[str, dict[str, str]] = {}
    for row in sorted(matching, key=_certificate_date, reverse=True):
        by_flow.setdefault(row["flow_temp_C"], row)
    chosen = tuple(by_flow[f] for f in sorted(by_flow, key=float))
    return KeymarkEntry(maker, chosen[0]["title"].strip(), chosen[0]["Type"], chosen)


def outlet_temperature_C(design_flow_temp_C: float, temp_test_C: float) -> float:
    """Water outlet temperature of an EN 14825 average-climate test at ``temp_test_C`` (variable outlet)."""
    outdoor, outlet = zip(*OUTLET_CURVES_C[design_flow_temp_C], strict=True)
    return float(np.interp(temp_test_C, outdoor, outlet))


def _number(row: dict[str, str], column: str, product: str, default: float | None = None) -> float:
    text = row.get(column, "").strip()
    if not text:
        if default is not None:
            return default
        raise KeymarkError(f"Keymark product {product}: no {column} declared at {row['flow_temp_C']} °C design flow")
    try:
        value = float(text)
    except ValueError as exc:
        raise KeymarkError(f"Keymark product {product}: {column} is {text!r}, not a number") from exc
    if not np.isfinite(value):
        raise KeymarkError(f"Keymark product {product}: {column} is {text!r}")
    return value


def source_type_of(product: KeymarkEntry) -> SourceType:
    """The TP-12 source type of a Keymark product type (air/water, brine/water, water/water)."""
    try:
        return SOURCE_BY_TYPE[product.type]
    except KeyError:
        raise KeymarkError(
            f"Keymark product {product.manufacturer} {product.model} is a {product.type!r} unit; the builder "
            f"covers {', '.join(SOURCE_BY_TYPE)} (give test_data for others)"
        ) from None


def records_for(product: KeymarkEntry) -> list[En14825Record]:
    """EN 14825 records A–D and F per design flow temperature of ``product`` (rules in the module docstring)."""
    source = source_type_of(product)
    name = f"{product.manufacturer} {product.model}"
    records = []
    for row in product.rows:
        design = float(row["flow_temp_C"])
        if design not in OUTLET_CURVES_C:
            raise KeymarkError(f"Keymark product {name}: design flow {design:g} °C has no EN 14825 outlet table")
        cdh = {letter: _number(row, f"{letter}_Cdh", name, DEFAULT_CDH) for letter in TEST_TEMPERATURES_C}
        points = [
            (letter, t, _number(row, f"{letter}_Pdh", name), _number(row, f"{letter}_COP", name), cdh[letter])
            for letter, t in TEST_TEMPERATURES_C.items()
        ]
        tbiv = _number(row, "Tbiv", name)
        nearest = min(TEST_TEMPERATURES_C, key=lambda letter: abs(TEST_TEMPERATURES_C[letter] - tbiv))
        points.append(("F", tbiv, _number(row, "F_Tbiv_Pdh", name), _number(row, "F_Tbiv_COP", name), cdh[nearest]))
        for letter, temp_test, capacity, cop, degradation in points:
            records.append(
                En14825Record(
                    test_letter=letter,
                    design_flow_temp=design,
                    temp_outlet=outlet_temperature_C(design, temp_test),
                    temp_source=FIXED_SOURCE_C.get(source, temp_test),
                    temp_test=temp_test,
                    capacity=capacity,
                    cop=cop,
                    degradation_coeff=degradation,
                )
            )
    return records


def keymark_records(manufacturer: str, model: str, source_type: SourceType) -> list[En14825Record]:
    """Records for a site's heat pump named by Keymark manufacturer and model, checked against its source."""
    product = find_product(manufacturer, model)
    declared = source_type_of(product)
    if declared is not source_type:
        raise KeymarkError(
            f"Keymark product {product.manufacturer} {product.model} is a {product.type} unit "
            f"(source {declared.value}); the site gives source_type {source_type.value}"
        )
    return records_for(product)


def keymark_settings(manufacturer: str, model: str) -> dict[str, object]:
    """HeatPumpSpec settings declared for the product: source, TOL, auxiliary powers, backup capacity."""
    product = find_product(manufacturer, model)
    row = product.rows[0]
    name = f"{product.manufacturer} {product.model}"
    return {
        "source_type": source_type_of(product).value,
        "var_flow_temp_ctrl_during_test": True,
        "temp_lower_operating_limit": _number(row, "TOL", name),
        "power_standby": _number(row, "PSB_W", name, 0.0) / 1000.0,
        "power_crankcase_heater": _number(row, "PCK_W", name, 0.0) / 1000.0,
        "power_off": _number(row, "Poff_W", name, 0.0) / 1000.0,
        "power_max_backup": _number(row, "Psup_kW", name, 0.0),
    }


def search(text: str, limit: int = 50) -> list[tuple[str, str, str, str]]:
    """(manufacturer, model, type, design flows) of products whose manufacturer or model contains ``text``."""
    wanted = _normal(text)
    found: dict[tuple[str, str], tuple[str, set[str]]] = {}
    for row in _table():
        if wanted in _normal(row["Manufacturer"]) or wanted in _normal(row["title"]):
            key = (row["Manufacturer"], row["title"].strip())
            found.setdefault(key, (row["Type"], set()))[1].add(row["flow_temp_C"])
    return [(m, t, kind, "/".join(sorted(flows, key=float))) for (m, t), (kind, flows) in sorted(found.items())][:limit]


def package_table(source_csv: Path, destination: Path) -> int:
    """Write the packaged table from the hplib Keymark export (the columns TP-12 uses); returns rows written."""
    with source_csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in KEPT_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise KeymarkError(f"{source_csv}: columns {', '.join(missing)} are missing")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=KEPT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    average = [row for row in rows if row.get("climate", "average") == "average"]
    writer.writerows(average)
    destination.write_bytes(gzip.compress(buffer.getvalue().encode("utf-8"), compresslevel=9, mtime=0))
    return len(average)
