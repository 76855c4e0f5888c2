"""Dashboard benchmark: every Grafana panel's query timed over 1,000 meters × 1 year.

The data is bench/api.py's (imported, not copied): a fresh database (dropped at the end,
unless ``--keep``) with a seeded portfolio of ``--meters`` cumulative meters and their
buildings' power meters and thermometers, ``--days`` days of 15-minute readings up to now
written through the collector's writer, the rollups refreshed as the service does it, and
findings in ``anomalies``. On top of that, each finding's ``runs`` (its nightly stretches,
with their ¥ and kgce: what ``v_anomaly_runs`` and the waste-by-rule panel read), one
alert per finding (open or acknowledged for open findings, resolved for the others) under
one alert rule, and one stored M&V result per institution (:func:`add_mv_results`).
``--reuse-db NAME`` times a database kept by ``bench/api.py --keep`` (or by this script)
instead of building one (its findings' runs, the bench's alerts and M&V results are written
again; it is kept); the default run builds its own.

Every dashboard of :func:`grafana.dashboards.all_dashboards` ("zh"; the SQL is the same in
"en"), every panel target, template-variable query and annotation query, is expanded with
:func:`grafana.macros.expand` as Grafana expands it, for two ranges ending at the data's end:

- ``7d`` with Grafana's default interval for it (range ÷ 1,000 rounded: 10m);
- ``1y`` (365 days) with a 1d interval.

Variables: one institution (``institution``; on the portfolio dashboard also every
institution, the "All" choice, as ``…[all]``), one of its buildings, ``energy_class`` 01,
the building's main meter (``point``) and the institution's M&V result (``result``), drawn
per repetition with a fixed seed. Each query runs
``--repeat`` times per range (20; 5 quick) as the read-only role (``SET ROLE
jieneng_reader``, the server's settings as Grafana's connection has them), after a warm-up,
in shuffled order, each timed from sending the query to having fetched every row.

- ``p95_ms_7d`` / ``p95_ms_1y``: 95th percentile of every execution in that range, each query
  weighing the same (:func:`pooled`); ``worst_7d`` / ``worst_1y``: the query with the highest
  p95 there (``dashboard/panel.ref``). A query whose warm-up took over ``--slow-s`` runs only
  ``--slow-repeat`` times (a run stays short when a panel takes seconds).
- Queries whose p95 misses the target are EXPLAINed (ANALYZE, BUFFERS) to stderr.

Targets (issue): ``p95_ms_7d`` ≤ 100 and ``p95_ms_1y`` ≤ 300. Run ``python bench/dashboards.py
--quick`` (100 meters × 60 days); the last line is key=value figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import api as bench_api  # noqa: E402  (bench/api.py; not the project's api package)
from grafana import macros  # noqa: E402
from grafana.dashboards import WORDS, all_dashboards  # noqa: E402
from simulators.backfill import import_portfolio, point_ids  # noqa: E402
from store import maintenance  # noqa: E402

say = bench_api.say
TARGET_MS = {"7d": 100.0, "1y": 300.0}
#: range → (days, panel interval in seconds): Grafana's default for 7 days (604,800 s ÷ 1,000
#: data points, rounded by its roundInterval) and 1d for the year.
RANGES = {"7d": (7, 600), "1y": (365, 86400)}
ALERT_RULE = "bench-dashboards"
_KEYS = {zh: key for key, (zh, en) in WORDS.items()} | {en: key for key, (zh, en) in WORDS.items()}


# --- the data ---------------------------------------------------------------------------------


@dataclass
class World:
    url: str
    end: dt.datetime  # the data's end (exclusive): the ranges end here
    buildings: int
    meters: int
    points: int
    days: int
    rows: int
    findings: int = 0
    alerts: int = 0
    mv_results: int = 0


def build(args: argparse.Namespace, meters: int, days: int) -> World:
    """A fresh database filled as bench/api.py fills it."""
    portfolio = bench_api.portfolio_for(meters, args.seed)
    n_meters = sum(p.cumulative for p in portfolio.points)
    say(
        f"{len(portfolio.buildings)} buildings ({len(portfolio.institutions)} institutions),"
        f" {n_meters} meters + {len(portfolio.points) - n_meters} other points × {days} days"
        f" of 15-minute readings, {args.backend}"
    )
    end_us = time.time_ns() // 1000 // bench_api.SLOT_US * bench_api.SLOT_US
    start_us = end_us - days * bench_api.DAY_US
    start = dt.datetime.fromtimestamp(start_us / 1e6, dt.UTC)
    end = dt.datetime.fromtimestamp(end_us / 1e6, dt.UTC)
    url = bench_api.make_db(args.dsn, args.backend)
    world = World(url, end, len(portfolio.buildings), n_meters, len(portfolio.points), days, 0)
    try:
        bench_api.timed(
            f"migrated {conninfo_to_dict(url)['dbname']}",
            lambda: bench_api.migrate_db(url, args.backend),
        )
        with psycopg.connect(url, autocommit=True) as conn:
            import_portfolio(conn, portfolio)
            ids = point_ids(conn, [p.key for p in portfolio.points])
            model = bench_api.Model.of(portfolio, ids, np.random.default_rng(args.seed))
            say(f"writing {start:%Y-%m-%d %H:%M} … {end:%Y-%m-%d %H:%M} UTC:")
            loaded = bench_api.load(
                url,
                model,
                args.backend,
                start_us,
                days,
                batch_days=args.batch_days,
                refresh_days=args.refresh_days,
                rng=np.random.default_rng(args.seed + 1),
            )
            world.rows = loaded.rows
            bench_api.timed("maintenance.run", lambda: maintenance.run(conn))
            bench_api.timed("VACUUM ANALYZE", lambda: conn.execute("VACUUM ANALYZE"))
            count = args.findings or 3 * len(portfolio.buildings)
            bench_api.insert_findings(conn, count, start, end, args.seed)
    except BaseException:
        if not args.keep:
            bench_api.drop_db(args.dsn, url)
        raise
    return world


def add_mv_results(conn: psycopg.Connection, end: dt.datetime) -> int:
    """One stored M&V result per institution (what the audit & M&V dashboard reads): the
    CalTRACK daily model of its first building's main meter (:func:`jieneng.mv.run_stored`),
    the last 30 days of the data as the reporting period; replaced when run again."""
    from jieneng import mv
    from store import mv as stored

    mains = conn.execute(
        """SELECT DISTINCT ON (b.institution_id) p.key FROM points p
           JOIN buildings b ON b.id = p.building_id
           WHERE p.energy_code = '01' AND p.cumulative ORDER BY b.institution_id, b.id, p.id"""
    ).fetchall()
    last = end.date()  # the data's last day (UTC; China's day ends 8 h earlier): left out
    for (key,) in mains:
        result = mv.run_stored(
            conn, key, baseline_end=last - dt.timedelta(days=30),
            reporting_start=last - dt.timedelta(days=30), reporting_end=last,
        )  # fmt: skip
        with conn.transaction():
            stored.save(conn, key, result)
    conn.execute("ANALYZE mv_results")
    conn.execute("ANALYZE mv_days")
    return len(mains)


def reuse(dsn: str, name: str) -> World:
    """A database kept by ``bench/api.py --keep`` (or ``--keep`` here), as it is."""
    url = make_conninfo(dsn, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        first, last = conn.execute("SELECT min(time), max(time) FROM readings").fetchone()
        (rows,) = conn.execute("SELECT count(*) FROM readings").fetchone()
        buildings, meters, points = conn.execute(
            "SELECT (SELECT count(*) FROM buildings), count(*) FILTER (WHERE cumulative),"
            " count(*) FROM points"
        ).fetchone()
    end = last + dt.timedelta(minutes=15)
    days = round((end - first).total_seconds() / 86400)
    say(f"reusing {name}: {buildings} buildings, {meters} meters, {rows:,} rows until {end}")
    return World(url, end, buildings, meters, points, days, rows)


def add_runs_and_alerts(conn: psycopg.Connection, seed: int) -> tuple[int, int]:
    """Give every finding its runs (``run_count`` stretches of its span, sharing its waste, ¥,
    kgce) and one alert under the rule :data:`ALERT_RULE`; idempotent."""
    rng = random.Random(seed)
    found = conn.execute(
        "SELECT id, started_at, ended_at, run_count, severity, score, waste, kgce, kgco2, cny"
        " FROM anomalies ORDER BY id"
    ).fetchall()
    updates = []
    for fid, started, ended, count, severity, score, waste, kgce, kgco2, cny in found:
        n = max(1, count)
        step = (ended - started) / n
        runs = []
        for k in range(n):
            lo = started + step * k
            hi = ended if k == n - 1 else lo + step * rng.uniform(0.3, 0.9)
            share = 1.0 / n
            runs.append(
                {
                    "start": lo.isoformat(),
                    "end": hi.isoformat(),
                    "severity": severity,
                    "score": score,
                    "waste": None if waste is None else round(waste * share, 3),
                    "kgce": None if kgce is None else round(kgce * share, 3),
                    "kgco2": None if kgco2 is None else round(kgco2 * share, 3),
                    "cny": None if cny is None else round(cny * share, 2),
                }
            )
        updates.append((orjson.dumps(runs).decode(), fid))
    with conn.cursor() as cur:
        cur.executemany("UPDATE anomalies SET runs = %s::jsonb WHERE id = %s", updates)
    (rule_id,) = conn.execute(
        """INSERT INTO alert_rules (name) VALUES (%s)
           ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id""",
        (ALERT_RULE,),
    ).fetchone()
    conn.execute("DELETE FROM alerts WHERE alert_rule_id = %s", (rule_id,))
    conn.execute(
        """INSERT INTO alerts (alert_rule_id, anomaly_id, point_id, building_id, institution_id,
               rule, status, severity, title, started_at, opened_at, last_seen_at,
               acknowledged_at, acknowledged_by, assigned_to, resolved_at, resolved_by,
               waste_per_day, waste_unit, kgce_per_day, cny_per_day)
           SELECT %(rule)s, a.id, a.point_id, a.building_id, b.institution_id, a.rule, s.status,
               a.severity, a.rule || ' · ' || p.key, a.started_at,
               a.started_at + interval '15 minutes', a.ended_at,
               CASE WHEN s.status = 'acknowledged' THEN a.started_at + interval '2 hours' END,
               CASE WHEN s.status = 'acknowledged' THEN 'bench engineer' END,
               CASE WHEN s.status = 'acknowledged' THEN 'facilities' END,
               CASE WHEN s.status = 'resolved'
                    THEN greatest(coalesce(a.closed_at, a.ended_at),
                                  a.started_at + interval '1 hour') END,
               CASE WHEN s.status = 'resolved' THEN 'system' END,
               a.waste / d.days, a.waste_unit, a.kgce / d.days, a.cny / d.days
           FROM anomalies a
           JOIN points p ON p.id = a.point_id
           JOIN buildings b ON b.id = a.building_id
           CROSS JOIN LATERAL (SELECT CASE WHEN a.status <> 'open' THEN 'resolved'
                                           WHEN a.id %% 3 = 0 THEN 'acknowledged'
                                           ELSE 'open' END AS status) s
           CROSS JOIN LATERAL (SELECT greatest(extract(epoch FROM a.ended_at - a.started_at)
                                               / 86400, 1 / 24.0) AS days) d
           WHERE a.status <> 'retracted'""",
        {"rule": rule_id},
    )
    (alerts,) = conn.execute(
        "SELECT count(*) FROM alerts WHERE alert_rule_id = %s", (rule_id,)
    ).fetchone()
    conn.execute("ANALYZE anomalies")
    conn.execute("ANALYZE alerts")
    return len(found), alerts


# --- the queries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str  # word key and refId, "var:NAME", "annotation:KEY"; "[all]": every institution
    sql: str
    all_institutions: bool = False

    @property
    def name(self) -> str:
        return f"{self.dashboard}/{self.panel}"


def _key(title: str) -> str:
    return _KEYS.get(title) or re.sub(r"\W+", "_", title).strip("_")


def queries(lang: str = "zh") -> list[Query]:
    """Every panel target, variable query (once: the dashboards share them) and annotation."""
    out: list[Query] = []
    seen_vars: set[str] = set()
    for d in all_dashboards(lang):
        m = re.fullmatch(r"jieneng-(\w+)-\w+", d["uid"])
        board = m[1] if m else _key(d["title"])
        for v in d["templating"]["list"]:
            if v["type"] == "query" and v["query"] not in seen_vars:
                seen_vars.add(v["query"])
                out.append(Query("variables", f"var:{v['name']}", v["query"]))
        targets = [(f"{_key(p['title'])}.{t['refId']}", t["rawSql"])
                   for p in d["panels"] for t in p.get("targets", [])]  # fmt: skip
        targets += [(f"annotation:{_key(a['name'])}", a["target"]["rawSql"])
                    for a in d["annotations"]["list"] if "target" in a]  # fmt: skip
        for panel, sql in targets:
            out.append(Query(board, panel, sql))
            if board == "portfolio" and "institution" in macros.referenced(sql):
                out.append(Query(board, f"{panel}[all]", sql, all_institutions=True))
    return out


@dataclass(frozen=True)
class Scope:
    institution: str
    building: str
    point: str
    result: str  # the institution's latest M&V result ('' if none)


def scopes(conn: psycopg.Connection) -> tuple[list[Scope], list[str]]:
    """Every building with its institution, main electricity meter and the institution's
    latest M&V result; every institution."""
    rows = conn.execute(
        """SELECT DISTINCT ON (b.id) i.code, b.code, p.key,
                  coalesce((SELECT r.result_id::text FROM v_mv_results r
                            WHERE r.institution_id = i.id
                            ORDER BY r.computed_at DESC LIMIT 1), '')
           FROM buildings b JOIN institutions i ON i.id = b.institution_id
           JOIN points p ON p.building_id = b.id
           ORDER BY b.id, p.key NOT LIKE '%/elec/main', p.energy_code IS DISTINCT FROM '01',
                    NOT p.cumulative, p.id"""
    ).fetchall()
    institutions = [c for (c,) in conn.execute("SELECT code FROM institutions ORDER BY code")]
    return [Scope(*r) for r in rows], institutions


def variables(query: Query, scope: Scope, institutions: Sequence[str]) -> dict:
    return {
        "institution": list(institutions) if query.all_institutions else [scope.institution],
        "building": scope.building,
        "energy_class": ["01"],
        "point": scope.point,
        "result": scope.result,
    }


def expanded(
    query: Query, span: str, end: dt.datetime, scope: Scope, institutions: Sequence[str]
) -> str:
    days, interval_s = RANGES[span]
    return macros.expand(
        query.sql,
        start=end - dt.timedelta(days=days),
        end=end,
        interval_s=interval_s,
        variables=variables(query, scope, institutions),
    )


# --- timing -----------------------------------------------------------------------------------


def measure(
    url: str,
    end: dt.datetime,
    *,
    repeat: int,
    warmup: int,
    seed: int,
    timeout_s: float,
    slow_s: float,
    slow_repeat: int,
) -> tuple[dict[tuple[str, str], list[float]], dict[tuple[str, str], list[int]], list[Query]]:
    """ms and rows per (query name, range). A query whose warm-up took over ``slow_s`` in
    that range is timed ``slow_repeat`` times instead of ``repeat`` (keeps a run short when
    a panel takes seconds)."""
    todo = queries()
    rng = random.Random(seed)
    times: dict[tuple[str, str], list[float]] = {}
    rows: dict[tuple[str, str], list[int]] = {}
    with psycopg.connect(url, autocommit=True, application_name="bench-dashboards") as conn:
        places, institutions = scopes(conn)
        conn.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
        conn.execute("SET ROLE jieneng_reader")
        warm = [(q, span, rng.choice(places)) for q in todo for span in RANGES
                for _ in range(max(1, warmup))]  # fmt: skip
        say(f"warming up ({len(warm)} queries) …")
        t_start = time.perf_counter()
        warm_s: dict[tuple[str, str], float] = {}
        plan: list[tuple[Query, str, Scope]] = []
        for timed, batch in ((False, warm), (True, plan)):
            if timed:
                plan += [(q, span, rng.choice(places)) for q in todo for span in RANGES
                         for _ in range(slow_repeat if warm_s[(q.name, span)] > slow_s
                                        else repeat)]  # fmt: skip
                rng.shuffle(plan)
                say(f"timing {len(plan)} queries …")
            for i, (q, span, scope) in enumerate(batch):
                sql = expanded(q, span, end, scope, institutions)
                t0 = time.perf_counter()
                try:
                    got = len(conn.execute(sql).fetchall())
                except psycopg.errors.QueryCanceled:
                    got = -1  # over the statement timeout: counted at the timeout
                elapsed = (time.perf_counter() - t0) * 1000
                if not timed:
                    warm_s[(q.name, span)] = elapsed / 1000
                else:
                    times.setdefault((q.name, span), []).append(elapsed)
                    rows.setdefault((q.name, span), []).append(got)
                    if (i + 1) % max(1, len(batch) // 10) == 0:
                        say(f"  {i + 1}/{len(batch)} in {time.perf_counter() - t_start:.0f} s")
    return times, rows, todo


def explain(
    url: str, query: Query, span: str, end: dt.datetime, seed: int, timeout_s: float
) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        places, institutions = scopes(conn)
        conn.execute(f"SET statement_timeout = {int(timeout_s * 1000)}")
        conn.execute("SET ROLE jieneng_reader")
        sql = expanded(query, span, end, random.Random(seed).choice(places), institutions)
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()
    return sql + "\n" + "\n".join(line for (line,) in plan)


def pooled(samples: Sequence[Sequence[float]], q: float) -> float:
    """The ``q``-th percentile of every execution, each query weighing the same however
    many times it ran (a query cut to ``--slow-repeat`` runs counts as much as the others)."""
    values = np.concatenate([np.asarray(s, dtype=float) for s in samples])
    weights = np.concatenate([np.full(len(s), 1.0 / len(s)) for s in samples])
    return float(np.percentile(values, q, method="inverted_cdf", weights=weights))


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 meters × 60 days, 5 repetitions")
    ap.add_argument("--repeat", type=int, help="timed runs per query and range (20; 5 quick)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per query and range")
    ap.add_argument("--timeout", type=float, default=60.0, help="statement timeout (s)")
    ap.add_argument("--slow-s", type=float, default=2.0, help="a warm-up over this (s) …")
    ap.add_argument("--slow-repeat", type=int, default=5, help="… gets this many timed runs")
    ap.add_argument("--no-explain", action="store_true", help="no EXPLAIN of slow queries")
    ap.add_argument("--reuse-db", metavar="NAME", help="time this kept database, build none")
    bench_api.add_data_options(ap)
    args = ap.parse_args()
    meters = args.meters or (100 if args.quick else 1000)
    days = args.days or (60 if args.quick else 365)
    repeat = args.repeat or (5 if args.quick else 20)
    t_all = time.perf_counter()

    world = reuse(args.dsn, args.reuse_db) if args.reuse_db else build(args, meters, days)
    slow: list[str] = []
    try:
        with psycopg.connect(world.url, autocommit=True) as conn:
            world.findings, world.alerts = add_runs_and_alerts(conn, args.seed)
            world.mv_results = bench_api.timed(
                "M&V results", lambda: add_mv_results(conn, world.end)
            )[0]
            (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        say(f"{world.findings} findings with runs, {world.alerts} alerts,"
            f" {world.mv_results} M&V results; {size / 1e9:.1f} GB")  # fmt: skip
        t0 = time.perf_counter()
        times, rows, todo = measure(
            world.url,
            world.end,
            repeat=repeat,
            warmup=args.warmup,
            seed=args.seed,
            timeout_s=args.timeout,
            slow_s=args.slow_s,
            slow_repeat=args.slow_repeat,
        )
        timing_s = time.perf_counter() - t0
        say(f"timed in {timing_s:.1f} s")

        say("")
        say(f"{'dashboard':<10} {'panel':<28} {'range':<5} {'n':>4} {'p50 ms':>8}"
            f" {'p95 ms':>8} {'max ms':>8} {'rows':>7}")  # fmt: skip
        p95s: dict[tuple[str, str], float] = {}
        for q in todo:
            for span in RANGES:
                ms = times[(q.name, span)]
                p50, p95, top = bench_api.percentiles(ms)
                p95s[(q.name, span)] = p95
                got = int(np.median(rows[(q.name, span)]))
                flag = ""
                if p95 > TARGET_MS[span]:
                    flag = "  > target"
                    slow.append(f"{q.name} {span}")
                say(f"{q.dashboard:<10} {q.panel:<28} {span:<5} {len(ms):>4} {p50:>8.1f}"
                    f" {p95:>8.1f} {top:>8.1f} {got:>7}{flag}")  # fmt: skip
        figures: dict[str, object] = {
            "backend": "reused" if args.reuse_db else args.backend,
            "buildings": world.buildings,
            "meters": world.meters,
            "points": world.points,
            "days": world.days,
            "rows": world.rows,
            "findings": world.findings,
            "alerts": world.alerts,
            "mv_results": world.mv_results,
            "panels": len(todo),
            "executions": sum(len(v) for v in times.values()),
        }
        for span in RANGES:
            runs = [v for (_, s), v in times.items() if s == span]
            every = [x for v in runs for x in v]
            p50, p95, top = pooled(runs, 50), pooled(runs, 95), max(every)
            worst = max((k for k in p95s if k[1] == span), key=p95s.__getitem__)
            say(f"{'all':<10} {'':<28} {span:<5} {len(every):>4} {p50:>8.1f} {p95:>8.1f}"
                f" {top:>8.1f}")  # fmt: skip
            figures |= {
                f"p50_ms_{span}": round(p50, 1),
                f"p95_ms_{span}": round(p95, 1),
                f"max_ms_{span}": round(top, 1),
                f"worst_{span}": worst[0],
                f"worst_p95_ms_{span}": round(p95s[worst], 1),
            }
        for span in RANGES:
            verdict = "met" if figures[f"p95_ms_{span}"] <= TARGET_MS[span] else "NOT met"
            say(f"target p95 {span} ≤ {TARGET_MS[span]:.0f} ms: {verdict}")
        say(f"queries over their range's target: {', '.join(slow) or 'none'}")
        if not args.no_explain:
            by_name = {q.name: q for q in todo}
            for item in slow:
                name, span = item.rsplit(" ", 1)
                say(f"\n--- EXPLAIN (ANALYZE, BUFFERS) {name} {span} ---")
                say(explain(world.url, by_name[name], span, world.end, args.seed, args.timeout))
    finally:
        if args.reuse_db:
            pass
        elif args.keep:
            say(f"kept the database: {conninfo_to_dict(world.url)['dbname']}")
        else:
            bench_api.drop_db(args.dsn, world.url)
    wall_s = time.perf_counter() - t_all
    say(f"total {wall_s:.0f} s")
    figures |= {
        "slow": len(slow),
        "timing_s": round(timing_s, 1),
        "wall_s": round(wall_s),
        "target_7d": round(TARGET_MS["7d"]),
        "target_1y": round(TARGET_MS["1y"]),
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    main()
