"""The telemetry outbox: messages waiting for the broker, kept in a SQLite file that survives restarts.

Every message gets the next sequence number of the outbox (``seq``, from 1, never reused) and the outbox's
``stream`` id (random, made when the file is created) inside its JSON payload. Messages leave the outbox
only when the broker has acknowledged them (QoS 1 PUBACK), so a broker outage or a process restart loses
nothing; the sender delivers them in ``seq`` order. Delivery is at least once: a message whose
acknowledgement was lost is sent again, and a consumer drops any ``seq`` it has already seen for a
``stream``. Named cursors (e.g. the last event id published) are committed in the same transaction as
the messages they produced.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, "
    "retain INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class Message:
    """A message to publish: its topic, its JSON body (``seq`` and ``stream`` are added), whether retained."""

    topic: str
    body: dict[str, Any]
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Queued:
    """A message in the outbox, encoded as it goes on the wire."""

    seq: int
    topic: str
    payload: bytes
    retain: bool


class _Connection:
    """One SQLite connection to the outbox file with the lock that serialises its users."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self.lock:
            return self.db.execute(sql, params).fetchall()


class Outbox:
    """A durable FIFO of messages in a SQLite file (WAL), shared by the producer and the sender.

    Appends are committed with synchronous=FULL: once `put` returns, the messages survive a power cut.
    Removals of delivered messages use a connection of their own with synchronous=NORMAL, which survives
    a crash of the process but not of the machine: after a power cut a few delivered messages may be sent
    again, which at-least-once delivery allows, and acknowledging costs no disk flush.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._producer = _Connection(self.path, "FULL")
        self._sender = _Connection(self.path, "NORMAL")
        with self._producer.transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('stream', ?)", (secrets.token_hex(8),))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('next_seq', '1')")
        self.stream = str(self._meta("stream"))

    def _meta(self, key: str) -> str | None:
        rows = self._producer.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def put(self, messages: Iterable[Message], cursors: Mapping[str, str] | None = None) -> list[int]:
        """Append `messages` (and move `cursors`) in one durable transaction; return their sequence numbers."""
        with self._producer.transaction() as db:
            seq = first = int(db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
            rows = []
            for m in messages:
                body = {"seq": seq, "stream": self.stream, **m.body}
                payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
                rows.append((seq, m.topic, payload.encode(), int(m.retain)))
                seq += 1
            db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?)", rows)
            db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (str(seq),))
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [(f"cursor:{k}", v) for k, v in (cursors or {}).items()])
        return list(range(first, seq))

    def after(self, seq: int, limit: int) -> list[Queued]:
        """Up to `limit` waiting messages with a sequence number above `seq`, oldest first."""
        rows = self._sender.query("SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                                  (seq, limit))
        return [Queued(s, t, bytes(p), bool(r)) for s, t, p, r in rows]

    def ack(self, seqs: Iterable[int]) -> None:
        """Remove delivered messages."""
        with self._sender.transaction() as db:
            db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def cursor(self, name: str) -> str | None:
        """The value of cursor `name` as last committed with `put`, or None."""
        return self._meta(f"cursor:{name}")

    def __len__(self) -> int:
        return int(self._sender.query("SELECT count(*) FROM outbox")[0][0])

    def close(self) -> None:
        for conn in (self._producer, self._sender):
            with conn.lock:
                conn.db.close()
