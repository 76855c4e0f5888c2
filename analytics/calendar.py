"""China's working calendar: workdays, weekends, public holidays and 调休 (adjusted) workdays.

Public institutions follow the State Council's yearly holiday notice (国务院办公厅关于节假日
安排的通知): public holidays are days off, and some weekend days become workdays (调休) to
bridge them. The dates come from the ``holidays`` package (its China calendar carries the
notices' holidays and weekend workdays); for a year whose notice it does not carry, it
computes the holidays from the rules of the Holidays Regulation and no weekend becomes a
workday.

Pure data: no I/O. Dates are local calendar dates (``numpy.datetime64[D]``).
"""

from __future__ import annotations

import functools

import holidays
import numpy as np

#: Day types returned by :func:`day_types`.
WORKDAY = 0  # 工作日: Monday to Friday, not a holiday
WEEKEND = 1  # 周末: Saturday or Sunday, not a 调休 workday
HOLIDAY = 2  # 法定节假日 and the days off around it
ADJUSTED_WORKDAY = 3  # 调休上班: a weekend day worked in exchange for a holiday

DAY_TYPE_NAMES = {
    WORKDAY: ("工作日", "workday"),
    WEEKEND: ("周末", "weekend"),
    HOLIDAY: ("节假日", "holiday"),
    ADJUSTED_WORKDAY: ("调休上班", "adjusted workday"),
}


@functools.lru_cache(maxsize=64)
def _year(year: int) -> tuple[frozenset[np.datetime64], frozenset[np.datetime64]]:
    cn = holidays.China(years=year)
    off = frozenset(np.datetime64(d, "D") for d in cn)
    worked = frozenset(np.datetime64(d, "D") for d in cn.weekend_workdays if d.year == year)
    return off, worked


def day_types(dates: np.ndarray) -> np.ndarray:
    """Classify local dates as workday, weekend, holiday or adjusted workday.

    Parameters
    ----------
    dates : array_like of datetime64
        Local calendar dates (any datetime64 unit; truncated to days).

    Returns
    -------
    numpy.ndarray of int8
        :data:`WORKDAY`, :data:`WEEKEND`, :data:`HOLIDAY` or :data:`ADJUSTED_WORKDAY`,
        same shape as ``dates``.

    References
    ----------
    .. [1] 国务院, 《全国年节及纪念日放假办法》(Holidays Regulation), 2024 revision.
    .. [2] 国务院办公厅, 关于 2026 年部分节假日安排的通知 (yearly notice).
    """
    days = np.asarray(dates).astype("datetime64[D]")
    # 1970-01-01 was a Thursday: (days + 3) % 7 is 0 on Mondays.
    weekday = (days.astype(np.int64) + 3) % 7
    out = np.where(weekday >= 5, WEEKEND, WORKDAY).astype(np.int8)
    flat = days.ravel()
    years = np.unique(flat.astype("datetime64[Y]").astype(np.int64) + 1970)
    for year in years.tolist():
        off, worked = _year(int(year))
        if off:
            out[np.isin(days, np.array(sorted(off)))] = HOLIDAY
        if worked:
            out[np.isin(days, np.array(sorted(worked)))] = ADJUSTED_WORKDAY
    return out


def is_workday(dates: np.ndarray) -> np.ndarray:
    """True where people go to work: ordinary workdays and 调休 weekend workdays."""
    kinds = day_types(dates)
    return (kinds == WORKDAY) | (kinds == ADJUSTED_WORKDAY)


def slot_context(
    start_us: int, step_s: int, n_slots: int, utc_offset_s: int = 8 * 3600
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hour (start of slot, 0–24), day type and local date of each slot of a grid.

    Parameters
    ----------
    start_us : int
        Start of the first slot, UTC µs since the Unix epoch (a local midnight).
    step_s, n_slots : int
        Slot length (s) and count.
    utc_offset_s : int
        The zone's offset from UTC (China: +8 h all year).
    """
    local_us = (
        start_us
        + utc_offset_s * 1_000_000
        + np.arange(n_slots, dtype=np.int64) * (step_s * 1_000_000)
    )
    days = (local_us // 86_400_000_000).astype("datetime64[D]")
    hours = (local_us % 86_400_000_000) / 3.6e9
    return hours, day_types(days), days


#: Typical school vacations (寒假, 暑假) as (month, day) ranges [start, end); provinces and
#: schools differ: pass their own dates where known.
SCHOOL_VACATIONS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((1, 15), (2, 25)),
    ((7, 5), (9, 1)),
)


def school_vacation(dates: np.ndarray, vacations=SCHOOL_VACATIONS) -> np.ndarray:
    """True on local dates inside a school vacation."""
    days = np.asarray(dates).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    month = (months.astype(np.int64) % 12) + 1
    day = (days - months).astype(np.int64) + 1
    md = month * 100 + day
    out = np.zeros(days.shape, dtype=bool)
    for (m0, d0), (m1, d1) in vacations:
        out |= (md >= m0 * 100 + d0) & (md < m1 * 100 + d1)
    return out
