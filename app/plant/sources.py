"""Heat sources of the simulated plant: the TP-12-backed heat pump and the gas boiler.

A simulation step must cost microseconds, so the heat pump's TP-12 model is evaluated once, vectorised,
on a grid of outdoor temperature × flow temperature (× load ratio for the COP), and the step interpolates
that grid in plain floats. The grid holds exactly what :meth:`app.tp12.HeatPumpModel.capacity_kw` and
:meth:`~app.tp12.HeatPumpModel.cop` return: capacity at operating conditions (TP-12 eqs. 9–10) and the
effective COP at part load including on/off cycling losses (eqs. 17–18, 23).

Defrost. EN 14825's +2 °C test point, and so TP-12's COP near it, already carries the defrost share of
that test, run at part load (about half the rated output). A coil run harder ices faster: frost here
builds with the load ratio above ``DEFROST_TEST_LOAD`` and is cleared by reverse-cycle defrosts that
take heat back from the water for ``DEFROST_S`` — the extra defrost of a unit driven flat out in the
0–5 °C band, where air is near saturation, which the test point does not show.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from app.config import BoilerConfig, HeatPumpConfig
from app.tp12 import HeatPumpModel, HeatPumpSpec

GRID_OUTDOOR_C = (-20.0, 30.0, 1.0)
GRID_FLOW_C = (20.0, 75.0, 2.5)
GRID_LOAD = (0.0, 1.0, 0.05)
MIN_LOAD = 0.02          # below this share of capacity the unit stays off rather than cycle
EMITTER_DELTA_T_K = 5.0  # flow − return the TP-12 predictions are evaluated at
DEFROST_S = 300.0
DEFROST_TEST_LOAD = 0.5
DEFROST_FULL_ICING_H = 1.0   # running flat out in the worst band, a defrost every this many hours
DEFROST_DRAW = 0.25          # heat taken back from the water during a defrost, share of capacity


def frost_rate_per_h(outdoor_c: float) -> float:
    """Icing rate (coil loads per hour at full excess load): highest at −1…4 °C, none below −8 or above 7 °C."""
    if outdoor_c <= -8.0 or outdoor_c >= 7.0:
        return 0.0
    if outdoor_c < -1.0:
        return (outdoor_c + 8.0) / 7.0 / DEFROST_FULL_ICING_H
    if outdoor_c > 4.0:
        return (7.0 - outdoor_c) / 3.0 / DEFROST_FULL_ICING_H
    return 1.0 / DEFROST_FULL_ICING_H


def _axis(spec: tuple[float, float, float]) -> np.ndarray:
    lo, hi, step = spec
    return np.arange(lo, hi + step / 2, step)


class PerformanceTable:
    """TP-12 capacity (kW) and effective COP on a regular grid, interpolated with plain floats."""

    def __init__(self, model: HeatPumpModel) -> None:
        t, f, lr = _axis(GRID_OUTDOOR_C), _axis(GRID_FLOW_C), _axis(GRID_LOAD)
        self._t0, self._dt, self._nt = float(t[0]), GRID_OUTDOOR_C[2], len(t)
        self._f0, self._df, self._nf = float(f[0]), GRID_FLOW_C[2], len(f)
        self._dl, self._nl = GRID_LOAD[2], len(lr)
        tt, ff = np.meshgrid(t, f, indexing="ij")
        capacity = model.capacity_kw(tt, ff, EMITTER_DELTA_T_K)
        t3, f3, l3 = np.broadcast_arrays(t[:, None, None], f[None, :, None], np.maximum(lr, MIN_LOAD)[None, None, :])
        with np.errstate(all="ignore"):
            cop = model.cop(t3, f3, EMITTER_DELTA_T_K, l3)
        cop = np.where(np.isfinite(cop) & (cop > 0), cop, 1.0)
        self.capacity = [float(v) for v in capacity.ravel()]
        self.cop_grid = [float(v) for v in cop.ravel()]

    @classmethod
    def for_heat_pump(cls, hp: HeatPumpConfig) -> PerformanceTable:
        """The table of a site file's heat pump (its ``tp12`` section); built once per distinct data."""
        return _table(hp.tp12.model_dump_json(exclude_none=True))

    def _cell(self, outdoor_c: float, flow_c: float) -> tuple[int, float, int, float]:
        x = min(max((outdoor_c - self._t0) / self._dt, 0.0), self._nt - 1.000001)
        y = min(max((flow_c - self._f0) / self._df, 0.0), self._nf - 1.000001)
        i, j = int(x), int(y)
        return i, x - i, j, y - j

    def capacity_kw(self, outdoor_c: float, flow_c: float) -> float:
        i, fx, j, fy = self._cell(outdoor_c, flow_c)
        c, nf = self.capacity, self._nf
        k = i * nf + j
        top = c[k] + (c[k + 1] - c[k]) * fy
        bottom = c[k + nf] + (c[k + nf + 1] - c[k + nf]) * fy
        return top + (bottom - top) * fx

    def cop(self, outdoor_c: float, flow_c: float, load_ratio: float) -> float:
        i, fx, j, fy = self._cell(outdoor_c, flow_c)
        z = min(max(load_ratio / self._dl, 0.0), self._nl - 1.000001)
        m = int(z)
        fz = z - m
        g, nl, nf = self.cop_grid, self._nl, self._nf
        total = 0.0
        for di, wi in ((0, 1.0 - fx), (1, fx)):
            for dj, wj in ((0, 1.0 - fy), (1, fy)):
                k = ((i + di) * nf + j + dj) * nl + m
                total += wi * wj * (g[k] + (g[k + 1] - g[k]) * fz)
        return total


@dataclass(slots=True)
class SourceOutput:
    """What a source did over one step: heat to the water (kW, negative while defrosting) and fuel/electricity."""

    heat_kw: float = 0.0
    input_kw: float = 0.0
    load_ratio: float = 0.0
    defrosting: bool = False


class HeatPumpUnit:
    """An air-to-water heat pump: TP-12 performance, maximum flow temperature, part load, defrost."""

    def __init__(self, config: HeatPumpConfig, table: PerformanceTable) -> None:
        self.config = config
        self.table = table
        self.max_flow_c = config.max_flow_temp_c
        self.return_max_c = config.tp12.temp_return_feed_max
        self.lower_limit_c = config.tp12.temp_lower_operating_limit
        self.standby_kw = config.tp12.power_standby + config.tp12.power_crankcase_heater
        self.off_kw = config.tp12.power_off
        self.pump_kw = config.tp12.power_heating_circ_pump
        self.air_source = config.tp12.source_type == "OutsideAir"
        self.frost = 0.0
        self.defrost_left_s = 0.0
        self.defrosts = 0

    def run(self, out: SourceOutput, outdoor_c: float, inlet_c: float, target_outlet_c: float, mcp_kw_per_k: float,
            dt_s: float, limit_kw: float = math.inf) -> None:
        """Heat water entering at `inlet_c` (flow `mcp_kw_per_k`) towards `target_outlet_c` for `dt_s`.

        Output is limited by capacity at the outlet temperature, the maximum flow temperature, the return
        feed limit, the operating limit and `limit_kw` (what the sink can take). Writes into `out`.
        """
        outlet = min(target_outlet_c, self.max_flow_c)
        want = min(mcp_kw_per_k * (outlet - inlet_c), limit_kw)
        if want <= 0.0 or inlet_c > self.return_max_c or outdoor_c < self.lower_limit_c:
            out.heat_kw, out.input_kw, out.load_ratio, out.defrosting = 0.0, self.standby_kw, 0.0, False
            return
        capacity = self.table.capacity_kw(outdoor_c, outlet)
        heat = min(want, capacity)
        ratio = heat / capacity
        if ratio < MIN_LOAD:
            out.heat_kw, out.input_kw, out.load_ratio, out.defrosting = 0.0, self.standby_kw, 0.0, False
            return
        electric = heat / self.table.cop(outdoor_c, outlet, ratio)
        defrost_share = 0.0
        if self.air_source:
            if self.defrost_left_s <= 0.0 and ratio > DEFROST_TEST_LOAD:
                excess = (ratio - DEFROST_TEST_LOAD) / (1.0 - DEFROST_TEST_LOAD)
                self.frost += frost_rate_per_h(outdoor_c) * excess * dt_s / 3600.0
                if self.frost >= 1.0:
                    self.frost = 0.0
                    self.defrost_left_s = DEFROST_S
                    self.defrosts += 1
            if self.defrost_left_s > 0.0:
                defrost_share = min(self.defrost_left_s, dt_s) / dt_s
                self.defrost_left_s -= min(self.defrost_left_s, dt_s)
        # While defrosting the compressor keeps running (same electricity) and heat flows back from the water.
        out.heat_kw = heat * (1.0 - defrost_share) - DEFROST_DRAW * capacity * defrost_share
        out.input_kw = electric
        out.load_ratio = ratio
        out.defrosting = defrost_share > 0.0

    def idle(self, out: SourceOutput, enabled: bool) -> None:
        """Not heating: standby (enabled) or off-mode electricity only."""
        out.heat_kw, out.load_ratio, out.defrosting = 0.0, 0.0, False
        out.input_kw = self.standby_kw if enabled else self.off_kw


CONDENSING_RETURN_C = 55.0
CONDENSING_GAIN_PER_K = 0.0036   # gross efficiency gained per K of return below the dew point
CONDENSING_GAIN_MAX = 0.09
NON_CONDENSING_LOSS = 0.01       # above 60 °C return: no latent heat recovered at all


class Boiler:
    """A gas boiler: capacity, and gross efficiency that rises as the return falls below ~55 °C (condensing).

    ``seasonal_efficiency`` is taken as the gross efficiency at a 55 °C return. A condensing boiler gains
    0.36 points per K below it, to +9 points (≈97 % gross at a 30 °C return, as manufacturers' curves show)
    and loses a point above 60 °C; a non-condensing boiler holds its seasonal efficiency.
    """

    def __init__(self, config: BoilerConfig) -> None:
        self.config = config
        self.capacity_kw = config.capacity_kw
        self.base = config.seasonal_efficiency
        self.condensing = config.condensing

    def efficiency(self, return_c: float) -> float:
        if not self.condensing:
            return self.base
        if return_c < CONDENSING_RETURN_C:
            return self.base + min(CONDENSING_GAIN_PER_K * (CONDENSING_RETURN_C - return_c), CONDENSING_GAIN_MAX)
        return self.base - NON_CONDENSING_LOSS * min(1.0, (return_c - CONDENSING_RETURN_C) / 5.0)

    def run(self, out: SourceOutput, inlet_c: float, target_outlet_c: float, mcp_kw_per_k: float,
            limit_kw: float = math.inf) -> None:
        """Fire to lift water from `inlet_c` to `target_outlet_c`, within capacity and `limit_kw`."""
        heat = min(mcp_kw_per_k * (target_outlet_c - inlet_c), self.capacity_kw, limit_kw)
        if heat <= 0.0:
            out.heat_kw, out.input_kw, out.load_ratio = 0.0, 0.0, 0.0
            return
        out.heat_kw = heat
        out.input_kw = heat / self.efficiency(inlet_c)
        out.load_ratio = heat / self.capacity_kw


@functools.lru_cache(maxsize=32)
def _table(tp12_json: str) -> PerformanceTable:
    return PerformanceTable(HeatPumpModel(HeatPumpSpec.model_validate_json(tp12_json)))
