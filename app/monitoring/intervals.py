"""From raw readings to energy per interval: counters, powers, heat-meter maths, bad-interval marking.

Samples are rows taken at the same instants (a plant snapshot, one line of an exported time series).
Interval k runs from row k to row k+1 and belongs to the period containing its start. Every channel
becomes energy per interval:

- cumulative counters (kWh): the difference between valid readings. A span between two valid readings
  longer than the gap limit is a *gap*; a counter that goes down is a *meter reset* unless it wrapped
  at its rollover value (configured, or the next power of ten above the last reading) to a plausible
  delta; a rise implying more than the channel's plausible power is an *implausible jump*. A short run
  of missing readings inside a span is filled by sharing the span's delta in proportion to time.
- powers (W): held from the interval's start sample (sample-and-hold), a gap if the interval is too long.
- heat from flow rate and temperatures: power by `thermal_power_w`, then as a power.

An interval any energy channel cannot account for is *bad*: kept, marked with the reason and the
channel, and left out of every figure on both sides of the ratio (never booked as a lifetime of energy).
Every value depends only on readings within the gap limit of the interval, so figures for a day are the
same whether computed from the whole history, a window around that day, or live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from app.monitoring.fluids import Fluid
from app.monitoring.heat_meter import MeterPipe, thermal_power_w

F64 = NDArray[np.float64]

GOOD, GAP, RESET, IMPLAUSIBLE, MISSING = 0, 1, 2, 3, 4
REASONS = {GAP: "gap", RESET: "meter reset", IMPLAUSIBLE: "implausible jump", MISSING: "missing value"}

# Cumulative energy counters, kWh, and the sample columns holding power, W.
ELEC_COUNTERS = ("elec_kwh", "compressor_elec_kwh", "backup_elec_kwh", "pumps_elec_kwh")
HEAT_COUNTERS = ("heat_kwh", "heat_reverse_kwh", "hp_heat_register_kwh")
POWER_OF_COUNTER = {
    "elec_kwh": "elec_w", "compressor_elec_kwh": "compressor_elec_w", "backup_elec_kwh": "backup_elec_w",
    "pumps_elec_kwh": "pumps_elec_w", "heat_kwh": "heat_w",
}
PROCESS_COLUMNS = ("flow_temp_c", "return_temp_c", "flow_rate_m3h", "outdoor_temp_c")
STATE_COLUMNS = ("dhw", "compressor_on", "defrost")
SIGNED_HEAT_SOURCES = ("heat power", "flow and temperatures")
KNOWN_COLUMNS = frozenset(
    (*ELEC_COUNTERS, *HEAT_COUNTERS, *POWER_OF_COUNTER.values(), *PROCESS_COLUMNS, *STATE_COLUMNS)
)


@dataclass(frozen=True)
class MeteringConfig:
    """How a site's meters are read and judged."""

    fluid: Fluid = field(default_factory=Fluid)
    meter_pipe: MeterPipe = "return"
    max_gap_s: float = 900.0
    max_elec_kw: float = 100.0
    max_heat_kw: float = 500.0
    rollover_kwh: float | None = None
    counter_tolerance_kwh: float = 0.0
    standby_w: float = 100.0
    heat_meter_includes_backup: bool = False


@dataclass
class Samples:
    """Readings at increasing instants ``t`` (epoch seconds, UTC); NaN marks a missing or bad reading."""

    t: NDArray[np.int64]
    columns: dict[str, F64]
    source: str = "samples"

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, dtype=np.int64)
        for name, col in self.columns.items():
            if len(col) != len(self.t):
                raise ValueError(
                    f"{self.source}: column {name!r} has {len(col)} values for {len(self.t)} instants"
                )
        steps = np.diff(self.t)
        if np.any(steps <= 0):
            k = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise ValueError(
                f"{self.source}: instant #{k} ({int(self.t[k])}) does not follow the one before it"
            )

    def window(self, start: int, end: int) -> Samples:
        """The rows with ``start <= t < end``."""
        lo, hi = np.searchsorted(self.t, [start, end])
        return Samples(self.t[lo:hi], {k: v[lo:hi] for k, v in self.columns.items()}, self.source)


@dataclass
class Intervals:
    """Energy per interval, kWh, with what is needed for every published figure.

    ``heat_*`` is net heat (negative while defrosting); ``defrost`` is heat drawn back (≥ 0).
    ``elec_*`` is the heat pump unit's meter (SEPEMO H2), or the compressor's when that is all there
    is (H1). Optional meters are None when absent. Bad intervals carry zeros and a reason.
    """

    start: NDArray[np.int64]
    end: NDArray[np.int64]
    heat_space: F64
    heat_dhw: F64
    elec_space: F64
    elec_dhw: F64
    defrost: F64
    bad: NDArray[np.bool_]
    reason: NDArray[np.object_]
    base_boundary: Literal["H1", "H2"] = "H2"
    has_split: bool = True
    elec_compressor: F64 | None = None
    elec_backup: F64 | None = None
    elec_pumps: F64 | None = None
    running: NDArray[np.bool_] | None = None
    starts: F64 | None = None
    defrosts: F64 | None = None
    flow_temp_c: F64 | None = None
    outdoor_temp_c: F64 | None = None
    heat_meter_includes_backup: bool = False
    defrost_measured: bool = False

    def __len__(self) -> int:
        return len(self.start)

    def select(self, index: NDArray[np.intp] | slice) -> Intervals:
        """The intervals at ``index`` (a slice or index array), all columns alike."""
        values = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            values[name] = v[index] if isinstance(v, np.ndarray) else v
        return Intervals(**values)


def counter_deltas(
    t: NDArray[np.int64],
    v: F64,
    *,
    max_kw: float,
    max_gap_s: float,
    rollover_kwh: float | None = None,
    tolerance_kwh: float = 0.0,
) -> tuple[F64, NDArray[np.int8]]:
    """Energy per interval from a cumulative counter, and a reason code per interval (GOOD = 0).

    Returns arrays of ``len(t) - 1``; bad intervals hold NaN.
    """
    m = max(len(t) - 1, 0)
    delta = np.full(m, np.nan)
    reason = np.full(m, GAP, dtype=np.int8)
    valid = np.flatnonzero(np.isfinite(v))
    if len(valid) < 2:
        return delta, reason
    p, j = valid[:-1], valid[1:]
    span_s = (t[j] - t[p]).astype(float)
    span_kwh = v[j] - v[p]
    span_reason = np.zeros(len(p), dtype=np.int8)

    down = span_kwh < -tolerance_kwh
    span_kwh = np.where((span_kwh < 0) & ~down, 0.0, span_kwh)
    if np.any(down):
        if rollover_kwh is not None:
            wrap = np.full(len(p), float(rollover_kwh))
        else:
            wrap = 10.0 ** np.ceil(np.log10(np.maximum(v[p], 1.0) * (1 + 1e-12)))
        wrapped = span_kwh + wrap
        rollover = down & (wrapped >= 0) & (wrapped <= max_kw * span_s / 3600.0 + tolerance_kwh)
        span_kwh = np.where(rollover, wrapped, span_kwh)
        span_reason[down & ~rollover] = RESET
    span_reason[(span_reason == GOOD) & (span_kwh > max_kw * span_s / 3600.0 + tolerance_kwh)] = IMPLAUSIBLE
    span_reason[span_s > max_gap_s] = GAP

    k = np.arange(valid[0], valid[-1])
    s = np.searchsorted(p, k, side="right") - 1
    step_s = (t[k + 1] - t[k]).astype(float)
    ok = span_reason[s] == GOOD
    delta[k] = np.where(ok, span_kwh[s] * (step_s / span_s[s]), np.nan)
    reason[k] = span_reason[s]
    return delta, reason


def held_power_energy(t: NDArray[np.int64], p_w: F64, *, max_gap_s: float) -> tuple[F64, NDArray[np.int8]]:
    """Energy per interval, kWh, from a power held from each interval's start sample."""
    dt = np.diff(t).astype(float)
    e = p_w[:-1] * dt / 3.6e6
    reason = np.where(np.isfinite(e), GOOD, MISSING).astype(np.int8)
    reason[dt > max_gap_s] = GAP
    return np.where(reason == GOOD, e, np.nan), reason


class _Collector:
    """Energy channels of one sample table, with the first bad reason and channel per interval."""

    def __init__(self, samples: Samples, config: MeteringConfig) -> None:
        self.samples = samples
        self.config = config
        n = max(len(samples.t) - 1, 0)
        self.reason = np.zeros(n, dtype=np.int8)
        self.channel = np.full(n, "", dtype=object)

    def _mark(self, name: str, energy: F64, reason: NDArray[np.int8]) -> F64:
        new = (reason != GOOD) & (self.reason == GOOD)
        self.reason[new] = reason[new]
        self.channel[new] = name
        return np.where(reason == GOOD, energy, 0.0)

    def energy(self, counter: str, max_kw: float) -> F64 | None:
        """The channel's energy per interval from its counter, else its power column; None if neither."""
        s, c = self.samples, self.config
        if counter in s.columns:
            e, r = counter_deltas(
                s.t, s.columns[counter], max_kw=max_kw, max_gap_s=c.max_gap_s,
                rollover_kwh=c.rollover_kwh, tolerance_kwh=c.counter_tolerance_kwh,
            )
            return self._mark(counter, e, r)
        power = POWER_OF_COUNTER.get(counter)
        if power in s.columns:
            e, r = held_power_energy(s.t, s.columns[power], max_gap_s=c.max_gap_s)
            return self._mark(power, e, r)
        return None

    def heat(self) -> tuple[F64, str]:
        """Net heat per interval from the best source present: heat meter, flow maths, heat pump register."""
        s, c = self.samples, self.config
        if "heat_kwh" in s.columns or "heat_w" in s.columns:
            heat = self.energy("heat_kwh", c.max_heat_kw)
            assert heat is not None
            return heat, "heat meter" if "heat_kwh" in s.columns else "heat power"
        if all(k in s.columns for k in ("flow_rate_m3h", "flow_temp_c", "return_temp_c")):
            p = thermal_power_w(
                s.columns["flow_rate_m3h"], s.columns["flow_temp_c"], s.columns["return_temp_c"],
                c.fluid, c.meter_pipe,
            )
            e, r = held_power_energy(s.t, p, max_gap_s=c.max_gap_s)
            return self._mark("flow_rate_m3h/flow_temp_c/return_temp_c", e, r), "flow and temperatures"
        if "hp_heat_register_kwh" in s.columns:
            heat = self.energy("hp_heat_register_kwh", c.max_heat_kw)
            assert heat is not None
            return heat, "heat pump register"
        raise ValueError(
            f"{s.source}: no heat source (heat_kwh, heat_w, flow_rate_m3h with flow/return temperatures, "
            "or hp_heat_register_kwh)"
        )


def _state(samples: Samples, name: str) -> NDArray[np.bool_] | None:
    col = samples.columns.get(name)
    return None if col is None else np.nan_to_num(col, nan=0.0) >= 0.5


def build_intervals(samples: Samples, config: MeteringConfig) -> Intervals:
    """Energy per interval for every row pair of ``samples`` (see the module docstring)."""
    s, c = samples, config
    col = _Collector(s, c)
    heat, heat_source = col.heat()
    reverse = col.energy("heat_reverse_kwh", c.max_heat_kw)
    elec_hp = col.energy("elec_kwh", c.max_elec_kw)
    elec_compressor = col.energy("compressor_elec_kwh", c.max_elec_kw)
    if elec_hp is None and elec_compressor is None:
        raise ValueError(f"{s.source}: no electricity meter (elec_kwh / elec_w or compressor_elec_kwh)")
    elec_backup = col.energy("backup_elec_kwh", c.max_elec_kw)
    elec_pumps = col.energy("pumps_elec_kwh", c.max_elec_kw)

    dt = np.diff(s.t).astype(float)
    defrost = np.maximum(-heat, 0.0)
    if reverse is not None:
        heat, defrost = heat - reverse, defrost + reverse
    base = elec_hp if elec_hp is not None else elec_compressor
    assert base is not None

    on = _state(s, "compressor_on")
    if on is not None:
        running = on[:-1] | on[1:]
        starts = (on[1:] & ~on[:-1]).astype(float)
    else:
        running = base * 3.6e6 > c.standby_w * dt
        starts = (running & ~np.concatenate(([True], running[:-1]))).astype(float)
    defrost_flag = _state(s, "defrost")
    in_defrost = defrost_flag[:-1] if defrost_flag is not None else defrost > 0
    defrosts = (in_defrost & ~np.concatenate(([True], in_defrost[:-1]))).astype(float)

    dhw = _state(s, "dhw")
    is_dhw = dhw[:-1] if dhw is not None else np.zeros(len(dt), dtype=bool)
    bad = col.reason != GOOD
    reason = np.array(
        [f"{REASONS[r]} ({ch})" if r else "" for r, ch in zip(col.reason.tolist(), col.channel, strict=True)],
        dtype=object,
    )

    def held(name: str) -> F64 | None:
        v = s.columns.get(name)
        return None if v is None else v[:-1].astype(float)

    def zero_bad(x: F64 | None) -> F64 | None:
        return None if x is None else np.where(bad, 0.0, x)

    return Intervals(
        start=s.t[:-1].copy(),
        end=s.t[1:].copy(),
        heat_space=np.where(bad | is_dhw, 0.0, heat),
        heat_dhw=np.where(bad | ~is_dhw, 0.0, heat),
        elec_space=np.where(bad | is_dhw, 0.0, base),
        elec_dhw=np.where(bad | ~is_dhw, 0.0, base),
        defrost=np.where(bad, 0.0, defrost),
        bad=bad,
        reason=reason,
        base_boundary="H2" if elec_hp is not None else "H1",
        has_split=dhw is not None,
        elec_compressor=zero_bad(elec_compressor) if elec_hp is not None else None,
        elec_backup=zero_bad(elec_backup),
        elec_pumps=zero_bad(elec_pumps),
        running=running & ~bad,
        starts=np.where(bad, 0.0, starts),
        defrosts=np.where(bad, 0.0, defrosts),
        flow_temp_c=held("flow_temp_c"),
        outdoor_temp_c=held("outdoor_temp_c"),
        heat_meter_includes_backup=c.heat_meter_includes_backup,
        defrost_measured=reverse is not None or heat_source in SIGNED_HEAT_SOURCES,
    )
