"""The jieneng command: db migrate and maintain against a real database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from typer.testing import CliRunner

from jieneng.cli import app


@pytest.fixture
def empty_db(pg_dsn: str) -> Iterator[str]:
    name = f"jieneng_cli_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(pg_dsn, dbname=name)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_twice_then_maintain(empty_db: str) -> None:
    env = {"JIENENG_DATABASE_URL": empty_db, "JIENENG_TIMESCALEDB": "off"}
    runner = CliRunner()
    first = runner.invoke(app, ["db", "migrate"], env=env)
    assert first.exit_code == 0, first.output
    assert "0001_registry" in first.output and "postgres" in first.output
    second = runner.invoke(app, ["db", "migrate"], env=env)
    assert second.exit_code == 0 and "up to date" in second.output
    done = runner.invoke(app, ["db", "maintain"], env=env)
    assert done.exit_code == 0, done.output
    with psycopg.connect(empty_db) as conn:
        parts = conn.execute("SELECT count(*) FROM pg_inherits").fetchone()
    assert parts is not None and parts[0] >= 3  # this month and the months ahead


def test_bad_setting_is_reported_by_name() -> None:
    result = CliRunner().invoke(app, ["db", "migrate"], env={"JIENENG_BATCH_SIZE": "zero"})
    assert result.exit_code == 2
    assert "JIENENG_BATCH_SIZE" in result.output
