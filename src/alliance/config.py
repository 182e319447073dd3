"""The one typed settings object (``ALLIANCE_*`` environment variables).

Every setting is defined once, here, with its default and a description; ``docs/settings.md``
is checked against this class by a test so that no setting goes undocumented. In production
mode the object refuses default or missing secrets instead of running insecurely.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only defaults: production mode refuses to start with any of these.
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105
DEV_ENCRYPTION_KEY = "k0:" + base64.urlsafe_b64encode(b"dev-only-key-32-bytes-change-me!").decode()


def default_data_dir() -> Path:
    return Path(user_data_dir("alliance", appauthor=False))


class Settings(BaseSettings):
    """Settings for the app, the CLI and the services. Read from ``ALLIANCE_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="ALLIANCE_", extra="ignore", frozen=True)

    mode: Literal["development", "production"] = Field(
        default="development",
        description="`production` refuses default secrets and sets `Secure`, `__Host-` "
        "prefixed cookies.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the default SQLite database and other local files live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db. "
        "Unset: SQLite file `alliance.sqlite3` under data_dir.",
    )
    secret_key: str = Field(
        default=DEV_SECRET_KEY,
        description="Signs session cookies and CSRF tokens. At least 32 characters in production.",
    )
    encryption_keys: str = Field(
        default=DEV_ENCRYPTION_KEY,
        description="Comma-separated `keyid:base64url(32 bytes)` AES-256-GCM keys for free text "
        "at rest. The first key encrypts; all keys decrypt (rotation).",
    )
    instruments_dir: Path | None = Field(
        default=None,
        description="Extra directory of instrument YAML files (e.g. licensed ORS/SRS, OQ-45).",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public URL of the app, used to build client check-in links.",
    )
    checkin_link_days: int = Field(
        default=7, ge=1, le=90, description="Days a client link stays valid."
    )
    session_idle_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="Staff sessions expire after this much inactivity.",
    )
    session_max_hours: int = Field(
        default=12,
        ge=1,
        le=7 * 24,
        description="Staff sessions expire this long after login regardless.",
    )
    login_rate_limit: int = Field(
        default=10,
        ge=1,
        description="Failed sign-ins per account and per IP address from browsers that have not "
        "signed in to the account before, and wrong second-step codes per account, per 15 "
        "minutes.",
    )
    link_rate_limit: int = Field(
        default=60, ge=1, description="Check-in link requests per IP address per 15 minutes."
    )
    intake_rate_limit: int = Field(
        default=20, ge=1, description="Public intake submissions per IP address per hour."
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for e-mailing check-in links."
    )
    smtp_port: int = Field(default=587, description="SMTP port.")
    smtp_user: str | None = Field(default=None, description="SMTP user name.")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(default="alliance@localhost", description="Sender address for e-mails.")
    smtp_starttls: bool = Field(default=True, description="Use STARTTLS with the SMTP server.")
    smtp_connections: int = Field(
        default=4,
        ge=1,
        le=16,
        description="SMTP connections one send-due run uses at once (messages are handed over "
        "in parallel; 1 sends them one after another).",
    )
    delivery_max_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Attempts at sending one check-in message before it is marked failed.",
    )
    delivery_retry_minutes: int = Field(
        default=5,
        ge=1,
        le=24 * 60,
        description="Wait after a first failed attempt; it doubles after each further failure "
        "(at most 6 hours).",
    )
    delivery_scheduler: bool = Field(
        default=False,
        description="Run `send-due` inside the web app every `delivery_scheduler_seconds` "
        "(instead of, or as well as, cron). Safe with several workers.",
    )
    delivery_scheduler_seconds: int = Field(
        default=300, ge=10, le=24 * 3600, description="How often the in-app scheduler runs."
    )
    export_keep_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="Days a research export built in the app stays downloadable; then its "
        "(encrypted) file under `data_dir/exports` is removed.",
    )
    analysis_backend: Literal["accurate", "fast"] = Field(
        default="accurate", description="Default session-analysis backend."
    )
    analysis_units: Literal["turns", "segments"] = Field(
        default="turns",
        description="What the session-analysis coder codes: whole `turns`, or the `segments` "
        "MISC/MITI coders code (sentences and clauses), folded back to each turn.",
    )
    empathy_model: bool = Field(
        default=True,
        description="Use the optional empathy model (trained on non-commercial research data) "
        "when it is installed.",
    )
    password_hash_profile: Literal["standard", "fast-insecure-tests"] = Field(
        default="standard",
        description="argon2id cost profile for staff passwords. `standard` = RFC 9106 "
        "low-memory profile (t=3, m=64 MiB); `fast-insecure-tests` is cheap and only for tests "
        "(refused in production).",
    )
    transcript_max_bytes: int = Field(
        default=5_000_000, ge=1000, description="Largest transcript file accepted."
    )
    match_max_bytes: int = Field(
        default=50_000_000,
        ge=1000,
        description="Largest `alliance match` input file accepted (parsing takes about ten "
        "times its size in memory).",
    )
    match_max_pairs: int = Field(
        default=5_000_000,
        ge=1,
        description="Most intakes × therapists one `alliance match` run scores (the score "
        "matrices take about 50 bytes a pair: 0.25 GB at the default).",
    )

    @field_validator("encryption_keys")
    @classmethod
    def _keys_are_well_formed(cls, value: str) -> str:
        parse_encryption_keys(value)
        return value

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Settings:
        if self.mode != "production":
            return self
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            raise ValueError(
                "ALLIANCE_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production"
            )
        if self.password_hash_profile != "standard":  # noqa: S105 - a profile name
            raise ValueError("ALLIANCE_PASSWORD_HASH_PROFILE must be 'standard' in production")
        if DEV_ENCRYPTION_KEY.split(":", 1)[1] in self.encryption_keys:
            raise ValueError("ALLIANCE_ENCRYPTION_KEYS must not contain the development key")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'alliance.sqlite3'}"


def parse_encryption_keys(value: str) -> dict[str, bytes]:
    """Parse ``id:key,id:key`` into an ordered mapping; the first entry is the active key."""
    keys: dict[str, bytes] = {}
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        key_id, sep, encoded = part.partition(":")
        if not sep or not key_id:
            raise ValueError(f"encryption key {part[:8]!r}… must look like 'keyid:base64key'")
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"encryption key {key_id!r} is not valid base64") from exc
        if len(raw) != 32:
            raise ValueError(f"encryption key {key_id!r} must decode to 32 bytes, got {len(raw)}")
        keys[key_id] = raw
    if not keys:
        raise ValueError("at least one encryption key is required")
    return keys


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings`` instead)."""
    return Settings()
