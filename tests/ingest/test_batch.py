"""BatchBuilder: point lookup, unit checks and time tolerance, without broker or database."""

from __future__ import annotations

import threading

import orjson
import pytest

from ingest.batch import BatchBuilder, Message, as_arrays
from ingest.formats import Decoder, default_routes
from ingest.inbox import Inbox
from store.registry import PointInfo

NOW_US = 1_795_392_000_000_000  # 2026-11-23T00:00:00Z
NOW_MS = NOW_US // 1000


def builder(known: dict[str, PointInfo] | None = None, **kw: float) -> BatchBuilder:
    points = dict(
        known or {"m1/energy_kwh": PointInfo(1, "kWh"), "m1/power_kw": PointInfo(2, "kW")}
    )

    def resolve(keys: set[str], units: dict[str, str | None]) -> dict[str, PointInfo | str]:
        out: dict[str, PointInfo | str] = {}
        for k in keys:
            if k.startswith("auto/") and units.get(k):
                points[k] = out[k] = PointInfo(100 + len(points), units[k])  # type: ignore[assignment]
            else:
                out[k] = f"point {k!r} is not registered and auto-registration is off"
        return out

    return BatchBuilder(Decoder(default_routes("t")), points, resolve, **kw)


def msg(doc: object, mid: int = 1) -> Message:
    return Message("t/readings/x", orjson.dumps(doc), NOW_US, mid=mid, qos=1)


def test_valid_readings_are_batched_with_their_acks() -> None:
    b = builder()
    b.add(
        msg(
            {
                "readings": [
                    {"point": "m1/energy_kwh", "time": NOW_MS - 1000, "value": 5, "unit": "Wh"},
                    {"point": "m1/power_kw", "time": NOW_MS - 1000, "value": 2.5, "unit": "kW"},
                ]
            },
            mid=7,
        )
    )
    batch = b.take()
    pid, t, v = as_arrays(batch)
    assert pid.tolist() == [1, 2] and v.tolist() == [0.005, 2.5]
    assert t.tolist() == [NOW_US - 1_000_000] * 2
    assert batch.acks == [(7, 1, 0)] and not batch.dead_letters
    assert len(b.batch) == 0


@pytest.mark.parametrize(
    ("reading", "code", "field"),
    [
        (
            {"point": "m1/energy_kwh", "time": NOW_MS, "value": 1, "unit": "kW"},
            "unit_mismatch",
            "readings[1].unit",
        ),
        (
            {"point": "nobody/energy_kwh", "time": NOW_MS, "value": 1, "unit": "kWh"},
            "unknown_point",
            "readings[1].point",
        ),
        (
            {"point": "m1/energy_kwh", "time": NOW_MS + 3_600_000, "value": 1},
            "time_future",
            "readings[1].time",
        ),
        (
            {"point": "m1/energy_kwh", "time": NOW_MS - 500 * 86_400_000, "value": 1},
            "time_too_old",
            "readings[1].time",
        ),
    ],
)
def test_refused_reading_goes_to_dead_letters_and_the_rest_is_kept(
    reading: dict[str, object], code: str, field: str
) -> None:
    b = builder()
    good = {"point": "m1/power_kw", "time": NOW_MS, "value": 1.0, "unit": "kW"}
    b.add(msg({"readings": [good, reading]}))
    batch = b.take()
    assert batch.point_ids == [2]
    (letter,) = batch.dead_letters
    assert [(e["code"], e["field"], e["index"]) for e in letter.errors] == [(code, field, 1)]
    assert letter.accepted == 1 and field in letter.reason
    assert batch.rejected == {code: 1}
    assert batch.acks == [(1, 1, 0)]  # the message is acknowledged: its refusal is stored


def test_tolerances_are_settings() -> None:
    b = builder(max_future_s=7200.0)
    b.add(msg({"point": "m1/energy_kwh", "time": NOW_MS + 3_600_000, "value": 1}))
    assert b.take().point_ids == [1]


def test_auto_registration_uses_the_reading_unit() -> None:
    b = builder()
    b.add(msg({"point": "auto/x/temp_air", "time": NOW_MS, "value": 68, "unit": "degF"}))
    batch = b.take()
    assert len(batch.point_ids) == 1 and batch.values == [pytest.approx(20.0)]
    assert b.points["auto/x/temp_air"].unit == "degC"


def test_undecodable_message_is_one_dead_letter() -> None:
    b = builder()
    b.add(Message("t/readings/x", b"\xff\xfe", NOW_US, mid=3, qos=1, dup=True))
    batch = b.take()
    (letter,) = batch.dead_letters
    assert letter.payload == b"\xff\xfe" and letter.dup and letter.format == "canonical"
    assert letter.errors[0]["code"] == "bad_json" and not batch.point_ids


def test_inbox_bounds_messages_and_bytes() -> None:
    inbox = Inbox(maxsize=3, max_bytes=10)
    m = Message("t", b"x" * 6, 0)
    inbox.put(m, 6)
    inbox.put(m, 6)  # 12 bytes now: the next put must wait for the consumer
    blocked = threading.Thread(target=inbox.put, args=(m, 6))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive() and len(inbox) == 2
    assert inbox.take_all(0.1) == [m, m]
    blocked.join(2)
    assert not blocked.is_alive() and inbox.take_all(0.1) == [m]
    assert inbox.take_all(0.05) == []


def test_closed_inbox_drops_instead_of_waiting() -> None:
    inbox = Inbox(maxsize=1)
    m = Message("t", b"x", 0)
    inbox.put(m, 1)
    blocked = threading.Thread(target=inbox.put, args=(m, 1))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()
    inbox.close()  # shutdown: paho's thread must not stay stuck in on_message
    blocked.join(2)
    assert not blocked.is_alive() and inbox.take_all(0.1) == [m]
