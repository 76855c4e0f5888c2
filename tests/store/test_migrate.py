"""Migrations: applied once, recorded, refused when a file changed; both storage paths."""

from __future__ import annotations

import psycopg
import pytest

from store import MigrationError, migrate
from tests.fix_db import Database


def test_migrate_is_idempotent(database: Database) -> None:
    backend, applied = migrate.migrate(
        database.url, timescaledb="on" if database.backend == "timescaledb" else "off"
    )
    assert backend == database.backend
    assert applied == []
    versions = database.scalar("SELECT array_agg(version ORDER BY version) FROM schema_migrations")
    assert versions == [m.version for m in migrate.available(database.backend)]


def test_storage_path_objects(database: Database) -> None:
    if database.backend == "timescaledb":
        assert (
            database.scalar(
                "SELECT count(*) FROM timescaledb_information.hypertables"
                " WHERE hypertable_name = 'readings'"
            )
            == 1
        )
        assert (
            database.scalar("SELECT count(*) FROM timescaledb_information.continuous_aggregates")
            == 3
        )
        assert (
            database.scalar(
                "SELECT compression_enabled FROM timescaledb_information.hypertables"
                " WHERE hypertable_name = 'readings'"
            )
            is True
        )
    else:
        assert (
            database.scalar(
                "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'readings'::regclass"
            )
            == "r"
        )


def test_refuses_other_storage_path(database: Database) -> None:
    other = "off" if database.backend == "timescaledb" else "on"
    with pytest.raises(MigrationError, match="timescaledb"):
        migrate.migrate(database.url, timescaledb=other)


def test_changed_migration_is_refused(plain_database: Database) -> None:
    with psycopg.connect(plain_database.url, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
        try:
            with pytest.raises(MigrationError, match="0001_registry: file changed"):
                migrate.migrate(plain_database.url, timescaledb="off")
        finally:
            conn.execute(
                "UPDATE schema_migrations SET checksum = %s WHERE version = 1",
                (migrate.available("postgres")[0].checksum,),
            )
