"""Import the registry (institutions, buildings, points, meter replacements) from YAML or CSV.

One file is one transaction: when any row is invalid nothing is written and
:class:`~store.RegistryError` lists every problem found (the first :data:`MAX_ERRORS`), one
per line, each naming the file, the row and the field::

    points.csv line 7, field 'multiplier': must be a number > 0, got 'abc'
    registry.yaml buildings item 2 (code '11010A001'), field 'code': must be a 10-character ...

Rows are matched on their natural keys (institution and building ``code``, point ``key``,
replacement ``point`` + ``replaced_at``) and upserted: importing the same file again changes
nothing, and a changed attribute is updated. A row describes the whole entity: an optional
field left out is stored as empty (or its default).

Formats
-------
YAML
    A mapping with optional lists ``institutions``, ``buildings``, ``points`` and
    ``meter_replacements``; each item maps field names to values. Numbers written with a
    leading zero stay text (``energy_code: 01``), and so do dates and ``yes``/``no``.
CSV
    One table per file, UTF-8 (a BOM is fine: Excel's "CSV UTF-8") or GB18030, header on
    line 1. The table is named by the file name (``institutions.csv``, ``buildings.csv``,
    ``points.csv``, ``meter_replacements.csv``) or else told from the header. Empty cells
    are missing values.

Fields (* = required)
    institutions: code*, name*, type* (government|school|hospital|other or 机关/政府, 学校,
    医院, 其他), region_code (6 digits), headcount.
    buildings: code* (导则 building code ``^[0-9]{6}[A-H][0-9]{3}$``), institution* (an
    institution code, in the file or the database), name*, floor_area_m2, heated_area_m2,
    cooled_area_m2, headcount, climate_zone (severe_cold|cold|hot_summer_cold_winter|
    hot_summer_warm_winter|mild or 严寒, 寒冷, 夏热冬冷, 夏热冬暖, 温和), gb51161_class (A|B),
    operating_hours (hours in use per year, > 0 and ≤ 8784: GB/T 51161's hours correction),
    time_zone (IANA, default Asia/Shanghai).
    points: key* (at most 200 characters), building (a building code), name, kind
    (meter|sensor; default sensor for temperature and humidity, else meter), unit* (any unit
    the collector knows; the canonical unit of its quantity is stored: Wh → kWh), energy_code
    (导则 classification ``^0[1-9][A-Z0-9]*$``: 01, 01A, 01B1, 02 …), cumulative (true/false,
    1/0, yes/no, 是/否; default by quantity), multiplier (> 0, default 1), rollover_value
    (in ``unit``, stored converted to the canonical unit), parent (another point's key,
    anywhere in the file or in the database; no cycles), location (indoor|outdoor or
    室内/室外, for thermometers; empty: told from the key or name by the analysis).
    meter_replacements: point* (a point key), replaced_at* (ISO 8601; without an offset it
    is local time of the point's building, else Asia/Shanghai), old_final_value,
    new_initial_value (register values in the point's canonical unit), new_multiplier, note.
    consumption_records (energy no meter sees, for audits): institution*, building (a
    building code; empty: the institution's, e.g. its vehicles), carrier* (electricity,
    natural_gas, heat, water, gasoline, diesel, lpg, lng, raw_coal, steam or 电, 天然气,
    热力, 水, 汽油, 柴油, 液化石油气, 液化天然气, 原煤, 蒸汽), amount* (≥ 0), unit* (kg or t
    of fuels, kWh/MWh/万kWh, m³, GJ/MJ of heat; stored in the carrier's unit), period_start*,
    period_end* (dates, inclusive), document* (where the number comes from), note. Matched on
    institution, building, carrier, period and document.
    emc_contracts (合同能源管理): code*, institution*, name*, kind* (shared_savings,
    guaranteed_savings, cost_trusteeship or 节能效益分享型, 节能量保证型, 能源费用托管型), meter*
    (the point key whose savings are settled), esco, baseline_end* (the baseline is the 365
    days before it), reporting_start*, reporting_end (exclusive; empty: open), price* (CNY per
    meter unit), esco_share (0–1), guaranteed_per_year, fee_per_year, note.
    quotas (定额): institution*, year*, indicator* (energy_per_m2, energy_per_capita,
    electricity_per_m2, non_heating_energy_per_m2, water_per_capita), unit*, guide, baseline,
    constraint* (引导值 ≤ 基准值 ≤ 约束值), source. Matched on institution, year, indicator.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
from collections.abc import Callable, Collection, Container
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
import yaml

from ingest import units
from store import RegistryError

ENTITIES = (
    "institutions",
    "buildings",
    "points",
    "meter_replacements",
    "consumption_records",
    "quotas",
    "emc_contracts",
)
DEFAULT_TIME_ZONE = "Asia/Shanghai"
MAX_ERRORS = 20  # error lines shown in one RegistryError
_LOCK_ID = 0x6A696572  # "jier": serializes concurrent registry imports


# --- field parsers: raw value → clean value, or _Bad(reason) --------------------------------


class _Bad(ValueError):
    """A value is invalid; the message is the reason, as shown to the user."""


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad(f"must be text, got {_show(value)}")
    return str(value).strip()


def _key(value: object) -> str:
    key = _text(value)
    if len(key) > 200:
        raise _Bad(f"must be at most 200 characters, got {len(key)}")
    return key


_THOUSANDS = re.compile(r"[-+]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _THOUSANDS.fullmatch(text):  # "12,500.5" as Excel writes it
            text = text.replace(",", "")
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _positive(value: object) -> float:
    number = _as_number(value)
    if number is None or not number > 0:
        raise _Bad(f"must be a number > 0, got {_show(value)}")
    return number


def _hours_per_year(value: object) -> float:
    number = _positive(value)
    if number > 8784:
        raise _Bad(f"must be at most 8784 hours a year, got {_show(value)}")
    return number


def _non_negative(value: object) -> float:
    number = _as_number(value)
    if number is None or number < 0:
        raise _Bad(f"must be a number >= 0, got {_show(value)}")
    return number


def _count(value: object) -> int:
    number = _as_number(value)
    if number is None or number < 0 or not number.is_integer():
        raise _Bad(f"must be a whole number >= 0, got {_show(value)}")
    return int(number)


def _choice(options: dict[str, str], hint: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _text(value)
        found = options.get(text) or options.get(text.lower().replace("-", "_").replace(" ", "_"))
        if found is None:
            raise _Bad(f"must be one of {hint}, got {_show(value)}")
        return found

    return parse


_institution_type = _choice(
    {
        "government": "government",
        "school": "school",
        "hospital": "hospital",
        "other": "other",
        "机关": "government",
        "政府": "government",
        "学校": "school",
        "医院": "hospital",
        "其他": "other",
        "其它": "other",
    },
    "government, school, hospital, other (or 机关/政府, 学校, 医院, 其他)",
)
_climate_zone = _choice(
    {
        "severe_cold": "severe_cold",
        "cold": "cold",
        "hot_summer_cold_winter": "hot_summer_cold_winter",
        "hot_summer_warm_winter": "hot_summer_warm_winter",
        "mild": "mild",
        "严寒": "severe_cold",
        "寒冷": "cold",
        "夏热冬冷": "hot_summer_cold_winter",
        "夏热冬暖": "hot_summer_warm_winter",
        "温和": "mild",
        "严寒地区": "severe_cold",
        "寒冷地区": "cold",
        "夏热冬冷地区": "hot_summer_cold_winter",
        "夏热冬暖地区": "hot_summer_warm_winter",
        "温和地区": "mild",
    },
    "severe_cold, cold, hot_summer_cold_winter, hot_summer_warm_winter, mild"
    " (or 严寒, 寒冷, 夏热冬冷, 夏热冬暖, 温和)",
)
_gb51161_class = _choice({"A": "A", "a": "A", "B": "B", "b": "B"}, "A, B (GB/T 51161 class)")
_kind = _choice({"meter": "meter", "sensor": "sensor"}, "meter, sensor")
_location = _choice(
    {"indoor": "indoor", "outdoor": "outdoor", "室内": "indoor", "室外": "outdoor"},
    "indoor, outdoor (or 室内, 室外)",
)

_REGION_CODE = re.compile(r"[0-9]{6}")
_BUILDING_CODE = re.compile(r"[0-9]{6}[A-H][0-9]{3}")
_ENERGY_CODE = re.compile(r"0[1-9][A-Z0-9]*")


def _region_code(value: object) -> str:
    code = _text(value)
    if not _REGION_CODE.fullmatch(code):
        raise _Bad(f"must be a 6-digit administrative region code, got {_show(value)}")
    return code


def _building_code(value: object) -> str:
    code = _text(value).upper()
    if not _BUILDING_CODE.fullmatch(code):
        raise _Bad(
            "must be a 10-character 导则 building code: 6-digit region code + category letter"
            " A-H + 3-digit serial (^[0-9]{6}[A-H][0-9]{3}$, e.g. 110108A001),"
            f" got {_show(value)}"
        )
    return code


def _energy_code(value: object) -> str:
    code = _text(value).upper()
    if not _ENERGY_CODE.fullmatch(code):
        hint = ""
        if re.fullmatch(r"[1-9][A-Z0-9]*", code):
            hint = (
                " (the leading zero was lost: quote it in YAML, format the column as text"
                " in a spreadsheet)"
            )
        raise _Bad(
            "must be a 导则 energy classification code such as 01, 01A, 01B1, 02"
            f" (^0[1-9][A-Z0-9]*$), got {_show(value)}{hint}"
        )
    return code


_TRUE = {"true", "t", "1", "yes", "y", "是"}
_FALSE = {"false", "f", "0", "no", "n", "否"}


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Bad(f"must be true or false (also 1/0, yes/no, 是/否), got {_show(value)}")


def _time_zone(value: object) -> str:
    name = _text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _Bad(f"must be an IANA time zone such as Asia/Shanghai, got {_show(value)}") from None
    return name


def _unit(value: object) -> units.Unit:
    unit = units.lookup(_text(value))
    if unit is None:
        known = ", ".join(sorted({u.name for u in units.UNITS.values()}, key=str.lower))
        raise _Bad(f"unknown unit {_show(value)} (known: {known})")
    return unit


_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}")


def _timestamp(value: object) -> datetime:
    text = _text(value)
    try:
        if not _DATE_TIME.match(text):
            raise ValueError(text)
        return datetime.fromisoformat(text)
    except ValueError:
        raise _Bad(
            "must be an ISO 8601 date and time such as 2024-03-01T10:00:00+08:00,"
            f" got {_show(value)}"
        ) from None


def _date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # YAML reads 2024-03-01 as a date
    text = _text(value)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Bad(f"must be a date such as 2024-03-01, got {_show(value)}") from None


def _year(value: object) -> int:
    year = _count(value)
    if not 2000 <= year <= 2100:
        raise _Bad(f"must be a year 2000–2100, got {_show(value)}")
    return year


#: Carriers of consumption records (keys of analytics/data/factors.yaml), their unit there and
#: the units a record may be written in, with the factor to it.
RECORD_CARRIERS: dict[str, tuple[str, dict[str, float]]] = {
    "electricity": ("kWh", {"kwh": 1.0, "mwh": 1000.0, "万kwh": 10_000.0}),
    "natural_gas": ("m3", {"m3": 1.0, "m³": 1.0, "万m3": 10_000.0}),
    "heat": ("kWh", {"kwh": 1.0, "gj": 1000 / 3.6, "mj": 1 / 3.6}),
    "water": ("m3", {"m3": 1.0, "m³": 1.0, "t": 1.0}),
    "gasoline": ("kg", {"kg": 1.0, "t": 1000.0}),
    "diesel": ("kg", {"kg": 1.0, "t": 1000.0}),
    "lpg": ("kg", {"kg": 1.0, "t": 1000.0}),
    "lng": ("kg", {"kg": 1.0, "t": 1000.0}),
    "raw_coal": ("kg", {"kg": 1.0, "t": 1000.0}),
    "steam": ("kg", {"kg": 1.0, "t": 1000.0}),
}
_carrier = _choice(
    {
        **{c: c for c in RECORD_CARRIERS},
        "电": "electricity",
        "天然气": "natural_gas",
        "热力": "heat",
        "水": "water",
        "汽油": "gasoline",
        "柴油": "diesel",
        "液化石油气": "lpg",
        "液化天然气": "lng",
        "原煤": "raw_coal",
        "煤": "raw_coal",
        "蒸汽": "steam",
    },
    ", ".join(RECORD_CARRIERS)
    + " (or 电, 天然气, 热力, 水, 汽油, 柴油, 液化石油气, 液化天然气, 原煤, 蒸汽)",
)
_indicator = _choice(
    {
        name: name
        for name in (
            "energy_per_m2",
            "energy_per_capita",
            "electricity_per_m2",
            "non_heating_energy_per_m2",
            "water_per_capita",
        )
    },
    "energy_per_m2, energy_per_capita, electricity_per_m2, non_heating_energy_per_m2,"
    " water_per_capita",
)


_contract_kind = _choice(
    {
        "shared_savings": "shared_savings",
        "guaranteed_savings": "guaranteed_savings",
        "cost_trusteeship": "cost_trusteeship",
        "节能效益分享型": "shared_savings",
        "节能量保证型": "guaranteed_savings",
        "能源费用托管型": "cost_trusteeship",
    },
    "shared_savings, guaranteed_savings, cost_trusteeship"
    " (or 节能效益分享型, 节能量保证型, 能源费用托管型)",
)


def _share(value: object) -> float:
    number = _as_number(value)
    if number is None or not 0 <= number <= 1:
        raise _Bad(f"must be a share within 0–1, got {_show(value)}")
    return number


class _Field(NamedTuple):
    parse: Callable[[object], Any]
    required: bool = False


_FIELDS: dict[str, dict[str, _Field]] = {
    "institutions": {
        "code": _Field(_key, True),
        "name": _Field(_text, True),
        "type": _Field(_institution_type, True),
        "region_code": _Field(_region_code),
        "headcount": _Field(_count),
    },
    "buildings": {
        "code": _Field(_building_code, True),
        "institution": _Field(_key, True),
        "name": _Field(_text, True),
        "floor_area_m2": _Field(_positive),
        "heated_area_m2": _Field(_non_negative),
        "cooled_area_m2": _Field(_non_negative),
        "headcount": _Field(_count),
        "climate_zone": _Field(_climate_zone),
        "gb51161_class": _Field(_gb51161_class),
        "operating_hours": _Field(_hours_per_year),
        "time_zone": _Field(_time_zone),
    },
    "points": {
        "key": _Field(_key, True),
        "building": _Field(_building_code),
        "name": _Field(_text),
        "kind": _Field(_kind),
        "unit": _Field(_unit, True),
        "energy_code": _Field(_energy_code),
        "cumulative": _Field(_bool),
        "multiplier": _Field(_positive),
        "rollover_value": _Field(_positive),
        "parent": _Field(_key),
        "location": _Field(_location),
    },
    "meter_replacements": {
        "point": _Field(_key, True),
        "replaced_at": _Field(_timestamp, True),
        "old_final_value": _Field(_non_negative),
        "new_initial_value": _Field(_non_negative),
        "new_multiplier": _Field(_positive),
        "note": _Field(_text),
    },
    "consumption_records": {
        "institution": _Field(_key, True),
        "building": _Field(_building_code),
        "carrier": _Field(_carrier, True),
        "amount": _Field(_non_negative, True),
        "unit": _Field(_text, True),
        "period_start": _Field(_date, True),
        "period_end": _Field(_date, True),
        "document": _Field(_text, True),
        "note": _Field(_text),
    },
    "emc_contracts": {
        "code": _Field(_key, True),
        "institution": _Field(_key, True),
        "name": _Field(_text, True),
        "kind": _Field(_contract_kind, True),
        "meter": _Field(_key, True),
        "esco": _Field(_text),
        "baseline_end": _Field(_date, True),
        "reporting_start": _Field(_date, True),
        "reporting_end": _Field(_date),
        "price": _Field(_non_negative, True),
        "esco_share": _Field(_share),
        "guaranteed_per_year": _Field(_non_negative),
        "fee_per_year": _Field(_non_negative),
        "note": _Field(_text),
    },
    "quotas": {
        "institution": _Field(_key, True),
        "year": _Field(_year, True),
        "indicator": _Field(_indicator, True),
        "unit": _Field(_text, True),
        "guide": _Field(_non_negative),
        "baseline": _Field(_non_negative),
        "constraint": _Field(_non_negative, True),
        "source": _Field(_text),
    },
}
# The field naming a row in messages, and its natural key.
_IDENT = {
    "institutions": "code",
    "buildings": "code",
    "points": "key",
    "meter_replacements": "point",
    "consumption_records": "document",
    "quotas": "indicator",
    "emc_contracts": "code",
}


# --- rows and errors -------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    entity: str
    file: str
    place: str  # "line 7" (CSV) or "points item 3" (YAML)
    raw: dict[str, Any]
    ident: str = ""  # " (key 'b1/elec')" for YAML items
    values: dict[str, Any] = field(default_factory=dict)
    bad: set[str] = field(default_factory=set)  # fields (or "*") found invalid

    @property
    def where(self) -> str:
        return f"{self.file} {self.place}{self.ident}"

    def ok(self, *names: str) -> bool:
        return "*" not in self.bad and not self.bad.intersection(names)


class _Errors:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, where: str, name: str | None, reason: str, row: _Row | None = None) -> None:
        self.lines.append(f"{where}, field '{name}': {reason}" if name else f"{where}: {reason}")
        if row is not None:
            row.bad.add(name or "*")

    def raise_if_any(self) -> None:
        if self.lines:
            shown = self.lines[:MAX_ERRORS]
            if len(self.lines) > MAX_ERRORS:
                shown.append(f"... and {len(self.lines) - MAX_ERRORS} more errors")
            raise RegistryError("\n".join(shown))


# --- reading files ---------------------------------------------------------------------------


def _decode(path: Path, data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{path.name}: cannot read the text as UTF-16: {exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as gb:
            raise RegistryError(
                f"{path.name}: cannot read the text: not UTF-8 ({utf8.reason} at byte"
                f" {utf8.start}) nor GB18030 ({gb.reason} at byte {gb.start}); save it as UTF-8"
            ) from None


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader on which codes stay text: ``01``, ``2024-03-01`` and ``no`` are strings."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag
        not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _read_yaml(path: Path, text: str, errors: _Errors) -> dict[str, list[_Row]]:
    try:
        data = yaml.load(text, Loader=_YamlLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name} line {mark.line + 1}" if mark is not None else path.name
        problem = getattr(exc, "problem", None) or str(exc)
        raise RegistryError(f"{where}: invalid YAML: {problem}") from None
    return _read_mapping(path.name, data, errors)


def _read_mapping(name: str, data: object, errors: _Errors) -> dict[str, list[_Row]]:
    """Rows of a parsed document: a mapping of entity lists (YAML, or JSON from the API)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RegistryError(
            f"{name}: must be a mapping with the lists {', '.join(ENTITIES)};"
            f" got {type(data).__name__}"
        )
    rows: dict[str, list[_Row]] = {}
    for section, items in data.items():
        if section not in ENTITIES:
            errors.add(
                name,
                None,
                f"unknown section {_show(section)} (expected {', '.join(ENTITIES)})",
            )
            continue
        if not isinstance(items, list | None):
            errors.add(f"{name} {section}", None, "must be a list of items")
            continue
        rows[section] = []
        ident = _IDENT[section]
        for number, item in enumerate(items or [], 1):
            place = f"{section} item {number}"
            if not isinstance(item, dict):
                errors.add(
                    f"{name} {place}",
                    None,
                    f"must be a mapping of field: value, got {_show(item)}",
                )
                continue
            raw = {str(k).strip().lower(): v for k, v in item.items()}
            row = _Row(section, name, place, raw)
            if isinstance(raw.get(ident), str | int) and not isinstance(raw[ident], bool):
                row.ident = f" ({ident} {_show(str(raw[ident]).strip())})"
            for name in [k for k in raw if k not in _FIELDS[section]]:
                errors.add(
                    row.where, name, f"unknown field (expected {', '.join(_FIELDS[section])})"
                )
                del raw[name]
            rows[section].append(row)
    return {entity: rows[entity] for entity in ENTITIES if entity in rows}


def _csv_entity(path: Path, header: list[str]) -> str:
    stem = path.stem.strip().lower()
    if stem in ENTITIES:
        return stem
    columns = set(header)
    if {"kind", "meter", "baseline_end"} <= columns:
        return "emc_contracts"
    if {"carrier", "amount"} <= columns:
        return "consumption_records"
    if {"indicator", "constraint"} <= columns:
        return "quotas"
    if {"point", "replaced_at"} <= columns:
        return "meter_replacements"
    if "key" in columns:
        return "points"
    if {"institution", "code"} <= columns:
        return "buildings"
    if {"type", "code", "name"} <= columns:
        return "institutions"
    raise RegistryError(
        f"{path.name} line 1: cannot tell which table this CSV holds: name the file"
        " institutions.csv, buildings.csv, points.csv or meter_replacements.csv, or give it"
        " their columns (institutions: code, name, type; buildings: code, institution, name;"
        " points: key, unit; meter_replacements: point, replaced_at)"
    )


def _read_csv(path: Path, text: str, errors: _Errors) -> dict[str, list[_Row]]:
    first_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        delimiter = next((d for d in ";\t" if d in first_line), ",")
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [cell.strip().lower() for cell in next(records, [])]
    if not any(header):
        raise RegistryError(f"{path.name}: the file is empty (no header line)")
    entity = _csv_entity(path, header)
    fields = _FIELDS[entity]
    head = f"{path.name} line 1"
    for index, name in enumerate(header):
        if name not in fields:
            errors.add(
                head,
                name or f"column {index + 1}",
                f"unknown column for {entity} (expected {', '.join(fields)})",
            )
        elif header.index(name) != index:
            errors.add(head, name, "the column appears twice")
    for name, spec in fields.items():
        if spec.required and name not in header:
            errors.add(head, name, f"required column for {entity} is missing")
    errors.raise_if_any()
    rows = []
    # Line numbers count records, as a spreadsheet numbers its rows.
    for line, cells in enumerate(records, 2):
        if not any(cell.strip() for cell in cells):
            continue
        where = f"{path.name} line {line}"
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            errors.add(
                where, None, f"has {len(cells)} cells but the header has {len(header)} columns"
            )
            continue
        raw = {name: cell for name, cell in zip(header, cells, strict=False) if cell.strip()}
        rows.append(_Row(entity, path.name, f"line {line}", raw))
    return {entity: rows}


def _read(path: Path, errors: _Errors) -> dict[str, list[_Row]]:
    _check_type(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return _parse(path, data, errors)


def _check_type(path: Path) -> None:
    if path.suffix.lower() not in (".yaml", ".yml", ".csv"):
        raise RegistryError(f"{path.name}: unsupported file type (expected .yaml, .yml or .csv)")


def _parse(path: Path, data: bytes, errors: _Errors) -> dict[str, list[_Row]]:
    """The rows of a file's bytes, by its type (``path`` names it in errors)."""
    text = _decode(path, data)
    if path.suffix.lower() == ".csv":
        return _read_csv(path, text, errors)
    return _read_yaml(path, text, errors)


# --- checking --------------------------------------------------------------------------------


def _check_fields(row: _Row, errors: _Errors) -> None:
    for name, spec in _FIELDS[row.entity].items():
        value = row.raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if spec.required:
                errors.add(row.where, name, "is required", row)
            row.values[name] = None
            continue
        try:
            row.values[name] = spec.parse(value)
        except _Bad as exc:
            errors.add(row.where, name, str(exc), row)
    v = row.values
    if row.entity == "buildings":
        if v.get("time_zone") is None:
            v["time_zone"] = DEFAULT_TIME_ZONE
        for name in ("heated_area_m2", "cooled_area_m2"):
            area, floor = v.get(name), v.get("floor_area_m2")
            if area is not None and floor is not None and area > floor:
                errors.add(row.where, name, f"{area:g} m² exceeds floor_area_m2 {floor:g} m²", row)
    elif row.entity == "points" and row.ok("unit"):
        unit: units.Unit = v["unit"]
        quantity = unit.quantity
        v["quantity"], v["unit"] = quantity, units.CANONICAL[quantity]
        if v.get("cumulative") is None:
            v["cumulative"] = units.CUMULATIVE[quantity]
        if v.get("kind") is None:
            v["kind"] = "sensor" if quantity in ("temperature", "humidity") else "meter"
        if v.get("multiplier") is None:
            v["multiplier"] = 1.0
        if v.get("rollover_value") is not None and row.ok("cumulative"):
            if not v["cumulative"]:
                errors.add(
                    row.where,
                    "rollover_value",
                    "only a cumulative register rolls over (cumulative is false)",
                    row,
                )
            else:
                v["rollover_value"] = unit.to_canonical(v["rollover_value"])
        if v.get("parent") is not None and v["parent"] == v.get("key"):
            errors.add(row.where, "parent", "a point cannot be its own parent", row)
    elif row.entity == "consumption_records":
        if row.ok("carrier", "unit", "amount"):
            canonical, known = RECORD_CARRIERS[v["carrier"]]
            factor = known.get(v["unit"].lower().replace(" ", ""))
            if factor is None:
                errors.add(
                    row.where,
                    "unit",
                    f"{_show(v['unit'])} is not a unit of {v['carrier']}"
                    f" (one of {', '.join(known)})",
                    row,
                )
            else:
                v["amount"], v["unit"] = v["amount"] * factor, canonical
        if row.ok("period_start", "period_end") and v["period_end"] < v["period_start"]:
            errors.add(row.where, "period_end", "is before period_start", row)
    elif row.entity == "emc_contracts":
        for name in ("esco_share", "guaranteed_per_year", "fee_per_year"):
            if v.get(name) is None:
                v[name] = 0.0
        if row.ok("baseline_end", "reporting_start") and v["reporting_start"] < v["baseline_end"]:
            errors.add(row.where, "reporting_start", "is before baseline_end", row)
        end = v.get("reporting_end")
        if row.ok("reporting_start", "reporting_end") and end and end <= v["reporting_start"]:
            errors.add(row.where, "reporting_end", "is not after reporting_start", row)
    elif row.entity == "quotas" and row.ok("guide", "baseline", "constraint"):
        levels = [v[k] for k in ("guide", "baseline", "constraint") if v.get(k) is not None]
        if levels != sorted(levels):
            errors.add(
                row.where, "constraint", "levels must run guide ≤ baseline ≤ constraint", row
            )


def _check_duplicates(
    rows: list[_Row], key: Callable[[_Row], object], label: str, errors: _Errors
) -> None:
    first: dict[object, _Row] = {}
    for row in rows:
        if not row.ok(*_FIELDS[row.entity]):
            continue
        k = key(row)
        if k in first:
            errors.add(row.where, None, f"duplicate {label} (first at {first[k].place})", row)
        else:
            first[k] = row


@dataclass(slots=True)
class _Database:
    """What the database already holds that the file refers to."""

    institutions: set[str]
    buildings: dict[str, str]  # code → time zone
    points: dict[str, tuple[str, str | None, str | None]]  # key → quantity, parent, time zone

    @classmethod
    def load(cls, conn: psycopg.Connection, rows: dict[str, list[_Row]]) -> _Database:
        referring = ("buildings", "consumption_records", "quotas", "emc_contracts")
        codes = sorted(
            {r.values.get("institution") for e in referring for r in rows.get(e, [])} - {None}
        )
        buildings = sorted(
            {
                r.values.get("building")
                for e in ("points", "consumption_records")
                for r in rows.get(e, [])
            }
            - {None}
        )
        found = conn.execute(
            "SELECT code FROM institutions WHERE code = ANY(%s)", (codes,)
        ).fetchall()
        zones = conn.execute(
            "SELECT code, time_zone FROM buildings WHERE code = ANY(%s)", (buildings,)
        ).fetchall()
        points = conn.execute(
            """SELECT p.key, p.quantity, parent.key, b.time_zone
               FROM points p LEFT JOIN points parent ON parent.id = p.parent_id
                             LEFT JOIN buildings b ON b.id = p.building_id"""
        ).fetchall()
        return cls({c for (c,) in found}, dict(zones), {k: (q, pk, tz) for k, q, pk, tz in points})


def _check_known(rows: list[_Row], name: str, known: Container[str], errors: _Errors) -> None:
    """Rows whose ``name`` (an institution or building code) is neither in the file nor in
    the database."""
    for row in rows:
        value = row.values.get(name)
        if row.ok(name) and value is not None and value not in known:
            errors.add(
                row.where,
                name,
                f"unknown {name} {_show(value)}: not in this file nor in the database",
                row,
            )


def _check_references(rows: dict[str, list[_Row]], db: _Database, errors: _Errors) -> None:
    institutions = {r.values["code"] for r in rows.get("institutions", []) if r.ok("code")}
    institutions |= db.institutions
    buildings = dict(db.buildings)  # code → time zone
    buildings.update(
        {
            r.values["code"]: r.values.get("time_zone") or DEFAULT_TIME_ZONE
            for r in rows.get("buildings", [])
            if r.ok("code")
        }
    )
    for entity in ("buildings", "consumption_records", "quotas", "emc_contracts"):
        _check_known(rows.get(entity, []), "institution", institutions, errors)
    known_points = set(db.points) | {r.values["key"] for r in rows.get("points", []) if r.ok("key")}
    _check_known(rows.get("emc_contracts", []), "meter", known_points, errors)
    for entity in ("points", "consumption_records"):
        _check_known(rows.get(entity, []), "building", buildings, errors)

    points = rows.get("points", [])
    quantity = {k: q for k, (q, _, _) in db.points.items()}
    parents = {k: p for k, (_, p, _) in db.points.items()}
    zone = {k: tz or DEFAULT_TIME_ZONE for k, (_, _, tz) in db.points.items()}
    for row in points:
        v = row.values
        if not row.ok("key"):
            continue
        if row.ok("unit"):
            old = quantity.get(v["key"])
            if old is not None and old != v["quantity"]:
                errors.add(
                    row.where,
                    "unit",
                    f"the point exists measuring {old} ({units.CANONICAL[old]}); {v['unit']}"
                    " would mislabel its stored readings: use a new key",
                    row,
                )
            quantity[v["key"]] = v["quantity"]
        parents[v["key"]] = v.get("parent")
        zone[v["key"]] = buildings.get(v.get("building") or "", DEFAULT_TIME_ZONE)

    cycles: set[frozenset[str]] = set()
    for row in points:
        v = row.values
        parent = v.get("parent")
        if parent is None or not row.ok("key", "parent"):
            continue
        if parent not in parents:
            errors.add(
                row.where,
                "parent",
                f"no point with key {_show(parent)} in this file nor in the database",
                row,
            )
            continue
        if row.ok("unit") and quantity.get(parent) not in (None, v["quantity"]):
            errors.add(
                row.where,
                "parent",
                f"parent {_show(parent)} measures {quantity[parent]}, this point"
                f" {v['quantity']}: a parent meter measures the same quantity",
                row,
            )
        chain, current = [v["key"]], parent
        while current is not None and current not in chain:
            chain.append(current)
            current = parents.get(current)
        if current == v["key"] and frozenset(chain) not in cycles:
            cycles.add(frozenset(chain))
            errors.add(
                row.where,
                "parent",
                f"the parent chain forms a cycle: {' → '.join([*chain, v['key']])}",
                row,
            )

    for row in rows.get("meter_replacements", []):
        v = row.values
        if not row.ok("point"):
            continue
        if v["point"] not in zone:
            errors.add(
                row.where,
                "point",
                f"no point with key {_show(v['point'])} in this file nor in the database",
                row,
            )
        elif row.ok("replaced_at") and v["replaced_at"].tzinfo is None:
            v["replaced_at"] = v["replaced_at"].replace(tzinfo=ZoneInfo(zone[v["point"]]))


# --- writing ---------------------------------------------------------------------------------


def _upsert(table: str, key: tuple[str, ...], columns: dict[str, str]) -> str:
    """``INSERT … ON CONFLICT (key) DO UPDATE`` that leaves unchanged rows untouched."""
    rest = [c for c in columns if c not in key]
    return (
        f"INSERT INTO {table} AS t ({', '.join(columns)}) VALUES ({', '.join(columns.values())})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET"
        f" {', '.join(f'{c} = EXCLUDED.{c}' for c in rest)}"
        f" WHERE ({', '.join(f't.{c}' for c in rest)})"
        f" IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in rest)})"
    )


def _plain(*names: str) -> dict[str, str]:
    return {name: f"%({name})s" for name in names}


_SQL = {
    "institutions": _upsert(
        "institutions", ("code",), _plain("code", "name", "type", "region_code", "headcount")
    ),
    "buildings": _upsert(
        "buildings",
        ("code",),
        {
            **_plain("code"),
            "institution_id": "(SELECT id FROM institutions WHERE code = %(institution)s)",
            **_plain(
                "name",
                "floor_area_m2",
                "heated_area_m2",
                "cooled_area_m2",
                "headcount",
                "climate_zone",
                "gb51161_class",
                "operating_hours",
                "time_zone",
            ),
        },
    ),
    "points": _upsert(
        "points",
        ("key",),
        {
            **_plain("key"),
            "building_id": "(SELECT id FROM buildings WHERE code = %(building)s)",
            **_plain(
                "name",
                "kind",
                "quantity",
                "unit",
                "energy_code",
                "cumulative",
                "multiplier",
                "rollover_value",
                "location",
            ),
            "auto_registered": "false",
        },
    ),
    "meter_replacements": _upsert(
        "meter_replacements",
        ("point_id", "replaced_at"),
        {
            "point_id": "(SELECT id FROM points WHERE key = %(point)s)",
            **_plain(
                "replaced_at", "old_final_value", "new_initial_value", "new_multiplier", "note"
            ),
        },
    ),
    "consumption_records": _upsert(
        "consumption_records",
        ("institution_id", "building_id", "carrier", "period_start", "period_end", "document"),
        {
            "institution_id": "(SELECT id FROM institutions WHERE code = %(institution)s)",
            "building_id": "(SELECT id FROM buildings WHERE code = %(building)s)",
            **_plain("carrier", "amount", "unit", "period_start", "period_end", "document", "note"),
        },
    ),
    "emc_contracts": _upsert(
        "emc_contracts",
        ("code",),
        {
            **_plain("code"),
            "institution_id": "(SELECT id FROM institutions WHERE code = %(institution)s)",
            "meter_id": "(SELECT id FROM points WHERE key = %(meter)s)",
            **_plain(
                "name",
                "kind",
                "esco",
                "baseline_end",
                "reporting_start",
                "reporting_end",
                "price",
                "esco_share",
                "guaranteed_per_year",
                "fee_per_year",
                "note",
            ),
        },
    ),
    "quotas": _upsert(
        "quotas",
        ("institution_id", "year", "indicator"),
        {
            "institution_id": "(SELECT id FROM institutions WHERE code = %(institution)s)",
            **_plain("year", "indicator", "unit", "guide", "baseline"),
            "constraint_value": "%(constraint)s",
            **_plain("source"),
        },
    ),
}
_SET_PARENT = """
    UPDATE points SET parent_id = parent.id
    FROM (SELECT (SELECT id FROM points WHERE key = %(parent)s) AS id) AS parent
    WHERE points.key = %(key)s AND points.parent_id IS DISTINCT FROM parent.id"""
_COLUMN_FIELD = {
    "constraint_value": "constraint",
    "meter_id": "meter",
    "institution_id": "institution",
    "building_id": "building",
    "parent_id": "parent",
    "point_id": "point",
}


def _refused(row: _Row, table: str, exc: psycopg.Error) -> RegistryError:
    """Translate a database error on one row into a RegistryError naming the row."""
    diag = exc.diag
    name = diag.column_name
    if name is None and diag.constraint_name:
        name = re.sub(r"_(check|key|fkey|not_null)$", "", diag.constraint_name)
        name = name.removeprefix(f"{table}_")
    name = _COLUMN_FIELD.get(name or "", name)
    if name not in _FIELDS[row.entity]:
        name = None
    reason = f"the database refused the row: {diag.message_primary or exc}"
    return RegistryError(
        f"{row.where}, field '{name}': {reason}" if name else f"{row.where}: {reason}"
    )


def _execute(conn: psycopg.Connection, row: _Row, table: str, query: str) -> None:
    try:
        conn.execute(query, row.values)
    except psycopg.Error as exc:
        raise _refused(row, table, exc) from exc


def _write(conn: psycopg.Connection, rows: dict[str, list[_Row]]) -> None:
    for entity in ENTITIES:
        for row in rows.get(entity, []):
            _execute(conn, row, entity, _SQL[entity])
        if entity == "points":
            for row in rows.get(entity, []):
                _execute(conn, row, entity, _SET_PARENT)


def import_file(conn: psycopg.Connection, path: str | os.PathLike[str]) -> dict[str, int]:
    """Import a registry file (YAML, or CSV of one table) in one transaction.

    Parameters
    ----------
    conn : psycopg.Connection
        Open connection; the import runs in ``conn.transaction()`` (a savepoint when a
        transaction is already open, which the caller then commits).
    path : str or os.PathLike
        ``.yaml``/``.yml`` file with lists ``institutions``, ``buildings``, ``points``,
        ``meter_replacements``; or a ``.csv`` file of one of them (see the module docstring).

    Returns
    -------
    dict of str to int
        Rows read per table in the file, in the order institutions, buildings, points,
        meter_replacements (a second import of the same file returns the same counts).

    Raises
    ------
    RegistryError
        When anything is invalid; nothing is written. The message has one line per problem
        (at most :data:`MAX_ERRORS`), each naming the file, the row and the field.
    """
    path = Path(path)
    errors = _Errors()
    rows = _read(path, errors)
    return _import(conn, rows, errors)


def import_bytes(
    conn: psycopg.Connection,
    name: str,
    data: bytes,
    *,
    institutions: Collection[str] | None = None,
) -> dict[str, int]:
    """:func:`import_file` of a file's bytes (an upload); ``name`` gives the type (``.yaml``,
    ``.csv``) and names the rows in errors. With ``institutions``, every row must belong to
    one of those institution codes (see :func:`import_document`)."""
    errors = _Errors()
    path = Path(name)
    _check_type(path)
    return _import(conn, _parse(path, data, errors), errors, institutions=institutions)


def import_document(
    conn: psycopg.Connection,
    document: dict[str, Any],
    *,
    name: str = "request",
    institutions: Collection[str] | None = None,
) -> dict[str, int]:
    """:func:`import_file` of a parsed document (the YAML layout as JSON: a mapping of entity
    lists). With ``institutions`` (a caller's scope), every row must belong to one of those
    institution codes — before and after the import: a building cannot be moved out of, or
    into, an institution the caller cannot see — or :class:`RegistryError` names the rows."""
    errors = _Errors()
    rows = _read_mapping(name, document, errors)
    return _import(conn, rows, errors, institutions=institutions)


def _import(
    conn: psycopg.Connection,
    rows: dict[str, list[_Row]],
    errors: _Errors,
    *,
    institutions: Collection[str] | None = None,
) -> dict[str, int]:
    for items in rows.values():
        for row in items:
            _check_fields(row, errors)
    for entity, ident in (("institutions", "code"), ("buildings", "code"), ("points", "key")):
        _check_duplicates(rows.get(entity, []), lambda r, i=ident: r.values[i], ident, errors)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        _check_references(rows, _Database.load(conn, rows), errors)
        _check_duplicates(
            rows.get("meter_replacements", []),
            lambda r: (r.values["point"], r.values["replaced_at"]),
            "point and replaced_at",
            errors,
        )
        _check_duplicates(
            rows.get("consumption_records", []),
            lambda r: tuple(
                r.values[k]
                for k in (
                    "institution",
                    "building",
                    "carrier",
                    "period_start",
                    "period_end",
                    "document",
                )
            ),
            "institution, building, carrier, period and document",
            errors,
        )
        _check_duplicates(rows.get("emc_contracts", []), lambda r: r.values["code"], "code", errors)
        _check_duplicates(
            rows.get("quotas", []),
            lambda r: (r.values["institution"], r.values["year"], r.values["indicator"]),
            "institution, year and indicator",
            errors,
        )
        errors.raise_if_any()
        if institutions is not None:
            _check_scope(conn, rows, set(institutions), errors)
            errors.raise_if_any()
        _write(conn, rows)
    return {entity: len(items) for entity, items in rows.items()}


def _check_scope(
    conn: psycopg.Connection, rows: dict[str, list[_Row]], allowed: set[str], errors: _Errors
) -> None:
    """Each row's institutions — by its own field, its building's or its point's, as the file
    has them and as the database has them now — must all be in ``allowed``; a row that
    belongs to no institution (a point without a building) needs an admin of all."""
    building_inst = dict(
        conn.execute(
            "SELECT b.code, i.code FROM buildings b JOIN institutions i ON i.id = b.institution_id"
        ).fetchall()
    )
    point_building = dict(
        conn.execute(
            "SELECT p.key, b.code FROM points p JOIN buildings b ON b.id = p.building_id"
        ).fetchall()
    )
    new_building_inst = {
        r.values["code"]: r.values["institution"] for r in rows.get("buildings", [])
    }
    new_point_building = {r.values["key"]: r.values.get("building") for r in rows.get("points", [])}

    def of_building(code: str | None) -> set[str]:
        return {new_building_inst.get(code), building_inst.get(code)} - {None}  # type: ignore[return-value]

    def of_point(key: str) -> set[str]:
        buildings = {new_point_building.get(key), point_building.get(key)} - {None}
        return set().union(*(of_building(b) for b in buildings))

    for entity, items in rows.items():
        for row in items:
            v = row.values
            if entity == "institutions":
                owners = {v["code"]}
            elif entity == "buildings":
                owners = {v["institution"]} | of_building(v["code"])
            elif entity == "points":
                owners = of_point(v["key"])
            elif entity == "meter_replacements":
                owners = of_point(v["point"])
            elif entity == "emc_contracts":
                owners = {v["institution"]} | of_point(v["meter"])
            else:  # consumption_records, quotas
                owners = {v["institution"]} | of_building(v.get("building"))
            outside = sorted(owners - allowed)
            if outside or not owners:
                errors.add(
                    row.where,
                    None,
                    "not in your institutions (belongs to"
                    f" {', '.join(outside) if owners else 'no institution'})",
                )
