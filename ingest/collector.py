"""The collector: paho-mqtt network loop → bounded queue → batches → binary COPY.

- paho's network thread receives messages and only enqueues them (bytes and ids);
- a :class:`ingest.pipeline.Pipeline` decodes, checks and groups them, and commits each
  batch with binary COPY; by default it runs in worker processes (:mod:`ingest.worker`,
  ``JIENENG_WORKERS``), so that paho's thread has a core of its own and decoding is not
  limited to one interpreter lock;
- after each commit the batch's messages are acknowledged (QoS 1 manual ack, one write for
  the whole batch), so a crash makes the broker redeliver what was not committed, and the
  unique (time, point) key makes the redelivery change nothing.

Backpressure: when the database is slow or down the queue fills, ``on_message`` blocks, paho
stops reading the socket and the broker keeps the messages (the session is persistent).
The pipeline retries the database with backoff until it is back.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import ssl
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import ingest.worker
from ingest._paho import ack_qos1
from ingest.batch import Message
from ingest.inbox import Inbox
from ingest.metrics import Metrics
from ingest.pipeline import STOP, Committed, Pipeline, make_decoder
from jieneng.settings import Settings
from store import db, maintenance

log = logging.getLogger(__name__)


#: How long a stopping collector waits for its last commits before giving up on them
#: (they were not acknowledged, so the broker redelivers them).
SHUTDOWN_S = 30.0


def _now_us() -> int:
    return time.time_ns() // 1000


class Collector:
    """Subscribe, decode, batch, write, acknowledge. Call :meth:`run` (blocks) and
    :meth:`stop` (from any thread or a signal handler)."""

    def __init__(self, settings: Settings, *, metrics: Metrics | None = None) -> None:
        self.settings = s = settings
        self.metrics = metrics or Metrics()
        self.decoder = make_decoder(s)  # validates routes and mappings before anything starts
        self.inbox = Inbox(s.queue_max_messages, s.queue_max_bytes)
        self.generation = 0
        self.failed = False
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self.client = self._make_client()

    # --- broker -----------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.mqtt_protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if s.broker_username:
            password = s.broker_password.get_secret_value() if s.broker_password else None
            client.username_pw_set(s.broker_username, password)
        if s.broker_tls:
            client.tls_set(
                ca_certs=str(s.tls_ca_file) if s.tls_ca_file else None,
                certfile=str(s.tls_cert_file) if s.tls_cert_file else None,
                keyfile=str(s.tls_key_file) if s.tls_key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            client.tls_insecure_set(s.tls_insecure)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self.generation += 1
        self.metrics.reconnects.inc()
        self.metrics.connected.set(1)
        filters = self.decoder.subscriptions()
        group = self.settings.share_group
        subs = [(f"$share/{group}/{f}" if group else f, 1) for f in filters]
        client.subscribe(subs)
        self._connected.set()
        log.info(
            "connected to broker",
            extra={
                "data": {
                    "session_present": bool(getattr(flags, "session_present", False)),
                    "subscriptions": [t for t, _ in subs],
                    "generation": self.generation,
                }
            },
        )

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self.generation += 1  # packet ids of the lost connection must not be acknowledged
        self.metrics.connected.set(0)
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("disconnected from broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = msg._topic.decode("utf-8", "replace")  # noqa: SLF001 (no public raw topic)
        # Blocks when the queue is full: that is the backpressure.
        payload = msg.payload
        self.inbox.put(
            Message(topic, payload, _now_us(), msg.mid, msg.qos, self.generation, bool(msg.dup)),
            len(payload),
        )

    # --- acknowledgement -------------------------------------------------------------------
    def _committed(self, c: Committed) -> None:
        """A batch is committed: acknowledge its messages and count what it did."""
        generation = self.generation
        # An older connection's packet ids mean nothing now: the broker resends those messages.
        ack_qos1(self.client, [mid for mid, qos, gen in c.acks if qos == 1 and gen == generation])
        m = self.metrics
        m.batches.inc()
        m.written.inc(c.inserted)
        m.duplicates.inc(c.duplicates)
        m.dead_letters.inc(c.dead_letters)
        for code, count in c.rejected.items():
            m.rejected.labels(code).inc(count)
        now_us = _now_us()
        lag = (now_us - c.first_received_us) / 1e6
        m.last_commit.set(now_us / 1e6)
        m.commit_lag.set(lag)
        m.commit_lag_hist.observe(lag)

    def _take(self, timeout: float, limit: int = 1 << 62) -> list[Any]:
        """Messages from the inbox, counted as received (the sentinel is not a message)."""
        items = self.inbox.take_all(timeout, limit)
        if items:
            self.metrics.messages.inc(len(items) - (STOP in items))
        return items

    def _ship(self, pipes: list[Connection]) -> None:
        """Worker mode: send queued messages to the worker processes in lists, in turn."""
        turn = 0
        while True:
            items = self._take(0.5, limit=500)
            if not items:
                continue
            stop = STOP in items
            if stop:  # a message paho was still handing over may follow the sentinel: unacked
                items = items[: items.index(STOP) + 1]
            try:
                pipes[turn].send(items)
                if stop:
                    for other in pipes:
                        if other is not pipes[turn]:
                            other.send([STOP])
            except OSError:  # a worker is gone; _results stops the collector
                return
            if stop:
                return
            turn = (turn + 1) % len(pipes)
            if len(items) < 500:
                # A trickle: let messages gather for a moment rather than wake and pickle
                # for each one (that costs paho's thread the interpreter lock).
                time.sleep(0.002)

    def _results(self, results: Connection, started: threading.Event) -> None:
        """Worker mode: acknowledge what a worker committed; notice when it is gone."""
        while True:
            try:
                item = results.recv()
            except (EOFError, OSError):
                break
            if isinstance(item, Committed):
                self._committed(item)
            elif item == "db_error":
                self.metrics.db_errors.inc()
            elif item == "ready":
                started.set()
            elif isinstance(item, tuple) and item[0] == "fatal":
                log.error("the worker process failed: %s", item[1])
        if not self._stopping.is_set():
            self._fail("a worker process ended unexpectedly")

    def _fail(self, why: str) -> None:
        log.error("%s; stopping (exit code 1)", why)
        self.failed = True
        self._stopping.set()

    def _maintenance_loop(self) -> None:
        s = self.settings
        while not self._stopping.wait(s.maintenance_interval_s):
            try:
                with db.connect(
                    s.database_url, application_name="jieneng-maintenance", autocommit=True
                ) as conn:
                    maintenance.run(
                        conn,
                        partitions_ahead_months=s.partitions_ahead_months,
                        retention_days=s.retention_days,
                    )
            except Exception:  # keep the upkeep going; say why it failed
                log.exception("maintenance failed")

    def _log_loop(self) -> None:
        while not self._stopping.wait(self.settings.log_interval_s):
            self.metrics.queue_depth.set(len(self.inbox))
            log.info("counters", extra={"data": self.metrics.snapshot()})

    # --- lifecycle --------------------------------------------------------------------------
    def _start_pipeline(self) -> tuple[list[threading.Thread], Callable[[], None]]:
        """Start decoding and writing (in worker processes by default); return the threads to
        join on stop and a function that waits for the rest."""
        s = self.settings
        if not s.workers:
            pipeline = Pipeline(
                s,
                self._take,
                self._committed,
                db_error=self.metrics.db_errors.inc,
                fatal=lambda why: self._fail(f"the ingest pipeline failed: {why}"),
            )
            pipeline.start()

            def join_threads() -> None:
                deadline = time.monotonic() + SHUTDOWN_S
                for t in pipeline.threads:  # daemon threads: abandoned after the deadline
                    t.join(max(0.0, deadline - time.monotonic()))
                pipeline.pool.close()

            return [], join_threads
        ctx = mp.get_context("spawn")
        workers: list[tuple[Any, threading.Event]] = []
        pipes: list[Connection] = []
        results: list[threading.Thread] = []
        for i in range(s.workers):
            msg_recv, msg_send = ctx.Pipe(duplex=False)
            res_recv, res_send = ctx.Pipe(duplex=False)
            worker = ctx.Process(
                target=ingest.worker.run,
                args=(s, msg_recv, res_send),
                name=f"jieneng-ingest-worker-{i}",
            )
            worker.start()
            msg_recv.close()
            res_send.close()
            ready = threading.Event()
            thread = threading.Thread(
                target=self._results, args=(res_recv, ready), name=f"results-{i}", daemon=True
            )
            thread.start()
            workers.append((worker, ready))
            pipes.append(msg_send)
            results.append(thread)
        for i, (worker, ready) in enumerate(workers):
            while not ready.wait(0.1):
                if not worker.is_alive():
                    raise RuntimeError(f"worker process {i} exited with code {worker.exitcode}")
        shipper = threading.Thread(target=self._ship, args=(pipes,), name="ship", daemon=True)
        shipper.start()

        def finish() -> None:
            deadline = time.monotonic() + SHUTDOWN_S
            for thread in results:
                thread.join(max(0.0, deadline - time.monotonic()))
            for worker, _ in workers:
                worker.join(max(0.0, deadline - time.monotonic()))
                if worker.is_alive():  # e.g. still retrying a database that is down
                    log.warning("worker still busy after %.0f s; terminating it", SHUTDOWN_S)
                    worker.terminate()
                    worker.join(10)

        return [shipper], finish

    def run(self, *, ready: threading.Event | None = None) -> None:
        """Run until :meth:`stop`; committed batches are acknowledged before returning."""
        s = self.settings
        log.info(
            "starting collector",
            extra={
                "data": {
                    "client_id": s.client_id,
                    "broker": f"{s.broker_host}:{s.broker_port}",
                    "share_group": s.share_group,
                    "workers": s.workers,
                }
            },
        )
        if s.metrics_port:
            self.metrics.serve(s.metrics_port, s.metrics_host)
        threads, finish = self._start_pipeline()
        for target, name in ((self._maintenance_loop, "maintenance"), (self._log_loop, "log")):
            threading.Thread(target=target, name=name, daemon=True).start()
        props = None
        if s.mqtt_protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            props.ReceiveMaximum = 65535
        try:
            self.client.connect_async(
                s.broker_host,
                s.broker_port,
                keepalive=s.keepalive_s,
                clean_start=False if s.mqtt_protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                properties=props,
            )
            self.client.loop_start()
            if ready is not None:
                self._connected.wait()
                ready.set()
            self._stopping.wait()
        finally:
            # Stop taking messages, commit and acknowledge what we hold, then leave.
            self.client.on_message = None
            self.inbox.put(STOP, force=True)
            for t in threads:
                t.join(SHUTDOWN_S)
            finish()
            self.inbox.close()  # paho's thread may wait in put(): let it go
            self.client.disconnect()
            self.client.loop_stop()
            log.info("collector stopped", extra={"data": self.metrics.snapshot()})

    def stop(self) -> None:
        self._stopping.set()
