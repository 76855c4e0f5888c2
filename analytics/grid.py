"""Readings → [points × slots] grids on slots aligned to the building's local midnight.

Column ``j`` of a grid is the slot ``(start + j·step, start + (j+1)·step]``; ``start`` is a
local midnight as UTC µs. China keeps one offset all year, so a local day is always
``86400 / step_s`` slots (zones with daylight saving would need per-day slot counts).

- Registers (:func:`registers_to_grid`): the reading nearest each slot end, within half a
  slot; one farther than ``skew_tolerance_s`` from the slot end is flagged ``CLOCK_SKEW``.
- Instantaneous values (:func:`mean_to_grid`): the mean of the readings inside each slot.
"""

from __future__ import annotations

import numpy as np

from analytics import flags as F


def _check(point_index: np.ndarray, times_us: np.ndarray, values: np.ndarray, n_points: int):
    p = np.asarray(point_index, dtype=np.int64)
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if not (p.shape == t.shape == v.shape and p.ndim == 1):
        raise ValueError(
            f"point_index, times_us, values: must be 1-D of one length, got {p.shape}, "
            f"{t.shape}, {v.shape}"
        )
    if len(p) and (p.min() < 0 or p.max() >= n_points):
        raise ValueError(f"point_index: must be within 0..{n_points - 1}")
    return p, t, v


def registers_to_grid(
    point_index: np.ndarray,
    times_us: np.ndarray,
    values: np.ndarray,
    *,
    n_points: int,
    start_us: int,
    step_s: int,
    n_slots: int,
    skew_tolerance_s: float = 60.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Grid of register readings at slot ends, and flags (``GAP``, ``CLOCK_SKEW``).

    Parameters
    ----------
    point_index, times_us, values : array_like, shape (readings,)
        Row of each reading's point, its time (UTC µs since the Unix epoch) and value.
    n_points, n_slots : int
        Grid shape.
    start_us : int
        Start of the first slot (a local midnight), UTC µs.
    step_s : int
        Slot length in seconds (900 for 15 minutes, 3600 for hours).
    skew_tolerance_s : float
        Readings farther than this from their slot end are flagged ``CLOCK_SKEW``.
    """
    p, t, v = _check(point_index, times_us, values, n_points)
    step = step_s * 1_000_000
    ok = ~np.isnan(v)
    k = np.rint((t - start_us) / step).astype(np.int64)  # nearest slot end (count of steps)
    offset = t - (start_us + k * step)
    col = k - 1
    ok &= (col >= 0) & (col < n_slots)
    p, col, v, offset = p[ok], col[ok], v[ok], offset[ok]
    cell = p * n_slots + col
    order = np.lexsort((np.abs(offset), cell))  # per cell, the reading nearest its slot end
    cell, v, offset = cell[order], v[order], offset[order]
    first = np.r_[True, cell[1:] != cell[:-1]][: len(cell)]  # (no reading: empty)
    grid = np.full(n_points * n_slots, np.nan)
    grid[cell[first]] = v[first]
    flags = np.full(n_points * n_slots, F.GAP, dtype=np.uint16)
    flags[cell[first]] = 0
    skewed = cell[first][np.abs(offset[first]) > skew_tolerance_s * 1e6]
    flags[skewed] |= F.CLOCK_SKEW
    return grid.reshape(n_points, n_slots), flags.reshape(n_points, n_slots)


def mean_to_grid(
    point_index: np.ndarray,
    times_us: np.ndarray,
    values: np.ndarray,
    *,
    n_points: int,
    start_us: int,
    step_s: int,
    n_slots: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Grid of slot means of instantaneous readings (kW, °C …), and flags (``GAP``).

    A reading at time ``t`` belongs to the slot ``(start + j·step, start + (j+1)·step]``
    that contains it; parameters as for :func:`registers_to_grid`.
    """
    p, t, v = _check(point_index, times_us, values, n_points)
    step = step_s * 1_000_000
    col = -((start_us - t) // step) - 1  # ceil((t - start) / step) - 1
    ok = ~np.isnan(v) & (col >= 0) & (col < n_slots)
    cell = p[ok] * n_slots + col[ok]
    size = n_points * n_slots
    total = np.bincount(cell, weights=v[ok], minlength=size)
    count = np.bincount(cell, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(count > 0, total / count, np.nan)
    flags = np.where(count > 0, 0, F.GAP).astype(np.uint16)
    return grid.reshape(n_points, n_slots), flags.reshape(n_points, n_slots)
