"""Interval consumption from cumulative registers, vectorized across meters.

A register reading is what the meter's counter shows at the end of a slot, in register units
(before the CT/PT multiplier). Consumption in slot ``t`` is the use between the readings at
the ends of slots ``t - 1`` and ``t``, times the multiplier. On the way, :func:`from_registers`
handles what real registers do: wrap at their rollover value, fall back to zero (reset),
get replaced (a recorded event), jitter slightly backwards, show one wild reading (spike),
stand still and then catch up (stuck), and miss readings (gaps, whose use is spread evenly
over the missing slots). Every decision leaves a flag (:mod:`analytics.flags`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics import flags as F
from analytics._arrays import nanmedian, runs


@dataclass(frozen=True, slots=True)
class Replacement:
    """A recorded meter replacement between the readings of slots ``slot - 1`` and ``slot``.

    Parameters
    ----------
    point : int
        Row of the meter in the grid.
    slot : int
        First slot whose reading comes from the new register.
    old_final : float
        Last value of the old register (register units).
    new_initial : float
        First value of the new register when it was installed (register units).
    new_multiplier : float
        CT/PT ratio of the new meter (it applies from ``slot`` on).
    """

    point: int
    slot: int
    old_final: float
    new_initial: float = 0.0
    new_multiplier: float = 1.0


def _per_point(value: np.ndarray | float, n: int, name: str) -> np.ndarray:
    out = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,))
    if np.any(out < 0) or np.any(np.isnan(out)):
        raise ValueError(f"{name}: must be ≥ 0 for every point")
    return out


def _previous_valid(valid: np.ndarray) -> np.ndarray:
    """Index of the last valid slot strictly before each slot (-1 when none)."""
    n = valid.shape[1]
    last = np.maximum.accumulate(np.where(valid, np.arange(n), -1), axis=1)
    prev = np.full_like(last, -1)
    prev[:, 1:] = last[:, :-1]
    return prev


def _next_valid(valid: np.ndarray) -> np.ndarray:
    """Index of the first valid slot strictly after each slot (n when none)."""
    n = valid.shape[1]
    first = np.minimum.accumulate(np.where(valid, np.arange(n), n)[:, ::-1], axis=1)[:, ::-1]
    nxt = np.full_like(first, n)
    nxt[:, :-1] = first[:, 1:]
    return nxt


def _take(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[p, idx[p, t]]`` with NaN where ``idx`` is out of range."""
    n = a.shape[1]
    ok = (idx >= 0) & (idx < n)
    out = np.take_along_axis(a, np.clip(idx, 0, n - 1), axis=1)
    return np.where(ok, out, np.nan)


def from_registers(
    registers: np.ndarray,
    *,
    multiplier: np.ndarray | float = 1.0,
    rollover: np.ndarray | float = np.inf,
    resolution: np.ndarray | float = 0.0,
    replacements: Sequence[Replacement] = (),
    stuck_slots: int = 8,
    slots_per_day: int | None = None,
    day_groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval consumption and quality flags from register readings.

    Parameters
    ----------
    registers : array_like, shape (points, slots)
        Register readings at the end of each slot, register units (kWh, m³ … before the
        multiplier); NaN where there is no reading.
    multiplier : float or array_like, shape (points,)
        CT/PT ratio: consumption = register step × multiplier.
    rollover : float or array_like, shape (points,)
        Register value at which the counter wraps to zero, register units; ``inf`` for none.
    resolution : float or array_like, shape (points,)
        Smallest register step, register units. Backward steps up to two steps (or 1e-9 of
        the reading) are jitter and count as zero.
    replacements : sequence of Replacement
        Recorded meter replacements.
    stuck_slots : int
        A register that stands still at least this many slots while it should have
        counted at least two usual steps, then jumps by more than its own slot's use plus
        half the use it missed (and two usual steps), was stuck; the jump is spread over
        the run.
    slots_per_day : int, optional
        Slots in a day when column 0 starts at a local midnight (96 for 15 minutes). Then
        the use a gap or a stuck run missed is spread over its slots by the meter's mean
        median profile over the day (a night is not charged with the morning's use), and the use
        a stuck register missed is that profile's sum over the run; without it, evenly and
        at the usual rate.
    day_groups : array_like of int, shape (days,), optional
        Regime of each day (e.g. 0 off-day, 1 workday, + 2 in a school vacation), with
        ``slots_per_day``: each regime gets its own profile.

    Returns
    -------
    consumption : numpy.ndarray of float64, shape (points, slots)
        Use in each slot, in register units × multiplier (kWh, m³ …); NaN where it cannot
        be known (before the first reading, after the last, on the first slot).
    flags : numpy.ndarray of uint16, shape (points, slots)
        :mod:`analytics.flags` bits.
    """
    r = np.array(registers, dtype=np.float64, ndmin=2, copy=True)
    if r.ndim != 2:
        raise ValueError(f"registers: must be 2-D (points, slots), got shape {r.shape}")
    p, n = r.shape
    mult = _per_point(multiplier, p, "multiplier")
    roll = _per_point(rollover, p, "rollover")
    res = _per_point(resolution, p, "resolution")
    flags = np.zeros((p, n), dtype=np.uint16)
    flags[np.isnan(r)] |= F.GAP
    replaced = np.zeros((p, n), dtype=bool)
    for ev in replacements:
        if not (0 <= ev.point < p and 0 <= ev.slot < n):
            raise ValueError(f"replacements: point {ev.point}, slot {ev.slot} outside the grid")
        replaced[ev.point, ev.slot] = True

    # 1. Spikes: a reading whose removal makes its neighbours consistent again, by far more
    #    than the meter's usual step (a small excursion is more likely a reset).
    valid = ~np.isnan(r)
    prev, nxt = _previous_valid(valid), _next_valid(valid)
    before, after = _take(r, prev), _take(r, nxt)
    tol = np.maximum(2 * res, 1e-9)[:, None]
    usual = _usual_step(r - before, valid & (prev == np.arange(n) - 1))
    with np.errstate(invalid="ignore"):
        bridged = after - before >= -tol
        excursion = np.maximum(r - after, before - r)
        broken = (excursion > tol) & (excursion > 10 * np.nan_to_num(usual)[:, None])
    next_replaced = np.take_along_axis(replaced, np.clip(nxt, 0, n - 1), axis=1) & (nxt < n)
    spike = valid & bridged & broken & ~replaced & ~next_replaced
    r[spike] = np.nan
    flags[spike] |= F.SPIKE

    # 2. Steps between consecutive readings.
    valid = ~np.isnan(r)
    prev = _previous_valid(valid)
    before = _take(r, prev)
    step = r - before
    span = np.where(prev >= 0, np.arange(n) - prev, 0)

    # 3. Recorded replacements: old register to its final value, new one from its initial.
    mult_t = np.repeat(mult[:, None], n, axis=1)
    handled = np.zeros((p, n), dtype=bool)
    for ev in sorted(replacements, key=lambda e: e.slot):
        row = valid[ev.point, ev.slot :]
        if not row.any():
            continue
        t = ev.slot + int(np.argmax(row))  # first reading on the new register
        old = mult_t[ev.point, t - 1] if t else mult[ev.point]
        prior = before[ev.point, t]
        used_old = 0.0 if np.isnan(prior) else max(ev.old_final - prior, 0.0) * old
        used_new = max(r[ev.point, t] - ev.new_initial, 0.0) * ev.new_multiplier
        step[ev.point, t] = (used_old + used_new) / ev.new_multiplier
        mult_t[ev.point, t:] = ev.new_multiplier
        handled[ev.point, t] = True
        flags[ev.point, t] |= F.REPLACEMENT

    # 4. Backward steps: rollover, jitter or reset.
    with np.errstate(invalid="ignore"):
        backward = (step < 0) & ~handled
        wraps = (
            backward
            & np.isfinite(roll)[:, None]
            & (before >= 0.5 * roll[:, None])
            & (r < 0.5 * roll[:, None])
        )
        jitter = backward & ~wraps & (step >= -tol)
    step = np.where(wraps, step + roll[:, None], step)
    flags[wraps] |= F.ROLLOVER
    step = np.where(jitter, 0.0, step)
    flags[jitter] |= F.NEGATIVE
    reset = backward & ~wraps & ~jitter
    step = np.where(reset, r, step)  # it counts from zero again
    flags[reset] |= F.RESET

    # 5. Stuck registers: a long run of zero steps, then a catch-up jump.
    expected = _profile(step, valid & (span == 1), slots_per_day, day_groups)
    floor = 0.01 * expected.mean(axis=1, keepdims=True)  # no slot weighs nothing
    weight = expected + np.where(floor > 0, floor, 1.0)
    _stuck(
        step,
        span,
        valid,
        flags,
        stuck_slots,
        expected,
        per_weight=slots_per_day is None,
        max_open=slots_per_day or 96,
    )

    # 6. Spread each step over the slots since the previous reading, by the profile's weight.
    cum = np.cumsum(weight, axis=1)
    prev = _previous_valid(valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(valid & (span > 0), step / (cum - _take(cum, prev).clip(0)), np.nan)
    nxt = _next_valid(valid)
    src = np.where(valid, np.arange(n), nxt)  # a gap slot takes the next reading's share
    started = _previous_valid(valid) >= 0
    filled = np.where(started | valid, _take(share, src) * weight, np.nan)
    spread = ~valid & ~np.isnan(filled)
    flags[spread] |= F.INTERPOLATED
    flags[valid & (span > 1)] |= F.INTERPOLATED
    return filled * mult_t, flags


def _usual_step(step: np.ndarray, single: np.ndarray) -> np.ndarray:
    """Usual use per slot of each point: the median of its positive single-slot steps."""
    with np.errstate(invalid="ignore"):
        positive = np.where(single & (step > 0), step, np.nan)
    return nanmedian(positive, axis=1)  # all-NaN rows: no usual use


def _profile(
    step: np.ndarray,
    single: np.ndarray,
    slots_per_day: int | None,
    day_groups: np.ndarray | None,
) -> np.ndarray:
    """Expected use of each slot: a point's median single-slot step at that time of day over
    the days of that day's regime (1 everywhere without ``slots_per_day``); shape (points,
    slots). The median ignores the few days a fault changes."""
    p, n = step.shape
    if not slots_per_day:
        return np.ones((p, n))
    days = -(-n // slots_per_day)
    groups = np.zeros(days, dtype=np.int64) if day_groups is None else np.asarray(day_groups)
    if groups.shape != (days,):
        raise ValueError(f"day_groups: must have one value per day ({days}), got {groups.shape}")
    by_day = np.full((p, days * slots_per_day), np.nan)
    with np.errstate(invalid="ignore"):
        by_day[:, :n] = np.where(single, np.maximum(step, 0.0), np.nan)
    by_day = by_day.reshape(p, days, slots_per_day)
    out = np.empty((p, days, slots_per_day))
    for g in np.unique(groups):
        members = groups == g
        out[:, members] = nanmedian(by_day[:, members], axis=1)[:, None, :]
    return np.nan_to_num(out).reshape(p, -1)[:, :n]


def _stuck(
    step: np.ndarray,
    span: np.ndarray,
    valid: np.ndarray,
    flags: np.ndarray,
    min_run: int,
    weight: np.ndarray,
    *,
    per_weight: bool,
    max_open: int,
) -> None:
    """Find stuck runs; turn their zero steps into gaps covered by the catch-up step.

    The use a run missed is ``weight`` summed over it: the median profile's use, or with
    ``per_weight`` (a flat weight) the run's length times the usual step. A run still going
    at the end of the grid, for at most ``max_open`` slots (a day: longer, a season or a
    shutdown may have ended the use), is stuck when the profile says it missed four usual
    steps (without a profile nothing says use was expected); its use is unknown (NaN) until
    the register catches up."""
    p, n = step.shape
    zero = valid & (step == 0) & (span == 1)
    usual = _usual_step(step, valid & (span == 1))
    rate = usual if per_weight else np.ones(p)  # use per unit of weight
    cum = np.cumsum(weight, axis=1)
    row, col, end = runs(zero)
    length = end - col
    keep = length >= min_run
    for r_, c, ln in zip(row[keep], col[keep], length[keep], strict=True):
        j = c + ln  # the catch-up reading
        if j == n:  # still stuck at the end: the use it misses is not known yet
            missed = rate[r_] * (cum[r_, -1] - (cum[r_, c - 1] if c else 0.0))
            if not per_weight and missed >= 4 * usual[r_] and ln <= max_open:
                valid[r_, c:] = False
                flags[r_, c:] |= F.STUCK
            continue
        if not valid[r_, j] or span[r_, j] != 1 or np.isnan(usual[r_]) or usual[r_] <= 0:
            continue
        # The catch-up step beyond the slot's own use must make up for what the run missed,
        # and the run must have missed something (a meter that stands still while nothing
        # flows is not stuck).
        excess = step[r_, j] - rate[r_] * weight[r_, j]
        missed = rate[r_] * (cum[r_, j - 1] - (cum[r_, c - 1] if c else 0.0))
        if missed >= 2 * usual[r_] and excess >= max(2 * usual[r_], 0.5 * missed):
            valid[r_, c:j] = False  # the frozen readings carry no information
            span[r_, j] = ln + 1
            flags[r_, c : j + 1] |= F.STUCK
