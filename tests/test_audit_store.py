"""``jieneng audit`` on the store: a simulated office building's month, written as the collector
writes it, audited from its registers; the totals match the simulator's energy."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

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
    """One building, July 2026 and the last day of June, no faults; the true use per point.
    July 2025 too (the year before, and the 十五五 base year)."""
    portfolio = make_portfolio(2, seed=5)
    no_faults = dict.fromkeys(DEFAULT_RATES, 0.0)
    sim = Simulator(portfolio, seed=5, fault_rates=no_faults)
    before = Simulator(portfolio, seed=6, fault_rates=no_faults)  # another July's weather
    energy, daily, energy_2025 = [], [], []
    with plain_database.connect() as conn:
        import_portfolio(conn, portfolio)
        conn.commit()
        ids = point_ids(conn, [p.key for p in sim.points])
        writer = ReadingWriter(plain_database.backend, collector="test")
        for start, simulator in ((START.replace(year=2025), before), (START, sim)):
            for n in range(-1, 32):  # 30 June – 1 August
                d = simulator.day(start + dt.timedelta(days=n))
                if 0 <= n < 31:
                    if start == START:
                        energy.append(d.energy)
                        daily.append(d.energy.sum(axis=1))
                    else:
                        energy_2025.append(d.energy)
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
        "energy_2025": np.concatenate(energy_2025, axis=1).sum(axis=1),
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
    assert result["period"]["months"] == [7] and result["quality"]["01"] == {
        "estimated": 0.0,
        "missing": 0.0,
    }


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


def test_time_of_use_tariff_prices_the_main_meter(
    month: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    with month["db"].connect(autocommit=True) as conn:
        flat = audit.run(conn, "2026-07", building=month["code"])
        tou = audit.run(conn, "2026-07", building=month["code"], tariff="example_tou_commercial")
        with pytest.raises(audit.AuditError, match="--tariff: 'nope' is not a tariff"):
            audit.run(conn, "2026-07", building=month["code"], tariff="nope")
    bands = tou["time_of_use"]
    assert bands["total_kwh"] == pytest.approx(tou["by_code"]["01"]["use"])
    assert tou["by_code"]["01"]["cny"] == pytest.approx(bands["total_cny"])
    delta = tou["by_code"]["01"]["cny"] - flat["by_code"]["01"]["cny"]
    assert tou["totals"]["cny"] == pytest.approx(flat["totals"]["cny"] + delta)
    # An office uses most of its electricity in the day: dearer than the flat 0.80 on average.
    assert bands["kwh"]["peak"] > bands["kwh"]["valley"] and bands["average_price"] > 0.8
    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    args = ["audit", "--building", month["code"], "--period", "2026-07", "--format", "html"]
    out = CliRunner().invoke(app, [*args, "--tariff", "example_tou_commercial"])
    assert out.exit_code == 0 and "分时电价" in out.stdout and "高峰" in out.stdout


def test_an_institutions_report_holds_the_ranking(
    month: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    args = ["audit", "--institution", month["institution"], "--period", "2026-07", "--rank"]
    out = CliRunner().invoke(app, [*args, "--format", "html"])
    assert out.exit_code == 0, out.output
    assert "单位能耗排名" in out.stdout
    for code in month["institutions"]:
        assert f"({code})</td>" in out.stdout
    assert out.stdout.count('<tr class="total">\n      <td>') == 1  # this institution, bold
    out = CliRunner().invoke(app, ["audit", "--building", month["code"], *args[3:]])
    assert out.exit_code == 2 and "--rank" in out.output


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
    with month["db"].connect() as conn:  # kept for the audit & M&V dashboard
        kept = conn.execute(
            "SELECT periods, avoided FROM v_mv_results WHERE point_key = %s", (main,)
        ).fetchall()
    assert kept == [(10, pytest.approx(result["savings"]["avoided"]))]
    out = CliRunner().invoke(app, [*args, "2026-07-22", "--meter-csv", "x.csv"])
    assert out.exit_code == 2 and "give --meter" in out.output


def test_hourly_mv_on_a_stored_meter(month: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from jieneng import mv

    main = _main(month)
    with month["db"].connect(autocommit=True) as conn:
        use, temps, fuel = mv.stored_hourly(conn, main, dt.date(2026, 7, 1), dt.date(2026, 7, 3))
    assert fuel == "electricity" and len(use) == 48 and len(temps) == 48
    first = min(use)
    assert (first.hour, first.utcoffset()) == (0, dt.timedelta(hours=8))  # local hours
    truth = month["daily"][[p.key for p in month["points"]].index(main)]
    assert sum(v for t, v in use.items() if t.day == 1) == pytest.approx(truth[0], rel=0.002)

    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    args = ["mv", "--meter", main, "--model", "hourly", "--baseline-end", "2026-07-22"]
    out = CliRunner().invoke(
        app, [*args, "--reporting-start", "2026-07-22", "--reporting-end", "2026-08-01", "--json"]
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["model"]["kind"] == "towt_hourly" and result["savings"]["days"] == 240
    assert result["savings"]["observed"] == pytest.approx(truth[21:].sum(), rel=0.002)
    assert "too_many_missing_hours" in [w["key"] for w in result["model"]["warnings"]]
    # Two Julys of an office without faults: the baseline explains the hours well.
    assert result["guideline14_hourly"]["cvrmse"] < 0.3


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
    assert got["period"] == {
        "label": "2026-07",
        "start": "2026-07-22",
        "end": "2026-08-01",
        "days": 10,
        "measured_days": 10,
    }
    assert got["warnings"] == []
    assert st["value"] == pytest.approx(st["avoided"] * 0.8)
    assert st["esco"] == pytest.approx(max(st["value"], 0) * 0.7)
    assert st["esco"] + st["agency"] == pytest.approx(st["value"])
    assert st["actual"] == pytest.approx(got["measurement"]["savings"]["observed"])
    out = CliRunner().invoke(app, ["emc", "settle", "--contract", "EMC-1", "--period", "2026-06"])
    assert out.exit_code == 2 and "outside the contract's reporting period" in out.output
    # August holds one day of readings: settled over that day, and the statement says so.
    out = CliRunner().invoke(
        app, ["emc", "settle", "--contract", "EMC-1", "--period", "2026-08", "--json"]
    )
    assert out.exit_code == 0, out.output
    august = json.loads(out.stdout)
    assert (august["period"]["days"], august["period"]["measured_days"]) == (31, 1)
    assert [w["key"] for w in august["warnings"]] == ["reporting_period_incomplete"]
    out = CliRunner().invoke(app, ["emc", "settle", "--contract", "EMC-1", "--period", "2027-07"])
    assert out.exit_code == 2 and "nothing to settle" in out.output


# --- reports -------------------------------------------------------------------------------


def _first_page(pdf: bytes, png: Path) -> tuple[np.ndarray, str, set[tuple[str, bool]]]:
    """The PDF's first page as RGB pixels (saved to ``png`` to look at), its text and the
    fonts of its text (name, embedded)."""
    import ctypes

    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[0]
        image = page.render(scale=1.5).to_pil().convert("RGB")
        image.save(png)
        text = page.get_textpage().get_text_range()
        fonts = set()
        for obj in page.get_objects(filter=[raw.FPDF_PAGEOBJ_TEXT]):
            font = raw.FPDFTextObj_GetFont(obj.raw)
            size = raw.FPDFFont_GetBaseFontName(font, None, 0)
            name = ctypes.create_string_buffer(size)
            raw.FPDFFont_GetBaseFontName(font, name, size)
            fonts.add((name.value.decode(), bool(raw.FPDFFont_GetIsEmbedded(font))))
        return np.asarray(image), text, fonts
    finally:
        doc.close()


#: Subset names of the CJK fonts reports.fonts may pick.
CJK_FONT = re.compile(r"^[A-Z]{6}\+(WenQuanYi|Noto|SourceHan|Source-Han|Microsoft|SimHei|PingFang)")


def _share_near(pixels: np.ndarray, hex_color: str, tol: int = 12) -> float:
    """Share of the pixels within ``tol`` of a colour on every channel."""
    rgb = np.array([int(hex_color[k : k + 2], 16) for k in (1, 3, 5)])
    return float((np.abs(pixels.astype(int) - rgb).max(axis=2) <= tol).mean())


@pytest.fixture(scope="module")
def finding(month: dict) -> None:
    """One after-hours finding with two runs, one in July, one in June (out of the period)."""
    with month["db"].connect() as conn:
        point, building = conn.execute(
            "SELECT p.id, p.building_id FROM points p JOIN buildings b ON b.id = p.building_id"
            " WHERE b.code = %s AND p.energy_code LIKE '01A%%' LIMIT 1",
            (month["code"],),
        ).fetchone()
        runs = [
            {"start": "2026-07-03T12:00:00Z", "end": "2026-07-03T22:00:00Z", "severity": "medium",
             "waste": 40.0, "kgce": 4.916, "kgco2": 22.0, "cny": 32.0},
            {"start": "2026-06-29T12:00:00Z", "end": "2026-06-29T22:00:00Z", "severity": "medium",
             "waste": 30.0, "kgce": 3.687, "kgco2": 16.5, "cny": 24.0},
        ]  # fmt: skip
        conn.execute(
            """INSERT INTO anomalies (point_id, building_id, rule, status, started_at, ended_at,
                   last_seen_at, run_count, severity, waste, waste_unit, kgce, kgco2, cny, runs,
                   detector_version)
               VALUES (%s, %s, 'after_hours', 'closed', '2026-06-29T12:00Z', '2026-07-03T22:00Z',
                       now(), 2, 'medium', 70, 'kWh', 8.603, 38.5, 56, %s, 'test')""",
            (point, building, json.dumps(runs)),
        )
        conn.commit()


def test_audit_report_pdf_holds_its_charts(
    month: dict, finding: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with month["db"].connect(autocommit=True) as conn:
        result = audit.run(conn, "2026-07", building=month["code"])
    # The finding's July run only (Asia/Shanghai days), named and costed.
    assert [(f["rule"], f["runs"], f["kgce"]) for f in result["findings"]] == [
        ("after_hours", 1, pytest.approx(4.916))
    ]
    # July 2025 is stored: year over year, and the 十五五 plan (base year 2025) on July.
    keys = [p.key for p in month["points"]]
    main_2025 = month["energy_2025"][keys.index(_main(month))]
    main_2026 = month["energy"][keys.index(_main(month))]
    kgce = factors.load().kgce("electricity")
    yoy = result["year_over_year"]
    assert yoy["kgce_before"] >= main_2025 * kgce  # electricity and the rest
    assert yoy["kgce"] == pytest.approx(result["totals"]["kgce"] / yoy["kgce_before"] - 1)
    plan = result["targets"]["plan_15th"]
    assert (plan["base_year"], plan["base_period"]) == (2025, "2025-07")
    energy = plan["indicators"]["energy_per_m2"]
    assert energy["change"] == pytest.approx(yoy["kgce_per_m2"])
    assert energy["expected"] == pytest.approx(-0.05 / 5)  # one year of five
    assert energy["on_track"] == (energy["change"] <= -0.01)
    assert main_2026 != pytest.approx(main_2025, rel=1e-3)  # two different Julys
    assert result["previous_month"]["change"] is None  # June holds a day: not comparable
    load = result["load"]
    assert len(load["hourly_kwh"]) == 31 and load["workdays"] == 23  # July 2026: 23 workdays
    assert load["workday_kw"][10] > load["non_workday_kw"][10] > 0  # offices work by day
    day_one = sum(load["hourly_kwh"][0])
    truth = month["daily"][[p.key for p in month["points"]].index(_main(month))][0]
    assert day_one == pytest.approx(truth, rel=0.002)

    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    out_pdf = tmp_path / "audit.pdf"
    args = ["audit", "--building", month["code"], "--period", "2026-07"]
    run = CliRunner().invoke(app, [*args, "--format", "pdf", "--output", str(out_pdf)])
    assert run.exit_code == 0, run.output
    pdf = out_pdf.read_bytes()
    assert pdf.startswith(b"%PDF")
    pixels, text, fonts = _first_page(pdf, tmp_path / "audit-page1.png")
    assert "能源审计报告" in text and month["code"] in text
    assert (pixels.min(axis=2) < 200).mean() > 0.05  # not blank
    # The charts are drawn on the first page: the 分项 colours of the monthly bars, the
    # workday curve, the heat map's reds.
    for colour in ("#f2b134", "#3b7dd8", "#6aa84f"):
        assert _share_near(pixels, colour) > 0.0005, colour
    assert _share_near(pixels, "#e06666", tol=30) > 0.0001  # days-off curve
    # The text is set in an embedded CJK font, not in a fallback's boxes.
    assert fonts and all(CJK_FONT.match(name) and embedded for name, embedded in fonts), fonts

    html = CliRunner().invoke(app, [*args, "--format", "html", "--lang", "en"])
    assert html.exit_code == 0, html.output
    assert "Energy audit report" in html.stdout and html.stdout.count("<svg") == 4
    assert "after-hours lighting" in html.stdout


def _main(month: dict) -> str:
    keys = [p.key for p in month["points"]]
    return next(k for k in keys if k.startswith(month["code"]) and k.endswith("/elec/main"))


def test_report_refuses_without_a_cjk_font(
    month: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reports import fonts

    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    monkeypatch.setenv("JIENENG_REPORT_FONT", str(tmp_path / "none.ttf"))
    fonts.cjk_family.cache_clear()
    try:
        args = ["audit", "--building", month["code"], "--period", "2026-07", "--format", "html"]
        out = CliRunner().invoke(app, args)
    finally:
        fonts.cjk_family.cache_clear()
    assert out.exit_code == 2
    assert "JIENENG_REPORT_FONT" in out.output and "is not a font file" in out.output
    out = CliRunner().invoke(app, [*args[:-1], "pdf"])
    assert out.exit_code == 2 and "--output" in out.output


def test_emc_statement_pdf_holds_the_baseline_chart(
    month: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store.registry_import import import_file

    contract = tmp_path / "contracts.yaml"
    contract.write_text(
        "emc_contracts:\n"
        f"  - {{code: EMC-2, institution: {month['institution']}, name: 空调节能改造,"
        f" kind: guaranteed_savings, meter: {_main(month)}, esco: 示例节能服务有限公司,"
        " baseline_end: 2026-07-20, reporting_start: 2026-07-20, price: 0.8,"
        " esco_share: 0.5, guaranteed_per_year: 36500}\n",
        encoding="utf-8",
    )
    with month["db"].connect() as conn:
        import_file(conn, contract)
        conn.commit()
    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    args = ["emc", "settle", "--contract", "EMC-2", "--period", "2026-07"]
    out = CliRunner().invoke(app, [*args, "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    daily = result["measurement"]["daily"]
    assert daily["date"][-1] == "2026-07-31" and len(daily["date"]) == 365 + 12
    # The chart's cumulative line ends at the statement's avoided energy.
    counted = [x for x in daily["avoided"] if x is not None]
    assert sum(counted) == pytest.approx(result["measurement"]["savings"]["avoided"], rel=1e-6)
    st = result["settlement"]
    assert st["guaranteed"] == pytest.approx(36500 * 12 / 365)  # prorated by days
    assert st["shortfall"] == pytest.approx(max(st["guaranteed"] - st["avoided"], 0))

    pdf_file = tmp_path / "statement.pdf"
    out = CliRunner().invoke(app, [*args, "--format", "pdf", "--output", str(pdf_file)])
    assert out.exit_code == 0, out.output
    pixels, text, fonts = _first_page(pdf_file.read_bytes(), tmp_path / "statement-page1.png")
    assert "节能量结算单" in text and "节能量保证型" in text and "EMC-2" in text
    assert fonts and all(CJK_FONT.match(name) and embedded for name, embedded in fonts), fonts
    # The chart: metered use (grey) against the adjusted baseline (orange) and the fit (blue).
    assert _share_near(pixels, "#e69138", tol=20) > 1e-5  # 12 days of a year: a short line
    assert _share_near(pixels, "#3b7dd8", tol=20) > 0.0001
    assert _share_near(pixels, "#555555", tol=20) > 0.0001
    out = CliRunner().invoke(app, [*args, "--format", "html", "--lang", "en"])
    assert out.exit_code == 0 and "guaranteed savings" in out.stdout
    assert out.stdout.count("<svg") == 1


def test_operating_hours_correct_the_gb51161_comparison(month: dict, tmp_path: Path) -> None:
    from store import RegistryError
    from store.registry_import import import_file

    with month["db"].connect(autocommit=True) as conn:
        fields = ("name", "floor_area_m2", "headcount", "climate_zone", "gb51161_class")
        values = conn.execute(
            f"SELECT {', '.join(fields)} FROM buildings WHERE code = %s", (month["code"],)
        ).fetchone()
        known = ", ".join(f"{k}: '{v}'" for k, v in zip(fields, values, strict=True))
        row = (  # a row describes the whole building
            f"buildings:\n  - {{code: '{month['code']}', institution: '{month['institution']}',"
            f" {known}, operating_hours: HOURS}}\n"
        )
        bad = tmp_path / "bad.yaml"
        bad.write_text(row.replace("HOURS", "9000"), encoding="utf-8")
        with pytest.raises(RegistryError, match="operating_hours': must be at most 8784"):
            import_file(conn, bad)
        good = tmp_path / "hours.yaml"
        good.write_text(row.replace("HOURS", "3000"), encoding="utf-8")
        try:
            import_file(conn, good)
            gb = audit.run(conn, "2026-07", building=month["code"])["gb51161"]
        finally:
            conn.execute(
                "UPDATE buildings SET operating_hours = NULL WHERE code = %s", (month["code"],)
            )
    # 3,000 h a year against the standard 2,500 h: γ = 0.3 + 0.7 × 2,500 / 3,000.
    assert gb["corrected_kwh_per_m2"] == pytest.approx(gb["kwh_per_m2"] * (0.3 + 0.7 / 1.2))


def test_an_incomplete_or_empty_period_is_not_compared(
    month: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    with month["db"].connect(autocommit=True) as conn:
        august = audit.run(conn, "2026-08", building=month["code"])  # one day stored so far
        future = audit.run(conn, "2027-07", building=month["code"])  # nothing stored
        with pytest.raises(audit.AuditError, match="--tariff: no electricity meter"):
            audit.run(conn, "2027-07", building=month["code"], tariff="example_tou_commercial")
    for result in (august, future):
        assert result["complete"] is False
        assert result["year_over_year"] is None and result["previous_month"]["change"] is None
        assert result["targets"]["plan_15th"]["reason_key"] == "incomplete"
        assert result["gb51161"]["meets_constraint"] is None  # not judged on a day of data
    assert august["quality"]["01"]["missing"] == pytest.approx(30 / 31, abs=0.01)
    assert future["totals"]["kgce"] == 0.0
    monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
    for period in ("2026-08", "2027-07"):
        for subject in (["--building", month["code"]], ["--institution", month["institution"]]):
            args = ["audit", *subject, "--period", period, "--format", "html"]
            out = CliRunner().invoke(app, args)
            assert out.exit_code == 0, (period, subject, out.output)
            assert "不作比较" in out.stdout


def test_a_quota_without_a_guide_value(month: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    with month["db"].connect(autocommit=True) as conn:
        iid = conn.execute(
            "SELECT id FROM institutions WHERE code = %s", (month["institution"],)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO quotas (institution_id, year, indicator, unit, guide, baseline,"
            " constraint_value, source) VALUES (%s, 2026, 'energy_per_m2', 'kgce/m2', NULL,"
            " NULL, 20, 'test')",
            (iid,),
        )
    try:
        monkeypatch.setenv("JIENENG_DATABASE_URL", month["db"].url)
        args = ["audit", "--institution", month["institution"], "--period", "2026-07"]
        out = CliRunner().invoke(app, [*args, "--format", "html", "--lang", "en"])
        assert out.exit_code == 0, out.output
        # The chart draws the constraint alone (prorated); the table waits for a whole year.
        assert out.stdout.count("<svg") == 4 and "quotas are yearly" in out.stdout
    finally:
        with month["db"].connect(autocommit=True) as conn:
            conn.execute("DELETE FROM quotas WHERE source = 'test'")
