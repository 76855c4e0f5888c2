"""Generic detectors on one series: synthetic anomalies are found, ordinary series stay quiet,
and the findings do not depend on the unit, the offset or the sign of the values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from analytics import univariate as U

FIVE_MIN = np.timedelta64(5, "m")
HOUR = np.timedelta64(1, "h")


def _times(n: int, step: np.timedelta64 = FIVE_MIN) -> np.ndarray:
    return np.datetime64("2024-03-01T00:00") + np.arange(n) * step


def _daily(n: int, per_day: int, rng: np.random.Generator, noise: float = 1.0) -> np.ndarray:
    phase = 2 * np.pi * np.arange(n) / per_day
    return 50 + 20 * np.sin(phase) + rng.normal(0, noise, n)


def _found(values: np.ndarray, step: np.timedelta64 = FIVE_MIN, **kw: float) -> list[U.Run]:
    runs, _ = U.detect(_times(values.size, step), values, U.Settings(**kw))
    return runs


def test_a_spike_in_noise_is_found_at_its_sample() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(100, 2, 4032)
    x[3000] += 40  # 20 sigma
    runs = _found(x)
    spike = [r for r in runs if r.detector == "spike"]
    assert [(r.start, r.end) for r in spike] == [(3000, 3001)] and spike[0].score > 1
    # It moves the six-hour activity too; nothing is found elsewhere.
    assert {r.detector for r in runs} <= {"spike", "activity"}
    assert all(3000 <= r.start <= 3001 for r in runs)


def test_a_level_shift_is_found_near_the_change_and_nowhere_else() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(10, 1, 4032)
    x[2800:] += 6
    runs = _found(x)
    assert runs and {r.detector for r in runs} == {"level_shift"}
    assert all(r.start <= 2800 < r.end + 288 for r in runs)  # within a day of the change


def test_a_flat_middle_breaks_the_daily_profile() -> None:
    rng = np.random.default_rng(3)
    x = _daily(4032, 288, rng)
    x[2900:3200] = 50.0  # a stuck day at the daily mean
    runs = _found(x)
    seasonal = [r for r in runs if r.detector == "seasonal"]
    assert seasonal and all(2900 <= r.start < 3200 for r in seasonal)
    assert all(r.end > 2900 and r.start < 3200 + 288 for r in runs)


def test_denser_spikes_raise_activity() -> None:
    x = np.zeros(4032)
    x[::100] = 20.0  # a pulse every 8 h 20 min
    x[3000:3060:6] = 20.0  # ten pulses in five hours
    runs = _found(x)
    assert runs and all(3000 <= r.start < 3060 + 72 for r in runs)
    assert "activity" in {r.detector for r in runs}


@pytest.mark.parametrize("step", [FIVE_MIN, HOUR], ids=["5min", "1h"])
@pytest.mark.parametrize("kind", ["noise", "daily", "constant", "square", "clean_sine"])
def test_ordinary_series_give_no_findings(kind: str, step: np.timedelta64) -> None:
    n = 4032
    per_day = int(np.timedelta64(1, "D") / step)
    rng = np.random.default_rng(4)
    k = np.arange(n)
    x = {
        "noise": rng.normal(0, 1, n),
        "daily": _daily(n, per_day, rng),
        "constant": np.full(n, 7.5),
        "square": np.where(k % per_day < per_day // 2, 80.0, 20.0),
        "clean_sine": np.sin(2 * np.pi * k / per_day),
    }[kind]
    assert _found(x, step) == []


def test_nothing_is_flagged_in_the_warm_up() -> None:
    x = np.random.default_rng(5).normal(0, 1, 2000)
    x[100] = 50.0  # inside the first five days
    runs, first = U.detect(_times(x.size), x)
    assert first == 5 * 288 and runs == []
    runs, first = U.detect(_times(x.size), x, U.Settings(warmup_days=0.2, warmup_share=0.0))
    assert first == 58 and [r.start for r in runs if r.detector == "spike"] == [100]


def test_regular_grid_takes_gaps_duplicates_and_late_rows() -> None:
    t = np.array(
        ["2024-01-01T00:00", "2024-01-01T00:05", "2024-01-01T00:05", "2024-01-01T00:20"]
        + ["2024-01-01T00:10"],
        dtype="datetime64[us]",
    )
    g = U.regular_grid(t, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert g.step_s == 300.0
    assert g.slots.tolist() == [0, 1, 1, 4, 2]
    np.testing.assert_array_equal(g.values, [1.0, 3.0, 5.0, np.nan, 4.0])


def test_regular_grid_refuses_mismatched_arrays() -> None:
    with pytest.raises(ValueError, match=r"times \(3,\) and values \(2,\)"):
        U.regular_grid(_times(3), np.zeros(2))


def test_choose_period_finds_days_and_weeks() -> None:
    rng = np.random.default_rng(6)
    n = 48 * 7 * 6  # six weeks at 30 minutes
    daily = _daily(n, 48, rng)
    assert U.choose_period(daily, 1800.0) == 48
    weekend = (np.arange(n) // 48) % 7 >= 5
    weekly = np.where(weekend, 50.0, daily)
    assert U.choose_period(weekly, 1800.0) == 48 * 7
    assert U.choose_period(rng.normal(0, 1, n), 1800.0) == 0
    assert U.choose_period(daily[:100], 1800.0) == 0  # less than three days
    assert U.samples_per_day(7 * 3600.0) == 0  # a day is not a whole number of samples


def test_detectors_work_on_many_series_at_once() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (3, 3000))
    x[0, 2000] = 30.0
    x[1, 1500:] += 8.0
    one = [U.level_shifts(x[i : i + 1], window=48, history=2000, first=400) for i in range(3)]
    many = U.level_shifts(x, window=48, history=2000, first=400)
    for i in range(3):
        np.testing.assert_array_equal(many[0][i], one[i][0][0])
    flags, ratio = U.spikes(x, history=2000, first=400)
    assert flags.shape == ratio.shape == x.shape
    assert np.flatnonzero(flags[0]).tolist() == [2000] and not flags[2].any()


def test_missing_values_are_never_flagged() -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(0, 1, (1, 3000))
    x[0, 2000:2010] = np.nan
    x[0, 2500] = 40.0
    for flags, _ in (
        U.spikes(x, history=2000, first=400),
        U.level_shifts(x, window=48, history=2000, first=400),
        U.activity_changes(x, window=48, history=2000, first=400),
    ):
        assert not flags[np.isnan(x)].any()


finite = st.floats(-1e3, 1e3, allow_nan=False).map(round)  # integers: exact arithmetic


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(200, 600), elements=finite),
    st.integers(-3, 3),
    st.integers(-(10**4), 10**4),
    st.booleans(),
)
def test_findings_do_not_depend_on_unit_offset_or_sign(
    x: np.ndarray, power: int, offset: int, flip: bool
) -> None:
    t = _times(x.size, HOUR)
    cfg = U.Settings(warmup_days=1.0)
    y = (-1.0 if flip else 1.0) * 2.0**power * (x + offset)  # powers of two scale exactly
    assert U.detect(t, y, cfg)[0] == U.detect(t, x, cfg)[0]


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(0, 400),
        elements=st.floats(-1e6, 1e6) | st.just(np.nan),
    )
)
def test_detect_takes_any_series(x: np.ndarray) -> None:
    runs, first = U.detect(_times(x.size, HOUR), x, U.Settings(warmup_days=0.5))
    assert 0 <= first <= x.size
    for r in runs:
        assert first <= r.start < r.end <= x.size
        assert not np.isnan(x[r.start]) and r.score > 1
