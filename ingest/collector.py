"""The collector process: paho-mqtt network loop → bounded queue → batches → binary COPY.

Three threads, each doing one thing:

- paho's network thread receives messages and only enqueues them (bytes and ids);
- the batcher decodes, checks and groups them (:class:`ingest.batch.BatchBuilder`);
- the writer commits each batch (:class:`store.writer.ReadingWriter`) and only then
  acknowledges its messages (QoS 1 manual ack), so a crash makes the broker redeliver what
  was not committed, and the unique (point, time) key makes the redelivery change nothing.

Backpressure: when the database is slow or down the queue fills, ``on_message`` blocks, paho
stops reading the socket and the broker keeps the messages (the session is persistent).
The writer retries with backoff until the database is back.
"""

from __future__ import annotations

import collections
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg_pool import PoolTimeout

from ingest._paho import ack_qos1
from ingest.batch import Batch, BatchBuilder, Message, as_arrays
from ingest.formats import Decoder, default_routes, load_mappings
from ingest.metrics import Metrics
from jieneng.settings import Settings
from store import db, maintenance
from store.registry import PointDirectory
from store.writer import ReadingWriter

log = logging.getLogger(__name__)

_STOP = object()


def _now_us() -> int:
    return time.time_ns() // 1000


class Inbox:
    """Bounded FIFO from paho's network thread to the batcher, cheaper than queue.Queue.

    :meth:`put` blocks while ``maxsize`` items or ``max_bytes`` payload bytes wait
    (backpressure: paho then stops reading the socket); :meth:`take_all` returns everything
    waiting, or waits up to ``timeout`` seconds for something. Locks are only touched when
    one side has to wait.
    """

    def __init__(self, maxsize: int, max_bytes: int = 1 << 62) -> None:
        self._items: collections.deque[Any] = collections.deque()
        self._max = maxsize
        self._max_bytes = max_bytes
        # One writer each (paho's thread adds, the batcher subtracts): no lock needed.
        self._bytes_in = 0
        self._bytes_out = 0
        self._not_empty = threading.Event()
        self._not_full = threading.Event()
        self._not_full.set()

    def __len__(self) -> int:
        return len(self._items)

    def _full(self) -> bool:
        return len(self._items) >= self._max or self._bytes_in - self._bytes_out >= self._max_bytes

    def put(self, item: Any, size: int = 0) -> None:
        while self._full():
            self._not_full.clear()
            if self._full():
                self._not_full.wait(0.1)
        self._bytes_in += size
        self._items.append(item)
        if not self._not_empty.is_set():
            self._not_empty.set()

    def take_all(self, timeout: float) -> list[Any]:
        items = self._items
        if not items:
            self._not_empty.clear()
            if not items:
                self._not_empty.wait(timeout)
        out = []
        try:
            while True:
                out.append(items.popleft())
        except IndexError:
            pass
        self._bytes_out += sum([len(m.payload) for m in out if type(m) is Message])
        if out and not self._not_full.is_set():
            self._not_full.set()
        return out


class Collector:
    """Subscribe, decode, batch, write, acknowledge. Call :meth:`run` (blocks) and
    :meth:`stop` (from any thread or a signal handler)."""

    def __init__(self, settings: Settings, *, metrics: Metrics | None = None) -> None:
        self.settings = s = settings
        self.metrics = metrics or Metrics()
        routes = (load_mappings(s.mapping_file) if s.mapping_file else []) + default_routes(
            s.topic_prefix
        )
        self.decoder = Decoder(routes, naive_tz=s.service_tz, max_payload_bytes=s.max_payload_bytes)
        self.inbox = Inbox(s.queue_max_messages, s.queue_max_bytes)
        self.ready: queue.Queue[Any] = queue.Queue(maxsize=s.writers + 1)
        self.generation = 0
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self.pool = db.make_pool(
            s.database_url, application_name=f"jieneng-ingest:{s.client_id}", max_size=s.writers + 1
        )
        self.directory = PointDirectory(auto_register=s.auto_register)
        self.client = self._make_client()
        self.writer: ReadingWriter | None = None

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

    # --- pipeline ---------------------------------------------------------------------------
    def _with_db(self, what: str, fn: Callable[[psycopg.Connection], Any]) -> Any:
        """Run ``fn`` with a pooled connection, retrying with backoff until it succeeds."""
        delay = 0.2
        while True:
            try:
                with self.pool.connection() as conn:
                    return fn(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
                self.metrics.db_errors.inc()
                log.warning("%s failed (%s); retrying in %.1f s", what, str(exc).strip(), delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _resolve(self, keys: set[str], units: dict[str, str | None]) -> dict[str, Any]:
        return self._with_db("point lookup", lambda c: self.directory.resolve(c, keys, units))

    def _batcher(self) -> None:
        s = self.settings
        builder = BatchBuilder(
            self.decoder,
            self.directory.points,
            self._resolve,
            max_future_s=s.max_future_s,
            max_age_s=s.max_age_s,
        )
        deadline = 0.0

        def flush() -> None:
            self.metrics.messages.inc(builder.batch.messages)
            self.metrics.queue_depth.set(len(self.inbox))
            self.ready.put(builder.take())

        while True:
            timeout = max(0.0, deadline - time.monotonic()) if builder.batch.messages else 0.5
            for msg in self.inbox.take_all(timeout):
                if msg is _STOP:
                    if builder.batch.messages:
                        flush()
                    for _ in range(s.writers):
                        self.ready.put(_STOP)
                    return
                if not builder.batch.messages:
                    deadline = time.monotonic() + s.flush_interval_s
                builder.add(msg)
                b = builder.batch
                if len(b) >= s.batch_size or b.messages >= s.batch_size:
                    flush()
            if builder.batch.messages and time.monotonic() >= deadline:
                flush()

    def _write(self, batch: Batch) -> None:
        point_ids, times_us, values = as_arrays(batch)
        assert self.writer is not None
        writer = self.writer
        result = self._with_db(
            "write",
            lambda c: writer.write(c, point_ids, times_us, values, None, batch.dead_letters),
        )
        generation = self.generation
        # An older connection's packet ids mean nothing now: the broker resends those messages.
        ack_qos1(
            self.client, [mid for mid, qos, gen in batch.acks if qos == 1 and gen == generation]
        )
        m = self.metrics
        m.batches.inc()
        m.written.inc(result.inserted)
        m.duplicates.inc(result.duplicates)
        m.dead_letters.inc(result.dead_letters)
        for code, count in batch.rejected.items():
            m.rejected.labels(code).inc(count)
        lag = (_now_us() - batch.first_received_us) / 1e6
        m.commit_lag.set(lag)
        m.commit_lag_hist.observe(lag)

    def _writer_loop(self) -> None:
        while True:
            batch = self.ready.get()
            if batch is _STOP:
                return
            self._write(batch)

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
            except psycopg.Error as exc:
                log.warning("maintenance failed: %s", exc)

    def _log_loop(self) -> None:
        while not self._stopping.wait(self.settings.log_interval_s):
            self.metrics.queue_depth.set(len(self.inbox))
            log.info("counters", extra={"data": self.metrics.snapshot()})

    # --- lifecycle --------------------------------------------------------------------------
    def run(self, *, ready: threading.Event | None = None) -> None:
        """Run until :meth:`stop`; committed batches are acknowledged before returning."""
        s = self.settings
        self.pool.wait(timeout=60.0)
        with self.pool.connection() as conn:
            self.writer = ReadingWriter(db.backend(conn), collector=s.client_id)
            n = self.directory.load(conn)
        log.info(
            "starting collector",
            extra={
                "data": {
                    "client_id": s.client_id,
                    "broker": f"{s.broker_host}:{s.broker_port}",
                    "backend": self.writer.backend,
                    "points": n,
                    "share_group": s.share_group,
                }
            },
        )
        if s.metrics_port:
            self.metrics.serve(s.metrics_port, s.metrics_host)
        threads = [threading.Thread(target=self._batcher, name="batcher", daemon=True)]
        threads += [
            threading.Thread(target=self._writer_loop, name=f"writer-{i}", daemon=True)
            for i in range(s.writers)
        ]
        background = [
            threading.Thread(target=self._maintenance_loop, name="maintenance", daemon=True),
            threading.Thread(target=self._log_loop, name="log", daemon=True),
        ]
        for t in threads + background:
            t.start()
        props = None
        if s.mqtt_protocol == "5":
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = s.session_expiry_s
            props.ReceiveMaximum = 65535
        self.client.connect_async(
            s.broker_host,
            s.broker_port,
            keepalive=s.keepalive_s,
            clean_start=False if s.mqtt_protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self.client.loop_start()
        try:
            if ready is not None:
                self._connected.wait()
                ready.set()
            self._stopping.wait()
        finally:
            # Stop taking messages, commit and acknowledge what we hold, then leave.
            self.client.on_message = None
            self.inbox.put(_STOP)
            for t in threads:
                t.join()
            self.client.disconnect()
            self.client.loop_stop()
            self.pool.close()
            log.info("collector stopped", extra={"data": self.metrics.snapshot()})

    def stop(self) -> None:
        self._stopping.set()
