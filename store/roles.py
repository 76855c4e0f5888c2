"""Database roles: the dashboards' login, a member of ``jieneng_reader`` (migration 0011),
which may SELECT the documented views and nothing else."""

from __future__ import annotations

import psycopg
from psycopg import sql

READER = "jieneng_reader"


def reader_login(conn: psycopg.Connection, user: str, password: str) -> bool:
    """Create the login ``user`` in the reader role, or set its password; True when created.
    Run by a role that may create roles."""
    if not user or not password:
        raise ValueError("user and password: both are needed")
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
    if exists:
        conn.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(password)
            )
        )
    else:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(password)
            )
        )
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER), sql.Identifier(user)))
    return not exists
