"""Live mode: publish the simulated readings over MQTT, in real time or accelerated.

Each building speaks one payload format (:data:`simulators.portfolio.FORMATS`: canonical
batch, columns or single readings, SenML, Tasmota and Shelly devices, or a generic gateway
read through the declarative mapping :data:`MAPPING_FILE`), as a gateway or a fleet of smart
meters would, so every decoder gets traffic. The
simulated clock starts at ``start`` and runs ``speed`` times faster than the wall clock
(``speed=0``: as fast as the broker takes it); it never runs ahead of now, so an accelerated
run that catches up with the present goes on in real time. Duplicate publishes and malformed
payloads are injected as :mod:`simulators.faults` draws them, with labels.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.buildings import Day, Simulator
from simulators.faults import Fault
from simulators.payloads import (
    encode_canonical_batch,
    encode_canonical_columns,
    encode_canonical_single,
    encode_senml,
    encode_shelly_notify,
    encode_tasmota,
)
from simulators.portfolio import Building, Point

_SENML_UNITS = {"degC": "Cel"}
_JUNK = (b"{not json", b'{"point": 1, "time": "yesterday", "value": "x"}', b"\xff\xfe", b"[]")
#: The declarative mapping the "mapping" buildings need (JIENENG_MAPPING_FILE).
MAPPING_FILE = Path(__file__).with_name("gateway_mapping.yaml")

Reading = tuple[str, int, float, str]


def _building_messages(
    building: Building, readings: list[tuple[Point, int, float]], prefix: str
) -> Iterator[tuple[str, bytes]]:
    """The messages that carry one building's readings of one slot, in its format."""
    fmt = building.format
    gateway: list[Reading] = []
    devices: dict[str, list[tuple[Point, int, float]]] = {}
    for p, t, v in readings:
        if p.device:
            devices.setdefault(p.device, []).append((p, t, v))
        else:
            gateway.append((p.key, t, v, p.unit))
    if fmt == "canonical_columns":
        yield encode_canonical_columns(gateway, prefix=prefix)
    elif fmt == "canonical_single":
        for r in gateway:
            yield encode_canonical_single(*r, prefix=prefix, time_format="epoch_ms")
    elif fmt == "senml":
        device = building.code
        yield encode_senml(
            device,
            [
                (k.removeprefix(device + "/"), t, v, _SENML_UNITS.get(u, u))
                for k, t, v, u in gateway
            ],
            prefix=prefix,
        )
    elif fmt == "mapping":
        for key, t, v, _ in gateway:
            yield f"gw/{key}", orjson.dumps({"ts": t // 1000, "v": v})
    elif gateway:
        yield encode_canonical_batch(gateway, prefix=prefix)
    for device, items in devices.items():
        t = items[0][1]
        if fmt == "tasmota":
            total = next((v for p, _, v in items if p.key.endswith("/energy_kwh")), None)
            power = next((v * 1000 for p, _, v in items if p.key.endswith("/power_kw")), None)
            temps = {p.channel: {"Temperature": v} for p, _, v in items if p.channel}
            yield encode_tasmota(device, t, total, power, sensors=temps or None)
        else:
            statuses: dict[str, dict[str, object]] = {}
            for p, _, v in items:
                if p.channel == "emdata:0":
                    statuses[p.channel] = {"id": 0, "total_act": v * 1000}
                elif p.channel == "em:0":
                    statuses[p.channel] = {"id": 0, "total_act_power": v * 1000}
                elif p.channel == "switch:0":
                    statuses[p.channel] = {"id": 0, "aenergy": {"total": v * 1000}}
                else:
                    statuses[p.channel] = {"id": 0, "tC": v}
            yield encode_shelly_notify(device, t / 1e6, statuses)


def slot_messages(
    sim: Simulator, day: Day, slot: int, *, prefix: str
) -> Iterator[tuple[int, str, bytes]]:
    """(building index, topic, payload) of every message that slot ``slot`` of ``day`` sends."""
    values = day.values[:, slot]
    times = day.times_us[slot] + day.time_offset_us[:, slot]
    start = 0
    for b, building in enumerate(sim.portfolio.buildings):
        readings = [
            (p, int(times[start + j]), float(values[start + j]))
            for j, p in enumerate(building.points)
            if not np.isnan(values[start + j])
        ]
        start += len(building.points)
        for topic, payload in _building_messages(building, readings, prefix):
            yield b, topic, payload


class Publisher:
    """Publish a simulation over MQTT (QoS 1) from ``start`` on.

    Parameters
    ----------
    sim : Simulator
        Built with ``mqtt=True`` so that duplicate and malformed publishes are drawn.
    broker_host, broker_port : str, int
        The broker.
    start : datetime.datetime
        Simulated time of the first reading (aware).
    speed : float
        Simulated seconds per wall-clock second; 0 publishes as fast as possible.
    prefix : str
        Topic prefix (the collector's ``JIENENG_TOPIC_PREFIX``).
    """

    def __init__(
        self,
        sim: Simulator,
        broker_host: str,
        broker_port: int,
        *,
        start: dt.datetime,
        speed: float = 1.0,
        prefix: str = "jieneng",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start: needs a time zone")
        self.sim = sim
        self.start_us = int(start.timestamp() * 1e6)
        self.speed = speed
        self.prefix = prefix
        self.faults: list[Fault] = []
        self.sent = 0
        self._stop = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"jieneng-sim-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.host, self.port = broker_host, broker_port

    def stop(self) -> None:
        self._stop.set()

    def _wait_until(self, sim_us: int, wall0: float) -> bool:
        """Sleep until simulated time ``sim_us`` is due; False when stopped."""
        while not self._stop.is_set():
            now_us = time.time() * 1e6
            due = sim_us <= now_us  # never publish ahead of the present
            if self.speed > 0:
                due = due and (sim_us - self.start_us) / self.speed <= (time.time() - wall0) * 1e6
            if due:
                return True
            self._stop.wait(0.05)
        return False

    def run(
        self, *, until: dt.datetime | None = None, on_day: Callable[[Day], None] | None = None
    ) -> None:
        """Publish until ``until`` (simulated time) or :meth:`stop`; wait for the broker's
        acknowledgements before returning."""
        end_us = int(until.timestamp() * 1e6) if until else None
        self.client.connect(self.host, self.port)
        self.client.loop_start()
        infos: list[mqtt.MQTTMessageInfo] = []
        wall0 = time.time()
        date = dt.datetime.fromtimestamp(self.start_us / 1e6, self.sim.tz).date()
        try:
            while not self._stop.is_set():
                if end_us is not None and self.sim.day_start_us(date) >= end_us:
                    return
                day = self.sim.day(date)
                # Label what is published: not faults that ended before the first reading.
                self.faults += [f for f in day.faults if f.end_us > self.start_us]
                if on_day:
                    on_day(day)
                mqtt_faults = [
                    f
                    for f in self.sim.active
                    if f.kind in ("duplicate_publish", "malformed_payload")
                ]
                for slot, t in enumerate(day.times_us.tolist()):
                    if t < self.start_us:
                        continue
                    if end_us is not None and t > end_us:
                        return
                    if not self._wait_until(t, wall0):
                        return
                    for b, topic, payload in slot_messages(self.sim, day, slot, prefix=self.prefix):
                        infos.append(self.client.publish(topic, payload, qos=1))
                        self.sent += 1
                        for f in mqtt_faults:
                            if (
                                f.start_us < t <= f.end_us
                                and f.building == self.sim.portfolio.buildings[b].code
                            ):
                                if f.kind == "duplicate_publish":
                                    infos.append(self.client.publish(topic, payload, qos=1))
                                else:
                                    junk = _JUNK[int(f.start_us // 1_000_000) % len(_JUNK)]
                                    infos.append(self.client.publish(topic, junk, qos=1))
                                self.sent += 1
                    if len(infos) > 5000:
                        _acknowledged(infos)
                date += dt.timedelta(days=1)
        finally:
            try:
                _acknowledged(infos, timeout=10.0 if self._stop.is_set() else 60.0)
            finally:
                self.client.disconnect()
                self.client.loop_stop()


def _acknowledged(infos: list[mqtt.MQTTMessageInfo], *, timeout: float = 60.0) -> None:
    """Wait (one deadline for all) until the broker acknowledged ``infos``; then forget them.
    A message that could not be sent (no connection) is not waited for."""
    deadline = time.monotonic() + timeout
    for info in infos:
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        except (RuntimeError, ValueError):  # not queued: the connection was down
            continue
    infos.clear()
