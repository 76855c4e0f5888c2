"""The building simulator on its own: calendar, determinism, physics and faults."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import calendar
from simulators.buildings import COOLING_SETPOINT_C, Simulator
from simulators.faults import KINDS
from simulators.portfolio import FORMATS, make_portfolio


@pytest.mark.parametrize(
    ("date", "kind"),
    [
        ("2026-02-14", calendar.ADJUSTED_WORKDAY),  # Saturday worked before 春节
        ("2026-02-17", calendar.HOLIDAY),  # 春节
        ("2026-10-01", calendar.HOLIDAY),  # 国庆节
        ("2026-10-10", calendar.ADJUSTED_WORKDAY),
        ("2026-11-28", calendar.WEEKEND),
        ("2026-12-01", calendar.WORKDAY),
    ],
)
def test_day_types(date: str, kind: int) -> None:
    assert calendar.day_types(np.array([date], dtype="datetime64[D]"))[0] == kind


def test_same_seed_same_readings_and_faults() -> None:
    portfolio = make_portfolio(4, seed=3)
    runs = []
    for _ in range(2):
        sim = Simulator(portfolio, seed=3)
        days = [sim.day(dt.date(2026, 3, 1) + dt.timedelta(days=n)) for n in range(3)]
        runs.append(
            (np.stack([d.values for d in days]), [f.label() for d in days for f in d.faults])
        )
    assert np.array_equal(runs[0][0], runs[1][0], equal_nan=True)
    assert runs[0][1] == runs[1][1]
    other = Simulator(portfolio, seed=4).day(dt.date(2026, 3, 1)).values
    assert not np.array_equal(runs[0][0][0], other, equal_nan=True)


def test_portfolio_codes_parents_and_formats() -> None:
    portfolio = make_portfolio(len(FORMATS) * 2, seed=1)
    assert {b.format for b in portfolio.buildings} == set(FORMATS)
    keys = {p.key for p in portfolio.points}
    assert len(keys) == len(portfolio.points)
    for b in portfolio.buildings:
        assert len(b.code) == 10 and b.code[:6].isdigit() and b.code[6] in "ADE"
        main = b.point("main").key
        assert {
            p.parent
            for p in b.points
            if p.energy_code and p.energy_code[:3] in ("01A", "01B", "01C", "01D")
        } == {main}


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), month=st.integers(1, 12))
def test_registers_count_the_interval_energy(seed: int, month: int) -> None:
    """Without faults, every register step × multiplier is the slot's energy (within one
    register step), across rollovers."""
    sim = Simulator(make_portfolio(3, seed=seed), seed=seed, fault_rates={})
    days = [sim.day(dt.date(2026, month, 1) + dt.timedelta(days=n)) for n in range(2)]
    values = np.concatenate([d.values for d in days], axis=1)
    energy = np.concatenate([d.energy for d in days], axis=1)
    for i, p in enumerate(sim.points):
        if not p.cumulative:
            continue
        step = np.mod(np.diff(values[i]), p.rollover_value)
        assert np.all(
            np.abs(step * p.multiplier - energy[i, 1:]) <= p.resolution * 1.01 * p.multiplier
        )
        assert np.all(energy[i] >= 0)


def test_overcooling_shows_in_the_zone_and_wastes_energy() -> None:
    portfolio = make_portfolio(6, seed=2)
    rates = {"overcooling": 30.0}  # one a day where it can show
    sim = Simulator(portfolio, seed=2, fault_rates=rates)
    days = [sim.day(dt.date(2026, 7, 6) + dt.timedelta(days=n)) for n in range(3)]  # Mon–Wed
    faults = [f for d in days for f in d.faults]
    assert faults and all(f.kind == "overcooling" for f in faults)
    times = np.concatenate([d.times_us for d in days])
    values = np.concatenate([d.values for d in days], axis=1)
    for f in faults:
        zone = values[sim.index[f.point]][(times > f.start_us) & (times <= f.end_us)]
        assert zone.min() < COOLING_SETPOINT_C - 1.5, f
        assert f.expected_waste > 0 and f.waste_unit == "kWh", f


def test_unknown_fault_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="fault_rates: unknown kind 'gremlins'"):
        Simulator(make_portfolio(1), fault_rates={"gremlins": 1.0})
    with pytest.raises(ValueError, match=r"fault_rates\['spike'\]: must be ≥ 0"):
        Simulator(make_portfolio(1), fault_rates={"spike": -1.0})


def test_all_kinds_have_rates() -> None:
    from simulators.faults import DEFAULT_RATES

    assert set(DEFAULT_RATES) == set(KINDS)


def test_days_must_follow_one_another() -> None:
    sim = Simulator(make_portfolio(1), fault_rates={})
    sim.day(dt.date(2026, 5, 1))
    with pytest.raises(ValueError, match="date: days must follow one another; expected 2026-05-02"):
        sim.day(dt.date(2026, 5, 3))
