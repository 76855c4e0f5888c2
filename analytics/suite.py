"""The whole analysis of a window of grids: consumption and quality, then every detector.

:func:`analyze` is what the job runner (``jieneng analyze``), the simulator evaluation and
``bench/analytics.py`` call: one pass over a [points × slots] window of many buildings, each
row described by a :class:`Layout` (its role, its building, its register properties), so the
detectors can pair HVAC meters with zone thermometers and main meters with their sub-meters
without knowing where the grid came from.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from analytics import anomaly, baseline, calendar, quality, waste
from analytics import flags as F
from analytics._arrays import run_all
from analytics.consumption import Replacement, from_registers

#: Roles of grid rows. Meters: ``main`` (the building's electricity main), ``01A`` … ``01D``
#: (its 分项 sub-meters), ``water``, ``heat`` (district heat), ``gas``, ``other_meter``.
#: Instantaneous: ``power`` (main active power), ``indoor`` and ``outdoor`` temperature,
#: ``other``.
METER_ROLES = frozenset({"main", "01A", "01B", "01C", "01D", "water", "heat", "gas", "other_meter"})
ROLES = METER_ROLES | {"power", "indoor", "outdoor", "other"}
#: Off-hours rules: the meter role, the rule key, the unit.
OFF_HOURS = (("01A", "after_hours", "kWh"), ("01B", "hvac_out_of_hours", "kWh"))
NIGHT_FLOW = ("water", "night_flow", "m3")
#: TOWT residuals judge the last days of the window against a model of the days before.
TOWT_JUDGE_DAYS = 7
TOWT_MIN_FIT_DAYS = 28
#: Fewest days of a day regime with a profile of its own (a median over them).
MIN_REGIME_DAYS = 4
#: Days a plant's TOWT baseline needs, besides those of its setpoint findings.
SETPOINT_MIN_FIT_DAYS = 14
#: Rows (or buildings) checked at a time: the checks' temporaries stay in the CPU cache
#: instead of streaming whole-grid arrays through memory beside the other jobs.
ROWS_AT_A_TIME = 8
#: Rules that explain a baseline residual at the same time in the same building.
EXPLAINING = frozenset({"after_hours", "hvac_out_of_hours", "overcooling", "overheating"})


@dataclass(frozen=True)
class Layout:
    """What each row of the grids is.

    Attributes
    ----------
    role : sequence of str, length points
        One of :data:`ROLES`.
    building : array_like of int, length points
        Building index of each row (0 … buildings - 1).
    building_kind : sequence of str, length buildings
        ``government``, ``school``, ``hospital`` or ``other``: schools get term and vacation
        profiles.
    multiplier, rollover, resolution : array_like, length points
        Register properties (meters; ignored on other rows): CT/PT ratio, wrap value
        (``inf`` for none), smallest step, register units.
    """

    role: Sequence[str]
    building: np.ndarray
    building_kind: Sequence[str]
    multiplier: np.ndarray
    rollover: np.ndarray
    resolution: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.role)
        bad = sorted(set(self.role) - ROLES)
        if bad:
            raise ValueError(f"role: unknown role(s) {bad} (expected one of {sorted(ROLES)})")
        for name in ("building", "multiplier", "rollover", "resolution"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name}: must have one value per row ({n})")
        b = np.asarray(self.building)
        if n and (b.min() < 0 or b.max() >= len(self.building_kind)):
            raise ValueError("building: index out of range of building_kind")

    def rows(self, role: str) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.role) == role)


@dataclass
class Analysis:
    """What :func:`analyze` found.

    Attributes
    ----------
    findings : list of Finding
        ``point`` is the grid row; ``start``/``end`` are slots of the window (also for the
        daily rules, whose days are converted to slots).
    use : ndarray, shape (meters, slots)
        Consumption per slot of the meter rows ``meters`` (after the multiplier).
    use_flags, meters
        Quality flags of ``use`` and the grid rows of the meters.
    spikes : ndarray of bool, shape (points, slots)
        Hampel spikes on instantaneous rows.
    """

    findings: list[waste.Finding]
    use: np.ndarray
    use_flags: np.ndarray
    meters: np.ndarray
    spikes: np.ndarray = field(repr=False)


def analyze(
    registers: np.ndarray,
    instant: np.ndarray,
    layout: Layout,
    *,
    start_us: int,
    step_s: int,
    register_flags: np.ndarray | None = None,
    replacements: Sequence[Replacement] = (),
    utc_offset_s: int = 8 * 3600,
    tiers: Sequence[str] = ("consumption", "waste", "anomaly"),
) -> Analysis:
    """Run the quality checks and the detectors over a window.

    Parameters
    ----------
    registers : array_like, shape (points, slots)
        Register reading at the end of each slot on meter rows (NaN elsewhere and where
        missing), register units (:func:`analytics.grid.registers_to_grid`).
    instant : array_like, shape (points, slots)
        Slot means on instantaneous rows (kW, °C …), NaN elsewhere
        (:func:`analytics.grid.mean_to_grid`).
    layout : Layout
    start_us, step_s : int
        Start of the first slot (UTC µs, a local midnight) and the slot length (s).
    register_flags : array_like of uint16, shape (points, slots), optional
        Flags from gridding (clock skew); they travel into ``use_flags``.
    replacements : sequence of Replacement
        Recorded meter replacements; ``point`` is the *meter's index among the meter rows*
        (the order of ``Analysis.meters``).
    utc_offset_s : int
        Local time of the buildings (China: +8 h).
    tiers : sequence of str
        ``consumption`` always runs; ``waste`` adds the waste rules, ``anomaly`` the TOWT
        residuals, level shifts and spikes.
    """
    reg = np.asarray(registers, dtype=np.float64)
    inst = np.asarray(instant, dtype=np.float64)
    p, n = reg.shape
    if inst.shape != (p, n):
        raise ValueError(f"instant: shape {inst.shape} differs from registers {reg.shape}")
    if len(layout.role) != p:
        raise ValueError(f"layout: describes {len(layout.role)} rows, the grids have {p}")
    roles = np.asarray(layout.role)
    bld = np.asarray(layout.building, dtype=np.int64)
    meters = np.flatnonzero(np.isin(roles, list(METER_ROLES)))
    row_of = np.full(p, -1)
    row_of[meters] = np.arange(len(meters))
    hours, day_types, days = calendar.slot_context(start_us, step_s, n, utc_offset_s)
    slots_per_day = 86_400 // step_s
    first_slots = days[::slots_per_day]
    # Day regimes of the meters' usual profiles (school vacations apart: harmless elsewhere).
    # A regime of a few days (a term weekend before the vacation) has no usual day: it joins
    # the same kind of day on the other side of the vacation boundary.
    regimes = calendar.is_workday(first_slots).astype(int) + 2 * calendar.school_vacation(
        first_slots
    )
    count = np.bincount(regimes, minlength=4)
    for g in np.flatnonzero((count > 0) & (count < MIN_REGIME_DAYS)):
        if count[g ^ 2] >= count[g]:
            regimes = np.where(regimes == g, g ^ 2, regimes)
    use, use_flags = from_registers(
        reg,
        rows=meters,
        multiplier=np.asarray(layout.multiplier, dtype=np.float64)[meters],
        rollover=np.asarray(layout.rollover, dtype=np.float64)[meters],
        resolution=np.asarray(layout.resolution, dtype=np.float64)[meters],
        replacements=replacements,
        slots_per_day=slots_per_day,
        day_groups=regimes,
        register_flags=register_flags,
    )
    spikes = np.zeros((p, n), dtype=bool)
    kinds = np.asarray(layout.building_kind)[bld]
    # The checks are independent of each other: jobs that run two at a time (numpy releases
    # the GIL), the longest first. Each returns its findings with the grid rows of their
    # points; a point's findings of one rule come from one job, so the final sort fixes
    # their order whatever the jobs' order.
    waste_jobs: list[Callable[[], list[tuple[list[waste.Finding], np.ndarray]]]] = []
    anomaly_jobs: list[Callable[[], list[tuple[list[waste.Finding], np.ndarray]]]] = []

    if "waste" in tiers:
        worked = (day_types == calendar.WORKDAY) | (day_types == calendar.ADJUSTED_WORKDAY)
        vacation = calendar.school_vacation(days)

        def measured(rows: np.ndarray) -> np.ndarray:
            """Use of grid ``rows``, NaN where it is a gap's or a stuck run's spread estimate
            (no evidence for a rule)."""
            out = use[row_of[rows]]
            out[(use_flags[row_of[rows]] & (F.INTERPOLATED | F.STUCK)) != 0] = np.nan
            return out

        def setpoints() -> list[tuple[list[waste.Finding], np.ndarray]]:
            found, rows = _setpoints(inst, measured, roles, bld, hours)
            _setpoint_waste(found, use, inst, row_of, roles, bld, hours, days, day_types, step_s)
            return [(found, rows), _imbalance(use, row_of, roles, bld, slots_per_day)]

        step_size = np.asarray(layout.resolution, float) * np.asarray(layout.multiplier, float)

        def off_hours(
            rows: np.ndarray, rule: str, unit: str, groups: np.ndarray
        ) -> list[tuple[list[waste.Finding], np.ndarray]]:
            found = waste.off_hours_excess(
                measured(rows),
                hours,
                day_types,
                rule=rule,
                unit=unit,
                groups=groups,
                # Any flow at night is a leak, however small beside the day's use.
                min_share_of_work=0.0 if rule == NIGHT_FLOW[1] else 0.05,
                min_excess=2 * step_size[rows],
            )
            return [(found, rows)]

        waste_jobs.append(setpoints)
        for role, rule, unit in (*OFF_HOURS, NIGHT_FLOW):
            for kind in np.unique(kinds):  # schools: term and vacation apart
                if rule == "hvac_out_of_hours" and kind == "hospital":
                    continue  # wards are conditioned around the clock: no out of hours
                rows = np.flatnonzero((roles == role) & (kinds == kind))
                if len(rows):
                    groups = worked.astype(int) + (2 * vacation if kind == "school" else 0)
                    waste_jobs.append(functools.partial(off_hours, rows, rule, unit, groups))

    if "anomaly" in tiers:
        power = np.flatnonzero(roles == "power")

        def power_spikes() -> list[tuple[list[waste.Finding], np.ndarray]]:
            for start in range(0, len(power), ROWS_AT_A_TIME):
                rows = power[start : start + ROWS_AT_A_TIME]
                values = inst[rows]
                spikes[rows] = quality.hampel(values, min_relative=0.05) & quality.isolated(values)
            return []

        def towt() -> list[tuple[list[waste.Finding], np.ndarray]]:
            return [_towt(use, inst, row_of, roles, bld, hours, days, day_types, step_s)]

        whole = n // slots_per_day
        day_worked = calendar.is_workday(days[::slots_per_day][:whole])
        day_vacation = calendar.school_vacation(days[::slots_per_day][:whole])

        def level_shifts() -> list[tuple[list[waste.Finding], np.ndarray]]:
            """Level shifts in daily use of mains and water; heat and gas follow the weather,
            which the TOWT residuals account for."""
            out = []
            for kind in np.unique(kinds) if whole else ():
                daily_rows = np.flatnonzero(np.isin(roles, ["main", "water"]) & (kinds == kind))
                if not len(daily_rows):
                    continue
                daily = (
                    use[row_of[daily_rows], : whole * slots_per_day]
                    .reshape(len(daily_rows), whole, slots_per_day)
                    .sum(axis=2)
                )
                regimes = day_worked.astype(int) + (2 * day_vacation if kind == "school" else 0)
                shifts = anomaly.level_shifts(daily, regimes)
                for f in shifts:
                    f.start, f.end = f.start * slots_per_day, f.end * slots_per_day
                    f.waste_unit = "m3" if roles[daily_rows[f.point]] in ("water", "gas") else "kWh"
                out.append((shifts, daily_rows))
            return out

        anomaly_jobs += [towt, power_spikes, level_shifts]

    # Longest first: setpoints (with their TOWT waste), TOWT residuals, power spikes.
    jobs = waste_jobs[:1] + anomaly_jobs[:2] + waste_jobs[1:] + anomaly_jobs[2:]
    findings: list[waste.Finding] = []
    for found, rows in (pair for result in run_all(jobs) for pair in result):
        for f in found:
            f.point = int(rows[f.point])
        findings.extend(found)
    findings = _unexplained(findings, bld)
    findings.sort(key=lambda f: (f.point, f.rule, f.start))
    return Analysis(findings, use, use_flags, meters, spikes)


def _first_of(roles: np.ndarray, bld: np.ndarray, role: str) -> dict[int, int]:
    """Building index → grid row of its first row with ``role``."""
    out: dict[int, int] = {}
    for r in np.flatnonzero(roles == role):
        out.setdefault(int(bld[r]), int(r))
    return out


def _setpoints(
    inst: np.ndarray,
    measured: Callable[[np.ndarray], np.ndarray],
    roles: np.ndarray,
    bld: np.ndarray,
    hours: np.ndarray,
) -> tuple[list[waste.Finding], np.ndarray]:
    """Zones against the 26 °C / 20 °C rule, with their building's HVAC meter, outdoor
    thermometer and, where there is one, district-heat meter (it does the heating). A
    finding's point is the meter of the plant at fault: HVAC for overcooling, the heat meter
    (else HVAC) for overheating; its evidence names the zones' grid rows. ``measured`` gives
    the measured use of grid rows."""
    hvac_of = _first_of(roles, bld, "01B")
    outdoor_of = _first_of(roles, bld, "outdoor")
    heat_of = _first_of(roles, bld, "heat")
    every = sorted(b for b in hvac_of if b in outdoor_of)
    indoor = np.flatnonzero(roles == "indoor")
    found_all: list[waste.Finding] = []
    # A few buildings at a time: their arrays stay in the CPU cache.
    for at in range(0, len(every), ROWS_AT_A_TIME):
        keys = every[at : at + ROWS_AT_A_TIME]
        zones = indoor[np.isin(bld[indoor], keys)]
        if not len(zones):
            continue
        cooling_rows = [hvac_of[b] for b in keys]
        heating_rows = [heat_of.get(b, hvac_of[b]) for b in keys]
        found = waste.setpoint_violations(
            inst[zones],
            np.searchsorted(keys, bld[zones]),
            measured(np.array(cooling_rows)),
            measured(np.array(heating_rows)),
            inst[[outdoor_of[b] for b in keys]],
            hours,
        )
        for f in found:
            f.point = (cooling_rows if f.rule == "overcooling" else heating_rows)[f.point]
            f.evidence["zones"] = [int(zones[z]) for z in f.evidence["zones"]]
        found_all += found
    return found_all, np.arange(len(roles))


def _imbalance(
    use: np.ndarray,
    row_of: np.ndarray,
    roles: np.ndarray,
    bld: np.ndarray,
    slots_per_day: int,
) -> tuple[list[waste.Finding], np.ndarray]:
    """Each electricity main against the sum of its building's 分项 sub-meters."""
    mains = _first_of(roles, bld, "main")
    sub_rows = np.flatnonzero(np.isin(roles, ["01A", "01B", "01C", "01D"]))
    keys = [b for b in mains if np.any(bld[sub_rows] == b)]
    if not keys:
        return [], np.array([], dtype=np.int64)
    main = use[[row_of[mains[b]] for b in keys]]
    subs = np.stack([use[row_of[sub_rows[bld[sub_rows] == b]]].sum(axis=0) for b in keys])
    found = waste.submeter_imbalance(main, subs, slots_per_day)
    return found, np.array([mains[b] for b in keys], dtype=np.int64)


def _hourly(use: np.ndarray, inst: np.ndarray, per_hour: int) -> tuple[np.ndarray, np.ndarray]:
    """Hourly sums of ``use`` and hourly means of ``inst`` (rows as given), whole hours."""
    hours_n = use.shape[1] // per_hour
    cut = hours_n * per_hour
    u = use[:, :cut].reshape(len(use), hours_n, per_hour)
    t = inst[:, :cut].reshape(len(inst), hours_n, per_hour)
    if per_hour >= 8:
        return u.sum(axis=2), t.mean(axis=2)
    # A few slots an hour: added slot by slot, the order numpy sums a short axis in (many
    # times faster than its reduction over four values at a time).
    total, mean = u[..., 0].copy(), t[..., 0].copy()
    for k in range(1, per_hour):
        total += u[..., k]
        mean += t[..., k]
    mean /= per_hour
    return total, mean


def _setpoint_waste(
    found: list[waste.Finding],
    use: np.ndarray,
    inst: np.ndarray,
    row_of: np.ndarray,
    roles: np.ndarray,
    bld: np.ndarray,
    hours: np.ndarray,
    days: np.ndarray,
    day_types: np.ndarray,
    step_s: int,
) -> None:
    """Waste of setpoint findings against the plant's own baseline, where the window allows.

    A setpoint changes the plant's use over its whole operating day, not only in the slots
    whose zones break the rule: the waste is the plant's use over the local days a finding
    touches minus what an hourly TOWT model of the plant (fitted on the other days, outdoor
    temperature of its building) predicts for them, as an M&V avoided-energy calculation
    would. With fewer than :data:`SETPOINT_MIN_FIT_DAYS` other days the rule-of-thumb
    estimate of :func:`analytics.waste.setpoint_violations` stays. A day is charged once.
    """
    if not found:
        return
    per_hour = max(1, 3600 // step_s)
    per_day = 86_400 // step_s
    n_days = use.shape[1] // per_day
    outdoor_of = _first_of(roles, bld, "outdoor")
    plants = sorted({f.point for f in found})
    bad_days = {p: set() for p in plants}
    for f in found:
        bad_days[f.point].update(range(f.start // per_day, min(n_days, -(-f.end // per_day))))
    if n_days - max(len(d) for d in bad_days.values()) < SETPOINT_MIN_FIT_DAYS:
        return
    hourly, temp = _hourly(
        use[row_of[plants]], inst[[outdoor_of[int(bld[p])] for p in plants]], per_hour
    )
    hours_n = hourly.shape[1]
    tow = baseline.time_of_week(
        hours[::per_hour][:hours_n], days[::per_hour][:hours_n], day_types[::per_hour][:hours_n]
    )
    fit = hourly.copy()
    for k, p in enumerate(plants):
        for d in bad_days[p]:
            fit[k, d * 24 : (d + 1) * 24] = np.nan
    model = baseline.fit_towt(fit, temp, tow, robust_passes=0, residual_spread=False)
    # The excess over the model on the hours of the days the findings touch (of any plant).
    days_used = sorted(set().union(*bad_days.values()))
    cols = (np.asarray(days_used)[:, None] * 24 + np.arange(24)).ravel()  # whole days
    excess = hourly[:, cols] - model.predict(temp[:, cols], tow[cols])
    at = {d: i * 24 for i, d in enumerate(days_used)}  # where each day's hours start in cols
    charged: dict[int, set[int]] = {p: set() for p in plants}
    for f in sorted(found, key=lambda f: f.start):
        k = plants.index(f.point)
        touched = set(range(f.start // per_day, min(n_days, -(-f.end // per_day))))
        new = sorted(touched - charged[f.point])
        charged[f.point].update(new)
        f.waste = float(max(0.0, sum(np.nansum(excess[k, at[d] : at[d] + 24]) for d in new)))
        f.evidence["waste_method"] = "towt_baseline"


def _towt(
    use: np.ndarray,
    inst: np.ndarray,
    row_of: np.ndarray,
    roles: np.ndarray,
    bld: np.ndarray,
    hours: np.ndarray,
    days: np.ndarray,
    day_types: np.ndarray,
    step_s: int,
) -> tuple[list[waste.Finding], np.ndarray]:
    """Hourly TOWT residuals of each electricity main against its outdoor temperature."""
    outdoor_of = _first_of(roles, bld, "outdoor")
    mains = np.array(
        [m for m in np.flatnonzero(roles == "main") if int(bld[m]) in outdoor_of], dtype=np.int64
    )
    per_hour = max(1, 3600 // step_s)
    hours_n = use.shape[1] // per_hour
    judge = TOWT_JUDGE_DAYS * 24
    if not len(mains) or hours_n - judge < TOWT_MIN_FIT_DAYS * 24:
        return [], mains
    hourly, temp = _hourly(
        use[row_of[mains]], inst[[outdoor_of[int(bld[m])] for m in mains]], per_hour
    )
    tow = baseline.time_of_week(
        hours[::per_hour][:hours_n], days[::per_hour][:hours_n], day_types[::per_hour][:hours_n]
    )
    fit = hours_n - judge
    model = baseline.fit_towt(hourly[:, :fit], temp[:, :fit], tow[:fit])
    found = baseline.baseline_residuals(
        hourly[:, fit:], temp[:, fit:], tow[fit:], model=model, n_sigmas=5.0, min_slots=3
    )
    for f in found:
        f.start, f.end = (f.start + fit) * per_hour, (f.end + fit) * per_hour
    return found, mains


def _unexplained(findings: list[waste.Finding], bld: np.ndarray) -> list[waste.Finding]:
    """Drop baseline residuals that a waste rule of the same building explains (it says more:
    which system, and why)."""
    explained: dict[int, list[tuple[int, int]]] = {}
    for f in findings:
        if f.rule in EXPLAINING:
            explained.setdefault(int(bld[f.point]), []).append((f.start, f.end))
    return [
        f
        for f in findings
        if f.rule != "baseline_residual"
        or not any(a < f.end and f.start < b for a, b in explained.get(int(bld[f.point]), ()))
    ]
