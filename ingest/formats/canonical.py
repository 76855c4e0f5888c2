"""The canonical jieneng payload, published on ``<prefix>/readings/<anything>``.

The rest of the topic is free (device id, building code...); the point key is in the payload.
``time`` is required: storage deduplicates on (point, time), which is what makes redelivery
harmless. It is an ISO 8601 string (an offset or ``Z``; without one the collector's
``naive_tz``, Asia/Shanghai by default, applies) or a JSON number of milliseconds since
1970-01-01T00:00:00Z. ``unit`` is optional (absent: the point's registered unit); ``quality``
is accepted and ignored for now.

Examples
--------
Single reading::

    {"point": "11010100A001/main/energy_kwh", "time": "2026-11-23T08:00:00+08:00",
     "value": 1234.5, "unit": "kWh"}

Batch; top-level ``point`` and ``unit`` are defaults for the items (a bare JSON array of
single readings works too)::

    {"unit": "kW", "readings": [
        {"point": "11010100A001/main/power_kw", "time": 1795392000000, "value": 52.1},
        {"point": "11010100A001/hvac/power_kw", "time": 1795392000000, "value": 20.4}]}

Compact pairs of one point::

    {"point": "11010100A001/main/energy_kwh", "unit": "kWh",
     "readings": [[1795392000000, 1234.5], ["2026-11-23T08:15:00+08:00", 1236.0]]}

A batch is checked as a whole with a few list comprehensions; only when that finds a problem
is it decoded item by item, so that the valid readings are kept and each bad one is rejected
with its index and JSON path (``readings[3].time``).
"""

from __future__ import annotations

import math

from ingest.formats._common import (
    MAX_KEY_CHARS,
    MAX_MS,
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
from ingest.model import Decoded
from ingest.units import CANONICAL, Unit, lookup

_ABSENT = object()
_NUMBER = {int, float}
_KEY_CACHE_SIZE = 65536
_good_keys: set[str] = set()


def decode(doc: object, msg: Message, times: Times, out: Decoded) -> None:
    """Decode a parsed canonical payload into ``out`` (readings and rejections)."""
    point: object = _ABSENT
    unit: object = None
    if type(doc) is list:
        items, base = doc, ""
    elif type(doc) is dict:
        if "readings" not in doc:
            _slow([doc], None, _ABSENT, None, times, out)
            return
        items, base = doc["readings"], "readings"
        point = doc.get("point", _ABSENT)
        unit = doc.get("unit")
        if type(items) is not list:
            out.reject("bad_shape", "readings", f"readings {show(items)} is {kind(items)}, "
                                                "not an array of readings")
            return
    else:
        out.reject("bad_shape", "$", f"payload {show(doc)} is {kind(doc)}, not an object or "
                                     "an array of readings")
        return
    if not items:
        out.reject("bad_shape", base or "$", "the batch has no readings")
        return
    if not _fast(items, point, unit, times, out):
        _slow(items, base, point, unit, times, out)


def _fast(items: list, point: object, unit: object, times: Times, out: Decoded) -> bool:
    """Decode a batch that is entirely valid; return False (adding nothing) otherwise."""
    first = items[0]
    if type(first) is dict:
        if not all(type(item) is dict for item in items):
            return False
        keys = [item.get("point", point) for item in items]
        stamps = [item.get("time") for item in items]
        values = [item.get("value") for item in items]
        units = [item.get("unit", unit) for item in items]
    elif type(first) is list:
        if point is _ABSENT or not all(type(pair) is list and len(pair) == 2 for pair in items):
            return False
        keys = [point] * len(items)
        stamps = [pair[0] for pair in items]
        values = [pair[1] for pair in items]
        units = [unit] * len(items)
    else:
        return False
    try:
        distinct_keys = set(keys)
        distinct_units = set(units)
    except TypeError:  # an object or array where a string belongs
        return False
    for key in distinct_keys:
        if key not in _good_keys:
            if type(key) is not str or not key or len(key) > MAX_KEY_CHARS:
                return False
            try:
                check_key(key)
            except Bad:
                return False
            if len(_good_keys) >= _KEY_CACHE_SIZE:
                _good_keys.clear()
            _good_keys.add(key)
    if not set(map(type, values)) <= _NUMBER:
        return False
    canonical = _convert_all(values, units, distinct_units)
    if canonical is None:
        return False
    converted, unit_names = canonical
    total = sum(converted)
    if total - total != 0.0:  # NaN or inf somewhere (or a sum overflow: the slow path decides)
        return False
    times_us = _times_all(stamps, times)
    if times_us is None:
        return False
    out.keys.extend(keys)
    out.times_us.extend(times_us)
    out.values.extend(converted)
    out.units.extend(unit_names)
    return True


def _convert_all(values: list, units: list, distinct: set) -> tuple[list, list] | None:
    """Values in canonical units and the canonical unit names; None on an unknown unit."""
    if len(distinct) == 1:
        (name,) = distinct
        if name is None:
            return [float(v) for v in values], units
        found = lookup(name)
        if found is None:
            return None
        scale, offset = found.scale, found.offset
        return [v * scale + offset for v in values], [CANONICAL[found.quantity]] * len(values)
    found_units: dict[object, Unit] = {}
    for name in distinct:
        found = None if name is None else lookup(name)
        if found is None:
            return None  # unknown unit, or readings with and without a unit: slow path
        found_units[name] = found
    factors = {name: (unit.scale, unit.offset) for name, unit in found_units.items()}
    converted = [v * s + o for v, (s, o) in zip(values, map(factors.__getitem__, units),
                                                strict=True)]
    names = {name: CANONICAL[unit.quantity] for name, unit in found_units.items()}
    return converted, [names[u] for u in units]


def _times_all(stamps: list, times: Times) -> list[int] | None:
    kinds = set(map(type, stamps))
    if kinds == {int}:
        if min(stamps) < 0 or max(stamps) > MAX_MS:
            return None
        return [t * 1000 for t in stamps]
    if kinds == {str}:
        return times.iso_many(stamps)
    if kinds <= _NUMBER:
        low, high = min(stamps), max(stamps)
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high > MAX_MS:
            return None
        return [t * 1000 if type(t) is int else round(t * 1000) for t in stamps]
    return None


def _slow(items: list, base: str | None, point: object, unit: object, times: Times,
          out: Decoded) -> None:
    """Decode item by item, rejecting each bad reading with its index and JSON path."""
    for index, item in enumerate(items):
        where = _where(base, index)
        try:
            if type(item) is dict:
                _item(item, where, point, unit, times, out)
            elif type(item) is list and base == "readings":
                _pair(item, where, point, unit, times, out)
            else:
                raise _At(where or "$", Bad("bad_shape", f"reading {show(item)} is "
                                                         f"{kind(item)}, not an object"))
        except _At as bad:
            out.reject(bad.bad.code, bad.field, bad.bad.reason,
                       None if base is None else index)


class _At(Exception):
    """A :class:`Bad` with the JSON path where it happened."""

    def __init__(self, field: str, bad: Bad) -> None:
        super().__init__(field, bad)
        self.field = field
        self.bad = bad


def _where(base: str | None, index: int) -> str:
    if base is None:
        return ""
    return f"{base}[{index}]"


def _path(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _item(item: dict, where: str, point: object, unit: object, times: Times,
          out: Decoded) -> None:
    key_field = _path(where, "point") if "point" in item or point is _ABSENT else "point"
    key = item.get("point", point)
    if key is _ABSENT:
        raise _At(key_field, Bad("missing_field", "reading has no 'point'"))
    if "time" not in item:
        raise _At(_path(where, "time"), Bad("missing_field", "reading has no 'time' (required: "
                                                             "storage deduplicates on point "
                                                             "and time)"))
    if "value" not in item:
        raise _At(_path(where, "value"), Bad("missing_field", "reading has no 'value'"))
    unit_field = _path(where, "unit") if "unit" in item else "unit"
    _one(key, key_field, item["time"], _path(where, "time"), item["value"],
         _path(where, "value"), item.get("unit", unit), unit_field, times, out)


def _pair(pair: list, where: str, point: object, unit: object, times: Times,
          out: Decoded) -> None:
    if len(pair) != 2:
        raise _At(where, Bad("bad_shape", f"pair {show(pair)} has {len(pair)} elements, "
                                          "not [time, value]"))
    if point is _ABSENT:
        raise _At("point", Bad("missing_field", "compact [time, value] pairs need a "
                                                "top-level 'point'"))
    _one(point, "point", pair[0], f"{where}[0]", pair[1], f"{where}[1]", unit, "unit",
         times, out)


def _one(key: object, key_field: str, stamp: object, time_field: str, value: object,
         value_field: str, unit_name: object, unit_field: str, times: Times,
         out: Decoded) -> None:
    field = key_field
    try:
        check_key(key)
        field = time_field
        time_us = times.canonical(stamp)
        field = value_field
        number = check_number(value)
        field = unit_field
        unit = check_unit(unit_name)
        field = value_field
        converted = convert(number, unit)
    except Bad as bad:
        raise _At(field, bad) from None
    out.add(key, time_us, converted, None if unit is None else CANONICAL[unit.quantity])
