"""API benchmark: latency of the main read endpoints over real HTTP, 1,000 meters × 1 year.

A fresh database (dropped at the end, unless ``--keep``) gets a seeded portfolio
(:func:`simulators.portfolio.make_portfolio`) with enough buildings for ``--meters``
cumulative meters (main, 分项 sub-meters, water, heat or gas), each building's power meter and
thermometers besides. Every point gets ``--days`` days of 15-minute readings up to now:
registers rising with a working-hours, weekly and seasonal rhythm (CT multipliers,
rollovers), power and temperatures around theirs. They are generated with numpy and written
through the collector's :class:`store.writer.ReadingWriter` (binary COPY) in time order; the
rollups are refreshed the way the service does it (:func:`store.findings.
refresh_rollups_if_idle`, every ``--refresh-days`` days of data, then one
:func:`store.maintenance.run`), and ``--findings`` findings go into ``anomalies``.

The app (:func:`api.main.create_app`) is then served by uvicorn in a child process and timed
from this one with keep-alive HTTP requests, one at a time, as an admin of everything and as an
engineer of one institution: ``--requests`` per endpoint (half with each token), each with its
own random building, point and window (fixed seed), in shuffled order, after a warm-up.

- ``p95_ms``: 95th percentile of every timed request (client side: request sent → body read);
  ``p95_ms_worst`` and ``worst``: the endpoint with the highest p95 (both tokens).
- ``load_rows_per_s``: rows ÷ time spent in ``ReadingWriter.write`` (generation excluded);
  ``refresh_s``: time spent refreshing the rollups.

Target (issue): p95 ≤ 100 ms over 1,000 meters × 1 year. Run ``python bench/api.py --quick``
(100 meters × 60 days, well under a minute); ``--backend timescaledb`` for that storage path.
The last line is key=value figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jieneng import broker  # noqa: E402
from simulators.backfill import import_portfolio, point_ids  # noqa: E402
from simulators.portfolio import Portfolio, make_portfolio  # noqa: E402
from store import findings, maintenance, migrate, tokens  # noqa: E402
from store.writer import ReadingWriter  # noqa: E402

SLOT_US = 900_000_000
DAY_US = 86_400_000_000
SLOTS_PER_YEAR = 365.25 * 96
LOCAL = dt.timezone(dt.timedelta(hours=8))  # the portfolio's buildings: Asia/Shanghai
TARGET_P95_MS = 100.0
#: Annual electricity per m² (kWh) and water per person (m³), by institution type.
KWH_PER_M2 = {"government": 90.0, "school": 60.0, "hospital": 160.0}
M3_PER_PERSON = {"government": 15.0, "school": 8.0, "hospital": 40.0}
#: Share of the main meter's use per 分项 sub-meter.
SHARE = {"01A": 0.30, "01B": 0.40, "01C": 0.20, "01D": 0.10}
RULES = ("after_hours", "night_flow", "hvac_out_of_hours", "overcooling", "spike")
RULES += ("baseline_residual", "level_shift", "submeter_imbalance", "stuck")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- database ---------------------------------------------------------------------------------


def make_db(admin: str, backend: str) -> str:
    name = f"jieneng_bench_api_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_conninfo(admin, dbname=name)


def migrate_db(url: str, backend: str) -> None:
    migrate.migrate(url, timescaledb="on" if backend == "timescaledb" else "off")


def drop_db(admin: str, url: str) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def portfolio_for(meters: int, seed: int) -> Portfolio:
    """Fewest buildings of the seeded portfolio with at least ``meters`` cumulative meters."""
    n = max(1, meters // 7)
    while sum(p.cumulative for p in make_portfolio(n, seed=seed).points) < meters:
        n += 1
    return make_portfolio(n, seed=seed)


# --- readings ---------------------------------------------------------------------------------


@dataclass
class Model:
    """Per point: what it measures and how much, and the registers' state."""

    ids: np.ndarray  # points.id
    kind: np.ndarray  # index into the shapes of :meth:`shapes`
    scale: np.ndarray  # register: mean use per slot (register units); else the level
    cumulative: np.ndarray
    resolution: np.ndarray
    rollover: np.ndarray
    register: np.ndarray  # current register value (before wrapping)
    temp_mean: np.ndarray  # outdoor: annual mean, seasonal and diurnal amplitude (°C)
    temp_season: np.ndarray
    temp_day: np.ndarray

    ELEC, HVAC, WATER, HEAT, GAS, POWER, INDOOR, OUTDOOR = range(8)

    @classmethod
    def of(cls, portfolio: Portfolio, ids: np.ndarray, rng: np.random.Generator) -> Model:
        rows = []
        for b in portfolio.buildings:
            main_kwh = b.floor_area_m2 * KWH_PER_M2[b.kind] / SLOTS_PER_YEAR
            for p in b.points:
                role, m = p.role, p.multiplier
                if role == "main":
                    kind, scale = cls.ELEC, main_kwh / m
                elif role in SHARE:
                    kind, scale = cls.HVAC if role == "01B" else cls.ELEC, main_kwh * SHARE[role]
                elif role == "water":
                    kind, scale = cls.WATER, b.headcount * M3_PER_PERSON[b.kind] / SLOTS_PER_YEAR
                elif role == "heat":
                    kind, scale = cls.HEAT, b.floor_area_m2 * 80.0 / SLOTS_PER_YEAR
                elif role == "gas":
                    kind, scale = cls.GAS, b.floor_area_m2 * 3.0 / SLOTS_PER_YEAR
                elif role == "main_power":
                    kind, scale = cls.POWER, main_kwh * 4
                elif role == "outdoor":
                    kind, scale = cls.OUTDOOR, 1.0
                else:
                    kind, scale = cls.INDOOR, 1.0
                rows.append(
                    (
                        kind,
                        scale,
                        p.cumulative,
                        p.resolution or 0.001,
                        p.rollover_value or np.inf,
                        b.city.mean_c,
                        b.city.seasonal_amp_c,
                        b.city.diurnal_amp_c,
                    )
                )
        cols = list(zip(*rows, strict=True))
        rollover = np.array(cols[4])
        start = np.where(np.isfinite(rollover), rng.uniform(0, 0.9, len(rows)) * rollover, 0.0)
        return cls(
            ids=ids,
            kind=np.array(cols[0]),
            scale=np.array(cols[1]),
            cumulative=np.array(cols[2]),
            resolution=np.array(cols[3]),
            rollover=rollover,
            register=np.where(np.isfinite(start), start, 0.0),
            temp_mean=np.array(cols[5]),
            temp_season=np.array(cols[6]),
            temp_day=np.array(cols[7]),
        )

    def chunk(
        self, start_us: int, slots: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Readings of every point at ``slots`` slots from ``start_us``, time-major."""
        t = start_us + np.arange(slots, dtype=np.int64) * SLOT_US
        local_h = ((t // 3_600_000_000) + 8) % 24 + (t % 3_600_000_000) / 3.6e9
        local_day = (t + 8 * 3_600_000_000) // DAY_US
        weekday = (local_day + 3) % 7  # 1970-01-01 was a Thursday: Monday is 0
        occ = ((weekday < 5) & (local_h >= 8) & (local_h < 18)).astype(np.float64)
        doy = (local_day - 10_957) % 365.25  # days since 2000-01-01, wrapped to a year
        winter = np.cos(2 * np.pi * (doy - 15) / 365.25)  # +1 mid-January, -1 mid-July
        elec = (0.45 + 1.1 * occ) / 0.78
        shapes = np.stack(
            [
                elec,
                elec * (0.4 + 1.2 * np.abs(winter)),
                (0.3 + 1.5 * occ) / 0.75,
                3.0 * np.maximum(winter, 0.0),
                (0.4 + 1.2 * np.maximum(winter, 0.0)) / 0.78,
                elec,
                np.zeros(slots),
                np.zeros(slots),
            ]
        )
        use = (
            self.scale[:, None] * shapes[self.kind] * rng.uniform(0.8, 1.2, (len(self.ids), slots))
        )
        reg = self.register[:, None] + np.cumsum(use, axis=1)
        self.register = reg[:, -1].copy()
        res = self.resolution[:, None]
        reg = np.round(np.round(reg / res) * res % self.rollover[:, None], 3)
        outdoor = (
            self.temp_mean[:, None]
            - self.temp_season[:, None] * winter
            - self.temp_day[:, None] * np.cos(2 * np.pi * (local_h - 15) / 24)
        )
        indoor = 21.0 + 2.0 * occ - 1.5 * np.maximum(winter, 0.0)
        inst = np.where(
            (self.kind == self.OUTDOOR)[:, None],
            outdoor,
            np.where((self.kind == self.INDOOR)[:, None], indoor, use),
        )
        inst = inst + np.where(self.kind >= self.INDOOR, 1, 0)[:, None] * rng.normal(
            0, 0.3, inst.shape
        )
        values = np.where(self.cumulative[:, None], reg, np.round(inst, 3))
        n = len(self.ids)
        return (
            np.tile(self.ids, slots),
            np.repeat(t, n),
            np.ascontiguousarray(values.T).ravel(),
        )


def load(
    url: str,
    model: Model,
    backend: str,
    start_us: int,
    days: int,
    *,
    batch_days: int,
    refresh_days: int,
    rng: np.random.Generator,
) -> Load:
    """Write ``days`` days from ``start_us``, in time order, refreshing the rollups
    (:func:`findings.refresh_rollups_if_idle`) after every ``refresh_days`` days and at the end.

    The two take turns rather than run side by side as in the service: on two cores they
    compete for the CPU (together they took as long), and apart each is measured alone.
    """
    writer = ReadingWriter(backend, collector="bench")
    out = Load()
    since_refresh = 0
    t_start = time.perf_counter()
    with psycopg.connect(url, autocommit=True, application_name="bench-writer") as conn:
        for day in range(0, days, batch_days):
            n = min(batch_days, days - day)
            pid, t, v = model.chunk(start_us + day * DAY_US, n * 96, rng)
            t0 = time.perf_counter()
            out.rows += writer.write(conn, pid, t, v).inserted
            out.write_s += time.perf_counter() - t0
            since_refresh += n
            if since_refresh >= refresh_days or day + n >= days:
                t0 = time.perf_counter()
                findings.refresh_rollups_if_idle(conn)
                out.refresh_s += time.perf_counter() - t0
                since_refresh = 0
                say(
                    f"  {day + n:4d}/{days} days: {out.rows:,} rows, {out.rows / out.write_s:,.0f}"
                    f" rows/s writing; rollups refreshed for {out.refresh_s:.1f} s so far;"
                    f" {time.perf_counter() - t_start:.0f} s"
                )
    out.wall_s = time.perf_counter() - t_start
    return out


@dataclass
class Load:
    rows: int = 0
    write_s: float = 0.0
    refresh_s: float = 0.0
    wall_s: float = 0.0


def insert_findings(
    conn: psycopg.Connection, count: int, start: dt.datetime, end: dt.datetime, seed: int
) -> int:
    """``count`` findings of the analysis job, spread over the points and the window."""
    rng = random.Random(seed)
    points = conn.execute("SELECT id, building_id, unit FROM points ORDER BY id").fetchall()
    span = (end - start).total_seconds()
    opened: set[tuple[int, str]] = set()
    rows = []
    for _ in range(count):
        pid, bid, unit = rng.choice(points)
        rule = rng.choice(RULES)
        started = start + dt.timedelta(seconds=rng.uniform(0, span * 0.98))
        ended = min(end, started + dt.timedelta(hours=rng.uniform(1, 120)))
        status = rng.choices(["open", "closed", "resolved", "retracted"], [3, 10, 2, 1])[0]
        if status == "open" and (pid, rule) in opened:
            status = "closed"
        opened.add((pid, rule))
        waste = round(rng.uniform(1, 500), 2)
        run = {"start": started.isoformat(), "end": ended.isoformat(), "waste": waste}
        rows.append(
            (
                pid,
                bid,
                rule,
                status,
                started,
                ended,
                ended,
                ended if status in ("closed", "resolved") else None,
                rng.randint(1, 5),
                rng.choice(["low", "medium", "high"]),
                round(rng.uniform(0, 10), 2),
                waste,
                unit if unit in ("kWh", "m3") else "kWh",
                round(waste * 0.1229, 3),
                round(waste * 0.55, 3),
                round(waste * 0.8, 2),
                orjson.dumps({"baseline": round(rng.uniform(0, 50), 2)}).decode(),
                orjson.dumps([run]).decode(),
            )
        )
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO anomalies (point_id, building_id, rule, status, started_at, ended_at,
                   last_seen_at, closed_at, run_count, severity, score, waste, waste_unit, kgce,
                   kgco2, cny, evidence, runs, detector_version)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                       %s::jsonb, %s::jsonb, 'bench')""",
            rows,
        )
    return len(rows)


# --- the server -------------------------------------------------------------------------------


def serve(url: str, port: int) -> None:
    """The app under uvicorn (the child process)."""
    import uvicorn

    from api.main import create_app
    from jieneng.settings import Settings

    app = create_app(Settings(database_url=url))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    config.access_log = False
    uvicorn.Server(config).run()


# --- requests ---------------------------------------------------------------------------------

ENDPOINTS = (
    "latest",
    "consumption_1d_30d",
    "consumption_1mo_year",
    "series_1h_7d",
    "series_1d_year",
    "readings_1d",
    "findings",
    "buildings",
    "points",
)


@dataclass(frozen=True)
class Scope:
    role: str
    token: str
    buildings: list[str]
    points: list[str]


def request_for(
    endpoint: str, scope: Scope, first: dt.date, last: dt.date, rng: random.Random
) -> tuple[str, dict[str, str]]:
    """Path and query of one request; windows are local days (naive: the building's zone)
    within [first, last] (last: the last whole day)."""

    def day(span: int) -> dt.date:
        return first + dt.timedelta(days=rng.randint(0, max(0, (last - first).days + 1 - span)))

    def window(lo: dt.date, days: int) -> dict[str, str]:
        return {"start": lo.isoformat(), "end": (lo + dt.timedelta(days=days)).isoformat()}

    code = rng.choice(scope.buildings)
    key = rng.choice(scope.points)
    year = (last - first).days + 1
    if endpoint == "latest":
        return f"/buildings/{code}/latest", {}
    if endpoint == "consumption_1d_30d":
        return f"/buildings/{code}/consumption", {"bucket": "1d", **window(day(30), 30)}
    if endpoint == "consumption_1mo_year":
        return f"/buildings/{code}/consumption", {"bucket": "1mo", **window(first, year)}
    if endpoint == "series_1h_7d":
        return "/series", {"point": key, "bucket": "1h", **window(day(7), 7)}
    if endpoint == "series_1d_year":
        return "/series", {"point": key, "bucket": "1d", **window(first, year)}
    if endpoint == "readings_1d":
        return "/readings", {"point": key, **window(day(1), 1)}
    if endpoint == "findings":
        return "/findings", {"building": code, "limit": "100"}
    if endpoint == "buildings":
        return "/buildings", {}
    if endpoint == "points":
        return "/points", {"building": code}
    raise ValueError(endpoint)


def percentiles(ms: list[float]) -> tuple[float, float, float]:
    a = np.asarray(ms)
    return float(np.percentile(a, 50)), float(np.percentile(a, 95)), float(a.max())


def measure(
    base: str,
    scopes: list[Scope],
    first: dt.date,
    last: dt.date,
    *,
    requests: int,
    warmup: int,
    seed: int,
) -> dict[tuple[str, str], list[float]]:
    """Time ``requests`` requests per endpoint, shared by the scopes, in shuffled order after
    ``warmup`` untimed ones per endpoint and scope; ms per (endpoint, role)."""
    each = -(-requests // len(scopes))
    import httpx

    rng = random.Random(seed)
    plan = [
        (e, s, *request_for(e, s, first, last, rng))
        for e in ENDPOINTS
        for s in scopes
        for _ in range(each)
    ]
    rng.shuffle(plan)
    warm = [
        (e, s, *request_for(e, s, first, last, rng))
        for e in ENDPOINTS
        for s in scopes
        for _ in range(warmup)
    ]
    times: dict[tuple[str, str], list[float]] = {(e, s.role): [] for e in ENDPOINTS for s in scopes}
    with httpx.Client(base_url=base, timeout=60.0) as client:
        for timed, batch in ((False, warm), (True, plan)):
            for endpoint, scope, path, params in batch:
                headers = {"Authorization": f"Bearer {scope.token}"}
                t0 = time.perf_counter()
                r = client.get(path, params=params, headers=headers)
                elapsed = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    raise RuntimeError(
                        f"{endpoint} as {scope.role}: GET {r.url} → {r.status_code} {r.text[:300]}"
                    )
                if timed:
                    times[(endpoint, scope.role)].append(elapsed)
    return times


def timed(what: str, fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    say(f"{what}: {elapsed:.1f} s")
    return out, elapsed


# --- main -------------------------------------------------------------------------------------


def add_data_options(ap: argparse.ArgumentParser) -> None:
    """The options of the database both benches build (bench/api.py, bench/dashboards.py)."""
    ap.add_argument("--meters", type=int, help="cumulative meters (default 1,000; 100 quick)")
    ap.add_argument("--days", type=int, help="days of 15-minute readings (365; 60 quick)")
    ap.add_argument("--findings", type=int, help="findings rows (3 per building)")
    ap.add_argument("--backend", choices=("postgres", "timescaledb"), default="postgres")
    ap.add_argument("--batch-days", type=int, default=4, help="days of readings per write")
    ap.add_argument("--refresh-days", type=int, default=30, help="days between rollup refreshes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    ap.add_argument(
        "--dsn",
        default=os.environ.get("JIENENG_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 meters × 60 days, 50 requests")
    ap.add_argument("--requests", type=int, help="per endpoint, half per token (200; 50 quick)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed, per endpoint and token")
    add_data_options(ap)
    args = ap.parse_args()
    meters = args.meters or (100 if args.quick else 1000)
    days = args.days or (60 if args.quick else 365)
    n_requests = args.requests or (50 if args.quick else 200)
    t_all = time.perf_counter()

    portfolio = portfolio_for(meters, args.seed)
    n_points = len(portfolio.points)
    n_meters = sum(p.cumulative for p in portfolio.points)
    say(
        f"{len(portfolio.buildings)} buildings ({len(portfolio.institutions)} institutions),"
        f" {n_meters} meters + {n_points - n_meters} other points × {days} days of 15-minute"
        f" readings, {args.backend}; {n_requests} requests per endpoint"
    )
    end_us = time.time_ns() // 1000 // SLOT_US * SLOT_US
    start_us = end_us - days * DAY_US
    start = dt.datetime.fromtimestamp(start_us / 1e6, dt.UTC)
    end = dt.datetime.fromtimestamp(end_us / 1e6, dt.UTC)
    first = start.astimezone(LOCAL).date() + dt.timedelta(days=1)  # whole local days
    last = end.astimezone(LOCAL).date() - dt.timedelta(days=1)

    url = make_db(args.dsn, args.backend)
    server = None
    try:
        timed(f"migrated {conninfo_to_dict(url)['dbname']}", lambda: migrate_db(url, args.backend))
        with psycopg.connect(url, autocommit=True) as conn:
            t0 = time.perf_counter()
            import_portfolio(conn, portfolio)
            ids = point_ids(conn, [p.key for p in portfolio.points])
            say(f"registry imported: {time.perf_counter() - t0:.1f} s")
            model = Model.of(portfolio, ids, np.random.default_rng(args.seed))
            say(f"writing {start:%Y-%m-%d %H:%M} … {end:%Y-%m-%d %H:%M} UTC:")
            loaded = load(
                url,
                model,
                args.backend,
                start_us,
                days,
                batch_days=args.batch_days,
                refresh_days=args.refresh_days,
                rng=np.random.default_rng(args.seed + 1),
            )
            rows = loaded.rows
            say(
                f"wrote {rows:,} rows in {loaded.wall_s:.1f} s: {loaded.write_s:.1f} s in writes"
                f" ({rows / loaded.write_s:,.0f} rows/s), {loaded.refresh_s:.1f} s refreshing"
                " the rollups"
            )
            _, upkeep_s = timed(
                "maintenance.run (the service's upkeep)", lambda: maintenance.run(conn)
            )
            _, vacuum_s = timed("VACUUM ANALYZE", lambda: conn.execute("VACUUM ANALYZE"))
            n_findings = args.findings or 3 * len(portfolio.buildings)
            insert_findings(conn, n_findings, start, end, args.seed)
            conn.execute("ANALYZE anomalies")
            rng = random.Random(args.seed)
            own = rng.choice(portfolio.buildings)
            admin, _ = tokens.create(conn, role="admin", name="bench admin")
            engineer, _ = tokens.create(
                conn, role="engineer", name="bench engineer", institutions=[own.institution]
            )
            (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        say(f"{n_findings} findings; database {size / 1e9:.1f} GB")
        mine = [b for b in portfolio.buildings if b.institution == own.institution]
        scopes = [
            Scope(
                "engineer",
                engineer,
                [b.code for b in mine],
                [p.key for b in mine for p in b.points],
            ),
            Scope(
                "admin",
                admin,
                [b.code for b in portfolio.buildings],
                [p.key for p in portfolio.points],
            ),
        ]

        port = broker.free_port()
        server = mp.get_context("spawn").Process(target=serve, args=(url, port), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, server)
        say(f"serving on {base}; timing {len(ENDPOINTS) * n_requests} requests …")
        t0 = time.perf_counter()
        times = measure(
            base,
            scopes,
            first,
            last,
            requests=n_requests,
            warmup=args.warmup,
            seed=args.seed,
        )
        say(f"timed in {time.perf_counter() - t0:.1f} s")
    finally:
        if server is not None:
            server.terminate()
            server.join(10)
        if args.keep:
            say(f"kept the database: {url}")
        else:
            drop_db(args.dsn, url)

    say("")
    say(f"{'endpoint':<22} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   p95 engineer/admin")
    per_endpoint = {}
    for e in ENDPOINTS:
        both = [x for s in scopes for x in times[(e, s.role)]]
        p50, p95, top = percentiles(both)
        per_endpoint[e] = p95
        roles = " / ".join(f"{percentiles(times[(e, s.role)])[1]:.1f}" for s in scopes)
        flag = "" if p95 <= TARGET_P95_MS else "  > target"
        say(f"{e:<22} {len(both):>5} {p50:>8.1f} {p95:>8.1f} {top:>8.1f}   {roles}{flag}")
    every = [x for v in times.values() for x in v]
    p50, p95, top = percentiles(every)
    say(f"{'all':<22} {len(every):>5} {p50:>8.1f} {p95:>8.1f} {top:>8.1f}")
    worst = max(per_endpoint, key=per_endpoint.__getitem__)
    over = [e for e, v in per_endpoint.items() if v > TARGET_P95_MS]
    verdict = "met" if p95 <= TARGET_P95_MS else "NOT met"
    say(
        f"target p95 ≤ {TARGET_P95_MS:.0f} ms: overall {verdict} ({p95:.1f} ms);"
        f" endpoints over it: {', '.join(over) or 'none'}"
    )
    say(f"total {time.perf_counter() - t_all:.0f} s")
    figures = {
        "backend": args.backend,
        "buildings": len(portfolio.buildings),
        "meters": n_meters,
        "points": n_points,
        "days": days,
        "rows": rows,
        "requests": len(every),
        "p50_ms": round(p50, 1),
        "p95_ms": round(p95, 1),
        "p95_ms_worst": round(per_endpoint[worst], 1),
        "worst": worst,
        "max_ms": round(top, 1),
        "load_rows_per_s": round(rows / loaded.write_s),
        "refresh_s": round(loaded.refresh_s + upkeep_s, 1),
        "vacuum_s": round(vacuum_s, 1),
        "target_p95_ms": round(TARGET_P95_MS),
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def wait_ready(base: str, server: mp.process.BaseProcess, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.is_alive():
            raise RuntimeError(f"the API process exited ({server.exitcode})")
        try:
            if httpx.get(f"{base}/health", timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API did not answer /health within {timeout:.0f} s")


if __name__ == "__main__":
    main()
