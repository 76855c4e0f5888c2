"""M&V: CalTRACK daily models against eemeter's fits of its Illinois samples, recovered savings,
the vectorized fit against one meter at a time, Guideline 14, serialization, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from analytics import mv
from jieneng import mv as mv_cli
from jieneng.cli import app

DATA = Path(__file__).resolve().parents[1] / "data" / "eemeter"
SAMPLES = (
    "il-electricity-cdd-hdd-daily",
    "il-electricity-cdd-only-daily",
    "il-gas-hdd-only-daily",
    "il-gas-intercept-only-daily",
)
META = json.loads((DATA / "metadata.json").read_text())
REFERENCE = {
    r["sample"]: r for r in json.loads((DATA / "reference_daily_caltrack2_dev.json").read_text())
}
TEMPERATURE = mv_cli.read_temperature(DATA / "il-tempF.csv.gz")


def measure(sample: str) -> dict:
    """The sample's 365 days before the blackout as baseline, 365 after it as reporting."""
    meta = META[sample]
    end = dt.date.fromisoformat(meta["blackout_end_date"])
    return mv_cli.run(
        mv_cli.read_meter(DATA / meta["meter_data_filename"]),
        TEMPERATURE,
        baseline_end=dt.date.fromisoformat(meta["blackout_start_date"]),
        reporting_start=end,
        reporting_end=end + dt.timedelta(days=365),
        fuel=meta["interpretation"] if meta["interpretation"] == "electricity" else "gas",
    )


@pytest.mark.parametrize("sample", sorted(REFERENCE))
def test_matches_eemeters_caltrack_daily_fit(sample: str) -> None:
    ref, got = REFERENCE[sample], measure(sample)
    assert got["model"]["n"] == ref["n_base"] and got["savings"]["days"] == ref["n_rep"]
    assert got["savings"]["observed"] == pytest.approx(ref["obs_rep"], abs=0.1)
    assert abs(got["savings"]["fractional"] - ref["frac_savings"]) <= 0.015
    assert abs(got["model"]["cvrmse"] - ref["cvrmse_base"]) <= 0.02


@pytest.mark.parametrize("sample", SAMPLES)
def test_recovers_the_true_ten_percent(sample: str) -> None:
    meta = META[sample]
    truth = 1 - meta["annual_reporting_total_load"] / meta["annual_baseline_total_load"]
    got = measure(sample)
    assert abs(got["savings"]["fractional"] - truth) <= 0.07
    expected = {
        "il-electricity-cdd-hdd-daily": "hdd_cdd",
        "il-electricity-cdd-only-daily": "cdd_only",
        "il-gas-hdd-only-daily": "hdd_only",
        "il-gas-intercept-only-daily": "intercept_only",
    }[sample]
    assert got["model"]["model_type"] == expected


def synthetic(meters: int, days: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    rng = np.random.default_rng(seed)
    season = 12 + 12 * np.sin(2 * np.pi * (np.arange(days) - 100) / 365)
    temp = season + rng.normal(0, 4, (meters, days))
    truth = {
        "mu": rng.uniform(20, 200, meters),
        "bh": rng.uniform(0.5, 5, meters),
        "bc": rng.uniform(0.5, 5, meters),
        "tb_h": rng.integers(10, 17, meters).astype(float),
        "tb_c": rng.integers(18, 25, meters).astype(float),
    }
    use = (
        truth["mu"][:, None]
        + truth["bh"][:, None] * np.maximum(truth["tb_h"][:, None] - temp, 0)
        + truth["bc"][:, None] * np.maximum(temp - truth["tb_c"][:, None], 0)
    )
    use += rng.normal(0, 0.05, use.shape) * use
    use[rng.random(use.shape) < 0.03] = np.nan
    return use, temp, truth


def test_many_meters_at_once_equal_one_at_a_time() -> None:
    use, temp, truth = synthetic(40, 365, 3)
    together = mv.fit_daily(use, temp, block=16)
    for k in range(len(use)):
        alone = mv.fit_daily(use[k : k + 1], temp[k : k + 1])
        for name in mv.DailyModel._ARRAYS:
            assert np.allclose(
                getattr(together, name)[k], getattr(alone, name)[0], equal_nan=True, rtol=1e-9
            ), name
    assert np.all(together.model_type == 3)
    # Balance points within a few K (5 % noise blurs the knee), predictions within 2 %.
    assert np.all(np.abs(together.hdd_balance_c - truth["tb_h"]) <= 3)
    assert np.all(np.abs(together.cdd_balance_c - truth["tb_c"]) <= 3)
    noiseless = (
        truth["mu"][:, None]
        + truth["bh"][:, None] * np.maximum(truth["tb_h"][:, None] - temp, 0)
        + truth["bc"][:, None] * np.maximum(temp - truth["tb_c"][:, None], 0)
    )
    error = np.abs(together.predict(temp) - noiseless).mean(axis=1) / noiseless.mean(axis=1)
    assert np.all(error < 0.02)


def test_gas_has_no_cooling_model_and_keeps_its_zeros() -> None:
    use, temp, _ = synthetic(3, 365, 5)
    use[:, :20] = 0.0
    gas = mv.fit_daily(use, temp, cooling=False)
    assert not np.any(gas.model_type >= 2) and np.all(gas.n == np.sum(~np.isnan(use), axis=1))
    electric = mv.fit_daily(use, temp)
    assert np.all(electric.n == gas.n - 20)  # a zero is a missing day on electricity


def test_savings_of_a_known_cut_and_serialization() -> None:
    use, temp, _ = synthetic(5, 730, 9)
    model = mv.fit_daily(use[:, :365], temp[:, :365])
    again = mv.DailyModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.allclose(again.predict(temp), model.predict(temp), equal_nan=True)
    result = mv.savings(model, use[:, 365:] * 0.85, temp[:, 365:], non_routine=10.0)
    assert np.allclose(result.fractional, 0.15, atol=0.02)
    assert np.all(result.fsu > 0) and np.all(result.fsu < 0.5)
    assert np.allclose(result.avoided, result.counterfactual - result.observed + 10.0)
    with pytest.raises(ValueError, match="kind"):
        mv.DailyModel.from_dict({"kind": "other"})


def test_sufficiency_warnings_name_what_is_short() -> None:
    use, temp, _ = synthetic(2, 300, 1)
    use[1, :60] = np.nan
    found = mv.sufficiency(use, temp)
    assert [w.key for w in found[0]] == ["baseline_too_short"]
    assert [w.key for w in found[1]] == ["baseline_too_short", "too_many_missing_days"]
    assert found[1][1].data["missing"] >= 60


def test_guideline14_limits() -> None:
    obs = np.array([[100.0, 110, 90, 105, 95, 100, 100, 102, 98, 100, 101, 99]])
    good = mv.guideline14(obs, obs * 1.01, parameters=2)
    bad = mv.guideline14(obs, obs * 1.2, parameters=2)
    assert good["passes"][0] and not bad["passes"][0]
    assert bad["nmbe"][0] == pytest.approx(-0.2 * 12 / 10)
    with pytest.raises(ValueError, match="interval"):
        mv.guideline14(obs, obs, parameters=1, interval="daily")
    # As many months as parameters (a month of data): no statistic, no pass.
    few = mv.guideline14(obs[:, :2], obs[:, :2] * 1.01, parameters=2)
    assert np.isnan(few["cvrmse"][0]) and np.isnan(few["nmbe"][0]) and not few["passes"][0]


def test_cli_json_and_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "mv",
        "--meter-csv",
        str(DATA / "il-gas-hdd-only-daily.csv.gz"),
        "--temperature-csv",
        str(DATA / "il-tempF.csv.gz"),
        "--baseline-end",
        "2016-12-26",
        "--reporting-start",
        "2017-01-04",
        "--fuel",
        "gas",
        "--json",
    ]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["model"]["model_type"] == "hdd_only" and result["guideline14_monthly"]["passes"]
    broken = tmp_path / "meter.csv"
    broken.write_text("start,value\n2016-01-01T00:00:00-06:00,12\nyesterday,3\n")
    out = runner.invoke(app, [*args[:2], str(broken), *args[3:]])
    assert out.exit_code == 2 and "meter.csv:3: start" in out.output
    out = runner.invoke(app, [*args[:6], "2016-13-01", *args[7:]])
    assert out.exit_code == 2 and "--baseline-end" in out.output
    out = runner.invoke(app, [*args[:6], "2017-02-01", *args[7:]])  # ends after reporting starts
    assert (
        out.exit_code == 2 and "reporting_start: 2017-01-04 is not after 2017-02-01" in out.output
    )


def test_hourly_towt_recovers_the_savings_and_serializes() -> None:
    meta = META["il-electricity-cdd-hdd-hourly"]
    end = dt.date.fromisoformat(meta["blackout_end_date"])
    got = mv_cli.run_hourly(
        mv_cli.read_meter(DATA / meta["meter_data_filename"], hourly=True),
        mv_cli.read_hourly_temperature(DATA / "il-tempF.csv.gz"),
        baseline_end=dt.date.fromisoformat(meta["blackout_start_date"]),
        reporting_start=end,
        reporting_end=end + dt.timedelta(days=365),
        chinese_calendar=False,  # Illinois
    )
    assert got["model"]["n"] == 8760 and got["savings"]["days"] == 8760
    assert abs(got["savings"]["fractional"] - 0.10) <= 0.07
    assert 0 < got["savings"]["fsu"] < 1
    # A noisy synthetic hourly meter: Guideline 14's hourly limits say so.
    assert not got["guideline14_hourly"]["passes"]

    rng = np.random.default_rng(4)
    hours = 24 * 7 * 8
    tow = np.arange(hours) % 168
    temp = 15 + 10 * np.sin(np.arange(hours) / 24) + rng.normal(0, 1, (3, hours))
    use = 10 + (tow % 24 >= 8) * 5 + 0.3 * np.maximum(temp - 18, 0) + rng.normal(0, 0.2, (3, hours))
    model = mv.fit_hourly(use, temp, tow)
    again = mv.HourlyModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.allclose(again.predict(temp, tow), model.predict(temp, tow))
    assert [w.key for w in model.warnings[0]] == ["baseline_too_short"]
    with pytest.raises(ValueError, match="tow"):
        mv.savings(model, use, temp)


def test_chinese_calendar_in_the_times_of_week() -> None:
    tz = dt.timezone(dt.timedelta(hours=8))
    national_day = dt.datetime(2026, 10, 1, 9, tzinfo=tz)  # a Thursday, a holiday
    adjusted = dt.datetime(2026, 9, 20, 9, tzinfo=tz)  # a Sunday worked for it (调休)
    cn = mv_cli.times_of_week([national_day, adjusted], chinese_calendar=True)
    plain = mv_cli.times_of_week([national_day, adjusted], chinese_calendar=False)
    assert cn.tolist() == [6 * 24 + 9, 0 * 24 + 9] and plain.tolist() == [3 * 24 + 9, 6 * 24 + 9]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from([1e-3, 0.5, 3.6, 1000.0]))
def test_a_unit_change_scales_the_model_and_keeps_the_choice(seed: int, k: float) -> None:
    """kWh → MWh (or any unit): same model type and balance points, coefficients × k, the
    same CV(RMSE) and fractional savings."""
    use, temp, _ = synthetic(4, 365, seed)
    a, b = mv.fit_daily(use, temp), mv.fit_daily(use * k, temp)
    assert np.array_equal(a.model_type, b.model_type)
    assert np.array_equal(a.hdd_balance_c, b.hdd_balance_c, equal_nan=True)
    assert np.array_equal(a.cdd_balance_c, b.cdd_balance_c, equal_nan=True)
    assert np.allclose(b.intercept, a.intercept * k, rtol=1e-9)
    assert np.allclose(b.beta_hdd, a.beta_hdd * k, rtol=1e-9)
    assert np.allclose(a.cvrmse, b.cvrmse, rtol=1e-9)
    sa = mv.savings(a, use * 0.9, temp)
    sb = mv.savings(b, use * 0.9 * k, temp)
    assert np.allclose(sa.fractional, sb.fractional, rtol=1e-9, atol=1e-12)
