"""The FastAPI application factory.

``create_app(settings)`` builds one app around one :class:`ServiceContext` (database, settings,
cipher, clock): pages under ``/``, the JSON API under ``/api/v1``, the OpenAPI document at
``/openapi.json``, and static files under ``/static``. The demo CLI serves it with
``uvicorn --factory alliance.web.app:create_app``. Swagger/ReDoc pages are off: they load
scripts from a CDN, which this app never does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from alliance.adapters import mail
from alliance.config import Settings, get_settings
from alliance.services.context import ServiceContext
from alliance.services.delivery import SendDueScheduler
from alliance.services.export_jobs import ExportWorker
from alliance.web import charts
from alliance.web.errors import install_error_handlers
from alliance.web.routes import (
    admin,
    alerts,
    analysis,
    api_v1,
    auth,
    caseload,
    checkin,
    clients,
    exports,
    matching,
    meta,
    outbox,
    reports,
)
from alliance.web.security import (
    SecurityMiddleware,
    cookie_names,
    redact_link_tokens_in_access_log,
)
from alliance.web.templating import STATIC_DIR, make_templates

logger = logging.getLogger(__name__)

API_DESCRIPTION = """JSON API of the Alliance clinic app.

Authenticate with a personal access token (create one on your Account page):
`Authorization: Bearer <token>`. Every endpoint applies the same rules as the pages:
a therapist sees their own clients, a supervisor their team, an admin their clinic.
"""


def create_app(
    settings: Settings | None = None,
    *,
    context: ServiceContext | None = None,
    warm_charts: bool = True,
) -> FastAPI:
    """Build the app. ``context`` lets tests share one database and clock with the app."""
    settings = settings or (context.settings if context else get_settings())
    ctx = context or ServiceContext.create(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if warm_charts:
            # The chart engine takes about a second to start: do it off the request path.
            charts.warm_up_in_background()
        scheduler = _delivery_scheduler(ctx)
        _app.state.delivery_scheduler = scheduler
        if scheduler is not None:
            scheduler.start()
        # Research exports asked for on /admin/exports are built here, off the requests; its
        # first pass also picks up what a stopped server left queued or running.
        worker = ExportWorker(ctx)
        _app.state.export_worker = worker
        worker.start()
        yield
        worker.stop()
        if scheduler is not None:
            scheduler.stop()
        # Let a trajectory refit in progress finish instead of dying with the process.
        ctx.trajectories.close()

    app = FastAPI(
        title="Alliance",
        version=_version(),
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by routes/meta.py, behind the authorization dependency
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ctx = ctx
    app.state.cookies = cookie_names(settings.mode == "production")
    app.state.templates = make_templates(ctx.instruments)

    install_error_handlers(app)
    for module in (
        meta,
        auth,
        caseload,
        clients,
        reports,
        outbox,
        alerts,
        admin,
        exports,
        checkin,
        analysis,
    ):
        app.include_router(module.router)
    app.include_router(matching.router)
    app.include_router(api_v1.router, prefix="/api/v1")
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(SecurityMiddleware, production=settings.mode == "production")
    redact_link_tokens_in_access_log()
    return app


def _delivery_scheduler(ctx: ServiceContext) -> SendDueScheduler | None:
    """The in-app ``send-due`` loop when ``delivery_scheduler`` is on (and SMTP is set up)."""
    settings = ctx.settings
    if not settings.delivery_scheduler:
        return None
    if not mail.smtp_configured(settings):
        logger.warning("delivery_scheduler is on but no SMTP server is configured: not started")
        return None
    return SendDueScheduler(
        ctx,
        lambda: mail.SmtpNotifier(settings),
        interval=settings.delivery_scheduler_seconds,
    )


def _version() -> str:
    from alliance._version import __version__

    return str(__version__)


@dataclass(frozen=True)
class RouteInfo:
    """One route as served: full path (with router prefixes), methods, and the route object."""

    path: str
    methods: frozenset[str]
    route: BaseRoute


def iter_routes(app: FastAPI) -> Iterator[RouteInfo]:
    """Every route the app serves, with included routers flattened.

    Recent FastAPI versions keep included routers as lazy entries in ``app.routes``;
    ``fastapi.routing.iter_route_contexts`` flattens them (older versions list routes flat).
    """
    flatten = getattr(fastapi_routing, "iter_route_contexts", None)
    if flatten is None:  # pragma: no cover - older FastAPI
        for route in app.routes:
            methods = frozenset(getattr(route, "methods", None) or ())
            yield RouteInfo(str(getattr(route, "path", "")), methods, route)
        return
    for context in flatten(app.routes):
        methods = frozenset(context.methods or ())
        yield RouteInfo(str(context.path or ""), methods, context.original_route)
