"""The one authorization dependency every route passes: :class:`Authorize`.

Each route declares what kind of caller it serves with one of the ``*Auth`` annotated types
below (``PublicAuth``, ``StaffAuth``, ``SupervisorAuth``, ``AdminAuth``, ``LinkAuth``,
``MfaPendingAuth``). They all resolve through the same ``Authorize`` instance type, which:

1. works out who is calling — a staff web session (the session cookie, checked
   server-side for idle and absolute expiry), a personal access token (``Authorization:
   Bearer``, read under ``/api/`` only: pages ignore the header), or a client link (the
   ``{token}`` path parameter) — and builds the services'
   :class:`~alliance.services.authz.Actor` from it, never from request data;
2. refuses callers the route does not serve (a login redirect or 401, 403 for a role the
   route does not admit, 410 for a dead client link);
3. enforces CSRF on state-changing requests authenticated by cookie (and on anonymous forms);
   a route built with ``anonymous_json=True`` (only the public JSON intake) lets through a
   JSON request that carries no session or login cookie: with no ambient credential there is
   nothing for a forged request to ride on, and a cross-site page cannot send
   ``application/json`` without a CORS preflight, which this app never grants;
4. applies the rate limit the route names (requests per address to the sign-in steps after
   the password, client-link requests). The password step itself is throttled by the
   service, which knows the outcome and the device (:mod:`alliance.services.login_throttle`).
   The intake limit is the one a route applies itself, with :func:`limit_intakes`, because it
   depends on who turned out to be calling (a staff token posting intakes is not limited).

For a client link the dependency checks CSRF and the rate limit and hands the token on: the
check-in services resolve it and build the ``client_link`` Actor themselves, inside the same
transaction that uses it (``authz.link_actor``), so there is no gap between "this link is
valid" and "this link was used", and no second lookup per request.

Record-level rules (a therapist sees only their own clients, nothing crosses clinics) live in
:mod:`alliance.services.authz`, which every service applies to the actor passed in. A test
walks ``app.routes`` and fails for any route that does not depend on ``Authorize``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from alliance.services import auth as auth_service
from alliance.services import ratelimit, web_support
from alliance.services.authz import Actor
from alliance.services.context import ServiceContext
from alliance.services.errors import AuthenticationFailed, Forbidden
from alliance.services.views import UserView
from alliance.web.errors import LoginRequired, TooManyRequests
from alliance.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    CookieNames,
    client_address,
    csrf_token,
    csrf_valid,
    read_pending_login,
    session_binding,
)

RATE_WINDOW_S = 15 * 60
INTAKE_WINDOW_S = 60 * 60
P = ParamSpec("P")
T = TypeVar("T")


class Access(StrEnum):
    """Which callers a route serves."""

    PUBLIC = "public"  # anyone; an actor is attached when a staff session exists
    MFA_PENDING = "mfa_pending"  # password accepted, second step (code or enrolment) due
    STAFF = "staff"  # any logged-in staff member
    SUPERVISOR = "supervisor"  # supervisors and admins
    ADMIN = "admin"  # clinic admins
    CLIENT_LINK = "client_link"  # holder of a client check-in link ({token} in the path)


class RateLimit(StrEnum):
    LOGIN = "login"
    LINK = "link"


@dataclass(frozen=True)
class Auth:
    """What a route gets from :class:`Authorize`."""

    actor: Actor | None
    ctx: ServiceContext
    user: UserView | None = None
    session_token: str | None = None
    via_bearer: bool = False
    link_token: str | None = None
    pending_user_id: int | None = None
    pending_purpose: str | None = None
    pending_token: str | None = None
    csrf_token: str = ""

    @property
    def staff(self) -> Actor:
        """The staff actor (routes whose access level guarantees one)."""
        if self.actor is None or self.actor.kind != "staff":
            raise Forbidden("staff only")
        return self.actor

    async def call(
        self,
        func: Callable[Concatenate[ServiceContext, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a (blocking) service function off the event loop with this request's context.

        Only the context is put in front; everything else (the actor included, which routes
        name explicitly as ``actor=auth.staff``) is passed through and checked by the type
        checker against ``func``'s own signature, so a misspelt keyword fails ``mypy``."""
        return await run_in_threadpool(func, self.ctx, *args, **kwargs)


_ROLE_SETS: dict[Access, frozenset[str]] = {
    Access.STAFF: frozenset({"therapist", "supervisor", "admin"}),
    Access.SUPERVISOR: frozenset({"supervisor", "admin"}),
    Access.ADMIN: frozenset({"admin"}),
}


class Authorize:
    """The authorization dependency (see the module docstring). One instance per access level."""

    def __init__(
        self,
        access: Access,
        *,
        rate_limit: RateLimit | None = None,
        anonymous_json: bool = False,
    ) -> None:
        self.access = access
        self.rate_limit = rate_limit
        self.anonymous_json = anonymous_json

    def __repr__(self) -> str:
        extra = ", anonymous_json=True" if self.anonymous_json else ""
        return f"Authorize({self.access.value!r}, rate_limit={self.rate_limit}{extra})"

    async def __call__(self, request: Request) -> Auth:
        ctx: ServiceContext = request.app.state.ctx
        names: CookieNames = request.app.state.cookies
        secret = ctx.settings.secret_key
        seed = getattr(request.state, "csrf_seed", None) or ""
        is_api = request.url.path.startswith("/api/")

        if self.rate_limit is not None:
            await self._apply_rate_limit(request, ctx)

        if self.access is Access.CLIENT_LINK:
            # The link token is the credential; the service refuses unknown, expired and used
            # links (410) and audits the opening. No staff session is consulted.
            token = str(request.path_params.get("token", ""))
            auth = Auth(
                actor=None, ctx=ctx, link_token=token, csrf_token=csrf_token(secret, seed, "")
            )
            await self._check_csrf(request, auth, binding="")
            return self._publish(request, auth)

        # Tokens are for the API only. Pages (the login page and /openapi.json among them)
        # ignore the Authorization header and keep cookie + CSRF semantics: refusing it there
        # sent every page, /login included, to /login for ever.
        bearer = _bearer(request) if is_api else None
        if bearer is not None:
            token_actor = await run_in_threadpool(auth_service.verify_access_token, ctx, bearer)
            auth = Auth(actor=token_actor, ctx=ctx, via_bearer=True)
            await self._check_role(request, auth)
            return self._publish(request, auth)

        if self.access is Access.MFA_PENDING:
            pending_cookie = request.cookies.get(names.pending)
            pending = read_pending_login(secret, pending_cookie, int(time.time()))
            if pending is None or pending_cookie is None:
                raise LoginRequired("expired")
            binding = "pending:" + session_binding(pending_cookie)
            auth = Auth(
                actor=None,
                ctx=ctx,
                pending_user_id=pending[0],
                pending_purpose=pending[1],
                pending_token=pending_cookie,
                csrf_token=csrf_token(secret, seed, binding),
            )
            await self._check_csrf(request, auth, binding=binding)
            return self._publish(request, auth)

        cookie = request.cookies.get(names.session)
        actor: Actor | None = None
        user: UserView | None = None
        if cookie and not is_api:
            try:
                actor, view = await run_in_threadpool(auth_service.touch_web_session, ctx, cookie)
                user = view.user
                request.state.time_zone = view.time_zone
            except AuthenticationFailed:
                actor = None
        binding = session_binding(cookie) if actor else ""
        auth = Auth(
            actor=actor,
            ctx=ctx,
            user=user,
            session_token=cookie if actor else None,
            csrf_token=csrf_token(secret, seed, binding),
        )
        if self.access is not Access.PUBLIC:
            if actor is None:
                raise LoginRequired("expired" if cookie and not is_api else "")
            await self._check_role(request, auth)
        await self._check_csrf(request, auth, binding=binding)
        return self._publish(request, auth)

    async def _check_role(self, request: Request, auth: Auth) -> None:
        allowed = _ROLE_SETS.get(self.access)
        if allowed is None:
            # PUBLIC / MFA_PENDING / CLIENT_LINK routes are not reachable with a bearer token
            # unless they are API routes, and none of those are public.
            return
        actor = auth.actor
        if actor is None or actor.kind != "staff" or actor.role not in allowed:
            wanted = " or ".join(sorted(allowed))
            self._publish(request, auth)  # so the error page still shows the navigation
            await run_in_threadpool(
                web_support.record_denial,
                auth.ctx,
                actor,
                f"needs {wanted}",
                path=request.url.path,
            )
            raise Forbidden(f"this is only for {wanted} accounts")

    async def _check_csrf(self, request: Request, auth: Auth, *, binding: str) -> None:
        if request.method in SAFE_METHODS or auth.via_bearer:
            return
        if self.anonymous_json and _anonymous_json(request):
            return
        presented = request.headers.get(CSRF_HEADER)
        if presented is None:
            content_type = request.headers.get("content-type", "")
            if content_type.startswith(("application/x-www-form-urlencoded", "multipart/")):
                form = await request.form()
                value = form.get(CSRF_FIELD)
                presented = value if isinstance(value, str) else None
        seed = getattr(request.state, "csrf_seed", None)
        if not csrf_valid(auth.ctx.settings.secret_key, seed, binding, presented):
            raise Forbidden(
                "the form's security token is missing or out of date; reload the page and try again"
            )

    async def _apply_rate_limit(self, request: Request, ctx: ServiceContext) -> None:
        assert self.rate_limit is not None
        address = client_address(request)
        if self.rate_limit is RateLimit.LOGIN:
            if request.method in SAFE_METHODS:
                return
            # Per address only: the service counts wrong codes per account and per pending
            # login, which no forged X-Forwarded-For can spread out.
            limit = ctx.settings.login_rate_limit
            keys = [f"login-step:ip:{address}"]
            message = "Too many login attempts. Please wait 15 minutes and try again."
        else:
            limit = ctx.settings.link_rate_limit
            keys = [f"link:ip:{address}"]
            message = "Too many check-in requests from this network. Please wait a few minutes."
        for key in keys:
            allowed = await run_in_threadpool(ratelimit.check, ctx, key, limit, RATE_WINDOW_S)
            if not allowed:
                raise TooManyRequests(message, retry_after=RATE_WINDOW_S)

    @staticmethod
    def _publish(request: Request, auth: Auth) -> Auth:
        # Templates read these for the navigation and for every form's hidden CSRF field.
        request.state.actor = auth.actor
        request.state.user_name = auth.user.display_name if auth.user else None
        request.state.csrf_token = auth.csrf_token
        return auth


def _anonymous_json(request: Request) -> bool:
    """A JSON body and no credential a browser would attach by itself (session or pending
    login cookie). The CSRF and device cookies are no credentials: one seeds form tokens,
    the other only softens the password throttle."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        return False
    names: CookieNames = request.app.state.cookies
    return names.session not in request.cookies and names.pending not in request.cookies


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise LoginRequired()
    return value.strip()


async def limit_intakes(request: Request, auth: Auth) -> None:
    """Refuse (429) an address that sent more than ``intake_rate_limit`` intakes within the
    hour: the public intake page and the public JSON intake share the one count."""
    key = f"intake:ip:{client_address(request)}"
    limit = auth.ctx.settings.intake_rate_limit
    if not await auth.call(ratelimit.check, key, limit, INTAKE_WINDOW_S):
        raise TooManyRequests(
            "Too many intake forms from this network. Please try again in an hour, or call "
            "the clinic.",
            retry_after=INTAKE_WINDOW_S,
        )


PublicAuth = Annotated[Auth, Depends(Authorize(Access.PUBLIC))]
# The password step: throttled by the service (per account, address and device), not here.
LoginAuth = Annotated[Auth, Depends(Authorize(Access.PUBLIC))]
MfaPendingAuth = Annotated[Auth, Depends(Authorize(Access.MFA_PENDING, rate_limit=RateLimit.LOGIN))]
# Public JSON endpoints (the intake API): anonymous JSON needs no CSRF token, see above.
PublicJsonAuth = Annotated[Auth, Depends(Authorize(Access.PUBLIC, anonymous_json=True))]
StaffAuth = Annotated[Auth, Depends(Authorize(Access.STAFF))]
SupervisorAuth = Annotated[Auth, Depends(Authorize(Access.SUPERVISOR))]
AdminAuth = Annotated[Auth, Depends(Authorize(Access.ADMIN))]
LinkAuth = Annotated[Auth, Depends(Authorize(Access.CLIENT_LINK, rate_limit=RateLimit.LINK))]

__all__ = [
    "Access",
    "AdminAuth",
    "Auth",
    "Authorize",
    "LinkAuth",
    "LoginAuth",
    "MfaPendingAuth",
    "PublicAuth",
    "PublicJsonAuth",
    "RateLimit",
    "StaffAuth",
    "SupervisorAuth",
    "limit_intakes",
]
