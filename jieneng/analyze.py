"""The analysis job: windows from the store → :func:`analytics.suite.analyze` → ``anomalies``.

``jieneng analyze`` runs it once (or ``--every`` N seconds); with ``JIENENG_ANALYZE_EVERY_S``
set, ``jieneng ingest`` runs it in a child process of its own (:class:`Background`), so the
collector never waits for it. Each round, per batch of buildings (one time zone each):

1. **Window.** ``[lo, hi)``: from the local midnight ``days`` before ``until`` (default now,
   on the 15-minute grid) to ``until``, in 15-minute slots from the building's local midnight.
2. **Late data.** Days before the window that now hold more readings than when they were
   analysed (:func:`store.findings.late_days`) are analysed again, in a window of the same
   length around them (``days / 2`` after the latest such day, at most ``until``); that
   analysis redoes only those days (± 1 day): its *authority*.
3. **Read.** ``v_rollup_15m`` of the batch's points (packed per point by the server,
   :func:`store.findings.read_buckets`): the first and last reading of each bucket give the
   register at every slot end as :func:`analytics.grid.registers_to_grid` picks it from raw
   readings; sensors get the slot means (:func:`analytics.grid.mean_to_grid`, each bucket
   weighted by its readings). Roles, multipliers and rollovers come from the registry, meter
   replacements from ``meter_replacements``, the register resolution from the readings'
   decimals.
4. **Analyse** (:func:`analytics.suite.analyze`), add data-quality runs (silence, stuck
   registers, resets, spikes, clock skew) and the impact of waste in kgce, kgCO2 and CNY
   (:mod:`analytics.factors`).
5. **Write** in one short transaction per batch (:func:`store.findings.reconcile`): extend or
   update the open finding per (point, rule), open new ones, close those the window has moved
   ``grace`` past, record the readings seen per day and the watermark.

Reads are plain SELECTs on the rollups (refreshed first unless the service's upkeep is at
it); an advisory lock keeps two analysis runs from writing at once.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import math
import multiprocessing as mp
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
from rich.table import Table

import jieneng
from analytics import factors as factorlib
from analytics import flags as F
from analytics import suite
from analytics._arrays import runs as find_runs
from analytics.consumption import Replacement
from analytics.grid import mean_to_grid, registers_to_grid
from jieneng.settings import Settings
from store import db
from store import findings as store

log = logging.getLogger(__name__)

STEP_S = 900  # the slots of v_rollup_15m
STEP = dt.timedelta(seconds=STEP_S)
DAY = dt.timedelta(days=1)
#: Data-quality runs reported as findings, and their shortest run (slots).
GAP_MIN_SLOTS = 8  # 2 h without a reading: a silent meter or sensor
CLOCK_SKEW_MIN_SLOTS = 4
#: Rules whose waste is energy or water that cost something (kgce, kgCO2, CNY are filled).
#: Sub-meter imbalance is a metering question and a level shift a change per day: no cost.
COSTED = frozenset(
    {"after_hours", "hvac_out_of_hours", "night_flow", "overcooling", "overheating"}
    | {"baseline_residual"}
)
#: Rules the analysis judges over the whole window (a stored run there that it does not find
#: again is dropped); see :func:`judged_spans` for the others.
WHOLE_WINDOW = frozenset(
    {"after_hours", "hvac_out_of_hours", "night_flow", "overcooling", "overheating"}
    | {"gap", "stuck", "reset", "spike", "clock_skew"}
)
#: Rule names for people (中文, English).
RULE_NAMES: dict[str, tuple[str, str]] = {
    "after_hours": ("下班后照明插座", "after-hours lighting & plugs"),
    "hvac_out_of_hours": ("非工作时间空调", "HVAC out of hours"),
    "night_flow": ("夜间用水(疑似漏水)", "night water flow (leak)"),
    "overcooling": ("空调过冷 <26 °C", "overcooling"),
    "overheating": ("供暖过热 >20 °C", "overheating"),
    "submeter_imbalance": ("分项与总表不平衡", "sub-meter imbalance"),
    "level_shift": ("日用量突变", "level shift"),
    "baseline_residual": ("超出基线", "above baseline (TOWT)"),
    "gap": ("数据中断", "no readings"),
    "stuck": ("表码停走", "stuck register"),
    "reset": ("表码清零", "register reset"),
    "spike": ("尖峰", "spike"),
    "clock_skew": ("时钟偏差", "clock skew"),
}
KINDS = ("opened", "recorded", "extended", "updated", "closed", "retracted")


@functools.cache
def detector_version() -> str:
    """The package version and a digest of the analytics code and data it ran."""
    digest = hashlib.sha256()
    root = resources.files("analytics")
    entries = [e for e in root.iterdir() if e.name.endswith(".py")]
    entries += [e for e in root.joinpath("data").iterdir() if e.name.endswith(".yaml")]
    for entry in sorted(entries, key=lambda e: e.name):
        digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return f"{jieneng.__version__}+{digest.hexdigest()[:10]}"


# --- the registry as a layout ----------------------------------------------------------------


def is_outdoor(p: store.PointRow) -> bool:
    """``points.location``, else told from the key or name (``outdoor``, ``outside``, 室外)."""
    if p.location is not None:
        return p.location == "outdoor"
    key = p.key.lower()
    return "outdoor" in key or "outside" in key or "室外" in (p.name or "")


def role_of(p: store.PointRow) -> str:
    """The :data:`analytics.suite.ROLES` role of a registry point.

    Electricity main: energy code ``01`` without a parent (its register; its power if not
    cumulative); ``01A`` … ``01D``: the 分项 sub-meters; ``02`` water, ``03`` gas, ``04`` heat
    without a parent; temperatures indoor or outdoor (:func:`is_outdoor`).
    """
    code = p.energy_code or ""
    top = p.parent_id is None
    if p.cumulative:
        if top and code == "01":
            return "main"
        if code in ("01A", "01B", "01C", "01D"):
            return code
        return (
            {"02": "water", "03": "gas", "04": "heat"}.get(code, "other_meter")
            if top
            else ("other_meter")
        )
    if p.quantity == "power" and top and code in ("", "01"):
        return "power"
    if p.quantity == "temperature":
        return "outdoor" if is_outdoor(p) else "indoor"
    return "other"


def resolution(rows: np.ndarray, values: np.ndarray, n_points: int) -> np.ndarray:
    """Register step of each point: the coarsest of 1, 0.1 … 1e-6 that all its readings are
    multiples of (0 when none is: the readings are not quantized)."""
    out = np.zeros(n_points)
    todo = np.ones(n_points, dtype=bool)
    todo[np.setdiff1d(np.arange(n_points), rows)] = False
    for digits in range(7):
        scaled = values * 10.0**digits
        off = np.abs(scaled - np.rint(scaled)) > 1e-9 * np.maximum(1.0, np.abs(scaled))
        bad = np.bincount(rows[off], minlength=n_points) > 0
        hit = todo & ~bad
        out[hit] = 10.0**-digits
        todo &= ~hit
    return out


# --- one window ------------------------------------------------------------------------------


@dataclass
class WindowResult:
    runs: list[store.Run]
    judged: dict[str, store.Span | None]


def _finite(value: object) -> object:
    """JSON-safe evidence: NaN and infinities become None, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _us(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def _at(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(us))


def judged_spans(lo: dt.datetime, n_slots: int) -> dict[str, store.Span | None]:
    """Where each rule can find runs in a window of ``n_slots`` from ``lo``: the whole window
    for the slot rules, whole days for sub-meter imbalance, the judged last days for the
    baseline residuals (:data:`analytics.suite.TOWT_JUDGE_DAYS`), and nowhere for level
    shifts (which need days of the same kind on both sides: a shift found once stays)."""
    hi = lo + n_slots * STEP
    out: dict[str, store.Span | None] = dict.fromkeys(WHOLE_WINDOW, (lo, hi))
    whole_days = n_slots * STEP_S // 86_400
    out["submeter_imbalance"] = (lo, lo + whole_days * DAY) if whole_days else None
    hours = n_slots * STEP_S // 3600
    judge = suite.TOWT_JUDGE_DAYS * 24
    fits = hours - judge >= suite.TOWT_MIN_FIT_DAYS * 24
    out["baseline_residual"] = (
        (lo + dt.timedelta(hours=hours - judge), lo + dt.timedelta(hours=hours)) if fits else None
    )
    out["level_shift"] = None
    return out


@dataclass
class Grids:
    """A window of some buildings' points on the analysis grid (:func:`window_grids`)."""

    registers: np.ndarray
    register_flags: np.ndarray
    instant: np.ndarray
    layout: suite.Layout
    replacements: list[Replacement]
    cumulative: np.ndarray
    slot_ends: np.ndarray  # µs


def window_grids(
    points: Sequence[store.PointRow],
    buckets: store.Buckets,
    replacements: Sequence[store.ReplacementRow],
    *,
    lo: dt.datetime,
    hi: dt.datetime,
) -> Grids:
    """The grids ``analytics.suite.analyze`` takes, from the points' ``v_rollup_15m`` rows
    (``lo - 15 min`` to ``hi + 15 min``) and their meter replacements; ``lo`` a local
    midnight, both on the 15-minute grid."""
    n = int((hi - lo) / STEP)
    lo_us = _us(lo)
    ids = np.array([p.id for p in points], dtype=np.int64)
    order = np.argsort(ids)
    cumulative = np.array([p.cumulative for p in points], dtype=bool)
    row = order[np.searchsorted(ids[order], buckets.point_id)]
    meter_b = cumulative[row]
    grid = {"n_points": len(points), "start_us": lo_us, "step_s": STEP_S, "n_slots": n}
    reg_rows = np.r_[row[meter_b], row[meter_b]]
    reg_values = np.r_[buckets.first_value[meter_b], buckets.last_value[meter_b]]
    registers, reg_flags = registers_to_grid(
        reg_rows, np.r_[buckets.first_us[meter_b], buckets.last_us[meter_b]], reg_values, **grid
    )
    # Sensors: each bucket at the middle of its readings, weighted by how many it holds.
    sb = ~meter_b
    middle = (buckets.first_us[sb] + buckets.last_us[sb]) // 2
    sums, _ = mean_to_grid(row[sb], middle, buckets.sum[sb], **grid)
    counts, _ = mean_to_grid(row[sb], middle, buckets.n[sb].astype(np.float64), **grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        instant = sums / counts

    building_ids = sorted({p.building_id for p in points})
    b_index = {b: k for k, b in enumerate(building_ids)}
    kind_of = {p.building_id: p.building_kind for p in points}
    roles = [role_of(p) for p in points]
    layout = suite.Layout(
        role=roles,
        building=np.array([b_index[p.building_id] for p in points], dtype=np.int64),
        building_kind=[
            k if k in ("government", "school", "hospital") else "other"
            for k in (kind_of[b] for b in building_ids)
        ],
        multiplier=np.array([p.multiplier for p in points], dtype=np.float64),
        rollover=np.array([p.rollover_value or np.inf for p in points], dtype=np.float64),
        resolution=resolution(reg_rows, reg_values, len(points)),
    )
    meter_rows = np.flatnonzero(np.isin(roles, list(suite.METER_ROLES)))
    meter_of = {int(ids[r]): k for k, r in enumerate(meter_rows)}
    slot_ends = lo_us + np.arange(1, n + 1, dtype=np.int64) * STEP_S * 1_000_000
    events: list[Replacement] = []
    for ev in replacements:
        slot = int(np.searchsorted(slot_ends, _us(ev.replaced_at)))
        if ev.point_id not in meter_of or not 0 <= slot < n:
            continue
        if ev.old_final_value is None:
            log.warning("meter replacement of point %s has no old_final_value", ev.point_id)
            continue
        mult = points[int(order[np.searchsorted(ids[order], ev.point_id)])].multiplier
        events.append(
            Replacement(
                meter_of[ev.point_id],
                slot,
                float(ev.old_final_value),
                float(ev.new_initial_value or 0.0),
                float(ev.new_multiplier or mult),
            )
        )
    return Grids(registers, reg_flags, instant, layout, events, cumulative, slot_ends)


def window_use(
    conn: psycopg.Connection, points: Sequence[store.PointRow], lo: dt.datetime, hi: dt.datetime
) -> tuple[suite.Analysis, Grids]:
    """The use of the points' meters over a window read from the store (the suite's
    consumption tier: rollovers, resets, replacements, gaps and stuck registers spread by the
    meter's profile, every decision flagged), and the window's grids; ``lo`` a local midnight
    of the points' buildings (one UTC offset), both on the 15-minute grid."""
    ids = [p.id for p in points]
    buckets = store.read_buckets(conn, ids, lo - STEP, hi + STEP)
    g = window_grids(points, buckets, store.replacements(conn, ids, lo, hi), lo=lo, hi=hi)
    result = suite.analyze(
        g.registers,
        g.instant,
        g.layout,
        start_us=_us(lo),
        step_s=STEP_S,
        register_flags=g.register_flags,
        replacements=g.replacements,
        utc_offset_s=int(lo.utcoffset().total_seconds()),  # type: ignore[union-attr]
        tiers=("consumption",),
    )
    return result, g


def analyze_window(
    points: Sequence[store.PointRow],
    buckets: store.Buckets,
    replacements: Sequence[store.ReplacementRow],
    *,
    lo: dt.datetime,
    hi: dt.datetime,
    utc_offset_s: int,
    factors: factorlib.Factors,
    first_seen: Mapping[int, dt.datetime] | None = None,
) -> WindowResult:
    """Run the suite over one window of some buildings' points; return their runs.

    Parameters
    ----------
    points : sequence of PointRow
        The points of the buildings, grouped by building.
    buckets : Buckets
        Their ``v_rollup_15m`` rows from ``lo - 15 min`` to ``hi + 15 min``.
    replacements : sequence of ReplacementRow
        Their meter replacements in the window.
    lo, hi : datetime
        The window: ``lo`` is a local midnight, both on the 15-minute grid.
    utc_offset_s : int
        The buildings' offset from UTC (China: 8 h).
    factors : Factors
        Standard coal, CO2 and prices for the impact of waste.
    first_seen : mapping of point id to datetime, optional
        Each point's first reading ever: no silence is reported before it (a meter that
        was not installed yet), nor on points that never reported.
    """
    n = int((hi - lo) / STEP)
    lo_us = _us(lo)
    g = window_grids(points, buckets, replacements, lo=lo, hi=hi)
    registers, reg_flags, instant, layout = g.registers, g.register_flags, g.instant, g.layout
    cumulative, slot_ends, events = g.cumulative, g.slot_ends, g.replacements
    roles = list(layout.role)
    result = suite.analyze(
        registers,
        instant,
        layout,
        start_us=lo_us,
        step_s=STEP_S,
        register_flags=reg_flags,
        replacements=events,
        utc_offset_s=utc_offset_s,
    )

    has_heat = {p.building_id for p, r in zip(points, roles, strict=True) if r == "heat"}

    def carrier(k: int, rule: str) -> str | None:
        p = points[k]
        if p.cumulative:
            return factorlib.CARRIER_OF_CLASS.get((p.energy_code or "")[:2])
        if rule == "overheating" and p.building_id in has_heat:
            return "heat"
        return "electricity" if rule in ("overcooling", "overheating") else None

    def at(slot: int) -> dt.datetime:
        return min(lo + slot * STEP, hi)

    runs = []
    for f in result.findings:
        p = points[f.point]
        waste_ = db.finite(f.waste)
        evidence = dict(f.evidence)
        if "zones" in evidence:  # grid rows of the zones that broke a setpoint → their keys
            evidence["zones"] = [points[int(z)].key for z in evidence["zones"]]
        unit = f.waste_unit
        impact: Mapping[str, float | np.ndarray] = {}
        c = carrier(f.point, f.rule)
        if f.rule in store.RATE_RULES:
            unit += "/d"
            if c and waste_ is not None:
                per_day = factors.impact(c, waste_)
                evidence["impact_per_day"] = {k: float(v) for k, v in per_day.items()}
        elif f.rule in COSTED and c and waste_ is not None:
            impact = factors.impact(c, waste_)
        runs.append(
            store.Run(
                p.id,
                f.rule,
                at(f.start),
                at(f.end),
                f.severity,
                db.finite(f.score),
                waste_,
                unit,
                db.finite(impact.get("kgce")),  # type: ignore[arg-type]
                db.finite(impact.get("kgco2")),  # type: ignore[arg-type]
                db.finite(impact.get("cny")),  # type: ignore[arg-type]
                _finite(evidence),  # type: ignore[arg-type]
            )
        )

    # Data quality: silence, stuck registers, resets, spikes, clock skew.
    use_flags = np.zeros((len(points), n), dtype=np.uint16)
    use_flags[result.meters] = result.use_flags
    silent = np.where(cumulative[:, None], (reg_flags & F.GAP) > 0, np.isnan(instant))
    first = np.array(
        [_us(first_seen[p.id]) if first_seen and p.id in first_seen else 2**62 for p in points]
    )
    silent &= slot_ends[None, :] > first[:, None]
    spikes = result.spikes | ((use_flags & F.SPIKE) > 0)
    quality = (
        ("gap", silent, GAP_MIN_SLOTS),
        ("stuck", (use_flags & F.STUCK) > 0, 1),
        ("reset", (use_flags & F.RESET) > 0, 1),
        ("spike", spikes, 1),
        ("clock_skew", (use_flags & F.CLOCK_SKEW) > 0, CLOCK_SKEW_MIN_SLOTS),
    )
    for rule, mask, min_slots in quality:
        rows, starts, ends = find_runs(mask)
        for k, a, b in zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True):
            if b - a < min_slots:
                continue
            slots = b - a
            severity = (
                ("high" if slots >= 96 else "medium")
                if rule == "gap"
                else "medium"
                if rule == "stuck"
                else "low"
            )
            runs.append(
                store.Run(
                    points[k].id,
                    rule,
                    at(a),
                    at(b),
                    severity,
                    slots / min_slots,
                    None,
                    "",
                    evidence={"slots": slots},
                )
            )
    return WindowResult(runs, judged_spans(lo, n))


# --- rounds ----------------------------------------------------------------------------------


@dataclass
class Report:
    """What one round did: outcome counts per rule, and how."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    open_now: dict[str, int] = field(default_factory=dict)
    buildings: int = 0
    windows: int = 0
    late_windows: int = 0
    late_days: int = 0
    failed_batches: int = 0
    unknown_buildings: list[str] = field(default_factory=list)  # --building codes not found
    rollups_refreshed: bool = False
    skipped: bool = False
    until: dt.datetime | None = None
    seconds: float = 0.0

    def add(self, outcomes: Sequence[store.Outcome]) -> None:
        for o in outcomes:
            for kind in o.kinds:
                self.counts.setdefault(o.incident.rule, Counter())[kind] += 1

    def as_log(self) -> dict[str, object]:
        totals: Counter[str] = Counter()
        for c in self.counts.values():
            totals.update(c)
        return {
            "until": self.until.isoformat() if self.until else None,
            "buildings": self.buildings,
            "windows": self.windows,
            "late_windows": self.late_windows,
            "late_days": self.late_days,
            "failed_batches": self.failed_batches,
            "rollups_refreshed": self.rollups_refreshed,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            **{kind: totals[kind] for kind in KINDS},
            "by_rule": {rule: dict(c) for rule, c in sorted(self.counts.items())},
            "open": dict(sorted(self.open_now.items())),
        }


def floor_slot(t: dt.datetime) -> dt.datetime:
    """``t`` down to the 15-minute grid (UTC)."""
    us = _us(t)
    return _at(us - us % (STEP_S * 1_000_000))


def window_start(until: dt.datetime, days: int, offset_s: int) -> dt.datetime:
    """The local midnight ``days`` before ``until``'s local date (zone ``offset_s``)."""
    day_us = 86_400_000_000
    off = offset_s * 1_000_000
    return _at(((_us(until) + off) // day_us - days) * day_us - off)


def day_buckets(lo: dt.datetime, hi: dt.datetime, tz: str) -> list[dt.datetime]:
    """Starts of the ``v_rollup_1d`` days (local days of ``tz``) that lie wholly in [lo, hi)."""
    zone = ZoneInfo(tz)
    local = lo.astimezone(zone)
    date = local.date()
    if local.timetz().replace(tzinfo=None) != dt.time():
        date += DAY
    out = []
    while True:
        start = dt.datetime.combine(date, dt.time(), zone)
        if dt.datetime.combine(date + DAY, dt.time(), zone) > hi:
            return out
        out.append(start.astimezone(dt.UTC))
        date += DAY


@dataclass
class _Window:
    lo: dt.datetime
    hi: dt.datetime
    buildings: list[int]
    authority: list[tuple[dt.datetime, dt.datetime]] | None = None
    counts: dict[tuple[int, dt.datetime], int] | None = None  # late days' counts


def _late_windows(
    late: Mapping[int, Mapping[dt.datetime, int]],
    *,
    until: dt.datetime,
    days: int,
    offset_s: int,
    limit: int,
) -> list[_Window]:
    """Windows that analyse the late days again, each day centred where it can be."""
    found: dict[tuple[dt.datetime, dt.datetime], _Window] = {}
    for b, day_counts in sorted(late.items()):
        pending = sorted(day_counts, reverse=True)
        while pending and len(found) < limit:
            hi = min(window_start(pending[0], -(1 + days // 2), offset_s), until)
            lo = window_start(hi, days, offset_s)
            covered = [d for d in pending if lo <= d and d + DAY <= hi] or [pending[0]]
            pending = [d for d in pending if d not in covered]
            w = found.setdefault((lo, hi), _Window(lo, hi, [], [], {}))
            w.buildings.append(b)
            assert w.authority is not None and w.counts is not None
            w.authority += [(d - DAY, d + 2 * DAY) for d in covered]
            w.counts.update({(b, d): day_counts[d] for d in covered})
    return list(found.values())


def _batches(points: Sequence[store.PointRow], size: int, at: dt.datetime):
    """Points grouped into batches of at most ``size`` buildings of one UTC offset."""
    by_offset: dict[int, dict[int, list[store.PointRow]]] = {}
    for p in points:
        offset = ZoneInfo(p.time_zone).utcoffset(at)
        seconds = int(offset.total_seconds()) if offset is not None else 0
        by_offset.setdefault(seconds, {}).setdefault(p.building_id, []).append(p)
    for offset, buildings in sorted(by_offset.items()):
        ids = sorted(buildings)
        for k in range(0, len(ids), size):
            yield offset, {b: buildings[b] for b in ids[k : k + size]}


def run_once(
    settings: Settings,
    *,
    until: dt.datetime | None = None,
    days: int | None = None,
    building_codes: Sequence[str] | None = None,
    wait: bool = True,
    stop: threading.Event | None = None,
) -> Report:
    """One round of analysis over every building (or those with ``building_codes``).

    Parameters
    ----------
    settings : Settings
        Database, window length (``analyze_days``), grace, late-data horizon, batch size,
        factors.
    until : datetime, optional
        End of the window (default now); floored to the 15-minute grid.
    days : int, optional
        Window length in days (default ``settings.analyze_days``).
    building_codes : sequence of str, optional
        Analyse only these buildings.
    wait : bool
        Wait for another analysis run to finish (else skip this round).
    stop : threading.Event, optional
        Set it to stop between batches.
    """
    started = time.monotonic()
    s = settings
    days = days or s.analyze_days
    until = floor_slot(until or dt.datetime.now(dt.UTC))
    grace = dt.timedelta(seconds=s.analyze_grace_s)
    version = detector_version()
    factors = factorlib.load(
        s.analyze_factors_file or factorlib.DEFAULT_FILE, s.analyze_electricity_method
    )
    report = Report(until=until)
    with db.connect(s.database_url, application_name="jieneng-analyze", autocommit=True) as conn:
        if not store.lock_analysis(conn, wait=wait):
            report.skipped = True
            log.info("another analysis is running: round skipped")
            return report
        try:
            report.rollups_refreshed = store.refresh_rollups_if_idle(conn)
            service_tz = store.service_tz(conn)
            pts = store.points(conn, building_codes)
            report.buildings = len({p.building_id for p in pts})
            report.unknown_buildings = sorted(
                set(building_codes or ()) - {p.building_code for p in pts}
            )
            for offset, group in _batches(pts, s.analyze_batch_buildings, until):
                if stop is not None and stop.is_set():
                    break
                try:
                    _run_batch(
                        conn,
                        group,
                        offset_s=offset,
                        until=until,
                        days=days,
                        grace=grace,
                        late_days=s.analyze_late_days,
                        service_tz=service_tz,
                        factors=factors,
                        version=version,
                        report=report,
                    )
                except Exception:  # one batch's failure does not stop the others
                    log.exception("analysis of buildings %s failed", sorted(group))
                    report.failed_batches += 1
            horizon = until - (days + s.analyze_late_days + 1) * DAY
            store.prune_days(conn, horizon)
            report.open_now = _open_counts(conn, sorted({p.building_id for p in pts}))
        finally:
            store.unlock_analysis(conn)
    report.seconds = time.monotonic() - started
    log.info("analysis run", extra={"data": report.as_log()})
    return report


def _open_counts(conn: psycopg.Connection, building_ids: list[int]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT rule, count(*) FROM anomalies WHERE status = 'open' AND building_id = ANY(%s)"
        " GROUP BY rule",
        (building_ids,),
    ).fetchall()
    return {rule: int(n) for rule, n in rows}


def _run_batch(
    conn: psycopg.Connection,
    group: Mapping[int, list[store.PointRow]],
    *,
    offset_s: int,
    until: dt.datetime,
    days: int,
    grace: dt.timedelta,
    late_days: int,
    service_tz: str,
    factors: factorlib.Factors,
    version: str,
    report: Report,
) -> None:
    building_ids = sorted(group)
    lo = window_start(until, days, offset_s)
    stored = store.watermarks(conn, building_ids)
    watermark: dict[int | None, dt.datetime] = {
        b: max(stored.get(b, until), until) for b in building_ids
    }
    late = store.late_days(conn, building_ids, lo - late_days * DAY, lo) if late_days else {}
    windows = _late_windows(late, until=until, days=days, offset_s=offset_s, limit=4)
    report.late_windows += len(windows)
    report.late_days += sum(len(w.counts or {}) for w in windows)
    windows.append(_Window(lo, until, building_ids))
    for w in windows:
        pts = [p for b in w.buildings for p in group[b]]
        counts = w.counts
        if counts is None:  # counted before reading: a reading that lands meanwhile is late
            counts = store.day_counts(conn, w.buildings, day_buckets(w.lo, w.hi, service_tz))
        ids = [p.id for p in pts]
        buckets = store.read_buckets(conn, ids, w.lo - STEP, w.hi + STEP)
        events = store.replacements(conn, ids, w.lo, w.hi)
        result = analyze_window(
            pts,
            buckets,
            events,
            lo=w.lo,
            hi=w.hi,
            utc_offset_s=offset_s,
            factors=factors,
            first_seen=store.first_readings(conn, ids),
        )
        with conn.transaction():
            incidents = store.load_incidents(conn, ids, w.lo, w.hi, grace)
            outcomes = store.reconcile(
                incidents,
                result.runs,
                window=(w.lo, w.hi),
                authority=w.authority,
                judged=result.judged,
                grace=grace,
                watermark=watermark,
                building_of={p.id: p.building_id for p in pts},
                now=dt.datetime.now(dt.UTC),
            )
            store.write(conn, outcomes, version)
            store.save_day_counts(conn, counts)
            if w.authority is None:
                store.save_watermarks(conn, w.buildings, (w.lo, w.hi), version)
        report.add(outcomes)
        report.windows += 1
        if w.authority is not None:
            log.info(
                "late readings analysed again",
                extra={
                    "data": {
                        "buildings": w.buildings,
                        "window": [w.lo.isoformat(), w.hi.isoformat()],
                        "days": sorted({d.isoformat() for _, d in counts}),
                    }
                },
            )


# --- schedules -------------------------------------------------------------------------------


def serve(
    settings: Settings,
    *,
    every_s: float,
    stop: threading.Event,
    alive: Callable[[], bool] = lambda: True,
    on_report: Callable[[Report], None] | None = None,
    **options: object,
) -> None:
    """Run a round every ``every_s`` seconds (from the start of the previous one) until
    ``stop`` is set or ``alive()`` turns false; a failed round is logged and retried next
    time. ``options`` go to :func:`run_once`."""
    while not stop.is_set() and alive():
        due = time.monotonic() + every_s
        try:
            report = run_once(settings, wait=False, stop=stop, **options)  # type: ignore[arg-type]
            if on_report is not None:
                on_report(report)
        except Exception:
            log.exception("analysis round failed")
        alert(settings)
        measure_contracts(settings, stop=lambda: stop.is_set() or not alive())
        while not stop.is_set() and alive() and time.monotonic() < due:
            stop.wait(min(1.0, max(0.0, due - time.monotonic())))


def alert(settings: Settings) -> None:
    """After a round: alerts from the findings and their notifications (alerting.engine);
    a failure is logged, never raised (the next round tries again)."""
    from alerting import engine

    try:
        with db.connect(settings.database_url, application_name="jieneng-alerts",
                        autocommit=True) as conn:  # fmt: skip
            counts = engine.run(conn, settings)
        if counts:
            log.info("alerts", extra={"data": dict(counts)})
    except Exception:
        log.exception("alerting failed")


#: Contracts whose measurement failed, and the (UTC) day it did: tried again the next day.
_FAILED: dict[str, dt.date] = {}


def measure_contracts(settings: Settings, stop: Callable[[], bool] = lambda: False) -> None:
    """After a round: every 合同能源管理 contract measured to date once a day
    (:func:`jieneng.emc.measure_to_date`, for the audit & M&V dashboard); one that fails is
    logged and left until the next day; a failure is never raised."""
    from jieneng import emc

    today = dt.datetime.now(dt.UTC).date()
    failed_today = {code for code, day in _FAILED.items() if day == today}
    try:
        with db.connect(settings.database_url, application_name="jieneng-emc",
                        autocommit=True) as conn:  # fmt: skip
            done = emc.measure_to_date(conn, skip=failed_today, stop=stop)
    except Exception:
        log.exception("measuring contracts failed")
        return
    failed = {k: v for k, v in done.items() if v not in ("measured", "current", "skipped")}
    _FAILED.update(dict.fromkeys(failed, today))
    if failed:
        log.warning("contracts not measured", extra={"data": failed})
    measured = [k for k, v in done.items() if v == "measured"]
    if measured:
        log.info("contracts measured to date", extra={"data": {"contracts": measured}})


def _background(settings: Settings, stop: Any) -> None:
    from jieneng import logs

    logs.setup(settings.log_format)
    local = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        local.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # The parent's stop() sets ``stop``: pass it on at once (a round checks between batches).
    threading.Thread(target=lambda: (stop.wait(), local.set()), daemon=True).start()
    parent = mp.parent_process()
    assert settings.analyze_every_s is not None
    log.info("analysis job started", extra={"data": {"every_s": settings.analyze_every_s}})
    serve(
        settings,
        every_s=settings.analyze_every_s,
        stop=local,
        alive=lambda: parent is None or parent.is_alive(),
    )
    log.info("analysis job stopped")


class Background:
    """The analysis job in a child process of ``jieneng ingest`` (``JIENENG_ANALYZE_EVERY_S``):
    its own interpreter and connections, so the collector never waits for it. It stops with
    :meth:`stop`, on SIGTERM/SIGINT, or when its parent is gone."""

    def __init__(self, settings: Settings) -> None:
        ctx = mp.get_context("spawn")
        self._stop = ctx.Event()
        self.process = ctx.Process(
            target=_background, args=(settings, self._stop), name="jieneng-analyze"
        )

    def start(self) -> None:
        self.process.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self.process.join(timeout_s)
        if self.process.is_alive():
            log.warning("analysis job still busy after %.0f s; terminating it", timeout_s)
            self.process.terminate()
            self.process.join(10)


# --- output ----------------------------------------------------------------------------------


def summary_table(report: Report) -> Table:
    """What a round did per rule, for people (中文 and English)."""
    title = (
        "分析跳过 analysis skipped: another run holds the lock"
        if report.skipped
        else f"分析 analysis up to {report.until:%Y-%m-%d %H:%M}Z: {report.buildings} buildings,"
        f" {report.windows} windows ({report.late_windows} for late readings),"
        f" {report.seconds:.1f} s"
    )
    table = Table(title=title)
    table.add_column("规则 rule", no_wrap=True)
    for zh, en in (
        ("新开", "opened"),
        ("已结束", "recorded"),
        ("延续", "extended"),
        ("更新", "updated"),
        ("关闭", "closed"),
        ("撤回", "retracted"),
        ("未结", "open now"),
    ):
        table.add_column(f"{zh} {en}", justify="right")
    rules = sorted(
        set(report.counts) | set(report.open_now), key=lambda r: (r not in RULE_NAMES, r)
    )
    for rule in rules:
        zh, en = RULE_NAMES.get(rule, (rule, rule))
        c = report.counts.get(rule, Counter())
        table.add_row(
            f"{zh} {en}",
            *(str(c[k]) for k in KINDS),
            str(report.open_now.get(rule, 0)),
        )
    return table
