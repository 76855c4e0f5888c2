"""Small array helpers shared by the checks and detectors."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import bottleneck as bn
import numpy as np

T = TypeVar("T")

#: Threads for independent pieces of work (blocks of meters, checks): numpy releases the
#: GIL in its loops, so two cores take the heavy parts about twice as fast.
THREADS = min(2, os.cpu_count() or 1)

#: Lanes at least this long are reduced one by one.
_LONG = 512
#: Arrays at least this long are narrowed before their middle values are selected (below,
#: one quickselect is faster, and on a long array it can meet many bad pivots): the sample
#: size and its margin on each side of the middle (≈ 4 standard deviations of the sampled
#: rank, so the bounds almost never miss).
_NARROW = 16384
_SAMPLE = 1024
_MARGIN = 64


def nan_to_num(x: np.ndarray, nan: float = 0.0) -> np.ndarray:
    """``numpy.nan_to_num(x, nan=nan)`` of float64 values as a new array (±inf become the
    largest finite values), a few times faster where the non-finite values are rare."""
    out = np.array(x, dtype=np.float64)
    flat = out.reshape(-1)
    bad = np.flatnonzero(~np.isfinite(flat))
    if len(bad):
        big = np.finfo(np.float64).max
        v = flat[bad]
        flat[bad] = np.where(np.isnan(v), nan, np.where(v > 0, big, -big))
    return out


def run_all(jobs: list[Callable[[], T]], threads: int | None = None) -> list[T]:
    """Results of the independent ``jobs``, in their order, run ``threads`` at a time (in
    that order; default :data:`THREADS`, read at each call: set it to 1 to profile in one
    thread); an exception in a job is raised here."""
    threads = THREADS if threads is None else threads
    if threads < 2 or len(jobs) < 2:
        return [job() for job in jobs]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda job: job(), jobs))


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


def run_sums(flat: np.ndarray, first: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Sum of ``flat`` (1-D) over each of the runs ``[first, end)`` (indices, disjoint, in
    order, none empty): one pass of additions, where a cumulative sum would cost several."""
    if not len(first):
        return np.zeros(0)
    at = np.empty(2 * len(first), dtype=np.intp)
    at[0::2], at[1::2] = first, end
    # reduceat takes no index past the end: there, its last segment runs to the end anyway.
    return np.add.reduceat(flat, at[:-1] if at[-1] == len(flat) else at)[0::2]


def median_of(values: np.ndarray) -> float:
    """Median of a 1-D float64 array that holds no NaN, which it may reorder (NaN if empty);
    the same value as ``numpy.median``.

    A long array is first narrowed to the values between two bounds that a sample of it
    puts around the median, the values below them counted (a few comparisons per value,
    where ``partition`` costs a dozen nanoseconds); the middle ones are then selected
    among those few. When the bounds miss the middle, the whole array is partitioned.
    """
    c = len(values)
    if not c:
        return np.nan
    hi, odd = c // 2, c % 2 == 1
    if c >= _NARROW:
        # A sample spread over the array (a step prime to daily and weekly cycles), and the
        # values of two of its ranks (two quickselects: a sort costs several times more).
        sample = values[(np.arange(_SAMPLE) * 7919) % c]
        at = hi * _SAMPLE // c
        lo_rank, hi_rank = max(0, at - _MARGIN), min(_SAMPLE - 1, at + _MARGIN)
        sample = bn.partition(sample, lo_rank)
        low = sample[lo_rank]
        high = bn.partition(sample[lo_rank:], hi_rank - lo_rank)[hi_rank - lo_rank]
        keep = values >= low
        below = c - np.count_nonzero(keep)
        if low == high:  # tied values (a register's steps, an idle meter's zeros): count them
            if below <= hi - 1 + odd and hi < below + np.count_nonzero(values == low):
                return float(low)
            return _middle(values, hi, odd)
        keep &= values <= high
        inside = values[keep]
        if below <= hi - 1 + odd and hi - below < len(inside):  # the middle ones are inside
            return _middle(inside, hi - below, odd)
    return _middle(values, hi, odd)


def _middle(x: np.ndarray, hi: int, odd: bool) -> float:
    """The value of rank ``hi`` in ``x`` (1-D), or unless ``odd`` the mean of it and the one
    of rank ``hi - 1``: one partition and the largest value below it (a partition at both
    middle positions is several times slower). Bottleneck's quickselect partitions one
    array about three times faster than numpy's introselect."""
    y = bn.partition(x, hi)
    if odd:
        return float(y[hi])
    return float((y[:hi].max() + y[hi]) / 2)


def nanmedian(a: np.ndarray, axis: int, *, overwrite_input: bool = False) -> np.ndarray:
    """``numpy.nanmedian`` along one axis, without the warning for all-NaN slices (they give
    NaN), and the same values bit for bit.

    For float64 input it selects the middle values with ``partition`` instead of numpy's
    masked-array path for short axes (below 600 values), many times slower (other input
    goes to numpy, its warnings silenced: not thread-safe). Short lanes
    share one ``partition`` at the middle of the axis: in a lane with ``c`` values, its
    missing ones become -inf and +inf in the numbers that put the lane's own middle values
    there (``m // 2 - c // 2`` of them -inf for an axis of ``m``). Long lanes go one by
    one, their values compressed first. ``overwrite_input`` lets it reorder ``a`` in place
    when ``a`` is a C-contiguous float64 array reduced along its last axis.
    """
    x = np.asarray(a)
    if x.dtype != np.float64 or not isinstance(axis, int | np.integer):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(x, axis=axis)
    x = np.moveaxis(x, axis, -1)
    shape, m = x.shape[:-1], x.shape[-1]
    lanes = int(np.prod(shape))
    if not lanes or not m:
        return np.full(shape, np.nan)
    if m >= _LONG:
        out = np.empty(lanes)
        for i, lane in enumerate(x.reshape(lanes, m)):
            out[i] = median_of(lane[~np.isnan(lane)])
        return out.reshape(shape)
    if not (overwrite_input and x.flags.c_contiguous):
        x = np.ascontiguousarray(x) if not x.flags.c_contiguous else x.copy()
    x = x.reshape(lanes, m)
    at = np.flatnonzero(np.isnan(x))  # lane by lane, in order
    lane = at // m
    lost = np.bincount(lane, minlength=lanes)  # missing values of each lane
    count = m - lost
    hi = m // 2
    if len(at):
        nth = np.arange(len(at)) - (np.cumsum(lost) - lost)[lane]  # of the lane's missing
        x.reshape(-1)[at] = np.where(nth < (hi - count // 2)[lane], -np.inf, np.inf)
    if m == 1:
        return np.where(count > 0, x[:, 0], np.nan).reshape(shape)
    x.partition(hi, axis=1)
    high = x[:, hi]
    with np.errstate(invalid="ignore"):  # (-inf + inf in lanes that take the odd branch)
        out = np.where(count % 2 == 1, high, (x[:, :hi].max(axis=1) + high) / 2)
    out[count == 0] = np.nan
    return out.reshape(shape)


def grouped_nanmedian(a: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Median of each row of ``a`` (rows, slots) over the slots of each label, ignoring NaN:
    shape (rows, n_labels), NaN for a label without values. ``labels`` (slots,) are integers
    in ``0 … n_labels - 1``. The slots of each label are gathered side by side (NaN
    after the label's last one) and the lanes go through :func:`nanmedian` together,
    instead of one call per label."""
    x = np.asarray(a, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.intp)
    order = np.argsort(lab, kind="stable")
    counts = np.bincount(lab, minlength=n_labels)
    position = np.arange(len(lab)) - np.repeat(np.cumsum(counts) - counts, counts)
    at = np.full((n_labels, max(1, int(counts.max(initial=0)))), -1)
    at[lab[order], position] = order
    lanes = x[:, at]  # (rows, labels, most slots of a label)
    lanes[:, at < 0] = np.nan
    return nanmedian(lanes, axis=2, overwrite_input=True)
