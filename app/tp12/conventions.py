"""Which reading of the method the model follows: the HEM-TP-12 paper (default) or HEM v0.24's code.

HEM v0.24 (the reference code published with TP-12 v1.0) departs from the paper in two places that
reach the numbers; the model follows the paper and can reproduce HEM for comparison:

``LRMIN_FORMULA`` — minimum modulation rate of a modulating heat pump with 55 °C test data.
    TP-12 §4.3: interpolate linearly in flow temperature between the rate at the low temperature
    (35 °C liquid sink, 20 °C air sink) and the rate at 55 °C, holding the end values outside.
    HEM compares the flow temperature in kelvin with the 35/55 °C limits and misplaces a bracket,
    giving the constant ``rate_low − 0.95·rate_55`` (negative for usual rates), so the unit never
    cycles: on/off mode, the inertia power (eq. 17), the off-cycle energy (eq. 23) and the compressor
    power at minimum load (eq. 16) all change.

``ANCILLARY_OFF_TERM`` — off part of the on/off cycle (TP-12 §6.1, eq. 23).
    TP-12: t_off = t_ci − Σ t_higher-priority − LR/LR_cont,min · t_ci, at least zero. HEM starts from the
    time left after all services have run and subtracts the service's running time again, so the
    off-cycle energy of an on/off unit is understated, and is zero whenever LR ≥ 0.5. This reaches the
    compressor energy input and every total that contains it.

Every other convention of HEM v0.24 is also the paper's or fills a gap the paper leaves open, and the
model follows it in both modes: minimum lift 6 K at operating conditions only; COP floor 1 on the
exergetic path only; Cdh within [0.9, 1] for liquid sinks and hot water and [0, 0.25] for warm-air
space heating; exergetic load ratio floored at 1 and efficiency extrapolated beyond the last record;
clamped interpolation between design flow temperatures; the lower operating limit inclusive; backup
delay elapsed when the continuous running time reaches it; the eq. 19 divisor applied to the hot-water
service of an air-sink unit only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Conventions:
    """Which HEM v0.24 departures from the paper to reproduce; the default reproduces none (TP-12)."""

    hem_lrmin_formula: bool = False
    hem_ancillary_off_term: bool = False

    @classmethod
    def reproducing(cls, *departures: str) -> Conventions:
        """Conventions reproducing the named departures (keys of :data:`DEPARTURES`)."""
        unknown = set(departures) - set(DEPARTURE_SWITCHES)
        if unknown:
            raise ValueError(f"unknown departure(s) {sorted(unknown)}; known: {sorted(DEPARTURE_SWITCHES)}")
        return cls(**{DEPARTURE_SWITCHES[d]: True for d in departures})


DEPARTURE_SWITCHES = {"LRMIN_FORMULA": "hem_lrmin_formula", "ANCILLARY_OFF_TERM": "hem_ancillary_off_term"}
TP12 = Conventions()
HEM_V024 = Conventions(hem_lrmin_formula=True, hem_ancillary_off_term=True)

# Names of the departures, as the reference vectors flag them, with the output quantities each reaches.
DEPARTURES: dict[str, tuple[str, ...]] = {
    "LRMIN_FORMULA": (
        "load_ratio_continuous_min",
        "hp_operating_in_onoff_mode",
        "compressor_power_min_load_kW",
        "energy_input_HP_divisor",
        "energy_input_HP_at_demand_kWh",
        "energy_input_HP_ancillary_off_kWh",
        "energy_input_HP_kWh",
        "energy_input_total_kWh",
        "elec_supply_by_connection_kWh",
        "heat_network_extracted_kWh",
    ),
    "ANCILLARY_OFF_TERM": (
        "energy_input_HP_ancillary_off_kWh",
        "energy_input_HP_kWh",
        "energy_input_total_kWh",
        "elec_supply_by_connection_kWh",
        "heat_network_extracted_kWh",
    ),
}
