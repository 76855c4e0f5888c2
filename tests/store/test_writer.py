"""The readings writer: binary COPY, idempotence, dead letters, and rollups that agree."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from store import maintenance
from store.writer import DeadLetter, ReadingWriter, copy_buffer, day_ranges, dedup
from tests.fix_db import Database

NOW_US = int(dt.datetime(2026, 11, 20, tzinfo=dt.UTC).timestamp() * 1e6)


@pytest.fixture(scope="module")
def points(database: Database) -> list[int]:
    with database.connect(autocommit=True) as conn:
        rows = conn.execute(
            "INSERT INTO points (key, kind, quantity, unit, cumulative)"
            " SELECT 'w' || g, 'meter', 'energy', 'kWh', true FROM generate_series(1, 20) g"
            " RETURNING id"
        ).fetchall()
    return [r[0] for r in rows]


def _readings(points: list[int], hours: int, start_us: int = NOW_US):
    """Every point every minute for `hours` hours: a cumulative register rising 0.5 kWh/min."""
    steps = hours * 60
    pid = np.tile(np.array(points, dtype=np.int32), steps)
    t = start_us + np.repeat(np.arange(steps, dtype=np.int64) * 60_000_000, len(points))
    v = np.repeat(np.arange(steps, dtype=np.float64) * 0.5, len(points)) + pid * 1000.0
    return pid, t, v


def test_copy_buffer_round_trip(database: Database, points: list[int]) -> None:
    pid, t, v = _readings(points[:3], 1)
    v = v + 1e-7 * np.arange(len(v))  # not representable in decimal: must survive exactly
    with database.connect() as conn:
        result = ReadingWriter(database.backend).write(conn, pid, t, v)
        assert result.inserted == len(pid)
        rows = conn.execute(
            "SELECT point_id, (extract(epoch FROM time) * 1e6)::bigint, value FROM readings"
            " WHERE point_id = ANY(%s) ORDER BY time, point_id",
            (points[:3],),
        ).fetchall()
    got = np.array(rows, dtype=object)
    order = np.lexsort((pid, t))
    assert [int(x) for x in got[:, 0]] == pid[order].tolist()
    assert [int(x) for x in got[:, 1]] == t[order].tolist()
    assert [float(x) for x in got[:, 2]] == v[order].tolist()


def test_rewrite_changes_nothing(database: Database, points: list[int]) -> None:
    pid, t, v = _readings(points[3:6], 2)
    writer = ReadingWriter(database.backend)
    with database.connect() as conn:
        first = writer.write(conn, pid, t, v)
        # Same rows again, half of them with other values, plus 10 new ones: only the new land.
        pid2, t2, v2 = _readings(points[3:6], 2, start_us=NOW_US + 7_200_000_000)
        again = writer.write(conn, np.r_[pid, pid2[:10]], np.r_[t, t2[:10]], np.r_[v * 2, v2[:10]])
        stored = conn.execute(
            "SELECT count(*), sum(value) FROM readings WHERE point_id = ANY(%s)", (points[3:6],)
        ).fetchone()
    assert first.inserted == len(pid)
    assert (again.inserted, again.duplicates) == (10, len(pid))
    assert stored == (len(pid) + 10, pytest.approx(v.sum() + v2[:10].sum()))


def test_duplicates_inside_one_batch(database: Database, points: list[int]) -> None:
    pid, t, v = _readings(points[6:7], 1, start_us=NOW_US + 86_400_000_000)
    with database.connect() as conn:
        result = ReadingWriter(database.backend).write(
            conn, np.r_[pid, pid], np.r_[t, t], np.r_[v, v + 1]
        )
        total = conn.execute(
            "SELECT sum(value) FROM readings WHERE point_id = %s", (points[6],)
        ).fetchone()
    assert (result.inserted, result.duplicates) == (len(pid), len(pid))
    assert total == (pytest.approx(v.sum()),)  # the first of each pair wins


@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 5)), max_size=40))
def test_dedup_keeps_first_of_each_pair(pairs: list[tuple[int, int]]) -> None:
    p = np.array([a for a, _ in pairs], dtype=np.int32)
    t = np.array([b for _, b in pairs], dtype=np.int64)
    keep = dedup(p, t)
    expected = [i for i, pair in enumerate(pairs) if pair not in pairs[:i]]
    assert keep.tolist() == expected


def test_copy_buffer_layout() -> None:
    buf = copy_buffer(np.array([7]), np.array([946_684_800_000_001]), np.array([1.5]))
    assert buf.startswith(b"PGCOPY\n\xff\r\n\x00") and buf.endswith(b"\xff\xff")
    assert len(buf) == 19 + 40 + 2


def test_dead_letters_stored_once(database: Database) -> None:
    letter = DeadLetter(NOW_US, "t/x", b"\x00\xffnot json", "unknown", "$: bad", [{"x": "\x00"}])
    with database.connect() as conn:
        writer = ReadingWriter(database.backend, collector="c1")
        for dup in (False, True):
            writer.write(
                conn,
                np.array([]),
                np.array([]),
                np.array([]),
                dead_letters=[dataclasses.replace(letter, dup=dup)],
            )
        row = conn.execute(
            "SELECT count(*), max(seen_count), (array_agg(payload))[1] FROM dead_letters"
            " WHERE topic = 't/x'"
        ).fetchone()
    assert row == (1, 1, b"\x00\xffnot json")  # the redelivered copy (dup) is not counted


def test_rollups_equal_raw_aggregates(database: Database, points: list[int]) -> None:
    """The documented rollup views agree with an aggregate of the raw readings, after late
    data lands in an already refreshed range, on both storage paths."""
    start = NOW_US + 5 * 86_400_000_000
    pid, t, v = _readings(points[10:14], 30, start_us=start)
    late = slice(0, len(pid), 7)
    keep = np.ones(len(pid), dtype=bool)
    keep[late] = False
    writer = ReadingWriter(database.backend)
    with database.connect(autocommit=True) as conn:
        writer.write(conn, pid[keep], t[keep], v[keep])
        maintenance.refresh_rollups(conn)
        writer.write(conn, pid[late], t[late], v[late])  # late, out of order
        maintenance.refresh_rollups(conn)
        ids = points[10:14]
        for view, bucket in [
            ("v_rollup_15m", "date_bin('15 minutes', time, '2000-01-03'::timestamptz)"),
            ("v_rollup_1h", "date_trunc('hour', time)"),
            (
                "v_rollup_1d",
                "date_trunc('day', time AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'",
            ),
        ]:
            got = conn.execute(
                f"SELECT bucket, point_id, n, min, max, first_value, last_value,"
                f" round(sum::numeric, 6)"
                f" FROM {view} WHERE point_id = ANY(%s) ORDER BY 1, 2",
                (ids,),
            ).fetchall()
            want = conn.execute(
                f"SELECT {bucket} AS b, point_id, count(*), min(value), max(value),"
                f" (array_agg(value ORDER BY time))[1], (array_agg(value ORDER BY time DESC))[1],"
                f" round(sum(value)::numeric, 6)"
                f" FROM readings WHERE point_id = ANY(%s) GROUP BY 1, 2 ORDER BY 1, 2",
                (ids,),
            ).fetchall()
            assert got == want, view
            assert len(got) > 0


def test_maintenance_runs(database: Database) -> None:
    with psycopg.connect(database.url, autocommit=True) as conn:
        report = maintenance.run(conn, partitions_ahead_months=2)
        assert report.backend == database.backend
        refreshed = conn.execute(
            "SELECT value FROM store_meta WHERE key = 'rollups_refreshed_at'"
        ).fetchone()
    assert refreshed is not None


@given(st.lists(st.integers(0, 10 * 86_400_000_000), min_size=1, max_size=50))
def test_day_ranges_cover_every_reading_by_day(times: list[int]) -> None:
    ranges = day_ranges(np.array(times, dtype=np.int64))
    days = sorted({t // 86_400_000_000 for t in times})
    assert [lo // 86_400_000_000 for lo, _ in ranges] == days
    for lo, hi in ranges:
        inside = [t for t in times if t // 86_400_000_000 == lo // 86_400_000_000]
        assert (lo, hi) == (min(inside), max(inside))
