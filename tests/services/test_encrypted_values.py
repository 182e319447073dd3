"""Every encrypted value the app stores is in a registered place, and key rotation reaches all
of them: a copy of the seeded demo clinic with the cast's two clinics and one of every kind of
encrypted value added, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections import Counter

import pytest
from clinic_world import COMMENT, GOAL, Clock, World, make_settings, seed_goal_and_check_ins
from sqlalchemy import Engine, select, text

from alliance.services import auth, matching
from alliance.services.context import ServiceContext
from alliance.services.keys import rotate_encryption
from alliance.store.crypto import FieldCipher
from alliance.store.db import transaction
from alliance.store.matching_tables import HandoverNote
from demo_copies import DemoCopy
from encrypted_values import seed_every_kind_of_encrypted_value, stored_encrypted_values

NEW_KEY = "k9:" + base64.urlsafe_b64encode(b"9" * 32).decode()


@pytest.fixture
def database_url(demo_copy: DemoCopy) -> str:
    """The cast's world is built on this test's copy of the seeded demo clinic."""
    return demo_copy.url


def _seed(world: World) -> Engine:
    seed_every_kind_of_encrypted_value(
        world.ctx,
        admin=world.ada,
        therapist=world.alice,
        colleague=world.bob,
        newcomer=world.sam,
        client_id=world.sarah,
        episode_id=world.sarah_episode,
    )
    engine = world.ctx.session_factory.kw["bind"]
    assert isinstance(engine, Engine)
    return engine


def _context(world: World, clock: Clock, keys: str) -> ServiceContext:
    url = world.ctx.settings.effective_database_url
    engine = world.ctx.session_factory.kw["bind"]
    return ServiceContext.create(
        make_settings(url, encryption_keys=keys), engine=engine, clock=clock
    )


def test_every_encrypted_value_of_a_seeded_clinic_sits_in_a_registered_place(
    world: World,
) -> None:
    found = stored_encrypted_values(_seed(world))
    unregistered = sorted({f.place for f in found if f.field is None})
    assert unregistered == [], "encrypted values outside the registry (store/encrypted.py)"
    # Each decrypts with the field name registered for its place (so rotation, which uses
    # those names, can rewrite it).
    for f in found:
        assert f.field is not None
        world.ctx.cipher.decrypt(f.value, field=f.field)
    # The seed did reach every kind of place, the audit detail among those looked at.
    tables = Counter(f.place.split(".")[0] for f in found)
    assert {
        "clients",
        "goals",
        "responses",
        "alerts",
        "session_transcripts",
        "staff_users",
        "intake_requests",
        "match_decisions",
        "handover_notes",
    } <= tables.keys()


def test_after_rotation_no_value_needs_the_old_key_and_everything_reads_without_it(
    world: World, clock: Clock
) -> None:
    engine = _seed(world)
    old = world.ctx.cipher.active_key_id
    both = _context(world, clock, f"{NEW_KEY},{world.ctx.settings.encryption_keys}")
    counts = rotate_encryption(both)
    assert counts["intake_requests.intake_enc"] > 0
    assert counts["match_decisions.reasons_enc"] > 0
    assert counts["handover_notes.note_enc"] == 1

    cipher = FieldCipher.from_setting(NEW_KEY)
    keys_in_use = Counter(cipher.key_id_of(f.value) for f in stored_encrypted_values(engine))
    assert old not in keys_in_use
    assert set(keys_in_use) == {"k9"}
    assert all(count == 0 for count in rotate_encryption(both).values())

    only_new = _context(world, clock, NEW_KEY)
    queue = matching.matching_queue(only_new, actor=world.ada)
    assert sorted(p.contact_name for p in queue.proposals) == ["Ash", "Robin"]  # Robin held
    demo_admin = auth.actor_for_email(only_new, "admin@riverside.example")
    assert matching.matching_queue(only_new, actor=demo_admin).proposals
    with only_new.session_factory.begin() as session:
        note = session.scalars(select(HandoverNote)).one()
        text = only_new.cipher.decrypt(note.note_enc, field="audit.handover_note")
    assert text == "Agreed with the client on Monday."


def _raw_dump(world: World) -> str:
    parts: list[str] = []
    with transaction(world.ctx.session_factory) as session:
        for table in ("clients", "goals", "responses", "alerts", "staff_users"):
            for row in session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                parts.append(" ".join(map(str, row)))
    return "\n".join(parts)


def test_encrypted_columns_are_not_plaintext_in_the_raw_database(
    world: World, clock: Clock
) -> None:
    seed_goal_and_check_ins(world, clock)
    dump = _raw_dump(world)
    for secret in (COMMENT, GOAL, "sarah@mail.example"):
        assert secret not in dump
    assert "Sarah" in dump  # the pseudonymous display name is not encrypted, by design
