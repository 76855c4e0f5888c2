"""The ``jieneng`` command."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from jieneng import logs
from jieneng.settings import Settings

app = typer.Typer(
    help="jieneng (节能): energy monitoring for public institutions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema and upkeep.", no_args_is_help=True)
registry_app = typer.Typer(help="Institutions, buildings and points.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(registry_app, name="registry")
console = Console(stderr=True, soft_wrap=True)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            console.print(f"[red]设置错误 settings error[/]: JIENENG_{field.upper()}: {err['msg']}")
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        console.print(f"[red]设置错误 settings error[/]: {exc}")
        raise typer.Exit(2) from None


@app.callback()
def main_options(
    config: Annotated[Path | None, typer.Option(help="YAML or TOML settings file")] = None,
) -> None:
    if config is not None:
        os.environ["JIENENG_CONFIG"] = str(config)


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending migrations (idempotent) and the storage policies."""
    from store import MigrationError, db, maintenance, migrate

    s = load_settings()
    logs.setup("text")
    try:
        backend, applied = migrate.migrate(
            s.database_url,
            timescaledb=s.timescaledb,
            service_tz=s.service_tz,
            compress_after_days=s.compress_after_days,
        )
    except MigrationError as exc:
        console.print(f"[red]迁移失败 migration failed[/]: {exc}")
        raise typer.Exit(1) from None
    with db.connect(s.database_url, autocommit=True) as conn:
        maintenance.apply_policies(
            conn, compress_after_days=s.compress_after_days, retention_days=s.retention_days
        )
        report = maintenance.run(
            conn,
            partitions_ahead_months=s.partitions_ahead_months,
            retention_days=s.retention_days,
            run_jobs=False,
        )
    console.print(
        f"存储 storage: [bold]{backend}[/]; "
        f"已应用 applied: {', '.join(applied) or 'none (up to date)'}"
        f"; partitions created: {len(report.partitions_created)}"
    )


@db_app.command("maintain")
def db_maintain() -> None:
    """Create partitions ahead, refresh rollups, run compression/retention now."""
    from store import db, maintenance

    s = load_settings()
    with db.connect(s.database_url, autocommit=True) as conn:
        report = maintenance.run(
            conn,
            partitions_ahead_months=s.partitions_ahead_months,
            retention_days=s.retention_days,
        )
    console.print(report)


@registry_app.command("import")
def registry_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Import institutions, buildings, points and meter replacements from YAML or CSV."""
    from store import RegistryError, db
    from store.registry_import import import_file

    s = load_settings()
    try:
        with db.connect(s.database_url) as conn:
            counts = import_file(conn, file)
    except RegistryError as exc:
        console.print(f"[red]导入失败 import failed[/]: {exc}")
        raise typer.Exit(1) from None
    console.print("已导入 imported: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@app.command()
def ingest() -> None:
    """Run the MQTT collector until Ctrl-C / SIGTERM."""
    from ingest.collector import Collector
    from ingest.model import ConfigError

    s = load_settings()
    logs.setup(s.log_format)
    try:
        collector = Collector(s)
    except ConfigError as exc:
        console.print(f"[red]配置错误 configuration error[/]: {exc}")
        raise typer.Exit(2) from None

    def _stop(signum: int, frame: object) -> None:
        logging.getLogger(__name__).info("signal %s: stopping", signum)
        collector.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    collector.run()
    if collector.failed:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
