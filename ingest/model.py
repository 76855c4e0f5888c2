"""Values that move between the decoding, batching and writing steps of ingest."""

from __future__ import annotations

from dataclasses import dataclass, field


class IngestError(Exception):
    """Base class of the errors raised by :mod:`ingest`."""


class ConfigError(IngestError):
    """A route, mapping or setting of the collector is not usable."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one reading, or a whole message, was refused.

    Parameters
    ----------
    code : str
        Stable machine key, one of :data:`REJECTION_CODES`; counters and dead letters group by it.
    field : str
        Where in the payload the problem is, as a JSON path (``"readings[3].value"``,
        ``"ENERGY.Total"``, ``"$"`` for the whole payload, ``"topic"`` for the topic).
    reason : str
        A sentence for a person that names the offending value.
    index : int or None
        Position of the reading in the message when the message carries several.
    """

    code: str
    field: str
    reason: str
    index: int | None = None

    def __post_init__(self) -> None:
        if self.code not in REJECTION_CODES:
            raise ValueError(f"code: unknown rejection code {self.code!r}")

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "field": self.field, "reason": self.reason, "index": self.index}


#: Stable rejection keys with a short description (used in docs and metrics).
REJECTION_CODES: dict[str, str] = {
    "bad_json": "payload is not valid UTF-8 JSON",
    "unknown_format": "no decoder accepts this topic or payload shape",
    "bad_shape": "payload is JSON but not of the expected structure",
    "missing_field": "a required field (point, time, value...) is absent",
    "not_number": "value is not a JSON number (string, bool, null, object...)",
    "not_finite": "value is NaN or infinite",
    "unknown_unit": "unit is not one the collector can convert",
    "unit_mismatch": "unit measures another quantity than the point",
    "bad_time": "timestamp cannot be parsed",
    "time_future": "timestamp is further in the future than the tolerance",
    "time_too_old": "timestamp is older than the tolerance",
    "bad_point": "point key is empty, too long or not a string",
    "unknown_point": "point is not registered and auto-registration is off",
    "too_large": "payload is larger than the configured maximum",
}


@dataclass(slots=True)
class Decoded:
    """Readings decoded from one MQTT message, in columns.

    All four lists have the same length; element ``i`` of each describes reading ``i``.

    Attributes
    ----------
    keys : list of str
        Point keys (the registry's ``points.key``) as the device names them.
    times_us : list of int
        Reading time as integer microseconds since 1970-01-01T00:00:00Z (UTC), or ``None``
        where the payload had no time and the receive time should be used.
    values : list of float
        Values already converted to the canonical unit in ``units`` (finite floats).
    units : list of str or None
        Canonical unit of each value (see :data:`ingest.units.CANONICAL`), or None where the
        payload gave no unit (the point's registered unit applies).
    rejections : list of Rejection
        What was refused in this message; valid readings of the same message are kept.
    """

    keys: list[str] = field(default_factory=list)
    times_us: list[int | None] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    units: list[str | None] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def add(self, key: str, time_us: int | None, value: float, unit: str | None) -> None:
        self.keys.append(key)
        self.times_us.append(time_us)
        self.values.append(value)
        self.units.append(unit)

    def reject(self, code: str, field: str, reason: str, index: int | None = None) -> None:
        self.rejections.append(Rejection(code, field, reason, index))

    def __len__(self) -> int:
        return len(self.keys)
