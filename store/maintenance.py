"""Upkeep the service does itself: partitions, rollup refresh, compression and retention.

TimescaleDB has policies for all of this, but its job scheduler has been seen failing on
this platform (DESIGN.md §7), so :func:`run` drives each step by hand and records when the
rollups were last refreshed (``store_meta.rollups_refreshed_at``) for health checks.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from store.db import backend as get_backend

log = logging.getLogger(__name__)

ROLLUPS = ("rollup_15m", "rollup_1h", "rollup_1d")
_WIDTH = {"rollup_15m": "15 minutes", "rollup_1h": "1 hour"}
_ORIGIN = "2000-01-03 00:00:00+00"  # TimescaleDB's time_bucket origin (a Monday, UTC)


def month_start(t: dt.datetime) -> dt.datetime:
    return dt.datetime(t.year, t.month, 1, tzinfo=dt.UTC)


def next_month(t: dt.datetime) -> dt.datetime:
    return dt.datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=dt.UTC)


def partition_name(start: dt.datetime) -> str:
    return f"readings_{start:%Y%m}"


def ensure_partitions(conn: psycopg.Connection, lo: dt.datetime, hi: dt.datetime) -> list[str]:
    """Create the monthly partitions of ``readings`` covering [lo, hi] (plain PostgreSQL path).

    Safe to call concurrently from several collectors: creation is serialized by an advisory
    lock and skips partitions that exist.
    """
    created = []
    start = month_start(lo)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('jieneng.partitions'))")
        existing = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'readings'::regclass"
            )
        }
        while start <= hi:
            end = next_month(start)
            name = partition_name(start)
            if name not in existing:
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE {} PARTITION OF readings FOR VALUES FROM ({}) TO ({})"
                    ).format(sql.Identifier(name), sql.Literal(start), sql.Literal(end))
                )
                created.append(name)
            start = end
    if created:
        log.info("created partitions %s", ", ".join(created))
    return created


def drop_expired_partitions(conn: psycopg.Connection, retention_days: int) -> list[str]:
    """Drop monthly partitions whose whole month is older than the retention (plain path)."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)
    dropped = []
    with conn.transaction():
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'readings'::regclass"
        ).fetchall()
        for (name,) in rows:
            start = dt.datetime.strptime(name.removeprefix("readings_"), "%Y%m").replace(
                tzinfo=dt.UTC
            )
            if next_month(start) <= cutoff:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                dropped.append(name)
    return dropped


def _merge(ranges: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + dt.timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _bucket_expr(rollup: str, col: sql.Composable, tz: str) -> sql.Composable:
    if rollup == "rollup_1d":
        # Local midnight in the service zone, like time_bucket('1 day', time, tz).
        return sql.SQL("(date_trunc('day', {c} AT TIME ZONE {tz}) AT TIME ZONE {tz})").format(
            c=col, tz=sql.Literal(tz)
        )
    return sql.SQL("date_bin({w}::interval, {c}, {o}::timestamptz)").format(
        w=sql.Literal(_WIDTH[rollup]), c=col, o=sql.Literal(_ORIGIN)
    )


def _refresh_range(
    conn: psycopg.Connection, rollup: str, lo: dt.datetime, hi: dt.datetime, tz: str
) -> None:
    table = sql.Identifier(rollup)
    b_lo = _bucket_expr(rollup, sql.Placeholder("lo"), tz)
    # End of the bucket holding hi: bucket(hi) + width (1 day in local time for rollup_1d).
    if rollup == "rollup_1d":
        b_hi = sql.SQL(
            "((date_trunc('day', %(hi)s AT TIME ZONE {tz}) + interval '1 day') AT TIME ZONE {tz})"
        ).format(tz=sql.Literal(tz))
    else:
        b_hi = sql.SQL("({} + {}::interval)").format(
            _bucket_expr(rollup, sql.Placeholder("hi"), tz), sql.Literal(_WIDTH[rollup])
        )
    bucket = _bucket_expr(rollup, sql.Identifier("time"), tz)
    params = {"lo": lo, "hi": hi}
    conn.execute(
        sql.SQL("DELETE FROM {t} WHERE bucket >= {lo} AND bucket < {hi}").format(
            t=table, lo=b_lo, hi=b_hi
        ),
        params,
    )
    conn.execute(
        sql.SQL(
            """INSERT INTO {t} (bucket, point_id, n, sum, min, max,
                                first_time, first_value, last_time, last_value)
               SELECT {b}, point_id, count(*), sum(value), min(value), max(value),
                      min(time), (array_agg(value ORDER BY time))[1],
                      max(time), (array_agg(value ORDER BY time DESC))[1]
               FROM readings WHERE time >= {lo} AND time < {hi}
               GROUP BY 1, 2"""
        ).format(t=table, b=bucket, lo=b_lo, hi=b_hi),
        params,
    )


def refresh_rollups(conn: psycopg.Connection, tz: str | None = None) -> int:
    """Bring the rollups up to date with ``readings``; return the number of ranges recomputed.

    Plain PostgreSQL: consume ``rollup_invalidations`` (one row per written batch), merge the
    ranges and recompute every bucket they touch. TimescaleDB: refresh each continuous
    aggregate over its whole invalidation log. Either way the rollups then equal an
    aggregation of the raw readings, bucket for bucket.
    """
    path = get_backend(conn)
    if tz is None:
        row = conn.execute("SELECT value FROM store_meta WHERE key = 'service_tz'").fetchone()
        tz = row[0] if row else "Asia/Shanghai"
    if path == "timescaledb":
        autocommit = conn.autocommit
        conn.autocommit = True  # refresh_continuous_aggregate refuses a transaction block
        try:
            for rollup in ROLLUPS:
                conn.execute(
                    "CALL refresh_continuous_aggregate(%s::regclass, NULL, NULL)", (rollup,)
                )
        finally:
            conn.autocommit = autocommit
        count = len(ROLLUPS)
    else:
        with conn.transaction():
            rows = conn.execute("DELETE FROM rollup_invalidations RETURNING lo, hi").fetchall()
            ranges = _merge([(lo, hi) for lo, hi in rows])
            for lo, hi in ranges:
                for rollup in ROLLUPS:
                    _refresh_range(conn, rollup, lo, hi, tz)
        count = len(ranges)
    with conn.transaction():
        conn.execute(
            "INSERT INTO store_meta (key, value) VALUES ('rollups_refreshed_at', now()::text)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        )
    return count


def apply_policies(
    conn: psycopg.Connection, *, compress_after_days: int, retention_days: int | None
) -> None:
    """Make the TimescaleDB compression and retention policies match the settings."""
    if get_backend(conn) != "timescaledb":
        return
    with conn.transaction():
        conn.execute("SELECT remove_compression_policy('readings', if_exists => true)")
        conn.execute(
            "SELECT add_compression_policy('readings', make_interval(days => %s))",
            (compress_after_days,),
        )
        conn.execute("SELECT remove_retention_policy('readings', if_exists => true)")
        if retention_days is not None:
            conn.execute(
                "SELECT add_retention_policy('readings', make_interval(days => %s))",
                (retention_days,),
            )


@dataclass(slots=True)
class MaintenanceReport:
    backend: str
    partitions_created: list[str]
    partitions_dropped: list[str]
    ranges_refreshed: int
    jobs_run: int


def run(
    conn: psycopg.Connection,
    *,
    partitions_ahead_months: int = 3,
    retention_days: int | None = None,
    run_jobs: bool = True,
) -> MaintenanceReport:
    """One round of upkeep; safe to run from several collectors (advisory lock)."""
    path = get_backend(conn)
    created: list[str] = []
    dropped: list[str] = []
    jobs = 0
    got = conn.execute("SELECT pg_try_advisory_lock(hashtext('jieneng.maintenance'))").fetchone()
    if not got or not got[0]:
        return MaintenanceReport(path, [], [], 0, 0)
    try:
        if path == "postgres":
            now = dt.datetime.now(dt.UTC)
            ahead = now
            for _ in range(partitions_ahead_months):
                ahead = next_month(ahead)
            created = ensure_partitions(conn, now, ahead)
            if retention_days is not None:
                dropped = drop_expired_partitions(conn, retention_days)
        ranges = refresh_rollups(conn)
        if path == "timescaledb" and run_jobs:
            # Run the compression/retention policies by hand: the scheduler is not trusted.
            job_ids = [
                r[0]
                for r in conn.execute(
                    "SELECT job_id FROM timescaledb_information.jobs"
                    " WHERE hypertable_name = 'readings'"
                    " AND proc_name IN ('policy_compression', 'policy_retention')"
                )
            ]
            autocommit = conn.autocommit
            conn.autocommit = True
            try:
                for job_id in job_ids:
                    conn.execute("CALL run_job(%s)", (job_id,))
                    jobs += 1
            finally:
                conn.autocommit = autocommit
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext('jieneng.maintenance'))")
    return MaintenanceReport(path, created, dropped, ranges, jobs)
