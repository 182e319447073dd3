"""Every encrypted value the app stores is in a registered place, and key rotation reaches all
of them: seeded with the demo clinic plus one of every kind of encrypted value, on SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
from collections import Counter

from clinic_world import Clock, World, make_settings
from sqlalchemy import Engine, select

from alliance.demo import seed_demo
from alliance.services import auth, matching
from alliance.services.context import ServiceContext
from alliance.services.keys import rotate_encryption
from alliance.store.crypto import FieldCipher
from alliance.store.matching_tables import HandoverNote
from encrypted_values import seed_every_kind_of_encrypted_value, stored_encrypted_values

NEW_KEY = "k9:" + base64.urlsafe_b64encode(b"9" * 32).decode()


def _seed(world: World) -> Engine:
    seed_demo(world.ctx.session_factory, world.ctx.settings)
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


def test_erasing_a_client_who_came_through_matching_removes_their_intake_and_notes(
    world: World,
) -> None:
    from alliance.services import exports
    from alliance.store.matching_tables import IntakeRequest, MatchDecision
    from encrypted_values import INTAKE, PROFILE

    matching.save_profile(world.ctx, actor=world.bob, profile=PROFILE)
    intake_id = matching.submit_intake(
        world.ctx,
        clinic_id=world.north,
        intake=INTAKE,
        contact_name="Robin",
        contact_email="robin@mail.example",
    )
    placed = matching.decide(
        world.ctx, actor=world.ada, intake_id=intake_id, therapist_id=world.bob.user_id, force=True
    )
    assert placed.client_id is not None
    assert placed.episode_id is not None
    matching.hand_over(
        world.ctx,
        actor=world.bob,
        episode_id=placed.episode_id,
        therapist_id=world.alice.user_id,
        client_consented=True,
        note="Robin asked for someone else.",
    )
    receipt = exports.erase_client(world.ctx, actor=world.ada, client_id=placed.client_id)
    assert receipt.deleted["intake_requests"] == 1
    assert receipt.deleted["match_decisions"] == 1
    assert receipt.deleted["handover_notes"] == 1
    with world.ctx.session_factory.begin() as session:
        assert session.scalars(select(IntakeRequest)).all() == []
        assert session.scalars(select(MatchDecision)).all() == []
        assert session.scalars(select(HandoverNote)).all() == []
