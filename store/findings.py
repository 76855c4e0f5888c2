"""The anomalies table and the windows the analysis job reads: typed queries, and the rules
that turn one analysis's findings into rows.

Model
-----
A **run** is one contiguous stretch of slots a rule found on one point (a night of after-hours
lighting, a day of sub-meter imbalance). An **incident** (one row of ``anomalies``) is the runs
of one (point, rule) chained while each starts within ``grace`` of the previous one's end, so
a leak that shows every night is one finding. :func:`reconcile` applies one analysis of a
window ``[lo, hi)`` to the stored incidents:

1. A found run replaces the stored runs it overlaps. Their parts outside the window (or outside
   the span the analysis was asked to redo, see *authority*) are kept pro rata to their length,
   so no slot's waste counts twice; the analysis is authoritative for the rest. Estimates
   that moved by less than :data:`REVISE_TOLERANCE` keep their stored values (a window that
   slid by 15 minutes shifts every profile a little).
2. A stored run inside the window and inside the span the rule could judge there
   (``judged``: e.g. only the last 7 days for baseline residuals; never for level shifts)
   that the analysis no longer finds is dropped; an incident left without runs is
   ``retracted`` (late data filled the gap that raised it, say).
3. A new run joins the incident of the run before it (or else after it) when it is within
   ``grace`` and that incident can take it: it is open, or closed and the run is history
   (``end + grace <= watermark``). Otherwise it opens an incident. A ``resolved`` incident
   (closed by a user) takes no new runs: a recurrence is a new finding.
4. An open incident whose end + grace is at or before the building's watermark (the end of
   its newest analysed window) is closed; a new one is open only if it is not. So there is at
   most one open incident per (point, rule), which a partial unique index also enforces.

Totals: waste and its kgce, kgCO2 and CNY are the sums over the runs; for rate rules
(:data:`RATE_RULES`: a level shift's waste is a change per day) the latest run's value.

Late data: :func:`late_days` compares the readings per building and day in ``v_rollup_1d``
with the counts stored when the day was last analysed (``analysis_days``). Readings are only
ever added (the writer never updates), so a larger count means readings arrived after the
analysis; the same query works on both storage paths, once the rollups are refreshed
(:func:`refresh_rollups_if_idle`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from store import maintenance
from store.db import json_dumps
from store.writer import PG_EPOCH_US

#: Rules whose waste is a rate (per day), not an amount: incidents take the latest run's.
RATE_RULES = frozenset({"level_shift"})
STATUSES = ("open", "closed", "resolved", "retracted")
#: A re-found run whose estimates moved less than this (relative) keeps its stored values:
#: a window that slid by 15 minutes shifts every profile a little.
REVISE_TOLERANCE = 0.02
SEVERITIES = ("low", "medium", "high")
_ANALYZE_LOCK = "jieneng.analyze"
_MAINTENANCE_LOCK = "jieneng.maintenance"  # the one store.maintenance.run takes

Span = tuple[dt.datetime, dt.datetime]


# --- runs and incidents ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """One run found on one point by one rule; times are slot bounds (UTC)."""

    point_id: int
    rule: str
    start: dt.datetime
    end: dt.datetime
    severity: str
    score: float | None
    waste: float | None
    waste_unit: str
    kgce: float | None = None
    kgco2: float | None = None
    cny: float | None = None
    evidence: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "start": _iso(self.start),
            "end": _iso(self.end),
            "severity": self.severity,
            "score": self.score,
            "waste": self.waste,
            "kgce": self.kgce,
            "kgco2": self.kgco2,
            "cny": self.cny,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_json(cls, point_id: int, rule: str, unit: str, d: Mapping[str, object]) -> Run:
        return cls(
            point_id,
            rule,
            dt.datetime.fromisoformat(str(d["start"])),
            dt.datetime.fromisoformat(str(d["end"])),
            str(d["severity"]),
            _num(d.get("score")),
            _num(d.get("waste")),
            unit,
            _num(d.get("kgce")),
            _num(d.get("kgco2")),
            _num(d.get("cny")),
            dict(d.get("evidence") or {}),  # type: ignore[call-overload]
        )


@dataclass(slots=True)
class Incident:
    """A row of ``anomalies`` (``id`` None until inserted)."""

    id: int | None
    point_id: int
    building_id: int | None
    rule: str
    status: str
    waste_unit: str
    runs: list[Run]
    last_seen_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None

    @property
    def started_at(self) -> dt.datetime:
        return min(r.start for r in self.runs)

    @property
    def ended_at(self) -> dt.datetime:
        return max(r.end for r in self.runs)

    def totals(self) -> dict[str, object]:
        """Columns derived from the runs (see the module docstring)."""
        runs = sorted(self.runs, key=lambda r: r.start)
        latest = runs[-1]
        out: dict[str, object] = {}
        for name in ("waste", "kgce", "kgco2", "cny"):
            if self.rule in RATE_RULES:
                out[name] = getattr(latest, name)
            else:
                values = [getattr(r, name) for r in runs if getattr(r, name) is not None]
                out[name] = float(sum(values)) if values else None
        scores = [r.score for r in runs if r.score is not None]
        out["score"] = max(scores) if scores else None
        out["severity"] = max((r.severity for r in runs), key=SEVERITIES.index)
        out["evidence"] = dict(latest.evidence)
        return out

    def runs_json(self) -> list[dict[str, object]]:
        return [r.to_json() for r in sorted(self.runs, key=lambda r: r.start)]


@dataclass(slots=True)
class Outcome:
    """What one analysis did to one incident: ``kinds`` ⊆ {opened, recorded (new and already
    over), extended, updated, closed, retracted}; empty when nothing changed."""

    incident: Incident
    kinds: set[str]
    new: bool
    changed: bool
    seen: bool = False  # found again by this analysis (``last_seen_at`` moves)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


def _num(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _material(old: list[dict[str, object]], new: list[dict[str, object]]) -> bool:
    """Whether runs differ by more than a moved window's noise: other slots or severity, or
    an estimate off by more than :data:`REVISE_TOLERANCE`."""
    if len(old) != len(new):
        return True
    for a, b in zip(old, new, strict=True):
        if any(a[k] != b[k] for k in ("start", "end", "severity")):
            return True
        for k in ("score", "waste", "kgce", "kgco2", "cny"):
            x, y = a.get(k), b.get(k)
            if (x is None) != (y is None):
                return True
            if x is not None and y is not None:
                x, y = float(x), float(y)  # type: ignore[arg-type]
                if abs(x - y) > REVISE_TOLERANCE * max(abs(x), abs(y)):
                    return True
    return False


def _overlap(a0: dt.datetime, a1: dt.datetime, b0: dt.datetime, b1: dt.datetime) -> bool:
    return a0 < b1 and b0 < a1


def _outside_share(run: Run, lo: dt.datetime, hi: dt.datetime) -> float:
    """Share of the run's length outside [lo, hi)."""
    length = (run.end - run.start).total_seconds()
    inside = (min(run.end, hi) - max(run.start, lo)).total_seconds()
    return 0.0 if length <= 0 else max(0.0, 1.0 - max(inside, 0.0) / length)


def _scaled(value: float | None, share: float) -> float | None:
    return None if value is None else value * share


def _add(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


# --- applying one analysis -------------------------------------------------------------------


def reconcile(
    incidents: Sequence[Incident],
    found: Iterable[Run],
    *,
    window: Span,
    authority: Sequence[Span] | None = None,
    judged: Mapping[str, Span | None],
    grace: dt.timedelta,
    watermark: Mapping[int | None, dt.datetime],
    building_of: Mapping[int, int | None],
    now: dt.datetime,
) -> list[Outcome]:
    """Apply the runs one analysis found in ``window`` to the stored incidents.

    Parameters
    ----------
    incidents : sequence of Incident
        Stored incidents of the analysed points that are open or reach within ``grace`` of the
        window (:func:`load_incidents`), with all their runs; not retracted ones.
    found : iterable of Run
        The analysis's runs, each inside ``window``.
    window : (datetime, datetime)
        The analysed slots ``[lo, hi)``.
    authority : sequence of (datetime, datetime), optional
        The spans this analysis redoes (default the whole window). A re-analysis for late
        data redoes only the late days: runs elsewhere are left alone.
    judged : mapping of rule to (datetime, datetime) or None
        Where each rule could have found a run in this window; stored runs there that it did
        not find again are dropped. None (or a rule not in the mapping): never drop.
    grace : timedelta
        Runs closer than this chain into one incident; an open incident closes once the
        watermark is ``grace`` past its end.
    watermark : mapping of building id to datetime
        End of the newest window analysed per building (this one included).
    building_of : mapping of point id to building id
        For new incidents.
    now : datetime
        Time of the analysis (``last_seen_at``, ``closed_at``).

    Returns
    -------
    list of Outcome
        One per incident given or created, in a safe order to write (see :func:`write`).
    """
    lo, hi = window
    spans = [(max(a, lo), min(b, hi)) for a, b in (authority or [window])]
    spans = [(a, b) for a, b in spans if a < b]
    by_key: dict[tuple[int, str], list[Run]] = {}
    for run in found:
        if any(_overlap(run.start, run.end, a, b) for a, b in spans):
            by_key.setdefault((run.point_id, run.rule), []).append(run)
    stored: dict[tuple[int, str], list[Incident]] = {}
    for inc in incidents:
        stored.setdefault((inc.point_id, inc.rule), []).append(inc)
    outcomes: list[Outcome] = []
    for key in sorted(set(by_key) | set(stored)):
        outcomes += _reconcile_key(
            key,
            stored.get(key, []),
            sorted(by_key.get(key, []), key=lambda r: r.start),
            spans=spans,
            window=window,
            judged=judged.get(key[1]),
            grace=grace,
            watermark=watermark,
            building_of=building_of,
            now=now,
        )
    # Writes that free the (point, rule) open slot go first (see write()).
    outcomes.sort(key=lambda o: (o.new, o.incident.status == "open"))
    return outcomes


def _reconcile_key(
    key: tuple[int, str],
    incidents: list[Incident],
    found: list[Run],
    *,
    spans: list[Span],
    window: Span,
    judged: Span | None,
    grace: dt.timedelta,
    watermark: Mapping[int | None, dt.datetime],
    building_of: Mapping[int, int | None],
    now: dt.datetime,
) -> list[Outcome]:
    point_id, rule = key
    before = {id(inc): (inc.status, inc.runs_json()) for inc in incidents}
    existing = [(run, inc) for inc in incidents for run in inc.runs]
    consumed: set[int] = set()
    placed: list[tuple[Run, Incident | None, bool]] = []  # run, incident, found now

    # 1. Found runs replace the stored runs they overlap (parts outside the span kept).
    for f in found:
        a, b = max(spans, key=lambda s: min(f.end, s[1]) - max(f.start, s[0]))
        run = f
        owners: list[Incident] = []
        for i, (e, inc) in enumerate(existing):
            if i in consumed or not _overlap(e.start, e.end, f.start, f.end):
                continue
            consumed.add(i)
            owners.append(inc)
            share = _outside_share(e, a, b)
            if share > 0:
                run = replace(
                    run,
                    start=min(run.start, e.start),
                    end=max(run.end, e.end),
                    severity=max(run.severity, e.severity, key=SEVERITIES.index),
                    waste=_add(run.waste, _scaled(e.waste, share)),
                    kgce=_add(run.kgce, _scaled(e.kgce, share)),
                    kgco2=_add(run.kgco2, _scaled(e.kgco2, share)),
                    cny=_add(run.cny, _scaled(e.cny, share)),
                )
        owner = min(owners, key=lambda i: (i.status != "open", i.id or 0)) if owners else None
        placed.append((run, owner, True))

    # 2. Stored runs the analysis judged but did not find again are dropped.
    lo, hi = window
    for i, (e, inc) in enumerate(existing):
        if i in consumed:
            continue
        judged_here = (
            judged is not None
            and max(judged[0], lo) <= e.start
            and e.end <= min(judged[1], hi)
            and any(a <= e.start and e.end <= b for a, b in spans)
        )
        if not judged_here:
            placed.append((e, inc, False))

    # 3. New runs join a neighbouring incident within the grace, or open one.
    placed.sort(key=lambda p: p[0].start)
    fresh: list[Incident] = []
    building = building_of.get(point_id)
    if incidents:
        building = incidents[0].building_id

    def joinable(inc: Incident | None, run: Run) -> bool:
        if inc is None:
            return False
        if inc.id is None or inc.status == "open":
            return True
        wm = watermark.get(inc.building_id, run.end)
        return inc.status == "closed" and run.end + grace <= wm

    for k, (run, inc, now_found) in enumerate(placed):
        if inc is not None:
            continue
        target = None
        if k > 0 and run.start - placed[k - 1][0].end <= grace:
            prev = placed[k - 1][1]
            target = prev if joinable(prev, run) else None
        if target is None and k + 1 < len(placed) and placed[k + 1][0].start - run.end <= grace:
            nxt = placed[k + 1][1]
            target = nxt if joinable(nxt, run) else None
        if target is None:
            unit = run.waste_unit
            target = Incident(None, point_id, building, rule, "open", unit, [], now)
            fresh.append(target)
        placed[k] = (run, target, now_found)

    # 4. Totals and status.
    runs_of: dict[int, list[Run]] = {}
    seen: set[int] = set()
    for run, inc, now_found in placed:
        assert inc is not None
        runs_of.setdefault(id(inc), []).append(run)
        if now_found:
            seen.add(id(inc))
    outcomes = []
    for inc in [*incidents, *fresh]:
        inc.runs = sorted(runs_of.get(id(inc), []), key=lambda r: r.start)
        new = inc.id is None
        kinds: set[str] = set()
        if id(inc) in seen:
            inc.last_seen_at = now
        if not inc.runs:
            if new:
                continue
            if inc.status != "retracted":
                inc.status = "retracted"
                kinds.add("retracted")
        elif new or inc.status == "open":
            wm = watermark.get(inc.building_id, hi)
            status = "open" if inc.ended_at + grace > wm else "closed"
            if status == "closed":
                inc.closed_at = now
                if not new:
                    kinds.add("closed")
            inc.status = status
        if new:
            kinds.add("opened" if inc.status == "open" else "recorded")
        else:
            old_status, old_runs = before[id(inc)]
            if inc.runs and _material(old_runs, inc.runs_json()):
                old_end = max((r["end"] for r in old_runs), default="")
                grew = len(old_runs) < len(inc.runs) or _iso(inc.ended_at) > str(old_end)
                kinds.add("extended" if grew else "updated")
            elif inc.runs:  # the window moved a little: keep the stored estimate
                inc.runs = [Run.from_json(point_id, rule, inc.waste_unit, r) for r in old_runs]
        changed = new or bool(kinds) or inc.status != before[id(inc)][0]
        outcomes.append(Outcome(inc, kinds, new, changed, id(inc) in seen))
    # Never two open incidents on one (point, rule): keep the latest.
    open_ = [o for o in outcomes if o.incident.status == "open"]
    for o in sorted(open_, key=lambda o: o.incident.ended_at)[:-1]:
        o.incident.status, o.incident.closed_at = "closed", now
        o.kinds.add("closed")
        o.changed = True
    return outcomes


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PointRow:
    """A point of an analysed building, as the job needs it."""

    id: int
    key: str
    name: str | None
    quantity: str
    energy_code: str | None
    cumulative: bool
    multiplier: float
    rollover_value: float | None
    parent_id: int | None
    location: str | None
    building_id: int
    building_code: str
    time_zone: str
    building_kind: str  # institutions.type


def points(conn: psycopg.Connection, building_codes: Sequence[str] | None = None) -> list[PointRow]:
    """Points of the buildings (all buildings, or those with the given codes), by building."""
    rows = conn.execute(
        """SELECT p.id, p.key, p.name, p.quantity, p.energy_code, p.cumulative, p.multiplier,
                  p.rollover_value, p.parent_id, p.location, b.id, b.code, b.time_zone, i.type
           FROM points p JOIN buildings b ON b.id = p.building_id
                         JOIN institutions i ON i.id = b.institution_id
           WHERE %(codes)s::text[] IS NULL OR b.code = ANY(%(codes)s)
           ORDER BY b.id, p.id""",
        {"codes": list(building_codes) if building_codes is not None else None},
    ).fetchall()
    return [PointRow(*row) for row in rows]


#: One bucket as :func:`read_buckets` has the server pack it (PostgreSQL's binary send
#: formats: timestamptz = µs since 2000-01-01 UTC, big-endian).
_BUCKET = np.dtype(
    [
        ("bucket", ">i8"),
        ("n", ">i8"),
        ("sum", ">f8"),
        ("first_time", ">i8"),
        ("first_value", ">f8"),
        ("last_time", ">i8"),
        ("last_value", ">f8"),
    ]
)


@dataclass(frozen=True, slots=True)
class Buckets:
    """15-minute rollup buckets of some points: arrays of one length, times in UTC µs."""

    point_id: np.ndarray
    bucket_us: np.ndarray
    n: np.ndarray
    sum: np.ndarray
    first_us: np.ndarray
    first_value: np.ndarray
    last_us: np.ndarray
    last_value: np.ndarray

    def __len__(self) -> int:
        return len(self.point_id)


def read_buckets(
    conn: psycopg.Connection, point_ids: Sequence[int], lo: dt.datetime, hi: dt.datetime
) -> Buckets:
    """``v_rollup_15m`` rows of the points with ``lo <= bucket < hi``.

    The first and last reading of each bucket are the readings next to every slot end, so a
    register grid built from them equals one built from the raw readings; the index on
    (point_id, bucket) serves a batch of buildings without scanning the others' readings.
    The server packs each point's buckets into one ``bytea`` of fixed-size binary records
    (a row per bucket would cost a Python call each: 10 s for 2 million buckets).
    """
    query = """SELECT point_id, count(*),
                      string_agg(timestamptz_send(bucket) || int8send(n::bigint)
                                 || float8send(sum::float8) || timestamptz_send(first_time)
                                 || float8send(first_value::float8)
                                 || timestamptz_send(last_time)
                                 || float8send(last_value::float8), ''::bytea)
               FROM v_rollup_15m
               WHERE point_id = ANY(%s) AND bucket >= %s AND bucket < %s
               GROUP BY point_id"""
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(query, (list(point_ids), lo, hi)).fetchall()
    parts = [np.frombuffer(data or b"", dtype=_BUCKET) for _, _, data in rows]
    if any(len(p) != n for p, (_, n, _) in zip(parts, rows, strict=True)):
        raise ValueError("v_rollup_15m: a bucket with a NULL value")
    b = np.concatenate(parts) if parts else np.zeros(0, dtype=_BUCKET)
    return Buckets(
        np.repeat(np.array([r[0] for r in rows], dtype=np.int64), [n for _, n, _ in rows]),
        b["bucket"].astype(np.int64) + PG_EPOCH_US,
        b["n"].astype(np.int64),
        b["sum"].astype(np.float64),
        b["first_time"].astype(np.int64) + PG_EPOCH_US,
        b["first_value"].astype(np.float64),
        b["last_time"].astype(np.int64) + PG_EPOCH_US,
        b["last_value"].astype(np.float64),
    )


@dataclass(frozen=True, slots=True)
class ReplacementRow:
    point_id: int
    replaced_at: dt.datetime
    old_final_value: float | None
    new_initial_value: float | None
    new_multiplier: float | None


def replacements(
    conn: psycopg.Connection, point_ids: Sequence[int], lo: dt.datetime, hi: dt.datetime
) -> list[ReplacementRow]:
    """Recorded meter replacements of the points in ``(lo, hi]``."""
    rows = conn.execute(
        """SELECT point_id, replaced_at, old_final_value, new_initial_value, new_multiplier
           FROM meter_replacements
           WHERE point_id = ANY(%s) AND replaced_at > %s AND replaced_at <= %s
           ORDER BY replaced_at""",
        (list(point_ids), lo, hi),
    ).fetchall()
    return [ReplacementRow(*row) for row in rows]


def first_readings(conn: psycopg.Connection, point_ids: Sequence[int]) -> dict[int, dt.datetime]:
    """Time of each point's first reading (points without any are absent)."""
    rows = conn.execute(
        """SELECT p, (SELECT r.first_time FROM v_rollup_1d r
                     WHERE r.point_id = p ORDER BY r.bucket LIMIT 1)
           FROM unnest(%s::integer[]) AS p""",
        (list(point_ids),),
    ).fetchall()
    return {int(p): t for p, t in rows if t is not None}


def load_incidents(
    conn: psycopg.Connection,
    point_ids: Sequence[int],
    lo: dt.datetime,
    hi: dt.datetime,
    grace: dt.timedelta,
) -> list[Incident]:
    """Incidents of the points that are open or reach within ``grace`` of ``[lo, hi)``
    (not retracted), with all their runs; locked until the caller's transaction ends (a user
    acknowledging one meanwhile waits)."""
    rows = conn.execute(
        """SELECT id, point_id, building_id, rule, status, waste_unit, runs, last_seen_at,
                  closed_at
           FROM anomalies
           WHERE point_id = ANY(%(points)s) AND status <> 'retracted'
             AND (status = 'open' OR (ended_at >= %(lo)s AND started_at <= %(hi)s))
           ORDER BY id
           FOR UPDATE""",
        {"points": list(point_ids), "lo": lo - grace, "hi": hi + grace},
    ).fetchall()
    out = []
    for id_, point_id, building_id, rule, status, unit, runs, seen, closed in rows:
        out.append(
            Incident(
                id_,
                point_id,
                building_id,
                rule,
                status,
                unit,
                [Run.from_json(point_id, rule, unit, r) for r in runs],
                seen,
                closed,
            )
        )
    return out


# --- writing ---------------------------------------------------------------------------------


def _columns(inc: Incident, version: str) -> dict[str, object]:
    t = inc.totals()
    return {
        "point_id": inc.point_id,
        "building_id": inc.building_id,
        "rule": inc.rule,
        "status": inc.status,
        "started_at": inc.started_at,
        "ended_at": inc.ended_at,
        "last_seen_at": inc.last_seen_at,
        "closed_at": inc.closed_at,
        "run_count": len(inc.runs),
        "severity": t["severity"],
        "score": t["score"],
        "waste": t["waste"],
        "waste_unit": inc.waste_unit,
        "kgce": t["kgce"],
        "kgco2": t["kgco2"],
        "cny": t["cny"],
        "evidence": Jsonb(t["evidence"], dumps=json_dumps),
        "runs": Jsonb(inc.runs_json(), dumps=json_dumps),
        "detector_version": version,
    }


def write(conn: psycopg.Connection, outcomes: Sequence[Outcome], version: str) -> int:
    """Write the changed incidents (in the caller's transaction); return how many.

    Updates come before inserts and, among them, those that leave ``open`` first, so the
    one-open-per-(point, rule) index holds after every statement.
    """
    written = 0
    seen = [o.incident.id for o in outcomes if o.seen and not o.changed and o.incident.id]
    if seen:
        conn.execute("UPDATE anomalies SET last_seen_at = now() WHERE id = ANY(%s)", (seen,))
    for o in sorted(outcomes, key=lambda o: (o.new, o.incident.status == "open")):
        if not o.changed:
            continue
        inc = o.incident
        if inc.id is None:
            cols = _columns(inc, version)
            row = conn.execute(
                f"INSERT INTO anomalies ({', '.join(cols)})"
                f" VALUES ({', '.join(f'%({c})s' for c in cols)}) RETURNING id",
                cols,
            ).fetchone()
            assert row is not None
            inc.id = int(row[0])
        elif inc.status == "retracted" and not inc.runs:
            conn.execute(
                "UPDATE anomalies SET status = 'retracted', runs = '[]', run_count = 0,"
                " closed_at = coalesce(closed_at, now()), updated_at = now() WHERE id = %s",
                (inc.id,),
            )
        else:
            cols = _columns(inc, version)
            conn.execute(
                f"UPDATE anomalies SET {', '.join(f'{c} = %({c})s' for c in cols)},"
                " updated_at = now() WHERE id = %(id)s",
                {**cols, "id": inc.id},
            )
        written += 1
    return written


# --- what was analysed -----------------------------------------------------------------------


def watermarks(conn: psycopg.Connection, building_ids: Sequence[int]) -> dict[int, dt.datetime]:
    """End of the newest window analysed per building (buildings never analysed are absent)."""
    rows = conn.execute(
        "SELECT building_id, analyzed_until FROM analysis_state WHERE building_id = ANY(%s)",
        (list(building_ids),),
    ).fetchall()
    return dict(rows)


def save_watermarks(
    conn: psycopg.Connection,
    building_ids: Sequence[int],
    window: Span,
    version: str,
) -> None:
    """Record that ``window`` was analysed for the buildings (the watermark only moves on)."""
    conn.execute(
        """INSERT INTO analysis_state (building_id, analyzed_until, window_start,
                                       detector_version)
           SELECT b, %s, %s, %s FROM unnest(%s::integer[]) AS b
           ON CONFLICT (building_id) DO UPDATE
           SET analyzed_until = greatest(analysis_state.analyzed_until,
                                         EXCLUDED.analyzed_until),
               window_start = EXCLUDED.window_start, analyzed_at = now(),
               detector_version = EXCLUDED.detector_version""",
        (window[1], window[0], version, list(building_ids)),
    )


def service_tz(conn: psycopg.Connection) -> str:
    """Zone of the ``v_rollup_1d`` day buckets (fixed at migration)."""
    row = conn.execute("SELECT value FROM store_meta WHERE key = 'service_tz'").fetchone()
    return str(row[0]) if row else "Asia/Shanghai"


def day_counts(
    conn: psycopg.Connection, building_ids: Sequence[int], days: Sequence[dt.datetime]
) -> dict[tuple[int, dt.datetime], int]:
    """Readings per (building, day bucket of ``v_rollup_1d``), 0 for days without any."""
    rows = conn.execute(
        """SELECT p.building_id, r.bucket, sum(r.n)::bigint
           FROM v_rollup_1d r JOIN points p ON p.id = r.point_id
           WHERE p.building_id = ANY(%s) AND r.bucket = ANY(%s)
           GROUP BY 1, 2""",
        (list(building_ids), list(days)),
    ).fetchall()
    out = {(b, d): 0 for b in building_ids for d in days}
    out.update({(b, d): int(n) for b, d, n in rows})
    return out


def save_day_counts(
    conn: psycopg.Connection, counts: Mapping[tuple[int, dt.datetime], int]
) -> None:
    """Store the readings seen per (building, day) by an analysis (see :func:`late_days`)."""
    if not counts:
        return
    keys = list(counts)
    conn.execute(
        """INSERT INTO analysis_days (building_id, day, readings)
           SELECT * FROM unnest(%s::integer[], %s::timestamptz[], %s::bigint[])
           ON CONFLICT (building_id, day) DO UPDATE
           SET readings = EXCLUDED.readings, analyzed_at = now()""",
        ([b for b, _ in keys], [d for _, d in keys], [counts[k] for k in keys]),
    )


def late_days(
    conn: psycopg.Connection, building_ids: Sequence[int], lo: dt.datetime, hi: dt.datetime
) -> dict[int, dict[dt.datetime, int]]:
    """Analysed days in ``[lo, hi)`` that hold more readings now than when they were
    analysed: building → {day bucket: readings now}."""
    rows = conn.execute(
        """SELECT d.building_id, d.day, c.n
           FROM analysis_days d
           CROSS JOIN LATERAL (SELECT coalesce(sum(r.n), 0)::bigint AS n
                               FROM v_rollup_1d r JOIN points p ON p.id = r.point_id
                               WHERE p.building_id = d.building_id AND r.bucket = d.day) c
           WHERE d.building_id = ANY(%s) AND d.day >= %s AND d.day < %s
             AND c.n > d.readings
           ORDER BY 1, 2""",
        (list(building_ids), lo, hi),
    ).fetchall()
    out: dict[int, dict[dt.datetime, int]] = {}
    for b, day, n in rows:
        out.setdefault(b, {})[day] = int(n)
    return out


def prune_days(conn: psycopg.Connection, before: dt.datetime) -> int:
    """Forget day counts older than ``before`` (late data there is no longer looked for)."""
    cur = conn.execute("DELETE FROM analysis_days WHERE day < %s", (before,))
    return cur.rowcount


# --- locks -----------------------------------------------------------------------------------


def lock_analysis(conn: psycopg.Connection, *, wait: bool) -> bool:
    """Take the session lock that serializes analysis runs (several services, a manual run);
    without ``wait``, return False at once when another run holds it."""
    if wait:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (_ANALYZE_LOCK,))
        return True
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (_ANALYZE_LOCK,)).fetchone()
    return bool(row and row[0])


def unlock_analysis(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_ANALYZE_LOCK,))


def refresh_rollups_if_idle(conn: psycopg.Connection) -> bool:
    """Refresh the rollups unless the service's upkeep is doing it right now (then they are
    being refreshed anyway); return whether this call refreshed them. ``conn`` is in
    autocommit mode."""
    got = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (_MAINTENANCE_LOCK,)).fetchone()
    if not got or not got[0]:
        return False
    try:
        maintenance.refresh_rollups(conn)
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (_MAINTENANCE_LOCK,))
    return True
