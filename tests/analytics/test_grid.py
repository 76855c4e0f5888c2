"""Readings → grids, checked against the simulator's own grid."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from analytics import flags as F
from analytics.consumption import from_registers
from analytics.grid import mean_to_grid, registers_to_grid
from simulators.buildings import Simulator
from simulators.portfolio import make_portfolio


def test_simulated_readings_back_onto_their_grid() -> None:
    sim = Simulator(make_portfolio(3, seed=5), seed=5, fault_rates={"clock_skew": 30.0})
    start = dt.date(2026, 4, 6)
    days = [sim.day(start + dt.timedelta(days=n)) for n in range(2)]
    idx = np.concatenate([d.readings()[0] for d in days])
    t = np.concatenate([d.readings()[1] for d in days])
    v = np.concatenate([d.readings()[2] for d in days])
    values = np.concatenate([d.values for d in days], axis=1)
    offsets = np.concatenate([d.time_offset_us for d in days], axis=1)
    grid, flags = registers_to_grid(
        idx,
        t,
        v,
        n_points=len(sim.points),
        start_us=sim.day_start_us(start),
        step_s=900,
        n_slots=values.shape[1],
    )
    assert np.array_equal(grid, values, equal_nan=True)
    assert np.array_equal((flags & F.CLOCK_SKEW) > 0, np.abs(offsets) > 60e6)
    assert np.array_equal((flags & F.GAP) > 0, np.isnan(values))
    # ...and the register grid gives back the simulator's energy.
    meters = [i for i, p in enumerate(sim.points) if p.cumulative]
    energy = np.concatenate([d.energy for d in days], axis=1)[meters]
    use, _ = from_registers(
        grid[meters],
        multiplier=[sim.points[i].multiplier for i in meters],
        rollover=[sim.points[i].rollover_value for i in meters],
        resolution=[sim.points[i].resolution for i in meters],
    )
    res = np.array([sim.points[i].resolution * sim.points[i].multiplier for i in meters])
    assert np.all(np.abs(use[:, 1:] - energy[:, 1:]) <= 1.01 * res[:, None] + 1e-9)


def test_the_nearest_reading_wins_and_slot_means() -> None:
    start, step = 1_000_000_000_000_000, 900
    s = step * 1_000_000
    t = np.array([start + s - 5_000_000, start + s + 1_000_000, start + 2 * s])
    grid, flags = registers_to_grid(
        [0, 0, 0], t, [1.0, 2.0, 3.0], n_points=1, start_us=start, step_s=step, n_slots=3
    )
    assert np.array_equal(grid, [[2.0, 3.0, np.nan]], equal_nan=True)
    assert flags[0, 2] == F.GAP
    m, mflags = mean_to_grid(
        [0, 0, 0, 1],
        [start + 1, start + s, start + s + 1, start + s],
        [1.0, 3.0, 10.0, 5.0],
        n_points=2,
        start_us=start,
        step_s=step,
        n_slots=2,
    )
    assert np.array_equal(m, [[2.0, 10.0], [5.0, np.nan]], equal_nan=True)
    assert mflags[1, 1] == F.GAP


def test_bad_input_names_the_field() -> None:
    with pytest.raises(ValueError, match="point_index: must be within 0..1"):
        mean_to_grid([2], [0], [1.0], n_points=2, start_us=0, step_s=900, n_slots=1)
    with pytest.raises(ValueError, match="must be 1-D of one length"):
        registers_to_grid([0, 1], [0], [1.0], n_points=2, start_us=0, step_s=900, n_slots=1)


def test_a_window_without_readings_is_all_gaps() -> None:
    none = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
    grid, flags = registers_to_grid(*none, n_points=2, start_us=0, step_s=900, n_slots=3)
    assert grid.shape == (2, 3) and np.isnan(grid).all() and (flags == F.GAP).all()
    means, _ = mean_to_grid(*none, n_points=2, start_us=0, step_s=900, n_slots=3)
    assert np.isnan(means).all()
