"""The audit report (``jieneng audit --format html|pdf``): the figures of
:func:`jieneng.audit.run` laid out for the energy manager, with the four charts the issue asks
for — monthly electricity by 分项, workday/day-off load profile, hour × day heat map, intensity
against benchmarks."""

from __future__ import annotations

from typing import Any

from analytics import factors as factorlib
from analytics import reference as referencelib
from reports import charts
from reports.render import html, pct
from reports.text import BANDS, CARRIERS, INDICATORS, LABELS, PLANS, TOU_BANDS, check, t

#: Order of the energy codes in the tables.
_ORDER = ("01", "01A", "01B", "01C", "01D", "02", "03", "04", "05", "06")
#: Units of the quota indicators.
_QUOTA_UNITS = {
    "energy_per_m2": "kgce/m²",
    "energy_per_capita": "kgce/{person}",
    "electricity_per_m2": "kWh/m²",
    "water_per_capita": "m³/{person}",
}


def page(
    result: dict[str, Any],
    *,
    lang: str = "zh",
    factors: factorlib.Factors | None = None,
    reference: referencelib.Reference | None = None,
) -> str:
    """The audit of :func:`jieneng.audit.run` as an HTML page."""
    check(lang)
    factors = factors or factorlib.load()
    reference = reference or referencelib.load()
    T = {key: t(key, lang) for key in LABELS}
    is_building = "building" in result
    s = result["building"] if is_building else result["institution"]
    subject = {
        "kind": T["building"] if is_building else T["institution"],
        "name": s.get("name") or s["code"],
        "code": s["code"],
        "floor_area_m2": s.get("floor_area_m2"),
        "headcount": s.get("headcount"),
    }
    totals, intensity = result["totals"], result["intensity"]
    rows = _rows(result["by_code"], lang, reference)
    potential = _potential(result["findings"], totals["kgce"])
    grid = factors.co2_electricity(result["year"])  # the latest published for the year
    return html(
        "audit.html",
        lang,
        T=T,
        subject=subject,
        period=result["period"]["label"],
        kpis=_kpis(result, T, lang),
        charts=_charts(result, lang, rows),
        rows=[r for r in rows if not r["code"].startswith("record:")],
        records=[r for r in rows if r["code"].startswith("record:")],
        totals=totals,
        factors_note=T["factors_note"].format(
            method=T[factors.electricity_method],
            co2=f"{grid.value:.4f}",
            source=grid.source,
        ),
        benchmarks=_benchmarks(result, lang),
        benchmark_notes=_benchmark_notes(result, T),
        findings=[_named(f, lang) for f in result["findings"] if f["rule"] not in METER_RULES],
        meter_problems=[_named(f, lang) for f in result["findings"] if f["rule"] in METER_RULES],
        potential=potential,
        load=result.get("load") if result.get("load", {}).get("peak_kw") is not None else None,
        quality=[
            {"code": r["code"], "name": r["name"], **result["quality"][r["code"]]}
            for r in rows
            if r["code"] in result["quality"]
        ],
        intensity=intensity,
        targets=_targets(result.get("targets", {}), lang),
        ranking=result.get("ranking"),
        tou=_tou(result.get("time_of_use"), lang),
    )


def _targets(targets: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    out = []
    for name, plan in targets.items():
        rows = [
            {"name": t(indicator, lang, INDICATORS), **values}
            for indicator, values in plan["indicators"].items()
        ]
        out.append({"reason_key": None, **plan, "name": t(name, lang, PLANS), "rows": rows})
    return out


#: Findings about the meters rather than the building: listed under data quality.
METER_RULES = frozenset({"gap", "stuck", "reset", "spike", "clock_skew"})


def _named(finding: dict[str, Any], lang: str) -> dict[str, Any]:
    return {**finding, "name": finding["name"] if lang == "zh" else finding["name_en"]}


def _rows(by_code: dict[str, Any], lang: str, reference: referencelib.Reference) -> list[dict]:
    def order(code: str) -> tuple[int, str]:
        return (_ORDER.index(code) if code in _ORDER else len(_ORDER), code)

    out = []
    for code in sorted(by_code, key=order):
        row = by_code[code]
        if code.startswith("record:"):
            name = t(row["carrier"], lang, CARRIERS)
        else:
            name = reference.code(code + "00" if len(code) == 3 else code).name(lang)
        out.append(
            {
                "code": code,
                "name": name,
                "use": row["use"],
                "unit": row["unit"].replace("m3", "m³"),
                "kgce": row["kgce"],
                "kgco2": row["kgco2"],
                "cny": row["cny"],
                "counted": row["counted"],
                "estimated": row.get("estimated_share"),
                "missing": row.get("missing_share"),
                "documents": "; ".join(row.get("documents", [])),
            }
        )
    return out


def _change(value: float | None, T: dict[str, str], key: str) -> str:
    return f"{T[key]} {pct(value, signed=True)}" if value is not None else ""


def _kpis(result: dict[str, Any], T: dict[str, str], lang: str) -> list[dict[str, str]]:
    totals, intensity = result["totals"], result["intensity"]
    yoy = result.get("year_over_year")
    month = result.get("previous_month")
    change = _change(yoy["kgce"], T, "yoy") if yoy else f"{T['yoy']}: {T['no_comparison']}"
    if month is not None and month["change"] is not None:
        change += ("; " if change else "") + _change(month["change"], T, "mom")
    per_m2 = _change(yoy["kgce_per_m2"], T, "yoy") if yoy else ""
    per_person = _change(yoy["kgce_per_person"], T, "yoy") if yoy else ""
    person = "人" if lang == "zh" else "person"
    if not result.get("complete", True):
        missing = max(q["missing"] for q in result["quality"].values()) if result["quality"] else 1
        change = T["incomplete"].format(missing=pct(missing, 0))
    return [
        {"label": T["total_energy"], "value": f"{totals['tce']:,.2f}", "unit": "tce",
         "note": change},
        {"label": T["co2"], "value": f"{totals['kgco2'] / 1000:,.2f}", "unit": "t", "note": ""},
        {"label": T["cost"], "value": f"{totals['cny'] / 10_000:,.2f}",
         "unit": "万元" if lang == "zh" else "10k CNY", "note": ""},
        {"label": T["per_m2"], "value": f"{intensity['kgce_per_m2']:,.2f}", "unit": "kgce/m²",
         "note": per_m2},
        {"label": T["per_person"], "value": f"{intensity['kgce_per_person']:,.1f}",
         "unit": f"kgce/{person}", "note": per_person},
        {"label": T["kwh_per_m2"], "value": f"{intensity['kwh_per_m2']:,.1f}", "unit": "kWh/m²",
         "note": ""},
    ]  # fmt: skip


def _charts(result: dict[str, Any], lang: str, rows: list[dict]) -> dict[str, str | None]:
    months = result["period"]["months"]
    names = {r["code"]: r["name"] for r in rows}
    # Monthly use per code: the audit keeps kgce per month; per code it keeps the totals, so
    # the monthly figures come from the JSON's monthly use (``monthly_use``).
    monthly = {c: v for c, v in result.get("monthly_use", {}).items() if c.startswith("01")}
    load = result.get("load") or {}
    out: dict[str, str | None] = {
        "monthly": charts.monthly_by_end_use(months, monthly, names, lang) if monthly else None,
        "intensity": _intensity_chart(result, lang),
        "profile": None,
        "heatmap": None,
    }
    if load.get("peak_kw") is not None:
        out["profile"] = charts.load_profile(
            load["workday_kw"], load["non_workday_kw"], lang, base_load_kw=load["base_load_kw"]
        )
        out["heatmap"] = charts.heat_map(load["hourly_kwh"], load["first_day"], lang)
    return out


def _intensity_chart(result: dict[str, Any], lang: str) -> str:
    intensity = result["intensity"]
    gb = result.get("gb51161")
    share = result["period"].get("share_of_year", 1.0)
    if gb is not None:
        bars = [(t("kwh_per_m2", lang), gb["kwh_per_m2"], "#3b7dd8")]
        if gb["corrected_kwh_per_m2"] != gb["kwh_per_m2"]:
            bars.append((t("corrected", lang), gb["corrected_kwh_per_m2"], "#6fa8dc"))
        lines = [
            (t("guide", lang), gb["guide"], "#38761d"),
            (t("constraint", lang), gb["constraint"], "#cc0000"),
        ]
        return charts.intensity(bars, lines, lang, unit="kWh/m²")
    bars = [(t("this", lang), intensity["kgce_per_m2"], "#3b7dd8")]
    yoy = result.get("year_over_year")
    if yoy:
        bars.append((t("last_year", lang), yoy["kgce_per_m2_before"], "#b7b7b7"))
    quota = result.get("quota_levels", {}).get("energy_per_m2") or {}
    lines = [
        (t(level, lang), quota[level] * share, colour)
        for level, colour in (("guide", "#38761d"), ("constraint", "#cc0000"))
        if quota.get(level) is not None  # a quota may leave its guide value out
    ]
    return charts.intensity(bars, lines, lang, unit="kgce/m²")


def _benchmarks(result: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    out = []
    gb = result.get("gb51161")
    if gb is not None:
        met = gb["meets_constraint"]
        if met is None:  # the period misses too much to be judged
            band = t("not_judged", lang)
        elif gb["meets_guide"]:
            band = t("guide", lang)
        else:
            band = t("meets", lang) + " " + t("constraint", lang) if met else t("fails", lang)
        out.append(
            {
                "name": f"{t('gb51161', lang)} (kWh/m², {t('corrected', lang)})",
                "value": gb["corrected_kwh_per_m2"],
                "guide": gb["guide"],
                "baseline": None,
                "constraint": gb["constraint"],
                "band": band,
                "css": "" if met is None else "ok" if met else "bad",
            }
        )
    for indicator, q in result.get("quotas", {}).items():
        out.append(
            {
                "name": f"{t('quotas', lang)}: {t(indicator, lang, INDICATORS)}"
                f" ({_QUOTA_UNITS.get(indicator, q['unit']).format(person=t('person', lang))})",
                "value": q["value"],
                "guide": q["guide"],
                "baseline": q["baseline"],
                "constraint": q["constraint"],
                "band": t(q["band"], lang, BANDS),
                "css": "bad" if q["band"] == "over" else "ok",
            }
        )
    return out


def _benchmark_notes(result: dict[str, Any], T: dict[str, str]) -> list[str]:
    notes = []
    gb = result.get("gb51161")
    if gb is not None:
        if gb.get("confidence") != "K":
            notes.append(f"GB/T 51161: {T['unverified']} ({gb.get('confidence')}).")
        hours = result.get("building", {}).get("operating_hours")
        if hours:
            notes.append("GB/T 51161: " + T["hours_note"].format(hours=hours))
        if gb.get("share_of_year", 1.0) < 1.0:
            notes.append(f"GB/T 51161: {T['prorated']} ({pct(gb['share_of_year'])}).")
    if result.get("quota_levels") and len(result["period"]["months"]) < 12:
        notes.append(f"{T['quotas']}: {T['quotas_yearly']}")
    return notes


def _potential(findings: list[dict[str, Any]], kgce: float) -> dict[str, float | None]:
    total = {k: sum(f[k] or 0.0 for f in findings) for k in ("kgce", "kgco2", "cny")}
    return {**total, "share": total["kgce"] / kgce if kgce else None}


#: Order of the time-of-use bands in the table.
_BAND_ORDER = ("sharp", "peak", "flat", "valley", "deep_valley")


def _tou(tou: dict[str, Any] | None, lang: str) -> dict[str, Any] | None:
    if tou is None:
        return None
    total = tou["total_kwh"]
    bands = sorted(tou["kwh"], key=lambda b: (_BAND_ORDER.index(b) if b in _BAND_ORDER else 9, b))
    rows = [
        {
            "name": t(b, lang, TOU_BANDS),
            "price": tou["prices"][b],
            "kwh": tou["kwh"][b],
            "share": tou["kwh"][b] / total if total else None,
            "cny": tou["cny"][b],
        }
        for b in bands
    ]
    return {**tou, "bands": rows}
