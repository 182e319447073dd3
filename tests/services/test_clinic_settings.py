"""A clinic's own settings: validated, frozen, stored as JSON, with a crisis text that is never
empty."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alliance.services.clinic_settings import (
    CRISIS_MESSAGE_MAX,
    DEFAULT_CRISIS_MESSAGE,
    ClinicSettings,
    InstrumentChoice,
)


def test_settings_round_trip_through_json() -> None:
    settings = ClinicSettings(
        mfa_enforced=True,
        checkin_overdue_days=14,
        instruments=InstrumentChoice(outcome=("who5",)),
        crisis_message="Call the clinic's duty line.",
    )
    assert ClinicSettings.from_json(settings.to_json()) == settings
    assert ClinicSettings.from_json(None) == ClinicSettings()


def test_a_blank_crisis_message_falls_back_to_the_default() -> None:
    assert ClinicSettings(crisis_message="   ").crisis_message == DEFAULT_CRISIS_MESSAGE
    assert ClinicSettings.from_json({"crisis_message": None}).crisis_message == (
        DEFAULT_CRISIS_MESSAGE
    )
    assert ClinicSettings(crisis_message="  Call us.  ").crisis_message == "Call us."


@pytest.mark.parametrize(
    "data",
    [
        {"checkin_overdue_days": 0},
        {"checkin_overdue_days": 91},
        {"crisis_message": "x" * (CRISIS_MESSAGE_MAX + 1)},
        {"no_such_setting": True},
        {"instruments": {"outcome": ["phq9"], "extra": ["x"]}},
    ],
)
def test_it_refuses_out_of_range_or_unknown_settings(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ClinicSettings.from_json(data)


def test_the_instrument_choice_lists_every_purpose_in_order() -> None:
    choice = InstrumentChoice()
    assert choice.all() == ("wai_sr", "phq9", "gad7", "session_feedback")


def test_the_time_zone_must_be_a_known_iana_name() -> None:
    assert ClinicSettings().time_zone == "UTC"
    assert ClinicSettings(time_zone=" Europe/Madrid ").time_zone == "Europe/Madrid"
    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", "CET+1"):
        with pytest.raises(ValidationError, match="unknown time zone"):
            ClinicSettings(time_zone=bad)


def test_crisis_contacts_are_checked_and_become_tel_links() -> None:
    from alliance.services.clinic_settings import CrisisContact

    settings = ClinicSettings(
        crisis_contacts=[
            {"name": " Samaritans ", "phone": "116 123"},
            {"name": "Duty line", "phone": "+44 (0)20 7946-0000"},
        ]
    )
    assert [(c.name, c.tel) for c in settings.crisis_contacts] == [
        ("Samaritans", "tel:116123"),
        ("Duty line", "tel:+442079460000"),
    ]
    assert ClinicSettings.from_json(settings.to_json()) == settings
    for phone in ("call me", "12", "+", "1" * 21, "++44 20"):
        with pytest.raises(ValidationError, match="phone"):
            CrisisContact(name="x", phone=phone)
    with pytest.raises(ValidationError, match="name"):
        CrisisContact(name=" ", phone="112")
    with pytest.raises(ValidationError):
        ClinicSettings(crisis_contacts=[{"name": "x", "phone": "112"}] * 11)


def test_the_risk_escalation_delay_is_bounded() -> None:
    assert ClinicSettings().risk_escalation_hours == 4
    for hours in (0, 169):
        with pytest.raises(ValidationError):
            ClinicSettings(risk_escalation_hours=hours)
