"""Helpers for end-to-end tests: a collector in a child process, a QoS 1 publisher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from jieneng.broker import free_port


def read_metrics(port: int) -> dict[str, float]:
    """Scrape a Prometheus endpoint into {sample name (+labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name = s.name + "".join(f".{v}" for v in s.labels.values())
            out[name] = s.value
    return out


class CollectorProcess:
    """``jieneng ingest`` as a child process, configured through ``JIENENG_*`` variables."""

    def __init__(
        self,
        workdir: Path,
        *,
        database_url: str,
        broker_url: str,
        prefix: str,
        client_id: str | None = None,
        **settings: object,
    ) -> None:
        self.workdir = workdir
        self.metrics_port = free_port()
        self.client_id = client_id or f"test-{uuid.uuid4().hex[:8]}"
        env = dict(os.environ)
        env.update(
            {
                "JIENENG_DATABASE_URL": database_url,
                "JIENENG_BROKER_URL": broker_url,
                "JIENENG_TOPIC_PREFIX": prefix,
                "JIENENG_CLIENT_ID": self.client_id,
                "JIENENG_METRICS_PORT": str(self.metrics_port),
                "JIENENG_SESSION_EXPIRY_S": "600",
                "JIENENG_LOG_INTERVAL_S": "2",
                "JIENENG_FLUSH_INTERVAL_S": "0.2",
            }
        )
        env.update({f"JIENENG_{k.upper()}": str(v) for k, v in settings.items()})
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *, timeout: float = 30.0) -> CollectorProcess:
        self.starts += 1
        with open(self.workdir / f"{self.client_id}.{self.starts}.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jieneng", "ingest"], env=self.env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.metrics().get("jieneng_ingest_broker_connected") == 1:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited with {self.proc.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"collector not connected after {timeout} s: {self.log()}")
            time.sleep(0.05)

    def metrics(self) -> dict[str, float]:
        return read_metrics(self.metrics_port)

    def log(self) -> str:
        return (self.workdir / f"{self.client_id}.{self.starts}.log").read_text()[-3000:]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, *, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        return self.proc.returncode


def publish(
    host: str,
    port: int,
    messages: Iterable[tuple[str, bytes]],
    *,
    qos: int = 1,
    timeout: float = 120.0,
) -> int:
    """Publish all messages at ``qos`` and wait until the broker acknowledged each."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    infos = []
    try:
        for topic, payload in messages:
            infos.append(client.publish(topic, payload, qos=qos))
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise TimeoutError(f"publish of mid {info.mid} not acknowledged in {timeout} s")
    finally:
        client.disconnect()
        client.loop_stop()
    return len(infos)


def wait_for(predicate, *, timeout: float = 120.0, interval: float = 0.2, what: str = "") -> None:
    """Poll ``predicate()`` until true; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
