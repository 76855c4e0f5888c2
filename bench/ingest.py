"""Ingest benchmark: MQTT → collector → PostgreSQL, against bare baselines in the same run.

Every message is queued in the broker first (persistent sessions), so publishers are never
the limit; then each consumer drains the same messages and is timed from its first message
to its last committed row.

- ``batched_readings_per_s``: canonical batch payloads (200 readings each), one collector;
  ``batched_ratio_vs_copy``: against one bare binary COPY of the same rows into an
  identical table.
- ``single_msgs_per_s``: one reading per QoS 1 message; ``single_ratio_vs_paho``: against a
  bare paho subscriber (QoS 1, persistent session) that only counts the same messages.
- ``shared2_speedup``: two collectors on one MQTT 5 shared subscription vs one collector.
- ``peak_rss_mb``: peak resident memory of a collector process (VmHWM).

Run ``python bench/ingest.py --quick`` (under a minute). The last line is key=value figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jieneng.broker import start_mosquitto  # noqa: E402
from simulators.payloads import encode_canonical_batch, encode_canonical_single  # noqa: E402
from store import maintenance, migrate  # noqa: E402
from store.writer import COPY_SQL, copy_buffer  # noqa: E402
from tests.support import CollectorProcess, publish  # noqa: E402

POINTS = 1000


def make_db(admin: str, backend: str) -> str:
    name = f"jieneng_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(admin, dbname=name)
    migrate.migrate(url, timescaledb="on" if backend == "timescaledb" else "off")
    with psycopg.connect(url, autocommit=True) as conn:
        if backend == "postgres":
            now = dt.datetime.now(dt.UTC)
            maintenance.ensure_partitions(conn, now - dt.timedelta(days=60), now)
        conn.execute(
            "INSERT INTO points (key, kind, quantity, unit, cumulative)"
            " SELECT 'bench/m' || g || '/energy_kwh', 'meter', 'energy', 'kWh', true"
            " FROM generate_series(1, %s) g",
            (POINTS,),
        )
    return url


def drop_db(admin: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rows(n: int, start_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n readings: every point once a minute, registers rising with noise."""
    steps = n // POINTS
    pid = np.tile(np.arange(1, POINTS + 1, dtype=np.int32), steps)
    t = start_us + np.repeat(np.arange(steps, dtype=np.int64) * 60_000_000, POINTS)
    rng = np.random.default_rng(1)
    v = np.round(np.cumsum(rng.uniform(0, 2, size=n)), 3)
    return pid, t, v


def bare_copy(url: str, pid: np.ndarray, t: np.ndarray, v: np.ndarray) -> float:
    """Rows per second of one binary COPY of all rows into an empty readings table."""
    with psycopg.connect(url, autocommit=True) as conn:
        buf = copy_buffer(pid, t, v)
        t0 = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(COPY_SQL.format(table="readings")) as cp,
        ):
            cp.write(buf)
        elapsed = time.perf_counter() - t0
        conn.execute("TRUNCATE readings")
    return len(pid) / elapsed


def _publish_part(host: str, port: int, msgs: list[tuple[str, bytes]]) -> None:
    publish(host, port, msgs, timeout=600)


def prequeue(host: str, port: int, msgs: list[tuple[str, bytes]], procs: int = 2) -> None:
    """Publish with several processes (QoS 1, each acknowledged by the broker)."""
    ctx = mp.get_context("spawn")
    parts = [msgs[i::procs] for i in range(procs)]
    ps = [ctx.Process(target=_publish_part, args=(host, port, p)) for p in parts]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
        if p.exitcode:
            raise RuntimeError("publisher failed")


class Counter:
    """A bare paho subscriber: QoS 1, persistent session, counts messages, nothing else."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.host, self.port, self.topic = host, port, topic
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.done = threading.Event()
        self.target = 0
        self.client_id = f"bench-counter-{uuid.uuid4().hex[:6]}"

    def _client(self) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        c.on_message = self._on_message
        c.on_connect = lambda c, u, f, r, p: c.subscribe(self.topic, qos=1)
        return c

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if not self.count:
            self.first = time.perf_counter()
        self.count += 1
        if self.count >= self.target:
            self.last = time.perf_counter()
            self.done.set()

    def session(self, drain_target: int | None = None, timeout: float = 600) -> float:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = 65535
        self.target = drain_target or 1 << 62
        c = self._client()
        c.connect(self.host, self.port, clean_start=False, properties=props)
        c.loop_start()
        if drain_target is None:
            time.sleep(0.5)
            c.disconnect()
            c.loop_stop()
            return 0.0
        self.done.wait(timeout)
        c.disconnect()
        c.loop_stop()
        if self.count < drain_target:
            raise RuntimeError(f"counter got {self.count} of {drain_target}")
        return self.count / (self.last - self.first)


def drain(
    collectors: list[CollectorProcess], expected: int, timeout: float = 600
) -> tuple[float, float]:
    """Start collectors on pre-queued messages; return (readings/s, peak RSS MB)."""
    for c in collectors:
        c.start()
    first = None
    peak = 0.0
    deadline = time.monotonic() + timeout
    while True:
        m = [c.metrics() for c in collectors]
        now = time.perf_counter()
        if first is None and sum(x.get("jieneng_ingest_messages_received_total", 0) for x in m):
            first = now
        done = sum(
            x.get("jieneng_ingest_readings_written_total", 0)
            + x.get("jieneng_ingest_readings_duplicate_total", 0)
            for x in m
        )
        for c in collectors:
            assert c.proc is not None
            status = Path(f"/proc/{c.proc.pid}/status").read_text()
            hwm = [ln for ln in status.splitlines() if ln.startswith("VmHWM")]
            if hwm:
                peak = max(peak, int(hwm[0].split()[1]) / 1024)
        if done >= expected:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {expected} readings after {timeout} s")
        time.sleep(0.02)
    for c in collectors:
        assert c.proc is not None
        fields = Path(f"/proc/{c.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        print(f"  collector cpu {cpu:.2f} s for {expected} readings", file=sys.stderr)
        c.stop()
    assert first is not None
    return expected / max(now - first, 1e-9), peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run, under a minute")
    ap.add_argument(
        "--dsn",
        default=os.environ.get("JIENENG_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    ap.add_argument("--timescaledb", action="store_true", help="TimescaleDB storage path")
    args = ap.parse_args()
    backend = "timescaledb" if args.timescaledb else "postgres"
    n_batched = 200_000 if args.quick else 1_000_000
    n_single = 20_000 if args.quick else 100_000
    per_msg = 200
    start_us = (time.time_ns() // 1000 // 60_000_000 - (n_batched // POINTS) - 60) * 60_000_000
    work = Path(tempfile.mkdtemp(prefix="jieneng-bench-"))
    broker, port = start_mosquitto(work)
    host = "127.0.0.1"
    urls: list[str] = []
    try:
        pid, t, v = rows(n_batched, start_us)
        url = make_db(args.dsn, backend)
        urls.append(url)
        copy_rate = max(bare_copy(url, pid, t, v) for _ in range(2))
        print(f"bare binary COPY: {copy_rate:,.0f} rows/s", file=sys.stderr)

        # Batched payloads, one collector.
        keys = [f"bench/m{i}/energy_kwh" for i in range(1, POINTS + 1)]
        msgs = []
        for i in range(0, n_batched, per_msg):
            chunk = [
                (keys[pid[j] - 1], int(t[j]), float(v[j]), "kWh") for j in range(i, i + per_msg)
            ]
            msgs.append(encode_canonical_batch(chunk, prefix="bench", time_format="epoch_ms"))
        one = CollectorProcess(
            work,
            database_url=url,
            broker_url=f"mqtt://{host}:{port}",
            prefix="bench",
            auto_register="false",
        )
        one.start()
        one.stop()
        prequeue(host, port, msgs)
        batched_rate, rss = drain([one], n_batched)
        print(
            f"collector, batched: {batched_rate:,.0f} readings/s, peak RSS {rss:.0f} MB",
            file=sys.stderr,
        )

        # Two collectors sharing one subscription, same amount of fresh rows.
        url2 = make_db(args.dsn, backend)
        urls.append(url2)
        pair = [
            CollectorProcess(
                work,
                database_url=url2,
                broker_url=f"mqtt://{host}:{port}",
                prefix="bench",
                share_group="bench",
                auto_register="false",
            )
            for _ in range(2)
        ]
        for c in pair:
            c.start()
            c.stop()
        prequeue(host, port, msgs)
        shared_rate, rss2 = drain(pair, n_batched)
        print(f"2 collectors, shared subscription: {shared_rate:,.0f} readings/s", file=sys.stderr)
        # The single collector's session also got these messages: let it drain them (dups).
        drain([one], n_batched)

        # Single-reading messages: bare paho counter vs collector, same queued messages.
        url3 = make_db(args.dsn, backend)
        urls.append(url3)
        t1 = start_us + (np.arange(n_single, dtype=np.int64) // POINTS) * 60_000_000
        singles = [
            encode_canonical_single(
                keys[i % POINTS],
                int(t1[i]),
                float(i),
                "kWh",
                prefix="single",
                time_format="epoch_ms",
            )
            for i in range(n_single)
        ]
        counter = Counter(host, port, "single/readings/#")
        counter.session()
        solo = CollectorProcess(
            work,
            database_url=url3,
            broker_url=f"mqtt://{host}:{port}",
            prefix="single",
            auto_register="false",
        )
        solo.start()
        solo.stop()
        prequeue(host, port, singles, procs=2)
        paho_rate = counter.session(drain_target=n_single)
        single_rate, _ = drain([solo], n_single)
        print(
            f"single messages: paho {paho_rate:,.0f} msg/s, collector {single_rate:,.0f} msg/s",
            file=sys.stderr,
        )
    finally:
        broker.terminate()
        broker.wait(10)
        for u in urls:
            drop_db(args.dsn, u)
    figures = {
        "backend": backend,
        "copy_rows_per_s": round(copy_rate),
        "batched_readings_per_s": round(batched_rate),
        "batched_ratio_vs_copy": round(batched_rate / copy_rate, 3),
        "paho_msgs_per_s": round(paho_rate),
        "single_msgs_per_s": round(single_rate),
        "single_ratio_vs_paho": round(single_rate / paho_rate, 3),
        "shared2_speedup": round(shared_rate / batched_rate, 3),
        "peak_rss_mb": round(max(rss, rss2), 1),
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
