"""Dependencies: a database connection per request and the caller behind the bearer token.

Use them as annotated aliases: ``conn: Db``, ``caller: Viewer`` (any valid token),
``Engineer`` (engineer or admin), ``Admin``. A missing or unknown token is 401; a role
below the one needed is 403; anything outside the caller's institutions is 404, as if it
did not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from store import tokens
from store.tokens import Principal

_bearer = HTTPBearer(auto_error=False, description="an API token: jieneng token create")


def get_conn(request: Request) -> Iterator[psycopg.Connection]:
    """A pooled connection in autocommit mode for the request."""
    with request.app.state.pool.connection() as conn:
        yield conn


Db = Annotated[psycopg.Connection, Depends(get_conn)]


def get_caller(
    conn: Db,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = tokens.verify(conn, credentials.credentials)
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


def _role(role: str):  # noqa: ANN202 - a dependency factory
    def check(caller: Annotated[Principal, Depends(get_caller)]) -> Principal:
        if not caller.at_least(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"needs the {role} role")
        return caller

    return check


Viewer = Annotated[Principal, Depends(get_caller)]
Engineer = Annotated[Principal, Depends(_role("engineer"))]
Admin = Annotated[Principal, Depends(_role("admin"))]


def not_found(what: str) -> HTTPException:
    """404 for anything unknown or outside the caller's institutions (the same answer)."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")
