"""README's two commands in a fresh virtual environment, as a new user runs them.

The demo gets no database or broker settings (and libpq variables that lead nowhere), so it
must start its own embedded PostgreSQL and a pip-installed broker (amqtt), store readings and
stop cleanly, leaving no process behind, within a bounded time. The test command is checked
as far as collecting the suite (running the whole suite inside itself would take too long).
"""

from __future__ import annotations

import ast
import os
import subprocess
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
COUNT = """
import sys, psycopg
from pathlib import Path
from jieneng.embedded import start_postgres
server = start_postgres(Path(sys.argv[1]))
with psycopg.connect(server.url) as c:
    print(c.execute("SELECT count(*), count(DISTINCT point_id) FROM readings").fetchone())
    # The history ends at today's local midnight; the live simulators go on from there
    # (catching up with the present first: late in the day that takes longer than the run).
    print(c.execute("SELECT count(*) FROM readings WHERE time > date_trunc('day', now() AT"
                    " TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'").fetchone()[0])
server.stop()
"""


def _clean_env(venv_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JIENENG_", "PG", "VIRTUAL"))}
    env["PATH"] = f"{venv_dir / 'bin'}:/usr/bin:/bin"
    env["PGHOST"] = "/nonexistent"  # a stray libpq default must not find the system server
    env["PGPORT"] = "1"
    return env


def _processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "stat,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if text in line and not line.startswith("Z")]


def test_readme_commands_in_a_fresh_venv(tmp_path: Path) -> None:
    venv_dir = tmp_path / "venv"
    venv.create(venv_dir, with_pip=True)
    py = str(venv_dir / "bin" / "python")
    env = _clean_env(venv_dir)
    install = subprocess.run(
        [py, "-m", "pip", "install", "-q", f"{ROOT}[embedded,test]"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "demo"
    demo = subprocess.run(
        [
            str(venv_dir / "bin" / "jieneng"),
            "demo",
            "--workdir",
            str(work),
            "--days",
            "2",
            "--buildings",
            "7",
            "--broker",
            "amqtt",
            "--duration",
            "20",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    out = demo.stdout + demo.stderr
    assert "embedded PostgreSQL" in out and "embedded amqtt" in out
    assert "已停止 stopped" in out
    assert not _processes_mentioning(str(work)), _processes_mentioning(str(work))

    count = subprocess.run(
        [py, "-c", COUNT, str(work / "postgres")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert count.returncode == 0, count.stderr[-2000:]
    (total, points), recent = (
        ast.literal_eval(count.stdout.splitlines()[0]),
        int(count.stdout.splitlines()[1]),
    )
    assert total > 10_000 and points > 70  # two days of history, every point
    assert recent > 0  # live readings came through the broker and the collector
    assert not _processes_mentioning(str(work))

    collect = subprocess.run(
        [str(venv_dir / "bin" / "pytest"), "--collect-only", "-q", "-p", "no:cacheprovider"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert collect.returncode == 0, collect.stdout[-3000:]
    assert "tests collected" in collect.stdout
