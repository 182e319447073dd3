"""The JSON API: bearer tokens, the same rules as the pages, JSON errors naming the field."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel
from webworld import World, full_answers
from webworld import test_settings as settings_for

from alliance.services.clinic_settings import ClinicSettings
from alliance.web import schemas
from alliance.web.app import create_app, iter_routes
from alliance.web.routes import api_v1


def _auth(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.token(who)}"}


def test_the_openapi_document_describes_only_the_api(world: World) -> None:
    schema = world.client().get("/openapi.json").json()
    paths = set(schema["paths"])
    assert "/api/v1/caseload" in paths
    assert "/api/v1/clients/{client_id}/timeline" in paths
    assert all(p.startswith("/api/v1/") for p in paths)
    assert "AlertOut" in schema["components"]["schemas"]
    # Internal columns never appear in the contract.
    assert "password_hash" not in str(schema)
    assert "token_hash" not in str(schema)


def test_without_a_token_the_api_answers_401_with_a_hint(world: World) -> None:
    response = world.client().get("/api/v1/caseload")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in response.json()["detail"]


def test_a_garbage_token_is_401_not_500(world: World) -> None:
    response = world.client().get("/api/v1/caseload", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    response = world.client().get("/api/v1/caseload", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


def test_the_caseload_api_lists_only_the_callers_clients(world: World) -> None:
    rows = world.client().get("/api/v1/caseload", headers=_auth(world, "tom")).json()
    assert [r["display_name"] for r in rows] == ["Tina"]
    assert rows[0]["top_alert"]["kind"] == "rupture"
    assert rows[0]["top_alert"]["reason"].startswith("Tina's alliance fell")


def test_the_timeline_api_returns_the_series_and_alerts(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    client.post(f"/c/{token}", data=full_answers(client.get(f"/c/{token}").text))
    body = client.get(
        f"/api/v1/clients/{world.cases['tom'].client_id}/timeline", headers=_auth(world, "tom")
    ).json()
    series = {s["instrument_id"]: s for s in body["series"]}
    assert len(series["wai_sr"]["points"]) == 1
    assert body["alerts"][0]["next_step"]
    assert "contact_email" not in body["client"]


def test_another_clinics_client_is_a_json_404(world: World) -> None:
    response = world.client().get(
        f"/api/v1/clients/{world.cases['bea'].client_id}/timeline", headers=_auth(world, "ada")
    )
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_a_check_in_link_made_through_the_api_works_once(world: World) -> None:
    client = world.client()
    created = client.post(
        f"/api/v1/clients/{world.cases['tom'].client_id}/checkin-links",
        json={"session_id": world.cases["tom"].session_ids[0]},
        headers=_auth(world, "tom"),
    )
    assert created.status_code == 201
    url = created.json()["url"]
    path = url[url.index("/c/") :]
    page = client.get(path)
    assert page.status_code == 200
    assert client.post(path, data=full_answers(page.text)).status_code == 200
    assert client.post(path, data=full_answers(page.text)).status_code == 410


def test_an_invalid_body_is_a_422_naming_the_field(world: World) -> None:
    response = world.client().post(
        f"/api/v1/clients/{world.cases['tom'].client_id}/sessions",
        json={"scheduled_at": "not a date", "status": "attended"},
        headers=_auth(world, "tom"),
    )
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["scheduled_at"]


def test_an_unknown_field_is_refused(world: World) -> None:
    response = world.client().put(
        f"/api/v1/clients/{world.cases['tom'].client_id}/goals",
        json={"goals": ["Sleep"], "owner": "me"},
        headers=_auth(world, "tom"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "owner"


def test_alerts_are_acknowledged_and_resolved_through_the_api(world: World) -> None:
    client = world.client()
    headers = _auth(world, "sue")  # Tom's supervisor
    alert_id = world.cases["tom"].alert_id
    ack = client.post(
        f"/api/v1/alerts/{alert_id}/acknowledge", json={"note": "seen in sup."}, headers=headers
    )
    assert ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledge_note"] == "seen in sup."
    done = client.post(f"/api/v1/alerts/{alert_id}/resolve", json={}, headers=headers)
    assert done.json()["status"] == "resolved"
    again = client.post(f"/api/v1/alerts/{alert_id}/resolve", json={}, headers=headers)
    assert again.status_code == 409


def test_alerts_are_acknowledged_together_and_marked_in_supervision_through_the_api(
    world: World,
) -> None:
    client = world.client()
    alert_id = world.cases["tom"].alert_id
    tom = _auth(world, "tom")
    # A supervision mark is for supervisors: the therapist is refused, nothing is stored.
    refused = client.post(
        f"/api/v1/alerts/{alert_id}/supervision", json={"note": "talked"}, headers=tom
    )
    assert refused.status_code == 403
    bulk = client.post(
        "/api/v1/alerts/acknowledge", json={"alert_ids": [alert_id], "note": "seen"}, headers=tom
    )
    assert bulk.status_code == 200
    assert [(a["id"], a["status"]) for a in bulk.json()] == [(alert_id, "acknowledged")]
    again = client.post("/api/v1/alerts/acknowledge", json={"alert_ids": [alert_id]}, headers=tom)
    assert again.json() == []  # no longer open: left as it is
    empty = client.post("/api/v1/alerts/acknowledge", json={"alert_ids": []}, headers=tom)
    assert empty.status_code == 422
    sue = _auth(world, "sue")  # Tom's supervisor
    marked = client.post(
        f"/api/v1/alerts/{alert_id}/supervision", json={"note": "Agreed: slow down"}, headers=sue
    )
    assert marked.status_code == 200
    assert marked.json()["supervision_note"] == "Agreed: slow down"
    blank = client.post(f"/api/v1/alerts/{alert_id}/supervision", json={"note": ""}, headers=sue)
    assert blank.status_code == 422


def test_clinic_settings_round_trip_through_the_api(world: World) -> None:
    client = world.client()
    headers = _auth(world, "ada")
    clinic = client.get("/api/v1/clinic", headers=headers).json()
    settings = clinic["settings"]
    settings["alert_settings"]["missed_sessions_in_a_row"] = 3
    saved = client.put("/api/v1/clinic/settings", json=settings, headers=headers)
    assert saved.status_code == 200
    assert saved.json()["settings"]["alert_settings"]["missed_sessions_in_a_row"] == 3
    settings["instruments"]["outcome"] = ["no-such-instrument"]
    refused = client.put("/api/v1/clinic/settings", json=settings, headers=headers)
    assert refused.status_code == 422
    assert "no-such-instrument" in refused.json()["detail"]


def test_an_admin_manages_users_through_the_api(world: World) -> None:
    client = world.client()
    headers = _auth(world, "ada")
    created = client.post(
        "/api/v1/users",
        json={
            "email": "kim@clinic1.example",
            "display_name": "Kim",
            "role": "therapist",
            "password": "a long enough password",
            "supervisor_id": world.people["sue"].user_id,
        },
        headers=headers,
    )
    assert created.status_code == 201
    kim = created.json()
    assert kim["supervisor_id"] == world.people["sue"].user_id
    moved = client.post(
        f"/api/v1/users/{kim['id']}/team", json={"supervisor_id": None}, headers=headers
    )
    assert moved.json()["supervisor_id"] is None
    off = client.post(f"/api/v1/users/{kim['id']}/active", json={"active": False}, headers=headers)
    assert off.json()["active"] is False
    weak = client.post(
        "/api/v1/users",
        json={
            "email": "lee@clinic1.example",
            "display_name": "Lee",
            "role": "therapist",
            "password": "short",
        },
        headers=headers,
    )
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["field"] == "password"


def json_api_problems(app: FastAPI) -> list[str]:
    """Why each JSON API operation breaks the convention: it is not on the ``api_v1``
    router, declares no response model, or reads or answers with a class that is not one of
    the API's own schemas (a service view, a domain model)."""
    on_router = {route.endpoint for route in api_v1.router.routes if isinstance(route, APIRoute)}
    problems = []
    for info in iter_routes(app):
        route = info.route
        if not isinstance(route, APIRoute) or not info.path.startswith("/api/"):
            continue
        where = f"{'/'.join(sorted(info.methods))} {info.path}"
        if route.endpoint not in on_router:
            problems.append(f"{where}: not on the api_v1 router ({route.endpoint.__module__})")
        if route.response_model is None:
            problems.append(f"{where}: no response_model")
        annotations = [route.response_model] + [
            p.field_info.annotation for p in route.dependant.body_params
        ]
        for annotation in annotations:
            for cls in _classes_in(annotation):
                if cls.__module__ != schemas.__name__:
                    problems.append(f"{where}: {cls.__module__}.{cls.__qualname__} is no schema")
    return problems


def _classes_in(annotation: Any) -> list[type]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found.extend(_classes_in(arg))
    return found


def test_every_json_operation_is_on_the_api_v1_router_and_speaks_its_schemas(
    tmp_path: Path,
) -> None:
    app = create_app(settings_for(tmp_path), warm_charts=False)
    paths = {info.path for info in iter_routes(app)}
    assert {"/api/v1/matching/queue", "/api/v1/intake"} <= paths
    assert json_api_problems(app) == []


def test_the_json_api_check_notices_an_operation_outside_the_convention(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path), warm_charts=False)
    stray = APIRouter()

    @stray.get("/api/v1/stray", response_model=ClinicSettings)
    async def stray_view() -> ClinicSettings:
        raise AssertionError("never called")

    app.include_router(stray)
    where = "GET /api/v1/stray"
    assert json_api_problems(app) == [
        f"{where}: not on the api_v1 router ({stray_view.__module__})",
        f"{where}: alliance.services.clinic_settings.ClinicSettings is no schema",
    ]


def test_a_final_check_in_link_asks_the_discharge_measures(world: World) -> None:
    from alliance.services import admin as admin_service
    from alliance.services.clinic_settings import ClinicSettings, InstrumentChoice

    choice = InstrumentChoice(alliance=("wai_sr",), outcome=("phq9",))
    admin_service.update_clinic_settings(
        world.ctx, actor=world.people["ada"].actor, settings=ClinicSettings(instruments=choice)
    )
    url = f"/api/v1/clients/{world.cases['tom'].client_id}/checkin-links"
    routine = world.client().post(url, json={}, headers=_auth(world, "tom")).json()
    final = world.client().post(url, json={"final": True}, headers=_auth(world, "tom")).json()
    # The default plan: WAI-SR at session 3, every 4th and at discharge, not in between.
    assert "wai_sr" in final["checkin"]["instruments"]
    assert final["checkin"]["rate_goals"] is True
    assert set(routine["checkin"]["instruments"]) <= set(final["checkin"]["instruments"])


def test_the_api_settings_model_has_every_clinic_setting(world: World) -> None:
    """A PUT replaces the settings whole: a field the API model lacked was reset by every
    PUT (time zone, measurement plan, delivery, client language were, before this test)."""
    from alliance.web.schemas import ClinicSettingsModel

    assert set(ClinicSettingsModel.model_fields) == set(ClinicSettings.model_fields)
    client = world.client()
    headers = _auth(world, "ada")
    settings = client.get("/api/v1/clinic", headers=headers).json()["settings"]
    settings["time_zone"] = "Europe/Madrid"
    settings["client_language"] = "es"
    settings["measurement_plan"] = {"cadences": {"phq9": {"every": 2}}}
    saved = client.put("/api/v1/clinic/settings", json=settings, headers=headers)
    assert saved.status_code == 200, saved.text
    again = client.put(
        "/api/v1/clinic/settings",
        json=client.get("/api/v1/clinic", headers=headers).json()["settings"],
        headers=headers,
    ).json()["settings"]
    assert again["time_zone"] == "Europe/Madrid"
    assert again["client_language"] == "es"
    assert again["measurement_plan"]["cadences"]["phq9"]["every"] == 2


def test_an_alert_note_through_the_api_has_the_services_limit(world: World) -> None:
    from alliance.services.alerts import MAX_NOTE

    alert_id = world.new_alert("tom")
    headers = _auth(world, "tom")
    url = f"/api/v1/alerts/{alert_id}/acknowledge"
    too_long = world.client().post(url, json={"note": "x" * (MAX_NOTE + 1)}, headers=headers)
    assert too_long.status_code == 422
    ok = world.client().post(url, json={"note": "x" * MAX_NOTE}, headers=headers)
    assert ok.status_code == 200, ok.text
