"""The registry as the collector sees it (point keys → ids, auto-registration), and deletes
of rows nothing refers to (the API's)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from ingest.units import CUMULATIVE, quantity_of


@dataclass(frozen=True, slots=True)
class PointInfo:
    id: int
    unit: str


class PointDirectory:
    """Cache of ``points.key`` → (id, canonical unit), filled from the database on demand.

    Parameters
    ----------
    auto_register : bool
        Create a point the first time a reading names it (its unit decides quantity, kind
        and whether it is a cumulative register).
    negative_ttl_s : float
        How long an unknown key is remembered as unknown before the database is asked
        again (a point imported later is found within this time).
    """

    def __init__(self, *, auto_register: bool, negative_ttl_s: float = 30.0) -> None:
        self.auto_register = auto_register
        self.negative_ttl_s = negative_ttl_s
        self.points: dict[str, PointInfo] = {}
        self._unknown: dict[str, float] = {}

    def load(self, conn: psycopg.Connection) -> int:
        rows = conn.execute("SELECT key, id, unit FROM points").fetchall()
        self.points = {key: PointInfo(pid, unit) for key, pid, unit in rows}
        return len(self.points)

    def resolve(
        self, conn: psycopg.Connection, keys: set[str], units: dict[str, str | None]
    ) -> dict[str, PointInfo | str]:
        """Look up keys missing from the cache; return key → PointInfo or a refusal reason.

        ``units`` gives, per key, the canonical unit of a reading that named it (None when
        the payload had no unit), used to auto-register.
        """
        now = time.monotonic()
        out: dict[str, PointInfo | str] = {}
        ask = [k for k in keys if self._unknown.get(k, 0.0) <= now]
        if ask:
            with conn.transaction():
                rows = conn.execute(
                    "SELECT key, id, unit FROM points WHERE key = ANY(%s)", (ask,)
                ).fetchall()
                for key, pid, unit in rows:
                    info = PointInfo(pid, unit)
                    self.points[key] = out[key] = info
                    self._unknown.pop(key, None)
                for key in ask:
                    if key in out:
                        continue
                    unit = units.get(key)
                    if not self.auto_register:
                        out[key] = f"point {key!r} is not registered and auto-registration is off"
                    elif unit is None:
                        out[key] = f"point {key!r} is not registered and the reading has no unit"
                    else:
                        out[key] = self._register(conn, key, unit)
                        continue
                    self._unknown[key] = now + self.negative_ttl_s
        for key in keys:
            if key not in out:
                out[key] = f"point {key!r} is not registered and auto-registration is off"
        return out

    def _register(self, conn: psycopg.Connection, key: str, unit: str) -> PointInfo:
        quantity = quantity_of(unit)
        row = conn.execute(
            """INSERT INTO points (key, kind, quantity, unit, cumulative, auto_registered)
               VALUES (%s, %s, %s, %s, %s, true)
               ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
               RETURNING id, unit""",
            (
                key,
                "sensor" if quantity in ("temperature", "humidity") else "meter",
                quantity,
                unit,
                CUMULATIVE[quantity],
            ),
        ).fetchone()
        assert row is not None
        info = PointInfo(row[0], row[1])
        self.points[key] = info
        return info


class StillReferred(Exception):
    """A registry row that other rows still refer to: nothing was deleted."""


def _delete(conn: psycopg.Connection, query: str, params: tuple) -> bool:
    try:
        with conn.transaction():
            return conn.execute(query, params).rowcount > 0
    except psycopg.errors.ForeignKeyViolation:
        raise StillReferred from None


def delete_institution(conn: psycopg.Connection, code: str) -> bool:
    return _delete(conn, "DELETE FROM institutions WHERE code = %s", (code,))


def delete_building(conn: psycopg.Connection, code: str) -> bool:
    return _delete(conn, "DELETE FROM buildings WHERE code = %s", (code,))


def delete_point(conn: psycopg.Connection, point_id: int) -> bool:
    """Delete a point that never read (a point with readings is replaced, not deleted)."""
    if conn.execute("SELECT 1 FROM readings WHERE point_id = %s LIMIT 1", (point_id,)).fetchone():
        raise StillReferred
    return _delete(conn, "DELETE FROM points WHERE id = %s", (point_id,))
