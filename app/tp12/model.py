"""The TP-12 heat pump model: one heat pump, its services, timesteps in, energies out — and fast predictions.

:class:`HeatPumpModel` joins the pure functions of :mod:`~app.tp12.performance` and
:mod:`~app.tp12.operation` into HEM-TP-12's sequence for each timestep: source temperature, then for
each service in priority order (hot water before space heating) the performance at operating
conditions, running time and load ratio, energy delivered and driving energy, backup heater; then the
off-cycle (ancillary) and standby/crankcase/off-mode (auxiliary) energy and the continuous running
time carried to the next timestep.

Everything is vectorised over timesteps. :meth:`HeatPumpModel.run` takes arrays of conditions and
demands for a whole period and returns arrays; the only state that links timesteps is the continuous
running time (:class:`HeatPumpState`), which does not feed back into running times, so a year is
computed in one pass. :meth:`HeatPumpModel.step` is the same computation for one timestep with the
state carried explicitly, and gives bit-identical numbers.

Prediction API for controllers (the hybrid crossover calls these every cycle)::

    hp = HeatPumpModel.from_keymark("Vaillant", "VWL 105/5 AS + VWL 127/5 IS", modulating_control=True,
                                    min_modulation_rate_35=0.3, min_modulation_rate_55=0.35)
    hp.cop(temp_outdoor_C=[-3, 7], temp_flow_C=45.0, emitter_delta_t_K=5.0)      # steady-state COP
    hp.cop(7.0, 35.0, load_ratio=0.3)      # effective COP over an hour at 30 % load (cycling losses)
    hp.capacity_kw(-3.0, 45.0)             # maximum heat output, kW

and for the plant simulation, one timestep of space heating plus hot water::

    result, state = hp.step(Conditions(temp_ext_C=2.0),
                            [HotWaterDemand(1.5, 55.0, 55.0, 10.0), SpaceHeatingDemand(4.0, 45.0, 40.0)],
                            timestep_h=0.5, state=state)

The model follows the TP-12 paper where HEM v0.24 departs from it; ``conventions=HEM_V024``
reproduces HEM v0.24 instead (see :mod:`app.tp12.conventions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import StrEnum

import numpy as np

from app.tp12 import operation as op
from app.tp12 import performance as perf
from app.tp12.conventions import TP12, Conventions
from app.tp12.records import BackupCtrlType, En14825Record, HeatPumpSpec, SinkType, SourceType
from app.tp12.testdata import C_TO_K, TestDataError, interpolate_air_flow_rate, prepare_test_data

ArrayLike = float | bool | Sequence[float] | np.ndarray
EXHAUST_AIR_TEMP_C = 20.0  # TP-12 §2.1: exhaust-air source when no internal temperature is given


class ServiceKind(StrEnum):
    SPACE = "space"
    WATER = "water"
    WARM_AIR = "warm_air"


@dataclass(frozen=True)
class SpaceHeatingDemand:
    """Space heating through wet emitters: demand and flow/return temperatures (TP-12 §1.2)."""

    energy_demand_kWh: ArrayLike
    temp_flow_C: ArrayLike
    temp_return_C: ArrayLike
    temp_diff_emit_dsgn_K: ArrayLike = 5.0
    temp_limit_upper_C: ArrayLike = 65.0
    service_on: ArrayLike = True
    kind = ServiceKind.SPACE


@dataclass(frozen=True)
class HotWaterDemand:
    """Hot water (cylinder reheat): demand, hot water and return-feed temperatures (TP-12 §1.1)."""

    energy_demand_kWh: ArrayLike
    temp_hot_water_C: ArrayLike
    temp_return_feed_C: ArrayLike
    temp_cold_water_C: ArrayLike
    temp_limit_upper_C: ArrayLike = 65.0
    service_on: ArrayLike = True
    kind = ServiceKind.WATER


@dataclass(frozen=True)
class WarmAirDemand:
    """Warm-air space heating (air-sink heat pump) at the lowest test flow temperature (TP-12 §1.2)."""

    energy_demand_kWh: ArrayLike
    service_on: ArrayLike = True
    kind = ServiceKind.WARM_AIR


ServiceDemand = SpaceHeatingDemand | HotWaterDemand | WarmAirDemand


@dataclass(frozen=True)
class Conditions:
    """Weather (and, where the source needs them, indoor and average temperatures) per timestep.

    ``cost_hp_per_kWh``, ``cost_boiler_per_kWh`` and ``boiler_efficiency`` turn on the hybrid test:
    where the heat pump is not cost-effective the backup (the boiler, rated ``power_max_backup``)
    serves the demand instead.
    """

    temp_ext_C: ArrayLike
    temp_internal_C: ArrayLike = EXHAUST_AIR_TEMP_C
    temp_ext_annual_C: ArrayLike | None = None
    temp_ext_monthly_C: ArrayLike | None = None
    cost_hp_per_kWh: ArrayLike | None = None
    cost_boiler_per_kWh: ArrayLike | None = None
    boiler_efficiency: ArrayLike | None = None


@dataclass(frozen=True)
class HeatPumpState:
    """What one timestep hands to the next: continuous full-load running time, h (backup delay)."""

    time_running_continuous_h: float = 0.0


@dataclass(frozen=True)
class OperatingPoint:
    """Performance at operating conditions (TP-12 §2), arrays over the operating points."""

    temp_source_K: np.ndarray
    temp_output_K: np.ndarray
    cop_branch: str
    capacity_branch: str
    cop_op_cond: np.ndarray
    thermal_capacity_op_cond_kW: np.ndarray
    deg_coeff_op_cond: np.ndarray
    temp_spread_correction_factor: np.ndarray
    carnot_cop_op_cond: np.ndarray | None = None
    exergetic_load_ratio: np.ndarray | None = None
    exergetic_efficiency: np.ndarray | None = None
    lr_below: np.ndarray | None = None
    lr_above: np.ndarray | None = None
    eff_below: np.ndarray | None = None
    eff_above: np.ndarray | None = None
    deg_coeff_below: np.ndarray | None = None
    deg_coeff_above: np.ndarray | None = None
    cop_regression_uncorrected: np.ndarray | None = None
    temp_ext_used_in_regression_K: np.ndarray | None = None


@dataclass(frozen=True)
class ServiceResult(OperatingPoint):
    """One service over the timesteps: performance, running time, energies (names as in TP-12 outputs).

    ``energy_input_HP_divisor`` is NaN where no on/off divisor applies.
    """

    service: str = ""
    energy_output_max_kWh: np.ndarray | None = None
    load_ratio_continuous_min: np.ndarray | None = None
    time_running_h: np.ndarray | None = None
    load_ratio: np.ndarray | None = None
    hp_operating_in_onoff_mode: np.ndarray | None = None
    use_backup_heater_only: np.ndarray | None = None
    hp_cost_effective: np.ndarray | None = None
    compressor_power_min_load_kW: np.ndarray | None = None
    energy_input_HP_divisor: np.ndarray | None = None
    energy_delivered_HP_kWh: np.ndarray | None = None
    energy_delivered_backup_kWh: np.ndarray | None = None
    energy_delivered_total_kWh: np.ndarray | None = None
    energy_input_HP_at_demand_kWh: np.ndarray | None = None
    energy_input_HP_ancillary_off_kWh: np.ndarray | None = None
    energy_input_HP_kWh: np.ndarray | None = None
    energy_input_backup_kWh: np.ndarray | None = None
    energy_heating_circ_pump_kWh: np.ndarray | None = None
    energy_source_circ_pump_kWh: np.ndarray | None = None
    energy_input_total_kWh: np.ndarray | None = None
    energy_extracted_from_source_kWh: np.ndarray | None = None

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class RunResult:
    """All services over the timesteps, plus the heat pump's own (auxiliary) energy."""

    services: list[ServiceResult]
    energy_standby_kWh: np.ndarray
    energy_crankcase_heater_mode_kWh: np.ndarray
    energy_off_mode_kWh: np.ndarray
    time_running_continuous_before_h: np.ndarray
    time_running_continuous_after_h: np.ndarray

    @property
    def energy_auxiliary_kWh(self) -> np.ndarray:
        return self.energy_standby_kWh + self.energy_crankcase_heater_mode_kWh + self.energy_off_mode_kWh

    @property
    def energy_input_kWh(self) -> np.ndarray:
        """All electricity of the heat pump system: services (HP, backup, pumps) and auxiliary."""
        return sum((s.energy_input_total_kWh for s in self.services), self.energy_auxiliary_kWh)

    @property
    def energy_delivered_kWh(self) -> np.ndarray:
        return sum((s.energy_delivered_total_kWh for s in self.services), np.zeros_like(self.energy_standby_kWh))


@dataclass(frozen=True)
class _Service:
    """A service demand normalised to kelvin arrays of the run's length."""

    kind: ServiceKind
    name: str
    energy: np.ndarray
    temp_output_K: np.ndarray
    temp_return_feed_K: np.ndarray
    temp_scaling_K: np.ndarray
    temp_limit_upper_K: np.ndarray
    temp_spread_emitter_K: np.ndarray | None
    on: np.ndarray
    time_constant_s: float


@dataclass(frozen=True)
class _Stage:
    """A service after TP-12 §2–3: its operating point and running time in the timestep."""

    service: _Service
    energy_required: np.ndarray
    time_available: np.ndarray
    time_prior: np.ndarray  # running time of higher-priority services
    point: OperatingPoint
    time_running: np.ndarray


def _array(value: ArrayLike, n: int, what: str) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return np.full(n, float(a))
    if a.shape != (n,):
        raise ValueError(f"{what}: expected {n} values (one per timestep), got shape {a.shape}")
    return a


def _flags(value: ArrayLike, n: int, what: str) -> np.ndarray:
    a = np.asarray(value, dtype=bool)
    if a.ndim == 0:
        return np.full(n, bool(a))
    if a.shape != (n,):
        raise ValueError(f"{what}: expected {n} values (one per timestep), got shape {a.shape}")
    return a


def continuous_running_time(
    time_running_total_h: np.ndarray, timestep_h: float, initial_h: float
) -> tuple[np.ndarray, np.ndarray]:
    """Continuous full-load running time before and after each timestep, h (backup delay, TP-12 §5.1).

    It grows by the timestep while the heat pump runs the whole timestep and restarts from zero after
    any idle time. The sums are formed in the same order as adding one timestep at a time, so a
    whole-year array equals a step-by-step run bit for bit.
    """
    n = len(time_running_total_h)
    full = (timestep_h - time_running_total_h) == 0.0
    index = np.arange(n)
    last_idle = np.maximum.accumulate(np.where(full, -1, index))
    run_length = index - last_idle
    steps = np.full(n, float(timestep_h))
    from_zero = np.cumsum(steps)
    from_initial = np.cumsum(np.concatenate(([float(initial_h)], steps)))[1:]
    after = np.where(full, np.where(last_idle < 0, from_initial[run_length - 1], from_zero[run_length - 1]), 0.0)
    before = np.concatenate(([float(initial_h)], after[:-1]))
    return before, after


class HeatPumpModel:
    """An EN 14825-tested heat pump under the TP-12 method (see the module docstring for the API)."""

    def __init__(
        self,
        spec: HeatPumpSpec,
        *,
        throughput_exhaust_air_l_per_s: float | None = None,
        conventions: Conventions = TP12,
    ) -> None:
        records = spec.test_data
        if records is None:
            from app.tp12.keymark import keymark_records  # the packaged table is read only when asked for

            records = keymark_records(spec.keymark.manufacturer, spec.keymark.model, spec.source_type)
        self.spec = spec
        self.conventions = conventions
        self.overventilation_ratio = 1.0
        if spec.source_type.is_exhaust_air:
            if throughput_exhaust_air_l_per_s is None:
                raise TestDataError("an exhaust-air heat pump needs the ventilation throughput (l/s)")
            lowest, records = interpolate_air_flow_rate(records, throughput_exhaust_air_l_per_s)
            self.overventilation_ratio = op.overventilation_ratio(lowest, throughput_exhaust_air_l_per_s)
        elif any(r.air_flow_rate is not None for r in records):
            raise TestDataError("test_data: air_flow_rate is only for exhaust-air heat pumps")
        self.data = prepare_test_data(records)
        self._regression_path = (
            spec.source_type is not SourceType.OUTSIDE_AIR and not spec.var_flow_temp_ctrl_during_test
        )
        self._temp_diff_evaporator_K = (
            perf.TEMP_DIFF_EVAPORATOR_AIR_K if spec.source_type.fluid_is_air else perf.TEMP_DIFF_EVAPORATOR_LIQUID_K
        )
        self._rate_55: float | None = None
        if spec.modulating_control:
            if spec.sink_type is SinkType.AIR:
                self._temp_modulation_low_C, self._rate_low = 20.0, float(spec.min_modulation_rate_20)
            else:
                self._temp_modulation_low_C, self._rate_low = 35.0, float(spec.min_modulation_rate_35)
            if op.TEMP_MIN_MODULATION_HIGH_C in self.data.design_flow_temps_C:
                if spec.min_modulation_rate_55 is None:
                    raise TestDataError(
                        "min_modulation_rate_55 is required: test data at 55 °C are given for a modulating heat pump"
                    )
                self._rate_55 = float(spec.min_modulation_rate_55)
        if spec.sink_type is SinkType.AIR:
            first = float(self.data.design_flow_temps_C[0])
            self._warm_air_flow_C = first
            self._warm_air_spread_K = max(first / 7.0, float(self.data.temp_spread_test_K[0]))

    # --- construction helpers ------------------------------------------------------------------

    @classmethod
    def from_records(cls, records: Sequence[En14825Record | dict], **settings: object) -> HeatPumpModel:
        """A model from EN 14825 records (dicts or :class:`En14825Record`) and any HeatPumpSpec settings."""
        conventions = settings.pop("conventions", TP12)
        throughput = settings.pop("throughput_exhaust_air_l_per_s", None)
        spec = HeatPumpSpec.model_validate({**settings, "test_data": list(records)})
        return cls(spec, throughput_exhaust_air_l_per_s=throughput, conventions=conventions)

    @classmethod
    def from_keymark(cls, manufacturer: str, model: str, **settings: object) -> HeatPumpModel:
        """A model of a real product from the packaged Heat Pump Keymark EN 14825 data (CC-BY-4.0)."""
        from app.tp12.keymark import keymark_settings

        conventions = settings.pop("conventions", TP12)
        merged = {
            **keymark_settings(manufacturer, model),
            **settings,
            "keymark": {"manufacturer": manufacturer, "model": model},
        }
        return cls(HeatPumpSpec.model_validate(merged), conventions=conventions)

    # --- TP-12 §2: performance at operating conditions ------------------------------------------

    def source_temperature_K(self, conditions: Conditions, n: int) -> np.ndarray:
        """Source temperature at the evaporator per timestep, K (TP-12 §2.1)."""
        spec = self.spec
        source = spec.source_type
        temp_ext = _array(conditions.temp_ext_C, n, "temp_ext_C")
        if source is SourceType.OUTSIDE_AIR:
            temp_C = temp_ext
        elif source is SourceType.GROUND:
            temp_C = perf.ground_source_temperature_C(temp_ext)
        elif source in (SourceType.EXHAUST_AIR_MEV, SourceType.EXHAUST_AIR_MVHR):
            temp_C = _array(conditions.temp_internal_C, n, "temp_internal_C")
        elif source is SourceType.EXHAUST_AIR_MIXED:
            temp_C = perf.exhaust_air_mixed_source_temperature_C(
                temp_ext,
                _array(conditions.temp_internal_C, n, "temp_internal_C"),
                spec.eahp_mixed_ext_air_ratio,
                spec.eahp_mixed_max_temp,
                spec.eahp_mixed_min_temp,
            )
        elif source is SourceType.HEAT_NETWORK:
            temp_C = np.full(n, float(spec.temp_distribution_heat_network))
        else:
            average = (
                conditions.temp_ext_annual_C if source is SourceType.WATER_GROUND else conditions.temp_ext_monthly_C
            )
            if average is None:
                field = "temp_ext_annual_C" if source is SourceType.WATER_GROUND else "temp_ext_monthly_C"
                raise ValueError(f"a {source.value} source needs Conditions.{field}")
            temp_C = _array(average, n, "average air temperature")
        return temp_C + C_TO_K

    def operating_point(
        self,
        temp_source_K: np.ndarray,
        temp_output_K: np.ndarray,
        temp_ext_C: np.ndarray,
        kind: ServiceKind,
        temp_spread_emitter_K: np.ndarray | float | None,
    ) -> OperatingPoint:
        """COP, capacity and Cdh at operating conditions (TP-12 eqs. 2–11), arrays of equal length."""
        data = self.data
        weights = perf.flow_temp_weights(data, temp_output_K)
        if kind is ServiceKind.WATER or temp_spread_emitter_K is None:
            tsc = np.ones_like(temp_output_K)
        else:
            tsc = perf.temp_spread_correction(
                data,
                weights,
                temp_source_K,
                temp_output_K,
                self._temp_diff_evaporator_K,
                temp_spread_emitter_K,
            )
        if self._regression_path:
            uncorrected = perf.cop_regression(data, weights, temp_ext_C, temp_source_K, temp_output_K)
            return OperatingPoint(
                temp_source_K=temp_source_K,
                temp_output_K=temp_output_K,
                cop_branch="regression",
                capacity_branch="average_A_to_D",
                cop_op_cond=tsc * uncorrected,
                thermal_capacity_op_cond_kW=weights(data.average_capacity_kW) * np.ones_like(temp_output_K),
                deg_coeff_op_cond=weights(data.average_degradation_coeff) * np.ones_like(temp_output_K),
                temp_spread_correction_factor=tsc,
                cop_regression_uncorrected=uncorrected,
                temp_ext_used_in_regression_K=temp_ext_C + C_TO_K,
            )
        carnot = perf.operating_carnot_cop(temp_source_K, temp_output_K)
        scaling = perf.exergy_scaling(data, temp_source_K, temp_output_K)
        lr = perf.exergetic_load_ratio(data, weights, carnot, scaling)
        br = perf.load_ratio_brackets(data, weights, lr)
        efficiency = perf.interpolate_in_load_ratio(lr, br.lr_below, br.lr_above, br.eff_below, br.eff_above)
        if self.spec.sink_type is SinkType.AIR and kind is not ServiceKind.WATER:
            cdh_lower, cdh_upper = 0.0, 0.25
        else:
            cdh_lower, cdh_upper = 0.9, 1.0
        if self.spec.modulating_control:
            capacity_branch = "exergy_scaled_cld"
            capacity = perf.capacity_variable_speed(data, weights, scaling)
        else:
            capacity_branch = "lift_interp_cld_D"
            capacity = perf.capacity_fixed_speed(data, weights, temp_source_K, temp_output_K)
        return OperatingPoint(
            temp_source_K=temp_source_K,
            temp_output_K=temp_output_K,
            cop_branch="exergetic",
            capacity_branch=capacity_branch,
            cop_op_cond=np.maximum(1.0, efficiency * carnot * tsc),
            thermal_capacity_op_cond_kW=capacity,
            deg_coeff_op_cond=perf.degradation_coefficient(lr, br, cdh_lower, cdh_upper),
            temp_spread_correction_factor=tsc,
            carnot_cop_op_cond=carnot,
            exergetic_load_ratio=lr,
            exergetic_efficiency=efficiency,
            lr_below=br.lr_below,
            lr_above=br.lr_above,
            eff_below=br.eff_below,
            eff_above=br.eff_above,
            deg_coeff_below=br.deg_coeff_below,
            deg_coeff_above=br.deg_coeff_above,
        )

    def _capacity(self, temp_source_K: np.ndarray, temp_output_K: np.ndarray) -> np.ndarray:
        """Thermal capacity only (TP-12 §2.3), for the maximum-output figure."""
        weights = perf.flow_temp_weights(self.data, temp_output_K)
        if self._regression_path:
            return weights(self.data.average_capacity_kW) * np.ones_like(temp_output_K)
        if self.spec.modulating_control:
            scaling = perf.exergy_scaling(self.data, temp_source_K, temp_output_K)
            return perf.capacity_variable_speed(self.data, weights, scaling)
        return perf.capacity_fixed_speed(self.data, weights, temp_source_K, temp_output_K)

    # --- services --------------------------------------------------------------------------------

    def _normalise(self, demand: ServiceDemand, n: int) -> _Service:
        air_sink = self.spec.sink_type is SinkType.AIR
        energy = _array(demand.energy_demand_kWh, n, "energy_demand_kWh")
        on = _flags(demand.service_on, n, "service_on")
        if isinstance(demand, HotWaterDemand):
            return _Service(
                kind=ServiceKind.WATER,
                name="water",
                energy=energy,
                temp_output_K=_array(demand.temp_hot_water_C, n, "temp_hot_water_C") + C_TO_K,
                temp_return_feed_K=_array(demand.temp_return_feed_C, n, "temp_return_feed_C") + C_TO_K,
                temp_scaling_K=_array(demand.temp_cold_water_C, n, "temp_cold_water_C") + C_TO_K,
                temp_limit_upper_K=_array(demand.temp_limit_upper_C, n, "temp_limit_upper_C") + C_TO_K,
                temp_spread_emitter_K=None,
                on=on,
                time_constant_s=op.TIME_CONSTANT_WATER_S,
            )
        time_constant = op.TIME_CONSTANT_SPACE_AIR_S if air_sink else op.TIME_CONSTANT_SPACE_LIQUID_S
        if isinstance(demand, WarmAirDemand):
            if not air_sink:
                raise ValueError("warm-air space heating needs a heat pump with sink_type Air")
            flow_K = np.full(n, self._warm_air_flow_C + C_TO_K)
            return _Service(
                kind=ServiceKind.WARM_AIR,
                name="space",
                energy=energy,
                temp_output_K=flow_K,
                temp_return_feed_K=flow_K,
                temp_scaling_K=flow_K,
                temp_limit_upper_K=flow_K,
                temp_spread_emitter_K=np.full(n, self._warm_air_spread_K),
                on=on,
                time_constant_s=time_constant,
            )
        return_K = _array(demand.temp_return_C, n, "temp_return_C") + C_TO_K
        return _Service(
            kind=ServiceKind.SPACE,
            name="space",
            energy=energy,
            temp_output_K=_array(demand.temp_flow_C, n, "temp_flow_C") + C_TO_K,
            temp_return_feed_K=return_K,
            temp_scaling_K=return_K,
            temp_limit_upper_K=_array(demand.temp_limit_upper_C, n, "temp_limit_upper_C") + C_TO_K,
            temp_spread_emitter_K=_array(demand.temp_diff_emit_dsgn_K, n, "temp_diff_emit_dsgn_K"),
            on=on,
            time_constant_s=time_constant,
        )

    def _outside_operating_limits(self, temp_source_K: np.ndarray, temp_return_feed_K: np.ndarray) -> np.ndarray:
        """Source at or below the TOL, or (liquid sink) return above its maximum (TP-12 §5.1)."""
        below = temp_source_K <= self.spec.temp_lower_operating_limit + C_TO_K
        if self.spec.sink_type.is_liquid:
            return below | (temp_return_feed_K > self.spec.temp_return_feed_max + C_TO_K)
        return below

    def _energy_output_max(
        self,
        capacity_kW: np.ndarray,
        outside_limits: np.ndarray,
        time_available_h: np.ndarray,
        delay_elapsed: np.ndarray,
        service_on: np.ndarray,
        hp_cost_effective: np.ndarray | None,
    ) -> np.ndarray:
        """Most energy the heat pump (and backup heater, if available) can deliver in the time left, kWh.

        ``capacity_kW`` is the capacity at the requested flow temperature (before the upper-limit clamp).
        """
        power_hp = np.where(outside_limits, 0.0, capacity_kW)
        backup = self.spec.power_max_backup
        if self.spec.backup_ctrl_type is BackupCtrlType.TOPUP:
            power = np.where(delay_elapsed, power_hp + backup, power_hp)
        elif self.spec.backup_ctrl_type is BackupCtrlType.SUBSTITUTE:
            power = np.where(delay_elapsed, np.maximum(power_hp, backup), power_hp)
        else:
            power = power_hp
        if hp_cost_effective is not None:
            power = np.where(hp_cost_effective, power, backup)
        return np.where(service_on, power * time_available_h, 0.0)

    # --- TP-12 §3–§6: a period of timesteps ----------------------------------------------------

    def run(
        self,
        conditions: Conditions,
        services: Sequence[ServiceDemand],
        timestep_h: float,
        state: HeatPumpState | None = None,
    ) -> tuple[RunResult, HeatPumpState]:
        """Run the services (in priority order) over the timesteps of ``conditions``: arrays in and out."""
        spec = self.spec
        state = state or HeatPumpState()
        temp_ext_C = np.atleast_1d(np.asarray(conditions.temp_ext_C, dtype=float))
        n = len(temp_ext_C)
        temp_source_K = self.source_temperature_K(conditions, n)
        tariffs = None
        if conditions.cost_hp_per_kWh is not None:
            tariffs = (
                _array(conditions.cost_hp_per_kWh, n, "cost_hp_per_kWh"),
                _array(conditions.cost_boiler_per_kWh, n, "cost_boiler_per_kWh"),
                _array(conditions.boiler_efficiency, n, "boiler_efficiency"),
            )

        # TP-12 §2–3 for each service in priority order: performance and running time (no state needed).
        stages: list[_Stage] = []
        time_prior = np.zeros(n)
        for demand in services:
            stage = self._stage(self._normalise(demand, n), temp_source_K, temp_ext_C, timestep_h, time_prior)
            stages.append(stage)
            time_prior = time_prior + stage.time_running
        time_running_total = time_prior
        continuous_before, continuous_after = continuous_running_time(
            time_running_total, timestep_h, state.time_running_continuous_h
        )
        if spec.backup_ctrl_type is BackupCtrlType.NONE:
            delay_elapsed = np.zeros(n, dtype=bool)
        else:
            delay_elapsed = continuous_before >= spec.time_delay_backup

        # TP-12 §4–6.1: energies of each service, knowing which services run after it.
        time_later = [np.zeros(n)] * len(stages)
        for i in range(len(stages) - 2, -1, -1):
            time_later[i] = time_later[i + 1] + stages[i + 1].time_running
        results = [
            self._energies(stage, later, temp_source_K, timestep_h, delay_elapsed, tariffs)
            for stage, later in zip(stages, time_later, strict=True)
        ]

        # TP-12 §6.2: standby, crankcase heater and off mode (eqs. 24–26), per the last service of each kind.
        heating_on = np.zeros(n, dtype=bool)
        water_on = np.zeros(n, dtype=bool)
        for stage in stages:
            if stage.service.kind is ServiceKind.WATER:
                water_on = stage.service.on
            else:
                heating_on = stage.service.on
        standby, crankcase, off = op.energy_standby_crankcase_off(
            timestep_h - time_running_total,
            timestep_h,
            heating_on,
            water_on,
            spec.power_standby,
            spec.power_crankcase_heater,
            spec.power_off,
        )
        result = RunResult(
            services=results,
            energy_standby_kWh=standby,
            energy_crankcase_heater_mode_kWh=crankcase,
            energy_off_mode_kWh=off,
            time_running_continuous_before_h=continuous_before,
            time_running_continuous_after_h=continuous_after,
        )
        return result, HeatPumpState(float(continuous_after[-1]) if n else state.time_running_continuous_h)

    def _stage(
        self,
        s: _Service,
        temp_source_K: np.ndarray,
        temp_ext_C: np.ndarray,
        timestep_h: float,
        time_prior: np.ndarray,
    ) -> _Stage:
        """Performance and running time of one service (TP-12 §2, §3 and the upper limit of §5.1)."""
        energy_required = np.where(s.on, s.energy, 0.0)
        time_available = timestep_h - time_prior
        limited = op.energy_output_limited(
            energy_required,
            s.temp_output_K,
            s.temp_scaling_K,
            s.temp_limit_upper_K,
            self.spec.min_temp_diff_flow_return_for_hp_to_operate,
        )
        temp_output_K = np.minimum(s.temp_output_K, s.temp_limit_upper_K)
        point = self.operating_point(temp_source_K, temp_output_K, temp_ext_C, s.kind, s.temp_spread_emitter_K)
        time_running = op.running_time(limited, point.thermal_capacity_op_cond_kW, time_available)
        return _Stage(s, energy_required, time_available, time_prior, point, time_running)

    def _energies(
        self,
        stage: _Stage,
        time_later: np.ndarray,
        temp_source_K: np.ndarray,
        timestep_h: float,
        delay_elapsed: np.ndarray,
        tariffs: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> ServiceResult:
        """Energy delivered and consumed by one service (TP-12 §4, §5, §6.1; eqs. 13–23)."""
        spec = self.spec
        s, point, time_running = stage.service, stage.point, stage.time_running
        n = len(time_running)
        capacity = point.thermal_capacity_op_cond_kW
        cop = point.cop_op_cond
        air_sink = spec.sink_type is SinkType.AIR

        load_ratio = time_running / timestep_h
        if spec.modulating_control:
            lr_min = op.min_load_ratio_continuous(
                point.temp_output_K,
                self._rate_low,
                self._temp_modulation_low_C,
                self._rate_55,
                self.conventions.hem_lrmin_formula,
            )
        else:
            lr_min = np.ones(n)  # an on/off heat pump cannot modulate below full power
        onoff = (load_ratio > 0.0) & (load_ratio < lr_min)
        power_full = op.compressor_power_full_load(capacity, cop)
        power_min = op.compressor_power_min_load(power_full, lr_min)
        inertia = op.power_inertia(power_min, load_ratio, lr_min, spec.time_constant_onoff_operation, s.time_constant_s)

        # TP-12 §5.1: when the backup heater (or, in a hybrid, the boiler) serves instead of the compressor.
        cost_effective = None if tariffs is None else op.heat_pump_cost_effective(cop, *tariffs)
        outside = self._outside_operating_limits(temp_source_K, s.temp_return_feed_K)
        if spec.backup_ctrl_type is BackupCtrlType.NONE:
            backup_only = np.zeros(n, dtype=bool)
            backup_available = np.zeros(n, dtype=bool)
        else:
            backup_only = outside
            if spec.backup_ctrl_type is BackupCtrlType.SUBSTITUTE:
                inadequate = delay_elapsed & (stage.energy_required > capacity * timestep_h)
                backup_only = backup_only | (inadequate & (spec.power_max_backup > capacity))
            backup_available = delay_elapsed & s.on
        if cost_effective is not None:
            backup_only = backup_only | ~cost_effective
            backup_available = backup_available | (s.on & ~cost_effective)
        hp_runs = s.on & ~backup_only

        # TP-12 §4: delivered (eq. 13) and driving energy, continuous (eq. 14) or on/off (eqs. 15–19).
        delivered_hp = np.where(hp_runs, capacity * time_running, 0.0)
        if s.kind is ServiceKind.WATER and air_sink:
            divisor = op.warm_air_divisor(point.deg_coeff_op_cond, load_ratio, lr_min)
        else:
            divisor = np.ones(n)
        input_onoff = op.energy_input_onoff(power_full, inertia, time_running, divisor)
        input_at_demand = np.where(hp_runs, np.where(onoff, input_onoff, delivered_hp / cop), 0.0)
        cycling = hp_runs & onoff

        # TP-12 §6.1: off-cycle energy of the lowest-priority service that ran (eq. 23).
        applies = s.on & (time_running > 0.0) & ~(time_later > 0.0)
        if air_sink and s.kind is ServiceKind.WATER:
            applies = np.zeros(n, dtype=bool)
        time_off = op.off_cycle_time(
            timestep_h, stage.time_prior, time_running, load_ratio, lr_min, self.conventions.hem_ancillary_off_term
        )
        ancillary = op.energy_ancillary_off(point.deg_coeff_op_cond, power_full, time_off)
        ancillary_added = np.where(applies & cycling, ancillary / divisor, 0.0)
        input_hp = input_at_demand + ancillary_added

        # TP-12 §5.2: backup heater output (eqs. 20–22), COP 1.
        delivered_backup = np.where(
            backup_available,
            op.energy_backup(stage.energy_required, delivered_hp, spec.power_max_backup, stage.time_available),
            0.0,
        )
        clamped = s.temp_output_K > s.temp_limit_upper_K
        capacity_requested = capacity
        if clamped.any():
            capacity_requested = np.where(clamped, self._capacity(temp_source_K, s.temp_output_K), capacity)
        heating_pump = time_running * spec.power_heating_circ_pump
        source_pump = time_running * spec.power_source_circ_pump
        return ServiceResult(
            **{f.name: getattr(point, f.name) for f in fields(OperatingPoint)},
            service=s.kind.value,
            energy_output_max_kWh=self._energy_output_max(
                capacity_requested, outside, stage.time_available, delay_elapsed, s.on, cost_effective
            ),
            load_ratio_continuous_min=lr_min,
            time_running_h=time_running,
            load_ratio=load_ratio,
            hp_operating_in_onoff_mode=onoff,
            use_backup_heater_only=backup_only,
            hp_cost_effective=cost_effective,
            compressor_power_min_load_kW=power_min,
            energy_input_HP_divisor=np.where(cycling, divisor, np.nan),
            energy_delivered_HP_kWh=delivered_hp,
            energy_delivered_backup_kWh=delivered_backup,
            energy_delivered_total_kWh=delivered_hp + delivered_backup,
            energy_input_HP_at_demand_kWh=input_at_demand,
            energy_input_HP_ancillary_off_kWh=ancillary_added,
            energy_input_HP_kWh=input_hp,
            energy_input_backup_kWh=delivered_backup,
            energy_heating_circ_pump_kWh=heating_pump,
            energy_source_circ_pump_kWh=source_pump,
            energy_input_total_kWh=input_hp + delivered_backup + heating_pump + source_pump,
            energy_extracted_from_source_kWh=delivered_hp - input_hp,
        )

    def step(
        self,
        conditions: Conditions,
        services: Sequence[ServiceDemand],
        timestep_h: float,
        state: HeatPumpState,
    ) -> tuple[RunResult, HeatPumpState]:
        """One timestep: scalar conditions and demands, the state carried in and out explicitly."""
        if np.ndim(conditions.temp_ext_C) != 0:
            raise ValueError(f"step() takes one timestep; temp_ext_C has shape {np.shape(conditions.temp_ext_C)}")
        return self.run(conditions, services, timestep_h, state)

    # --- prediction API ------------------------------------------------------------------------

    def _predict(
        self,
        temp_outdoor_C: ArrayLike,
        temp_flow_C: ArrayLike,
        emitter_delta_t_K: ArrayLike,
        temp_internal_C: ArrayLike,
        load_ratio: ArrayLike = 1.0,
        kind: ServiceKind = ServiceKind.SPACE,
    ) -> tuple[OperatingPoint, Conditions, np.ndarray, tuple[int, ...]]:
        """Operating point at broadcast query inputs, flattened; also the conditions, load ratios, shape."""
        arrays = np.broadcast_arrays(
            *(
                np.asarray(a, dtype=float)
                for a in (temp_outdoor_C, temp_flow_C, emitter_delta_t_K, temp_internal_C, load_ratio)
            )
        )
        outdoor, flow, delta, internal, lr = (np.ravel(a) for a in arrays)
        conditions = Conditions(
            temp_ext_C=outdoor, temp_internal_C=internal, temp_ext_annual_C=outdoor, temp_ext_monthly_C=outdoor
        )
        temp_source_K = self.source_temperature_K(conditions, len(outdoor))
        point = self.operating_point(temp_source_K, flow + C_TO_K, outdoor, kind, delta)
        return point, conditions, lr, arrays[0].shape

    def performance(
        self,
        temp_outdoor_C: ArrayLike,
        temp_flow_C: ArrayLike,
        emitter_delta_t_K: ArrayLike = 5.0,
        *,
        temp_internal_C: ArrayLike = EXHAUST_AIR_TEMP_C,
        hot_water: bool = False,
    ) -> OperatingPoint:
        """Full-load performance (TP-12 §2) at outdoor and flow temperatures, flattened arrays.

        Water-source heat pumps take the outdoor temperature as their annual/monthly average here.
        """
        kind = ServiceKind.WATER if hot_water else ServiceKind.SPACE
        return self._predict(temp_outdoor_C, temp_flow_C, emitter_delta_t_K, temp_internal_C, kind=kind)[0]

    def capacity_kw(
        self,
        temp_outdoor_C: ArrayLike,
        temp_flow_C: ArrayLike,
        emitter_delta_t_K: ArrayLike = 5.0,
        *,
        temp_internal_C: ArrayLike = EXHAUST_AIR_TEMP_C,
    ) -> np.ndarray:
        """Maximum heat output at outdoor and flow temperatures, kW (TP-12 eqs. 9–10); shape of the inputs."""
        point, _, _, shape = self._predict(temp_outdoor_C, temp_flow_C, emitter_delta_t_K, temp_internal_C)
        return point.thermal_capacity_op_cond_kW.reshape(shape)

    def cop(
        self,
        temp_outdoor_C: ArrayLike,
        temp_flow_C: ArrayLike,
        emitter_delta_t_K: ArrayLike = 5.0,
        load_ratio: ArrayLike = 1.0,
        *,
        temp_internal_C: ArrayLike = EXHAUST_AIR_TEMP_C,
    ) -> np.ndarray:
        """COP at outdoor and flow temperatures; shape of the broadcast inputs.

        ``load_ratio`` 1 gives the steady-state COP at operating conditions (TP-12 eq. 4). Below 1 it is
        the effective COP of one hour of space heating at that fraction of the capacity — heat delivered
        over compressor energy including on/off inertia and off-cycle losses (eqs. 17–18, 23), exactly as
        :meth:`run` computes it (circulation pumps and standby excluded).
        """
        point, conditions, lr, shape = self._predict(
            temp_outdoor_C, temp_flow_C, emitter_delta_t_K, temp_internal_C, load_ratio
        )
        if np.all(lr >= 1.0):
            return point.cop_op_cond.reshape(shape)
        flow_C = point.temp_output_K - C_TO_K
        delta = np.ravel(np.broadcast_to(np.asarray(emitter_delta_t_K, dtype=float), shape))
        demand = SpaceHeatingDemand(
            energy_demand_kWh=np.minimum(lr, 1.0) * point.thermal_capacity_op_cond_kW,
            temp_flow_C=flow_C,
            temp_return_C=flow_C - delta,
            temp_diff_emit_dsgn_K=delta,
            temp_limit_upper_C=flow_C,  # at its limit, not above it: no clamp
        )
        result, _ = self.run(conditions, [demand], 1.0)
        service = result.services[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            effective = service.energy_delivered_HP_kWh / service.energy_input_HP_kWh
        return np.where(lr >= 1.0, point.cop_op_cond, effective).reshape(shape)
