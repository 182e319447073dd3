"""The registry of encrypted columns (store/encrypted.py): complete, and stable."""

from __future__ import annotations

import pytest

from alliance.store.encrypted import EncryptedJson, EncryptedText, field_of, json_field_of
from alliance.store.matching_tables import HandoverNote
from alliance.store.models import Base, Goal, Response, encrypted_columns

# Every stored ciphertext is bound to its field name: renaming one would make the values
# already stored under it undecryptable, so the names are pinned here.
FIELD_NAMES = {
    "alerts.acknowledge_note_enc": "alerts.acknowledge_note",
    "alerts.resolve_note_enc": "alerts.resolve_note",
    "checkins.draft_enc": "checkins.draft",
    "alerts.supervision_note_enc": "alerts.supervision_note",
    "clients.contact_email_enc": "clients.contact_email",
    "goals.text_enc": "goals.text",
    "handover_notes.note_enc": "audit.handover_note",
    "intake_requests.contact_email_enc": "intake_requests.contact_email",
    "intake_requests.contact_phone_enc": "intake_requests.contact_phone",
    "intake_requests.contact_name_enc": "intake_requests.contact_name",
    "intake_requests.intake_enc": "intake_requests.intake",
    "match_decisions.note_enc": "match_decisions.note",
    "match_decisions.reasons_enc": "match_decisions.reasons",
    "outbox_messages.link_token_enc": "outbox_messages.link_token",
    "responses.answers": "responses.{instrument_id}.{key}",
    "session_transcripts.analysis_enc": "session_transcripts.analysis",
    "session_transcripts.transcript_enc": "session_transcripts.transcript",
    "staff_users.totp_secret_enc": "staff_users.totp_secret",
}


def test_the_registered_field_names_are_the_ones_stored_values_are_bound_to() -> None:
    names = {
        location.name: (
            location.spec.field
            if isinstance(location.spec, EncryptedText)
            else location.spec.template
        )
        for location in encrypted_columns()
    }
    assert names == FIELD_NAMES


def test_every_column_named_enc_is_registered_as_encrypted_text() -> None:
    enc_columns = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_enc")
    }
    text_places = {loc.name for loc in encrypted_columns() if isinstance(loc.spec, EncryptedText)}
    assert enc_columns == text_places


def test_services_read_field_names_from_the_column() -> None:
    assert field_of(Goal.text_enc) == "goals.text"
    assert field_of(HandoverNote.note_enc) == "audit.handover_note"
    assert (
        json_field_of(Response.answers, "sf_comment", instrument_id="session_feedback")
        == "responses.session_feedback.sf_comment"
    )
    spec = next(loc.spec for loc in encrypted_columns() if loc.name == "responses.answers")
    assert isinstance(spec, EncryptedJson)
    assert spec.row_columns == ("instrument_id",)


def test_it_refuses_a_column_that_is_not_encrypted() -> None:
    with pytest.raises(LookupError, match="not a registered encrypted column"):
        field_of(Goal.position)
    with pytest.raises(LookupError, match="use json_field_of"):
        field_of(Response.answers)
    with pytest.raises(LookupError, match="use field_of"):
        json_field_of(Goal.text_enc, "x")
