"""Every route the app answers passes the one authorization dependency."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import Mount
from webworld import World

from alliance.web.app import iter_routes
from alliance.web.deps import Authorize

# Static files are the only thing served without the dependency: CSS, no data.
UNGUARDED_MOUNTS = {"/static"}


def _authorizers(dependant: Dependant) -> list[object]:
    found: list[object] = [dependant.call] if isinstance(dependant.call, Authorize) else []
    for sub in dependant.dependencies:
        found.extend(_authorizers(sub))
    return found


def unguarded_routes(app: FastAPI) -> list[str]:
    missing: list[str] = []
    for info in iter_routes(app):
        if isinstance(info.route, Mount):
            if info.path not in UNGUARDED_MOUNTS:
                missing.append(f"mount {info.path}")
            continue
        if not isinstance(info.route, APIRoute):
            # Plain Starlette routes (e.g. FastAPI's own /docs) cannot take dependencies.
            missing.append(f"{sorted(info.methods)} {info.path}")
            continue
        if len(_authorizers(info.route.dependant)) != 1:
            missing.append(f"{sorted(info.methods)} {info.path}")
    return missing


def test_the_route_listing_sees_routes_of_included_routers(world: World) -> None:
    paths = {info.path for info in iter_routes(world.app)}
    assert {"/caseload", "/api/v1/caseload", "/c/{token}", "/openapi.json"} <= paths


def test_every_route_depends_on_authorize_exactly_once(world: World) -> None:
    assert unguarded_routes(world.app) == []


def test_the_guard_check_notices_a_route_without_the_dependency(world: World) -> None:
    @world.app.get("/sneaky")
    async def sneaky() -> dict[str, str]:
        return {"secret": "no"}

    assert unguarded_routes(world.app) == ["['GET'] /sneaky"]


def test_the_app_serves_no_cdn_backed_docs_pages(world: World) -> None:
    client = world.client()
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
