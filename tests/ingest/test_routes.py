"""Routes, topic-filter matching, mapping rules from YAML, and the Decoder's configuration."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ingest.formats import (
    Decoder,
    MappingReading,
    MappingRule,
    MappingTime,
    Route,
    default_routes,
    load_mappings,
)
from ingest.formats.mapping import parse_path
from ingest.formats.routes import match, split_filter
from ingest.model import ConfigError

NOW = 1_795_392_000_000_000


@pytest.mark.parametrize(
    ("topic_filter", "topic", "captures"),
    [
        ("tele/+/SENSOR", "tele/plug/SENSOR", ("plug",)),
        ("tele/+/SENSOR", "tele/plug/STATE", None),
        ("tele/+/SENSOR", "tele/a/b/SENSOR", None),
        ("tele/+/SENSOR", "tele//SENSOR", ("",)),
        ("jieneng/readings/#", "jieneng/readings/b1/main", ("b1/main",)),
        ("jieneng/readings/#", "jieneng/readings", ("",)),
        ("jieneng/readings/#", "jieneng/readingsx/a", None),
        ("#", "a/b", ("a/b",)),
        ("#", "$SYS/uptime", None),
        ("+/uptime", "$SYS/uptime", None),
        ("$SYS/#", "$SYS/uptime", ("uptime",)),
        ("a/+/+/#", "a/b/c/d/e", ("b", "c", "d/e")),
        ("a/b", "a/b", ()),
        ("a/b", "a/b/c", None),
        ("a/b/c", "a/b", None),
    ],
)
def test_match(topic_filter: str, topic: str, captures: tuple | None) -> None:
    assert match(split_filter(topic_filter), topic) == captures


@pytest.mark.parametrize("bad", ["", "a/#/b", "a/b+", "a/#b", "+a", "a\x00b", 5, None])
def test_split_filter_refuses_bad_filters(bad: object) -> None:
    with pytest.raises(ConfigError, match="filter"):
        split_filter(bad)


def test_route_validates_itself() -> None:
    with pytest.raises(ConfigError, match="'xml' is not one of"):
        Route("a/#", "xml")
    with pytest.raises(ConfigError, match="no rule"):
        Route("a/#", "mapping")
    rule = MappingRule("r", "a/+", (MappingReading("x/{1}", "v"),))
    with pytest.raises(ConfigError, match="takes no mapping rule"):
        Route("a/+", "canonical", rule)
    with pytest.raises(ConfigError, match="'#' before its last level"):
        Route("a/#/b", "canonical")


def test_default_routes() -> None:
    routes = default_routes("site7")
    assert [(r.filter, r.format) for r in routes] == [
        ("site7/readings/#", "canonical"),
        ("site7/senml/#", "senml"),
        ("tele/+/SENSOR", "tasmota"),
        ("shelly/+/status/+", "shelly"),
        ("shelly/+/events/rpc", "shelly"),
    ]


def test_subscriptions_put_mappings_first_and_are_distinct() -> None:
    rule = MappingRule("r", "plant/+/data", (MappingReading("p/{1}", "v"),))
    routes = [
        *default_routes(),
        Route("tele/+/SENSOR", "tasmota"),
        Route("plant/+/data", "mapping", rule),
    ]
    decoder = Decoder(routes)
    assert decoder.subscriptions() == [
        "plant/+/data",
        "jieneng/readings/#",
        "jieneng/senml/#",
        "tele/+/SENSOR",
        "shelly/+/status/+",
        "shelly/+/events/rpc",
    ]


def test_mapping_route_wins_over_builtin_format() -> None:
    rule = MappingRule("r", "tele/+/SENSOR", (MappingReading("{1}/power_kw", "P", "W"),))
    decoder = Decoder([*default_routes(), Route("tele/+/SENSOR", "mapping", rule)])
    fmt, out = decoder.decode("tele/x/SENSOR", b'{"P": 100}', received_us=NOW)
    assert (fmt, out.keys, out.values) == ("mapping", ["x/power_kw"], [0.1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"naive_tz": "Mars/Olympus"}, "naive_tz"),
        ({"max_payload_bytes": 0}, "max_payload"),
        ({"max_payload_bytes": 1.5}, "max_payload"),
    ],
)
def test_decoder_refuses_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Decoder(default_routes(), **kwargs)
    with pytest.raises(ConfigError, match=r"routes\[0\]"):
        Decoder(["jieneng/#"])  # type: ignore[list-item]


@pytest.mark.parametrize("topic", ["", "jieneng/readings/+", "jieneng/readings/#", "other/x"])
def test_unrouted_or_wildcard_topics_are_unknown_format(topic: str) -> None:
    fmt, out = Decoder(default_routes()).decode(topic, b"{}", received_us=NOW)
    assert fmt == "unknown" and [r.code for r in out.rejections] == ["unknown_format"]


def test_topic_cache_is_bounded() -> None:
    decoder = Decoder(default_routes())
    for n in range(10_000):
        decoder.route(f"tele/d{n}/SENSOR")
    assert decoder.route("tele/d1/SENSOR") == (default_routes()[2], ("d1",))
    assert len(decoder._topics) <= 8192


# --- mapping rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("ts", ("ts",)),
        ("data.channels[2].e", ("data", "channels", 2, "e")),
        ("[0].v", (0, "v")),
        ("a[1][2]", ("a", 1, 2)),
        ("$", ()),
        ("a-b.c d", ("a-b", "c d")),
    ],
)
def test_parse_path(path: str, steps: tuple) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize("path", ["", "a..b", ".a", "a.", "a[x]", "a[1", "a]", "a.[1]", 5])
def test_parse_path_refuses(path: object) -> None:
    with pytest.raises(ConfigError, match="path"):
        parse_path(path)


GOOD = """\
mappings:
  - name: factory-meters
    topic: "factory/+/meter/+"
    time: {path: "ts", format: epoch_s}
    readings:
      - {point: "factory/{1}/{2}/energy_kwh", path: "data.energy", unit: "Wh"}
      - {point: "factory/{1}/{2}/power_kw", path: "data.p", unit: "W"}
  - name: bare-numbers
    topic: "home/+/power"
    readings:
      - {point: "home/{1}/power_kw", path: "$", unit: kW}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mappings.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_load_mappings(tmp_path: Path) -> None:
    routes = load_mappings(write(tmp_path, GOOD))
    assert [(r.filter, r.format) for r in routes] == [
        ("factory/+/meter/+", "mapping"),
        ("home/+/power", "mapping"),
    ]
    rule = routes[0].rule
    assert rule is not None and rule.time == MappingTime("ts", "epoch_s")
    assert rule.readings[1] == MappingReading("factory/{1}/{2}/power_kw", "data.p", "W")
    decoder = Decoder([*routes, *default_routes()])
    fmt, out = decoder.decode(
        "factory/n/meter/m7",
        b'{"ts": 1795392000, "data": {"energy": 1234567, "p": 5300}}',
        received_us=NOW,
    )
    assert (fmt, out.keys, out.times_us, out.values) == (
        "mapping",
        ["factory/n/m7/energy_kwh", "factory/n/m7/power_kw"],
        [NOW, NOW],
        [1234.567, 5.3],
    )
    assert decoder.decode("home/flat2/power", b"1.5", received_us=NOW)[1].values == [1.5]


BAD_RULE = """\
mappings:
  - name: ok
    topic: "a/+"
    readings: [{point: "a/{1}", path: v}]
  - name: broken
    topic: "b/+"
    readings: [%s]
    %s
"""


@pytest.mark.parametrize(
    ("reading", "extra", "message"),
    [
        (
            '{point: "b/{1}", path: v, unit: kwhh}',
            "",
            r"mappings\[1\]\.readings\[0\]\.unit: 'kwhh'",
        ),
        ('{point: "b/{2}", path: v}', "", r"mappings\[1\]\.readings\[0\]\.point: .*\{2\}"),
        ('{point: "b/{dev}", path: v}', "", r"mappings\[1\]\.readings\[0\]\.point: .*braces"),
        ('{point: "b/{1}", path: "a..b"}', "", r"mappings\[1\]\.readings\[0\]\.path"),
        ('{point: "b/{1}"}', "", r"mappings\[1\]\.readings\[0\]\.path: required"),
        (
            '{point: "b/{1}", path: v, scale: 2}',
            "",
            r"mappings\[1\]\.readings\[0\]\.scale: unknown",
        ),
        (
            '{point: "b/{1}", path: v}',
            "time: {path: ts, format: epoch_us}",
            r"mappings\[1\]\.time\.format: 'epoch_us'",
        ),
        ('{point: "b/{1}", path: v}', "time: {path: ts}", r"mappings\[1\]\.time\.format: required"),
        ('{point: "b/{1}", path: v}', "topics: x", r"mappings\[1\]\.topics: unknown field"),
    ],
)
def test_load_mappings_names_rule_and_field(
    tmp_path: Path, reading: str, extra: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_mappings(write(tmp_path, BAD_RULE % (reading, extra)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mappings: [}", "cannot read"),
        ("rules: []", "one key, 'mappings'"),
        ("mappings: []", "non-empty list"),
        ("mappings: [5]", r"mappings\[0\]: 5 is not a mapping"),
        (
            'mappings: [{name: a, topic: "a/#/b", readings: [{point: p, path: v}]}]',
            r"mappings\[0\]\.topic: .*'#' before",
        ),
        ('mappings: [{name: a, topic: "a/#", readings: []}]', r"mappings\[0\]\.readings"),
        (
            'mappings: [{topic: "a/#", readings: [{point: p, path: v}]}]',
            r"mappings\[0\]\.name: required",
        ),
        (
            'mappings: [{name: a, topic: "x/+", readings: [{point: p, path: v}]},\n'
            '           {name: b, topic: "x/+", readings: [{point: p, path: v}]}]',
            r"mappings\[1\]\.topic: 'x/\+' is already used by mappings\[0\]",
        ),
        (
            'mappings: [{name: a, topic: "x/+", readings: [{point: p, path: v}]},\n'
            '           {name: a, topic: "y/+", readings: [{point: p, path: v}]}]',
            r"mappings\[1\]\.name: 'a' is already used by mappings\[0\]",
        ),
    ],
)
def test_load_mappings_refuses_bad_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_mappings(write(tmp_path, text))


def test_load_mappings_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: cannot read"):
        load_mappings(tmp_path / "nope.yaml")


def test_mapping_rule_validates_itself() -> None:
    with pytest.raises(ConfigError, match="readings: "):
        MappingRule("r", "a/+", ())
    with pytest.raises(ConfigError, match="name: "):
        MappingRule("", "a/+", (MappingReading("p", "v"),))
    with pytest.raises(ConfigError, match="unit: 'parsec'"):
        MappingReading("p", "v", "parsec")
