"""``jieneng audit`` on the store: a simulated office building's month, written as the collector
writes it, audited from its registers; the totals match the simulator's energy."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from analytics import factors
from jieneng import audit
from jieneng.cli import app
from simulators.backfill import import_portfolio, point_ids
from simulators.buildings import Simulator
from simulators.faults import DEFAULT_RATES
from simulators.portfolio import make_portfolio
from store.writer import ReadingWriter
from tests.fix_db import Database

START = dt.date(2026, 7, 1)


@pytest.fixture(scope="module")
def month(plain_database: Database) -> dict:
    """One building, July 2026 and the last day of June, no faults; the true use per point."""
    portfolio = make_portfolio(2, seed=5)
    sim = Simulator(portfolio, seed=5, fault_rates=dict.fromkeys(DEFAULT_RATES, 0.0))
    energy, daily = [], []
    with plain_database.connect() as conn:
        import_portfolio(conn, portfolio)
        conn.commit()
        ids = point_ids(conn, [p.key for p in sim.points])
        writer = ReadingWriter(plain_database.backend, collector="test")
        for n in range(-1, 32):  # 30 June – 1 August
            d = sim.day(START + dt.timedelta(days=n))
            if 0 <= n < 31:
                energy.append(d.energy)
                daily.append(d.energy.sum(axis=1))
            idx, t, v = d.readings()
            writer.write(conn, ids[idx], t, v)
            conn.commit()
    building = portfolio.buildings[0]
    return {
        "code": building.code,
        "institution": building.institution,
        "institutions": [b.institution for b in portfolio.buildings],
        "points": sim.points,
        "energy": np.concatenate(energy, axis=1).sum(axis=1),
        "daily": np.stack(daily, axis=1),  # (points, days of July)
        "db": plain_database,
    }


def test_audit_of_a_month_matches_the_simulated_energy(month: dict) -> None:
    db = month["db"]
    with db.connect(autocommit=True) as conn:
        result = audit.run(conn, "2026-07", building=month["code"])
    keys = [p.key for p in month["points"]]
    truth = {p.key: month["energy"][k] for k, p in enumerate(month["points"])}
    main = next(k for k in keys if k.endswith("/elec/main"))
    got = result["by_code"]["01"]["use"]
    assert got == pytest.approx(truth[main], rel=0.002)  # registers quantized to their step
    kwh = factors.load().kgce("electricity")
    assert result["by_code"]["01"]["kgce"] == pytest.approx(got * kwh)
    assert result["period"]["months"] == [7] and result["quality"]["01"] == 0.0


def test_cli_json_and_unknown_building(month: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    out = CliRunner().invoke(
        app, ["audit", "--building", month["code"], "--period", "2026-07", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["totals"]["kgce"] > 0
    out = CliRunner().invoke(app, ["audit", "--building", "110101A999", "--period", "2026-07"])
    assert out.exit_code == 2 and "no building with code '110101A999'" in out.output
    out = CliRunner().invoke(app, ["audit", "--building", month["code"], "--period", "2026-13"])
    assert out.exit_code == 2 and "--period" in out.output


def test_an_institution_is_its_buildings_and_institutions_rank(month: dict) -> None:
    with month["db"].connect(autocommit=True) as conn:
        one = audit.run(conn, "2026-07", building=month["code"])
        whole = audit.run(conn, "2026-07", institution=month["institution"])
        ranking = audit.rank(conn, "2026-07")
        with pytest.raises(audit.AuditError, match="one of --building or --institution"):
            audit.run(conn, "2026-07")
    # One building per institution here: the same energy, intensities on the same area.
    assert whole["totals"]["kgce"] == pytest.approx(one["totals"]["kgce"])
    assert whole["institution"]["buildings"] == [month["code"]]
    assert [r["rank"] for r in ranking] == [1, 2]
    assert {r["institution"] for r in ranking} == set(month["institutions"])
    assert ranking[0]["kgce_per_m2"] <= ranking[1]["kgce_per_m2"]


def test_mv_on_a_stored_meter(month: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from jieneng import mv

    keys = [p.key for p in month["points"]]
    main = next(k for k in keys if k.startswith(month["code"]) and k.endswith("/elec/main"))
    with month["db"].connect(autocommit=True) as conn:
        use, temps, fuel = mv.stored_daily(conn, main, dt.date(2026, 7, 1), dt.date(2026, 8, 1))
    truth = month["daily"][keys.index(main)]
    assert fuel == "electricity" and len(use) == 31 and len(temps) == 31
    got = np.array([use[dt.date(2026, 7, d)] for d in range(1, 32)])
    assert np.allclose(got, truth, rtol=0.002)
    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    args = ["mv", "--meter", main, "--baseline-end", "2026-07-22", "--reporting-start"]
    out = CliRunner().invoke(app, [*args, "2026-07-22", "--reporting-end", "2026-08-01", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["savings"]["days"] == 10
    assert "too_many_missing_days" in [w["key"] for w in result["model"]["warnings"]]
    out = CliRunner().invoke(app, [*args, "2026-07-22", "--meter-csv", "x.csv"])
    assert out.exit_code == 2 and "give --meter" in out.output


def test_emc_settlement_of_a_stored_meter(month: dict, tmp_path, monkeypatch) -> None:
    from store.registry_import import import_file

    keys = [p.key for p in month["points"]]
    main = next(k for k in keys if k.startswith(month["code"]) and k.endswith("/elec/main"))
    contract = tmp_path / "contracts.yaml"
    contract.write_text(
        "emc_contracts:\n"
        f"  - {{code: EMC-1, institution: {month['institution']}, name: 照明改造,"
        " kind: 节能效益分享型,"
        f" meter: {main}, baseline_end: 2026-07-22, reporting_start: 2026-07-22,"
        " price: 0.8, esco_share: 0.7}\n",
        encoding="utf-8",
    )
    with month["db"].connect() as conn:
        assert import_file(conn, contract) == {"emc_contracts": 1}
        conn.commit()
    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    out = CliRunner().invoke(
        app, ["emc", "settle", "--contract", "EMC-1", "--period", "2026-07", "--json"]
    )
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)
    st = got["settlement"]
    assert got["period"] == {"label": "2026-07", "start": "2026-07-22", "end": "2026-08-01"}
    assert st["value"] == pytest.approx(st["avoided"] * 0.8)
    assert st["esco"] == pytest.approx(max(st["value"], 0) * 0.7)
    assert st["esco"] + st["agency"] == pytest.approx(st["value"])
    assert st["actual"] == pytest.approx(got["measurement"]["savings"]["observed"])
    out = CliRunner().invoke(app, ["emc", "settle", "--contract", "EMC-1", "--period", "2026-06"])
    assert out.exit_code == 2 and "outside the contract's reporting period" in out.output
