"""Backfill: months of simulated history straight through the collector's writer.

The registry goes in through :func:`store.registry_import.import_file` (the file a user would
import) and the readings through :class:`store.writer.ReadingWriter`, the same binary COPY
path the collector commits with; there is no second way into the database. Labels of the
injected faults go to a JSON lines file.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import psycopg
import yaml

from simulators.buildings import Day, Simulator
from simulators.faults import Fault
from simulators.portfolio import Portfolio, registry_document
from store import db
from store.registry_import import import_file
from store.writer import ReadingWriter


@dataclass(frozen=True, slots=True)
class BackfillResult:
    days: int
    rows: int
    faults: list[Fault]
    replacements: list[dict[str, object]]


def import_portfolio(
    conn: psycopg.Connection, portfolio: Portfolio, path: Path | None = None
) -> dict[str, int]:
    """Write the portfolio's registry file (to ``path``, or a temporary file) and import it."""
    doc = registry_document(portfolio)
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    if path is None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "registry.yaml"
            path.write_text(text, encoding="utf-8")
            return import_file(conn, path)
    path.write_text(text, encoding="utf-8")
    return import_file(conn, path)


def point_ids(conn: psycopg.Connection, keys: list[str]) -> np.ndarray:
    """``points.id`` of each key, in order (every key must be registered)."""
    rows = dict(conn.execute("SELECT key, id FROM points WHERE key = ANY(%s)", (keys,)).fetchall())
    missing = [k for k in keys if k not in rows]
    if missing:
        raise LookupError(f"points not registered: {', '.join(missing[:5])}")
    return np.array([rows[k] for k in keys], dtype=np.int32)


def write_labels(path: Path, faults: list[Fault]) -> None:
    with open(path, "wb") as f:
        for fault in faults:
            f.write(orjson.dumps(fault.label(), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")


def backfill(
    conn: psycopg.Connection,
    simulator: Simulator,
    start: dt.date,
    end: dt.date,
    *,
    rows_per_write: int = 500_000,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillResult:
    """Simulate the local days ``start`` ≤ day < ``end`` and write their readings.

    The points must be registered (:func:`import_portfolio`). Readings are written in
    transactions of about ``rows_per_write`` rows; meter replacements go into the registry.
    ``progress(done_days, total_days)`` is called after each write.
    """
    ids = point_ids(conn, [p.key for p in simulator.points])
    writer = ReadingWriter(db.backend(conn), collector="simulator")
    total = (end - start).days
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    size = rows = 0
    faults: list[Fault] = []
    replacements: list[dict[str, object]] = []

    def flush(done: int) -> None:
        nonlocal pending, size, rows
        if pending:
            p, t, v = (np.concatenate(parts) for parts in zip(*pending, strict=True))
            result = writer.write(conn, p, t, v)
            conn.commit()
            rows += result.inserted
        pending, size = [], 0
        if progress:
            progress(done, total)

    for n in range(total):
        day: Day = simulator.day(start + dt.timedelta(days=n))
        idx, times, values = day.readings()
        pending.append((ids[idx], times, values))
        size += len(idx)
        faults += day.faults
        replacements += day.replacements
        if size >= rows_per_write:
            flush(n + 1)
    flush(total)
    if replacements:
        _record_replacements(conn, replacements)
    return BackfillResult(total, rows, faults, replacements)


def _record_replacements(conn: psycopg.Connection, replacements: list[dict[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replacements.yaml"
        path.write_text(
            yaml.safe_dump({"meter_replacements": replacements}, allow_unicode=True),
            encoding="utf-8",
        )
        import_file(conn, path)
    conn.commit()
