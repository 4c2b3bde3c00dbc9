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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL,
                                   retain INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


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


class Outbox:
    """A durable FIFO of messages (SQLite, WAL, synchronous=FULL), shared by the producer and the sender."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        with self._transaction():
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('stream', ?)", (secrets.token_hex(8),))
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('next_seq', '1')")
        self.stream = str(self._meta("stream"))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, messages: Iterable[Message], cursors: Mapping[str, str] | None = None) -> list[int]:
        """Append `messages` (and move `cursors`) in one durable transaction; return their sequence numbers."""
        with self._transaction():
            seq = first = int(self._meta("next_seq") or 1)
            rows = []
            for m in messages:
                body = {"seq": seq, "stream": self.stream, **m.body}
                payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
                rows.append((seq, m.topic, payload.encode(), int(m.retain)))
                seq += 1
            self._db.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?)", rows)
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (str(seq),))
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [(f"cursor:{k}", v) for k, v in (cursors or {}).items()])
        return list(range(first, seq))

    def after(self, seq: int, limit: int) -> list[Queued]:
        """Up to `limit` waiting messages with a sequence number above `seq`, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq "
                                    "LIMIT ?", (seq, limit)).fetchall()
        return [Queued(s, t, bytes(p), bool(r)) for s, t, p, r in rows]

    def ack(self, seqs: Iterable[int]) -> None:
        """Remove delivered messages."""
        with self._transaction():
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def cursor(self, name: str) -> str | None:
        """The value of cursor `name` as last committed with `put`, or None."""
        with self._lock:
            return self._meta(f"cursor:{name}")

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
