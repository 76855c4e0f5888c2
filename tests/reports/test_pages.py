"""Report pages without the store: the hand-computed audit year laid out, in both languages."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from analytics import factors, reference
from analytics.audit import audit, load_shape
from reports import audit as audit_report
from reports.render import num, pct
from tests.analytics.test_audit import building


@pytest.fixture(scope="module")
def result() -> dict:
    got = audit(
        building(10_000, []),
        factors.load(),
        reference.load(),
        year=2023,
        previous=building(11_000, []),
        benchmark=("A", "government", "cold"),
    )
    days = np.arange(np.datetime64("2023-01-01"), np.datetime64("2024-01-01"))
    hours = np.tile(np.r_[np.full(8, 5.0), np.full(10, 25.0), np.full(6, 5.0)], (365, 1))
    got["load"] = load_shape(hours, days)
    got["building"] = {"code": "110108A001", "name": "<b>机关</b>办公楼", "floor_area_m2": 1000,
                       "headcount": 50}  # fmt: skip
    got["period"] = {"label": "2023", "year": 2023, "months": list(range(1, 13)),
                     "share_of_year": 1.0}  # fmt: skip
    got["findings"] = [
        {"rule": "night_flow", "name": "夜间用水(疑似漏水)", "name_en": "night water flow (leak)",
         "findings": 2, "runs": 9, "waste": 12.5, "waste_unit": "m³", "kgce": None,
         "kgco2": None, "cny": 68.75},
    ]  # fmt: skip
    got["quotas"] = {
        "energy_per_m2": {"value": 18.08, "unit": "kgce/m2", "guide": 12, "baseline": 15,
                          "constraint": 20, "source": "example", "band": "constraint"},
    }  # fmt: skip
    got["quota_levels"] = got["quotas"]
    return got


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_audit_page(result: dict, lang: str) -> None:
    page = audit_report.page(result, lang=lang)
    assert page.count("<svg") == 4  # monthly, intensity, profile, heat map
    ids = Counter(re.findall(r'\bid="([^"]+)"', page))
    assert not [i for i, n in ids.items() if n > 1]  # charts on one page share no id
    assert "&lt;b&gt;机关&lt;/b&gt;办公楼" in page  # names are escaped
    title, night = ("能源审计报告", "夜间用水") if lang == "zh" else ("Energy audit report", "leak")
    assert title in page and night in page
    # 14,748 + 3,035.75 kgce (no diesel this time) on 1,000 m²; the year before 19,258.55 kgce.
    assert "17.78" in page and "-7.7 %" in page
    # GB/T 51161 after the hours correction: 106.0 kWh/m², over the 55 constraint.
    fails = "未达标" if lang == "zh" else "not met"
    assert re.search(
        rf"106\.0</td><td>45\.0</td>\s*<td>—</td><td>55\.0</td>\s*<td[^>]*>{fails}", page
    )


def test_number_formats() -> None:
    assert num(1234.56) == "1,234.6" and num(None) == "—" and num(float("nan")) == "—"
    assert pct(0.0614) == "6.1 %" and pct(-0.0614, signed=True) == "-6.1 %"
    assert pct(0.0614, signed=True) == "+6.1 %" and pct(None) == "—"


def _measurement() -> dict:
    days = [f"2026-07-{d:02d}" for d in range(1, 32)]
    return {
        "baseline": {"start": "2025-07-01", "end": "2026-07-16"},
        "reporting": {"start": "2026-07-16", "end": "2026-08-01"},
        "fuel": "electricity",
        "model": {"model_type": "cdd_only", "warnings": []},
        "guideline14_monthly": {"cvrmse": 0.08, "nmbe": 0.01, "r_squared": 0.9, "passes": True},
        "savings": {"fractional": 0.12, "confidence": 0.9},
        "daily": {
            "date": days,
            "observed": [1000.0] * 15 + [880.0] * 16,
            "baseline": [1000.0] * 31,
            "temperature_c": [25.0] * 31,
            "avoided": [None] * 15 + [120.0] * 16,
        },
    }


@pytest.mark.parametrize(
    ("kind", "terms", "words"),
    [
        ("shared_savings", {"esco_share": 0.7}, ["节能效益分享型", "节能服务公司分得"]),
        ("guaranteed_savings", {"esco_share": 0.5, "guaranteed": 2500}, ["保证节能量", "补偿"]),
        ("cost_trusteeship", {"fee": 14000}, ["能源费用托管型", "托管费用", "实际能源费用"]),
    ],
)
def test_emc_statement_for_each_contract_type(kind: str, terms: dict, words: list) -> None:
    from analytics.emc import Contract, settle
    from reports import emc as emc_report

    statement = settle(
        Contract(kind, price=0.8, **terms),
        avoided=1920.0,
        uncertainty=300.0,
        adjusted_baseline=16_000.0,
        actual=14_080.0,
    )
    result = {
        "contract": {"code": "EMC-9", "name": "照明改造", "kind": kind, "meter": "m/elec/main",
                     "esco": None},
        "period": {"label": "2026-07", "start": "2026-07-16", "end": "2026-08-01", "days": 16,
                   "measured_days": 16},
        "warnings": [],
        "measurement": _measurement(),
        "settlement": statement,
    }  # fmt: skip
    page = emc_report.page(result, lang="zh")
    assert page.count("<svg") == 1 and "通过" in page
    for word in words:
        assert word in page, word
    assert "1,920.0 ± 300.0" in page and "12.0 %" in page
    english = emc_report.page(result, lang="en")
    assert "Energy performance contract" in english and "passes" in english
