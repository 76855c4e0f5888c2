"""Data-quality checks on grids of instantaneous values (power, temperature …).

Each function takes a [points × slots] grid (NaN = missing) and returns a boolean mask of
the same shape; :func:`flag_series` runs them all and returns :mod:`analytics.flags` bits.
Registers have their own checks in :mod:`analytics.consumption`.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from analytics import flags as F
from analytics._arrays import nanmedian, runs

#: Physical bounds by quantity, in canonical units (°C, %, kW, m³/h).
BOUNDS: dict[str, tuple[float, float]] = {
    "temperature": (-60.0, 70.0),
    "humidity": (0.0, 100.0),
    "power": (0.0, np.inf),
    "flow": (0.0, np.inf),
}


#: Compare-exchanges of a median-of-7 selection network (Devillard's ``opt_med7``): after
#: them, position 3 holds the median.
_MEDIAN_OF_7 = ((0, 5), (0, 3), (1, 6), (2, 4), (0, 1), (3, 5), (2, 6), (2, 3), (3, 6))
_MEDIAN_OF_7 += ((4, 5), (1, 4), (1, 3), (3, 4))
#: Rows filtered at a time: the temporaries of the network stay in the CPU cache.
_BLOCK_ROWS = 4


def _filled(values: np.ndarray) -> np.ndarray:
    """NaN replaced by the previous value (then the next one at the start), per row; 0 in an
    all-NaN row. Without NaN, ``values`` itself."""
    v = np.asarray(values, dtype=np.float64)
    valid = ~np.isnan(v)
    if valid.all():
        return v
    n = v.shape[1]
    idx = np.maximum.accumulate(np.where(valid, np.arange(n), -1), axis=1)
    first = np.where(valid.any(axis=1), valid.argmax(axis=1), 0)
    idx = np.where(idx < 0, first[:, None], idx)
    out = np.take_along_axis(v, idx, axis=1)
    return np.where(np.isnan(out), 0.0, out)


def _rolling_median(values: np.ndarray, half_window: int, mode: str) -> np.ndarray:
    """Median of the ``2 × half_window + 1`` slots about each slot, row by row, of values
    without NaN; beyond the ends the row is mirrored (``mode="mirror"``: d c b | a b c d) or
    repeats its end value (``"nearest"``), as in :func:`scipy.ndimage.median_filter`. Seven
    slots go through a selection network of minima and maxima on shifted views, several
    times faster than the general filter."""
    if half_window != 3:
        return median_filter(values, size=(1, 2 * half_window + 1), mode=mode)
    p, n = values.shape
    pad = "reflect" if mode == "mirror" else "edge"  # numpy's names
    out = np.empty((p, n))
    for start in range(0, p, _BLOCK_ROWS):
        rows = slice(start, start + _BLOCK_ROWS)
        padded = np.pad(values[rows], ((0, 0), (3, 3)), mode=pad)
        w = [padded[:, k : k + n] for k in range(7)]
        for i, j in _MEDIAN_OF_7:
            w[i], w[j] = np.minimum(w[i], w[j]), np.maximum(w[i], w[j])
        out[rows] = w[3]
    return out


def hampel(
    values: np.ndarray,
    *,
    half_window: int = 3,
    n_sigmas: float = 5.0,
    min_scale: np.ndarray | float = 0.0,
    min_relative: float = 0.0,
) -> np.ndarray:
    """Spikes by a Hampel identifier: far from the rolling median in robust noise units.

    Parameters
    ----------
    values : array_like, shape (points, slots)
        Instantaneous values; NaN where missing (never flagged).
    half_window : int
        Slots on each side of the window (3 → 7 slots; 1¾ h at 15 minutes).
    n_sigmas : float
        Threshold in robust standard deviations (1.4826 / √2 × the rolling median of the
        absolute successive differences).
    min_scale : float or array_like, shape (points,)
        Smallest standard deviation to assume, in the values' unit: a sensor that barely
        moves would otherwise flag its own noise.
    min_relative : float
        Smallest standard deviation as a share of the rolling median (0.05: with 5 sigmas a
        reading must stray 25 % from its neighbourhood): loads ramp faster than their noise.

    References
    ----------
    .. [1] Pearson, R. K. (2002). Outliers in process modeling and identification. IEEE
       Transactions on Control Systems Technology, 10(1), 55–63.
    """
    v = np.asarray(values, dtype=np.float64)
    filled = _filled(v)
    # Mirrored edges: with repeated ones ("nearest") the first value fills most of its own
    # window and could never stand out.
    med = _rolling_median(filled, half_window, "mirror" if filled.shape[1] > 1 else "nearest")
    # Noise scale from successive differences: a trend or a ramp does not inflate it, and an
    # isolated spike touches only two of them (a rolling MAD about each slot's own median
    # collapses to zero on trending data).
    step = np.abs(np.diff(filled, axis=1, prepend=filled[:, :1]))
    step[:, 0] = 0.0  # the first slot has no step: its row's median one stands in, below
    noise = 1.4826 / np.sqrt(2) * _rolling_median(step, half_window, "nearest")
    floor = np.maximum(
        np.asarray(min_scale, dtype=np.float64).reshape(-1, 1), min_relative * np.abs(med)
    )
    # The stand-in reaches the noise of the first slots only, and matters only where one of
    # them is beyond the floor: the row's median step (a pass over the row) is found there.
    edge = slice(0, half_window + 1)
    with np.errstate(invalid="ignore"):
        near = np.abs(v[:, edge] - med[:, edge]) > n_sigmas * floor[:, edge]
    rows = np.flatnonzero(near.any(axis=1)) if step.shape[1] > 1 else []
    if len(rows):
        some = step[rows]
        # numpy.median's value: NaN for a row with NaN
        some[:, 0] = np.where(
            np.isnan(some[:, 1:]).any(axis=1), np.nan, nanmedian(some[:, 1:], axis=1)
        )
        noise[rows] = 1.4826 / np.sqrt(2) * _rolling_median(some, half_window, "nearest")
    scale = np.maximum(noise, floor)
    with np.errstate(invalid="ignore"):
        return ~np.isnan(v) & (np.abs(v - med) > n_sigmas * scale)


def isolated(values: np.ndarray, *, ratio: float = 1.0) -> np.ndarray:
    """Values that stand apart from both neighbours: beyond the range of the two by more
    than ``ratio`` times their difference. A bad reading stands alone, even next to a step;
    a step or a two-slot dip (a schedule changing) does not.

    Parameters
    ----------
    values : array_like, shape (points, slots)
        NaN where missing (the neighbours are then the nearest values on each side).
    ratio : float
        How much farther beyond the neighbours than they are from each other.
    """
    v = np.asarray(values, dtype=np.float64)
    before = _filled(v)
    after = _filled(v[:, ::-1])[:, ::-1]
    prev = np.empty_like(before)
    nxt = np.empty_like(after)
    prev[:, 1:], nxt[:, :-1] = before[:, :-1], after[:, 1:]
    # At the edges, the two values on the one side there is.
    prev[:, 0] = after[:, 2] if v.shape[1] > 2 else after[:, -1]
    nxt[:, -1] = before[:, -3] if v.shape[1] > 2 else before[:, 0]
    with np.errstate(invalid="ignore"):
        outside = np.maximum(v - np.maximum(prev, nxt), np.minimum(prev, nxt) - v)
        return ~np.isnan(v) & (outside > ratio * np.abs(nxt - prev))


def impossible(values: np.ndarray, low: np.ndarray | float, high: np.ndarray | float) -> np.ndarray:
    """Values outside ``[low, high]`` (per point or one pair for all), e.g. :data:`BOUNDS`."""
    v = np.asarray(values, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64).reshape(-1, 1)
    hi = np.asarray(high, dtype=np.float64).reshape(-1, 1)
    with np.errstate(invalid="ignore"):
        return (v < lo) | (v > hi)


def flatline(values: np.ndarray, *, min_slots: int = 8, ignore_zero: bool = True) -> np.ndarray:
    """Runs of at least ``min_slots`` identical consecutive values (a frozen sensor).

    ``ignore_zero`` leaves runs of 0 alone (a load that is switched off reads 0).
    """
    v = np.asarray(values, dtype=np.float64)
    p, n = v.shape
    same = np.zeros((p, n), dtype=bool)
    same[:, 1:] = v[:, 1:] == v[:, :-1]
    if ignore_zero:
        same &= v != 0
    # A run of k equal steps covers k + 1 slots (the first value it repeats too).
    rows, starts, ends = runs(same)
    long = ends - starts + 1 >= min_slots
    out = np.zeros((p, n + 1), dtype=np.int32)
    np.add.at(out, (rows[long], starts[long] - 1), 1)
    np.add.at(out, (rows[long], ends[long]), -1)
    return (np.cumsum(out, axis=1)[:, :n] > 0) & ~np.isnan(v)


def flag_series(
    values: np.ndarray,
    *,
    low: np.ndarray | float = -np.inf,
    high: np.ndarray | float = np.inf,
    min_scale: np.ndarray | float = 0.0,
    min_relative: float = 0.05,
    flat_slots: int = 8,
) -> np.ndarray:
    """All checks of this module as :mod:`analytics.flags` bits (``uint16``)."""
    v = np.asarray(values, dtype=np.float64)
    out = np.where(np.isnan(v), F.GAP, 0).astype(np.uint16)
    out[impossible(v, low, high)] |= F.IMPOSSIBLE
    out[hampel(v, min_scale=min_scale, min_relative=min_relative)] |= F.SPIKE
    out[flatline(v, min_slots=flat_slots)] |= F.STUCK
    return out
