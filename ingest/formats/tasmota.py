"""Tasmota telemetry, published on ``tele/<device>/SENSOR`` (Tasmota's default FullTopic).

``Time`` is the device's local time without offset, to the second; the decoder's
``naive_tz`` (Asia/Shanghai by default) applies. Without ``Time`` the receive time is used.

Readings, with ``<device>`` the topic level matched by ``+``:

- ``ENERGY.Total`` (kWh) → ``<device>/energy_kwh``
- ``ENERGY.Power`` (W) → ``<device>/power_kw``
- multi-channel devices send lists: ``"Power": [12, 0]`` → ``<device>/power_kw/1``,
  ``<device>/power_kw/2`` (likewise ``Total``)
- every top-level object with a ``Temperature`` (``DS18B20``, ``AM2301``, ``BME280``...) →
  ``<device>/<sensor>/temp_air`` in ``TempUnit`` (``C`` or ``F``, default C), and its
  ``Humidity`` → ``<device>/<sensor>/humidity`` (%). The ESP32 chip temperature
  (``"ESP32": {"Temperature": ...}``) is not air temperature and is skipped.

Example
-------
::

    {"Time": "2026-11-23T10:00:00",
     "ENERGY": {"TotalStartTime": "2026-01-01T00:00:00", "Total": 12.345, "Yesterday": 1.2,
                "Today": 0.3, "Power": 123, "ApparentPower": 130, "ReactivePower": 40,
                "Factor": 0.95, "Voltage": 230, "Current": 0.565},
     "AM2301": {"Temperature": 21.5, "Humidity": 40.1, "DewPoint": 7.4},
     "TempUnit": "C"}

A SENSOR message without any of these is rejected (``bad_shape``).
"""

from __future__ import annotations

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
from ingest.model import Decoded
from ingest.units import CANONICAL, UNITS, Unit

_SKIPPED_SENSORS = frozenset({"ESP32"})


def device_of(msg: Message) -> str:
    """The device id: the first wildcard capture, else the level before ``SENSOR``."""
    if msg.captures:
        return msg.captures[0]
    levels = msg.topic.split("/")
    return levels[-2] if len(levels) > 1 else levels[0]


def decode(doc: object, msg: Message, times: Times, out: Decoded) -> None:
    """Decode a parsed Tasmota SENSOR payload into ``out``."""
    if type(doc) is not dict:
        out.reject(
            "bad_shape", "$", f"payload {show(doc)} is {kind(doc)}, not a Tasmota SENSOR object"
        )
        return
    time_us = None
    if "Time" in doc:
        try:
            time_us = times.iso(doc["Time"])
        except Bad as bad:
            out.reject(bad.code, "Time", bad.reason)
            return
    device = device_of(msg)
    found = Decoded()
    energy = doc.get("ENERGY")
    if energy is not None:
        if type(energy) is dict:
            _channels(energy, "Total", f"{device}/energy_kwh", UNITS["kWh"], found)
            _channels(energy, "Power", f"{device}/power_kw", UNITS["W"], found)
        else:
            found.reject(
                "bad_shape", "ENERGY", f"ENERGY {show(energy)} is {kind(energy)}, not an object"
            )
    temp_unit = doc.get("TempUnit", "C")
    for sensor, fields in doc.items():
        if type(fields) is dict and "Temperature" in fields and sensor not in _SKIPPED_SENSORS:
            _sensor(sensor, fields, temp_unit, device, found)
    if not found.keys and not found.rejections:
        out.reject(
            "bad_shape",
            "$",
            f"SENSOR message has no ENERGY.Total, ENERGY.Power or "
            f"sensor Temperature (fields: {show(sorted(doc)[:8])})",
        )
        return
    for key, value, unit in zip(found.keys, found.values, found.units, strict=True):
        out.add(key, time_us, value, unit)
    out.rejections.extend(found.rejections)


def _channels(energy: dict, name: str, key: str, unit: Unit, found: Decoded) -> None:
    if name not in energy:
        return
    value = energy[name]
    if type(value) is list:
        for pos, item in enumerate(value):
            _reading(f"{key}/{pos + 1}", item, unit, f"ENERGY.{name}[{pos}]", found)
    else:
        _reading(key, value, unit, f"ENERGY.{name}", found)


def _sensor(sensor: str, fields: dict, temp_unit: object, device: str, found: Decoded) -> None:
    try:
        unit = check_unit(temp_unit)
        if unit is None or unit.quantity != "temperature":
            raise Bad("unknown_unit", f"TempUnit {show(temp_unit)} is not C or F")
    except Bad as bad:
        found.reject(bad.code, "TempUnit", bad.reason)
        return
    _reading(
        f"{device}/{sensor}/temp_air",
        fields["Temperature"],
        unit,
        f"{sensor}.Temperature",
        found,
        sensor,
    )
    if "Humidity" in fields:
        _reading(
            f"{device}/{sensor}/humidity",
            fields["Humidity"],
            UNITS["%"],
            f"{sensor}.Humidity",
            found,
            sensor,
        )


def _reading(
    key: str, value: object, unit: Unit, field: str, found: Decoded, key_field: str = "topic"
) -> None:
    try:
        check_key(key)
    except Bad as bad:
        found.reject(bad.code, key_field, bad.reason)
        return
    try:
        converted = convert(check_number(value, field), unit, field)
    except Bad as bad:
        found.reject(bad.code, field, bad.reason)
        return
    found.add(key, None, converted, CANONICAL[unit.quantity])
