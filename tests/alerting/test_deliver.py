"""The outbox on a real database: a webhook nobody answers is retried with backoff and
given up after MAX_ATTEMPTS (in the alert's history); quiet hours and snoozes hold
notifications back; a rule that does not cover a finding raises nothing."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from alerting import engine
from alerting.rules import MAX_ATTEMPTS, backoff
from jieneng.settings import Settings
from store import alerts as store
from store.registry_import import import_document
from tests.fix_db import Database

NOW = dt.datetime(2026, 7, 2, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


@pytest.fixture(scope="module")
def db(plain_database: Database) -> Database:
    with plain_database.connect() as conn:
        import_document(conn, {
            "institutions": [{"code": "I1", "name": "示范单位", "type": "government"}],
            "buildings": [{"code": "110101A001", "institution": "I1", "name": "办公楼"}],
            "points": [{"key": "110101A001/elec/01A", "building": "110101A001", "unit": "kWh",
                        "energy_code": "01A"},
                       {"key": "110101A001/water", "building": "110101A001", "unit": "m3",
                        "energy_code": "02"}],
        })  # fmt: skip
        for key, rule in (("110101A001/elec/01A", "after_hours"), ("110101A001/water", "spike")):
            conn.execute(
                """INSERT INTO anomalies (point_id, building_id, rule, status, started_at,
                       ended_at, last_seen_at, run_count, severity, waste, waste_unit, kgce,
                       kgco2, cny, detector_version)
                   SELECT id, building_id, %s, 'open', '2026-07-01T10:00Z', '2026-07-01T22:00Z',
                          now(), 1, 'high', 30, 'kWh', 3.7, 16, 24, 't'
                   FROM points WHERE key = %s""",
                (rule, key),
            )
        conn.commit()
    return plain_database


def _rule(conn, name: str, **fields) -> None:  # noqa: ANN001
    store.put_rule(conn, name, None, fields)


def test_retries_with_backoff_then_gives_up(db: Database) -> None:
    settings = Settings(database_url=db.url)
    with db.connect(autocommit=True) as conn:
        _rule(conn, "hook", webhook_url=f"http://127.0.0.1:{_closed_port()}/x",
              webhook_secret="k")  # fmt: skip
        opened = engine.evaluate(conn, now=NOW)
        assert (opened["opened"], opened["queued"]) == (1, 1)  # the spike is not waste
        now = NOW
        for attempt in range(1, MAX_ATTEMPTS + 1):
            assert engine.deliver(conn, settings, now=now - dt.timedelta(seconds=1)) == {}
            got = engine.deliver(conn, settings, now=now)
            assert got == ({"retrying": 1} if attempt < MAX_ATTEMPTS else {"failed": 1})
            row = conn.execute(
                "SELECT attempts, status, next_attempt_at, last_error FROM notifications"
            ).fetchone()
            assert row[0] == attempt and "webhook unreachable" in row[3]
            if attempt < MAX_ATTEMPTS:
                assert row[2] == now + backoff(attempt)
                now = row[2]
        assert row[1] == "failed"
        kinds = [k for (k,) in conn.execute("SELECT kind FROM alert_events ORDER BY id")]
        assert kinds == ["opened", "notify_failed"]
        assert engine.evaluate(conn, now=now) == {"updated": 1}  # no second alert
        conn.execute("DELETE FROM alerts")
        conn.execute("DELETE FROM alert_rules")


def test_quiet_hours_and_snoozes_hold_notifications(db: Database) -> None:
    with db.connect(autocommit=True) as conn:
        # 11:00–13:00 in Shanghai: NOW (12:00 there) is quiet; it may go at 05:00 UTC.
        _rule(conn, "quiet", webhook_url="http://127.0.0.1:9/x", quiet_start=dt.time(11),
              quiet_end=dt.time(13))  # fmt: skip
        engine.evaluate(conn, now=NOW)
        (due,) = conn.execute("SELECT next_attempt_at FROM notifications").fetchone()
        assert due == dt.datetime(2026, 7, 2, 5, 0, tzinfo=dt.UTC)
        (alert_id,) = conn.execute("SELECT id FROM alerts").fetchone()
        store.snooze(conn, alert_id, "张工", NOW + dt.timedelta(hours=3), None)
        (due,) = conn.execute("SELECT next_attempt_at FROM notifications").fetchone()
        assert due == NOW + dt.timedelta(hours=3)  # the snooze outlasts the quiet hours
        settings = Settings(database_url=db.url)
        assert engine.deliver(conn, settings, now=NOW + dt.timedelta(hours=2)) == {}
