"""Grafana's PostgreSQL macros and template variables, expanded the way Grafana expands them
(its ``sqlds`` macro engine and the frontend's variable formats), so the tests and the
benchmark run each panel's SQL exactly as a dashboard would.

Supported: ``$__time(c)``, ``$__timeEpoch(c)``, ``$__timeFilter(c)``, ``$__timeFrom()``,
``$__timeTo()``, ``$__timeGroup(c, interval)``, ``$__timeGroupAlias(c, interval)``,
``$__unixEpochFilter(c)``, ``$__interval``, ``$__interval_ms``, ``$var``, ``${var}``,
``${var:sqlstring}``, ``${var:csv}``, ``${var:raw}``. An unknown macro or variable raises
:class:`MacroError` (a dashboard that references it would fail in Grafana too).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MACRO = re.compile(r"\$__(\w+)\(([^()]*)\)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
BUILTIN = frozenset({"__interval", "__interval_ms", "__from", "__to", "__timezone"})


class MacroError(ValueError):
    """A macro or variable Grafana would not expand."""


def interval_seconds(text: str) -> float:
    m = re.fullmatch(r"'?(\d+(?:\.\d+)?)(ms|s|m|h|d|w)'?", text.strip())
    if m is None:
        raise MacroError(f"interval: {text!r} is not like 5m, 1h, 1d")
    return float(m[1]) * _UNITS[m[2]]


def interval_text(seconds: float) -> str:
    for unit in ("w", "d", "h", "m", "s"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{int(seconds * 1000)}ms"


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def expand(
    sql: str,
    *,
    start: dt.datetime,
    end: dt.datetime,
    interval_s: float,
    variables: Mapping[str, str | Sequence[str]],
) -> str:
    """``sql`` with the variables (first, as Grafana's frontend does) and then the macros
    replaced for the time range ``start``–``end`` and the panel interval ``interval_s``."""

    def variable(m: re.Match[str]) -> str:
        name, fmt = (m[1], m[2]) if m[1] else (m[3], None)
        if name == "__interval":
            return interval_text(interval_s)
        if name == "__interval_ms":
            return str(int(interval_s * 1000))
        if name.startswith("__"):
            return m[0]  # a macro: below
        if name not in variables:
            raise MacroError(f"variable ${name} is not defined")
        value = variables[name]
        values = [value] if isinstance(value, str) else list(value)
        if fmt == "sqlstring" or (fmt is None and not isinstance(value, str)):
            return ",".join(_quote(v) for v in values)
        if fmt in (None, "raw", "csv"):
            return ",".join(values)
        raise MacroError(f"variable format :{fmt} is not supported")

    text = _VARIABLE.sub(variable, sql)

    def macro(m: re.Match[str]) -> str:
        name, args = m[1], [a.strip() for a in m[2].split(",")] if m[2].strip() else []
        if name == "timeFilter":
            return f"{args[0]} BETWEEN {_quote(_iso(start))} AND {_quote(_iso(end))}"
        if name == "timeFrom":
            return _quote(_iso(start))
        if name == "timeTo":
            return _quote(_iso(end))
        if name == "time":
            return f'{args[0]} AS "time"'
        if name == "timeEpoch":
            return f'extract(epoch from {args[0]}) AS "time"'
        if name in ("timeGroup", "timeGroupAlias"):
            step = interval_seconds(args[1])
            group = f"floor(extract(epoch from {args[0]})/{step:g})*{step:g}"
            return group + (' AS "time"' if name == "timeGroupAlias" else "")
        if name == "unixEpochFilter":
            return f"{args[0]} >= {int(start.timestamp())} AND {args[0]} <= {int(end.timestamp())}"
        raise MacroError(f"macro $__{name} is not supported")

    return _MACRO.sub(macro, text)


def referenced(sql: str) -> set[str]:
    """Names of the template variables a query uses (macros and built-ins left out)."""
    names = {m[1] or m[3] for m in _VARIABLE.finditer(sql)}
    return {n for n in names if not n.startswith("__")}
