"""``jieneng mv`` on CSV files: meter data and outdoor temperatures in, a baseline (CalTRACK
daily, or hourly TOWT), its ASHRAE Guideline 14 statistics and the avoided energy of a reporting
period out.

The files are those of the eemeter samples: a meter file with columns ``start,value`` (one row
per day or per hour, ``start`` an ISO 8601 time with its UTC offset) and a temperature file with
``dt,tempF`` or ``dt,tempC`` (hourly). Days and hours are local as the files write them; a
day's mean temperature needs at least half of its hours (CalTRACK 2.2.2.3).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from analytics import baseline, calendar, mv


class InputError(ValueError):
    """A file or an option that cannot be used: the message names the field and the reason."""


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file, gzip when its name ends in .gz."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise InputError(f"{path}: not a gzip file ({exc})") from None
    text = raw.decode("utf-8-sig")
    yield from enumerate(csv.DictReader(io.StringIO(text)), start=2)


def _local_date(path: Path, line: int, field: str, text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"{path}:{line}: {field}: {text!r} is not an ISO 8601 time "
            "(e.g. 2016-01-01T00:00:00-06:00)"
        ) from None


def _number(path: Path, line: int, field: str, text: str | None) -> float:
    if text is None or not text.strip():
        return np.nan
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{path}:{line}: {field}: {text!r} is not a number") from None


def read_meter(path: Path, *, hourly: bool = False) -> dict[Any, float]:
    """Use per local day (or, ``hourly``, per hour: keys are the file's times) from a
    ``start,value`` CSV (empty value: missing)."""
    out: dict[Any, float] = {}
    for line, row in _rows(path):
        if "start" not in row or "value" not in row:
            raise InputError(f"{path}: columns: expected start,value, got {','.join(row)}")
        time = _local_date(path, line, "start", row["start"])
        if hourly and time.tzinfo is None:
            raise InputError(f"{path}:{line}: start: {row['start']!r} has no UTC offset")
        out[time if hourly else time.date()] = _number(path, line, "value", row["value"])
    if not out:
        raise InputError(f"{path}: no rows")
    return out


def read_hourly_temperature(path: Path) -> dict[dt.datetime, float]:
    """Temperature (°C) at each time of a ``dt,tempF`` or ``dt,tempC`` CSV."""
    out: dict[dt.datetime, float] = {}
    unit = None
    for line, row in _rows(path):
        if unit is None:
            unit = "tempC" if "tempC" in row else "tempF" if "tempF" in row else ""
            if "dt" not in row or not unit:
                raise InputError(
                    f"{path}: columns: expected dt,tempF or dt,tempC, got {','.join(row)}"
                )
        value = _number(path, line, unit, row[unit])
        if not np.isnan(value):
            time = _local_date(path, line, "dt", row["dt"])
            out[time] = value if unit == "tempC" else (value - 32) / 1.8
    if unit is None:
        raise InputError(f"{path}: no rows")
    return out


def read_temperature(path: Path) -> dict[dt.date, float]:
    """Mean temperature (°C) per local day from a ``dt,tempF`` or ``dt,tempC`` CSV of hourly
    readings; a day with fewer than 12 readings has none."""
    hours: dict[dt.date, list[float]] = {}
    for time, value in read_hourly_temperature(path).items():
        hours.setdefault(time.date(), []).append(value)
    return {day: float(np.mean(v)) for day, v in hours.items() if len(v) >= 12}


def _check_order(first: dt.date, then: dt.date, *, later: str = "reporting_start") -> None:
    if then < first or (later == "reporting_end" and then == first):
        raise InputError(f"{later}: {then} is not after {first}")


def _first_meter(values: dict[str, Any]) -> dict[str, Any]:
    """A result of one meter: its arrays' only values, floats as Python floats."""
    out = {}
    for key, value in values.items():
        if isinstance(value, list | np.ndarray):
            value = value[0]
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def run(
    meter: dict[dt.date, float],
    temperature: dict[dt.date, float],
    *,
    baseline_end: dt.date,
    reporting_start: dt.date,
    reporting_end: dt.date | None = None,
    fuel: str = "electricity",
    non_routine: float = 0.0,
) -> dict[str, Any]:
    """Fit the baseline on the 365 days before ``baseline_end`` and measure the avoided energy
    from ``reporting_start`` to ``reporting_end`` (exclusive; default the day after the meter's
    last day). ``fuel`` ``gas`` or ``heat`` leaves out cooling models and keeps zeros."""
    _check_order(baseline_end, reporting_start)
    end = reporting_end or (max(meter) + dt.timedelta(days=1))
    _check_order(reporting_start, end, later="reporting_end")
    base = [baseline_end - dt.timedelta(days=k) for k in range(mv.BASELINE_DAYS, 0, -1)]
    rep = [reporting_start + dt.timedelta(days=k) for k in range((end - reporting_start).days)]

    def series(days: list[dt.date], src: dict[dt.date, float]) -> np.ndarray:
        return np.array([[src.get(d, np.nan) for d in days]])

    cooling = fuel == "electricity"
    use_b, temp_b = series(base, meter), series(base, temperature)
    use_r, temp_r = series(rep, meter), series(rep, temperature)
    model = mv.fit_daily(use_b, temp_b, cooling=cooling)
    result = mv.savings(model, use_r, temp_r, non_routine=non_routine)
    # Guideline 14 at the month level: the daily model's predictions summed by calendar month.
    pred_b = model.predict(temp_b)
    known = ~np.isnan(use_b) & ~np.isnan(temp_b)
    months = sorted({(d.year, d.month) for d in base})
    obs_m = np.array([[np.nan] * len(months)])
    pred_m = obs_m.copy()
    for k, ym in enumerate(months):
        cols = [i for i, d in enumerate(base) if (d.year, d.month) == ym and known[0, i]]
        if len(cols) >= 20:  # a month mostly covered
            obs_m[0, k], pred_m[0, k] = use_b[0, cols].sum(), pred_b[0, cols].sum()
    g14 = mv.guideline14(obs_m, pred_m, parameters=int(model.slopes[0]) + 1, interval="monthly")
    pred_r = model.predict(temp_r)[0]
    avoided = np.where(result.counted[0], pred_r - use_r[0], np.nan)
    return {
        "baseline": {"start": base[0].isoformat(), "end": baseline_end.isoformat()},
        "reporting": {"start": reporting_start.isoformat(), "end": end.isoformat()},
        "fuel": fuel,
        "model": _first_meter(model.to_dict()),
        "guideline14_monthly": _first_meter(g14),
        "savings": _first_meter(result.to_dict()),
        "daily": _days(
            base + rep,
            np.r_[use_b[0], use_r[0]],
            np.r_[pred_b[0], pred_r],
            np.r_[temp_b[0], temp_r[0]],
            np.r_[np.full(len(base), np.nan), avoided],
        ),
    }


def _days(
    days: list[dt.date],
    observed: np.ndarray,
    baseline: np.ndarray,
    temperature: np.ndarray,
    avoided: np.ndarray,
) -> dict[str, list[Any]]:
    """Day by day, both periods: what the meter used, what the baseline model gives for the
    day's temperature (the fit in the baseline period, the adjusted baseline after), and on
    the reporting days the savings counted, the avoided energy (their sum is the savings'
    ``avoided`` less its non-routine adjustment)."""
    return {
        "date": [d.isoformat() for d in days],
        "observed": _floats(observed),
        "baseline": _floats(baseline),
        "temperature_c": _floats(temperature),
        "avoided": _floats(avoided, digits=6),  # summed by the dashboards: not to 0.001
    }


def _floats(values: np.ndarray, digits: int = 3) -> list[float | None]:
    """JSON numbers, None where NaN."""
    return [None if np.isnan(x) else round(float(x), digits) for x in values]


def times_of_week(times: list[dt.datetime], chinese_calendar: bool) -> np.ndarray:
    """Hour of the week of each local time; with ``chinese_calendar`` a holiday counts as a
    Sunday and a 调休 workday as a Monday (:func:`analytics.baseline.time_of_week`)."""
    hours = np.array([t.hour for t in times], dtype=np.float64)
    days = np.array([t.date().isoformat() for t in times], dtype="datetime64[D]")
    kinds = calendar.day_types(days) if chinese_calendar else np.full(len(times), -1)
    return baseline.time_of_week(hours, days, kinds)


def run_hourly(
    meter: dict[dt.datetime, float],
    temperature: dict[dt.datetime, float],
    *,
    baseline_end: dt.date,
    reporting_start: dt.date,
    reporting_end: dt.date | None = None,
    chinese_calendar: bool = True,
    non_routine: float = 0.0,
) -> dict[str, Any]:
    """Fit an hourly TOWT baseline on the 8,760 hours before ``baseline_end`` (local midnight,
    in the meter file's UTC offset) and measure the avoided energy from ``reporting_start`` to
    ``reporting_end`` (exclusive; default the day after the meter's last hour)."""
    _check_order(baseline_end, reporting_start)
    tz = next(iter(meter)).tzinfo
    end = reporting_end or (max(meter).date() + dt.timedelta(days=1))
    _check_order(reporting_start, end, later="reporting_end")
    midnight = dt.datetime.combine(baseline_end, dt.time(), tz)
    base = [midnight - dt.timedelta(hours=k) for k in range(mv.BASELINE_DAYS * 24, 0, -1)]
    first = dt.datetime.combine(reporting_start, dt.time(), tz)
    rep = [first + dt.timedelta(hours=k) for k in range((end - reporting_start).days * 24)]

    def series(times: list[dt.datetime], src: dict[dt.datetime, float]) -> np.ndarray:
        return np.array([[src.get(t, np.nan) for t in times]])

    tow_b, tow_r = (times_of_week(x, chinese_calendar) for x in (base, rep))
    use_b, temp_b = series(base, meter), series(base, temperature)
    use_r, temp_r = series(rep, meter), series(rep, temperature)
    model = mv.fit_hourly(use_b, temp_b, tow_b)
    result = mv.savings(model, use_r, temp_r, tow=tow_r, non_routine=non_routine)
    pred_b = model.predict(temp_b, tow_b)
    g14 = mv.guideline14(use_b, pred_b, parameters=model.explanatory + 1, interval="hourly")
    fitted = model.to_dict()
    pred_r = model.predict(temp_r, tow_r)
    # Days of hours: a day's use and baseline need all 24 of its hours, its temperature 12;
    # its avoided energy is that of the hours the savings counted.
    by_day = (np.r_[use_b[0], use_r[0]].reshape(-1, 24),
              np.r_[pred_b[0], pred_r[0]].reshape(-1, 24),
              np.r_[temp_b[0], temp_r[0]].reshape(-1, 24))  # fmt: skip
    counted = np.r_[np.zeros(len(base), bool), result.counted[0]].reshape(-1, 24)
    gain = np.where(counted, by_day[1] - by_day[0], 0.0).sum(axis=1)
    hours_t = (~np.isnan(by_day[2])).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        temps = np.where(hours_t >= 12, np.nansum(by_day[2], axis=1) / hours_t, np.nan)
    days = [t.date() for t in (base + rep)[::24]]
    return {
        "baseline": {"start": base[0].date().isoformat(), "end": baseline_end.isoformat()},
        "reporting": {"start": reporting_start.isoformat(), "end": end.isoformat()},
        "model": {
            "kind": fitted["kind"],
            "n": fitted["n"][0],
            "cvrmse": fitted["cvrmse"][0],
            "r_squared": fitted["r_squared"][0],
            "warnings": fitted["warnings"][0],
            "calendar": "cn" if chinese_calendar else "none",
        },
        "guideline14_hourly": _first_meter(g14),
        "savings": _first_meter(result.to_dict()),
        "daily": _days(
            days,
            by_day[0].sum(axis=1),
            by_day[1].sum(axis=1),
            temps,
            np.where(counted.any(axis=1), gain, np.nan),
        ),
    }


def stored_slots(
    conn: Any, key: str, start: dt.date, end: dt.date
) -> tuple[Iterator[tuple[dt.datetime, np.ndarray, np.ndarray]], str]:
    """A stored meter's use and its building's outdoor temperature slot by slot (15 minutes),
    a local day at a time from ``start`` up to ``end`` (exclusive): (local midnight, use per
    slot, °C per slot) with NaN where unknown; and the meter's fuel. ``conn`` in autocommit
    mode.

    Use comes from the registers as the analysis job derives it (rollovers, resets,
    replacements, gaps spread by the meter's profile)."""
    from zoneinfo import ZoneInfo

    from jieneng.analyze import STEP, role_of, window_use
    from store import findings as store

    row = conn.execute(
        "SELECT b.code, p.energy_code, p.cumulative FROM points p"
        " JOIN buildings b ON b.id = p.building_id WHERE p.key = %s",
        (key,),
    ).fetchone()
    if row is None:
        raise InputError(f"--meter: no point with key {key!r} in a building")
    building, energy_code, cumulative = row
    if not cumulative:
        raise InputError(f"--meter: {key!r} is not a meter with a cumulative register")
    store.refresh_rollups_if_idle(conn)
    points = store.points(conn, [building])
    k = next(i for i, p in enumerate(points) if p.key == key)
    outdoor = [i for i, p in enumerate(points) if role_of(p) == "outdoor"]
    if not outdoor:
        raise InputError(f"--meter: building {building} has no outdoor thermometer")
    tz = ZoneInfo(points[0].time_zone)
    per_day = int(dt.timedelta(days=1) / STEP)

    def days() -> Iterator[tuple[dt.datetime, np.ndarray, np.ndarray]]:
        day = start
        while day < end:
            stop = min(end, day + dt.timedelta(days=31))
            # A day of history: the first slot's step needs the reading before it.
            lo = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(), tz)
            hi = dt.datetime.combine(stop, dt.time(), tz)
            result, g = window_use(conn, points, lo, hi)
            n = (stop - day).days
            u = result.use[list(result.meters).index(k), per_day:].reshape(n, per_day)
            t = g.instant[outdoor[0], per_day:].reshape(n, per_day)
            for d in range(n):
                yield dt.datetime.combine(day + dt.timedelta(days=d), dt.time(), tz), u[d], t[d]
            day = stop

    fuel = {"03": "gas", "04": "heat"}.get((energy_code or "")[:2], "electricity")
    return days(), fuel


def stored_daily(
    conn: Any, key: str, start: dt.date, end: dt.date
) -> tuple[dict[dt.date, float], dict[dt.date, float], str]:
    """Daily use of a stored meter and the daily mean outdoor temperature of its building from
    ``start`` up to ``end`` (exclusive), and the meter's fuel (:func:`stored_slots`).

    A day with more than half of its slots unknown is missing, and one with fewer is filled
    with its known slots' mean (CalTRACK 2.2.2.1). A day's temperature needs half of its slots
    (2.2.2.3)."""
    slots, fuel = stored_slots(conn, key, start, end)
    use: dict[dt.date, float] = {}
    temperature: dict[dt.date, float] = {}
    for midnight, u, t in slots:
        date, n = midnight.date(), len(u)
        known_u, known_t = int((~np.isnan(u)).sum()), int((~np.isnan(t)).sum())
        if known_u == n:
            use[date] = float(u.sum())
        elif known_u * 2 >= n:
            use[date] = float(np.nanmean(u) * n)
        if known_t * 2 >= n:
            temperature[date] = float(np.nanmean(t))
    return use, temperature, fuel


def stored_hourly(
    conn: Any, key: str, start: dt.date, end: dt.date
) -> tuple[dict[dt.datetime, float], dict[dt.datetime, float], str]:
    """Hourly use of a stored meter and the hourly mean outdoor temperature of its building
    (local hours, :func:`stored_slots`): an hour's use needs all its slots, its temperature
    half of them (CalTRACK 3.2.2 leaves an hour with a gap out)."""
    slots, fuel = stored_slots(conn, key, start, end)
    use: dict[dt.datetime, float] = {}
    temperature: dict[dt.datetime, float] = {}
    for midnight, u, t in slots:
        per_hour = len(u) // 24
        hours_u, hours_t = u.reshape(24, per_hour), t.reshape(24, per_hour)
        for h in range(24):
            time = midnight + dt.timedelta(hours=h)
            if not np.isnan(hours_u[h]).any():
                use[time] = float(hours_u[h].sum())
            if (~np.isnan(hours_t[h])).sum() * 2 >= per_hour:
                temperature[time] = float(np.nanmean(hours_t[h]))
    return use, temperature, fuel


def run_stored(
    conn: Any,
    key: str,
    *,
    baseline_end: dt.date,
    reporting_start: dt.date,
    reporting_end: dt.date | None = None,
    non_routine: float = 0.0,
    model: str = "daily",
    chinese_calendar: bool = True,
) -> dict[str, Any]:
    """:func:`run` (``model="daily"``) or :func:`run_hourly` (``"hourly"``) on a stored meter:
    its use and its building's outdoor temperature from the 365 days before ``baseline_end``
    up to ``reporting_end`` (default today), by :func:`stored_daily` / :func:`stored_hourly`."""
    first = baseline_end - dt.timedelta(days=mv.BASELINE_DAYS)
    last = reporting_end or dt.date.today()
    if model == "hourly":
        hourly, hourly_temps, _ = stored_hourly(conn, key, first, last)
        if not hourly:
            raise InputError(f"--meter: {key!r} has no complete hour from {first} to {last}")
        return run_hourly(
            hourly,
            hourly_temps,
            baseline_end=baseline_end,
            reporting_start=reporting_start,
            reporting_end=reporting_end,
            chinese_calendar=chinese_calendar,
            non_routine=non_routine,
        )
    if model != "daily":
        raise InputError(f"--model: {model!r} is not one of daily, hourly")
    daily, temps, fuel = stored_daily(conn, key, first, last)
    return run(
        daily,
        temps,
        baseline_end=baseline_end,
        reporting_start=reporting_start,
        reporting_end=reporting_end,
        fuel=fuel,
        non_routine=non_routine,
    )
