"""The fast array helpers give numpy's and scipy's values bit for bit, and the blocked,
threaded consumption does not depend on its blocks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.ndimage import median_filter

from analytics import _arrays, consumption, quality
from analytics import flags as F
from analytics._arrays import grouped_nanmedian, median_of, nan_to_num, nanmedian, run_sums
from analytics.waste import _median_of_cells, _slot_of_day

# Few distinct values (ties), NaN, infinities and signed zeros.
values = st.sampled_from([0.0, -0.0, 1.0, 1.5, -2.0, 3.25, 1e300, np.nan, np.inf, -np.inf])


def numpy_nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)


@settings(max_examples=300, deadline=None)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9), elements=values),
    st.data(),
)
def test_nanmedian_is_numpys(a: np.ndarray, data: st.DataObject) -> None:
    axis = data.draw(st.integers(0, a.ndim - 1))
    assert np.array_equal(nanmedian(a, axis), numpy_nanmedian(a, axis), equal_nan=True)


@pytest.mark.parametrize("length", [1, 2, 599, 600, 4095, 16_383, 16_384, 35_040])
@pytest.mark.parametrize("kind", ["normal", "ties", "zeros", "steps", "daily", "sorted"])
def test_nanmedian_of_long_and_short_lanes(length: int, kind: str) -> None:
    rng = np.random.default_rng(length)
    x = {
        "normal": lambda: rng.normal(size=(3, length)),
        "ties": lambda: np.round(rng.gamma(1.0, 1.0, (3, length)), 1),
        "zeros": lambda: np.where(rng.random((3, length)) < 0.5, 0.0, rng.random((3, length))),
        # A register's steps: a few values, the middle ones tied.
        "steps": lambda: rng.choice([0.1, 0.2, 0.2, 0.2, 0.3], (3, length)),
        "daily": lambda: np.sin(np.arange(length) * 2 * np.pi / 96) + np.zeros((3, 1)),
        "sorted": lambda: np.sort(rng.normal(size=(3, length)), axis=1),
    }[kind]()
    x[0, rng.random(length) < 0.3] = np.nan
    assert np.array_equal(nanmedian(x, 1), numpy_nanmedian(x, 1), equal_nan=True)
    for row in x[1:]:
        assert median_of(row.copy()) == np.median(row)


def test_nanmedian_leaves_its_input_unless_told() -> None:
    x = np.array([[3.0, np.nan, 1.0, 2.0]])
    kept = x.copy()
    assert nanmedian(x, 1)[0] == 2.0
    assert np.array_equal(x, kept, equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 40)), elements=values),
    st.data(),
)
def test_grouped_nanmedian_is_one_nanmedian_per_label(a: np.ndarray, data: st.DataObject) -> None:
    n_labels = data.draw(st.integers(1, 6))
    labels = np.array(
        data.draw(st.lists(st.integers(0, n_labels - 1), min_size=a.shape[1], max_size=a.shape[1]))
    )
    got = grouped_nanmedian(a, labels, n_labels)
    for k in range(n_labels):
        expected = (
            numpy_nanmedian(a[:, labels == k], 1)
            if np.any(labels == k)
            else np.full(len(a), np.nan)
        )
        assert np.array_equal(got[:, k], expected, equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 9)), elements=values),
    st.lists(st.integers(0, 3), min_size=9, max_size=9),
)
def test_median_of_counted_cells_is_that_of_the_grid(a: np.ndarray, counts: list[int]) -> None:
    c = np.array(counts[: a.shape[1]])
    grid = np.repeat(a, c, axis=1)
    expected = numpy_nanmedian(grid, 1) if grid.shape[1] else np.full(len(a), np.nan)
    assert np.array_equal(_median_of_cells(a, c), expected, equal_nan=True)


@given(
    hnp.arrays(np.float64, hnp.array_shapes(max_dims=2), elements=values),
    st.sampled_from([0.0, 15.0]),
)
def test_nan_to_num_is_numpys(x: np.ndarray, nan: float) -> None:
    got, expected = nan_to_num(x, nan=nan), np.nan_to_num(x, nan=nan)
    assert np.array_equal(got, expected) and np.array_equal(np.signbit(got), np.signbit(expected))
    assert not np.shares_memory(got, x)


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 9), st.integers(1, 30)),
        elements=st.floats(-1e6, 1e6, allow_nan=False),
    ),
    st.sampled_from(["mirror", "nearest"]),
)
def test_rolling_median_of_7_is_scipys(x: np.ndarray, mode: str) -> None:
    if x.shape[1] == 1 and mode == "mirror":
        mode = "nearest"  # (as hampel does)
    expected = median_filter(x, size=(1, 7), mode=mode)
    assert np.array_equal(quality._rolling_median(x, 3, mode), expected)


def test_run_all_keeps_the_order_and_raises() -> None:
    assert _arrays.run_all([lambda k=k: k * k for k in range(7)], threads=2) == [
        k * k for k in range(7)
    ]

    def fails() -> None:
        raise ValueError("job failed")

    with pytest.raises(ValueError, match="job failed"):
        _arrays.run_all([lambda: 1, fails], threads=2)


def test_consumption_does_not_depend_on_blocks_or_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(7)
    p, n = 45, 96 * 14
    use = np.round(rng.gamma(2.0, 1.0, (p, n)), 2)
    reg = 1000 + np.cumsum(use, axis=1)
    reg[rng.random((p, n)) < 0.01] = np.nan  # gaps
    reg[3, 500:520] = reg[3, 499]  # stuck, then caught up
    reg[7, 300] += 5000  # a spike
    reg[40, 900:] -= reg[40, 900] - 0.5  # a reset
    events = [consumption.Replacement(44, 700, reg[44, 699] + 1.0, 0.0, 2.0)]
    reg[44, 700:] -= reg[44, 700]
    kw = {"replacements": events, "slots_per_day": 96, "resolution": 0.01}
    a, fa = consumption.from_registers(reg, **kw)
    monkeypatch.setattr(consumption, "BLOCK_ROWS", 4)
    monkeypatch.setattr(_arrays, "THREADS", 1)
    b, fb = consumption.from_registers(reg, **kw)
    assert np.array_equal(a, b, equal_nan=True) and np.array_equal(fa, fb)
    # Meter rows picked out of a grid in any order (``rows``): the same.
    c, fc = consumption.from_registers(reg[::-1].copy(), rows=np.arange(p)[::-1], **kw)
    assert np.array_equal(a, c, equal_nan=True) and np.array_equal(fa, fc)
    assert fa[7, 300] & F.SPIKE and fa[3, 505] & F.STUCK and fa[40, 900] & F.RESET


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(-1e6, 1e6)),
    st.lists(st.integers(0, 60), max_size=12),
)
def test_run_sums_add_each_run(flat: np.ndarray, cuts: list[int]) -> None:
    """Disjoint runs in order, one reaching the end of the array or not: each run's sum."""
    edges = sorted({c for c in cuts if c <= len(flat)})
    first, end = np.array(edges[0::2][: len(edges) // 2]), np.array(edges[1::2])
    keep = end > first
    first, end = first[keep], end[keep]
    expected = [flat[a:b].sum() for a, b in zip(first, end, strict=True)]
    assert np.allclose(run_sums(flat, first, end), expected, rtol=1e-12, atol=1e-6)


@pytest.mark.parametrize(
    "hours",
    [
        np.arange(35_040) % 96 / 4,  # a year of 15-minute slots from midnight
        np.r_[np.arange(3_000) % 96 / 4, [23.9]],  # an hour the first day does not have
        np.array([np.nan, 1.0, np.nan]),
        np.array([]),
    ],
)
def test_slot_of_day_is_uniques_inverse(hours: np.ndarray) -> None:
    assert np.array_equal(_slot_of_day(hours), np.unique(hours, return_inverse=True)[1])
