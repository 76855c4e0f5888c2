"""Ingest benchmark: MQTT → collector → PostgreSQL, against bare baselines in the same run.

Every message is queued in the broker first (persistent sessions), so publishers are never
the limit; then each consumer drains the same messages and is timed from its first message
to its last committed row.

- ``batched_readings_per_s``: canonical columnar batches (200 readings per message, the
  shape recommended for gateways), one collector; ``batched_ratio_vs_copy``: against one
  bare binary COPY of the same rows into an identical, empty table, same run.
  ``batched_items_*``: the same rows as one JSON object per reading.
  ``collector_cpu_us_per_reading``: collector process CPU time per reading while draining.
- ``single_msgs_per_s``: one reading per QoS 1 message; ``single_ratio_vs_paho``: against a
  bare paho subscriber (QoS 1, persistent session) that only counts the same messages.
- ``shared2_speedup``: two collectors on one MQTT 5 shared subscription vs one collector.
- ``peak_rss_mb``: peak resident memory of a collector (its processes, VmHWM added up).

The machine's speed drifts by tens of percent over minutes, so each of ``--rounds`` rounds
(3; 1 with ``--quick``) measures a baseline and then the collector on the same work, each after
a ``CHECKPOINT``; the figures are medians over rounds, ratios taken within each round.

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
from dataclasses import dataclass
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
from simulators.payloads import (  # noqa: E402
    encode_canonical_batch,
    encode_canonical_columns,
    encode_canonical_single,
)
from store import maintenance, migrate  # noqa: E402
from store.writer import COPY_SQL, copy_buffer  # noqa: E402
from tests.support import CollectorProcess, publish  # noqa: E402

POINTS = 1000
PER_MESSAGE = 200


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
    for i in range(0, len(msgs), 10_000):  # a fresh client per 10,000 keeps paho's queues short
        publish(host, port, msgs[i : i + 10_000], timeout=600)


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


def _family(pid: int) -> list[int]:
    """The process and its children (the collector's worker process)."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return [pid, *kids]


def _cpu_s(pid: int) -> float:
    """CPU seconds used by a process and its children so far."""
    total = 0.0
    for p in _family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _hwm_mb(pid: int) -> float:
    """Peak resident memory of a process and its children, added up."""
    total = 0.0
    for p in _family(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                total += int(line.split()[1]) / 1024
    return total


@dataclass
class Drain:
    readings_per_s: float
    cpu_us_per_reading: float
    peak_rss_mb: float


def drain(collectors: list[CollectorProcess], expected: int, timeout: float = 600) -> Drain:
    """Start collectors on pre-queued messages and time them from the first message received
    to the last reading committed. Metrics are polled every 20 ms until the first message,
    then every 0.5 s (a scrape costs the collector CPU); the end is the collectors' own
    last-commit timestamp."""
    for c in collectors:
        c.start()
    pids = [c.proc.pid for c in collectors if c.proc is not None]
    cpu0 = sum(_cpu_s(p) for p in pids)
    first = None
    deadline = time.monotonic() + timeout
    while True:
        m = [c.metrics() for c in collectors]
        if first is None and sum(x.get("jieneng_ingest_messages_received_total", 0) for x in m):
            first = time.time()
        done = sum(
            x.get("jieneng_ingest_readings_written_total", 0)
            + x.get("jieneng_ingest_readings_duplicate_total", 0)
            for x in m
        )
        if done >= expected:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {expected} readings after {timeout} s")
        time.sleep(0.02 if first is None else 0.5)
    last = max(x["jieneng_ingest_last_commit_timestamp_seconds"] for x in m)
    cpu = sum(_cpu_s(p) for p in pids) - cpu0
    peak = max(_hwm_mb(p) for p in pids)
    for c in collectors:
        c.stop()
    assert first is not None
    return Drain(expected / max(last - first, 1e-9), cpu / expected * 1e6, peak)


def batched_messages(
    pid: np.ndarray, t: np.ndarray, v: np.ndarray, prefix: str, shape: str
) -> list[tuple[str, bytes]]:
    """200 readings per message, as items (one object per reading) or as columns."""
    encode = encode_canonical_columns if shape == "columns" else encode_canonical_batch
    keys = [f"bench/m{i}/energy_kwh" for i in range(1, POINTS + 1)]
    out = []
    for i in range(0, len(pid), PER_MESSAGE):
        chunk = [
            (keys[pid[j] - 1], int(t[j]), float(v[j]), "kWh") for j in range(i, i + PER_MESSAGE)
        ]
        out.append(encode(chunk, prefix=prefix, time_format="epoch_ms"))
    return out


def checkpoint(admin: str) -> None:
    """Flush dirty pages now, so that no measurement pays for the previous one's checkpoint."""
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        say("(no CHECKPOINT privilege: measurements may overlap checkpoints)")


def median(xs: list[float]) -> float:
    return float(np.median(xs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run, under a minute")
    ap.add_argument(
        "--dsn",
        default=os.environ.get("JIENENG_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    ap.add_argument("--timescaledb", action="store_true", help="TimescaleDB storage path")
    ap.add_argument(
        "--rounds", type=int, default=None, help="paired measurements (default 3; 1 with --quick)"
    )
    args = ap.parse_args()
    backend = "timescaledb" if args.timescaledb else "postgres"
    rounds = args.rounds or (1 if args.quick else 3)
    n_batched = 500_000 if args.quick else 2_000_000
    n_single = 40_000 if args.quick else 200_000
    start_us = (time.time_ns() // 1000 // 60_000_000 - (n_batched // POINTS) - 60) * 60_000_000
    work = Path(tempfile.mkdtemp(prefix="jieneng-bench-"))
    broker, port = start_mosquitto(work)
    host = "127.0.0.1"
    broker_url = f"mqtt://{host}:{port}"
    urls: list[str] = []

    def fresh_db() -> str:
        urls.append(make_db(args.dsn, backend))
        return urls[-1]

    def collector(url: str, prefix: str, **kw: object) -> CollectorProcess:
        c = CollectorProcess(
            work,
            database_url=url,
            broker_url=broker_url,
            prefix=prefix,
            auto_register="false",
            **kw,
        )
        c.start()  # creates the persistent session and its subscriptions
        c.stop()
        return c

    def batched_drain(prefix: str, shape: str, count: int = 1, **kw: object) -> Drain:
        url = fresh_db()
        consumers = [collector(url, prefix, **kw) for _ in range(count)]
        prequeue(host, port, batched_messages(pid, t, v, prefix, shape))
        checkpoint(args.dsn)
        return drain(consumers, n_batched)

    keys = [f"bench/m{i}/energy_kwh" for i in range(1, POINTS + 1)]
    t1 = start_us + (np.arange(n_single, dtype=np.int64) // POINTS) * 60_000_000

    def singles(prefix: str) -> list[tuple[str, bytes]]:
        return [
            encode_canonical_single(
                keys[i % POINTS], int(t1[i]), float(i), "kWh", prefix=prefix, time_format="epoch_ms"
            )
            for i in range(n_single)
        ]

    copies: list[float] = []
    columns: list[Drain] = []
    pahos: list[float] = []
    solos: list[Drain] = []
    try:
        pid, t, v = rows(n_batched, start_us)
        # Each round pairs a baseline with the collector right after it: the machine's speed
        # drifts by tens of percent over minutes, so ratios are taken within a round.
        for r in range(rounds):
            url = fresh_db()
            checkpoint(args.dsn)
            copies.append(bare_copy(url, pid, t, v))
            columns.append(batched_drain(f"bcol{r}", "columns"))
            d = columns[-1]
            say(
                f"round {r + 1}: bare binary COPY {copies[-1]:,.0f} rows/s; collector, columnar"
                f" batches {d.readings_per_s:,.0f} readings/s"
                f" ({d.readings_per_s / copies[-1]:.2f}), {d.cpu_us_per_reading:.2f} µs"
                f" CPU/reading, peak RSS {d.peak_rss_mb:.0f} MB"
            )
            # Single-reading messages: bare paho counter vs collector, same queued messages.
            counter = Counter(host, port, f"single{r}/readings/#")
            counter.session()
            solo = collector(fresh_db(), f"single{r}")
            prequeue(host, port, singles(f"single{r}"), procs=2)
            pahos.append(counter.session(drain_target=n_single))
            solos.append(drain([solo], n_single))
            say(
                f"round {r + 1}: single messages: paho {pahos[-1]:,.0f} msg/s, collector"
                f" {solos[-1].readings_per_s:,.0f} msg/s"
                f" ({solos[-1].readings_per_s / pahos[-1]:.2f})"
            )
        items = batched_drain("bitems", "items")
        say(f"collector, batched items: {items.readings_per_s:,.0f} readings/s")
        # Two collectors sharing one subscription (columns), same rows into a fresh database.
        shared = batched_drain("bshare", "columns", count=2, share_group="bench")
        say(f"2 collectors, shared subscription: {shared.readings_per_s:,.0f} readings/s")
    finally:
        broker.terminate()
        broker.wait(10)
        for u in urls:
            drop_db(args.dsn, u)
    col_rate = median([d.readings_per_s for d in columns])
    copy_rate = median(copies)
    figures = {
        "backend": backend,
        "rounds": rounds,
        "copy_rows_per_s": round(copy_rate),
        "batched_readings_per_s": round(col_rate),
        "batched_ratio_vs_copy": round(
            median([d.readings_per_s / c for d, c in zip(columns, copies, strict=True)]), 3
        ),
        "batched_items_readings_per_s": round(items.readings_per_s),
        "batched_items_ratio_vs_copy": round(items.readings_per_s / copy_rate, 3),
        "collector_cpu_us_per_reading": round(median([d.cpu_us_per_reading for d in columns]), 2),
        "paho_msgs_per_s": round(median(pahos)),
        "single_msgs_per_s": round(median([d.readings_per_s for d in solos])),
        "single_ratio_vs_paho": round(
            median([d.readings_per_s / p for d, p in zip(solos, pahos, strict=True)]), 3
        ),
        "shared2_speedup": round(shared.readings_per_s / col_rate, 3),
        "peak_rss_mb": round(max(d.peak_rss_mb for d in (*columns, items, shared, *solos)), 1),
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
