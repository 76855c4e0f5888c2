"""Scoring findings against labels, and the detectors scored on a simulated portfolio."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.scoring import Event, score
from simulators.evaluate import evaluate


def test_matching_counts_each_fault_once() -> None:
    labels = [Event("leak", "a", 0, 100, 10.0), Event("leak", "b", 0, 100, 5.0)]
    found = [
        Event("night_flow", "a", 10, 40, 4.0),  # one fault seen as two runs
        Event("night_flow", "a", 50, 90, 6.0),
        Event("night_flow", "c", 0, 10, 1.0),  # nothing there
    ]
    s = score(labels, found, {"leak": "night_flow"})["leak"]
    assert (s.labels, s.findings, s.matched) == (2, 2, 1)
    assert s.precision == pytest.approx(0.5) and s.recall == pytest.approx(0.5)
    assert s.waste_error == pytest.approx(0.0)  # 4 + 6 against 10


@pytest.mark.slow
@pytest.mark.parametrize("start", [dt.date(2026, 1, 5), dt.date(2026, 7, 1)], ids=str)
def test_detectors_on_a_simulated_month(start: dt.date) -> None:
    """The acceptance on a development seed, winter and summer: F1 ≥ 0.95 for every kind,
    waste within 20 % for the after-hours and HVAC faults (the setpoint waste is a rule of
    thumb: within 50 %)."""
    s = evaluate(seed=101, buildings=14, days=28, start=start).scores
    assert s, "no labels"
    for sc in s.values():
        assert sc.f1 >= 0.95, sc
    for kind in ("after_hours_lighting", "hvac_out_of_hours", "night_water_leak"):
        assert s[kind].waste_error <= 0.2, s[kind]
    for kind in ("overcooling", "overheating"):
        if kind in s:
            assert s[kind].waste_error <= 0.5, s[kind]
