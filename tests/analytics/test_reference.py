"""Reference data: the code lists and their lineage, extensions, overrides, the GB/T 51161 office
values and their correction, tariffs, yearly CO2 factors; bad files name the entry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics import factors, reference


def test_codes_and_their_lineage() -> None:
    ref = reference.load()
    assert [c.code for c in ref.lineage("01B13")] == ["01B13", "01B10", "01B00", "01"]
    assert (
        ref.code("01A00").name() == "照明插座用电"
        and ref.code("01A00").name("en") == "lighting and sockets"
    )
    assert ref.building_categories["E"].zh == "医疗卫生建筑"
    assert ref.code("01D20").confidence == "U"  # the D-group order is unverified
    with pytest.raises(KeyError, match="01B1A"):
        ref.code("01B1A")  # a provincial variant, off by default
    shandong = reference.load(extensions=["shandong_platform"])
    assert [c.zh for c in shandong.lineage("01B1A")] == ["冷水机组", "冷热站", "空调用电", "电"]
    assert shandong.code("03A00").parent == "03"
    with pytest.raises(ValueError, match="extensions: 'nowhere'"):
        reference.load(extensions=["nowhere"])


def test_office_benchmark_is_marked_unverified_and_hours_correct_it() -> None:
    ref = reference.load()
    b = ref.office_benchmark("A", "government", "cold")
    assert (b.constraint, b.guide, b.confidence) == (55.0, 45.0, "U")
    assert ref.office_benchmark("B", "commercial", "hot_summer_cold_winter").constraint == 110.0
    assert ref.hours_correction(2500) == pytest.approx(1.0)
    assert ref.hours_correction(5000) == pytest.approx(0.65)  # 0.3 + 0.7 × 2500/5000
    with pytest.raises(KeyError, match="climate zone"):
        ref.office_benchmark("A", "government", "arctic")
    with pytest.raises(ValueError, match="actual_hours"):
        ref.hours_correction(0)


def test_tariff_covers_the_day() -> None:
    prices = reference.load().tariff_prices("example_tou_commercial", np.arange(24) + 0.5)
    assert not np.isnan(prices).any()
    assert prices[3] == 0.38 and prices[11] == 1.25 and prices[20] == 0.80


def test_an_override_replaces_entries_and_bad_files_name_the_entry(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "gb51161_office:\n  values:\n    A:\n      government:\n        cold_override: [1, 2]\n"
        "tariffs:\n  flat:\n    prices: {flat: 0.6}\n"
        "    periods: [{band: flat, start: 0, end: 24}]\n",
        encoding="utf-8",
    )
    ref = reference.load(overrides=[mine])
    assert ref.office_benchmark("A", "government", "cold_override").constraint == 1.0
    assert ref.office_benchmark("A", "government", "mild").constraint == 50.0  # kept
    assert ref.tariff_prices("flat", np.array([0.0, 23.5])).tolist() == [0.6, 0.6]

    gap = tmp_path / "gap.yaml"
    gap.write_text(
        "tariffs:\n  bad:\n    prices: {p: 1}\n    periods: [{band: p, start: 0, end: 20}]\n"
    )
    with pytest.raises(ValueError, match="tariffs.bad.periods"):
        reference.load(overrides=[gap])
    unsure = tmp_path / "unsure.yaml"
    unsure.write_text("electricity_items:\n  01A00: {confidence: maybe}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"electricity_items.01A00.confidence: 'maybe'"):
        reference.load(overrides=[unsure])
    comma = tmp_path / "comma.yaml"
    comma.write_text(
        "electricity_items:\n  01C00: {zh: 动力, en: power (lifts, pumps), confidence: S}\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"01C00: unknown field\(s\) 'pumps\)'"):
        reference.load(overrides=[comma])


def test_yearly_grid_factor_and_fuels() -> None:
    f = factors.load()
    assert f.co2_electricity(2023).value == 0.5306
    assert f.co2_electricity(2030).value == 0.5306  # the latest earlier year
    assert f.co2_electricity(2022).source.startswith("2022年")
    diesel = f.impact("diesel", 100.0)  # kg
    assert diesel["kgce"] == pytest.approx(145.71) and diesel["kgco2"] == pytest.approx(309.6)
    assert factors.load(electricity_method="equal_value").kgce("electricity") == 0.30
