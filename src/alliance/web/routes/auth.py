"""Login (password, then a TOTP code, a new password or enrolment when needed), logout, and
the account page (password, second factor, personal access tokens).

A full sign-in leaves a long-lived signed *device cookie* in the browser (OWASP's device
cookies): with it, the browser can still sign in while someone else's wrong guesses have
throttled the account for everyone else (:mod:`alliance.services.login_throttle`)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from alliance.services import auth as auth_service
from alliance.services.auth import LoginResult
from alliance.services.context import ServiceContext
from alliance.services.errors import (
    AuthenticationFailed,
    InvalidInput,
    PendingLoginSpent,
    TotpRequired,
)
from alliance.services.login_throttle import LoginDevice
from alliance.web.deps import Auth, LoginAuth, MfaPendingAuth, PublicAuth, StaffAuth
from alliance.web.schemas import FreeText, PathId
from alliance.web.security import (
    DEVICE_SECONDS,
    PENDING_SECONDS,
    CookieNames,
    client_address,
    new_device_nonce,
    read_device,
    sign_device,
    sign_pending_login,
)
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)


def _names(request: Request) -> CookieNames:
    names: CookieNames = request.app.state.cookies
    return names


def _set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    # HttpOnly: scripts cannot read it; SameSite=Lax: other sites cannot post with it; Path=/
    # and no Domain, as the __Host- prefix of production requires (with Secure).
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_names(request).secure,
        path="/",
    )


def _delete_cookie(request: Request, response: Response, name: str) -> None:
    # A browser ignores a __Host- cookie (a deletion included) that is not Secure.
    response.delete_cookie(
        name, path="/", secure=_names(request).secure, httponly=True, samesite="lax"
    )


def _device(request: Request, auth: Auth) -> LoginDevice | None:
    found = read_device(auth.ctx.settings.secret_key, request.cookies.get(_names(request).device))
    return LoginDevice(user_id=found[0], nonce=found[1]) if found else None


def _start_session(request: Request, auth: Auth, user_id: int) -> Response:
    view = auth_service.start_web_session(auth.ctx, user_id=user_id)
    response = RedirectResponse("/caseload", status_code=303)
    assert view.token is not None
    names = _names(request)
    _set_cookie(request, response, names.session, view.token)
    _delete_cookie(request, response, names.pending)
    device = _device(request, auth)
    if device is None or device.user_id != user_id:
        # This browser has now proven the password (and code): it is a known device.
        value = sign_device(auth.ctx.settings.secret_key, user_id, new_device_nonce())
        _set_cookie(request, response, names.device, value, max_age=DEVICE_SECONDS)
    return response


def _pending(request: Request, auth: Auth, user_id: int, purpose: str) -> Response:
    expires = int(time.time()) + PENDING_SECONDS
    value = sign_pending_login(auth.ctx.settings.secret_key, user_id, purpose, expires)
    target = {"totp": "/login/mfa", "enrol": "/login/enrol", "password": "/login/password"}
    response = RedirectResponse(target[purpose], status_code=303)
    _set_cookie(request, response, _names(request).pending, value, max_age=PENDING_SECONDS)
    return response


def _next_step(request: Request, auth: Auth, result: LoginResult) -> Response:
    """After the password (and code): a forced new password, then enrolment, then a session."""
    if result.password_change_required:
        return _pending(request, auth, result.user.id, "password")
    if result.mfa_setup_required:
        return _pending(request, auth, result.user.id, "enrol")
    return _start_session(request, auth, result.user.id)


@router.get("/login")
async def login_page(request: Request, auth: PublicAuth) -> Response:
    if auth.actor is not None:
        return RedirectResponse("/caseload", status_code=303)
    return render(request, "login.html", {"title": "Log in"})


@router.post("/login")
async def login(
    request: Request,
    auth: LoginAuth,
    email: Annotated[FreeText, Form(max_length=320)],
    password: Annotated[FreeText, Form(max_length=1024)],
) -> Response:
    # A throttled attempt raises TooManyAttempts: the error handlers answer 429.
    try:
        result = await auth.call(
            auth_service.authenticate,
            email=email,
            password=password,
            device=_device(request, auth),
            client=client_address(request),
        )
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
    return _next_step(request, auth, result)


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
    request: Request, auth: MfaPendingAuth, code: Annotated[FreeText, Form(max_length=16)]
) -> Response:
    if auth.pending_purpose != "totp" or auth.pending_user_id is None:
        return RedirectResponse("/login/enrol", status_code=303)
    assert auth.pending_token is not None
    try:
        result = await auth.call(
            auth_service.complete_totp_login,
            user_id=auth.pending_user_id,
            code=code,
            pending=auth.pending_token,
        )
    except PendingLoginSpent:
        # This half-finished sign-in is used up: start again with the password.
        response = RedirectResponse("/login?flash=codes", status_code=303)
        _delete_cookie(request, response, _names(request).pending)
        return response
    except AuthenticationFailed:
        return render(
            request,
            "mfa.html",
            {"error": "That code is not right. Try the newest code."},
            status_code=401,
        )
    return _next_step(request, auth, result)


@router.get("/login/password")
async def new_password_page(request: Request, auth: MfaPendingAuth) -> Response:
    if auth.pending_purpose != "password":
        return RedirectResponse("/login/mfa", status_code=303)
    return render(request, "password_new.html", {"title": "Choose a new password"})


@router.post("/login/password")
async def new_password_submit(
    request: Request,
    auth: MfaPendingAuth,
    new_password: Annotated[FreeText, Form(max_length=1024)],
    confirm_password: Annotated[FreeText, Form(max_length=1024)],
) -> Response:
    if auth.pending_purpose != "password" or auth.pending_user_id is None:
        return RedirectResponse("/login/mfa", status_code=303)
    try:
        if new_password != confirm_password:
            raise InvalidInput("confirm_password", "the two new passwords are not the same")
        result = await auth.call(
            auth_service.set_new_password_at_sign_in,
            user_id=auth.pending_user_id,
            new_password=new_password,
        )
    except InvalidInput as exc:
        return render(
            request,
            "password_new.html",
            {"title": "Choose a new password", "error": _sentence(exc)},
            status_code=422,
        )
    return _next_step(request, auth, result)


def _sentence(exc: InvalidInput) -> str:
    text = exc.detail.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


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
    code: Annotated[FreeText, Form(max_length=16)],
    secret: Annotated[FreeText, Form(max_length=64)] = "",
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
    _delete_cookie(request, response, _names(request).session)
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


@router.get("/account/password")
async def account_password_page(request: Request, auth: StaffAuth) -> Response:
    return render(request, "account_password.html", {"nav": "account"})


@router.post("/account/password")
async def account_password_change(
    request: Request,
    auth: StaffAuth,
    current_password: Annotated[FreeText, Form(max_length=1024)],
    new_password: Annotated[FreeText, Form(max_length=1024)],
    confirm_password: Annotated[FreeText, Form(max_length=1024)],
) -> Response:
    # A throttled attempt raises TooManyAttempts: the error handlers answer 429.
    try:
        if new_password != confirm_password:
            raise InvalidInput("confirm_password", "the two new passwords are not the same")
        await auth.call(
            auth_service.change_password,
            actor=auth.staff,
            current_password=current_password,
            new_password=new_password,
            keep_session=auth.session_token,
        )
    except InvalidInput as exc:
        return render(
            request,
            "account_password.html",
            {"nav": "account", "error": _sentence(exc), "field": exc.field},
            status_code=422,
        )
    return RedirectResponse("/account?flash=password", status_code=303)


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
    code: Annotated[FreeText, Form(max_length=16)],
    secret: Annotated[FreeText, Form(max_length=64)] = "",
) -> Response:
    try:
        await auth.call(
            auth_service.confirm_totp,
            actor=auth.staff,
            code=code,
            keep_session=auth.session_token,
        )
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
