"""Payload decoding: from (topic, payload bytes) to readings in canonical units.

Pure functions and frozen dataclasses: no MQTT client, no database. The collector builds one
:class:`Decoder` from its routes and calls :meth:`Decoder.decode` for each message.

Formats (each module's docstring has example payloads):

- ``canonical`` (:mod:`ingest.formats.canonical`): ``<prefix>/readings/#``
- ``senml`` (:mod:`ingest.formats.senml`, RFC 8428 JSON): ``<prefix>/senml/#``
- ``tasmota`` (:mod:`ingest.formats.tasmota`): ``tele/+/SENSOR``
- ``shelly`` (:mod:`ingest.formats.shelly`, Gen2): ``shelly/+/status/+``, ``shelly/+/events/rpc``
- ``mapping`` (:mod:`ingest.formats.mapping`): declarative rules from a YAML file

Example
-------
>>> decoder = Decoder(default_routes())
>>> fmt, out = decoder.decode("jieneng/readings/b1", b'{"point": "b1/main/power_kw", '
...                           b'"time": 1795392000000, "value": 52.5, "unit": "W"}',
...                           received_us=1795392000000000)
>>> fmt, out.keys, out.times_us, out.values, out.units
('canonical', ['b1/main/power_kw'], [1795392000000000], [0.0525], ['kW'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.formats import canonical, mapping, senml, shelly, tasmota
from ingest.formats._common import Bad, Message, Times, load_json, show
from ingest.formats.mapping import MappingReading, MappingRule, MappingTime, load_mappings
from ingest.formats.routes import FORMATS, Route, default_routes, match, split_filter
from ingest.model import ConfigError, Decoded

__all__ = [
    "FORMATS",
    "Decoder",
    "MappingReading",
    "MappingRule",
    "MappingTime",
    "Route",
    "default_routes",
    "load_mappings",
]

_DECODERS: dict[str, Callable[[object, Message, Times, Decoded], None]] = {
    "canonical": canonical.decode,
    "senml": senml.decode,
    "tasmota": tasmota.decode,
    "shelly": shelly.decode,
    "mapping": mapping.decode,
}
_TOPIC_CACHE_SIZE = 8192


class Decoder:
    """Decode MQTT messages of the routed formats; never raises on message content.

    Parameters
    ----------
    routes : sequence of Route
        Mapping routes are tried first, then the others in the given order; the first
        filter that matches the topic decides the format.
    naive_tz : str
        IANA time zone of ISO 8601 times without offset (Tasmota's ``Time`` always).
    max_payload_bytes : int
        Larger payloads are rejected unread (``too_large``).
    """

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        naive_tz: str = "Asia/Shanghai",
        max_payload_bytes: int = 1 << 20,
    ) -> None:
        for pos, route in enumerate(routes):
            if not isinstance(route, Route):
                raise ConfigError(f"routes[{pos}]: {show(route)} is not a Route")
        try:
            ZoneInfo(naive_tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigError(f"naive_tz: {naive_tz!r} is not an IANA time zone") from None
        if type(max_payload_bytes) is not int or max_payload_bytes < 1:
            raise ConfigError(f"max_payload_bytes: {max_payload_bytes!r} is not a positive int")
        ordered = [r for r in routes if r.format == "mapping"]
        ordered += [r for r in routes if r.format != "mapping"]
        self._routes = [(route, split_filter(route.filter)) for route in ordered]
        self._times = Times(naive_tz)
        self._max = max_payload_bytes
        self._topics: dict[str, tuple[Route, tuple[str, ...]] | None] = {}

    def subscriptions(self) -> list[str]:
        """Distinct topic filters to subscribe to, mapping routes first."""
        return list(dict.fromkeys(route.filter for route, _ in self._routes))

    def route(self, topic: str) -> tuple[Route, tuple[str, ...]] | None:
        """The route of ``topic`` and its wildcard captures, or None."""
        found = self._topics.get(topic, False)
        if found is not False:
            return found
        found = None
        if topic and "+" not in topic and "#" not in topic:
            for route, levels in self._routes:
                captures = match(levels, topic)
                if captures is not None:
                    found = (route, captures)
                    break
        if len(self._topics) >= _TOPIC_CACHE_SIZE:
            self._topics.clear()
        self._topics[topic] = found
        return found

    def decode(self, topic: str, payload: bytes, *, received_us: int) -> tuple[str, Decoded]:
        """Decode one message.

        Parameters
        ----------
        topic : str
            Topic the message was published to.
        payload : bytes
            Message payload, any content.
        received_us : int
            Receive time, µs since the Unix epoch (UTC); used only where the format means
            "now" (SenML relative or absent times, Shelly without ``ts``).

        Returns
        -------
        format : str
            Name of the format that decoded it, or ``"unknown"``.
        decoded : Decoded
            Readings (values in canonical units) and rejections. Valid readings of a message
            are kept when others are rejected.
        """
        out = Decoded()
        fmt = "unknown"
        try:
            found = self.route(topic) if type(topic) is str else None
            if found is None:
                out.reject("unknown_format", "topic", f"no route matches topic {show(topic)}")
                return fmt, out
            route, captures = found
            fmt = route.format
            if not isinstance(payload, bytes | bytearray | memoryview):
                out.reject("bad_json", "$", f"payload is {type(payload).__name__}, not bytes")
                return fmt, out
            if len(payload) > self._max:
                out.reject(
                    "too_large",
                    "$",
                    f"payload is {len(payload)} bytes, more than the limit of {self._max}",
                )
                return fmt, out
            try:
                doc = load_json(payload)
            except Bad as bad:
                out.reject(bad.code, "$", bad.reason)
                return fmt, out
            message = Message(topic, captures, received_us, route.rule)
            _DECODERS[fmt](doc, message, self._times, out)
        except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop the collector
            out = Decoded()
            out.reject(
                "bad_shape",
                "$",
                f"internal decoder error on this payload "
                f"({type(exc).__name__}: {show(str(exc))}); "
                "please report it",
            )
        return fmt, out
