"""Anomalies that are not waste rules: level shifts in a point's daily use.

:func:`level_shifts` compares, for each day, the median of the ``window`` days before it with
the median of the ``window`` days from it on, in units of the point's robust day-to-day
spread; a day where that jump peaks above ``n_sigmas`` is a change point (a new load, a
tenant moving out, a broken sub-meter). Working days and off-days are compared separately,
so the weekly rhythm is no shift.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from analytics._arrays import nanmedian
from analytics.waste import Finding


def level_shifts(
    daily: np.ndarray,
    worked: np.ndarray,
    *,
    window: int = 7,
    n_sigmas: float = 6.0,
    min_relative: float = 0.1,
    unit: str = "kWh",
) -> list[Finding]:
    """Change points in daily use.

    Parameters
    ----------
    daily : array_like, shape (points, days)
        Use per local day (kWh or m³); NaN for days not known.
    worked : array_like of bool or int, shape (days,)
        Working days (:func:`analytics.calendar.is_workday`), or day regimes as integers
        (e.g. working day + 2 × school vacation): each regime is compared only with itself.
    window : int
        Days of the same kind compared on each side.
    n_sigmas : float
        Threshold on the jump in robust standard deviations of the day-to-day changes.
    min_relative : float
        Smallest jump as a share of the level before it.

    Returns
    -------
    list of Finding
        ``rule="level_shift"``, ``start``/``end`` = the day of the shift and the day after
        (day indices); ``waste`` = the change in use per day (negative for a drop) in
        ``unit`` per day; ``evidence`` has the levels before and after.
    """
    d = np.asarray(daily, dtype=np.float64)
    w = np.asarray(worked).astype(np.int64)
    p, n = d.shape
    findings: list[Finding] = []
    for kind in np.unique(w):
        cols = np.flatnonzero(w == kind)
        if len(cols) < 2 * window + 1:
            continue
        x = d[:, cols]
        spread = 1.4826 * nanmedian(np.abs(np.diff(x, axis=1)), axis=1) / np.sqrt(2)
        wins = sliding_window_view(x, window, axis=1)  # (p, len - window + 1, window)
        med = nanmedian(wins, axis=2)
        before, after = med[:, :-window], med[:, window:]  # day j = window .. len - window
        jump = after - before
        with np.errstate(invalid="ignore", divide="ignore"):
            # A meter without day-to-day noise (a quiet sub-meter) is judged by min_relative.
            floor = np.maximum(min_relative * np.abs(before) / n_sigmas, 1e-12)
            score = np.abs(jump) / np.maximum(spread[:, None], floor)
            big = (score > n_sigmas) & (np.abs(jump) > min_relative * np.abs(before))
        # Keep the peak of each run of big scores.
        for row in range(p):
            j = 0
            while j < big.shape[1]:
                if not big[row, j]:
                    j += 1
                    continue
                k = j
                while k < big.shape[1] and big[row, k]:
                    k += 1
                # Medians make the score a plateau around the true day: take its middle.
                peak = (j + k - 1) // 2
                day = int(cols[peak + window])
                findings.append(
                    Finding(
                        row,
                        "level_shift",
                        day,
                        day + 1,
                        "high" if score[row, peak] > 3 * n_sigmas else "medium",
                        float(score[row, peak] / n_sigmas),
                        float(jump[row, peak]),
                        unit,
                        {
                            "before_per_day": float(before[row, peak]),
                            "after_per_day": float(after[row, peak]),
                            "working_days": bool(kind & 1),
                            "regime": int(kind),
                        },
                    )
                )
                j = k
    return sorted(findings, key=lambda f: (f.point, f.start))
