"""Generic anomaly detectors on single series at any regular sampling.

The building detectors of :mod:`analytics.quality` and :mod:`analytics.anomaly` know what a
meter is; these know nothing but the series: machine metrics, traffic counts, a thermometer.
Every detector follows the same two-gate rule, so that one pair of thresholds serves series
of any unit, offset, noise level and tail:

1. **clear**: the score stands ``n_sigmas`` robust standard deviations away from what is
   expected (a Hampel identifier [1]_, a median-based change point [2]_, a seasonal residual);
2. **new**: the score is larger, by ``margin``, than anything the same detector saw in the
   ``history`` before it, leaving out what it already flagged there. Heavy-tailed series
   (request counts, CPU) pass the first gate every day; only what they have not done lately
   is an anomaly. This is the idea of a threshold set from the series' own past scores
   (Numenta's anomaly likelihood [3]_), with the sample maximum in place of a fitted tail.

The detectors:

* :func:`spikes` – single points far from their neighbours (Hampel);
* :func:`level_shifts` – the median of the next ``window`` samples against the median of the
  previous ``window`` (a windowed-median change point; a robust relative of Page's CUSUM
  [4]_ that also dates the change);
* :func:`seasonal_residuals` – distance from the same time of day (or week) over the previous
  cycles, for series with a clear daily or weekly cycle (:func:`choose_period`);
* :func:`activity_changes` – the mean absolute step over a window: spikes getting denser,
  noise growing, a signal oscillating.

Arrays are [series × samples] on a regular grid (NaN for missing), like the rest of
:mod:`analytics`; :func:`regular_grid` puts time-stamped rows on one, and :func:`detect`
runs everything on one time-stamped series and returns :class:`Run` findings in its rows.

Warm-up: a detector flags nothing before ``first`` (a sample index) and not before it has
the data it needs (``cycles`` whole cycles for the seasonal profile). The history behind the
second gate grows from the start of the series up to ``history`` samples, so the first days
after warm-up are judged against a short past; NAB gives detectors the first 15 % of each
file for this [5]_, and :func:`detect` takes the same default.

References
----------
.. [1] Pearson, R. K. (2002). Outliers in process modeling and identification. IEEE
   Transactions on Control Systems Technology, 10(1), 55–63.
.. [2] Basseville, M. and Nikiforov, I. V. (1993). Detection of Abrupt Changes: Theory and
   Application. Prentice Hall, §2.1 and §2.6 (change detection by comparing windows).
.. [3] Ahmad, S., Lavin, A., Purdy, S. and Agha, Z. (2017). Unsupervised real-time anomaly
   detection for streaming data. Neurocomputing, 262, 134–147.
.. [4] Page, E. S. (1954). Continuous inspection schemes. Biometrika, 41(1/2), 100–115.
.. [5] Lavin, A. and Ahmad, S. (2015). Evaluating real-time anomaly detection algorithms –
   the Numenta Anomaly Benchmark. IEEE 14th ICMLA, 38–44.
.. [6] Wang, X., Smith, K. and Hyndman, R. (2006). Characteristic-based clustering for time
   series data. Data Mining and Knowledge Discovery, 13(3), 335–364 (strength of
   seasonality).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import maximum_filter1d, median_filter, uniform_filter1d

from analytics._arrays import nanmedian, runs
from analytics.quality import _filled

#: Seconds in a day.
DAY_S = 86_400.0
#: 1.4826 × the median absolute deviation estimates a normal standard deviation.
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class Run:
    """A finding: rows ``start`` … ``end - 1`` of a series, flagged by ``detector``.

    ``score`` is the largest score in the run divided by the threshold it had to pass
    (above 1; 2 means twice as far out as needed).
    """

    start: int
    end: int
    score: float
    detector: str


@dataclass(frozen=True)
class Grid:
    """Time-stamped rows placed on a regular grid.

    Attributes
    ----------
    step_s : float
        Sampling interval, s (the median positive interval between rows).
    slots : numpy.ndarray of int, shape (rows,)
        Grid slot of each row (rows whose stamps round to the same slot share it).
    values : numpy.ndarray of float, shape (slots,)
        Value per slot (the last row that lands there); NaN in gaps.
    start : numpy.datetime64
        Time of slot 0.
    """

    step_s: float
    slots: np.ndarray
    values: np.ndarray
    start: np.datetime64


def regular_grid(times: np.ndarray, values: np.ndarray) -> Grid:
    """Place a time-stamped series on a regular grid at its own sampling interval.

    Parameters
    ----------
    times : array_like of datetime64, shape (rows,)
        Time stamps; duplicates and a few out-of-order rows are tolerated.
    values : array_like of float, shape (rows,)
        Values; NaN where missing.

    Returns
    -------
    Grid
    """
    t = np.asarray(times, dtype="datetime64[us]")
    v = np.asarray(values, dtype=np.float64)
    if t.shape != v.shape or t.ndim != 1:
        raise ValueError(f"times {t.shape} and values {v.shape} must be one series each")
    if t.size == 0:
        return Grid(1.0, np.zeros(0, np.int64), np.zeros(0), np.datetime64(0, "us"))
    us = t.astype(np.int64)
    start = us.min()
    gaps = np.diff(np.sort(us))
    gaps = gaps[gaps > 0]
    step_us = float(np.median(gaps)) if gaps.size else 1e6
    slots = np.rint((us - start) / step_us).astype(np.int64)
    out = np.full(int(slots.max()) + 1, np.nan)
    out[slots] = v  # the last row wins a shared slot
    return Grid(step_us / 1e6, slots, out, np.datetime64(int(start), "us"))


def samples_per_day(step_s: float) -> int:
    """Samples in a day at ``step_s`` seconds, or 0 when a day is not a whole number of
    samples (±1 %) or has fewer than 4: no daily profile is fitted then."""
    per_day = DAY_S / step_s
    n = round(per_day)
    return n if n >= 4 and abs(per_day - n) <= 0.01 * per_day else 0


def seasonal_strength(values: np.ndarray, period: int) -> np.ndarray:
    """Strength of a cycle of ``period`` samples, 0 (none) … 1 (all variation is the cycle).

    ``max(0, 1 − var(remainder) / var(detrended))`` [6]_: the trend is a moving average over
    one period (it cancels the cycle), the seasonal part the median of the detrended values
    at each phase, the remainder what is left.

    Parameters
    ----------
    values : array_like, shape (series, samples)
        Regular samples; NaN where missing.
    period : int
        Cycle length in samples (at least 2).

    Returns
    -------
    numpy.ndarray, shape (series,)
        NaN for series shorter than two cycles.
    """
    x = np.asarray(values, dtype=np.float64)
    s, n = x.shape
    out = np.full(s, np.nan)
    cycles = n // period
    if period < 2 or cycles < 2:
        return out
    x = x[:, : cycles * period]
    trend = uniform_filter1d(_filled(x), period, axis=1, mode="nearest")
    detrended = (x - trend).reshape(s, cycles, period)
    remainder = detrended - nanmedian(detrended, axis=1)[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN series: NaN, then 0
        var_d = np.nanvar(detrended.reshape(s, -1), axis=1)
        var_r = np.nanvar(remainder.reshape(s, -1), axis=1)
        return np.where(var_d > 0, np.clip(1.0 - var_r / var_d, 0.0, 1.0), 0.0)


def choose_period(
    values: np.ndarray, step_s: float, *, min_strength: float = 0.6, weekly_gain: float = 0.1
) -> int:
    """The cycle to model a series with: a day, a week, or none (0).

    Parameters
    ----------
    values : array_like, shape (samples,)
        One series on a regular grid.
    step_s : float
        Sampling interval, s.
    min_strength : float
        Smallest :func:`seasonal_strength` for a cycle to count (0.6: the cycle explains more
        than half of the detrended variance, with room for noise).
    weekly_gain : float
        How much stronger the weekly cycle must be to be preferred (working days and
        weekends that differ).

    Returns
    -------
    int
        Period in samples; 0 for none. A day needs 3 days of data, a week 3 weeks.
    """
    x = np.asarray(values, dtype=np.float64).reshape(1, -1)
    day = samples_per_day(step_s)
    if not day or x.shape[1] < 3 * day:
        return 0
    daily = float(seasonal_strength(x, day)[0])
    weekly = float(seasonal_strength(x, 7 * day)[0]) if x.shape[1] >= 21 * day else 0.0
    if weekly >= min_strength and weekly >= daily + weekly_gain:
        return 7 * day
    return day if daily >= min_strength else 0


def seasonal_expected(values: np.ndarray, period: int, cycles: int) -> np.ndarray:
    """The median of the same phase over the previous ``cycles`` cycles (seasonal naive).

    NaN where fewer than half of those cycles are known (the first ``cycles // 2`` cycles
    have none).
    """
    x = np.asarray(values, dtype=np.float64)
    s, n = x.shape
    past = np.full((cycles, s, n), np.nan)
    for k in range(1, cycles + 1):
        if k * period < n:
            past[k - 1, :, k * period :] = x[:, : n - k * period]
    known = np.count_nonzero(~np.isnan(past), axis=0)
    return np.where(known * 2 >= cycles, nanmedian(past, axis=0), np.nan)


def _trailing(a: np.ndarray, history: int, guard: int, how: str) -> np.ndarray:
    """Max (``how="max"``) or sum (``"sum"``) of ``a`` over samples
    ``t - guard - history + 1 … t - guard``, per row; 0 where that span is empty."""
    h = max(int(history), 1)
    if how == "max":
        m = maximum_filter1d(a, h, axis=1, origin=(h - 1) // 2, mode="constant", cval=0.0)
    else:
        m = h * uniform_filter1d(a, h, axis=1, origin=(h - 1) // 2, mode="constant", cval=0.0)
    out = np.zeros_like(m)
    g = max(int(guard), 1)
    if g < m.shape[1]:
        out[:, g:] = m[:, :-g]
    return out


def novel(
    score: np.ndarray,
    clear: np.ndarray,
    *,
    history: int,
    guard: int,
    margin: float = 1.2,
    first: int = 0,
    rounds: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples whose score passes both gates: ``clear`` and new for the series' recent past.

    Parameters
    ----------
    score : array_like, shape (series, samples)
        Non-negative anomaly score; NaN where unknown (never flagged, no history).
    clear : array_like of bool, shape (series, samples)
        The first gate (the score is statistically clear).
    history : int
        Samples of past looked back on.
    guard : int
        The detector's window, in samples. The ``guard`` samples just before ``t`` are left
        out of its past, so a score that rises over several samples is compared with the
        time before the rise; a flagged sample spoils the past within ``guard`` on either
        side of it; and a past of fewer than ``guard`` usable samples judges nothing.
    margin : float
        How much larger than the past maximum a score must be (1.2: 20 %).
    first : int
        No flags before this sample (warm-up); the samples before it are history.
    rounds : int
        Times the past maximum is recomputed without the samples flagged so far: an anomaly
        should not raise the bar for the next one.

    Returns
    -------
    flags : numpy.ndarray of bool, shape (series, samples)
    ratio : numpy.ndarray, shape (series, samples)
        Score over the second gate's threshold (>1 where new, ``inf`` after an all-zero
        past; 0 where not judged).
    """
    raw = np.asarray(score, dtype=np.float64)
    s = np.nan_to_num(raw, nan=0.0)
    known = ~np.isnan(raw)
    g = max(int(guard), 1)
    ok = np.asarray(clear, dtype=bool) & known & (np.arange(s.shape[1]) >= first)
    flags = np.zeros(s.shape, dtype=bool)
    bar = np.zeros_like(s)
    judged = np.zeros(s.shape, dtype=bool)
    for _ in range(rounds):
        spoilt = maximum_filter1d(flags, 2 * g + 1, axis=1) if flags.any() else flags
        usable = known & ~spoilt
        bar = margin * _trailing(np.where(usable, s, 0.0), history, g, "max")
        judged = _trailing(usable.astype(np.float64), history, g, "sum") >= g - 0.5
        new = ok & judged & (s > bar)
        if np.array_equal(new, flags):
            break
        flags = new
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # over: inf is meant
        # A past of zeros (a constant series) makes any change infinitely new.
        ratio = np.where(judged, np.where(bar > 0, s / bar, np.where(s > 0, np.inf, 0.0)), 0.0)
    return flags, ratio


def _tiny(x: np.ndarray) -> np.ndarray:
    """Smallest scale taken for real per series: 1e-9 of its range, so that rounding errors
    of a noise-free series (a clean sine against its own profile) are never clear; shape
    (series, 1)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        span = np.nanmax(x, axis=1, initial=-np.inf) - np.nanmin(x, axis=1, initial=np.inf)
    return np.where(np.isfinite(span), 1e-9 * span, 0.0).reshape(-1, 1)


def _robust_sigma_steps(x: np.ndarray) -> np.ndarray:
    """Noise standard deviation per series from successive differences (a trend or a level
    shift barely moves it): 1.4826 / √2 × median |Δx|, at least :func:`_tiny`; shape
    (series, 1)."""
    steps = np.abs(np.diff(x, axis=1))
    sigma = (MAD_TO_SIGMA / np.sqrt(2) * nanmedian(steps, axis=1)).reshape(-1, 1)
    return np.fmax(sigma, _tiny(x))


def spikes(
    values: np.ndarray,
    *,
    half_window: int = 3,
    n_sigmas: float = 5.0,
    history: int,
    margin: float = 1.2,
    first: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Single points far from their neighbours, and farther than any ordinary one lately.

    Parameters
    ----------
    values : array_like, shape (series, samples)
        Regular samples; NaN where missing (never flagged).
    half_window : int
        Samples on each side of the rolling median (3 → 7 samples): a spike is narrower than
        ``half_window``, whatever the sampling.
    n_sigmas : float
        First gate: distance from the rolling median in robust standard deviations of the
        noise (from successive differences over the whole series, as in
        :func:`analytics.quality.hampel`).
    history, margin, first
        Second gate, see :func:`novel` (``history`` in samples).

    Returns
    -------
    flags : numpy.ndarray of bool, shape (series, samples)
    ratio : numpy.ndarray, shape (series, samples)
        Distance from the rolling median over the second gate's threshold.
    """
    x = np.asarray(values, dtype=np.float64)
    med = median_filter(_filled(x), size=(1, 2 * half_window + 1), mode="nearest")
    score = np.abs(x - med)
    # One noise level per series: a burst of a few high samples inflates the local scale
    # of :func:`analytics.quality.hampel` enough to hide itself.
    with np.errstate(invalid="ignore"):
        clear = score > n_sigmas * _robust_sigma_steps(x)
    return novel(score, clear, history=history, guard=half_window + 1, margin=margin, first=first)


def _window_medians(x: np.ndarray, window: int) -> np.ndarray:
    """Median of ``x[:, t : t + window]`` for each t (NaN past the end)."""
    s, n = x.shape
    out = np.full((s, n), np.nan)
    if n >= window:
        out[:, : n - window + 1] = nanmedian(sliding_window_view(x, window, axis=1), axis=2)
    return out


def level_shifts(
    values: np.ndarray,
    *,
    window: int,
    n_sigmas: float = 5.0,
    history: int,
    margin: float = 1.2,
    first: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Change points: the median of the next ``window`` samples against the previous ones.

    Parameters
    ----------
    values : array_like, shape (series, samples)
        Regular samples (or residuals from a seasonal profile); NaN where missing.
    window : int
        Samples on each side (at least 3; :func:`detect` uses 6 hours).
    n_sigmas : float
        First gate: the jump in standard errors of a difference of two medians of
        ``window`` white-noise samples (√2 × 1.2533 σ / √window, σ from successive
        differences).
    history, margin, first
        Second gate, see :func:`novel`.

    Returns
    -------
    flags : numpy.ndarray of bool, shape (series, samples)
        True at the change point: the sample where the jump peaks in each run of samples
        that pass both gates (the medians make the jump a ramp of ``2 * window`` samples
        around the change, every one of them new). The first and last ``window`` samples
        are never flagged (one side is missing).
    ratio : numpy.ndarray, shape (series, samples)
    """
    x = np.asarray(values, dtype=np.float64)
    s, n = x.shape
    w = max(int(window), 3)
    med = _window_medians(x, w)
    jump = np.full((s, n), np.nan)
    if n > w:
        jump[:, w:] = med[:, w:] - med[:, :-w]
    score = np.where(np.isnan(x), np.nan, np.abs(jump))  # a missing sample is never flagged
    se = np.sqrt(2.0) * 1.2533 * _robust_sigma_steps(x) / np.sqrt(w)
    with np.errstate(invalid="ignore"):
        clear = score > n_sigmas * se
    flags, ratio = novel(score, clear, history=history, guard=2 * w, margin=margin, first=first)
    return _peaks(flags, score), ratio


def _peaks(flags: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each run of ``flags`` reduced to the sample where ``score`` peaks."""
    rows, starts, ends = runs(flags)
    out = np.zeros_like(flags)
    for r, a, b in zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True):
        out[r, a + int(np.nanargmax(score[r, a:b]))] = True
    return out


def seasonal_residuals(
    values: np.ndarray,
    period: int,
    *,
    cycles: int = 5,
    smooth: int = 1,
    n_sigmas: float = 5.0,
    history: int,
    margin: float = 1.2,
    first: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples far from the same time of day (or week) in the previous cycles.

    Parameters
    ----------
    values : array_like, shape (series, samples)
        Regular samples; NaN where missing.
    period : int
        Cycle in samples (:func:`choose_period`).
    cycles : int
        Previous cycles whose median at the same phase is expected (5 days: one odd day
        among them does not move it; 3 weeks for a weekly cycle).
    smooth : int
        Half-width in samples of a running median over the residuals (a sustained
        deviation, not one noisy sample; :func:`detect` uses 30 minutes).
    n_sigmas : float
        First gate: the smoothed residual in robust standard deviations of the residuals
        (1.4826 × their median absolute deviation).
    history, margin, first
        Second gate, see :func:`novel`; nothing is flagged in the first ``cycles`` cycles.

    Returns
    -------
    flags, ratio : numpy.ndarray, shape (series, samples)
    """
    x = np.asarray(values, dtype=np.float64)
    resid = x - seasonal_expected(x, period, cycles)
    k = 2 * max(int(smooth), 0) + 1
    sm = median_filter(np.nan_to_num(resid), size=(1, k), mode="nearest")
    sm = np.where(np.isnan(resid), np.nan, sm)
    sigma = MAD_TO_SIGMA * nanmedian(np.abs(resid), axis=1).reshape(-1, 1)
    sigma = np.fmax(sigma, _tiny(x))
    score = np.abs(sm)
    with np.errstate(invalid="ignore"):
        clear = score > n_sigmas * sigma
    return novel(
        score, clear, history=history, guard=k, margin=margin, first=max(first, cycles * period)
    )


def activity_changes(
    values: np.ndarray,
    *,
    window: int,
    ratio_min: float = 2.0,
    history: int,
    margin: float = 1.2,
    first: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """More movement than usual: the mean absolute step over the last ``window`` samples.

    Spikes that come more often, noise that grows, a signal that starts to oscillate: each
    raises the mean |Δx| although no single sample need stand out.

    Parameters
    ----------
    values : array_like, shape (series, samples)
        Regular samples; NaN where missing.
    window : int
        Samples averaged (:func:`detect` uses 6 hours).
    ratio_min : float
        First gate: the activity is at least this multiple of its median over the series
        (2: twice the usual movement).
    history, margin, first
        Second gate, see :func:`novel`.

    Returns
    -------
    flags, ratio : numpy.ndarray, shape (series, samples)
    """
    x = np.asarray(values, dtype=np.float64)
    w = max(int(window), 2)
    steps = np.abs(np.diff(_filled(x), axis=1, prepend=_filled(x)[:, :1]))
    act = uniform_filter1d(steps, w, axis=1, origin=(w - 1) // 2, mode="nearest")
    act[:, : w - 1] = np.nan  # the first windows are not full
    typical = nanmedian(act, axis=1).reshape(-1, 1)
    with np.errstate(invalid="ignore"):
        clear = ~np.isnan(x) & (act > ratio_min * typical) & (act > _tiny(x))
    return novel(act, clear, history=history, guard=w, margin=margin, first=first)


@dataclass(frozen=True)
class Settings:
    """Parameters of :func:`detect`, in physical units; the defaults are the ones scored on
    NAB (``jieneng evaluate nab``).

    Attributes
    ----------
    n_sigmas : float
        First gate of every detector except activity, robust standard deviations (5: a
        normal variable passes it about once in 1.7 million samples).
    margin : float
        Second gate: a score must beat the largest unflagged score of the history by this
        factor (1.2: 20 %).
    history_days : float
        Days of past the second gate looks back on (60: two months, so that a monthly habit
        is no anomaly and one hourly series still has 1,440 samples of past).
    warmup_days : float
        Days from the first sample in which nothing is flagged (5: the five daily cycles of
        the seasonal profile; the other detectors have a past of several windows by then).
        A fixed span rather than a share of the series: a stream's length is not known in
        advance.
    warmup_share : float
        Also keep the first share of the rows as history only (NAB's probationary period is
        0.15); the later of the two warm-ups applies.
    level_hours : float
        Window of :func:`level_shifts`, h (24: a whole day, so a daily cycle cancels in
        both medians even when it is too weak for a seasonal profile).
    activity_hours : float
        Window of :func:`activity_changes`, h (6: a quarter day, long enough to count
        several spikes, short enough to see a burst of them).
    activity_ratio : float
        First gate of :func:`activity_changes` (1.5: half as much movement again as usual).
    smooth_hours : float
        Width of the running median over seasonal residuals, h (1: a sustained deviation,
        not one late sample on a steep ramp).
    cycles : int
        Previous cycles in the seasonal profile (5 days, or 5 weeks for a weekly cycle).
    """

    n_sigmas: float = 5.0
    margin: float = 1.2
    history_days: float = 60.0
    warmup_days: float = 5.0
    warmup_share: float = 0.0
    level_hours: float = 24.0
    activity_hours: float = 6.0
    activity_ratio: float = 1.5
    smooth_hours: float = 1.0
    cycles: int = 5


def _to_runs(mask: np.ndarray, ratio: np.ndarray, detector: str, gap: int) -> list[Run]:
    """Runs of one series' flags, closing gaps shorter than ``gap`` samples."""
    _, starts, ends = runs(mask[None, :])
    out: list[Run] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        peak = float(np.max(ratio[a:b]))
        if out and a - out[-1].end < gap:
            prev = out.pop()
            out.append(Run(prev.start, b, max(prev.score, peak), detector))
        else:
            out.append(Run(a, b, peak, detector))
    return out


def detect_grid(
    grid: Grid, st: Settings, first: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Every detector on one gridded series.

    Returns
    -------
    dict
        Detector name → (flags, ratio, window): boolean flags and score/threshold ratios of
        shape (1, slots), and the detector's window in samples (flags closer than it are one
        finding). ``seasonal`` is there only when :func:`choose_period` finds a cycle; then
        level shifts are sought in the residuals from the seasonal profile.
    """
    x = grid.values[None, :]
    hour = 3600.0 / grid.step_s
    history = max(round(st.history_days * 24 * hour), 1)
    common = {"history": history, "margin": st.margin}
    level_w = max(3, round(st.level_hours * hour))
    act_w = max(2, round(st.activity_hours * hour))
    found: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    found["spike"] = (*spikes(x, n_sigmas=st.n_sigmas, first=first, **common), 4)
    period = choose_period(grid.values, grid.step_s)
    base, base_first = x, first
    if period:
        smooth = max(0, round(st.smooth_hours * hour / 2))
        found["seasonal"] = (
            *seasonal_residuals(
                x,
                period,
                cycles=st.cycles,
                smooth=smooth,
                n_sigmas=st.n_sigmas,
                first=first,
                **common,
            ),
            2 * smooth + 1,
        )
        base = x - seasonal_expected(x, period, st.cycles)
        base_first = max(first, st.cycles * period)
    found["level_shift"] = (
        *level_shifts(base, window=level_w, n_sigmas=st.n_sigmas, first=base_first, **common),
        level_w,
    )
    found["activity"] = (
        *activity_changes(x, window=act_w, ratio_min=st.activity_ratio, first=first, **common),
        act_w,
    )
    return found


def warmup_row(times: np.ndarray, settings: Settings | None = None) -> int:
    """Index of the first row :func:`detect` may flag (rows in time order)."""
    st = settings or Settings()
    t = np.asarray(times, dtype="datetime64[us]")
    if t.size == 0:
        return 0
    by_share = int(st.warmup_share * t.size)
    later = np.flatnonzero(t >= t.min() + np.timedelta64(round(st.warmup_days * DAY_S), "s"))
    by_days = int(later[0]) if later.size else t.size
    return min(max(by_share, by_days), t.size)


def detect(
    times: np.ndarray, values: np.ndarray, settings: Settings | None = None
) -> tuple[list[Run], int]:
    """Run every detector on one time-stamped series.

    Parameters
    ----------
    times : array_like of datetime64, shape (rows,)
        Time stamps (regular sampling with gaps, duplicates or a few late rows tolerated).
    values : array_like of float, shape (rows,)
        Values; NaN where missing.
    settings : Settings, optional

    Returns
    -------
    runs : list of Run
        Findings in row indices, sorted by start; runs of the same detector closer than its
        window are one finding.
    first : int
        First row after the warm-up (:func:`warmup_row`; nothing is flagged before it).
    """
    st = settings or Settings()
    grid = regular_grid(times, values)
    rows = grid.slots.size
    if rows == 0:
        return [], 0
    first_row = warmup_row(times, st)
    first = int(grid.slots[first_row]) if first_row < rows else grid.values.size
    out: list[Run] = []
    for name, (mask, ratio, gap) in detect_grid(grid, st, first).items():
        # Back from grid slots to rows: a row is flagged when its slot is.
        out += _to_runs(mask[0][grid.slots], ratio[0][grid.slots], name, gap)
    return sorted(out, key=lambda r: (r.start, r.detector)), first_row
