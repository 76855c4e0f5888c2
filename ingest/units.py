"""Unit normalization: every stored value is in the canonical unit of its quantity.

The canonical units follow the project nomenclature (README, "Nomenclature"):
energy in kWh (``energy_kwh``; heat meters too, 1 GJ = 277.78 kWh), power in kW
(``power_kw``), volume in m³, volume flow in m³/h, temperature in °C (``temp_air``),
relative humidity in %.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit the collector accepts: ``value_canonical = value * scale + offset``."""

    name: str
    quantity: str
    scale: float
    offset: float = 0.0

    def to_canonical(self, value: float) -> float:
        return value * self.scale + self.offset


#: Canonical unit per quantity.
CANONICAL: dict[str, str] = {
    "energy": "kWh",
    "power": "kW",
    "volume": "m3",
    "flow": "m3/h",
    "temperature": "degC",
    "humidity": "%",
}

#: Whether a quantity is read from a cumulative register by default.
CUMULATIVE: dict[str, bool] = {
    "energy": True,
    "volume": True,
    "power": False,
    "flow": False,
    "temperature": False,
    "humidity": False,
}

_UNITS = [
    # energy (electricity and heat)
    Unit("Wh", "energy", 1e-3),
    Unit("kWh", "energy", 1.0),
    Unit("MWh", "energy", 1e3),
    Unit("GWh", "energy", 1e6),
    Unit("J", "energy", 1 / 3.6e6),
    Unit("kJ", "energy", 1 / 3.6e3),
    Unit("MJ", "energy", 1 / 3.6),
    Unit("GJ", "energy", 1e3 / 3.6),
    # power
    Unit("W", "power", 1e-3),
    Unit("kW", "power", 1.0),
    Unit("MW", "power", 1e3),
    # volume (water, gas)
    Unit("L", "volume", 1e-3),
    Unit("l", "volume", 1e-3),
    Unit("m3", "volume", 1.0),
    Unit("m³", "volume", 1.0),
    # volume flow
    Unit("m3/h", "flow", 1.0),
    Unit("m³/h", "flow", 1.0),
    Unit("L/h", "flow", 1e-3),
    Unit("L/min", "flow", 60e-3),
    Unit("L/s", "flow", 3.6),
    # temperature
    Unit("degC", "temperature", 1.0),
    Unit("°C", "temperature", 1.0),
    Unit("Cel", "temperature", 1.0),  # SenML (RFC 8428 §12.1)
    Unit("C", "temperature", 1.0),
    Unit("degF", "temperature", 5 / 9, -32 * 5 / 9),
    Unit("°F", "temperature", 5 / 9, -32 * 5 / 9),
    Unit("F", "temperature", 5 / 9, -32 * 5 / 9),
    Unit("K", "temperature", 1.0, -273.15),
    # humidity
    Unit("%", "humidity", 1.0),
    Unit("%RH", "humidity", 1.0),
    Unit("%EL", "humidity", 1.0),  # SenML
]

UNITS: dict[str, Unit] = {u.name: u for u in _UNITS}
# Case-insensitive aliases for the unambiguous spellings devices use ("kwh", "KWH", "w").
# A lower-case "m" means milli, so "mwh" is not taken to mean MWh: mega units get no alias.
for _u in _UNITS:
    if not _u.name.startswith("M"):
        UNITS.setdefault(_u.name.lower(), _u)
# SenML spellings (RFC 8428 §12.1 registry) that are not in the table yet.
UNITS.setdefault("m3/s", Unit("m3/s", "flow", 3600.0))
UNITS.setdefault("l/s", UNITS["L/s"])


def lookup(name: object) -> Unit | None:
    """Return the :class:`Unit` called ``name``, or None when it is not known."""
    if not isinstance(name, str):
        return None
    unit = UNITS.get(name)
    if unit is None:
        unit = UNITS.get(name.strip().lower())
    return unit


def quantity_of(canonical_unit: str) -> str:
    """Return the quantity measured by a canonical unit (``"kWh"`` → ``"energy"``)."""
    for quantity, unit in CANONICAL.items():
        if unit == canonical_unit:
            return quantity
    known = sorted(CANONICAL.values())
    raise ValueError(f"unit: {canonical_unit!r} is not a canonical unit ({known})")
