"""The baselines a strategy is compared with, as controllers acting on the simulated plant directly.

- ``gas-only``: the building before the heat pump. The condensing boiler serves the radiators on a
  weather-compensated curve designed for them (up to their rated 82 °C flow) with room trim, optimum
  start at full flow temperature (at most BASELINE_MAX_PREHEAT_H before occupancy: at 82 °C the boiler
  needs no more), setback and a room thermostat, and heats the cylinder through its coil at the storage
  setpoint — a competent boiler system, not a straw man.
- ``boiler-replacement``: the retrofit that goes wrong. The heat pump was connected where the boiler was and
  commissioned for 70 °C flow (it delivers what its maximum flow temperature allows, flat out, never
  satisfied); the kept boiler fires on the room thermostat whenever the room is below setpoint — the
  two treated as equal sources; hot water by the heat pump on a timer at 65 °C, no pasteurisation
  schedule and no immersion fallback.
"""

from __future__ import annotations

from datetime import time
from typing import Protocol
from zoneinfo import ZoneInfo

from app.config import SiteConfig
from app.plant.plant import Plant
from strategies.weather_compensation import (
    TrimState,
    flow_setpoint,
    heating_season,
    installed_output_kw,
    room_target,
    room_trim,
)

ROOM_STAT_K = 0.5
BOOST_BELOW_K = 1.0   # gas-only: maximum flow during optimum start or while the room is this far below setpoint
REPLACEMENT_FLOW_C = 70.0
REPLACEMENT_DHW_C = 65.0
REPLACEMENT_DHW_TIMER = ((time(4, 0), time(6, 0)), (time(13, 0), time(14, 0)))
BASELINE_MAX_PREHEAT_H = 3.0   # the baselines' optimum start window, whatever the site file gives the supervisor


class Baseline(Protocol):
    name: str

    def control(self, plant: Plant) -> None:
        """Decide and act for the coming step."""
        ...


class _Scheduled:
    """What both baselines share: the occupancy schedule with optimum start, summer cut-off, room thermostat."""

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.circuit = site.heating_circuits[0].model_copy(update={"max_preheat_h": BASELINE_MAX_PREHEAT_H})
        self.schedule = site.schedules[self.circuit.schedule]
        self.zone = ZoneInfo(site.site.timezone)
        self.heating = True
        self.calling = False

    def target(self, plant: Plant):  # type: ignore[no-untyped-def]
        local = plant.now.astimezone(self.zone)
        c = self.circuit
        self.heating = heating_season(plant.outdoor_c, self.heating, c.summer_cutoff_c, c.summer_hysteresis_k)
        return local, room_target(c, self.schedule, local, plant.building.air_c, plant.outdoor_c,
                                  installed_output_kw(c))

    def room_stat(self, room_c: float, setpoint_c: float) -> bool:
        if room_c < setpoint_c - ROOM_STAT_K:
            self.calling = True
        elif room_c > setpoint_c + ROOM_STAT_K:
            self.calling = False
        return self.calling and self.heating


class GasOnly(_Scheduled):
    name = "gas-only"

    def __init__(self, site: SiteConfig) -> None:
        super().__init__(site)
        rated = self.circuit.emitters.rated_flow_c
        self.curve_circuit = self.circuit.model_copy(update={"max_flow_c": rated})
        self.cylinder = site.cylinders[0] if site.cylinders else None
        self.dhw_calling = False
        self.trim = TrimState()
        self.last_s: float | None = None

    def control(self, plant: Plant) -> None:
        _, target = self.target(plant)
        room = plant.building.air_c
        on = self.room_stat(room, target.setpoint_c)
        for bid in plant.boiler_enable:
            plant.boiler_enable[bid] = on
        dt = plant.t_s - self.last_s if self.last_s is not None else 0.0
        self.last_s = plant.t_s
        trim, self.trim = room_trim(self.trim, room, target.setpoint_c, dt, self.circuit.room_trim,
                                    integrate=target.mode == "occupied")
        boost = target.mode == "preheat" or room < target.setpoint_c - BOOST_BELOW_K
        plant.boiler_setpoint_c = self.curve_circuit.max_flow_c if boost else flow_setpoint(
            self.curve_circuit, plant.outdoor_c, room_setpoint_c=target.setpoint_c, occupied=target.occupied,
            trim_k=trim)
        if self.cylinder is not None and plant.cylinder is not None:
            setpoint = self.cylinder.storage_setpoint_c
            top = plant.cylinder.sensor(0)
            if top < setpoint - self.cylinder.reheat_differential_k:
                self.dhw_calling = True
            elif plant.cylinder.sensor(-1) >= setpoint:
                self.dhw_calling = False
            plant.boiler_dhw = self.dhw_calling
            plant.boiler_dhw_setpoint_c = setpoint


class BoilerReplacement(_Scheduled):
    name = "boiler-replacement"

    def control(self, plant: Plant) -> None:
        local, target = self.target(plant)
        scheduled_on = target.mode != "setback" and self.heating
        boiler_on = self.room_stat(plant.building.air_c, target.setpoint_c + ROOM_STAT_K)
        now = local.time()
        dhw = any(start <= now < end for start, end in REPLACEMENT_DHW_TIMER)
        for controls in plant.controls.values():
            controls.bms_control = True
            controls.enable = scheduled_on or dhw or boiler_on
            controls.flow_setpoint_c = REPLACEMENT_FLOW_C
            controls.dhw_mode = dhw
            controls.dhw_setpoint_c = REPLACEMENT_DHW_C
        for bid in plant.boiler_enable:
            plant.boiler_enable[bid] = boiler_on
        plant.boiler_setpoint_c = REPLACEMENT_FLOW_C
        plant.immersion_on = False


BASELINES = {"gas-only": GasOnly, "boiler-replacement": BoilerReplacement}
