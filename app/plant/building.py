"""The building and its wet heating circuit: a lumped thermal model with three capacities.

- Room air and light contents (``air``) and the heavy fabric (``fabric``): the air exchanges heat with
  outdoors directly (ventilation, infiltration, glazing: ``VENTILATION_SHARE`` of the steady-state loss
  coefficient) and through the fabric (the rest, in series with the air–fabric surface coupling). The
  total capacity is the circuit's time constant × loss coefficient; ``AIR_SHARE`` of it is the air node.
- The circuit water (``water``): radiators and pipework, ``SYSTEM_L_PER_KW`` water-equivalent litres per
  kW of installed emitter output (cast iron counted as water of the same heat capacity). Emitters give
  EN 442's Q = Q_rated · (T_mean − T_room)^n / ΔT_rated^n to the room air. With the circuit pump on, the
  return is the mean less half the emitter ΔT at the constant flow rate; the flow is what the sources
  make of that return.

The loss coefficient, installed output and flow rate are those the weather-compensation design uses
(:mod:`strategies.weather_compensation`), so the simulated building is the one the curve was designed for.
"""

from __future__ import annotations

from app.config import HeatingCircuitConfig
from app.plant.dhw import WATER_KWH_PER_L_K
from strategies.weather_compensation import (
    design_mcp_kw_per_k,
    installed_output_kw,
    loss_coefficient_kw_per_k,
    rated_mean_excess_k,
)

VENTILATION_SHARE = 0.3
AIR_SHARE = 0.05
SURFACE_COUPLING = 6.0     # air–fabric conductance / loss coefficient
SYSTEM_L_PER_KW = 15.0


class Building:
    """Room air, fabric and circuit water of one heating circuit; temperatures in °C, capacities in kWh/K."""

    def __init__(self, circuit: HeatingCircuitConfig, room_c: float, water_c: float | None = None) -> None:
        self.circuit = circuit
        h = loss_coefficient_kw_per_k(circuit)
        self.h_vent = VENTILATION_SHARE * h
        self.h_air_fabric = SURFACE_COUPLING * h
        self.h_fabric_out = 1.0 / (1.0 / ((1.0 - VENTILATION_SHARE) * h) - 1.0 / self.h_air_fabric)
        total = circuit.building_time_constant_h * h
        self.c_air = AIR_SHARE * total
        self.c_fabric = total - self.c_air
        rated = installed_output_kw(circuit)
        self.emitter_k = rated / rated_mean_excess_k(circuit) ** circuit.emitters.exponent
        self.emitter_n = circuit.emitters.exponent
        self.c_water = SYSTEM_L_PER_KW * rated * WATER_KWH_PER_L_K
        self.mcp = design_mcp_kw_per_k(circuit)
        self.air_c = room_c
        self.fabric_c = room_c
        self.water_c = room_c if water_c is None else water_c
        # last step, kW
        self.emitter_kw = self.loss_kw = 0.0

    @property
    def loss_coefficient_kw_per_k(self) -> float:
        return self.h_vent + 1.0 / (1.0 / self.h_air_fabric + 1.0 / self.h_fabric_out)

    def emitter_output_kw(self) -> float:
        excess = self.water_c - self.air_c
        return self.emitter_k * excess**self.emitter_n if excess > 0.0 else 0.0

    def return_c(self, emitter_kw: float) -> float:
        """Return temperature with the pump on: the mean water less half the emitter ΔT."""
        return self.water_c - emitter_kw / (2.0 * self.mcp)

    def stored_kwh(self) -> float:
        return self.c_air * self.air_c + self.c_fabric * self.fabric_c + self.c_water * self.water_c

    def step(self, dt_s: float, outdoor_c: float, water_in_kw: float, emitter_kw: float, gains_kw: float) -> None:
        """Advance `dt_s` with `water_in_kw` from the sources, `emitter_kw` to the room and `gains_kw` inside."""
        h = dt_s / 3600.0
        vent = self.h_vent * (self.air_c - outdoor_c)
        surface = self.h_air_fabric * (self.air_c - self.fabric_c)
        fabric_out = self.h_fabric_out * (self.fabric_c - outdoor_c)
        self.air_c += (emitter_kw + gains_kw - vent - surface) * h / self.c_air
        self.fabric_c += (surface - fabric_out) * h / self.c_fabric
        self.water_c += (water_in_kw - emitter_kw) * h / self.c_water
        self.emitter_kw = emitter_kw
        self.loss_kw = vent + fabric_out
