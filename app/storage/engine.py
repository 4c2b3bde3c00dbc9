"""Engine creation and schema migration: SQLite (WAL, synchronous=FULL) or any SQLAlchemy URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from app.paths import data_dir


def normalise_url(url: str) -> str:
    """`url` with PostgreSQL pointed at the psycopg 3 driver (``postgres://``, ``postgresql://`` included)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def make_engine(url: str) -> Engine:
    """An engine for `url`. SQLite runs in WAL mode with synchronous=FULL so every commit is durable;
    PostgreSQL (``postgresql://`` or ``postgresql+psycopg://``) runs on psycopg 3."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    """An alembic Config for the shipped migrations, pointed at `url`."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(data_dir("migrations")))
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (creates the schema on an empty database)."""
    from alembic import command

    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
