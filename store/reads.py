"""Typed, tenant-scoped reads for the API.

Every function takes ``scope``: the institution ids the caller may see (None: all). The
filter is part of each query's WHERE clause, so a row outside the scope is never read — an
unknown code and a code of another institution look the same (None, the API's 404).

Series come from the documented views, aggregated by what the point measures: use for
cumulative registers from ``v_consumption_*`` (register differences per bucket, rollovers
added, resets left out, times the multiplier — the dashboards' views too), mean/min/max
for power, flow, temperature and humidity from ``v_rollup_*``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

Scope = Sequence[int] | None

#: Buckets a series can be asked for, and the rollup each is read from.
BUCKETS = {"15m": "v_rollup_15m", "1h": "v_rollup_1h", "1d": "v_rollup_1h", "1mo": "v_rollup_1h"}
#: date_trunc unit of the buckets aggregated in the caller's time zone.
_TRUNC = {"1d": "day", "1mo": "month"}

_IN_SCOPE = "(%(scope)s::int[] IS NULL OR b.institution_id = ANY(%(scope)s::int[]))"


def _rows(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()  # type: ignore[arg-type]


def _one(conn: psycopg.Connection, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    rows = _rows(conn, query, params)
    return rows[0] if rows else None


def _scope(scope: Scope) -> list[int] | None:
    return None if scope is None else list(scope)


# --- registry --------------------------------------------------------------------------------

_INSTITUTION = """
    SELECT i.id, i.code, i.name, i.type, i.region_code, i.headcount, i.created_at,
           count(b.id) AS buildings
    FROM institutions i LEFT JOIN buildings b ON b.institution_id = i.id
    WHERE (%(scope)s::int[] IS NULL OR i.id = ANY(%(scope)s::int[])) {where}
    GROUP BY i.id ORDER BY i.code"""


def institutions(conn: psycopg.Connection, scope: Scope) -> list[dict[str, Any]]:
    return _rows(conn, _INSTITUTION.format(where=""), {"scope": _scope(scope)})


def institution(conn: psycopg.Connection, scope: Scope, code: str) -> dict[str, Any] | None:
    query = _INSTITUTION.format(where="AND i.code = %(code)s")
    return _one(conn, query, {"scope": _scope(scope), "code": code})


_BUILDING = f"""
    SELECT b.id, b.code, b.name, i.code AS institution, b.institution_id, b.floor_area_m2,
           b.heated_area_m2, b.cooled_area_m2, b.headcount, b.climate_zone, b.gb51161_class,
           b.operating_hours, b.time_zone, b.created_at
    FROM buildings b JOIN institutions i ON i.id = b.institution_id
    WHERE {_IN_SCOPE} {{where}}
    ORDER BY b.code"""


def buildings(
    conn: psycopg.Connection, scope: Scope, *, institution: str | None = None
) -> list[dict[str, Any]]:
    where = "AND i.code = %(institution)s" if institution is not None else ""
    params = {"scope": _scope(scope), "institution": institution}
    return _rows(conn, _BUILDING.format(where=where), params)


def building(conn: psycopg.Connection, scope: Scope, code: str) -> dict[str, Any] | None:
    query = _BUILDING.format(where="AND b.code = %(code)s")
    return _one(conn, query, {"scope": _scope(scope), "code": code})


_POINT = f"""
    SELECT p.id, p.key, p.name, p.kind, p.quantity, p.unit, p.energy_code, p.cumulative,
           p.multiplier, p.rollover_value, parent.key AS parent, b.code AS building,
           b.institution_id, b.time_zone, p.location
    FROM points p
    JOIN buildings b ON b.id = p.building_id
    LEFT JOIN points parent ON parent.id = p.parent_id
    WHERE {_IN_SCOPE} {{where}}
    ORDER BY p.key"""


def points(
    conn: psycopg.Connection, scope: Scope, *, building: str | None = None
) -> list[dict[str, Any]]:
    where = "AND b.code = %(building)s" if building is not None else ""
    return _rows(conn, _POINT.format(where=where), {"scope": _scope(scope), "building": building})


def point(conn: psycopg.Connection, scope: Scope, key: str) -> dict[str, Any] | None:
    query = _POINT.format(where="AND p.key = %(key)s")
    return _one(conn, query, {"scope": _scope(scope), "key": key})


# --- readings and series ---------------------------------------------------------------------


def readings(
    conn: psycopg.Connection, point_id: int, start: dt.datetime, end: dt.datetime, limit: int
) -> list[dict[str, Any]]:
    """Raw readings of one point (already checked to be in scope), oldest first."""
    return _rows(
        conn,
        """SELECT time, value, quality FROM v_readings
           WHERE point_id = %(p)s AND time >= %(start)s AND time < %(end)s
           ORDER BY time LIMIT %(limit)s""",
        {"p": point_id, "start": start, "end": end, "limit": limit},
    )


#: The consumption view of each rollup (migration 0011: register differences per bucket).
USE_OF = {
    "v_rollup_15m": "v_consumption_15m",
    "v_rollup_1h": "v_consumption_1h",
    "v_rollup_1d": "v_consumption_1d",
}


def _source(
    bucket: str, start: dt.datetime, end: dt.datetime, tz: str, service_tz: str | None
) -> str:
    """The rollup a series reads: days and months from ``v_rollup_1d`` when they are the
    service's days (the same zone, a window from midnight to midnight, a zone without
    daylight saving: its days last 24 h) — 365 rows a year instead of 8,760 —, else from the
    hours."""
    if bucket in _TRUNC and tz == service_tz:
        zone = ZoneInfo(tz)
        local = [t.astimezone(zone) for t in (start, end)]
        midnights = all(t.time() == dt.time() for t in local)
        fixed = all(t.dst() in (None, dt.timedelta(0)) for t in local)
        if midnights and fixed:
            return "v_rollup_1d"
    return BUCKETS[bucket]


def _group(bucket: str) -> str:
    """The bucket a row falls in: the rollup's own, or its day or month in ``%(tz)s``."""
    if bucket in _TRUNC:
        return f"date_trunc('{_TRUNC[bucket]}', bucket AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s"
    return "bucket"


def series(
    conn: psycopg.Connection,
    point: dict[str, Any],
    start: dt.datetime,
    end: dt.datetime,
    *,
    bucket: str,
    tz: str,
    service_tz: str | None = None,
) -> list[dict[str, Any]]:
    """One point's series per bucket: ``value`` (use, for cumulative registers, from the
    consumption views) or ``mean``, ``min``, ``max`` (instantaneous quantities), and ``n``."""
    view = _source(bucket, start, end, tz, service_tz)
    params = {"point": point["id"], "start": start, "end": end, "tz": tz}
    if point["cumulative"]:
        query = f"""SELECT {_group(bucket)} AS bucket, sum(value) AS value, count(value) AS n
                    FROM {USE_OF[view]}
                    WHERE point_id = %(point)s AND bucket >= %(start)s AND bucket < %(end)s
                    GROUP BY 1 ORDER BY 1"""
    else:
        query = f"""SELECT {_group(bucket)} AS bucket, sum(sum) / sum(n) AS mean,
                           min(min) AS min, max(max) AS max, sum(n) AS n
                    FROM {view}
                    WHERE point_id = %(point)s AND bucket >= %(start)s AND bucket < %(end)s
                    GROUP BY 1 ORDER BY 1"""
    return _rows(conn, query, params)


def consumption(
    conn: psycopg.Connection,
    points: list[dict[str, Any]],
    start: dt.datetime,
    end: dt.datetime,
    *,
    bucket: str,
    tz: str,
    service_tz: str | None = None,
) -> list[dict[str, Any]]:
    """Use per bucket and energy code of a building's cumulative meters (kWh, m³)."""
    meters = [p["id"] for p in points if p["cumulative"]]
    if not meters:
        return []
    view = USE_OF[_source(bucket, start, end, tz, service_tz)]
    query = f"""SELECT {_group(bucket)} AS bucket, coalesce(energy_code, '') AS energy_code,
                       sum(value) AS value, count(DISTINCT point_id) AS meters
                FROM {view}
                WHERE point_id = ANY(%(points)s) AND bucket >= %(start)s AND bucket < %(end)s
                GROUP BY 1, 2 ORDER BY 1, 2"""
    return _rows(conn, query, {"points": meters, "start": start, "end": end, "tz": tz})


def latest(
    conn: psycopg.Connection, point_ids: list[int], *, since: dt.datetime
) -> dict[int, dict[str, Any]]:
    """The newest reading of each point since ``since`` (older ones are not looked for)."""
    rows = _rows(
        conn,
        """SELECT p.id AS point_id, r.time, r.value
           FROM unnest(%(ids)s::int[]) AS p(id)
           CROSS JOIN LATERAL (
               SELECT time, value FROM readings
               WHERE point_id = p.id AND time >= %(since)s ORDER BY time DESC LIMIT 1
           ) r""",
        {"ids": point_ids, "since": since},
    )
    return {r["point_id"]: r for r in rows}


# --- findings --------------------------------------------------------------------------------


def findings(
    conn: psycopg.Connection,
    scope: Scope,
    *,
    building: str | None = None,
    rule: str | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Findings that stand (``v_anomalies``), newest first, filtered."""
    return _rows(
        conn,
        f"""SELECT a.id, a.point_key, a.building_code AS building, a.rule, a.status,
                   a.started_at, a.ended_at, a.last_seen_at, a.closed_at, a.run_count,
                   a.severity, a.score, a.waste, a.waste_unit, a.kgce, a.kgco2, a.cny,
                   a.evidence, a.acknowledged_at, a.acknowledged_by
            FROM v_anomalies a JOIN buildings b ON b.id = a.building_id
            WHERE {_IN_SCOPE}
              AND (%(building)s::text IS NULL OR b.code = %(building)s)
              AND (%(rule)s::text IS NULL OR a.rule = %(rule)s)
              AND (%(status)s::text IS NULL OR a.status = %(status)s)
              AND (%(since)s::timestamptz IS NULL OR a.ended_at >= %(since)s)
              AND (%(until)s::timestamptz IS NULL OR a.started_at < %(until)s)
            ORDER BY a.started_at DESC, a.id DESC LIMIT %(limit)s OFFSET %(offset)s""",
        {
            "scope": _scope(scope),
            "building": building,
            "rule": rule,
            "status": status,
            "since": since,
            "until": until,
            "limit": limit,
            "offset": offset,
        },
    )


def finding(conn: psycopg.Connection, scope: Scope, finding_id: int) -> dict[str, Any] | None:
    rows = _rows(
        conn,
        f"""SELECT a.*, a.building_code AS building FROM v_anomalies a
            JOIN buildings b ON b.id = a.building_id
            WHERE {_IN_SCOPE} AND a.id = %(id)s""",
        {"scope": _scope(scope), "id": finding_id},
    )
    return rows[0] if rows else None


# --- EMC contracts ---------------------------------------------------------------------------


def contracts(
    conn: psycopg.Connection, scope: Scope, *, code: str | None = None
) -> list[dict[str, Any]]:
    return _rows(
        conn,
        """SELECT c.code, c.name, c.kind, i.code AS institution, p.key AS meter, c.esco,
                  c.baseline_end, c.reporting_start, c.reporting_end, c.price, c.esco_share,
                  c.guaranteed_per_year, c.fee_per_year, c.note
           FROM emc_contracts c JOIN institutions i ON i.id = c.institution_id
           JOIN points p ON p.id = c.meter_id
           WHERE (%(scope)s::int[] IS NULL OR c.institution_id = ANY(%(scope)s::int[]))
             AND (%(code)s::text IS NULL OR c.code = %(code)s)
           ORDER BY c.code""",
        {"scope": _scope(scope), "code": code},
    )
