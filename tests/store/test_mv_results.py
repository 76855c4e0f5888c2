"""Stored M&V results (migration 0012, ``store.mv``): eemeter's Illinois samples measured and
stored, read back through the dashboards' views as the read-only role; contracts settled and
measured to date from simulated readings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row
from typer.testing import CliRunner

from jieneng import emc
from jieneng import mv as mv_cli
from jieneng.cli import app
from store import mv as stored

DATA = Path(__file__).resolve().parents[1] / "data" / "eemeter"
META = json.loads((DATA / "metadata.json").read_text())
CONTRACT_ROWS = "SELECT count(*) FROM mv_results WHERE contract_id IS NOT NULL"
BASELINE_END, REPORTING_START = dt.date(2016, 12, 26), dt.date(2017, 1, 4)


def _read(conn: psycopg.Connection, result_id: int) -> tuple[dict, list[dict]]:
    conn.execute("SET ROLE jieneng_reader")  # what Grafana reads
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            head = cur.execute(
                "SELECT * FROM v_mv_results WHERE result_id = %s", (result_id,)
            ).fetchone()
            days = cur.execute(
                "SELECT * FROM v_mv_days WHERE result_id = %s ORDER BY day", (result_id,)
            ).fetchall()
    finally:
        conn.execute("RESET ROLE")
    return head, days


def _check_days(result: dict, head: dict, days: list[dict]) -> None:
    """The views give back the result: its statistics, its days, and a cumulative avoided
    energy that ends at the result's."""
    s = result["savings"]
    assert head["avoided"] == pytest.approx(s["avoided"])
    assert head["adjusted_baseline"] == pytest.approx(s["counterfactual"])
    assert head["periods"] == s["days"]
    assert [d["day"].isoformat() for d in days] == result["daily"]["date"]
    reporting = [d for d in days if d["period"] == "reporting"]
    assert reporting[0]["day"].isoformat() == result["reporting"]["start"]
    assert reporting[-1]["cumulative_avoided"] == pytest.approx(s["avoided"] - s["non_routine"])
    assert all(d["cumulative_avoided"] is None for d in days if d["period"] == "baseline")
    # Local midnights of the building (Asia/Shanghai) as the panels' times.
    assert all(d["time"].astimezone(dt.timezone(dt.timedelta(hours=8))).hour == 0 for d in days)


def _daily_sample(reporting_days: int) -> dict:
    """eemeter's daily electricity sample: the year before its blackout as the baseline."""
    return mv_cli.run(
        mv_cli.read_meter(DATA / META["il-electricity-cdd-hdd-daily"]["meter_data_filename"]),
        mv_cli.read_temperature(DATA / "il-tempF.csv.gz"),
        baseline_end=BASELINE_END,
        reporting_start=REPORTING_START,
        reporting_end=REPORTING_START + dt.timedelta(days=reporting_days),
    )


def test_a_daily_measurement_stored_and_read_back(world: dict) -> None:
    result = _daily_sample(365)
    meter = world["mains"][world["b"].code]
    with psycopg.connect(world["url"], autocommit=True) as conn:
        with conn.transaction():
            first = stored.save(conn, meter, result)
        head, days = _read(conn, first)
        g14 = result["guideline14_monthly"]
        assert head["cvrmse"] == pytest.approx(g14["cvrmse"]) and head["passes"] == g14["passes"]
        assert (head["cvrmse_limit"], head["nmbe_limit"]) == (0.15, 0.05)
        assert head["purpose"] == "measurement" and head["contract_code"] is None
        assert head["savings_fraction"] == pytest.approx(result["savings"]["fractional"])
        # The sample's reporting year uses 10 % less than its baseline year.
        assert 0.03 < head["savings_fraction"] < 0.17
        assert len(days) == 365 + 365
        _check_days(result, head, days)
        # The same computation again replaces it; another reporting period is another row.
        with conn.transaction():
            again = stored.save(conn, meter, result)
        with conn.transaction():
            other = stored.save(conn, meter, _daily_sample(90))
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM mv_results WHERE purpose = 'measurement' ORDER BY id"
        )]  # fmt: skip
        assert again == first and ids == [first, other]  # the same id: links to it still work
        days_of = "SELECT count(*) FROM mv_days WHERE result_id = %s"
        assert conn.execute(days_of, (first,)).fetchone()[0] == 365 + 365
        assert conn.execute(days_of, (other,)).fetchone()[0] == 365 + 90
        # A contract's result must be of the contract's meter.
        contract = f"EMC-{world['a'].code}"
        with pytest.raises(ValueError, match=f"is not the meter of contract '{contract}'"):
            stored.save(conn, meter, result, purpose="settlement", contract=contract)


def test_an_hourly_measurement_stored_as_days(world: dict) -> None:
    result = mv_cli.run_hourly(
        mv_cli.read_meter(DATA / "il-electricity-cdd-hdd-hourly.csv.gz", hourly=True),
        mv_cli.read_hourly_temperature(DATA / "il-tempF.csv.gz"),
        baseline_end=BASELINE_END,
        reporting_start=REPORTING_START,
        reporting_end=REPORTING_START + dt.timedelta(days=60),
    )
    meter = world["mains"][world["a"].code]
    with psycopg.connect(world["url"], autocommit=True) as conn:
        with conn.transaction():
            result_id = stored.save(conn, meter, result)
        head, days = _read(conn, result_id)
    g14 = result["guideline14_hourly"]
    assert head["g14_interval"] == "hourly"
    assert (head["cvrmse_limit"], head["nmbe_limit"]) == (0.3, 0.1)
    assert head["nmbe"] == pytest.approx(g14["nmbe"]) and head["model"] == "hourly"
    assert len(days) == 365 + 60
    _check_days(result, head, days)
    # A whole day's use is its 24 hours'.
    hours = mv_cli.read_meter(DATA / "il-electricity-cdd-hdd-hourly.csv.gz", hourly=True)
    day = next(d for d in days if d["period"] == "reporting" and d["observed"] is not None)
    same = [v for t, v in hours.items() if t.date() == day["day"]]
    assert len(same) == 24 and day["observed"] == pytest.approx(sum(same), abs=1e-3 * 24)


def test_contracts_settled_and_measured_to_date(world: dict, monkeypatch) -> None:
    """The world settled A's July and measured both contracts to 4 July (tests/fix_api.py)."""
    a, b = world["a"].code, world["b"].code
    with psycopg.connect(world["url"], autocommit=True) as conn:
        rows = conn.execute(
            "SELECT contract_code, purpose, label, reporting_start, reporting_end, value_cny,"
            " esco_cny, avoided, price FROM v_mv_results WHERE contract_code IS NOT NULL"
            " ORDER BY contract_code, purpose"
        ).fetchall()
        july = dt.date(2026, 7, 2), dt.date(2026, 8, 1)
        to_date = dt.date(2026, 7, 2), dt.date(2026, 7, 4)
        assert sorted((r[0], r[1], r[3], r[4]) for r in rows) == sorted([
            (f"EMC-{a}", "settlement", *july),
            (f"EMC-{a}", "to_date", *to_date),
            (f"EMC-{b}", "to_date", *to_date),
        ])  # fmt: skip
        settled = next(r for r in rows if r[1] == "settlement")
        assert settled[2] == "2026-07" and settled[5] == pytest.approx(settled[7] * settled[8])
        assert settled[6] == pytest.approx(max(settled[5], 0) * 0.7)
        # Measured today already: left alone unless asked again, and then replaced.
        today = dt.date(2026, 7, 4)
        assert emc.measure_to_date(conn, today, contract=f"EMC-{a}") == {f"EMC-{a}": "current"}
        assert emc.measure_to_date(conn, today, again=True) == {
            f"EMC-{a}": "measured",
            f"EMC-{b}": "measured",
        }
        to_date_rows = "SELECT count(*) FROM mv_results WHERE purpose = 'to_date'"
        assert conn.execute(to_date_rows).fetchone()[0] == 2
        assert emc.measure_to_date(conn, today, again=True, skip={f"EMC-{a}"}) == {
            f"EMC-{a}": "skipped",
            f"EMC-{b}": "measured",
        }
        # A day later the stored results no longer reach today: measured again.
        later = emc.measure_to_date(conn, today + dt.timedelta(days=1))
        assert later == {f"EMC-{a}": "measured", f"EMC-{b}": "measured"}
        assert emc.measure_to_date(conn, today, stop=lambda: True) == {}
        assert conn.execute(to_date_rows).fetchone()[0] == 2
    monkeypatch.setenv("JIENENG_DATABASE_URL", world["url"])
    out = CliRunner().invoke(app, ["emc", "measure", "--contract", "EMC-NONE"])
    assert out.exit_code == 2 and "EMC-NONE" in out.output
    # A settlement from the CLI is stored; --no-save leaves the store as it was.
    out = CliRunner().invoke(app, ["emc", "settle", "--contract", f"EMC-{b}", "--period",
                                   "2026-07", "--no-save", "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    with psycopg.connect(world["url"]) as conn:
        assert conn.execute(CONTRACT_ROWS).fetchone()[0] == 3
    out = CliRunner().invoke(app, ["emc", "settle", "--contract", f"EMC-{b}", "--period",
                                   "2026-07", "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    with psycopg.connect(world["url"]) as conn:
        assert conn.execute(CONTRACT_ROWS).fetchone()[0] == 4


def test_the_reader_reads_results_only_through_the_views(world: dict) -> None:
    with psycopg.connect(world["url"], autocommit=True) as conn:
        conn.execute("SET ROLE jieneng_reader")
        assert conn.execute("SELECT count(*) FROM v_mv_results").fetchone()[0] >= 3
        for query in ("SELECT * FROM mv_results", "SELECT * FROM mv_days",
                      "DELETE FROM mv_results"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)


def test_the_job_leaves_a_failing_contract_until_the_next_day(world: dict, monkeypatch) -> None:
    from jieneng import analyze
    from jieneng.settings import Settings

    asked: list[set] = []

    def failing(conn, today=None, *, skip=(), stop=None, **_):
        asked.append(set(skip))
        return {code: "meter: building X has no outdoor thermometer"
                for code in ("EMC-X", "EMC-Y") if code not in skip}  # fmt: skip

    monkeypatch.setattr(emc, "measure_to_date", failing)
    monkeypatch.setattr(analyze, "_FAILED", {})
    settings = Settings(database_url=world["url"])
    analyze.measure_contracts(settings)
    analyze.measure_contracts(settings)
    assert asked == [set(), {"EMC-X", "EMC-Y"}]
    analyze._FAILED.update(dict.fromkeys(analyze._FAILED, dt.date(2000, 1, 1)))  # a day later
    analyze.measure_contracts(settings)
    assert asked[-1] == set()
