"""Routes: which payload format a topic carries, and MQTT topic-filter matching.

A :class:`Route` pairs an MQTT topic filter with a format name. Filters follow MQTT 3.1.1/5
(§4.7): levels are separated by ``/``, ``+`` matches exactly one level, ``#`` matches any
number of levels (including none) and must be last, and wildcards never match a first level
that starts with ``$``. Each wildcard *captures* what it matched; mapping rules refer to the
captures as ``{1}``, ``{2}``...

Example
-------
>>> route = Route("tele/+/SENSOR", "tasmota")
>>> match(split_filter(route.filter), "tele/plug-7/SENSOR")
('plug-7',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.model import ConfigError

if TYPE_CHECKING:
    from ingest.formats.mapping import MappingRule

#: Formats a route can name.
FORMATS = ("canonical", "senml", "tasmota", "shelly", "mapping")


def split_filter(topic_filter: object) -> tuple[str, ...]:
    """Split and validate an MQTT topic filter; raise :class:`ConfigError` naming the problem."""
    if not isinstance(topic_filter, str) or not topic_filter:
        raise ConfigError(f"filter: {topic_filter!r} is not a non-empty string")
    if "\x00" in topic_filter or len(topic_filter.encode("utf-8", "replace")) > 65535:
        raise ConfigError(f"filter: {topic_filter[:60]!r} has a NUL character or is too long")
    levels = tuple(topic_filter.split("/"))
    for pos, level in enumerate(levels):
        if level in ("+", "#"):
            if level == "#" and pos != len(levels) - 1:
                raise ConfigError(f"filter: {topic_filter!r} has '#' before its last level")
        elif "+" in level or "#" in level:
            raise ConfigError(
                f"filter: {topic_filter!r} level {level!r} mixes a wildcard with text "
                "('+' and '#' must be whole levels)"
            )
    return levels


def match(levels: tuple[str, ...], topic: str) -> tuple[str, ...] | None:
    """Captures of ``topic`` under the split filter ``levels``, or None if it does not match."""
    parts = topic.split("/")
    captures: list[str] = []
    for pos, level in enumerate(levels):
        if level == "#":
            if pos == 0 and topic.startswith("$"):
                return None
            captures.append("/".join(parts[pos:]))
            return tuple(captures)
        if pos >= len(parts):
            return None
        if level == "+":
            if pos == 0 and parts[0].startswith("$"):
                return None
            captures.append(parts[pos])
        elif level != parts[pos]:
            return None
    return tuple(captures) if len(parts) == len(levels) else None


def count_wildcards(topic_filter: str) -> int:
    """Number of captures a filter produces."""
    return sum(level in ("+", "#") for level in topic_filter.split("/"))


@dataclass(frozen=True, slots=True)
class Route:
    """Which decoder handles the topics matching a filter.

    Parameters
    ----------
    filter : str
        MQTT topic filter; ``+`` and ``#`` only as whole levels, ``#`` last.
    format : str
        One of :data:`FORMATS`.
    rule : MappingRule or None
        The declarative rule; required when ``format == "mapping"``, refused otherwise.
    """

    filter: str
    format: str
    rule: MappingRule | None = None

    def __post_init__(self) -> None:
        split_filter(self.filter)
        if self.format not in FORMATS:
            raise ConfigError(f"format: {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.format == "mapping" and self.rule is None:
            raise ConfigError(f"rule: route {self.filter!r} has format 'mapping' but no rule")
        if self.format != "mapping" and self.rule is not None:
            raise ConfigError(
                f"rule: route {self.filter!r} has format {self.format!r}, "
                "which takes no mapping rule"
            )


def default_routes(prefix: str = "jieneng") -> list[Route]:
    """The routes of the built-in formats.

    Parameters
    ----------
    prefix : str
        First topic level(s) of the canonical and SenML topics.

    Returns
    -------
    list of Route
        ``<prefix>/readings/#`` canonical, ``<prefix>/senml/#`` SenML, ``tele/+/SENSOR``
        Tasmota, ``shelly/+/status/+`` and ``shelly/+/events/rpc`` Shelly Gen2. For the
        Shelly routes, set each device's MQTT topic prefix to ``shelly/<device-id>`` and turn
        on "Generic status update over MQTT" (status topics) or RPC notifications.
    """
    return [
        Route(f"{prefix}/readings/#", "canonical"),
        Route(f"{prefix}/senml/#", "senml"),
        Route("tele/+/SENSOR", "tasmota"),
        Route("shelly/+/status/+", "shelly"),
        Route("shelly/+/events/rpc", "shelly"),
    ]
