"""Waste detectors on [points × slots] grids; each finding says what it costs.

- :func:`off_hours_excess`: use outside working hours (nights, weekends, holidays by China's
  calendar with 调休) above the point's own off-hours profile: lighting and plugs left on
  (01A), HVAC out of hours (01B), night water flow (leaks).
- :func:`setpoint_violations`: zones cooled below 26 °C or heated above 20 °C while HVAC
  runs (国办发〔2007〕42号).

A :class:`Finding` carries its slots, a severity, a score, the evidence, and the waste in the
point's unit; :func:`with_impact` adds kgce, kgCO2 and CNY (:mod:`analytics.factors`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import uniform_filter1d

from analytics import calendar
from analytics._arrays import median_of, nan_to_num, nanmedian, run_sums, runs
from analytics.factors import Factors

COOLING_MIN_C = 26.0
HEATING_MAX_C = 20.0


@dataclass(slots=True)
class Finding:
    """One finding on one point.

    Attributes
    ----------
    point : int
        Row of the point in the grid.
    rule : str
        Stable key: ``after_hours``, ``hvac_out_of_hours``, ``night_flow``,
        ``overcooling``, ``overheating``.
    start, end : int
        First slot and the slot after the last.
    severity : {"low", "medium", "high"}
    score : float
        How far beyond the threshold (1 = at the threshold).
    waste : float
        Estimated waste in ``waste_unit`` (kWh or m³) over the finding.
    evidence : dict
        JSON-able numbers behind the finding.
    """

    point: int
    rule: str
    start: int
    end: int
    severity: str
    score: float
    waste: float
    waste_unit: str
    evidence: dict[str, object] = field(default_factory=dict)
    impact: dict[str, float] = field(default_factory=dict)


def _runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int, int]]:
    """(row, start, end) of runs of True at least ``min_len`` long, in row order."""
    rows, starts, ends = runs(mask)
    keep = ends - starts >= min_len
    return list(zip(rows[keep].tolist(), starts[keep].tolist(), ends[keep].tolist(), strict=True))


def working_mask(
    hours: np.ndarray, day_types: np.ndarray, working_hours: tuple[float, float] = (8.0, 18.0)
) -> np.ndarray:
    """Slots inside working hours on workdays (ordinary and 调休)."""
    worked = (day_types == calendar.WORKDAY) | (day_types == calendar.ADJUSTED_WORKDAY)
    return worked & (hours >= working_hours[0]) & (hours < working_hours[1])


def profile(
    values: np.ndarray,
    slot_of_day: np.ndarray,
    group: np.ndarray,
    *,
    fallback: np.ndarray | None = None,
    min_days: int = 4,
) -> np.ndarray:
    """Median of each point per (group, slot of day), broadcast back onto the grid.

    ``group`` labels each slot (e.g. 0 workday, 1 off-day); the median over the days of the
    window resists the few days a fault touches, as long as there are a few: a group with
    fewer than ``min_days`` days takes the median over the days of its ``fallback`` label
    instead (e.g. a school's two term weekends before the vacation: all its weekends).
    """
    v = np.asarray(values, dtype=np.float64)
    p, n = v.shape
    table = _day_table(v, slot_of_day, group, fallback, min_days)
    if table is not None:
        return _on_grid(*table, n)
    sod = np.asarray(slot_of_day)
    out = np.full((p, n), np.nan)  # not whole days from midnight
    for g in np.unique(group):
        for s in np.unique(sod):
            cols = np.flatnonzero((group == g) & (sod == s))
            out[:, cols] = nanmedian(v[:, cols], axis=1)[:, None]
    return out


def _day_table(
    v: np.ndarray,
    slot_of_day: np.ndarray,
    group: np.ndarray,
    fallback: np.ndarray | None,
    min_days: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`profile` as a table when the slots are whole days from midnight: the medians,
    shape (points, groups, slots of a day), and the table row of each day; else None."""
    p, n = v.shape
    sod = np.asarray(slot_of_day)
    per_day = int(sod.max(initial=0)) + 1
    days = -(-n // per_day)
    if not np.array_equal(sod, np.arange(n) % per_day):
        return None
    if n == days * per_day:
        by_day = v.reshape(p, days, per_day)
    else:
        by_day = np.full((p, days * per_day), np.nan)
        by_day[:, :n] = v
        by_day = by_day.reshape(p, days, per_day)
    day_group = np.asarray(group)[::per_day]
    day_fallback = day_group if fallback is None else np.asarray(fallback)[::per_day]
    labels, day_row = np.unique(day_group, return_inverse=True)
    table = np.empty((p, len(labels), per_day))
    for k, g in enumerate(labels):
        members = day_group == g
        pool = members
        if members.sum() < min_days and fallback is not None:
            pool = day_fallback == day_fallback[members][0]
        table[:, k] = nanmedian(np.take(by_day, np.flatnonzero(pool), axis=1), axis=1)
    return table, day_row


def _on_grid(table: np.ndarray, day_row: np.ndarray, n: int) -> np.ndarray:
    """A (points, groups, slots of a day) table on the grid of ``n`` slots, day by day."""
    return np.take(table, day_row, axis=1).reshape(len(table), -1)[:, :n]


def _median_of_cells(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of each row of ``values`` (rows, cells), each cell counted ``counts`` (cells,)
    times and NaN left out: the value :func:`nanmedian` gives on the grid the cells fill."""
    order = np.argsort(values, axis=1, kind="stable")  # NaN last
    v = np.take_along_axis(values, order, axis=1)
    cum = np.cumsum(np.where(np.isnan(v), 0, counts[order]), axis=1)
    total = cum[:, -1]
    rows = np.arange(len(v))
    low = v[
        rows, np.count_nonzero(cum <= ((total - 1) // 2)[:, None], axis=1).clip(max=v.shape[1] - 1)
    ]
    high = v[rows, np.count_nonzero(cum <= (total // 2)[:, None], axis=1).clip(max=v.shape[1] - 1)]
    with np.errstate(invalid="ignore"):  # (-inf + inf)
        out = np.where(total % 2 == 1, high, (low + high) / 2)
    out[total == 0] = np.nan
    return out


def _slot_of_day(hours: np.ndarray) -> np.ndarray:
    """Index of each slot's hour among the distinct hours (``numpy.unique``'s inverse),
    looked up among the first slots' hours when they hold every hour (a grid's first day
    does): a search instead of a sort of the whole window."""
    h = np.asarray(hours, dtype=np.float64)
    known = np.unique(h[:2048])
    if len(known):
        at = np.searchsorted(known, h).clip(max=len(known) - 1)
        if np.array_equal(known[at], h):
            return at
    return np.unique(h, return_inverse=True)[1]


def off_hours_excess(
    use: np.ndarray,
    hours: np.ndarray,
    day_types: np.ndarray,
    *,
    rule: str,
    unit: str,
    working_hours: tuple[float, float] = (8.0, 18.0),
    min_slots: int = 8,
    n_sigmas: float = 5.0,
    min_share: float = 0.1,
    min_share_of_work: float = 0.05,
    min_excess: np.ndarray | float = 0.0,
    groups: np.ndarray | None = None,
) -> list[Finding]:
    """Runs of off-hours use above the point's usual off-hours profile.

    Parameters
    ----------
    use : array_like, shape (points, slots)
        Consumption per slot (kWh or m³), NaN where unknown.
    hours, day_types : array_like, shape (slots,)
        Local hour and day type of each slot (:func:`analytics.calendar.slot_context`).
    rule, unit : str
        Finding key and the unit of ``use``.
    working_hours : (float, float)
        Local hours of the working day; slots outside them, and whole off-days, are
        off-hours.
    min_slots : int
        Shortest run to report (8 × 15 min = 2 h).
    n_sigmas : float
        Excess threshold in robust standard deviations of the off-hours residual, taken
        both in the point's unit and relative to its profile (whichever is larger).
    min_share : float
        Excess threshold as a share of the point's typical off-hours use (noise-free meters).
    min_share_of_work : float
        Excess threshold as a share of the point's typical working-hours use: a load that is
        off out of hours (HVAC) is not "on" for a trickle of 5 % of its daytime use.
    min_excess : float or array_like, shape (points,)
        Smallest excess per slot, in the unit of ``use``: below two register steps (the
        register's resolution × its multiplier) an excess is the register's rounding.
    groups : array_like of int, shape (slots,), optional
        Day regimes with their own profile, e.g. workday / off-day, and for schools term /
        vacation (:func:`analytics.calendar.school_vacation`); default workday / off-day. A
        regime of off-days with fewer than four days in the window takes the profile of all
        off-days.

    Returns
    -------
    list of Finding
        Waste = the use above the profile over the run.
    """
    u = np.asarray(use, dtype=np.float64)
    work = working_mask(hours, day_types, working_hours)
    worked_day = (day_types == calendar.WORKDAY) | (day_types == calendar.ADJUSTED_WORKDAY)
    slot_of_day = _slot_of_day(hours)
    regimes = worked_day.astype(int) if groups is None else np.asarray(groups)
    # A short regime of off-days borrows all off-days: an empty building is empty in term
    # and in vacation alike (working days are not pooled: term and vacation differ).
    fallback = np.where(worked_day, regimes - regimes.min() + 1, 0)
    table = _day_table(u, slot_of_day, regimes, fallback, 4)
    off = ~work
    if table is None:
        usual = profile(u, slot_of_day, regimes, fallback=fallback)
        level = nanmedian(usual[:, off], axis=1)
        working = nanmedian(usual[:, work], axis=1)
    else:
        # The profile's levels over the off-hours and the working slots from its table, each
        # cell counted as often as it fills those slots.
        med, day_row = table
        usual = _on_grid(med, day_row, u.shape[1])
        cells = med.reshape(len(u), -1)
        cell = (day_row[:, None] * med.shape[2] + np.arange(med.shape[2])).ravel()[: u.shape[1]]
        level = _median_of_cells(cells, np.bincount(cell[off], minlength=cells.shape[1]))
        working = _median_of_cells(cells, np.bincount(cell[work], minlength=cells.shape[1]))
    resid = u - usual
    resid_off, usual_off = resid[:, off], usual[:, off]  # the off-hours slots, side by side
    scale = 1.4826 * nanmedian(np.abs(resid_off), axis=1)
    threshold = np.maximum(n_sigmas * scale, min_share * np.abs(level))
    threshold = np.maximum(threshold, np.nan_to_num(min_share_of_work * np.abs(working)))
    threshold = np.maximum(threshold, np.broadcast_to(np.asarray(min_excess, float), level.shape))
    threshold = np.maximum(threshold, 1e-9)[:, None]
    # Meter noise grows with the load (a few per cent of it): the busy evening hours get a
    # threshold in proportion, from the residuals' robust spread relative to the profile.
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(usual_off > 0, np.abs(resid_off) / usual_off, np.nan)
    del resid_off, usual_off
    rel_scale = np.nan_to_num(1.4826 * nanmedian(relative, axis=1))[:, None]
    if table is None:
        threshold = np.maximum(threshold, n_sigmas * rel_scale * nan_to_num(np.abs(usual)))
    else:  # the same on the table, then on the grid
        per_cell = (n_sigmas * rel_scale)[:, :, None] * nan_to_num(np.abs(med))
        threshold = _on_grid(np.maximum(threshold[:, :, None], per_cell), day_row, u.shape[1])
    with np.errstate(invalid="ignore"):
        high = off[None, :] & (resid > threshold)
        # The waste of a run reaches as far as the excess stays above one noise unit: a
        # light left on at 18:00 adds little while the building is still busy, yet adds.
        low = off[None, :] & (resid > threshold / n_sigmas)
    # The runs of ``low`` that hold a run of ``high`` long enough (``high`` implies ``low``);
    # two runs above the threshold within one excess make one finding.
    n = u.shape[1]
    low_rows, low_starts, low_ends = runs(low)
    high_rows, high_starts, high_ends = runs(high)
    long = high_ends - high_starts >= min_slots
    low_key = low_rows * (n + 1) + low_starts  # the order of the runs
    high_key = high_rows[long] * (n + 1) + high_starts[long]
    held = np.unique(np.searchsorted(low_key, high_key, side="right") - 1)
    rows, starts, ends = low_rows[held], low_starts[held], low_ends[held]
    first, end = rows * n + starts, rows * n + ends
    length = ends - starts
    # In a run, every slot is known and above the noise (> 0): no NaN to skip.
    wastes = run_sums(resid.reshape(-1), first, end)
    threshold = np.ascontiguousarray(np.broadcast_to(threshold, u.shape))
    means = [
        run_sums(np.ascontiguousarray(x).reshape(-1), first, end) / length
        for x in (usual, u, threshold)
    ]
    findings = []
    runs_ = zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True)
    for i, (row, a, b) in enumerate(runs_):
        above = high[row, a:b]
        score = median_of(resid[row, a:b][above] / threshold[row, a:b][above])
        findings.append(
            Finding(
                row,
                rule,
                a,
                b,
                "high" if score > 5 else "medium" if score > 2 else "low",
                score,
                float(wastes[i]),
                unit,
                {
                    "usual_per_slot": float(means[0][i]),
                    "observed_per_slot": float(means[1][i]),
                    "threshold_per_slot": float(means[2][i]),
                },
            )
        )
    return findings


def _plant_levels(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half the median use of each plant (below it the plant stands still) and its fan
    level: the 10th percentile of its use while it runs (ventilation alone; well above it,
    the compressor works; NaN for a plant that never runs)."""
    idle = nanmedian(h, axis=1) * 0.5
    with np.errstate(invalid="ignore"):
        on = h > np.maximum(idle, 1e-9)[:, None]
    fans = np.array(
        [
            np.percentile(use_k[on_k], 10) if on_k.any() else np.nan
            for use_k, on_k in zip(h, on, strict=True)
        ]
    )
    return idle, fans


def setpoint_violations(
    zone_temp: np.ndarray,
    zone_building: np.ndarray,
    cooling_use: np.ndarray,
    heating_use: np.ndarray,
    outdoor: np.ndarray,
    hours: np.ndarray,
    *,
    min_slots: int = 8,
    margin_c: float = 1.0,
    per_degree: float = 0.08,
    compressor_ratio: float = 1.25,
) -> list[Finding]:
    """Buildings whose zones are cooled below 26 °C or heated above 20 °C.

    A zone is *overcooled* in a slot when the HVAC runs, the zone is below 26 °C − margin and
    it is cooler than the outdoor air (only a running chiller holds a zone below the outdoor
    temperature: a free-floating zone sits above it, warmed by its internal gains), or it is
    a hot day (outdoor mean over the last 24 h above 22 °C and above 24 °C now). A zone is
    *overheated* when the heating runs in the heating season (24 h outdoor mean below 12 °C)
    while it is cold outside (below 16 °C: a mild afternoon warms a zone by itself) and the
    zone is above 20 °C + margin. The setpoint belongs to the building's plant, so
    its zones' violations make one finding per building and run.

    Parameters
    ----------
    zone_temp : array_like, shape (zones, slots)
        Indoor air temperature, °C.
    zone_building : array_like of int, shape (zones,)
        Row of each zone's building in the arrays below.
    cooling_use, heating_use : array_like, shape (buildings, slots)
        Use per slot of the plant that cools (the HVAC sub-meter, kWh) and of the one that
        heats (a district-heat meter, kWh of heat, or the HVAC sub-meter again), to tell
        running from standing still and to estimate the waste.
    outdoor : array_like, shape (buildings, slots)
        Outdoor air temperature at each building, °C.
    hours : array_like, shape (slots,)
        Local hour of each slot (for the slot length).
    min_slots : int
        Shortest run to report (8 × 15 min = 2 h: a zone still cool from the night when the
        plant starts in the morning is no violation).
    margin_c : float
        Tolerance on the setpoint rule, K.
    per_degree : float
        Share of the plant's use saved per kelvin of setpoint brought back to the rule (6–10 %
        per K is usual for cooling and heating loads); waste = use × share × K, with K the
        mean distance of the violating zones from the limit.

    Returns
    -------
    list of Finding
        ``point`` is the building's row; ``evidence`` names the zones (their rows in
        ``zone_temp``) and their mean temperature.

    References
    ----------
    .. [1] 国务院办公厅, 关于严格执行公共建筑空调温度控制标准的通知, 国办发〔2007〕42号.
    """
    t = np.asarray(zone_temp, dtype=np.float64)
    zb = np.asarray(zone_building, dtype=np.int64)
    out = np.asarray(outdoor, dtype=np.float64)
    nb, n = out.shape
    slots_per_day = max(1, min(n, int(round(24 / max(np.diff(hours)[0], 1e-9)))))
    daily = uniform_filter1d(
        nan_to_num(out, nan=15.0),
        slots_per_day,
        axis=1,
        origin=(slots_per_day - 1) // 2,
        mode="nearest",
    )
    findings = []
    cooling = np.asarray(cooling_use, dtype=np.float64)
    heating = np.asarray(heating_use, dtype=np.float64)
    # Where the HVAC plant heats too, its levels are those found for cooling.
    same = np.all((cooling == heating) | (np.isnan(cooling) & np.isnan(heating)), axis=1)
    cooling_levels = _plant_levels(cooling)
    heating_levels = tuple(x.copy() for x in cooling_levels)
    if not same.all():
        heating_levels[0][~same], heating_levels[1][~same] = _plant_levels(heating[~same])
    for rule, h, limit, (idle, fans) in (
        ("overcooling", cooling, COOLING_MIN_C, cooling_levels),
        ("overheating", heating, HEATING_MAX_C, heating_levels),
    ):
        idle, fans = idle[:, None], fans[:, None]
        with np.errstate(invalid="ignore"):
            on = h > np.maximum(idle, 1e-9)
            compressor = on & (h > compressor_ratio * fans)
            # The weather in which a zone's temperature is the plant's doing.
            if rule == "overcooling":
                weather = (daily > 22.0) & (out > COOLING_MIN_C - 2)
            else:
                weather = (daily < 12.0) & (out < HEATING_MAX_C - 4.0)
        # Building by building: its plant and weather against each of its zones.
        zone_bad = np.zeros(t.shape, dtype=bool)
        bad = np.zeros((nb, n), dtype=bool)
        zones_of = {int(k): np.flatnonzero(zb == k) for k in np.unique(zb)}
        for k, zones in zones_of.items():
            tz, o = t[zones], out[k]
            with np.errstate(invalid="ignore"):
                if rule == "overcooling":
                    cooled = (o >= tz) | (compressor[k] & (o >= tz - 2.0)) | weather[k]
                    zone_bad[zones] = on[k] & cooled & (tz < COOLING_MIN_C - margin_c)
                else:
                    zone_bad[zones] = on[k] & weather[k] & (tz > HEATING_MAX_C + margin_c)
            bad[k] = zone_bad[zones].any(axis=0)
        for row, a, b in _runs(bad, min_slots):
            mine = zones_of[row]
            window = zone_bad[mine, a:b]
            some = window.any(axis=1)
            zones, breaking = mine[some], window[some]
            # Per slot, the mean over the zones that break the rule (none: 0 K).
            total = np.where(breaking, t[zones, a:b], 0.0).sum(axis=0)
            count = breaking.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                kelvin = np.nan_to_num(np.abs(total / count - limit))
            waste = float(np.nansum(h[row, a:b] * np.minimum(per_degree * kelvin, 0.8)))
            hot = np.count_nonzero(kelvin)  # the others are 0 K
            score = float(kelvin.sum() / hot / margin_c) if hot else 0.0
            findings.append(
                Finding(
                    row,
                    rule,
                    a,
                    b,
                    "high" if score > 3 else "medium" if score > 1.5 else "low",
                    score,
                    waste,
                    "kWh",
                    {
                        "zones": zones.tolist(),
                        "mean_zone_c": float(total.sum() / count.sum()),
                        "limit_c": limit,
                    },
                )
            )
    return findings


def with_impact(findings: list[Finding], carriers: list[str], factors: Factors) -> None:
    """Fill each finding's ``impact`` (kgce, kgCO2, CNY) from its waste; ``carriers[row]``
    names the energy carrier of the row (:data:`analytics.factors.CARRIER_OF_CLASS`)."""
    for f in findings:
        f.impact = {k: float(v) for k, v in factors.impact(carriers[f.point], f.waste).items()}


def submeter_imbalance(
    main: np.ndarray,
    submeters: np.ndarray,
    slots_per_day: int,
    *,
    expected_share: np.ndarray | float | None = None,
    tolerance: float = 0.05,
    unit: str = "kWh",
) -> list[Finding]:
    """Days on which the main meter and the sum of its sub-meters part from their usual gap.

    Parameters
    ----------
    main, submeters : array_like, shape (buildings, slots)
        Consumption of each main meter and the sum of its sub-meters (same unit), in slots
        from a local midnight; days with a missing value are not judged.
    slots_per_day : int
        96 for 15-minute slots.
    expected_share : float or array_like, shape (buildings,), optional
        Unmetered share of the main meter, (main − Σ sub) / main; default each building's
        median over the days given.
    tolerance : float
        Allowed departure of a day's share from the expected one (0.05 = 5 points).

    Returns
    -------
    list of Finding
        ``rule="submeter_imbalance"``, slots of whole days; ``waste`` is the energy the
        meters disagree on beyond the expected share (a metering problem or an unmetered
        load; its cost is not claimed as waste in ``impact``).
    """
    m = np.asarray(main, dtype=np.float64)
    s = np.asarray(submeters, dtype=np.float64)
    b, n = m.shape
    days = n // slots_per_day
    md = m[:, : days * slots_per_day].reshape(b, days, slots_per_day).sum(axis=2)
    sd = s[:, : days * slots_per_day].reshape(b, days, slots_per_day).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(md > 0, (md - sd) / md, np.nan)
    expected = (
        nanmedian(share, axis=1)
        if expected_share is None
        else np.broadcast_to(np.asarray(expected_share, dtype=np.float64), (b,))
    )
    with np.errstate(invalid="ignore"):
        off = np.abs(share - expected[:, None]) > tolerance
    findings = []
    for row, a, e in _runs(off, 1):
        gap = md[row, a:e] - sd[row, a:e] - expected[row] * md[row, a:e]
        findings.append(
            Finding(
                row,
                "submeter_imbalance",
                a * slots_per_day,
                e * slots_per_day,
                "high"
                if np.nanmax(np.abs(share[row, a:e] - expected[row])) > 3 * tolerance
                else "medium",
                float(np.nanmax(np.abs(share[row, a:e] - expected[row])) / tolerance),
                float(np.nansum(np.abs(gap))),
                unit,
                {
                    "expected_share": float(expected[row]),
                    "observed_share": float(np.nanmean(share[row, a:e])),
                },
            )
        )
    return findings
