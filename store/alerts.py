"""The alert tables (migration 0010): rules, alerts with their history, the notification
outbox. Reads for the API take the caller's scope like :mod:`store.reads`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

Scope = Sequence[int] | None


def _rows(conn: psycopg.Connection, query: str, params: Any = None) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()  # type: ignore[arg-type]


# --- what the engine reads -------------------------------------------------------------------


def enabled_rules(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(conn, "SELECT * FROM alert_rules WHERE enabled ORDER BY id")


def open_findings(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Open findings with what an alert needs of their building."""
    return _rows(
        conn,
        """SELECT a.id AS anomaly_id, a.point_id, p.key AS point_key, a.building_id,
                  b.code AS building_code, b.name AS building_name, b.time_zone,
                  b.institution_id, i.code AS institution_code, a.rule, a.severity,
                  a.started_at, a.ended_at, a.waste, a.waste_unit, a.kgce, a.cny
           FROM anomalies a
           JOIN points p ON p.id = a.point_id
           JOIN buildings b ON b.id = a.building_id
           JOIN institutions i ON i.id = b.institution_id
           WHERE a.status = 'open'
           ORDER BY a.id""",
    )


def unresolved(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """SELECT al.*, an.status AS finding_status, b.code AS building_code, b.time_zone
           FROM alerts al JOIN anomalies an ON an.id = al.anomaly_id
           JOIN buildings b ON b.id = al.building_id
           WHERE al.status <> 'resolved'""",
    )


# --- what the engine writes ------------------------------------------------------------------


def event(
    conn: psycopg.Connection,
    alert_id: int,
    kind: str,
    actor: str,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO alert_events (alert_id, kind, actor, note, data) VALUES (%s, %s, %s, %s, %s)",
        (alert_id, kind, actor, note, Jsonb(data or {})),
    )


def open_alert(
    conn: psycopg.Connection,
    rule_id: int,
    finding: dict[str, Any],
    cost: dict[str, float | None],
    title: str,
) -> int:
    (alert_id,) = conn.execute(
        """INSERT INTO alerts (alert_rule_id, anomaly_id, point_id, building_id, institution_id,
               rule, severity, title, started_at, last_seen_at, waste_per_day, waste_unit,
               kgce_per_day, cny_per_day)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (
            rule_id,
            finding["anomaly_id"],
            finding["point_id"],
            finding["building_id"],
            finding["institution_id"],
            finding["rule"],
            finding["severity"],
            title,
            finding["started_at"],
            finding["ended_at"],
            cost["waste_per_day"],
            finding["waste_unit"],
            cost["kgce_per_day"],
            cost["cny_per_day"],
        ),
    ).fetchone()
    event(conn, alert_id, "opened", "system", data={"finding": finding["anomaly_id"]})
    return int(alert_id)


def refresh(
    conn: psycopg.Connection,
    alert: dict[str, Any],
    finding: dict[str, Any],
    cost: dict[str, float | None],
    title: str,
) -> None:
    """The finding grew (or a new incident of the same point and rule opened): follow it."""
    conn.execute(
        """UPDATE alerts SET anomaly_id = %s, severity = %s, title = %s, last_seen_at = %s,
               waste_per_day = %s, kgce_per_day = %s, cny_per_day = %s
           WHERE id = %s""",
        (
            finding["anomaly_id"],
            finding["severity"],
            title,
            finding["ended_at"],
            cost["waste_per_day"],
            cost["kgce_per_day"],
            cost["cny_per_day"],
            alert["id"],
        ),
    )
    if finding["severity"] != alert["severity"]:
        event(conn, alert["id"], "updated", "system",
              data={"severity": [alert["severity"], finding["severity"]]})  # fmt: skip


def resolve(
    conn: psycopg.Connection, alert_id: int, *, actor: str, note: str | None, now: dt.datetime
) -> bool:
    row = conn.execute(
        """UPDATE alerts SET status = 'resolved', resolved_at = %s, resolved_by = %s
           WHERE id = %s AND status <> 'resolved' RETURNING anomaly_id""",
        (now, actor, alert_id),
    ).fetchone()
    if row is None:
        return False
    event(conn, alert_id, "resolved", actor, note)
    return True


def enqueue(
    conn: psycopg.Connection,
    alert_id: int,
    event_name: str,
    targets: list[tuple[str, str]],
    at: dt.datetime,
) -> int:
    """Notifications to send for an alert's event, once each (channel, target)."""
    n = 0
    for channel, target in targets:
        cur = conn.execute(
            """INSERT INTO notifications (alert_id, event, channel, target, next_attempt_at)
               VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
            (alert_id, event_name, channel, target, at),
        )
        n += cur.rowcount
    return n


def due(conn: psycopg.Connection, now: dt.datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Pending notifications whose time has come, locked for this sender (others skip them);
    run inside a transaction."""
    return _rows(
        conn,
        """SELECT n.id, n.alert_id, n.event, n.channel, n.target, n.attempts,
                  al.title, al.rule, al.severity, al.status, al.started_at, al.opened_at,
                  al.last_seen_at, al.resolved_at, al.waste_per_day, al.waste_unit,
                  al.kgce_per_day, al.cny_per_day, al.snoozed_until, p.key AS point_key,
                  b.code AS building_code, i.code AS institution_code, r.webhook_secret
           FROM notifications n
           JOIN alerts al ON al.id = n.alert_id
           JOIN alert_rules r ON r.id = al.alert_rule_id
           JOIN points p ON p.id = al.point_id
           JOIN buildings b ON b.id = al.building_id
           JOIN institutions i ON i.id = al.institution_id
           WHERE n.status = 'pending' AND n.next_attempt_at <= %s
           ORDER BY n.next_attempt_at, n.id
           LIMIT %s
           FOR UPDATE OF n SKIP LOCKED""",
        (now, limit),
    )


def sent(conn: psycopg.Connection, notification: dict[str, Any], now: dt.datetime) -> None:
    conn.execute(
        "UPDATE notifications SET status = 'sent', sent_at = %s, attempts = attempts + 1"
        " WHERE id = %s",
        (now, notification["id"]),
    )
    event(conn, notification["alert_id"], "notified", "system",
          data={"channel": notification["channel"], "event": notification["event"]})  # fmt: skip


def failed(
    conn: psycopg.Connection,
    notification: dict[str, Any],
    error: str,
    retry_at: dt.datetime | None,
) -> None:
    """A failed attempt: retried at ``retry_at``, or given up (None)."""
    conn.execute(
        """UPDATE notifications SET attempts = attempts + 1, last_error = %s,
               status = CASE WHEN %s::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
               next_attempt_at = coalesce(%s, next_attempt_at)
           WHERE id = %s""",
        (error, retry_at, retry_at, notification["id"]),
    )
    if retry_at is None:
        event(conn, notification["alert_id"], "notify_failed", "system", error,
              data={"channel": notification["channel"]})  # fmt: skip


def postpone(conn: psycopg.Connection, alert_id: int, until: dt.datetime) -> None:
    """Pending notifications of a snoozed alert wait until the snooze ends."""
    conn.execute(
        """UPDATE notifications SET next_attempt_at = greatest(next_attempt_at, %s)
           WHERE alert_id = %s AND status = 'pending'""",
        (until, alert_id),
    )


# --- what the API reads and does -------------------------------------------------------------

_IN_SCOPE = "(%(scope)s::int[] IS NULL OR al.institution_id = ANY(%(scope)s::int[]))"
_ALERT = f"""
    SELECT al.id, al.title, al.rule, al.status, al.severity, p.key AS point_key,
           b.code AS building, i.code AS institution, al.started_at, al.opened_at,
           al.last_seen_at, al.acknowledged_at, al.acknowledged_by, al.assigned_to,
           al.snoozed_until, al.resolved_at, al.resolved_by, al.waste_per_day, al.waste_unit,
           al.kgce_per_day, al.cny_per_day, al.anomaly_id AS finding_id, r.name AS alert_rule
    FROM alerts al
    JOIN points p ON p.id = al.point_id
    JOIN buildings b ON b.id = al.building_id
    JOIN institutions i ON i.id = al.institution_id
    JOIN alert_rules r ON r.id = al.alert_rule_id
    WHERE {_IN_SCOPE} {{where}}"""


def alerts(
    conn: psycopg.Connection,
    scope: Scope,
    *,
    status: str | None = None,
    building: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    where = """AND (%(status)s::text IS NULL OR al.status = %(status)s)
               AND (%(building)s::text IS NULL OR b.code = %(building)s)
               ORDER BY al.opened_at DESC, al.id DESC LIMIT %(limit)s OFFSET %(offset)s"""
    params = {
        "scope": None if scope is None else list(scope),
        "status": status,
        "building": building,
        "limit": limit,
        "offset": offset,
    }
    return _rows(conn, _ALERT.format(where=where), params)


def alert(conn: psycopg.Connection, scope: Scope, alert_id: int) -> dict[str, Any] | None:
    params = {"scope": None if scope is None else list(scope), "id": alert_id}
    rows = _rows(conn, _ALERT.format(where="AND al.id = %(id)s"), params)
    if not rows:
        return None
    out = rows[0]
    out["history"] = _rows(
        conn,
        "SELECT at, kind, actor, note, data FROM alert_events WHERE alert_id = %s ORDER BY at, id",
        (alert_id,),
    )
    return out


def acknowledge(conn: psycopg.Connection, alert_id: int, actor: str, note: str | None) -> bool:
    row = conn.execute(
        """UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(),
               acknowledged_by = %s
           WHERE id = %s AND status = 'open' RETURNING id""",
        (actor, alert_id),
    ).fetchone()
    if row is not None:
        event(conn, alert_id, "acknowledged", actor, note)
    return row is not None


def assign(conn: psycopg.Connection, alert_id: int, actor: str, to: str, note: str | None) -> bool:
    row = conn.execute(
        "UPDATE alerts SET assigned_to = %s WHERE id = %s AND status <> 'resolved' RETURNING id",
        (to, alert_id),
    ).fetchone()
    if row is not None:
        event(conn, alert_id, "assigned", actor, note, {"to": to})
    return row is not None


def snooze(
    conn: psycopg.Connection, alert_id: int, actor: str, until: dt.datetime, note: str | None
) -> bool:
    row = conn.execute(
        """UPDATE alerts SET snoozed_until = %s WHERE id = %s AND status <> 'resolved'
           RETURNING id""",
        (until, alert_id),
    ).fetchone()
    if row is not None:
        event(conn, alert_id, "snoozed", actor, note, {"until": until.isoformat()})
        postpone(conn, alert_id, until)
    return row is not None


def resolve_by_user(conn: psycopg.Connection, alert_id: int, actor: str, note: str | None) -> bool:
    """A person resolves the alert, and its finding with it (if the waste goes on, the next
    analysis opens a new finding, and a new alert)."""
    now = dt.datetime.now(dt.UTC)
    row = conn.execute(
        "SELECT anomaly_id FROM alerts WHERE id = %s AND status <> 'resolved'", (alert_id,)
    ).fetchone()
    if row is None or not resolve(conn, alert_id, actor=actor, note=note, now=now):
        return False
    conn.execute(
        """UPDATE anomalies SET status = 'resolved', closed_at = %s, acknowledged_by = %s
           WHERE id = %s AND status IN ('open', 'closed')""",
        (now, actor, row[0]),
    )
    return True


_RULE = """
    SELECT r.id, r.name, i.code AS institution, r.institution_id, r.rules, r.min_severity,
           r.min_duration_minutes, r.clear_after_minutes, r.quiet_start, r.quiet_end,
           r.webhook_url, r.webhook_secret, r.emails, r.mqtt, r.enabled
    FROM alert_rules r LEFT JOIN institutions i ON i.id = r.institution_id
    WHERE (%(scope)s::int[] IS NULL OR r.institution_id = ANY(%(scope)s::int[])) {where}
    ORDER BY r.id"""


def rules(conn: psycopg.Connection, scope: Scope) -> list[dict[str, Any]]:
    """Alert rules a caller may see: those of its institutions (an admin of all: all)."""
    return _rows(conn, _RULE.format(where=""), {"scope": None if scope is None else list(scope)})


def rule(conn: psycopg.Connection, scope: Scope, name: str) -> dict[str, Any] | None:
    params = {"scope": None if scope is None else list(scope), "name": name}
    found = _rows(conn, _RULE.format(where="AND r.name = %(name)s"), params)
    return found[0] if found else None


#: A rule's fields when left out: every waste finding, at once, cleared after an hour, no
#: quiet hours, no channels.
RULE_DEFAULTS: dict[str, Any] = {
    "rules": None,
    "min_severity": "low",
    "min_duration_minutes": 0,
    "clear_after_minutes": 60,
    "quiet_start": None,
    "quiet_end": None,
    "webhook_url": None,
    "webhook_secret": None,
    "emails": [],
    "mqtt": False,
    "enabled": True,
}


def put_rule(
    conn: psycopg.Connection, name: str, institution_id: int | None, fields: dict[str, Any]
) -> dict[str, Any]:
    """Create or replace the rule ``name`` (fields left out take :data:`RULE_DEFAULTS`)."""
    fields = {**RULE_DEFAULTS, **fields}
    columns = ("rules", "min_severity", "min_duration_minutes", "clear_after_minutes",
               "quiet_start", "quiet_end", "webhook_url", "webhook_secret", "emails", "mqtt",
               "enabled")  # fmt: skip
    values = [fields[c] for c in columns]
    conn.execute(
        f"""INSERT INTO alert_rules (name, institution_id, {", ".join(columns)})
            VALUES (%s, %s, {", ".join(["%s"] * len(columns))})
            ON CONFLICT (name) DO UPDATE SET institution_id = EXCLUDED.institution_id,
            {", ".join(f"{c} = EXCLUDED.{c}" for c in columns)}""",
        (name, institution_id, *values),
    )
    found = rule(conn, None, name)
    assert found is not None
    return found
