"""The anomalies table: how one analysis's runs become rows, the typed queries, late days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest
import yaml

from analytics.grid import mean_to_grid, registers_to_grid
from store import findings, maintenance
from store.registry_import import import_file
from store.writer import ReadingWriter
from tests.fix_db import Database

T0 = dt.datetime(2026, 3, 1, 16, tzinfo=dt.UTC)  # a local midnight in Asia/Shanghai
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
D = dt.timedelta(days=1)
GRACE = D
WHOLE = "night_flow"  # a rule judged over the whole window


def run(start: float, end: float, *, waste: float | None = None, rule: str = WHOLE, point=1):
    """A run from hour ``start`` to hour ``end`` after T0, wasting 1 per hour by default."""
    return findings.Run(
        point,
        rule,
        T0 + start * H,
        T0 + end * H,
        "medium",
        2.0,
        (end - start) if waste is None else waste,
        "m3",
        evidence={"hours": end - start},
    )


def reconcile(incidents, found, lo: float, hi: float, *, judged=True, authority=None, wm=None):
    window = (T0 + lo * H, T0 + hi * H)
    return findings.reconcile(
        incidents,
        found,
        window=window,
        authority=authority,
        judged={WHOLE: window if judged else None, "level_shift": None},
        grace=GRACE,
        watermark={10: T0 + (hi if wm is None else wm) * H},
        building_of={1: 10, 2: 10},
        now=T0 + hi * H,
    )


def incident(*runs: findings.Run, status: str = "open", id_: int = 1) -> findings.Incident:
    return findings.Incident(id_, runs[0].point_id, 10, runs[0].rule, status, "m3", list(runs))


def only(outcomes: list[findings.Outcome]) -> findings.Outcome:
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


# --- reconcile: pure ------------------------------------------------------------------------


def test_new_runs_open_or_record_by_the_watermark() -> None:
    out = reconcile([], [run(10, 20), run(100, 110)], 0, 120)
    assert sorted((o.incident.status, sorted(o.kinds)) for o in out) == [
        ("closed", ["recorded"]),  # ended 100 h before the window's end: over
        ("open", ["opened"]),  # ended 10 h before: may go on
    ]


def test_a_grown_run_replaces_the_stored_one_without_double_counting() -> None:
    stored = incident(run(100, 104))  # seen while the night was going on
    o = only(reconcile([stored], [run(100, 110)], 0, 110))
    assert o.kinds == {"extended"} and o.incident.status == "open"
    assert [(r.start, r.end) for r in o.incident.runs] == [(T0 + 100 * H, T0 + 110 * H)]
    assert o.incident.totals()["waste"] == 10.0


def test_the_part_outside_the_window_is_kept_pro_rata() -> None:
    # Stored 4 h run across the window start (2 h outside, wasting 2); the analysis sees
    # 3 h from the window start, wasting 3 → 5 in all, over the union of both.
    stored = incident(run(-2, 2, waste=4.0))
    o = only(reconcile([stored], [run(0, 3, waste=3.0)], 0, 40))
    (merged,) = o.incident.runs
    assert (merged.start, merged.end) == (T0 - 2 * H, T0 + 3 * H)
    assert merged.waste == pytest.approx(5.0)


def test_runs_within_the_grace_chain_into_one_finding() -> None:
    stored = incident(run(0, 10))
    o = only(reconcile([stored], [run(0, 10), run(24, 34)], -5, 40))  # next night
    assert o.kinds == {"extended"} and len(o.incident.runs) == 2
    assert o.incident.totals()["waste"] == 20.0


def test_a_run_past_the_grace_closes_the_open_one_and_opens_another() -> None:
    stored = incident(run(0, 10))
    out = reconcile([stored], [run(0, 10), run(50, 60)], -5, 70)
    old = next(o for o in out if not o.new)
    new = next(o for o in out if o.new)
    assert (old.incident.status, old.kinds) == ("closed", {"closed"})
    assert (new.incident.status, new.kinds) == ("open", {"opened"})
    assert out.index(old) < out.index(new)  # the open slot is freed before it is taken


def test_a_closed_finding_is_not_reopened_but_takes_history() -> None:
    closed = incident(run(0, 10), status="closed")
    # A recurrence at the live edge is a new finding ...
    out = reconcile([closed], [run(0, 10), run(30, 40)], -5, 45)
    assert sorted((o.new, o.incident.status) for o in out) == [(False, "closed"), (True, "open")]
    # ... a run found in old data next to it joins it (late data), and it stays closed.
    o = only(reconcile([closed], [run(0, 10), run(20, 25)], -5, 45, wm=200))
    assert (o.incident.status, o.kinds, len(o.incident.runs)) == ("closed", {"extended"}, 2)


def test_a_resolved_finding_takes_no_new_run() -> None:
    resolved = incident(run(0, 10), status="resolved")
    out = reconcile([resolved], [run(0, 10), run(20, 25)], -5, 200)
    assert sorted((o.new, o.incident.status, len(o.incident.runs)) for o in out) == [
        (False, "resolved", 1),
        (True, "closed", 1),
    ]


def test_a_run_no_longer_found_is_retracted_where_the_rule_judged() -> None:
    stored = incident(run(10, 20))
    o = only(reconcile([stored], [], 0, 40))
    assert (o.incident.status, o.kinds, o.incident.runs) == ("retracted", {"retracted"}, [])
    # Not where the rule could not judge (level shifts, the early part of a TOWT window).
    o = only(reconcile([incident(run(10, 20))], [], 0, 40, judged=False))
    assert (o.incident.status, o.kinds) == ("open", set())
    # Nor a run reaching out of the window.
    o = only(reconcile([incident(run(-5, 20))], [], 0, 40))
    assert o.incident.status == "open" and len(o.incident.runs) == 1


def test_authority_limits_what_a_reanalysis_redoes() -> None:
    far, near = run(10, 20), run(60, 70)
    stored = [incident(far, id_=1, status="closed"), incident(near, id_=2, status="closed")]
    # Late days around hour 60: the run at 10–20 is not found (another window's context) but
    # stays; the run at 60–70 grows.
    authority = [(T0 + 48 * H, T0 + 96 * H)]
    out = reconcile(stored, [run(60, 75)], 0, 100, authority=authority, wm=500)
    changed = {o.incident.id: o.kinds for o in out if o.changed}
    assert changed == {2: {"extended"}}


def test_rate_rules_take_the_latest_value() -> None:
    shifts = [
        run(0, 24, waste=100.0, rule="level_shift"),
        run(24, 48, waste=80.0, rule="level_shift"),
    ]
    o = only(reconcile([], shifts, 0, 200))
    assert o.incident.totals()["waste"] == 80.0


def test_the_same_analysis_again_changes_nothing() -> None:
    out = reconcile([], [run(10, 20), run(100, 110)], 0, 120)
    stored = [
        findings.Incident(
            k, o.incident.point_id, 10, WHOLE, o.incident.status, "m3", o.incident.runs
        )
        for k, o in enumerate(out, 1)
    ]
    again = reconcile(stored, [run(10, 20), run(100, 110)], 0, 120)
    assert [o.changed for o in again] == [False, False]
    assert all(o.seen for o in again)


def test_a_moved_window_does_not_rewrite_every_estimate() -> None:
    stored = incident(run(10, 20, waste=10.0))
    o = only(reconcile([stored], [run(10, 20, waste=10.1)], 0, 40))  # 1 %: noise
    assert not o.changed and o.incident.runs[0].waste == 10.0
    o = only(reconcile([incident(run(10, 20, waste=10.0))], [run(10, 20, waste=11.0)], 0, 40))
    assert o.changed and o.kinds == {"updated"} and o.incident.runs[0].waste == 11.0


# --- the database ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(database: Database, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    doc = {
        "institutions": [{"code": "T-1", "name": "测试机关", "type": "机关"}],
        "buildings": [{"code": "110108A901", "institution": "T-1", "name": "办公楼"}],
        "points": [
            {"key": "t/elec/main", "building": "110108A901", "unit": "kWh", "energy_code": "01"},
            {"key": "t/water/main", "building": "110108A901", "unit": "m3", "energy_code": "02"},
            {"key": "t/temp/roof", "building": "110108A901", "unit": "degC", "location": "室外"},
        ],
    }
    path = tmp_path_factory.mktemp("registry") / "registry.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with database.connect() as conn:
        import_file(conn, path)
        conn.commit()
        rows = conn.execute("SELECT key, id FROM points").fetchall()
    return dict(rows)


def test_registry_location_reaches_the_points(database: Database, registry: dict[str, int]) -> None:
    with database.connect() as conn:
        pts = {p.key: p for p in findings.points(conn, ["110108A901"])}
    assert pts["t/temp/roof"].location == "outdoor"
    assert pts["t/elec/main"].location is None
    assert pts["t/elec/main"].building_kind == "government"


def test_incidents_round_trip_and_one_open_per_point_and_rule(
    database: Database, registry: dict[str, int]
) -> None:
    water = registry["t/water/main"]
    found = [run(10, 20, point=water), run(100, 110, point=water)]
    with database.connect() as conn:
        out = findings.reconcile(
            [],
            found,
            window=(T0, T0 + 120 * H),
            judged={WHOLE: (T0, T0 + 120 * H)},
            grace=GRACE,
            watermark={},
            building_of={water: None},
            now=T0 + 120 * H,
        )
        assert findings.write(conn, out, "test") == 2
        loaded = findings.load_incidents(conn, [water], T0, T0 + 120 * H, GRACE)
        assert sorted(i.status for i in loaded) == ["closed", "open"]
        got = [r for i in loaded for r in i.runs]
        assert sorted(got, key=lambda r: r.start) == found
        conn.commit()
        with pytest.raises(psycopg.errors.UniqueViolation, match="anomalies_one_open"):
            conn.execute(
                "INSERT INTO anomalies (point_id, rule, started_at, ended_at, last_seen_at,"
                " run_count, severity, waste_unit, detector_version)"
                " VALUES (%s, %s, %s, %s, now(), 1, 'low', 'm3', 'test')",
                (water, WHOLE, T0, T0 + H),
            )
        conn.rollback()
        view = conn.execute(
            "SELECT count(*), sum(waste) FROM v_anomalies WHERE point_id = %s", (water,)
        ).fetchone()
        runs = conn.execute(
            "SELECT count(*) FROM v_anomaly_runs WHERE point_id = %s", (water,)
        ).fetchone()
    assert view == (2, pytest.approx(20.0)) and runs == (2,)


def _write(database: Database, pid, t, v) -> None:
    with database.connect() as conn:
        ReadingWriter(database.backend).write(conn, pid, t, v)
        conn.commit()


def test_buckets_give_the_grids_of_the_raw_readings(
    database: Database, registry: dict[str, int]
) -> None:
    """The register at every slot end and the slot means, from v_rollup_15m, equal what
    analytics.grid makes of the raw readings (readings off the grid by up to ± 6 min)."""
    rng = np.random.default_rng(3)
    main, roof = registry["t/elec/main"], registry["t/temp/roof"]
    lo = T0 + 10 * D
    start_us = int(lo.timestamp() * 1e6)
    n_slots = 96
    # Registers about every 3 minutes (µs off the grid), with two silent hours.
    reg_t = np.sort(rng.integers(start_us - 1_200_000_000, start_us + 87_600_000_000, 500))
    reg_t = reg_t[(reg_t < start_us + 36_000_000_000) | (reg_t > start_us + 43_200_000_000)]
    reg_v = np.round(np.cumsum(rng.uniform(0, 2, len(reg_t))), 2)
    temp_t = start_us + np.arange(0, (n_slots + 1) * 900, 60) * 1_000_000  # every minute
    temp_v = rng.normal(10, 3, len(temp_t))
    pid = np.r_[np.full(len(reg_t), main), np.full(len(temp_t), roof)]
    _write(database, pid, np.r_[reg_t, temp_t], np.r_[reg_v, temp_v])
    with database.connect(autocommit=True) as conn:
        assert findings.refresh_rollups_if_idle(conn)
        b = findings.read_buckets(conn, [main, roof], lo - 15 * M, lo + D + 15 * M)
    grid = {"n_points": 1, "start_us": start_us, "step_s": 900, "n_slots": n_slots}
    raw_reg, raw_flags = registers_to_grid(np.zeros(len(reg_t), int), reg_t, reg_v, **grid)
    m = b.point_id == main
    got_reg, got_flags = registers_to_grid(
        np.zeros(2 * m.sum(), int),
        np.r_[b.first_us[m], b.last_us[m]],
        np.r_[b.first_value[m], b.last_value[m]],
        **grid,
    )
    np.testing.assert_array_equal(got_reg, raw_reg)
    np.testing.assert_array_equal(got_flags, raw_flags)
    # Sensors: exact when a bucket's readings all fall in one slot; with one reading a
    # minute the bucket [s, s + 15 min) and the slot (s, s + 15 min] differ by one reading.
    raw_mean, _ = mean_to_grid(np.zeros(len(temp_t), int), temp_t, temp_v, **grid)
    s = b.point_id == roof
    middle = (b.first_us[s] + b.last_us[s]) // 2
    sums, _ = mean_to_grid(np.zeros(s.sum(), int), middle, b.sum[s], **grid)
    counts, _ = mean_to_grid(np.zeros(s.sum(), int), middle, b.n[s].astype(float), **grid)
    assert np.nanmax(np.abs(sums / counts - raw_mean)) < 3.0
    assert np.isnan(sums / counts).sum() == np.isnan(raw_mean).sum() == 0


def test_late_days_are_the_days_that_grew(database: Database, registry: dict[str, int]) -> None:
    water = registry["t/water/main"]
    with database.connect() as conn:
        building = findings.points(conn, ["110108A901"])[0].building_id
    day0 = T0 + 30 * D
    d0_us = int(day0.timestamp() * 1e6)
    t = d0_us + np.arange(0, 3 * 96) * 900_000_000
    keep = (t < d0_us + 86_400_000_000) | (t >= d0_us + 2 * 86_400_000_000)  # day 2 withheld
    _write(database, np.full(keep.sum(), water), t[keep], np.arange(keep.sum()) * 0.01)
    days = [day0, day0 + D, day0 + 2 * D]
    with database.connect(autocommit=True) as conn:
        maintenance.refresh_rollups(conn)
        counts = findings.day_counts(conn, [building], days)
        assert counts[(building, day0 + D)] == 0
        findings.save_day_counts(conn, counts)
        assert findings.late_days(conn, [building], day0, day0 + 3 * D) == {}
    late = ~keep
    _write(database, np.full(late.sum(), water), t[late], np.arange(late.sum()) * 0.01)
    with database.connect(autocommit=True) as conn:
        assert findings.late_days(conn, [building], day0, day0 + 3 * D) == {}  # not refreshed
        maintenance.refresh_rollups(conn)
        assert findings.late_days(conn, [building], day0, day0 + 3 * D) == {
            building: {day0 + D: int(late.sum())}
        }


def test_one_analysis_at_a_time(database: Database) -> None:
    with database.connect(autocommit=True) as a, database.connect(autocommit=True) as b:
        assert findings.lock_analysis(a, wait=False)
        assert not findings.lock_analysis(b, wait=False)
        findings.unlock_analysis(a)
        assert findings.lock_analysis(b, wait=False)
        findings.unlock_analysis(b)
