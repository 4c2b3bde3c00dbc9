"""Command-line tools for devices: validate register maps, probe a live device, serve a simulated one."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cliutil import EXIT_INVALID, loaded_or_exit
from app.devices.registermap import RegisterMap, load_map
from app.yamlsrc import SourceError


def map_or_exit(path: Path) -> RegisterMap:
    """Load a register map, or print its problems as FILE:LINE: field: message and exit 2."""
    return loaded_or_exit(load_map, path)


def check_map(files: list[Path] = typer.Argument(..., help="register map files (YAML)")) -> None:
    """Validate register maps: exit 0 when all are valid, else exit 2 with FILE:LINE: field: message lines."""
    failed = False
    for path in files:
        try:
            regmap = load_map(path)
        except SourceError as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(problem, err=True)
            continue
        writable = sum(1 for p in regmap.points if p.writable)
        typer.echo(f"{path}: valid {regmap.device_kind} map '{regmap.manufacturer} {regmap.model}' — "
                   f"{len(regmap.points)} points, {writable} writable")
    if failed:
        raise typer.Exit(EXIT_INVALID)


def _plant_map() -> RegisterMap:
    from app.devices.registermap import resolve_map_path

    return load_map(resolve_map_path("generic_heat_pump"))


def simulated_unit(regmap: RegisterMap, plant: object) -> object:
    """The plant itself for the generic map, else the plant seen through `regmap`'s roles."""
    from app.devices.simulator import MappedUnit

    plant_map = _plant_map()
    return plant if regmap.points == plant_map.points else MappedUnit(regmap, plant, plant_map)  # type: ignore[arg-type]


def simulator(
    map_file: Path = typer.Option(..., "--map", help="register map the simulated unit speaks"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (TCP)"),
    port: int = typer.Option(5020, "--port", help="TCP port (the first one with --spread ports)"),
    unit: int = typer.Option(1, "--unit", help="unit id (the first one with --spread units)"),
    count: int = typer.Option(1, "--count", min=1, help="how many units to serve"),
    spread: str = typer.Option("units", "--spread", help="many units on consecutive unit ids or ports"),
    serial: str | None = typer.Option(None, "--serial", help="serve RTU on this serial device or pty instead"),
    baudrate: int | None = typer.Option(None, "--baudrate", help="RTU baud rate (default: the map's)"),
    fault: list[str] = typer.Option([], "--fault", help="inject into every unit: delay=S, no_reply, "
                                    "exception=CODE, sentinel[=P,..], garbage[=P,..], disconnect, crc"),
    speed: float = typer.Option(60.0, "--speed", help="simulated seconds per wall second for the plant"),
) -> None:
    """Serve simulated heat pumps over Modbus TCP (or RTU) using any register map's encoding."""
    import asyncio

    from app.devices.simulator import Fault, ModbusSimulator, SerialPort

    regmap = map_or_exit(map_file)
    if spread not in ("units", "ports"):
        raise typer.BadParameter("--spread is units or ports")
    try:
        faults = [Fault.parse(text) for text in fault]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None

    async def serve() -> None:
        plants = [_default_plant() for _ in range(count)]
        units = [(regmap, simulated_unit(regmap, plant)) for plant in plants]
        if serial is not None:
            s = regmap.serial
            port_spec = SerialPort(serial, baudrate or s.baudrate, s.parity, s.stopbits, s.bytesize)
            sims = [ModbusSimulator({unit + i: u for i, u in enumerate(units)}, serial=port_spec)]
        elif spread == "units":
            sims = [ModbusSimulator({unit + i: u for i, u in enumerate(units)}, host, port)]
        else:
            sims = [ModbusSimulator({unit: u}, host, port + i) for i, u in enumerate(units)]
        for sim in sims:
            for uid in sim.images:
                for f in faults:
                    sim.inject(uid, Fault(f.kind, f.seconds, f.code, f.points))
            await sim.start()
        where = serial or (f"{host}:{port}" if spread == "units" else f"{host}:{port}-{port + count - 1}")
        typer.echo(f"serving {count} x '{regmap.manufacturer} {regmap.model}' on {where}, "
                   f"unit id{'s' if count > 1 and spread == 'units' else ''} {unit}"
                   f"{f'-{unit + count - 1}' if count > 1 and spread == 'units' else ''}", err=True)
        try:
            while True:
                await asyncio.sleep(1.0)
                for plant in plants:
                    plant.step(speed)
        finally:
            for sim in sims:
                await sim.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def _default_plant() -> object:
    """The example site's heat pump on its simulated plant, starting now (the simulator's stand-alone model)."""
    from datetime import UTC, datetime

    from app.config import load_site
    from app.paths import data_dir
    from app.plant.plant import HeatPumpPoints

    site = load_site(data_dir("examples") / "school.yaml")
    return HeatPumpPoints.standalone(site, datetime.now(UTC).replace(microsecond=0))


def probe(
    map_file: Path = typer.Option(..., "--map", help="register map of the device"),
    host: str | None = typer.Option(None, "--host", help="TCP address of the device or gateway"),
    port: int | None = typer.Option(None, "--port", help="TCP port (default: the map's, usually 502)"),
    unit: int | None = typer.Option(None, "--unit", help="unit id (default: the map's)"),
    serial: str | None = typer.Option(None, "--serial", help="RTU: serial device instead of --host"),
    baudrate: int | None = typer.Option(None, "--baudrate", help="RTU baud rate (default: the map's)"),
    parity: str | None = typer.Option(None, "--parity", help="RTU parity N, E or O (default: the map's)"),
    stopbits: int | None = typer.Option(None, "--stopbits", help="RTU stop bits (default: the map's)"),
    timeout: float = typer.Option(1.0, "--timeout", help="seconds to wait for each reply"),
) -> None:
    """Read every point of a device once and print a table: what a commissioning engineer runs first."""
    import asyncio

    from rich.console import Console
    from rich.table import Table as RichTable

    from app.clock import RealClock
    from app.config import RtuConnection, TcpConnection
    from app.devices.modbus import ModbusDevice, role_names
    from app.snapshot import DeviceSnapshot

    regmap = map_or_exit(map_file)
    unit_id = regmap.default_unit_id if unit is None else unit
    if (host is None) == (serial is None):
        raise typer.BadParameter("give either --host (Modbus TCP) or --serial (Modbus RTU)")
    connection: TcpConnection | RtuConnection
    if host is not None:
        connection = TcpConnection(host=host, port=port or regmap.tcp_port, unit_id=unit_id, timeout_s=timeout)
    else:
        connection = RtuConnection(transport="rtu", device=serial, unit_id=unit_id, baudrate=baudrate,
                                   parity=parity, stopbits=stopbits, timeout_s=timeout)

    async def read_once() -> tuple[DeviceSnapshot, ModbusDevice]:
        device = ModbusDevice("probe", regmap, connection, RealClock())
        try:
            return await device.poll(), device
        finally:
            await device.close()

    snapshot, device = asyncio.run(read_once())
    table = RichTable(title=f"{regmap.manufacturer} {regmap.model} — {device.link.describe()} unit {unit_id}")
    for column in ("point", "role", "table", "address", "wire", "type", "value", "unit", "quality"):
        table.add_column(column, justify="right" if column in ("address", "wire", "value") else "left")
    roles = {name: key for key, name in role_names(regmap).items()}
    for point in regmap.points:
        reading = snapshot.readings.get(point.name)
        if reading is None:
            continue
        shown = "" if reading.value is None else (point.enum or {}).get(int(reading.value), f"{reading.value:g}")
        table.add_row(point.name, roles.get(point.name, "other"), point.register_type.value, str(point.address),
                      str(regmap.wire_address(point)[1]), point.data_type, str(shown), point.unit,
                      reading.quality.value)
    for derived in regmap.derived:
        reading = snapshot.readings[derived.name]
        table.add_row(derived.name, roles.get(derived.name, "other"), "derived", "", "", "",
                      "" if reading.value is None else f"{reading.value:g}", derived.unit, reading.quality.value)
    Console(width=160).print(table)
    health = device.health
    typer.echo(f"blocks read: {len(device.blocks)}, exceptions: {health.exceptions}, split blocks: "
               f"{health.split_blocks}")
    if not snapshot.comms_ok:
        typer.echo(f"no answer: {snapshot.error}", err=True)
        raise typer.Exit(1)
