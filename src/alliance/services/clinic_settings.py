"""A clinic's own settings (stored as JSON on the clinic row): alert rule settings, the
instruments used for each purpose, whether staff must use a second factor, and whether clients
see their own progress chart after a check-in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alliance.monitoring.alerts import AlertSettings


class InstrumentChoice(BaseModel):
    """Which instrument ids a new episode uses, per purpose (all must exist in the registry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alliance: tuple[str, ...] = Field(default=("wai_sr",), description="Alliance measure(s).")
    outcome: tuple[str, ...] = Field(default=("phq9", "gad7"), description="Outcome measures.")
    feedback: tuple[str, ...] = Field(
        default=("session_feedback",), description="Session feedback."
    )

    def all(self) -> tuple[str, ...]:
        return (*self.alliance, *self.outcome, *self.feedback)


class ClinicSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_settings: AlertSettings = Field(
        default_factory=lambda: AlertSettings(),
        description="Thresholds of the monitoring rules (alliance.monitoring.alerts."
        "AlertSettings; its defaults are documented in docs/monitoring.md).",
    )
    instruments: InstrumentChoice = Field(default_factory=lambda: InstrumentChoice())
    mfa_enforced: bool = Field(default=False, description="Staff must log in with a TOTP code.")
    show_client_progress: bool = Field(
        default=False, description="Show the client their own progress chart after a check-in."
    )
    checkin_overdue_days: int = Field(
        default=10,
        ge=1,
        le=90,
        description="A client with no check-in for this long counts as overdue.",
    )

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ClinicSettings:
        return cls.model_validate(data or {})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
