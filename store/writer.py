"""Write readings with binary COPY, exactly once, and dead letters beside them.

The COPY buffer is built with numpy: every row has the same 40-byte layout, so a structured
big-endian array *is* PostgreSQL's binary COPY format (header, rows, trailer). Rows first go
straight into ``readings`` (the fast path, as fast as a bare COPY); only when a row already
exists (a redelivered message) does the batch take the staging path:
COPY into a temporary table, then ``INSERT ... ON CONFLICT DO NOTHING``. Either way a
reading that is already stored changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson
import psycopg
from psycopg import errors

from store import maintenance

#: Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01T00:00:00Z).
PG_EPOCH_US = 946_684_800_000_000

_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags (int32 0), extension length 0
_TRAILER = b"\xff\xff"
_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("len_time", ">i4"),
        ("time", ">i8"),
        ("len_point", ">i4"),
        ("point_id", ">i4"),
        ("len_value", ">i4"),
        ("value", ">f8"),
        ("len_quality", ">i4"),
        ("quality", ">i2"),
    ]
)
COPY_SQL = "COPY {table} (time, point_id, value, quality) FROM STDIN (FORMAT BINARY)"


def copy_buffer(
    point_ids: np.ndarray,
    times_us: np.ndarray,
    values: np.ndarray,
    quality: np.ndarray | None = None,
) -> bytes:
    """Return the binary COPY stream for rows (time, point_id, value, quality).

    Parameters
    ----------
    point_ids : array of int
        ``points.id`` of each reading.
    times_us : array of int
        Reading times in microseconds since the Unix epoch (UTC).
    values : array of float
        Values in the point's canonical unit.
    quality : array of int, optional
        Quality flags (0 = as measured); zeros when omitted.
    """
    n = len(point_ids)
    rows = np.empty(n, dtype=_ROW)
    rows["nfields"] = 4
    rows["len_time"] = 8
    rows["time"] = np.asarray(times_us, dtype=np.int64) - PG_EPOCH_US
    rows["len_point"] = 4
    rows["point_id"] = point_ids
    rows["len_value"] = 8
    rows["value"] = values
    rows["len_quality"] = 2
    rows["quality"] = 0 if quality is None else quality
    return b"".join((_HEADER, rows.tobytes(), _TRAILER))


def dedup(point_ids: np.ndarray, times_us: np.ndarray) -> np.ndarray:
    """Return the indices that keep the first reading of every (point, time) pair, in order."""
    if len(point_ids) < 2:
        return np.arange(len(point_ids))
    order = np.lexsort((times_us, point_ids))  # stable: first occurrence first within a pair
    p, t = point_ids[order], times_us[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (p[1:] != p[:-1]) | (t[1:] != t[:-1])
    if first.all():
        return np.arange(len(point_ids))
    return np.sort(order[first])


def day_ranges(times_us: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) time of each UTC day present in ``times_us``: one late reading then
    invalidates its own day of rollups, not everything between it and now."""
    days = times_us // 86_400_000_000
    order = np.argsort(days, kind="stable")
    d, t = days[order], times_us[order]
    starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
    lo = np.minimum.reduceat(t, starts)
    hi = np.maximum.reduceat(t, starts)
    return list(zip(lo.tolist(), hi.tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused message (or the refused part of one) as it goes into ``dead_letters``."""

    received_us: int
    topic: str
    payload: bytes
    format: str
    reason: str
    errors: list[dict[str, object]]
    accepted: int = 0
    dup: bool = False

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(
            self.topic.encode("utf-8", "surrogateescape") + b"\0" + self.payload
        ).digest()


@dataclass(frozen=True, slots=True)
class WriteResult:
    inserted: int
    duplicates: int
    dead_letters: int


def _json(value: object) -> str:
    """JSON text that jsonb accepts: no NUL escapes, no lone surrogates."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = json.dumps(value, ensure_ascii=False, default=repr)
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\\u0000", "\\ufffd")


def _utc(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(us))


class ReadingWriter:
    """Writes batches of readings into one database, one transaction per batch.

    Parameters
    ----------
    backend : str
        ``"timescaledb"`` or ``"postgres"`` (see :func:`store.db.backend`).
    collector : str
        Name written into dead letters (the MQTT client id).
    """

    def __init__(self, backend: str, *, collector: str = "") -> None:
        self.backend = backend
        self.collector = collector
        self._months: set[tuple[int, int]] = set()

    def _ensure_partitions(self, conn: psycopg.Connection, lo_us: int, hi_us: int) -> None:
        lo, hi = _utc(lo_us), _utc(hi_us)
        months = set()
        m = maintenance.month_start(lo)
        while m <= hi:
            months.add((m.year, m.month))
            m = maintenance.next_month(m)
        if not months <= self._months:
            maintenance.ensure_partitions(conn, lo, hi)
            self._months |= months

    def write(
        self,
        conn: psycopg.Connection,
        point_ids: np.ndarray,
        times_us: np.ndarray,
        values: np.ndarray,
        quality: np.ndarray | None = None,
        dead_letters: Sequence[DeadLetter] = (),
    ) -> WriteResult:
        """Store one batch atomically; return how many rows were new and how many were not.

        Readings and dead letters commit together, so a message acknowledged after this
        returns is stored whole; raise (and store nothing) on any database error.
        """
        point_ids = np.asarray(point_ids, dtype=np.int32)
        times_us = np.asarray(times_us, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        n_in = len(point_ids)
        keep = dedup(point_ids, times_us)
        if len(keep) != n_in:
            point_ids, times_us, values = point_ids[keep], times_us[keep], values[keep]
            quality = None if quality is None else np.asarray(quality)[keep]
        inserted = 0
        buf = b""
        if len(point_ids):
            lo, hi = int(times_us.min()), int(times_us.max())
            if self.backend == "postgres":
                self._ensure_partitions(conn, lo, hi)
            buf = copy_buffer(point_ids, times_us, values, quality)
        # Fast path: COPY straight into readings. If any row exists already (a redelivery),
        # the whole transaction is redone through the staging table.
        for staged in (False, True):
            try:
                with conn.transaction():
                    if buf:
                        inserted = self._stage(conn, buf) if staged else self._copy(conn, buf)
                        if self.backend == "postgres":
                            with conn.cursor() as cur:
                                cur.executemany(
                                    "INSERT INTO rollup_invalidations (lo, hi) VALUES (%s, %s)",
                                    [(_utc(a), _utc(b)) for a, b in day_ranges(times_us)],
                                )
                    if dead_letters:
                        self._dead_letters(conn, dead_letters)
                break
            except errors.UniqueViolation:
                if staged:
                    raise
        return WriteResult(inserted, n_in - inserted, len(dead_letters))

    def _copy(self, conn: psycopg.Connection, buf: bytes) -> int:
        with conn.cursor() as cur:
            with cur.copy(COPY_SQL.format(table="readings")) as copy:
                copy.write(buf)
            return cur.rowcount

    def _stage(self, conn: psycopg.Connection, buf: bytes) -> int:
        """COPY into a temporary table, then insert only the rows that are not stored yet."""
        with conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS readings_stage"
                " (time timestamptz, point_id integer, value double precision, quality smallint)"
                " ON COMMIT DELETE ROWS"
            )
            with cur.copy(COPY_SQL.format(table="readings_stage")) as copy:
                copy.write(buf)
            cur.execute(
                "INSERT INTO readings (time, point_id, value, quality)"
                " SELECT time, point_id, value, quality FROM readings_stage"
                " ON CONFLICT DO NOTHING"
            )
            return cur.rowcount

    def _dead_letters(self, conn: psycopg.Connection, letters: Sequence[DeadLetter]) -> None:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO dead_letters (received_at, last_received_at, topic, payload, format,
                                            reason, errors, accepted, collector, digest)
                   VALUES (%(t)s, %(t)s, %(topic)s, %(payload)s, %(format)s, %(reason)s,
                           %(errors)s::jsonb, %(accepted)s, %(collector)s, %(digest)s)
                   ON CONFLICT (digest) DO UPDATE
                   SET last_received_at = EXCLUDED.last_received_at,
                       seen_count = dead_letters.seen_count + %(count)s""",
                [
                    {
                        "t": _utc(d.received_us),
                        "topic": d.topic.encode("utf-8", "surrogateescape")
                        .decode("utf-8", "replace")
                        .replace("\x00", "\ufffd"),
                        "payload": d.payload,
                        "format": d.format,
                        "reason": d.reason.replace("\x00", "\ufffd"),
                        "errors": _json(d.errors),
                        "accepted": d.accepted,
                        "collector": self.collector,
                        "digest": d.digest,
                        "count": 0 if d.dup else 1,
                    }
                    for d in letters
                ],
            )
