"""What a building owner cares about, from a simulated run: energy, SCOP, cost, carbon, comfort, L8.

- Discomfort follows BOPTEST (IBPSA Project 1): per zone, ∫ (max(0, lower − T) + max(0, T − upper)) dt in
  K·h, trapezoidal, with the comfort band applying in occupied hours only (``COMFORT_BAND_K`` around the
  design room temperature); the site figure is the sum over zones.
- SCOP at SEPEMO boundaries: H1 the heat pump unit (heat net of defrost over its electricity, standby
  included), H4 adds the immersion (heat = electricity) and the circulation pump while the heat pump serves
  the circuit. Boiler heat is not in either.
- Cost at the site's tariff (time-of-use periods in local time by the sequencing strategy's own rule;
  unit rates only, no standing charges), carbon at its factors.
- ``hours_boiler_on_above_crossover``: hours the boiler fired for space heating while the heat pump was
  available (not on hot water, not at capacity) and its TP-12 COP at the outdoor and flow temperatures was
  above the crossover the sequencing strategy uses (:func:`strategies.hybrid_sequencing.crossover_cop`:
  electricity rate × boiler efficiency / gas rate at that moment, or the carbon equivalent).
- L8 is judged from the cylinder's own temperatures, whatever the controller claims: a daily boost passes
  when the top reaches its target within the cycle window; a weekly pasteurisation passes when the whole
  store (bottom sensor) holds its target for the hold time within the window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from app.config import SiteConfig, TariffConfig
from app.plant.plant import Plant
from app.plant.sources import Boiler
from app.tp12 import HeatPumpModel, HeatPumpSpec
from strategies.hybrid_sequencing import crossover_cop, electricity_rate

COMFORT_BAND_K = (-1.0, 3.0)
SENSOR_TOLERANCE_K = 0.5   # a boost target counts as reached within this
AVAILABLE_LOAD = 0.98      # a heat pump at this share of capacity had nothing more to give
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def discomfort_kh(t_s: np.ndarray, temp: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """BOPTEST thermal discomfort: ∫ (max(0, lower − T) + max(0, T − upper)) dt, trapezoidal, K·h."""
    dev = np.maximum(lower - temp, 0.0) + np.maximum(temp - upper, 0.0)
    return float(np.sum((dev[1:] + dev[:-1]) / 2 * np.diff(t_s)) / 3600.0)


def _local(plant: Plant, t_s: np.ndarray, zone: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Local weekday (0 = Monday) and minute of the day of each step."""
    start = plant.start
    hours = np.floor(t_s / 3600.0).astype(np.int64)
    first, last = int(hours.min()), int(hours.max())
    offsets = np.array([(start + timedelta(hours=h)).astimezone(zone).utcoffset().total_seconds()  # type: ignore[union-attr]
                        for h in range(first, last + 1)])
    epoch = start.timestamp() + t_s + offsets[hours - first]
    days = np.floor(epoch / 86400.0)
    weekday = ((days + 3) % 7).astype(np.int64)   # 1970-01-01 was a Thursday
    minute = np.floor((epoch - days * 86400.0) / 60.0).astype(np.int64)
    return weekday, minute


def electricity_rates(tariffs: TariffConfig, weekday: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """£/kWh at each step, by the sequencing strategy's own time-of-use rule (one call per distinct minute)."""
    key = weekday * 1440 + minute
    distinct, inverse = np.unique(key, return_inverse=True)
    monday = datetime(2024, 1, 1)
    rates = [electricity_rate(tariffs, monday + timedelta(minutes=int(k)))[0] for k in distinct]
    return np.asarray(rates)[inverse]


def _spans(flags: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def l8_assessment(site: SiteConfig, plant: Plant, t_s: np.ndarray) -> dict[str, int]:
    """Daily boosts and weekly pasteurisations scheduled in the period, and how each went (plant truth)."""
    counts = {"boosts_run": 0, "boosts_ok": 0, "pasteurisations_run": 0, "pasteurisations_ok": 0,
              "immersion_fallbacks": 0, "failures": 0}
    if not site.cylinders or plant.cylinder is None:
        return counts
    cfg = site.cylinders[0].legionella
    zone = ZoneInfo(site.site.timezone)
    tr = plant.trace
    top, bottom = np.asarray(tr.dhw_top_c), np.asarray(tr.dhw_bottom_c)
    heat, immersion = np.asarray(tr.dhw_heat_kw), np.asarray(tr.immersion_kw)
    end = plant.start + timedelta(seconds=float(t_s[-1]))
    window = timedelta(minutes=cfg.cycle_window_min)
    day = plant.start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end.astimezone(zone):
        jobs = [("boost", cfg.boost_time, cfg.boost_target_c)]
        if WEEKDAYS[day.weekday()] == cfg.pasteurise_day:
            jobs.append(("pasteurise", cfg.pasteurise_time, cfg.pasteurise_target_c))
        for kind, at, target in jobs:
            begin = datetime.combine(day.date(), at, tzinfo=zone)
            lo = (begin - plant.start).total_seconds()
            hi = (begin + window - plant.start).total_seconds()
            if lo < 0 or hi > t_s[-1]:
                continue
            sel = (t_s >= lo) & (t_s < hi)
            ran = bool(np.any(heat[sel] > 0.0))
            if kind == "boost":
                ok = bool(np.any(top[sel] >= target - SENSOR_TOLERANCE_K))
            else:
                step_s = float(np.median(np.diff(t_s)))
                need = cfg.pasteurise_hold_min * 60.0 / step_s
                ok = any(b - a >= need for a, b in _spans(bottom[sel] >= target))
            key = "boosts" if kind == "boost" else "pasteurisations"
            counts[f"{key}_run"] += ran
            counts[f"{key}_ok"] += ok
            counts["immersion_fallbacks"] += bool(np.any(immersion[sel] > 0.0))
            counts["failures"] += not ok
        day = (day + timedelta(days=1, hours=3)).replace(hour=0)
    return counts


def _step_hours(plant: Plant) -> np.ndarray:
    t_s = np.asarray(plant.trace.t_s)
    return np.diff(np.append(t_s, plant.t_s)) / 3600.0


def step_costs(site: SiteConfig, plant: Plant) -> np.ndarray:
    """£ spent in each step: electricity at the time-of-use rate in force, gas at its unit rate."""
    tr = plant.trace
    t_s = np.asarray(tr.t_s)
    weekday, minute = _local(plant, t_s, ZoneInfo(site.site.timezone))
    h = _step_hours(plant)
    rates = electricity_rates(site.tariffs, weekday, minute)
    return (np.asarray(tr.elec_kw) * rates + np.asarray(tr.gas_kw) * site.tariffs.gas.unit_rate_gbp_per_kwh) * h


def report(site: SiteConfig, plant: Plant, strategy: str, step_s: float,
           l8_records: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON report of a run (see the module docstring for each figure's definition).

    `l8_records` are the controller's own L8 cycle records, counted beside the plant's judgement.
    """
    tr = plant.trace
    tot = plant.totals
    t_s = np.asarray(tr.t_s)
    h = _step_hours(plant)
    tariffs = site.tariffs
    elec_kwh = np.asarray(tr.elec_kw) * h
    gas_kwh = np.asarray(tr.gas_kw) * h
    heat_hp = tot.heat_hp_space + tot.heat_hp_dhw
    circuit = site.heating_circuits[0]
    occupied = np.asarray(tr.occupied, dtype=bool)
    room = np.asarray(tr.room_c)
    lower = np.where(occupied, circuit.design_room_c + COMFORT_BAND_K[0], -np.inf)
    upper = np.where(occupied, circuit.design_room_c + COMFORT_BAND_K[1], np.inf)
    zones = {circuit.id: round(discomfort_kh(t_s, room, lower, upper), 2)}
    cost_gas = float(np.sum(gas_kwh)) * tariffs.gas.unit_rate_gbp_per_kwh
    cost_elec = float(np.sum(step_costs(site, plant))) - cost_gas
    elec_total = float(np.sum(elec_kwh))
    scop_h4_in = tot.elec_hp + tot.heat_immersion + tot.elec_pumps_hp
    return {
        "site": site.site.name,
        "strategy": strategy,
        "from": plant.start.isoformat(),
        "days": round(plant.t_s / 86400.0, 3),
        "step_s": step_s,
        "heat_hp_kwh": round(heat_hp, 1),
        "heat_boiler_kwh": round(tot.heat_boiler_space + tot.heat_boiler_dhw, 1),
        "heat_immersion_kwh": round(tot.heat_immersion, 1),
        "elec_hp_kwh": round(tot.elec_hp, 1),
        "elec_total_kwh": round(elec_total, 1),
        "gas_kwh": round(tot.gas, 1),
        "scop_h1": round(heat_hp / tot.elec_hp, 3) if heat_hp > 0 and tot.elec_hp > 0 else None,
        "scop_h4": round((heat_hp + tot.heat_immersion) / scop_h4_in, 3) if heat_hp > 0 else None,
        "cost_gbp": round(cost_elec + cost_gas, 2),
        "cost_elec_gbp": round(cost_elec, 2),
        "cost_gas_gbp": round(cost_gas, 2),
        "carbon_kg": round(elec_total * tariffs.electricity.carbon_kg_per_kwh
                           + tot.gas * tariffs.gas.carbon_kg_per_kwh, 1),
        "discomfort_kh": round(sum(zones.values()), 2),
        "discomfort_kh_by_zone": zones,
        "comfort_band_c": [circuit.design_room_c + COMFORT_BAND_K[0], circuit.design_room_c + COMFORT_BAND_K[1]],
        "hours_boiler_on_above_crossover": round(_boiler_above_crossover_h(site, plant, h), 2),
        "l8": l8_assessment(site, plant, t_s),
        "l8_records": None if l8_records is None else {
            outcome: sum(1 for r in l8_records if r.get("outcome") == outcome) for outcome in ("pass", "fail")},
        "defrosts": sum(u.defrosts for u in plant.heat_pumps.values()),
        "dhw_drawn_kwh": round(tot.dhw_drawn, 1),
        "tariff_source": tariffs.source,
    }


def _boiler_above_crossover_h(site: SiteConfig, plant: Plant, h: np.ndarray) -> float:
    tr = plant.trace
    boiler = np.asarray(tr.boiler_space_kw) > 0.0
    if not plant.heat_pumps or not site.boilers or not boiler.any():
        return 0.0
    available = boiler & ~np.asarray(tr.hp_dhw, dtype=bool) & (np.asarray(tr.hp_load) < AVAILABLE_LOAD)
    idx = np.flatnonzero(available)
    if idx.size == 0:
        return 0.0
    hp = site.heat_pumps[0]
    model = HeatPumpModel(HeatPumpSpec.model_validate(hp.tp12.model_dump(exclude_none=True)))
    flow = np.minimum(np.asarray(tr.flow_c)[idx], hp.max_flow_temp_c)
    cop = model.cop(np.asarray(tr.outdoor_c)[idx], flow)
    boiler_model = Boiler(site.boilers[0])
    zone = ZoneInfo(site.site.timezone)
    t_s, returns = np.asarray(tr.t_s), np.asarray(tr.return_c)
    crossover = np.array([
        crossover_cop(site.tariffs, boiler_model.efficiency(float(returns[i])),
                      (plant.start + timedelta(seconds=float(t_s[i]))).astimezone(zone)).cop
        for i in idx])
    return float(np.sum(h[idx][cop > crossover]))
