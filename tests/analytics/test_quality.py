"""Quality checks on instantaneous grids: spikes, impossible values, flatlines."""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from analytics import flags as F
from analytics.quality import BOUNDS, flag_series, flatline, hampel, impossible
from simulators.buildings import Simulator
from simulators.portfolio import make_portfolio


def test_simulated_power_spikes_are_found_and_nothing_else() -> None:
    sim = Simulator(make_portfolio(7, seed=11), seed=11, fault_rates={"spike": 20.0})
    days = [sim.day(dt.date(2026, 5, 11) + dt.timedelta(days=n)) for n in range(7)]
    rows = [i for i, p in enumerate(sim.points) if p.role == "main_power"]
    values = np.concatenate([d.values for d in days], axis=1)[rows]
    times = np.concatenate([d.times_us for d in days])
    truth = np.zeros_like(values, dtype=bool)
    faults = [f for d in days for f in d.faults]
    assert faults
    for f in faults:
        truth[rows.index(sim.index[f.point])] |= (times > f.start_us) & (times <= f.end_us)
    found = hampel(values, min_relative=0.05)
    assert np.array_equal(found, truth)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 50)),
        # No subnormal magnitudes: scaled by k they would round to zero (or lose digits).
        elements=st.just(0.0) | st.floats(1e-6, 1e3) | st.floats(-1e3, -1e-6) | st.just(np.nan),
    ),
    st.floats(0.01, 100.0),
)
def test_shape_dtype_nan_and_scaling(values: np.ndarray, k: float) -> None:
    flags = flag_series(values)
    assert flags.shape == values.shape and flags.dtype == np.uint16
    assert np.array_equal((flags & F.GAP) > 0, np.isnan(values))
    assert not np.any(flags[np.isnan(values)] & ~np.uint16(F.GAP))  # NaN gets no other flag
    assert np.array_equal(hampel(values), hampel(values * k))  # unit-free
    assert np.array_equal(flatline(values), flatline(values * k))


def test_impossible_and_flatline() -> None:
    lo, hi = BOUNDS["temperature"]
    t = np.array([[21.0, 21.5, 85.0, -70.0, 22.0]])
    assert impossible(t, lo, hi).tolist() == [[False, False, True, True, False]]
    frozen = np.array([[20.1, 20.3] + [20.4] * 8 + [20.2, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    mask = flatline(frozen, min_slots=8)
    assert mask[0, 2:10].all() and not mask[0, :2].any() and not mask[0, 10:].any()
