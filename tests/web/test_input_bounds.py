"""Inputs at and beyond the bounds every route shares (``alliance.web.schemas``): ids beyond
64 bits, lone surrogates, NUL and over-long text, booleans posing as ids, bodies that are not
JSON. Each answer is a 4xx that says what is wrong, never a 500, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from webworld import World, build_world, csrf_from, full_answers, login

from alliance.web.app import iter_routes
from alliance.web.schemas import ID_MAX
from alliance.web.security import CSRF_HEADER

BEYOND_64_BITS = 99_999_999_999_999_999_999
OUT_OF_RANGE = (BEYOND_64_BITS, 2**63, ID_MAX + 1, 0, -1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        yield build_world(tmp_path, intake_rate_limit=10_000)
    else:
        url = str(request.getfixturevalue("postgres_database_url"))
        yield build_world(tmp_path, database_url=url, intake_rate_limit=10_000)


def _client(world: World) -> TestClient:
    # A 500 must show up as a status here, not as the server's exception re-raised.
    return TestClient(world.app, raise_server_exceptions=False)


def _signed_in(world: World, who: str = "ada") -> tuple[TestClient, str]:
    client = _client(world)
    login(client, world.people[who].email)
    return client, csrf_from(client.get("/account").text)


def _bearer(world: World, who: str = "ada") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.token(who)}"}


def int_path_routes(world: World) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path, int parameters, other parameters) of every route with an int in its path."""
    found = []
    for info in iter_routes(world.app):
        route = info.route
        if not isinstance(route, APIRoute):
            continue
        params = route.dependant.path_params
        ints = [p.name for p in params if p.field_info.annotation is int]
        others = [p.name for p in params if p.field_info.annotation is not int]
        if ints:
            found.extend((method, info.path, ints, others) for method in sorted(info.methods))
    return found


def test_the_route_walk_finds_the_routes_with_ids(world: World) -> None:
    paths = {path for _, path, _, _ in int_path_routes(world)}
    assert {
        "/intake/{clinic_id}",
        "/clients/{client_id}",
        "/clients/{client_id}/sessions/{session_id}",
        "/transcripts/{transcript_id}",
        "/api/v1/alerts/{alert_id}",
        "/api/v1/matching/episodes/{episode_id}/handover",
    } <= paths


def test_every_id_in_every_path_beyond_the_databases_range_is_not_found(
    any_world: World,
) -> None:
    world = any_world
    pages, csrf = _signed_in(world)
    api = _bearer(world)
    anonymous = _client(world)
    answers: dict[str, int] = {}
    for method, path, ints, others in int_path_routes(world):
        for wrong in OUT_OF_RANGE:
            for name in ints:
                values = dict.fromkeys(ints, 1) | dict.fromkeys(others, "x") | {name: wrong}
                url = path.format(**values)
                if path.startswith("/api/"):
                    response = pages.request(method, url, headers=api, json={})
                else:
                    response = pages.request(
                        method, url, headers={CSRF_HEADER: csrf}, follow_redirects=False
                    )
                answers[f"{method} {url}"] = response.status_code
                unauthenticated = anonymous.request(method, url, follow_redirects=False)
                assert unauthenticated.status_code < 500, f"{method} {url} (anonymous)"
    wrong_answers = {call: status for call, status in answers.items() if status != 404}
    assert wrong_answers == {}
    assert len(answers) >= 4 * 30


def test_an_unauthenticated_intake_page_for_an_id_beyond_64_bits_is_not_found(
    any_world: World,
) -> None:
    response = _client(any_world).get(f"/intake/{BEYOND_64_BITS}")
    assert response.status_code == 404
    assert "nothing at this address" in response.text


def test_a_path_id_that_is_no_number_still_says_so(world: World) -> None:
    client, _ = _signed_in(world)
    response = client.get("/api/v1/alerts/abc", headers=_bearer(world))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "alert_id"


def _body_id_calls(world: World) -> list[tuple[str, str, dict[str, object], str]]:
    """(method, url, body, id field) for every JSON body that carries an id."""
    tom, bea = world.cases["tom"], world.cases["bea"]
    return [
        ("POST", "/api/v1/clients", {"display_name": "X", "therapist_id": None}, "therapist_id"),
        (
            "POST",
            f"/api/v1/clients/{tom.client_id}/checkin-links",
            {"session_id": None},
            "session_id",
        ),
        (
            "POST",
            "/api/v1/users",
            {
                "email": "new@example.org",
                "display_name": "New",
                "role": "therapist",
                "password": "a long enough password",
                "supervisor_id": None,
            },
            "supervisor_id",
        ),
        (
            "POST",
            f"/api/v1/users/{world.people['tess'].user_id}/team",
            {"supervisor_id": None},
            "supervisor_id",
        ),
        (
            "POST",
            f"/api/v1/matching/episodes/{tom.episode_id}/handover",
            {"therapist_id": None, "client_consented": True},
            "therapist_id",
        ),
        ("POST", "/api/v1/matching/intakes/1/decision", {"therapist_id": None}, "therapist_id"),
        (
            "POST",
            "/api/v1/intake",
            {"clinic_id": None, "contact_name": "C", "intake": {"concerns": ["anxiety"]}},
            "clinic_id",
        ),
        ("GET", f"/api/v1/clients/{bea.client_id}/timeline", {}, ""),
    ]


def test_an_id_in_a_body_beyond_64_bits_or_a_boolean_is_refused_with_422(
    any_world: World,
) -> None:
    world = any_world
    client = _client(world)
    headers = _bearer(world)
    for method, url, body, field in _body_id_calls(world):
        if not field:
            continue
        for wrong in (BEYOND_64_BITS, ID_MAX + 1, 0, True, "7", 1.5):
            response = client.request(method, url, headers=headers, json={**body, field: wrong})
            assert response.status_code == 422, (url, wrong, response.text)
            assert response.json()["errors"][0]["field"] == field


def test_a_true_supervisor_id_is_not_taken_as_user_1(world: World) -> None:
    client = _client(world)
    tess = world.people["tess"].user_id
    response = client.post(
        f"/api/v1/users/{tess}/team", headers=_bearer(world), json={"supervisor_id": True}
    )
    assert response.status_code == 422
    users = client.get("/api/v1/users", headers=_bearer(world)).json()
    assert next(u for u in users if u["id"] == tess)["supervisor_id"] is None


def test_a_true_therapist_id_does_not_hand_a_client_over(world: World) -> None:
    client = _client(world)
    episode = world.cases["tom"].episode_id
    response = client.post(
        f"/api/v1/matching/episodes/{episode}/handover",
        headers=_bearer(world, "tom"),
        json={"therapist_id": True, "client_consented": True},
    )
    assert response.status_code == 422
    caseload = client.get("/api/v1/caseload", headers=_bearer(world, "tom")).json()
    assert [row["display_name"] for row in caseload] == ["Tina"]


def test_an_id_in_a_body_within_range_but_unknown_is_a_4xx(any_world: World) -> None:
    # Just inside the bound; PostgreSQL's id columns are 32-bit, so this is the edge there.
    world = any_world
    client = _client(world)
    headers = _bearer(world)
    for method, url, body, field in _body_id_calls(world):
        if not field:
            continue
        response = client.request(method, url, headers=headers, json={**body, field: ID_MAX})
        assert 400 <= response.status_code < 500, (url, response.text)


def _raw_json(text: object) -> bytes:
    # json.dumps escapes a lone surrogate as \udc00, which is how a client sends one.
    return json.dumps(text).encode("ascii")


BAD_TEXTS = {
    "lone surrogate": ("x\udc00", "lone surrogate"),
    "NUL": ("x\x00y", "NUL"),
    "over-long": ("x" * 20_000, "at most"),
}


@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_goal_text_that_is_not_storable_text_is_refused_with_a_clear_422(
    any_world: World, kind: str
) -> None:
    world = any_world
    text, words = BAD_TEXTS[kind]
    response = _client(world).put(
        f"/api/v1/clients/{world.cases['tom'].client_id}/goals",
        headers={**_bearer(world, "tom"), "content-type": "application/json"},
        content=_raw_json({"goals": [text]}),
    )
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "goals.0"


def _free_text_bodies(world: World) -> list[tuple[str, str, dict[str, object], str]]:
    """(method, url, valid body, free-text field) of API bodies with text a person typed."""
    tom = world.cases["tom"]
    return [
        ("POST", "/api/v1/clients", {"display_name": "X"}, "display_name"),
        (
            "POST",
            "/api/v1/clients",
            {"display_name": "X", "contact_email": "a@b.c"},
            "contact_email",
        ),
        ("POST", f"/api/v1/alerts/{tom.alert_id}/acknowledge", {"note": "ok"}, "note"),
        (
            "POST",
            "/api/v1/users",
            {
                "email": "n@example.org",
                "display_name": "N",
                "role": "therapist",
                "password": "a long enough password",
            },
            "password",
        ),
        (
            "POST",
            "/api/v1/intake",
            {"contact_name": "C", "intake": {"concerns": ["anxiety"]}},
            "contact_name",
        ),
        ("POST", "/api/v1/matching/intakes/1/decision", {"note": "n"}, "note"),
    ]


@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_every_free_text_field_of_the_api_refuses_what_is_not_storable_text(
    any_world: World, kind: str
) -> None:
    world = any_world
    client = _client(world)
    headers = {**_bearer(world), "content-type": "application/json"}
    text = BAD_TEXTS[kind][0]
    for method, url, body, field in _free_text_bodies(world):
        response = client.request(
            method, url, headers=headers, content=_raw_json({**body, field: text})
        )
        assert response.status_code == 422, (url, field, response.text)
        assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("kind", ["lone surrogate", "NUL"])
def test_free_form_json_bodies_refuse_bad_text_anywhere_inside(any_world: World, kind: str) -> None:
    world = any_world
    client = _client(world)
    headers = {**_bearer(world), "content-type": "application/json"}
    text = BAD_TEXTS[kind][0]
    intake = {"contact_name": "C", "intake": {"concerns": ["anxiety"], "insurer": text}}
    response = client.post("/api/v1/intake", headers=headers, content=_raw_json(intake))
    assert response.status_code == 422, response.text
    assert "intake: insurer" in response.json()["detail"]
    profile = {"languages": [text]}
    response = client.put("/api/v1/matching/profile", headers=headers, content=_raw_json(profile))
    assert response.status_code == 422, response.text


def test_free_form_json_bodies_refuse_numbers_beyond_64_bits_and_deep_nesting(
    world: World,
) -> None:
    client = _client(world)
    headers = _bearer(world)
    big = {"capacity": {"new_per_week": BEYOND_64_BITS}}
    response = client.put("/api/v1/matching/profile", headers=headers, json=big)
    assert response.status_code == 422
    assert "capacity.new_per_week" in response.json()["detail"]
    deep: dict[str, object] = {}
    node = deep
    for _ in range(20):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    response = client.put("/api/v1/matching/profile", headers=headers, json=deep)
    assert response.status_code == 422
    assert "nested" in response.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("display_name", "x\x00y"), ("display_name", "x" * 201), ("contact_email", "a\x00@b.c")],
)
def test_page_forms_refuse_nul_and_over_long_text(any_world: World, field: str, value: str) -> None:
    world = any_world
    client, csrf = _signed_in(world, "tom")
    data = {"display_name": "Pat", "csrf_token": csrf, field: value}
    response = client.post("/clients", data=data, follow_redirects=False)
    assert response.status_code == 422, response.text[:300]
    assert field in response.text


def test_goal_forms_on_the_client_page_refuse_nul(any_world: World) -> None:
    world = any_world
    client, csrf = _signed_in(world, "tom")
    response = client.post(
        f"/clients/{world.cases['tom'].client_id}/goals",
        data={"goal": "Sleep\x00well", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 422
    assert "NUL" in response.text


def test_a_token_name_with_nul_is_refused(any_world: World) -> None:
    client, csrf = _signed_in(any_world, "tom")
    response = client.post(
        "/account/tokens", data={"name": "x\x00", "csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 422


def test_the_public_intake_page_refuses_nul_in_a_field(any_world: World) -> None:
    world = any_world
    client = _client(world)
    clinic = world.cases["tom"].clinic_id
    csrf = csrf_from(client.get(f"/intake/{clinic}").text)
    response = client.post(
        f"/intake/{clinic}",
        data={"contact_name": "Al\x00ex", "concern_main": "anxiety", "csrf_token": csrf},
    )
    assert response.status_code == 422
    assert "NUL" in response.text


@pytest.mark.parametrize(
    "body", [b"{bad", b"\xff\xfe", b"[" * 100_000, b'{"goals": ["a"]'], ids=repr
)
def test_a_body_that_is_not_json_is_a_documented_400(world: World, body: bytes) -> None:
    response = _client(world).put(
        f"/api/v1/clients/{world.cases['tom'].client_id}/goals",
        headers={**_bearer(world, "tom"), "content-type": "application/json"},
        content=body,
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "The request body is not valid JSON."}


def test_the_clinic_settings_form_refuses_nul_in_the_crisis_message(any_world: World) -> None:
    world = any_world
    client, _ = _signed_in(world, "ada")
    csrf = csrf_from(client.get("/admin/settings").text)
    form = {
        "crisis_message": "Call us\x00 now",
        "instruments.alliance": "wai_sr",
        "instruments.outcome": "phq9",
        "instruments.feedback": "session_feedback",
        "csrf_token": csrf,
    }
    response = client.post("/admin/settings", data=form, follow_redirects=False)
    assert response.status_code == 422
    assert "crisis_message" in response.text


def test_a_check_in_answer_with_nul_is_shown_again_and_the_link_still_works(
    any_world: World,
) -> None:
    world = any_world
    visitor = _client(world)
    token = world.cases["tom"].link_token
    page = visitor.get(f"/c/{token}").text
    answers = full_answers(page, pick="last")
    comment = "session_feedback/sf_comment"
    assert comment in page
    refused = visitor.post(f"/c/{token}", data={**answers, comment: "good\x00"})
    assert refused.status_code == 422
    assert "NUL" in refused.text
    accepted = visitor.post(f"/c/{token}", data={**answers, comment: "good"})
    assert accepted.status_code == 200
