"""Descriptions of a heat pump for the TP-12 model: EN 14825 test records and the product's settings.

These pydantic models are what a site file carries (``heat_pump:`` in the site YAML) and what the
reference-vector reader builds. They hold data only; :mod:`app.tp12.testdata` turns the records into
the derived arrays the equations use, and checks them (letters, spreads, record counts).

Units follow HEM-TP-12: temperatures in °C, capacities and powers in kW, times in hours.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class SourceType(StrEnum):
    """Heat source of the heat pump (TP-12 §2.1)."""

    GROUND = "Ground"
    OUTSIDE_AIR = "OutsideAir"
    EXHAUST_AIR_MEV = "ExhaustAirMEV"
    EXHAUST_AIR_MVHR = "ExhaustAirMVHR"
    EXHAUST_AIR_MIXED = "ExhaustAirMixed"
    WATER_GROUND = "WaterGround"
    WATER_SURFACE = "WaterSurface"
    HEAT_NETWORK = "HeatNetwork"

    @property
    def is_exhaust_air(self) -> bool:
        return self in (SourceType.EXHAUST_AIR_MEV, SourceType.EXHAUST_AIR_MVHR, SourceType.EXHAUST_AIR_MIXED)

    @property
    def fluid_is_air(self) -> bool:
        """Air-to-refrigerant evaporator (outside or exhaust air); otherwise a liquid."""
        return self is SourceType.OUTSIDE_AIR or self.is_exhaust_air


class SinkType(StrEnum):
    """Heat distribution medium on the condenser side."""

    WATER = "Water"
    AIR = "Air"
    GLYCOL25 = "Glycol25"

    @property
    def is_liquid(self) -> bool:
        return self is not SinkType.AIR


class BackupCtrlType(StrEnum):
    """Arrangement of the integrated backup heater (TP-12 §5.1)."""

    NONE = "None"
    TOPUP = "TopUp"
    SUBSTITUTE = "Substitute"


class En14825Record(BaseModel):
    """One EN 14825 test point (records A–D and F) at one design flow temperature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test_letter: str = Field(description="EN 14825 test condition: A, B, C, D or F (further points, e.g. F2, allowed)")
    design_flow_temp: FiniteFloat = Field(description="design flow temperature of the test set, °C")
    temp_outlet: FiniteFloat = Field(description="water (or air) outlet temperature during the test, °C")
    temp_source: FiniteFloat = Field(description="source temperature during the test, °C")
    temp_test: FiniteFloat = Field(description="characterising (outdoor) temperature of the test point, °C")
    capacity: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = Field(description="heat output, kW")
    cop: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] = Field(description="measured COP (SEPEMO H1)")
    degradation_coeff: FiniteFloat = Field(description="Cdh, the degradation coefficient")
    air_flow_rate: NonNegative | None = Field(
        default=None, description="exhaust air flow rate of this test, l/s (exhaust-air heat pumps only)"
    )


class KeymarkProduct(BaseModel):
    """A real product named by its Heat Pump Keymark manufacturer and model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manufacturer: str
    model: str


class HeatPumpSpec(BaseModel):
    """Configuration of one heat pump for the TP-12 model (the keys of HEM's heat pump input)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_type: SourceType = SourceType.OUTSIDE_AIR
    sink_type: SinkType = SinkType.WATER
    backup_ctrl_type: BackupCtrlType = BackupCtrlType.NONE
    time_delay_backup: NonNegative = Field(default=1.0, description="continuous running before backup, h")
    modulating_control: bool = False
    min_modulation_rate_20: NonNegative | None = Field(default=None, description="air sink, at 20 °C")
    min_modulation_rate_35: NonNegative | None = Field(default=None, description="liquid sink, at 35 °C")
    min_modulation_rate_55: NonNegative | None = Field(default=None, description="at 55 °C")
    time_constant_onoff_operation: NonNegative = Field(default=140.0, description="tau_eq, s (TP-12 eq. 17)")
    temp_return_feed_max: FiniteFloat = Field(default=70.0, description="max return temperature, °C")
    temp_lower_operating_limit: FiniteFloat = Field(default=-10.0, description="source TOL, °C (inclusive)")
    min_temp_diff_flow_return_for_hp_to_operate: NonNegative = 0.0
    var_flow_temp_ctrl_during_test: bool = True
    power_heating_circ_pump: NonNegative = 0.0
    power_source_circ_pump: NonNegative = 0.0
    power_standby: NonNegative = 0.0
    power_crankcase_heater: NonNegative = 0.0
    power_off: NonNegative = 0.0
    power_max_backup: NonNegative = 0.0
    temp_distribution_heat_network: FiniteFloat | None = Field(default=None, description="°C")
    eahp_mixed_ext_air_ratio: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    eahp_mixed_max_temp: FiniteFloat | None = Field(default=None, description="°C")
    eahp_mixed_min_temp: FiniteFloat | None = Field(default=None, description="°C")
    test_data: list[En14825Record] | None = None
    keymark: KeymarkProduct | None = None

    @model_validator(mode="after")
    def _one_source_of_test_data(self) -> HeatPumpSpec:
        if (self.test_data is None) == (self.keymark is None):
            raise ValueError("give exactly one of test_data (EN 14825 records) or keymark (manufacturer + model)")
        if self.source_type is SourceType.HEAT_NETWORK and self.temp_distribution_heat_network is None:
            raise ValueError("temp_distribution_heat_network is required for a HeatNetwork source")
        if self.source_type is SourceType.EXHAUST_AIR_MIXED and None in (
            self.eahp_mixed_ext_air_ratio,
            self.eahp_mixed_max_temp,
            self.eahp_mixed_min_temp,
        ):
            raise ValueError(
                "ExhaustAirMixed needs eahp_mixed_ext_air_ratio, eahp_mixed_max_temp and eahp_mixed_min_temp"
            )
        if self.modulating_control:
            low = "min_modulation_rate_20" if self.sink_type is SinkType.AIR else "min_modulation_rate_35"
            if getattr(self, low) is None:
                raise ValueError(f"{low} is required for a modulating heat pump with a {self.sink_type.value} sink")
        return self
