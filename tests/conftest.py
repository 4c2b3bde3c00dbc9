"""Shared fixtures: project paths, the reference data folder beside the repository, free ports, databases."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["control_plant"]  # the control rigs' module-scoped database and performance table

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
EXAMPLES = ROOT / "examples"


@pytest.fixture
def shared_dir() -> Path:
    """The reference data folder that sits beside the repository in development and CI."""
    if not SHARED.is_dir():
        pytest.skip("reference data folder ../shared is not present beside the repository")
    return SHARED


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hpsup.db'}"


def hpsup(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the `hpsup` command line in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


# --- services this machine kind runs: PostgreSQL and Mosquitto ---------------------------------------------------

POSTGRES_URL = os.environ.get("HPSUP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


def service_unavailable(reason: str) -> None:
    """Skip with `reason`, or fail when HPSUP_REQUIRE_SERVICES=1 (CI, where the service must be there)."""
    if os.environ.get("HPSUP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} — HPSUP_REQUIRE_SERVICES=1 requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of its own on the PostgreSQL server (created for this session, dropped after it)."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    server = make_url(POSTGRES_URL)
    try:
        admin = psycopg.connect(host=server.host, port=server.port or 5432, user=server.username,
                                password=server.password, dbname=server.database, connect_timeout=5,
                                autocommit=True)
    except psycopg.OperationalError as exc:
        service_unavailable(f"PostgreSQL at {server.render_as_string()} is not reachable "
                            f"(set HPSUP_TEST_POSTGRES_URL): {' '.join(str(exc).split())}")
    name = f"hpsup_test_{secrets.token_hex(6)}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A URL whose connections see an empty schema of their own (one per test) in the session database."""
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_database.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{postgres_database}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database on each backend: a fresh SQLite file, and a fresh PostgreSQL schema."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def system_mqtt() -> tuple[str, int]:
    """The Mosquitto broker this machine kind runs on 127.0.0.1:1883."""
    try:
        socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=2).close()
    except OSError as exc:
        service_unavailable(f"no MQTT broker on {MQTT_HOST}:{MQTT_PORT}: {exc}")
    return MQTT_HOST, MQTT_PORT
