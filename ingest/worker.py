"""A collector's worker process: decoding, batching and writing, beside paho's process.

CPython runs one thread at a time per process. paho-mqtt's network thread is busy with every
message (about 50 µs each with MQTT 5), so the collector gives it a process of its own and
sends the messages here through a pipe, in lists; committed batches go back the other way
and are acknowledged there. If the receiving process dies, this one finishes what it holds
and exits: what it committed is stored, what it did not is redelivered by the broker.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from ingest.pipeline import STOP, Pipeline
from jieneng import logs
from jieneng.settings import Settings

log = logging.getLogger(__name__)


def run(settings: Settings, messages: Connection, results: Connection) -> None:
    """Entry point of the worker process (multiprocessing, spawn)."""
    logs.setup(settings.log_format)
    # Stopping is the receiving process's job (it sends STOP, or its pipe closes): a signal
    # sent to the whole process group must not cut a commit short here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()
    lock = threading.Lock()
    gone = threading.Event()

    def send(item: Any) -> None:
        if gone.is_set():
            return
        try:
            with lock:
                results.send(item)
        except (BrokenPipeError, EOFError, OSError):
            gone.set()  # the receiving process is gone: its messages will be redelivered

    def take(timeout: float) -> list[Any]:
        try:
            if messages.poll(timeout):
                return messages.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            gone.set()
            return [STOP]
        return []

    def watchdog() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)  # orphaned, maybe stuck retrying the database: nothing held is acked

    threading.Thread(target=watchdog, name="watchdog", daemon=True).start()

    def fatal(why: str) -> None:
        send(("fatal", why))
        os._exit(1)

    pipeline = Pipeline(settings, take, send, db_error=lambda: send("db_error"), fatal=fatal)
    pipeline.start()
    send("ready")
    pipeline.join()
