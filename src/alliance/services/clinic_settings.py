"""A clinic's own settings (stored as JSON on the clinic row): alert rule settings, the
instruments used for each purpose, the measurement plan (which of them a check-in asks
when), whether staff must use a second factor, whether clients
see their own progress after a check-in, when check-in links are e-mailed, the clinic's time
zone, the language of client pages, the crisis text a client sees after an answer that raised
a risk flag, the clinic's crisis contacts (names and phone numbers, shown to clients on the
thank-you page and to staff on a risk alert's protocol page) and how long a risk alert may
wait for an acknowledgement before the supervisor and the admins are told."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alliance.measures.plan import BUNDLED_CADENCES, MeasurementPlan
from alliance.monitoring.alerts import AlertSettings

#: What a client reads after answering that they have had thoughts of death or self-harm,
#: unless the clinic writes its own. Deliberately no phone number or link: those differ by
#: country and go stale; the clinic can add its own local services.
DEFAULT_CRISIS_MESSAGE = (
    "If you are in danger now, or feel you might act on thoughts of harming yourself, please "
    "call your local emergency number or go to the nearest emergency department. You do not "
    "have to wait for your next session: you can also contact your clinic or your doctor "
    "today, or ask someone you trust to stay with you."
)
CRISIS_MESSAGE_MAX = 2000

#: Languages a client page can be shown in: English and each shipped catalogue
#: (``alliance/web/locale``; a test keeps the two in step).
ClientLanguage = Literal["en", "es"]
CLIENT_LANGUAGES: tuple[str, ...] = get_args(ClientLanguage)


CRISIS_CONTACTS_MAX = 10
#: What a phone number may hold: digits, spaces, dots, dashes, brackets and one leading "+".
_PHONE = re.compile(r"\+?[0-9][0-9 ().-]*")


class CrisisContact(BaseModel):
    """One crisis line or service: a name and a phone number a client can call."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100, description="What the service is called.")
    phone: str = Field(
        min_length=3,
        max_length=30,
        description="The number to call, as people dial it (digits, spaces, dashes, a leading +).",
    )

    @field_validator("phone")
    @classmethod
    def _dialable(cls, value: str) -> str:
        digits = sum(c.isdigit() for c in value)
        if not _PHONE.fullmatch(value) or digits < 3 or digits > 20:
            raise ValueError(
                "a phone number has 3 to 20 digits and only spaces, dots, dashes, brackets "
                "and a leading + besides"
            )
        return value

    @property
    def tel(self) -> str:
        """The ``tel:`` link: the digits, with the leading + if there is one (RFC 3966)."""
        number = self.phone
        if number.startswith("+"):
            # "+44 (0)20 …": the bracketed 0 is dialled only from inside the country.
            number = number.replace("(0)", "")
        digits = "".join(c for c in number if c.isdigit())
        return "tel:" + ("+" if self.phone.startswith("+") else "") + digits


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


class DeliverySettings(BaseModel):
    """When check-in links go to clients by e-mail (``alliance checkins send-due``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    send: Literal["after_attended", "before_next", "off"] = Field(
        default="after_attended",
        description="after_attended: when a session is recorded as attended; before_next: "
        "hours_before the next scheduled session; off: links are only sent by hand.",
    )
    hours_before: int = Field(
        default=24, ge=1, le=7 * 24, description="With before_next: how many hours before."
    )
    reminder_hours: int = Field(
        default=48,
        ge=0,
        le=14 * 24,
        description="One reminder this many hours after a link was sent and not used "
        "(0 = no reminder).",
    )


class ClinicSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_settings: AlertSettings = Field(
        default_factory=lambda: AlertSettings(),
        description="Thresholds of the monitoring rules (alliance.monitoring.alerts."
        "AlertSettings; its defaults are documented in docs/monitoring.md).",
    )
    instruments: InstrumentChoice = Field(default_factory=lambda: InstrumentChoice())
    measurement_plan: MeasurementPlan = Field(
        default_factory=lambda: MeasurementPlan(),
        description="The clinic's own cadences (alliance.measures.plan); an instrument or goals "
        "it does not name follow the bundled default cadence.",
    )
    mfa_enforced: bool = Field(default=False, description="Staff must log in with a TOTP code.")
    show_client_progress: bool = Field(
        default=False,
        description="Show the client their own progress after a check-in (and on their used "
        "link until it expires).",
    )
    client_progress_shows: tuple[Literal["outcomes", "goals"], ...] = Field(
        default=("outcomes", "goals"),
        description="What the client's own progress shows: their outcome questionnaires "
        "(chart and plain words), their goal ratings, or both.",
    )
    checkin_overdue_days: int = Field(
        default=10,
        ge=1,
        le=90,
        description="A client with no check-in for this long counts as overdue.",
    )
    delivery: DeliverySettings = Field(default_factory=lambda: DeliverySettings())
    time_zone: str = Field(
        default="UTC",
        max_length=64,
        description="The clinic's time zone (an IANA name such as Europe/London): staff enter "
        "and read times in it; the database keeps UTC.",
    )
    client_language: ClientLanguage = Field(
        default="en",
        description="The language of client pages (check-in, thank-you, intake) unless the "
        "link asks for another (?lang=es); instrument texts follow only where the clinic "
        "installed a validated translation.",
    )
    crisis_message: str = Field(
        default=DEFAULT_CRISIS_MESSAGE,
        max_length=CRISIS_MESSAGE_MAX,
        description="Shown to a client whose check-in answer raised a risk flag (thoughts of "
        "death or self-harm): what to do if they are in danger now. Blank = the default.",
    )

    crisis_contacts: tuple[CrisisContact, ...] = Field(
        default=(),
        max_length=CRISIS_CONTACTS_MAX,
        description="Crisis lines a client can call (name and phone number): shown as links "
        "to call on the client's thank-you page and on a risk alert's protocol page.",
    )
    risk_escalation_hours: int = Field(
        default=4,
        ge=1,
        le=7 * 24,
        description="A risk alert not acknowledged within this many hours is escalated: the "
        "therapist's supervisor and the clinic's admins get a message (no clinical content).",
    )

    @field_validator("crisis_message", mode="before")
    @classmethod
    def _crisis_message_default(cls, value: object) -> object:
        # A client who has just reported thoughts of self-harm must always be told what to do
        # next, so clearing the text restores the default instead of showing nothing.
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_CRISIS_MESSAGE
        return value.strip() if isinstance(value, str) else value

    def plan(self) -> MeasurementPlan:
        """The plan check-ins follow: the bundled instruments' default cadences, with the
        clinic's own over them (an episode keeps its instruments when the clinic's choice
        changes, so the defaults cover every bundled one, chosen today or not)."""
        return MeasurementPlan(cadences=dict(BUNDLED_CADENCES)).overlay(self.measurement_plan)

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        name = value.strip() or "UTC"
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}; use a name such as Europe/London or America/Chicago"
            ) from None
        return name

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ClinicSettings:
        return cls.model_validate(data or {})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
