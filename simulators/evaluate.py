"""Score the analytics against the simulator's ground truth (``jieneng evaluate sim``).

The readings go the way real ones do: :meth:`Day.readings` → :mod:`analytics.grid` →
:mod:`analytics.consumption` / :mod:`analytics.quality` → :mod:`analytics.waste`; the
findings and flags are then matched with the fault labels (:mod:`analytics.scoring`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics import flags as F
from analytics import suite, waste
from analytics.consumption import Replacement
from analytics.grid import mean_to_grid, registers_to_grid
from analytics.scoring import Event, Score, score
from simulators.buildings import Simulator
from simulators.faults import Fault
from simulators.portfolio import Point, Portfolio, make_portfolio

#: Which finding rule (or flag) answers which fault kind.
RULE_OF = {
    "after_hours_lighting": "after_hours",
    "hvac_out_of_hours": "hvac_out_of_hours",
    "night_water_leak": "night_flow",
    "overcooling": "overcooling",
    "overheating": "overheating",
    "stuck_register": "stuck",
    "dead_meter": "gap",
    "spike": "spike",
    "meter_reset": "reset",
    "meter_replacement": "replacement",
    "clock_skew": "clock_skew",
}


@dataclass
class Evaluation:
    scores: dict[str, Score]
    faults: list[Fault]
    findings: list[Event]


def _flag_events(
    flags: np.ndarray,
    bit: int,
    keys: list[str],
    times: np.ndarray,
    kind: str,
    step_us: int,
    min_len: int = 1,
) -> list[Event]:
    out = []
    for row, a, b in waste._runs((flags & bit) > 0, min_len):
        out.append(Event(kind, keys[row], int(times[a] - step_us), int(times[b - 1])))
    return out


def _role(p: Point) -> str:
    if p.role == "main_power":
        return "power"
    if p.role.startswith("zone"):
        return "indoor"
    if p.role in suite.ROLES:
        return p.role
    return "other_meter" if p.cumulative else "other"


def layout(portfolio: Portfolio, points: Sequence[Point]) -> suite.Layout:
    """The grid rows of a simulated portfolio, in the simulator's point order."""
    building_of = {p.key: k for k, b in enumerate(portfolio.buildings) for p in b.points}
    return suite.Layout(
        role=[_role(p) for p in points],
        building=np.array([building_of[p.key] for p in points]),
        building_kind=[b.kind for b in portfolio.buildings],
        multiplier=np.array([p.multiplier for p in points], dtype=np.float64),
        rollover=np.array([p.rollover_value or np.inf for p in points], dtype=np.float64),
        resolution=np.array([p.resolution for p in points], dtype=np.float64),
    )


@dataclass
class Window:
    """A simulated window on its grids, ready for :func:`analytics.suite.analyze`."""

    portfolio: Portfolio
    sim: Simulator
    faults: list[Fault]
    registers: np.ndarray  # NaN on instantaneous rows
    register_flags: np.ndarray
    instant: np.ndarray  # NaN on meter rows
    layout: suite.Layout
    replacements: list[Replacement]
    start_us: int
    step_s: int
    times: np.ndarray  # slot ends, UTC µs

    def analyze(self, **kwargs: object) -> suite.Analysis:
        return suite.analyze(
            self.registers,
            self.instant,
            self.layout,
            start_us=self.start_us,
            step_s=self.step_s,
            register_flags=self.register_flags,
            replacements=self.replacements,
            **kwargs,  # type: ignore[arg-type]
        )


def simulate(
    *, seed: int, buildings: int, days: int, start: dt.date, rates: dict[str, float] | None = None
) -> Window:
    """Simulate a labelled portfolio and put its readings on grids as real ones would be."""
    portfolio = make_portfolio(buildings, seed=seed)
    sim = Simulator(portfolio, seed=seed, fault_rates=rates)
    out = [sim.day(start + dt.timedelta(days=n)) for n in range(days)]
    faults = [f for d in out for f in d.faults]
    idx = np.concatenate([d.readings()[0] for d in out])
    t = np.concatenate([d.readings()[1] for d in out])
    v = np.concatenate([d.readings()[2] for d in out])
    n_slots = days * sim.slots
    step_s = sim.step_us // 1_000_000
    start_us = sim.day_start_us(start)
    times = start_us + (np.arange(1, n_slots + 1, dtype=np.int64) * sim.step_us)
    points = sim.points
    meters = [i for i, p in enumerate(points) if p.cumulative]
    grid_kw = {"n_points": len(points), "start_us": start_us, "step_s": step_s, "n_slots": n_slots}
    reg, reg_flags = registers_to_grid(idx, t, v, **grid_kw)
    inst, _ = mean_to_grid(idx, t, v, **grid_kw)
    row_of = {m: r for r, m in enumerate(meters)}
    events = []
    for d in out:
        for e in d.replacements:
            at = dt.datetime.fromisoformat(str(e["replaced_at"])).timestamp() * 1e6
            slot = int(np.searchsorted(times, at))
            events.append(
                Replacement(
                    row_of[sim.index[str(e["point"])]],
                    slot,
                    float(e["old_final_value"]),
                    float(e["new_initial_value"]),
                    float(e["new_multiplier"]),
                )
            )
    cumulative = np.array([[p.cumulative] for p in points])
    return Window(
        portfolio,
        sim,
        faults,
        np.where(cumulative, reg, np.nan),
        reg_flags,
        np.where(~cumulative, inst, np.nan),
        layout(portfolio, points),
        events,
        start_us,
        step_s,
        times,
    )


def evaluate(
    *, seed: int, buildings: int, days: int, start: dt.date, rates: dict[str, float] | None = None
) -> Evaluation:
    """Simulate, analyse and score (no database: the readings stay in memory)."""
    w = simulate(seed=seed, buildings=buildings, days=days, start=start, rates=rates)
    portfolio, sim, faults, times = w.portfolio, w.sim, w.faults, w.times
    keys = [p.key for p in sim.points]
    result = w.analyze()
    found: list[Event] = [
        Event(
            f.rule, keys[f.point], int(times[f.start] - sim.step_us), int(times[f.end - 1]), f.waste
        )
        for f in result.findings
    ]
    meter_keys = [keys[i] for i in result.meters]
    for kind, bit in (
        ("stuck", F.STUCK),
        ("gap", F.GAP),
        ("reset", F.RESET),
        ("replacement", F.REPLACEMENT),
        ("clock_skew", F.CLOCK_SKEW),
    ):
        found += _flag_events(result.use_flags, bit, meter_keys, times, kind, sim.step_us)
    found += _flag_events(result.spikes.astype(np.uint16), 1, keys, times, "spike", sim.step_us)
    # A setpoint is the building's: its findings on any zone answer a label on one of them.
    building_of = {p.key: b.code for b in portfolio.buildings for p in b.points}
    zonal = {"overcooling", "overheating"}

    def where(kind: str, point: str) -> str:
        return building_of[point] if kind in zonal else point

    labels = [
        Event(f.kind, where(f.kind, f.point), f.start_us, f.end_us, f.expected_waste)
        for f in faults
    ]
    found = [Event(e.kind, where(e.kind, e.point), e.start_us, e.end_us, e.waste) for e in found]
    return Evaluation(score(labels, found, RULE_OF), faults, found)
