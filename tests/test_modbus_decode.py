"""Block decoding: one unpack per read gives every point's raw number, exactly as encoding put it there, in every
byte and word order; the driver's block readings equal its point-by-point readings for every shipped map."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime

import pytest
from conftest import ROOT
from hypothesis import given
from hypothesis import strategies as st

from app.clock import SimClock
from app.config import TcpConnection
from app.devices import codec
from app.devices.modbus import ModbusDevice, plan_reads, split_block
from app.devices.registermap import Point, load_map
from app.snapshot import Quality

T0 = datetime(2024, 1, 10, 6, 0, tzinfo=UTC)
MAPS = sorted((ROOT / "register_maps").glob("*.yaml"))
ORDERS = st.sampled_from(["big", "little"])
RAW_RANGE = {"int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-(2**31), 2**31 - 1),
             "uint32": (0, 2**32 - 1)}


def as_float32(x: float) -> float:
    return struct.unpack(">f", struct.pack(">f", x))[0]


def raw_of(data_type: str, fraction: float, rng: random.Random) -> float:
    """A raw number the data type can hold, `fraction` of the way through its range."""
    if data_type == "float32":
        return as_float32(rng.uniform(-1e6, 1e6))
    lo, hi = RAW_RANGE[data_type]
    return lo + round(fraction * (hi - lo))


@given(types=st.lists(st.sampled_from(sorted(RAW_RANGE) + ["float32"]), min_size=1, max_size=12),
       gaps=st.lists(st.integers(0, 3), min_size=12, max_size=12), fractions=st.lists(st.floats(0, 1), min_size=12,
                                                                                    max_size=12),
       byte_order=ORDERS, word_order=ORDERS, seed=st.integers(0, 2**16))
def test_a_block_unpacks_every_raw_number_it_was_encoded_with(types: list[str], gaps: list[int],
                                                             fractions: list[float], byte_order: str,
                                                             word_order: str, seed: int) -> None:
    rng = random.Random(seed)
    entries, raws, words = [], [], []
    for data_type, gap, fraction in zip(types, gaps, fractions, strict=False):
        words += [rng.randrange(65536) for _ in range(gap)]  # unused registers between points hold anything
        raw = raw_of(data_type, fraction, rng)
        entries.append((len(words), data_type))
        raws.append(raw)
        words += codec.raw_to_words(raw, data_type, byte_order, word_order)
    order = list(range(len(entries)))
    rng.shuffle(order)  # the entries may come in any order; raws come back in that order
    layout = codec.BlockLayout([entries[i] for i in order], len(words), byte_order, word_order)
    assert layout.raws(words) == tuple(raws[i] for i in order)


def test_a_bit_block_picks_its_points_bits() -> None:
    layout = codec.BlockLayout([(5, "bit"), (0, "bit"), (2, "bit")], 8)
    assert layout.raws([1, 0, 0, 1, 1, 1, 0, 1]) == (1.0, 1.0, 0.0)


@pytest.mark.parametrize(("entries", "count", "message"), [
    ([(0, "int32"), (1, "uint16")], 3, "overlaps"),
    ([(2, "float32")], 3, "outside"),
    ([(0, "bit"), (1, "uint16")], 2, "either bits or registers"),
])
def test_a_layout_whose_points_do_not_fit_the_block_is_refused(entries: list[tuple[int, str]], count: int,
                                                               message: str) -> None:
    with pytest.raises(ValueError, match=message):
        codec.BlockLayout(entries, count)


def block_words(point_raws: list[tuple[int, Point, float]], count: int, byte_order: str, word_order: str,
                rng: random.Random) -> list[int]:
    """The words of a block holding each (offset, point, raw), gaps filled with anything."""
    bits = point_raws[0][1].data_type == "bit"
    words = [rng.randrange(2 if bits else 65536) for _ in range(count)]
    for offset, point, raw in point_raws:
        words[offset:offset + point.count] = codec.raw_to_words(raw, point.data_type, byte_order, word_order)
    return words


def raws_to_try(point: Point, rng: random.Random) -> list[float]:
    """A good raw, each sentinel, each enum state and one beyond, and the extremes of the data type."""
    if point.data_type == "bit":
        return [0.0, 1.0]
    if point.data_type == "float32":
        return [as_float32(rng.uniform(-1e5, 1e5)), float("nan"), *map(as_float32, point.sentinels)]
    lo, hi = RAW_RANGE[point.data_type]
    return [rng.randint(lo, hi), lo, hi, *map(int, point.sentinels), *(point.enum or {}),
            *([max(point.enum) + 1] if point.enum and max(point.enum) < hi else [])]


@pytest.mark.parametrize("path", MAPS, ids=[p.stem for p in MAPS])
def test_block_readings_equal_point_by_point_readings_for_every_shipped_map(path) -> None:  # noqa: ANN001
    regmap = load_map(path)
    calibration = {p.name: 0.5 for p in regmap.points[::3] if p.data_type != "bit"}
    device = ModbusDevice("dev", regmap, TcpConnection(host="127.0.0.1", port=1), SimClock(T0), calibration=calibration)
    orders = regmap.orders(for_write=False)
    rng = random.Random(path.stem)
    seen = set()
    blocks = plan_reads(regmap)
    for block in [*blocks, *(half for b in blocks if len(b.points) > 1 for half in split_block(regmap, b))]:
        offsets = [regmap.wire_address(p)[1] - block.start for p in block.points]
        for trial in range(12):
            point_raws = [(o, p, (tries := raws_to_try(p, rng))[trial % len(tries)])
                          for o, p in zip(offsets, block.points, strict=True)]
            words = block_words(point_raws, block.count, *orders, rng)
            readings = device.decode_block(block, words, T0)
            assert list(readings) == [p.name for p in block.points]
            for offset, point, raw in point_raws:
                one = device.decode(point, words[offset:offset + point.count], T0)
                got = readings[point.name]
                assert got == one, f"{path.name} {point.name} raw {raw}"
                seen.add(got.quality)
                if got.good:
                    expected = codec.raw_to_value(point, raw) + calibration.get(point.name, 0.0)
                    assert got.value == expected
    assert Quality.GOOD in seen
