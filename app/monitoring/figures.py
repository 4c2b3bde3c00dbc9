"""COP figures from energy per interval: rolling, hourly, daily, monthly, yearly and over the whole period.

Every figure is a ratio of sums over the good intervals of a period, so a period's figure is the same
however its intervals were obtained. The figures follow what heatpumpmonitor.org publishes per system:

- ``spf``: heat over electricity at the widest SEPEMO boundary the meters allow (Zottl et al.,
  SEPEMO-Build D4.2): H1 compressor only, H2 the heat pump unit (source fan or pump included), H3 plus
  the backup/immersion heater (its heat counted at an efficiency of 1), H4 plus the circulation pumps.
  ``spf_h1`` … ``spf_h4`` are each given where the meters for it exist.
- ``spf_space`` / ``spf_dhw``: the split by operating mode at the heat pump's own boundary (H2, or H1).
- ``running_cop``: only intervals with the compressor running; the combined figure includes standby.
- ``defrost_kwh``: heat drawn back from the system while defrosting; ``defrost_share`` divides it by the
  gross heat produced. Net heat (gross less defrost) is the heat in every COP. Only a signed heat
  source (flow-based heat, a heat power, or a meter's reverse register) sees defrost; otherwise None.
- ``standby_kwh``: electricity while the compressor is off.
- ``weighted_flow_temp_c`` / ``weighted_outdoor_temp_c``: averaged with the heat delivered as weight.
- ``starts_per_hour``: compressor starts per hour of good data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from app.monitoring.intervals import F64, Intervals

PERIODS = ("hour", "day", "month", "year")
Figures = dict[str, Any]


def local_seconds(t: NDArray[np.int64], tz: ZoneInfo) -> NDArray[np.int64]:
    """Epoch seconds shifted by the zone's UTC offset at each instant (wall-clock seconds)."""
    t = np.asarray(t, dtype=np.int64)
    hours, inverse = np.unique(t // 3600, return_inverse=True)
    offsets = np.array(
        [int(datetime.fromtimestamp(int(h) * 3600, tz).utcoffset().total_seconds()) for h in hours],  # type: ignore[union-attr]
        dtype=np.int64,
    )
    return t + offsets[inverse.reshape(-1)] if len(t) else t


def period_labels(t: NDArray[np.int64], tz: ZoneInfo, period: str) -> NDArray[np.str_]:
    """The local period (``2024-01-01T13``, ``2024-01-01``, ``2024-01``, ``2024``) each instant falls in."""
    local = local_seconds(t, tz).astype("datetime64[s]")
    unit = {"hour": "h", "day": "D", "month": "M", "year": "Y"}[period]
    return np.datetime_as_string(local.astype(f"datetime64[{unit}]"), unit=unit)


def _sum_columns(iv: Intervals) -> dict[str, F64]:
    """Per-interval quantities whose sums over a period give every figure (bad intervals hold zeros)."""
    good = ~iv.bad
    heat = iv.heat_space + iv.heat_dhw
    base = iv.elec_space + iv.elec_dhw
    gross = heat + iv.defrost
    cols: dict[str, F64] = {
        "heat_space": iv.heat_space, "heat_dhw": iv.heat_dhw,
        "elec_space": iv.elec_space, "elec_dhw": iv.elec_dhw,
        "defrost": iv.defrost, "gross_heat": gross,
        "good_s": np.where(good, (iv.end - iv.start).astype(float), 0.0),
    }
    for name in ("elec_compressor", "elec_backup", "elec_pumps", "starts", "defrosts"):
        v = getattr(iv, name)
        if v is not None:
            cols[name] = v
    if iv.running is not None:
        cols["running_heat"] = np.where(iv.running, heat, 0.0)
        cols["running_elec"] = np.where(iv.running, base, 0.0)
        cols["standby_elec"] = np.where(iv.running | iv.bad, 0.0, base)
    for name in ("flow_temp_c", "outdoor_temp_c"):
        v = getattr(iv, name)
        if v is not None:
            known = np.isfinite(v) & good
            cols[f"{name}_x_heat"] = np.where(known, np.nan_to_num(v) * gross, 0.0)
            cols[f"{name}_heat"] = np.where(known, gross, 0.0)
    return cols


def _ratio(a: float, b: float, digits: int = 3) -> float | None:
    return round(a / b, digits) if b > 1e-9 else None


def _kwh(x: float) -> float:
    return round(x, 3) + 0.0


def figures_from_sums(s: dict[str, float], iv: Intervals) -> Figures:
    """The published figures of one period from its sums (see the module docstring)."""
    heat_hp = s["heat_space"] + s["heat_dhw"]
    base = s["elec_space"] + s["elec_dhw"]
    backup = s.get("elec_backup")
    pumps = s.get("elec_pumps")
    heat_h2 = heat_hp - backup if (backup is not None and iv.heat_meter_includes_backup) else heat_hp
    spf: dict[str, float | None] = {"H1": None, "H2": None, "H3": None, "H4": None}
    boundary = iv.base_boundary
    heat, elec = heat_h2, base
    spf[boundary] = _ratio(heat_h2, base)
    if "elec_compressor" in s:
        spf["H1"] = _ratio(heat_h2, s["elec_compressor"])
    if boundary == "H2" and backup is not None:
        heat, elec, boundary = heat_h2 + backup, base + backup, "H3"
        spf["H3"] = _ratio(heat, elec)
        if pumps is not None:
            elec, boundary = elec + pumps, "H4"
            spf["H4"] = _ratio(heat, elec)
    hours = s["good_s"] / 3600.0
    out: Figures = {
        "spf": _ratio(heat, elec),
        "spf_space": _ratio(s["heat_space"], s["elec_space"]) if iv.has_split else None,
        "spf_dhw": _ratio(s["heat_dhw"], s["elec_dhw"]) if iv.has_split else None,
        "heat_kwh": _kwh(heat),
        "elec_kwh": _kwh(elec),
        "boundary": boundary,
        **{f"spf_{k.lower()}": v for k, v in spf.items()},
        "heat_space_kwh": _kwh(s["heat_space"]) if iv.has_split else None,
        "heat_dhw_kwh": _kwh(s["heat_dhw"]) if iv.has_split else None,
        "elec_space_kwh": _kwh(s["elec_space"]) if iv.has_split else None,
        "elec_dhw_kwh": _kwh(s["elec_dhw"]) if iv.has_split else None,
        "backup_elec_kwh": None if backup is None else _kwh(backup),
        "pumps_elec_kwh": None if pumps is None else _kwh(pumps),
        "running_cop": _ratio(s["running_heat"], s["running_elec"]) if "running_heat" in s else None,
        "standby_kwh": _kwh(s["standby_elec"]) if "standby_elec" in s else None,
        "defrost_kwh": _kwh(s["defrost"]) if iv.defrost_measured else None,
        "defrost_share": _ratio(s["defrost"], s["gross_heat"], 4) if iv.defrost_measured else None,
        "defrosts": int(s["defrosts"]) if "defrosts" in s else None,
        "weighted_flow_temp_c": _ratio(s["flow_temp_c_x_heat"], s["flow_temp_c_heat"], 2)
        if "flow_temp_c_heat" in s else None,
        "weighted_outdoor_temp_c": _ratio(s["outdoor_temp_c_x_heat"], s["outdoor_temp_c_heat"], 2)
        if "outdoor_temp_c_heat" in s else None,
        "starts": int(s["starts"]) if "starts" in s else None,
        "starts_per_hour": _ratio(s["starts"], hours) if "starts" in s else None,
        "hours": round(hours, 3),
    }
    return out


def figures_by(iv: Intervals, tz: ZoneInfo, period: str) -> dict[str, Figures]:
    """Figures per local period (``hour``, ``day``, ``month`` or ``year``), keyed by its label."""
    if period not in PERIODS:
        raise ValueError(f"period {period!r} is not one of {', '.join(PERIODS)}")
    if not len(iv):
        return {}
    labels = period_labels(iv.start, tz, period)
    first = np.flatnonzero(np.concatenate(([True], labels[1:] != labels[:-1])))
    sums = {k: np.add.reduceat(v, first) for k, v in _sum_columns(iv).items()}
    bad_n = np.add.reduceat(iv.bad.astype(np.int64), first)
    out: dict[str, Figures] = {}
    for g, at in enumerate(first.tolist()):
        label = str(labels[at])
        if label in out:
            raise ValueError(f"intervals are not in time order (period {label} appears twice)")
        fig = figures_from_sums({k: float(v[g]) for k, v in sums.items()}, iv)
        fig["bad_interval_count"] = int(bad_n[g])
        out[label] = fig
    return out


def totals(iv: Intervals) -> Figures:
    """Figures over all the intervals given."""
    return figures_from_sums({k: float(v.sum()) for k, v in _sum_columns(iv).items()}, iv)


def rolling_cop(iv: Intervals, window_s: float = 300.0) -> tuple[NDArray[np.int64], F64]:
    """Instantaneous COP: heat over electricity in the window ending at each interval's end (NaN if none)."""
    heat = np.concatenate(([0.0], np.cumsum(iv.heat_space + iv.heat_dhw)))
    elec = np.concatenate(([0.0], np.cumsum(iv.elec_space + iv.elec_dhw)))
    first = np.searchsorted(iv.end, iv.end - window_s, side="right")
    last = np.arange(1, len(iv) + 1)
    e = elec[last] - elec[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        cop = np.where(e > 1e-9, (heat[last] - heat[first]) / e, np.nan)
    return iv.end, cop


def iso(t: int, tz: ZoneInfo) -> str:
    """An epoch second as local ISO 8601 with its offset."""
    return datetime.fromtimestamp(int(t), UTC).astimezone(tz).isoformat()


def bad_spans(iv: Intervals, tz: ZoneInfo) -> list[dict[str, Any]]:
    """The bad intervals, adjacent ones with the same reason merged into one span."""
    spans: list[dict[str, Any]] = []
    idx = np.flatnonzero(iv.bad)
    prev_end, prev_reason = None, None
    for k in idx.tolist():
        start, end, reason = int(iv.start[k]), int(iv.end[k]), str(iv.reason[k])
        if spans and start == prev_end and reason == prev_reason:
            spans[-1]["end"] = iso(end, tz)
            spans[-1]["intervals"] += 1
        else:
            spans.append({"start": iso(start, tz), "end": iso(end, tz), "reason": reason, "intervals": 1})
        prev_end, prev_reason = end, reason
    return spans


def summary(iv: Intervals, tz: ZoneInfo, *, months: bool = True) -> Figures:
    """The report: figures over the whole period, bad intervals, days, and the same per year (and month)."""

    def block(part: Intervals) -> Figures:
        fig = totals(part)
        fig["days"] = len(set(period_labels(part.start[~part.bad], tz, "day").tolist()))
        fig["bad_intervals"] = bad_spans(part, tz)
        return fig

    out = block(iv)
    out["from"] = iso(int(iv.start[0]), tz) if len(iv) else None
    out["to"] = iso(int(iv.end[-1]), tz) if len(iv) else None
    out["bad_interval_count"] = int(iv.bad.sum())
    if len(iv) and float(np.median(iv.end - iv.start)) < 300.0:
        t_end, cop = rolling_cop(iv)
        known = np.flatnonzero(np.isfinite(cop))
        out["instantaneous"] = (
            {"window_s": 300, "at": iso(int(t_end[known[-1]]), tz), "cop": round(float(cop[known[-1]]), 3)}
            if len(known) else None
        )
    years = period_labels(iv.start, tz, "year")
    out["by_year"] = {y: block(iv.select(np.flatnonzero(years == y))) for y in dict.fromkeys(years.tolist())}
    if months:
        out["by_month"] = figures_by(iv, tz, "month")
    return out
