"""The site file: one YAML document describing a site's plant, validated at the edge.

Every problem is reported as ``FILE:LINE: dotted.field: message (got VALUE)`` and nothing is half-applied:
a site either loads completely or not at all. Secrets are never written in the file: a secret field holds
``${ENV_VAR}`` (or ``${file:/path}``) and is resolved only when it is used.
"""

from __future__ import annotations

import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from app import yamlsrc
from app.tp12.records import HeatPumpSpec
from app.yamlsrc import SourceError

__all__ = ["SiteConfig", "SourceError", "load_site", "Secret", "resolve_refs"]

_REF = re.compile(r"\$\{(?:file:(?P<file>[^}]+)|(?P<env>[A-Za-z_][A-Za-z0-9_]*))\}")
L8_MIN_STORAGE_C = 60.0


def _must_be_reference(value: str) -> str:
    if not _REF.fullmatch(value):
        raise ValueError("a secret must be an ${ENV_VAR} or ${file:/path} reference, not a literal")
    return value


Secret = Annotated[str, AfterValidator(_must_be_reference)]


def resolve_refs(text: str) -> str:
    """Replace every ``${ENV_VAR}`` / ``${file:/path}`` in `text` by its value; a missing one is an error."""

    def sub(match: re.Match[str]) -> str:
        if match["env"]:
            if match["env"] not in os.environ:
                raise KeyError(f"environment variable {match['env']} is not set")
            return os.environ[match["env"]]
        return Path(match["file"]).read_text(encoding="utf-8").strip()

    return _REF.sub(sub, text)


class Model(BaseModel):
    """Strict base: unknown keys are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
ClockTime = time


class SiteInfo(Model):
    name: str
    timezone: str = "Europe/London"
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)


class TcpConnection(Model):
    transport: Literal["tcp"] = "tcp"
    host: str
    port: int = Field(502, ge=1, le=65535)
    unit_id: int = Field(1, ge=0, le=247)
    timeout_s: float = Field(1.0, gt=0, le=30)


class RtuConnection(Model):
    transport: Literal["rtu"]
    device: str
    unit_id: int = Field(1, ge=1, le=247)
    baudrate: int | None = None  # None: the register map's serial default
    parity: Literal["N", "E", "O"] | None = None
    stopbits: Literal[1, 2] | None = None
    bytesize: Literal[7, 8] | None = None
    timeout_s: float = Field(1.0, gt=0, le=30)


Connection = Annotated[TcpConnection | RtuConnection, Field(discriminator="transport")]


class HeatPumpConfig(Model):
    id: Identifier
    name: str
    register_map: str = Field(description="a file in register_maps/ (without .yaml) or a path")
    connection: Connection
    rated_capacity_kw: float = Field(gt=0)
    max_flow_temp_c: float = Field(60.0, ge=30, le=85)
    min_flow_temp_c: float = Field(25.0, ge=10, le=50)
    tp12: HeatPumpSpec = Field(description="TP-12 model data: EN 14825 test records or a Keymark product")
    calibration: dict[str, float] = Field(default_factory=dict, description="point -> offset added to readings")


class BoilerConfig(Model):
    id: Identifier
    name: str
    capacity_kw: float = Field(gt=0)
    seasonal_efficiency: float = Field(0.88, gt=0.5, le=1.1, description="gross, fraction")
    condensing: bool = True
    enable_device: str | None = Field(None, description="I/O module id whose boiler_enable point drives it")


class ImmersionConfig(Model):
    power_kw: float = Field(gt=0)
    device: str | None = Field(None, description="I/O module id whose immersion_enable point drives it")


class LegionellaConfig(Model):
    """HSE L8 / HSG274 regime for one cylinder."""

    boost_time: ClockTime = time(4, 0)
    boost_target_c: float = Field(62.0, ge=L8_MIN_STORAGE_C, le=75)
    pasteurise_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "sun"
    pasteurise_time: ClockTime = time(22, 0)
    pasteurise_target_c: float = Field(60.0, ge=L8_MIN_STORAGE_C, le=75)
    pasteurise_hold_min: float = Field(60.0, ge=1, le=600)
    heat_pump_window_min: float = Field(120.0, ge=10, le=720,
                                        description="time the heat pump gets before the immersion takes over")
    cycle_window_min: float = Field(240.0, ge=30, le=1440, description="time by which a cycle must pass")
    secondary_return_min_c: float = Field(50.0, ge=50, le=60)
    log_interval_min: float = Field(5.0, ge=1, le=60, description="how often cylinder temperatures go to the L8 log")


class CylinderConfig(Model):
    id: Identifier
    name: str
    volume_l: float = Field(gt=0)
    sensors: list[Identifier] = Field(min_length=1, description="cylinder sensors, top first")
    secondary_return_sensor: bool = False
    storage_setpoint_c: float = Field(62.0, description="°C, never below 60 (HSE L8)")
    heat_pump: Identifier | None = None
    coil_area_m2: float = Field(3.0, gt=0)
    heat_pump_approach_k: float = Field(5.0, ge=0, le=20,
                                        description="flow above cylinder temperature the coil needs to transfer heat")
    reheat_differential_k: float = Field(2.0, gt=0, le=10,
                                         description="reheat when the top sensor falls this far below the setpoint")
    immersion: ImmersionConfig | None = None
    legionella: LegionellaConfig = LegionellaConfig()
    daily_draw_l: float = Field(0.0, ge=0, description="hot water drawn from the cylinder on an occupied day, l")
    draw_profile: Literal["school", "office", "care_home", "dwelling"] = Field(
        "school", description="hourly shape of the draw-off")
    cold_feed_c: float = Field(10.0, ge=1, le=25, description="annual mean mains cold water temperature, °C")

    @field_validator("storage_setpoint_c")
    @classmethod
    def _l8_storage(cls, v: float) -> float:
        if v < L8_MIN_STORAGE_C:
            raise ValueError(f"DHW storage setpoint must be at least {L8_MIN_STORAGE_C:g} °C (HSE L8)")
        return v


class EmitterConfig(Model):
    """Emitters as surveyed: rated output at the rating condition, and how oversized they are."""

    kind: Literal["radiator", "underfloor", "fan_coil"] = "radiator"
    rated_flow_c: float
    rated_return_c: float
    rated_room_c: float = 20.0
    exponent: float = Field(1.3, gt=0.9, le=2.0)
    oversize_factor: float = Field(1.0, ge=0.5, le=5.0,
                                   description="installed output / design heat loss at the rated condition")

    @model_validator(mode="after")
    def _rating_order(self) -> EmitterConfig:
        if not self.rated_flow_c > self.rated_return_c > self.rated_room_c:
            raise ValueError("rated flow > rated return > rated room temperature is required")
        return self


class CurvePoints(Model):
    kind: Literal["points"] = "points"
    points: list[tuple[float, float]] = Field(min_length=2, description="(outdoor °C, flow °C), ascending outdoor")

    @field_validator("points")
    @classmethod
    def _ascending(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        xs = [p[0] for p in v]
        if any(b - a < 0.1 - 1e-9 for a, b in zip(xs, xs[1:], strict=False)):
            raise ValueError("outdoor temperatures must ascend in steps of at least 0.1 K")
        return v


class CurveSlope(Model):
    kind: Literal["slope"]
    slope: float = Field(gt=0, le=5, description="K flow per K outdoor below the room setpoint")
    offset_k: float = Field(0.0, ge=-20, le=20)
    curvature: float = Field(0.0, ge=0, le=0.1)


class CurveDesigned(Model):
    """Curve designed from the emitter survey: the lowest flow temperature that meets the load."""

    kind: Literal["designed"]
    design_delta_t_k: float = Field(10.0, gt=2, le=25, description="flow - return at design")


Curve = Annotated[CurvePoints | CurveSlope | CurveDesigned, Field(discriminator="kind")]


class RoomTrimConfig(Model):
    """Room-temperature feedback on the curve: a PI correction of the flow temperature, bounded both ways."""

    kp_k_per_k: float = Field(2.0, ge=0, le=20, description="K of flow per K of room error")
    ki_k_per_k_h: float = Field(0.5, ge=0, le=20, description="K of flow per K of room error per hour")
    limit_k: float = Field(5.0, ge=0, le=20, description="largest correction either way")


class HeatingCircuitConfig(Model):
    id: Identifier
    name: str
    design_heat_loss_kw: float = Field(gt=0)
    design_outdoor_c: float = Field(-4.0, ge=-30, le=10)
    design_room_c: float = Field(21.0, ge=10, le=30)
    emitters: EmitterConfig
    curve: Curve = CurveDesigned(kind="designed")
    min_flow_c: float = Field(25.0, ge=15, le=50)
    max_flow_c: float = Field(60.0, ge=30, le=85)
    summer_cutoff_c: float = Field(16.0, ge=5, le=25)
    summer_hysteresis_k: float = Field(1.0, ge=0, le=5)
    setback_room_c: float = Field(16.0, ge=5, le=25)
    schedule: Identifier = "occupancy"
    room_sensors: list[Identifier] = Field(default_factory=list)
    building_time_constant_h: float = Field(40.0, gt=1, le=500)
    heat_loss_margin: float = Field(0.0, ge=0, le=1, description="fraction of design_heat_loss_kw that is declared "
                                    "design margin rather than steady-state loss (e.g. an EN 12831 reheat allowance)")
    occupied_gains_kw: float = Field(0.0, ge=0, description="useful internal gains while the schedule says occupied "
                                     "(people, lighting, equipment), from the survey")
    room_trim: RoomTrimConfig = RoomTrimConfig()
    max_preheat_h: float = Field(4.0, ge=0, le=24, description="earliest optimum start before occupancy")

    @model_validator(mode="after")
    def _clamps(self) -> HeatingCircuitConfig:
        if self.min_flow_c >= self.max_flow_c:
            raise ValueError("min_flow_c must be below max_flow_c")
        if self.occupied_gains_kw >= self.design_heat_loss_kw / (1 + self.heat_loss_margin):
            raise ValueError("occupied_gains_kw must be below the steady-state design heat loss")
        return self


class MeterConfig(Model):
    id: Identifier
    kind: Literal["electricity", "heat"]
    register_map: str
    connection: Connection
    measures: str = Field(description="what it meters: a heat pump id, 'immersion', 'pumps', 'site' ...")
    fluid: Literal["water", "propylene_glycol", "ethylene_glycol"] = "water"
    glycol_fraction: float = Field(0.0, ge=0, le=0.6)
    calibration: dict[str, float] = Field(default_factory=dict)


class IoModuleConfig(Model):
    id: Identifier
    register_map: str
    connection: Connection


class TouPeriod(Model):
    name: str
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: ClockTime
    end: ClockTime
    rate_gbp_per_kwh: float = Field(gt=0, le=5)


class ElectricityTariff(Model):
    unit_rate_gbp_per_kwh: float = Field(gt=0, le=5)
    periods: list[TouPeriod] = Field(default_factory=list)
    carbon_kg_per_kwh: float = Field(0.136, ge=0, le=2)


class GasTariff(Model):
    unit_rate_gbp_per_kwh: float = Field(gt=0, le=5)
    carbon_kg_per_kwh: float = Field(0.210, ge=0, le=2)


class TariffConfig(Model):
    electricity: ElectricityTariff
    gas: GasTariff
    crossover: Literal["economic", "carbon"] = "economic"
    source: str = Field(description="where the rates come from (publication, date)")


class ScheduleConfig(Model):
    """Weekly occupancy: per day, a list of (start, end) local times."""

    days: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[tuple[ClockTime, ClockTime]]]


class SequencingConfig(Model):
    crossover_hysteresis: float = Field(0.2, ge=0, le=2, description="COP units")
    min_dwell_min: float = Field(30.0, ge=0, le=600)
    capacity_shortfall_min: float = Field(30.0, ge=1, le=600,
                                          description="heat pump at capacity and flow below setpoint this long")
    site_kw_limit: float | None = Field(None, gt=0)
    min_on_min: float = Field(10.0, ge=0, le=120)
    min_off_min: float = Field(5.0, ge=0, le=120)
    stage_delay_min: float = Field(15.0, ge=0, le=240, description="need held this long before staging up or down")
    stage_down_fraction: float = Field(0.7, gt=0, lt=1,
                                       description="stage down when the load fits this share of one unit fewer")
    lead_rotation_h: float = Field(24.0, gt=0, le=10000,
                                   description="lead changes when its run hours exceed another unit's by this")
    defer_dhw_in_peak: bool = Field(True, description="start no DHW boost or reheat inside a peak-tariff window")


class MonitoringConfig(Model):
    cop_alarm_fraction: float = Field(0.85, gt=0, le=1)
    cop_alarm_days: int = Field(3, ge=1, le=60)


class BacnetRecipient(Model):
    """Where alarm notifications go (a front-end may also add itself to the notification class)."""

    address: str = Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$", description="IPv4 address:UDP port")
    process_id: int = Field(0, ge=0, le=4194303)
    confirmed: bool = False


class BacnetConfig(Model):
    enabled: bool = True
    device_instance: int = Field(ge=0, le=4194302)
    device_name: str
    vendor_name: str = "hp-supervisor"
    vendor_id: int = Field(999, ge=0, le=65535)
    address: str = Field("127.0.0.1/8", description="interface address with prefix length")
    port: int = Field(47808, ge=1, le=65535)
    notification_recipients: list[BacnetRecipient] = Field(default_factory=list)


class StorageConfig(Model):
    url: str = "sqlite:///hpsup.db"

    @field_validator("url")
    @classmethod
    def _no_literal_password(cls, v: str) -> str:
        password = urlsplit(v.replace("${", "{")).password if "://" in v else None
        if password and not _REF.fullmatch(password.replace("{", "${")):
            raise ValueError("the database password must be an ${ENV_VAR} reference, not a literal")
        return v


class MqttConfig(Model):
    host: str
    port: int = Field(1883, ge=1, le=65535)
    tls: bool = False
    ca_file: str | None = None
    username: Secret | None = None
    password: Secret | None = None
    topic_prefix: str = "hpsup"
    queue_path: str = "hpsup-mqtt-queue.db"


class TelemetryConfig(Model):
    mqtt: MqttConfig | None = None


class ControlConfig(Model):
    cycle_s: float = Field(30.0, ge=1, le=600)


class SiteConfig(Model):
    site: SiteInfo
    heat_pumps: list[HeatPumpConfig] = Field(min_length=1)
    boilers: list[BoilerConfig] = Field(default_factory=list)
    cylinders: list[CylinderConfig] = Field(default_factory=list)
    heating_circuits: list[HeatingCircuitConfig] = Field(min_length=1)
    meters: list[MeterConfig] = Field(default_factory=list)
    io_modules: list[IoModuleConfig] = Field(default_factory=list)
    tariffs: TariffConfig
    schedules: dict[Identifier, ScheduleConfig] = Field(default_factory=dict)
    sequencing: SequencingConfig = SequencingConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    control: ControlConfig = ControlConfig()
    bacnet: BacnetConfig | None = None
    storage: StorageConfig = StorageConfig()
    telemetry: TelemetryConfig = TelemetryConfig()


def _cross_references(site: SiteConfig) -> list[yamlsrc.Problem]:
    """Ids unique across the site, and every reference pointing at something that exists."""
    problems: list[yamlsrc.Problem] = []
    seen: dict[str, tuple[str | int, ...]] = {}
    groups = ("heat_pumps", "boilers", "cylinders", "heating_circuits", "meters", "io_modules")
    for group in groups:
        for i, item in enumerate(getattr(site, group)):
            if item.id in seen:
                first = ".".join(map(str, seen[item.id]))
                problems.append(((group, i, "id"), f"id already used by {first}", item.id))
            seen.setdefault(item.id, (group, i))
    hp_ids = {hp.id for hp in site.heat_pumps}
    io_ids = {io.id for io in site.io_modules}
    for i, cyl in enumerate(site.cylinders):
        if cyl.heat_pump is not None and cyl.heat_pump not in hp_ids:
            problems.append((("cylinders", i, "heat_pump"), "not a heat pump of this site", cyl.heat_pump))
        if cyl.immersion and cyl.immersion.device and cyl.immersion.device not in io_ids:
            problems.append((("cylinders", i, "immersion", "device"), "not an io module of this site",
                             cyl.immersion.device))
    for i, boiler in enumerate(site.boilers):
        if boiler.enable_device and boiler.enable_device not in io_ids:
            problems.append((("boilers", i, "enable_device"), "not an io module of this site", boiler.enable_device))
    for i, circuit in enumerate(site.heating_circuits):
        if circuit.schedule not in site.schedules:
            problems.append((("heating_circuits", i, "schedule"), "no such schedule in schedules", circuit.schedule))
    return problems


def load_site(path: str | Path) -> SiteConfig:
    """Load and validate a site file; raise SourceError listing every problem with its line."""
    return yamlsrc.load_model(path, SiteConfig, "a site file", _cross_references)


def database_url(site: SiteConfig | None) -> str:
    """The storage URL: ``HPSUP_DATABASE_URL`` wins over the site file; references are resolved here."""
    url = os.environ.get("HPSUP_DATABASE_URL") or (site.storage.url if site else StorageConfig().url)
    return resolve_refs(url)

