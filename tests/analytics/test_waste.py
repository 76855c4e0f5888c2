"""Waste detectors on synthetic grids where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from analytics import calendar
from analytics.factors import load
from analytics.waste import off_hours_excess, submeter_imbalance, with_impact


def test_submeter_imbalance_finds_the_days_and_the_energy() -> None:
    rng = np.random.default_rng(0)
    subs = rng.uniform(10, 20, (2, 96 * 20))
    main = subs / 0.95  # 5 % unmetered
    main[0, 96 * 10 : 96 * 13] += 0.2 * subs[0, 96 * 10 : 96 * 13]  # a new unmetered load
    main[1, 96 * 5 : 96 * 6] = subs[1, 96 * 5 : 96 * 6] * 0.9  # sub-meters count too much
    found = submeter_imbalance(main, subs, 96)
    assert [(f.point, f.start // 96, f.end // 96) for f in found] == [(0, 10, 13), (1, 5, 6)]
    extra = 0.2 * subs[0, 96 * 10 : 96 * 13].sum()
    # Beyond the expected 5 % of the (now larger) main meter.
    assert found[0].waste == pytest.approx(0.95 * extra, rel=0.01)
    assert found[0].evidence["expected_share"] == pytest.approx(0.05)


def test_off_hours_excess_and_its_cost() -> None:
    start_us = 1_767_196_800_000_000  # 2026-01-01T00:00+08:00 as UTC µs
    n = 96 * 28
    hours, kinds, _ = calendar.slot_context(start_us, 900, n)
    worked = (kinds == calendar.WORKDAY) | (kinds == calendar.ADJUSTED_WORKDAY)
    base = np.where(worked & (hours >= 8) & (hours < 18), 10.0, 1.0)
    use = np.tile(base, (1, 1)) * np.random.default_rng(1).uniform(0.97, 1.03, (1, n))
    night = slice(96 * 14 + 80, 96 * 15 + 24)  # 20:00 on day 14 to 06:00 on day 15
    use[0, night] += 3.0
    found = off_hours_excess(use, hours, kinds, rule="after_hours", unit="kWh")
    assert len(found) == 1 and found[0].start == night.start and found[0].end == night.stop
    assert found[0].waste == pytest.approx(3.0 * (night.stop - night.start), rel=0.05)
    with_impact(found, ["electricity"], load())
    assert found[0].impact["kgce"] == pytest.approx(found[0].waste * 0.1229)
    assert found[0].impact["cny"] > 0
