"""API tokens: created once (``jieneng token create``), stored as a SHA-256 hash, each with a
role (viewer < engineer < admin) and the institutions it may see.

A token is ``jn_`` + 43 URL-safe characters (256 random bits): a fast hash is enough, since
nobody can guess such a secret, and it makes the lookup one indexed equality. The first 10
characters (the prefix) name a token in lists and logs; the secret never appears there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

ROLES = ("viewer", "engineer", "admin")
PREFIX_CHARS = 10


class TokenError(ValueError):
    """A token that cannot be created or found; the message says which field and why."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's role and scope. ``institutions`` is None for an admin of
    every institution."""

    token_id: int
    name: str
    role: str
    institutions: frozenset[int] | None

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def scope(self) -> list[int] | None:
        """The institution ids a query must be limited to (None: all)."""
        return None if self.institutions is None else sorted(self.institutions)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def create(
    conn: psycopg.Connection,
    *,
    role: str,
    name: str,
    institutions: Sequence[str] = (),
) -> tuple[str, int]:
    """A new token (returned once, never stored) and its id. Viewers and engineers need at
    least one institution; an admin without any sees every institution."""
    if role not in ROLES:
        raise TokenError(f"--role: {role!r} is not one of {', '.join(ROLES)}")
    if not institutions and role != "admin":
        raise TokenError(f"--institution: a {role} token needs at least one institution")
    ids = []
    for code in institutions:
        row = conn.execute("SELECT id FROM institutions WHERE code = %s", (code,)).fetchone()
        if row is None:
            raise TokenError(f"--institution: no institution with code {code!r}")
        ids.append(row[0])
    token = "jn_" + secrets.token_urlsafe(32)
    (token_id,) = conn.execute(
        """INSERT INTO api_tokens (name, role, prefix, secret_sha256, all_institutions)
           VALUES (%s, %s, %s, %s, %s) RETURNING id""",
        (name, role, token[:PREFIX_CHARS], _digest(token), not ids),
    ).fetchone()
    for iid in ids:
        conn.execute(
            "INSERT INTO api_token_institutions (token_id, institution_id) VALUES (%s, %s)",
            (token_id, iid),
        )
    return token, token_id


def verify(conn: psycopg.Connection, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token; None otherwise (whatever the reason: the
    caller answers 401 without saying more)."""
    if not token.startswith("jn_") or len(token) > 200:
        return None
    row = conn.execute(
        """SELECT t.id, t.name, t.role, t.all_institutions, t.last_used_at,
                  array_agg(ti.institution_id) FILTER (WHERE ti.institution_id IS NOT NULL)
           FROM api_tokens t LEFT JOIN api_token_institutions ti ON ti.token_id = t.id
           WHERE t.secret_sha256 = %s AND t.revoked_at IS NULL
           GROUP BY t.id""",
        (_digest(token),),
    ).fetchone()
    if row is None:
        return None
    token_id, name, role, every, last_used, ids = row
    now = dt.datetime.now(dt.UTC)
    if last_used is None or now - last_used > dt.timedelta(minutes=1):
        conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s", (token_id,))
    return Principal(token_id, name, role, None if every else frozenset(ids or ()))


def revoke(conn: psycopg.Connection, prefix: str) -> bool:
    """Revoke the token whose prefix is ``prefix``; False when none is active."""
    row = conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE prefix = %s AND revoked_at IS NULL"
        " RETURNING id",
        (prefix,),
    ).fetchone()
    return row is not None


def listing(conn: psycopg.Connection) -> list[dict[str, object]]:
    """Every token without its secret: prefix, name, role, institutions, dates."""
    rows = conn.execute(
        """SELECT t.prefix, t.name, t.role, t.all_institutions,
                  array_agg(i.code ORDER BY i.code) FILTER (WHERE i.code IS NOT NULL),
                  t.created_at, t.last_used_at, t.revoked_at
           FROM api_tokens t
           LEFT JOIN api_token_institutions ti ON ti.token_id = t.id
           LEFT JOIN institutions i ON i.id = ti.institution_id
           GROUP BY t.id ORDER BY t.id"""
    ).fetchall()
    keys = ("prefix", "name", "role", "all_institutions", "institutions", "created_at",
            "last_used_at", "revoked_at")  # fmt: skip
    return [dict(zip(keys, r, strict=True)) for r in rows]
