"""Shelly Gen2+ (RPC) component status over MQTT.

Set each device's MQTT topic prefix to ``shelly/<device-id>``. Two topics are decoded:

- ``shelly/<device>/status/<component>`` ("Generic status update over MQTT"): the payload is
  the status object of one component;
- ``shelly/<device>/events/rpc`` ("RPC status notifications"): ``NotifyStatus`` (and
  ``NotifyFullStatus``) carry ``params.ts`` (Unix seconds) and the changed components. Other
  methods (``NotifyEvent``...) are ignored with a ``bad_shape`` rejection saying so, as are
  notifications without an energy component.

Readings, keys ``<device>/<component>/<name>`` (component as Shelly names it, ``switch:0``):

==================  =====================================  ===========================
component           fields (unit)                          names
==================  =====================================  ===========================
switch:N, pm1:N     apower (W), aenergy.total (Wh)         power_kw, energy_kwh
em:N                total_act_power, a_/b_/c_act_power (W)  power_kw, a/power_kw ...
emdata:N            total_act, a_/b_/c_total_act_energy     energy_kwh, a/energy_kwh ...
                    (Wh)
em1:N               act_power (W)                          power_kw
em1data:N           total_act_energy (Wh)                  energy_kwh
temperature:N       tC (°C)                                temp_air
==================  =====================================  ===========================

Time: ``params.ts`` on ``events/rpc``; on status topics ``aenergy.minute_ts`` (Unix seconds)
of switch/pm1 when present; otherwise the receive time. A status topic of any other
component (``sys``, ``wifi``, ``input:0``...) is rejected as ``bad_shape``.

Example
-------
Topic ``shelly/shellyplus1pm-a8032ab12345/status/switch:0``::

    {"id": 0, "source": "timer", "output": true, "apower": 1180.5, "voltage": 229.8,
     "current": 5.14, "aenergy": {"total": 123456.789, "by_minute": [19.6, 19.7, 19.5],
     "minute_ts": 1795392000}, "temperature": {"tC": 48.1, "tF": 118.6}}

Topic ``shelly/shellyplus1pm-a8032ab12345/events/rpc``::

    {"src": "shellyplus1pm-a8032ab12345", "dst": "shelly/events", "method": "NotifyStatus",
     "params": {"ts": 1795392000.12, "switch:0": {"id": 0, "apower": 1175.2}}}
"""

from __future__ import annotations

from ingest.formats._common import (
    Bad,
    Message,
    Times,
    check_key,
    check_number,
    convert,
    kind,
    show,
)
from ingest.model import Decoded
from ingest.units import CANONICAL, UNITS

_POWER = (("apower",), "power_kw", "W"), (("aenergy", "total"), "energy_kwh", "Wh")
#: Component type → ((path in its status, reading name, unit), ...).
FIELDS: dict[str, tuple[tuple[tuple[str, ...], str, str], ...]] = {
    "switch": _POWER,
    "pm1": _POWER,
    "em": (
        (("total_act_power",), "power_kw", "W"),
        *((((f"{ph}_act_power",), f"{ph}/power_kw", "W")) for ph in "abc"),
    ),
    "emdata": (
        (("total_act",), "energy_kwh", "Wh"),
        *((((f"{ph}_total_act_energy",), f"{ph}/energy_kwh", "Wh")) for ph in "abc"),
    ),
    "em1": ((("act_power",), "power_kw", "W"),),
    "em1data": ((("total_act_energy",), "energy_kwh", "Wh"),),
    "temperature": ((("tC",), "temp_air", "degC"),),
}
_NOTIFY = ("NotifyStatus", "NotifyFullStatus")
_ABSENT = object()


def _device(msg: Message, levels: list[str]) -> str:
    if msg.captures:
        return msg.captures[0]
    return levels[-3] if len(levels) >= 3 else levels[0]


def _component_type(component: str) -> str | None:
    name, colon, ident = component.partition(":")
    return name if colon and ident.isdigit() and ident.isascii() and name in FIELDS else None


def decode(doc: object, msg: Message, times: Times, out: Decoded) -> None:
    """Decode a parsed Shelly status or RPC notification into ``out``."""
    levels = msg.topic.split("/")
    device = _device(msg, levels)
    if type(doc) is not dict:
        out.reject(
            "bad_shape", "$", f"payload {show(doc)} is {kind(doc)}, not a Shelly status object"
        )
    elif levels[-2:] == ["events", "rpc"]:
        _notification(doc, device, msg, times, out)
    else:
        component = levels[-1]
        ctype = _component_type(component)
        if ctype is None:
            out.reject(
                "bad_shape",
                "topic",
                f"component {show(component)} carries no energy readings; ignored",
            )
            return
        time_us = msg.received_us
        energy = doc.get("aenergy")
        if ctype in ("switch", "pm1") and type(energy) is dict and "minute_ts" in energy:
            try:
                time_us = times.epoch_s(energy["minute_ts"])
            except Bad as bad:
                out.reject(bad.code, "aenergy.minute_ts", bad.reason)
                return
        _component(doc, ctype, component, "", device, time_us, out)


def _notification(doc: dict, device: str, msg: Message, times: Times, out: Decoded) -> None:
    method = doc.get("method")
    if method not in _NOTIFY:
        out.reject("bad_shape", "method", f"RPC method {show(method)} carries no status; ignored")
        return
    params = doc.get("params")
    if type(params) is not dict:
        out.reject("bad_shape", "params", f"params {show(params)} is {kind(params)}, not an object")
        return
    time_us = msg.received_us
    if "ts" in params:
        try:
            time_us = times.epoch_s(params["ts"])
        except Bad as bad:
            out.reject(bad.code, "params.ts", bad.reason)
            return
    for component, status in params.items():
        ctype = _component_type(component)
        if ctype is None:
            continue
        where = f"params.{component}"
        if type(status) is not dict:
            out.reject(
                "bad_shape", where, f"status {show(status)} is {kind(status)}, not an object"
            )
            continue
        _component(status, ctype, component, f"{where}.", device, time_us, out)
    if not out.keys and not out.rejections:
        out.reject(
            "bad_shape",
            "params",
            f"{method} carries no energy reading (params: {show(sorted(params)[:8])}); ignored",
        )


def _component(
    status: dict, ctype: str, component: str, where: str, device: str, time_us: int, out: Decoded
) -> None:
    before = len(out.keys) + len(out.rejections)
    for path, name, unit_name in FIELDS[ctype]:
        field = where + ".".join(path)
        try:
            value = _get(status, path, where)
        except Bad as bad:
            out.reject(bad.code, field, bad.reason)
            continue
        if value is _ABSENT:
            continue
        key = f"{device}/{component}/{name}"
        try:
            check_key(key)
        except Bad as bad:
            out.reject(bad.code, "topic", bad.reason)
            continue
        unit = UNITS[unit_name]
        try:
            converted = convert(check_number(value, field), unit, field)
        except Bad as bad:
            out.reject(bad.code, field, bad.reason)
            continue
        out.add(key, time_us, converted, CANONICAL[unit.quantity])
    if len(out.keys) + len(out.rejections) == before and not where:
        wanted = ", ".join(".".join(path) for path, _, _ in FIELDS[ctype])
        out.reject("bad_shape", "$", f"{component} status has none of {wanted}")


def _get(status: dict, path: tuple[str, ...], where: str) -> object:
    node: object = status
    for depth, step in enumerate(path):
        if type(node) is not dict:
            shown = where + ".".join(path[:depth])
            raise Bad("bad_shape", f"{shown} {show(node)} is {kind(node)}, not an object")
        if step not in node:
            return _ABSENT
        node = node[step]
    return node
