"""Encoding between engineering values and Modbus registers, per a map's data type, scaling and byte/word order.

Registers are 16-bit words as they travel on the wire (the first word is the lowest address). Bits are
0/1 ints. ``raw`` is the integer (or float32) the device stores before scaling; sentinels are compared on it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from functools import cache

from app.devices.registermap import REGISTER_COUNT, Point

_FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f"}
_LIMITS = {"int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-(2**31), 2**31 - 1),
           "uint32": (0, 2**32 - 1)}


class EncodeError(ValueError):
    """A value that cannot be represented in the point's register(s)."""


class BlockLayout:
    """Where each point of one read sits in the reply, and how all their raw numbers come out of it at once.

    For a register block the words are packed in the map's byte order, the two words of each 32-bit point
    are swapped into high-word-first order where the map keeps the low word first, and one precompiled
    ``struct`` format (pad bytes over the gaps) unpacks every point. A bit block picks its points' bits.
    """

    __slots__ = ("_bits", "_order", "_pack", "_swap", "_unpack")

    def __init__(self, entries: Sequence[tuple[int, str]], count: int, byte_order: str = "big",
                 word_order: str = "big") -> None:
        """`entries`: (offset of the point's first word or bit in the block, data type), in any order;
        `count`: words (or bits) in the block."""
        ordered = sorted(range(len(entries)), key=lambda i: entries[i][0])
        self._order = None if ordered == list(range(len(entries))) else [ordered.index(i) for i in
                                                                         range(len(entries))]
        bits = [entries[i][1] == "bit" for i in ordered]
        if any(bits) != all(bits):
            raise ValueError("a block holds either bits or registers, not both")
        fmt, end, swap = ">", 0, list(range(count))
        for i in ordered:
            offset, data_type = entries[i]
            size = REGISTER_COUNT[data_type]
            if offset < end or offset + size > count:
                raise ValueError(f"a {data_type} at offset {offset} overlaps another or lies outside the "
                                 f"block of {count}")
            if data_type != "bit":
                fmt += "x" * (2 * (offset - end)) + _FORMATS[data_type]
                if size == 2 and word_order != "big":
                    swap[offset], swap[offset + 1] = offset + 1, offset
            end = offset + size
        self._bits = [entries[i][0] for i in ordered] if all(bits) else None
        self._swap = None if swap == list(range(count)) else swap
        self._pack = struct.Struct(f"{'>' if byte_order == 'big' else '<'}{count}H").pack
        self._unpack = struct.Struct(fmt).unpack_from

    def raws(self, words: Sequence[int]) -> tuple[float, ...]:
        """The raw number of every entry, in the order the entries were given."""
        if self._bits is not None:
            values: Sequence[float] = [1.0 if words[i] else 0.0 for i in self._bits]
        else:
            if self._swap is not None:
                words = [words[i] for i in self._swap]
            values = self._unpack(self._pack(*words))
        return tuple(values) if self._order is None else tuple(values[i] for i in self._order)


@cache
def _single(data_type: str, byte_order: str, word_order: str) -> BlockLayout:
    return BlockLayout([(0, data_type)], REGISTER_COUNT[data_type], byte_order, word_order)


def words_to_raw(words: Sequence[int], data_type: str, byte_order: str = "big", word_order: str = "big") -> float:
    """The raw number stored in `words` (one or two registers, lowest address first)."""
    return _single(data_type, byte_order, word_order).raws(words)[0]


def raw_to_words(raw: float, data_type: str, byte_order: str = "big", word_order: str = "big") -> list[int]:
    """The registers that hold `raw` (inverse of words_to_raw)."""
    if data_type == "bit":
        return [1 if raw else 0]
    fmt = _FORMATS[data_type]
    if data_type != "float32":
        lo, hi = _LIMITS[data_type]
        if raw != int(raw) or not lo <= raw <= hi:
            raise EncodeError(f"raw value {raw} does not fit {data_type}")
        raw = int(raw)
    data = struct.pack(">" + fmt, raw)
    words = [int.from_bytes(data[i:i + 2], "big" if byte_order == "big" else "little") for i in range(0, len(data), 2)]
    return words if word_order == "big" else list(reversed(words))


class Scaling:
    """A point's raw → engineering conversion: raw × scale + offset, decimal scales (0.1, 0.01) dividing by
    their inverse so 528 × 0.1 reads 52.8, not 52.800000000000004."""

    __slots__ = ("divisor", "offset", "scale")

    def __init__(self, point: Point) -> None:
        inverse = 1 / point.scale
        decimal = abs(point.scale) < 1 and abs(inverse - round(inverse)) < 1e-9
        self.divisor = round(inverse) if decimal else None
        self.scale = point.scale
        self.offset = point.offset

    def value(self, raw: float) -> float:
        return raw / self.divisor + self.offset if self.divisor is not None else raw * self.scale + self.offset


def raw_to_value(point: Point, raw: float) -> float:
    """Engineering value of a raw register number: raw × scale + offset (see :class:`Scaling`)."""
    return Scaling(point).value(raw)


def value_to_raw(point: Point, value: float) -> float:
    """The raw number that represents `value` (rounded to the register's resolution for integer types)."""
    if not math.isfinite(value):
        raise EncodeError(f"{point.name}: {value} is not a finite number")
    raw = (value - point.offset) / point.scale
    if point.data_type == "float32":
        return raw
    if point.data_type == "bit":
        return 1.0 if raw else 0.0
    return float(round(raw))


def encode(point: Point, value: float, byte_order: str = "big", word_order: str = "big") -> list[int]:
    """Registers for an engineering value."""
    return raw_to_words(value_to_raw(point, value), point.data_type, byte_order, word_order)


def decode(point: Point, words: list[int], byte_order: str = "big", word_order: str = "big") -> tuple[float, float]:
    """(raw, engineering value) of a point's registers."""
    raw = words_to_raw(words, point.data_type, byte_order, word_order)
    return raw, raw_to_value(point, raw)
