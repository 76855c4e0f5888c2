"""Small array helpers shared by the checks and detectors."""

from __future__ import annotations

import warnings

import numpy as np


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, start, end) arrays of every run of True in ``mask`` (points × slots), row by row;
    ``end`` is the slot after the run. Found on the flattened grid with a separator column
    between rows, so no run crosses from one point to the next."""
    p, n = mask.shape
    padded = np.zeros((p, n + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded.ravel())
    starts = np.flatnonzero(edges == 1) + 1
    ends = np.flatnonzero(edges == -1) + 1
    rows, cols = np.divmod(starts, n + 2)
    return rows, cols - 1, cols - 1 + (ends - starts)


def nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    """``numpy.nanmedian`` without the warning for all-NaN slices (they give NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(a, axis=axis)
