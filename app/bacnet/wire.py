"""BACnet tag encoding (ASHRAE 135 Clause 20.2) for the answers the device builds itself.

ReadProperty(Multiple) and ReadRange answers are assembled from already-encoded values; these helpers
write the context tags around them.
"""

from __future__ import annotations


def _unsigned_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def context(tag: int, data: bytes) -> bytes:
    """A context-tagged primitive of `data` (tags 0..14)."""
    n = len(data)
    if n <= 4:
        return bytes([(tag << 4) | 0x08 | n]) + data
    if n <= 253:
        return bytes([(tag << 4) | 0x08 | 5, n]) + data
    return bytes([(tag << 4) | 0x08 | 5, 254]) + n.to_bytes(2, "big") + data


def context_unsigned(tag: int, value: int) -> bytes:
    return context(tag, _unsigned_bytes(value))


def context_object_id(tag: int, object_type: int, instance: int) -> bytes:
    return context(tag, ((object_type << 22) | instance).to_bytes(4, "big"))


def context_bits(tag: int, bits: list[int]) -> bytes:
    """A context-tagged BIT STRING (first bit is the most significant of the first octet)."""
    octets = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            octets[i // 8] |= 0x80 >> (i % 8)
    return context(tag, bytes([len(octets) * 8 - len(bits)]) + bytes(octets))


def opening(tag: int) -> bytes:
    return bytes([(tag << 4) | 0x0E])


def closing(tag: int) -> bytes:
    return bytes([(tag << 4) | 0x0F])


def enclosed(tag: int, data: bytes) -> bytes:
    """`data` between an opening and a closing tag."""
    return opening(tag) + data + closing(tag)
