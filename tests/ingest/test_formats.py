"""Payload decoders: examples per format, partial batches, round trips, unit scaling."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.formats import (
    Decoder,
    MappingReading,
    MappingRule,
    MappingTime,
    Route,
    canonical,
    default_routes,
)
from ingest.formats._common import MAX_MS, MAX_US, Bad, Times, _iso_vector
from ingest.model import Decoded
from ingest.units import CANONICAL, UNITS, lookup
from simulators.payloads import (
    encode_canonical_batch,
    encode_canonical_columns,
    encode_canonical_single,
    encode_senml,
    encode_shelly_notify,
    encode_shelly_switch,
    encode_tasmota,
)
from tests.ingest.hostile import bad_keys, bad_times, bad_values, unknown_units

NOW = 1_795_392_000_000_000  # 2026-11-23T00:00:00Z in µs
POINT = "110108A001/main/energy_kwh"
DECODER = Decoder(default_routes(), max_payload_bytes=4096)


def decode(topic: str, doc: object, decoder: Decoder = DECODER) -> tuple[str, Decoded]:
    payload = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return decoder.decode(topic, payload, received_us=NOW)


def rows(out: Decoded) -> list[tuple]:
    return list(zip(out.keys, out.times_us, out.values, out.units, strict=True))


def codes(out: Decoded) -> list[tuple[str, str, int | None]]:
    return [(r.code, r.field, r.index) for r in out.rejections]


# --- canonical ----------------------------------------------------------------------------


def test_canonical_single_iso_and_epoch_ms() -> None:
    fmt, out = decode(
        "jieneng/readings/b1",
        {
            "point": POINT,
            "time": "2026-11-23T08:00:00+08:00",
            "value": 1234.5,
            "unit": "kWh",
            "quality": 0,
        },
    )
    assert fmt == "canonical"
    assert rows(out) == [(POINT, NOW, 1234.5, "kWh")]
    _, out = decode("jieneng/readings/b1", {"point": POINT, "time": 1795392000000, "value": 7})
    assert rows(out) == [(POINT, NOW, 7.0, None)]
    assert type(out.values[0]) is float


def test_canonical_naive_iso_uses_naive_tz() -> None:
    doc = {"point": POINT, "time": "2026-11-23T08:00:00", "value": 1}
    assert decode("jieneng/readings/b1", doc)[1].times_us == [NOW]
    utc = Decoder(default_routes(), naive_tz="UTC")
    assert decode("jieneng/readings/b1", doc, utc)[1].times_us == [NOW + 8 * 3_600_000_000]


def test_canonical_batch_defaults_and_shapes() -> None:
    doc = {
        "point": POINT,
        "unit": "Wh",
        "readings": [
            {"time": 1795392000000, "value": 1000},
            {"point": "b1/hvac/power_kw", "time": 1795392000000, "value": 5, "unit": "kW"},
        ],
    }
    assert rows(decode("jieneng/readings/x", doc)[1]) == [
        (POINT, NOW, 1.0, "kWh"),
        ("b1/hvac/power_kw", NOW, 5.0, "kW"),
    ]
    bare = [{"point": POINT, "time": 1795392000000, "value": 1}] * 2
    assert len(decode("jieneng/readings/x", bare)[1]) == 2
    pairs = {
        "point": POINT,
        "unit": "kWh",
        "readings": [[1795392000000, 1.5], ["2026-11-23T08:15:00+08:00", 2]],
    }
    assert rows(decode("jieneng/readings/x", pairs)[1]) == [
        (POINT, NOW, 1.5, "kWh"),
        (POINT, NOW + 900_000_000, 2.0, "kWh"),
    ]


def test_canonical_partial_batch_keeps_valid_readings() -> None:
    good = {"point": POINT, "time": 1795392000000, "value": 1.0}
    items = [
        good,
        {**good, "value": "1.5"},
        good,
        {"point": POINT, "value": 2},
        {**good, "unit": "kWhh"},
        5,
        {**good, "point": ""},
        {**good, "time": -1},
        {**good, "value": 1e306, "unit": "GWh"},
        {**good, "time": "noon"},
    ]
    _, out = decode("jieneng/readings/x", {"readings": items})
    assert len(out) == 2
    assert codes(out) == [
        ("not_number", "readings[1].value", 1),
        ("missing_field", "readings[3].time", 3),
        ("unknown_unit", "readings[4].unit", 4),
        ("bad_shape", "readings[5]", 5),
        ("bad_point", "readings[6].point", 6),
        ("bad_time", "readings[7].time", 7),
        ("not_finite", "readings[8].value", 8),
        ("bad_time", "readings[9].time", 9),
    ]
    assert "'1.5'" in out.rejections[0].reason and "'kWhh'" in out.rejections[2].reason


def test_canonical_partial_pairs_and_bare_array_paths() -> None:
    doc = {"point": POINT, "readings": [[1795392000000, 1], [1795392000000, True], [1], "x"]}
    _, out = decode("jieneng/readings/x", doc)
    assert len(out) == 1
    assert codes(out) == [
        ("not_number", "readings[1][1]", 1),
        ("bad_shape", "readings[2]", 2),
        ("bad_shape", "readings[3]", 3),
    ]
    _, out = decode("jieneng/readings/x", [{"point": POINT, "time": 1795392000000}])
    assert codes(out) == [("missing_field", "[0].value", 0)]


def test_canonical_inherited_bad_point_names_top_level_field() -> None:
    _, out = decode(
        "jieneng/readings/x",
        {
            "point": "a\x00b",
            "readings": [
                {"time": 1795392000000, "value": 1},
                {"point": POINT, "time": 1795392000000, "value": 1},
            ],
        },
    )
    assert len(out) == 1 and codes(out) == [("bad_point", "point", 0)]
    assert "control character" in out.rejections[0].reason


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        (b"\xff\xfe", "bad_json", "$"),
        (b'{"point": "p", "time": 1, "value": NaN}', "bad_json", "$"),
        (b'{"point": "p", "time": 1, "value": 1e400}', "bad_json", "$"),
        (b"[", "bad_json", "$"),
        (b"5", "bad_shape", "$"),
        (b"[]", "bad_shape", "$"),
        (b'{"readings": []}', "bad_shape", "readings"),
        (b'{"readings": {}}', "bad_shape", "readings"),
        (b'{"time": 1, "value": 1}', "missing_field", "point"),
        (b'{"point": "p", "value": 1}', "missing_field", "time"),
        (b'{"point": "p", "time": 1}', "missing_field", "value"),
        (b'{"point": "p", "time": 1, "value": "NaN"}', "not_number", "value"),
        (b'{"point": "p", "time": 1, "value": false}', "not_number", "value"),
        (b'{"point": "p", "time": 1, "value": null}', "not_number", "value"),
        (b'{"point": "p", "time": 1, "value": 1.7e308, "unit": "MWh"}', "not_finite", "value"),
        (b'{"point": "p", "time": 1, "value": 1, "unit": "furlong"}', "unknown_unit", "unit"),
        (b'{"point": "p", "time": 1, "value": 1, "unit": 5}', "unknown_unit", "unit"),
        (b'{"point": "p", "time": "2026-02-30T00:00:00Z", "value": 1}', "bad_time", "time"),
        (b'{"point": "p", "time": "99999-01-01T00:00:00", "value": 1}', "bad_time", "time"),
        (b'{"point": "p", "time": "1969-12-31T23:59:59Z", "value": 1}', "bad_time", "time"),
        (b'{"point": "p", "time": -1, "value": 1}', "bad_time", "time"),
        (b'{"point": "p", "time": 1e20, "value": 1}', "bad_time", "time"),
        (b'{"point": "p", "time": true, "value": 1}', "bad_time", "time"),
        (b'{"point": "", "time": 1, "value": 1}', "bad_point", "point"),
        (b'{"point": 5, "time": 1, "value": 1}', "bad_point", "point"),
        (b'{"point": "a\\nb", "time": 1, "value": 1}', "bad_point", "point"),
        (b'{"point": "' + b"x" * 201 + b'", "time": 1, "value": 1}', "bad_point", "point"),
        (b" " * 4097, "too_large", "$"),
    ],
)
def test_canonical_rejections(payload: bytes, code: str, field: str) -> None:
    _, out = decode("jieneng/readings/x", payload)
    assert len(out) == 0
    assert [(r.code, r.field) for r in out.rejections] == [(code, field)]
    assert out.rejections[0].reason


def test_unknown_topic_and_non_bytes_payload() -> None:
    assert codes(decode("nobody/listens", b"{}")[1]) == [("unknown_format", "topic", None)]
    fmt, out = DECODER.decode("jieneng/readings/x", "{}", received_us=NOW)  # type: ignore[arg-type]
    assert (fmt, codes(out)) == ("canonical", [("bad_json", "$", None)])


# --- SenML --------------------------------------------------------------------------------


def test_senml_base_fields_carry_over_and_units_convert() -> None:
    pack = [
        {
            "bn": "urn:dev:mac:0024befffe804ff1/",
            "bt": 1795392000,
            "bu": "W",
            "n": "power",
            "v": 1520.0,
        },
        {"n": "energy", "u": "Wh", "t": 0, "v": 4234567},
        {"n": "temp", "u": "Cel", "t": -60, "v": 23.1},
        {"n": "water", "u": "l", "bv": 10, "v": 5},
        {"n": "count", "bs": 100, "s": 5, "u": "m3"},
    ]
    fmt, out = decode("jieneng/senml/dev", pack)
    base = "urn:dev:mac:0024befffe804ff1/"
    assert fmt == "senml" and not out.rejections
    assert rows(out) == [
        (base + "power", NOW, 1.52, "kW"),
        (base + "energy", NOW, 4234.567, "kWh"),
        (base + "temp", NOW - 60_000_000, 23.1, "degC"),
        (base + "water", NOW, UNITS["l"].to_canonical(15), "m3"),
        (base + "count", NOW, 105.0, "m3"),
    ]


def test_senml_relative_and_absent_times_use_receive_time() -> None:
    _, out = decode(
        "jieneng/senml/dev",
        [{"n": "a", "v": 1}, {"n": "b", "t": -5.5, "v": 2}, {"bt": 10, "n": "c", "t": 1, "v": 3}],
    )
    assert out.times_us == [NOW, NOW - 5_500_000, NOW + 11_000_000]
    assert out.units == [None, None, None]


def test_senml_rejections() -> None:
    pack = [
        {"n": "a", "vs": "on"},
        {"n": "b", "vb": True},
        {"n": "c", "v": True},
        {"n": "d"},
        {"v": 1},
        {"n": "e", "v": 1, "u": "parsec"},
        {"n": "f", "t": "x", "v": 1},
        {"n": "g", "t": 1e15, "v": 1},
        7,
        {"bn": 5, "n": "h", "v": 1},
        {"n": "i", "v": 1},
        {"bn": "ok/", "n": "j", "v": 1},
    ]
    _, out = decode("jieneng/senml/dev", pack)
    assert rows(out) == [("ok/j", NOW, 1.0, None)]
    assert codes(out) == [
        ("not_number", "[0].vs", 0),
        ("not_number", "[1].vb", 1),
        ("not_number", "[2].v", 2),
        ("missing_field", "[3].v", 3),
        ("missing_field", "[4].n", 4),
        ("unknown_unit", "[5].u", 5),
        ("bad_time", "[6].t", 6),
        ("bad_time", "[7].t", 7),
        ("bad_shape", "[8]", 8),
        ("bad_point", "[9].bn", 9),
        ("bad_point", "[9].bn", 10),
    ]
    assert "inherits" in out.rejections[-1].reason


@pytest.mark.parametrize(
    ("pack", "field"),
    [
        ([{"bver": 11, "n": "a", "v": 1}], "[0].bver"),
        ([{"n": "a", "v": 1}, {"n": "b", "v": 1, "unit_": "x"}], "[1].unit_"),
        ({"n": "a", "v": 1}, "$"),
        ([], "$"),
    ],
)
def test_senml_whole_pack_refused(pack: object, field: str) -> None:
    _, out = decode("jieneng/senml/dev", pack)
    assert len(out) == 0 and codes(out) == [("bad_shape", field, None)]


# --- Tasmota ------------------------------------------------------------------------------


def test_tasmota_energy_and_sensors() -> None:
    doc = {
        "Time": "2026-11-23T08:00:00",
        "ENERGY": {
            "TotalStartTime": "2026-01-01T00:00:00",
            "Total": 12.345,
            "Yesterday": 1,
            "Today": 0.3,
            "Power": 123,
            "Voltage": 230,
            "Current": 0.5,
        },
        "AM2301": {"Temperature": 70.7, "Humidity": 40.1, "DewPoint": 7.4},
        "ESP32": {"Temperature": 50.0},
        "TempUnit": "F",
    }
    fmt, out = decode("tele/plug-7/SENSOR", doc)
    assert fmt == "tasmota" and not out.rejections
    assert rows(out) == [
        ("plug-7/energy_kwh", NOW, 12.345, "kWh"),
        ("plug-7/power_kw", NOW, 0.123, "kW"),
        ("plug-7/AM2301/temp_air", NOW, UNITS["F"].to_canonical(70.7), "degC"),
        ("plug-7/AM2301/humidity", NOW, 40.1, "%"),
    ]


def test_tasmota_multichannel_and_partial() -> None:
    doc = {
        "Time": "2026-11-23T08:00:00",
        "ENERGY": {"Total": 3.5, "Power": [100, "x", 300]},
        "DS18B20-1": {"Temperature": None},
        "DS18B20-2": {"Temperature": 21.5},
    }
    _, out = decode("tele/pow/SENSOR", doc)
    assert out.keys == [
        "pow/energy_kwh",
        "pow/power_kw/1",
        "pow/power_kw/3",
        "pow/DS18B20-2/temp_air",
    ]
    assert codes(out) == [
        ("not_number", "ENERGY.Power[1]", None),
        ("not_number", "DS18B20-1.Temperature", None),
    ]


def test_tasmota_without_time_uses_receive_time_and_rejections() -> None:
    assert decode("tele/p/SENSOR", {"ENERGY": {"Total": 1}})[1].times_us == [None]
    _, out = decode("tele/p/SENSOR", {"Time": "soon", "ENERGY": {"Total": 1}})
    assert codes(out) == [("bad_time", "Time", None)] and len(out) == 0
    _, out = decode("tele/p/SENSOR", {"Time": "2026-11-23T08:00:00", "Wifi": {"RSSI": 80}})
    assert codes(out) == [("bad_shape", "$", None)]
    _, out = decode("tele/p/SENSOR", {"DS18B20": {"Temperature": 20}, "TempUnit": "kWh"})
    assert codes(out) == [("unknown_unit", "TempUnit", None)]
    _, out = decode("tele/" + "d" * 200 + "/SENSOR", {"ENERGY": {"Total": 1}})
    assert codes(out) == [("bad_point", "topic", None)]


# --- Shelly -------------------------------------------------------------------------------


def test_shelly_switch_status() -> None:
    topic, payload = encode_shelly_switch("shp-1", "switch:0", 1795392000, 123456.789, 1180.5)
    fmt, out = decode(topic, payload)
    assert fmt == "shelly"
    assert rows(out) == [
        ("shp-1/switch:0/power_kw", NOW, UNITS["W"].to_canonical(1180.5), "kW"),
        ("shp-1/switch:0/energy_kwh", NOW, UNITS["Wh"].to_canonical(123456.789), "kWh"),
    ]
    _, out = decode("shelly/shp-1/status/pm1:0", {"apower": 5})
    assert out.times_us == [NOW]  # no minute_ts: receive time


@pytest.mark.parametrize(
    ("component", "status", "expected"),
    [
        (
            "em:0",
            {"total_act_power": 3000, "a_act_power": 1000, "b_act_power": 2000, "c_act_power": 0},
            [("power_kw", 3.0), ("a/power_kw", 1.0), ("b/power_kw", 2.0), ("c/power_kw", 0.0)],
        ),
        (
            "emdata:0",
            {"total_act": 5000, "a_total_act_energy": 1000},
            [("energy_kwh", 5.0), ("a/energy_kwh", 1.0)],
        ),
        ("em1:1", {"act_power": 250}, [("power_kw", 0.25)]),
        ("em1data:1", {"total_act_energy": 7500}, [("energy_kwh", 7.5)]),
        ("temperature:100", {"tC": 21.5, "tF": 70.7}, [("temp_air", 21.5)]),
    ],
)
def test_shelly_components(component: str, status: dict, expected: list) -> None:
    _, out = decode(f"shelly/dev/status/{component}", status)
    assert not out.rejections
    assert [(k, v) for k, v in zip(out.keys, out.values, strict=True)] == [
        (f"dev/{component}/{name}", value) for name, value in expected
    ]


def test_shelly_notify_status_and_other_methods() -> None:
    topic, payload = encode_shelly_notify(
        "dev",
        1795392000.25,
        {
            "switch:0": {"id": 0, "apower": 10, "aenergy": {"total": 5, "minute_ts": 1}},
            "sys": {"uptime": 5},
            "em:0": {"total_act_power": "x"},
        },
    )
    _, out = decode(topic, payload)
    assert rows(out) == [
        ("dev/switch:0/power_kw", NOW + 250_000, 0.01, "kW"),
        ("dev/switch:0/energy_kwh", NOW + 250_000, 0.005, "kWh"),
    ]
    assert codes(out) == [("not_number", "params.em:0.total_act_power", None)]
    _, out = decode(topic, {"method": "NotifyEvent", "params": {"ts": 1, "events": []}})
    assert codes(out) == [("bad_shape", "method", None)] and "ignored" in out.rejections[0].reason
    _, out = decode(topic, {"method": "NotifyStatus", "params": {"ts": 1.7e9, "wifi": {}}})
    assert codes(out) == [("bad_shape", "params", None)] and "ignored" in out.rejections[0].reason


def test_shelly_rejections() -> None:
    assert codes(decode("shelly/d/status/sys", {"uptime": 1})[1]) == [("bad_shape", "topic", None)]
    assert codes(decode("shelly/d/status/switch:0", {"id": 0})[1]) == [("bad_shape", "$", None)]
    _, out = decode("shelly/d/status/switch:0", {"apower": 1, "aenergy": {"minute_ts": -5}})
    assert codes(out) == [("bad_time", "aenergy.minute_ts", None)] and len(out) == 0
    _, out = decode("shelly/d/events/rpc", {"method": "NotifyStatus", "params": {"ts": "now"}})
    assert codes(out) == [("bad_time", "params.ts", None)]


# --- mapping ------------------------------------------------------------------------------


def _mapping_decoder(time: MappingTime | None, *readings: MappingReading) -> Decoder:
    rule = MappingRule("factory", "factory/+/meter/#", readings, time)
    return Decoder([Route(rule.topic, "mapping", rule), *default_routes()])


def test_mapping_rule_decodes_paths_and_captures() -> None:
    decoder = _mapping_decoder(
        MappingTime("ts", "epoch_s"),
        MappingReading("factory/{1}/{2}/energy_kwh", "data.energy", "Wh"),
        MappingReading("factory/{1}/{2}/power_kw", "data.channels[1].p", "W"),
        MappingReading("factory/{1}/{2}/temp_air", "data.t"),
    )
    doc = {"ts": 1795392000, "data": {"energy": 1234567, "channels": [{}, {"p": 5300}]}}
    fmt, out = decode("factory/north/meter/m7/a", doc, decoder)
    assert fmt == "mapping"
    assert rows(out) == [
        ("factory/north/m7/a/energy_kwh", NOW, 1234.567, "kWh"),
        ("factory/north/m7/a/power_kw", NOW, 5.3, "kW"),
    ]
    assert codes(out) == [("missing_field", "data.t", 2)]


@pytest.mark.parametrize(
    ("fmt", "stamp", "expected"),
    [
        ("iso", "2026-11-23T08:00:00", NOW),
        ("epoch_ms", 1795392000000, NOW),
        ("epoch_s", 1795392000.5, NOW + 500_000),
        ("iso", 5, None),
        ("epoch_s", "x", None),
    ],
)
def test_mapping_time_formats(fmt: str, stamp: object, expected: int | None) -> None:
    decoder = _mapping_decoder(MappingTime("t[0]", fmt), MappingReading("m/{1}", "v"))
    _, out = decode("factory/a/meter/b", {"t": [stamp], "v": 1}, decoder)
    if expected is None:
        assert codes(out) == [("bad_time", "t[0]", None)] and len(out) == 0
    else:
        assert out.times_us == [expected]


def test_mapping_whole_payload_and_shape_errors() -> None:
    decoder = _mapping_decoder(None, MappingReading("m/{1}/power_kw", "$", "kW"))
    assert rows(decode("factory/a/meter/x", b"12.5", decoder)[1]) == [
        ("m/a/power_kw", None, 12.5, "kW")
    ]
    decoder = _mapping_decoder(None, MappingReading("m/{1}", "data.p"))
    assert codes(decode("factory/a/meter/x", {"data": [1]}, decoder)[1]) == [
        ("bad_shape", "data.p", None)
    ]
    assert codes(decode("factory/a/meter/x", {"data": {"p": None}}, decoder)[1]) == [
        ("not_number", "data.p", None)
    ]


# --- vectorized ISO parsing agrees with datetime.fromisoformat ----------------------------

_LAYOUTS = st.tuples(
    st.sampled_from(["T", " "]),
    st.integers(0, 6),
    st.sampled_from(["Z", "+08:00", "-05:30", "+00:00", "+13:45", ""]),
)


DAY_US = 86_400_000_000


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, MAX_US - DAY_US),
    st.lists(st.integers(0, DAY_US // 2), min_size=64, max_size=150),
    _LAYOUTS,
    st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"]),
)
def test_iso_batch_matches_fromisoformat(
    base: int, offsets: list[int], layout: tuple, zone: str
) -> None:
    sep, digits, suffix = layout
    texts = []
    for offset in offsets:
        stamp = datetime(1970, 1, 1) + timedelta(microseconds=base + offset)
        text = stamp.isoformat(sep=sep, timespec="seconds")
        if digits:
            text += "." + f"{stamp.microsecond:06d}"[:digits]
        texts.append(text + suffix)
    parser = Times(zone)
    try:
        expected = [parser.iso(text) for text in texts]
    except Bad:  # out of range once the offset applies: the whole batch is refused
        expected = None
    assert parser.iso_many(texts) == expected
    vector = _iso_vector(texts, ZoneInfo(zone))
    assert vector == expected or (vector is None and (expected is None or suffix == ""))


def test_iso_batch_across_a_dst_change_falls_back_to_datetime() -> None:
    start = datetime(2026, 3, 29, 0, 30)
    texts = [(start + timedelta(minutes=2 * i)).isoformat() for i in range(100)]
    parser = Times("Europe/Berlin")
    assert _iso_vector(texts, parser.zone) is None
    assert parser.iso_many(texts) == [parser.iso(text) for text in texts]
    assert parser.iso(texts[-1]) - parser.iso(texts[0]) == (198 - 60) * 60_000_000


def test_iso_batch_refuses_impossible_dates() -> None:
    texts = [f"2026-02-{day:02d}T00:00:00Z" for day in range(1, 29)] * 3 + ["2026-02-30T00:00:00Z"]
    assert _iso_vector(texts, ZoneInfo("UTC")) is None
    assert Times("UTC").iso_many(texts) is None


# --- round trips: encoders → decoder ------------------------------------------------------

TIMES = st.integers(2**28 * 1_000_000, 4_102_444_800_000_000)  # 1978-07-05 .. 2100-01-01
VALUES = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False) | st.integers(-(10**9), 10**9)
UNIT_NAMES = st.sampled_from(
    [None, "kWh", "Wh", "MWh", "W", "kW", "m3", "L", "degC", "degF", "K", "%", "GJ", "m3/h", "L/s"]
)
KEYS = st.text(alphabet="abcXYZ019/_-:.", min_size=1, max_size=40)


def expected_value(value: float, unit: str | None) -> float:
    return float(value) if unit is None else UNITS[unit].to_canonical(value)


def expected_unit(unit: str | None) -> str | None:
    return None if unit is None else CANONICAL[UNITS[unit].quantity]


@settings(max_examples=150, deadline=None)
@given(KEYS, TIMES, VALUES, UNIT_NAMES, st.sampled_from(["iso", "epoch_ms"]))
def test_round_trip_canonical_single(key, time_us, value, unit, time_format) -> None:
    _, out = decode(*encode_canonical_single(key, time_us, value, unit, time_format=time_format))
    assert rows(out) == [(key, time_us, expected_value(value, unit), expected_unit(unit))]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(KEYS, TIMES, VALUES, UNIT_NAMES), min_size=1, max_size=120),
    st.sampled_from(["iso", "epoch_ms"]),
)
def test_round_trip_canonical_batch(readings, time_format) -> None:
    _, out = decode(*encode_canonical_batch(readings, time_format=time_format))
    assert rows(out) == [(k, t, expected_value(v, u), expected_unit(u)) for k, t, v, u in readings]


@settings(max_examples=60, deadline=None)
@given(
    KEYS,
    UNIT_NAMES,
    st.lists(st.tuples(TIMES, VALUES), min_size=1, max_size=120),
    st.sampled_from(["iso", "epoch_ms"]),
)
def test_round_trip_canonical_compact(key, unit, pairs, time_format) -> None:
    readings = [(key, t, v, unit) for t, v in pairs]
    _, out = decode(*encode_canonical_batch(readings, time_format=time_format, compact=True))
    assert rows(out) == [(key, t, expected_value(v, unit), expected_unit(unit)) for t, v in pairs]


SENML_UNITS = st.sampled_from([None, "W", "Wh", "J", "Cel", "K", "m3", "l", "%RH", "m3/s", "l/s"])


@settings(max_examples=100, deadline=None)
@given(
    st.from_regex(r"[a-z0-9:-]{1,20}", fullmatch=True),
    st.lists(st.tuples(KEYS, TIMES, VALUES, SENML_UNITS), min_size=1, max_size=30),
    st.booleans(),
)
def test_round_trip_senml(device, readings, base) -> None:
    _, out = decode(*encode_senml(device, readings, base=base))
    assert rows(out) == [
        (f"{device}/{n}", t, expected_value(v, u), expected_unit(u)) for n, t, v, u in readings
    ]


ENERGY = st.floats(min_value=0, max_value=1e9, allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(
    st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    TIMES,
    ENERGY | st.lists(ENERGY, min_size=1, max_size=4),
    ENERGY | st.lists(ENERGY, min_size=1, max_size=4),
    st.dictionaries(
        st.sampled_from(["DS18B20-1", "AM2301", "BME280"]),
        st.fixed_dictionaries({"Temperature": st.floats(-40, 120)}),
        max_size=2,
    ),
)
def test_round_trip_tasmota(device, time_us, total, power, sensors) -> None:
    _, out = decode(*encode_tasmota(device, time_us, total, power, sensors=sensors))
    second = time_us // 1_000_000 * 1_000_000  # Tasmota's Time has whole seconds
    expected = []
    for name, values, unit in (("energy_kwh", total, "kWh"), ("power_kw", power, "W")):
        if isinstance(values, list):
            expected += [
                (
                    f"{device}/{name}/{i + 1}",
                    second,
                    UNITS[unit].to_canonical(v),
                    expected_unit(unit),
                )
                for i, v in enumerate(values)
            ]
        else:
            expected.append(
                (f"{device}/{name}", second, UNITS[unit].to_canonical(values), expected_unit(unit))
            )
    expected += [
        (f"{device}/{s}/temp_air", second, float(f["Temperature"]), "degC")
        for s, f in sensors.items()
    ]
    assert rows(out) == expected and not out.rejections


@settings(max_examples=80, deadline=None)
@given(
    st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    st.sampled_from(["switch:0", "switch:3", "pm1:0"]),
    st.integers(2**28, 4_102_444_800) | st.none(),
    ENERGY,
    ENERGY,
)
def test_round_trip_shelly_switch(device, component, minute_ts, energy_wh, power_w) -> None:
    _, out = decode(*encode_shelly_switch(device, component, minute_ts, energy_wh, power_w))
    time_us = NOW if minute_ts is None else minute_ts * 1_000_000
    assert rows(out) == [
        (f"{device}/{component}/power_kw", time_us, UNITS["W"].to_canonical(power_w), "kW"),
        (f"{device}/{component}/energy_kwh", time_us, UNITS["Wh"].to_canonical(energy_wh), "kWh"),
    ]


# --- unit scaling invariance --------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.floats(min_value=-1e15, max_value=1e15, allow_nan=False),
    st.sampled_from(
        [
            ("Wh", "kWh", 1e3),
            ("kWh", "MWh", 1e3),
            ("W", "kW", 1e3),
            ("kW", "MW", 1e3),
            ("L", "m3", 1e3),
            ("kJ", "MJ", 1e3),
            ("MJ", "GJ", 1e3),
            ("J", "kJ", 1e3),
        ]
    ),
    st.sampled_from(["canonical", "senml"]),
)
def test_unit_scaling_invariance(value: float, units: tuple, fmt: str) -> None:
    small, large, factor = units
    if fmt == "senml" and (lookup(small) is None or lookup(large) is None):
        return
    decoded = []
    for unit, sent in ((small, value), (large, value / factor)):
        if fmt == "canonical":
            _, out = decode(*encode_canonical_single(POINT, NOW, sent, unit))
        else:
            _, out = decode(*encode_senml("dev", [("p", NOW, sent, unit)]))
        decoded.append(out.values[0])
    assert math.isclose(decoded[0], decoded[1], rel_tol=1e-9, abs_tol=1e-300)


def test_epoch_boundaries() -> None:
    doc = {"point": POINT, "value": 1}
    assert decode("jieneng/readings/x", {**doc, "time": 0})[1].times_us == [0]
    last = MAX_US // 1000
    assert decode("jieneng/readings/x", {**doc, "time": last})[1].times_us == [last * 1000]
    stamp = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC).isoformat()
    assert decode("jieneng/readings/x", {**doc, "time": stamp})[1].times_us == [MAX_US]


# --- canonical columns: {"point", "unit", "time": [...], "value": [...]} ------------------

BIG = Decoder(default_routes())  # columnar round trips can pass DECODER's 4096-byte limit
COLUMNS_TOPIC = "jieneng/readings/gw"


def columns(doc: object) -> Decoded:
    return decode(COLUMNS_TOPIC, doc, BIG)[1]


def items_of(doc: dict) -> dict:
    """The same readings as a batch of items (point and unit written on every item)."""
    count = len(doc["time"])
    point, unit = doc.get("point"), doc.get("unit")
    return {
        "readings": [
            {
                "point": point[i] if type(point) is list else point,
                "time": doc["time"][i],
                "value": doc["value"][i],
                "unit": unit[i] if type(unit) is list else unit,
            }
            for i in range(count)
        ]
    }


def bits(out: Decoded) -> list[tuple]:
    """Rows with values as their exact bits (``-0.0`` and ``0.0`` differ)."""
    return [(k, t, v.hex(), u) for k, t, v, u in rows(out)]


def test_columns_shared_point_and_unit() -> None:
    out = columns(
        {
            "unit": "Wh",
            "point": POINT,
            "time": [1795392000000, 1795392060000],
            "value": [1000, 1500.5],
        }
    )
    assert not out.rejections
    assert rows(out) == [(POINT, NOW, 1.0, "kWh"), (POINT, NOW + 60_000_000, 1.5005, "kWh")]
    assert all(type(v) is float for v in out.values)
    assert all(type(t) is int for t in out.times_us)


def test_columns_point_and_unit_lists_iso_and_fractional_times() -> None:
    doc = {
        "point": ["b1/main/power_kw", "b1/hvac/energy_kwh", "b1/t/temp_air"],
        "unit": ["W", "MWh", None],
        "time": ["2026-11-23T08:00:00+08:00", "2026-11-23T00:00:01Z", "2026-11-23T08:00:02"],
        "value": [52500, 0.5, -0.0],
        "quality": [0, 0, 1],
    }
    out = columns(doc)
    assert rows(out) == [
        ("b1/main/power_kw", NOW, 52.5, "kW"),
        ("b1/hvac/energy_kwh", NOW + 1_000_000, 500.0, "kWh"),
        ("b1/t/temp_air", NOW + 2_000_000, 0.0, None),
    ]
    assert math.copysign(1, out.values[2]) == -1  # no unit: float(value), sign kept
    out = columns({"point": POINT, "time": [1795392000000.5, 1795392000001], "value": [1, 2]})
    assert out.times_us == [NOW + 500, NOW + 1000] and out.units == [None, None]


def test_columns_values_are_bit_identical_to_the_item_form() -> None:
    values = [2**53 + 1, 2**63 + 5, 2**64 - 1, -(2**63), -0.0, 0, 5e-324, 0.1, 3, 1e300]
    for unit in (None, "kWh", "Wh", "GJ", "degF", "K", "L/min"):
        doc = {"unit": unit, "point": POINT, "time": [1795392000000] * len(values), "value": values}
        column_out, item_out = columns(doc), columns(items_of(doc))
        assert not column_out.rejections and not item_out.rejections
        assert bits(column_out) == bits(item_out)


def test_columns_partial_acceptance_paths_and_indexes() -> None:
    doc = {
        "point": [POINT, POINT, "", POINT, POINT, POINT, POINT, ["x"], POINT, POINT],
        "unit": ["kWh", "kWh", "kWh", "kWh", "furlong", "GWh", "kWh", "kWh", "kWh", None],
        "time": [
            1795392000000,
            "noon",
            1795392000000,
            -1,
            1795392000000,
            1795392000000,
            True,
            1795392000000,
            2**63,
            1795392000000,
        ],
        "value": [1.5, 1, 1, 1, 1, 1e306, 1, 1, 1, True],
    }
    out = columns(doc)
    assert rows(out) == [(POINT, NOW, 1.5, "kWh")]
    assert codes(out) == [
        ("bad_time", "time[1]", 1),
        ("bad_point", "point[2]", 2),
        ("bad_time", "time[3]", 3),
        ("unknown_unit", "unit[4]", 4),
        ("not_finite", "value[5]", 5),
        ("bad_time", "time[6]", 6),
        ("bad_point", "point[7]", 7),
        ("bad_time", "time[8]", 8),
        ("not_number", "value[9]", 9),
    ]
    assert "'noon'" in out.rejections[0].reason and "'furlong'" in out.rejections[3].reason


def test_columns_bad_values_keep_the_others() -> None:
    good = [1795392000000] * 6
    out = columns(
        {"point": POINT, "unit": "kWh", "time": good, "value": [1, False, "NaN", None, {}, 2.5]}
    )
    assert out.values == [1.0, 2.5]
    assert codes(out) == [("not_number", f"value[{i}]", i) for i in (1, 2, 3, 4)]
    huge = columns({"point": POINT, "unit": "GWh", "time": good[:3], "value": [1, 1e306, 2]})
    assert huge.values == [1e6, 2e6] and codes(huge) == [("not_finite", "value[1]", 1)]


def test_columns_int_times_outside_1970_to_9999_are_rejected_alone() -> None:
    for bad in ([-1], [-(2**63)], [MAX_MS + 1], [2**63], [2**64 - 1], [-1, MAX_MS + 1]):
        stamps = [1795392000000, *bad, MAX_MS, 0]
        out = columns({"point": POINT, "time": stamps, "value": list(range(len(stamps)))})
        assert out.times_us == [NOW, MAX_MS * 1000, 0]
        assert codes(out) == [("bad_time", f"time[{i}]", i) for i in range(1, len(bad) + 1)]


def test_columns_shared_bad_or_missing_point_and_unit_reject_every_reading() -> None:
    stamps, values = [1795392000000] * 2, [1, 2]
    for point in ("", "a\x00b", 5, None, {"k": 1}):
        out = columns({"point": point, "time": stamps, "value": values})
        assert len(out) == 0
        assert codes(out) == [("bad_point", "point", 0), ("bad_point", "point", 1)]
    out = columns({"time": stamps, "value": values})
    assert codes(out) == [("missing_field", "point", 0), ("missing_field", "point", 1)]
    out = columns({"point": POINT, "unit": "BTU", "time": stamps, "value": values})
    assert codes(out) == [("unknown_unit", "unit", 0), ("unknown_unit", "unit", 1)]


@pytest.mark.parametrize(
    ("doc", "field", "sizes"),
    [
        ({"point": POINT, "time": [1, 2], "value": [1]}, "value", "time has 2, value has 1"),
        ({"point": POINT, "time": [1], "value": [1, 2]}, "value", "time has 1, value has 2"),
        (
            {"point": [POINT], "time": [1, 2], "value": [1, 2]},
            "point",
            "time has 2, value has 2, point has 1",
        ),
        (
            {"point": POINT, "unit": ["kWh"] * 3, "time": [1, 2], "value": [1, 2]},
            "unit",
            "time has 2, value has 2, unit has 3",
        ),
        (
            {"point": POINT, "unit": [], "time": [1], "value": [1]},
            "unit",
            "time has 1, value has 1, unit has 0",
        ),
    ],
)
def test_columns_of_different_lengths_are_refused(doc: dict, field: str, sizes: str) -> None:
    out = columns(doc)
    assert len(out) == 0 and codes(out) == [("bad_shape", field, None)]
    assert sizes in out.rejections[0].reason


def test_columns_empty_and_detection() -> None:
    out = columns({"point": POINT, "time": [], "value": []})
    assert len(out) == 0 and codes(out) == [("bad_shape", "time", None)]
    # "readings" wins: the items form; a list time with a scalar value is one bad reading
    out = columns({"point": POINT, "time": [1], "value": [1], "readings": [[1, 2.0]]})
    assert rows(out) == [(POINT, 1000, 2.0, None)]
    out = columns({"point": POINT, "time": [1795392000000], "value": 1})
    assert codes(out) == [("bad_time", "time", None)]


def test_columns_valid_batch_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object) -> None:
        raise AssertionError("the per-reading path was used")

    monkeypatch.setattr(canonical, "_one", slow)
    keys = [f"b{i % 50}/main/energy_kwh" for i in range(1000)]
    out = columns(
        {
            "unit": "kWh",
            "point": keys,
            "time": list(range(0, MAX_MS, MAX_MS // 999)),
            "value": [i * 0.5 for i in range(1000)],
        }
    )
    assert len(out) == 1000 and not out.rejections
    assert out.times_us[-1] == MAX_MS // 999 * 999 * 1000 and out.values[-1] == 499.5


COLUMN_UNITS = st.sampled_from([None, "kWh", "Wh", "W", "m3", "degF", "K", "GJ", "L/s"])


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.tuples(KEYS, TIMES, VALUES, COLUMN_UNITS), min_size=1, max_size=150),
    st.sampled_from(["iso", "epoch_ms"]),
    st.booleans(),
    st.booleans(),
)
def test_round_trip_canonical_columns(readings, time_format, one_point, one_unit) -> None:
    if one_point:
        readings = [(readings[0][0], t, v, u) for _, t, v, u in readings]
    if one_unit:
        readings = [(k, t, v, readings[0][3]) for k, t, v, _ in readings]
    topic, payload = encode_canonical_columns(readings, time_format=time_format)
    doc = orjson.loads(payload)
    assert isinstance(doc["point"], str) == (len({r[0] for r in readings}) == 1)
    units = {r[3] for r in readings}
    assert doc.get("unit", "absent") == (
        "absent" if units == {None} else readings[0][3] if len(units) == 1 else doc["unit"]
    )
    out = decode(topic, payload, BIG)[1]
    assert not out.rejections
    assert rows(out) == [(k, t, expected_value(v, u), expected_unit(u)) for k, t, v, u in readings]
    assert bits(out) == bits(columns(items_of(doc)))


def _column_field(item_field: str) -> str:
    """``readings[3].value`` (item form) is ``value[3]`` in columns."""
    return re.sub(r"^readings\[(\d+)\]\.(\w+)$", r"\2[\1]", item_field)


_MAYBE_BAD = st.tuples(
    st.sampled_from([POINT, "b1/hvac/power_kw"]) | bad_keys(),
    st.sampled_from([1795392000000, "2026-11-23T08:00:00Z", 1795392000000.25]) | bad_times(),
    VALUES | bad_values() | st.floats(min_value=1e303, max_value=1.7e308),
    COLUMN_UNITS | unknown_units(),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(KEYS, TIMES, VALUES, COLUMN_UNITS), min_size=0, max_size=30),
    st.lists(st.tuples(st.integers(0, 30), _MAYBE_BAD), max_size=4),
)
def test_columns_decode_like_the_item_form(good, bad) -> None:
    readings = [(k, t // 1000, v, u) for k, t, v, u in good]
    for where, reading in bad:
        readings.insert(min(where, len(readings)), reading)
    if not readings:
        return
    doc = {
        "point": [r[0] for r in readings],
        "unit": [r[3] for r in readings],
        "time": [r[1] for r in readings],
        "value": [r[2] for r in readings],
    }
    column_out, item_out = columns(doc), columns(items_of(doc))
    assert bits(column_out) == bits(item_out)
    assert codes(column_out) == [
        (code, _column_field(field), index) for code, field, index in codes(item_out)
    ]
