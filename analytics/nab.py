"""Score flagged points against labelled anomaly windows, the way the Numenta Anomaly Benchmark
(NAB) labels its series: windows hit, and false flags per 1,000 points outside windows.

NAB labels each series with windows ``[start, end]`` (both ends included) around every known
anomaly; a detection anywhere inside a window finds it, a detection outside every window is a
false positive [1]_. NAB itself weighs each detection by its position in the window and each
flagged point outside windows as a false positive; this module keeps the two numbers a person
reads instead:

* a window is **hit** when at least one flagged point lies inside it;
* a **false flag** is a maximal run of consecutive flagged points outside all windows (one
  event, however many points it spans): the flags are cut at the window edges first, so a run
  that begins before a window and ends inside it is a hit *and* a false flag, and no run can
  hide false alarms by reaching into a window;
* the rate is false flags per 1,000 points outside windows, counted from ``first`` on (the
  detectors' warm-up, during which they cannot flag, is not counted as quiet time).

Pure functions on numpy arrays; reading NAB's CSV and JSON files is :mod:`jieneng.nab`'s job.

References
----------
.. [1] Lavin, A. and Ahmad, S. (2015). Evaluating real-time anomaly detection algorithms – the
   Numenta Anomaly Benchmark. 14th IEEE International Conference on Machine Learning and
   Applications (ICMLA), 38–44. doi:10.1109/ICMLA.2015.141
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from analytics._arrays import runs


@dataclass(frozen=True, slots=True)
class WindowScore:
    """Windows hit and false flags on one series (or a total over many).

    Attributes
    ----------
    windows : int
        Labelled windows.
    hit : int
        Windows with at least one flagged point inside.
    points_outside : int
        Points outside every window from the first scored point on.
    false_flags : int
        Runs of flagged points outside every window.
    flagged_outside : int
        Flagged points outside every window (the run lengths added up).
    """

    windows: int
    hit: int
    points_outside: int
    false_flags: int
    flagged_outside: int

    @property
    def hit_ratio(self) -> float:
        """Share of windows hit (1.0 when there are none: nothing was missed)."""
        return self.hit / self.windows if self.windows else 1.0

    @property
    def false_per_1000(self) -> float:
        """False flags per 1,000 points outside windows (0.0 when there are no such points)."""
        return 1000.0 * self.false_flags / self.points_outside if self.points_outside else 0.0

    def __add__(self, other: WindowScore) -> WindowScore:
        return WindowScore(
            self.windows + other.windows,
            self.hit + other.hit,
            self.points_outside + other.points_outside,
            self.false_flags + other.false_flags,
            self.flagged_outside + other.flagged_outside,
        )


def total(scores: Iterable[WindowScore]) -> WindowScore:
    """The sum of several series' scores (rates from the summed counts, not averaged)."""
    out = WindowScore(0, 0, 0, 0, 0)
    for s in scores:
        out = out + s
    return out


def window_index(times: np.ndarray, windows: Sequence[tuple[object, object]]) -> np.ndarray:
    """Which window each point lies in.

    Parameters
    ----------
    times : array_like of datetime64, shape (samples,)
        Time stamps of the points (any order).
    windows : sequence of (start, end)
        Window bounds, both included, as anything :class:`numpy.datetime64` takes (NAB writes
        ``"2014-04-10 07:15:00.000000"``).

    Returns
    -------
    numpy.ndarray of int, shape (samples,)
        Index of the window holding each point, -1 outside all (the first one when windows
        overlap).
    """
    t = np.asarray(times, dtype="datetime64[us]")
    out = np.full(t.shape, -1, dtype=np.int64)
    for i, (start, end) in enumerate(windows):
        a, b = np.datetime64(start, "us"), np.datetime64(end, "us")
        if b < a:
            raise ValueError(f"window {i}: end {b} is before start {a}")
        out[(out < 0) & (t >= a) & (t <= b)] = i
    return out


def score(
    times: np.ndarray,
    flags: np.ndarray,
    windows: Sequence[tuple[object, object]],
    *,
    first: int = 0,
) -> WindowScore:
    """Windows hit and false flags of one series' flagged points.

    Parameters
    ----------
    times : array_like of datetime64, shape (samples,)
        Time stamps in the order of ``flags`` (a series' rows as stored).
    flags : array_like of bool, shape (samples,)
        Points a detector flagged.
    windows : sequence of (start, end)
        Labelled windows, both ends included (see :func:`window_index`).
    first : int
        Index of the first scored point: flags before it are ignored and the points before it
        are not counted as quiet time (a detector's warm-up, or NAB's probationary period).
        Windows are counted wherever they lie, so one inside the warm-up can only be missed.

    Returns
    -------
    WindowScore
    """
    f = np.asarray(flags, dtype=bool)
    inside = window_index(times, windows)
    if f.shape != inside.shape:
        raise ValueError(f"flags have shape {f.shape}, times {inside.shape}")
    scored = np.arange(f.size) >= first
    f = f & scored
    hit = np.unique(inside[f & (inside >= 0)]).size
    outside = f & (inside < 0)
    _, starts, _ = runs(outside[None, :])
    return WindowScore(
        windows=len(windows),
        hit=int(hit),
        points_outside=int(np.count_nonzero(scored & (inside < 0))),
        false_flags=int(starts.size),
        flagged_outside=int(np.count_nonzero(outside)),
    )
