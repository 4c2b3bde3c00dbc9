"""The L8 hash chain: a record's canonical text, its hash, and how a chain of records is checked.

A record's canonical text is its fields joined by the unit separator (U+001F) in the order of
`FIELDS` — sequence number, UTC timestamp, site, cylinder, kind, sensor, value, data and, last, the
previous record's hash. Its hash is SHA-256 of that text, so a record cannot change without its hash
changing, and none can be removed or slipped in without breaking the link the next record holds.

A check names what it finds by sequence number: a record *altered* (its text no longer gives its
hash), *deleted* (a sequence number missing), *inserted* (a sequence number held twice, or a record
that does not link to the one before it). Removing records from the very end leaves a valid shorter
chain: compare the head hash with one published earlier (the PDF export prints it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

GENESIS = "0" * 64
KINDS = ("temperature", "cycle")
SEP = "\x1f"
FIELDS = ("seq", "ts", "site", "cylinder", "kind", "sensor", "value", "data", "prev_hash")


def canonical_ts(ts: datetime) -> str:
    """A timestamp as hashed and exported: UTC, microseconds, ``Z``."""
    if ts.tzinfo is None:
        raise ValueError(f"naive timestamp {ts!r}: L8 records need timezone-aware UTC")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stored_value(value: float | None) -> float | None:
    """The value as stored: rounded to 0.001 (°C), so its canonical text is exact on every backend."""
    return None if value is None else round(float(value), 3) + 0.0  # + 0.0: no "-0.000"


def canonical_value(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def canonical_data(data: dict[str, Any] | None) -> str:
    return "" if data is None else json.dumps(data, sort_keys=True, separators=(",", ":"))


def canonical_text(seq: int, ts: str, site: str, cylinder: str, kind: str, sensor: str, value: str,
                   data: str, prev_hash: str) -> str:
    """The text that is hashed, from fields already in canonical form."""
    return SEP.join((str(seq), ts, site, cylinder, kind, sensor, value, data, prev_hash))


def record_hash(text: str) -> str:
    """SHA-256 (hex) of a record's canonical text."""
    return hashlib.sha256(text.encode()).hexdigest()


class ChainLine(NamedTuple):
    """One stored or exported record: where it lives (``ref``: database id or file line), its sequence
    number, canonical text and stored hash. Any 4-tuple in this order checks the same way."""

    ref: int
    seq: int
    text: str
    hash: str

    @property
    def prev_hash(self) -> str:
        return self.text[-64:]

    def field(self, name: str) -> str:
        return self.text.split(SEP)[FIELDS.index(name)]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: ``altered``, ``deleted``, ``inserted`` or ``head``, naming the records."""

    kind: str
    seq: int
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass
class Verdict:
    """The outcome of checking a chain."""

    rows: int
    first_seq: int | None
    last_seq: int | None
    head: str | None
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(lines: Iterable[tuple[int, int, str, str]], *, ref: str = "id", from_genesis: bool = True,
           expect_head: str | None = None) -> Verdict:
    """Check records in storage order (sequence number, then insertion order).

    ``ref`` names where records live ("id" in a database, "line" in a file). ``from_genesis``: the
    first record must be sequence 1 linking to the genesis hash (a whole chain); an export of a period
    starts wherever the period starts. ``expect_head``: a head hash published earlier, which the chain
    must still hold.
    """
    problems: list[Problem] = []
    prev: tuple[int, int, str, str] | None = None
    count, first, seen_head = 0, None, expect_head is None

    def name(line: tuple[int, int, str, str]) -> str:
        return f"seq {line[1]} ({ref} {line[0]})"

    sha = hashlib.sha256
    for line in lines:  # indexed, not by attribute: raw database rows are checked as they come
        _, seq, body, stored = line
        count += 1
        if first is None:
            first = seq
        if sha(body.encode()).hexdigest() != stored:
            problems.append(Problem("altered", seq, f"{name(line)}: content does not match its hash"))
        if stored == expect_head:
            seen_head = True
        if prev is None:
            if from_genesis and seq != 1:
                problems.append(Problem("deleted", 1, f"seq 1 … {seq - 1} missing before {name(line)}"))
            elif from_genesis and body[-64:] != GENESIS:
                problems.append(Problem("inserted", seq, f"{name(line)} does not start from the genesis hash"))
            prev = line
            continue
        if seq <= prev[1]:
            problems.append(Problem("inserted", seq, f"{name(line)} repeats a sequence number already held"))
            continue
        if seq > prev[1] + 1:
            missing = f"seq {prev[1] + 1}" + (f" … {seq - 1}" if seq > prev[1] + 2 else "")
            problems.append(Problem("deleted", prev[1] + 1, f"{missing} missing between {name(prev)} and {name(line)}"))
        elif body[-64:] != prev[3]:
            problems.append(Problem(
                "inserted", seq, f"{name(line)} does not link to {name(prev)}: one of them was slipped in or re-hashed",
            ))
        prev = line
    if not seen_head:
        problems.append(Problem("head", -1, f"published head {expect_head} is not in the chain (records removed)"))
    return Verdict(count, first, prev[1] if prev else None, prev[3] if prev else None, problems)
