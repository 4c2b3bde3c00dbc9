"""HEM-TP-12 heat pump model: EN 14825 test data → COP, capacity, cycling, backup, auxiliary energy.

Pure, vectorised numpy in the style of pvlib; every equation cites its TP-12 number. The public API:

- :class:`HeatPumpModel` — build from a :class:`HeatPumpSpec` (EN 14825 records or a Keymark product),
  ``from_records(...)`` or ``from_keymark(manufacturer, model)``; predict with ``cop(...)`` and
  ``capacity_kw(...)``; simulate with ``run(...)`` (arrays of timesteps) or ``step(...)`` (one timestep,
  state carried in :class:`HeatPumpState`).
- :class:`SpaceHeatingDemand`, :class:`HotWaterDemand`, :class:`WarmAirDemand`, :class:`Conditions` —
  the per-timestep inputs; :class:`RunResult` / :class:`ServiceResult` — the outputs.
- :class:`En14825Record`, :class:`HeatPumpSpec`, :class:`KeymarkProduct` — pydantic descriptions a site
  file carries.
- :mod:`app.tp12.performance`, :mod:`app.tp12.operation` — the equations as free functions.
"""

from app.tp12.conventions import HEM_V024, TP12, Conventions
from app.tp12.model import (
    Conditions,
    HeatPumpModel,
    HeatPumpState,
    HotWaterDemand,
    OperatingPoint,
    RunResult,
    ServiceResult,
    SpaceHeatingDemand,
    WarmAirDemand,
)
from app.tp12.records import BackupCtrlType, En14825Record, HeatPumpSpec, KeymarkProduct, SinkType, SourceType
from app.tp12.testdata import TestDataError

__all__ = [
    "HEM_V024",
    "TP12",
    "BackupCtrlType",
    "Conditions",
    "Conventions",
    "En14825Record",
    "HeatPumpModel",
    "HeatPumpSpec",
    "HeatPumpState",
    "HotWaterDemand",
    "KeymarkProduct",
    "OperatingPoint",
    "RunResult",
    "ServiceResult",
    "SinkType",
    "SourceType",
    "SpaceHeatingDemand",
    "TestDataError",
    "WarmAirDemand",
]
