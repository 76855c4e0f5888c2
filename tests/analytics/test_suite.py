"""The whole analysis of a window: properties on a simulated portfolio, and the setpoint and
spike rules on cases small enough to read."""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import quality, suite, waste
from simulators.evaluate import Window, simulate


@functools.cache
def window() -> Window:
    """Five buildings, five winter weeks (TOWT residuals, level shifts and setpoint waste
    against a baseline all run), with every fault kind at its usual rate."""
    return simulate(seed=3, buildings=5, days=36, start=dt.date(2026, 11, 20))


def _key(f: waste.Finding) -> tuple[int, str, int, int]:
    return (f.point, f.rule, f.start, f.end)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([0.001, 0.25, 3.0, 1000.0]))
def test_findings_do_not_depend_on_the_unit_and_waste_scales_with_it(k: float) -> None:
    """Meter registers in other units (Wh for kWh, litres for m³ …): the same findings on the
    same slots, every waste scaled by the same factor, scores unchanged."""
    w = window()
    base = w.analyze()
    meters = np.isin(np.asarray(w.layout.role), list(suite.METER_ROLES))
    scaled_layout = suite.Layout(
        role=w.layout.role,
        building=w.layout.building,
        building_kind=w.layout.building_kind,
        multiplier=w.layout.multiplier,
        rollover=w.layout.rollover * k,
        resolution=w.layout.resolution * k,
    )
    replacements = [
        type(e)(e.point, e.slot, e.old_final * k, e.new_initial * k, e.new_multiplier)
        for e in w.replacements
    ]
    other = suite.analyze(
        np.where(meters[:, None], w.registers * k, w.registers),
        w.instant,
        scaled_layout,
        start_us=w.start_us,
        step_s=w.step_s,
        register_flags=w.register_flags,
        replacements=replacements,
    )
    assert base.findings, "the window should hold findings"
    assert [_key(f) for f in other.findings] == [_key(f) for f in base.findings]
    for a, b in zip(other.findings, base.findings, strict=True):
        assert a.waste == pytest.approx(k * b.waste, rel=1e-6, abs=1e-9 * k), a
        assert a.score == pytest.approx(b.score, rel=1e-6), a
    np.testing.assert_allclose(other.use, k * base.use, rtol=1e-9, atol=1e-12 * k)
    assert np.array_equal(other.use_flags, base.use_flags)


def test_shapes_dtypes_and_a_silent_point() -> None:
    """A meter and a thermometer that never report: no finding on them, nothing else moves,
    and the outputs keep their shapes and types."""
    w = window()
    base = w.analyze()
    roles = np.asarray(w.layout.role)
    meter = int(np.flatnonzero(roles == "01A")[0])
    zone = int(np.flatnonzero(roles == "indoor")[0])
    reg, inst = w.registers.copy(), w.instant.copy()
    reg[meter] = np.nan
    inst[zone] = np.nan
    got = suite.analyze(
        reg,
        inst,
        w.layout,
        start_us=w.start_us,
        step_s=w.step_s,
        register_flags=w.register_flags,
        replacements=w.replacements,
    )
    assert got.use.shape == base.use.shape and got.use.dtype == np.float64
    assert got.use_flags.dtype == np.uint16 and got.spikes.dtype == bool
    row = int(np.flatnonzero(got.meters == meter)[0])
    assert np.isnan(got.use[row]).all()
    assert not any(f.point == meter for f in got.findings)
    untouched = [
        _key(f)
        for f in base.findings
        if f.point != meter and int(w.layout.building[f.point]) != int(w.layout.building[meter])
    ]
    assert set(untouched) <= {_key(f) for f in got.findings}


def test_the_layout_names_what_is_wrong() -> None:
    w = window()
    with pytest.raises(ValueError, match=r"role: unknown role\(s\) \['boiler'\]"):
        suite.Layout(
            ["boiler"] * len(w.layout.role),
            w.layout.building,
            w.layout.building_kind,
            w.layout.multiplier,
            w.layout.rollover,
            w.layout.resolution,
        )
    with pytest.raises(ValueError, match="instant: shape"):
        suite.analyze(
            w.registers, w.instant[:, :-1], w.layout, start_us=w.start_us, step_s=w.step_s
        )


def _day(n_days: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Hours of 15-minute slots over ``n_days`` and an outdoor summer day (°C)."""
    hours = np.tile(np.arange(96) / 4.0, n_days)
    outdoor = 27.0 + 5.0 * np.sin((hours - 9.0) / 24.0 * 2 * np.pi)
    return hours, outdoor


def test_a_zone_held_below_the_outdoor_air_is_overcooled() -> None:
    """Two buildings with HVAC from 08:00 to 18:00: one holds its zones at 26 °C, the other
    at 23 °C on day 2. One finding, on the second building, that day, with its zones."""
    hours, outdoor = _day()
    on = (hours >= 8) & (hours < 18)
    hvac = np.where(on, 10.0 + np.clip(outdoor - 24.0, 0, None), 0.0)
    free = outdoor + 3.0
    zone = np.where(on, np.minimum(free, 26.0), free)
    zones = np.stack([zone, zone, zone, zone])
    cold_day = on & (np.arange(len(hours)) // 96 == 1)
    zones[2:] = np.where(cold_day & (free > 23.0), 23.0, zones[2:])
    found = waste.setpoint_violations(
        zones,
        np.array([0, 0, 1, 1]),
        np.stack([hvac, hvac * np.where(cold_day, 1.3, 1.0)]),
        np.stack([hvac, hvac]),
        np.stack([outdoor, outdoor]),
        hours,
    )
    assert [(f.point, f.rule) for f in found] == [(1, "overcooling")]
    f = found[0]
    assert 96 <= f.start and f.end <= 192
    assert f.evidence["zones"] == [2, 3] and f.evidence["mean_zone_c"] == pytest.approx(23.0)
    assert f.waste > 0


def test_a_warm_afternoon_is_no_overheating() -> None:
    """A zone at 24 °C on a mild afternoon (free-floating, 20 °C outside) while the plant
    runs for ventilation, in a week whose nights are cold: no overheating."""
    hours, _ = _day()
    outdoor = 8.0 + 12.0 * np.clip(np.sin((hours - 8.0) / 24.0 * 2 * np.pi), 0, None)
    zone = np.full_like(hours, 20.0) + np.where(outdoor > 16.0, 4.0, 0.0)
    found = waste.setpoint_violations(
        zone[None, :],
        np.array([0]),
        np.full((1, len(hours)), 5.0),
        np.full((1, len(hours)), 5.0),
        outdoor[None, :],
        hours,
    )
    assert found == []


@pytest.mark.parametrize(
    ("series", "flagged"),
    [
        ([100.0, 101.0, 2500.0, 99.0, 100.0], [2]),  # a wild reading
        ([70.0, 71.0, 1800.0, 594.0, 584.0], [2]),  # a wild reading right before a step up
        ([130.0, 131.0, 290.0, 288.0, 289.0], []),  # a step: a schedule starting
        ([530.0, 535.0, 201.0, 187.0, 490.0], []),  # a two-slot dip: schedules meeting
    ],
)
def test_a_spike_stands_beyond_both_neighbours(series: list[float], flagged: list[int]) -> None:
    got = quality.isolated(np.array([series]))[0]
    assert np.flatnonzero(got[1:-1] & ~np.isnan(series[1:-1])).tolist() == [i - 1 for i in flagged]


def test_at_the_edges_the_two_values_on_one_side_judge() -> None:
    got = quality.isolated(np.array([[2500.0, 100.0, 101.0, 99.0, 100.0, 900.0]]))[0]
    assert got.tolist() == [True, False, False, False, False, True]
