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
def test_detectors_on_a_simulated_winter_month() -> None:
    """A regression floor, not yet the acceptance (F1 ≥ 0.95 for every kind on an unseen
    seed): the kinds listed here are found exactly, the others close."""
    result = evaluate(seed=101, buildings=14, days=28, start=dt.date(2026, 1, 5))
    s = result.scores
    for kind in (
        "dead_meter",
        "clock_skew",
        "meter_replacement",
        "night_water_leak",
        "overheating",
    ):
        assert s[kind].f1 == 1.0, s[kind]
    for kind in ("after_hours_lighting", "hvac_out_of_hours", "spike", "stuck_register"):
        assert s[kind].f1 >= 0.85, s[kind]
    for kind in ("after_hours_lighting", "hvac_out_of_hours", "night_water_leak"):
        assert s[kind].waste_error <= 0.2, s[kind]
