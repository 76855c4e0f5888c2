"""``jieneng audit``: a building's audit figures for a year, a quarter or a month, from the
store.

Interval use comes from the registers as the analysis job derives it (``v_rollup_15m`` →
:func:`jieneng.analyze.window_grids` → :func:`analytics.consumption.from_registers` through the
suite's consumption tier: rollovers, resets, replacements, gaps spread by the meter's profile),
summed per local month and energy code; the share each month had to estimate (gaps, stuck
registers) travels along. Consumption records and quotas come from the registry tables.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from analytics import audit as auditlib
from analytics import factors as factorlib
from analytics import flags as F
from analytics import reference as referencelib
from jieneng.analyze import RULE_NAMES, STEP, role_of, window_use
from store import findings as store

#: Energy code of each meter role of the suite.
CODE_OF_ROLE = {
    "main": "01",
    "01A": "01A",
    "01B": "01B",
    "01C": "01C",
    "01D": "01D",
    "water": "02",
    "gas": "03",
    "heat": "04",
}
_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?:Q(?P<quarter>[1-4])|(?P<month>0[1-9]|1[0-2])))?$")


class AuditError(ValueError):
    """An option or a building that cannot be audited; the message says which and why."""


@dataclass(frozen=True)
class Period:
    year: int
    months: tuple[int, ...]  # 1–12
    label: str

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PERIOD.match(text.strip())
        if m is None:
            raise AuditError(
                f"--period: {text!r} is not a year, quarter or month (2026, 2026-Q3, 2026-07)"
            )
        year = int(m["year"])
        if not 1970 <= year <= 2200:
            raise AuditError(f"--period: {text!r}: the year must be within 1970–2200")
        if m["quarter"]:
            q = int(m["quarter"])
            return cls(year, tuple(range(3 * q - 2, 3 * q + 1)), text)
        if m["month"]:
            return cls(year, (int(m["month"]),), text)
        return cls(year, tuple(range(1, 13)), text)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.months[0], 1)

    @property
    def end(self) -> dt.date:
        """The day after the period."""
        return auditlib.month_after(self.year, self.months[-1])

    @property
    def share_of_year(self) -> float:
        return (self.end - self.start).days / (
            dt.date(self.year + 1, 1, 1) - dt.date(self.year, 1, 1)
        ).days

    def in_year(self, year: int) -> Period:
        """The same months of another year."""
        return Period(year, self.months, str(year) + self.label[4:])

    def month_before(self) -> Period:
        """The month before the period's first month."""
        last = self.start - dt.timedelta(days=1)
        return Period(last.year, (last.month,), f"{last.year}-{last.month:02d}")


def _building(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    row = conn.execute(
        """SELECT b.id, b.code, b.name, b.floor_area_m2, coalesce(b.headcount, i.headcount),
                  b.climate_zone, b.gb51161_class, b.time_zone, i.id, i.code, i.type,
                  b.operating_hours
           FROM buildings b JOIN institutions i ON i.id = b.institution_id
           WHERE b.code = %s""",
        (code,),
    ).fetchone()
    if row is None:
        raise AuditError(f"--building: no building with code {code!r}")
    keys = (
        "id",
        "code",
        "name",
        "floor_area_m2",
        "headcount",
        "climate_zone",
        "gb51161_class",
        "time_zone",
        "institution_id",
        "institution_code",
        "institution_type",
        "operating_hours",
    )
    return dict(zip(keys, row, strict=True))


def _institution(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    row = conn.execute(
        """SELECT i.id, i.code, i.name, i.type, i.headcount,
                  array_agg(b.code ORDER BY b.code) FILTER (WHERE b.code IS NOT NULL),
                  sum(b.floor_area_m2), sum(b.headcount),
                  array_agg(b.code ORDER BY b.code) FILTER (
                      WHERE b.code IS NOT NULL AND b.floor_area_m2 IS NULL)
           FROM institutions i LEFT JOIN buildings b ON b.institution_id = i.id
           WHERE i.code = %s GROUP BY i.id""",
        (code,),
    ).fetchone()
    if row is None:
        raise AuditError(f"--institution: no institution with code {code!r}")
    iid, icode, name, kind, headcount, buildings, area, building_heads, no_area = row
    if not buildings:
        raise AuditError(f"--institution: {code!r} has no buildings in the registry")
    if no_area:
        raise AuditError(
            f"institution {code!r}: buildings {', '.join(no_area)} have no floor_area_m2: the"
            " per-m² figures would leave them out (set it in the registry)"
        )
    return {
        "id": iid,
        "code": icode,
        "name": name,
        "type": kind,
        "buildings": list(buildings),
        "floor_area_m2": area,
        "headcount": headcount or building_heads,
    }


def _plus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b with NaN counted as 0, NaN where both are NaN (no meter read then)."""
    total = np.nansum([a, b], axis=0)
    total[np.isnan(a) & np.isnan(b)] = np.nan
    return total


@dataclass
class StoredUse:
    """What the store holds of one building over a period's months."""

    #: Use per month of the year (NaN outside the period's months), per energy code.
    monthly: dict[str, np.ndarray]
    #: Share of each month's use that was estimated (gaps, stuck registers), per energy code.
    estimated: dict[str, np.ndarray]
    #: Share of each month's slots without use (no readings around them), per energy code;
    #: NaN outside the period's months.
    missing: dict[str, np.ndarray]
    #: The building's registry row.
    building: dict[str, Any]
    #: Main electricity meter(s), kWh per 15-minute slot, shape (days of the period, 96).
    load: np.ndarray


def monthly_use(
    conn: psycopg.Connection, code: str, year: int, months: tuple[int, ...]
) -> StoredUse:
    """Use per month of ``year`` (NaN outside ``months``), the shares estimated and missing,
    per energy code of the building's meters; the main meter's slots; the building's row."""
    b = _building(conn, code)
    tz = ZoneInfo(b["time_zone"])
    points = store.points(conn, [code])
    codes = set(CODE_OF_ROLE.values())
    use = {c: np.full(12, np.nan) for c in codes}
    guessed_use = {c: np.zeros(12) for c in codes}
    unknown = {c: np.zeros(12) for c in codes}  # slots without use, summed over meters
    slots = {c: np.zeros(12) for c in codes}
    present: set[str] = set()
    per_day = int(dt.timedelta(days=1) / STEP)
    load = []
    for month in months:
        lo = dt.datetime(year, month, 1, tzinfo=tz)
        hi = dt.datetime.combine(auditlib.month_after(year, month), dt.time(), tz)
        # A day of history before the month: the first slot's step needs the reading before
        # it, and the grid starts at a local midnight.
        start = lo - dt.timedelta(days=1)
        result, _ = window_use(conn, points, start, hi)
        month_use = result.use[:, per_day:]  # the month's slots
        guessed = (result.use_flags[:, per_day:] & (F.INTERPOLATED | F.STUCK)) != 0
        month_load = np.full(month_use.shape[1], np.nan)
        sub_load = month_load.copy()  # the 分项, for a building without a main meter
        m = month - 1
        for k, row in enumerate(result.meters):
            code_ = CODE_OF_ROLE.get(role_of(points[int(row)]))
            if code_ is None:
                continue
            values = month_use[k]
            present.add(code_)
            unknown[code_][m] += np.isnan(values).sum()
            slots[code_][m] += values.size
            if code_ == "01":
                month_load = _plus(month_load, values)
            elif code_ in auditlib.END_USES:
                sub_load = _plus(sub_load, values)
            if np.isnan(values).all():
                continue
            use[code_][m] = np.nan_to_num(use[code_][m]) + float(np.nansum(values))
            guessed_use[code_][m] += float(np.nansum(values[guessed[k]]))
        has_main = any(role_of(points[int(r)]) == "main" for r in result.meters)
        load.append((month_load if has_main else sub_load).reshape(-1, per_day))
    with np.errstate(invalid="ignore", divide="ignore"):
        estimated = {c: np.nan_to_num(guessed_use[c] / use[c]) for c in present}
        missing = {c: unknown[c] / slots[c] for c in present}  # 0/0: not in the period
    return StoredUse(
        {c: use[c] for c in sorted(present)},
        {c: estimated[c] for c in sorted(present)},
        {c: missing[c] for c in sorted(present)},
        b,
        np.concatenate(load),
    )


def records(
    conn: psycopg.Connection, institution_id: int, building_ids: list[int], period: Period
) -> list[auditlib.Record]:
    """The buildings' consumption records, and their institution's without a building, over
    the period's months."""
    rows = conn.execute(
        """SELECT carrier, amount, period_start, period_end, document
           FROM consumption_records
           WHERE institution_id = %s AND (building_id = ANY(%s) OR building_id IS NULL)
             AND period_end >= make_date(%s, 1, 1) AND period_start <= make_date(%s, 12, 31)
           ORDER BY period_start, id""",
        (institution_id, building_ids, period.year, period.year),
    ).fetchall()
    out = []
    for carrier, amount, start, end, document in rows:
        out += [
            r
            for r in auditlib.records_by_month(
                carrier, amount, start, end, document, year=period.year
            )
            if r.month in period.months
        ]
    return out


def quotas(conn: psycopg.Connection, institution_id: int, year: int) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        """SELECT indicator, unit, guide, baseline, constraint_value, source FROM quotas
           WHERE institution_id = %s AND year = %s""",
        (institution_id, year),
    ).fetchall()
    return {
        ind: {"unit": unit, "guide": g, "baseline": base, "constraint": c, "source": src}
        for ind, unit, g, base, c, src in rows
    }


def findings(
    conn: psycopg.Connection,
    buildings: list[str],
    period: Period,
    *,
    factors: factorlib.Factors,
) -> list[dict[str, Any]]:
    """The analysis job's findings on the buildings whose runs started within the period (in
    each building's time zone), per rule: how many, and the waste they measured — what fixing
    them would have saved (kWh or m³, kgce, kgCO2, ¥), the savings potential."""
    rows = conn.execute(
        """SELECT r.rule, r.waste_unit, count(DISTINCT r.anomaly_id), count(*),
                  sum(r.waste), sum(r.kgce), sum(r.kgco2), sum(r.cny)
           FROM v_anomaly_runs r JOIN buildings b ON b.id = r.building_id
           WHERE b.code = ANY(%s)
             AND (r.started_at AT TIME ZONE b.time_zone)::date >= %s
             AND (r.started_at AT TIME ZONE b.time_zone)::date < %s
           GROUP BY r.rule, r.waste_unit ORDER BY sum(r.kgce) DESC NULLS LAST, r.rule""",
        (buildings, period.start, period.end),
    ).fetchall()
    out = []
    for rule, unit, count, runs, waste, kgce, kgco2, cny in rows:
        zh, en = RULE_NAMES.get(rule, (rule, rule))
        out.append(
            {
                "rule": rule,
                "name": zh,
                "name_en": en,
                "findings": count,
                "runs": runs,
                "waste": waste,
                "waste_unit": unit,
                "kgce": kgce,
                "kgco2": kgco2,
                "cny": cny,
            }
        )
    return out


def _period_data(
    conn: psycopg.Connection,
    buildings: list[str],
    period: Period,
    *,
    institution_id: int,
    floor_area_m2: float,
    headcount: float,
) -> tuple[auditlib.BuildingPeriod, np.ndarray]:
    """Some buildings of one institution taken together over a period: the audit's input and
    their main meters' kWh per 15-minute slot, shape (days, 96)."""
    monthly: dict[str, np.ndarray] = {}
    guessed: dict[str, np.ndarray] = {}  # estimated use, to weigh the shares
    missing: dict[str, list[np.ndarray]] = {}
    building_ids = []
    load = None
    for code in buildings:
        stored = monthly_use(conn, code, period.year, period.months)
        building_ids.append(stored.building["id"])
        load = stored.load if load is None else _plus(load, stored.load)
        # A building metered by 分项 only adds their sum to the institution's electricity.
        whole, shares = auditlib.whole_electricity(stored.monthly, stored.estimated)
        gaps = dict(stored.missing)
        if "01" not in gaps and "01" in whole:
            gaps["01"] = np.mean([gaps[c] for c in auditlib.END_USES if c in gaps], axis=0)
        for c, values in whole.items():
            monthly[c] = _plus(monthly.get(c, np.full(12, np.nan)), values)
            guessed[c] = guessed.get(c, np.zeros(12)) + np.nan_to_num(values) * shares[c]
            missing.setdefault(c, []).append(gaps[c])
    with np.errstate(invalid="ignore", divide="ignore"):
        estimated = {c: np.nan_to_num(guessed[c] / np.nan_to_num(monthly[c])) for c in monthly}
    data = auditlib.BuildingPeriod(
        monthly=monthly,
        estimated=estimated,
        missing={c: np.mean(shares, axis=0) for c, shares in missing.items()},
        floor_area_m2=float(floor_area_m2),
        headcount=float(headcount),
        records=records(conn, institution_id, building_ids, period),
    )
    assert load is not None  # at least one building
    return data, load


#: A period is compared with an earlier one only when that one misses at most this share of
#: its time on every meter (a month with one day of readings says nothing about the month).
COMPARABLE_MISSING = 0.1


def _comparable(data: auditlib.BuildingPeriod) -> bool:
    shares = [float(np.nanmean(m)) for m in data.missing.values() if not np.isnan(m).all()]
    if not shares:
        return bool(data.records)
    return max(shares) <= COMPARABLE_MISSING


def _targets(
    conn: psycopg.Connection,
    buildings: list[str],
    period: Period,
    same: dict[str, Any],
    result: dict[str, Any],
    year_before: auditlib.BuildingPeriod,
    *,
    complete: bool,
    factors: factorlib.Factors,
    reference: referencelib.Reference,
) -> dict[str, dict[str, Any]]:
    """Progress towards each plan running in the period's year (十四五, 十五五), the period's
    months against the same months of the plan's base year as the store holds them."""
    out: dict[str, dict[str, Any]] = {}
    for name, plan in reference.targets.items():
        base_year = int(plan["base_year"])
        if not base_year < period.year <= int(plan["target_year"]):
            continue
        months = period.in_year(base_year)
        base = (
            year_before
            if base_year == period.year - 1
            else _period_data(conn, buildings, months, **same)[0]
        )
        entry: dict[str, Any] = {
            "base_year": base_year,
            "target_year": int(plan["target_year"]),
            "base_period": months.label,
            "source": plan.get("source"),
        }
        if not complete:
            entry["indicators"] = {}
            entry["reason_key"] = "incomplete"
            entry["reason"] = (
                f"{period.label} misses more than {COMPARABLE_MISSING:.0%} of its time"
            )
        elif _comparable(base):
            before = auditlib.audit(base, factors, reference, year=base_year)
            entry["indicators"] = auditlib.targets_progress(result, before, plan, year=period.year)
        else:
            entry["indicators"] = {}
            entry["reason_key"] = "no_base_data"
            entry["reason"] = f"no comparable data for {months.label} in the store"
        out[name] = entry
    return out


def _price_by_time_of_use(
    result: dict[str, Any],
    load: np.ndarray,
    reference: referencelib.Reference,
    tariff: str | None,
) -> None:
    if tariff is None:
        return
    tou = auditlib.time_of_use(load, reference, tariff)
    if not tou["total_kwh"]:
        raise AuditError(
            "--tariff: no electricity meter with readings in the period to price by time of use"
        )
    auditlib.reprice_electricity(result, tou)


def _audit_of(
    conn: psycopg.Connection,
    buildings: list[str],
    period: Period,
    *,
    institution_id: int,
    floor_area_m2: float | None,
    headcount: float | None,
    label: str,
    benchmark: tuple[str, str, str] | None,
    factors: factorlib.Factors,
    reference: referencelib.Reference,
    operating_hours: float | None = None,
    compare: bool = True,
    tariff: str | None = None,
) -> dict[str, Any]:
    """The audit of some buildings of one institution taken together, against the same months
    of the year before (when the store has them) and, for a month, against the month before;
    ``compare=False`` gives the period's own figures only (what a ranking needs)."""
    if not floor_area_m2 or not headcount:
        raise AuditError(
            f"{label}: floor_area_m2 and headcount are needed for the intensities: set them in"
            " the registry (buildings.floor_area_m2; buildings.headcount or institutions.headcount)"
        )
    same = {
        "institution_id": institution_id,
        "floor_area_m2": floor_area_m2,
        "headcount": headcount,
    }
    data, load = _period_data(conn, buildings, period, **same)
    data.operating_hours = operating_hours  # GB/T 51161's hours correction
    if not compare:
        result = auditlib.audit(data, factors, reference, year=period.year)
        _price_by_time_of_use(result, load, reference, tariff)
        return result
    # This period too must be (nearly) complete to be compared or judged: a month that has
    # one day of readings so far is not a 97 % saving.
    complete = _comparable(data)
    before, _ = _period_data(conn, buildings, period.in_year(period.year - 1), **same)
    previous = before if complete and _comparable(before) else None
    result = auditlib.audit(
        data,
        factors,
        reference,
        year=period.year,
        previous=previous,
        benchmark=benchmark,
        share_of_year=period.share_of_year,
    )
    result["complete"] = complete
    if previous is None:
        result["year_over_year"] = None
    if not complete and "gb51161" in result:
        result["gb51161"].update(meets_constraint=None, meets_guide=None)  # not judged
    _price_by_time_of_use(result, load, reference, tariff)
    if len(period.months) == 1:
        month = period.month_before()
        prior, _ = _period_data(conn, buildings, month, **same)
        kgce = auditlib.audit(prior, factors, reference, year=month.year)["totals"]["kgce"]
        now = result["totals"]["kgce"]
        comparable = complete and _comparable(prior) and kgce > 0
        result["previous_month"] = {
            "label": month.label,
            "kgce": kgce,
            "change": now / kgce - 1 if comparable else None,
        }
    result["targets"] = _targets(
        conn,
        buildings,
        period,
        same,
        result,
        before,
        complete=complete,
        factors=factors,
        reference=reference,
    )
    days = np.arange(np.datetime64(period.start), np.datetime64(period.end), dtype="datetime64[D]")
    result["load"] = auditlib.load_shape(load, days)
    result["findings"] = findings(conn, buildings, period, factors=factors)
    return result


def run(
    conn: psycopg.Connection,
    period_text: str,
    *,
    building: str | None = None,
    institution: str | None = None,
    factors: factorlib.Factors | None = None,
    reference: referencelib.Reference | None = None,
    tariff: str | None = None,
) -> dict[str, Any]:
    """The audit of one building, or of all buildings of one institution, over a period, as a
    JSON-able dict; with ``tariff`` (a tariff of the reference data) electricity is priced by
    time-of-use band from the main meters' 15-minute use. ``conn`` is in autocommit mode (the
    rollups are refreshed first, as the analysis job does)."""
    if (building is None) == (institution is None):
        raise AuditError("give one of --building or --institution")
    period = Period.parse(period_text)
    store.refresh_rollups_if_idle(conn)
    return _run(
        conn,
        period,
        building=building,
        institution=institution,
        factors=factors or factorlib.load(),
        reference=reference or referencelib.load(),
        tariff=tariff,
    )


def _run(
    conn: psycopg.Connection,
    period: Period,
    *,
    building: str | None,
    institution: str | None,
    factors: factorlib.Factors,
    reference: referencelib.Reference,
    compare: bool = True,
    tariff: str | None = None,
) -> dict[str, Any]:
    if tariff is not None and tariff not in reference.tariffs:
        raise AuditError(
            f"--tariff: {tariff!r} is not a tariff of the reference data"
            f" ({', '.join(sorted(reference.tariffs)) or 'none'})"
        )
    if building is not None:
        b = _building(conn, building)
        benchmark = None
        if b["gb51161_class"] and b["climate_zone"] and building[6] == "A":
            kind = "government" if b["institution_type"] == "government" else "commercial"
            benchmark = (b["gb51161_class"], kind, b["climate_zone"])
        subject = {
            k: b[k] for k in ("code", "name", "floor_area_m2", "headcount", "operating_hours")
        }
        codes, iid, hours = [building], b["institution_id"], b["operating_hours"]
        area, heads, label = b["floor_area_m2"], b["headcount"], f"building {building!r}"
    else:
        inst = _institution(conn, institution)  # type: ignore[arg-type]
        benchmark = None
        subject = {
            k: inst[k] for k in ("code", "name", "type", "buildings", "floor_area_m2", "headcount")
        }
        codes, iid, hours = inst["buildings"], inst["id"], None
        area, heads, label = (
            inst["floor_area_m2"],
            inst["headcount"],
            f"institution {institution!r}",
        )
    result = _audit_of(
        conn,
        codes,
        period,
        institution_id=iid,
        floor_area_m2=area,
        headcount=heads,
        label=label,
        benchmark=benchmark,
        factors=factors,
        reference=reference,
        operating_hours=hours,
        compare=compare,
        tariff=tariff,
    )
    result["building" if building is not None else "institution"] = subject
    result["period"] = {
        "label": period.label,
        "year": period.year,
        "months": list(period.months),
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "share_of_year": period.share_of_year,
    }
    status = {}
    levels = quotas(conn, iid, period.year)
    result["quota_levels"] = levels
    for indicator, quota in levels.items():
        value = result["intensity"].get(auditlib.INDICATORS.get(indicator, ""))
        if value is not None and len(period.months) == 12 and result.get("complete", True):
            status[indicator] = {"value": value, **quota, "band": auditlib.quota_band(value, quota)}
    result["quotas"] = status
    return result


def rank(conn: psycopg.Connection, period_text: str) -> list[dict[str, Any]]:
    """Every institution with buildings, audited over the period and ranked by energy per m²
    (lowest first); those the registry cannot rank (no floor area or headcount) are listed
    last with the reason."""
    codes = [
        c
        for (c,) in conn.execute(
            "SELECT DISTINCT i.code FROM institutions i JOIN buildings b ON b.institution_id = i.id"
            " ORDER BY i.code"
        ).fetchall()
    ]
    period = Period.parse(period_text)
    store.refresh_rollups_if_idle(conn)  # once for all institutions
    factors, reference = factorlib.load(), referencelib.load()
    ranked, unranked = [], []
    for code in codes:
        try:
            r = _run(
                conn,
                period,
                building=None,
                institution=code,
                factors=factors,
                reference=reference,
                compare=False,
            )
        except AuditError as exc:
            unranked.append({"institution": code, "reason": str(exc)})
            continue
        i = r["institution"]
        ranked.append(
            {
                "institution": i["code"],
                "name": i["name"],
                "type": i["type"],
                "kgce": r["totals"]["kgce"],
                "kgce_per_m2": r["intensity"]["kgce_per_m2"],
                "kgce_per_person": r["intensity"]["kgce_per_person"],
                "kgco2_per_m2": r["intensity"]["kgco2_per_m2"],
            }
        )
    ranked.sort(key=lambda x: x["kgce_per_m2"])
    for k, row in enumerate(ranked, 1):
        row["rank"] = k
    return ranked + unranked
