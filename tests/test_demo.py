"""``jieneng demo`` as a user runs it: Ctrl-C stops everything, configured servers are used."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.fix_db import Database
from tests.fix_mqtt import Broker

pytestmark = pytest.mark.slow


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "jieneng", "demo", *args], env=env, stdout=out, stderr=out
        )


def _wait_for_text(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


def _leftovers(text: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "stat,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if text in line and not line.startswith("Z")]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("JIENENG_")}


def test_ctrl_c_stops_the_embedded_demo_and_leaves_nothing(tmp_path: Path) -> None:
    work, log = tmp_path / "demo", tmp_path / "demo.log"
    proc = _start(["--workdir", str(work), "--days", "1", "--buildings", "3"], _env(), log)
    try:
        _wait_for_text(log, "Ctrl-C", proc, timeout=120)
        time.sleep(3)  # live readings flow
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "已停止 stopped" in log.read_text()
    assert not _leftovers(str(work)), _leftovers(str(work))
    assert (work / "labels.jsonl").exists() and (work / "registry.yaml").exists()


def test_configured_servers_are_used(
    tmp_path: Path, plain_database: Database, broker: Broker
) -> None:
    env = _env() | {"JIENENG_DATABASE_URL": plain_database.url, "JIENENG_BROKER_URL": broker.url}
    work, log = tmp_path / "demo", tmp_path / "demo.log"
    proc = _start(
        ["--workdir", str(work), "--days", "3", "--buildings", "2", "--duration", "5"], env, log
    )
    assert proc.wait(120) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "configured" in text and "embedded" not in text
    assert not (work / "postgres").exists() and not (work / "broker").exists()
    with psycopg.connect(plain_database.url) as conn:
        n, points = conn.execute(
            "SELECT count(*), count(DISTINCT point_id) FROM readings"
        ).fetchone()
        buildings = conn.execute("SELECT count(*) FROM buildings").fetchone()[0]
        # The demo's contract, measured over the backfill's last day for the M&V dashboard.
        measured = conn.execute(
            "SELECT reporting_start, reporting_end, periods FROM v_mv_results"
            " WHERE contract_code = 'DEMO-EMC-1' AND purpose = 'to_date'"
        ).fetchall()
    assert n > 1000 and points >= 20 and buildings == 2
    assert len(measured) == 1 and measured[0][1] - measured[0][0] == dt.timedelta(days=1)
    assert "DEMO-EMC-1" in text and measured[0][2] == 1
