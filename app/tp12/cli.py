"""``hpsup tp12``: evaluate the TP-12 model on reference-vector files and check it against them.

The vector format (one JSON list of single-step and sequence cases, keys as HEM's heat pump input and
detailed output) is read and written here; the model itself does no I/O. ``eval`` writes, per case,
``{"id", "outputs"}`` with the vectors' output structure. ``check`` compares those outputs with the
expected ones and prints the worst relative error per quantity; it exits non-zero on any mismatch.

Where the model follows the TP-12 paper and the reference follows HEM v0.24 (see
:mod:`app.tp12.conventions`), ``check`` recomputes the case reproducing each HEM departure in turn:
a difference that disappears when exactly that departure is reproduced, on a quantity the departure
reaches, is reported as that departure rather than as a mismatch. Where the vectors give
``load_ratio_continuous_min_intended_interp``, the model's minimum modulation rate must equal it.

``energy_output_max_kWh_return_C_as_emitters`` (HEM's emitter module passing the return temperature
in °C where kelvin is expected) is an emitter-side slip, not a heat pump quantity; it is not produced
and is listed as such. The heat pump's own figure is ``energy_output_max_kWh_return_K``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pydantic
import typer

from app.tp12.conventions import DEPARTURES, HEM_V024, TP12, Conventions
from app.tp12.model import (
    Conditions,
    HeatPumpModel,
    HeatPumpState,
    HotWaterDemand,
    RunResult,
    ServiceDemand,
    SpaceHeatingDemand,
    WarmAirDemand,
)
from app.tp12.records import HeatPumpSpec, SourceType
from app.tp12.testdata import TestDataError

tp12_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="TP-12 heat pump model: evaluate and check reference vectors.",
)

REL_TOL = 1e-9
ABS_TOL = 1e-12
REQUIRED_SERVICE_KEYS = (
    "temp_source_K",
    "temp_output_K",
    "carnot_cop_op_cond",
    "exergetic_load_ratio",
    "temp_spread_correction_factor",
    "cop_op_cond",
    "thermal_capacity_op_cond_kW",
    "deg_coeff_op_cond",
    "load_ratio_continuous_min",
    "time_running_h",
    "load_ratio",
    "hp_operating_in_onoff_mode",
    "use_backup_heater_only",
    "energy_delivered_HP_kWh",
    "energy_delivered_backup_kWh",
    "energy_input_HP_kWh",
    "energy_input_backup_kWh",
    "energy_heating_circ_pump_kWh",
    "energy_source_circ_pump_kWh",
    "energy_input_total_kWh",
)
REQUIRED_CASE_KEYS = (
    "energy_standby_kWh",
    "energy_crankcase_heater_mode_kWh",
    "energy_off_mode_kWh",
    "time_running_continuous_after_h",
)
INTENDED_LRMIN = "load_ratio_continuous_min_intended_interp"
AUXILIARY_CONNECTION = "HeatPump_auxiliary: hp"


class VectorFileError(ValueError):
    """A vectors file or case the model cannot read; the message names the case and field."""


# --- reading cases --------------------------------------------------------------------------------


def _service(entry: dict[str, Any]) -> ServiceDemand:
    kind = entry.get("kind")
    if kind == "space":
        return SpaceHeatingDemand(
            energy_demand_kWh=entry["energy_demand_kWh"],
            temp_flow_C=entry["temp_flow_C"],
            temp_return_C=entry["temp_return_C"],
            temp_diff_emit_dsgn_K=entry["temp_diff_emit_dsgn"],
            temp_limit_upper_C=entry["temp_limit_upper_C"],
            service_on=entry["service_on"],
        )
    if kind == "water":
        return HotWaterDemand(
            energy_demand_kWh=entry["energy_demand_kWh"],
            temp_hot_water_C=entry["temp_hot_water_C"],
            temp_return_feed_C=entry["temp_return_feed_C"],
            temp_cold_water_C=entry["temp_cold_water_C"],
            temp_limit_upper_C=entry["temp_limit_upper_C"],
            service_on=entry["service_on"],
        )
    if kind == "warm_air":
        return WarmAirDemand(energy_demand_kWh=entry["energy_demand_kWh"], service_on=entry["service_on"])
    raise VectorFileError(f"service kind {kind!r}; expected space, water or warm_air")


class _ModelCache:
    """Models by heat pump description: cases that share a heat pump share its prepared test data."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, float | None, Conventions], HeatPumpModel] = {}

    def get(self, heat_pump: dict[str, Any], throughput: float | None, conventions: Conventions) -> HeatPumpModel:
        key = (json.dumps(heat_pump, sort_keys=True), throughput, conventions)
        if key not in self._models:
            spec = HeatPumpSpec.model_validate(heat_pump)
            self._models[key] = HeatPumpModel(spec, throughput_exhaust_air_l_per_s=throughput, conventions=conventions)
        return self._models[key]


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    item = np.asarray(value).reshape(-1)[0].item()
    if isinstance(item, float) and math.isnan(item):
        return None
    return item


def _step_outputs(model: HeatPumpModel, result: RunResult) -> dict[str, Any]:
    """The outputs of one timestep in the vectors' structure and key names."""
    services = []
    elec: dict[str, float] = {AUXILIARY_CONNECTION: _scalar(result.energy_auxiliary_kWh)}
    extracted: dict[str, float] = {}
    for service in result.services:
        out = {key: _scalar(value) for key, value in service.as_dict().items()}
        if out["hp_cost_effective"] is None:
            del out["hp_cost_effective"]
        name = "water" if service.service == "water" else "space"
        if service.service == "space":
            out["energy_output_max_kWh_return_K"] = out.pop("energy_output_max_kWh")
        out["demand_energy_return_kWh"] = out["energy_delivered_total_kWh"]
        elec[name] = elec.get(name, 0.0) + out["energy_input_total_kWh"]
        extracted[name] = extracted.get(name, 0.0) + out["energy_extracted_from_source_kWh"]
        services.append(out)
    outputs: dict[str, Any] = {
        "services": services,
        "energy_standby_kWh": _scalar(result.energy_standby_kWh),
        "energy_crankcase_heater_mode_kWh": _scalar(result.energy_crankcase_heater_mode_kWh),
        "energy_off_mode_kWh": _scalar(result.energy_off_mode_kWh),
        "time_running_continuous_after_h": _scalar(result.time_running_continuous_after_h),
        "elec_supply_by_connection_kWh": elec,
    }
    if model.spec.source_type is SourceType.HEAT_NETWORK:
        outputs["heat_network_extracted_kWh"] = extracted
    return outputs


def _run_step(
    model: HeatPumpModel, step_inputs: dict[str, Any], timestep_h: float, state: HeatPumpState
) -> tuple[dict[str, Any], HeatPumpState]:
    services = [_service(entry) for entry in step_inputs["services"]]
    result, state = model.step(Conditions(temp_ext_C=step_inputs["temp_ext_C"]), services, timestep_h, state)
    return _step_outputs(model, result), state


def evaluate_case(
    case: dict[str, Any], conventions: Conventions = TP12, cache: _ModelCache | None = None
) -> dict[str, Any]:
    """``{"id", "outputs"}`` for one case; sequence cases carry the model's own state between steps."""
    case_id = case.get("id", "?")
    cache = cache or _ModelCache()
    try:
        inputs = case["inputs"]
        model = cache.get(inputs["heat_pump"], inputs.get("throughput_exhaust_air_l_per_s"), conventions)
        timestep_h = float(inputs["timestep_h"])
        if "n_steps" in inputs:
            state = HeatPumpState(float(inputs.get("initial_time_running_continuous_h", 0.0)))
            steps = []
            step_inputs = [step["inputs"] for step in case["outputs"]["steps"]]
            if len(step_inputs) != int(inputs["n_steps"]):
                raise VectorFileError(f"n_steps is {inputs['n_steps']} but {len(step_inputs)} steps are given")
            for index, si in enumerate(step_inputs):
                outputs, state = _run_step(model, si, timestep_h, state)
                steps.append({"step": index, "inputs": si, "outputs": outputs})
            return {"id": case_id, "outputs": {"steps": steps}}
        state = HeatPumpState(float(inputs["time_running_continuous_before_h"]))
        outputs, _ = _run_step(model, inputs, timestep_h, state)
        return {"id": case_id, "outputs": outputs}
    except pydantic.ValidationError as exc:
        raise VectorFileError(f"case {case_id!r}: heat_pump: {exc}") from exc
    except KeyError as exc:
        raise VectorFileError(f"case {case_id!r}: missing field {exc.args[0]!r}") from exc
    except (TestDataError, VectorFileError, ValueError) as exc:
        raise VectorFileError(f"case {case_id!r}: {exc}") from exc


def load_cases(path: Path) -> list[dict[str, Any]]:
    try:
        cases = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise VectorFileError(f"{path}: {exc}") from exc
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise VectorFileError(f"{path}: expected a JSON list of case objects")
    return cases


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# --- comparing ------------------------------------------------------------------------------------


def _close(ours: Any, expected: Any) -> tuple[bool, float]:
    """(matches, relative error) of one leaf value."""
    if (
        isinstance(expected, bool)
        or isinstance(ours, bool)
        or expected is None
        or ours is None
        or isinstance(expected, str)
    ):
        return ours == expected, 0.0 if ours == expected else math.inf
    diff = abs(float(ours) - float(expected))
    rel = diff / abs(expected) if expected != 0 else (0.0 if diff == 0 else math.inf)
    return diff <= ABS_TOL or diff <= REL_TOL * abs(expected), (0.0 if diff <= ABS_TOL else rel)


def _leaves(expected: Any, ours: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any, Any, bool]]:
    """(path, expected, ours, present) for every leaf of ``expected``; list indices are kept in the path."""
    if isinstance(expected, dict):
        for key, value in expected.items():
            if key == "inputs":
                continue
            present = isinstance(ours, dict) and key in ours
            yield from (
                _leaves(value, ours[key] if present else None, (*path, key))
                if present
                else iter([((*path, key), value, None, False)])
            )
    elif isinstance(expected, list):
        for index, value in enumerate(expected):
            present = isinstance(ours, list) and index < len(ours)
            if present:
                yield from _leaves(value, ours[index], (*path, str(index)))
            else:
                yield (*path, str(index)), value, None, False
    else:
        yield path, expected, ours, True


def _lookup(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        tree = tree[int(key)] if isinstance(tree, list) else tree[key]
    return tree


def _quantity(path: tuple[str, ...]) -> str:
    """A leaf path without list indices and step nesting: e.g. ``services.cop_op_cond``."""
    parts = [p for p in path if not p.isdigit() and p not in ("steps", "outputs")]
    if parts and parts[0] in ("elec_supply_by_connection_kWh", "heat_network_extracted_kWh"):
        return parts[0]
    return ".".join(parts)


@dataclass
class QuantityStats:
    compared: int = 0
    worst_rel: float = 0.0
    mismatches: int = 0
    example: str = ""


@dataclass
class CheckReport:
    quantities: dict[str, QuantityStats] = field(default_factory=lambda: defaultdict(QuantityStats))
    departures: dict[tuple[str, bool], int] = field(default_factory=lambda: defaultdict(int))
    missing: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cases: int = 0

    @property
    def ok(self) -> bool:
        required = {f"services.{k}" for k in REQUIRED_SERVICE_KEYS} | set(REQUIRED_CASE_KEYS)
        return not any(s.mismatches for s in self.quantities.values()) and not any(q in required for q in self.missing)


def _departure(path: tuple[str, ...], expected: Any, variant: Any) -> str | None:
    """The HEM departure that explains a difference at ``path``, if reproducing it gives ``expected``.

    ``variant(name)`` evaluates the case reproducing one departure (``"*"``: all of them).
    """
    quantity = _quantity(path).split(".")[-1]
    reaching = [name for name, reach in DEPARTURES.items() if quantity in reach]
    if not reaching or not _close(_lookup(variant("*"), path), expected)[0]:
        return None
    for name in reaching:
        if _close(_lookup(variant(name), path), expected)[0]:
            return name
    return " + ".join(reaching)


def check_cases(cases: list[dict[str, Any]]) -> CheckReport:
    """Compare the model (TP-12 conventions) with every case; attribute differences to HEM departures."""
    report = CheckReport()
    cache = _ModelCache()
    for case in cases:
        report.cases += 1
        ours = evaluate_case(case, TP12, cache)["outputs"]
        flags = set(case.get("notes") or [])
        variants: dict[str, Any] = {}

        def variant(name: str, case: dict[str, Any] = case, variants: dict[str, Any] = variants) -> Any:
            if name not in variants:
                conventions = HEM_V024 if name == "*" else Conventions.reproducing(name)
                variants[name] = evaluate_case(case, conventions, cache)["outputs"]
            return variants[name]

        for path, exp_value, our_value, present in _leaves(case.get("outputs", {}), ours, ()):
            quantity = _quantity(path)
            if path[-1] == INTENDED_LRMIN:
                our_value = _lookup(ours, (*path[:-1], "load_ratio_continuous_min"))
                quantity = "services.load_ratio_continuous_min (TP-12 interpolation)"
            elif not present:
                report.missing[quantity] += 1
                continue
            ok, rel = _close(our_value, exp_value)
            if not ok and path[-1] != INTENDED_LRMIN:
                name = _departure(path, exp_value, variant)
                if name is not None:
                    report.departures[(name, all(n in flags for n in name.split(" + ")))] += 1
                    continue
            stats = report.quantities[quantity]
            stats.compared += 1
            stats.worst_rel = max(stats.worst_rel, rel)
            if not ok:
                stats.mismatches += 1
                if not stats.example:
                    stats.example = f"case {case.get('id')!r} {'.'.join(path)}: {our_value!r} vs {exp_value!r}"
    return report


def _print_report(report: CheckReport, path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 110))
    table = Table(title=f"{path.name}: {report.cases} cases")
    table.add_column("quantity", no_wrap=True)
    table.add_column("compared", justify="right")
    table.add_column("worst rel. error", justify="right")
    table.add_column("status")
    for quantity in sorted(report.quantities):
        s = report.quantities[quantity]
        table.add_row(
            quantity,
            str(s.compared),
            f"{s.worst_rel:.3g}",
            "ok" if not s.mismatches else f"[red]{s.mismatches} mismatches[/red]",
        )
    console.print(table)
    for (name, flagged), count in sorted(report.departures.items()):
        where = "flagged" if flagged else "not flagged"
        console.print(f"follows TP-12 where HEM v0.24 has {name} ({where} in the file): {count} values")
    for quantity, count in sorted(report.missing.items()):
        console.print(f"not produced: {quantity} ({count} values)")
    for quantity, s in sorted(report.quantities.items()):
        if s.example:
            console.print(f"[red]mismatch[/red] {quantity}: {s.example}")
    console.print("[green]all cases match[/green]" if report.ok else "[red]MISMATCH[/red]")


VectorsArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="reference vectors (JSON)")]


@tp12_app.command("eval")
def eval_command(
    vectors: VectorsArg,
    out: Annotated[Path, typer.Option("--out", help="where to write the results (JSON)")],
    hem_v024: Annotated[bool, typer.Option("--hem-v024", help="reproduce HEM v0.24's departures from TP-12")] = False,
) -> None:
    """Evaluate every case of VECTORS and write {"id", "outputs"} per case."""
    try:
        cases = load_cases(vectors)
        cache = _ModelCache()
        results = [evaluate_case(c, HEM_V024 if hem_v024 else TP12, cache) for c in cases]
    except VectorFileError as exc:
        typer.echo(f"error: {vectors}: {exc}", err=True)
        raise typer.Exit(2) from exc
    out.write_text(json.dumps(results, indent=1, default=_json_default))
    typer.echo(f"{len(results)} cases → {out}")


@tp12_app.command("keymark")
def keymark_command(
    text: Annotated[str, typer.Argument(help="part of a manufacturer or model name")],
    limit: Annotated[int, typer.Option(help="at most this many products")] = 50,
) -> None:
    """List Heat Pump Keymark products (manufacturer, model) a site file can name (CC-BY-4.0 data)."""
    from app.tp12.keymark import search

    found = search(text, limit)
    if not found:
        typer.echo(f"no Keymark product matches {text!r}", err=True)
        raise typer.Exit(1)
    for manufacturer, model, kind, flows in found:
        typer.echo(f"{manufacturer}\t{model}\t{kind}\t{flows} °C")


@tp12_app.command("keymark-package")
def keymark_package_command(
    source: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="hplib Keymark EN 14825 CSV")],
    out: Annotated[Path, typer.Option("--out", help="where to write the packaged table")] = Path(__file__).parent
    / "data"
    / "keymark_en14825_average_35_55.csv.gz",
) -> None:
    """Rebuild the packaged Keymark table from the hplib export (keeps the columns TP-12 uses)."""
    from app.tp12.keymark import KeymarkError, package_table

    try:
        rows = package_table(source, out)
    except KeymarkError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{rows} rows → {out}")


@tp12_app.command("check")
def check_command(vectors: VectorsArg) -> None:
    """Compare the model with VECTORS: worst relative error per quantity; non-zero exit on any mismatch."""
    try:
        report = check_cases(load_cases(vectors))
    except VectorFileError as exc:
        typer.echo(f"error: {vectors}: {exc}", err=True)
        raise typer.Exit(2) from exc
    _print_report(report, vectors)
    if not report.ok:
        raise typer.Exit(1)
