"""Predicted heat pump performance for the sequencer: TP-12 COP and capacity, tabulated once per heat pump.

The TP-12 model is evaluated once over a grid of outdoor and flow temperatures (one vectorised call);
each control cycle then reads the table by bilinear interpolation, which costs microseconds. Outside the
grid the nearest edge is used.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from app.config import HeatPumpConfig

OUTDOOR_GRID_C = np.arange(-25.0, 36.0, 1.0)
FLOW_GRID_C = np.arange(20.0, 81.0, 1.0)


class PerformanceModel(Protocol):
    """What the table needs from a heat pump model (``app.tp12.HeatPumpModel`` has both, vectorised)."""

    def cop(self, temp_outdoor_C: np.ndarray, temp_flow_C: np.ndarray) -> np.ndarray: ...

    def capacity_kw(self, temp_outdoor_C: np.ndarray, temp_flow_C: np.ndarray) -> np.ndarray: ...


class PerformanceTable:
    """COP and capacity (kW) over outdoor × flow temperature, read by bilinear interpolation."""

    def __init__(self, outdoor_c: np.ndarray, flow_c: np.ndarray, cop: np.ndarray, capacity_kw: np.ndarray) -> None:
        if cop.shape != (len(outdoor_c), len(flow_c)) or capacity_kw.shape != cop.shape:
            raise ValueError("table shape must be (outdoor, flow)")
        self._x0, self._dx, self._nx = float(outdoor_c[0]), float(outdoor_c[1] - outdoor_c[0]), len(outdoor_c)
        self._y0, self._dy, self._ny = float(flow_c[0]), float(flow_c[1] - flow_c[0]), len(flow_c)
        self._cop = np.nan_to_num(cop, nan=0.0).tolist()
        self._cap = np.nan_to_num(capacity_kw, nan=0.0).tolist()

    @classmethod
    def from_model(cls, model: PerformanceModel, outdoor_c: np.ndarray = OUTDOOR_GRID_C,
                   flow_c: np.ndarray = FLOW_GRID_C) -> PerformanceTable:
        o, f = np.meshgrid(outdoor_c, flow_c, indexing="ij")
        return cls(outdoor_c, flow_c, np.asarray(model.cop(o, f)), np.asarray(model.capacity_kw(o, f)))

    @classmethod
    def for_heat_pump(cls, hp: HeatPumpConfig) -> PerformanceTable:
        """The table of a configured heat pump's TP-12 model (EN 14825 records or Keymark product)."""
        from app.tp12 import HeatPumpModel, HeatPumpSpec

        return cls.from_model(HeatPumpModel(HeatPumpSpec.model_validate(hp.tp12.model_dump(exclude_none=True))))

    def _read(self, grid: list[list[float]], outdoor_c: float, flow_c: float) -> float:
        fx = min(max((outdoor_c - self._x0) / self._dx, 0.0), self._nx - 1.000001)
        fy = min(max((flow_c - self._y0) / self._dy, 0.0), self._ny - 1.000001)
        i, j = int(fx), int(fy)
        u, v = fx - i, fy - j
        row0, row1 = grid[i], grid[i + 1]
        return ((row0[j] * (1 - v) + row0[j + 1] * v) * (1 - u)
                + (row1[j] * (1 - v) + row1[j + 1] * v) * u)

    def predict_cop(self, outdoor_c: float, flow_c: float) -> float:
        """Steady-state COP at the outdoor and flow temperatures (TP-12 eq. 4 at operating conditions)."""
        return self._read(self._cop, outdoor_c, flow_c)

    def capacity_kw(self, outdoor_c: float, flow_c: float) -> float:
        """Maximum heat output at the outdoor and flow temperatures, kW (TP-12 eqs. 9–10)."""
        return self._read(self._cap, outdoor_c, flow_c)
