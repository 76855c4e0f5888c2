"""SenML (RFC 8428) JSON packs, published on ``<prefix>/senml/<anything>``.

Each record's name is ``bn + n`` (the point key), its time ``bt + t`` in seconds, its value
``v + bv`` (or the sum ``s + bs`` when there is no ``v``), its unit ``u`` or else ``bu``.
Base fields (``bn``, ``bt``, ``bu``, ``bv``, ``bs``) apply to their record and to every later
one until changed (§4.1). A time below 2**28 s (1978-07-04) is relative to now, the receive
time, and an absent time means now (§4.5.3). Units are SenML names (``W``, ``Wh``, ``J``,
``Cel``, ``K``, ``m3``, ``l``, ``m3/s``, ``l/s``, ``%RH``...), converted to canonical units.

Example
-------
::

    [{"bn": "urn:dev:mac:0024befffe804ff1/", "bt": 1795392000, "bu": "W", "n": "power",
      "v": 1520.0},
     {"n": "energy", "u": "Wh", "t": 0, "v": 4234567},
     {"n": "temp", "u": "Cel", "t": -60, "v": 23.1}]

gives ``urn:dev:mac:0024befffe804ff1/power`` = 1.52 kW, ``.../energy`` = 4234.567 kWh and
``.../temp`` = 23.1 °C one minute earlier.

Refused: string, boolean and data values (``vs``, ``vb``, ``vd``: ``not_number``), a base
version ``bver`` above 10, and packs with a must-understand field (name ending in ``_``, §4.4).
"""

from __future__ import annotations

from ingest.formats._common import (
    Bad,
    Message,
    Times,
    check_key,
    check_number,
    check_range,
    check_unit,
    convert,
    kind,
    seconds_to_us,
    show,
)
from ingest.model import Decoded
from ingest.units import CANONICAL, Unit

#: Absolute times start at 2**28 s; smaller ones are relative to now (RFC 8428 §4.5.3).
RELATIVE_LIMIT_US = 2**28 * 1_000_000
_BASE = ("bn", "bt", "bu", "bv", "bs")


def decode(doc: object, msg: Message, times: Times, out: Decoded) -> None:
    """Decode a parsed SenML pack into ``out``."""
    if type(doc) is not list:
        out.reject(
            "bad_shape", "$", f"payload {show(doc)} is {kind(doc)}, not a SenML array of records"
        )
        return
    if not doc:
        out.reject("bad_shape", "$", "the SenML pack has no records")
        return
    refused = _refuse_pack(doc)
    if refused is not None:
        out.reject("bad_shape", *refused)
        return
    base: dict[str, object] = {"bn": "", "bt": 0, "bu": None, "bv": 0, "bs": 0}
    bad_base: dict[str, tuple[str, str, str]] = {}
    for index, record in enumerate(doc):
        if type(record) is not dict:
            out.reject(
                "bad_shape",
                f"[{index}]",
                f"record {show(record)} is {kind(record)}, not an object",
                index,
            )
            continue
        _update_base(record, index, base, bad_base)
        try:
            _record(record, index, base, bad_base, msg, out)
        except _At as bad:
            out.reject(bad.code, bad.field, bad.reason, index)


def _refuse_pack(doc: list) -> tuple[str, str] | None:
    """(field, reason) when the whole pack must be refused (§4.4 and base version)."""
    for index, record in enumerate(doc):
        if type(record) is not dict:
            continue
        for name in record:
            if name.endswith("_"):
                return (
                    f"[{index}].{name}",
                    f"must-understand field {show(name)} is not "
                    "supported, so the whole pack is refused (RFC 8428 §4.4)",
                )
        if "bver" in record:
            version = record["bver"]
            if type(version) is not int or not 1 <= version <= 10:
                return (
                    f"[{index}].bver",
                    f"base version {show(version)} is not a SenML "
                    "version up to 10, so the whole pack is refused",
                )
    return None


class _At(Exception):
    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(code, field, reason)
        self.code, self.field, self.reason = code, field, reason


def _update_base(record: dict, index: int, base: dict, bad_base: dict) -> None:
    """Apply the base fields of ``record``; an invalid one poisons later records using it."""
    for name in _BASE:
        if name not in record:
            continue
        value = record[name]
        field = f"[{index}].{name}"
        try:
            if name == "bn":
                if type(value) is not str:
                    raise Bad(
                        "bad_point", f"base name {show(value)} is {kind(value)}, not a string"
                    )
                base[name] = value
            elif name == "bt":
                base[name] = _time_us(value, "base time")
            elif name == "bu":
                base[name] = _unit(value, "base unit")
            else:
                base[name] = check_number(value, "base value" if name == "bv" else "base sum")
            bad_base.pop(name, None)
        except Bad as bad:
            bad_base[name] = (bad.code, field, bad.reason)


def _unit(value: object, what: str) -> Unit | None:
    if value is None:
        raise Bad("unknown_unit", f"{what} null is not a unit")
    return check_unit(value)


def _time_us(value: object, what: str) -> int:
    if type(value) not in (int, float):
        raise Bad("bad_time", f"{what} {show(value)} is {kind(value)}, not seconds")
    try:
        number = check_number(value, what)
    except Bad as bad:
        raise Bad("bad_time", bad.reason) from None
    us = seconds_to_us(number)
    if abs(us) > 2**62:
        raise Bad("bad_time", f"{what} {show(value)} s is out of range")
    return us


def _inherited(name: str, bad_base: dict) -> None:
    if name in bad_base:
        code, field, reason = bad_base[name]
        raise _At(code, field, f"inherits an invalid base field: {reason}")


def _record(
    record: dict, index: int, base: dict, bad_base: dict, msg: Message, out: Decoded
) -> None:
    at = f"[{index}]"
    # name
    _inherited("bn", bad_base)
    name_part = record.get("n", "")
    if type(name_part) is not str:
        raise _At(
            "bad_point", f"{at}.n", f"name {show(name_part)} is {kind(name_part)}, not a string"
        )
    key = base["bn"] + name_part
    if not key:
        raise _At("missing_field", f"{at}.n", "record has no name (neither bn nor n)")
    try:
        check_key(key, "name bn+n")
    except Bad as bad:
        raise _At(bad.code, f"{at}.n" if "n" in record else f"{at}.bn", bad.reason) from None
    # time
    _inherited("bt", bad_base)
    offset = 0
    if "t" in record:
        try:
            offset = _time_us(record["t"], "time")
        except Bad as bad:
            raise _At(bad.code, f"{at}.t", bad.reason) from None
    time_us = base["bt"] + offset
    if time_us < RELATIVE_LIMIT_US:
        time_us += msg.received_us
    try:
        check_range(time_us, f"{show(record.get('t'))} (bt+t = {time_us / 1e6:.6f} s)")
    except Bad as bad:
        raise _At(bad.code, f"{at}.t", bad.reason) from None
    # value
    if "v" in record:
        _inherited("bv", bad_base)
        field, value = f"{at}.v", _number(record["v"], f"{at}.v") + base["bv"]
    elif "s" in record:
        _inherited("bs", bad_base)
        field, value = f"{at}.s", _number(record["s"], f"{at}.s") + base["bs"]
    else:
        for other, what in (("vs", "string"), ("vb", "boolean"), ("vd", "data")):
            if other in record:
                raise _At(
                    "not_number",
                    f"{at}.{other}",
                    f"{what} value "
                    f"{show(record[other])} is not a "
                    "number; only numeric values are "
                    "stored",
                )
        raise _At("missing_field", f"{at}.v", "record has no value (v or s)")
    # unit
    if "u" in record:
        try:
            unit = _unit(record["u"], "unit")
        except Bad as bad:
            raise _At(bad.code, f"{at}.u", bad.reason) from None
    else:
        _inherited("bu", bad_base)
        unit = base["bu"]
    try:
        converted = convert(value, unit)
    except Bad as bad:
        raise _At(bad.code, field, bad.reason) from None
    out.add(key, time_us, converted, None if unit is None else CANONICAL[unit.quantity])


def _number(value: object, field: str) -> float | int:
    try:
        return check_number(value)
    except Bad as bad:
        raise _At(bad.code, field, bad.reason) from None
