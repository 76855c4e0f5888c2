"""A seeded demo portfolio: institutions, buildings with 导则 codes, meters and sensors.

:func:`make_portfolio` draws government offices, schools and hospitals in cities of the five
climate zones, each building with a main electricity meter, 分项 sub-meters (01A lighting &
sockets, 01B HVAC, 01C power, 01D special where it applies), water, gas or district heat,
indoor thermometers per zone and an outdoor thermometer. :func:`registry_document` turns it
into the registry file that ``jieneng registry import`` reads, so the demo enters the database
the way a user's own buildings do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True, slots=True)
class City:
    """A city and the climate its buildings see (monthly-normal-like figures, °C)."""

    name: str
    region_code: str  # 6-digit administrative division code of a district
    climate_zone: str  # 严寒 / 寒冷 / 夏热冬冷 / 夏热冬暖 / 温和
    mean_c: float  # annual mean air temperature
    seasonal_amp_c: float  # half the difference between the warmest and coldest month
    diurnal_amp_c: float  # half the typical day-night difference
    heating: str  # "district_heat" or "none" (heat pumps/air conditioners on electricity)


#: One city per climate zone (two for 夏热冬冷), district codes from GB/T 2260.
CITIES: tuple[City, ...] = (
    City("哈尔滨", "230102", "严寒", 4.6, 21.0, 4.5, "district_heat"),
    City("北京", "110108", "寒冷", 12.8, 15.5, 4.5, "district_heat"),
    City("上海", "310104", "夏热冬冷", 17.1, 12.0, 3.5, "none"),
    City("武汉", "420106", "夏热冬冷", 17.3, 13.0, 4.0, "none"),
    City("广州", "440106", "夏热冬暖", 22.4, 7.5, 3.5, "none"),
    City("昆明", "530102", "温和", 15.6, 5.5, 6.0, "none"),
)

#: Institution types: 导则 building category letter, m² per person, typical floor area (m²).
KINDS = {
    "government": ("A", 25.0, (6_000, 30_000), "机关办公楼"),
    "school": ("D", 10.0, (10_000, 40_000), "教学楼"),
    "hospital": ("E", 30.0, (15_000, 60_000), "门诊住院楼"),
}
_TYPE_ZH = {"government": "机关", "school": "学校", "hospital": "医院"}


@dataclass(frozen=True, slots=True)
class Point:
    """A meter or sensor as the registry and the simulator see it."""

    key: str
    name: str
    unit: str  # canonical unit of the stored values: kWh, kW, m3, degC
    energy_code: str | None = None
    cumulative: bool = False
    multiplier: float = 1.0  # CT/PT ratio: register × multiplier = consumption
    rollover_value: float | None = None  # register wraps to 0 here (register units)
    resolution: float = 0.0  # register step (register units); 0 for sensors
    parent: str | None = None
    role: str = ""  # what the simulator feeds it: main, 01A, 01B, ..., zone temp, outdoor
    device: str = ""  # Tasmota/Shelly device name, when the point is read through one
    channel: str = ""  # Shelly component (emdata:0, em:0, switch:0, temperature:0)


@dataclass(frozen=True, slots=True)
class Building:
    code: str
    institution: str
    name: str
    kind: str  # government | school | hospital
    city: City
    floor_area_m2: float
    headcount: int
    zones: int
    format: str = "canonical_batch"  # how its readings travel (simulators.live.FORMATS)
    time_zone: str = "Asia/Shanghai"
    points: tuple[Point, ...] = field(default=())

    def point(self, role: str) -> Point:
        for p in self.points:
            if p.role == role:
                return p
        raise KeyError(f"building {self.code} has no point with role {role!r}")


@dataclass(frozen=True, slots=True)
class Institution:
    code: str
    name: str
    kind: str
    region_code: str
    headcount: int


@dataclass(frozen=True, slots=True)
class Portfolio:
    institutions: tuple[Institution, ...]
    buildings: tuple[Building, ...]

    @property
    def points(self) -> list[Point]:
        return [p for b in self.buildings for p in b.points]


#: Payload formats, given to buildings in turn (a gateway or fleet per building).
FORMATS = (
    "canonical_batch",
    "canonical_columns",
    "senml",
    "tasmota",
    "shelly",
    "canonical_single",
    "mapping",
)
_SUFFIX = {"main": "main", "01A": "lighting", "01B": "hvac", "01C": "power", "01D": "special"}


def _through_device(p: Point, code: str, fmt: str) -> Point:
    """The same point read through a Tasmota or Shelly device (keys as their decoders make).

    Water, gas and heat meters stay on the building's gateway (canonical payloads).
    """
    if fmt not in ("tasmota", "shelly") or p.role in ("water", "gas", "heat"):
        return p
    role = "main" if p.role == "main_power" else p.role
    if fmt == "tasmota":
        if p.unit == "degC":
            device = f"tasmota-{code}-{role}".lower()
            return replace(p, key=f"{device}/DS18B20/temp_air", device=device, channel="DS18B20")
        device = f"tasmota-{code}-{_SUFFIX[role]}".lower()
        name = "power_kw" if p.role == "main_power" else "energy_kwh"
        return replace(p, key=f"{device}/{name}", device=device)
    if p.unit == "degC":
        device = f"shellyhtg3-{code}-{role}".lower()
        return replace(
            p, key=f"{device}/temperature:0/temp_air", device=device, channel="temperature:0"
        )
    if role == "main":
        device = f"shellypro3em-{code}".lower()
        channel = "em:0" if p.role == "main_power" else "emdata:0"
        name = "power_kw" if p.role == "main_power" else "energy_kwh"
    else:
        device, channel, name = (
            f"shellypro4pm-{code}-{_SUFFIX[role]}".lower(),
            "switch:0",
            "energy_kwh",
        )
    return replace(p, key=f"{device}/{channel}/{name}", device=device, channel=channel)


def _points(
    code: str, kind: str, city: City, area: float, zones: int, fmt: str, rng
) -> tuple[Point, ...]:
    # Large buildings meter through current transformers: the register counts 1/multiplier.
    ct = 1.0 if area < 12_000 else float(rng.choice([40, 60, 80]))
    main = f"{code}/elec/main"
    reg = {"cumulative": True, "rollover_value": 999_999.99, "resolution": 0.01}
    pts = [
        Point(main, "总进线电表", "kWh", "01", multiplier=ct, role="main", **reg),
        Point(f"{code}/elec/main/power_kw", "总有功功率", "kW", "01", role="main_power"),
        Point(f"{code}/elec/lighting", "照明插座", "kWh", "01A", parent=main, role="01A", **reg),
        Point(f"{code}/elec/hvac", "空调用电", "kWh", "01B", parent=main, role="01B", **reg),
        Point(f"{code}/elec/power", "动力用电", "kWh", "01C", parent=main, role="01C", **reg),
    ]
    if kind != "government" or rng.random() < 0.5:  # data centre, labs, medical equipment
        pts.append(
            Point(f"{code}/elec/special", "特殊用电", "kWh", "01D", parent=main, role="01D", **reg)
        )
    water = {"cumulative": True, "rollover_value": 99_999.999, "resolution": 0.001}
    pts.append(Point(f"{code}/water/main", "总水表", "m3", "02", role="water", **water))
    if city.heating == "district_heat":
        heat = {"cumulative": True, "rollover_value": 9_999_999.9, "resolution": 0.1}
        pts.append(Point(f"{code}/heat/main", "热量表", "kWh", "04", role="heat", **heat))
    else:
        gas = {"cumulative": True, "rollover_value": 99_999.99, "resolution": 0.01}
        pts.append(Point(f"{code}/gas/main", "燃气表", "m3", "03", role="gas", **gas))
    for z in range(1, zones + 1):
        pts.append(Point(f"{code}/temp/zone{z}", f"{z}区室温", "degC", role=f"zone{z}"))
    pts.append(Point(f"{code}/temp/outdoor", "室外温度", "degC", role="outdoor"))
    moved = [_through_device(p, code, fmt) for p in pts]
    keys = {old.key: new.key for old, new in zip(pts, moved, strict=True)}
    return tuple(replace(p, parent=keys[p.parent]) if p.parent else p for p in moved)


def make_portfolio(n_buildings: int = 6, *, seed: int = 1) -> Portfolio:
    """Draw a portfolio of ``n_buildings`` buildings, one institution each.

    Types cycle government office, school, hospital; cities cycle through the climate zones
    (:data:`CITIES`), so six buildings already cover every zone and type. Floor area and
    headcount are drawn from ranges typical of each type.

    Parameters
    ----------
    n_buildings : int
        Number of buildings (1–999 per city and type).
    seed : int
        Same seed, same portfolio.
    """
    if not 1 <= n_buildings <= 5000:
        raise ValueError(f"n_buildings: must be 1..5000, got {n_buildings}")
    rng = np.random.default_rng([seed, 0x706F7274])
    kinds = list(KINDS)
    serials: dict[tuple[str, str], int] = {}
    institutions, buildings = [], []
    for i in range(n_buildings):
        kind = kinds[i % len(kinds)]
        city = CITIES[i % len(CITIES)]
        letter, m2_per_person, (lo, hi), label = KINDS[kind]
        serial = serials[(city.region_code, letter)] = (
            serials.get((city.region_code, letter), 0) + 1
        )
        code = f"{city.region_code}{letter}{serial:03d}"
        area = float(round(rng.uniform(lo, hi), -2))
        headcount = int(area / m2_per_person * rng.uniform(0.8, 1.2))
        zones = 2 if area < 20_000 else 3
        inst_code = f"DEMO-{city.region_code}-{code[6]}{serial:03d}"
        inst_name = f"{city.name}示范{_TYPE_ZH[kind]}{serial}"
        institutions.append(Institution(inst_code, inst_name, kind, city.region_code, headcount))
        buildings.append(
            Building(
                code=code,
                institution=inst_code,
                name=f"{inst_name}{label}",
                kind=kind,
                city=city,
                floor_area_m2=area,
                headcount=headcount,
                zones=zones,
                format=FORMATS[i % len(FORMATS)],
                points=_points(code, kind, city, area, zones, FORMATS[i % len(FORMATS)], rng),
            )
        )
    return Portfolio(tuple(institutions), tuple(buildings))


def registry_document(portfolio: Portfolio) -> dict[str, list[dict[str, object]]]:
    """The portfolio as a registry file's content (see :mod:`store.registry_import`)."""
    return {
        "institutions": [
            {
                "code": i.code,
                "name": i.name,
                "type": i.kind,
                "region_code": i.region_code,
                "headcount": i.headcount,
            }
            for i in portfolio.institutions
        ],
        "buildings": [
            {
                "code": b.code,
                "institution": b.institution,
                "name": b.name,
                "floor_area_m2": b.floor_area_m2,
                "headcount": b.headcount,
                "climate_zone": b.city.climate_zone,
                "time_zone": b.time_zone,
                # GB/T 51161 classes A/B are for offices (also hotels, malls), not schools or
                # hospitals.
                **(
                    {"gb51161_class": "A" if b.floor_area_m2 < 20_000 else "B"}
                    if b.kind == "government"
                    else {}
                ),
            }
            for b in portfolio.buildings
        ],
        "points": [
            {
                k: v
                for k, v in {
                    "key": p.key,
                    "building": b.code,
                    "name": p.name,
                    "unit": p.unit,
                    "energy_code": p.energy_code,
                    "cumulative": p.cumulative,
                    "multiplier": p.multiplier,
                    "rollover_value": p.rollover_value,
                    "parent": p.parent,
                }.items()
                if v is not None
            }
            for b in portfolio.buildings
            for p in b.points
        ],
    }
