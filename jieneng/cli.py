"""The ``jieneng`` command."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

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
    """Import institutions, buildings, points, meter replacements, consumption records,
    quotas and EMC contracts from YAML or CSV."""
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


token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="viewer, engineer or admin")],
    institution: Annotated[
        list[str] | None,
        typer.Option(help="institution code it may see (repeat); none: an admin of all"),
    ] = None,
    name: Annotated[str, typer.Option(help="who or what holds it")] = "token",
) -> None:
    """Create an API token and print it once: only its hash is stored."""
    from store import db, tokens

    s = load_settings()
    try:
        with db.connect(s.database_url, application_name="jieneng-token") as conn:
            token, _ = tokens.create(conn, role=role, name=name, institutions=institution or [])
            conn.commit()
    except tokens.TokenError as exc:
        console.print(f"[red]创建失败 cannot create[/]: {exc}")
        raise typer.Exit(2) from None
    print(token)
    scope = ", ".join(institution) if institution else "all institutions"
    console.print(
        f"{role} token for {scope}: shown once, keep it (Authorization: Bearer …)",
        style="dim",
        highlight=False,
    )


_TOKEN_DATES = ("created_at", "last_used_at", "revoked_at")


@token_app.command("list")
def token_list() -> None:
    """Every token: prefix, name, role, institutions, created, last used, revoked."""
    from rich.table import Table

    from store import db, tokens

    with db.connect(load_settings().database_url, application_name="jieneng-token") as conn:
        rows = tokens.listing(conn)
    table = Table(title="API tokens")
    for col in ("prefix", "name", "role", "institutions", "created", "last used", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["prefix"]),
            str(r["name"]),
            str(r["role"]),
            "all" if r["all_institutions"] else ", ".join(r["institutions"] or []),
            *(
                f"{r[k]:%Y-%m-%d %H:%M}" if r[k] else ""
                for k in ("created_at", "last_used_at", "revoked_at")
            ),
        )
    Console(width=max(100, Console().width)).print(table)


@token_app.command("revoke")
def token_revoke(
    prefix: Annotated[str, typer.Argument(help="the token's prefix (token list)")],
) -> None:
    """Revoke a token: it stops working at once."""
    from store import db, tokens

    with db.connect(load_settings().database_url, application_name="jieneng-token") as conn:
        done = tokens.revoke(conn, prefix)
        conn.commit()
    if not done:
        console.print(f"[red]no active token with prefix {prefix!r}[/]")
        raise typer.Exit(2)
    console.print(f"revoked {prefix}")


alerts_app = typer.Typer(
    help="Alerts: evaluate findings, send notifications.", no_args_is_help=True
)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("run")
def alerts_run(
    every: Annotated[
        float | None, typer.Option(help="repeat every this many seconds (≥ 10) until Ctrl-C")
    ] = None,
) -> None:
    """Open and resolve alerts from the findings, then send the notifications that are due."""
    import time

    from alerting import engine
    from store import db

    if every is not None and every < 10:
        console.print("[red]--every[/]: at least 10 seconds")
        raise typer.Exit(2)
    s = load_settings()
    logs.setup(s.log_format)
    while True:
        with db.connect(s.database_url, application_name="jieneng-alerts", autocommit=True) as conn:
            counts = engine.run(conn, s)
        done = ", ".join(f"{k} {v}" for k, v in counts.items())
        console.print(f"告警 alerts: {done or 'nothing to do'}")
        if every is None:
            return
        time.sleep(every)


grafana_app = typer.Typer(help="Grafana: provisioning files, push, the reader role.",
                          no_args_is_help=True)  # fmt: skip
app.add_typer(grafana_app, name="grafana")


@grafana_app.command("build")
def grafana_build(
    directory: Annotated[Path, typer.Argument(help="Grafana's provisioning directory")],
    user: Annotated[str, typer.Option(help="the read-only login (jieneng grafana role)")] = (
        "jieneng_grafana"
    ),
    lang: Annotated[str, typer.Option(help="zh, en or both")] = "zh",
) -> None:
    """Write the datasource, the dashboards provider and the dashboards' JSON."""
    from grafana import provision
    from store import db

    if lang not in ("zh", "en", "both"):
        console.print(f"[red]--lang[/]: {lang!r} is not zh, en or both")
        raise typer.Exit(2)
    s = load_settings()
    timescaledb = False
    try:
        with db.connect(s.database_url, application_name="jieneng-grafana") as conn:
            timescaledb = db.backend(conn) == "timescaledb"
    except Exception as exc:  # noqa: BLE001 - the files can be written without the database
        console.print(f"[yellow]数据库不可用 database not reachable ({type(exc).__name__}):"
                      " timescaledb off in the datasource[/]")  # fmt: skip
    languages = ("zh", "en") if lang == "both" else (lang,)
    files = provision.build(
        directory, s.database_url, user=user, timescaledb=timescaledb, languages=languages
    )
    console.print(f"已写入 wrote {len(files)} files under {directory}; set"
                  f" {provision.PASSWORD_ENV} in Grafana's environment")  # fmt: skip


@grafana_app.command("push")
def grafana_push(
    url: Annotated[str, typer.Option(help="Grafana's URL, e.g. http://127.0.0.1:3000")],
    token: Annotated[
        str, typer.Option(help="a Grafana service-account token", envvar="GRAFANA_TOKEN")
    ],
    lang: Annotated[str, typer.Option(help="zh, en or both")] = "zh",
) -> None:
    """Create or update the dashboards through Grafana's HTTP API (folder jieneng)."""
    from grafana import provision

    languages = ("zh", "en") if lang == "both" else (lang,)
    try:
        uids = provision.push(url, token, languages=languages)
    except Exception as exc:  # noqa: BLE001 - grafana-client's errors, said plainly
        console.print(f"[red]推送失败 push failed[/]: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    console.print("已推送 pushed: " + ", ".join(uids))


@grafana_app.command("role")
def grafana_role(
    user: Annotated[str, typer.Option(help="login name for Grafana")] = "jieneng_grafana",
    password_env: Annotated[
        str, typer.Option(help="environment variable holding its password")
    ] = "JIENENG_GRAFANA_DB_PASSWORD",
) -> None:
    """Create (or re-password) the read-only login in the jieneng_reader role."""
    from store import db, roles

    password = os.environ.get(password_env)
    if not password:
        console.print(f"[red]{password_env}[/]: set it to the password (it is not printed)")
        raise typer.Exit(2)
    with db.connect(load_settings().database_url, application_name="jieneng-grafana") as conn:
        created = roles.reader_login(conn, user, password)
        conn.commit()
    console.print(f"{'created' if created else 'updated'} {user} in {roles.READER}")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="default JIENENG_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default JIENENG_API_PORT")] = None,
) -> None:
    """Serve the HTTP API (docs at /docs) until Ctrl-C / SIGTERM."""
    import uvicorn

    from api.main import create_app

    s = load_settings()
    logs.setup(s.log_format)
    uvicorn.run(
        create_app(s),
        host=host or s.api_host,
        port=port if port is not None else s.api_port,
        log_level="info",
        access_log=False,
    )


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
    analyzer = None
    if s.analyze_every_s:  # the analysis job beside the collector, in a process of its own
        from jieneng.analyze import Background

        analyzer = Background(s)
        analyzer.start()
    try:
        collector.run()
    finally:
        if analyzer is not None:
            analyzer.stop()
    if collector.failed:
        raise typer.Exit(1)


@app.command()
def analyze(
    once: Annotated[
        bool, typer.Option("--once", help="one round, then exit (the default)")
    ] = False,
    every: Annotated[
        float | None, typer.Option(help="a round every SECONDS until Ctrl-C / SIGTERM")
    ] = None,
    days: Annotated[
        int | None, typer.Option(help="days in each window (default JIENENG_ANALYZE_DAYS)")
    ] = None,
    building: Annotated[
        list[str] | None, typer.Option(help="only this building code (repeatable)")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="end of the window, ISO 8601 (default now; a date is its local midnight,"
            " no offset means JIENENG_SERVICE_TZ)"
        ),
    ] = None,
) -> None:
    """Analyse the stored readings and keep the anomalies table (findings) up to date."""
    import datetime as dt
    import threading
    from zoneinfo import ZoneInfo

    from jieneng import analyze as job

    s = load_settings()
    logs.setup(s.log_format)
    if once and every is not None:
        console.print("[red]参数错误 bad option[/]: --once and --every exclude each other")
        raise typer.Exit(2)
    if days is not None and not 2 <= days <= 400:
        console.print(f"[red]参数错误 bad option[/]: --days: must be 2..400, got {days}")
        raise typer.Exit(2)
    end = None
    if until is not None:
        try:
            end = dt.datetime.fromisoformat(until)
        except ValueError as exc:
            console.print(f"[red]参数错误 bad option[/]: --until: {exc}")
            raise typer.Exit(2) from None
        if end.tzinfo is None:
            end = end.replace(tzinfo=ZoneInfo(s.service_tz))
    options = {"until": end, "days": days, "building_codes": building or None}

    def show(report: job.Report) -> None:
        Console(width=max(100, Console().width)).print(job.summary_table(report))

    if every is None:
        report = job.run_once(s, **options)  # type: ignore[arg-type]
        show(report)
        if end is None:  # a live round: alerts follow (a historical one leaves them alone)
            job.alert(s)
        if report.unknown_buildings:
            unknown = ", ".join(report.unknown_buildings)
            console.print(f"[red]参数错误 bad option[/]: --building: no building {unknown}")
            raise typer.Exit(2)
        if report.failed_batches:
            raise typer.Exit(1)
        return
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        logging.getLogger(__name__).info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    job.serve(s, every_s=every, stop=stop, on_report=show, **options)


def _fault_rates(text: str | None) -> dict[str, float] | None:
    """``kind=rate,kind=rate`` (events per building per 30 days); ``none`` for no faults."""
    from simulators.faults import DEFAULT_RATES

    if text is None:
        return None
    if text.strip().lower() == "none":
        return {}
    rates = dict(DEFAULT_RATES)
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, rate = part.partition("=")  # the simulator refuses unknown kinds by name
        try:
            rates[kind] = float(rate)
        except ValueError:
            raise typer.BadParameter(f"{kind}: rate {rate!r} is not a number") from None
    return rates


@app.command()
def simulate(
    buildings: Annotated[int, typer.Option(help="buildings in the demo portfolio")] = 7,
    seed: Annotated[int, typer.Option(help="same seed, same buildings, readings and faults")] = 1,
    backfill: Annotated[
        int, typer.Option(help="days of history to write through the writer, ending today")
    ] = 0,
    live: Annotated[bool, typer.Option(help="then publish live over MQTT")] = True,
    speed: Annotated[
        float | None,
        typer.Option(
            help="live: simulated seconds per second, 0 as fast as possible (default:"
            " 0 after a backfill or from --start, catching up with now; else 1)"
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="live: first simulated day, YYYY-MM-DD (default: now, or today"
            " after a backfill); never runs ahead of now"
        ),
    ] = None,
    step: Annotated[int, typer.Option(help="backfill: seconds between readings")] = 900,
    live_step: Annotated[int, typer.Option(help="live: seconds between readings")] = 60,
    faults: Annotated[
        str | None,
        typer.Option(
            help="fault rates per building per 30 days, e.g. 'spike=3,dead_meter=0';"
            " 'none' for no faults"
        ),
    ] = None,
    labels: Annotated[Path | None, typer.Option(help="write fault labels (JSON lines)")] = None,
    registry: Annotated[Path | None, typer.Option(help="write the registry YAML here")] = None,
) -> None:
    """Simulate buildings: backfill history through the writer, then publish live."""
    import datetime as dt

    from rich.progress import Progress

    from simulators.backfill import backfill as run_backfill
    from simulators.backfill import import_portfolio, write_labels
    from simulators.buildings import Simulator
    from simulators.live import Publisher
    from simulators.portfolio import make_portfolio
    from store import db

    s = load_settings()
    logs.setup("text")
    rates = _fault_rates(faults)
    try:
        portfolio = make_portfolio(buildings, seed=seed)
        sim = Simulator(portfolio, seed=seed, step_s=step, fault_rates=rates, mqtt=True)
        first = dt.date.fromisoformat(start) if start else None
    except ValueError as exc:
        console.print(f"[red]参数错误 bad option[/]: {exc}")
        raise typer.Exit(2) from None
    tz = sim.tz
    today = dt.datetime.now(tz).date()
    found = []
    with db.connect(s.database_url) as conn:
        import_portfolio(conn, portfolio, registry)
        conn.commit()
        if backfill:
            offline = sim.resume(step_s=step, mqtt=False)
            with Progress(console=console) as bar:
                task = bar.add_task(f"回填 backfill {backfill} days", total=backfill)
                result = run_backfill(
                    conn,
                    offline,
                    today - dt.timedelta(days=backfill),
                    today,
                    progress=lambda done, total: bar.update(task, completed=done),
                )
            found += result.faults
            sim = offline
            console.print(f"已写入 written: {result.rows:,} readings, {len(result.faults)} faults")
    if labels and not live:
        write_labels(labels, found)
    if not live:
        return
    if backfill:
        begin = dt.datetime.combine(today, dt.time(), tz)  # the backfill ended at midnight
    elif first:
        begin = dt.datetime.combine(first, dt.time(), tz)
    else:
        begin = dt.datetime.now(tz)
    if speed is None:
        speed = 0.0 if (backfill or first) else 1.0
    try:
        live_sim = sim.resume(step_s=live_step, mqtt=True)
    except ValueError as exc:
        console.print(f"[red]参数错误 bad option[/]: --live-step: {exc}")
        raise typer.Exit(2) from None
    publisher = Publisher(
        live_sim,
        s.broker_host,
        s.broker_port,
        start=begin,
        speed=speed,
        prefix=s.topic_prefix,
        username=s.broker_username,
        password=s.broker_password.get_secret_value() if s.broker_password else None,
    )

    def _stop(signum: int, frame: object) -> None:
        publisher.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print(f"发布中 publishing to {s.broker_host}:{s.broker_port} (Ctrl-C 停止 to stop)")
    try:
        publisher.run()
    finally:
        if labels:
            write_labels(labels, found + publisher.faults)
        console.print(f"已发布 published {publisher.sent:,} messages")


@app.command()
def demo(
    buildings: Annotated[
        int, typer.Option(help="buildings in the demo portfolio (7: one per payload format)")
    ] = 7,
    days: Annotated[int, typer.Option(help="days of history on the first run")] = 30,
    seed: Annotated[int, typer.Option(help="same seed, same buildings and readings")] = 1,
    workdir: Annotated[
        Path | None,
        typer.Option(help="embedded servers' data (default ~/.local/share/jieneng/demo)"),
    ] = None,
    broker: Annotated[
        str, typer.Option(help="embedded broker: auto (mosquitto when found), mosquitto, amqtt")
    ] = "auto",
    duration: Annotated[
        float | None, typer.Option(help="stop by itself after this many seconds")
    ] = None,
) -> None:
    """Run the whole service on a demo portfolio (embedded servers unless configured)."""
    from jieneng.demo import Demo, DemoOptions, default_workdir

    if broker not in ("auto", "mosquitto", "amqtt"):
        console.print(
            f"[red]参数错误 bad option[/]: --broker: {broker!r} is not auto, mosquitto or amqtt"
        )
        raise typer.Exit(2)
    s = load_settings()
    logs.setup("text")
    options = DemoOptions(
        workdir=workdir or default_workdir(),
        buildings=buildings,
        days=days,
        seed=seed,
        broker=broker,
        duration_s=duration,
    )
    runner = Demo(s, options, console)

    def _stop(signum: int, frame: object) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        runner.run()
    except Exception as exc:  # the servers are stopped already; say why
        console.print(f"[red]演示失败 demo failed[/]: {exc}")
        raise typer.Exit(1) from None


evaluate_app = typer.Typer(help="Score the analytics against ground truth.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


@evaluate_app.command("sim")
def evaluate_sim(
    seed: Annotated[int, typer.Option(help="portfolio and fault seed")] = 2027,
    buildings: Annotated[int, typer.Option(help="buildings")] = 14,
    days: Annotated[int, typer.Option(help="days simulated")] = 28,
    start: Annotated[str, typer.Option(help="first day, YYYY-MM-DD")] = "2026-07-01",
) -> None:
    """Simulate a labelled portfolio, run the detectors, print precision/recall/F1 per kind."""
    import datetime as dt

    from rich.table import Table

    from simulators.evaluate import evaluate

    try:
        first = dt.date.fromisoformat(start)
    except ValueError as exc:
        console.print(f"[red]参数错误 bad option[/]: --start: {exc}")
        raise typer.Exit(2) from None
    result = evaluate(seed=seed, buildings=buildings, days=days, start=first)
    table = Table(
        title=f"检测评估 detector evaluation (seed {seed}, {buildings} buildings, "
        f"{days} days from {first})"
    )
    table.add_column("故障 fault", no_wrap=True)
    for col in ("标签 labels", "发现 found", "命中 hit", "P", "R", "F1", "浪费误差 waste err"):
        table.add_column(col, justify="right")
    for kind, sc in result.scores.items():
        err = "" if sc.waste_error != sc.waste_error else f"{sc.waste_error:.0%}"
        table.add_row(
            kind,
            str(sc.labels),
            str(sc.findings),
            str(sc.matched),
            f"{sc.precision:.2f}",
            f"{sc.recall:.2f}",
            f"{sc.f1:.2f}",
            err,
        )
    Console(width=max(100, Console().width)).print(table)


@evaluate_app.command("nab")
def evaluate_nab(
    data: Annotated[
        Path, typer.Option(help="NAB data folder (category subfolders of timestamp,value CSVs)")
    ],
    labels: Annotated[
        Path, typer.Option(help="windows JSON: {'<category>/<file>.csv': [[start, end], ...]}")
    ],
    warmup_days: Annotated[
        float, typer.Option(help="days at the start of each series only used as history")
    ] = 5.0,
    probation: Annotated[
        float,
        typer.Option(help="also keep this share of each series as history (NAB's is 0.15)"),
    ] = 0.0,
) -> None:
    """Run the generic detectors on NAB series; windows hit and false flags per 1,000 points.

    A window is hit when a flagged point lies in it; a false flag is a run of flagged
    points outside all windows, counted per 1,000 points outside windows after the warm-up.
    """
    import time

    import numpy as np
    from rich.table import Table

    from analytics import nab, univariate
    from jieneng.nab import NabError, load

    if not data.is_dir():
        console.print(f"[red]数据目录不存在 data folder not found[/]: {data}")
        raise typer.Exit(2)
    if not labels.is_file():
        console.print(f"[red]标签文件不存在 labels file not found[/]: {labels}")
        raise typer.Exit(2)
    if not 0.0 <= probation < 1.0 or warmup_days < 0:
        console.print("[red]参数错误 bad option[/]: --probation in [0, 1), --warmup-days ≥ 0")
        raise typer.Exit(2)
    try:
        series, missing = load(data, labels)
    except NabError as exc:
        console.print(f"[red]读取失败 cannot read[/]: {exc}")
        raise typer.Exit(2) from None
    if missing:
        console.print(f"缺少数据 no CSV for {len(missing)} labelled series: {', '.join(missing)}")
    if not series:
        console.print(f"[red]没有可评估的序列 no labelled series found under[/] {data}")
        raise typer.Exit(2)
    settings = univariate.Settings(warmup_days=warmup_days, warmup_share=probation)
    table = Table(title=f"NAB 检测评估 detector evaluation ({len(series)} series)")
    table.add_column("序列 series", no_wrap=True)
    for col in ("窗口 windows", "命中 hit", "窗外点 outside", "误报 false", "每千点 per 1,000"):
        table.add_column(col, justify="right")
    scores = []
    started = time.perf_counter()
    for s in series:
        found, first = univariate.detect(s.times, s.values, settings)
        flags = np.zeros(s.values.shape, dtype=bool)
        for run in found:
            flags[run.start : run.end] = True
        sc = nab.score(s.times, flags, s.windows, first=first)
        scores.append(sc)
        table.add_row(
            s.name,
            str(sc.windows),
            str(sc.hit),
            f"{sc.points_outside:,}",
            str(sc.false_flags),
            f"{sc.false_per_1000:.2f}",
        )
    elapsed = time.perf_counter() - started
    tot = nab.total(scores)
    table.add_section()
    table.add_row(
        "合计 total",
        str(tot.windows),
        f"{tot.hit} ({tot.hit_ratio:.0%})",
        f"{tot.points_outside:,}",
        str(tot.false_flags),
        f"{tot.false_per_1000:.2f}",
    )
    out = Console(width=max(140, Console().width))
    out.print(table)
    out.print(
        f"windows={tot.windows} windows_hit={tot.hit} windows_hit_ratio={tot.hit_ratio:.3f} "
        f"false_flags={tot.false_flags} points_outside={tot.points_outside} "
        f"false_per_1000={tot.false_per_1000:.3f} seconds={elapsed:.1f}",
        soft_wrap=True,
    )


def _print_json(result: Any) -> None:
    import orjson

    print(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode())


REPORT_FORMATS = ("table", "json", "html", "pdf")


def _report_format(fmt: str, as_json: bool, output: Path | None, lang: str) -> str:
    """The output format asked for, checked: exits 2 naming the option."""
    fmt = "json" if as_json else fmt
    if fmt not in REPORT_FORMATS:
        console.print(f"[red]--format[/]: {fmt!r} is not one of {', '.join(REPORT_FORMATS)}")
        raise typer.Exit(2)
    if lang not in ("zh", "en"):
        console.print(f"[red]--lang[/]: {lang!r} is not zh or en")
        raise typer.Exit(2)
    if fmt == "pdf" and output is None:
        console.print("[red]--output[/]: a PDF needs a file to go to (--output report.pdf)")
        raise typer.Exit(2)
    return fmt


def _write_report(page: Any, fmt: str, output: Path | None) -> None:
    """Render ``page()`` (an HTML page) as HTML or PDF into ``output`` (HTML: stdout when
    none); a report that cannot be drawn exits 2 with the reason."""
    from reports import ReportError
    from reports.render import pdf

    try:
        html = page()
        data = pdf(html) if fmt == "pdf" else html.encode("utf-8")
    except ReportError as exc:
        console.print(f"[red]报告生成失败 report failed[/]: {exc}")
        raise typer.Exit(2) from None
    if output is None:
        sys.stdout.write(data.decode("utf-8"))
        return
    output.write_bytes(data)
    console.print(f"{fmt.upper()} → {output} ({len(data):,} bytes)")


def _print_items(title: str, rows: list[tuple[str, str]]) -> None:
    """A two-column table (item, value), as wide as the terminal allows and at least 100."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("项目 item")
    table.add_column("值 value", justify="right")
    for item, value in rows:
        table.add_row(item, value)
    Console(width=max(100, Console().width)).print(table)


emc_app = typer.Typer(help="合同能源管理 contracts: settlement.", no_args_is_help=True)
app.add_typer(emc_app, name="emc")


@emc_app.command("settle")
def emc_settle(
    contract: Annotated[str, typer.Option(help="contract code (registry: emc_contracts)")],
    period: Annotated[str, typer.Option(help="2026, 2026-Q3 or 2026-07")],
    fmt: Annotated[str, typer.Option("--format", help="table, json, html or pdf")] = "table",
    output: Annotated[Path | None, typer.Option(help="file for html/pdf")] = None,
    lang: Annotated[str, typer.Option(help="zh (中文) or en")] = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (--format json)")] = False,
    save: Annotated[
        bool, typer.Option(help="keep the settlement for the audit & M&V dashboard")
    ] = True,
) -> None:
    """Settle one period of a contract: measured savings (CalTRACK daily) and the shares; the
    statement as HTML or PDF with the baseline-vs-actual chart. The settlement is stored
    (again: replaced) unless --no-save."""

    from jieneng import emc, mv
    from jieneng.audit import AuditError
    from store import db

    fmt = _report_format(fmt, as_json, output, lang)
    s = load_settings()
    try:
        with db.connect(s.database_url, application_name="jieneng-emc", autocommit=True) as conn:
            result = emc.settle(conn, contract, period, save=save)
    except (AuditError, mv.InputError) as exc:
        console.print(f"[red]结算失败 settlement failed[/]: {exc}")
        raise typer.Exit(2) from None
    if fmt == "json":
        _print_json(result)
        return
    if fmt in ("html", "pdf"):
        from reports import emc as emc_report

        _write_report(lambda: emc_report.page(result, lang=lang), fmt, output)
        return
    st, c = result["settlement"], result["contract"]
    rows = [
        ("类型 type", c["kind"]),
        ("期间 period", f"{result['period']['start']} – {result['period']['end']}"),
        ("调整后基准 adjusted baseline", f"{st.get('adjusted_baseline', 0):,.1f}"),
        ("实测 actual", f"{st.get('actual', 0):,.1f}"),
        ("节能量 avoided", f"{st['avoided']:,.1f} ± {st['uncertainty']:,.1f}"),
        ("节能效益 value (¥)", f"{st['value']:,.2f}"),
        ("服务公司 ESCO (¥)", f"{st['esco']:,.2f}"),
        ("用能单位 agency (¥)", "" if st["agency"] is None else f"{st['agency']:,.2f}"),
        ("未达保证 shortfall", f"{st['shortfall']:,.1f} (¥ {st['compensation']:,.2f})"),
    ]
    _print_items(f"节能结算 settlement: {c['name']} ({c['code']}), {period}", rows)


@emc_app.command("measure")
def emc_measure(
    contract: Annotated[
        str | None, typer.Option(help="one contract's code (default: every running one)")
    ] = None,
    again: Annotated[bool, typer.Option(help="measure even if measured today")] = False,
) -> None:
    """Measure contracts' reporting periods up to today and store them for the audit & M&V
    dashboard (the analysis job does it once a day)."""
    from jieneng import emc
    from jieneng.audit import AuditError
    from store import db

    s = load_settings()
    try:
        with db.connect(s.database_url, application_name="jieneng-emc", autocommit=True) as conn:
            done = emc.measure_to_date(conn, contract=contract, again=again)
    except AuditError as exc:
        console.print(f"[red]测量失败 measuring failed[/]: {exc}")
        raise typer.Exit(2) from None
    words = {"measured": "已测量 measured", "current": "今日已测 measured today"}
    _print_items(
        "合同节能量 (截至昨日) contracts measured up to today",
        [(code, words.get(state, f"失败 failed: {state}")) for code, state in done.items()],
    )
    if any(state not in words for state in done.values()):
        raise typer.Exit(1)


@app.command("audit")
def audit_command(
    period: Annotated[str, typer.Option(help="2026 (a year), 2026-Q3 or 2026-07")],
    building: Annotated[
        str | None, typer.Option(help="building code (导则, e.g. 110108A001)")
    ] = None,
    institution: Annotated[
        str | None, typer.Option(help="institution code: all its buildings")
    ] = None,
    rank: Annotated[
        bool,
        typer.Option(
            "--rank", help="rank every institution by kgce/m² (with --institution: in its report)"
        ),
    ] = False,
    tariff: Annotated[
        str | None,
        typer.Option(help="price electricity by time of use (a tariff of the reference data)"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json, html or pdf")] = "table",
    output: Annotated[Path | None, typer.Option(help="file for html/pdf")] = None,
    lang: Annotated[str, typer.Option(help="zh (中文) or en")] = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON (--format json)")] = False,
) -> None:
    """Energy audit from the store: totals, tce, CO2, cost, intensities, quotas, findings; as
    a table, JSON, or an HTML/PDF report with charts."""
    from rich.table import Table

    from jieneng import audit
    from store import db

    fmt = _report_format(fmt, as_json, output, lang)
    ranking_only = rank and institution is None
    if rank and building is not None:
        console.print("[red]--rank[/]: ranks institutions: alone, or with --institution")
        raise typer.Exit(2)
    if ranking_only and fmt in ("html", "pdf"):
        console.print("[red]--format[/]: the ranking alone prints as a table or JSON")
        raise typer.Exit(2)
    s = load_settings()
    try:
        with db.connect(s.database_url, application_name="jieneng-audit", autocommit=True) as conn:
            if ranking_only:
                result: Any = audit.rank(conn, period)
            else:
                result = audit.run(
                    conn, period, building=building, institution=institution, tariff=tariff
                )
                if rank:
                    result["ranking"] = audit.rank(conn, period)
    except audit.AuditError as exc:
        console.print(f"[red]审计失败 audit failed[/]: {exc}")
        raise typer.Exit(2) from None
    if fmt == "json":
        _print_json(result)
        return
    if fmt in ("html", "pdf"):
        from reports import audit as audit_report

        _write_report(lambda: audit_report.page(result, lang=lang), fmt, output)
        return
    if ranking_only:
        _print_ranking(result, period)
        return
    b = result["building"] if building is not None else result["institution"]
    t, i = result["totals"], result["intensity"]
    table = Table(title=f"能源审计 energy audit: {b['name']} ({b['code']}), {period}")
    table.add_column("项目 item")
    table.add_column("用量 use", justify="right")
    table.add_column("kgce", justify="right")
    table.add_column("kgCO2", justify="right")
    table.add_column("¥", justify="right")
    for code, row in result["by_code"].items():
        name = row["name"] + ("" if row["counted"] else " (分项)")
        table.add_row(
            f"{code} {name}",
            f"{row['use']:,.1f} {row.get('unit', '')}",
            f"{row['kgce']:,.1f}",
            f"{row['kgco2']:,.1f}",
            f"{row['cny']:,.2f}",
        )
    table.add_row("合计 total", "", f"{t['kgce']:,.1f}", f"{t['kgco2']:,.1f}", f"{t['cny']:,.2f}")
    Console(width=max(100, Console().width)).print(table)
    console.print(
        f"单位面积能耗 {i['kgce_per_m2']:.2f} kgce/m², 人均 {i['kgce_per_person']:.1f} kgce/人,"
        f" 电耗 {i['kwh_per_m2']:.1f} kWh/m², 人均用水 {i['water_m3_per_person']:.2f} m³"
    )
    if "ranking" in result:
        _print_ranking(result["ranking"], period)


def _print_ranking(rows: list[dict[str, Any]], period: str) -> None:
    from rich.table import Table

    table = Table(title=f"能耗排名 ranking by energy per m², {period}")
    for col in ("名次 rank", "单位 institution", "kgce/m²", "kgce/人", "kgCO2/m²"):
        table.add_column(col)
    for row in rows:
        if "rank" not in row:
            table.add_row("—", row["institution"], row["reason"], "", "")
            continue
        table.add_row(
            str(row["rank"]),
            f"{row['name']} ({row['institution']})",
            f"{row['kgce_per_m2']:.2f}",
            f"{row['kgce_per_person']:.1f}",
            f"{row['kgco2_per_m2']:.2f}",
        )
    Console(width=max(100, Console().width)).print(table)


@app.command("mv")
def measure_and_verify(
    baseline_end: Annotated[str, typer.Option(help="first day after the baseline, YYYY-MM-DD")],
    reporting_start: Annotated[str, typer.Option(help="first reporting day, YYYY-MM-DD")],
    meter_csv: Annotated[
        Path | None, typer.Option(help="use per day (or hour): start,value")
    ] = None,
    temperature_csv: Annotated[
        Path | None, typer.Option(help="hourly outdoor air: dt,tempF or dt,tempC")
    ] = None,
    meter: Annotated[
        str | None,
        typer.Option(help="a stored meter's point key instead of the CSV files (daily model)"),
    ] = None,
    reporting_end: Annotated[
        str | None, typer.Option(help="day after the reporting period (default: the data's end)")
    ] = None,
    model: Annotated[
        str, typer.Option(help="daily (CalTRACK 2.0 change-point) or hourly (TOWT)")
    ] = "daily",
    calendar: Annotated[
        str,
        typer.Option(
            help="hourly times of week: cn (holidays and 调休 by China's calendar) or none"
        ),
    ] = "cn",
    fuel: Annotated[
        str, typer.Option(help="electricity (cooling models, 0 = missing), gas or heat")
    ] = "electricity",
    non_routine: Annotated[
        float, typer.Option(help="non-routine adjustment added to the adjusted baseline")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    save: Annotated[
        bool,
        typer.Option(help="keep a stored meter's result for the audit & M&V dashboard"),
    ] = True,
) -> None:
    """Measure avoided energy (IPMVP Option C): baseline model, Guideline 14, savings ± FSU.
    A stored meter's result is kept (the same computation again: replaced) unless
    --no-save."""
    import datetime as dt

    from jieneng import mv

    try:
        if model not in ("daily", "hourly"):
            raise mv.InputError(f"--model: {model!r} is not one of daily, hourly")
        if calendar not in ("cn", "none"):
            raise mv.InputError(f"--calendar: {calendar!r} is not one of cn, none")
        if fuel not in ("electricity", "gas", "heat"):
            raise mv.InputError(f"--fuel: {fuel!r} is not one of electricity, gas, heat")
        dates = {}
        for name, text in (
            ("--baseline-end", baseline_end),
            ("--reporting-start", reporting_start),
            ("--reporting-end", reporting_end),
        ):
            try:
                dates[name] = None if text is None else dt.date.fromisoformat(text)
            except ValueError:
                raise mv.InputError(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None
        period = {
            "baseline_end": dates["--baseline-end"],
            "reporting_start": dates["--reporting-start"],
            "reporting_end": dates["--reporting-end"],
            "non_routine": non_routine,
        }
        files = (meter_csv, temperature_csv)
        if (meter is not None and any(files)) or (meter is None and not all(files)):
            raise mv.InputError(
                "give --meter (a stored meter) or both --meter-csv and --temperature-csv"
            )
        if meter is not None:
            from store import db
            from store import mv as stored

            with db.connect(
                load_settings().database_url, application_name="jieneng-mv", autocommit=True
            ) as conn:
                result = mv.run_stored(
                    conn, meter, model=model, chinese_calendar=calendar == "cn", **period
                )
                if save:
                    with conn.transaction():
                        stored.save(conn, meter, result)
        elif model == "hourly":
            result = mv.run_hourly(
                mv.read_meter(meter_csv, hourly=True),  # type: ignore[arg-type]
                mv.read_hourly_temperature(temperature_csv),  # type: ignore[arg-type]
                chinese_calendar=calendar == "cn",
                **period,
            )
        else:
            result = mv.run(
                mv.read_meter(meter_csv),  # type: ignore[arg-type]
                mv.read_temperature(temperature_csv),  # type: ignore[arg-type]
                fuel=fuel,
                **period,
            )
    except mv.InputError as exc:
        console.print(f"[red]输入错误 bad input[/]: {exc}")
        raise typer.Exit(2) from None
    if as_json:
        _print_json(result)
        return
    m, s = result["model"], result["savings"]
    hourly = model == "hourly"
    g = result["guideline14_hourly" if hourly else "guideline14_monthly"]
    title = "hourly TOWT" if hourly else "CalTRACK 2.0 daily"
    if hourly:
        described = f"TOWT (calendar {m['calendar']})"
    else:
        bp = f"HDD {m['hdd_balance_c']} °C, CDD {m['cdd_balance_c']} °C"
        described = f"{m['model_type']} ({bp})"
    interval = "小时 hourly" if hourly else "月度 monthly"
    rows = [
        ("基准期 baseline", f"{result['baseline']['start']} – {result['baseline']['end']}"),
        ("报告期 reporting", f"{result['reporting']['start']} – {result['reporting']['end']}"),
        ("模型 model", described),
        ("基准期 CV(RMSE)", f"{m['cvrmse']:.1%}"),
        (f"G14 {interval} CV(RMSE) / NMBE", f"{g['cvrmse']:.1%} / {g['nmbe']:+.2%}"),
        ("G14 通过 passes", "是 yes" if g["passes"] else "否 no"),
        ("实测 observed", f"{s['observed']:,.1f}"),
        ("调整后基准 adjusted baseline", f"{s['counterfactual']:,.1f}"),
        ("节能量 avoided energy", f"{s['avoided']:,.1f} ± {s['uncertainty']:,.1f}"),
        ("节能率 savings", f"{s['fractional']:.1%} (FSU {s['fsu']:.0%} @ 90 %)"),
    ]
    _print_items(f"测量与验证 measurement & verification ({title})", rows)
    for w in m["warnings"]:
        console.print(f"[yellow]注意 warning[/] {w['key']}: {w['description']}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
