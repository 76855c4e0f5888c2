"""Quality flags that travel with a grid: one ``uint16`` bit field per [point, slot].

A flag says what happened to a value on its way from the meter to the grid; 0 is "as
measured". Flags combine with ``|``; :func:`describe` names them for reports and the API.
"""

from __future__ import annotations

import numpy as np

GAP = 1 << 0  # no reading for this slot
INTERPOLATED = 1 << 1  # consumption spread over a gap from the register readings around it
ROLLOVER = 1 << 2  # the register wrapped at its rollover value
RESET = 1 << 3  # the register fell back towards zero without a recorded replacement
REPLACEMENT = 1 << 4  # a recorded meter replacement falls in this interval
NEGATIVE = 1 << 5  # a small negative register step (jitter) was set to zero
SPIKE = 1 << 6  # an outlying reading, left out (registers) or flagged (sensors)
STUCK = 1 << 7  # the register stood still, then caught up
IMPOSSIBLE = 1 << 8  # outside what the quantity can physically be
CLOCK_SKEW = 1 << 9  # the reading's time was off the slot grid

NAMES: dict[int, tuple[str, str]] = {
    GAP: ("缺测", "gap"),
    INTERPOLATED: ("插补", "interpolated"),
    ROLLOVER: ("翻转", "rollover"),
    RESET: ("清零", "reset"),
    REPLACEMENT: ("换表", "meter replacement"),
    NEGATIVE: ("负值", "negative step"),
    SPIKE: ("尖峰", "spike"),
    STUCK: ("停走", "stuck register"),
    IMPOSSIBLE: ("不可能值", "impossible value"),
    CLOCK_SKEW: ("时钟偏差", "clock skew"),
}


def describe(flags: int, language: str = "zh") -> list[str]:
    """Names of the flags set in ``flags`` (``language`` "zh" or "en")."""
    pos = 0 if language == "zh" else 1
    return [names[pos] for bit, names in NAMES.items() if flags & bit]


def counts(flags: np.ndarray) -> dict[str, int]:
    """How many slots carry each flag (English names), over the whole array."""
    return {en: int(np.count_nonzero(flags & bit)) for bit, (_, en) in NAMES.items()}
