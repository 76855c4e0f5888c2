"""Readings, series by bucket, a building's consumption and its latest values."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, HTTPException, Query, Request, status

from api.deps import Db, Viewer, not_found
from api.models import Consumption, Latest, Readings, Series
from store import reads

router = APIRouter(tags=["readings"])

Bucket = Literal["15m", "1h", "1d", "1mo"]
#: Longest window per request, by bucket (a year of hours, ten years of days).
LONGEST = {
    "raw": dt.timedelta(days=31),
    "15m": dt.timedelta(days=93),
    "1h": dt.timedelta(days=400),
    "1d": dt.timedelta(days=3660),
    "1mo": dt.timedelta(days=3660),
}


def _zone(tz: str | None, default: str) -> str:
    name = tz or default
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"tz: {name!r} is not an IANA time zone"
        ) from None
    return name


def _window(
    start: dt.datetime | None, end: dt.datetime | None, tz: str, longest: dt.timedelta
) -> tuple[dt.datetime, dt.datetime]:
    """Aware bounds (naive times are in ``tz``); default: the last day up to now."""
    zone = ZoneInfo(tz)
    end = end or dt.datetime.now(dt.UTC)
    end = end if end.tzinfo else end.replace(tzinfo=zone)
    start = start or end - dt.timedelta(days=1)
    start = start if start.tzinfo else start.replace(tzinfo=zone)
    for name, t in (("start", start), ("end", end)):
        if not EARLIEST <= t <= LATEST:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name}: {t} is outside 1970–2200"
            )
    if not start < end:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"start: {start} is not before end {end}"
        )
    if end - start > longest:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"end: at most {longest.days} days per request at this bucket",
        )
    return start, end


EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _local(rows: list[dict[str, Any]], zone: str) -> list[dict[str, Any]]:
    """Buckets written in the asked zone (2026-11-25T00:00:00+08:00, not 16:00Z the day
    before): the same instants, read as people count days."""
    z = ZoneInfo(zone)
    for row in rows:
        row["bucket"] = row["bucket"].astimezone(z)
    return rows


Start = Annotated[dt.datetime | None, Query(description="ISO 8601; naive: in tz")]
End = Annotated[dt.datetime | None, Query(description="exclusive; default now")]
Tz = Annotated[str | None, Query(description="IANA zone; default the building's")]


@router.get("/readings", response_model=Readings)
def get_readings(
    request: Request,
    point: Annotated[str, Query(max_length=200, description="point key")],
    conn: Db,
    caller: Viewer,
    start: Start = None,
    end: End = None,
    tz: Tz = None,
) -> dict[str, Any]:
    """Raw readings of a point, oldest first (at most 31 days; ``api_max_rows`` rows)."""
    p = reads.point(conn, caller.scope, point)
    if p is None:
        raise not_found(f"point {point!r}")
    lo, hi = _window(start, end, _zone(tz, p["time_zone"]), LONGEST["raw"])
    limit = request.app.state.settings.api_max_rows
    rows = reads.readings(conn, p["id"], lo, hi, limit + 1)
    if len(rows) > limit:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"end: more than {limit} readings: ask for a shorter window or a series",
        )
    return {"point": p["key"], "unit": p["unit"], "readings": rows}


@router.get("/series", response_model=Series)
def get_series(
    request: Request,
    point: Annotated[str, Query(max_length=200, description="point key")],
    conn: Db,
    caller: Viewer,
    bucket: Bucket = "1h",
    start: Start = None,
    end: End = None,
    tz: Tz = None,
) -> dict[str, Any]:
    """A point by bucket: use per bucket for cumulative registers (energy, water: sum),
    mean/min/max for power, flow, temperature and humidity; days and months in ``tz``."""
    p = reads.point(conn, caller.scope, point)
    if p is None:
        raise not_found(f"point {point!r}")
    zone = _zone(tz, p["time_zone"])
    lo, hi = _window(start, end, zone, LONGEST[bucket])
    service_tz = request.app.state.service_tz
    rows = reads.series(conn, p, lo, hi, bucket=bucket, tz=zone, service_tz=service_tz)
    rows = _local(rows, zone)
    return {
        "point": p["key"],
        "unit": p["unit"],
        "bucket": bucket,
        "time_zone": zone,
        "aggregation": "sum" if p["cumulative"] else "mean",
        "rows": rows,
    }


@router.get("/buildings/{code}/consumption", response_model=Consumption)
def get_consumption(
    request: Request,
    code: str,
    conn: Db,
    caller: Viewer,
    bucket: Bucket = "1d",
    start: Start = None,
    end: End = None,
    tz: Tz = None,
) -> dict[str, Any]:
    """Use per bucket and energy code of the building's meters (``01`` main, ``01A``–``01D``
    分项, ``02`` water …; a code's meters summed)."""
    b = reads.building(conn, caller.scope, code)
    if b is None:
        raise not_found(f"building {code!r}")
    zone = _zone(tz, b["time_zone"])
    lo, hi = _window(start, end, zone, LONGEST[bucket])
    points = reads.points(conn, caller.scope, building=code)
    service_tz = request.app.state.service_tz
    rows = reads.consumption(conn, points, lo, hi, bucket=bucket, tz=zone, service_tz=service_tz)
    rows = _local(rows, zone)
    return {"building": code, "bucket": bucket, "time_zone": zone, "rows": rows}


@router.get("/buildings/{code}/latest", response_model=list[Latest])
def get_latest(code: str, conn: Db, caller: Viewer) -> list[dict[str, Any]]:
    """Each point's newest reading of the last two days (None when it has been silent)."""
    b = reads.building(conn, caller.scope, code)
    if b is None:
        raise not_found(f"building {code!r}")
    points = reads.points(conn, caller.scope, building=code)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    newest = reads.latest(conn, [p["id"] for p in points], since=since)
    return [
        {
            "key": p["key"],
            "quantity": p["quantity"],
            "unit": p["unit"],
            "energy_code": p["energy_code"],
            **{k: newest.get(p["id"], {}).get(k) for k in ("time", "value")},
        }
        for p in points
    ]
