"""Physics-like building simulation, vectorized across a portfolio, one local day at a time.

Per slot (``step_s`` seconds, 15 min by default) and building:

- **Weather**: outdoor air temperature from the city's climatology (annual and daily cycles)
  plus a persistent AR(1) weather anomaly (σ 2 °C, a few days of memory) and sensor noise.
- **Occupancy** from the building type's schedule and China's working calendar
  (:mod:`analytics.calendar`: holidays and 调休 workdays; school vacations).
- **HVAC (01B)**: cooling and heating loads from degree-hours against the setpoints (26 °C
  cooling, 20 °C heating, 国办发〔2007〕42号) while the schedule runs, through a COP;
  district-heated buildings (严寒, 寒冷) draw heat from the network all season with a night
  setback instead.
- **Lighting & sockets (01A), power (01C), special (01D)**: base load plus occupancy.
- **Main meter** = sub-meters + an unmetered share; **water** with occupancy; **gas** for
  kitchens; **heat** meter.
- **Indoor temperature** per zone: first-order response to HVAC and weather.
- **Registers**: cumulative consumption ÷ CT multiplier, quantized to the register's
  resolution, wrapping at its rollover value.

Each reading is stamped at the end of its slot (``day_start + (k + 1) * step``); a register
reading includes the slot's consumption. The same seed gives the same readings whatever the
chunking (random streams are keyed by day), and live runs continue where a backfill ended.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
from scipy.signal import lfilter

from analytics import calendar
from simulators import faults as faultlib
from simulators.faults import Fault
from simulators.portfolio import Portfolio

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
COOLING_SETPOINT_C = 26.0
HEATING_SETPOINT_C = 20.0

# Occupancy schedules: (hour, share of headcount) breakpoints, interpolated.
_SCHEDULES = {
    ("government", "work"): (
        [0, 7.5, 8.5, 11.8, 12.0, 13.5, 13.7, 17.5, 18.5, 20, 24],
        [0.02, 0.02, 0.95, 0.95, 0.6, 0.6, 0.95, 0.95, 0.25, 0.05, 0.02],
    ),
    ("government", "off"): ([0, 9, 9.5, 16.5, 17, 24], [0.02, 0.02, 0.08, 0.08, 0.02, 0.02]),
    ("school", "work"): (
        [0, 7, 7.5, 12, 12.2, 13.8, 14, 17, 17.5, 19, 21.5, 22, 24],
        [0.01, 0.01, 1, 1, 0.5, 0.5, 1, 1, 0.3, 0.3, 0.2, 0.01, 0.01],
    ),
    ("school", "off"): ([0, 9, 9.5, 16.5, 17, 24], [0.01, 0.01, 0.05, 0.05, 0.01, 0.01]),
    ("hospital", "work"): (
        [0, 7.5, 8.5, 12, 13, 14, 17.5, 18.5, 24],
        [0.45, 0.45, 1.0, 1.0, 0.75, 1.0, 1.0, 0.55, 0.45],
    ),
    ("hospital", "off"): ([0, 8, 9, 12, 17, 18, 24], [0.45, 0.45, 0.7, 0.7, 0.7, 0.5, 0.45]),
}
# HVAC schedule (hours on) for occupied days; hospitals run all day.
_HVAC_HOURS = {"government": (7.0, 18.5), "school": (6.5, 17.5), "hospital": (0.0, 24.0)}
# District-heating seasons (month, day) in severe-cold and cold cities.
_HEAT_SEASON = {"严寒": ((10, 20), (4, 20)), "寒冷": ((11, 15), (3, 15))}
# Water use while present, m³ per person-hour; special (01D) load, kW/m².
_WATER = {"government": 0.006, "school": 0.004, "hospital": 0.02}
_SPECIAL = {"government": 0.002, "school": 0.0015, "hospital": 0.006}


@dataclass(slots=True)
class Day:
    """One simulated local day.

    Attributes
    ----------
    times_us : ndarray of int64, shape (slots,)
        Reading times (UTC µs since the Unix epoch), ends of the slots.
    values : ndarray of float64, shape (points, slots)
        What each point reports (register readings, kW, °C; canonical units); NaN where it
        sends nothing.
    time_offset_us : ndarray of int64, shape (points, slots)
        Added to ``times_us`` by a skewed device clock (mostly zeros).
    energy : ndarray of float64, shape (points, slots)
        True consumption of each cumulative point in the slot (after the multiplier), the
        ground truth behind its register; NaN for other points.
    faults : list of Fault
        Faults that started on this day (their waste as far as this day).
    replacements : list of dict
        Meter replacement events of this day, as registry rows.
    """

    times_us: np.ndarray
    values: np.ndarray
    time_offset_us: np.ndarray
    energy: np.ndarray
    faults: list[Fault] = field(default_factory=list)
    replacements: list[dict[str, object]] = field(default_factory=list)

    def readings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point index, time µs, value) of every reading sent, in time order."""
        slot, idx = np.nonzero(~np.isnan(self.values.T))  # slot-major: in time order
        times = self.times_us[slot] + self.time_offset_us[idx, slot]
        return idx.astype(np.int32), times, self.values[idx, slot]


def _interp_schedule(hours: np.ndarray, kind: str, worked: bool) -> np.ndarray:
    xs, ys = _SCHEDULES[(kind, "work" if worked else "off")]
    return np.interp(hours, xs, ys)


def _in_season(date: dt.date, start: tuple[int, int], end: tuple[int, int]) -> bool:
    md = (date.month, date.day)
    return md >= start or md < end


def _school_vacation(date: dt.date) -> bool:
    return bool(calendar.school_vacation(np.array([np.datetime64(date, "D")]))[0])


class Simulator:
    """Simulate a portfolio day after day; see the module docstring for the model.

    Parameters
    ----------
    portfolio : Portfolio
        Buildings and points (:func:`simulators.portfolio.make_portfolio`).
    seed : int
        Same seed, same readings and faults.
    step_s : int
        Slot length in seconds; must divide a day (900 = 15 min, 60 for live runs).
    fault_rates : dict, optional
        Events per building per 30 days by kind (:data:`simulators.faults.DEFAULT_RATES`
        when omitted; ``{}`` for none).
    mqtt : bool
        Whether readings travel over MQTT (duplicate and malformed publishes are drawn only
        then).
    unmetered_share : float
        Share of the main meter's energy that no sub-meter measures (0–0.5).
    """

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        seed: int = 1,
        step_s: int = 900,
        fault_rates: dict[str, float] | None = None,
        mqtt: bool = False,
        unmetered_share: float = 0.05,
        scripted: Sequence[Fault] = (),
    ) -> None:
        if step_s <= 0 or 86400 % step_s:
            raise ValueError(f"step_s: must divide a day (86400 s), got {step_s}")
        if not 0.0 <= unmetered_share <= 0.5:
            raise ValueError(f"unmetered_share: must be within 0..0.5, got {unmetered_share}")
        zones = {b.time_zone for b in portfolio.buildings}
        if len(zones) != 1:
            raise ValueError(f"buildings: one time zone per simulation, got {sorted(zones)}")
        self.portfolio = portfolio
        self.seed = seed
        #: Faults given by the caller (labelled like the drawn ones), e.g. for a test.
        self.scripted = list(scripted)
        self.step_us = step_s * 1_000_000
        self.slots = 86400 // step_s
        self.tz = ZoneInfo(zones.pop())
        rates = dict(faultlib.DEFAULT_RATES if fault_rates is None else fault_rates)
        for kind, rate in rates.items():
            if kind not in faultlib.KINDS:
                known = ", ".join(faultlib.KINDS)
                raise ValueError(f"fault_rates: unknown kind {kind!r}; known: {known}")
            if not rate >= 0:
                raise ValueError(f"fault_rates[{kind!r}]: must be ≥ 0 events per 30 days")
        self._all_rates = rates
        self.rates = (
            rates if mqtt else {k: v for k, v in rates.items() if k not in faultlib.MQTT_ONLY}
        )
        self.unmetered_share = unmetered_share
        self.points = portfolio.points
        self.index = {p.key: i for i, p in enumerate(self.points)}
        bs = portfolio.buildings
        self.area = np.array([b.floor_area_m2 for b in bs])
        self.headcount = np.array([b.headcount for b in bs], dtype=float)
        cities = sorted({b.city.name for b in bs})
        self.cities = [next(b.city for b in bs if b.city.name == c) for c in cities]
        self.city_of = np.array([cities.index(b.city.name) for b in bs])
        # State carried from day to day.
        rng = np.random.default_rng([seed, 0x7374617465])
        self.anomaly = rng.normal(0, 2.0, len(self.cities))  # weather anomaly, °C
        self.zone_building = np.array([i for i, b in enumerate(bs) for _ in range(b.zones)])
        self.zone_points = [
            self.index[b.point(f"zone{z}").key] for b in bs for z in range(1, b.zones + 1)
        ]
        self.zone_bias = rng.normal(0, 0.4, len(self.zone_points))
        self.t_in = np.full(len(self.zone_points), 22.0)
        cumulative = [i for i, p in enumerate(self.points) if p.cumulative]
        self.meters = np.array(cumulative)
        self.multiplier = np.array([self.points[i].multiplier for i in cumulative])
        self.rollover = np.array([self.points[i].rollover_value or np.inf for i in cumulative])
        self.resolution = np.array([self.points[i].resolution for i in cumulative])
        # Registers start somewhere in their range; one main meter close to its rollover.
        self.register = rng.uniform(0.05, 0.4, len(cumulative)) * np.minimum(self.rollover, 1e5)
        first_main = cumulative.index(self.index[bs[0].point("main").key])
        self.register[first_main] = self.rollover[first_main] - 50.0
        self.replaced: set[str] = set()
        self.active: list[Fault] = []
        self.last = np.full(len(self.points), np.nan)  # last value each point sent
        self._last_day: dt.date | None = None

    def resume(self, *, step_s: int, mqtt: bool) -> Simulator:
        """A simulator that goes on from this one's state (registers, temperatures, weather,
        open faults) with another slot length: live publishing after a backfill."""
        if step_s <= 0 or 86400 % step_s:
            raise ValueError(f"step_s: must divide a day (86400 s), got {step_s}")
        other = copy.copy(self)
        for name in ("anomaly", "t_in", "multiplier", "register", "last"):
            setattr(other, name, getattr(self, name).copy())
        other.replaced = set(self.replaced)
        other.active = copy.deepcopy(self.active)
        other.step_us = step_s * 1_000_000
        other.slots = 86400 // step_s
        other.rates = (
            self._all_rates
            if mqtt
            else {k: v for k, v in self._all_rates.items() if k not in faultlib.MQTT_ONLY}
        )
        return other

    # --- calendar and climate ---------------------------------------------------------------
    def day_start_us(self, date: dt.date) -> int:
        """UTC µs of local midnight starting ``date``."""
        local = dt.datetime.combine(date, dt.time(), self.tz)
        return int(local.timestamp()) * 1_000_000

    def _climate(self, doy: np.ndarray, hours: np.ndarray) -> np.ndarray:
        """Climatological outdoor temperature (°C) per city (rows) and slot (columns)."""
        mean = np.array([c.mean_c for c in self.cities])[:, None]
        amp = np.array([c.seasonal_amp_c for c in self.cities])[:, None]
        diurnal = np.array([c.diurnal_amp_c for c in self.cities])[:, None]
        season = -np.cos(2 * np.pi * (doy - 20.0) / 365.25)  # coldest around 20 January
        day = np.cos(2 * np.pi * (hours - 15.0) / 24.0)  # warmest around 15:00
        return mean + amp * season + diurnal * day

    def season(self, building: int, date: dt.date) -> str:
        doy = np.array([date.timetuple().tm_yday + 0.5])
        clim = self._climate(doy, np.array([12.0]))[self.city_of[building], 0]
        return "cooling" if clim >= 24.0 else "heating" if clim <= 8.0 else "mild"

    # --- one day -----------------------------------------------------------------------------
    def day(self, date: dt.date) -> Day:
        """Simulate the local day ``date``; after the first, each day must follow the last
        (the registers, temperatures and weather carry over)."""
        if self._last_day is not None and date != self._last_day + dt.timedelta(days=1):
            raise ValueError(
                f"date: days must follow one another; expected "
                f"{self._last_day + dt.timedelta(days=1)}, got {date}"
            )
        self._last_day = date
        n, step_h = self.slots, self.step_us / HOUR_US
        start_us = self.day_start_us(date)
        times = start_us + (np.arange(1, n + 1, dtype=np.int64) * self.step_us)
        mid_hours = (np.arange(n) + 0.5) * step_h
        day_number = (start_us // DAY_US) + 1
        rng = np.random.default_rng([self.seed, 0x646179, day_number])
        bs = self.portfolio.buildings
        nb = len(bs)

        # Weather: climatology + AR(1) anomaly (3-day memory) + sensor noise.
        doy = date.timetuple().tm_yday + mid_hours / 24.0
        rho = np.exp(-self.step_us / (3 * DAY_US))
        eps = rng.standard_normal((len(self.cities), n))
        anomaly, _ = lfilter(
            [2.0 * np.sqrt(1 - rho**2)], [1.0, -rho], eps, axis=1, zi=(rho * self.anomaly)[:, None]
        )
        self.anomaly = anomaly[:, -1]
        t_city = self._climate(doy[None, :], mid_hours[None, :]) + anomaly
        t_out = t_city[self.city_of]  # (buildings, slots)

        kind = calendar.day_types(np.array([np.datetime64(date, "D")]))[0]
        worked = kind in (calendar.WORKDAY, calendar.ADJUSTED_WORKDAY)
        vacation = _school_vacation(date)
        occ = np.empty((nb, n))
        hvac_on = np.zeros((nb, n), dtype=bool)
        district = np.zeros((nb, n), dtype=bool)
        for i, b in enumerate(bs):
            in_term = not (b.kind == "school" and vacation)
            occ[i] = _interp_schedule(mid_hours, b.kind, worked and in_term)
            if b.kind == "hospital" or (worked and in_term):
                lo, hi = _HVAC_HOURS[b.kind]
                hvac_on[i] = (mid_hours >= lo) & (mid_hours < hi)
            season = _HEAT_SEASON.get(b.city.climate_zone)
            if b.city.heating == "district_heat" and season and _in_season(date, *season):
                district[i] = True

        # Faults: those starting today join the active list.
        new = []
        for i, b in enumerate(bs):
            for f in faultlib.plan_day(
                b,
                i,
                start_us,
                seed=self.seed,
                day_number=int(day_number),
                rates=self.rates,
                season=self.season(i, date),
                step_us=self.step_us,
                replaced=frozenset(self.replaced),
                hvac_runs=bool(hvac_on[i].any()),
            ):
                if f.kind in faultlib.METER_DATA and any(
                    g.point == f.point
                    and g.kind in faultlib.METER_DATA
                    and g.start_us < f.end_us
                    and f.start_us < g.end_us
                    for g in self.active + new
                ):
                    continue  # the meter is already misbehaving
                new.append(f)
                if f.kind == "meter_replacement":
                    self.replaced.add(f.point)
        day_end_us = start_us + 86_400_000_000
        new += [f for f in self.scripted if start_us <= f.start_us < day_end_us]
        self.active = [f for f in self.active if f.end_us > start_us] + new
        day_faults = [f for f in self.active if f.start_us < times[-1]]
        slot_start = times - self.step_us
        b_index = {b.code: i for i, b in enumerate(bs)}

        set_c, set_h, light_floor, extra_on, leak = self._modifiers(day_faults, slot_start)
        normal = self._loads(t_out, occ, hvac_on, district, None)
        actual = self._loads(
            t_out, occ, hvac_on | extra_on, district, (set_c, set_h, light_floor, leak)
        )
        noise = np.exp(rng.normal(0, 0.03, (len(self.points), n)))

        # Interval consumption per point (canonical units), normal and actual.
        energy_n = np.full((len(self.points), n), np.nan)
        energy_a = np.full((len(self.points), n), np.nan)
        u = self.unmetered_share
        for i, b in enumerate(bs):
            subs = [r for r in ("01A", "01B", "01C", "01D") if any(p.role == r for p in b.points)]
            for role in subs + ["water", "gas", "heat"]:
                try:
                    k = self.index[b.point(role).key]
                except KeyError:
                    continue
                energy_n[k] = normal[role][i] * step_h * noise[k]
                energy_a[k] = actual[role][i] * step_h * noise[k]
            sub_keys = [self.index[b.point(r).key] for r in subs]
            unmetered = u / (1 - u) * energy_n[sub_keys].sum(axis=0)
            main = self.index[b.point("main").key]
            energy_n[main] = energy_n[sub_keys].sum(axis=0) + unmetered
            energy_a[main] = energy_a[sub_keys].sum(axis=0) + unmetered
        # Each fault's waste: this run against the same run without that one fault (faults
        # that overlap on one building do not count each other's waste).
        for f in day_faults:
            if f.kind not in faultlib.WASTEFUL:
                continue
            k = self.index[f.waste_point or f.point]
            on = f.active(slot_start)
            if not on.any():
                continue
            set_c2, set_h2, floor2, extra2, leak2 = self._modifiers(
                [g for g in day_faults if g is not f], slot_start
            )
            without = self._loads(
                t_out, occ, hvac_on | extra2, district, (set_c2, set_h2, floor2, leak2)
            )
            i = b_index[f.building]
            role = self.points[k].role
            alone = without[role][i] * step_h * noise[k]
            f.expected_waste += float(np.sum((energy_a[k] - alone)[on]))
            f.waste_unit = self.points[k].unit

        values = np.full((len(self.points), n), np.nan)
        offsets = np.zeros((len(self.points), n), dtype=np.int64)
        replacements = self._registers(energy_a, values, times, day_faults)
        self._temperatures(t_out, hvac_on | extra_on, district, set_c, set_h, occ, values, rng)
        for i, b in enumerate(bs):
            k = self.index[b.point("main_power").key]
            main = self.index[b.point("main").key]
            values[k] = np.round(energy_a[main] / step_h * rng.normal(1, 0.01, n), 3)
            values[self.index[b.point("outdoor").key]] = np.round(
                t_out[i] + rng.normal(0, 0.2, n), 1
            )
        self._data_faults(values, offsets, times, day_faults)
        sent = ~np.isnan(values)
        last = np.where(
            sent.any(axis=1),
            values[np.arange(len(values)), sent.cumsum(axis=1).argmax(axis=1)],
            np.nan,
        )
        self.last = np.where(np.isnan(last), self.last, last)
        return Day(times, values, offsets, energy_a, new, replacements)

    def _modifiers(self, faults: list[Fault], slot_start: np.ndarray):
        """Setpoints, lighting floor, extra HVAC hours and leaks that ``faults`` impose."""
        bs = self.portfolio.buildings
        nb, n = len(bs), len(slot_start)
        b_index = {b.code: i for i, b in enumerate(bs)}
        set_c = np.full((nb, n), COOLING_SETPOINT_C)
        set_h = np.full((nb, n), HEATING_SETPOINT_C)
        light_floor = np.zeros((nb, n))
        extra_on = np.zeros((nb, n), dtype=bool)
        leak = np.zeros((nb, n))
        for f in faults:
            i, on = b_index[f.building], f.active(slot_start)
            b = bs[i]
            if f.kind == "overcooling":
                set_c[i] = np.where(on, f.params["setpoint_c"], set_c[i])
            elif f.kind == "overheating":
                set_h[i] = np.where(on, f.params["setpoint_c"], set_h[i])
            elif f.kind == "after_hours_lighting":
                light_floor[i] = np.where(on, f.params["level"], light_floor[i])
            elif f.kind == "hvac_out_of_hours":
                extra_on[i] |= on
            elif f.kind == "night_water_leak":  # a leak worth finding grows with the plumbing
                night = (
                    self.headcount[i]
                    * _WATER[b.kind]
                    * _interp_schedule(np.array([3.0]), b.kind, False)[0]
                )
                leak[i] = np.where(on, f.params["level"] + 0.3 * night, leak[i])
        return set_c, set_h, light_floor, extra_on, leak

    def _loads(self, t_out, occ, on, district, faulted) -> dict[str, np.ndarray]:
        """Average power (kW; water and gas m³/h; heat kW) per building and slot."""
        area = self.area[:, None]
        if faulted is None:
            set_c = COOLING_SETPOINT_C
            set_h = HEATING_SETPOINT_C
            light_floor = 0.0
            leak = 0.0
        else:
            set_c, set_h, light_floor, leak = faulted
        # Degree-hour loads: envelope and ventilation against the setpoint, internal gains.
        q_cool = np.where(on, area * np.maximum(0.0, 0.0035 * (t_out - set_c) + 0.02 * occ), 0.0)
        setback = np.where(on, set_h, set_h - 4.0)  # district heat: night setback
        heat_demand = area * np.maximum(0.0, 0.0022 * (setback - t_out) - 0.008 * occ)
        q_heat_dh = np.where(district & (q_cool <= 0), heat_demand, 0.0)
        q_heat_el = np.where(on & ~district & (q_cool <= 0), heat_demand, 0.0)
        kinds = [b.kind for b in self.portfolio.buildings]
        special = np.array([_SPECIAL[k] for k in kinds])[:, None]
        water = np.array([_WATER[k] for k in kinds])[:, None]
        hospital = np.array([k == "hospital" for k in kinds])[:, None]
        lunch = np.interp(
            (np.arange(occ.shape[1]) + 0.5) * 24 / occ.shape[1],
            [0, 10.5, 11, 12.5, 13, 16.5, 17, 18, 18.5, 24],
            [0, 0, 1, 1, 0, 0, 0.6, 0.6, 0, 0],
        )
        meals = lunch[None, :] * (occ > 0.3)
        light = np.maximum(occ, light_floor)
        return {
            "01A": area * (0.0015 + 0.009 * light),
            "01B": np.where(on, area * 0.003, 0.0) + q_cool / 3.2 + q_heat_el / 2.6,
            "01C": area * (0.0008 + 0.003 * occ) + np.where(district, area * 0.0004, 0.0),
            "01D": area * special,
            "water": self.headcount[:, None] * water * occ + leak,
            "gas": self.headcount[:, None] * 0.004 * (meals + 0.3 * hospital),
            "heat": q_heat_dh,
        }

    def _registers(self, energy, values, times, day_faults) -> list[dict[str, object]]:
        """Advance the registers by the day's consumption; write their readings."""
        meters = self.meters
        inc = energy[meters] / self.multiplier[:, None]
        replacements = []
        # (fault, meter row, first slot on the new register) of each reset or replacement today
        events = []
        for f in day_faults:
            if f.kind in ("meter_reset", "meter_replacement"):
                at = np.flatnonzero((times > f.start_us) & (times <= f.end_us))
                if len(at):
                    events.append(
                        (f, int(np.flatnonzero(meters == self.index[f.point])[0]), int(at[0]))
                    )
        for f, m, j in events:
            if f.kind == "meter_replacement":  # the new meter has its own CT ratio
                inc[m, j:] = energy[meters[m], j:] / f.params["new_multiplier"]
        series = self.register[:, None] + np.cumsum(inc, axis=1)
        for f, m, j in events:
            before = series[m, j - 1] if j else self.register[m]
            series[m, j:] -= before
            if f.kind == "meter_replacement":
                old = float(
                    np.floor(np.mod(before, self.rollover[m]) / self.resolution[m])
                    * self.resolution[m]
                )
                replacements.append(
                    {
                        "point": f.point,
                        "replaced_at": _iso(int(times[j]) - self.step_us // 2),
                        "old_final_value": round(old, 6),
                        "new_initial_value": 0.0,
                        "new_multiplier": f.params["new_multiplier"],
                        "note": "simulated replacement",
                    }
                )
                self.multiplier[m] = f.params["new_multiplier"]
        self.register = series[:, -1].copy()
        wrapped = np.mod(series, self.rollover[:, None])
        res = self.resolution[:, None]
        values[meters] = np.round(np.floor(wrapped / res + 1e-9) * res, 6)
        return replacements

    def _temperatures(self, t_out, on, district, set_c, set_h, occ, values, rng) -> None:
        """First-order zone temperatures: fast towards a setpoint while conditioned, slow
        towards a free-floating temperature otherwise."""
        zb = self.zone_building
        n = t_out.shape[1]
        step_h = self.step_us / HOUR_US
        # Unconditioned, a building's mass averages the day: slow, a little above outdoors.
        free = t_out[zb] + 1.5 + 3.0 * occ[zb] + self.zone_bias[:, None]
        cooling = on[zb] & (t_out[zb] > set_c[zb] - 6.0)
        heating = (on[zb] | district[zb]) & (t_out[zb] < set_h[zb] - 2.0) & ~cooling
        heat_target = np.where(on[zb], set_h[zb], set_h[zb] - 4.0)
        target = np.where(cooling, np.minimum(free, set_c[zb]), free)
        target = np.where(heating, np.maximum(free, heat_target), target)
        rate = np.where(cooling | heating, 1 - np.exp(-step_h / 0.75), 1 - np.exp(-step_h / 24.0))
        out = np.empty((len(zb), n))
        t = self.t_in
        for k in range(n):
            t = t + rate[:, k] * (target[:, k] - t)
            out[:, k] = t
        self.t_in = t
        out += self.zone_bias[:, None] * 0.3 + rng.normal(0, 0.05, out.shape)
        values[self.zone_points] = np.round(out, 2)

    def _data_faults(self, values, offsets, times, day_faults) -> None:
        for f in day_faults:
            k = self.index[f.point]
            on = (times > f.start_us) & (times <= f.end_us)
            if not on.any():
                continue
            if f.kind == "dead_meter":
                values[k, on] = np.nan
            elif f.kind == "stuck_register":
                first = int(np.flatnonzero(on)[0])
                held = f.params.get("held", values[k, first - 1] if first else self.last[k])
                if np.isnan(held):  # nothing sent before (the first slot simulated): its own
                    held = values[k, first]
                if not np.isnan(held):
                    f.params["held"] = float(held)
                    values[k, on] = held
            elif f.kind == "spike":
                values[k, on] *= f.params["factor"]
            elif f.kind == "clock_skew":
                frac = (times[on] - f.start_us) / (f.end_us - f.start_us)
                # Half a second more keeps a skewed time off any whole-second slot grid.
                offsets[k, on] = ((frac * f.params["max_offset_s"] + 0.5) * 1e6).astype(np.int64)


def _iso(time_us: int) -> str:
    return dt.datetime.fromtimestamp(time_us / 1e6, dt.UTC).isoformat()
