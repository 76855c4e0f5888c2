"""Encoders: plain Python readings → (topic, payload bytes) in every format ingest decodes.

They are the exact inverse of :mod:`ingest.formats` and serve the simulators, the tests and
the benchmarks. Times are integer µs since the Unix epoch (UTC), as in
:class:`ingest.model.Decoded`.

Round trips are exact: ISO times carry microseconds, epoch-ms times a fraction when needed,
floats are written in their shortest exact form (orjson), so decoding gives back the time and
``unit.to_canonical(value)``. Except: Tasmota's ``Time`` has one-second precision (the
decoded time is the sent time rounded down to the second), and SenML times need to be at or
after 1978-07-04 (2**28 s), below which SenML means "relative to now".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOPIC_UNSAFE = str.maketrans({"+": "_", "#": "_", "\x00": "_"})


def iso_utc(time_us: int) -> str:
    """``2026-11-23T00:00:00.000000Z``: an ISO 8601 UTC string with microseconds."""
    stamp = _EPOCH + timedelta(microseconds=time_us)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _time(time_us: int, time_format: str) -> str | int | float:
    if time_format == "iso":
        return iso_utc(time_us)
    if time_format == "epoch_ms":
        whole, part = divmod(time_us, 1000)
        return whole if part == 0 else time_us / 1000
    raise ValueError(f"time_format: {time_format!r} is not 'iso' or 'epoch_ms'")


def _topic_level(text: str) -> str:
    return text.translate(_TOPIC_UNSAFE) or "_"


def encode_canonical_single(
    point: str,
    time_us: int,
    value: float,
    unit: str | None = None,
    *,
    prefix: str = "jieneng",
    time_format: str = "iso",
) -> tuple[str, bytes]:
    """One canonical reading on ``<prefix>/readings/<point>``.

    Parameters
    ----------
    point : str
        Point key.
    time_us : int
        Reading time, µs since the Unix epoch (UTC).
    value : float
        Value in ``unit``.
    unit : str or None
        Unit name (``"kWh"``...), or None to leave it out.
    prefix : str
        First topic level(s).
    time_format : {"iso", "epoch_ms"}
        How the time is written.
    """
    doc: dict[str, object] = {"point": point, "time": _time(time_us, time_format), "value": value}
    if unit is not None:
        doc["unit"] = unit
    return f"{prefix}/readings/{_topic_level(point)}", orjson.dumps(doc)


def encode_canonical_batch(
    readings: Sequence[tuple[str, int, float, str | None]],
    *,
    prefix: str = "jieneng",
    time_format: str = "iso",
    compact: bool = False,
) -> tuple[str, bytes]:
    """A canonical batch of ``(point, time_us, value, unit)`` readings.

    The topic is ``<prefix>/readings/<first level of the first point>``. A unit shared by
    all readings is written once at the top. ``compact=True`` writes ``[time, value]`` pairs
    and needs one point and one unit for all readings.
    """
    if not readings:
        raise ValueError("readings: a batch needs at least one reading")
    topic = f"{prefix}/readings/{_topic_level(readings[0][0].split('/')[0])}"
    points = {r[0] for r in readings}
    units = {r[3] for r in readings}
    doc: dict[str, object] = {}
    if compact:
        if len(points) != 1 or len(units) != 1:
            raise ValueError(
                "compact: pairs need one point and one unit for every reading, "
                f"got {len(points)} points and {len(units)} units"
            )
        doc["point"] = readings[0][0]
        if readings[0][3] is not None:
            doc["unit"] = readings[0][3]
        doc["readings"] = [[_time(t, time_format), v] for _, t, v, _ in readings]
        return topic, orjson.dumps(doc)
    shared_unit = len(units) == 1 and readings[0][3] is not None
    if shared_unit:
        doc["unit"] = readings[0][3]
    items = []
    for point, time_us, value, unit in readings:
        item: dict[str, object] = {
            "point": point,
            "time": _time(time_us, time_format),
            "value": value,
        }
        if unit is not None and not shared_unit:
            item["unit"] = unit
        items.append(item)
    doc["readings"] = items
    return topic, orjson.dumps(doc)


def encode_canonical_columns(
    readings: Sequence[tuple[str, int, float, str | None]],
    *,
    prefix: str = "jieneng",
    time_format: str = "epoch_ms",
) -> tuple[str, bytes]:
    """A columnar canonical batch of ``(point, time_us, value, unit)`` readings.

    The topic is ``<prefix>/readings/<first level of the first point>``. ``point`` is written
    as one string when every reading has the same key, else as an array of keys; ``unit`` as
    one string when shared, as an array (``null`` for readings without a unit) when not, and
    left out when no reading has one.
    """
    if not readings:
        raise ValueError("readings: a batch needs at least one reading")
    topic = f"{prefix}/readings/{_topic_level(readings[0][0].split('/')[0])}"
    points = [r[0] for r in readings]
    units = [r[3] for r in readings]
    doc: dict[str, object] = {}
    if len(set(units)) > 1:
        doc["unit"] = units
    elif units[0] is not None:
        doc["unit"] = units[0]
    doc["point"] = points[0] if len(set(points)) == 1 else points
    doc["time"] = [_time(r[1], time_format) for r in readings]
    doc["value"] = [r[2] for r in readings]
    return topic, orjson.dumps(doc)


def encode_senml(
    device: str,
    readings: Sequence[tuple[str, int, float, str | None]],
    *,
    prefix: str = "jieneng",
    base: bool = True,
) -> tuple[str, bytes]:
    """A SenML pack of ``(name, time_us, value, senml_unit)`` on ``<prefix>/senml/<device>``.

    Decoded keys are ``<device>/<name>``. With ``base``, the first record carries
    ``bn = "<device>/"``, ``bt`` (whole seconds) and ``bu`` when one unit is shared; records
    then carry times relative to ``bt``. Times must be absolute (≥ 2**28 s, 1978-07-04).
    """
    if not readings:
        raise ValueError("readings: a SenML pack needs at least one record")
    records: list[dict[str, object]] = []
    if base:
        base_s = min(t for _, t, _, _ in readings) // 1_000_000
        units = {r[3] for r in readings}
        shared_unit = readings[0][3] if len(units) == 1 else None
        for name, time_us, value, unit in readings:
            record: dict[str, object] = {
                "n": name,
                "t": _seconds(time_us - base_s * 1_000_000),
                "v": value,
            }
            if unit is not None and shared_unit is None:
                record["u"] = unit
            records.append(record)
        head: dict[str, object] = {"bn": f"{device}/", "bt": base_s}
        if shared_unit is not None:
            head["bu"] = shared_unit
        records[0] = head | records[0]
    else:
        for name, time_us, value, unit in readings:
            record = {"n": f"{device}/{name}", "t": _seconds(time_us), "v": value}
            if unit is not None:
                record["u"] = unit
            records.append(record)
    return f"{prefix}/senml/{_topic_level(device)}", orjson.dumps(records)


def _seconds(time_us: int) -> int | float:
    whole, part = divmod(time_us, 1_000_000)
    return whole if part == 0 else time_us / 1_000_000


def encode_tasmota(
    device: str,
    time_us: int,
    energy_total_kwh: float | Sequence[float] | None,
    power_w: float | Sequence[float] | None,
    *,
    tz: str = "Asia/Shanghai",
    sensors: Mapping[str, Mapping[str, float]] | None = None,
    temp_unit: str = "C",
) -> tuple[str, bytes]:
    """A Tasmota ``tele/<device>/SENSOR`` message.

    ``Time`` is local time in ``tz`` to the second (the decoder's ``naive_tz`` must match).
    Lists of totals or powers make a multi-channel device. ``None`` leaves the field out (both
    None: no ENERGY object). ``sensors`` adds objects such as ``{"AM2301": {"Temperature":
    21.5, "Humidity": 40.0}}`` in ``temp_unit``.
    """
    local = (_EPOCH + timedelta(microseconds=time_us)).astimezone(ZoneInfo(tz))
    doc: dict[str, object] = {"Time": local.strftime("%Y-%m-%dT%H:%M:%S")}
    if energy_total_kwh is not None or power_w is not None:
        energy: dict[str, object] = {"TotalStartTime": "2024-01-01T00:00:00"}
        if energy_total_kwh is not None:
            energy |= {"Total": _plain(energy_total_kwh), "Yesterday": 0.0, "Today": 0.0}
        if power_w is not None:
            power = _plain(power_w)
            current = round(abs(power) / 230, 3) if isinstance(power, int | float) else 0.0
            energy |= {
                "Power": power,
                "ApparentPower": power,
                "ReactivePower": 0,
                "Factor": 1.0,
                "Voltage": 230,
                "Current": current,
            }
        doc["ENERGY"] = energy
    for name, fields in (sensors or {}).items():
        doc[name] = dict(fields)
    if sensors:
        doc["TempUnit"] = temp_unit
    return f"tele/{_topic_level(device)}/SENSOR", orjson.dumps(doc)


def _plain(value: float | Sequence[float]) -> float | list[float]:
    return value if isinstance(value, int | float) else list(value)


def encode_shelly_switch(
    device: str, component: str, minute_ts_s: int | None, aenergy_wh: float, apower_w: float
) -> tuple[str, bytes]:
    """A Shelly Gen2 switch status on ``shelly/<device>/status/<component>``.

    ``component`` is ``switch:N`` or ``pm1:N``; ``minute_ts_s`` (Unix seconds) becomes the
    reading time, None leaves it out (the receive time is then used).
    """
    ident = int(component.partition(":")[2] or 0)
    aenergy: dict[str, object] = {"total": aenergy_wh, "by_minute": [0.0, 0.0, 0.0]}
    if minute_ts_s is not None:
        aenergy["minute_ts"] = minute_ts_s
    doc = {
        "id": ident,
        "source": "timer",
        "output": True,
        "apower": apower_w,
        "voltage": 230.0,
        "current": 0.0,
        "aenergy": aenergy,
        "temperature": {"tC": 45.0, "tF": 113.0},
    }
    return f"shelly/{_topic_level(device)}/status/{_topic_level(component)}", orjson.dumps(doc)


def encode_shelly_notify(
    device: str, ts_s: float | None, statuses: Mapping[str, Mapping[str, object]]
) -> tuple[str, bytes]:
    """A Shelly ``NotifyStatus`` on ``shelly/<device>/events/rpc`` with ``params.ts``."""
    params: dict[str, object] = {} if ts_s is None else {"ts": ts_s}
    params |= {name: dict(status) for name, status in statuses.items()}
    doc = {
        "src": device,
        "dst": f"shelly/{device}/events",
        "method": "NotifyStatus",
        "params": params,
    }
    return f"shelly/{_topic_level(device)}/events/rpc", orjson.dumps(doc)
