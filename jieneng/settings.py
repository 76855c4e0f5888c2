"""One settings class for the whole service.

Values come, highest priority first, from keyword arguments, ``JIENENG_*`` environment
variables, a ``.env`` file, and an optional YAML or TOML config file named by
``JIENENG_CONFIG`` (or ``jieneng --config FILE``).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Settings of jieneng; every field can be set as ``JIENENG_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="JIENENG_", env_file=".env", extra="forbid", validate_default=True
    )

    # --- storage -------------------------------------------------------------------------
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/jieneng",
        description="libpq connection URL of the PostgreSQL/TimescaleDB database",
    )
    timescaledb: Literal["auto", "on", "off"] = Field(
        "auto",
        description="use TimescaleDB: auto = when CREATE EXTENSION works, on = require it",
    )
    service_tz: str = Field(
        "Asia/Shanghai", description="time zone of daily rollups and of naive device timestamps"
    )
    compress_after_days: int = Field(7, ge=1, description="TimescaleDB compression age")
    retention_days: int | None = Field(
        None, ge=1, description="drop raw readings older than this; None keeps them forever"
    )
    partitions_ahead_months: int = Field(
        3, ge=1, description="plain PostgreSQL: monthly partitions created ahead of time"
    )
    maintenance_interval_s: float = Field(
        60.0, gt=0, description="how often the service refreshes rollups and partitions"
    )

    # --- broker ----------------------------------------------------------------------------
    broker_url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port or mqtts://")
    broker_username: str | None = None
    broker_password: SecretStr | None = None
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_insecure: bool = Field(False, description="skip the broker host name check (testing only)")
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    client_id: str = Field(
        "jieneng-ingest-1",
        min_length=1,
        max_length=128,
        description="stable MQTT client id: the broker keeps this collector's session under it",
    )
    session_expiry_s: int = Field(
        7 * 24 * 3600, ge=60, description="how long the broker queues for an absent collector"
    )
    keepalive_s: int = Field(30, ge=5)
    topic_prefix: str = Field("jieneng", min_length=1)
    share_group: str | None = Field(
        None, description="MQTT 5 shared subscription group ($share/<group>/...) for scale-out"
    )
    mapping_file: Path | None = Field(None, description="YAML file of declarative topic mappings")

    # --- collector -------------------------------------------------------------------------
    batch_size: int = Field(
        20000,
        ge=1,
        description="readings per database transaction (max): each commit waits"
        " for a WAL flush, so fewer, larger commits write faster",
    )
    workers: int = Field(
        1,
        ge=0,
        le=16,
        description="processes that decode and write, beside paho's network thread"
        " (0: all in one process)",
    )
    writers: int = Field(
        2,
        ge=1,
        le=16,
        description="writer connections per worker (batches commit independently)",
    )
    flush_interval_s: float = Field(0.5, gt=0, description="longest wait before a partial batch")
    queue_max_messages: int = Field(20000, ge=10, description="bounded in-memory message queue")
    queue_max_bytes: int = Field(
        64 << 20, ge=1 << 20, description="bounded queue: payload bytes held in memory at most"
    )
    max_payload_bytes: int = Field(1 << 20, ge=64)
    max_future_s: float = Field(300.0, ge=0, description="reject readings further in the future")
    max_age_s: float = Field(
        400 * 86400.0, gt=0, description="reject readings older than this (seconds)"
    )
    auto_register: bool = Field(True, description="create unknown points on first reading")
    metrics_port: int = Field(9108, ge=0, le=65535, description="Prometheus endpoint; 0 = off")
    metrics_host: str = "127.0.0.1"
    log_format: Literal["json", "text"] = "json"
    log_interval_s: float = Field(10.0, gt=0, description="period of the counters log line")

    # --- API (jieneng api) -------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="address `jieneng api` listens on")
    api_port: int = Field(8080, ge=0, le=65535, description="port of `jieneng api`")
    api_pool_size: int = Field(8, ge=1, le=64, description="database connections of the API")
    api_max_rows: int = Field(
        100_000, ge=100, description="most rows one readings request returns (bigger: 422)"
    )

    # --- alerts (jieneng alerts) ----------------------------------------------------------
    smtp_host: str | None = Field(None, description="SMTP server for alert e-mails")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = Field("jieneng@localhost", description="From: of alert e-mails")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(False, description="STARTTLS before logging in")

    # --- analysis job (jieneng analyze) ----------------------------------------------------
    analyze_every_s: float | None = Field(
        None,
        ge=60,
        description="`jieneng ingest` runs the analysis job in a child process this often"
        " (seconds); unset: not in the service (run `jieneng analyze --every` beside it)",
    )
    analyze_days: int = Field(
        42,
        ge=2,
        le=400,
        description="days of history in each analysis window (baseline residuals need 35)",
    )
    analyze_grace_s: float = Field(
        86400.0,
        gt=0,
        description="runs of one rule on one point closer than this are one finding; an open"
        " finding closes once the analysis is this far past its end",
    )
    analyze_late_days: int = Field(
        90, ge=0, description="days before the window in which late readings are analysed again"
    )
    analyze_batch_buildings: int = Field(
        25, ge=1, le=10000, description="buildings analysed together (bounds the memory)"
    )
    analyze_factors_file: Path | None = Field(
        None, description="standard coal, CO2 and price factors (default analytics/data)"
    )
    analyze_electricity_method: Literal["equivalent", "equal_value"] = Field(
        "equivalent", description="kgce of electricity: 当量值 (equivalent) or 等价值"
    )

    @field_validator("service_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"scheme must be mqtt:// or mqtts://, got {value!r}")
        if not parts.hostname:
            raise ValueError(f"no host in {value!r}")
        return value

    @field_validator("share_group")
    @classmethod
    def _share_group(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "/+#")):
            raise ValueError(f"must be a non-empty name without '/', '+' or '#', got {value!r}")
        return value

    @model_validator(mode="after")
    def _age_within_retention(self) -> Settings:
        if self.retention_days is not None and self.max_age_s > self.retention_days * 86400:
            raise ValueError(
                f"max_age_s: readings up to {self.max_age_s:.0f} s old are accepted but"
                f" retention_days={self.retention_days} drops them; lower max_age_s"
            )
        return self

    @model_validator(mode="after")
    def _shared_needs_v5(self) -> Settings:
        if self.share_group and self.mqtt_protocol != "5":
            raise ValueError("share_group: shared subscriptions need mqtt_protocol '5'")
        return self

    @property
    def broker_host(self) -> str:
        return urlsplit(self.broker_url).hostname or "127.0.0.1"

    @property
    def broker_port(self) -> int:
        parts = urlsplit(self.broker_url)
        return parts.port or (8883 if self.broker_tls else 1883)

    @property
    def broker_tls(self) -> bool:
        return urlsplit(self.broker_url).scheme in ("mqtts", "ssl") or self.tls_ca_file is not None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings]
        config = os.environ.get("JIENENG_CONFIG")
        if config:
            path = Path(config)
            if not path.is_file():
                raise FileNotFoundError(f"JIENENG_CONFIG: no such file {config!r}")
            if path.suffix.lower() == ".toml":
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            else:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)


@functools.cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests build their own :class:`Settings`)."""
    return Settings()
