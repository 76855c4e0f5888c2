"""Start a private Mosquitto broker (tests, benchmarks, the demo) with collector-safe limits."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

#: Mosquitto's defaults throttle (max_inflight_messages 20) and drop (max_queued_messages
#: 1000) QoS 1 traffic to a collector that acknowledges after commit; see deploy/mosquitto.conf.
CONF = """\
listener {port} {host}
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
max_packet_size 4000000
log_dest stderr
log_type error
log_type warning
"""


def mosquitto_binary() -> str | None:
    """Path of a Mosquitto binary on this machine, or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if Path(candidate).exists():
            return candidate
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, *, timeout: float = 10.0) -> None:
    """Return when something accepts TCP connections on host:port; raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.05)


def start_mosquitto(
    workdir: Path, *, port: int | None = None, host: str = "127.0.0.1"
) -> tuple[subprocess.Popen[bytes], int]:
    """Start Mosquitto on ``host:port`` (a free port by default); return (process, port).

    The broker keeps sessions in memory only (``persistence false``): it is for tests, the
    benchmark and the demo. Its log goes to ``workdir/broker.log``.
    """
    binary = mosquitto_binary()
    if binary is None:
        raise FileNotFoundError("mosquitto: no binary on PATH (apt-get install mosquitto)")
    port = port or free_port(host)
    conf = workdir / "mosquitto.conf"
    conf.write_text(CONF.format(port=port, host=host))
    with open(workdir / "broker.log", "wb") as logfile:
        proc = subprocess.Popen([binary, "-c", str(conf)], stderr=logfile, stdout=logfile)
    try:
        wait_port(host, port)
    except TimeoutError:
        proc.kill()
        raise
    return proc, port
