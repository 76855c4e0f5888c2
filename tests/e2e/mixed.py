"""A reproducible stream of readings in every payload format, with what must be stored."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from ingest.units import lookup
from simulators.payloads import (
    encode_canonical_batch,
    encode_canonical_single,
    encode_senml,
    encode_shelly_switch,
    encode_tasmota,
)

Key = tuple[str, int]  # (point key, time in µs since the Unix epoch)


@dataclass
class Stream:
    """Messages to publish, and the rows they must become (key → canonical value)."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    readings: list[int] = field(default_factory=list)  # readings carried by each message
    expected: dict[Key, float] = field(default_factory=dict)

    def add(self, message: tuple[str, bytes], rows: list[tuple[str, int, float, str]]) -> None:
        self.messages.append(message)
        self.readings.append(len(rows))
        for key, t, value, unit in rows:
            unit_ = lookup(unit)
            assert unit_ is not None
            self.expected[(key, t)] = unit_.to_canonical(value)


def mixed_stream(tag: str, *, scale: int = 1, seed: int = 7) -> Stream:
    """100,000 × ``scale`` readings spread over the formats, all within the last two days.

    canonical batches (ISO times, 40 %), canonical compact pairs (epoch ms, 20 %), canonical
    single readings (5 %, in Wh), SenML packs (20 %, Wh/W/Cel/°F), Tasmota (10 %, kWh and W),
    Shelly Gen2 switches (5 %, Wh and W; one status per minute and device).
    """
    rng = random.Random(seed)
    s = Stream()
    now_ms = time.time_ns() // 1_000_000
    t0 = (now_ms - 2 * 86_400_000) * 1000  # µs, two days ago, whole milliseconds

    def val() -> float:
        return round(rng.uniform(0, 1e5), 3)

    # canonical batches: 200 messages × 200 readings, 50 points, ISO times
    for m in range(200 * scale):
        rows = [
            (f"{tag}/cb{j % 50}/energy_kwh", t0 + (m * 4 + j // 50) * 1_000_000, val(), "kWh")
            for j in range(200)
        ]
        s.add(encode_canonical_batch(rows, prefix=tag, time_format="iso"), rows)
    # canonical compact pairs: 40 messages × 500 readings, one point each
    for m in range(40 * scale):
        key = f"{tag}/cp{m % 10}/power_kw"
        rows = [(key, t0 + ((m // 10) * 500 + j) * 1000, val(), "W") for j in range(500)]
        s.add(encode_canonical_batch(rows, prefix=tag, time_format="epoch_ms", compact=True), rows)
    # canonical singles: 5,000 messages, in Wh
    for m in range(5000 * scale):
        row = (f"{tag}/cs{m % 25}/energy_kwh", t0 + m * 7_000, val(), "Wh")
        s.add(encode_canonical_single(*row, prefix=tag, time_format="epoch_ms"), [row])
    # SenML: 200 packs × 100 records over 4 quantities
    units = ["Wh", "W", "Cel", "degF"]
    names = ["energy", "power", "temp_in", "temp_out"]
    for m in range(200 * scale):
        device = f"{tag}-sm{m % 20}"
        pack = [
            (names[j % 4], t0 + ((m // 20) * 25 + j // 4) * 1_000_000, val(), units[j % 4])
            for j in range(100)
        ]
        rows = [(f"{device}/{n}", t, v, u) for n, t, v, u in pack]
        s.add(encode_senml(device, pack, prefix=tag), rows)
    # Tasmota: 5,000 messages (energy total kWh + power W), second resolution
    for m in range(5000 * scale):
        device = f"{tag}-ts{m % 50}"
        t = t0 // 1_000_000 * 1_000_000 + (m // 50) * 60_000_000
        e, p = val(), val()
        s.add(
            encode_tasmota(device, t, e, p),
            [(f"{device}/energy_kwh", t, e, "kWh"), (f"{device}/power_kw", t, p, "W")],
        )
    # Shelly Gen2: 2,500 statuses (aenergy Wh + apower W), one per minute and device
    for m in range(2500 * scale):
        device = f"{tag}-sh{m % 25}"
        t_s = t0 // 1_000_000 // 60 * 60 + (m // 25) * 60
        e, p = val(), val()
        t = t_s * 1_000_000
        s.add(
            encode_shelly_switch(device, "switch:0", t_s, e, p),
            [
                (f"{device}/switch:0/energy_kwh", t, e, "Wh"),
                (f"{device}/switch:0/power_kw", t, p, "W"),
            ],
        )
    return s
