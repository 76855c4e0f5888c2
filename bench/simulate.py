"""Backfill benchmark: simulated history through the collector's writer into PostgreSQL.

``backfill_rows_per_s``: rows per second for 100 buildings × 1 year at 15-minute readings
(``--quick``: 100 buildings × 30 days), simulation and writing together, into a fresh
database. ``simulate_rows_per_s``: the simulation alone over the same days (no database),
and ``backfill_share_of_simulate``: how much the writes slow it down.

Run ``python bench/simulate.py --quick``. The last line is key=value figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulators.backfill import backfill, import_portfolio  # noqa: E402
from simulators.buildings import Simulator  # noqa: E402
from simulators.portfolio import make_portfolio  # noqa: E402
from store import migrate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 days instead of a year")
    ap.add_argument("--buildings", type=int, default=100)
    ap.add_argument(
        "--dsn",
        default=os.environ.get("JIENENG_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    ap.add_argument("--timescaledb", action="store_true", help="TimescaleDB storage path")
    args = ap.parse_args()
    days = 30 if args.quick else 365
    end = dt.date.today()
    start = end - dt.timedelta(days=days)
    portfolio = make_portfolio(args.buildings, seed=1)

    # The simulation alone, same days.
    sim = Simulator(portfolio, seed=1)
    t0 = time.perf_counter()
    rows_sim = 0
    for n in range(days):
        rows_sim += int((~np.isnan(sim.day(start + dt.timedelta(days=n)).values)).sum())
    sim_rate = rows_sim / (time.perf_counter() - t0)
    print(f"simulation alone: {sim_rate:,.0f} rows/s", file=sys.stderr)

    name = f"jieneng_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(args.dsn, dbname=name)
    try:
        migrate.migrate(url, timescaledb="on" if args.timescaledb else "off")
        with psycopg.connect(url) as conn:
            import_portfolio(conn, portfolio)
            conn.commit()
            t0 = time.perf_counter()
            result = backfill(conn, Simulator(portfolio, seed=1), start, end)
            elapsed = time.perf_counter() - t0
        rate = result.rows / elapsed
        print(
            f"backfill: {result.rows:,} rows in {elapsed:.1f} s ({rate:,.0f} rows/s), "
            f"{len(result.faults)} faults",
            file=sys.stderr,
        )
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    figures = {
        "backend": "timescaledb" if args.timescaledb else "postgres",
        "buildings": args.buildings,
        "days": days,
        "rows": result.rows,
        "backfill_rows_per_s": round(rate),
        "simulate_rows_per_s": round(sim_rate),
        "backfill_share_of_simulate": round(rate / sim_rate, 3),
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
