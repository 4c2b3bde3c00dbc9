"""Synthetic heat pump days for COP tests: known powers per minute, so every energy figure has a truth."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

DAY0 = int(datetime(2024, 1, 15, tzinfo=UTC).timestamp())


def profile(days: int = 1, step_s: int = 60, start: int = DAY0) -> dict[str, np.ndarray]:
    """Sample columns for ``days`` days: space heating 06–09 and 16–22, DHW 13:00–13:45, 5-minute
    defrosts at 07:00 and 18:00 (heat drawn back), standby otherwise."""
    n = days * 86400 // step_s + 1
    t = start + np.arange(n, dtype=np.int64) * step_s
    minute = (t - start) % 86400 // 60
    space = ((minute >= 360) & (minute < 540)) | ((minute >= 960) & (minute < 1320))
    dhw = (minute >= 780) & (minute < 825)
    defrost = ((minute >= 420) & (minute < 425)) | ((minute >= 1080) & (minute < 1085))
    on = space | dhw
    elec_w = np.where(dhw, 2500.0, np.where(space, 2000.0, 15.0))
    heat_w = np.where(defrost, -3000.0, np.where(dhw, 6500.0, np.where(space, 7200.0, 0.0)))
    flow = np.where(defrost, 31.0, np.where(dhw, 55.0, np.where(space, 40.0, 25.0)))
    return {
        "t": t, "elec_w": elec_w, "heat_w": heat_w, "compressor_on": on.astype(float),
        "dhw": dhw.astype(float), "defrost": defrost.astype(float), "flow_temp_c": flow,
        "outdoor_temp_c": 4.0 + 3.0 * np.sin((minute - 540) / 1440 * 2 * np.pi),
    }


def counter(t: np.ndarray, power_w: np.ndarray, start_kwh: float = 0.0) -> np.ndarray:
    """A cumulative kWh counter of a power held from each sample to the next."""
    e = power_w[:-1] * np.diff(t) / 3.6e6
    return start_kwh + np.concatenate(([0.0], np.cumsum(e)))


def held_kwh(t: np.ndarray, power_w: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Energy of a held power over the intervals whose start sample is in ``mask``."""
    e = power_w[:-1] * np.diff(t) / 3.6e6
    return float(e.sum() if mask is None else e[mask[:-1]].sum())


def write_csv(path: Path, t: np.ndarray, columns: dict[str, np.ndarray], sep: str = ",") -> Path:
    """An exported time series: ISO timestamps (UTC) and the given columns ('' for NaN)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, delimiter=sep)
        w.writerow(["timestamp", *columns])
        for i, ts in enumerate(t.tolist()):
            w.writerow([
                datetime.fromtimestamp(ts, UTC).isoformat(),
                *("" if np.isnan(c[i]) else repr(float(c[i])) for c in columns.values()),
            ])
    return path
