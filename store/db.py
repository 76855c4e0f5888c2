"""Connections and pools."""

from __future__ import annotations

from typing import Any

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
