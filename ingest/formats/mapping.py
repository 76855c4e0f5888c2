"""Declarative mappings for devices that speak none of the built-in formats.

A YAML file lists rules; each names an MQTT topic filter, where the time is, and where each
reading's value is::

    mappings:
      - name: factory-meters
        topic: "factory/+/meter/+"            # wildcard captures become {1}, {2}...
        time: {path: "ts", format: epoch_s}    # epoch_s | epoch_ms | iso; omit: receive time
        readings:
          - {point: "factory/{1}/{2}/energy_kwh", path: "data.energy", unit: "Wh"}
          - {point: "factory/{1}/{2}/power_kw", path: "data.p", unit: "W"}

A message ``factory/north/meter/m7`` with payload
``{"ts": 1795392000, "data": {"energy": 1234567, "p": 5300}}`` gives
``factory/north/m7/energy_kwh`` = 1234.567 kWh and ``factory/north/m7/power_kw`` = 5.3 kW.

Paths are dotted object keys with optional list indices (``data.channels[2].e``); ``$`` is
the whole payload (for devices that publish a bare number). ``unit`` is optional (absent: the
point's registered unit). A value missing from a message is rejected as ``missing_field``
naming its path; the other readings of the message are kept.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import yaml

from ingest.formats._common import (
    Bad,
    Message,
    Times,
    check_key,
    check_number,
    check_unit,
    convert,
    kind,
    show,
)
from ingest.formats.routes import Route, count_wildcards, split_filter
from ingest.model import ConfigError, Decoded
from ingest.units import CANONICAL, lookup

#: Time formats of a mapping rule.
TIME_FORMATS = ("epoch_s", "epoch_ms", "iso")
_PLACEHOLDER = re.compile(r"\{(\d+)\}")
_PART = re.compile(r"([^\[\]]*)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")
_ABSENT = object()


def parse_path(path: object) -> tuple[str | int, ...]:
    """Split ``"data.channels[2].e"`` into ``("data", "channels", 2, "e")``; ``"$"`` → ``()``."""
    problem = ConfigError(
        f"path: {path!r} is not a dotted path like 'data.channels[2].e' ('$' for the whole payload)"
    )
    if not isinstance(path, str) or not path:
        raise problem
    if path == "$":
        return ()
    steps: list[str | int] = []
    for pos, part in enumerate(path.split(".")):
        found = _PART.fullmatch(part)
        if found is None or not (found[1] or (pos == 0 and found[2])):
            raise problem
        if found[1]:
            steps.append(found[1])
        steps.extend(int(i) for i in _INDEX.findall(found[2]))
    return tuple(steps)


@dataclass(frozen=True, slots=True)
class MappingReading:
    """One reading of a rule: point key template, value path and unit.

    Parameters
    ----------
    point : str
        Point key; ``{1}``, ``{2}``... are replaced by the topic's wildcard captures.
    path : str
        Where the value is in the payload (see :func:`parse_path`).
    unit : str or None
        Unit of the value (converted to the canonical unit), or None for the point's unit.
    """

    point: str
    path: str
    unit: str | None = None
    steps: tuple[str | int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.point, str) or not self.point:
            raise ConfigError(f"point: {self.point!r} is not a non-empty string")
        if "{" in _PLACEHOLDER.sub("", self.point) or "}" in _PLACEHOLDER.sub("", self.point):
            raise ConfigError(
                f"point: {self.point!r} has braces other than {{1}}, {{2}}... placeholders"
            )
        if self.unit is not None and lookup(self.unit) is None:
            raise ConfigError(f"unit: {self.unit!r} is not a unit the collector can convert")
        object.__setattr__(self, "steps", parse_path(self.path))

    def captures_used(self) -> list[int]:
        """The capture numbers the point template refers to."""
        return [int(n) for n in _PLACEHOLDER.findall(self.point)]


@dataclass(frozen=True, slots=True)
class MappingTime:
    """Where a rule finds the time and how it is written (``epoch_s``, ``epoch_ms``, ``iso``)."""

    path: str
    format: str
    steps: tuple[str | int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.format not in TIME_FORMATS:
            raise ConfigError(f"format: {self.format!r} is not one of {', '.join(TIME_FORMATS)}")
        object.__setattr__(self, "steps", parse_path(self.path))


@dataclass(frozen=True, slots=True)
class MappingRule:
    """A declarative decoder for the topics matching ``topic``.

    Parameters
    ----------
    name : str
        Name for logs and errors.
    topic : str
        MQTT topic filter; each ``+``/``#`` is a capture (``{1}``, ``{2}``... in points).
    readings : tuple of MappingReading
        At least one.
    time : MappingTime or None
        Where the time is; None uses the receive time.
    """

    name: str
    topic: str
    readings: tuple[MappingReading, ...]
    time: MappingTime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name: {self.name!r} is not a non-empty string")
        try:
            split_filter(self.topic)
        except ConfigError as exc:
            raise ConfigError(f"topic: {str(exc).removeprefix('filter: ')}") from None
        if not isinstance(self.readings, tuple) or not self.readings:
            raise ConfigError(f"readings: {self.readings!r} is not a non-empty tuple")
        wildcards = count_wildcards(self.topic)
        for pos, reading in enumerate(self.readings):
            if not isinstance(reading, MappingReading):
                raise ConfigError(f"readings[{pos}]: {reading!r} is not a MappingReading")
            for number in reading.captures_used():
                if not 1 <= number <= wildcards:
                    raise ConfigError(
                        f"readings[{pos}].point: {reading.point!r} uses "
                        f"{{{number}}} but topic {self.topic!r} has {wildcards} "
                        "wildcard(s)"
                    )
        if self.time is not None and not isinstance(self.time, MappingTime):
            raise ConfigError(f"time: {self.time!r} is not a MappingTime")


def load_mappings(path: str | os.PathLike[str]) -> list[Route]:
    """Read a YAML file of mapping rules into routes.

    Raises
    ------
    ConfigError
        Naming the file, the rule index and the field, e.g.
        ``maps.yaml: mappings[1].readings[0].unit: 'kwhh' is not a unit ...``.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{os.fspath(path)}: cannot read mapping rules: {exc}") from None
    try:
        return rules_to_routes(doc)
    except ConfigError as exc:
        raise ConfigError(f"{os.fspath(path)}: {exc}") from None


def rules_to_routes(doc: object) -> list[Route]:
    """Build routes from the parsed YAML document (``{"mappings": [...]}``)."""
    if not isinstance(doc, dict) or set(doc) != {"mappings"}:
        raise ConfigError("the file must hold one key, 'mappings', with a list of rules")
    rules = doc["mappings"]
    if not isinstance(rules, list) or not rules:
        raise ConfigError("mappings: not a non-empty list of rules")
    routes: list[Route] = []
    seen: dict[tuple[str, str], int] = {}
    for pos, entry in enumerate(rules):
        try:
            rule = _rule(entry)
        except ConfigError as exc:
            text = str(exc)
            raise ConfigError(f"mappings[{pos}]{'' if text[0] == ':' else '.'}{text}") from None
        for other, key in (("name", rule.name), ("topic", rule.topic)):
            if (other, key) in seen:
                raise ConfigError(
                    f"mappings[{pos}].{other}: {key!r} is already used by "
                    f"mappings[{seen[(other, key)]}]"
                )
            seen[(other, key)] = pos
        routes.append(Route(rule.topic, "mapping", rule))
    return routes


def _fields(entry: object, allowed: set[str], required: set[str], where: str) -> dict:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: {show(entry)} is not a mapping of fields")
    unknown = sorted(str(key) for key in set(entry) - allowed)
    if unknown:
        raise ConfigError(
            f"{where + '.' if where else ''}{unknown[0]}: unknown field "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    missing = sorted(required - set(entry))
    if missing:
        raise ConfigError(f"{where + '.' if where else ''}{missing[0]}: required field is missing")
    return entry


def _rule(entry: object) -> MappingRule:
    fields = _fields(
        entry, {"name", "topic", "time", "readings"}, {"name", "topic", "readings"}, ""
    )
    readings = fields["readings"]
    if not isinstance(readings, list) or not readings:
        raise ConfigError(f"readings: {readings!r} is not a non-empty list")
    built = []
    for pos, item in enumerate(readings):
        where = f"readings[{pos}]"
        spec = _fields(item, {"point", "path", "unit"}, {"point", "path"}, where)
        try:
            built.append(MappingReading(spec["point"], spec["path"], spec.get("unit")))
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc}") from None
    time = None
    if fields.get("time") is not None:
        spec = _fields(fields["time"], {"path", "format"}, {"path", "format"}, "time")
        try:
            time = MappingTime(spec["path"], spec["format"])
        except ConfigError as exc:
            raise ConfigError(f"time.{exc}") from None
    return MappingRule(fields["name"], fields["topic"], tuple(built), time)


def decode(doc: object, msg: Message, times: Times, out: Decoded) -> None:
    """Decode a parsed payload with the mapping rule of the message's route."""
    rule = msg.rule
    assert isinstance(rule, MappingRule)
    time_us = None
    if rule.time is not None:
        try:
            stamp = _get(doc, rule.time.steps, rule.time.path)
            if rule.time.format == "iso":
                time_us = times.iso(stamp)
            elif rule.time.format == "epoch_ms":
                time_us = times.epoch_ms(stamp)
            else:
                time_us = times.epoch_s(stamp)
        except Bad as bad:
            out.reject(bad.code, rule.time.path, bad.reason)
            return
    many = len(rule.readings) > 1
    for pos, reading in enumerate(rule.readings):
        index = pos if many else None
        key = _PLACEHOLDER.sub(lambda m: msg.captures[int(m[1]) - 1], reading.point)
        try:
            check_key(key)
        except Bad as bad:
            out.reject(bad.code, "topic", bad.reason, index)
            continue
        try:
            unit = check_unit(reading.unit)
            value = convert(check_number(_get(doc, reading.steps, reading.path)), unit)
        except Bad as bad:
            out.reject(bad.code, reading.path, bad.reason, index)
            continue
        out.add(key, time_us, value, None if unit is None else CANONICAL[unit.quantity])


def _get(doc: object, steps: tuple[str | int, ...], path: str) -> object:
    node = doc
    for depth, step in enumerate(steps):
        if type(step) is int:
            if type(node) is not list:
                raise Bad("bad_shape", _not_container(path, steps, depth, node, "an array"))
            if step >= len(node):
                raise Bad(
                    "missing_field",
                    f"{path}: index {step} is past the end of an array of {len(node)}",
                )
        else:
            if type(node) is not dict:
                raise Bad("bad_shape", _not_container(path, steps, depth, node, "an object"))
            if step not in node:
                raise Bad("missing_field", f"{path}: the payload has no {step!r} here")
        node = node[step]
    return node


def _not_container(path: str, steps: tuple, depth: int, node: object, wanted: str) -> str:
    return f"{path}: the value at step {depth + 1} ({show(node)}) is {kind(node)}, not {wanted}"
