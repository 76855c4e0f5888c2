"""Versioned SQL migrations, applied once each and recorded in ``schema_migrations``.

Files in ``store/migrations`` are named ``NNNN_name.sql`` (both storage paths) or
``NNNN_name.timescaledb.sql`` / ``NNNN_name.postgres.sql`` (one per path). ``${name}``
placeholders take values from the settings (quoted as SQL literals where they are text).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from store import MigrationError

log = logging.getLogger(__name__)

_NAME = re.compile(
    r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<path>timescaledb|postgres))?\.sql$"
)
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
_LOCK_ID = 0x6A69656E  # "jien": serializes concurrent `jieneng db migrate`


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def available(backend: str) -> list[Migration]:
    """Return the migrations of one storage path (``"timescaledb"`` or ``"postgres"``), in order."""
    found: dict[int, Migration] = {}
    for entry in resources.files("store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match is None or match["path"] not in (None, backend):
            continue
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"two migrations with version {version:04d}")
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def choose_backend(conn: psycopg.Connection, wanted: str) -> str:
    """Pick the storage path: TimescaleDB when ``wanted`` allows it and the extension loads."""
    if wanted == "off":
        return "postgres"
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        if wanted == "on":
            raise MigrationError(
                f"timescaledb: the extension is required (timescaledb=on) but failed: {exc}"
            ) from exc
        log.info("TimescaleDB not available (%s); using plain PostgreSQL", exc.diag.message_primary)
        return "postgres"
    return "timescaledb"


def _render(migration: Migration, params: dict[str, object]) -> str:
    values = {
        k: sql.Literal(v).as_string() if isinstance(v, str) else str(v) for k, v in params.items()
    }

    def sub(match: re.Match[str]) -> str:
        try:
            return values[match[1]]
        except KeyError:
            raise MigrationError(
                f"{migration.version:04d}_{migration.name}: unknown placeholder {match[0]}"
            ) from None

    return _PLACEHOLDER.sub(sub, migration.text)


def migrate(
    url: str,
    *,
    timescaledb: str = "auto",
    service_tz: str = "Asia/Shanghai",
    compress_after_days: int = 7,
) -> tuple[str, list[str]]:
    """Apply the pending migrations; return the storage path and the names applied now.

    Idempotent: a second call applies nothing. A migration whose file changed after it was
    applied raises :class:`MigrationError` naming it.
    """
    applied_now: list[str] = []
    params = {"service_tz": service_tz, "compress_after_days": compress_after_days}
    with psycopg.connect(url, autocommit=True, application_name="jieneng-migrate") as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version     integer PRIMARY KEY,
                       name        text NOT NULL,
                       backend     text NOT NULL,
                       checksum    text NOT NULL,
                       applied_at  timestamptz NOT NULL DEFAULT now())"""
            )
            rows = conn.execute(
                "SELECT version, name, backend, checksum FROM schema_migrations ORDER BY version"
            ).fetchall()
            if rows:
                backend = rows[0][2]
                if backend == "timescaledb" and timescaledb == "off":
                    raise MigrationError("timescaledb: the database was migrated with TimescaleDB")
                if backend == "postgres" and timescaledb == "on":
                    raise MigrationError(
                        "timescaledb: the database was migrated without TimescaleDB (plain"
                        " PostgreSQL); migrate into a new database to use TimescaleDB"
                    )
            else:
                backend = choose_backend(conn, timescaledb)
            done = {version: checksum for version, _, _, checksum in rows}
            for migration in available(backend):
                label = f"{migration.version:04d}_{migration.name}"
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(f"{label}: file changed after it was applied")
                    continue
                text = _render(migration, params)
                try:
                    with conn.transaction():
                        conn.execute(text)
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, backend, checksum)"
                            " VALUES (%s, %s, %s, %s)",
                            (migration.version, migration.name, backend, migration.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"{label}: {exc}") from exc
                applied_now.append(label)
                log.info("applied migration %s (%s)", label, backend)
            conn.execute(
                "INSERT INTO store_meta (key, value) VALUES ('backend', %s), ('service_tz', %s)"
                " ON CONFLICT (key) DO NOTHING",
                (backend, service_tz),
            )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return backend, applied_now
