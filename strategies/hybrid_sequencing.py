"""Hybrid sequencing: the heat pump leads; the boiler is a lag source with its own economics, never an equal.

The common failure is the boiler firing as soon as a room is cold. Here the boiler is enabled only when

- the TP-12-predicted COP at the present outdoor and required flow temperature is below the crossover
  (economic: electricity price × boiler efficiency / gas price at this hour's time-of-use rate, or carbon:
  the same with carbon factors), entering below ``crossover - hysteresis`` and after the minimum dwell in
  the previous mode, and leaving as soon as the prediction is back at or above the crossover — the boiler
  then *leads* (``boiler_only``);
- the heat pump has been at capacity with the flow below setpoint for the configured time — the boiler
  *lags* (``hp_boiler``), the heat pump still leading;
- the heat pump is faulted, has lost comms or is outside its operating limits (``boiler_only``);
- the site's electrical limit is exceeded and no heat pump can be staged down (``boiler_only``).

With no trustworthy outdoor temperature the plant goes ``failsafe``: heat pumps to their own controllers,
the boiler to its local enable. Several heat pumps: the lead is the unit with the fewest run hours (it
changes only when the lead is ahead by the rotation margin), units stage up and down on predicted load
held for a delay. Every decision carries its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.config import SequencingConfig, TariffConfig
from strategies.weather_compensation import WEEKDAYS

HP_ONLY, HP_BOILER, BOILER_ONLY, FAILSAFE = "hp_only", "hp_boiler", "boiler_only", "failsafe"
MODES = (HP_ONLY, HP_BOILER, BOILER_ONLY, FAILSAFE)
SHORTFALL_TOLERANCE_K = 1.0  # flow this far below setpoint counts as "not meeting setpoint"
LAG_RELEASE_FRACTION = 0.9  # the lag boiler drops out when the load fits this share of heat pump capacity


# -- tariffs and the crossover -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Crossover:
    """The COP below which gas heat is cheaper (or lower-carbon) than heat pump heat, and what set it."""

    cop: float
    basis: str          # economic | carbon
    period: str | None  # time-of-use period in force (economic), None at the standard rate
    detail: str


def electricity_rate(tariffs: TariffConfig, local: datetime) -> tuple[float, str | None]:
    """The electricity unit rate (£/kWh) at local time `local` and the time-of-use period giving it."""
    day, now = WEEKDAYS[local.weekday()], local.time()
    for period in tariffs.electricity.periods:
        if period.start <= period.end:
            inside = day in period.days and period.start <= now < period.end
        else:  # a period running past midnight belongs to the day it starts
            yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
            inside = (day in period.days and now >= period.start) or (yesterday in period.days and now < period.end)
        if inside:
            return period.rate_gbp_per_kwh, period.name
    return tariffs.electricity.unit_rate_gbp_per_kwh, None


def crossover_cop(tariffs: TariffConfig, boiler_efficiency: float, local: datetime) -> Crossover:
    """Heat pump heat costs more than boiler heat below this COP: price_e × η_boiler / price_gas (or carbon)."""
    return crossover_at_rate(tariffs, boiler_efficiency, *electricity_rate(tariffs, local))


def crossover_at_rate(tariffs: TariffConfig, boiler_efficiency: float, rate_gbp_per_kwh: float,
                      period: str | None) -> Crossover:
    """The crossover while electricity costs `rate_gbp_per_kwh` (time-of-use `period`; ignored for carbon)."""
    if tariffs.crossover == "carbon":
        e, g = tariffs.electricity.carbon_kg_per_kwh, tariffs.gas.carbon_kg_per_kwh
        return Crossover(e * boiler_efficiency / g, "carbon", None,
                         f"carbon {e:g} kg/kWh × η {boiler_efficiency:g} / gas {g:g} kg/kWh")
    gas = tariffs.gas.unit_rate_gbp_per_kwh
    label = f"{period} " if period else ""
    return Crossover(rate_gbp_per_kwh * boiler_efficiency / gas, "economic", period,
                     f"electricity {label}£{rate_gbp_per_kwh:g}/kWh × η {boiler_efficiency:g} / gas £{gas:g}/kWh")


def heat_pump_flow_c(flow_setpoint_c: float, return_c: float | None, capacity_kw: float,
                     mcp_kw_per_k: float) -> float:
    """The flow heat pumps running flat out make on the circuit: `flow_setpoint_c`, or — when their capacity
    cannot lift the return that far (a cold circuit at the start of a preheat) — the return plus capacity /
    (flow rate × cp). Full output asks them for this rather than a flow they cannot reach."""
    if return_c is None or mcp_kw_per_k <= 0:
        return flow_setpoint_c
    return min(flow_setpoint_c, return_c + capacity_kw / mcp_kw_per_k)


def in_peak_window(tariffs: TariffConfig, local: datetime) -> str | None:
    """The name of the peak period in force (a time-of-use rate above the standard rate), else None."""
    rate, period = electricity_rate(tariffs, local)
    return period if period is not None and rate > tariffs.electricity.unit_rate_gbp_per_kwh else None


# -- heat sources ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class SourceInputs:
    """What the source decision looks at in one cycle (built every cycle: not frozen, which costs to build)."""

    now_s: float                     # monotonic seconds
    outdoor_ok: bool                 # a trustworthy outdoor temperature exists
    has_boiler: bool
    hp_available: bool               # some heat pump can run: not faulted, comms ok, inside operating limits
    hp_unavailable_reason: str
    predicted_cop: float | None      # TP-12 at present outdoor and required flow; None without a model
    crossover: Crossover
    at_capacity: bool                # the running heat pumps deliver their predicted capacity
    flow_c: float | None
    flow_setpoint_c: float
    load_kw: float                   # heat the circuit needs now
    hp_capacity_kw: float            # what the available heat pumps can give at these temperatures
    outdoor_c: float | None = None
    over_electrical_limit: bool = False
    electrical_reason: str = ""
    forced: str | None = None        # operator: hp_only or boiler_only
    predicted_flow_c: float | None = None  # the heat pumps' own flow the COP is predicted at, when below the
    #                                        circuit's (flat out: heat_pump_flow_c); None: the circuit's


@dataclass(frozen=True, slots=True)
class SourceState:
    mode: str = HP_ONLY
    since_s: float = 0.0
    shortfall_since_s: float | None = None


@dataclass(frozen=True, slots=True)
class SourceDecision:
    mode: str
    reason: str
    boiler_leads: bool

    @property
    def boiler_on(self) -> bool:
        return self.mode in (HP_BOILER, BOILER_ONLY)

    @property
    def heat_pumps_on(self) -> bool:
        return self.mode in (HP_ONLY, HP_BOILER)


def _economic_text(inp: SourceInputs) -> str:
    outdoor = f"{inp.outdoor_c:.1f}" if inp.outdoor_c is not None else "?"
    flow = inp.flow_setpoint_c if inp.predicted_flow_c is None else inp.predicted_flow_c
    return (f"predicted COP {inp.predicted_cop:.3f} at {outdoor} °C outdoor / {flow:.1f} °C flow "
            f"vs crossover {inp.crossover.cop:.3f} ({inp.crossover.detail})")


def _go(inp: SourceInputs, state: SourceState, mode: str, reason: str,
        shortfall: float | None = None) -> tuple[SourceDecision, SourceState]:
    """The decision for `mode` and the memory it leaves (the time in the mode counts from entering it)."""
    decision = SourceDecision(mode, reason, mode == BOILER_ONLY)
    if mode == state.mode:
        return decision, state if shortfall == state.shortfall_since_s else SourceState(mode, state.since_s, shortfall)
    return decision, SourceState(mode, inp.now_s, shortfall)


def sequence_sources(inp: SourceInputs, state: SourceState,
                     cfg: SequencingConfig) -> tuple[SourceDecision, SourceState]:
    """Which sources run this cycle (heat pump leads), with the reason; and the sequencer's new memory."""
    if not inp.outdoor_ok:
        return _go(inp, state, FAILSAFE, "no trustworthy outdoor temperature: heat pumps to their own control, "
                                         "boiler to its local enable")
    if not inp.has_boiler:
        return _go(inp, state, HP_ONLY, "no boiler on this site: heat pump only")
    if not inp.hp_available:
        return _go(inp, state, BOILER_ONLY, f"heat pump unavailable: {inp.hp_unavailable_reason}")
    if inp.forced == BOILER_ONLY:
        return _go(inp, state, BOILER_ONLY, "operator: boiler only")
    dwell_over = inp.now_s - state.since_s >= cfg.min_dwell_min * 60
    cop, crossover = inp.predicted_cop, inp.crossover
    if inp.forced != HP_ONLY:
        if inp.over_electrical_limit:
            return _go(inp, state, BOILER_ONLY,
                       f"site electrical limit: {inp.electrical_reason}; boiler carries the load")
        if cop is not None and cop < crossover.cop:
            leading = state.mode == BOILER_ONLY
            # leaving a fault or limit hand-over: no dwell, the economics decide at once
            entering = cop < crossover.cop - cfg.crossover_hysteresis and (dwell_over or state.mode == FAILSAFE)
            if leading or entering:
                return _go(inp, state, BOILER_ONLY, f"boiler cheaper: {_economic_text(inp)}")
    # the heat pump leads; does it need the boiler behind it?
    short = (inp.at_capacity and inp.flow_c is not None
             and inp.flow_c < inp.flow_setpoint_c - SHORTFALL_TOLERANCE_K)
    if state.mode == HP_BOILER:
        fits = inp.load_kw < LAG_RELEASE_FRACTION * inp.hp_capacity_kw
        if not (fits and dwell_over):
            return _go(inp, state, HP_BOILER, f"boiler lags: load {inp.load_kw:.1f} kW against heat pump capacity "
                                              f"{inp.hp_capacity_kw:.1f} kW", state.shortfall_since_s)
        return _go(inp, state, HP_ONLY, f"load {inp.load_kw:.1f} kW fits the heat pump ({inp.hp_capacity_kw:.1f} kW): "
                                        "boiler released")
    shortfall_since = (state.shortfall_since_s if state.shortfall_since_s is not None else inp.now_s) if short else None
    if shortfall_since is not None and inp.now_s - shortfall_since >= cfg.capacity_shortfall_min * 60:
        return _go(inp, state, HP_BOILER, f"heat pump at capacity and flow {inp.flow_c:.1f} °C below setpoint "
                                          f"{inp.flow_setpoint_c:.1f} °C for {cfg.capacity_shortfall_min:g} min: "
                                          "boiler lags", shortfall_since)
    why = "operator: heat pump only" if inp.forced == HP_ONLY else (
        f"heat pump leads: {_economic_text(inp)}" if cop is not None
        else "heat pump leads (no performance prediction: economic changeover inactive)")
    return _go(inp, state, HP_ONLY, why, shortfall_since)


# -- several heat pumps ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StageState:
    """Which units run (in staging order, lead first), and since when a change has been wanted."""

    running: tuple[str, ...] = ()
    lead: str | None = None
    want_since_s: float | None = None
    wanted: int = 0


def choose_lead(available: Sequence[str], run_hours: dict[str, float], current: str | None,
                rotation_h: float) -> str | None:
    """The lead: the unit with the fewest run hours; the current lead keeps it until ahead by `rotation_h`."""
    if not available:
        return None
    fewest = available[0] if len(available) == 1 else min(available, key=lambda u: (run_hours.get(u, 0.0), u))
    if current in available and run_hours.get(current, 0.0) - run_hours.get(fewest, 0.0) < rotation_h:
        return current
    return fewest


def stage_heat_pumps(available: Sequence[str], run_hours: dict[str, float], capacity_kw: dict[str, float],
                     load_kw: float, now_s: float, state: StageState, cfg: SequencingConfig,
                     shed: int = 0) -> tuple[StageState, str]:
    """Units to run for `load_kw`: lead first, staged up or down once the need has held for the stage delay.

    `shed` units are taken off at once (electrical demand limit); unavailable units drop out at once.
    """
    lead = choose_lead(available, run_hours, state.lead, cfg.lead_rotation_h)
    if lead is None:
        return StageState(), "no heat pump available"
    others = [u for u in available if u != lead]
    order = [lead, *sorted(others, key=lambda u: (run_hours.get(u, 0.0), u))] if others else [lead]
    current = [u for u in state.running if u in available]
    n_now = max(len(current), 1 if load_kw > 0 else 0)
    need = 0
    total = 0.0
    while need < len(order) and total < load_kw:
        total += capacity_kw.get(order[need], 0.0)
        need += 1
    if need < n_now:  # stage down only when the load fits comfortably in one unit fewer
        fewer = sum(capacity_kw.get(u, 0.0) for u in order[:n_now - 1])
        need = n_now - 1 if load_kw <= cfg.stage_down_fraction * fewer else n_now
    reason = f"load {load_kw:.1f} kW: {need} unit(s) of {len(order)} needed"
    target = n_now
    want_since = None
    if need != n_now:
        want_since = state.want_since_s if state.wanted == need and state.want_since_s is not None else now_s
        if now_s - want_since >= cfg.stage_delay_min * 60 or n_now == 0:
            target, want_since = need, None
    target = max(0, target - shed)
    if shed:
        reason += f"; {shed} unit(s) shed for the site electrical limit"
    running = tuple(order[:target])
    if state.lead is not None and lead != state.lead:
        reason += f"; lead rotated to {lead} (run hours {run_hours.get(lead, 0.0):.0f} h)"
    if (running, lead, want_since, need) == (state.running, state.lead, state.want_since_s, state.wanted):
        return state, reason  # nothing moved
    return StageState(running, lead, want_since, need), reason


def electrical_shed(site_kw: float | None, limit_kw: float | None, running_kw: Sequence[float]) -> tuple[int, str]:
    """How many running heat pumps to stage down (last staged first) to bring site demand under its limit."""
    if site_kw is None or limit_kw is None or site_kw <= limit_kw:
        return 0, ""
    excess, shed = site_kw - limit_kw, 0
    for kw in reversed(running_kw):
        if excess <= 0:
            break
        excess -= kw
        shed += 1
    return shed, f"site demand {site_kw:.1f} kW above limit {limit_kw:g} kW"

