"""HTTP security plumbing: response headers, the CSRF seed cookie, CSRF tokens, client address.

CSRF uses signed double-submit tokens bound to the web session: every browser gets a random,
HttpOnly ``alliance_csrf`` cookie (set here by :class:`SecurityMiddleware`), and each form
carries ``HMAC(secret_key, seed | session binding)``. A cross-site page can neither read the
cookie nor compute the HMAC, and a token minted before login stops working after it (the
binding changes), so a token stolen from a login form is useless afterwards. Requests that
authenticate with ``Authorization: Bearer`` carry no ambient credentials and are exempt.

Cookie names come from :func:`cookie_names`: in production every cookie carries the
``__Host-`` prefix, which browsers accept only with ``Secure``, ``Path=/`` and no ``Domain``,
so no sibling subdomain (or a man in the middle on plain http) can plant or overwrite one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The names in development mode; production adds HOST_PREFIX (see cookie_names).
CSRF_COOKIE = "alliance_csrf"
SESSION_COOKIE = "alliance_session"
PENDING_COOKIE = "alliance_login"
DEVICE_COOKIE = "alliance_device"
HOST_PREFIX = "__Host-"
# A device cookie outlives many sessions: it is what lets its browser sign in while someone
# else is guessing the password (see alliance.services.login_throttle).
DEVICE_SECONDS = 180 * 24 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline script or style anywhere, so the policy can be strict. Inline SVG charts use
# presentation attributes only, which CSP does not treat as inline style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class CookieNames:
    """The app's cookie names; ``secure``: set them ``Secure`` (production)."""

    session: str
    pending: str
    csrf: str
    device: str
    secure: bool


def cookie_names(production: bool) -> CookieNames:
    prefix = HOST_PREFIX if production else ""
    return CookieNames(
        session=prefix + SESSION_COOKIE,
        pending=prefix + PENDING_COOKIE,
        csrf=prefix + CSRF_COOKIE,
        device=prefix + DEVICE_COOKIE,
        secure=production,
    )


def security_headers(*, production: bool, static: bool) -> list[tuple[bytes, bytes]]:
    """Headers added to every response."""
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-frame-options", b"DENY"),
        # Check-in URLs carry the client's token: never leak them in a Referer header.
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if not static:
        # Pages hold clinical data: no copy in shared or browser caches.
        headers.append((b"cache-control", b"no-store"))
    if production:
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


def new_seed() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(secret_key: str, seed: str, binding: str) -> str:
    """The token a form must echo: HMAC of the browser's seed and the web session binding."""
    mac = hmac.new(secret_key.encode(), f"csrf|{seed}|{binding}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def csrf_valid(secret_key: str, seed: str | None, binding: str, presented: str | None) -> bool:
    if not seed or not presented:
        return False
    return hmac.compare_digest(csrf_token(secret_key, seed, binding), presented)


def session_binding(session_cookie: str | None) -> str:
    """What ties a CSRF token to one web session (a hash: the cookie itself never leaves)."""
    if not session_cookie:
        return ""
    return hashlib.sha256(session_cookie.encode()).hexdigest()[:32]


def _cookies(scope: Scope) -> dict[str, str]:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is treated as no cookies
                return {}
            return {key: morsel.value for key, morsel in parsed.items()}
    return {}


class SecurityMiddleware:
    """Adds security headers to every response and gives each browser a CSRF seed cookie.

    A pure ASGI middleware (not ``BaseHTTPMiddleware``) so it costs next to nothing per request.
    The seed is exposed to the app as ``request.state.csrf_seed``.
    """

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production
        self.csrf_cookie = cookie_names(production).csrf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seed = _cookies(scope).get(self.csrf_cookie)
        new_cookie = not seed or len(seed) < 20
        if new_cookie:
            seed = new_seed()
        scope.setdefault("state", {})["csrf_seed"] = seed
        static = scope.get("path", "").startswith("/static/")
        extra = security_headers(production=self.production, static=static)
        if new_cookie:
            flags = "Path=/; HttpOnly; SameSite=Lax"
            if self.production:
                flags += "; Secure"
            extra.append((b"set-cookie", f"{self.csrf_cookie}={seed}; {flags}".encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers.extend((k, v) for k, v in extra if k not in present or k == b"set-cookie")
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def client_address(scope_or_client: Any) -> str:
    """The peer address used to key rate limits ("unknown" under the test client)."""
    client = getattr(scope_or_client, "client", None)
    if client and getattr(client, "host", None):
        return str(client.host)
    return "unknown"


PENDING_SECONDS = 5 * 60


def sign_pending_login(
    secret_key: str, user_id: int, purpose: str, expires_at: int, nonce: str | None = None
) -> str:
    """A short-lived signed note that a password was accepted and a second step is due.

    ``purpose`` is ``totp`` (enter a code), ``enrol`` (the clinic requires a second factor
    the user has not set up) or ``password`` (an admin forced a password reset: choose a new
    one). No session exists until the last step succeeds. ``nonce`` (random unless given)
    makes every note unique: wrong codes are counted per note, and two sign-ins in the same
    second must not share one count.
    """
    nonce = secrets.token_urlsafe(12) if nonce is None else nonce
    body = f"{user_id}.{purpose}.{expires_at}.{nonce}"
    mac = hmac.new(secret_key.encode(), f"pending|{body}".encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def read_pending_login(secret_key: str, value: str | None, now: int) -> tuple[int, str] | None:
    """``(user_id, purpose)`` from a valid, unexpired note; ``None`` otherwise."""
    if not value:
        return None
    parts = value.split(".")
    if len(parts) != 5 or not parts[0].isdigit() or not parts[2].isdigit() or not parts[3]:
        return None
    user_id, purpose, expires, nonce, mac = parts
    expected = sign_pending_login(secret_key, int(user_id), purpose, int(expires), nonce)
    if not hmac.compare_digest(expected.rsplit(".", 1)[1], mac):
        return None
    if int(expires) < now or purpose not in ("totp", "enrol", "password"):
        return None
    return int(user_id), purpose


def sign_device(secret_key: str, user_id: int, nonce: str) -> str:
    """A device cookie: this browser signed in as ``user_id`` before. ``nonce`` (random, one
    per cookie) names the device in the failure counts; nothing else is kept about it."""
    body = f"{user_id}.{nonce}"
    return f"{body}.{sign(secret_key, 'device', body)}"


def read_device(secret_key: str, value: str | None) -> tuple[int, str] | None:
    """``(user_id, nonce)`` from a valid device cookie; ``None`` otherwise."""
    if not value:
        return None
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 10 or not parts[1]:
        return None
    user_id, nonce, mac = parts
    if not signature_valid(secret_key, "device", f"{user_id}.{nonce}", mac):
        return None
    return int(user_id), nonce


def new_device_nonce() -> str:
    # URL-safe base64 has no "." in it, which separates the cookie's parts.
    return secrets.token_urlsafe(18)


def sign(secret_key: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` for one ``purpose`` (hex), for values a page hands back."""
    return hmac.new(secret_key.encode(), f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def signature_valid(secret_key: str, purpose: str, value: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(
        sign(secret_key, purpose, value), presented or ""
    )


_LINK_PATH = re.compile(r"^/c/[^/?#]+")


class RedactLinkTokens(logging.Filter):
    """Keep client check-in tokens out of access logs (``/c/<token>`` becomes ``/c/…``).

    A token in a log file would let anyone who reads the logs answer in the client's name
    until the link is used or expires.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            redacted = _LINK_PATH.sub("/c/…", args[2])
            if redacted != args[2]:
                record.args = (*args[:2], redacted, *args[3:])
        return True


def redact_link_tokens_in_access_log() -> None:
    """Install :class:`RedactLinkTokens` on uvicorn's access logger (once)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactLinkTokens) for f in logger.filters):
        logger.addFilter(RedactLinkTokens())
