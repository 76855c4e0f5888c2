"""Hypothesis strategies of hostile MQTT messages: every one must be refused entirely.

:func:`hostile_payloads` draws ``(topic, payload)`` pairs for the default routes (and, if
asked, for topics no route matches): random bytes, truncated or garbled JSON, wrong shapes,
non-numbers and non-finite values, unknown units, bad times, bad point keys and oversized
payloads, in every format (canonical columns included: columns of different lengths, or
every reading bad in one field). Decoding one must give at least one rejection and no reading.

Topics are valid MQTT publish topics (printable ASCII, no wildcards), so an end-to-end test can
publish the same messages through a broker.
"""

from __future__ import annotations

import orjson
from hypothesis import strategies as st

from ingest.formats._common import MAX_MS, Bad, Times
from ingest.units import lookup

POINT = "110108A001/main/energy_kwh"
TIME_MS = 1_795_392_000_000
TIME_ISO = "2026-11-23T08:00:00+08:00"
TIME_LOCAL = "2026-11-23T08:00:00"
_GARBAGE = (b"\x00", b"\x01", b"\x1f", b"\xff", b"\xfe", b"\xc0")


_TIMES = Times("Asia/Shanghai")
_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def _iso_ok(text: str) -> bool:
    try:
        _TIMES.iso(text)
    except Bad:
        return False
    return True


def bad_values() -> st.SearchStrategy[object]:
    """JSON values that are not finite numbers (strings such as "NaN" included)."""
    return st.one_of(
        st.sampled_from(["NaN", "nan", "Infinity", "-Infinity", "inf", "1e400", "12.5", ""]),
        st.text(max_size=12),
        st.booleans(),
        st.none(),
        st.just({}),
        st.lists(_INT64, max_size=3),
    )


def unknown_units() -> st.SearchStrategy[object]:
    """Unit names ingest.units does not know, and non-string units (null excluded: no unit)."""
    return st.one_of(
        st.sampled_from(["kwhh", "BTU", "therm", "W/m2", "kVA", "mWh", "kW h", ""]),
        st.text(max_size=8).filter(lambda u: lookup(u) is None),
        _INT64,
        st.booleans(),
        st.just([]),
    )


def bad_times() -> st.SearchStrategy[object]:
    """Times that are neither ISO 8601 strings from 1970 to 9999 nor epoch milliseconds."""
    return st.one_of(
        st.sampled_from(
            [
                "yesterday",
                "2026-13-01T00:00:00Z",
                "99999-01-01T00:00:00",
                "2026-02-30T00:00:00",
                "1969-12-31T23:59:59Z",
                "",
                "1795392000000",
                "0001-01-01T00:00:00+08:00",
                "2026-11-23T25:00:00",
            ]
        ),
        st.text(max_size=25).filter(lambda t: not _iso_ok(t)),
        st.integers(min_value=-(2**63), max_value=-1),
        st.integers(min_value=MAX_MS + 1, max_value=2**64 - 1),
        st.floats(min_value=2.6e17, max_value=1e300),
        st.booleans(),
        st.none(),
        st.just({}),
    )


def bad_keys() -> st.SearchStrategy[object]:
    """Point keys that are empty, too long, with control characters, or not strings."""
    control = st.sampled_from(["\x00", "\x01", "\n", "\t", "\x1b", "\x7f", "\x85"])
    return st.one_of(
        st.just(""),
        st.text(alphabet="abc/_", min_size=201, max_size=230),
        st.tuples(
            st.text(alphabet="ab/", max_size=5), control, st.text(alphabet="ab/", max_size=5)
        ).map("".join),
        _INT64,
        st.none(),
        st.booleans(),
        st.just(["a"]),
    )


def _huge() -> st.SearchStrategy[float]:
    """Finite values that overflow once converted from GWh to kWh."""
    return st.floats(min_value=1e303, max_value=1.7e308)


def _canonical_item() -> st.SearchStrategy[dict]:
    base = {"point": POINT, "time": TIME_MS, "value": 1.5, "unit": "kWh"}

    def broken(change: tuple[str, object]) -> dict:
        item = dict(base)
        name, value = change
        if name.startswith("-"):
            del item[name[1:]]
        elif name == "huge":
            item["value"], item["unit"] = value, "GWh"
        else:
            item[name] = value
        return item

    return st.one_of(
        st.tuples(st.just("point"), bad_keys()),
        st.tuples(st.just("time"), bad_times()),
        st.tuples(st.just("value"), bad_values()),
        st.tuples(st.just("unit"), unknown_units()),
        st.tuples(st.just("huge"), _huge()),
        st.tuples(st.sampled_from(["-point", "-time", "-value"]), st.none()),
    ).map(broken)


def _canonical_doc() -> st.SearchStrategy[object]:
    items = st.lists(_canonical_item(), min_size=1, max_size=4)
    pair = st.one_of(
        st.tuples(bad_times(), st.just(1.0)).map(list),
        st.tuples(st.just(TIME_MS), bad_values()).map(list),
        st.just([TIME_MS]),
        st.just([TIME_MS, 1.0, 2.0]),
        st.just("x"),
    )
    return st.one_of(
        _canonical_item(),
        items,
        items.map(lambda r: {"readings": r}),
        items.map(lambda r: {"unit": "kWh", "readings": r}),
        st.lists(pair, min_size=1, max_size=3).map(
            lambda r: {"point": POINT, "unit": "kWh", "readings": r}
        ),
        bad_keys().map(lambda p: {"point": p, "readings": [[TIME_MS, 1.0]]}),
        bad_keys().map(lambda p: {"point": p, "readings": [{"time": TIME_MS, "value": 1}]}),
        st.just({"readings": [[TIME_MS, 1.0]]}),
        st.sampled_from(
            [
                1,
                "x",
                None,
                True,
                {},
                [],
                {"readings": {}},
                {"readings": []},
                [[TIME_MS, 1.0]],
                [1, 2],
                {"readings": "x"},
            ]
        ),
    )


def _column_reading() -> st.SearchStrategy[tuple[object, object, object, object]]:
    """``(point, time, value, unit)`` of one reading of a columnar payload, one field bad."""
    good = (POINT, TIME_MS, 1.5, "kWh")
    fields = ("point", "time", "value", "unit")

    def broken(change: tuple[str, object]) -> tuple[object, object, object, object]:
        reading = list(good)
        name, value = change
        if name == "huge":
            reading[2], reading[3] = value, "GWh"
        else:
            reading[fields.index(name)] = value
        return tuple(reading)

    return st.one_of(
        st.tuples(st.just("point"), bad_keys()),
        st.tuples(st.just("time"), bad_times()),
        st.tuples(st.just("value"), bad_values()),
        st.tuples(st.just("unit"), unknown_units()),
        st.tuples(st.just("huge"), _huge()),
    ).map(broken)


def _columns(readings: list[tuple[object, object, object, object]]) -> dict:
    """Columns of the readings; point and unit as one value when every reading has it."""
    points, stamps, values, units = (list(column) for column in zip(*readings, strict=True))
    return {
        "point": POINT if all(p == POINT for p in points) else points,
        "unit": "kWh" if all(u == "kWh" for u in units) else units,
        "time": stamps,
        "value": values,
    }


def _canonical_columns_doc() -> st.SearchStrategy[object]:
    """Columnar payloads whose every reading is bad, or whose columns do not fit together."""
    sizes = st.integers(0, 4)
    uneven = st.tuples(sizes, sizes).filter(lambda ab: ab[0] != ab[1])
    count = st.integers(1, 4)
    return st.one_of(
        st.lists(_column_reading(), min_size=1, max_size=4).map(_columns),
        uneven.map(lambda ab: {"point": POINT, "time": [TIME_MS] * ab[0], "value": [1.0] * ab[1]}),
        uneven.map(
            lambda ab: {"point": [POINT] * ab[0], "time": [TIME_MS] * ab[1], "value": [1.0] * ab[1]}
        ),
        uneven.map(
            lambda ab: {
                "point": POINT,
                "unit": ["kWh"] * ab[0],
                "time": [TIME_MS] * ab[1],
                "value": [1.0] * ab[1],
            }
        ),
        st.tuples(bad_keys().filter(lambda k: not isinstance(k, list)), count).map(
            lambda kn: {"point": kn[0], "time": [TIME_MS] * kn[1], "value": [1.0] * kn[1]}
        ),
        st.tuples(unknown_units(), count).map(
            lambda un: {
                "point": POINT,
                "unit": un[0],
                "time": [TIME_MS] * un[1],
                "value": [1.0] * un[1],
            }
        ),
        count.map(lambda n: {"time": [TIME_MS] * n, "value": [1.0] * n}),
        st.sampled_from(
            [
                {"point": POINT, "time": [], "value": []},
                {"point": POINT, "time": [TIME_MS], "value": 1.0},
                {"point": POINT, "time": [TIME_MS, "x"], "value": [True, 1.0]},
            ]
        ),
    )


def _senml_record() -> st.SearchStrategy[object]:
    base = {"n": "dev/p", "t": 0, "v": 1.0, "u": "W"}

    def broken(change: tuple[str, object]) -> dict:
        record = dict(base)
        name, value = change
        if name == "-n":
            del record["n"]
        elif name in ("vs", "vb", "vd"):
            del record["v"]
            record[name] = value
        elif name == "huge":
            record["v"], record["u"] = value, "GWh"
        else:
            record[name] = value
        return record

    bad_seconds = st.one_of(
        st.floats(min_value=1e12, max_value=1e300),
        st.floats(min_value=-1e300, max_value=-1e12),
        st.sampled_from(["0", "now", True, None, {}]),
    )
    return st.one_of(
        st.tuples(st.just("n"), bad_keys()),
        st.tuples(st.just("-n"), st.none()),
        st.tuples(st.just("v"), bad_values()),
        st.tuples(st.sampled_from(["vs", "vb", "vd"]), st.sampled_from(["x", True, "AQI="])),
        st.tuples(st.just("u"), unknown_units()),
        st.tuples(st.just("t"), bad_seconds),
        st.tuples(st.just("huge"), _huge()),
    ).map(broken) | st.sampled_from([1, "x", None, [], {"n": "dev/x"}, {"t": 5}])


def _senml_doc() -> st.SearchStrategy[object]:
    records = st.lists(_senml_record(), min_size=1, max_size=4)
    return st.one_of(
        records,
        records.map(lambda r: [{"bn": 5, "n": "a", "v": 1}, *r]),
        records.map(lambda r: [{"bver": 99, "n": "dev/a", "v": 1}, *r]),
        st.just([{"n": "dev/a", "v": 1, "foo_": 1}]),
        st.sampled_from([{}, [], 1, "x", None, {"n": "dev/a", "v": 1}]),
    )


def _tasmota_doc() -> st.SearchStrategy[object]:
    # a list of numbers is a valid multi-channel value in Tasmota: lists hold bad values only
    scalar = bad_values().filter(lambda v: not isinstance(v, list))
    channel = scalar | st.lists(bad_values(), min_size=1, max_size=3)
    energy = st.fixed_dictionaries({"Total": channel, "Power": channel})
    return st.one_of(
        energy.map(lambda e: {"Time": TIME_LOCAL, "ENERGY": e}),
        bad_times().map(lambda t: {"Time": t, "ENERGY": {"Total": 1.0, "Power": 5}}),
        bad_values().map(lambda v: {"Time": TIME_LOCAL, "DS18B20": {"Temperature": v}}),
        st.tuples(bad_values(), bad_values()).map(
            lambda v: {"Time": TIME_LOCAL, "AM2301": {"Temperature": v[0], "Humidity": v[1]}}
        ),
        (unknown_units() | st.sampled_from(["kWh", "%"])).map(
            lambda u: {"Time": TIME_LOCAL, "DS18B20": {"Temperature": 21.5}, "TempUnit": u}
        ),
        st.sampled_from(
            [
                {"Time": TIME_LOCAL, "Switch1": "ON"},
                {},
                {"ENERGY": {"Voltage": 230}},
                {"Time": TIME_LOCAL, "ESP32": {"Temperature": 50.1}},
                {"ENERGY": 5},
                {"ENERGY": []},
                [],
                1,
                "x",
                None,
            ]
        ),
    )


def _shelly_status() -> st.SearchStrategy[tuple[str, object]]:
    power = st.tuples(bad_values(), bad_values()).map(
        lambda v: {"id": 0, "apower": v[0], "aenergy": {"total": v[1], "minute_ts": 1795392000}}
    )
    late = (
        bad_times()
        .filter(lambda t: not isinstance(t, str))
        .map(lambda t: {"apower": 5.0, "aenergy": {"total": 1.0, "minute_ts": t}})
    )
    one_field = {
        "em:0": "total_act_power",
        "emdata:0": "total_act",
        "em1:1": "act_power",
        "em1data:1": "total_act_energy",
        "temperature:100": "tC",
    }
    single = st.tuples(st.sampled_from(sorted(one_field)), bad_values()).map(
        lambda cv: (cv[0], {"id": 0, one_field[cv[0]]: cv[1]})
    )
    return st.one_of(
        st.tuples(st.sampled_from(["switch:0", "pm1:0"]), power | late),
        single,
        st.tuples(
            st.sampled_from(["switch:0", "em:0", "temperature:0"]),
            st.sampled_from([{"id": 0}, {"aenergy": 5}, [], 1, None]),
        ),
        st.tuples(
            st.sampled_from(["sys", "wifi", "input:0", "switch:x", "switch", "cloud"]),
            st.just({"id": 0, "apower": 5.0}),
        ),
    )


def _shelly_rpc() -> st.SearchStrategy[object]:
    status = st.fixed_dictionaries({"apower": bad_values()})
    return st.one_of(
        st.sampled_from(["NotifyEvent", "Switch.Set", None, 5]).map(
            lambda m: {"method": m, "params": {"ts": 1795392000.5, "switch:0": {"apower": 5}}}
        ),
        st.sampled_from([None, [], 5, "x"]).map(lambda p: {"method": "NotifyStatus", "params": p}),
        bad_times()
        .filter(lambda t: not isinstance(t, str))
        .map(lambda t: {"method": "NotifyStatus", "params": {"ts": t, "switch:0": {"apower": 5}}}),
        status.map(lambda s: {"method": "NotifyStatus", "params": {"ts": 1.7e9, "switch:0": s}}),
        st.just({"method": "NotifyStatus", "params": {"ts": 1.7e9, "sys": {"uptime": 5}}}),
        st.just({"method": "NotifyStatus", "params": {"switch:0": {"output": True}}}),
        st.just({"method": "NotifyStatus", "params": {"switch:0": 5}}),
    )


def _dumps(doc: object) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)


def _valid_payloads(prefix: str) -> st.SearchStrategy[tuple[str, bytes]]:
    """Valid messages, for truncating, garbling and padding."""
    return st.sampled_from(
        [
            (f"{prefix}/readings/b1", _dumps({"point": POINT, "time": TIME_ISO, "value": 1.5})),
            (
                f"{prefix}/readings/b1",
                _dumps(
                    {"unit": "kWh", "readings": [{"point": POINT, "time": TIME_MS, "value": 1.5}]}
                ),
            ),
            (
                f"{prefix}/readings/b1",
                _dumps(
                    {
                        "unit": "kWh",
                        "point": [POINT, POINT],
                        "time": [TIME_MS, TIME_ISO],
                        "value": [1.5, 2],
                    }
                ),
            ),
            (f"{prefix}/senml/dev", _dumps([{"bn": "dev/", "n": "p", "v": 1.0, "u": "W"}])),
            (
                "tele/plug/SENSOR",
                _dumps({"Time": TIME_LOCAL, "ENERGY": {"Total": 1.0, "Power": 5}}),
            ),
            ("shelly/sh1/status/switch:0", _dumps({"apower": 5.0, "aenergy": {"total": 10.0}})),
        ]
    )


def _format_topic(prefix: str, device: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            f"{prefix}/readings/{device}",
            f"{prefix}/senml/{device}",
            f"tele/{device}/SENSOR",
            f"shelly/{device}/status/switch:0",
            f"shelly/{device}/events/rpc",
        ]
    )


def hostile_payloads(
    prefix: str = "jieneng", *, max_payload_bytes: int = 1 << 20, unknown_topics: bool = True
) -> st.SearchStrategy[tuple[str, bytes]]:
    """``(topic, payload)`` pairs that a :class:`~ingest.formats.Decoder` must refuse.

    Parameters
    ----------
    prefix : str
        Prefix of the default routes the decoder uses.
    max_payload_bytes : int
        The decoder's limit; oversized payloads are one byte longer.
    unknown_topics : bool
        Include topics no default route matches (a collector subscribed only to its routes
        never receives those from a broker).
    """
    device = st.from_regex(r"[a-z][a-z0-9-]{0,11}", fullmatch=True)
    long_device = st.integers(min_value=201, max_value=240).map(lambda n: "d" * n)

    families = [
        st.tuples(device.flatmap(lambda d: _format_topic(prefix, d)), st.binary(max_size=64)),
        _valid_payloads(prefix).flatmap(
            lambda tp: st.integers(0, len(tp[1]) - 1).map(lambda cut: (tp[0], tp[1][:cut]))
        ),
        _valid_payloads(prefix).flatmap(
            lambda tp: st.tuples(st.integers(0, len(tp[1])), st.sampled_from(_GARBAGE)).map(
                lambda cg: (tp[0], tp[1][: cg[0]] + cg[1] + tp[1][cg[0] :])
            )
        ),
        st.tuples(
            st.just(f"{prefix}/readings/b1"),
            st.sampled_from(
                [
                    b'{"point":"p","time":1795392000000,"value":NaN}',
                    b'{"point":"p","time":1795392000000,"value":Infinity}',
                    b'{"point":"p","time":1795392000000,"value":-Infinity}',
                    b'{"point":"p","time":1795392000000,"value":1e400}',
                    b'{"point":"p","time":1795392000000,"value":-1e400}',
                    b'{"point":"\\ud800","time":1795392000000,"value":1}',
                    b'{"point":"p","time":1795392000000,"value":1',
                    b'{"point":"p","time":[1795392000000],"value":[NaN]}',
                    b'{"point":"p","time":[1795392000000,1795392000000],"value":[1,Infinity]}',
                    b'{"point":["","\\ud800"],"time":[1795392000000,1],"value":[1,1]}',
                ]
            ),
        ),
        _valid_payloads(prefix).map(
            lambda tp: (tp[0], tp[1] + b" " * (max_payload_bytes + 1 - len(tp[1])))
        ),
        st.tuples(device.map(lambda d: f"{prefix}/readings/{d}"), _canonical_doc().map(_dumps)),
        st.tuples(
            device.map(lambda d: f"{prefix}/readings/{d}"), _canonical_columns_doc().map(_dumps)
        ),
        st.tuples(device.map(lambda d: f"{prefix}/senml/{d}"), _senml_doc().map(_dumps)),
        st.tuples(device.map(lambda d: f"tele/{d}/SENSOR"), _tasmota_doc().map(_dumps)),
        st.tuples(
            long_device.map(lambda d: f"tele/{d}/SENSOR"),
            st.just(_dumps({"Time": TIME_LOCAL, "ENERGY": {"Total": 1.0, "Power": [1, 2]}})),
        ),
        st.tuples(device, _shelly_status()).map(
            lambda dc: (f"shelly/{dc[0]}/status/{dc[1][0]}", _dumps(dc[1][1]))
        ),
        st.tuples(long_device, st.sampled_from(["switch:0", "em1data:0"])).map(
            lambda dc: (
                f"shelly/{dc[0]}/status/{dc[1]}",
                _dumps({"apower": 1.0, "total_act_energy": 2.0}),
            )
        ),
        st.tuples(device.map(lambda d: f"shelly/{d}/events/rpc"), _shelly_rpc().map(_dumps)),
    ]
    if unknown_topics:
        families.append(
            st.tuples(
                st.one_of(
                    st.sampled_from(
                        [
                            f"{prefix}/other/x",
                            "tele/x/STATE",
                            "shelly/x/online",
                            "shelly/x/status",
                            "$SYS/broker/uptime",
                            "a/b/c",
                            prefix,
                        ]
                    ),
                    device.map(lambda d: f"unrouted/{d}"),
                ),
                _valid_payloads(prefix).map(lambda tp: tp[1]),
            )
        )
    return st.one_of(families)
