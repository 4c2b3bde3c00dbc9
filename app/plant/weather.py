"""Weather for simulations: hourly outdoor air temperature from the built-in UK year, a CSV or an EPW file.

The built-in series is a real 2024 UK record (see ``data/README.md`` for its provenance, licence and the
two quirks cleaned on load). A user's file is read strictly: every problem names the file, the line and
the value, and nothing is guessed. A typical-year file (EPW, or ``typical=True``) repeats every year.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

BUILTIN = Path(__file__).with_name("data") / "outdoor_2024.csv"
BUILTIN_SENTINEL_C = -40.0
SPIKE_WINDOW_H = 4   # half-width of the running median that exposes sun on the sensor
SPIKE_K = 3.0
PLAUSIBLE_C = (-60.0, 60.0)
HOUR = timedelta(hours=1)


class WeatherError(ValueError):
    """A weather file that cannot be used, with where (file:line) and what (the value)."""


@dataclass(frozen=True)
class WeatherSeries:
    """Hourly outdoor temperature from ``start`` (UTC, on the hour), °C."""

    start: datetime
    outdoor_c: tuple[float, ...]
    source: str
    typical: bool = False

    @property
    def end(self) -> datetime:
        return self.start + len(self.outdoor_c) * HOUR

    def hourly(self, start: datetime, hours: int) -> list[float]:
        """`hours` + 1 hourly values from the hour at or before `start` (enough to interpolate the span)."""
        first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        n = len(self.outdoor_c)
        if self.typical:
            year_start = first.replace(month=1, day=1, hour=0)
            offset = int((first - year_start) / HOUR)
            return [self.outdoor_c[(offset + i) % n] for i in range(hours + 1)]
        offset = int((first - self.start) / HOUR)
        if offset < 0 or offset + hours + 1 > n:
            raise WeatherError(f"{self.source}: covers {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC, "
                               f"not {first:%Y-%m-%d %H:%M} + {hours} h")
        return list(self.outdoor_c[offset:offset + hours + 1])


def _despike(values: np.ndarray) -> np.ndarray:
    """Interpolate over sentinel hours and over sun on the sensor (readings far above the local median)."""
    missing = values <= BUILTIN_SENTINEL_C + 0.05
    padded = np.pad(np.where(missing, np.nan, values), SPIKE_WINDOW_H, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * SPIKE_WINDOW_H + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a window of sentinels only: filled below anyway
        median = np.nanmedian(windows, axis=1)
    missing |= values - median > SPIKE_K
    idx = np.arange(len(values))
    return np.interp(idx, idx[~missing], values[~missing])


def builtin() -> WeatherSeries:
    """The built-in 2024 UK hourly outdoor temperatures, cleaned of sentinels and sun on the sensor.

    Other years get the same hour of the year (the series repeats), so a live-looking run works any day.
    """
    raw = load_csv(BUILTIN, plausible=(BUILTIN_SENTINEL_C, PLAUSIBLE_C[1]))
    cleaned = _despike(np.asarray(raw.outdoor_c))
    return WeatherSeries(raw.start, tuple(float(v) for v in cleaned), "built-in 2024 UK outdoor temperatures",
                         typical=True)


def _temperature_column(header: list[str], path: Path, line: int) -> int:
    names = [h.strip().lower() for h in header]
    for key in ("outdoortemperature", "outdoor_temp", "temp_air", "temperature", "temp", "outdoor", "dry_bulb"):
        if key in names:
            return names.index(key)
    for i, name in enumerate(names[1:], 1):
        if "temp" in name:
            return i
    raise WeatherError(f"{path}:{line}: no outdoor temperature column in the header (got {header})")


def _parse_time(text: str, tz: ZoneInfo | timezone) -> datetime:
    ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (ts if ts.tzinfo else ts.replace(tzinfo=tz)).astimezone(UTC)


def load_csv(path: str | Path, *, tz: str = "UTC", typical: bool = False,
             plausible: tuple[float, float] = PLAUSIBLE_C) -> WeatherSeries:
    """An hourly CSV: a time column first (ISO 8601; naive times are in `tz`) and a temperature column.

    ``,``, ``;`` or tab separated; lines starting with ``#`` are comments. Rows must be consecutive hours.
    """
    path = Path(path)
    zone = ZoneInfo(tz)
    lines = [(n, text) for n, text in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1)
             if text.strip() and not text.lstrip().startswith("#")]
    if len(lines) < 3:
        raise WeatherError(f"{path}: needs a header and at least two hourly rows (got {len(lines)} lines)")
    header_line, header_text = lines[0]
    dialect = csv.Sniffer().sniff(header_text, delimiters=",;\t")
    header = next(csv.reader([header_text], dialect))
    col = _temperature_column(header, path, header_line)
    start: datetime | None = None
    values: list[float] = []
    for n, row in zip((n for n, _ in lines[1:]), csv.reader([t for _, t in lines[1:]], dialect), strict=True):
        if len(row) <= col:
            raise WeatherError(f"{path}:{n}: expected {col + 1} columns (got {row})")
        try:
            ts = _parse_time(row[0], zone)
        except ValueError:
            raise WeatherError(f"{path}:{n}: {header[0]}: not an ISO 8601 time (got {row[0]!r})") from None
        try:
            value = float(row[col])
        except ValueError:
            raise WeatherError(f"{path}:{n}: {header[col]}: not a number (got {row[col]!r})") from None
        if not (math.isfinite(value) and plausible[0] <= value <= plausible[1]):
            raise WeatherError(f"{path}:{n}: {header[col]}: outside {plausible[0]:g}..{plausible[1]:g} °C "
                               f"(got {row[col]})")
        if start is None:
            start = ts
        elif ts != start + len(values) * HOUR:
            expected = start + len(values) * HOUR
            raise WeatherError(f"{path}:{n}: {header[0]}: expected the next hour {expected:%Y-%m-%d %H:%M} UTC "
                               f"(got {row[0]})")
        values.append(value)
    assert start is not None
    return WeatherSeries(start, tuple(values), str(path), typical)


def load_epw(path: str | Path) -> WeatherSeries:
    """An EnergyPlus weather file: dry-bulb temperature of each hour, as a typical year."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or not lines[0].startswith("LOCATION"):
        raise WeatherError(f"{path}:1: an EPW file starts with a LOCATION line (got {lines[0][:40]!r})"
                           if lines else f"{path}: empty file")
    try:
        offset_h = float(lines[0].split(",")[8])
    except (IndexError, ValueError):
        raise WeatherError(f"{path}:1: LOCATION: no time zone offset in field 9 (got {lines[0]!r})") from None
    values: list[float] = []
    for n, text in enumerate(lines[8:], 9):
        fields = text.split(",")
        try:
            values.append(float(fields[6]))
        except (IndexError, ValueError):
            raise WeatherError(f"{path}:{n}: dry bulb temperature (field 7): not a number "
                               f"(got {fields[6] if len(fields) > 6 else text!r})") from None
        if not PLAUSIBLE_C[0] <= values[-1] <= PLAUSIBLE_C[1]:
            raise WeatherError(f"{path}:{n}: dry bulb temperature: outside the plausible range (got {fields[6]})")
    if len(values) < 8760:
        raise WeatherError(f"{path}: an EPW year has 8760 hourly records (got {len(values)})")
    # Record i is the hour ending at (i + 1):00 local standard time; hour k of the series is k:00 UTC.
    shift = (round(offset_h) - 1) % len(values)
    values = values[shift:] + values[:shift]
    return WeatherSeries(datetime(2001, 1, 1, tzinfo=UTC), tuple(values), str(path), typical=True)


def load(path: str | Path | None, *, tz: str = "UTC") -> WeatherSeries:
    """The built-in year (None), an EPW file (``.epw``) or an hourly CSV."""
    if path is None:
        return builtin()
    path = Path(path)
    if not path.is_file():
        raise WeatherError(f"{path}: no such weather file")
    return load_epw(path) if path.suffix.lower() == ".epw" else load_csv(path, tz=tz)
