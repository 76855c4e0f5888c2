"""A simulated week through the real broker and collector into PostgreSQL, checked against the
simulator's ground truth: registers, sub-meters, calendar, temperatures and every fault, with
one building in each payload format (canonical batch, columns and singles, SenML, Tasmota,
Shelly, declarative mapping)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import psycopg
import pytest

from simulators.backfill import import_portfolio
from simulators.buildings import Day, Simulator
from simulators.faults import KINDS
from simulators.live import MAPPING_FILE, Publisher
from simulators.portfolio import FORMATS, make_portfolio
from tests.fix_db import Database
from tests.fix_mqtt import Broker
from tests.support import CollectorProcess, wait_for

pytestmark = pytest.mark.slow
TZ = dt.timezone(dt.timedelta(hours=8))


def test_simulated_week_through_the_collector(
    tmp_path: Path, plain_database: Database, broker: Broker
) -> None:
    db = plain_database
    portfolio = make_portfolio(len(FORMATS), seed=7)  # every payload format
    rates = dict.fromkeys(KINDS, 6.0)  # many faults: a week must show them all
    sim = Simulator(portfolio, seed=7, step_s=900, fault_rates=rates, mqtt=True)
    with psycopg.connect(db.url) as conn:
        import_portfolio(conn, portfolio)
    end_day = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
    start = dt.datetime.combine(end_day - dt.timedelta(days=7), dt.time(), TZ)
    until = dt.datetime.combine(end_day, dt.time(), TZ)
    days: list[Day] = []
    proc = CollectorProcess(
        tmp_path,
        database_url=db.url,
        broker_url=broker.url,
        prefix="simweek",
        auto_register="false",
        mapping_file=MAPPING_FILE,
    ).start()
    try:
        pub = Publisher(sim, broker.host, broker.port, start=start, speed=0, prefix="simweek")
        pub.run(until=until, on_day=days.append)
        expected = sum(int((~np.isnan(d.values)).sum()) for d in days[:7])
        wait_for(
            lambda: db.scalar("SELECT count(*) FROM readings") >= expected,
            timeout=120,
            what=f"{expected} readings",
        )
        metrics = proc.metrics()
    finally:
        assert proc.stop() == 0, proc.log()
    days = days[:7]
    keys = [p.key for p in sim.points]
    with psycopg.connect(db.url) as conn:
        rows = conn.execute(
            "SELECT point_key, (extract(epoch FROM time) * 1e6)::bigint, value FROM v_readings"
        ).fetchall()
    assert len(rows) == expected  # duplicates absorbed, malformed payloads in dead letters
    stored: dict[str, dict[int, float]] = {k: {} for k in keys}
    for key, t, v in rows:
        stored[key][t] = v
    times = np.concatenate([d.times_us for d in days])
    values = np.concatenate([d.values for d in days], axis=1)
    energy = np.concatenate([d.energy for d in days], axis=1)
    faults = pub.faults

    def snap(t: int) -> int:
        return int(times[0] + round((t - times[0]) / sim.step_us) * sim.step_us)

    hit = {f.point for f in faults if f.kind not in ("duplicate_publish", "malformed_payload")}
    hit |= {f.waste_point for f in faults if f.waste_point}

    # Stored values equal what was sent, and register deltas equal interval energy.
    clean_meters = [i for i, p in enumerate(sim.points) if p.cumulative and p.key not in hit]
    assert clean_meters
    for i in clean_meters:
        p = sim.points[i]
        got = np.array([stored[p.key][t] for t in times.tolist()])
        assert np.allclose(got, values[i])
        delta = np.mod(np.diff(got), p.rollover_value)
        tol = p.resolution * 1.01
        assert np.all(np.abs(delta * p.multiplier - energy[i, 1:]) <= tol * p.multiplier + 1e-9)

    # Sub-meters sum to the main meter up to the unmetered share (ground-truth energy).
    for b in portfolio.buildings:
        main = energy[keys.index(b.point("main").key)].sum()
        subs = sum(
            energy[keys.index(p.key)].sum() for p in b.points if p.parent == b.point("main").key
        )
        assert 0 <= (main - subs) / main <= sim.unmetered_share + 1e-9

    # Weekends and holidays use less than workdays in offices and schools (stored power).
    from analytics.calendar import is_workday

    local_days = ((times - 1) // 1_000_000 + 8 * 3600) // 86400
    worked = is_workday(local_days.astype("datetime64[D]"))
    assert worked.any() and not worked.all()
    for b in portfolio.buildings:
        if b.kind == "hospital":
            continue
        k = b.point("main_power").key
        power = np.array([stored[k].get(t, np.nan) for t in times.tolist()])
        assert np.nanmedian(power[~worked]) < 0.8 * np.nanmedian(power[worked])

    # Indoor temperatures are plausible.
    zones = [p.key for p in sim.points if p.role.startswith("zone")]
    temps = np.array([v for k in zones for v in stored[k].values()])
    assert 5.0 < temps.min() and temps.max() < 38.0  # closed buildings float in summer

    # Every injected fault is labelled and leaves a trace in the stored data.
    assert faults and all(f.label()["kind"] in KINDS for f in faults)
    kinds = {f.kind for f in faults}
    assert {"duplicate_publish", "malformed_payload", "dead_meter", "spike"} <= kinds
    for f in faults:
        series = stored[f.point]
        # Readings of the slots in the window (a skewed clock moves a time by < half a slot).
        inside = [t for t in series if f.start_us < snap(t) <= f.end_us]
        window = (times > f.start_us) & (times <= f.end_us)
        if f.kind == "dead_meter":
            assert not inside, f
        elif f.kind == "stuck_register":
            assert len({series[t] for t in inside}) <= 1, f
        elif f.kind == "spike":
            v = [series[t] for t in inside]
            assert v and max(v) > 5 * np.median(list(series.values())), f
        elif f.kind in ("meter_reset", "meter_replacement"):
            got = np.array([series[t] for t in sorted(series) if t <= f.end_us + sim.step_us])
            assert (np.diff(got) < 0).any(), f
        elif f.kind == "clock_skew":
            assert any(t % sim.step_us for t in inside) or window.sum() <= 1, f
        elif f.kind in ("overcooling", "overheating"):
            v = np.array([series[t] for t in inside])
            assert (v < 25.5).any() if f.kind == "overcooling" else (v > 20.5).any(), f
            assert f.expected_waste > 0, f
        elif f.kind in ("after_hours_lighting", "hvac_out_of_hours", "night_water_leak"):
            assert f.expected_waste > 0, f
    assert metrics["jieneng_ingest_readings_duplicate_total"] > 0
    assert metrics["jieneng_ingest_dead_letters_total"] > 0
