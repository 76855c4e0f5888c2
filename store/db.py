"""Connections and pools, and values as the database takes them."""

from __future__ import annotations

import math
from typing import Any

import orjson
import psycopg
from psycopg_pool import ConnectionPool


def connect(url: str, *, application_name: str = "jieneng", **kwargs: Any) -> psycopg.Connection:
    """Open one connection, tagged with ``application_name`` for pg_stat_activity."""
    return psycopg.connect(url, application_name=application_name, **kwargs)


def make_pool(
    url: str,
    *,
    application_name: str = "jieneng",
    min_size: int = 1,
    max_size: int = 4,
    timeout: float = 30.0,
    autocommit: bool = False,
    options: str | None = None,
) -> ConnectionPool:
    """Return an opened pool.

    Connections are not checked at checkout (a round trip per batch): a connection the
    server terminated fails its next statement, the pool discards it when it comes back
    broken, and callers recover by retrying their transaction (see ingest.collector).
    """
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={
            "application_name": application_name,
            "autocommit": autocommit,
            **({"options": options} if options else {}),
        },
        timeout=timeout,
        open=False,
        reconnect_timeout=3600.0,
    )
    pool.open(wait=False)
    return pool


def backend(conn: psycopg.Connection) -> str:
    """Return ``"timescaledb"`` or ``"postgres"``: the storage path chosen at migration."""
    row = conn.execute("SELECT value FROM store_meta WHERE key = 'backend'").fetchone()
    if row is None:
        raise LookupError("store_meta has no backend: run `jieneng db migrate` first")
    return str(row[0])


def finite(value: float | None) -> float | None:
    """A float for a column, None for none, NaN or ±∞ (a figure that could not be computed)."""
    return None if value is None or not math.isfinite(value) else float(value)


def json_dumps(value: object) -> str:
    """JSON for jsonb: NaN and infinities become null (orjson), numpy scalars are numbers."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
