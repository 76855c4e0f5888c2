"""The analysis job against a real database: a simulated portfolio with labelled leaks and
lights left on, analysed as the service would, then again, later, and after late readings."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from analytics import factors, suite
from analytics.grid import mean_to_grid, registers_to_grid
from jieneng import analyze as job
from jieneng.settings import Settings
from simulators import evaluate
from simulators.backfill import import_portfolio, point_ids
from simulators.buildings import Simulator
from simulators.faults import DEFAULT_RATES, Fault
from simulators.portfolio import Point, Portfolio, make_portfolio
from store import findings
from store.writer import ReadingWriter
from tests.fix_db import Database

TZ = ZoneInfo("Asia/Shanghai")
START = dt.date(2026, 3, 2)
DAYS = 44  # simulated
WINDOW = 36  # analysed (the TOWT baselines need 35)
SEED = 2  # a leak on 230102A001's water meter the night of day 5, another ending on day 39
LATE_POINT = "230102A001/water/main"
LATE_DAY = 5  # its readings from noon on this day to noon the next arrive late
RULE_OF = {"after_hours_lighting": "after_hours", "night_water_leak": "night_flow"}


def day(n: float) -> dt.datetime:
    return dt.datetime.combine(START, dt.time(), TZ) + dt.timedelta(days=n)


@dataclass
class Scenario:
    faults: list[Fault]
    reports: dict[str, job.Report]
    rows: dict[str, list[dict]]  # anomalies after each step
    portfolio: Portfolio
    points: list[Point]
    readings: tuple[np.ndarray, np.ndarray, np.ndarray]  # simulator rows, µs, values


def _rows(database: Database) -> list[dict]:
    with database.connect() as conn:
        cur = conn.execute(
            """SELECT a.id, p.key AS point, a.rule, a.status, a.started_at, a.ended_at,
                      a.run_count, a.waste, a.kgce, a.cny, a.updated_at
               FROM anomalies a JOIN points p ON p.id = a.point_id ORDER BY a.id"""
        )
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture(scope="module")
def scenario(database: Database) -> Scenario:
    rates = dict.fromkeys(DEFAULT_RATES, 0.0)
    rates.update(after_hours_lighting=3.0, night_water_leak=3.0)
    portfolio = make_portfolio(3, seed=SEED)
    sim = Simulator(portfolio, seed=SEED, fault_rates=rates)
    withheld = (
        int(day(LATE_DAY + 0.5).timestamp() * 1e6),
        int(day(LATE_DAY + 1.5).timestamp() * 1e6),
    )
    late, every = [], []
    faults: list[Fault] = []
    with database.connect() as conn:
        import_portfolio(conn, portfolio)
        conn.commit()
        ids = point_ids(conn, [p.key for p in sim.points])
        late_id = ids[[p.key for p in sim.points].index(LATE_POINT)]
        writer = ReadingWriter(database.backend, collector="test")
        for n in range(DAYS):
            d = sim.day(START + dt.timedelta(days=n))
            faults += d.faults
            idx, t, v = d.readings()
            every.append((idx, t, v))
            pid = ids[idx]
            hold = (pid == late_id) & (t >= withheld[0]) & (t < withheld[1])
            late.append((pid[hold], t[hold], v[hold]))
            writer.write(conn, pid[~hold], t[~hold], v[~hold])
            conn.commit()
    settings = Settings(database_url=database.url, analyze_days=WINDOW)
    reports, rows = {}, {}

    def step(name: str, until: dt.datetime) -> None:
        reports[name] = job.run_once(settings, until=until)
        rows[name] = _rows(database)

    step("first", day(40))  # window: days 4–40
    step("again", day(40))
    step("later", day(DAYS))  # window: days 8–44; the late day has left it
    with database.connect() as conn:
        p, t, v = (np.concatenate(x) for x in zip(*late, strict=True))
        assert len(p) == 96
        ReadingWriter(database.backend).write(conn, p, t, v)
        conn.commit()
    step("late", day(DAYS))
    step("settled", day(DAYS))
    readings = tuple(np.concatenate(x) for x in zip(*every, strict=True))
    return Scenario(faults, reports, rows, portfolio, sim.points, readings)  # type: ignore[arg-type]


def _labels(scenario: Scenario, since: dt.datetime) -> list[Fault]:
    return [
        f for f in scenario.faults if f.kind in RULE_OF and f.start_us >= since.timestamp() * 1e6
    ]


def _covers(row: dict, fault: Fault) -> bool:
    return (
        row["point"] == fault.point
        and row["rule"] == RULE_OF[fault.kind]
        and row["started_at"].timestamp() * 1e6 < fault.end_us
        and fault.start_us < row["ended_at"].timestamp() * 1e6
    )


def test_a_window_from_the_store_is_the_window_of_the_raw_readings(
    scenario: Scenario, database: Database
) -> None:
    """Registry → layout, v_rollup_15m → grids: the suite finds exactly what it finds on the
    simulator's own readings and layout (simulators.evaluate's way)."""
    lo, hi = day(8), day(DAYS)
    start_us, n = int(lo.timestamp() * 1e6), int((hi - lo) / job.STEP)
    grid = {"n_points": len(scenario.points), "start_us": start_us, "step_s": 900, "n_slots": n}
    reg, reg_flags = registers_to_grid(*scenario.readings, **grid)
    inst, _ = mean_to_grid(*scenario.readings, **grid)
    meter = np.array([[p.cumulative] for p in scenario.points])
    expected = suite.analyze(
        np.where(meter, reg, np.nan),
        np.where(meter, np.nan, inst),
        evaluate.layout(scenario.portfolio, scenario.points),
        start_us=start_us,
        step_s=900,
        register_flags=reg_flags,
    ).findings
    with database.connect() as conn:
        pts = findings.points(conn)
        ids = [p.id for p in pts]
        result = job.analyze_window(
            pts,
            findings.read_buckets(conn, ids, lo - job.STEP, hi + job.STEP),
            [],
            lo=lo,
            hi=hi,
            utc_offset_s=8 * 3600,
            factors=factors.load(),
        )
    key_of = {p.id: p.key for p in pts}
    got = sorted(
        (key_of[r.point_id], r.rule, r.start, r.end, round(r.waste, 6))
        for r in result.runs
        if r.rule not in ("gap", "stuck", "reset", "spike", "clock_skew")
    )
    want = sorted(
        (
            scenario.points[f.point].key,
            f.rule,
            lo + f.start * job.STEP,
            lo + f.end * job.STEP,
            round(f.waste, 6),
        )
        for f in expected
    )
    assert got == want and len(got) > 10


def test_findings_match_the_labels(scenario: Scenario) -> None:
    rows = [r for r in scenario.rows["settled"] if r["status"] != "retracted"]
    labels = _labels(scenario, day(4))
    assert len(labels) >= 10
    missed = [(f.kind, f.point, f.start_us) for f in labels if not any(_covers(r, f) for r in rows)]
    assert missed == []
    found = expected = 0.0
    for r in rows:
        if r["rule"] not in RULE_OF.values():
            continue
        truth = [f for f in scenario.faults if f.kind in RULE_OF and _covers(r, f)]
        assert truth, f"no label under {r}"
        assert r["kgce"] is not None and r["cny"] > 0
        if r["started_at"] >= day(4) + dt.timedelta(hours=1):  # not cut by a window's start
            # The detectors' estimate (a hospital's evening use hides part of the lights left
            # on, say), never counted twice however often the window moved over it.
            assert r["waste"] < 1.15 * sum(f.expected_waste for f in truth), (r, truth)
            found += r["waste"]
            expected += sum(f.expected_waste for f in truth)
    assert 0.6 < found / expected < 1.1


def test_first_run_opens_and_records(scenario: Scenario) -> None:
    report = scenario.reports["first"]
    assert report.failed_batches == 0 and report.buildings == 3
    rows = scenario.rows["first"]
    open_ = [r for r in rows if r["status"] == "open"]
    assert open_ and all(r["ended_at"] + dt.timedelta(days=1) > day(40) for r in open_)
    assert len({(r["point"], r["rule"]) for r in open_}) == len(open_)
    kinds = {k for c in report.counts.values() for k in c}
    assert kinds <= {"opened", "recorded"}


def test_the_same_run_again_changes_nothing(scenario: Scenario) -> None:
    report = scenario.reports["again"]
    assert not any(report.counts.values()), report.counts
    assert scenario.rows["again"] == scenario.rows["first"]


def test_findings_that_stopped_are_closed(scenario: Scenario) -> None:
    before = {r["id"]: r for r in scenario.rows["first"]}
    after = {r["id"]: r for r in scenario.rows["later"]}
    closed = [
        i for i, r in before.items() if r["status"] == "open" and after[i]["status"] == "closed"
    ]
    assert closed, "a finding open at day 40 should have closed by day 44"
    assert sum(c["closed"] for c in scenario.reports["later"].counts.values()) == len(closed)
    for r in after.values():
        if r["status"] == "open":
            assert r["ended_at"] + dt.timedelta(days=1) > day(DAYS)
        else:
            assert r["status"] in ("closed", "retracted")
    # A leak ended on day 39 (the label the seed was chosen for).
    assert any(after[i]["point"] == LATE_POINT and after[i]["rule"] == "night_flow" for i in closed)


def test_late_readings_reopen_a_closed_window(scenario: Scenario) -> None:
    leak = next(
        f
        for f in scenario.faults
        if f.point == LATE_POINT
        and f.kind == "night_water_leak"
        and day(LATE_DAY) <= dt.datetime.fromtimestamp(f.start_us / 1e6, dt.UTC) < day(LATE_DAY + 1)
    )
    # Readings stamped at slot ends: the slots of the withheld readings start 15 min earlier.
    quarter = dt.timedelta(minutes=15)
    silence = day(LATE_DAY + 0.5) - quarter, day(LATE_DAY + 1.5) - quarter

    def gaps(rows):
        return [r for r in rows if r["point"] == LATE_POINT and r["rule"] == "gap"]

    # Before: the meter was silent for 24 h; the leak hid in the silence.
    (gap,) = gaps(scenario.rows["later"])
    assert (gap["started_at"], gap["ended_at"], gap["status"]) == (*silence, "closed")
    assert not any(_covers(r, leak) for r in scenario.rows["later"])
    # The late readings arrive: those two days are analysed again.
    report = scenario.reports["late"]
    assert (report.late_windows, report.late_days) == (1, 2)
    (gap,) = gaps(scenario.rows["late"])
    assert gap["status"] == "retracted"
    (found,) = [r for r in scenario.rows["late"] if _covers(r, leak)]
    assert found["status"] == "closed"
    assert found["waste"] == pytest.approx(leak.expected_waste, rel=0.2)
    assert report.counts["gap"]["retracted"] == 1
    assert report.counts["night_flow"]["recorded"] == 1
    # Nothing else changed, and nothing is late any more.
    before = {r["id"]: r for r in scenario.rows["later"]}
    changed = [r for r in scenario.rows["late"] if before.get(r["id"]) != r]
    assert {r["id"] for r in changed} == {gap["id"], found["id"]}
    settled = scenario.reports["settled"]
    assert settled.late_windows == 0 and not any(settled.counts.values())


def test_the_command_and_the_service_loop(
    scenario: Scenario, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from jieneng.cli import app

    monkeypatch.setenv("JIENENG_DATABASE_URL", database.url)
    monkeypatch.setenv("JIENENG_LOG_FORMAT", "text")
    result = CliRunner().invoke(
        app, ["analyze", "--until", day(DAYS).date().isoformat(), "--days", str(WINDOW)]
    )
    assert result.exit_code == 0, result.output
    assert "analysis up to 2026-04-14 16:00Z: 3 buildings" in result.output
    assert "下班后照明插座" in result.output  # the open one, in the summary
    bad = CliRunner().invoke(app, ["analyze", "--once", "--every", "60"])
    assert bad.exit_code == 2 and "exclude each other" in bad.output
    bad = CliRunner().invoke(app, ["analyze", "--building", "110108A999", "--until", "2026-04-15"])
    assert bad.exit_code == 2 and "no building 110108A999" in bad.output
    # The schedule: rounds until stopped (here after the second).
    settings = Settings(database_url=database.url, analyze_days=WINDOW)
    stop = threading.Event()
    reports: list[job.Report] = []

    def seen(report: job.Report) -> None:
        reports.append(report)
        if len(reports) == 2:
            stop.set()

    job.serve(settings, every_s=0.01, stop=stop, on_report=seen, until=day(DAYS))
    assert len(reports) == 2 and not any(r.counts for r in reports)


def test_the_service_runs_it_in_a_child_process(database: Database) -> None:
    settings = Settings(database_url=database.url, analyze_every_s=3600, analyze_days=WINDOW)
    background = job.Background(settings)
    background.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not database.scalar(
            "SELECT count(*) FROM analysis_state WHERE analyzed_at > now() - interval '1 min'"
        ):
            time.sleep(0.2)
        assert background.process.is_alive()
    finally:
        background.stop(timeout_s=30)
    assert background.process.exitcode == 0
    assert database.scalar("SELECT count(*) FROM analysis_state") == 3
