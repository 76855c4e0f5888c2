"""Request and response bodies (the names of the nomenclature: floor_area_m2, energy_code …)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Institution(BaseModel):
    code: str
    name: str
    type: str
    region_code: str | None = None
    headcount: int | None = None
    buildings: int = 0
    created_at: dt.datetime | None = None


class Building(BaseModel):
    code: str
    name: str
    institution: str
    floor_area_m2: float | None = None
    heated_area_m2: float | None = None
    cooled_area_m2: float | None = None
    headcount: int | None = None
    climate_zone: str | None = None
    gb51161_class: str | None = None
    operating_hours: float | None = None
    time_zone: str
    created_at: dt.datetime | None = None


class Point(BaseModel):
    key: str
    name: str | None = None
    kind: str
    quantity: str
    unit: str
    energy_code: str | None = None
    cumulative: bool
    multiplier: float
    rollover_value: float | None = None
    parent: str | None = None
    building: str
    time_zone: str
    location: str | None = None


class RegistryDocument(BaseModel):
    """The registry file's layout as JSON: lists of rows per table (README "Registry")."""

    model_config = ConfigDict(extra="forbid")
    institutions: list[dict[str, Any]] = Field(default_factory=list)
    buildings: list[dict[str, Any]] = Field(default_factory=list)
    points: list[dict[str, Any]] = Field(default_factory=list)
    meter_replacements: list[dict[str, Any]] = Field(default_factory=list)
    consumption_records: list[dict[str, Any]] = Field(default_factory=list)
    quotas: list[dict[str, Any]] = Field(default_factory=list)
    emc_contracts: list[dict[str, Any]] = Field(default_factory=list)


class Imported(BaseModel):
    """Rows read per table (an import of the same rows again changes nothing)."""

    counts: dict[str, int]


class Reading(BaseModel):
    time: dt.datetime
    value: float
    quality: int


class Readings(BaseModel):
    point: str
    unit: str
    readings: list[Reading]


class SeriesRow(BaseModel):
    bucket: dt.datetime
    value: float | None = Field(None, description="use in the bucket (cumulative registers)")
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    n: int


class Series(BaseModel):
    point: str
    unit: str
    bucket: Literal["15m", "1h", "1d", "1mo"]
    time_zone: str
    aggregation: Literal["sum", "mean"]
    rows: list[SeriesRow]


class ConsumptionRow(BaseModel):
    bucket: dt.datetime
    energy_code: str
    value: float | None
    meters: int


class Consumption(BaseModel):
    building: str
    bucket: Literal["15m", "1h", "1d", "1mo"]
    time_zone: str
    rows: list[ConsumptionRow]


class Latest(BaseModel):
    key: str
    quantity: str
    unit: str
    energy_code: str | None = None
    time: dt.datetime | None = None
    value: float | None = None


class Finding(BaseModel):
    id: int
    point_key: str
    building: str | None = None
    rule: str
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime
    last_seen_at: dt.datetime
    closed_at: dt.datetime | None = None
    run_count: int
    severity: str
    score: float | None = None
    waste: float | None = None
    waste_unit: str
    kgce: float | None = None
    kgco2: float | None = None
    cny: float | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None


class Contract(BaseModel):
    code: str
    name: str
    kind: str
    institution: str
    meter: str
    esco: str | None = None
    baseline_end: dt.date
    reporting_start: dt.date
    reporting_end: dt.date | None = None
    price: float
    esco_share: float
    guaranteed_per_year: float
    fee_per_year: float
    note: str | None = None


class Check(BaseModel):
    ok: bool
    detail: str | None = None
    seconds: float | None = None


class Health(BaseModel):
    ok: bool
    database: Check
    broker: Check
    collector_lag_s: float | None = Field(
        None, description="seconds since the newest stored reading (None: no readings yet)"
    )
