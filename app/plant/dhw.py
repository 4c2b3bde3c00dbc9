"""The DHW cylinder: stratified nodes, standing and secondary-circulation losses, draw-off, coil and immersion.

Nodes are stacked top (0) to bottom; hot water leaves the top and mains water enters the bottom (plug
flow); a node warmer than the one above it mixes with it (buoyancy). The heating coil sits in the bottom
half, the immersion heater at the bottom, so both heat the whole store as it convects. Energies in kWh,
powers in kW, temperatures in °C.
"""

from __future__ import annotations

import math

from app.config import CylinderConfig

WATER_KWH_PER_L_K = 4.186 / 3600
NODES = 4
AMBIENT_C = 18.0               # plant room
COIL_U_KW_PER_M2_K = 0.5       # smooth-tube coil in stored water (natural convection)
SECONDARY_UA_KW_PER_K = 0.025  # insulated secondary circulation loop of a school (~1 kW at 60 °C)
SECONDARY_MCP_KW_PER_K = 0.2   # its pump: ~5 K drop round the loop at 60 °C
IMMERSION_CUTOUT_C = 70.0      # the immersion's own thermostat

# Hourly share of a day's draw-off (local time), by building use.
DRAW_PROFILES: dict[str, dict[int, float]] = {
    "school": {8: 0.05, 9: 0.08, 10: 0.12, 11: 0.15, 12: 0.22, 13: 0.15, 14: 0.10, 15: 0.08, 16: 0.05},
    "office": {8: 0.10, 9: 0.10, 10: 0.10, 11: 0.10, 12: 0.20, 13: 0.15, 14: 0.10, 15: 0.08, 16: 0.07},
    "care_home": {7: 0.12, 8: 0.14, 9: 0.10, 10: 0.06, 11: 0.05, 12: 0.08, 13: 0.06, 14: 0.04, 15: 0.04,
                  16: 0.05, 17: 0.08, 18: 0.07, 19: 0.06, 20: 0.05},
    "dwelling": {6: 0.08, 7: 0.20, 8: 0.12, 9: 0.05, 12: 0.05, 13: 0.05, 17: 0.10, 18: 0.15, 19: 0.12, 20: 0.08},
}
DRAW_EVERY_DAY = frozenset({"care_home", "dwelling"})


def standing_loss_kw_per_k(volume_l: float) -> float:
    """Standing loss coefficient from the ErP class C limit S = 16.66 + 8.33·V^0.4 W at a 45 K difference."""
    return (16.66 + 8.33 * volume_l**0.4) / 45.0 / 1000.0


class Cylinder:
    """A stratified DHW store with its flows accounted for every step."""

    def __init__(self, config: CylinderConfig, initial_c: float = 55.0) -> None:
        self.config = config
        self.node_l = config.volume_l / NODES
        self.node_kwh_per_k = self.node_l * WATER_KWH_PER_L_K
        self.temps = [initial_c] * NODES
        self.ua_node = standing_loss_kw_per_k(config.volume_l) / NODES
        self.coil_ua = COIL_U_KW_PER_M2_K * config.coil_area_m2
        self.immersion_kw = config.immersion.power_kw if config.immersion else 0.0
        n = len(config.sensors)
        self.sensor_nodes = [round(i * (NODES - 1) / (n - 1)) if n > 1 else 0 for i in range(n)]
        self.secondary = config.secondary_return_sensor
        # last step, kW: heat in by coil and immersion; losses; draw-off enthalpy above the cold feed
        self.coil_kw = self.immersion_in_kw = self.standing_kw = self.secondary_kw = self.draw_kw = 0.0

    @property
    def coil_c(self) -> float:
        """Water temperature around the coil (the lower half)."""
        return 0.5 * (self.temps[NODES // 2] + self.temps[NODES - 1])

    def coil_limit_kw(self, primary_c: float, primary_mcp: float) -> float:
        """Heat the coil passes from primary water entering at `primary_c` (effectiveness–NTU, counterflow-like)."""
        if primary_c <= self.coil_c:
            return 0.0
        effectiveness = 1.0 - math.exp(-self.coil_ua / primary_mcp)
        return effectiveness * primary_mcp * (primary_c - self.coil_c)

    def stored_kwh(self) -> float:
        """Heat stored above 0 °C."""
        return self.node_kwh_per_k * sum(self.temps)

    def step(self, dt_s: float, coil_kw: float, immersion_on: bool, draw_l: float, cold_c: float) -> None:
        """Advance `dt_s`: coil heat in, immersion, draw `draw_l` litres, standing and secondary losses."""
        t = self.temps
        h = dt_s / 3600.0
        cap = self.node_kwh_per_k
        immersion = self.immersion_kw if immersion_on and t[-1] < IMMERSION_CUTOUT_C else 0.0
        standing = 0.0
        for i in range(NODES):
            loss = self.ua_node * (t[i] - AMBIENT_C)
            standing += loss
            t[i] -= loss * h / cap
        secondary = SECONDARY_UA_KW_PER_K * (t[0] - AMBIENT_C) if self.secondary else 0.0
        t[0] -= secondary * h / cap
        half = NODES // 2
        share = coil_kw / (NODES - half)
        for i in range(half, NODES):
            t[i] += share * h / cap
        t[-1] += immersion * h / cap
        draw_kwh = 0.0
        if draw_l > 0.0:
            draw_kwh = draw_l * WATER_KWH_PER_L_K * (t[0] - cold_c)
            self._plug_flow(draw_l, cold_c)
        self._mix()
        self.coil_kw, self.immersion_in_kw = coil_kw, immersion
        self.standing_kw, self.secondary_kw, self.draw_kw = standing, secondary, draw_kwh / h

    def _plug_flow(self, litres: float, cold_c: float) -> None:
        t = self.temps
        while litres > 1e-9:
            part = min(litres, self.node_l)
            f = part / self.node_l
            for i in range(NODES - 1):
                t[i] += f * (t[i + 1] - t[i])
            t[-1] += f * (cold_c - t[-1])
            litres -= part

    def _mix(self) -> None:
        """Buoyancy: merge inverted layers into their mean (pool adjacent violators; energy is conserved)."""
        t = self.temps
        if all(t[i] >= t[i + 1] for i in range(NODES - 1)):
            return
        blocks: list[tuple[float, int]] = []
        for value in t:
            total, count = value, 1
            while blocks and blocks[-1][0] * count < total * blocks[-1][1]:
                above, n = blocks.pop()
                total, count = total + above, count + n
            blocks.append((total, count))
        i = 0
        for total, count in blocks:
            for _ in range(count):
                t[i] = total / count
                i += 1

    def sensor(self, index: int) -> float:
        return self.temps[self.sensor_nodes[index]]

    @property
    def secondary_return_c(self) -> float:
        return self.temps[0] - self.secondary_kw / SECONDARY_MCP_KW_PER_K
