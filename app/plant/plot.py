"""The season on one page: flow temperature against outdoor, COP through the season, DHW temperatures, cost.

Each strategy run is drawn in its own colour; matplotlib is imported only here (Agg backend, a PNG file).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.plant.kpi import step_costs

if TYPE_CHECKING:
    from app.plant.simulate import Simulation

COLOURS = {"supervisor": "#1b9e77", "boiler-replacement": "#d95f02", "gas-only": "#7570b3"}
DHW_DETAIL_DAYS = 14


def _binned(t_s: np.ndarray, values: np.ndarray, width_s: float, how: str = "mean") -> np.ndarray:
    """Values averaged (or summed, or maximum/minimum) over consecutive `width_s` bins."""
    index = (t_s // width_s).astype(np.int64)
    index -= index[0]
    n = int(index[-1]) + 1
    if how in ("max", "min"):
        out = np.full(n, -np.inf if how == "max" else np.inf)
        (np.maximum if how == "max" else np.minimum).at(out, index, values)
        return out
    total = np.bincount(index, weights=values, minlength=n)
    if how == "sum":
        return total
    return total / np.maximum(np.bincount(index, minlength=n), 1)


def season_plot(runs: list[Simulation], path: Path) -> Path:
    """Write the four-panel PNG for `runs` to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(14, 9), constrained_layout=True)
    (ax_flow, ax_cop), (ax_dhw, ax_cost) = axes
    site = runs[0].report["site"]
    fig.suptitle(f"{site}: {runs[0].report['days']:g} days from {runs[0].report['from'][:10]}", fontsize=14)
    for run in runs:
        tr, colour, label = run.plant.trace, COLOURS.get(run.strategy, "black"), run.strategy
        t = np.asarray(tr.t_s)
        step_h = float(np.median(np.diff(t))) / 3600 if len(t) > 1 else 1.0
        heating = (np.asarray(tr.hp_heat_kw) > 0) & ~np.asarray(tr.hp_dhw, dtype=bool) | (
            np.asarray(tr.boiler_space_kw) > 0)
        hour_heat = _binned(t, heating.astype(float), 3600) > 0.5
        flow_h = _binned(t, np.asarray(tr.flow_c), 3600)[hour_heat]
        out_h = _binned(t, np.asarray(tr.outdoor_c), 3600)[hour_heat]
        ax_flow.scatter(out_h, flow_h, s=4, alpha=0.25, color=colour, label=label, rasterized=True)
        if run.plant.heat_pumps:
            heat_d = _binned(t, np.asarray(tr.hp_heat_kw) * step_h, 86400, "sum")
            elec_d = _binned(t, np.asarray(tr.hp_elec_kw) * step_h, 86400, "sum")
            ran = heat_d > 20.0   # days with enough heat pump heat for a daily COP to mean something
            days = np.arange(len(heat_d))[ran]
            ax_cop.plot(days, heat_d[ran] / elec_d[ran], ".-", color=colour, lw=0.8, ms=3,
                        label=f"{label} (SCOP H4 {run.report['scop_h4']})")
        if label == runs[0].strategy:
            detail = t < DHW_DETAIL_DAYS * 86400
            ax_dhw.plot(t[detail] / 86400, np.asarray(tr.dhw_top_c)[detail], color=colour, lw=1, label=f"{label}: top")
            ax_dhw.plot(t[detail] / 86400, np.asarray(tr.dhw_bottom_c)[detail], color=colour, lw=1, ls="--",
                        label=f"{label}: bottom")
            outdoor_d = _binned(t, np.asarray(tr.outdoor_c), 86400)
            twin = ax_cop.twinx()
            twin.fill_between(np.arange(len(outdoor_d)), outdoor_d, color="grey", alpha=0.15, step="mid")
            twin.set_ylabel("daily mean outdoor, °C", color="grey")
        cost = np.cumsum(_binned(t, step_costs(run.site, run.plant), 86400, "sum"))
        ax_cost.plot(np.arange(len(cost)), cost, color=colour, lw=2,
                     label=f"{label}: £{run.report['cost_gbp']:,.0f}, {run.report['carbon_kg'] / 1000:,.1f} tCO₂")
    ax_flow.set(xlabel="outdoor, °C (hourly mean)", ylabel="flow, °C", title="Flow temperature against outdoor")
    ax_flow.legend(markerscale=4)
    ax_flow.grid(alpha=0.3)
    ax_cop.set(xlabel="day of the run", ylabel="daily COP (heat pump)", title="Heat pump COP through the season")
    ax_cop.legend(loc="upper left")
    ax_cop.grid(alpha=0.3)
    ax_dhw.axhline(60, color="red", lw=0.8, ls=":", label="60 °C (HSE L8 storage)")
    ax_dhw.set(xlabel="day of the run", ylabel="cylinder, °C",
               title=f"DHW cylinder, first {DHW_DETAIL_DAYS} days ({runs[0].strategy})")
    ax_dhw.legend(loc="lower right", fontsize=8)
    ax_dhw.grid(alpha=0.3)
    ax_cost.set(xlabel="day of the run", ylabel="£ (unit rates)", title="Running cost, cumulative")
    ax_cost.legend(loc="upper left")
    ax_cost.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
