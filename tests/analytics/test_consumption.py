"""Registers → interval consumption: reconstruction, flags, invariances (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from analytics import flags as F
from analytics.consumption import Replacement, from_registers

ROLLOVER = 100_000.0


def registers_from(use: np.ndarray, start: np.ndarray, resets: np.ndarray) -> np.ndarray:
    """What meters show: cumulative use from ``start``, wrapped at ROLLOVER, restarting from
    zero at slots where ``resets`` is true."""
    reg = np.empty_like(use)
    value = start.astype(np.float64).copy()
    for t in range(use.shape[1]):
        value = np.where(resets[:, t], 0.0, value) + use[:, t]
        reg[:, t] = value
    return np.mod(reg, ROLLOVER)


grids = st.tuples(st.integers(1, 4), st.integers(3, 60))


@st.composite
def meters(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, n = draw(grids)
    use = draw(hnp.arrays(np.float64, (p, n), elements=st.floats(0.01, 500.0)))
    use[:, 0] = 0.0
    # Registers that have counted a while (a reset from near zero is indistinguishable from
    # a spike), and at most one reset per meter.
    start = draw(hnp.arrays(np.float64, (p,), elements=st.floats(1000.0, ROLLOVER * 0.999)))
    resets = np.zeros((p, n), dtype=bool)
    for row in range(p):
        at = draw(st.integers(0, 3 * n))
        if 1 <= at < n:
            resets[row, at] = True
    return use, start, resets


@settings(max_examples=200, deadline=None)
@given(meters())
def test_rollover_and_reset_reconstruction(m: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    use, start, resets = m
    reg = registers_from(use, start, resets)
    got, flags = from_registers(reg, rollover=ROLLOVER, stuck_slots=10**6)
    assert got.shape == use.shape and got.dtype == np.float64 and flags.dtype == np.uint16
    assert np.all(np.isnan(got[:, 0]))
    # Every slot after the first is known exactly, except where a reset hid in a wrap region.
    plain = ~resets[:, 1:]
    assert np.allclose(got[:, 1:][plain], use[:, 1:][plain], rtol=1e-9, atol=1e-6)
    seen = resets & ((flags & F.RESET) > 0)
    assert np.allclose(got[seen], use[seen], rtol=1e-9, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(meters(), st.floats(0.001, 1000.0))
def test_unit_scaling_invariance(m: tuple[np.ndarray, np.ndarray, np.ndarray], k: float) -> None:
    use, start, resets = m
    reg = registers_from(use, start, resets)
    a, fa = from_registers(reg, rollover=ROLLOVER, stuck_slots=10**6)
    b, fb = from_registers(reg * k, rollover=ROLLOVER * k, stuck_slots=10**6)
    assert np.array_equal(fa, fb)
    assert np.allclose(b, a * k, rtol=1e-7, equal_nan=True, atol=1e-6 * k)


@settings(max_examples=100, deadline=None)
@given(meters(), st.data())
def test_gaps_conserve_the_total(m, data) -> None:
    use, start, _ = m
    p, n = use.shape
    reg = registers_from(use, start, np.zeros((p, n), dtype=bool))
    holes = data.draw(hnp.arrays(np.bool_, (p, n), elements=st.booleans()))
    holes[:, 0] = holes[:, -1] = False  # first and last reading present
    with_gaps = np.where(holes, np.nan, reg)
    got, flags = from_registers(with_gaps, rollover=ROLLOVER, stuck_slots=10**6)
    assert np.allclose(np.nansum(got, axis=1), use[:, 1:].sum(axis=1), rtol=1e-9, atol=1e-6)
    assert np.all((flags[holes] & F.GAP) > 0) and np.all((flags[holes] & F.INTERPOLATED) > 0)
    assert not np.isnan(got[:, 1:]).any()


def test_a_spike_is_left_out_and_its_slots_share_the_step() -> None:
    reg = np.array([[100.0, 101, 102, 5000, 104, 105]])
    got, flags = from_registers(reg)
    assert np.allclose(got[0, 1:], [1, 1, 1, 1, 1])
    assert flags[0, 3] & F.SPIKE and flags[0, 3] & F.INTERPOLATED


def test_jitter_is_zero_and_flagged() -> None:
    got, flags = from_registers(np.array([[10.00, 10.01, 10.00, 10.02]]), resolution=0.01)
    assert np.allclose(got[0, 1:], [0.01, 0.0, 0.02])
    assert flags[0, 2] & F.NEGATIVE


def test_recorded_replacement_with_a_new_multiplier() -> None:
    # Old meter ×40 reads 500, 501 and ends at 501.5; the new one ×80 starts at 0.
    reg = np.array([[500.0, 501.0, 0.25, 0.75, 1.25]])
    event = Replacement(point=0, slot=2, old_final=501.5, new_initial=0.0, new_multiplier=80)
    got, flags = from_registers(reg, multiplier=40, replacements=[event])
    assert np.allclose(got[0, 1:], [40.0, 0.5 * 40 + 0.25 * 80, 40.0, 40.0])
    assert flags[0, 2] & F.REPLACEMENT and not flags[0, 2] & F.RESET
    # Unrecorded, the same fall is a reset.
    _, unrecorded = from_registers(reg, multiplier=40)
    assert unrecorded[0, 2] & F.RESET


def test_stuck_register_catch_up_is_spread() -> None:
    use = np.full(40, 2.0)
    reg = 1000 + np.cumsum(use)
    reg[10:22] = reg[9]  # frozen for 12 readings, then caught up at 22
    got, flags = from_registers(reg[None, :], stuck_slots=8)
    assert np.allclose(got[0, 1:], 2.0)
    assert np.all(flags[0, 10:23] & F.STUCK)
    # A meter that really used nothing for a while and then its usual amount is not stuck.
    quiet = 1000 + np.cumsum(np.r_[np.full(10, 2.0), np.zeros(12), np.full(18, 2.0)])
    _, qflags = from_registers(quiet[None, :], stuck_slots=8)
    assert not np.any(qflags & F.STUCK)


@pytest.mark.parametrize("bad", [{"multiplier": -1.0}, {"rollover": np.nan}])
def test_bad_parameters_name_the_field(bad: dict[str, float]) -> None:
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"{name}: must be ≥ 0"):
        from_registers(np.zeros((1, 3)), **bad)


def test_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="registers: must be 2-D"):
        from_registers(np.zeros((2, 2, 2)))


def test_clock_skew_travels_from_the_grid_flags() -> None:
    reg = np.cumsum(np.ones((3, 10)), axis=1)
    grid_flags = np.zeros((3, 10), dtype=np.uint16)
    grid_flags[1, 4] = F.CLOCK_SKEW | F.GAP  # only the skew travels
    _, flags = from_registers(reg, rows=np.array([2, 1]), register_flags=grid_flags)
    assert flags[1, 4] == F.CLOCK_SKEW and np.count_nonzero(flags & F.CLOCK_SKEW) == 1
    with pytest.raises(ValueError, match="register_flags: shape"):
        from_registers(reg, register_flags=grid_flags[:2])
