"""Turn decoded messages into write batches: point lookup, unit check, time tolerance.

No network here: :class:`BatchBuilder` takes :class:`Message` values and a point directory
and produces :class:`Batch` values for :class:`store.writer.ReadingWriter`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ingest.formats import Decoder
from ingest.model import Decoded, Rejection
from store.registry import PointInfo
from store.writer import DeadLetter


class Message(NamedTuple):
    """One MQTT message as the network loop hands it over (a tuple: cheap to make)."""

    topic: str
    payload: bytes
    received_us: int
    mid: int = 0
    qos: int = 0
    generation: int = 0
    dup: bool = False


@dataclass(slots=True)
class Batch:
    """Readings and dead letters to commit together, and the messages to acknowledge after."""

    point_ids: list[int] = field(default_factory=list)
    times_us: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    acks: list[tuple[int, int, int]] = field(default_factory=list)  # (mid, qos, generation)
    rejected: dict[str, int] = field(default_factory=dict)  # per rejection code
    messages: int = 0
    first_received_us: int = 0

    def __len__(self) -> int:
        return len(self.point_ids)

    def merge(self, other: Batch) -> None:
        """Append ``other`` to this batch (to commit both in one transaction)."""
        self.point_ids += other.point_ids
        self.times_us += other.times_us
        self.values += other.values
        self.dead_letters += other.dead_letters
        self.acks += other.acks
        for code, count in other.rejected.items():
            self.rejected[code] = self.rejected.get(code, 0) + count
        if other.messages and (
            not self.messages or other.first_received_us < self.first_received_us
        ):
            self.first_received_us = other.first_received_us
        self.messages += other.messages


Resolver = Callable[[set[str], dict[str, str | None]], dict[str, PointInfo | str]]


class BatchBuilder:
    """Accumulate messages into a :class:`Batch`.

    Parameters
    ----------
    decoder : Decoder
        Payload decoding (pure).
    points : dict
        The point cache, ``key`` → :class:`PointInfo`, shared with ``resolve``.
    resolve : callable
        Called with keys missing from ``points`` (and their units); returns PointInfo or a
        refusal reason per key (database lookup and auto-registration).
    max_future_s, max_age_s : float
        Readings whose time is more than ``max_future_s`` seconds after receipt, or more than
        ``max_age_s`` seconds before it, are refused (clock skew, replayed junk).
    """

    def __init__(
        self,
        decoder: Decoder,
        points: dict[str, PointInfo],
        resolve: Resolver,
        *,
        max_future_s: float = 300.0,
        max_age_s: float = 400 * 86400.0,
    ) -> None:
        self.decoder = decoder
        self.points = points
        self.resolve = resolve
        self.max_future_us = int(max_future_s * 1e6)
        self.max_age_us = int(max_age_s * 1e6)
        self.batch = Batch()

    def take(self) -> Batch:
        batch, self.batch = self.batch, Batch()
        return batch

    def add(self, msg: Message) -> None:
        """Decode one message and add its readings (and refusals) to the current batch."""
        fmt, decoded = self.decoder.decode(msg.topic, msg.payload, received_us=msg.received_us)
        batch = self.batch
        if not batch.messages:
            batch.first_received_us = msg.received_us
        batch.messages += 1
        batch.acks.append((msg.mid, msg.qos, msg.generation))
        rejections = decoded.rejections
        n = len(decoded.keys)
        if n:
            pids, times, values, extra = self._check(decoded, msg.received_us)
            batch.point_ids += pids
            batch.times_us += times
            batch.values += values
            if extra:
                rejections = rejections + extra
            accepted = len(pids)
        else:
            accepted = 0
        if rejections:
            for r in rejections:
                batch.rejected[r.code] = batch.rejected.get(r.code, 0) + 1
            batch.dead_letters.append(
                DeadLetter(
                    received_us=msg.received_us,
                    topic=msg.topic,
                    payload=msg.payload,
                    format=fmt,
                    reason=_summary(rejections, accepted),
                    errors=[r.as_dict() for r in rejections],
                    accepted=accepted,
                    dup=msg.dup,
                )
            )

    def _check(
        self, d: Decoded, received_us: int
    ) -> tuple[list[int], list[int], list[float], list[Rejection]]:
        points = self.points
        missing = {k for k in d.keys if k not in points}
        refused: dict[str, PointInfo | str] = {}
        if missing:
            units: dict[str, str | None] = {}
            for k, u in zip(d.keys, d.units, strict=True):
                if k in missing and units.get(k) is None:
                    units[k] = u
            refused = self.resolve(missing, units)
        times = d.times_us
        if None in times:
            times = [received_us if t is None else t for t in times]
        lo = received_us - self.max_age_us
        hi = received_us + self.max_future_us
        # Fast path (the common case): every point known, one unit per quantity, all times
        # within tolerance; checked with C-level builtins over the whole message.
        if not missing:
            infos = [points[k] for k in d.keys]
            point_units = {i.unit for i in infos}
            given = set(d.units)
            given.discard(None)
            if (
                (not given or (len(point_units) == 1 and given == point_units))
                and lo <= min(times)
                and max(times) <= hi
            ):
                return [i.id for i in infos], times, d.values, []
        pids: list[int] = []
        out_t: list[int] = []
        out_v: list[float] = []
        extra: list[Rejection] = []
        multi = len(d.keys) > 1
        for i, (key, t, v, u) in enumerate(zip(d.keys, times, d.values, d.units, strict=True)):
            info = points.get(key)
            where = f"readings[{i}]." if multi else ""
            if info is None:
                why = refused.get(key)
                if isinstance(why, PointInfo):
                    info = why
                else:
                    extra.append(Rejection("unknown_point", f"{where}point", str(why), i))
                    continue
            if u is not None and u != info.unit:
                extra.append(
                    Rejection(
                        "unit_mismatch",
                        f"{where}unit",
                        f"unit {u} does not measure what point {key!r} measures ({info.unit})",
                        i,
                    )
                )
                continue
            if t > hi:
                extra.append(
                    Rejection(
                        "time_future",
                        f"{where}time",
                        f"time is {(t - received_us) / 1e6:.0f} s after receipt"
                        f" (tolerance {self.max_future_us / 1e6:.0f} s)",
                        i,
                    )
                )
                continue
            if t < lo:
                extra.append(
                    Rejection(
                        "time_too_old",
                        f"{where}time",
                        f"time is {(received_us - t) / 86400e6:.1f} days before receipt"
                        f" (tolerance {self.max_age_us / 86400e6:.1f} days)",
                        i,
                    )
                )
                continue
            pids.append(info.id)
            out_t.append(t)
            out_v.append(v)
        return pids, out_t, out_v, extra


def _summary(rejections: list[Rejection], accepted: int) -> str:
    first = rejections[0]
    text = f"{first.field}: {first.reason}"
    if len(rejections) > 1:
        text += f" (and {len(rejections) - 1} more)"
    if accepted:
        text += f"; {accepted} reading(s) of this message were stored"
    return text


def as_arrays(batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.fromiter(batch.point_ids, dtype=np.int32, count=len(batch.point_ids)),
        np.fromiter(batch.times_us, dtype=np.int64, count=len(batch.times_us)),
        np.fromiter(batch.values, dtype=np.float64, count=len(batch.values)),
    )
