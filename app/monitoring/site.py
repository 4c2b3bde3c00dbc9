"""COP monitoring of a site: which points feed each heat pump's figures, and the daily figures themselves.

Each heat pump's channels come from the register maps of the devices that meter it: an electricity
meter or heat meter whose ``measures`` names the heat pump (a heat meter's own fluid and glycol
fraction apply), otherwise the heat pump's own registers (energy totals, powers, the heat register).
Readings are the historian's ``device.point`` samples, so the live figures (fed from each cycle's
`PlantSnapshot`) and a recomputation from storage read the same rows through the same code:
`daily_figures` is the one place a day's stored figures are made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from app.config import HeatPumpConfig, SiteConfig
from app.monitoring.figures import figures_by
from app.monitoring.fluids import Fluid
from app.monitoring.intervals import Intervals, MeteringConfig, Samples, build_intervals

DHW_STATES = {"hot_water", "dhw", "domestic_hot_water", "hotwater"}
_ENERGY_KWH = {"kwh": 1.0, "wh": 0.001, "mwh": 1000.0}
_POWER_W = {"kw": 1000.0, "w": 1.0, "mw": 1e6}

Row = tuple[float, str, float | None]  # (epoch seconds, "device.point", value or None when not good)


@dataclass(frozen=True)
class Channel:
    """One sample column of a unit: the historian point it comes from and how its value converts."""

    column: str
    point: str
    scale: float = 1.0
    states: frozenset[int] | None = None  # enum values meaning 1 (DHW), for a mode point

    def convert(self, value: float) -> float:
        if self.states is not None:
            return 1.0 if int(value) in self.states else 0.0
        return value * self.scale


@dataclass
class UnitChannels:
    """Everything needed to turn a heat pump's stored readings into energy per interval."""

    unit: str
    primary: str  # the device whose poll instants are the sample rows
    channels: list[Channel]
    config: MeteringConfig
    rated_kw: float
    tp12: Any = None  # the unit's TP-12 configuration, for the expected COP

    @property
    def points(self) -> list[str]:
        return [c.point for c in self.channels]


def _map_channels(device: str, regmap: Any, wanted: dict[tuple[str, int | None], str]) -> list[Channel]:
    from app.devices.registermap import Role

    out: list[Channel] = []
    for p in regmap.points:
        column = wanted.get((p.role.value, p.index or None)) or wanted.get((p.role.value, None))
        if column is None or any(c.column == column for c in out):
            continue
        unit = p.unit.lower()
        if p.role in (Role.ELECTRICAL_ENERGY_TOTAL, Role.HEAT_ENERGY_TOTAL):
            if unit not in _ENERGY_KWH:
                raise ValueError(f"{device}.{p.name}: energy unit {p.unit!r} is not one of Wh, kWh, MWh")
            out.append(Channel(column, f"{device}.{p.name}", _ENERGY_KWH[unit]))
        elif p.role in (Role.ELECTRICAL_POWER, Role.HEAT_OUTPUT_POWER):
            if unit not in _POWER_W:
                raise ValueError(f"{device}.{p.name}: power unit {p.unit!r} is not one of W, kW, MW")
            out.append(Channel(column, f"{device}.{p.name}", _POWER_W[unit]))
        elif p.role is Role.FLOW_RATE:
            scale = {"m3/h": 1.0, "l/min": 0.06, "l/s": 3.6, "l/h": 0.001}.get(unit)
            if scale is None:
                raise ValueError(f"{device}.{p.name}: flow unit {p.unit!r} is not one of m3/h, l/min, l/s, l/h")
            out.append(Channel(column, f"{device}.{p.name}", scale))
        elif p.role is Role.OPERATING_MODE:
            states = frozenset(k for k, v in (p.enum or {}).items() if v.lower() in DHW_STATES)
            if states:
                out.append(Channel(column, f"{device}.{p.name}", states=states))
        else:
            out.append(Channel(column, f"{device}.{p.name}"))
    return out


def unit_channels(site: SiteConfig, site_dir: Path | None = None) -> dict[str, UnitChannels]:
    """Each heat pump's channels, from its own register map and those of the meters that meter it."""
    from app.devices.registermap import load_map, resolve_map_path

    def regmap(name: str) -> Any:
        return load_map(resolve_map_path(name, site_dir))

    units: dict[str, UnitChannels] = {}
    for hp in site.heat_pumps:
        own = {("flow_temp", None): "flow_temp_c", ("return_temp", None): "return_temp_c",
               ("outdoor_temp", None): "outdoor_temp_c", ("compressor_running", None): "compressor_on",
               ("defrost_active", None): "defrost", ("operating_mode", None): "dhw",
               ("electrical_energy_total", None): "elec_kwh", ("electrical_power", None): "elec_w",
               ("heat_energy_total", None): "hp_heat_register_kwh", ("heat_output_power", None): "heat_w"}
        channels = _map_channels(hp.id, regmap(hp.register_map), own)
        fluid = Fluid()
        for m in site.meters:
            if m.measures == hp.id:
                wanted = ({("electrical_energy_total", None): "elec_kwh", ("electrical_power", None): "elec_w"}
                          if m.kind == "electricity" else
                          {("heat_energy_total", None): "heat_kwh", ("flow_rate", None): "flow_rate_m3h"})
                if m.kind == "heat":
                    fluid = Fluid(m.fluid, m.glycol_fraction)
                meter = _map_channels(m.id, regmap(m.register_map), wanted)
                channels = [c for c in channels if c.column not in {x.column for x in meter}] + meter
            elif m.measures in ("immersion", "backup", "pumps") and m.kind == "electricity":
                column = "pumps_elec_kwh" if m.measures == "pumps" else "backup_elec_kwh"
                channels += _map_channels(m.id, regmap(m.register_map), {("electrical_energy_total", None): column})
        present = {c.column for c in channels}
        superseded = {"elec_w": "elec_kwh", "heat_w": "hp_heat_register_kwh"}  # a counter beats a sampled power
        channels = [c for c in channels if superseded.get(c.column) not in present]
        config = MeteringConfig(fluid=fluid, max_gap_s=max(900.0, 5 * site.control.cycle_s),
                                max_elec_kw=2.0 * hp.rated_capacity_kw, max_heat_kw=3.0 * hp.rated_capacity_kw)
        units[hp.id] = UnitChannels(hp.id, hp.id, channels, config, hp.rated_capacity_kw, hp.tp12)
    return units


def pivot(rows: Iterable[Row], unit: UnitChannels) -> Samples:
    """Samples at the primary device's poll instants (whole seconds); other devices' readings join the
    latest row at or after them within one gap limit. Unknown points are ignored."""
    by_point: dict[str, list[tuple[float, float]]] = {c.point: [] for c in unit.channels}
    for ts, point, value in rows:
        if point in by_point:
            by_point[point].append((ts, np.nan if value is None else value))
    primary = sorted({int(ts) for c in unit.channels if c.point.startswith(unit.primary + ".")
                      for ts, _ in by_point[c.point]})
    t = np.array(primary, dtype=np.int64)
    columns: dict[str, np.ndarray] = {}
    for c in unit.channels:
        readings = sorted(by_point[c.point])
        col = np.full(len(t), np.nan)
        if readings and len(t):
            rt = np.array([int(r[0]) for r in readings], dtype=np.int64)
            rv = np.array([r[1] for r in readings])
            at = np.searchsorted(t, rt, side="left")  # the first row at or after each reading
            ok = (at < len(t)) & (t[np.minimum(at, len(t) - 1)] - rt <= unit.config.max_gap_s)
            col[at[ok]] = [c.convert(v) if np.isfinite(v) else np.nan for v in rv[ok]]
        columns[c.column] = col
    return Samples(t, columns, source=f"unit {unit.unit}")


def expected_cop(intervals: Intervals, model: Any) -> tuple[float | None, float]:
    """TP-12's COP for the heat the unit delivered while running, at each interval's outdoor and flow
    temperatures, combined by energy (Σ heat / Σ heat÷COP); and the heat it covers, kWh."""
    if model is None or intervals.running is None or intervals.outdoor_temp_c is None \
            or intervals.flow_temp_c is None:
        return None, 0.0
    heat = intervals.heat_space + intervals.heat_dhw
    use = intervals.running & ~intervals.bad & (heat > 0) & np.isfinite(intervals.outdoor_temp_c) \
        & np.isfinite(intervals.flow_temp_c)
    if not use.any():
        return None, 0.0
    cop = np.asarray(model.cop(intervals.outdoor_temp_c[use], intervals.flow_temp_c[use]), dtype=float)
    ok = np.isfinite(cop) & (cop > 0)
    covered = float(heat[use][ok].sum())
    return (round(covered / float((heat[use][ok] / cop[ok]).sum()), 3) if covered > 0 else None), covered


def canonical(figures: dict[str, Any]) -> str:
    """A day's figures as stored: JSON with sorted keys and fixed separators."""
    return json.dumps(figures, sort_keys=True, separators=(",", ":"))


def daily_figures(samples: Samples, unit: UnitChannels, tz: ZoneInfo, days: Sequence[date],
                  model: Any = None) -> dict[str, str]:
    """The stored figures (canonical JSON) of each of ``days`` that has intervals, from samples that
    reach at least one gap limit beyond the days on both sides."""
    if len(samples.t) < 2:
        return {}
    iv = build_intervals(samples, unit.config)
    out: dict[str, str] = {}
    for d in days:
        start = int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())
        end = int((datetime(d.year, d.month, d.day, tzinfo=tz) + timedelta(days=1)).timestamp())
        part = iv.select(np.flatnonzero((iv.start >= start) & (iv.start < end)))
        if not len(part):
            continue
        fig = figures_by(part, tz, "day").get(d.isoformat())
        if fig is None:
            continue
        predicted, covered = expected_cop(part, model)
        fig["expected_cop"] = predicted
        fig["expected_cop_heat_kwh"] = round(covered, 3)
        fig["cop_ratio"] = (round(fig["running_cop"] / predicted, 4)
                            if predicted and fig.get("running_cop") is not None else None)
        out[d.isoformat()] = canonical(fig)
    return out


def tp12_model(hp: HeatPumpConfig) -> Any:
    """The TP-12 model of a site's heat pump."""
    from app.tp12 import HeatPumpModel, HeatPumpSpec

    return HeatPumpModel(HeatPumpSpec.model_validate(hp.tp12.model_dump(exclude_none=True)))


@dataclass
class DayWindow:
    """The instants a day's figures depend on: the day, and one gap limit either side."""

    day: date
    tz: ZoneInfo
    margin_s: float
    start: datetime = field(init=False)
    end: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=self.tz)
        self.end = self.start + timedelta(days=1)

    @property
    def load_from(self) -> datetime:
        return self.start - timedelta(seconds=self.margin_s + 1)

    @property
    def load_to(self) -> datetime:
        return self.end + timedelta(seconds=self.margin_s + 1)
