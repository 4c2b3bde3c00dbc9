"""Encoding between engineering values and Modbus registers, per a map's data type, scaling and byte/word order.

Registers are 16-bit words as they travel on the wire (the first word is the lowest address). Bits are
0/1 ints. ``raw`` is the integer (or float32) the device stores before scaling; sentinels are compared on it.
"""

from __future__ import annotations

import math
import struct

from app.devices.registermap import Point

_FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f"}
_LIMITS = {"int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-(2**31), 2**31 - 1),
           "uint32": (0, 2**32 - 1)}


class EncodeError(ValueError):
    """A value that cannot be represented in the point's register(s)."""


def words_to_raw(words: list[int], data_type: str, byte_order: str = "big", word_order: str = "big") -> float:
    """The raw number stored in `words` (one or two registers, lowest address first)."""
    if data_type == "bit":
        return float(1 if words[0] else 0)
    ordered = list(words) if word_order == "big" else list(reversed(words))
    data = b"".join(w.to_bytes(2, "big") if byte_order == "big" else w.to_bytes(2, "little") for w in ordered)
    return struct.unpack(">" + _FORMATS[data_type], data)[0]


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


def raw_to_value(point: Point, raw: float) -> float:
    """Engineering value of a raw register number: raw × scale + offset.

    Decimal scales (0.1, 0.01) divide by their inverse so 528 × 0.1 reads 52.8, not 52.800000000000004.
    """
    inverse = 1 / point.scale
    if abs(point.scale) < 1 and abs(inverse - round(inverse)) < 1e-9:
        return raw / round(inverse) + point.offset
    return raw * point.scale + point.offset


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
