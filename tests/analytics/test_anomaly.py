"""Level shifts in daily use."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.anomaly import level_shifts


def test_a_new_load_is_found_on_its_day_and_the_week_is_no_shift() -> None:
    rng = np.random.default_rng(3)
    days = 70
    worked = np.arange(days) % 7 < 5
    use = np.where(worked, 1000.0, 300.0) * rng.normal(1, 0.02, (2, days))
    use[0, 40:] += np.where(worked[40:], 200.0, 200.0)  # a new 24/7 load from day 40
    found = level_shifts(use, worked)
    assert {f.point for f in found} == {0}
    # Off-days shift on day 40 itself; working days on the first working day after it (42).
    assert sorted((f.start, f.evidence["working_days"]) for f in found) == [(40, False), (42, True)]
    assert any(f.waste == pytest.approx(200.0, rel=0.1) for f in found)
    assert all(f.evidence["after_per_day"] > f.evidence["before_per_day"] for f in found)


def test_short_series_and_nan_are_quiet() -> None:
    assert level_shifts(np.full((1, 10), np.nan), np.ones(10, dtype=bool)) == []
    x = np.full((1, 40), 50.0)
    x[0, 5] = np.nan
    assert level_shifts(x, np.ones(40, dtype=bool)) == []
