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
from jieneng.analyze import STEP, role_of, window_use
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


def _building(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    row = conn.execute(
        """SELECT b.id, b.code, b.name, b.floor_area_m2, coalesce(b.headcount, i.headcount),
                  b.climate_zone, b.gb51161_class, b.time_zone, i.id, i.code, i.type
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
    )
    return dict(zip(keys, row, strict=True))


def _institution(conn: psycopg.Connection, code: str) -> dict[str, Any]:
    row = conn.execute(
        """SELECT i.id, i.code, i.name, i.type, i.headcount,
                  array_agg(b.code ORDER BY b.code) FILTER (WHERE b.code IS NOT NULL),
                  sum(b.floor_area_m2), sum(b.headcount)
           FROM institutions i LEFT JOIN buildings b ON b.institution_id = i.id
           WHERE i.code = %s GROUP BY i.id""",
        (code,),
    ).fetchone()
    if row is None:
        raise AuditError(f"--institution: no institution with code {code!r}")
    iid, icode, name, kind, headcount, buildings, area, building_heads = row
    if not buildings:
        raise AuditError(f"--institution: {code!r} has no buildings in the registry")
    return {
        "id": iid,
        "code": icode,
        "name": name,
        "type": kind,
        "buildings": list(buildings),
        "floor_area_m2": area,
        "headcount": headcount or building_heads,
    }


def monthly_use(
    conn: psycopg.Connection, code: str, year: int, months: tuple[int, ...]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Use per month of ``year`` (NaN outside ``months``) and the share estimated, per energy
    code of the building's meters; and the building's row."""
    b = _building(conn, code)
    tz = ZoneInfo(b["time_zone"])
    points = store.points(conn, [code])
    use = {c: np.full(12, np.nan) for c in set(CODE_OF_ROLE.values())}
    estimated = {c: np.zeros(12) for c in use}
    present: set[str] = set()
    for month in months:
        lo = dt.datetime(year, month, 1, tzinfo=tz)
        hi = dt.datetime.combine(auditlib.month_after(year, month), dt.time(), tz)
        # A day of history before the month: the first slot's step needs the reading before
        # it, and the grid starts at a local midnight.
        start = lo - dt.timedelta(days=1)
        history = int(dt.timedelta(days=1) / STEP)
        result, _ = window_use(conn, points, start, hi)
        month_use = result.use[:, history:]  # the month's slots
        guessed = (result.use_flags[:, history:] & (F.INTERPOLATED | F.STUCK)) != 0
        for k, row in enumerate(result.meters):
            code_ = CODE_OF_ROLE.get(role_of(points[int(row)]))
            if code_ is None:
                continue
            values = month_use[k]
            if np.isnan(values).all():
                continue
            total = float(np.nansum(values))
            present.add(code_)
            prior = 0.0 if np.isnan(use[code_][month - 1]) else use[code_][month - 1]
            use[code_][month - 1] = prior + total
            if total:
                estimated[code_][month - 1] = float(np.nansum(values[guessed[k]])) / total
    return (
        {c: use[c] for c in sorted(present)},
        {c: estimated[c] for c in sorted(present)},
        b,
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


#: Which audit intensity each quota indicator compares with.
QUOTA_INTENSITY = {
    "energy_per_m2": "kgce_per_m2",
    "energy_per_capita": "kgce_per_person",
    "electricity_per_m2": "kwh_per_m2",
    "water_per_capita": "water_m3_per_person",
}


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
) -> dict[str, Any]:
    """The audit of some buildings of one institution taken together."""
    if not floor_area_m2 or not headcount:
        raise AuditError(
            f"{label}: floor_area_m2 and headcount are needed for the intensities: set them in"
            " the registry (buildings.floor_area_m2; buildings.headcount or institutions.headcount)"
        )
    monthly: dict[str, np.ndarray] = {}
    guessed: dict[str, np.ndarray] = {}  # estimated use, to weigh the shares
    building_ids = []
    for code in buildings:
        use, share, b = monthly_use(conn, code, period.year, period.months)
        building_ids.append(b["id"])
        for c, values in use.items():
            before = monthly.get(c, np.full(12, np.nan))
            total = np.nansum([before, values], axis=0)
            total[np.isnan(before) & np.isnan(values)] = np.nan  # no meter of c read then
            monthly[c] = total
            guessed[c] = guessed.get(c, np.zeros(12)) + np.nan_to_num(values) * share[c]
    with np.errstate(invalid="ignore", divide="ignore"):
        estimated = {c: np.nan_to_num(guessed[c] / np.nan_to_num(monthly[c])) for c in monthly}
    data = auditlib.BuildingPeriod(
        monthly=monthly,
        estimated=estimated,
        floor_area_m2=float(floor_area_m2),
        headcount=float(headcount),
        records=records(conn, institution_id, building_ids, period),
    )
    return auditlib.audit(data, factors, reference, year=period.year, benchmark=benchmark)


def run(
    conn: psycopg.Connection,
    period_text: str,
    *,
    building: str | None = None,
    institution: str | None = None,
    factors: factorlib.Factors | None = None,
    reference: referencelib.Reference | None = None,
) -> dict[str, Any]:
    """The audit of one building, or of all buildings of one institution, over a period, as a
    JSON-able dict. ``conn`` is in autocommit mode (the rollups are refreshed first, as the
    analysis job does)."""
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
    )


def _run(
    conn: psycopg.Connection,
    period: Period,
    *,
    building: str | None,
    institution: str | None,
    factors: factorlib.Factors,
    reference: referencelib.Reference,
) -> dict[str, Any]:
    if building is not None:
        b = _building(conn, building)
        benchmark = None
        if b["gb51161_class"] and b["climate_zone"] and building[6] == "A":
            kind = "government" if b["institution_type"] == "government" else "commercial"
            benchmark = (b["gb51161_class"], kind, b["climate_zone"])
        subject = {k: b[k] for k in ("code", "name", "floor_area_m2", "headcount")}
        codes, iid = [building], b["institution_id"]
        area, heads, label = b["floor_area_m2"], b["headcount"], f"building {building!r}"
    else:
        inst = _institution(conn, institution)  # type: ignore[arg-type]
        benchmark = None
        subject = {
            k: inst[k] for k in ("code", "name", "type", "buildings", "floor_area_m2", "headcount")
        }
        codes, iid = inst["buildings"], inst["id"]
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
    )
    result["building" if building is not None else "institution"] = subject
    result["period"] = {"label": period.label, "year": period.year, "months": list(period.months)}
    status = {}
    for indicator, quota in quotas(conn, iid, period.year).items():
        value = result["intensity"].get(QUOTA_INTENSITY.get(indicator, ""))
        if value is not None and len(period.months) == 12:
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
                conn, period, building=None, institution=code, factors=factors, reference=reference
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
