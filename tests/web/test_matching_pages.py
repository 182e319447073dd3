"""Matching pages: public intake (rate-limited), admin queue with reasons and decisions,
the therapist's matching profile editor, and the JSON API."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from webworld import World, build_world, csrf_from, form_fields

from alliance.services import matching

INTAKE = {
    "contact_name": "Robin",
    "concern_main": "grief",
    "concerns_other": "sleep",
    "languages": "Spanish, English",
    "modes": "video",
    "avail": "mon-morning",
    "style_words": "mostly listens",
    "style_importance": "prefer",
    "consent": "yes",
}


def _profile(world: World, who: str, **over: object) -> None:
    data: dict[str, object] = {
        "modalities": ["person_centred"],
        "styles": {"supportive": 3},
        "specialties": ["grief"],
        "languages": ["english"],
        "age_groups": ["adult"],
        "modes": ["video"],
        "availability": ["mon 09:00-12:00"],
        "capacity": {"new_per_week": 1, "caseload_limit": 20},
        "fee": 70,
    }
    data.update(over)
    matching.save_profile(world.ctx, actor=world.people[who].actor, profile=data)


def _clinic(world: World) -> int:
    return world.cases["tom"].clinic_id


def test_the_public_intake_form_needs_no_account_and_thanks_the_client(world: World) -> None:
    http = world.client()
    page = http.get(f"/intake/{_clinic(world)}")
    assert page.status_code == 200
    assert 'name="consent"' in page.text
    assert "mostly listens" in page.text  # the plain-word examples come from the vocabulary
    done = http.post(
        f"/intake/{_clinic(world)}", data={**INTAKE, "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 200
    assert "Thank you" in done.text
    queue = matching.matching_queue(world.ctx, actor=world.people["ada"].actor)
    [proposal] = queue.proposals
    assert proposal.concerns == ("grief", "sleep")
    assert any("mostly listens" in w for w in proposal.wishes)


def test_a_bad_intake_is_shown_again_with_the_problem(world: World) -> None:
    http = world.client()
    page = http.get(f"/intake/{_clinic(world)}")
    bad = {**INTAKE, "style_words": "purple elephants", "csrf_token": csrf_from(page.text)}
    again = http.post(f"/intake/{_clinic(world)}", data=bad)
    assert again.status_code == 422
    assert "Cannot tell a relationship style" in again.text
    assert 'value="Robin"' in again.text  # what the client typed is kept
    no_consent = {k: v for k, v in INTAKE.items() if k != "consent"}
    refused = http.post(
        f"/intake/{_clinic(world)}", data={**no_consent, "csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 422
    assert "agree" in refused.text


def test_a_bad_intake_lists_every_problem_by_the_forms_own_labels(world: World) -> None:
    http = world.client()
    page = http.get(f"/intake/{_clinic(world)}")
    bad = {k: v for k, v in INTAKE.items() if k != "consent"}
    bad.update(contact_name=" ", contact_email="robin@", style_words="purple elephants")
    again = http.post(f"/intake/{_clinic(world)}", data={**bad, "csrf_token": csrf_from(page.text)})
    assert again.status_code == 422
    text = html.unescape(again.text)
    box = text[
        text.index('<div class="problems"') : text.index(
            "</div>", text.index('<div class="problems"')
        )
    ]
    items = re.findall(r'<li><a href="#([^"]+)">([^<]+)</a>: ([^<]+)</li>', box)
    assert [(anchor, label) for anchor, label, _ in items] == [
        ("f-name", "What should we call you?"),
        ("f-email", "E-mail"),
        ("f-style", "How your therapist should work with you"),
        ("f-consent", "Your agreement"),
    ]
    assert "Cannot tell a relationship style" in items[2][2]
    for raw in ("contact_name", "contact_email", "preferences[0]", "Value error"):
        assert raw not in box
    assert 'id="f-consent"' in text
    assert matching.matching_queue(world.ctx, actor=world.people["ada"].actor).proposals == ()


def test_the_intake_takes_a_phone_number_and_the_admin_sees_how_to_reach_the_client(
    world: World,
) -> None:
    http = world.client()
    page = http.get(f"/intake/{_clinic(world)}")
    assert 'type="tel" id="f-phone" name="contact_phone"' in page.text
    contact = {"contact_email": "robin@example.org", "contact_phone": "+44 20 7946 0958"}
    bad = http.post(
        f"/intake/{_clinic(world)}",
        data={**INTAKE, **contact, "contact_phone": "ring me", "csrf_token": csrf_from(page.text)},
    )
    assert bad.status_code == 422
    assert '<a href="#f-phone">Phone</a>' in bad.text
    assert 'value="ring me"' in bad.text
    done = http.post(
        f"/intake/{_clinic(world)}", data={**INTAKE, **contact, "csrf_token": csrf_from(page.text)}
    )
    assert done.status_code == 200
    queue = world.login("ada").get("/admin/matching").text
    assert '<a href="mailto:robin@example.org">robin@example.org</a>' in queue
    assert '<a href="tel:+442079460958">+44 20 7946 0958</a>' in queue
    api = world.client().get(
        "/api/v1/matching/queue", headers={"Authorization": f"Bearer {world.token('ada')}"}
    )
    [proposal] = api.json()["proposals"]
    assert (proposal["contact_email"], proposal["contact_phone"]) == (
        "robin@example.org",
        "+44 20 7946 0958",
    )


def test_intake_submissions_are_rate_limited(tmp_path: Path) -> None:
    world = build_world(tmp_path, intake_rate_limit=2)
    http = world.client()
    token = csrf_from(http.get(f"/intake/{_clinic(world)}").text)
    codes = [
        http.post(f"/intake/{_clinic(world)}", data={**INTAKE, "csrf_token": token}).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]


def test_the_admin_queue_shows_proposals_with_reasons_and_records_a_decision(
    world: World,
) -> None:
    _profile(world, "tom", languages=["english", "spanish"])
    _profile(world, "tess", styles={"directive": 3}, specialties=[])
    intake_id = matching.submit_intake(
        world.ctx,
        clinic_id=_clinic(world),
        intake={
            "concerns": ["grief"],
            "languages": ["spanish"],
            "consent": True,
            "preferences": [{"attribute": "style", "values": "mostly listens"}],
        },
        contact_name="Lola",
    )
    admin = world.login("ada")
    page = admin.get("/admin/matching")
    assert page.status_code == 200
    assert "Proposed: Tom" in page.text
    assert "mostly listens and supports, as the client asked" in page.text
    assert "specialises in grief" in page.text
    placed = admin.post(
        f"/admin/matching/{intake_id}/decision",
        data={
            "therapist_id": str(world.people["tom"].user_id),
            "note": "",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert placed.status_code == 303
    assert placed.headers["location"] == "/admin/matching?decided=accepted"
    tom = world.login("tom")
    assert "Lola" in tom.get("/caseload").text


def test_a_refused_override_is_explained_beside_the_field_and_keeps_the_note(
    world: World,
) -> None:
    _profile(world, "tom", languages=["english", "spanish"])
    _profile(world, "tess")  # English only
    intake = {
        "concerns": ["grief"],
        "languages": ["spanish"],
        "consent": True,
        "preferences": [{"attribute": "style", "values": "mostly listens", "importance": "must"}],
    }
    intake_id = matching.submit_intake(
        world.ctx, clinic_id=_clinic(world), intake=intake, contact_name="Lola"
    )
    _profile(world, "tess", styles={"directive": 3})
    admin = world.login("ada")
    page = admin.get("/admin/matching")
    tess = str(world.people["tess"].user_id)
    url = f"/admin/matching/{intake_id}/decision"
    note = "Tess knows the family"
    refused = admin.post(
        url, data={"therapist_id": tess, "note": note, "csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    error = re.findall(
        rf'<p class="field-error" role="alert" id="t-{intake_id}-error">([^<]+)</p>', text
    )
    assert len(error) == 1  # once, beside the therapist field
    assert "Tess speaks none of the client's languages" in error[0]
    assert "does not meet the client's must-have: relationship style" in error[0]
    assert "must:" not in text
    assert "<h1>Matching queue</h1>" in text  # the queue, not an error page
    assert f'value="{note}"' in text  # the note is kept
    assert f'<option value="{tess}" selected>' in text  # and the choice
    # Without a note the note field says what is missing.
    no_note = admin.post(url, data={"therapist_id": tess, "csrf_token": csrf_from(refused.text)})
    assert no_note.status_code == 422
    assert f'id="n-{intake_id}-error"' in no_note.text
    # Confirming the override places the client.
    forced = admin.post(
        url,
        data={"therapist_id": tess, "note": note, "force": "yes", "csrf_token": csrf_from(text)},
        follow_redirects=False,
    )
    assert forced.headers["location"] == "/admin/matching?decided=override"


def test_a_therapist_can_only_reach_their_own_matching_profile(world: World) -> None:
    tom = world.login("tom")
    page = tom.get("/profile/matching")
    assert page.status_code == 200
    assert "no profile yet" in page.text
    saved = tom.post(
        "/profile/matching",
        data={
            "csrf_token": csrf_from(page.text),
            "modalities": ["cbt", "act"],
            "style_collaborative": "4",
            "style_directive": "2",
            "specialties": "anxiety",
            "languages": "English, Welsh",
            "age_groups": "adult",
            "modes": "video",
            "availability": "tue 17:00-20:00\nthu 09:00-12:00",
            "new_per_week": "2",
            "caseload_limit": "25",
            "fee": "85",
            "accepting_new": "yes",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    view = matching.get_profile(world.ctx, actor=world.people["tom"].actor)
    assert view.profile["languages"] == ["english", "welsh"]
    assert view.profile["identity"] == {}  # nothing shared unless entered
    again = tom.get("/profile/matching")
    assert "tue 17:00-20:00" in again.text
    bad = tom.post(
        "/profile/matching",
        data={"csrf_token": csrf_from(again.text), "languages": "English"},
    )
    assert bad.status_code == 422
    assert "modalities" in bad.text


def test_a_saved_profile_shows_one_slot_a_line_and_saves_again_unchanged(world: World) -> None:
    _profile(world, "tom", availability=["mon 09:00-17:00", "wed 10:00-12:30"])
    before = matching.get_profile(world.ctx, actor=world.people["tom"].actor).profile
    tom = world.login("tom")
    page = tom.get("/profile/matching")
    fields = form_fields(page.text, "/profile/matching")
    assert fields["availability"] == ["mon 09:00-17:00\nwed 10:00-12:30"]
    again = tom.post(
        "/profile/matching",
        data=form_fields(page.text, "/profile/matching"),
        follow_redirects=False,
    )
    assert again.status_code == 303, again.text[-600:]
    after = matching.get_profile(world.ctx, actor=world.people["tom"].actor).profile
    assert after["availability"] == before["availability"]


def test_a_profile_error_reads_as_words_not_as_a_pydantic_prefix(world: World) -> None:
    tom = world.login("tom")
    page = tom.get("/profile/matching")
    data = form_fields(
        page.text,
        "/profile/matching",
        modalities="cbt",
        style_collaborative="3",
        availability="someday",
    )
    bad = tom.post("/profile/matching", data=data)
    assert bad.status_code == 422
    assert "Value error" not in bad.text
    assert "is not like" in bad.text


def test_an_admin_edits_a_therapists_profile_and_the_edit_is_audited(world: World) -> None:
    from sqlalchemy import select

    from alliance.store.db import transaction
    from alliance.store.models import AuditEvent

    _profile(world, "tom")
    tom_id = world.people["tom"].user_id
    ada = world.login("ada")
    users = ada.get("/admin/users")
    assert f'href="/admin/users/{tom_id}/matching-profile"' in users.text
    url = f"/admin/users/{tom_id}/matching-profile"
    page = ada.get(url)
    assert page.status_code == 200
    assert "Tom's matching profile" in page.text
    saved = ada.post(url, data=form_fields(page.text, url, fee="95"), follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == url + "?saved=1"
    assert matching.get_profile(world.ctx, actor=world.people["tom"].actor).profile["fee"] == 95
    with transaction(world.ctx.session_factory) as session:
        writes = session.scalars(
            select(AuditEvent).where(
                AuditEvent.entity_type == "matching_profile", AuditEvent.action == "write"
            )
        ).all()
    assert [(e.actor_id, e.entity_id) for e in writes][-1] == (
        world.people["ada"].user_id,
        str(tom_id),
    )
    # A therapist cannot reach a colleague's profile this way; another clinic's admin neither.
    assert world.login("tess").get(url).status_code == 403
    assert world.login("bob").get(url).status_code == 404


def test_the_api_takes_intakes_and_decisions(world: World) -> None:
    _profile(world, "tom")
    http = world.client()
    admin = {"Authorization": f"Bearer {world.token('ada')}"}
    created = http.post(
        "/api/v1/intake",
        json={
            "contact_name": "Robin",
            "intake": {"concerns": ["grief"], "languages": ["english"], "consent": True},
        },
        headers=admin,
    )
    assert created.status_code == 201
    intake_id = created.json()["id"]
    queue = http.get("/api/v1/matching/queue", headers=admin).json()
    [proposal] = queue["proposals"]
    assert proposal["proposed"]["therapist_id"] == world.people["tom"].user_id
    bad = http.post(
        "/api/v1/intake",
        json={"contact_name": "R", "intake": {"concerns": [], "languages": ["english"]}},
        headers=admin,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "concerns"
    decided = http.post(
        f"/api/v1/matching/intakes/{intake_id}/decision",
        json={"therapist_id": world.people["tom"].user_id},
        headers=admin,
    )
    assert decided.status_code == 200
    assert decided.json()["decision"] == "accepted"
    alternatives = http.get(
        f"/api/v1/matching/episodes/{decided.json()['episode_id']}/alternatives", headers=admin
    )
    assert alternatives.status_code == 200
    assert world.people["tom"].user_id not in [m["therapist_id"] for m in alternatives.json()]


def test_an_unknown_clinic_has_no_intake_form(world: World) -> None:
    assert world.client().get("/intake/9999").status_code == 404
    page = world.client().get(f"/intake/{_clinic(world)}")
    assert "Clinic A" in page.text


PUBLIC_INTAKE = {
    "contact_name": "Robin",
    "contact_email": "robin@example.org",
    "intake": {"concerns": ["grief"], "languages": ["english"], "consent": True},
}


def test_anyone_may_send_an_intake_as_json_without_an_account_and_it_is_stored_encrypted(
    world: World,
) -> None:
    from sqlalchemy import select

    from alliance.store.db import transaction
    from alliance.store.matching_tables import IntakeRequest

    _profile(world, "tom")
    created = world.client().post(
        "/api/v1/intake", json={**PUBLIC_INTAKE, "clinic_id": _clinic(world)}
    )
    assert created.status_code == 201, created.text
    intake_id = created.json()["id"]
    with transaction(world.ctx.session_factory) as session:
        row = session.scalars(select(IntakeRequest).where(IntakeRequest.id == intake_id)).one()
        stored = " ".join([row.intake_enc, row.contact_name_enc, row.contact_email_enc or ""])
        assert (row.clinic_id, row.source, row.status) == (_clinic(world), "form", "waiting")
    for plain in ("grief", "Robin", "robin@example.org"):
        assert plain not in stored
    queue = matching.matching_queue(world.ctx, actor=world.people["ada"].actor)
    assert [p.contact_name for p in queue.proposals if p.intake_id == intake_id] == ["Robin"]


def test_an_anonymous_json_intake_must_name_an_existing_clinic(world: World) -> None:
    http = world.client()
    missing = http.post("/api/v1/intake", json=PUBLIC_INTAKE)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "clinic_id"
    assert http.post("/api/v1/intake", json={**PUBLIC_INTAKE, "clinic_id": 9999}).status_code == 404


def test_an_intake_with_a_session_cookie_or_not_sent_as_json_still_needs_the_csrf_token(
    world: World,
) -> None:
    body = {**PUBLIC_INTAKE, "clinic_id": _clinic(world)}
    logged_in = world.login("tom")
    refused = logged_in.post("/api/v1/intake", json=body)
    assert refused.status_code == 403
    assert "security token" in refused.text
    as_text = world.client().post(
        "/api/v1/intake", content=json.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert as_text.status_code == 403
    assert matching.matching_queue(world.ctx, actor=world.people["ada"].actor).proposals == ()


def test_anonymous_json_intakes_are_rate_limited_per_address(tmp_path: Path) -> None:
    world = build_world(tmp_path, intake_rate_limit=2)
    http = world.client()
    body = {**PUBLIC_INTAKE, "clinic_id": _clinic(world)}
    codes = [http.post("/api/v1/intake", json=body).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    # A staff token is a credential of its own and is not counted against the address.
    staff = {"Authorization": f"Bearer {world.token('ada')}"}
    assert http.post("/api/v1/intake", json=PUBLIC_INTAKE, headers=staff).status_code == 201
