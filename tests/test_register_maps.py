"""Register maps as data: every shipped map loads, agrees with the source it cites, and bad maps are refused
with FILE:LINE: field: message; encode/decode round-trips every data type, scale and word order."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, hpsup
from hypothesis import given
from hypothesis import strategies as st

from app.devices import codec
from app.devices.registermap import REGISTER_COUNT, Point, load_map

MAPS = sorted((ROOT / "register_maps").glob("*.yaml"))
SOURCE_OF = {  # shipped map -> the normalized source file it was converted from
    "daikin_altherma3_ekrhh.yaml": "daikin_altherma_ekrhh.yaml",
    "daikin_altherma4_ekrhh.yaml": "daikin_altherma_ekrhh.yaml",
    "grant_aerona3_chofu.yaml": "grant_aerona3_chofu.yaml",
    "lg_therma_v.yaml": "lg_therma_v.yaml",
    "mitsubishi_ecodan_procon_a1m.yaml": "mitsubishi_ecodan_procon_a1m.yaml",
    "nibe_f1155_f1255_modbus40.yaml": "nibe_f1155_f1255_modbus40.yaml",
    "nibe_s1156_s1256.yaml": "nibe_s1156_s1256.yaml",
    "panasonic_aquarea_pa-aw-mbs-1.yaml": "panasonic_aquarea_pa-aw-mbs-1.yaml",
    "samsung_ehs_mim-b19n.yaml": "samsung_ehs_mim-b19n.yaml",
    "stiebel_eltron_wpm_isg.yaml": "stiebel_eltron_wpm_isg.yaml",
}


@pytest.mark.parametrize("path", MAPS, ids=lambda p: p.stem)
def test_every_shipped_map_loads_and_names_its_source(path: Path) -> None:
    regmap = load_map(path)
    assert regmap.source.strip()
    assert path.read_text().startswith("#"), "the header comment carries the citation"
    for point in regmap.points:
        if point.writable and point.data_type != "bit" and point.enum is None:
            assert point.min is not None and point.max is not None


def test_the_shipped_maps_cover_heat_pumps_meters_and_io() -> None:
    kinds = [load_map(p).device_kind for p in MAPS]
    real_heat_pumps = [p for p in MAPS if load_map(p).device_kind == "heat_pump" and p.stem != "generic_heat_pump"]
    assert len(real_heat_pumps) >= 9
    assert {"electricity_meter", "heat_meter", "io_module"} <= set(kinds)


@pytest.mark.parametrize("shipped", sorted(SOURCE_OF), ids=lambda n: n.removesuffix(".yaml"))
def test_converted_maps_agree_with_their_sources(shipped: str, shared_dir: Path) -> None:
    """Each source point sits at the same wire address, in the same table, with the same type and scale."""
    source = yaml.safe_load((shared_dir / "register_maps_sources" / SOURCE_OF[shipped]).read_text())
    regmap = load_map(ROOT / "register_maps" / shipped)
    variant = shipped.split("_")[1] if shipped.startswith("daikin") else None
    at = {regmap.wire_address(p): p for p in regmap.points}
    matched = 0
    for sp in source["points"]:
        if variant and variant not in sp.get("variants", [variant]):
            continue
        table = {"holding": "holding", "input": "input", "coil": "coil", "discrete": "discrete"}[sp["register_type"]]
        point = next((p for (t, a), p in at.items() if t.value == table and a == sp["wire_address"]), None)
        if point is None:
            assert shipped.startswith("samsung") and sp["wire_address"] in (6000, 7000), sp["name"]
            continue  # the Samsung mapping tables are a commissioning step, documented in the map's notes
        matched += 1
        expected_type = "bit" if sp["data_type"] == "bool" else sp["data_type"]
        # a deliberate departure from the source must be flagged as inferred in the map
        assert point.data_type == expected_type or point.inferred, sp["name"]
        if isinstance(sp.get("scale"), (int, float)) and point.data_type != "bit":
            assert point.scale == pytest.approx(sp["scale"]) or point.inferred, sp["name"]
        if sp.get("access") == "r":
            assert not point.writable, f"{sp['name']} is read-only in the source"
    assert matched >= 20


def _check_map(tmp_path: Path, points: str, extra: str = "") -> tuple[int, str]:
    path = tmp_path / "bad.yaml"
    path.write_text("manufacturer: X\nmodel: Y\ndevice_kind: heat_pump\nsource: test\n" + extra + "points:\n" + points)
    result = hpsup("check-map", str(path))
    return result.returncode, result.stderr


@pytest.mark.parametrize(("points", "line", "field", "message"), [
    ("  - {name: a, role: flow_temp, register_type: input, address: 0, data_type: int32}\n"
     "  - {name: b, role: return_temp, register_type: input, address: 1, data_type: int16}\n",
     7, "points.1.address", "overlaps points.0"),
    ("  - {name: sp, role: flow_setpoint, register_type: holding, address: 0, data_type: int16, access: read_write}\n",
     6, "points.0.access", "a writable point needs min and max limits"),
    ("  - {name: a, role: dhw_temp, register_type: input, address: 0, data_type: int16}\n"
     "  - {name: b, role: dhw_temp, register_type: input, address: 1, data_type: int16}\n",
     7, "points.1.role", "role already used by points.0"),
    ("  - {name: a, role: flow_temp, register_type: input, address: 0, data_type: int24}\n",
     6, "points.0.data_type", "Input should be"),
    ("  - {name: a, role: flow_temp, register_type: input, address: 0, data_type: uint16, sentinels: [-1]}\n",
     6, "points.0.sentinels.0", "raw sentinel cannot occur in uint16"),
    ("  - {name: sp, role: flow_setpoint, register_type: holding, address: 0, data_type: int16, scale: 0.1,"
     " access: read_write, min: 0, max: 4000}\n", 6, "points.0.max", "limit does not fit int16"),
])
def test_check_map_refuses_bad_maps_naming_file_line_and_field(tmp_path: Path, points: str, line: int, field: str,
                                                              message: str) -> None:
    code, err = _check_map(tmp_path, points)
    assert code == 2
    assert f"{tmp_path / 'bad.yaml'}:{line}: {field}: {message}" in err


def test_check_map_refuses_a_precondition_on_a_missing_point(tmp_path: Path) -> None:
    point = "  - {name: a, role: flow_temp, register_type: input, address: 0, data_type: int16}\n"
    code, err = _check_map(tmp_path, point, "control_preconditions:\n  - {point: bms_mode, value: 1}\n")
    assert code == 2 and ":6: control_preconditions.0.point: no such point (got 'bms_mode')" in err


def test_check_map_refuses_multi_register_writes_on_a_single_write_device(tmp_path: Path) -> None:
    code, err = _check_map(tmp_path, "  - {name: dm, role: other, register_type: holding, address: 0, data_type: int32,"
                           " access: read_write, min: -3000, max: 3000}\n", "write_function: single\n")
    assert code == 2 and "points.0.access: the map allows single-register writes only" in err


def test_check_map_accepts_every_shipped_map() -> None:
    result = hpsup("check-map", *map(str, MAPS))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": valid ") == len(MAPS)


def _point(data_type: str, scale: float = 1.0, offset: float = 0.0) -> Point:
    table = "coil" if data_type == "bit" else "holding"
    return Point(name="p", role="other", register_type=table, address=0, data_type=data_type, scale=scale,
                 offset=offset)


RAW_RANGE = {"int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}


@given(data_type=st.sampled_from(sorted(RAW_RANGE)), byte_order=st.sampled_from(["big", "little"]),
       word_order=st.sampled_from(["big", "little"]), scale=st.sampled_from([1.0, 0.1, 0.01, 10.0, 100.0]),
       offset=st.sampled_from([0.0, -40.0]), fraction=st.floats(0, 1))
def test_integer_types_round_trip_for_every_scale_and_order(data_type: str, byte_order: str, word_order: str,
                                                            scale: float, offset: float, fraction: float) -> None:
    lo, hi = RAW_RANGE[data_type]
    raw = round(lo + fraction * (hi - lo))
    point = _point(data_type, scale, offset)
    value = codec.raw_to_value(point, raw)
    words = codec.encode(point, value, byte_order, word_order)
    assert len(words) == REGISTER_COUNT[data_type] and all(0 <= w <= 0xFFFF for w in words)
    assert codec.decode(point, words, byte_order, word_order)[0] == raw


@given(value=st.floats(-1e6, 1e6, allow_nan=False), byte_order=st.sampled_from(["big", "little"]),
       word_order=st.sampled_from(["big", "little"]))
def test_float32_round_trips_in_every_order(value: float, byte_order: str, word_order: str) -> None:
    point = _point("float32")
    raw, decoded = codec.decode(point, codec.encode(point, value, byte_order, word_order), byte_order, word_order)
    assert decoded == pytest.approx(value, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(("data_type", "value", "byte_order", "word_order", "words"), [
    ("int16", -1, "big", "big", [0xFFFF]),
    ("uint32", 0x12345678, "big", "big", [0x1234, 0x5678]),
    ("uint32", 0x12345678, "big", "little", [0x5678, 0x1234]),
    ("uint32", 0x12345678, "little", "big", [0x3412, 0x7856]),
    ("float32", 1.0, "big", "big", [0x3F80, 0x0000]),
    ("float32", 1.0, "big", "little", [0x0000, 0x3F80]),
    ("bit", 1, "big", "big", [1]),
])
def test_word_and_byte_order_put_bytes_where_the_map_says(data_type: str, value: float, byte_order: str,
                                                          word_order: str, words: list[int]) -> None:
    assert codec.raw_to_words(value, data_type, byte_order, word_order) == words


def test_nibe_s_series_reads_low_word_first_and_writes_high_word_first() -> None:
    regmap = load_map(ROOT / "register_maps" / "nibe_s1156_s1256.yaml")
    point = regmap.by_name["degree_minutes_32_bit"]
    assert codec.encode(point, -200.0, *regmap.orders(for_write=True)) == [0xFFFF, 0xF830]
    assert codec.decode(point, [0xF830, 0xFFFF], *regmap.orders(for_write=False))[1] == -200.0


def test_encode_refuses_values_the_register_cannot_hold() -> None:
    with pytest.raises(codec.EncodeError):
        codec.encode(_point("int16", 0.1), 4000.0)
