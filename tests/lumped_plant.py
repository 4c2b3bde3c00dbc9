"""A lumped plant for control tests: building, radiator loop, heat pump and DHW cylinder, stepped explicitly.

Stepped explicitly in simulated seconds; what a heat pump controller would report is exposed through the
generic heat pump register map's point names, so it can sit behind the Modbus simulator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from app.config import CylinderConfig, HeatingCircuitConfig, HeatPumpConfig

WATER_KJ_PER_L_K = 4.18


def sinusoidal_weather(mean_c: float = 5.0, swing_k: float = 4.0) -> Callable[[datetime], float]:
    """Outdoor temperature with a daily swing, coldest at 05:00."""

    def outdoor(ts: datetime) -> float:
        hours = ts.hour + ts.minute / 60
        return mean_c - swing_k * math.cos(2 * math.pi * (hours - 5) / 24)

    return outdoor


@dataclass
class LumpedPlant:
    """One heat pump on one radiator circuit, with a cylinder. State in °C, energies in kWh."""

    heat_pump: HeatPumpConfig
    circuit: HeatingCircuitConfig
    cylinder: CylinderConfig | None
    weather: Callable[[datetime], float]
    now: datetime
    room_c: float = 20.0
    flow_c: float = 35.0
    return_c: float = 30.0
    cylinder_top_c: float = 58.0
    cylinder_bottom_c: float = 50.0
    loop_volume_l: float = 1500.0
    enable: bool = False
    bms_control: bool = False
    flow_setpoint_c: float = 45.0
    dhw_setpoint_c: float = 55.0
    dhw_mode: bool = False
    immersion_on: bool = False
    heartbeat: int = 0
    heat_kw: float = 0.0
    elec_kw: float = 0.0
    heat_kwh: float = 0.0
    elec_kwh: float = 0.0

    @property
    def ua_kw_per_k(self) -> float:
        c = self.circuit
        return c.design_heat_loss_kw / (c.design_room_c - c.design_outdoor_c)

    def emitter_kw(self) -> float:
        """Radiator output at the present mean water temperature (EN 442 characteristic)."""
        e = self.circuit.emitters
        rated_dt = (e.rated_flow_c + e.rated_return_c) / 2 - e.rated_room_c
        rated_kw = e.oversize_factor * self.circuit.design_heat_loss_kw
        excess = (self.flow_c + self.return_c) / 2 - self.room_c
        return rated_kw * (excess / rated_dt) ** e.exponent if excess > 0 else 0.0

    def cop(self, outdoor_c: float, sink_c: float) -> float:
        """Second-law estimate until the TP-12 model backs this plant: 45 % of Carnot with 5 K approach."""
        lift = max(sink_c + 5 - (outdoor_c - 5), 10.0)
        return max(1.0, 0.45 * (sink_c + 5 + 273.15) / lift)

    def step(self, seconds: float) -> None:
        """Advance the plant by `seconds`."""
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)
        outdoor = self.weather(self.now)
        hours = seconds / 3600
        q_emit = self.emitter_kw()
        capacity = self.heat_pump.rated_capacity_kw
        self.heat_kw = 0.0
        target = self.dhw_setpoint_c if self.dhw_mode else self.flow_setpoint_c
        running = self.enable and self.bms_control
        if running and self.dhw_mode and self.cylinder is not None:
            sink = self.cylinder_bottom_c
            if sink < min(target, self.heat_pump.max_flow_temp_c - 5):
                self.heat_kw = min(capacity, 0.6 * capacity)
        elif running:
            loop_kj_per_k = self.loop_volume_l * WATER_KJ_PER_L_K
            demand = q_emit + loop_kj_per_k * (target - self.flow_c) / 600
            self.heat_kw = min(capacity, max(0.0, demand))
        sink_c = self.cylinder_bottom_c if self.dhw_mode else self.flow_c
        self.elec_kw = self.heat_kw / self.cop(outdoor, sink_c) if self.heat_kw else 0.0
        self.heat_kwh += self.heat_kw * hours
        self.elec_kwh += self.elec_kw * hours
        loop_heat = 0.0 if self.dhw_mode else self.heat_kw
        self.flow_c += (loop_heat - q_emit) * seconds / (self.loop_volume_l * WATER_KJ_PER_L_K)
        self.return_c = self.flow_c - (q_emit / self.circuit.design_heat_loss_kw) * 10.0
        tau_s = self.circuit.building_time_constant_h * 3600
        self.room_c += seconds * (q_emit - self.ua_kw_per_k * (self.room_c - outdoor)) / (self.ua_kw_per_k * tau_s)
        if self.cylinder is not None:
            volume_kj_per_k = self.cylinder.volume_l * WATER_KJ_PER_L_K
            immersion = self.cylinder.immersion.power_kw if (self.immersion_on and self.cylinder.immersion) else 0.0
            dhw_heat = (self.heat_kw if self.dhw_mode else 0.0) + immersion
            loss_kw = 0.002 * (self.cylinder_top_c - 20)
            delta = (dhw_heat - loss_kw) * seconds / volume_kj_per_k
            self.cylinder_top_c += delta
            self.cylinder_bottom_c += delta
            self.cylinder_bottom_c = min(self.cylinder_bottom_c, self.cylinder_top_c)

    def values(self) -> Mapping[str, float | None]:
        """What the heat pump controller reports, by the generic map's point names."""
        outdoor = self.weather(self.now)
        running = self.heat_kw > 0
        state = 0 if not self.enable else (3 if self.dhw_mode and running else 2 if running else 1)
        return {
            "outdoor_temp": outdoor, "flow_temp": self.flow_c, "return_temp": self.return_c,
            "dhw_top_temp": self.cylinder_top_c, "dhw_bottom_temp": self.cylinder_bottom_c,
            "compressor_frequency": 30 + 60 * self.heat_kw / self.heat_pump.rated_capacity_kw if running else 0.0,
            "fault_code": 0, "electrical_power": self.elec_kw, "heat_output_power": self.heat_kw,
            "operating_state": state, "electrical_energy": self.elec_kwh, "heat_energy": self.heat_kwh,
            "secondary_return_temp": self.cylinder_top_c - 5, "room_temp_1": self.room_c,
            "room_temp_2": self.room_c - 0.5, "flow_setpoint_active": self.flow_setpoint_c,
            "compressor_running": float(running), "defrost_active": 0.0, "immersion_active": float(self.immersion_on),
            "alarm": 0.0, "bms_control": float(self.bms_control), "enable": float(self.enable),
            "flow_setpoint": self.flow_setpoint_c, "dhw_setpoint": self.dhw_setpoint_c,
            "heartbeat": float(self.heartbeat), "dhw_mode": float(self.dhw_mode),
            "immersion_enable": float(self.immersion_on),
        }

    def write(self, name: str, value: float) -> None:
        """A master's write to one of the heat pump controller's points."""
        if name == "bms_control":
            self.bms_control = bool(value)
        elif name == "enable":
            self.enable = bool(value)
        elif name == "flow_setpoint":
            self.flow_setpoint_c = value
        elif name == "dhw_setpoint":
            self.dhw_setpoint_c = value
        elif name == "heartbeat":
            self.heartbeat = int(value)
        elif name == "dhw_mode":
            self.dhw_mode = bool(value)
        elif name == "immersion_enable":
            self.immersion_on = bool(value)
        else:
            raise KeyError(f"point {name!r} is not writable on this plant")
