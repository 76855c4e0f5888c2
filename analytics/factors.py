"""Standard coal, CO2 and cost of energy: versioned factors with their sources.

The defaults live in ``analytics/data/factors.yaml`` (GB/T 2589-2020 standard-coal
coefficients, the national grid CO2 factor, example tariffs), each with its source, valid-from
date and confidence; :func:`load` reads that file or a user's own.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

DEFAULT_FILE = Path(__file__).with_name("data") / "factors.yaml"
#: Energy carriers by the 导则 energy class of a meter (01 electricity … 04 heat).
CARRIER_OF_CLASS = {"01": "electricity", "02": "water", "03": "natural_gas", "04": "heat"}


@dataclass(frozen=True, slots=True)
class Factor:
    value: float
    unit: str
    source: str
    valid_from: str
    confidence: str


@dataclass(frozen=True, slots=True)
class Factors:
    """kgce, kgCO2 and CNY per unit of each carrier (kWh for electricity and heat, m³)."""

    standard_coal: dict[str, Factor]
    co2: dict[str, Factor]
    price: dict[str, Factor]
    electricity_method: str = "equivalent"  # 当量值; "equal_value" for 等价值
    co2_electricity_by_year: dict[int, Factor] = dataclasses.field(default_factory=dict)

    def co2_electricity(self, year: int) -> Factor:
        """The national grid factor for use in ``year``: that year's, else the latest earlier
        one, else the default ``co2["electricity"]``."""
        earlier = [y for y in self.co2_electricity_by_year if y <= year]
        return self.co2_electricity_by_year[max(earlier)] if earlier else self.co2["electricity"]

    def kgce(self, carrier: str) -> float:
        key = f"electricity_{self.electricity_method}" if carrier == "electricity" else carrier
        return self.standard_coal[key].value

    def impact(self, carrier: str, amount: np.ndarray | float) -> dict[str, np.ndarray | float]:
        """``amount`` (kWh or m³) as kgce, kgCO2 and CNY.

        Parameters
        ----------
        carrier : {"electricity", "natural_gas", "heat", "water"}
        amount : float or array_like
            Energy in kWh (electricity, heat) or volume in m³ (gas, water).
        """
        if carrier not in self.co2:
            raise ValueError(f"carrier: {carrier!r} is not one of {', '.join(sorted(self.co2))}")
        return {
            "kgce": amount * self.kgce(carrier),
            "kgco2": amount * self.co2[carrier].value,
            "cny": amount * self.price[carrier].value,
        }


def _section(doc: dict, name: str, path: Path) -> dict[str, Factor]:
    try:
        return {key: Factor(**item) for key, item in doc[name].items()}
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: section {name!r}: {exc}") from None


@functools.lru_cache(maxsize=8)
def load(path: Path = DEFAULT_FILE, electricity_method: str = "equivalent") -> Factors:
    """Read a factors file (see ``analytics/data/factors.yaml`` for its layout)."""
    if electricity_method not in ("equivalent", "equal_value"):
        raise ValueError(
            f"electricity_method: {electricity_method!r} is not 'equivalent' (当量值)"
            " or 'equal_value' (等价值)"
        )
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    by_year = doc.get("co2_electricity_by_year") or {}
    try:
        yearly = {int(year): Factor(**item) for year, item in by_year.items()}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: section 'co2_electricity_by_year': {exc}") from None
    return Factors(
        _section(doc, "standard_coal", path),
        _section(doc, "co2", path),
        _section(doc, "price", path),
        electricity_method,
        yearly,
    )
