"""The OpenAPI document tells the truth and can be fetched: every JSON operation documents
every error it can answer (in the one error shape the app sends), ids are bounded integers,
and a client holding a token can read the document (and the login page) without a redirect
loop."""

from __future__ import annotations

from typing import Any

from webworld import World

from alliance.web.schemas import ID_MAX

API_ERROR_STATUSES = {"400", "401", "403", "404", "409", "422", "429"}


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_the_login_page_answers_a_request_that_carries_an_authorization_header(
    world: World,
) -> None:
    client = world.client()
    for header in (f"Bearer {world.token('tom')}", "Bearer nonsense", "Basic dXNlcjpwdw=="):
        response = client.get("/login", headers={"Authorization": header}, follow_redirects=False)
        assert response.status_code == 200, header


def test_a_page_asked_for_with_a_token_sends_to_the_login_page_once(world: World) -> None:
    client = world.client()
    headers = {"Authorization": f"Bearer {world.token('tom')}"}
    response = client.get("/caseload", headers=headers)
    assert response.status_code == 200
    assert [r.headers["location"] for r in response.history] == ["/login"]
    assert 'name="password"' in response.text


def test_a_token_does_not_open_a_page(world: World) -> None:
    headers = {"Authorization": f"Bearer {world.token('tom')}"}
    response = world.client().get("/caseload", headers=headers, follow_redirects=False)
    assert response.status_code == 303


def test_the_openapi_document_is_served_with_and_without_a_token(world: World) -> None:
    client = world.client()
    plain = client.get("/openapi.json", follow_redirects=False)
    with_token = client.get(
        "/openapi.json",
        headers={"Authorization": f"Bearer {world.token('ada')}"},
        follow_redirects=False,
    )
    assert plain.status_code == with_token.status_code == 200
    assert plain.json() == with_token.json()
    assert "/api/v1/matching/episodes/{episode_id}/handover" in plain.json()["paths"]


def test_every_api_operation_documents_each_error_it_can_answer(world: World) -> None:
    schema = world.app.openapi()
    missing = {
        f"{method.upper()} {path}": sorted(API_ERROR_STATUSES - set(op["responses"]))
        for method, path, op in _operations(schema)
        if not set(op["responses"]) >= API_ERROR_STATUSES
    }
    assert missing == {}


def test_every_documented_error_has_the_shape_the_app_sends(world: World) -> None:
    schema = world.app.openapi()
    for method, path, op in _operations(schema):
        for status in API_ERROR_STATUSES:
            content = op["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorOut"}, (
                method,
                path,
                status,
            )
    # FastAPI's default 422 shape (a list of pydantic errors) is never what the app sends.
    assert "HTTPValidationError" not in schema["components"]["schemas"]


def test_every_id_in_a_path_is_documented_as_a_bounded_integer(world: World) -> None:
    schema = world.app.openapi()
    ids = [
        (path, p["schema"])
        for _, path, op in _operations(schema)
        for p in op.get("parameters", [])
        if p["in"] == "path" and p["name"].endswith("_id")
    ]
    assert len(ids) >= 10
    for path, param in ids:
        assert param == {
            "type": "integer",
            "minimum": 1,
            "maximum": ID_MAX,
            "title": param["title"],
        }, path


def test_ids_in_bodies_are_documented_as_bounded_integers(world: World) -> None:
    components = world.app.openapi()["components"]["schemas"]
    handover = components["HandoverIn"]["properties"]
    assert handover["therapist_id"]["type"] == "integer"
    assert handover["therapist_id"]["maximum"] == ID_MAX
    assert handover["client_consented"]["type"] == "boolean"
