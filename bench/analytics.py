"""Analytics benchmark: :func:`analytics.suite.analyze` over a simulated portfolio, against a
per-meter pandas loop doing the same work, in the same run.

The input is a simulated portfolio of about ``--points`` points (whole buildings: main meter,
its power, 分项 sub-meters, water, heat or gas, zone and outdoor thermometers) over ``--days``
days of 15-minute slots from ``--start``, through :mod:`analytics.grid` as
``simulators/evaluate.py`` does it (register and instantaneous grids, register flags, recorded
meter replacements). Generating it takes about half a minute for a year of 1,000 points, so the
grids are cached in the temp directory, keyed by the parameters and the simulator's source.

- ``point_slots_per_s``: points × slots / wall time of one ``analyze`` call over the whole
  grid (median over rounds).
- ``pandas_point_slots_per_s``: the same checks and detectors written the way a data scientist
  would, one meter at a time with pandas (:func:`pandas_suite`), on the first
  ``--pandas-buildings`` buildings (every kind of row, ~45 points), per point-slot;
  ``speedup_vs_pandas``: the ratio of the two rates, taken within each round (median).
- ``peak_mem_ratio``: peak memory that ``analyze`` allocates on top of its inputs (tracemalloc,
  which sees numpy's buffers; a separate, untimed call) over the bytes of *one* float64
  [points × slots] grid. ``analyze`` takes two such grids (registers and instantaneous, each
  NaN on the other's rows) and a uint16 flag grid; the ratio to both grids is half the figure.
  ``peak_rss_ratio``: the same from the process's resident high-water mark (reset through
  ``/proc/self/clear_refs`` before the first, untimed call), a cross-check that counts what
  the allocator keeps too.

The pandas loop follows the rules of analytics/ as of commit 93a11cd: consumption with the
median day-regime profile spreading gaps and stuck runs (stuck by the use the profile
expected, open runs at the window end), spikes by Hampel and the isolated-reading rule, the
off-hours rules on measured use with all their thresholds, setpoints per building with their
waste against the plant's TOWT baseline, TOWT residuals, level shifts, sub-meter imbalance.
The table checks that it does the same work: use and flags per meter-slot, spikes per power
slot, and the findings (row, rule, slots; then waste within 1e-6) per rule, both ways on the
pandas buildings; the findings that differ are listed above the table, and
``pandas_same_findings`` on the last line counts the identical ones (a rule changed in
analytics/ but not here shows there).

Targets (issue): ≥20,000,000 point-slots/s, ≥50× pandas, ≤3× the input at 1,000 points × 1
year. Each side first runs once untimed (what a running service pays once: the calendar's
tables, the thread pool, the allocator's first touch of its memory). The machine's speed
drifts by tens of percent over minutes, so each of ``--rounds`` rounds times ``analyze`` and
then the pandas loop; ratios are taken within a round. BLAS runs one thread on both sides
(``OPENBLAS_NUM_THREADS`` etc., unless set).

Needs the ``bench`` extra (``pip install -e ".[bench]"``: pandas). Run
``python bench/analytics.py --quick`` (200 points × 90 days, well under a minute);
``--profile 25`` adds a cProfile listing and the peak memory of each analytics function. The
last line is key=value figures.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import gc
import hashlib
import inspect
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from statistics import median

# One BLAS thread for both sides (the pandas loop's lstsq would take both cores, and spinning
# BLAS threads make its time swing by a factor of 3 when anything else runs on the machine).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics import calendar, suite  # noqa: E402
from analytics import flags as F  # noqa: E402
from analytics.consumption import Replacement  # noqa: E402
from analytics.grid import mean_to_grid, registers_to_grid  # noqa: E402
from simulators.buildings import Simulator  # noqa: E402
from simulators.evaluate import layout as layout_of  # noqa: E402
from simulators.portfolio import make_portfolio  # noqa: E402

STEP_S = 900
SLOTS_PER_DAY = 86_400 // STEP_S
#: Sources whose change invalidates cached grids, and the version of the cache's layout.
SOURCES = ("simulators/buildings.py", "simulators/faults.py", "simulators/portfolio.py")
SOURCES += ("analytics/grid.py",)
CACHE_VERSION = 1


# --- input ----------------------------------------------------------------------------------
@dataclass
class Inputs:
    registers: np.ndarray
    instant: np.ndarray
    register_flags: np.ndarray
    layout: suite.Layout
    replacements: list[Replacement]
    start_us: int
    buildings: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.registers.shape


def buildings_for(points: int, seed: int) -> int:
    """Fewest buildings of the seeded portfolio with at least ``points`` points."""
    n = max(1, points // 12)
    while len(make_portfolio(n, seed=seed).points) < points:
        n += 1
    return n


def _simulate(buildings: int, days: int, start: dt.date, seed: int) -> dict[str, np.ndarray]:
    portfolio = make_portfolio(buildings, seed=seed)
    sim = Simulator(portfolio, seed=seed)
    idx, t, v, events = [], [], [], []
    for k in range(days):
        day = sim.day(start + dt.timedelta(days=k))
        a, b, c = day.readings()
        idx.append(a)
        t.append(b)
        v.append(c)
        events += day.replacements
    start_us = sim.day_start_us(start)
    n_slots = days * sim.slots
    grid_kw = {"n_points": len(sim.points), "start_us": start_us, "step_s": STEP_S}
    reading = (np.concatenate(idx), np.concatenate(t), np.concatenate(v))
    del idx, t, v
    reg, reg_flags = registers_to_grid(*reading, **grid_kw, n_slots=n_slots)
    inst, _ = mean_to_grid(*reading, **grid_kw, n_slots=n_slots)
    del reading
    cumulative = np.array([p.cumulative for p in sim.points])
    reg[~cumulative] = np.nan
    inst[cumulative] = np.nan
    # Replacements as evaluate.py records them: meter index among the meter rows, first slot.
    meter_row = {m: r for r, m in enumerate(np.flatnonzero(cumulative))}
    ends = start_us + np.arange(1, n_slots + 1, dtype=np.int64) * sim.step_us
    rep = np.array(
        [
            (
                meter_row[sim.index[str(e["point"])]],
                np.searchsorted(
                    ends, dt.datetime.fromisoformat(str(e["replaced_at"])).timestamp() * 1e6
                ),
                float(e["old_final_value"]),
                float(e["new_initial_value"]),
                float(e["new_multiplier"]),
            )
            for e in events
        ],
        dtype=np.float64,
    ).reshape(-1, 5)
    return {
        "registers": reg,
        "instant": inst,
        "register_flags": reg_flags,
        "replacements": rep,
        "start_us": np.array(start_us),
    }


def load_inputs(buildings: int, days: int, start: dt.date, seed: int) -> Inputs:
    """Simulated grids, from the cache in the temp directory when they are there."""
    digest = hashlib.sha1(str(CACHE_VERSION).encode())
    for name in SOURCES:
        digest.update((ROOT / name).read_bytes())
    stem = f"b{buildings}_d{days}_{start.isoformat()}_s{seed}"
    cache = Path(tempfile.gettempdir()) / "jieneng_bench_analytics" / f"{stem}_{digest.hexdigest()}"
    if not (cache / "done").exists():
        for stale in cache.parent.glob(f"{stem}_*"):  # the same grids from older sources
            shutil.rmtree(stale, ignore_errors=True)
        say(f"simulating {buildings} buildings × {days} days (cached in {cache}) …")
        t0 = time.perf_counter()
        arrays = _simulate(buildings, days, start, seed)
        cache.mkdir(parents=True, exist_ok=True)
        for name, a in arrays.items():
            np.save(cache / f"{name}.npy", a)
        (cache / "done").touch()
        say(f"  simulated and gridded in {time.perf_counter() - t0:.1f} s")
        del arrays
    names = ("registers", "instant", "register_flags", "replacements", "start_us")
    a = {name: np.load(cache / f"{name}.npy") for name in names}
    portfolio = make_portfolio(buildings, seed=seed)
    reps = [
        Replacement(int(p), int(s), float(o), float(i), float(m))
        for p, s, o, i, m in a["replacements"]
    ]
    return Inputs(
        a["registers"],
        a["instant"],
        a["register_flags"],
        layout_of(portfolio, portfolio.points),
        reps,
        int(a["start_us"]),
        buildings,
    )


def run_suite(x: Inputs) -> suite.Analysis:
    return suite.analyze(
        x.registers,
        x.instant,
        x.layout,
        start_us=x.start_us,
        step_s=STEP_S,
        register_flags=x.register_flags,
        replacements=x.replacements,
    )


# --- the pandas way -------------------------------------------------------------------------
# What a data scientist would write for the same checks: one pandas Series per meter with a
# local-time DatetimeIndex, groupby/rolling/resample, np.linalg.lstsq per meter. Same rules
# and thresholds as analytics/, not tuned for speed nor made slow on purpose.

PER_HOUR = 3600 // STEP_S


@dataclass
class PandasResult:
    """What :func:`pandas_suite` found: findings as (row, rule, start slot, end slot, waste);
    use and flags per slot of each meter row; spikes of each power row."""

    findings: list[tuple]
    use: dict[int, pd.Series]
    flags: dict[int, pd.Series]
    spikes: dict[int, pd.Series]


def pd_runs(mask: pd.Series, min_len: int) -> list[tuple[int, int]]:
    """(start, end) positions of the runs of True at least ``min_len`` long."""
    run_id = mask.ne(mask.shift()).cumsum()
    pos = pd.Series(np.arange(len(mask)), index=mask.index)
    spans = pos[mask].groupby(run_id[mask]).agg(["min", "max"])
    spans = spans[spans["max"] - spans["min"] + 1 >= min_len]
    return list(zip(spans["min"].tolist(), (spans["max"] + 1).tolist(), strict=True))


def pd_consumption(
    reg: pd.Series,
    reg_flags: pd.Series,
    mult: float,
    roll: float,
    res: float,
    events: list[Replacement],
    regime: pd.Series,
    stuck_slots: int = 8,
) -> tuple[pd.Series, pd.Series]:
    """Use per slot and flags of one meter from its register readings; ``regime`` is each
    slot's day regime (workday + 2 × school vacation)."""
    step_td = pd.Timedelta(seconds=STEP_S)
    flags = pd.Series(0, index=reg.index, dtype=np.uint16)
    flags[reg.isna()] |= F.GAP
    flags |= reg_flags & F.CLOCK_SKEW
    tol = max(2 * res, 1e-9)
    rep_times = reg.index[[e.slot for e in events]]
    r = reg.dropna()
    # 1. Spikes: a reading whose removal makes its neighbours consistent again.
    before, after = r.shift(1), r.shift(-1)
    steps = r.diff()
    single = r.index.to_series().diff() == step_td
    usual = steps[single & (steps > 0)].median()
    excursion = np.maximum(r - after, before - r)
    replaced = pd.Series(r.index.isin(rep_times), index=r.index)
    spike = (
        (after - before >= -tol)
        & (excursion > tol)
        & (excursion > 10 * (0.0 if np.isnan(usual) else usual))
        & ~replaced
        & ~replaced.shift(-1, fill_value=False)
    )
    flags[spike[spike].index] |= F.SPIKE
    r = r[~spike]
    # 2. Steps between consecutive readings.
    before = r.shift(1)
    step = r.diff()
    span = (r.index.to_series().diff() / step_td).fillna(0)
    # 3. Recorded replacements.
    mult_t = pd.Series(mult, index=reg.index)
    handled = pd.Series(False, index=r.index)
    for ev in sorted(events, key=lambda e: e.slot):
        later = r.index[r.index >= reg.index[ev.slot]]
        if not len(later):
            continue
        t = later[0]
        old = mult_t[t - step_td] if t > reg.index[0] else mult
        prior = before[t]
        used_old = 0.0 if np.isnan(prior) else max(ev.old_final - prior, 0.0) * old
        used_new = max(r[t] - ev.new_initial, 0.0) * ev.new_multiplier
        step[t] = (used_old + used_new) / ev.new_multiplier
        mult_t[t:] = ev.new_multiplier
        handled[t] = True
        flags[t] |= F.REPLACEMENT
    # 4. Backward steps: rollover, jitter or reset.
    backward = (step < 0) & ~handled
    wraps = backward & np.isfinite(roll) & (before >= 0.5 * roll) & (r < 0.5 * roll)
    jitter = backward & ~wraps & (step >= -tol)
    reset = backward & ~wraps & ~jitter
    step[wraps] += roll
    step[jitter] = 0.0
    step[reset] = r[reset]
    flags[wraps[wraps].index] |= F.ROLLOVER
    flags[jitter[jitter].index] |= F.NEGATIVE
    flags[reset[reset].index] |= F.RESET
    # 5. The meter's expected use: its median single-slot step by day regime and slot of
    #    day. It says what a stuck run missed and, plus 1 % of its mean (so that no slot
    #    weighs nothing), how a gap's or a stuck run's use is spread.
    single = span == 1
    tod = pd.Series((reg.index.hour * 3600 + reg.index.minute * 60) // STEP_S, index=reg.index)
    ones = step[single].clip(lower=0)
    by_cell = ones.groupby([regime[ones.index], tod[ones.index]]).median()
    expected = by_cell.reindex(pd.MultiIndex.from_arrays([regime, tod])).fillna(0.0)
    expected = pd.Series(expected.to_numpy(), index=reg.index)
    floor = 0.01 * expected.mean()
    weight = expected + (floor if floor > 0 else 1.0)
    # Stuck registers: a long run of zero steps where the profile expected use, then a
    # catch-up jump; or still standing at the end of the window (for up to a day).
    zero = (step == 0) & single
    usual = step[single & (step > 0)].median()
    frozen = pd.Series(False, index=r.index)
    for a, b in pd_runs(zero, stuck_slots):
        start = r.index[a]
        if b == len(r):  # the last reading: still stuck if the window ends there
            missed = expected[start:].sum()
            if r.index[-1] == reg.index[-1] and b - a <= SLOTS_PER_DAY and missed >= 4 * usual:
                frozen.iloc[a:] = True  # its use is unknown until the register catches up
                flags[start:] |= F.STUCK
            continue
        if span.iloc[b] != 1 or not usual > 0:
            continue
        # The jump beyond its own slot's use makes up for what the run missed, and the
        # run missed something (standing still while nothing flows is not stuck).
        excess = step.iloc[b] - expected[r.index[b]]
        missed = expected[start : r.index[b - 1]].sum()
        if missed >= 2 * usual and excess >= max(2 * usual, 0.5 * missed):
            frozen.iloc[a:b] = True
            span.iloc[b] = b - a + 1
            flags[start : r.index[b]] |= F.STUCK
    r, step, span = r[~frozen], step[~frozen], span[~frozen]
    # 6. Spread each step over the slots since the previous reading, by the weights.
    cum = weight.cumsum()
    at = cum[r.index]
    share = (step / (at - at.shift(1))).where(span > 0)
    filled = share.reindex(reg.index, method="bfill") * weight  # a gap: the next reading's
    gap = ~reg.index.isin(r.index)
    flags[gap & filled.notna()] |= F.INTERPOLATED
    flags[span[span > 1].index] |= F.INTERPOLATED
    return filled * mult_t, flags


def pd_off_hours(
    use: pd.Series,
    cal: pd.DataFrame,
    groups: pd.Series,
    rule: str,
    *,
    min_share_of_work: float,
    min_excess: float,
    n_sigmas: float = 5.0,
) -> list[tuple]:
    """Off-hours runs of measured ``use`` above its median profile per day regime."""
    df = pd.DataFrame({"use": use, "tod": cal["tod"], "group": groups, "off": cal["off"]})
    usual = df.groupby(["group", "tod"])["use"].transform("median")
    # A regime of off-days with fewer than four days borrows the profile of all off-days.
    days = df.groupby("group").size() / SLOTS_PER_DAY
    worked = cal["worked"].groupby(groups).first()
    short = df["group"].isin(days.index[(days < 4) & ~worked])
    if short.any():
        all_off = df[~cal["worked"]].groupby("tod")["use"].median()
        usual[short] = df.loc[short, "tod"].map(all_off)
    resid = df["use"] - usual
    off = df["off"]
    scale = 1.4826 * resid[off].abs().median()
    level = usual[off].median()
    working = usual[~off].median()
    # Thresholds: noise, 10 % of the off-hours level, a share of the working level, two
    # register steps; NaN (no measured use) flags nothing.
    threshold = np.maximum.reduce(
        [
            n_sigmas * scale,
            0.1 * abs(level),
            np.nan_to_num(min_share_of_work * abs(working)),
            min_excess,
            1e-9,
        ]
    )
    # … and noise relative to the profile, in proportion to it.
    relative = (resid.abs() / usual)[off & (usual > 0)]
    rel_scale = np.nan_to_num(1.4826 * relative.median())
    threshold = np.maximum(threshold, n_sigmas * rel_scale * usual.abs().fillna(0.0))
    high = off & (resid > threshold)
    # Each run's waste reaches as far as the excess stays above one noise unit.
    low = off & (resid > threshold / n_sigmas)
    spans = pd_runs(low, 1)
    starts = [a for a, _ in spans]
    out, taken = [], set()
    for a, _ in pd_runs(high, 8):
        k = int(np.searchsorted(starts, a, side="right")) - 1
        if k not in taken:
            taken.add(k)
            lo, hi = spans[k]
            out.append((rule, lo, hi, float(resid.iloc[lo:hi].sum())))
    return out


def pd_setpoints(
    zones: list[pd.Series], cooling: pd.Series, heating: pd.Series, outdoor: pd.Series
) -> list[tuple]:
    """One building: its zones against 26 °C with the cooling plant running (and evidence
    that it cools), against 20 °C with the heating plant running on a cold day; one finding
    per building and run, its waste by the rule of thumb (8 % of the use per kelvin)."""
    # Mean of the last 24 h, the first value standing in for the day before the window.
    padded = np.pad(outdoor.fillna(15.0).to_numpy(), (SLOTS_PER_DAY - 1, 0), mode="edge")
    daily = pd.Series(padded).rolling(SLOTS_PER_DAY).mean().iloc[SLOTS_PER_DAY - 1 :]
    daily.index = outdoor.index
    out = []
    for rule, use, limit in (("overcooling", cooling, 26.0), ("overheating", heating, 20.0)):
        on = use > np.maximum(use.median() * 0.5, 1e-9)
        compressor = on & (use > 1.25 * use[on].quantile(0.1))  # well above the fans' level
        bad_zones = []
        for zone in zones:
            if rule == "overcooling":
                cooled = (
                    (outdoor >= zone)
                    | (compressor & (outdoor >= zone - 2.0))
                    | ((daily > 22.0) & (outdoor > 24.0))
                )
                bad_zones.append(on & cooled & (zone < 25.0))
            else:
                bad_zones.append(on & (daily < 12.0) & (outdoor < 16.0) & (zone > 21.0))
        bad = pd.concat(bad_zones, axis=1).any(axis=1)
        temps = pd.concat([z.where(b) for z, b in zip(zones, bad_zones, strict=True)], axis=1)
        for a, b in pd_runs(bad, 8):
            kelvin = (temps.iloc[a:b].mean(axis=1) - limit).abs().fillna(0.0)
            out.append((rule, a, b, float((use.iloc[a:b] * (0.08 * kelvin).clip(upper=0.8)).sum())))
    return out


def pd_hourly(use: pd.Series, outdoor: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Hourly use and mean outdoor temperature; an hour with a missing slot is missing."""
    y = use.resample("h").sum(min_count=PER_HOUR)
    temp = outdoor.resample("h").sum(min_count=PER_HOUR) / PER_HOUR
    return y, temp


def pd_setpoint_waste(
    found: list[list], use: pd.Series, outdoor: pd.Series, tow: pd.Series
) -> None:
    """Setpoint findings of one plant, ``[row, rule, start, end, waste]``: waste replaced by
    the plant's use over the days they touch above an hourly TOWT baseline fitted on its
    other days (where there are enough of them); each day charged once."""
    n_days = len(use) // SLOTS_PER_DAY

    def touched(f: list) -> set[int]:
        return set(range(f[2] // SLOTS_PER_DAY, min(n_days, -(-f[3] // SLOTS_PER_DAY))))

    bad = set().union(*(touched(f) for f in found))
    # Per plant; analyze keeps the rule of thumb for every plant of the window when any one
    # has too few other days (no difference on the simulated portfolio).
    if n_days - len(bad) < suite.SETPOINT_MIN_FIT_DAYS:
        return
    y, temp = pd_hourly(use, outdoor)
    day = pd.Series(np.arange(len(y)) // 24, index=y.index)
    predict, _ = pd_fit_towt(y.where(~day.isin(bad)), temp, tow, robust=False)
    by_day = (y - predict(temp, tow)).groupby(day).sum()
    charged: set[int] = set()
    for f in sorted(found, key=lambda f: f[2]):
        new = touched(f) - charged
        charged |= new
        f[4] = max(0.0, float(by_day[sorted(new)].sum()))


def pd_imbalance(main: pd.Series, subs: list[pd.Series]) -> list[tuple]:
    sub = pd.concat(subs, axis=1).sum(axis=1, min_count=len(subs))
    md = main.resample("D").sum(min_count=SLOTS_PER_DAY)
    sd = sub.resample("D").sum(min_count=SLOTS_PER_DAY)
    share = ((md - sd) / md).where(md > 0)
    expected = share.median()
    off = (share - expected).abs() > 0.05
    out = []
    for a, b in pd_runs(off, 1):
        gap = md.iloc[a:b] - sd.iloc[a:b] - expected * md.iloc[a:b]
        out.append(("submeter_imbalance", a * SLOTS_PER_DAY, b * SLOTS_PER_DAY, gap.abs().sum()))
    return out


def pd_spikes(power: pd.Series, half: int = 3) -> pd.Series:
    """Hampel identifier (rolling median ± 5 robust sigmas, mirrored at the edges), kept
    where the value is beyond the range of both neighbours by more than their difference."""
    filled = power.ffill().bfill().fillna(0.0)
    size = 2 * half + 1
    med = pd.Series(np.pad(filled.to_numpy(), half, mode="reflect"))
    med = med.rolling(size, center=True).median().to_numpy()[half:-half]
    step = filled.diff().abs()
    step.iloc[0] = step.iloc[1:].median()
    noise = pd.Series(np.pad(step.to_numpy(), half, mode="edge"))
    noise = 1.4826 / np.sqrt(2) * noise.rolling(size, center=True).median().to_numpy()[half:-half]
    scale = np.maximum(noise, 0.05 * np.abs(med))
    hampel = power.notna() & ((power - med).abs() > 5.0 * scale)
    after = power.bfill().ffill().fillna(0.0)
    prev, nxt = filled.shift(1), after.shift(-1)
    prev.iloc[0], nxt.iloc[-1] = after.iloc[2], filled.iloc[-3]
    outside = np.maximum(power - np.maximum(prev, nxt), np.minimum(prev, nxt) - power)
    return hampel & (outside > (nxt - prev).abs())


def pd_basis(temp: pd.Series) -> pd.DataFrame:
    k = (-1.1, 7.2, 12.8, 18.3, 23.9, 32.2)
    cols = {"t0": temp.clip(upper=k[0])}
    for i in range(1, len(k)):
        cols[f"t{i}"] = (temp - k[i - 1]).clip(0.0, k[i] - k[i - 1])
    cols[f"t{len(k)}"] = (temp - k[-1]).clip(lower=0.0)
    return pd.DataFrame(cols)


def pd_fit_towt(y: pd.Series, temp: pd.Series, tow: pd.Series, robust: bool):
    """TOWT by least squares (time-of-week dummies, temperature bands apart for occupied and
    unoccupied hours; slopes with the same small ridge as analytics.baseline, 1e-6 of the
    mean within-time-of-week variance of the bands, so a band the fit barely reaches does
    not extrapolate wildly), optionally refitted without the residuals beyond 4 robust
    sigmas: a function predicting use from temperature and time of week, and the fit's
    robust sigma."""
    med = y.groupby(tow).median()
    occupied = med > med.min() + (med.max() - med.min()) / 2

    def bands(temp: pd.Series, tow: pd.Series) -> pd.DataFrame:
        occ = tow.map(occupied).fillna(False).astype(bool).to_numpy()
        basis = pd_basis(temp)
        unocc = basis.mul(~occ, axis=0).add_suffix("_unocc")
        return pd.concat([unocc, basis.mul(occ, axis=0).add_suffix("_occ")], axis=1)

    xt = bands(temp, tow)
    dummies = pd.get_dummies(tow, dtype=float)
    x = np.hstack([dummies.to_numpy(), xt.to_numpy()])
    keep = y.notna() & temp.notna()
    n_tow, n_bands = dummies.shape[1], xt.shape[1]
    for again in (robust, False):
        within = xt[keep] - xt[keep].groupby(tow[keep]).transform("mean")
        ridge = 1e-6 * max(float((within**2).to_numpy().sum()) / n_bands, 1e-12)
        penalty = np.hstack([np.zeros((n_bands, n_tow)), np.sqrt(ridge) * np.eye(n_bands)])
        coef = np.linalg.lstsq(
            np.vstack([x[keep.to_numpy()], penalty]),
            np.concatenate([y[keep].to_numpy(), np.zeros(n_bands)]),
            rcond=None,
        )[0]
        tow_coef = pd.Series(coef[:n_tow], index=dummies.columns)
        tow_coef[~tow_coef.index.isin(tow[keep].unique())] = np.nan  # never seen
        slopes = pd.Series(coef[n_tow:], index=xt.columns)
        rest = (y - xt @ slopes)[keep]
        if not again:
            break
        far = rest - rest.groupby(tow[keep]).transform("median")
        spread = 1.4826 * far.abs().median()
        keep &= ~(far.abs() > 4 * max(spread, 1e-12)).reindex(keep.index, fill_value=False)
    resid = rest - tow[keep].map(tow_coef)
    sigma = 1.4826 * (resid - resid.median()).abs().median()
    return (lambda temp, tow: bands(temp, tow) @ slopes + tow.map(tow_coef)), sigma


def pd_towt(use: pd.Series, outdoor: pd.Series, tow: pd.Series) -> list[tuple]:
    """TOWT fitted on all but the last week of hourly use, the last week judged."""
    y, temp = pd_hourly(use, outdoor)
    fit = len(y) - suite.TOWT_JUDGE_DAYS * 24
    if fit < suite.TOWT_MIN_FIT_DAYS * 24:
        return []
    predict, sigma = pd_fit_towt(y.iloc[:fit], temp.iloc[:fit], tow.iloc[:fit], robust=True)
    expected = predict(temp.iloc[fit:], tow.iloc[fit:])
    judged = y.iloc[fit:] - expected
    threshold = np.maximum(5.0 * sigma, 0.1 * expected.abs().mean())
    threshold = max(np.inf if np.isnan(threshold) else threshold, 1e-12)
    return [
        ("baseline_residual", (fit + a) * 4, (fit + b) * 4, float(judged.iloc[a:b].sum()))
        for a, b in pd_runs(judged > threshold, 3)
    ]


def pd_level_shifts(daily: pd.Series, regimes: pd.Series, window: int = 7) -> list[tuple]:
    out = []
    for _, x in daily.groupby(regimes):
        if len(x) < 2 * window + 1:
            continue
        spread = 1.4826 * x.diff().abs().median() / np.sqrt(2)
        med = x.rolling(window, min_periods=1).median()
        before = med.shift(1).iloc[window : len(x) - window + 1]
        after = med.shift(-(window - 1)).iloc[window : len(x) - window + 1]
        jump = after - before
        floor = np.maximum(0.1 * before.abs() / 6.0, 1e-12)
        score = jump.abs() / np.maximum(spread, floor)
        big = (score > 6.0) & (jump.abs() > 0.1 * before.abs())
        for a, b in pd_runs(big, 1):
            day = big.index[(a + b - 1) // 2]
            k = daily.index.get_loc(day)
            out.append(("level_shift", k * SLOTS_PER_DAY, (k + 1) * SLOTS_PER_DAY, jump[day]))
    return out


def pandas_suite(x: Inputs, buildings: int) -> PandasResult:
    """The checks and detectors of ``analyze`` on the first ``buildings`` buildings, meter by
    meter in pandas."""
    lay = x.layout
    role = list(lay.role)
    bld = np.asarray(lay.building)
    rows = np.flatnonzero(bld < buildings)
    n = x.shape[1]
    # Calendar columns, once.
    local = pd.Timestamp(x.start_us, unit="us") + pd.Timedelta(hours=8)
    index = pd.date_range(local, periods=n, freq=f"{STEP_S}s")
    days = pd.date_range(local, periods=n // SLOTS_PER_DAY, freq="D")
    day_type = pd.Series(calendar.day_types(days.values), index=days)
    vacation = pd.Series(calendar.school_vacation(days.values), index=days)
    worked = day_type.isin([calendar.WORKDAY, calendar.ADJUSTED_WORKDAY])
    cal = pd.DataFrame(index=index)
    cal["worked"] = worked.reindex(index.normalize()).to_numpy()
    cal["vacation"] = vacation.reindex(index.normalize()).to_numpy()
    cal["tod"] = index.hour * 4 + index.minute // 15
    cal["off"] = ~(cal["worked"] & (index.hour >= 8) & (index.hour < 18))
    hours = pd.date_range(local, periods=n // PER_HOUR, freq="h")
    weekday = pd.Series(hours.day_of_week, index=hours)
    types = day_type.reindex(hours.normalize()).to_numpy()
    weekday[types == calendar.HOLIDAY] = 6
    weekday[types == calendar.ADJUSTED_WORKDAY] = 0
    tow = weekday * 24 + hours.hour

    regime = (cal["worked"].astype(int) + 2 * cal["vacation"]).rename("regime")
    # A regime of fewer than four days joins its kind of day across the vacation boundary.
    days = regime.value_counts() / SLOTS_PER_DAY
    for g, d in days.items():
        if d < 4 and days.get(g ^ 2, 0) >= d:
            regime = regime.replace(g, g ^ 2)
    meters = np.flatnonzero(np.isin(role, list(suite.METER_ROLES)))
    meter_index = {int(m): k for k, m in enumerate(meters)}
    use: dict[int, pd.Series] = {}
    flags: dict[int, pd.Series] = {}
    for r in rows:
        if r not in meter_index:
            continue
        events = [e for e in x.replacements if e.point == meter_index[r]]
        use[r], flags[r] = pd_consumption(
            pd.Series(x.registers[r], index=index),
            pd.Series(x.register_flags[r], index=index),
            float(lay.multiplier[r]),
            float(lay.rollover[r]),
            float(lay.resolution[r]),
            events,
            regime,
        )
    # The waste rules judge measured use only: a gap's or a stuck run's spread is no evidence.
    measured = {r: u.where((flags[r] & (F.INTERPOLATED | F.STUCK)) == 0) for r, u in use.items()}
    series = {r: pd.Series(x.instant[r], index=index) for r in rows if r not in meter_index}
    found: list[tuple] = []
    spikes: dict[int, pd.Series] = {}
    rules = {"01A": "after_hours", "01B": "hvac_out_of_hours", "water": "night_flow"}
    for b in range(buildings):
        mine = [int(r) for r in rows if bld[r] == b]
        first = {}
        for r in mine:
            first.setdefault(role[r], r)
        kind = lay.building_kind[b]
        school = kind == "school"
        groups = cal["worked"].astype(int) + (2 * cal["vacation"] if school else 0)
        for r in mine:
            rule = rules.get(role[r])
            if rule is None or (rule == "hvac_out_of_hours" and kind == "hospital"):
                continue  # wards are conditioned around the clock: no out of hours
            found += [
                (r, *f)
                for f in pd_off_hours(
                    measured[r],
                    cal,
                    groups,
                    rule,
                    # Any flow at night is a leak, however small beside the day's use.
                    min_share_of_work=0.0 if rule == "night_flow" else 0.05,
                    min_excess=2 * (float(lay.resolution[r]) * float(lay.multiplier[r])),
                )
            ]
        if "01B" in first and "outdoor" in first:
            cooling, heating = first["01B"], first.get("heat", first["01B"])
            zones = [series[r] for r in mine if role[r] == "indoor"]
            outdoor = series[first["outdoor"]]
            spot = [
                [cooling if f[0] == "overcooling" else heating, *f]
                for f in pd_setpoints(zones, measured[cooling], measured[heating], outdoor)
            ]
            for plant in {f[0] for f in spot}:
                pd_setpoint_waste([f for f in spot if f[0] == plant], use[plant], outdoor, tow)
            found += [tuple(f) for f in spot]
        subs = [use[r] for r in mine if role[r] in ("01A", "01B", "01C", "01D")]
        if "main" in first and subs:
            found += [(first["main"], *f) for f in pd_imbalance(use[first["main"]], subs)]
        for r in mine:
            if role[r] == "power":
                spikes[r] = pd_spikes(series[r])
        if "main" in first and "outdoor" in first:
            found += [
                (first["main"], *f)
                for f in pd_towt(use[first["main"]], series[first["outdoor"]], tow)
            ]
        regimes = worked.astype(int) + (2 * vacation if school else 0)
        for r in mine:
            if role[r] in ("main", "water"):
                daily = use[r].resample("D").sum(min_count=SLOTS_PER_DAY)
                found += [(r, *f) for f in pd_level_shifts(daily, regimes)]
    # Baseline residuals that a waste rule of the same building explains are dropped.
    explaining = [(bld[f[0]], f[2], f[3]) for f in found if f[1] in suite.EXPLAINING]
    kept = [
        f
        for f in found
        if f[1] != "baseline_residual"
        or not any(b == bld[f[0]] and a < f[3] and f[2] < e for b, a, e in explaining)
    ]
    return PandasResult(kept, use, flags, spikes)


# --- measurement ----------------------------------------------------------------------------
def rss_peak_extra(fn) -> tuple[object, float | None]:
    """Run ``fn``; the rise of the resident high-water mark above the RSS before it (bytes),
    or None where ``/proc/self/clear_refs`` cannot reset the mark."""

    def status(field: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    try:
        Path("/proc/self/clear_refs").write_text("5")
        base = status("VmRSS:")
    except OSError:
        return fn(), None
    out = fn()
    return out, float(status("VmHWM:") - base)


def traced_peak_extra(fn) -> tuple[object, float]:
    """Run ``fn`` under tracemalloc; the peak of what it allocated (bytes)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        return out, float(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


def timed(fn) -> tuple[object, float]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def profile(x: Inputs, top: int) -> None:
    """cProfile of one ``analyze`` call, then each analytics function's peak allocation."""
    prof = cProfile.Profile()
    prof.enable()
    run_suite(x)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    say(buf.getvalue())
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(top)
    say(buf.getvalue())

    # Peak memory per function: wrap every function of the analytics modules (and the names
    # suite imported from them) with a tracker that nests (tracemalloc has one peak counter).
    peaks: dict[str, float] = {}
    stack: list[list[float]] = []

    def tracked(name: str, f):
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            cur, peak = tracemalloc.get_traced_memory()
            if stack:
                stack[-1][1] = max(stack[-1][1], peak)
            stack.append([cur, cur])
            tracemalloc.reset_peak()
            try:
                return f(*args, **kwargs)
            finally:
                base, top_ = stack.pop()
                top_ = max(top_, tracemalloc.get_traced_memory()[1])
                peaks[name] = max(peaks.get(name, 0.0), top_ - base)
                if stack:
                    stack[-1][1] = max(stack[-1][1], top_)

        return wrapper

    modules = [m for k, m in sorted(sys.modules.items()) if k.startswith("analytics.")]
    originals: list[tuple[object, str, object]] = []
    wrapped: dict[int, object] = {}
    for mod in modules:
        for name, f in list(vars(mod).items()):
            if not inspect.isfunction(f) or not f.__module__.startswith("analytics"):
                continue
            qual = f"{f.__module__.removeprefix('analytics.')}.{f.__name__}"
            if id(f) not in wrapped:
                wrapped[id(f)] = tracked(qual, f)
            originals.append((mod, name, f))
            setattr(mod, name, wrapped[id(f)])
    gc.collect()
    tracemalloc.start()
    try:
        run_suite(x)
    finally:
        tracemalloc.stop()
        for mod, name, f in originals:
            setattr(mod, name, f)
    grid = x.registers.nbytes
    say("peak allocation of each analytics function above what it started with (MB; × one")
    say(f"{grid / 1e6:.0f} MB grid), its callees included:")
    for name, b in sorted(peaks.items(), key=lambda kv: -kv[1])[:top]:
        say(f"  {name:40s} {b / 1e6:9.1f}  {b / grid:5.2f}×")


def same_work(
    result: suite.Analysis, pdr: PandasResult, layout: suite.Layout, buildings: int
) -> tuple[list[tuple[str, str, str]], str]:
    """Table rows comparing ``analyze`` with the pandas loop on its buildings: use and flags
    per meter-slot, spikes per power slot, findings (row, rule, slots) and their waste per
    rule; the findings that differ are listed. Also "identical/all" findings."""
    rows_np = {int(m): k for k, m in enumerate(result.meters)}
    a = np.stack([result.use[rows_np[r]] for r in pdr.use])
    b = np.stack([u.to_numpy() for u in pdr.use.values()])
    use_agree = float(np.mean(np.isclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True)))
    a = np.stack([result.use_flags[rows_np[r]] for r in pdr.flags])
    flag_agree = float(np.mean(a == np.stack([f.to_numpy() for f in pdr.flags.values()])))
    a = np.stack([result.spikes[r] for r in pdr.spikes]) if pdr.spikes else np.zeros((0, 0))
    b = np.stack([s.to_numpy() for s in pdr.spikes.values()]) if pdr.spikes else a
    mine = [f for f in result.findings if layout.building[f.point] < buildings]
    waste_np = {(f.point, f.rule, f.start, f.end): f.waste for f in mine}
    waste_pd = {f[:4]: float(f[4]) for f in pdr.findings}
    both = waste_np.keys() & waste_pd.keys()
    alike = {k for k in both if np.isclose(waste_np[k], waste_pd[k], rtol=1e-6, atol=1e-9)}
    for k in sorted(waste_np.keys() - waste_pd.keys()):
        say(f"  numpy only:  {k} waste {waste_np[k]:.6g}")
    for k in sorted(waste_pd.keys() - waste_np.keys()):
        say(f"  pandas only: {k} waste {waste_pd[k]:.6g}")
    for k in sorted(both - alike):
        say(f"  waste differs: {k} numpy {waste_np[k]:.9g}, pandas {waste_pd[k]:.9g}")
    rows = [
        ("use per slot, pandas = numpy", f"{use_agree:.2%} of meter-slots", ""),
        ("flags per slot, pandas = numpy", f"{flag_agree:.2%} of meter-slots", ""),
        (
            "spikes on power rows",
            f"{int(a.sum())} numpy, {int(b.sum())} pandas",
            f"{int((a & b).sum())} in both",
        ),
        (
            "findings on the pandas buildings",
            f"{len(waste_np)} numpy, {len(waste_pd)} pandas",
            f"{len(both)} identical (row, rule, slots), {len(alike)} also in waste",
        ),
    ]
    for rule in sorted({k[1] for k in waste_np.keys() | waste_pd.keys()}):
        n_np = sum(k[1] == rule for k in waste_np)
        n_pd = sum(k[1] == rule for k in waste_pd)
        n_same = sum(k[1] == rule for k in both)
        n_alike = sum(k[1] == rule for k in alike)
        note = f"{n_pd} pandas; {n_same} identical, {n_alike} in waste"
        rows.append((f"  {rule} (pandas buildings)", f"{n_np} numpy", note))
    return rows, f"{len(both)}/{max(len(waste_np), len(waste_pd))}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200 points × 90 days, 3 rounds")
    ap.add_argument("--points", type=int, help="about this many points (default 1000)")
    ap.add_argument("--days", type=int, help="days of 15-minute slots (default 365)")
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 1, 1))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, help="timed rounds (default 5, 3 with --quick)")
    ap.add_argument(
        "--pandas-buildings", type=int, default=4, help="first buildings the pandas loop does"
    )
    ap.add_argument(
        "--profile", type=int, default=0, metavar="N", help="then profile analyze (top N lines)"
    )
    args = ap.parse_args()
    points = args.points or (200 if args.quick else 1000)
    days = args.days or (90 if args.quick else 365)
    rounds = args.rounds or (3 if args.quick else 5)
    buildings = buildings_for(points, args.seed)
    x = load_inputs(buildings, days, args.start, args.seed)
    p, n = x.shape
    sub_rows = int(np.count_nonzero(np.asarray(x.layout.building) < args.pandas_buildings))
    say(f"{p} points ({buildings} buildings) × {n} slots; pandas on {sub_rows} points")

    # A first, untimed call of each side: it pays for what a running service pays once (the
    # calendar's tables, the thread pool, the first touch of the allocator's memory). The
    # resident high-water mark is taken over it.
    result, rss = rss_peak_extra(lambda: run_suite(x))
    del result
    pandas_suite(x, args.pandas_buildings)
    rates, pd_rates, ratios = [], [], []
    for r in range(rounds):
        result, elapsed = timed(lambda: run_suite(x))
        rates.append(p * n / elapsed)
        pdr, pd_elapsed = timed(lambda: pandas_suite(x, args.pandas_buildings))
        pd_rates.append(sub_rows * n / pd_elapsed)
        ratios.append(rates[-1] / pd_rates[-1])
        say(
            f"round {r + 1}: analyze {elapsed:.2f} s ({rates[-1]:,.0f} point-slots/s); pandas"
            f" {pd_elapsed:.2f} s ({pd_rates[-1]:,.0f} point-slots/s); ×{ratios[-1]:.1f}"
        )
        if r < rounds - 1:
            del result
    # The same work? Use, flags, spikes and findings on the pandas buildings, both ways.
    same_rows, same = same_work(result, pdr, x.layout, args.pandas_buildings)
    n_findings = len(result.findings)
    del result
    _, traced = traced_peak_extra(lambda: run_suite(x))
    grid = x.registers.nbytes  # one float64 [points × slots] grid

    rows = [
        ("points × slots", f"{p:,} × {n:,}", ""),
        ("analyze, point-slots/s (median)", f"{median(rates):,.0f}", "≥ 20,000,000"),
        ("pandas loop, point-slots/s", f"{median(pd_rates):,.0f}", f"{sub_rows} points"),
        ("speedup vs pandas (median of rounds)", f"{median(ratios):.1f}", "≥ 50"),
        ("one input grid (float64)", f"{grid / 1e6:,.0f} MB", ""),
        ("peak extra, tracemalloc", f"{traced / 1e6:,.0f} MB = {traced / grid:.2f}×", "≤ 3×"),
        ("  … over both float64 grids", f"{traced / (2 * grid):.2f}×", ""),
        (
            "peak extra, RSS high-water",
            "n/a" if rss is None else f"{rss / 1e6:,.0f} MB = {rss / grid:.2f}×",
            "",
        ),
        ("findings (all points)", f"{n_findings:,}", ""),
        *same_rows,
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        say(f"{name:<{width}}  {value:>28}  {note}")
    if args.profile:
        profile(x, args.profile)
    figures = {
        "points": p,
        "slots": n,
        "rounds": rounds,
        "analyze_s": round(p * n / median(rates), 2),
        "point_slots_per_s": round(median(rates)),
        "pandas_points": sub_rows,
        "pandas_point_slots_per_s": round(median(pd_rates)),
        "speedup_vs_pandas": round(median(ratios), 1),
        "peak_mem_ratio": round(traced / grid, 2),
        "peak_rss_ratio": "nan" if rss is None else round(rss / grid, 2),
        "pandas_same_findings": same,
        "mem_method": "tracemalloc_over_one_float64_grid",
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
