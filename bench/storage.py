"""Storage benchmark: bytes on disk per reading, plain PostgreSQL and TimescaleDB.

Writes 1,000 points × 3 days of 15-minute register readings through the collector's writer
(recent days, so no compression policy has touched them), measures the readings table with
its index, then (TimescaleDB) compresses every chunk and measures again. The last line is
key=value figures. TimescaleDB figures are skipped, saying so, when the extension is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import drop_db, make_db  # noqa: E402
from store.writer import ReadingWriter  # noqa: E402

SLOT_US = 900_000_000


def readings(days: int = 3, points: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = days * 96
    start = (time.time_ns() // 1000 // SLOT_US - steps - 4) * SLOT_US
    pid = np.tile(np.arange(1, points + 1, dtype=np.int32), steps)
    t = start + np.repeat(np.arange(steps, dtype=np.int64) * SLOT_US, points)
    rng = np.random.default_rng(3)
    v = np.round(
        np.repeat(np.arange(steps) * 0.25, points) + pid * 1000.0 + rng.random(len(pid)), 2
    )
    return pid, t, v


def measure(dsn: str, backend: str) -> dict[str, float]:
    url = make_db(dsn, backend)
    try:
        pid, t, v = readings()
        with psycopg.connect(url, autocommit=True) as conn:
            writer = ReadingWriter(backend)
            for i in range(0, len(pid), 50_000):
                writer.write(conn, pid[i : i + 50_000], t[i : i + 50_000], v[i : i + 50_000])
            conn.execute("VACUUM ANALYZE readings")
            if backend == "postgres":
                (size,) = conn.execute(
                    "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                    " WHERE inhparent = 'readings'::regclass"
                ).fetchone()
                return {"postgres_bytes_per_reading": float(size) / len(pid)}
            (raw,) = conn.execute("SELECT hypertable_size('readings')").fetchone()
            conn.execute(
                "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('readings') c"
            )
            (packed,) = conn.execute("SELECT hypertable_size('readings')").fetchone()
            return {
                "timescaledb_bytes_per_reading": float(raw) / len(pid),
                "timescaledb_compressed_bytes_per_reading": float(packed) / len(pid),
            }
    finally:
        drop_db(dsn, url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="accepted for symmetry; always quick")
    ap.add_argument(
        "--dsn",
        default=os.environ.get("JIENENG_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = ap.parse_args()
    figures = measure(args.dsn, "postgres")
    try:
        figures |= measure(args.dsn, "timescaledb")
    except Exception as exc:  # noqa: BLE001 - report and go on without the TimescaleDB figures
        print(f"TimescaleDB figures skipped: {exc}", file=sys.stderr)
    print(" ".join(f"{k}={v:.1f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
