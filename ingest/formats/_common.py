"""Checks shared by the payload decoders: point keys, numbers, units and times.

Every check either returns the clean value or raises :class:`Bad`, which the decoders turn
into a :class:`~ingest.model.Rejection` carrying the JSON path of the field. The checks are
written for the slow, precise path; :mod:`ingest.formats.canonical` has its own batch fast path
that falls back to them when anything looks wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from ingest.units import Unit, lookup

#: Longest accepted point key, in characters.
MAX_KEY_CHARS = 200
#: Latest representable time: 9999-12-31T23:59:59.999999Z, in µs since the Unix epoch.
MAX_US = 253_402_300_799_999_999
#: Latest representable time in epoch milliseconds.
MAX_MS = MAX_US // 1000
#: Longest string tried as an ISO 8601 timestamp.
MAX_TIME_CHARS = 64

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_JSON_KIND = {
    str: "a string",
    bool: "a boolean",
    type(None): "null",
    dict: "an object",
    list: "an array",
    int: "a number",
    float: "a number",
}
_CACHE_SIZE = 4096


class Bad(Exception):
    """One field of a payload is unusable; ``code`` is a key of ``REJECTION_CODES``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """What a decoder knows about one MQTT message besides its payload.

    Attributes
    ----------
    topic : str
        The topic the message was published to.
    captures : tuple of str
        What each wildcard of the route filter matched, in order (``#`` captures the rest).
    received_us : int
        Receive time, µs since the Unix epoch (UTC); used where a format means "now".
    rule : object or None
        The :class:`~ingest.formats.mapping.MappingRule` of a mapping route.
    """

    topic: str
    captures: tuple[str, ...]
    received_us: int
    rule: object = None


def show(value: object) -> str:
    """``repr`` of a value for a rejection reason, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def kind(value: object) -> str:
    """JSON type of a decoded value, for messages (``"a string"``, ``"null"``...)."""
    return _JSON_KIND.get(type(value), type(value).__name__)


def check_key(key: object, what: str = "point") -> str:
    """Return ``key`` if it is a usable point key, else raise :class:`Bad` (``bad_point``)."""
    if type(key) is not str:
        raise Bad("bad_point", f"{what} {show(key)} is {kind(key)}, not a string")
    if not key:
        raise Bad("bad_point", f"{what} is an empty string")
    if len(key) > MAX_KEY_CHARS:
        raise Bad(
            "bad_point", f"{what} {show(key)} is {len(key)} characters long (limit {MAX_KEY_CHARS})"
        )
    found = _CONTROL.search(key)
    if found:
        raise Bad(
            "bad_point", f"{what} {show(key)} contains the control character {show(found.group())}"
        )
    return key


def check_number(value: object, what: str = "value") -> float | int:
    """Return ``value`` if it is a finite JSON number (not a boolean), else raise :class:`Bad`."""
    if type(value) is int:
        return value
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise Bad("not_finite", f"{what} {show(value)} is not finite")
    raise Bad("not_number", f"{what} {show(value)} is {kind(value)}, not a number")


def check_unit(name: object) -> Unit | None:
    """Return the unit called ``name`` (``None`` stays ``None``), else raise :class:`Bad`."""
    if name is None:
        return None
    unit = lookup(name)
    if unit is None:
        raise Bad(
            "unknown_unit",
            f"unit {show(name)} is not one the collector can convert "
            "(kWh, Wh, kW, W, m3, L, m3/h, degC, Cel, K, %... see "
            "ingest.units)",
        )
    return unit


def convert(value: float | int, unit: Unit | None, what: str = "value") -> float:
    """Convert a checked number to its canonical unit; raise :class:`Bad` if it overflows."""
    result = float(value) if unit is None else unit.to_canonical(value)
    if not math.isfinite(result):
        raise Bad(
            "not_finite",
            f"{what} {show(value)} {unit.name if unit else ''} is not "
            "finite once converted to the canonical unit",
        )
    return result


def check_range(us: int, shown: str) -> int:
    """Return ``us`` if it lies in 1970..9999 (UTC), else raise :class:`Bad` (``bad_time``)."""
    if us < 0:
        raise Bad("bad_time", f"time {shown} is before 1970-01-01T00:00:00Z")
    if us > MAX_US:
        raise Bad("bad_time", f"time {shown} is after 9999-12-31T23:59:59Z")
    return us


def seconds_to_us(value: float | int) -> int:
    """Convert a checked number of seconds to whole µs (rounded half to even)."""
    return value * 1_000_000 if type(value) is int else round(value * 1_000_000)


class Times:
    """Timestamp parsing for one decoder, with a small cache of ISO 8601 strings.

    Parameters
    ----------
    naive_tz : str
        IANA zone applied to ISO strings without offset, e.g. ``"Asia/Shanghai"``.
    """

    def __init__(self, naive_tz: str) -> None:
        self.zone = ZoneInfo(naive_tz)
        self._cache: dict[str, int] = {}

    def iso(self, text: object) -> int:
        """Parse an ISO 8601 string into µs since the epoch, else raise :class:`Bad`."""
        us = self._cache.get(text) if type(text) is str else None
        if us is not None:
            return us
        if type(text) is not str:
            raise Bad("bad_time", f"time {show(text)} is {kind(text)}, not an ISO 8601 string")
        if len(text) > MAX_TIME_CHARS:
            raise Bad("bad_time", f"time {show(text)} is too long to be an ISO 8601 timestamp")
        try:
            stamp = datetime.fromisoformat(text)
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=self.zone)
            us = (stamp - _EPOCH) // _ONE_US
        except (ValueError, OverflowError) as exc:
            raise Bad(
                "bad_time", f"time {show(text)} is not an ISO 8601 timestamp ({exc})"
            ) from None
        check_range(us, show(text))
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[text] = us
        return us

    def epoch_ms(self, value: object) -> int:
        """Epoch milliseconds (JSON number) to µs, else raise :class:`Bad`."""
        number = _time_number(value, "epoch milliseconds")
        us = number * 1000 if type(number) is int else round(number * 1000)
        return check_range(us, f"{show(value)} (epoch ms)")

    def epoch_s(self, value: object) -> int:
        """Epoch seconds (JSON number) to µs, else raise :class:`Bad`."""
        number = _time_number(value, "epoch seconds")
        return check_range(seconds_to_us(number), f"{show(value)} (epoch s)")

    def canonical(self, value: object) -> int:
        """A canonical payload time: ISO 8601 string or epoch milliseconds."""
        if type(value) is str:
            return self.iso(value)
        if type(value) in (int, float):
            return self.epoch_ms(value)
        raise Bad(
            "bad_time",
            f"time {show(value)} is {kind(value)}, not an ISO 8601 string or epoch milliseconds",
        )

    def iso_many(self, texts: list[str]) -> list[int] | None:
        """Parse many ISO strings at once; ``None`` when any needs the precise path."""
        if len(texts) >= 64:
            parsed = _iso_vector(texts, self.zone)
            if parsed is not None:
                return parsed
        try:
            return [self.iso(text) for text in texts]
        except Bad:
            return None


def _time_number(value: object, what: str) -> float | int:
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return value
    raise Bad("bad_time", f"time {show(value)} is {kind(value)}, not {what}")


def load_json(payload: bytes | bytearray | memoryview | str) -> object:
    """Parse UTF-8 JSON, else raise :class:`Bad` (``bad_json``)."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        head = payload[:40] if isinstance(payload, str) else bytes(payload[:40])
        raise Bad("bad_json", f"payload {show(head)} is not UTF-8 JSON: {exc}") from None


# --- vectorized ISO 8601 parsing -----------------------------------------------------------
# Through datetime, a batch of 1000 distinct timestamps costs ~1 µs each. Timestamps sharing
# one layout ("YYYY-MM-DDTHH:MM:SS[.f{1,6}][Z|±HH:MM]", 'T' or ' ' between date and time)
# are parsed here with numpy instead; anything else returns None and goes through
# datetime.fromisoformat one by one, which stays the reference.

#: Fields computed from the digits by one matrix product (float64 is exact below 2**53).
_FIELDS = (
    "date",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "off_h",
    "off_m",
    "clock_us",
    "offset_us",
)
_LOW = np.array([10101, 1, 1, 0, 0, 0, 0, 0, 0, 0], dtype=np.int64)
_HIGH = np.array([99991231, 12, 31, 23, 59, 59, 23, 59, 2**62, 2**62], dtype=np.int64)
_US_PER_UNIT = {3: 3_600_000_000, 4: 60_000_000, 5: 1_000_000, 6: 1}


@dataclass(frozen=True, slots=True)
class _Plan:
    """Columns of one layout: digits, fixed characters, and digit weights of each field."""

    digits: np.ndarray
    fixed: np.ndarray
    weights: np.ndarray
    suffix: str


_plans: dict[tuple[int, int, str], _Plan] = {}


def _plan(first: str) -> _Plan | None:
    size = len(first)
    if (
        size < 19
        or first[10] not in "T "
        or first[4] != "-"
        or first[7] != "-"
        or first[13] != ":"
        or first[16] != ":"
    ):
        return None
    end = 19
    if size > 19 and first[19] in ".,":
        end = 20
        while end < size and "0" <= first[end] <= "9":
            end += 1
        if not 1 <= end - 20 <= 6:
            return None
    suffix = first[end:]
    if len(suffix) == 6 and suffix[0] in "+-" and suffix[3] == ":":
        kind = suffix[0]
    elif suffix in ("", "Z"):
        kind = suffix
    else:
        return None
    key = (size, end, kind)
    if key not in _plans:
        _plans[key] = _make_plan(size, end, kind)
    return _plans[key]


def _make_plan(size: int, end: int, kind: str) -> _Plan:
    # span of each part: year, month, day, hour, minute, second, fraction, offset h, offset m
    spans = [(0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19), (20, end)]
    if kind in ("+", "-"):
        spans += [(size - 5, size - 3), (size - 2, size)]
    digits = [col for lo, hi in spans for col in range(lo, hi)]
    weights = np.zeros((len(digits), len(_FIELDS)))
    row = 0
    for part, (lo, hi) in enumerate(spans):
        for col in range(lo, hi):
            unit = 10.0 ** (hi - col - 1)
            if part == 0:
                weights[row, 0] = unit * 10_000
            elif part in (1, 2):
                weights[row, 0] = unit * (100 if part == 1 else 1)
                weights[row, part] = unit
            elif part in (3, 4, 5):
                weights[row, part] = unit
                weights[row, 8] = unit * _US_PER_UNIT[part]
            elif part == 6:
                weights[row, 8] = 10.0 ** (5 - (col - 20))
            else:  # offset hours (part 7) and minutes (part 8): fields off_h, off_m
                weights[row, part - 1] = unit
                weights[row, 9] = unit * (3_600_000_000 if part == 7 else 60_000_000)
            row += 1
    fixed = [col for col in range(size) if col not in digits]
    return _Plan(np.array(digits), np.array(fixed), weights, kind)


def _epoch_day(date8: int) -> int:
    """Days since 1970-01-01 of a YYYYMMDD number; ValueError if it is no date."""
    return date(date8 // 10_000, date8 // 100 % 100, date8 % 100).toordinal() - 719_163


def _iso_vector(texts: list[str], zone: ZoneInfo) -> list[int] | None:
    plan = _plan(texts[0])
    if plan is None or len(set(map(len, texts))) != 1:
        return None
    try:
        raw = "".join(texts).encode("ascii")
    except UnicodeEncodeError:
        return None
    grid = np.frombuffer(raw, dtype=np.uint8).reshape(len(texts), len(texts[0]))
    if not (grid[:, plan.fixed] == grid[0, plan.fixed]).all():
        return None
    digits = grid[:, plan.digits] - np.uint8(48)
    if (digits > 9).any():
        return None
    fields = (digits.astype(np.float64) @ plan.weights).astype(np.int64)
    if ((fields < _LOW) | (fields > _HIGH)).any():
        return None
    dates = fields[:, 0]
    try:
        first, last = int(dates.min()), int(dates.max())
        if first == last:
            days: np.ndarray | int = _epoch_day(first)
        else:
            unique, where = np.unique(dates, return_inverse=True)
            days = np.array([_epoch_day(d) for d in unique.tolist()], dtype=np.int64)[where]
    except ValueError:  # 2026-02-30 and the like
        return None
    us = days * 86_400_000_000 + fields[:, 8]
    if plan.suffix == "+":
        us -= fields[:, 9]
    elif plan.suffix == "-":
        us += fields[:, 9]
    elif plan.suffix == "":
        shift = _zone_offset_us(int(us.min()), int(us.max()), zone)
        if shift is None:
            return None
        us -= shift
    if us.min() < 0 or us.max() > MAX_US:
        return None
    return us.tolist()


def _zone_offset_us(lo: int, hi: int, zone: ZoneInfo) -> int | None:
    """UTC offset of naive wall times ``lo..hi`` (µs) when it is the same over the whole span."""
    if hi - lo > 86_400_000_000:
        return None
    try:
        offsets = {
            (datetime(1970, 1, 1) + timedelta(microseconds=wall)).replace(tzinfo=zone).utcoffset()
            for wall in (lo, hi)
        }
    except (OverflowError, ValueError):
        return None
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    return None if offset is None else offset // _ONE_US
