"""Settings: environment, config file, and errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from jieneng.settings import Settings


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIENENG_BROKER_URL", "mqtts://broker.example:8884")
    monkeypatch.setenv("JIENENG_BATCH_SIZE", "123")
    monkeypatch.setenv("JIENENG_BROKER_PASSWORD", "s3cret")
    s = Settings()
    assert (s.broker_host, s.broker_port, s.broker_tls) == ("broker.example", 8884, True)
    assert s.batch_size == 123
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.model_dump())


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    path = tmp_path / f"jieneng{suffix}"
    path.write_text('client_id: "c-9"\n' if suffix == ".yaml" else 'client_id = "c-9"\n')
    monkeypatch.setenv("JIENENG_CONFIG", str(path))
    assert Settings().client_id == "c-9"
    monkeypatch.setenv("JIENENG_CLIENT_ID", "from-env")
    assert Settings().client_id == "from-env"  # the environment wins over the file


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"service_tz": "Mars/Olympus"}, "unknown IANA time zone"),
        ({"broker_url": "http://x"}, "scheme must be mqtt://"),
        ({"share_group": "a/b"}, "without '/'"),
        ({"share_group": "g", "mqtt_protocol": "3.1.1"}, "shared subscriptions need"),
        ({"batch_size": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_settings_name_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ValidationError, match="batch_sise"):
        Settings(batch_sise=5)  # type: ignore[call-arg]


def test_accepted_age_must_fit_the_retention() -> None:
    with pytest.raises(ValidationError, match="max_age_s: .* retention_days=30"):
        Settings(retention_days=30)
    assert Settings(retention_days=30, max_age_s=29 * 86400).retention_days == 30
