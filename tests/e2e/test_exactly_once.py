"""End to end through the real broker and database: every reading lands exactly once.

MQTT publish (QoS 1) → Mosquitto → ``jieneng ingest`` (a child process) → PostgreSQL or
TimescaleDB. Each test uses its own topic prefix and point keys in a database of the module.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

from ingest.model import REJECTION_CODES
from tests.e2e.mixed import Key, Stream, mixed_stream
from tests.fix_db import Database
from tests.fix_mqtt import Broker
from tests.ingest.hostile import hostile_payloads
from tests.support import CollectorProcess, publish, wait_for

pytestmark = pytest.mark.slow


def stored(db: Database, tag: str) -> dict[Key, float]:
    """Rows of points whose key starts with ``tag``, as {(key, µs): value}."""
    with psycopg.connect(db.url) as conn:
        rows = conn.execute(
            "SELECT point_key, (extract(epoch FROM time) * 1000000)::bigint, value"
            " FROM v_readings WHERE starts_with(point_key, %s)",
            (tag,),
        ).fetchall()
    out = {(k, t): v for k, t, v in rows}
    assert len(out) == len(rows)
    return out


def count(db: Database, tag: str) -> int:
    return int(
        db.scalar(  # type: ignore[arg-type]
            "SELECT count(*) FROM readings r JOIN points p ON p.id = r.point_id"
            " WHERE starts_with(p.key, %s)",
            (tag,),
        )
    )


def terminate_backends(db: Database, application_name: str) -> int:
    """pg_terminate_backend on the database's sessions of that application; how many."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE %s",
            (application_name,),
        ).fetchone()
    return int(row[0]) if row else 0


def settle(db: Database, tag: str, expected: int, *, timeout: float = 180.0) -> None:
    """Wait until ``expected`` rows are stored, then check that no more arrive."""
    wait_for(lambda: count(db, tag) >= expected, timeout=timeout, what=f"{expected} rows")
    time.sleep(1.0)


def make_tag() -> str:
    return f"e{uuid.uuid4().hex[:8]}"


def collector(
    tmp_path: Path, database: Database, broker: Broker, tag: str, **kw: object
) -> CollectorProcess:
    return CollectorProcess(
        tmp_path, database_url=database.url, broker_url=broker.url, prefix=tag, **kw
    )


@pytest.mark.parametrize("workers", [1, 2, 0], ids=["1-worker", "2-workers", "1-process"])
def test_mixed_formats_100k_then_republish(
    tmp_path: Path, database: Database, broker: Broker, workers: int
) -> None:
    tag = make_tag()
    stream = mixed_stream(tag)
    assert sum(stream.readings) == len(stream.expected) == 100_000
    proc = collector(tmp_path, database, broker, tag, workers=workers).start()
    try:
        publish(broker.host, broker.port, stream.messages)
        settle(database, tag, 100_000)
        assert stored(database, tag) == stream.expected  # values and times, after conversion

        # Re-publish messages holding 10,000 readings: nothing changes, all counted duplicate.
        again, n = [], 0
        for message, k in zip(stream.messages, stream.readings, strict=True):
            if n + k <= 10_000:
                again.append(message)
                n += k
        assert n == 10_000
        before = proc.metrics()["jieneng_ingest_readings_duplicate_total"]
        publish(broker.host, broker.port, again)
        wait_for(
            lambda: proc.metrics()["jieneng_ingest_readings_duplicate_total"] >= before + 10_000,
            timeout=60,
            what="10,000 duplicates",
        )
        assert count(database, tag) == 100_000
        m = proc.metrics()
        assert m["jieneng_ingest_readings_written_total"] == 100_000
        assert m["jieneng_ingest_readings_duplicate_total"] == 10_000
        assert m.get("jieneng_ingest_dead_letters_total", 0) == 0
    finally:
        assert proc.stop() == 0, proc.log()


def _publish_slowly(broker: Broker, stream: Stream, seconds: float, done: threading.Event) -> None:
    chunks = 20
    size = -(-len(stream.messages) // chunks)
    for i in range(chunks):
        publish(broker.host, broker.port, stream.messages[i * size : (i + 1) * size])
        time.sleep(seconds / chunks)
    done.set()


def test_kill_9_three_times_mid_stream(tmp_path: Path, database: Database, broker: Broker) -> None:
    tag = make_tag()
    stream = mixed_stream(tag, scale=1)
    proc = collector(tmp_path, database, broker, tag, batch_size=2000).start()
    done = threading.Event()
    publisher = threading.Thread(target=_publish_slowly, args=(broker, stream, 6.0, done))
    publisher.start()
    progress = []
    try:
        for kill in range(1, 4):
            # Kill while rows are arriving (neither before the first nor after the last).
            wait_for(
                lambda k=kill: count(database, tag) > k * 10_000,
                timeout=60,
                interval=0.05,
                what="rows to arrive",
            )
            progress.append(count(database, tag))
            proc.kill()
            proc.start()
        publisher.join()
        assert progress[-1] < 100_000, "the stream ended before the third kill"
        settle(database, tag, 100_000)
        got = stored(database, tag)
        assert len(got) == 100_000  # 0 lost; 0 doubled is the unique (point, time) key's job
        assert got == stream.expected
    finally:
        done.wait(60)
        assert proc.stop() == 0, proc.log()


def test_database_connections_terminated_mid_stream(
    tmp_path: Path, database: Database, broker: Broker
) -> None:
    tag = make_tag()
    stream = mixed_stream(tag)
    proc = collector(tmp_path, database, broker, tag, batch_size=2000).start()
    done = threading.Event()
    publisher = threading.Thread(target=_publish_slowly, args=(broker, stream, 6.0, done))
    publisher.start()
    try:
        for target in (15_000, 45_000):
            wait_for(
                lambda t=target: count(database, tag) > t,
                timeout=60,
                interval=0.05,
                what="rows to arrive",
            )
            # Its pool may be between connections at this instant: try until one is cut.
            wait_for(
                lambda: terminate_backends(database, f"jieneng-ingest:{proc.client_id}%") >= 1,
                timeout=10,
                interval=0.05,
                what="a collector connection to terminate",
            )
        publisher.join()
        settle(database, tag, 100_000)
        assert stored(database, tag) == stream.expected
        assert proc.proc is not None and proc.proc.poll() is None  # recovered by itself
        assert proc.metrics()["jieneng_ingest_db_errors_total"] >= 1
    finally:
        done.wait(60)
        assert proc.stop() == 0, proc.log()


def test_hostile_payloads_go_to_dead_letters(
    tmp_path: Path, database: Database, broker: Broker
) -> None:
    tag = make_tag()
    payloads: list[tuple[str, bytes]] = []

    @settings(
        max_examples=1200, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(hostile_payloads(tag, max_payload_bytes=4096, unknown_topics=False))
    def collect(message: tuple[str, bytes]) -> None:
        payloads.append(message)

    collect()
    unique = list(dict.fromkeys(payloads))
    assert len(unique) >= 1000
    stream = mixed_stream(tag)
    good = [m for m in stream.messages if len(m[1]) < 4096][:200]  # valid ones among them
    proc = collector(tmp_path, database, broker, tag, max_payload_bytes=4096).start()
    try:
        publish(broker.host, broker.port, good[:100] + unique + good[100:])
        wait_for(
            lambda: proc.metrics().get("jieneng_ingest_dead_letters_total", 0) >= len(unique),
            timeout=120,
            what="dead letters",
        )
        with psycopg.connect(database.url) as conn:
            rows = conn.execute(
                "SELECT topic, payload, reason, errors FROM dead_letters WHERE digest = ANY(%s)",
                ([hashlib.sha256(t.encode() + b"\0" + p).digest() for t, p in unique],),
            ).fetchall()
        assert len(rows) == len(unique)  # each one kept, with its bytes
        assert {(t, bytes(p)) for t, p, _, _ in rows} == set(unique)
        for _, _, reason, errors in rows:
            assert reason and errors
            for e in errors:
                assert e["code"] in REJECTION_CODES and e["field"] and e["reason"]
                assert "internal decoder error" not in e["reason"]
        settle(database, tag, len(good))  # the valid messages around them were stored
        assert count(database, tag) == len(good)
        assert proc.proc is not None and proc.proc.poll() is None
    finally:
        assert proc.stop() == 0, proc.log()


def test_worker_process_death_stops_the_collector_and_nothing_is_lost(
    tmp_path: Path, database: Database, broker: Broker
) -> None:
    """kill -9 of one of two decoding/writing workers: the collector exits non-zero (its
    supervisor restarts it) and the broker redelivers what was not committed."""
    tag = make_tag()
    stream = mixed_stream(tag)
    proc = collector(tmp_path, database, broker, tag, workers=2).start()
    done = threading.Event()
    publisher = threading.Thread(target=_publish_slowly, args=(broker, stream, 4.0, done))
    publisher.start()
    try:
        wait_for(
            lambda: count(database, tag) > 20_000, timeout=60, interval=0.05, what="rows to arrive"
        )
        assert proc.proc is not None
        children = Path(f"/proc/{proc.proc.pid}/task/{proc.proc.pid}/children").read_text()
        workers = [
            int(p)
            for p in children.split()
            if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        assert proc.proc.wait(30) == 1
        proc.start()
        publisher.join()
        settle(database, tag, 100_000)
        assert stored(database, tag) == stream.expected
    finally:
        done.wait(60)
        assert proc.stop() == 0, proc.log()
