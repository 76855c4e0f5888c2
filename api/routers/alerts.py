"""Alerts and their lifecycle — acknowledge, assign, snooze, resolve (engineers) — with
their history; alert rules (engineers of an institution, admins of all)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field

from api.deps import Db, Engineer, Viewer, not_found
from store import alerts as store
from store import reads

router = APIRouter(tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=2**62)]


class Event(BaseModel):
    at: dt.datetime
    kind: str
    actor: str
    note: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Alert(BaseModel):
    id: int
    title: str
    rule: str
    status: Literal["open", "acknowledged", "resolved"]
    severity: str
    point_key: str
    building: str
    institution: str
    started_at: dt.datetime
    opened_at: dt.datetime
    last_seen_at: dt.datetime
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    assigned_to: str | None = None
    snoozed_until: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None
    waste_per_day: float | None = Field(None, description="in waste_unit per day")
    waste_unit: str
    kgce_per_day: float | None = None
    cny_per_day: float | None = Field(None, description="¥ per day")
    finding_id: int
    alert_rule: str
    history: list[Event] | None = None


class Note(BaseModel):
    note: str | None = Field(None, max_length=2000)


class Assignment(Note):
    to: str = Field(min_length=1, max_length=200, description="who takes care of it")


class Snooze(Note):
    minutes: int = Field(ge=1, le=60 * 24 * 30, description="no notifications for this long")


@router.get("/alerts", response_model=list[Alert])
def list_alerts(
    conn: Db,
    caller: Viewer,
    status: Literal["open", "acknowledged", "resolved"] | None = None,
    building: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Alerts, newest first, each with what its waste costs per day (¥, kgce)."""
    return store.alerts(
        conn, caller.scope, status=status, building=building, limit=limit, offset=offset
    )


@router.get("/alerts/{alert_id}", response_model=Alert)
def get_alert(alert_id: AlertId, conn: Db, caller: Viewer) -> dict[str, Any]:
    """An alert and its history (opened, notified, acknowledged, assigned, snoozed …)."""
    row = store.alert(conn, caller.scope, alert_id)
    if row is None:
        raise not_found(f"alert {alert_id}")
    return row


def _act(conn: Any, caller: Any, alert_id: int, action: Any) -> dict[str, Any]:
    if store.alert(conn, caller.scope, alert_id) is None:
        raise not_found(f"alert {alert_id}")
    with conn.transaction():
        done = action()
    if not done:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"alert {alert_id}: not possible in its current state"
        )
    return store.alert(conn, caller.scope, alert_id)  # type: ignore[return-value]


@router.post("/alerts/{alert_id}/ack", response_model=Alert)
def acknowledge(alert_id: AlertId, conn: Db, caller: Engineer, body: Note | None = None) -> dict:
    """Someone has seen it (an open alert only)."""
    note = body.note if body else None
    return _act(
        conn, caller, alert_id, lambda: store.acknowledge(conn, alert_id, caller.name, note)
    )


@router.post("/alerts/{alert_id}/assign", response_model=Alert)
def assign(alert_id: AlertId, body: Assignment, conn: Db, caller: Engineer) -> dict:
    return _act(
        conn,
        caller,
        alert_id,
        lambda: store.assign(conn, alert_id, caller.name, body.to, body.note),
    )


@router.post("/alerts/{alert_id}/snooze", response_model=Alert)
def snooze(alert_id: AlertId, body: Snooze, conn: Db, caller: Engineer) -> dict:
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=body.minutes)
    return _act(
        conn, caller, alert_id, lambda: store.snooze(conn, alert_id, caller.name, until, body.note)
    )


@router.post("/alerts/{alert_id}/resolve", response_model=Alert)
def resolve(alert_id: AlertId, conn: Db, caller: Engineer, body: Note | None = None) -> dict:
    """Resolve it by hand, and its finding (if the waste goes on, a new alert follows)."""
    note = body.note if body else None
    return _act(
        conn, caller, alert_id, lambda: store.resolve_by_user(conn, alert_id, caller.name, note)
    )


class AlertRuleIn(BaseModel):
    """An alert rule: which findings raise alerts, and where they are sent."""

    institution: str | None = Field(None, description="institution code; none: all (admins)")
    rules: list[str] | None = Field(None, description="finding rules; none: the waste rules")
    min_severity: Literal["low", "medium", "high"] = "low"
    min_duration_minutes: int = Field(0, ge=0, le=60 * 24 * 30)
    clear_after_minutes: int = Field(60, ge=0, le=60 * 24 * 30)
    quiet_start: dt.time | None = None
    quiet_end: dt.time | None = None
    webhook_url: str | None = Field(None, pattern=r"^https?://", max_length=2000)
    webhook_secret: str | None = Field(None, max_length=500)
    emails: list[str] = Field(default_factory=list, max_length=50)
    mqtt: bool = False
    enabled: bool = True


class AlertRuleOut(AlertRuleIn):
    id: int
    name: str
    webhook_secret: str | None = Field(None, description="never returned")


@router.get("/alert-rules", response_model=list[AlertRuleOut])
def list_rules(conn: Db, caller: Viewer) -> list[dict[str, Any]]:
    return [{**r, "webhook_secret": None} for r in store.rules(conn, caller.scope)]


@router.put("/alert-rules/{name}", response_model=AlertRuleOut)
def put_rule(
    name: Annotated[str, Path(min_length=1, max_length=200)],
    body: AlertRuleIn,
    conn: Db,
    caller: Engineer,
) -> dict[str, Any]:
    """Create or replace a rule. An engineer's rules are for one of its institutions."""
    institution_id = None
    if body.institution is not None:
        found = reads.institution(conn, caller.scope, body.institution)
        if found is None:
            raise not_found(f"institution {body.institution!r}")
        institution_id = found["id"]
    elif caller.scope is not None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "institution: a rule for every institution needs an admin of all",
        )
    existing = store.rule(conn, None, name)
    if existing is not None and store.rule(conn, caller.scope, name) is None:
        raise not_found(f"alert rule {name!r}")  # another institution's
    if (body.quiet_start is None) != (body.quiet_end is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "quiet_end: give both quiet_start and quiet_end"
        )
    row = store.put_rule(conn, name, institution_id, body.model_dump(exclude={"institution"}))
    return {**row, "institution": body.institution, "webhook_secret": None}
