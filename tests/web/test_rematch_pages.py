"""The fit-and-change page: alternatives for an episode whose fit is ending (the current
therapist left out) and the hand-over form, which needs the client's consent."""

from __future__ import annotations

import re

from sqlalchemy import select
from webworld import World, csrf_from

from alliance.services import admin, matching
from alliance.store.db import transaction
from alliance.store.models import Episode

PROFILE: dict[str, object] = {
    "modalities": ["cbt"],
    "styles": {"collaborative": 3},
    "specialties": ["anxiety"],
    "languages": ["english"],
    "age_groups": ["adult"],
    "modes": ["video"],
    "availability": ["mon 09:00-17:00"],
    "capacity": {"new_per_week": 2, "caseload_limit": 20},
    "fee": 60,
}


def _matched_episode(world: World) -> int:
    """A client who came in through matching and was placed with Tom (Tess also matchable)."""
    for who in ("tom", "tess"):
        matching.save_profile(world.ctx, actor=world.people[who].actor, profile=PROFILE)
    intake_id = matching.submit_intake(
        world.ctx,
        clinic_id=world.cases["tom"].clinic_id,
        intake={"concerns": ["anxiety"], "languages": ["english"], "consent": True},
        contact_name="Robin",
    )
    decision = matching.decide(
        world.ctx,
        actor=world.people["ada"].actor,
        intake_id=intake_id,
        therapist_id=world.people["tom"].user_id,
        note="",
    )
    assert decision.episode_id is not None
    return decision.episode_id


def _episode(world: World, episode_id: int) -> tuple[str | None, int]:
    with transaction(world.ctx.session_factory) as session:
        row = session.get(Episode, episode_id)
        assert row is not None
        return row.end_reason, row.therapist_id


def _episodes_of(world: World, episode_id: int) -> list[tuple[int, str | None]]:
    with transaction(world.ctx.session_factory) as session:
        row = session.get(Episode, episode_id)
        assert row is not None
        others = session.scalars(select(Episode).where(Episode.client_id == row.client_id))
        return sorted((e.therapist_id, e.end_reason) for e in others)


def _therapist_field(user_id: int) -> str:
    return f'name="therapist_id" value="{user_id}"'


def test_the_therapist_sees_alternatives_without_themself(world: World) -> None:
    episode_id = _matched_episode(world)
    tom = world.login("tom")
    client_id = world.cases["tom"].client_id
    assert (
        f"/episodes/{world.cases['tom'].episode_id}/rematch"
        in tom.get(f"/clients/{client_id}").text
    )  # the client page links to it
    page = tom.get(f"/episodes/{episode_id}/rematch?detail=style_mismatch")
    assert page.status_code == 200
    assert _therapist_field(world.people["tess"].user_id) in page.text
    assert _therapist_field(world.people["tom"].user_id) not in page.text
    assert 'name="client_consented"' in page.text
    assert 'value="style_mismatch" selected' in page.text


def test_a_handover_with_consent_ends_for_fit_and_continues_with_the_colleague(
    world: World,
) -> None:
    episode_id = _matched_episode(world)
    tom = world.login("tom")
    page = tom.get(f"/episodes/{episode_id}/rematch")
    tess_id = world.people["tess"].user_id
    # From an intake the fit is scored (Tess specialises in the client's concern).
    assert re.search(r"\(fit (?!0\.00)\d+\.\d\d\)", page.text), "no fit score above 0"
    assert "no fit score" not in page.text
    done = tom.post(
        f"/episodes/{episode_id}/handover",
        data={
            "therapist_id": str(tess_id),
            "client_consented": "yes",
            "detail": "client_request",
            "note": "talked it through on Monday",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/caseload?flash=handedover"
    assert "Handed over" in tom.get(done.headers["location"]).text
    assert _episode(world, episode_id) == ("fit", world.people["tom"].user_id)
    assert _episodes_of(world, episode_id) == sorted(
        [(world.people["tom"].user_id, "fit"), (tess_id, None)]
    )


def test_without_consent_nothing_changes_and_the_field_is_named(world: World) -> None:
    episode_id = _matched_episode(world)
    tom = world.login("tom")
    page = tom.get(f"/episodes/{episode_id}/rematch")
    refused = tom.post(
        f"/episodes/{episode_id}/handover",
        data={
            "therapist_id": str(world.people["tess"].user_id),
            "note": "",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert refused.status_code == 422
    assert "client_consented" in refused.text
    assert _episodes_of(world, episode_id) == [(world.people["tom"].user_id, None)]


def test_it_rejects_an_unknown_fit_detail_and_names_the_field(world: World) -> None:
    episode_id = _matched_episode(world)
    tom = world.login("tom")
    page = tom.get(f"/episodes/{episode_id}/rematch")
    refused = tom.post(
        f"/episodes/{episode_id}/handover",
        data={
            "therapist_id": str(world.people["tess"].user_id),
            "client_consented": "yes",
            "detail": "bored",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert refused.status_code == 422
    assert "detail" in refused.text
    assert "client_request" in refused.text
    assert _episodes_of(world, episode_id) == [(world.people["tom"].user_id, None)]


def test_another_therapists_episode_is_not_found(world: World) -> None:
    episode_id = _matched_episode(world)
    tess = world.login("tess")
    assert tess.get(f"/episodes/{episode_id}/rematch").status_code == 404
    page = tess.get("/caseload")
    stolen = tess.post(
        f"/episodes/{episode_id}/handover",
        data={
            "therapist_id": str(world.people["tess"].user_id),
            "client_consented": "yes",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert stolen.status_code == 404
    assert _episodes_of(world, episode_id) == [(world.people["tom"].user_id, None)]


def test_a_client_without_an_intake_gets_alternatives_with_a_caveat(world: World) -> None:
    for who in ("tom", "tess"):
        matching.save_profile(world.ctx, actor=world.people[who].actor, profile=PROFILE)
    tom = world.login("tom")
    episode_id = world.cases["tom"].episode_id
    page = tom.get(f"/episodes/{episode_id}/rematch")
    assert page.status_code == 200
    assert "No intake on file: ranked without the client" in page.text
    # Nothing to score a fit on: the page says so instead of "fit 0.00" for everyone.
    assert "fit 0.00" not in page.text
    assert "(no fit score)" in page.text
    assert 'id="no-fit-score"' in page.text
    assert _therapist_field(world.people["tess"].user_id) in page.text
    assert _therapist_field(world.people["tom"].user_id) not in page.text
    tess_id = world.people["tess"].user_id
    done = tom.post(
        f"/episodes/{episode_id}/handover",
        data={
            "therapist_id": str(tess_id),
            "client_consented": "yes",
            "detail": "client_request",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _episodes_of(world, episode_id) == sorted(
        [(world.people["tom"].user_id, "fit"), (tess_id, None)]
    )


def test_a_handover_to_a_deactivated_or_other_clinics_colleague_is_refused_and_changes_nothing(
    world: World,
) -> None:
    episode_id = _matched_episode(world)
    tess_id, bea_id = world.people["tess"].user_id, world.people["bea"].user_id  # bea: clinic B
    admin.deactivate_user(world.ctx, actor=world.people["ada"].actor, user_id=tess_id)
    tom = world.login("tom")
    page = tom.get("/caseload")
    for colleague, why in ((tess_id, "deactivated"), (bea_id, "no active therapist")):
        refused = tom.post(
            f"/episodes/{episode_id}/handover",
            data={
                "therapist_id": str(colleague),
                "client_consented": "yes",
                "note": "talked it through",
                "csrf_token": csrf_from(page.text),
            },
        )
        assert refused.status_code == 422
        assert why in refused.text
        assert "therapist_id" in refused.text
        api = tom.post(
            f"/api/v1/matching/episodes/{episode_id}/handover",
            json={"therapist_id": colleague, "client_consented": True},
            headers={"Authorization": f"Bearer {world.token('tom')}"},
        )
        assert api.status_code == 422
        assert why in api.text
    assert _episodes_of(world, episode_id) == [(world.people["tom"].user_id, None)]
