"""The one e-mail rule (alliance.services.contact), and that every entry point uses it."""

from __future__ import annotations

import pytest
from clinic_world import World

from alliance.services import clients, matching
from alliance.services.auth import normalise_email
from alliance.services.contact import email_address, optional_email_address, optional_phone_number
from alliance.services.errors import InvalidInput

BAD = [
    "plain",
    "@example.org",
    "someone@",
    "someone@localhost",
    "two words@example.org",
    "a@b@example.org",
    "x" * 310 + "@example.org",
]


@pytest.mark.parametrize("value", BAD)
def test_it_rejects_what_is_not_an_address_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        email_address(value, field="contact_email")
    assert refused.value.field == "contact_email"


def test_it_keeps_a_valid_address_as_given_and_empty_means_none() -> None:
    assert email_address("  Sarah.K@Mail.example ") == "Sarah.K@Mail.example"
    assert optional_email_address("  ", field="contact_email") is None
    assert optional_email_address(None, field="contact_email") is None
    assert normalise_email(" Ada@North.Example ") == "ada@north.example"


@pytest.mark.parametrize("value", ["someone@localhost", "two words@example.org"])
def test_clients_and_intakes_apply_the_same_rule_as_staff_logins(world: World, value: str) -> None:
    # Before, contact addresses only needed an "@": these two were stored.
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        normalise_email(value)
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        clients.create_client(world.ctx, actor=world.alice, display_name="X", contact_email=value)
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        clients.update_client_contact(
            world.ctx, actor=world.alice, client_id=world.sarah, contact_email=value
        )
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        matching.submit_intake(
            world.ctx,
            actor=None,
            clinic_id=world.north,
            contact_name="X",
            contact_email=value,
            intake={},
        )


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("+44 (0)20 7946-0958", "+44 (0)20 7946-0958"), (" 020.7946.0958 ", "020.7946.0958")],
)
def test_a_phone_number_is_kept_as_written(typed: str, kept: str) -> None:
    assert optional_phone_number(typed, field="contact_phone") == kept


@pytest.mark.parametrize(
    "typed", ["12345", "call me", "+1 555 0100 ext 7", "1" * 16, "0\x00123456"]
)
def test_a_phone_number_needs_6_to_15_digits_and_nothing_else(typed: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        optional_phone_number(typed, field="contact_phone")
    assert raised.value.field == "contact_phone"


def test_no_phone_number_is_none() -> None:
    assert optional_phone_number("  ", field="contact_phone") is None
    assert optional_phone_number(None, field="contact_phone") is None
