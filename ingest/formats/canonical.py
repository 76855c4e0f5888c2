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

    {"point": "110108A001/main/energy_kwh", "time": "2026-11-23T08:00:00+08:00",
     "value": 1234.5, "unit": "kWh"}

Batch; top-level ``point`` and ``unit`` are defaults for the items (a bare JSON array of
single readings works too)::

    {"unit": "kW", "readings": [
        {"point": "110108A001/main/power_kw", "time": 1795392000000, "value": 52.1},
        {"point": "110108A001/hvac/power_kw", "time": 1795392000000, "value": 20.4}]}

Compact pairs of one point::

    {"point": "110108A001/main/energy_kwh", "unit": "kWh",
     "readings": [[1795392000000, 1234.5], ["2026-11-23T08:15:00+08:00", 1236.0]]}

Columns, for gateways that forward many readings at once: ``time`` and ``value`` are arrays
of equal length (and the payload has no ``readings``); ``point`` and ``unit`` are either one
string for all readings or arrays of the same length (``null`` in a ``unit`` array: no unit)::

    {"unit": "kWh", "point": ["110108A001/main/energy_kwh", "110108A001/hvac/energy_kwh"],
     "time": [1795392000000, 1795392000000], "value": [1234.5, 88.25]}

A batch is checked as a whole with a few list comprehensions (columns: with numpy, about
0.2 µs a reading including the JSON parsing); only when that finds a problem is it decoded
item by item, so that the valid readings are kept and each bad one is rejected with its index
and JSON path (``readings[3].time``; ``value[17]``, ``point[5]`` for columns).

>>> from ingest.formats._common import Message, Times
>>> out = Decoded()
>>> decode({"unit": "Wh", "point": "b1/main/energy_kwh", "time": [1795392000000, "x"],
...         "value": [1500, 1600]}, Message("jieneng/readings/b1", ("b1",), 0), Times("UTC"), out)
>>> out.keys, out.times_us, out.values, out.units
(['b1/main/energy_kwh'], [1795392000000000], [1.5], ['kWh'])
>>> [(r.code, r.field, r.index) for r in out.rejections]
[('bad_time', 'time[1]', 1)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

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
_INT = {int}
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
            if type(doc.get("time")) is list and type(doc.get("value")) is list:
                _columns(doc, times, out)
            else:
                _slow([doc], None, _ABSENT, None, times, out)
            return
        items, base = doc["readings"], "readings"
        point = doc.get("point", _ABSENT)
        unit = doc.get("unit")
        if type(items) is not list:
            out.reject(
                "bad_shape",
                "readings",
                f"readings {show(items)} is {kind(items)}, not an array of readings",
            )
            return
    else:
        out.reject(
            "bad_shape",
            "$",
            f"payload {show(doc)} is {kind(doc)}, not an object or an array of readings",
        )
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
    if not _known_keys(distinct_keys):
        return False
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


def _known_keys(distinct: Iterable[object]) -> bool:
    """Whether every key is valid; valid keys are cached so each is checked once."""
    for key in distinct:
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
    converted = [
        v * s + o for v, (s, o) in zip(values, map(factors.__getitem__, units), strict=True)
    ]
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


# --- columns: {"point": ..., "unit": ..., "time": [...], "value": [...]} --------------------


def _columns(doc: dict, times: Times, out: Decoded) -> None:
    """Decode a columnar payload: whole-message shape checks, then fast or slow path."""
    stamps, values = doc["time"], doc["value"]
    point = doc.get("point", _ABSENT)
    unit = doc.get("unit")
    count = len(stamps)
    if (
        len(values) != count
        or (type(point) is list and len(point) != count)
        or (type(unit) is list and len(unit) != count)
    ):
        lengths = {"time": count, "value": len(values)}
        if type(point) is list:
            lengths["point"] = len(point)
        if type(unit) is list:
            lengths["unit"] = len(unit)
        odd = [name for name, size in lengths.items() if size != count]
        sizes = ", ".join(f"{name} has {size}" for name, size in lengths.items())
        out.reject(
            "bad_shape",
            odd[0],
            f"columns differ in length ({sizes}); each needs one entry per reading",
        )
        return
    if not count:
        out.reject("bad_shape", "time", "the batch has no readings (time and value are empty)")
        return
    if not _columns_fast(stamps, values, point, unit, times, out):
        _columns_slow(stamps, values, point, unit, times, out)


def _columns_fast(
    stamps: list, values: list, point: object, unit: object, times: Times, out: Decoded
) -> bool:
    """Decode columns that are entirely valid with numpy; return False (adding nothing)
    otherwise. The result is the same as :func:`_columns_slow` would give, value for value."""
    count = len(values)
    if type(point) is list:
        try:
            if not _good_keys.issuperset(point) and not _known_keys(set(point)):
                return False
        except TypeError:  # an object or array where a key belongs
            return False
        keys = point
    elif type(point) is str:
        if point not in _good_keys and not _known_keys((point,)):
            return False
        keys = [point] * count
    else:
        return False
    if not set(map(type, values)) <= _NUMBER:  # bools, strings, null...: the slow path says
        return False
    numbers = np.fromiter(values, np.float64, count)  # ints convert exactly as float() does
    converted = _convert_columns(numbers, unit, count)
    if converted is None:
        return False
    result, unit_names = converted
    kinds = set(map(type, stamps))
    if kinds == _INT:
        try:
            millis = np.fromiter(stamps, np.int64, count)
        except OverflowError:  # beyond int64: far outside 1970..9999 anyway
            return False
        if millis.view(np.uint64).max() > MAX_MS:  # negative times wrap to huge ones
            return False
        times_us = (millis * 1000).tolist()
    else:
        times_us = _times_all(stamps, times)
        if times_us is None:
            return False
    if out.keys:
        out.keys.extend(keys)
        out.times_us.extend(times_us)
        out.values.extend(result.tolist())
        out.units.extend(unit_names)
    else:  # the usual case: take the lists as they are instead of copying them
        out.keys, out.times_us, out.values, out.units = keys, times_us, result.tolist(), unit_names
    return True


def _convert_columns(
    numbers: np.ndarray, unit: object, count: int
) -> tuple[np.ndarray, list] | None:
    """Values in canonical units (all finite) and their unit names; None on any problem.

    ``value * scale + offset`` as :meth:`Unit.to_canonical` computes it, so the floats are
    bit-identical to the item form; readings without a unit keep ``float(value)``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if type(unit) is list:
            try:
                distinct = set(unit)
            except TypeError:
                return None
            found = {name: lookup(name) for name in distinct}
            if any(name is not None and found[name] is None for name in distinct):
                return None
            if len(distinct) == 1:
                return _convert_columns(numbers, unit[0], count)
            names = {
                name: None if u is None else CANONICAL[u.quantity] for name, u in found.items()
            }
            factors = {
                name: (1.0, 0.0) if u is None else (u.scale, u.offset) for name, u in found.items()
            }
            scale, offset = np.array([factors[name] for name in unit]).T
            result = numbers * scale + offset
            if None in distinct:
                result = np.where(np.array([name is None for name in unit]), numbers, result)
            unit_names = [names[name] for name in unit]
        elif unit is None:
            result, unit_names = numbers, [None] * count
        else:
            found_unit = lookup(unit)
            if found_unit is None:
                return None
            result = numbers * found_unit.scale + found_unit.offset
            unit_names = [CANONICAL[found_unit.quantity]] * count
        if not np.isfinite(result).all():  # NaN, inf, or overflow in the conversion
            return None
    return result, unit_names


def _columns_slow(
    stamps: list, values: list, point: object, unit: object, times: Times, out: Decoded
) -> None:
    """Decode columns reading by reading; each bad one is rejected with ``value[17]``-like
    paths and its index."""
    points = type(point) is list
    units = type(unit) is list
    for index in range(len(values)):
        key, key_field = (point[index], f"point[{index}]") if points else (point, "point")
        name, unit_field = (unit[index], f"unit[{index}]") if units else (unit, "unit")
        try:
            if key is _ABSENT:
                raise _At(
                    "point",
                    Bad(
                        "missing_field",
                        "columns have no 'point' (one key for all readings, or an array of keys)",
                    ),
                )
            _one(
                key,
                key_field,
                stamps[index],
                f"time[{index}]",
                values[index],
                f"value[{index}]",
                name,
                unit_field,
                times,
                out,
            )
        except _At as bad:
            out.reject(bad.bad.code, bad.field, bad.bad.reason, index)


def _slow(
    items: list, base: str | None, point: object, unit: object, times: Times, out: Decoded
) -> None:
    """Decode item by item, rejecting each bad reading with its index and JSON path."""
    for index, item in enumerate(items):
        where = _where(base, index)
        try:
            if type(item) is dict:
                _item(item, where, point, unit, times, out)
            elif type(item) is list and base == "readings":
                _pair(item, where, point, unit, times, out)
            else:
                raise _At(
                    where or "$",
                    Bad("bad_shape", f"reading {show(item)} is {kind(item)}, not an object"),
                )
        except _At as bad:
            out.reject(bad.bad.code, bad.field, bad.bad.reason, None if base is None else index)


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


def _item(item: dict, where: str, point: object, unit: object, times: Times, out: Decoded) -> None:
    key_field = _path(where, "point") if "point" in item or point is _ABSENT else "point"
    key = item.get("point", point)
    if key is _ABSENT:
        raise _At(key_field, Bad("missing_field", "reading has no 'point'"))
    if "time" not in item:
        raise _At(
            _path(where, "time"),
            Bad(
                "missing_field",
                "reading has no 'time' (required: storage deduplicates on point and time)",
            ),
        )
    if "value" not in item:
        raise _At(_path(where, "value"), Bad("missing_field", "reading has no 'value'"))
    unit_field = _path(where, "unit") if "unit" in item else "unit"
    _one(
        key,
        key_field,
        item["time"],
        _path(where, "time"),
        item["value"],
        _path(where, "value"),
        item.get("unit", unit),
        unit_field,
        times,
        out,
    )


def _pair(pair: list, where: str, point: object, unit: object, times: Times, out: Decoded) -> None:
    if len(pair) != 2:
        raise _At(
            where,
            Bad("bad_shape", f"pair {show(pair)} has {len(pair)} elements, not [time, value]"),
        )
    if point is _ABSENT:
        raise _At(
            "point", Bad("missing_field", "compact [time, value] pairs need a top-level 'point'")
        )
    _one(point, "point", pair[0], f"{where}[0]", pair[1], f"{where}[1]", unit, "unit", times, out)


def _one(
    key: object,
    key_field: str,
    stamp: object,
    time_field: str,
    value: object,
    value_field: str,
    unit_name: object,
    unit_field: str,
    times: Times,
    out: Decoded,
) -> None:
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
