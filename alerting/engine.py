"""The alert engine: alerts from findings (:func:`evaluate`), notifications out of the
outbox (:func:`deliver`). Both are idempotent and safe to run from several processes: the
one-unresolved-alert index and the outbox's row locks keep them from doing anything twice.

It runs after each analysis (``jieneng analyze``, and inside ``jieneng ingest``), and on its
own with ``jieneng alerts run [--every S]``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any

import psycopg

from alerting import notify
from alerting.rules import MAX_ATTEMPTS, AlertRule, backoff, per_day, title
from store import alerts as store

log = logging.getLogger("jieneng.alerts")


def _targets(rule: AlertRule, building_code: str, topic_prefix: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if rule.webhook_url:
        out.append(("webhook", rule.webhook_url))
    out += [("email", address) for address in rule.emails]
    if rule.mqtt:
        out.append(("mqtt", f"{topic_prefix}/alerts/{building_code}"))
    return out


def evaluate(
    conn: psycopg.Connection, *, now: dt.datetime | None = None, topic_prefix: str = "jieneng"
) -> Counter[str]:
    """Open an alert for each open finding an enabled rule covers (one per point and finding
    rule: a known one is updated), and resolve those whose finding has stopped for the rule's
    ``clear_after`` (the hysteresis: a finding that stops and starts again within it keeps its
    alert). Notifications of both are queued. One transaction."""
    now = now or dt.datetime.now(dt.UTC)
    counts: Counter[str] = Counter()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('jieneng-alerts'))")
        rules = [AlertRule.from_row(r) for r in store.enabled_rules(conn)]
        by_id = {r.id: r for r in rules}
        pending = {(a["point_id"], a["rule"]): a for a in store.unresolved(conn)}
        seen = set()
        for finding in store.open_findings(conn):
            rule = next((r for r in rules if r.covers(finding)), None)
            if rule is None:
                continue
            key = (finding["point_id"], finding["rule"])
            seen.add(key)
            cost = per_day(finding)
            words = title(finding, cost)
            known = pending.get(key)
            if known is not None:
                store.refresh(conn, known, finding, cost, words)
                counts["updated"] += 1
                continue
            alert_id = store.open_alert(conn, rule.id, finding, cost, words)
            at = rule.quiet_until(now, finding["time_zone"]) or now
            targets = _targets(rule, finding["building_code"], topic_prefix)
            counts["queued"] += store.enqueue(conn, alert_id, "opened", targets, at)
            counts["opened"] += 1
        for key, alert in pending.items():
            if key in seen or alert["finding_status"] == "open":
                continue  # still running (or open but no longer covered: left as it is)
            rule = by_id.get(alert["alert_rule_id"])
            clear_after = rule.clear_after if rule else dt.timedelta(0)
            if now - alert["last_seen_at"] < clear_after:
                continue
            if store.resolve(conn, alert["id"], actor="system", note="finding ended", now=now):
                counts["resolved"] += 1
                if rule is not None:
                    at = rule.quiet_until(now, alert["time_zone"]) or now
                    targets = _targets(rule, alert["building_code"], topic_prefix)
                    counts["queued"] += store.enqueue(conn, alert["id"], "resolved", targets, at)
    return counts


def payload(n: dict[str, Any]) -> dict[str, Any]:
    """What a webhook and an MQTT message carry."""
    keys = ("title", "rule", "severity", "status", "started_at", "opened_at", "last_seen_at",
            "resolved_at", "waste_per_day", "waste_unit", "kgce_per_day", "cny_per_day",
            "point_key", "building_code", "institution_code")  # fmt: skip
    alert = {k: (n[k].isoformat() if isinstance(n[k], dt.datetime) else n[k]) for k in keys}
    return {"event": n["event"], "alert": {"id": n["alert_id"], **alert}}


def _email_text(n: dict[str, Any]) -> tuple[str, str]:
    head = "[节能告警]" if n["event"] == "opened" else "[已恢复 resolved]"
    lines = [
        n["title"],
        "",
        f"建筑 building: {n['building_code']}    计量点 point: {n['point_key']}",
        f"开始 started: {n['started_at']:%Y-%m-%d %H:%M} UTC    严重程度 severity: {n['severity']}",
    ]
    if n["waste_per_day"] is not None:
        lines.append(f"每天浪费 waste per day: {n['waste_per_day']:,.1f} {n['waste_unit']}")
    if n["cny_per_day"] is not None:
        lines.append(
            f"约 about ¥{n['cny_per_day']:,.2f}/天 day, {n['kgce_per_day'] or 0:,.2f} kgce/天 day"
        )
    lines += ["", f"告警编号 alert id: {n['alert_id']}"]
    return f"{head} {n['title']}", "\n".join(lines)


def deliver(
    conn: psycopg.Connection, settings: Any, *, now: dt.datetime | None = None, limit: int = 50
) -> Counter[str]:
    """Send the notifications that are due; a failure is retried with backoff (30 s, 1, 2 …
    minutes, at most an hour) up to :data:`MAX_ATTEMPTS`, then given up and recorded in the
    alert's history. A snoozed alert's notifications wait for the snooze to end."""
    now = now or dt.datetime.now(dt.UTC)
    counts: Counter[str] = Counter()
    with conn.transaction():
        for n in store.due(conn, now, limit):
            if n["snoozed_until"] is not None and n["snoozed_until"] > now:
                store.postpone(conn, n["alert_id"], n["snoozed_until"])
                counts["snoozed"] += 1
                continue
            try:
                if n["channel"] == "webhook":
                    notify.webhook(n["target"], n["webhook_secret"], payload(n))
                elif n["channel"] == "email":
                    subject, text = _email_text(n)
                    notify.email(settings, n["target"], subject, text)
                else:
                    notify.mqtt(settings, n["target"], payload(n))
            except notify.NotifyError as exc:
                attempts = n["attempts"] + 1
                retry = now + backoff(attempts) if attempts < MAX_ATTEMPTS else None
                store.failed(conn, n, str(exc), retry)
                log.warning(
                    "notification %s (%s, alert %s) failed: %s",
                    n["id"], n["channel"], n["alert_id"], exc,
                )  # fmt: skip
                counts["failed" if retry is None else "retrying"] += 1
                continue
            store.sent(conn, n, now)
            counts["sent"] += 1
    return counts


def run(conn: psycopg.Connection, settings: Any) -> Counter[str]:
    """One round: :func:`evaluate`, then :func:`deliver` (``conn`` in autocommit mode)."""
    return evaluate(conn, topic_prefix=settings.topic_prefix) + deliver(conn, settings)
