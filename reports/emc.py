"""The settlement statement of a 合同能源管理 contract (``jieneng emc settle --format
html|pdf``): the measurement (CalTRACK daily model, Guideline 14, uncertainty), the settlement
by contract type, the baseline-vs-actual chart and the parties' signature lines."""

from __future__ import annotations

from typing import Any

from reports import charts
from reports.render import html
from reports.render import num as _num
from reports.render import pct as _pct
from reports.text import LABELS, check, t

#: Meter units by fuel of the measurement.
UNITS = {"electricity": "kWh", "gas": "m³", "heat": "kWh"}


def page(result: dict[str, Any], *, lang: str = "zh") -> str:
    """The settlement of :func:`jieneng.emc.settle` as an HTML page."""
    check(lang)
    T = {key: t(key, lang) for key in LABELS}
    c, st, m = result["contract"], result["settlement"], result["measurement"]
    unit = UNITS.get(m.get("fuel", "electricity"), "")
    savings, g14, model = m["savings"], m["guideline14_monthly"], m["model"]
    period = result["period"]
    rows: list[tuple[str, str, str]] = [  # label, value, unit
        (T["measured_days"], f"{period['measured_days']} / {period['days']}", T["days"]),
        (T["adjusted_baseline"], _num(st.get("adjusted_baseline")), unit),
        (T["actual"], _num(st.get("actual")), unit),
        (T["avoided"], f"{_num(st['avoided'])} ± {_num(st['uncertainty'])}", unit),
        (T["fractional"], _pct(savings.get("fractional")), ""),
        (T["price"], _num(st["price"], 4), "元/" + unit if lang == "zh" else "CNY/" + unit),
        (T["savings_value"], _num(st["value"], 2), _cny(lang)),
    ]
    if c["kind"] == "guaranteed_savings":
        rows += [
            (T["guaranteed"], _num(st["guaranteed"]), unit),
            (T["shortfall"], _num(st["shortfall"]), unit),
            (T["compensation"], _num(st["compensation"], 2), _cny(lang)),
        ]
    if c["kind"] == "cost_trusteeship":
        rows += [
            (T["fee"], _num(st["fee"], 2), _cny(lang)),
            (T["actual_cost"], _num(st["actual_cost"], 2), _cny(lang)),
        ]
    rows += [
        (T["esco_gets"], _num(st["esco"], 2), _cny(lang)),
        (T["agency_gets"], _num(st["agency"], 2), _cny(lang)),
    ]
    daily = m["daily"]
    chart = charts.baseline_vs_actual(
        daily["date"],
        daily["observed"],
        daily["baseline"],
        daily["avoided"],
        result["period"]["start"],
        lang,
        unit=unit,
    )
    warnings = [*result.get("warnings", []), *model.get("warnings", [])]
    return html(
        "emc.html",
        lang,
        T=T,
        contract=c,
        kind=t(c["kind"], lang),
        period=result["period"],
        baseline=m["baseline"],
        method=T["method_text"].format(model=model["model_type"]),
        g14={
            "cvrmse": _pct(g14.get("cvrmse")),
            "nmbe": _pct(g14.get("nmbe")),
            "r2": _num(g14.get("r_squared"), 3),
            "passes": bool(g14.get("passes")),
        },
        confidence=_pct(savings.get("confidence"), 0),
        rows=rows,
        chart=chart,
        warnings=warnings,
    )


def _cny(lang: str) -> str:
    return "元" if lang == "zh" else "CNY"
