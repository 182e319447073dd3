"""The settings object: documented, loud about bad values, strict in production."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from alliance.config import Settings, parse_encryption_keys

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"| `{name}` |" not in text]
    assert missing == [], f"document these settings in docs/settings.md: {missing}"


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="ALLIANCE_SECRET_KEY"):
        Settings(mode="production")


def test_production_refuses_the_development_encryption_key() -> None:
    with pytest.raises(ValidationError, match="ENCRYPTION_KEYS"):
        Settings(mode="production", secret_key="x" * 40)


def test_production_accepts_real_secrets() -> None:
    key = base64.urlsafe_b64encode(b"k" * 32).decode()
    settings = Settings(mode="production", secret_key="s" * 40, encryption_keys=f"prod1:{key}")
    assert list(parse_encryption_keys(settings.encryption_keys)) == ["prod1"]


def test_it_rejects_a_short_encryption_key() -> None:
    short = base64.urlsafe_b64encode(b"short").decode()
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(encryption_keys=f"k1:{short}")


def test_settings_are_read_from_alliance_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALLIANCE_CHECKIN_LINK_DAYS", "3")
    assert Settings().checkin_link_days == 3
    monkeypatch.setenv("ALLIANCE_CHECKIN_LINK_DAYS", "0")
    with pytest.raises(ValidationError, match="checkin_link_days"):
        Settings()
