"""A bounded FIFO between two threads, cheaper than queue.Queue on the hot path."""

from __future__ import annotations

import collections
import threading
from typing import Any


class Inbox:
    """Bounded FIFO from paho's network thread to the consumer.

    :meth:`put` blocks while ``maxsize`` items or ``max_bytes`` payload bytes wait
    (backpressure: paho then stops reading the socket); :meth:`take_all` returns everything
    waiting, or waits up to ``timeout`` seconds for something. Locks are only touched when
    one side has to wait. One producer thread and one consumer thread.
    """

    def __init__(self, maxsize: int, max_bytes: int = 1 << 62) -> None:
        self._items: collections.deque[tuple[Any, int]] = collections.deque()
        self._max = maxsize
        self._max_bytes = max_bytes
        # One writer each (the producer adds, the consumer subtracts): no lock needed.
        self._bytes_in = 0
        self._bytes_out = 0
        self._not_empty = threading.Event()
        self._not_full = threading.Event()
        self._not_full.set()
        self._closed = False

    def close(self) -> None:
        """From now on :meth:`put` drops items instead of waiting (shutdown: what is dropped
        was not acknowledged, so the broker redelivers it)."""
        self._closed = True
        self._not_full.set()

    def __len__(self) -> int:
        return len(self._items)

    def _full(self) -> bool:
        return len(self._items) >= self._max or self._bytes_in - self._bytes_out >= self._max_bytes

    def put(self, item: Any, size: int = 0, *, force: bool = False) -> None:
        """Append ``item``; wait while the inbox is full, unless ``force`` (for a sentinel)."""
        while not force and self._full():
            if self._closed:
                return
            self._not_full.clear()
            if self._full():
                self._not_full.wait(0.1)
        self._bytes_in += size
        self._items.append((item, size))
        if not self._not_empty.is_set():
            self._not_empty.set()

    def take_all(self, timeout: float, limit: int = 1 << 62) -> list[Any]:
        items = self._items
        if not items:
            self._not_empty.clear()
            if not items:
                self._not_empty.wait(timeout)
        out = []
        size = 0
        try:
            while len(out) < limit:
                item, n = items.popleft()
                out.append(item)
                size += n
        except IndexError:
            pass
        self._bytes_out += size
        if out and not self._not_full.is_set():
            self._not_full.set()
        return out
