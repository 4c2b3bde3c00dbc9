"""The supervisor: one control cycle — read, decide, write, record — repeated on the clock."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.clock import Clock
from app.config import SiteConfig
from app.control.operator import OperatorInputs, OperatorValue
from app.devices.modbus import WriteResult
from app.devices.plantio import PlantIO
from app.snapshot import Commands, PlantSnapshot
from app.storage.historian import Historian
from strategies.weather_compensation import flow_setpoint


@dataclass
class CycleResult:
    snapshot: PlantSnapshot
    commands: Commands
    writes: list[WriteResult] = field(default_factory=list)
    samples: int = 0


def _commanded_by(value: OperatorValue) -> str:
    return f"operator {value.value:g} from {value.source} at priority {value.priority}"


CycleObserver = Callable[[CycleResult], Awaitable[None] | None]


class Supervisor:
    """Runs the control cycle of design.md against any PlantIO.

    Observers (COP monitoring, BACnet present values, telemetry) are called with every cycle's result;
    operator inputs (BACnet writes) are read at the start of the next cycle.
    """

    def __init__(self, site: SiteConfig, plant: PlantIO, historian: Historian, clock: Clock,
                 operator: OperatorInputs | None = None) -> None:
        self.site = site
        self.plant = plant
        self.historian = historian
        self.clock = clock
        self.operator = operator or OperatorInputs()
        self.observers: list[CycleObserver] = []

    def decide(self, snapshot: PlantSnapshot) -> Commands:
        """Weather-compensated flow setpoint and enable for each heat pump on the site's first circuit."""
        commands = Commands(snapshot.ts)
        circuit = self.site.heating_circuits[0]
        for hp in self.site.heat_pumps:
            device = snapshot.devices.get(hp.id)
            outdoor = device.value("outdoor_temp") if device is not None and device.comms_ok else None
            if outdoor is None:
                continue  # no trustworthy outdoor reading: leave the unit on its own control
            heating = outdoor < circuit.summer_cutoff_c
            setpoint = flow_setpoint(circuit, outdoor, max_flow_c=hp.max_flow_temp_c)
            enable = self.operator.get(f"{hp.id}.enable")
            if enable is not None:
                heating = enable.value >= 0.5
                commands.set(hp.id, "enable", float(heating), _commanded_by(enable))
            else:
                commands.set(hp.id, "enable", 1.0 if heating else 0.0,
                             f"outdoor {outdoor:.1f} °C {'below' if heating else 'above'} summer cut-off "
                             f"{circuit.summer_cutoff_c:g} °C")
            flow = self.operator.get(f"{circuit.id}.flow_setpoint")
            if heating and flow is not None:
                commands.set(hp.id, "flow_setpoint", round(min(flow.value, hp.max_flow_temp_c), 1),
                             _commanded_by(flow))
            elif heating:
                commands.set(hp.id, "flow_setpoint", round(setpoint, 1),
                             f"weather compensation: outdoor {outdoor:.1f} °C -> flow {setpoint:.1f} °C")
        return commands

    async def cycle(self) -> CycleResult:
        """Read the plant, store what was read, decide, and write under the devices' guards."""
        snapshot = await self.plant.read()
        samples = self.historian.record_snapshot(snapshot)
        commands = self.decide(snapshot)
        writes = await self.plant.write(commands)
        result = CycleResult(snapshot, commands, writes, samples)
        for observer in self.observers:
            outcome = observer(result)
            if inspect.isawaitable(outcome):
                await outcome
        return result
