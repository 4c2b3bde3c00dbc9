"""Deployment: the docker-compose stack is valid and wired together, the image carries what the package needs,
the systemd unit runs the supervisor unprivileged with restart on failure, and the stop signal both use
makes the supervisor hand the plant back and say it is offline."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, service_unavailable
from mqtt_broker import Mosquitto, Recorder, wait_until
from sqlalchemy.engine import make_url

from app.config import load_site

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "hpsup.service"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """`docker-compose config`: the stack as docker-compose itself reads it."""
    exe = shutil.which("docker-compose")
    if exe is None:
        service_unavailable("docker-compose is not installed (Debian package docker-compose)")
    result = subprocess.run([str(exe), "-f", str(ROOT / "docker-compose.yml"), "config"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)  # type: ignore[no-any-return]


def in_image(path: str) -> Path:
    """Where a path under the image's /opt/hpsup comes from in the repository (see the Dockerfile)."""
    assert path.startswith("/opt/hpsup/"), path
    return ROOT / path.removeprefix("/opt/hpsup/")


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_compose_stack_wires_supervisor_simulator_postgres_and_mosquitto(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"supervisor", "simulator", "postgres", "mosquitto"} <= set(services)
    sup = services["supervisor"]
    assert set(sup["depends_on"]) == {"postgres", "mosquitto", "simulator"}
    assert sup["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert sup["restart"] == "on-failure" and sup["stop_signal"] == "SIGINT"

    mounts = {v.split(":")[1]: v.split(":")[0] for v in sup["volumes"]}
    site_file = Path(mounts[option(sup["command"], "--site")])
    assert site_file == DEPLOY / "site.yaml"
    site = load_site(site_file)

    sim = services["simulator"]["command"]
    (hp,) = site.heat_pumps
    assert (hp.connection.host, str(hp.connection.port)) == ("simulator", option(sim, "--port"))
    assert option(sim, "--host") == "0.0.0.0"
    sim_map = in_image(option(sim, "--map"))
    assert sim_map.is_file() and sim_map.stem == hp.register_map

    db = make_url(site.storage.url)
    pg_env = services["postgres"]["environment"]
    assert (db.host, db.database, db.username) == ("postgres", pg_env["POSTGRES_DB"], pg_env["POSTGRES_USER"])
    secret = re.fullmatch(r"\$\{file:(/run/secrets/(\w+))\}", str(db.password))
    assert secret is not None, "the database password must be a reference to the compose secret"
    assert pg_env["POSTGRES_PASSWORD_FILE"] == secret[1]
    for name in ("supervisor", "postgres"):
        assert secret[2] in [s["source"] for s in services[name]["secrets"]]

    assert site.telemetry.mqtt is not None and site.telemetry.mqtt.host == "mosquitto"
    assert site.telemetry.mqtt.queue_path.startswith(next(k for k, v in mounts.items() if not v.startswith("/")))
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    assert f"listener {site.telemetry.mqtt.port}" in conf
    assert any(v.startswith(str(DEPLOY / "mosquitto" / "mosquitto.conf")) for v in services["mosquitto"]["volumes"])

    estate = services["estate"]["command"]
    assert estate[0] == "estate" and make_url(option(estate, "--database").replace("$$", "$")) == db


def test_image_copies_everything_the_package_build_needs_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    copied = {src for line in text.splitlines() if line.startswith("COPY ")
              for src in shlex.split(line)[1:-1]}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {"pyproject.toml", project["project"]["readme"], *wheel["packages"], *wheel["force-include"]}
    assert needed <= copied, f"the Dockerfile does not copy {sorted(needed - copied)}"
    assert all((ROOT / src).exists() for src in copied)
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^STOPSIGNAL\s+SIGINT$", text, flags=re.M)
    assert re.search(r'^ENTRYPOINT\s+\["hpsup"\]$', text, flags=re.M)


def test_systemd_unit_runs_the_supervisor_as_a_user_and_restarts_it_on_failure(tmp_path: Path) -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    service = unit["Service"]
    assert service["User"] not in ("root", "0") and service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGINT" and "130" in service["SuccessExitStatus"].split()
    run = shlex.split(service["ExecStart"])
    assert Path(run[0]).name == "hpsup" and run[1:3] == ["run", "--site"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit's syntax is not checked by systemd")
    # systemd checks that the commands exist: point them at this environment's hpsup.
    local = tmp_path / UNIT.name
    local.write_text(UNIT.read_text().replace(run[0], str(Path(sys.executable).with_name("hpsup"))))
    result = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_stop_signal_hands_the_plant_back_and_publishes_offline(tmp_path: Path, sig: signal.Signals) -> None:
    """What `systemctl stop` and `docker stop` send (SIGINT, as the unit and image set; SIGTERM by default)
    ends a run cleanly between cycles: units released to their own control, the retained status says
    stopped, exit status 128 + the signal's number."""
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    rec = Recorder(broker.port, "hpsup/+/status")
    db = tmp_path / "run.db"
    env = {**os.environ, "HPSUP_DATABASE_URL": f"sqlite:///{db}", "HPSUP_MQTT_HOST": "127.0.0.1",
           "HPSUP_MQTT_PORT": str(broker.port), "HPSUP_MQTT_QUEUE": str(tmp_path / "outbox.db")}
    proc = subprocess.Popen([sys.executable, "-m", "app", "run", "--site", str(EXAMPLES / "school.yaml"),
                             "--simulate", "--speed", "300"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: any(b["online"] for b in rec.bodies()), 30, "the supervisor online")
        time.sleep(1.0)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=40)
        wait_until(lambda: not rec.bodies()[-1]["online"], 10, "the offline status")
    finally:
        proc.kill()
        rec.close()
        broker.stop()
    assert proc.returncode == 128 + sig, err
    assert rec.bodies()[-1]["reason"] == "stopped"
    released = sqlite3.connect(db).execute(
        "select count(*) from register_writes where reason like 'release:%'").fetchone()[0]
    assert released >= 1
