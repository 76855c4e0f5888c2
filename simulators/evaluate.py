"""Score the analytics against the simulator's ground truth (``jieneng evaluate sim``).

The readings go the way real ones do: :meth:`Day.readings` → :mod:`analytics.grid` →
:mod:`analytics.consumption` / :mod:`analytics.quality` → :mod:`analytics.waste`; the
findings and flags are then matched with the fault labels (:mod:`analytics.scoring`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from analytics import calendar, quality, waste
from analytics import flags as F
from analytics.consumption import Replacement, from_registers
from analytics.grid import mean_to_grid, registers_to_grid
from analytics.scoring import Event, Score, score
from simulators.buildings import Simulator
from simulators.faults import Fault
from simulators.portfolio import make_portfolio

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


def evaluate(
    *, seed: int, buildings: int, days: int, start: dt.date, rates: dict[str, float] | None = None
) -> Evaluation:
    """Simulate, analyse and score (no database: the readings stay in memory)."""
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
    keys = [p.key for p in points]
    meters = [i for i, p in enumerate(points) if p.cumulative]
    other = [i for i, p in enumerate(points) if not p.cumulative]
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
    use, use_flags = from_registers(
        reg[meters],
        multiplier=[points[i].multiplier for i in meters],
        rollover=[points[i].rollover_value or np.inf for i in meters],
        resolution=[points[i].resolution for i in meters],
        replacements=events,
    )
    use_flags |= reg_flags[meters] & F.CLOCK_SKEW
    hours, day_types, _ = calendar.slot_context(start_us, step_s, n_slots)

    found: list[Event] = []

    def add(findings: list[waste.Finding], rows: list[int]) -> None:
        for f in findings:
            found.append(
                Event(
                    f.rule,
                    keys[rows[f.point]],
                    int(times[f.start] - sim.step_us),
                    int(times[f.end - 1]),
                    f.waste,
                )
            )

    worked = (day_types == calendar.WORKDAY) | (day_types == calendar.ADJUSTED_WORKDAY)
    vacation = calendar.school_vacation(np.datetime64(start, "D") + np.arange(n_slots) // sim.slots)
    kind_of = {sim.index[p.key]: b.kind for b in portfolio.buildings for p in b.points}
    for role, rule, unit in (
        ("01A", "after_hours", "kWh"),
        ("01B", "hvac_out_of_hours", "kWh"),
        ("water", "night_flow", "m3"),
    ):
        for kind in ("government", "school", "hospital"):  # schools: term and vacation
            rows = [i for i in meters if points[i].role == role and kind_of[i] == kind]
            if not rows:
                continue
            groups = worked.astype(int) + (2 * vacation if kind == "school" else 0)
            sub = use[[row_of[i] for i in rows]]
            found_here = waste.off_hours_excess(
                sub, hours, day_types, rule=rule, unit=unit, groups=groups
            )
            add(found_here, rows)

    zones, hvac, outdoor = [], [], []
    for b in portfolio.buildings:
        for z in range(1, b.zones + 1):
            zones.append(sim.index[b.point(f"zone{z}").key])
            hvac.append(row_of[sim.index[b.point("01B").key]])
            outdoor.append(sim.index[b.point("outdoor").key])
    zone_use = use[hvac]
    heat_rows = {
        sim.index[b.point(f"zone{z}").key]: row_of[sim.index[b.point("heat").key]]
        for b in portfolio.buildings
        if any(p.role == "heat" for p in b.points)
        for z in range(1, b.zones + 1)
    }
    for k, zrow in enumerate(zones):  # district-heated zones: the heat meter shows heating
        if zrow in heat_rows:
            zone_use[k] = np.where(
                inst[outdoor[k]] < waste.HEATING_MAX_C, use[heat_rows[zrow]], zone_use[k]
            )
    add(waste.setpoint_violations(inst[zones], zone_use, inst[outdoor], hours), zones)

    meter_keys = [keys[i] for i in meters]
    for kind, bit in (
        ("stuck", F.STUCK),
        ("gap", F.GAP),
        ("reset", F.RESET),
        ("replacement", F.REPLACEMENT),
        ("clock_skew", F.CLOCK_SKEW),
    ):
        found += _flag_events(use_flags, bit, meter_keys, times, kind, sim.step_us)
    power = [i for i in other if points[i].role == "main_power"]
    spikes = quality.hampel(inst[power], min_relative=0.05)
    found += _flag_events(
        spikes.astype(np.uint16), 1, [keys[i] for i in power], times, "spike", sim.step_us
    )
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
