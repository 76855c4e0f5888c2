"""Alert rules without I/O: coverage, quiet hours (over midnight too), backoff, cost per day,
webhook signatures."""

from __future__ import annotations

import datetime as dt

import pytest

from alerting import notify
from alerting.rules import AlertRule, backoff, per_day, title

UTC = dt.UTC


def rule(**changes) -> AlertRule:
    fields: dict = {
        "id": 1, "name": "r", "institution_id": 7, "rules": None, "min_severity": "medium",
        "min_duration": dt.timedelta(hours=2), "clear_after": dt.timedelta(hours=1),
        "quiet_start": None, "quiet_end": None, "webhook_url": None, "webhook_secret": None,
        "emails": (), "mqtt": False,
    }  # fmt: skip
    return AlertRule(**{**fields, **changes})


def finding(**changes) -> dict:
    out = {
        "institution_id": 7, "rule": "night_flow", "severity": "high",
        "started_at": dt.datetime(2026, 7, 1, 18, tzinfo=UTC),
        "ended_at": dt.datetime(2026, 7, 4, 6, tzinfo=UTC),
        "waste": 7.5, "kgce": None, "cny": 41.25, "building_name": "示范楼",
    }  # fmt: skip
    out.update(changes)
    return out


def test_covers() -> None:
    r = rule()
    assert r.covers(finding())
    assert not r.covers(finding(institution_id=8))  # another institution's
    assert not r.covers(finding(severity="low"))  # below the minimum
    assert not r.covers(finding(rule="spike"))  # meter problems are not waste
    short = finding(ended_at=dt.datetime(2026, 7, 1, 19, tzinfo=UTC))
    assert not r.covers(short)  # shorter than 2 h
    assert rule(rules=("spike",)).covers(finding(rule="spike"))
    assert rule(institution_id=None).covers(finding(institution_id=8))


@pytest.mark.parametrize(
    ("local", "quiet", "until"),
    [
        ("2026-07-01T23:30", ("22:00", "07:00"), "2026-07-02T07:00"),  # before midnight
        ("2026-07-02T03:00", ("22:00", "07:00"), "2026-07-02T07:00"),  # after midnight
        ("2026-07-02T07:00", ("22:00", "07:00"), None),  # the end is not quiet
        ("2026-07-02T12:30", ("12:00", "13:30"), "2026-07-02T13:30"),  # lunch
        ("2026-07-02T14:00", ("12:00", "13:30"), None),
    ],
)
def test_quiet_hours_in_the_buildings_zone(local: str, quiet: tuple, until: str | None) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    r = rule(quiet_start=dt.time.fromisoformat(quiet[0]), quiet_end=dt.time.fromisoformat(quiet[1]))
    now = dt.datetime.fromisoformat(local).replace(tzinfo=tz).astimezone(UTC)
    got = r.quiet_until(now, "Asia/Shanghai")
    want = None if until is None else dt.datetime.fromisoformat(until).replace(tzinfo=tz)
    assert got == want


def test_backoff_doubles_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(20) == dt.timedelta(hours=1)


def test_cost_per_day_over_the_findings_span() -> None:
    cost = per_day(finding())  # 2.5 days
    assert cost == {"waste_per_day": 3.0, "kgce_per_day": None, "cny_per_day": 16.5}
    one_night = finding(ended_at=dt.datetime(2026, 7, 2, 6, tzinfo=UTC))  # 12 h: one day
    assert per_day(one_night)["cny_per_day"] == 41.25
    assert title(finding(), cost) == (
        "示范楼: 夜间用水(疑似漏水), 约 ¥16/天 / night water flow (leak), about ¥16/day"
    )


def test_webhook_signature() -> None:
    body = b'{"event":"opened"}'
    signature = notify.sign("k", 1_780_000_000, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert notify.verify("k", "1780000000", signature, body, now=1_780_000_100)
    assert not notify.verify("k", "1780000000", signature, body + b" ", now=1_780_000_100)
    assert not notify.verify("other", "1780000000", signature, body, now=1_780_000_100)
    assert not notify.verify("k", "1780000000", signature, body, now=1_780_000_000 + 301)  # stale
    assert not notify.verify("k", "soon", signature, body)
