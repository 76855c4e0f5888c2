"""Energy audit figures of a building over a period (GB/T 17166 indicators, 公共机构 statistics):
totals by energy class and 分项, standard coal, CO2, cost, intensities per m² and per person,
month by month, against the previous period and the GB/T 51161 office values.

Inputs are monthly totals per energy code — metered (from interval data, with the share of each
month that was estimated or missing) and entered as consumption records for what no meter sees
(vehicle fuel, coal, LPG, bought heat) — so one function serves a building, an institution (sum
its buildings first) or a region. Pure computation: the job runner reads the store.

References
----------
.. [1] GB/T 17166-2019 能源审计技术通则, 能耗指标计算与分析.
.. [2] GB/T 2589-2020 综合能耗计算通则 (standard coal; water is a working medium, not energy).
.. [3] GB/T 51161-2016 民用建筑能耗标准, 5.2.1 (office non-heating energy, kWh/(m²·a)).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from analytics.factors import Factors
from analytics.reference import Reference

#: Carriers whose standard coal counts in 综合能耗 (water is a working medium).
NOT_ENERGY = frozenset({"water"})


@dataclass(frozen=True)
class Record:
    """Use that no meter sees, entered with its document (a fuel card, a coal invoice).

    ``carrier`` is a key of the factors file (``diesel``, ``gasoline``, ``lpg``, ``raw_coal``,
    ``heat`` …); ``amount`` in that carrier's unit (kg for fuels, kWh for heat); ``month`` 1–12
    of the period's year; ``document`` says where the number comes from."""

    carrier: str
    amount: float
    month: int
    document: str
    note: str = ""


def month_after(year: int, month: int) -> date:
    """The first day of the month after ``month`` of ``year``."""
    return date(year + (month == 12), month % 12 + 1, 1)


def records_by_month(
    carrier: str, amount: float, start: date, end: date, document: str, *, year: int
) -> list[Record]:
    """A consumption record of an inclusive period, as records of the months of ``year`` it
    covers, in proportion to their days (a heat bill of 15 January – 14 February: 17/31 in
    January, 14/31 in February); days outside ``year`` are left out."""
    if end < start:
        raise ValueError(f"end: {end} is before start {start}")
    days = (end - start).days + 1
    out = []
    for month in range(1, 13):
        first = date(year, month, 1)
        last = month_after(year, month) - timedelta(days=1)
        overlap = (min(end, last) - max(start, first)).days + 1
        if overlap > 0:
            out.append(Record(carrier, amount * overlap / days, month, document))
    return out


@dataclass
class BuildingPeriod:
    """What an audit needs of one building over one year.

    Attributes
    ----------
    monthly : dict of str to array_like, shape (12,)
        Metered use per month and energy code: ``01`` (electricity main, kWh) or its 分项
        ``01A`` … ``01D``, ``02`` water (m³), ``03`` gas (m³), ``04`` heat (kWh); NaN where
        unknown.
    estimated : dict of str to array_like, shape (12,)
        Share of each month's use that was estimated (gaps spread, stuck registers) — 0 to 1.
    missing : dict of str to array_like, shape (12,), optional
        Share of each month's time with no use at all (no readings on either side), 0 to 1,
        NaN for months outside the audited period; by default a month is wholly missing where
        ``monthly`` is NaN.
    floor_area_m2, headcount : float
    records : list of Record
    operating_hours : float, optional
        Actual annual operating hours (for the GB/T 51161 correction).
    """

    monthly: dict[str, np.ndarray]
    floor_area_m2: float
    headcount: float
    estimated: dict[str, np.ndarray] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    missing: dict[str, np.ndarray] = field(default_factory=dict)
    operating_hours: float | None = None

    def __post_init__(self) -> None:
        if not self.floor_area_m2 > 0:
            raise ValueError(f"floor_area_m2: must be > 0, got {self.floor_area_m2}")
        if not self.headcount > 0:
            raise ValueError(f"headcount: must be > 0, got {self.headcount}")
        for code, values in self.monthly.items():
            if np.shape(values) != (12,):
                raise ValueError(f"monthly[{code!r}]: must hold 12 months, got {np.shape(values)}")
        for r in self.records:
            if not 1 <= r.month <= 12:
                raise ValueError(f"records: month {r.month} of {r.carrier!r} is not 1–12")
            if not r.amount >= 0:
                raise ValueError(f"records: amount {r.amount} of {r.carrier!r} must be ≥ 0")


#: The electricity 分项 (level-1 end uses) of a main meter.
END_USES = ("01A", "01B", "01C", "01D")


def whole_electricity(
    monthly: dict[str, np.ndarray], estimated: dict[str, np.ndarray] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One building's monthly use with its electricity whole: a building metered only by
    分项 gets a ``01`` that is their sum (and its estimated share, weighted by use), so that
    buildings added together count every building's electricity once — some with a main
    meter, some without.

    Parameters
    ----------
    monthly, estimated : dict of str to array_like, shape (12,)
        As in :class:`BuildingPeriod`, of one building.
    """
    estimated = dict(estimated or {})
    subs = [c for c in END_USES if c in monthly]
    if "01" in monthly or not subs:
        return dict(monthly), estimated
    values = np.array([np.asarray(monthly[c], dtype=np.float64) for c in subs])
    known = ~np.isnan(values)
    total = np.where(known.any(axis=0), np.nansum(values, axis=0), np.nan)
    guessed = sum(
        np.nan_to_num(values[k]) * np.asarray(estimated.get(c, np.zeros(12)), dtype=np.float64)
        for k, c in enumerate(subs)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.nan_to_num(guessed / total)
    return {**monthly, "01": total}, {**estimated, "01": share}


def _carrier(code: str, reference: Reference) -> str:
    return str(reference.energy_classes[code[:2]]["carrier"])


def audit(
    data: BuildingPeriod,
    factors: Factors,
    reference: Reference,
    *,
    year: int,
    previous: BuildingPeriod | None = None,
    benchmark: tuple[str, str, str] | None = None,
    share_of_year: float = 1.0,
) -> dict[str, Any]:
    """The audit figures of one building and year.

    Parameters
    ----------
    data : BuildingPeriod
    factors : Factors
        Standard coal (当量值 or 等价值 as chosen), CO2 (the grid factor of ``year``), prices.
    reference : Reference
    year : int
        The year of use (for the yearly grid CO2 factor).
    previous : BuildingPeriod, optional
        The year before, for year-over-year changes.
    benchmark : (class, kind, climate_zone), optional
        GB/T 51161 office comparison, e.g. ``("A", "government", "cold")``.
    share_of_year : float
        The audited period's share of its year (days / days of the year): the yearly
        GB/T 51161 values are prorated by it for a shorter period (which ignores seasons; the
        comparison is meant for whole years).

    Returns
    -------
    dict
        ``by_code`` (use, kgce, kgCO2, CNY per energy code and record carrier), ``totals``
        (kgce, tce, kgCO2, CNY), ``intensity`` (per m² and per person), ``monthly``
        (kgce per month), ``month_over_month``, ``year_over_year``, ``quality`` (estimated
        and missing shares per code), ``gb51161`` where asked.

    Notes
    -----
    Electricity is counted once: the main (``01``) when there is one, the sum of the 分项
    otherwise; the 分项 are shown as a breakdown of it.
    """
    rows: dict[str, dict[str, Any]] = {}
    monthly_kgce = np.zeros(12)
    has_main = "01" in data.monthly
    for code, values in data.monthly.items():
        v = np.asarray(values, dtype=np.float64)
        carrier = _carrier(code, reference)
        use = float(np.nansum(v))
        counted = not (carrier == "electricity" and code != "01" and has_main)
        row = _priced(carrier, use, factors, year)
        row.update(
            {
                "name": reference.code(code + "00" if len(code) == 3 else code).name(),
                "unit": reference.energy_classes[code[:2]]["unit"],
                "counted": counted,
                "estimated_share": _estimated_share(v, data.estimated.get(code)),
                "missing_share": _missing_share(v, data.missing.get(code)),
            }
        )
        rows[code] = row
        if counted and carrier not in NOT_ENERGY:
            monthly_kgce += np.nan_to_num(v) * factors.kgce(carrier)
    for r in data.records:
        key = f"record:{r.carrier}"
        row = rows.setdefault(key, _priced(r.carrier, 0.0, factors, year))
        row.setdefault("documents", [])
        add = _priced(r.carrier, r.amount, factors, year)
        for k in ("use", "kgce", "kgco2", "cny"):
            row[k] += add[k]
        row["documents"].append(r.document)
        row.update(
            {
                "counted": True,
                "name": r.carrier,
                "unit": factors.standard_coal[r.carrier].unit.split("/")[-1],
            }
        )
        monthly_kgce[r.month - 1] += r.amount * factors.kgce(r.carrier)
    counted = [row for row in rows.values() if row["counted"]]
    energy = [
        row for code, row in rows.items() if row["counted"] and row["carrier"] not in NOT_ENERGY
    ]
    kgce = sum(row["kgce"] for row in energy)
    totals = {
        "kgce": kgce,
        "tce": kgce / 1000,
        "kgco2": sum(row["kgco2"] for row in counted),
        "cny": sum(row["cny"] for row in counted),
    }
    water = sum(row["use"] for code, row in rows.items() if row["carrier"] == "water")
    electricity = (
        rows.get("01", {}).get("use")
        if has_main
        else sum(row["use"] for code, row in rows.items() if row["carrier"] == "electricity")
    )
    intensity = {
        "kgce_per_m2": kgce / data.floor_area_m2,
        "kgce_per_person": kgce / data.headcount,
        "kwh_per_m2": (electricity or 0.0) / data.floor_area_m2,
        "kgco2_per_m2": totals["kgco2"] / data.floor_area_m2,
        "water_m3_per_person": water / data.headcount,
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        mom = np.r_[np.nan, monthly_kgce[1:] / monthly_kgce[:-1] - 1]
    out: dict[str, Any] = {
        "year": year,
        "by_code": rows,
        "totals": totals,
        "intensity": intensity,
        "monthly_kgce": monthly_kgce.tolist(),
        "monthly_use": {
            code: [None if np.isnan(x) else float(x) for x in np.asarray(v, dtype=np.float64)]
            for code, v in data.monthly.items()
        },
        "month_over_month": [None if np.isnan(x) or np.isinf(x) else float(x) for x in mom],
        "quality": {
            code: {"estimated": row["estimated_share"], "missing": row["missing_share"]}
            for code, row in rows.items()
            if "estimated_share" in row
        },
    }
    if previous is not None:
        before = audit(previous, factors, reference, year=year - 1)
        out["year_over_year"] = (
            {
                "kgce": kgce / before["totals"]["kgce"] - 1,
                "kgce_per_m2": intensity["kgce_per_m2"] / before["intensity"]["kgce_per_m2"] - 1,
                "kgce_per_person": intensity["kgce_per_person"]
                / before["intensity"]["kgce_per_person"]
                - 1,
                "kgce_before": before["totals"]["kgce"],
                "kgce_per_m2_before": before["intensity"]["kgce_per_m2"],
                "kgce_per_person_before": before["intensity"]["kgce_per_person"],
            }
            if before["totals"]["kgce"] > 0
            else None  # nothing to compare with
        )
    if benchmark is not None:
        b = reference.office_benchmark(*benchmark)
        corrected = intensity["kwh_per_m2"]
        if data.operating_hours:
            corrected *= reference.hours_correction(data.operating_hours)
        out["gb51161"] = {
            "kwh_per_m2": intensity["kwh_per_m2"],
            "corrected_kwh_per_m2": corrected,
            "constraint": b.constraint * share_of_year,
            "guide": b.guide * share_of_year,
            "share_of_year": share_of_year,
            "meets_constraint": corrected <= b.constraint * share_of_year,
            "meets_guide": corrected <= b.guide * share_of_year,
            "confidence": b.confidence,
        }
    return out


def _priced(carrier: str, use: float, factors: Factors, year: int) -> dict[str, Any]:
    co2 = (
        factors.co2_electricity(year).value
        if carrier == "electricity"
        else factors.co2[carrier].value
    )
    return {
        "carrier": carrier,
        "use": use,
        "kgce": use * factors.kgce(carrier),
        "kgco2": use * co2,
        "cny": use * factors.price[carrier].value,
    }


def _estimated_share(values: np.ndarray, estimated: np.ndarray | None) -> float:
    """Share of the year's use that was estimated (months weighted by their use)."""
    if estimated is None:
        return 0.0
    v = np.nan_to_num(values)
    total = v.sum()
    return float((v * np.asarray(estimated, dtype=np.float64)).sum() / total) if total else 0.0


def load_shape(use: np.ndarray, days: np.ndarray) -> dict[str, Any]:
    """The shape of a building's electricity load over a period.

    Parameters
    ----------
    use : array_like, shape (days, slots per day)
        Main meter use per slot, kWh (NaN where unknown); 96 slots of 15 minutes or 24 hours.
    days : array_like of datetime64[D], shape (days,)
        The local dates of the rows.

    Returns
    -------
    dict
        ``hourly_kwh`` (days × 24, kWh per hour, None where any slot is unknown), ``workday_kw``
        and ``non_workday_kw`` (24 mean demands, kW, of workdays — 调休 workdays included —
        and of weekends and holidays; None without such days), ``workdays``, ``non_workdays``,
        ``base_load_kw`` (5th percentile of slot demand), ``peak_kw`` and ``base_load_ratio``
        (base / mean demand: a high ratio means the building never really switches off).
    """
    from analytics.calendar import is_workday

    u = np.asarray(use, dtype=np.float64)
    per_hour = u.shape[1] // 24
    if u.shape[1] != 24 * per_hour or u.shape[0] != len(days):
        raise ValueError(f"use: expected (len(days), 24·k) slots, got {u.shape}")
    hours = u.reshape(len(u), 24, per_hour).sum(axis=2)  # NaN where a slot is unknown
    kw = u * per_hour  # kWh per slot → mean kW over the slot
    work = is_workday(np.asarray(days, dtype="datetime64[D]"))

    def profile(rows: np.ndarray) -> list[float | None] | None:
        if not rows.any() or np.isnan(hours[rows]).all():
            return None
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an hour unknown on every day
            mean = np.nanmean(hours[rows], axis=0)
        return [None if np.isnan(x) else float(x) for x in mean]

    known = kw[~np.isnan(kw)]
    base = float(np.percentile(known, 5)) if known.size else None
    mean = float(known.mean()) if known.size else None
    return {
        "hourly_kwh": [[None if np.isnan(x) else round(float(x), 3) for x in r] for r in hours],
        "first_day": str(days[0]) if len(days) else None,
        "workday_kw": profile(work),
        "non_workday_kw": profile(~work),
        "workdays": int(work.sum()),
        "non_workdays": int((~work).sum()),
        "base_load_kw": base,
        "peak_kw": float(known.max()) if known.size else None,
        "base_load_ratio": base / mean if base is not None and mean else None,
    }


def _missing_share(values: np.ndarray, missing: np.ndarray | None) -> float:
    """Share of the period's time without use (the mean over its months)."""
    m = np.isnan(values).astype(np.float64) if missing is None else np.asarray(missing, float)
    return float(np.nanmean(m)) if not np.isnan(m).all() else 1.0


#: Quota levels (定额) from the best to the mandatory ceiling.
QUOTA_LEVELS = ("guide", "baseline", "constraint")


def quota_band(value: float, quota: dict[str, float]) -> str:
    """Where an indicator stands against a quota's levels (引导值 ≤ 基准值 ≤ 约束值):
    ``guide`` (at or below the guide value), ``baseline``, ``constraint`` (within the
    mandatory ceiling) or ``over`` (above it, 超定额). A quota may leave out its guide and
    baseline values (NULL in the registry); the constraint is needed."""
    levels = [(k, quota[k]) for k in QUOTA_LEVELS if quota.get(k) is not None]
    if not levels or levels[-1][0] != "constraint":
        raise ValueError(f"quota: a constraint value (约束值) is needed, got {quota}")
    if [v for _, v in levels] != sorted(v for _, v in levels):
        raise ValueError(f"quota: guide ≤ baseline ≤ constraint expected, got {levels}")
    for name, limit in levels:
        if value <= limit:
            return name
    return "over"


def time_of_use(use: np.ndarray, reference: Reference, tariff: str) -> dict[str, Any]:
    """Electricity use and its cost by time-of-use band (峰谷分时电价).

    Parameters
    ----------
    use : array_like, shape (days, slots per day)
        Main meter use per slot, kWh (NaN where unknown), slots in local time from midnight.
    reference : Reference
    tariff : str
        A tariff of the reference data (e.g. ``example_tou_commercial``).

    Returns
    -------
    dict
        ``tariff``, ``kwh`` and ``cny`` per band, ``total_kwh``, ``total_cny`` and
        ``average_price`` (CNY/kWh) over the known slots.
    """
    u = np.asarray(use, dtype=np.float64)
    per_day = u.shape[1]
    starts = np.arange(per_day) * 24.0 / per_day  # each slot's local hour
    price = reference.tariff_prices(tariff, starts)
    bands = {p["band"] for p in reference.tariffs[tariff]["periods"]}
    band_of = np.empty(per_day, dtype=object)
    for period in reference.tariffs[tariff]["periods"]:
        band_of[(starts >= period["start"]) & (starts < period["end"])] = period["band"]
    per_slot = np.nansum(u, axis=0)  # kWh of each slot of the day over the period
    kwh = {b: float(per_slot[band_of == b].sum()) for b in sorted(bands)}
    cny = {b: float((per_slot * price)[band_of == b].sum()) for b in sorted(bands)}
    total_kwh, total_cny = sum(kwh.values()), sum(cny.values())
    return {
        "tariff": tariff,
        "prices": dict(reference.tariffs[tariff]["prices"]),
        "kwh": kwh,
        "cny": cny,
        "total_kwh": total_kwh,
        "total_cny": total_cny,
        "average_price": total_cny / total_kwh if total_kwh else None,
    }


def reprice_electricity(result: dict[str, Any], tou: dict[str, Any]) -> None:
    """Price the electricity of an :func:`audit` result at a :func:`time_of_use` result's
    average price (the main meter's slots priced by band), in place: the rows of ``01`` and
    its 分项, and the total cost."""
    price = tou["average_price"]
    if price is None:
        return
    for code, row in result["by_code"].items():
        if row["carrier"] == "electricity" and not code.startswith("record:"):
            new = row["use"] * price
            if row["counted"]:
                result["totals"]["cny"] += new - row["cny"]
            row["cny"] = new
    result["time_of_use"] = tou


#: The audit intensity (``audit()["intensity"]`` key) behind each quota or target indicator.
INDICATORS = {
    "energy_per_m2": "kgce_per_m2",
    "energy_per_capita": "kgce_per_person",
    "electricity_per_m2": "kwh_per_m2",
    "water_per_capita": "water_m3_per_person",
    "co2_per_m2": "kgco2_per_m2",
}


def targets_progress(
    current: dict[str, Any], base: dict[str, Any], plan: dict[str, Any], *, year: int
) -> dict[str, dict[str, float | bool]]:
    """Progress of each indicator of a plan (十四五, 十五五: ``base_year``, ``target_year``,
    ``reductions``) from two audits of the same months: the base year's and ``year``'s.
    Indicators whose base value is 0 (no water meter, say) are left out."""
    out = {}
    for indicator, reduction in plan["reductions"].items():
        key = INDICATORS.get(indicator)
        if key is None:
            raise ValueError(f"reductions: {indicator!r} is not one of {', '.join(INDICATORS)}")
        before, now = base["intensity"][key], current["intensity"][key]
        if before > 0:
            out[indicator] = {
                "base": before,
                "current": now,
                **target_progress(
                    before,
                    now,
                    reduction=reduction,
                    base_year=plan["base_year"],
                    target_year=plan["target_year"],
                    year=year,
                ),
            }
    return out


def target_progress(
    base: float, current: float, *, reduction: float, base_year: int, target_year: int, year: int
) -> dict[str, float | bool]:
    """Progress of an indicator towards a target against a base year (e.g. 十四五: energy per
    m² −5 % from 2020 to 2025), the path to it taken as a straight line.

    Parameters
    ----------
    base, current : float
        The indicator in the base year and in ``year`` (same unit).
    reduction : float
        The target change over the plan, e.g. −0.05.
    base_year, target_year, year : int

    Returns
    -------
    dict
        ``change`` (current vs base), ``expected`` (the straight-line change due by ``year``),
        ``target`` (the change due by the target year), ``on_track`` (change ≤ expected),
        ``achieved`` (change ≤ target).
    """
    if not base > 0:
        raise ValueError(f"base: the base year's value must be > 0, got {base}")
    if not base_year < target_year:
        raise ValueError(f"target_year: {target_year} is not after base_year {base_year}")
    elapsed = min(max(year - base_year, 0), target_year - base_year)
    expected = reduction * elapsed / (target_year - base_year)
    change = current / base - 1
    return {
        "change": change,
        "expected": expected,
        "target": reduction,
        "on_track": change <= expected,
        "achieved": change <= reduction,
    }
