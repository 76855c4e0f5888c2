"""Interval consumption from cumulative registers, vectorized across meters.

A register reading is what the meter's counter shows at the end of a slot, in register units
(before the CT/PT multiplier). Consumption in slot ``t`` is the use between the readings at
the ends of slots ``t - 1`` and ``t``, times the multiplier. On the way, :func:`from_registers`
handles what real registers do: wrap at their rollover value, fall back to zero (reset),
get replaced (a recorded event), jitter slightly backwards, show one wild reading (spike),
stand still and then catch up (stuck), and miss readings (gaps, whose use is spread evenly
over the missing slots). Every decision leaves a flag (:mod:`analytics.flags`).

The usual case, a reading in every slot and a register that counts forward, is a difference
of neighbouring readings over the whole grid. Everything else is rare (a gap in a thousand
slots, a backward step in a hundred thousand), so it is found once and handled on lists of
those slots only: runs of missing readings as ``(first, end)`` flat indices into the grid.
Meters go through in blocks of :data:`BLOCK_ROWS` rows, which bounds the temporaries, two
blocks at a time (:data:`analytics._arrays.THREADS`; the results do not depend on either).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from analytics import flags as F
from analytics._arrays import median_of, nanmedian, run_all, run_sums, runs

#: Meters converted at a time: a block's temporaries are a few of its [rows × slots] arrays.
BLOCK_ROWS = 32


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
    rows: np.ndarray | None = None,
    register_flags: np.ndarray | None = None,
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
    rows : array_like of int, shape (points,), optional
        Rows of ``registers`` that are meters (a grid of other points too), in the order of
        the outputs; default every row. ``multiplier`` … and ``Replacement.point`` count
        in ``rows``.
    register_flags : array_like of uint16, shape like ``registers``, optional
        Flags from gridding: their ``CLOCK_SKEW`` travels into the output.

    Returns
    -------
    consumption : numpy.ndarray of float64, shape (points, slots)
        Use in each slot, in register units × multiplier (kWh, m³ …); NaN where it cannot
        be known (before the first reading, after the last, on the first slot).
    flags : numpy.ndarray of uint16, shape (points, slots)
        :mod:`analytics.flags` bits.
    """
    reg = np.atleast_2d(np.asarray(registers, dtype=np.float64))
    if reg.ndim != 2:
        raise ValueError(f"registers: must be 2-D (points, slots), got shape {reg.shape}")
    picked = np.arange(len(reg)) if rows is None else np.asarray(rows, dtype=np.intp)
    p, n = len(picked), reg.shape[1]
    mult = _per_point(multiplier, p, "multiplier")
    roll = _per_point(rollover, p, "rollover")
    res = _per_point(resolution, p, "resolution")
    groups = _day_groups(n, slots_per_day, day_groups)
    by_block: dict[int, list[Replacement]] = {}
    for ev in replacements:
        if not (0 <= ev.point < p and 0 <= ev.slot < n):
            raise ValueError(f"replacements: point {ev.point}, slot {ev.slot} outside the grid")
        start = ev.point - ev.point % BLOCK_ROWS
        by_block.setdefault(start, []).append(dataclasses.replace(ev, point=ev.point - start))
    use = np.empty((p, n))
    flags = np.zeros((p, n), dtype=np.uint16)
    if not n:
        return use, flags

    skew = None if register_flags is None else np.asarray(register_flags, dtype=np.uint16)
    if skew is not None and skew.shape != reg.shape:
        raise ValueError(f"register_flags: shape {skew.shape} differs from registers {reg.shape}")

    def convert(start: int) -> None:
        block = slice(start, min(p, start + BLOCK_ROWS))
        if skew is not None:
            flags[block] = (skew[block] if rows is None else skew[picked[block]]) & F.CLOCK_SKEW
        _convert(
            reg[block] if rows is None else reg[picked[block]],
            use[block],
            flags[block],
            mult[block],
            roll[block],
            res[block],
            by_block.get(start, []),
            stuck_slots,
            slots_per_day,
            groups,
        )

    run_all([functools.partial(convert, start) for start in range(0, p, BLOCK_ROWS)])
    return use, flags


def _day_groups(n: int, slots_per_day: int | None, day_groups: np.ndarray | None) -> np.ndarray:
    """Regime of each day of a grid of ``n`` slots (every day one regime by default)."""
    if not slots_per_day:
        return np.zeros(0, dtype=np.int64)
    days = -(-n // slots_per_day)
    groups = np.zeros(days, dtype=np.int64) if day_groups is None else np.asarray(day_groups)
    if groups.shape != (days,):
        raise ValueError(f"day_groups: must have one value per day ({days}), got {groups.shape}")
    return groups


def _convert(
    r: np.ndarray,
    use: np.ndarray,
    flags: np.ndarray,
    mult: np.ndarray,
    roll: np.ndarray,
    res: np.ndarray,
    events: list[Replacement],
    stuck_slots: int,
    slots_per_day: int | None,
    groups: np.ndarray,
) -> None:
    """:func:`from_registers` on one block of meters, into ``use`` and ``flags`` (C-ordered
    blocks of the outputs, flags zero but for clock skew); ``events`` name rows of the block."""
    p, n = r.shape
    rf, uf, ff = r.reshape(-1), use.reshape(-1), flags.reshape(-1)  # flat views
    tol = np.maximum(2 * res, 1e-9)
    gap = np.flatnonzero(np.isnan(r))
    ff[gap] |= F.GAP
    step = np.empty((p, n))
    step[:, 0] = np.nan
    np.subtract(r[:, 1:], r[:, :-1], out=step[:, 1:])
    sf = step.reshape(-1)
    replaced = np.array([ev.point * n + ev.slot for ev in events], dtype=np.intp)

    # 1. Spikes: a reading whose removal makes its neighbours consistent again, by far more
    #    than the meter's usual step (a small excursion is more likely a reset). It steps
    #    back from one neighbour at least: it is next to a backward step or a gap.
    # The usual step (the median of a row's positive steps) costs a pass over the row: it is
    # found only for the rows that need it, here and for stuck runs below.
    usual, known = np.full(p, np.nan), np.zeros(p, dtype=bool)
    first, end = _runs_of(gap, n)
    with np.errstate(invalid="ignore"):
        back = np.flatnonzero(step < 0)
    near = np.unique(np.concatenate([back - 1, back, first - 1, end]))
    near = near[(near >= 0) & (near < p * n)]
    near = near[~np.isnan(rf[near])]
    before = _reading(rf, _neighbour(near, first, end, n, -1))
    after_at = _neighbour(near, first, end, n, 1)
    after = _reading(rf, after_at)
    row = near // n
    with np.errstate(invalid="ignore"):
        bridged = after - before >= -tol[row]
        excursion = np.maximum(rf[near] - after, before - rf[near])
        candidate = np.unique(row[bridged & (excursion > tol[row])])
        usual[candidate], known[candidate] = _usual_step(step[candidate]), True
        broken = (excursion > tol[row]) & (excursion > 10 * np.nan_to_num(usual)[row])
    spike = near[bridged & broken & ~np.isin(near, replaced) & ~np.isin(after_at, replaced)]
    ff[spike] |= F.SPIKE
    sf[spike] = np.nan

    # 2. Steps between consecutive readings: over a run of missing ones, from the reading
    #    before the run (none at the start of a row: unknown).
    first, end = _runs_of(np.union1d(gap, spike), n)
    inner = end % n != 0  # a reading follows the run in its row
    after_run = end[inner]
    sf[after_run] = np.where(
        first[inner] % n != 0, rf[after_run] - _reading(rf, first[inner] - 1), np.nan
    )
    # Readings whose step does not span one slot: after a run, and the first of each row.
    irregular = np.concatenate([after_run, np.arange(p) * n])

    # 3. Recorded replacements: old register to its final value, new one from its initial.
    scale: dict[int, np.ndarray] = {}  # multiplier of each slot, rows with a replacement
    handled = []
    for ev in sorted(events, key=lambda e: e.slot):
        i = ev.point
        valid = ~np.isnan(r[i])
        valid[spike[spike // n == i] % n] = False
        later = np.flatnonzero(valid[ev.slot :])
        if not len(later):
            continue
        t = ev.slot + int(later[0])  # first reading on the new register
        mult_t = scale.setdefault(i, np.full(n, mult[i]))
        old = mult_t[t - 1] if t else mult[i]
        earlier = np.flatnonzero(valid[:t])
        prior = r[i, earlier[-1]] if len(earlier) else np.nan
        used_old = 0.0 if np.isnan(prior) else max(ev.old_final - prior, 0.0) * old
        used_new = max(r[i, t] - ev.new_initial, 0.0) * ev.new_multiplier
        step[i, t] = (used_old + used_new) / ev.new_multiplier
        mult_t[t:] = ev.new_multiplier
        handled.append(i * n + t)
        flags[i, t] |= F.REPLACEMENT

    # 4. Backward steps: rollover, jitter or reset.
    with np.errstate(invalid="ignore"):
        back = np.flatnonzero(step < 0)
    back = back[~np.isin(back, handled)]
    counted = back[:0]  # steps set right that now count forward
    if len(back):
        row = back // n
        now, was, wrap = rf[back], _reading(rf, _neighbour(back, first, end, n, -1)), roll[row]
        fell = sf[back]
        with np.errstate(invalid="ignore"):
            wraps = np.isfinite(wrap) & (was >= 0.5 * wrap) & (now < 0.5 * wrap)
            jitter = ~wraps & (fell >= -tol[row])
        reset = ~wraps & ~jitter
        sf[back] = np.where(wraps, fell + wrap, np.where(jitter, 0.0, now))  # reset: from 0
        ff[back[wraps]] |= F.ROLLOVER
        ff[back[jitter]] |= F.NEGATIVE
        ff[back[reset]] |= F.RESET
        counted = back[~jitter]

    # 5. Stuck registers: a long run of zero steps, then a catch-up jump.
    one_slot = np.maximum(step, 0.0)  # steps over one slot, for the profile and usual step
    one_slot.reshape(-1)[irregular] = np.nan
    expected = _profile(one_slot, slots_per_day, groups)
    # The usual step over one slot only: it differs from the first only in rows where a
    # spike was left out or a step set right to count forward (a gap's steps are left out
    # either way, and jitter counts as no step either way).
    changed = np.unique(np.concatenate([spike, counted, np.asarray(handled, dtype=np.intp)]) // n)
    known[changed] = False

    def usual_of(rows: np.ndarray) -> np.ndarray:
        need = np.unique(rows[~known[rows]])
        usual[need] = _usual_step(one_slot[need])
        known[need] = True
        return usual[rows]

    floor = 0.01 * expected.mean(axis=1, keepdims=True)  # no slot weighs nothing
    weight = expected + np.where(floor > 0, floor, 1.0)
    stuck_first, stuck_end, closed = _stuck(
        step,
        irregular,
        expected,
        usual_of,
        stuck_slots,
        per_weight=slots_per_day is None,
        max_open=slots_per_day or 96,
    )
    del expected
    slots, _ = _expand(stuck_first, stuck_end + closed)  # the catch-up reading too
    ff[slots] |= F.STUCK
    first, end = _merge(np.concatenate([first, stuck_first]), np.concatenate([end, stuck_end]), n)

    # 6. Spread each step over the slots since the previous reading, by the profile's weight:
    #    over one slot, the step itself; over a run, the share of the reading after it.
    use[:, 1:] = step[:, 1:]
    wf = weight.reshape(-1)
    lead, tail = first % n == 0, end % n == 0  # no reading before the run / after it
    both = ~lead & ~tail
    after_run = end[both]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = sf[after_run] / run_sums(wf, first[both], after_run + 1)
    uf[after_run] = share * wf[after_run]
    slots, owner = _expand(first[both], after_run)
    uf[slots] = share[owner] * wf[slots]
    ff[slots[~np.isnan(uf[slots])]] |= F.INTERPOLATED
    ff[after_run] |= F.INTERPOLATED
    uf[_expand(first[~both], end[~both])[0]] = np.nan
    uf[end[lead & ~tail]] = np.nan  # the first reading of its row: no step
    use[:, 0] = np.nan
    factor = mult.copy()
    factor[list(scale)] = 1.0
    use *= factor[:, None]
    for i, mult_t in scale.items():
        use[i] *= mult_t


def _runs_of(flat: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Runs of consecutive slots among sorted flat indices into a grid of rows of ``n``
    slots, none across rows: flat indices of their first slots and of the slots after."""
    if not len(flat):
        return flat, flat
    cut = np.flatnonzero((np.diff(flat) != 1) | (flat[1:] % n == 0)) + 1
    return flat[np.r_[0, cut]], flat[np.r_[cut - 1, len(flat) - 1]] + 1


def _merge(first: np.ndarray, end: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint runs (flat ``first``, ``end``) in order, those that touch in a row joined."""
    if not len(first):
        return first, end
    order = np.argsort(first, kind="stable")
    first, end = first[order], end[order]
    touch = (first[1:] == end[:-1]) & (first[1:] % n != 0)
    return first[np.r_[True, ~touch]], end[np.r_[~touch, True]]


def _expand(first: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of every slot in the runs ``[first, end)``, and the run of each."""
    length = end - first
    owner = np.repeat(np.arange(len(first)), length)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(length) - length, length)
    return first[owner] + offset, owner


def _neighbour(at: np.ndarray, first: np.ndarray, end: np.ndarray, n: int, side: int) -> np.ndarray:
    """Flat index of the nearest reading before (``side`` -1) or after (+1) each slot ``at``
    in its row, when the runs ``[first, end)`` are missing; -1 where there is none."""
    near = at + side
    out = np.where(at % n == (0 if side < 0 else n - 1), -1, near)
    if len(first):
        k = np.searchsorted(first, near, side="right") - 1
        kk = np.maximum(k, 0)
        inside = (k >= 0) & (end[kk] > near) & (out >= 0)
        jump = first[kk] - 1 if side < 0 else end[kk]
        edge = first[kk] % n == 0 if side < 0 else end[kk] % n == 0
        out = np.where(inside, np.where(edge, -1, jump), out)
    return out


def _reading(flat: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``flat[at]``, NaN where ``at`` is -1."""
    return np.where(at >= 0, flat[at], np.nan)


def _usual_step(step: np.ndarray) -> np.ndarray:
    """Usual use per slot of each point: the median of its positive steps (NaN where none)."""
    out = np.empty(len(step))
    with np.errstate(invalid="ignore"):
        for i, row in enumerate(step):
            out[i] = median_of(row[row > 0])
    return out


def _profile(
    one_slot: np.ndarray,
    slots_per_day: int | None,
    groups: np.ndarray,
) -> np.ndarray:
    """Expected use of each slot: a point's median single-slot step at that time of day over
    the days of that day's regime (1 everywhere without ``slots_per_day``); shape (points,
    slots). ``one_slot`` holds the steps over one slot (≥ 0), NaN elsewhere. The median
    ignores the few days a fault changes."""
    p, n = one_slot.shape
    if not slots_per_day:
        return np.ones((p, n))
    days = len(groups)
    if n == days * slots_per_day:
        by_day = one_slot.reshape(p, days, slots_per_day)
    else:
        by_day = np.full((p, days * slots_per_day), np.nan)
        by_day[:, :n] = one_slot
        by_day = by_day.reshape(p, days, slots_per_day)
    labels, regime = np.unique(groups, return_inverse=True)
    med = np.empty((p, len(labels), slots_per_day))
    for k in range(len(labels)):
        med[:, k] = nanmedian(np.take(by_day, np.flatnonzero(regime == k), axis=1), axis=1)
    np.nan_to_num(med, copy=False)
    return med[:, regime].reshape(p, -1)[:, :n]


def _stuck(
    step: np.ndarray,
    irregular: np.ndarray,
    weight: np.ndarray,
    usual_of: Callable[[np.ndarray], np.ndarray],
    min_run: int,
    *,
    per_weight: bool,
    max_open: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stuck runs: flat ``first`` and ``end`` of their frozen readings, and whether a
    catch-up reading closes them (it is stuck too, and carries their use).

    A run is ``min_run`` zero steps or more. The use it missed is ``weight`` summed over it:
    the median profile's use, or with ``per_weight`` (a flat weight) the run's length times
    the usual step. A run still going at the end of the grid, for at most ``max_open``
    slots (a day: longer, a season or a shutdown may have ended the use), is stuck when the
    profile says it missed four usual steps (without a profile nothing says use was
    expected); its use is unknown (NaN) until the register catches up. ``usual_of(rows)``
    gives the usual step of each of the rows (asked only for rows with such runs)."""
    p, n = step.shape
    with np.errstate(invalid="ignore"):
        zero = step == 0
    zero.reshape(-1)[irregular] = False  # zero steps over one slot only
    row, first, end = runs(zero)
    del zero
    keep = end - first >= min_run
    row, first, end = row[keep], first[keep], end[keep]
    u = usual_of(row)
    rate = u if per_weight else np.ones(len(row))  # use per unit of weight
    missed = rate * run_sums(weight.reshape(-1), row * n + first, row * n + end)
    # Still stuck at the end: the use it misses is not known yet.
    still = (end == n) & (not per_weight) & (missed >= 4 * u) & (end - first <= max_open)
    # The catch-up step beyond the slot's own use must make up for what the run missed,
    # and the run must have missed something (a meter that stands still while nothing
    # flows is not stuck).
    closed = end < n
    at = row * n + np.where(closed, end, 0)
    jump = step.reshape(-1)[at]
    with np.errstate(invalid="ignore"):
        excess = jump - rate * weight.reshape(-1)[at]
        caught = (
            closed
            & ~np.isnan(jump)
            & ~np.isin(at, irregular)
            & (u > 0)
            & (missed >= 2 * u)
            & (excess >= np.maximum(2 * u, 0.5 * missed))
        )
    stuck = caught | still
    return row[stuck] * n + first[stuck], row[stuck] * n + end[stuck], caught[stuck]
