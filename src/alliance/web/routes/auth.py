"""Login (password, then a TOTP code or enrolment when needed), logout, and the account page
(second factor, personal access tokens)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from alliance.services import auth as auth_service
from alliance.services import web_support
from alliance.services.context import ServiceContext
from alliance.services.errors import AuthenticationFailed, InvalidInput, TotpRequired
from alliance.web.deps import Auth, LoginAuth, MfaPendingAuth, PublicAuth, StaffAuth
from alliance.web.schemas import FreeText, PathId
from alliance.web.security import (
    PENDING_COOKIE,
    PENDING_SECONDS,
    SESSION_COOKIE,
    sign_pending_login,
)
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.mode == "production")


def _start_session(request: Request, auth: Auth, user_id: int) -> Response:
    view = auth_service.start_web_session(auth.ctx, user_id=user_id)
    response = RedirectResponse("/caseload", status_code=303)
    assert view.token is not None
    # HttpOnly: scripts cannot read it; SameSite=Lax: other sites cannot post with it.
    response.set_cookie(
        SESSION_COOKIE,
        view.token,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(PENDING_COOKIE, path="/")
    return response


def _pending(request: Request, auth: Auth, user_id: int, purpose: str) -> Response:
    expires = int(time.time()) + PENDING_SECONDS
    value = sign_pending_login(auth.ctx.settings.secret_key, user_id, purpose, expires)
    target = "/login/mfa" if purpose == "totp" else "/login/enrol"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        PENDING_COOKIE,
        value,
        max_age=PENDING_SECONDS,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    return response


@router.get("/login")
async def login_page(request: Request, auth: PublicAuth) -> Response:
    if auth.actor is not None:
        return RedirectResponse("/caseload", status_code=303)
    return render(request, "login.html", {"title": "Log in"})


@router.post("/login")
async def login(
    request: Request,
    auth: LoginAuth,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    try:
        result = await auth.call(auth_service.authenticate, email=email, password=password)
    except TotpRequired:
        user_id = await auth.call(_user_id_for, email)
        return _pending(request, auth, user_id, "totp")
    except AuthenticationFailed as exc:
        return render(
            request,
            "login.html",
            {"error": exc.message.capitalize() + ".", "email": email},
            status_code=401,
        )
    if result.mfa_setup_required:
        return _pending(request, auth, result.user.id, "enrol")
    return _start_session(request, auth, result.user.id)


def _user_id_for(ctx: ServiceContext, email: str) -> int:
    actor = auth_service.actor_for_email(ctx, email)
    assert actor.user_id is not None
    return actor.user_id


@router.get("/login/mfa")
async def mfa_page(request: Request, auth: MfaPendingAuth) -> Response:
    if auth.pending_purpose != "totp":
        return RedirectResponse("/login/enrol", status_code=303)
    return render(request, "mfa.html")


@router.post("/login/mfa")
async def mfa_submit(
    request: Request, auth: MfaPendingAuth, code: Annotated[str, Form(max_length=16)]
) -> Response:
    assert auth.pending_user_id is not None
    try:
        result = await auth.call(
            web_support.complete_totp_login, user_id=auth.pending_user_id, code=code
        )
    except AuthenticationFailed:
        return render(
            request,
            "mfa.html",
            {"error": "That code is not right. Try the newest code."},
            status_code=401,
        )
    return _start_session(request, auth, result.user.id)


@router.get("/login/enrol")
async def enrol_page(request: Request, auth: MfaPendingAuth) -> Response:
    if auth.pending_purpose != "enrol" or auth.pending_user_id is None:
        return RedirectResponse("/login/mfa", status_code=303)
    actor = await auth.call(auth_service.actor_for_user, auth.pending_user_id)
    secret, uri = await auth.call(auth_service.start_totp_enrolment, actor=actor)
    return render(
        request,
        "mfa_enrol.html",
        {"secret": secret, "uri": uri, "required": True, "action": "/login/enrol"},
    )


@router.post("/login/enrol")
async def enrol_submit(
    request: Request,
    auth: MfaPendingAuth,
    code: Annotated[str, Form(max_length=16)],
    secret: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    if auth.pending_purpose != "enrol" or auth.pending_user_id is None:
        return RedirectResponse("/login/mfa", status_code=303)
    actor = await auth.call(auth_service.actor_for_user, auth.pending_user_id)
    try:
        await auth.call(auth_service.confirm_totp, actor=actor, code=code)
    except InvalidInput as exc:
        return render(
            request,
            "mfa_enrol.html",
            {
                "secret": secret,
                "uri": "",
                "required": True,
                "action": "/login/enrol",
                "error": exc.detail.capitalize() + ".",
            },
            status_code=422,
        )
    return _start_session(request, auth, auth.pending_user_id)


@router.post("/logout")
async def logout(request: Request, auth: StaffAuth) -> Response:
    if auth.session_token:
        await auth.call(auth_service.end_web_session, auth.session_token)
    response = RedirectResponse("/login?flash=loggedout", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account")
async def account(request: Request, auth: StaffAuth) -> Response:
    tokens = await auth.call(auth_service.list_access_tokens, actor=auth.staff)
    return render(
        request,
        "account.html",
        {"nav": "account", "tokens": tokens, "totp_enabled": await _totp_enabled(auth)},
    )


async def _totp_enabled(auth: Auth) -> bool:
    return bool(auth.user and auth.user.totp_enabled)


@router.post("/account/mfa")
async def account_mfa_start(request: Request, auth: StaffAuth) -> Response:
    secret, uri = await auth.call(auth_service.start_totp_enrolment, actor=auth.staff)
    return render(
        request,
        "mfa_enrol.html",
        {
            "nav": "account",
            "secret": secret,
            "uri": uri,
            "required": False,
            "action": "/account/mfa/confirm",
        },
    )


@router.post("/account/mfa/confirm")
async def account_mfa_confirm(
    request: Request,
    auth: StaffAuth,
    code: Annotated[str, Form(max_length=16)],
    secret: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        await auth.call(auth_service.confirm_totp, actor=auth.staff, code=code)
    except InvalidInput as exc:
        return render(
            request,
            "mfa_enrol.html",
            {
                "nav": "account",
                "secret": secret,
                "uri": "",
                "required": False,
                "action": "/account/mfa/confirm",
                "error": exc.detail.capitalize() + ".",
            },
            status_code=422,
        )
    return RedirectResponse("/account?flash=mfa", status_code=303)


@router.post("/account/tokens")
async def create_token(
    request: Request, auth: StaffAuth, name: Annotated[FreeText, Form(max_length=200)]
) -> Response:
    view, token = await auth.call(auth_service.create_access_token, actor=auth.staff, name=name)
    tokens = await auth.call(auth_service.list_access_tokens, actor=auth.staff)
    return render(
        request,
        "account.html",
        {
            "nav": "account",
            "tokens": tokens,
            "new_token": token,
            "new_token_name": view.name,
            "totp_enabled": await _totp_enabled(auth),
        },
    )


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(request: Request, auth: StaffAuth, token_id: PathId) -> Response:
    await auth.call(auth_service.revoke_access_token, actor=auth.staff, token_id=token_id)
    return RedirectResponse("/account?flash=token", status_code=303)
