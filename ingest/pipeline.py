"""Decode, batch, write: the part of the collector that does not touch the broker.

A :class:`Pipeline` takes messages from a ``take`` callable (the in-process queue, or a pipe
from the receiving process), groups them (:class:`ingest.batch.BatchBuilder`), commits each
batch with one of ``writers`` connections (:class:`store.writer.ReadingWriter`) and then hands
a :class:`Committed` record to ``committed``, which acknowledges the messages.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from ingest.batch import Batch, BatchBuilder, as_arrays
from ingest.formats import Decoder, default_routes, load_mappings
from jieneng.settings import Settings
from store import db
from store.registry import PointDirectory
from store.writer import ReadingWriter

log = logging.getLogger(__name__)

#: Put into the message source to make the pipeline flush, commit and stop.
STOP = "stop"


@dataclass(slots=True)
class Committed:
    """What one committed batch did (sent back to the receiving process in split mode)."""

    acks: list[tuple[int, int, int]]  # (mid, qos, connection generation)
    inserted: int
    duplicates: int
    dead_letters: int
    rejected: dict[str, int] = field(default_factory=dict)
    first_received_us: int = 0


def make_decoder(s: Settings) -> Decoder:
    routes = (load_mappings(s.mapping_file) if s.mapping_file else []) + default_routes(
        s.topic_prefix
    )
    return Decoder(routes, naive_tz=s.service_tz, max_payload_bytes=s.max_payload_bytes)


class Pipeline:
    """Batcher thread + writer threads over one database pool.

    Parameters
    ----------
    take : callable
        ``take(timeout)`` returns a list of :class:`Message` (possibly empty after
        ``timeout`` seconds); a :data:`STOP` item ends the pipeline after a last commit.
    committed : callable
        Called from a writer thread with each :class:`Committed` batch, after its commit.
    db_error : callable
        Called on each failed database attempt (the attempt is retried with backoff).
    """

    def __init__(
        self,
        settings: Settings,
        take: Callable[[float], list[Any]],
        committed: Callable[[Committed], None],
        *,
        db_error: Callable[[], None] = lambda: None,
        fatal: Callable[[str], None] = lambda why: None,
    ) -> None:
        self.settings = s = settings
        self.take = take
        self.committed = committed
        self.db_error = db_error
        self.fatal = fatal
        self.decoder = make_decoder(s)
        self.ready: queue.Queue[Any] = queue.Queue(maxsize=s.writers + 1)
        self.pool = db.make_pool(
            s.database_url, application_name=f"jieneng-ingest:{s.client_id}", max_size=s.writers + 1
        )
        self.directory = PointDirectory(auto_register=s.auto_register)
        self.writer: ReadingWriter | None = None
        self.threads: list[threading.Thread] = []

    def start(self) -> str:
        """Connect, load the point cache and start the threads; return the storage path."""
        self.pool.wait(timeout=60.0)
        with self.pool.connection() as conn:
            self.writer = ReadingWriter(db.backend(conn), collector=self.settings.client_id)
            n = self.directory.load(conn)
        log.info("pipeline ready", extra={"data": {"backend": self.writer.backend, "points": n}})
        self.threads = [
            threading.Thread(target=self._guard(self._batcher), name="batcher", daemon=True)
        ]
        self.threads += [
            threading.Thread(target=self._guard(self._writer_loop), name=f"writer-{i}", daemon=True)
            for i in range(self.settings.writers)
        ]
        for t in self.threads:
            t.start()
        return self.writer.backend

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        """An unexpected error must stop the collector (its supervisor restarts it), not leave
        it alive and storing nothing; what was not committed is not acknowledged."""

        def run() -> None:
            try:
                loop()
            except Exception as exc:
                log.critical("ingest pipeline failed", exc_info=True)
                self.fatal(f"{type(exc).__name__}: {exc}")

        return run

    def join(self) -> None:
        for t in self.threads:
            t.join()
        self.pool.close()

    def _with_db(self, what: str, fn: Callable[[psycopg.Connection], Any]) -> Any:
        """Run ``fn`` with a pooled connection, retrying with backoff until it succeeds."""
        delay = 0.2
        while True:
            try:
                with self.pool.connection() as conn:
                    return fn(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
                self.db_error()
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
        while True:
            timeout = max(0.0, deadline - time.monotonic()) if builder.batch.messages else 0.5
            for msg in self.take(timeout):
                if msg == STOP:
                    if builder.batch.messages:
                        self.ready.put(builder.take())
                    for _ in range(s.writers):
                        self.ready.put(STOP)
                    return
                if not builder.batch.messages:
                    deadline = time.monotonic() + s.flush_interval_s
                builder.add(msg)
                b = builder.batch
                if len(b) >= s.batch_size or b.messages >= s.batch_size:
                    self.ready.put(builder.take())
            if builder.batch.messages and time.monotonic() >= deadline:
                self.ready.put(builder.take())

    def _write(self, batch: Batch) -> None:
        point_ids, times_us, values = as_arrays(batch)
        assert self.writer is not None
        writer = self.writer
        result = self._with_db(
            "write",
            lambda c: writer.write(c, point_ids, times_us, values, None, batch.dead_letters),
        )
        self.committed(
            Committed(
                acks=batch.acks,
                inserted=result.inserted,
                duplicates=result.duplicates,
                dead_letters=result.dead_letters,
                rejected=batch.rejected,
                first_received_us=batch.first_received_us,
            )
        )

    def _writer_loop(self) -> None:
        while True:
            batch = self.ready.get()
            if batch is STOP:
                return
            # Backlogged: commit the waiting batches together (each commit waits for a WAL
            # flush, so fewer commits write faster).
            stop = False
            while len(batch) < 4 * self.settings.batch_size:
                try:
                    more = self.ready.get_nowait()
                except queue.Empty:
                    break
                if more is STOP:
                    stop = True
                    break
                batch.merge(more)
            self._write(batch)
            if stop:
                return
