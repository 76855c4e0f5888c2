"""A hand-computed audit: one small office building, one year (2023), default factors.

The building: 1,000 m², 50 people. Electricity main 10,000 kWh a month (分项 01A 4,000, 01B
3,000, 01C 2,000, 01D 1,000); gas 500 m³ in January–March, November and December; water
300 m³ a month; 200 kg of diesel for the official car in June (a fuel-card record).

By hand, with GB/T 2589 当量值 and the example prices of analytics/data/factors.yaml:
- electricity 120,000 kWh × 0.1229 = 14,748.00 kgce; × 0.5306 (2023 grid) = 63,672.0 kgCO2;
  × 0.80 = 96,000.00 ¥
- gas 2,500 m³ × 1.2143 = 3,035.75 kgce; × 2.1622 = 5,405.5 kgCO2; × 3.50 = 8,750.00 ¥
- water 3,600 m³: no standard coal (a working medium); × 5.50 = 19,800.00 ¥
- diesel 200 kg × 1.4571 = 291.42 kgce; × 3.096 = 619.2 kgCO2; × 9.0 = 1,800.00 ¥
- totals 18,075.17 kgce (18.07517 tce), 69,696.7 kgCO2, 126,350.00 ¥; 18.07517 kgce/m²,
  361.5034 kgce/person, 120 kWh/m², 72 m³ water/person
- January 1,229.00 + 607.15 = 1,836.15 kgce; June 1,229.00 + 291.42 = 1,520.42 kgce
- GB/T 51161 (A, government, cold: 55 / 45 kWh/m²), 3,000 h: 120 × (0.3 + 0.7 × 2,500/3,000)
  = 106.00 kWh/m², above the constraint
- 2022 with 11,000 kWh a month and no diesel: 16,222.80 + 3,035.75 = 19,258.55 kgce;
  year over year 18,075.17 / 19,258.55 − 1 = −6.1448 %
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics import factors, reference
from analytics.audit import BuildingPeriod, Record, audit

GAS = np.array([500, 500, 500, 0, 0, 0, 0, 0, 0, 0, 500, 500], dtype=float)


def building(kwh_per_month: float, records: list[Record]) -> BuildingPeriod:
    share = kwh_per_month / 10_000
    return BuildingPeriod(
        monthly={
            "01": np.full(12, kwh_per_month),
            "01A": np.full(12, 4_000 * share),
            "01B": np.full(12, 3_000 * share),
            "01C": np.full(12, 2_000 * share),
            "01D": np.full(12, 1_000 * share),
            "02": np.full(12, 300.0),
            "03": GAS,
        },
        estimated={"01": np.r_[0.5, np.zeros(11)]},  # half of January's electricity estimated
        floor_area_m2=1_000,
        headcount=50,
        records=records,
        operating_hours=3_000,
    )


def test_hand_computed_audit() -> None:
    diesel = Record("diesel", 200.0, 6, "油卡对账单 2023-06")
    got = audit(
        building(10_000, [diesel]),
        factors.load(),
        reference.load(),
        year=2023,
        previous=building(11_000, []),
        benchmark=("A", "government", "cold"),
    )
    t = got["totals"]
    assert t["kgce"] == pytest.approx(18_075.17, abs=0.1)
    assert t["tce"] == pytest.approx(18.07517, abs=1e-4)
    assert t["kgco2"] == pytest.approx(69_696.7, abs=0.1)
    assert t["cny"] == pytest.approx(126_350.00, abs=0.01)
    rows = got["by_code"]
    assert rows["01"]["cny"] == pytest.approx(96_000.00, abs=0.01)
    assert rows["03"]["kgce"] == pytest.approx(3_035.75, abs=0.1)
    assert rows["02"]["kgce"] == 0 and rows["02"]["cny"] == pytest.approx(19_800.00, abs=0.01)
    assert rows["record:diesel"]["documents"] == ["油卡对账单 2023-06"]
    assert not rows["01A"]["counted"] and rows["01A"]["use"] == 48_000  # a breakdown of 01
    assert rows["01B"]["name"] == "空调用电"
    i = got["intensity"]
    assert i["kgce_per_m2"] == pytest.approx(18.07517, abs=1e-4)
    assert i["kgce_per_person"] == pytest.approx(361.5034, abs=1e-3)
    assert i["kwh_per_m2"] == 120 and i["water_m3_per_person"] == 72
    assert got["monthly_kgce"][0] == pytest.approx(1_836.15, abs=0.1)
    assert got["monthly_kgce"][5] == pytest.approx(1_520.42, abs=0.1)
    assert got["month_over_month"][1] == pytest.approx(0.0)
    assert got["quality"]["01"] == {"estimated": pytest.approx(0.5 / 12), "missing": 0.0}
    g = got["gb51161"]
    assert g["corrected_kwh_per_m2"] == pytest.approx(106.0, abs=0.01)
    assert not g["meets_constraint"] and g["confidence"] == "U"
    assert got["year_over_year"]["kgce"] == pytest.approx(-0.061448, abs=1e-5)


def test_bad_building_data_names_the_field() -> None:
    with pytest.raises(ValueError, match="floor_area_m2"):
        BuildingPeriod(monthly={}, floor_area_m2=0, headcount=1)
    with pytest.raises(ValueError, match=r"monthly\['01'\]"):
        BuildingPeriod(monthly={"01": np.ones(11)}, floor_area_m2=1, headcount=1)
    with pytest.raises(ValueError, match="records: month 13"):
        BuildingPeriod(
            monthly={}, floor_area_m2=1, headcount=1, records=[Record("diesel", 1.0, 13, "x")]
        )


def test_quota_bands_and_target_progress() -> None:
    from analytics.audit import quota_band, target_progress

    quota = reference.load().quota_examples["db37_2672_government_a"]["indicators"]
    per_m2 = quota["non_heating_energy_per_m2"]  # 20.0 / 11.9 / 6.5 kgce/(m²·a)
    assert [quota_band(v, per_m2) for v in (6.5, 10.0, 18.07517, 25.0)] == [
        "guide",
        "baseline",
        "constraint",
        "over",
    ]
    with pytest.raises(ValueError, match="quota"):
        quota_band(1.0, {"guide": 3.0, "baseline": 2.0, "constraint": 1.0})
    # 十四五: energy per m² −5 % from 2020 to 2025; in 2023 three fifths of it is due (−3 %).
    plan = reference.load().targets["plan_14th"]
    got = target_progress(
        20.0,
        19.5,
        reduction=plan["reductions"]["energy_per_m2"],
        base_year=plan["base_year"],
        target_year=plan["target_year"],
        year=2023,
    )
    assert got["change"] == pytest.approx(-0.025) and got["expected"] == pytest.approx(-0.03)
    assert not got["on_track"] and not got["achieved"]
    assert target_progress(20, 18.9, reduction=-0.05, base_year=2020, target_year=2025, year=2025)[
        "achieved"
    ]


def test_a_record_over_months_is_split_by_days() -> None:
    import datetime as dt

    from analytics.audit import records_by_month

    split = records_by_month(
        "heat", 3_100.0, dt.date(2023, 1, 15), dt.date(2023, 2, 14), "热力账单", year=2023
    )
    assert [(r.month, r.amount) for r in split] == [(1, 1_700.0), (2, 1_400.0)]
    across = records_by_month(
        "diesel", 62.0, dt.date(2022, 12, 1), dt.date(2023, 1, 31), "油卡", year=2023
    )
    assert [(r.month, r.amount) for r in across] == [(1, 31.0)]  # December belongs to 2022


def test_load_shape_splits_workdays_by_the_chinese_calendar() -> None:
    from analytics.audit import load_shape

    # 2026-10-01 … 10-10: National Day holidays 1–7 October (a Thursday to a Wednesday),
    # Saturday 10 October a 调休 workday; 8–9 October ordinary workdays.
    days = np.arange(np.datetime64("2026-10-01"), np.datetime64("2026-10-11"))
    use = np.full((10, 96), 10.0)  # 40 kW all day
    work = [7, 8, 9]
    use[work, 36:72] = 30.0  # 120 kW from 09:00 to 18:00 on workdays
    use[9, 0] = np.nan  # one unknown slot
    got = load_shape(use, days)
    assert (got["workdays"], got["non_workdays"]) == (3, 7)
    assert got["workday_kw"][12] == pytest.approx(120.0) and got["workday_kw"][3] == 40.0
    assert got["workday_kw"][0] == pytest.approx(40.0)  # the NaN hour is left out, not zeroed
    assert got["non_workday_kw"] == [pytest.approx(40.0)] * 24
    assert got["hourly_kwh"][9][0] is None and got["hourly_kwh"][8][12] == pytest.approx(120.0)
    assert got["base_load_kw"] == pytest.approx(40.0) and got["peak_kw"] == pytest.approx(120.0)
    mean = (40 * 96 * 10 + 80 * 36 * 3) / (96 * 10)  # kW, the NaN slot aside (≈ 40 kW)
    assert got["base_load_ratio"] == pytest.approx(40 / mean, rel=1e-3)
    with pytest.raises(ValueError, match="use: expected"):
        load_shape(use[:, :95], days)


def test_time_of_use_prices_electricity_by_band() -> None:
    from analytics.audit import reprice_electricity, time_of_use

    ref = reference.load()
    # One day, 1 kWh every 15 minutes, under the example tariff (valley 0–8 and 22–24 h at
    # 0.38, flat 8–10, 12–14 and 19–22 h at 0.80, peak 10–12 and 14–19 h at 1.25 ¥/kWh):
    # 40 kWh × 0.38 + 28 kWh × 0.80 + 28 kWh × 1.25 = 15.20 + 22.40 + 35.00 = 72.60 ¥.
    got = time_of_use(np.ones((1, 96)), ref, "example_tou_commercial")
    assert got["kwh"] == {"flat": 28.0, "peak": 28.0, "valley": 40.0}
    assert got["cny"] == pytest.approx({"flat": 22.4, "peak": 35.0, "valley": 15.2})
    assert got["total_cny"] == pytest.approx(72.6)
    assert got["average_price"] == pytest.approx(72.6 / 96)
    # The hand-computed year at that average price: electricity 120,000 kWh → 90,750.00 ¥
    # instead of 96,000.00 ¥ flat; the total moves by the difference.
    result = audit(building(10_000, []), factors.load(), ref, year=2023)
    flat = result["totals"]["cny"]
    reprice_electricity(result, got)
    assert result["by_code"]["01"]["cny"] == pytest.approx(90_750.00, abs=0.005)
    assert result["by_code"]["01A"]["cny"] == pytest.approx(48_000 * 72.6 / 96)
    assert result["totals"]["cny"] == pytest.approx(flat - 96_000.00 + 90_750.00, abs=0.005)
    with pytest.raises(KeyError, match="tariff 'nope'"):
        time_of_use(np.ones((1, 96)), ref, "nope")


def test_quota_band_without_guide_or_baseline() -> None:
    from analytics.audit import quota_band

    assert quota_band(12.0, {"guide": None, "baseline": None, "constraint": 20}) == "constraint"
    assert quota_band(21.0, {"guide": None, "baseline": 15, "constraint": 20}) == "over"
    assert quota_band(14.0, {"guide": None, "baseline": 15, "constraint": 20}) == "baseline"
    with pytest.raises(ValueError, match="a constraint value"):
        quota_band(1.0, {"guide": 1, "baseline": 2, "constraint": None})
    with pytest.raises(ValueError, match="guide ≤ baseline ≤ constraint"):
        quota_band(1.0, {"guide": 3, "baseline": 2, "constraint": 4})


def test_whole_electricity_of_a_building_metered_by_end_use_only() -> None:
    from analytics.audit import whole_electricity

    a = {"01A": np.full(12, 600.0), "01B": np.r_[np.full(6, 200.0), np.full(6, np.nan)]}
    monthly, estimated = whole_electricity(a, {"01A": np.full(12, 0.5)})
    assert monthly["01"].tolist() == [800.0] * 6 + [600.0] * 6  # a missing 分项 adds nothing
    assert estimated["01"][0] == pytest.approx(300 / 800)  # weighted by use
    with_main = {"01": np.full(12, 1000.0), "01A": np.full(12, 600.0)}
    assert whole_electricity(with_main)[0] is not with_main  # a copy, unchanged
    assert whole_electricity(with_main)[0]["01"].tolist() == [1000.0] * 12
    # Two buildings, one with a main meter and one without, added up: 1,000 + 800 kWh.
    b, _ = whole_electricity({"01A": np.full(12, 800.0)})
    result = audit(
        BuildingPeriod(
            monthly={"01": np.full(12, 1000.0) + b["01"], "01A": b["01A"]},
            floor_area_m2=1000,
            headcount=10,
        ),
        factors.load(),
        reference.load(),
        year=2023,
    )
    assert result["intensity"]["kwh_per_m2"] == pytest.approx(12 * 1.8)
