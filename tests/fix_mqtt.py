"""MQTT fixtures: a real Mosquitto broker of the tests' own, on a free loopback port.

Its config (jieneng.broker.CONF) raises Mosquitto's defaults that would drop or throttle
QoS 1 traffic to a collector. Without a ``mosquitto`` binary the broker at
``JIENENG_TEST_BROKER`` (default mqtt://127.0.0.1:1883) is used as it is.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from jieneng.broker import mosquitto_binary, start_mosquitto, wait_port


@dataclass
class Broker:
    host: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A running MQTT broker on loopback."""
    if mosquitto_binary():
        proc, port = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
        try:
            yield Broker("127.0.0.1", port, proc)
        finally:
            proc.terminate()
            proc.wait(10)
        return
    url = urlsplit(os.environ.get("JIENENG_TEST_BROKER", "mqtt://127.0.0.1:1883"))
    b = Broker(url.hostname or "127.0.0.1", url.port or 1883)
    try:
        wait_port(b.host, b.port, timeout=3)
    except TimeoutError:
        pytest.fail(f"no mosquitto binary and no broker at {b.url}")
    yield b
