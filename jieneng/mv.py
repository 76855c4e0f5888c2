"""``jieneng mv`` on CSV files: daily meter data and outdoor temperatures in, a CalTRACK daily
baseline, its ASHRAE Guideline 14 statistics and the avoided energy of a reporting period out.

The files are those of the eemeter samples: a meter file with columns ``start,value`` (one row
per day, ``start`` an ISO 8601 time with its UTC offset) and a temperature file with
``dt,tempF`` or ``dt,tempC`` (hourly). Days are local dates as the files write them; a day's
mean temperature needs at least half of its hours (CalTRACK 2.2.2.3).
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

from analytics import mv


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


def read_meter(path: Path) -> dict[dt.date, float]:
    """Use per local day from a ``start,value`` CSV (empty value: missing)."""
    out: dict[dt.date, float] = {}
    for line, row in _rows(path):
        if "start" not in row or "value" not in row:
            raise InputError(f"{path}: columns: expected start,value, got {','.join(row)}")
        day = _local_date(path, line, "start", row["start"]).date()
        out[day] = _number(path, line, "value", row["value"])
    if not out:
        raise InputError(f"{path}: no rows")
    return out


def read_temperature(path: Path) -> dict[dt.date, float]:
    """Mean temperature (°C) per local day from a ``dt,tempF`` or ``dt,tempC`` CSV of hourly
    readings; a day with fewer than 12 readings has none."""
    hours: dict[dt.date, list[float]] = {}
    unit = None
    for line, row in _rows(path):
        if unit is None:
            unit = "tempC" if "tempC" in row else "tempF" if "tempF" in row else ""
            if "dt" not in row or not unit:
                raise InputError(
                    f"{path}: columns: expected dt,tempF or dt,tempC, got {','.join(row)}"
                )
        value = _number(path, line, unit, row[unit])
        if np.isnan(value):
            continue
        day = _local_date(path, line, "dt", row["dt"]).date()
        hours.setdefault(day, []).append(value if unit == "tempC" else (value - 32) / 1.8)
    if unit is None:
        raise InputError(f"{path}: no rows")
    return {day: float(np.mean(v)) for day, v in hours.items() if len(v) >= 12}


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
    if reporting_start < baseline_end:
        raise InputError(
            f"reporting_start: {reporting_start} is before the baseline end {baseline_end}"
        )
    end = reporting_end or (max(meter) + dt.timedelta(days=1))
    if end <= reporting_start:
        raise InputError(f"reporting_end: {end} is not after reporting_start {reporting_start}")
    base = [baseline_end - dt.timedelta(days=k) for k in range(mv.BASELINE_DAYS, 0, -1)]
    rep = [reporting_start + dt.timedelta(days=k) for k in range((end - reporting_start).days)]

    def series(days: list[dt.date], src: dict[dt.date, float]) -> np.ndarray:
        return np.array([[src.get(d, np.nan) for d in days]])

    cooling = fuel == "electricity"
    model = mv.fit_daily(series(base, meter), series(base, temperature), cooling=cooling)
    result = mv.savings(
        model, series(rep, meter), series(rep, temperature), non_routine=non_routine
    )
    # Guideline 14 at the month level: the daily model's predictions summed by calendar month.
    use_b, temp_b = series(base, meter), series(base, temperature)
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
    return {
        "baseline": {"start": base[0].isoformat(), "end": baseline_end.isoformat()},
        "reporting": {"start": reporting_start.isoformat(), "end": end.isoformat()},
        "fuel": fuel,
        "model": {k: (v[0] if isinstance(v, list) else v) for k, v in model.to_dict().items()},
        "guideline14_monthly": {
            "cvrmse": float(g14["cvrmse"][0]),
            "nmbe": float(g14["nmbe"][0]),
            "r_squared": float(g14["r_squared"][0]),
            "passes": bool(g14["passes"][0]),
            "limits": g14["limits"],
        },
        "savings": {k: (v[0] if isinstance(v, list) else v) for k, v in result.to_dict().items()},
    }
