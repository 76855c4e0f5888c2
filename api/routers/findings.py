"""Findings of the analysis job (``v_anomalies``), within the caller's institutions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from api.deps import Db, Viewer, not_found
from api.models import Finding
from store import reads

router = APIRouter(tags=["findings"])


@router.get("/findings", response_model=list[Finding])
def list_findings(
    conn: Db,
    caller: Viewer,
    building: str | None = None,
    rule: str | None = None,
    status: Literal["open", "closed", "resolved"] | None = None,
    since: Annotated[dt.datetime | None, Query(description="ended at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="started before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Findings, newest first: rule, waste (kWh or m³) and its cost (kgce, kgCO2, ¥)."""
    return reads.findings(
        conn,
        caller.scope,
        building=building,
        rule=rule,
        status=status,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )


@router.get("/findings/{finding_id}", response_model=Finding)
def get_finding(
    finding_id: Annotated[int, Path(ge=1, le=2**62)], conn: Db, caller: Viewer
) -> dict[str, Any]:
    row = reads.finding(conn, caller.scope, finding_id)
    if row is None:
        raise not_found(f"finding {finding_id}")
    return row
