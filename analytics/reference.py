"""Reference data for audits and M&V: the 导则 code lists, GB/T 51161 office values, public-
institution targets, quota examples and tariffs, each entry with its source and confidence.

The defaults live in ``analytics/data/reference.yaml``; :func:`load` reads it (or another
file), applies the user's override files (an entry of an override replaces the entry of the
same key; a section an override names only partly keeps the rest) and enables regional code
extensions. The standard-coal, CO2 and price factors are in :mod:`analytics.factors`.

Confidence tags: ``S`` seen in two or more public secondary sources, ``S1`` one such source,
``K`` known but the official text not seen here, ``U`` unverified or conflicting.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

DEFAULT_FILE = Path(__file__).with_name("data") / "reference.yaml"
CONFIDENCE = ("S", "S1", "K", "U")
#: GB/T 51161 climate zones as the registry names them (buildings.climate_zone) → the
#: standard's four bands.
CLIMATE_BANDS = {
    "severe_cold": "severe_cold_and_cold",
    "cold": "severe_cold_and_cold",
    "hot_summer_cold_winter": "hot_summer_cold_winter",
    "hot_summer_warm_winter": "hot_summer_warm_winter",
    "mild": "mild",
}
_CODED = ("building_categories", "energy_classes", "electricity_items")


@dataclass(frozen=True)
class Code:
    code: str
    zh: str
    en: str
    level: int
    parent: str | None
    confidence: str
    source: str

    def name(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Benchmark:
    """A GB/T 51161 office value: constraint (约束值) and guide (引导值), kWh/(m²·a)."""

    constraint: float
    guide: float
    confidence: str
    clause: str


@dataclass(frozen=True)
class Reference:
    sources: dict[str, dict[str, Any]]
    building_categories: dict[str, Code]
    energy_classes: dict[str, dict[str, Any]]
    codes: dict[str, Code]
    gb51161_office: dict[str, Any]
    targets: dict[str, dict[str, Any]]
    quota_examples: dict[str, dict[str, Any]]
    tariffs: dict[str, dict[str, Any]]

    def code(self, code: str) -> Code:
        """The 分类/分项 code (two-digit class or five-character item)."""
        key = code[:2] if len(code) == 2 else code
        if key in self.codes:
            return self.codes[key]
        raise KeyError(f"energy code {code!r} is not in the code list (enable an extension?)")

    def lineage(self, code: str) -> list[Code]:
        """The code and its parents up to its energy class, nearest first."""
        out = [self.code(code)]
        while out[-1].parent is not None:
            out.append(self.code(out[-1].parent))
        return out

    def office_benchmark(self, building_class: str, kind: str, climate_zone: str) -> Benchmark:
        """GB/T 51161 non-heating office value for a building of class ``A``/``B``, ``kind``
        ``government`` or ``commercial``, in a registry ``climate_zone``."""
        table = self.gb51161_office
        band = CLIMATE_BANDS.get(climate_zone, climate_zone)
        try:
            constraint, guide = table["values"][building_class][kind][band]
        except KeyError:
            raise KeyError(
                f"gb51161_office: no value for class {building_class!r}, kind {kind!r}, "
                f"climate zone {climate_zone!r}"
            ) from None
        return Benchmark(float(constraint), float(guide), table["confidence"], table["clause"])

    def hours_correction(self, actual_hours: float | np.ndarray) -> float | np.ndarray:
        """GB/T 51161 operating-hours correction γ = a + (1 − a) · T0 / T of a measured
        intensity (T0 the standard hours, 2 500 h/a; a = 0.3): more hours than standard
        lower the intensity that is compared."""
        c = self.gb51161_office["hours_correction"]
        t0, a = float(c["standard_hours"]), float(c["fixed_share"])
        hours = np.asarray(actual_hours, dtype=np.float64)
        if np.any(hours <= 0):
            raise ValueError("actual_hours: operating hours must be > 0")
        out = a + (1 - a) * t0 / hours
        return float(out) if out.ndim == 0 else out

    def tariff_prices(self, name: str, hours: np.ndarray) -> np.ndarray:
        """Price (CNY per unit) of each local hour of day ``hours`` (0–24) under tariff
        ``name``."""
        try:
            tariff = self.tariffs[name]
        except KeyError:
            raise KeyError(
                f"tariff {name!r}: not one of {', '.join(sorted(self.tariffs))}"
            ) from None
        h = np.asarray(hours, dtype=np.float64)
        out = np.full(h.shape, np.nan)
        for period in tariff["periods"]:
            inside = (h >= period["start"]) & (h < period["end"])
            out[inside] = tariff["prices"][period["band"]]
        return out


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: dictionaries merge by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: must be a mapping of sections")
    return doc


#: The fields a code entry may have.
CODE_FIELDS = frozenset(
    {"zh", "en", "level", "parent", "source", "confidence", "note", "unit", "carrier"}
)


def _code(section: str, key: str, item: Any, default_source: str | None = None) -> Code:
    where = f"{section}.{key}"
    if not isinstance(item, dict):
        raise ValueError(f"{where}: must be a mapping with zh, en, source, confidence")
    missing = [f for f in ("zh", "en") if not item.get(f)]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(item) - CODE_FIELDS, key=str)
    if unknown:  # e.g. an unquoted comma in a flow mapping: {en: power (lifts, pumps)}
        raise ValueError(
            f"{where}: unknown field(s) {', '.join(map(repr, unknown))}"
            " (quote a name that holds a comma)"
        )
    confidence = item.get("confidence")
    if confidence not in CONFIDENCE:
        raise ValueError(
            f"{where}.confidence: {confidence!r} is not one of {', '.join(CONFIDENCE)}"
        )
    source = item.get("source", default_source)
    if not source:
        raise ValueError(f"{where}.source: missing")
    parent = item.get("parent")
    if parent is None and section == "electricity_items":
        parent = key[:2]
    level = int(item.get("level", 0))
    return Code(key, item["zh"], item["en"], level, parent, confidence, source)


@functools.lru_cache(maxsize=8)
def _load(path: Path, overrides: tuple[Path, ...], extensions: tuple[str, ...]) -> Reference:
    doc = _read(path)
    for extra in overrides:
        doc = _merge(doc, _read(extra))
    sources = doc.get("sources") or {}
    for section in _CODED:
        for key, item in (doc.get(section) or {}).items():
            source = item.get("source") if isinstance(item, dict) else None
            if source and source not in sources:
                raise ValueError(f"{section}.{key}.source: {source!r} is not in sources")
    categories = {
        k: _code("building_categories", k, v) for k, v in doc["building_categories"].items()
    }
    classes = doc["energy_classes"]
    codes = {k: _code("energy_classes", k, v) for k, v in classes.items()}
    codes.update({k: _code("electricity_items", k, v) for k, v in doc["electricity_items"].items()})
    known = doc.get("extensions") or {}
    for name in extensions:
        if name not in known:
            raise ValueError(f"extensions: {name!r} is not one of {', '.join(sorted(known))}")
        ext = known[name]
        for key, item in ext["codes"].items():
            item = {"source": f"extension:{name}", "confidence": ext["confidence"], **item}
            codes[key] = _code(f"extensions.{name}.codes", key, item)
    for key, code in codes.items():
        if code.parent is not None and code.parent not in codes:
            raise ValueError(f"codes.{key}.parent: {code.parent!r} is not a known code")
    for name, tariff in (doc.get("tariffs") or {}).items():
        _check_tariff(name, tariff)
    return Reference(
        sources=sources,
        building_categories=categories,
        energy_classes=classes,
        codes=codes,
        gb51161_office=doc["gb51161_office"],
        targets=doc.get("targets") or {},
        quota_examples=doc.get("quota_examples") or {},
        tariffs=doc.get("tariffs") or {},
    )


def _check_tariff(name: str, tariff: dict[str, Any]) -> None:
    """A tariff's periods cover the day once, each in a priced band."""
    where = f"tariffs.{name}"
    periods = sorted(tariff.get("periods") or [], key=lambda p: p.get("start", 0))
    at = 0
    for p in periods:
        if p.get("band") not in (tariff.get("prices") or {}):
            raise ValueError(f"{where}.periods: band {p.get('band')!r} has no price")
        if p.get("start") != at or not p.get("end", 0) > p["start"]:
            raise ValueError(f"{where}.periods: hours must run 0–24 without gaps or overlaps")
        at = p["end"]
    if at != 24:
        raise ValueError(f"{where}.periods: hours must run 0–24 without gaps or overlaps")


def load(
    path: Path = DEFAULT_FILE,
    *,
    overrides: Sequence[Path] = (),
    extensions: Sequence[str] = (),
) -> Reference:
    """Read reference data (see ``analytics/data/reference.yaml`` for the layout).

    Parameters
    ----------
    path : Path
        The base file; default the project's.
    overrides : sequence of Path
        Files applied in order over it: an entry replaces the entry of the same key.
    extensions : sequence of str
        Regional code extensions to enable (``extensions`` section), e.g.
        ``"shandong_platform"``.

    Raises
    ------
    ValueError
        A file cannot be read or an entry lacks a field; the message names the entry.
    """
    return _load(Path(path), tuple(Path(p) for p in overrides), tuple(extensions))
