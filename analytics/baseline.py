"""Time-of-week × temperature (TOWT) baselines, fitted for many meters at once, and the
anomalies in their residuals.

The model (Mathieu et al. 2011, as CalTRACK 2.0's hourly method uses it): use in a slot is a
coefficient of its time of week plus a piecewise-linear function of the outdoor temperature
with fixed knots, with separate temperature slopes for occupied and unoccupied times of week.
Time-of-week dummies are orthogonal to each other, so the least-squares fit splits exactly
(Frisch–Waugh–Lovell): centre the temperature features on each point's time-of-week means,
solve the small temperature system per point (a batched ``solve`` over ``(points, k, k)``),
then the time-of-week coefficients are the means of what the temperature part leaves. Missing
slots (NaN) simply drop out of each point's sums; no per-meter loop.

References
----------
.. [1] Mathieu, J. L., Price, P. N., Kiliccote, S., Piette, M. A. (2011). Quantifying changes
   in building electricity use, with application to demand response. IEEE Transactions on
   Smart Grid, 2(3), 507–518.
.. [2] CalTRACK Methods 2.0, section 3 (hourly methods).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics import calendar
from analytics._arrays import grouped_nanmedian, nan_to_num, nanmedian
from analytics.waste import Finding, _runs

#: Temperature knots, °C (CalTRACK's 30, 45, 55, 65, 75, 90 °F).
KNOTS_C = (-1.1, 7.2, 12.8, 18.3, 23.9, 32.2)
#: Times of week of an hourly grid.
HOURS_PER_WEEK = 168


def time_of_week(hours: np.ndarray, days: np.ndarray, day_types: np.ndarray) -> np.ndarray:
    """Hour of the week (0 = Monday 00:00 … 167) of each slot, China's calendar applied:
    a holiday on a weekday counts as a Sunday, a 调休 weekend workday as a Monday.

    Parameters
    ----------
    hours, days, day_types : array_like, shape (slots,)
        From :func:`analytics.calendar.slot_context`.
    """
    weekday = (np.asarray(days, dtype="datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 Thu
    kinds = np.asarray(day_types)
    weekday = np.where(kinds == calendar.HOLIDAY, 6, weekday)
    weekday = np.where(kinds == calendar.ADJUSTED_WORKDAY, 0, weekday)
    return (weekday * 24 + np.floor(np.asarray(hours)).astype(np.int64)).astype(np.int64)


def temperature_basis(temp: np.ndarray, knots: tuple[float, ...] = KNOTS_C) -> np.ndarray:
    """Piecewise-linear basis of the temperature: shape ``temp.shape + (len(knots) + 1,)``.

    Column 0 is ``min(T, k0)``, column ``i`` the part of T between knots ``i-1`` and ``i``, the
    last ``max(T - k_last, 0)``; their sum is ``T``, so each column's coefficient is the slope
    in its band.
    """
    t = np.asarray(temp, dtype=np.float64)
    k = np.asarray(knots, dtype=np.float64)
    out = np.empty(t.shape + (len(k) + 1,))
    out[..., 0] = np.minimum(t, k[0])
    for i in range(1, len(k)):
        out[..., i] = np.clip(t - k[i - 1], 0.0, k[i] - k[i - 1])
    out[..., -1] = np.maximum(t - k[-1], 0.0)
    return out


@dataclass(frozen=True, slots=True)
class TowtModel:
    """Fitted TOWT models of ``points`` meters.

    Attributes
    ----------
    tow : ndarray, shape (points, 168)
        Coefficient of each time of week (use per slot at 0 °C of every band), NaN where the
        fit saw no slot of that time of week.
    slopes : ndarray, shape (points, 2, len(knots) + 1)
        Temperature slopes per band, unoccupied [0] and occupied [1], use per slot per K.
    occupied : ndarray of bool, shape (points, 168)
    knots : tuple of float
    sigma : ndarray, shape (points,)
        Robust standard deviation of the fit's residuals (1.4826 × MAD), use per slot.
    """

    tow: np.ndarray
    slopes: np.ndarray
    occupied: np.ndarray
    knots: tuple[float, ...]
    sigma: np.ndarray

    def predict(self, temp: np.ndarray, tow: np.ndarray) -> np.ndarray:
        """Use per slot, shape (points, slots), for outdoor ``temp`` (points, slots) °C and
        time-of-week indices ``tow`` (slots,)."""
        tw = np.asarray(tow)
        p, n, k = self.tow.shape[0], len(tw), len(self.knots) + 1
        t = np.broadcast_to(np.asarray(temp, dtype=np.float64), (p, n))
        out = np.empty((p, n))
        block = _block(n, 2 * k)  # points at a time: their (points, n, k) arrays stay small
        for s in range(0, p, block):
            part = slice(s, s + block)
            basis = temperature_basis(t[part], self.knots)
            occ = np.take(self.occupied[part], tw, axis=1)
            both = np.matmul(basis, self.slopes[part].transpose(0, 2, 1))  # (points, n, 2)
            out[part] = np.take(self.tow[part], tw, axis=1) + np.where(
                occ, both[..., 1], both[..., 0]
            )
        return out


def _block(n: int, width: int) -> int:
    """Points at a time whose (points, n, width) float64 arrays hold about 2**20 values."""
    return max(1, 2**20 // max(1, n * width))


def _tow_means(x: np.ndarray, valid: np.ndarray, tow: np.ndarray) -> np.ndarray:
    """Per point and time of week: mean of ``x`` (points, slots[, k]) over valid slots."""
    p, n = valid.shape
    flat = (np.arange(p)[:, None] * HOURS_PER_WEEK + tow[None, :]).ravel()
    count = np.bincount(flat, weights=valid.ravel(), minlength=p * HOURS_PER_WEEK)
    count = count.reshape(p, HOURS_PER_WEEK)
    xs = x.reshape(p, n, -1)
    sums = np.stack(
        [
            np.bincount(
                flat, weights=np.where(valid, xs[..., j], 0.0).ravel(), minlength=p * HOURS_PER_WEEK
            )
            for j in range(xs.shape[2])
        ],
        axis=-1,
    ).reshape(p, HOURS_PER_WEEK, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / count[..., None]
    return means.reshape((p, HOURS_PER_WEEK) + x.shape[2:])


def occupancy(use: np.ndarray, tow: np.ndarray) -> np.ndarray:
    """Occupied times of week, shape (points, 168): where the point's median use at that
    time of week is above the midpoint of its lowest and highest time-of-week medians
    (CalTRACK derives occupancy from the residuals of a temperature fit; the split by level
    is the same idea for loads that follow a schedule)."""
    med = grouped_nanmedian(use, tow, HOURS_PER_WEEK)
    lo, hi = np.nanmin(med, axis=1, initial=np.inf), np.nanmax(med, axis=1, initial=-np.inf)
    with np.errstate(invalid="ignore"):
        return med > (lo + (hi - lo) / 2)[:, None]


def fit_towt(
    use: np.ndarray,
    temp: np.ndarray,
    tow: np.ndarray,
    *,
    occupied: np.ndarray | None = None,
    knots: tuple[float, ...] = KNOTS_C,
    ridge: float = 1e-6,
    robust_passes: int = 1,
    residual_spread: bool = True,
) -> TowtModel:
    """Fit TOWT models of many meters at once.

    Parameters
    ----------
    use : array_like, shape (points, slots)
        Use per slot (kWh or m³), NaN where unknown; hourly slots are the usual choice.
    temp : array_like, shape (points, slots) or (slots,)
        Outdoor air temperature, °C, at each point's building; NaN drops the slot.
    tow : array_like of int, shape (slots,)
        Time of week of each slot, 0–167 (:func:`time_of_week`).
    occupied : array_like of bool, shape (points, 168), optional
        Occupied times of week; default :func:`occupancy`.
    knots : tuple of float
        Temperature knots, °C.
    ridge : float
        Relative Tikhonov term on the temperature system, so a band no slot reaches (a
        summer-only window has no winter slope) gets slope 0 instead of a singular matrix.
    robust_passes : int
        Refits after dropping slots whose residual is beyond 4 robust sigmas (faults in the
        fitting window should not become the baseline).
    residual_spread : bool
        Whether to find the robust spread of the residuals (``TowtModel.sigma``, which
        :func:`baseline_residuals` needs; NaN without): a model used only to predict can
        skip its two medians per point.
    """
    u = np.asarray(use, dtype=np.float64)
    p, n = u.shape
    t = np.broadcast_to(np.asarray(temp, dtype=np.float64), (p, n))
    tw = np.asarray(tow, dtype=np.int64)
    if tw.shape != (n,) or tw.min(initial=0) < 0 or tw.max(initial=0) >= HOURS_PER_WEEK:
        raise ValueError("tow: must be one time of week in 0..167 per slot")
    occ = occupancy(u, tw) if occupied is None else np.asarray(occupied, dtype=bool)
    if occ.shape != (p, HOURS_PER_WEEK):
        raise ValueError(f"occupied: must have shape ({p}, {HOURS_PER_WEEK})")
    k = len(knots) + 1
    tow_coef = np.empty((p, HOURS_PER_WEEK))
    slopes = np.empty((p, 2, k))
    sigma = np.empty(p)
    # The features are (points, slots, 2k): fit in blocks of points that keep them in the
    # CPU cache (a few MB) and bound the memory.
    block = _block(n, 2 * k)
    for s in range(0, p, block):
        part = slice(s, min(p, s + block))
        tow_coef[part], slopes[part], sigma[part] = _fit_block(
            u[part], t[part], tw, occ[part], knots, ridge, robust_passes, residual_spread
        )
    return TowtModel(tow_coef, slopes, occ, tuple(knots), sigma)


def _fit_block(
    u: np.ndarray,
    t: np.ndarray,
    tw: np.ndarray,
    occ: np.ndarray,
    knots: tuple[float, ...],
    ridge: float,
    robust_passes: int,
    residual_spread: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = u.shape[0]
    k = len(knots) + 1
    basis = temperature_basis(nan_to_num(t), knots)  # (p, n, k)
    occ_slot = np.take(occ, tw, axis=1)  # (p, n); take: faster than [:, tw]
    # The features are the basis on unoccupied slots, then on occupied ones: never both in
    # one slot, so the normal matrix is block-diagonal and each half is solved on its own
    # slots (one matrix product of the basis per half, not of both halves side by side).
    unoccupied = (~occ_slot).astype(np.float64)[..., None]
    valid = ~np.isnan(u) & ~np.isnan(t)
    for pass_ in range(1 + robust_passes):
        means = nan_to_num(_tow_means(basis, valid, tw))  # (p, 168, k)
        ym = _tow_means(u, valid, tw)  # (p, 168)
        bc = np.take(means, tw, axis=1)
        np.subtract(basis, bc, out=bc)
        bc[~valid] = 0.0
        yc = np.where(valid, u - np.take(ym, tw, axis=1), 0.0)
        a = np.empty((p, 2, k, k))
        b = np.empty((p, 2, k, 1))
        half = bc * unoccupied
        for h in range(2):
            if h:
                np.subtract(bc, half, out=half)  # exactly the occupied slots' rows
            a[:, h] = np.matmul(half.transpose(0, 2, 1), bc)
            b[:, h] = np.matmul(half.transpose(0, 2, 1), yc[..., None])
        del bc, yc, half
        scale = np.maximum(np.trace(a, axis1=2, axis2=3).sum(axis=1) / (2 * k), 1e-12)
        a += (ridge * scale)[:, None, None, None] * np.eye(k)
        beta = np.linalg.solve(a, b)[..., 0]  # (p, 2, k)
        # A time of week is occupied or not: its coefficient takes the slopes of its half.
        tow_slopes = np.where(occ[..., None], beta[:, None, 1], beta[:, None, 0])
        tow_coef = ym - np.einsum("pwk,pwk->pw", means, tow_slopes)
        fitted = np.matmul(basis, beta.transpose(0, 2, 1))  # (p, n, 2)
        rest = np.where(valid, u - np.where(occ_slot, fitted[..., 1], fitted[..., 0]), np.nan)
        del fitted
        if pass_ == robust_passes:
            break
        # Outliers against time-of-week *medians*: a fault inflates the means of its times
        # of week, which would make their healthy slots look like outliers too.
        centre = grouped_nanmedian(rest, tw, HOURS_PER_WEEK)
        far = rest - np.take(centre, tw, axis=1)
        spread = 1.4826 * nanmedian(np.abs(far), axis=1)
        with np.errstate(invalid="ignore"):
            valid = valid & ~(np.abs(far) > 4 * np.maximum(spread, 1e-12)[:, None])
    if not residual_spread:
        return tow_coef, beta, np.full(p, np.nan)
    resid = rest - np.take(tow_coef, tw, axis=1)
    sigma = 1.4826 * nanmedian(np.abs(resid - nanmedian(resid, axis=1)[:, None]), axis=1)
    return tow_coef, beta, sigma


def baseline_residuals(
    use: np.ndarray,
    temp: np.ndarray,
    tow: np.ndarray,
    *,
    model: TowtModel | None = None,
    n_sigmas: float = 4.0,
    min_slots: int = 3,
    min_relative: float = 0.1,
    unit: str = "kWh",
) -> list[Finding]:
    """Runs of use above the TOWT baseline (``rule="baseline_residual"``).

    Parameters
    ----------
    use, temp, tow
        As in :func:`fit_towt`.
    model : TowtModel, optional
        A baseline fitted on earlier data; default one fitted (robustly) on ``use`` itself.
    n_sigmas : float
        Threshold in robust standard deviations of the baseline's residuals.
    min_slots : int
        Shortest run to report (3 hourly slots).
    min_relative : float
        Smallest excess as a share of the baseline's mean use (a meter that follows its
        model exactly would otherwise flag its own rounding).

    Returns
    -------
    list of Finding
        ``waste`` = use above the baseline over the run, in ``unit``; evidence has the
        baseline and observed use per slot.
    """
    u = np.asarray(use, dtype=np.float64)
    m = model if model is not None else fit_towt(u, temp, tow)
    expected = m.predict(np.broadcast_to(temp, u.shape), np.asarray(tow))
    resid = u - expected
    known = ~np.isnan(expected)
    with np.errstate(invalid="ignore", divide="ignore"):  # a row with no prediction: NaN
        level = np.where(known, np.abs(expected), 0.0).sum(axis=1) / known.sum(axis=1)
    threshold = np.maximum(n_sigmas * m.sigma, min_relative * level)
    threshold = np.maximum(np.nan_to_num(threshold, nan=np.inf), 1e-12)[:, None]
    with np.errstate(invalid="ignore"):
        high = resid > threshold
    findings = []
    for row, a, b in _runs(high, min_slots):
        excess = resid[row, a:b]
        score = float(np.nanmedian(excess) / threshold[row, 0])
        findings.append(
            Finding(
                row,
                "baseline_residual",
                a,
                b,
                "high" if score > 3 else "medium" if score > 1.5 else "low",
                score,
                float(np.nansum(excess)),
                unit,
                {
                    "baseline_per_slot": float(np.nanmean(expected[row, a:b])),
                    "observed_per_slot": float(np.nanmean(u[row, a:b])),
                    "sigma_per_slot": float(m.sigma[row]),
                },
            )
        )
    return findings
