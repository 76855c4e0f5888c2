"""Faults the simulator injects, with ground-truth labels.

A :class:`Fault` names a point, a kind and a window; :func:`plan_day` draws the faults that
start on one day from a seeded generator (the same seed gives the same faults whatever the
chunking of the run). The simulator applies them and fills in the expected waste: the
energy (or water) the faulted run used beyond the same run without the fault.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np

from simulators.portfolio import Building

#: Kinds, what they do, and the point role they hit.
KINDS: dict[str, tuple[str, str]] = {
    "after_hours_lighting": ("01A", "lighting and plugs left on after hours"),
    "hvac_out_of_hours": ("01B", "HVAC running outside its schedule"),
    "overcooling": ("zone", "cooling setpoint below 26 °C in the cooling season"),
    "overheating": ("zone", "heating setpoint above 20 °C in the heating season"),
    "night_water_leak": ("water", "water flowing at night (leak)"),
    "stuck_register": ("elec", "register stops counting, then jumps back"),
    "dead_meter": ("meter", "meter silent: no readings"),
    "spike": ("main_power", "one absurd reading"),
    "meter_reset": ("meter", "register resets to zero"),
    "meter_replacement": ("main", "meter replaced: new register from zero, new multiplier"),
    "clock_skew": ("meter", "device clock drifts: times off the slot grid"),
    "duplicate_publish": ("any", "the same message published twice (MQTT modes)"),
    "malformed_payload": ("any", "broken payloads on the topic (MQTT modes)"),
}

#: Default events per building per 30 days.
DEFAULT_RATES: dict[str, float] = {
    "after_hours_lighting": 1.0,
    "hvac_out_of_hours": 1.0,
    "overcooling": 1.0,
    "overheating": 1.0,
    "night_water_leak": 0.5,
    "stuck_register": 0.5,
    "dead_meter": 0.5,
    "spike": 1.0,
    "meter_reset": 0.2,
    "meter_replacement": 0.1,
    "clock_skew": 0.3,
    "duplicate_publish": 1.0,
    "malformed_payload": 1.0,
}

#: Kinds that only exist when readings travel over MQTT.
MQTT_ONLY = frozenset({"duplicate_publish", "malformed_payload"})
#: Kinds that change what a meter reports rather than what the building uses. A meter has
#: one at a time: a reset while the register is frozen would only show when it thaws.
METER_DATA = frozenset(
    {"stuck_register", "dead_meter", "spike", "meter_reset", "meter_replacement", "clock_skew"}
)
#: Kinds that waste energy or water (their label carries the expected waste).
WASTEFUL = frozenset(
    {"after_hours_lighting", "hvac_out_of_hours", "overcooling", "overheating", "night_water_leak"}
)


@dataclass(slots=True)
class Fault:
    """One injected fault; ``expected_waste`` is filled in as the run goes."""

    building: str
    point: str
    kind: str
    start_us: int
    end_us: int
    params: dict[str, float] = field(default_factory=dict)
    waste_point: str | None = None  # where the waste is metered, when not ``point``
    expected_waste: float = 0.0
    waste_unit: str = ""

    def active(self, slot_starts_us: np.ndarray) -> np.ndarray:
        """Slots the fault covers, by their start times: those starting in [start, end),
        that is the readings stamped in (start, end]."""
        return (slot_starts_us >= self.start_us) & (slot_starts_us < self.end_us)

    def label(self) -> dict[str, object]:
        """The row of the labels file: times as µs since the Unix epoch and as ISO 8601 UTC."""
        out = asdict(self)
        out["start"] = _iso(self.start_us)
        out["end"] = _iso(self.end_us)
        out["description"] = KINDS[self.kind][1]
        return out


def _iso(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1e6, UTC).isoformat().replace("+00:00", "Z")


def _pick_point(b: Building, target: str, rng: np.random.Generator) -> str:
    if target == "zone":
        return b.point(f"zone{int(rng.integers(1, b.zones + 1))}").key
    if target in ("meter", "any", "elec"):
        meters = [p for p in b.points if p.cumulative]
        if target == "elec":  # always consuming (HVAC stands still out of hours and would
            # hide a stuck register): a stuck register shows
            meters = [
                p
                for p in meters
                if p.energy_code and p.energy_code.startswith("01") and p.role != "01B"
            ]
        return meters[int(rng.integers(len(meters)))].key
    return b.point(target).key


def plan_day(
    building: Building,
    index: int,
    day_start_us: int,
    *,
    seed: int,
    day_number: int,
    rates: dict[str, float],
    season: str,
    step_us: int,
    replaced: frozenset[str] = frozenset(),
    hvac_runs: bool = True,
) -> list[Fault]:
    """Faults of ``building`` that start on the local day beginning at ``day_start_us``.

    ``season`` is "cooling", "heating" or "mild" (climatology of the day): overcooling and
    overheating are only drawn when they can show. ``day_number`` counts days since the
    Unix epoch and keys the random stream. Meters in ``replaced`` are not replaced again.
    ``hvac_runs`` says whether the building's HVAC runs that day (a setpoint fault on a day
    it stands still would leave no trace).
    """
    hour = 3_600_000_000
    day = 24 * hour
    out: list[Fault] = []
    for kind, per_30_days in rates.items():
        if kind not in KINDS:
            raise ValueError(f"fault rates: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        # One stream per kind: changing one kind's rate leaves the others' faults as they were.
        rng = np.random.default_rng([seed, 0x6661, index, day_number, list(KINDS).index(kind)])
        if rng.random() >= per_30_days / 30.0:
            continue
        if kind == "overcooling" and (season != "cooling" or not hvac_runs):
            continue
        if kind == "overheating" and (season != "heating" or not hvac_runs):
            continue
        if kind == "hvac_out_of_hours" and building.kind == "hospital":
            continue  # its HVAC runs around the clock anyway
        if kind == "meter_replacement" and building.point("main").key in replaced:
            continue
        point = _pick_point(building, KINDS[kind][0], rng)
        params: dict[str, float] = {}
        if kind in ("after_hours_lighting", "night_water_leak"):
            start, end = day_start_us + 18 * hour, day_start_us + 31 * hour  # 18:00 → 07:00
            params["level"] = 0.6 if kind == "after_hours_lighting" else 0.25  # share, m³/h
        elif kind == "hvac_out_of_hours":
            start, end = day_start_us + 19 * hour, day_start_us + 30 * hour
        elif kind in ("overcooling", "overheating"):
            start, end = day_start_us, day_start_us + day
            params["setpoint_c"] = 23.0 if kind == "overcooling" else 24.0
        elif kind in ("stuck_register", "dead_meter"):
            start = day_start_us + int(rng.integers(0, 24)) * hour
            end = start + int(rng.integers(3, 12)) * hour
        elif kind == "clock_skew":
            start, end = day_start_us, day_start_us + day
            params["max_offset_s"] = min(420.0, step_us / 2e6 - 1.0)
        else:  # a moment: spike, reset, replacement, duplicates, malformed payloads
            start = day_start_us + int(rng.integers(0, day // step_us)) * step_us
            end = start + step_us
            if kind == "spike":
                params["factor"] = 25.0
            if kind == "meter_replacement":
                params["new_multiplier"] = float(rng.choice([1, 40, 80]))
        waste_point = None
        if kind == "overheating" and any(p.role == "heat" for p in building.points):
            waste_point = building.point("heat").key
        elif kind in ("overcooling", "overheating"):
            waste_point = building.point("01B").key
        out.append(Fault(building.code, point, kind, int(start), int(end), params, waste_point))
    return out
