"""Storage: SQLAlchemy engine, typed tables and the historian. SQLite by default, PostgreSQL by URL."""

from app.storage.engine import make_engine
from app.storage.historian import Historian

__all__ = ["Historian", "make_engine"]
