"""Readers for exported monitoring data: daily energy exports and time series, one file or a folder.

Daily energy (Wh per day, split heating / domestic hot water):
- the manufacturer app's raw export: ';' separated, '#' comment lines before the header, and in some
  files one column block per month (each row fills only its month's block); values rounded to 1 kWh on
  some days, whole days absent;
- the same figures normalised into one ',' separated table.
Both are read by column name, so block layout and column order do not matter. A day absent between the
first and the last becomes a bad interval ("missing day"); the same day in two files must agree.

Time series: a header row then one row per instant, ',' ';' or tab separated, '#' lines skipped; a
timestamp column (ISO 8601, or epoch seconds) and any of the channel columns in `KNOWN_COLUMNS`
(heatpumpmonitor.org / emoncms feed names are accepted as aliases).

Anything unreadable raises `DataFileError` naming the file, line, column and value.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from app.monitoring.intervals import KNOWN_COLUMNS, Intervals, MeteringConfig, Samples, build_intervals

DAILY_COLUMNS = {
    "ConsumedElectricalEnergy:Heating": "elec_space",
    "ConsumedElectricalEnergy:DomesticHotWater": "elec_dhw",
    "HeatGenerated:Heating": "heat_space",
    "HeatGenerated:DomesticHotWater": "heat_dhw",
}
DAILY_MARKER = "ConsumedElectricalEnergy:"
AUXILIARY_MARKERS = ("OutdoorTemperature", "DhwTankTemperature", "RoomTemperature", "ManualModeSetpoint")
TIMESTAMP_NAMES = ("timestamp", "time", "datetime", "date_time")
ALIASES = {
    "heatpump_elec_kwh": "elec_kwh", "heatpump_heat_kwh": "heat_kwh", "heatpump_elec": "elec_w",
    "heatpump_heat": "heat_w", "heatpump_flowt": "flow_temp_c", "heatpump_returnt": "return_temp_c",
    "heatpump_outsidet": "outdoor_temp_c", "heatpump_dhw": "dhw", "immersion_elec_kwh": "backup_elec_kwh",
}
_FLAGS = {"true": 1.0, "on": 1.0, "yes": 1.0, "false": 0.0, "off": 0.0, "no": 0.0}
_MISSING = {"", "nan", "null", "none", "-"}


class DataFileError(ValueError):
    """A data file that cannot be read as it claims to be: names file, line, column and value."""

    def __init__(self, path: Path | str, line: int | None, what: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {what}")


@dataclass(frozen=True)
class DailyEnergy:
    """One day's energy, kWh (None where the export left the value empty), and where it was read."""

    day: date
    elec_space: float | None
    elec_dhw: float | None
    heat_space: float | None
    heat_dhw: float | None
    where: str


@dataclass
class Loaded:
    """What an input path held: the intervals, and the files read or skipped."""

    intervals: Intervals
    kind: str
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    numbered = enumerate(text.splitlines(), start=1)
    return [(n, s) for n, s in numbered if s.strip() and not s.lstrip().startswith("#")]


def _delimiter(header: str) -> str:
    return max((";", ",", "\t"), key=header.count)


def _number(path: Path, line: int, column: str, text: str) -> float | None:
    s = text.strip()
    if s.lower() in _MISSING:
        return None
    if s.lower() in _FLAGS:
        return _FLAGS[s.lower()]
    try:
        value = float(s)
    except ValueError:
        raise DataFileError(path, line, f"column {column!r}: not a number: {s!r}") from None
    if not math.isfinite(value):
        raise DataFileError(path, line, f"column {column!r}: not a finite number: {s!r}")
    return value


def file_kind(path: Path) -> str:
    """``daily`` (energy export), ``auxiliary`` (the app's temperature files) or ``timeseries``."""
    rows = _lines(path)
    if not rows:
        raise DataFileError(path, None, "no header row (empty, or only '#' comment lines)")
    header = rows[0][1]
    if DAILY_MARKER in header:
        return "daily"
    if any(m in header for m in AUXILIARY_MARKERS):
        return "auxiliary"
    return "timeseries"


def read_daily_energy(path: Path) -> list[DailyEnergy]:
    """Days of a daily energy export (raw with month blocks, or the normalised table), Wh → kWh."""
    rows = _lines(path)
    (hline, header), body = rows[0], rows[1:]
    sep = _delimiter(header)
    names = [h.strip() for h in header.split(sep)]
    blocks: list[dict[str, int]] = []
    for i, name in enumerate(names[1:], start=1):
        if name not in DAILY_COLUMNS and not name.startswith("EarnedEnvironmentEnergy:"):
            raise DataFileError(path, hline, f"unknown column {name!r}")
        if not blocks or name in blocks[-1]:
            blocks.append({})
        blocks[-1][name] = i
    for b in blocks:
        absent = [c for c in DAILY_COLUMNS if c not in b]
        if absent:
            raise DataFileError(path, hline, f"column block without {', '.join(absent)}")
    days: list[DailyEnergy] = []
    for line, text in body:
        cells = text.split(sep)
        if len(cells) != len(names):
            raise DataFileError(path, line, f"{len(cells)} fields where the header has {len(names)}")
        try:
            day = datetime.fromisoformat(cells[0].strip()).date()
        except ValueError:
            raise DataFileError(path, line, f"column {names[0]!r}: not a date: {cells[0]!r}") from None
        filled = [b for b in blocks if any(cells[i].strip() for i in b.values())]
        if len(filled) > 1:
            raise DataFileError(path, line, f"{len(filled)} column blocks filled for one day")
        values: dict[str, float | None] = dict.fromkeys(DAILY_COLUMNS.values())
        for column, i in (filled[0] if filled else {}).items():
            if column in DAILY_COLUMNS:
                v = _number(path, line, column, cells[i])
                if v is not None and v < 0:
                    raise DataFileError(path, line, f"column {column!r}: negative energy {cells[i]!r}")
                values[DAILY_COLUMNS[column]] = None if v is None else v / 1000.0
        days.append(DailyEnergy(day, where=f"{path}:{line}", **values))  # type: ignore[arg-type]
    return days


def merge_days(days: list[DailyEnergy]) -> dict[date, DailyEnergy]:
    """One record per day; the same day read twice must carry the same values."""
    merged: dict[date, DailyEnergy] = {}
    for d in days:
        seen = merged.get(d.day)
        if seen is None:
            merged[d.day] = d
            continue
        for name in DAILY_COLUMNS.values():
            a, b = getattr(seen, name), getattr(d, name)
            if a is not None and b is not None and not math.isclose(a, b, rel_tol=0.0, abs_tol=1e-6):
                raise DataFileError(d.where, None, f"{d.day} {name} = {b} kWh, but {seen.where} has {a} kWh")
        if any(getattr(seen, n) is None for n in DAILY_COLUMNS.values()):
            merged[d.day] = d
    return merged


def daily_intervals(days: dict[date, DailyEnergy], tz: ZoneInfo) -> Intervals:
    """One interval per local day from the first to the last; absent days and empty values are bad."""
    first, last = min(days), max(days)
    n = (last - first).days + 1
    calendar = [first + timedelta(days=i) for i in range(n + 1)]
    edges = np.array([int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()) for d in calendar])
    cols = {name: np.zeros(n) for name in DAILY_COLUMNS.values()}
    reason = np.full(n, "", dtype=object)
    for i, day in enumerate(calendar[:-1]):
        rec = days.get(day)
        if rec is None:
            reason[i] = "missing day"
            continue
        empty = [name for name in DAILY_COLUMNS.values() if getattr(rec, name) is None]
        if empty:
            reason[i] = f"missing value ({', '.join(empty)})"
            continue
        for name in DAILY_COLUMNS.values():
            cols[name][i] = getattr(rec, name)
    return Intervals(
        start=edges[:-1], end=edges[1:], defrost=np.zeros(n), bad=reason != "", reason=reason, **cols,
    )


def _timestamp(path: Path, line: int, column: str, text: str, tz: ZoneInfo) -> int:
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        try:
            moment = datetime.fromisoformat(s)
        except ValueError:
            raise DataFileError(path, line, f"column {column!r}: not a timestamp: {s!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return int(moment.timestamp())
    return int(value / 1000.0 if value > 1e11 else value)


def read_timeseries(path: Path, tz: ZoneInfo) -> tuple[Samples, list[str]]:
    """A time-series export as samples, and the names of the columns it ignored."""
    rows = _lines(path)
    (hline, header), body = rows[0], rows[1:]
    sep = _delimiter(header)
    names = [h.strip() for h in next(csv.reader([header], delimiter=sep))]
    lowered = [n.lower() for n in names]
    ts_col = next((i for i, n in enumerate(lowered) if n in TIMESTAMP_NAMES), None)
    if ts_col is None:
        raise DataFileError(
            path, hline, f"no timestamp column (one of {', '.join(TIMESTAMP_NAMES)}) in {names}"
        )
    channels: dict[int, str] = {}
    ignored: list[str] = []
    for i, n in enumerate(names):
        if i == ts_col:
            continue
        canonical = n if n in KNOWN_COLUMNS else ALIASES.get(n.lower())
        if canonical is None:
            ignored.append(n)
        elif canonical in channels.values():
            raise DataFileError(path, hline, f"column {n!r} repeats channel {canonical!r}")
        else:
            channels[i] = canonical
    t = np.empty(len(body), dtype=np.int64)
    data = {name: np.full(len(body), np.nan) for name in channels.values()}
    for r, cells in enumerate(csv.reader((text for _, text in body), delimiter=sep)):
        line = body[r][0]
        if len(cells) != len(names):
            raise DataFileError(path, line, f"{len(cells)} fields where the header has {len(names)}")
        t[r] = _timestamp(path, line, names[ts_col], cells[ts_col], tz)
        if r and t[r] <= t[r - 1]:
            raise DataFileError(path, line, f"timestamp {cells[ts_col]!r} does not follow the row before it")
        for i, name in channels.items():
            v = _number(path, line, names[i], cells[i])
            if v is not None:
                data[name][r] = v
    return Samples(t, data, source=str(path)), ignored


def _concat(parts: list[Samples]) -> Samples:
    parts = sorted(parts, key=lambda s: int(s.t[0]) if len(s.t) else 0)
    names = sorted({k for p in parts for k in p.columns})
    t = np.concatenate([p.t for p in parts])
    cols = {k: np.concatenate([p.columns.get(k, np.full(len(p.t), np.nan)) for p in parts]) for k in names}
    steps = np.diff(t)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0]) + 1
        sources = " + ".join(p.source for p in parts)
        raise DataFileError(sources, None, f"files overlap at epoch second {int(t[k])}")
    return Samples(t, cols, source=" + ".join(p.source for p in parts))


def load(path: Path, tz: ZoneInfo, config: MeteringConfig) -> Loaded:
    """Read a file, or every CSV file under a folder, into intervals (daily or from a time series)."""
    if not path.exists():
        raise DataFileError(path, None, "no such file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".txt")) \
        if path.is_dir() else [path]
    if not files:
        raise DataFileError(path, None, "no .csv files in the folder")
    kinds = {f: file_kind(f) for f in files}
    used = [f for f in files if kinds[f] != "auxiliary"]
    skipped = [str(f) for f in files if kinds[f] == "auxiliary"]
    if not used:
        raise DataFileError(path, None, "no energy or time-series file (only temperature exports)")
    found = {kinds[f] for f in used}
    if len(found) > 1:
        raise DataFileError(path, None, "holds both daily energy exports and time series; give one kind")
    if found == {"daily"}:
        days = merge_days([d for f in used for d in read_daily_energy(f)])
        return Loaded(daily_intervals(days, tz), "daily", [str(f) for f in used], skipped)
    parts = []
    for f in used:
        samples, ignored = read_timeseries(f, tz)
        parts.append(samples)
        skipped.extend(f"{f} column {c!r}" for c in ignored)
    samples = parts[0] if len(parts) == 1 else _concat(parts)
    return Loaded(build_intervals(samples, config), "timeseries", [str(f) for f in used], skipped)
