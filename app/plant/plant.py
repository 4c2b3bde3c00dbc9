"""The simulated plant of a site: building, circuit, heat pumps, boilers and DHW cylinder, stepped in seconds.

One heating circuit (the site's first) is simulated, fed by the heat pumps and then the boilers in series
on its return (heat pump first, boiler topping up); an enabled boiler fires on its own thermostat,
commissioned to the circuit's maximum flow temperature (``boiler_setpoint_c`` replaces it, as a flow
temperature demand would); the cylinder (the site's first) is heated by its
heat pump's coil in hot-water mode and by its immersion. Each heat pump behaves as its controller does:
under BMS control (after the map's control-mode precondition) it follows the written enable, mode and
setpoints; without it — never put under BMS control, or its heartbeat no longer changing — it falls back
to its own curve and hot-water thermostat.

Everything in the step is plain floats: a season at one-minute steps is hundreds of thousands of steps.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.config import SiteConfig
from app.plant.building import Building
from app.plant.dhw import DRAW_EVERY_DAY, DRAW_PROFILES, Cylinder
from app.plant.sources import Boiler, HeatPumpUnit, PerformanceTable, SourceOutput
from app.plant.weather import WeatherSeries
from strategies.weather_compensation import occupied

MAX_SUBSTEP_S = 300.0
LOCAL_CURVE = (25.0, 1.0)       # the heat pump's own curve: flow = 25 + 1.0 × (20 − outdoor)
LOCAL_DHW_C = 50.0              # its own hot-water thermostat
DHW_DIFFERENTIAL_K = 2.0        # a hot-water reheat starts this far below the setpoint
DHW_PRIMARY_DELTA_T_K = 5.0     # primary flow to the coil: rated capacity over this difference
BOILER_DHW_PRIMARY_C = 75.0
COLD_FEED_SWING_K = 3.0         # mains cold water: warmest in August
STANDALONE_HOURS = 366 * 24     # a bare simulator's plant: one year of the built-in weather
DEFAULT_PUMP_KW = 0.4           # a circuit pump when no heat pump declares one (gas-only plant)


class PlantError(ValueError):
    """A site the simulator cannot represent."""


@dataclass(slots=True)
class HeatPumpControls:
    """The heat pump controller's writable state (the generic map's holding registers)."""

    bms_control: bool = False
    enable: bool = False
    flow_setpoint_c: float = 45.0
    dhw_setpoint_c: float = 55.0
    heartbeat: int = 0
    dhw_mode: bool = False
    immersion_enable: bool = False
    heartbeat_at_s: float | None = None     # when the heartbeat last changed (the watchdog is armed by the first)
    watchdog_s: float | None = None


@dataclass(slots=True)
class Totals:
    """Energy over the run so far, kWh (heat pump heat is net of defrost)."""

    heat_hp_space: float = 0.0
    heat_hp_dhw: float = 0.0
    elec_hp: float = 0.0
    elec_pumps: float = 0.0
    elec_pumps_hp: float = 0.0
    heat_boiler_space: float = 0.0
    heat_boiler_dhw: float = 0.0
    gas: float = 0.0
    heat_immersion: float = 0.0
    gains: float = 0.0
    building_loss: float = 0.0
    cylinder_standing: float = 0.0
    cylinder_secondary: float = 0.0
    dhw_drawn: float = 0.0


@dataclass
class Trace:
    """Per-step record for the report and the plot (one entry per step, at the step's start)."""

    t_s: array = field(default_factory=lambda: array("d"))
    outdoor_c: array = field(default_factory=lambda: array("d"))
    room_c: array = field(default_factory=lambda: array("d"))
    occupied: array = field(default_factory=lambda: array("b"))
    flow_c: array = field(default_factory=lambda: array("d"))
    return_c: array = field(default_factory=lambda: array("d"))
    hp_heat_kw: array = field(default_factory=lambda: array("d"))
    hp_elec_kw: array = field(default_factory=lambda: array("d"))
    hp_load: array = field(default_factory=lambda: array("d"))
    hp_dhw: array = field(default_factory=lambda: array("b"))
    boiler_space_kw: array = field(default_factory=lambda: array("d"))
    gas_kw: array = field(default_factory=lambda: array("d"))
    elec_kw: array = field(default_factory=lambda: array("d"))
    dhw_top_c: array = field(default_factory=lambda: array("d"))
    dhw_bottom_c: array = field(default_factory=lambda: array("d"))
    immersion_kw: array = field(default_factory=lambda: array("d"))
    dhw_heat_kw: array = field(default_factory=lambda: array("d"))


class _Timeline:
    """Hourly inputs for the simulated span (outdoor, draw-off, cold feed) and occupied intervals."""

    def __init__(self, site: SiteConfig, weather: WeatherSeries, start: datetime, hours: int) -> None:
        self.hour0 = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        self.offset_s = (start.astimezone(UTC) - self.hour0).total_seconds()
        self.outdoor = weather.hourly(start, hours + 1)
        zone = ZoneInfo(site.site.timezone)
        circuit = site.heating_circuits[0]
        schedule = site.schedules[circuit.schedule]
        cylinder = site.cylinders[0] if site.cylinders else None
        profile = DRAW_PROFILES[cylinder.draw_profile] if cylinder else {}
        every_day = cylinder is not None and cylinder.draw_profile in DRAW_EVERY_DAY
        self.draw_l_per_s: list[float] = []
        self.cold_c: list[float] = []
        for k in range(hours + 2):
            utc = self.hour0 + timedelta(hours=k)
            local = utc.astimezone(zone)
            day_used = every_day or bool(schedule.days.get(("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                                                           [local.weekday()]))
            share = profile.get(local.hour, 0.0) if day_used else 0.0
            self.draw_l_per_s.append(share * (cylinder.daily_draw_l if cylinder else 0.0) / 3600.0)
            doy = local.timetuple().tm_yday
            base = cylinder.cold_feed_c if cylinder else 10.0
            self.cold_c.append(base + COLD_FEED_SWING_K * math.cos(2 * math.pi * (doy - 220) / 365.25))
        # occupied intervals in seconds from the plant's start, found minute by minute in local time
        self.occupied_spans: list[tuple[float, float]] = []
        begin: float | None = None
        for minute in range(0, (hours + 2) * 60, 15):
            utc = self.hour0 + timedelta(minutes=minute)
            is_occ = occupied(schedule, utc.astimezone(zone))
            at = minute * 60.0 - self.offset_s
            if is_occ and begin is None:
                begin = at
            elif not is_occ and begin is not None:
                self.occupied_spans.append((begin, at))
                begin = None
        if begin is not None:
            self.occupied_spans.append((begin, math.inf))


class Plant:
    """A site's plant, simulated from `start` for up to `hours` of `weather`."""

    def __init__(self, site: SiteConfig, weather: WeatherSeries, start: datetime, hours: int, *,
                 heat_pumps: bool = True, room_c: float | None = None) -> None:
        if len(site.heating_circuits) != 1 or len(site.cylinders) > 1:
            raise PlantError("the simulator represents one heating circuit and at most one cylinder "
                             f"(got {len(site.heating_circuits)} circuits, {len(site.cylinders)} cylinders)")
        self.site = site
        self.start = start.astimezone(UTC)
        self.t_s = 0.0
        self.timeline = _Timeline(site, weather, start, hours)
        self.horizon_s = hours * 3600.0
        circuit = site.heating_circuits[0]
        self.circuit = circuit
        first_room = circuit.setback_room_c if room_c is None else room_c
        self.building = Building(circuit, first_room, water_c=first_room)
        self.heat_pumps = ({hp.id: HeatPumpUnit(hp, PerformanceTable.for_heat_pump(hp)) for hp in site.heat_pumps}
                           if heat_pumps else {})
        self.controls = {hp_id: HeatPumpControls() for hp_id in self.heat_pumps}
        self.boilers = {b.id: Boiler(b) for b in site.boilers}
        self.boiler_enable = dict.fromkeys(self.boilers, False)
        self.boiler_local = dict.fromkeys(self.boilers, False)   # on its own enable and thermostat
        self.boiler_firing = dict.fromkeys(self.boilers, False)
        self.io_modules: dict[str, IoModulePoints] = {}
        self.boiler_setpoint_c: float | None = None   # None: its own thermostat at the circuit's maximum flow
        self.boiler_dhw = False                        # a boiler primary feeds the cylinder coil
        self.boiler_dhw_setpoint_c = 60.0
        config = site.cylinders[0] if site.cylinders else None
        self.cylinder = Cylinder(config) if config else None
        self.dhw_heat_pump = config.heat_pump if config and config.heat_pump in self.heat_pumps else None
        self.immersion_on = False
        self.totals = Totals()
        self.trace = Trace()
        self._dhw_heating = dict.fromkeys(self.heat_pumps, False)
        self._out = {hp_id: SourceOutput() for hp_id in self.heat_pumps}
        self._boiler_out = SourceOutput()
        self._occ_index = 0
        # last step's readings
        self.outdoor_c = self.timeline.outdoor[0]
        self.flow_c = self.return_c = self.building.water_c
        self.occupied = False

    # -- time ---------------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t_s)

    def outdoor_at(self, t_s: float) -> float:
        x = (t_s + self.timeline.offset_s) / 3600.0
        i = int(x)
        w = self.timeline.outdoor
        return w[i] + (w[i + 1] - w[i]) * (x - i)

    def _occupied_at(self, t_s: float) -> bool:
        spans = self.timeline.occupied_spans
        while self._occ_index < len(spans) and spans[self._occ_index][1] <= t_s:
            self._occ_index += 1
        return self._occ_index < len(spans) and spans[self._occ_index][0] <= t_s

    # -- control ------------------------------------------------------------------------------------
    def under_bms(self, hp_id: str) -> bool:
        c = self.controls[hp_id]
        if not c.bms_control:
            return False
        return c.heartbeat_at_s is None or c.watchdog_s is None or self.t_s - c.heartbeat_at_s <= c.watchdog_s

    def _hp_intent(self, hp_id: str, outdoor_c: float) -> tuple[bool, bool, float, float]:
        """(enabled, hot-water mode, flow setpoint, hot-water setpoint) the unit acts on now."""
        c = self.controls[hp_id]
        if self.under_bms(hp_id):
            return c.enable, c.dhw_mode, c.flow_setpoint_c, c.dhw_setpoint_c
        unit = self.heat_pumps[hp_id]
        local_flow = min(unit.max_flow_c, max(LOCAL_CURVE[0], LOCAL_CURVE[0] + LOCAL_CURVE[1] * (20.0 - outdoor_c)))
        dhw = hp_id == self.dhw_heat_pump and self.cylinder is not None and (
            self._dhw_heating[hp_id] or self.cylinder.sensor(-1) < LOCAL_DHW_C - DHW_DIFFERENTIAL_K)
        return True, dhw, local_flow, LOCAL_DHW_C

    # -- the step -----------------------------------------------------------------------------------
    def step(self, dt_s: float) -> None:
        """Advance the plant by `dt_s` seconds (sub-stepped to at most MAX_SUBSTEP_S)."""
        if self.t_s + dt_s > self.horizon_s + 1e-6:
            raise PlantError(f"the plant was built for {self.horizon_s / 3600:g} h of weather; "
                             f"cannot step past {self.now:%Y-%m-%d %H:%M} UTC")
        n = max(1, math.ceil(dt_s / MAX_SUBSTEP_S - 1e-9))
        for _ in range(n):
            self._substep(dt_s / n)

    def _substep(self, dt: float) -> None:
        b = self.building
        cyl = self.cylinder
        tot = self.totals
        h = dt / 3600.0
        t = self.t_s
        outdoor = self.outdoor_at(t)
        occ = self._occupied_at(t)
        gains = self.circuit.occupied_gains_kw if occ else 0.0
        emitter = b.emitter_output_kw()
        # heat pumps: what each is asked to do
        space_units: list[tuple[str, float]] = []
        hp_heat = hp_elec = hp_load = 0.0
        hp_dhw_flag = False
        coil_kw = 0.0
        for hp_id, unit in self.heat_pumps.items():
            enabled, dhw_mode, flow_sp, dhw_sp = self._hp_intent(hp_id, outdoor)
            out = self._out[hp_id]
            if enabled and dhw_mode and hp_id == self.dhw_heat_pump and cyl is not None:
                hp_dhw_flag = True
                stat = cyl.sensor(-1)
                heating = self._dhw_heating[hp_id]
                heating = stat < dhw_sp if heating else stat < dhw_sp - DHW_DIFFERENTIAL_K
                self._dhw_heating[hp_id] = heating
                if heating:
                    approach = cyl.config.heat_pump_approach_k
                    outlet = min(dhw_sp + approach, unit.max_flow_c)
                    mcp = unit.config.rated_capacity_kw / DHW_PRIMARY_DELTA_T_K
                    limit = cyl.coil_limit_kw(outlet, mcp)
                    unit.run(out, outdoor, cyl.coil_c, outlet, mcp, dt, limit)
                else:
                    unit.idle(out, True)
                coil_kw += out.heat_kw
                tot.heat_hp_dhw += out.heat_kw * h
            elif enabled:
                space_units.append((hp_id, flow_sp))
                continue
            else:
                unit.idle(out, False)
            hp_heat += out.heat_kw
            hp_elec += out.input_kw
            hp_load = max(hp_load, out.load_ratio)
            tot.elec_hp += out.input_kw * h
        for io in self.io_modules.values():
            io.apply()
        boiler_on = [bid for bid in self.boilers if self.boiler_enable[bid] or self.boiler_local[bid]]
        pump_on = bool(space_units or boiler_on)
        water_in = 0.0
        boiler_space = gas = 0.0
        if pump_on:
            mcp = b.mcp
            ret = b.return_c(emitter)
            inlet = ret
            for hp_id, flow_sp in space_units:
                unit = self.heat_pumps[hp_id]
                out = self._out[hp_id]
                unit.run(out, outdoor, inlet, flow_sp, mcp, dt)
                inlet += out.heat_kw / mcp
                water_in += out.heat_kw
                hp_heat += out.heat_kw
                hp_elec += out.input_kw
                hp_load = max(hp_load, out.load_ratio)
                tot.heat_hp_space += out.heat_kw * h
                tot.elec_hp += out.input_kw * h
            target = self.boiler_setpoint_c if self.boiler_setpoint_c is not None else self.circuit.max_flow_c
            for bid in boiler_on:
                out = self._boiler_out
                self.boilers[bid].run(out, inlet, target, mcp)
                self.boiler_firing[bid] = out.heat_kw > 0.0
                inlet += out.heat_kw / mcp
                water_in += out.heat_kw
                boiler_space += out.heat_kw
                gas += out.input_kw
            self.flow_c, self.return_c = inlet, ret
            pump_kw = max((u.pump_kw for u in self.heat_pumps.values()), default=0.0) or DEFAULT_PUMP_KW
            tot.elec_pumps += pump_kw * h
            if space_units:
                tot.elec_pumps_hp += pump_kw * h
        else:
            pump_kw = 0.0
            self.flow_c = self.return_c = b.water_c
        tot.heat_boiler_space += boiler_space * h
        # cylinder: boiler primary (a gas-only plant), immersion, draw-off
        immersion_kw = 0.0
        if cyl is not None:
            if self.boiler_dhw and self.boilers:
                boiler = next(iter(self.boilers.values()))
                stat = cyl.sensor(-1)
                if stat < self.boiler_dhw_setpoint_c:
                    mcp = boiler.capacity_kw / 20.0
                    out = self._boiler_out
                    limit = min(cyl.coil_limit_kw(BOILER_DHW_PRIMARY_C, mcp), boiler.capacity_kw - boiler_space)
                    boiler.run(out, cyl.coil_c, BOILER_DHW_PRIMARY_C, mcp, limit)
                    coil_kw += out.heat_kw
                    gas += out.input_kw
                    tot.heat_boiler_dhw += out.heat_kw * h
            draw_l = self.timeline.draw_l_per_s[int((t + self.timeline.offset_s) // 3600.0)] * dt
            cyl.step(dt, coil_kw, self.immersion_on, draw_l, self.timeline.cold_c[
                int((t + self.timeline.offset_s) // 3600.0)])
            immersion_kw = cyl.immersion_in_kw
            tot.heat_immersion += immersion_kw * h
            tot.cylinder_standing += cyl.standing_kw * h
            tot.cylinder_secondary += cyl.secondary_kw * h
            tot.dhw_drawn += cyl.draw_kw * h
        b.step(dt, outdoor, water_in, emitter, gains)
        tot.gas += gas * h
        tot.gains += gains * h
        tot.building_loss += b.loss_kw * h
        self.outdoor_c, self.occupied = outdoor, occ
        tr = self.trace
        tr.t_s.append(t)
        tr.outdoor_c.append(outdoor)
        tr.room_c.append(b.air_c)
        tr.occupied.append(occ)
        tr.flow_c.append(self.flow_c)
        tr.return_c.append(self.return_c)
        tr.hp_heat_kw.append(hp_heat)
        tr.hp_elec_kw.append(hp_elec)
        tr.hp_load.append(hp_load)
        tr.hp_dhw.append(hp_dhw_flag)
        tr.boiler_space_kw.append(boiler_space)
        tr.gas_kw.append(gas)
        tr.elec_kw.append(hp_elec + pump_kw + immersion_kw)
        tr.dhw_top_c.append(cyl.temps[0] if cyl else math.nan)
        tr.dhw_bottom_c.append(cyl.temps[-1] if cyl else math.nan)
        tr.immersion_kw.append(immersion_kw)
        tr.dhw_heat_kw.append(coil_kw + immersion_kw)
        self.t_s = t + dt

    # -- bookkeeping --------------------------------------------------------------------------------
    def stored_kwh(self) -> float:
        """Heat stored in the building, circuit water and cylinder (above 0 °C)."""
        return self.building.stored_kwh() + (self.cylinder.stored_kwh() if self.cylinder else 0.0)


class HeatPumpPoints:
    """One heat pump as its controller's registers see it: values by point name, and writes."""

    WRITABLE = frozenset({"bms_control", "enable", "flow_setpoint", "dhw_setpoint", "heartbeat", "dhw_mode",
                          "immersion_enable"})

    def __init__(self, plant: Plant, hp_id: str, watchdog_s: float | None = None) -> None:
        self.plant = plant
        self.hp_id = hp_id
        self.plant.controls[hp_id].watchdog_s = watchdog_s

    @classmethod
    def standalone(cls, site: SiteConfig, start: datetime, hours: int = STANDALONE_HOURS) -> HeatPumpPoints:
        """The site's first heat pump on its own simulated plant (built-in weather), for a bare simulator."""
        from app.plant.weather import builtin

        return cls(Plant(site, builtin(), start, hours), site.heat_pumps[0].id)

    def step(self, seconds: float) -> None:
        """Advance the whole plant."""
        self.plant.step(seconds)

    @property
    def flow_c(self) -> float:
        return self.plant.flow_c

    @property
    def return_c(self) -> float:
        return self.plant.return_c

    @property
    def bms_control(self) -> bool:
        return self.plant.controls[self.hp_id].bms_control

    @property
    def flow_setpoint_c(self) -> float:
        return self.plant.controls[self.hp_id].flow_setpoint_c

    def values(self) -> Mapping[str, float | None]:
        p = self.plant
        c = p.controls[self.hp_id]
        out = p._out[self.hp_id]
        cyl = p.cylinder
        enabled, dhw_mode, flow_sp, _ = p._hp_intent(self.hp_id, p.outdoor_c)
        running = out.heat_kw != 0.0
        state = 4 if out.defrosting else 3 if running and dhw_mode else 2 if running else 1 if enabled else 0
        heat_kwh = p.totals.heat_hp_space + p.totals.heat_hp_dhw
        return {
            "outdoor_temp": p.outdoor_c, "flow_temp": p.flow_c, "return_temp": p.return_c,
            "dhw_top_temp": cyl.sensor(0) if cyl else None, "dhw_bottom_temp": cyl.sensor(-1) if cyl else None,
            "compressor_frequency": 30.0 + 90.0 * out.load_ratio if running else 0.0,
            "fault_code": 0.0, "electrical_power": out.input_kw, "heat_output_power": max(out.heat_kw, 0.0),
            "operating_state": float(state), "electrical_energy": p.totals.elec_hp, "heat_energy": max(heat_kwh, 0.0),
            "secondary_return_temp": cyl.secondary_return_c if cyl else None,
            "room_temp_1": p.building.air_c, "room_temp_2": p.building.air_c,
            "flow_setpoint_active": flow_sp, "compressor_running": float(running),
            "defrost_active": float(out.defrosting), "immersion_active": float(p.immersion_on),
            "alarm": 0.0, "bms_control": float(c.bms_control), "enable": float(c.enable),
            "flow_setpoint": c.flow_setpoint_c, "dhw_setpoint": c.dhw_setpoint_c, "heartbeat": float(c.heartbeat),
            "dhw_mode": float(c.dhw_mode), "immersion_enable": float(c.immersion_enable),
        }

    def setting(self, name: str) -> float | None:
        """The present value of a writable point (what a read-back would give)."""
        c = self.plant.controls[self.hp_id]
        if name == "flow_setpoint":
            return c.flow_setpoint_c
        if name == "dhw_setpoint":
            return c.dhw_setpoint_c
        if name == "heartbeat":
            return float(c.heartbeat)
        flag = {"bms_control": c.bms_control, "enable": c.enable, "dhw_mode": c.dhw_mode,
                "immersion_enable": c.immersion_enable}.get(name)
        return None if flag is None else float(flag)

    def write(self, name: str, value: float) -> None:
        c = self.plant.controls[self.hp_id]
        if name == "bms_control":
            c.bms_control = bool(value)
        elif name == "enable":
            c.enable = bool(value)
        elif name == "flow_setpoint":
            c.flow_setpoint_c = value
        elif name == "dhw_setpoint":
            c.dhw_setpoint_c = value
        elif name == "heartbeat":
            if int(value) != c.heartbeat or c.heartbeat_at_s is None:
                c.heartbeat_at_s = self.plant.t_s
            c.heartbeat = int(value)
        elif name == "dhw_mode":
            c.dhw_mode = bool(value)
        elif name == "immersion_enable":
            c.immersion_enable = bool(value)
            if self.hp_id == self.plant.dhw_heat_pump:
                self.plant.immersion_on = bool(value)
        else:
            raise KeyError(f"point {name!r} is not writable on this plant")


class IoModulePoints:
    """A plant-room I/O module: relays for the boilers and immersion wired to it, and its watchdog.

    When the watchdog counter stops changing for `watchdog_s` every relay is released: the boilers return
    to their local enable (firing on their own thermostat) and the immersion contactor drops out.
    """

    def __init__(self, plant: Plant, io_id: str, watchdog_s: float | None = None) -> None:
        self.plant = plant
        self.io_id = io_id
        self.watchdog_s = watchdog_s
        self.boilers = [b.id for b in plant.site.boilers if b.enable_device == io_id and b.id in plant.boilers]
        cyl = plant.cylinder
        self.immersion = bool(cyl and cyl.config.immersion and cyl.config.immersion.device == io_id)
        self.relays = {"boiler_enable": False, "immersion_enable": False, "relay_3": False, "relay_4": False}
        self.analog = {"analog_out_1": 0.0, "analog_out_2": 0.0}
        self.watchdog = 0
        self.watchdog_at_s: float | None = None
        plant.io_modules[io_id] = self

    @property
    def released(self) -> bool:
        return (self.watchdog_at_s is not None and self.watchdog_s is not None
                and self.plant.t_s - self.watchdog_at_s > self.watchdog_s)

    def apply(self) -> None:
        """Drive the plant from the relays (or release it)."""
        released = self.released
        for bid in self.boilers:
            self.plant.boiler_local[bid] = released
            self.plant.boiler_enable[bid] = self.relays["boiler_enable"] and not released
        if self.immersion:
            self.plant.immersion_on = self.relays["immersion_enable"] and not released

    def values(self) -> Mapping[str, float | None]:
        return {**{k: float(v) for k, v in self.relays.items()}, **self.analog,
                "input_1": float(any(self.plant.boiler_firing.get(b, False) for b in self.boilers)),
                "input_2": float(self.plant.immersion_on), "input_3": 0.0, "input_4": 0.0,
                "watchdog": float(self.watchdog)}

    def setting(self, name: str) -> float | None:
        """The present value of a writable point."""
        if name in self.relays:
            return float(self.relays[name])
        if name == "watchdog":
            return float(self.watchdog)
        return self.analog.get(name)

    def write(self, name: str, value: float) -> None:
        if name in self.relays:
            self.relays[name] = bool(value)
        elif name in self.analog:
            self.analog[name] = value
        elif name == "watchdog":
            if int(value) != self.watchdog or self.watchdog_at_s is None:
                self.watchdog_at_s = self.plant.t_s
            self.watchdog = int(value)
        else:
            raise KeyError(f"point {name!r} is not writable on this I/O module")
        self.apply()
