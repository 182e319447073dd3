"""Slowing down online guessing of staff passwords and codes without locking anyone out.

OWASP's "slow down online guessing attacks with device cookies": a browser that has signed in
as a user before carries a signed *device cookie* naming that user and a random nonce (made and
checked by the web layer, :mod:`alliance.web.security`; it reaches the services as a
:class:`LoginDevice`). Failed password attempts are counted in the shared rate-limit buckets
(:mod:`alliance.services.ratelimit`, so every worker sees one count):

- from a **known device** (a valid device cookie of the account being signed in to): per
  device, at most :data:`DEVICE_FAILURE_LIMIT` failures a window. Past that the device is
  treated as untrusted;
- from **untrusted clients** (no cookie, another account's cookie, or a device over its limit):
  per account and per client address, at most ``settings.login_rate_limit`` failures a window.
  Past that untrusted clients are refused for that account (or from that address) until the
  window ends, the right password included, while a known device of the account still signs
  in. So someone who guesses cannot lock the owner out, and still gets at most a handful of
  guesses per window.

The second step (a TOTP code after the password) is counted per account
(``login_rate_limit``) and per half-finished sign-in: the pending-login cookie dies after
:data:`PENDING_FAILURE_LIMIT` wrong codes, so a fresh address per request (a forged
``X-Forwarded-For``) buys nothing.

An attempt is counted *before* its outcome is known, in the same transaction that checks it,
and taken back (:func:`succeeded`) when it succeeds: concurrent guesses cannot all slip in
under the limit before the first failure is stored. Account keys hold a hash of the e-mail
address, never the address (nor whatever else was typed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from alliance.services import ratelimit
from alliance.services.context import ServiceContext

WINDOW_S = 15 * 60
DEVICE_FAILURE_LIMIT = 5
PENDING_FAILURE_LIMIT = 5


@dataclass(frozen=True)
class LoginDevice:
    """A browser that signed in as ``user_id`` before (read from a valid device cookie)."""

    user_id: int
    nonce: str


@dataclass(frozen=True)
class Attempt:
    """One counted attempt: ``allowed`` False when a limit was already reached (the attempt
    must not be checked); ``keys`` are the counts to take back if it succeeds, ``counts``
    the window's counts under them, this attempt included."""

    allowed: bool
    keys: tuple[str, ...]
    counts: tuple[int, ...]
    trusted: bool


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def account_key(account: str) -> str:
    return f"login:account:{_digest(account)}"


def device_key(device: LoginDevice) -> str:
    return f"login:device:{_digest(device.nonce)}"


def _count(
    session: Session, ctx: ServiceContext, limits: Sequence[tuple[str, int]], trusted: bool
) -> Attempt:
    now = ctx.now()
    keys = tuple(key for key, _ in limits)
    counts = tuple(ratelimit.count(session, key, WINDOW_S, now=now) for key in keys)
    if any(n > limit for n, (_, limit) in zip(counts, limits, strict=True)):
        # A refused attempt guesses nothing: it does not use up the other counts.
        succeeded(session, keys)
        return Attempt(allowed=False, keys=(), counts=counts, trusted=trusted)
    return Attempt(allowed=True, keys=keys, counts=counts, trusted=trusted)


def password_attempt(
    session: Session,
    ctx: ServiceContext,
    *,
    account: str,
    user_id: int | None,
    device: LoginDevice | None,
    client: str,
) -> Attempt:
    """Count a password attempt for ``account`` (the e-mail as typed, normalised when it is
    an address) whose owner is ``user_id`` (None: no such account), from ``client``."""
    if device is not None and user_id is not None and device.user_id == user_id:
        attempt = _count(session, ctx, [(device_key(device), DEVICE_FAILURE_LIMIT)], True)
        if attempt.allowed:
            return attempt
    limit = ctx.settings.login_rate_limit
    return _count(
        session,
        ctx,
        [(f"login:ip:{client}", limit), (account_key(account), limit)],
        False,
    )


def reauth_attempt(session: Session, ctx: ServiceContext, *, account: str) -> Attempt:
    """Count a signed-in user's re-entry of their password (to change it) as an untrusted
    attempt on ``account``: a session left open is no way around the limit."""
    return _count(session, ctx, [(account_key(account), ctx.settings.login_rate_limit)], False)


def code_attempt(session: Session, ctx: ServiceContext, *, user_id: int, pending: str) -> Attempt:
    """Count a second-step code for ``user_id`` within the half-finished sign-in ``pending``
    (an opaque id of the pending-login cookie). ``allowed`` False: too many wrong codes, for
    this sign-in (``counts[0]`` past :data:`PENDING_FAILURE_LIMIT`) or for the account."""
    return _count(
        session,
        ctx,
        [
            (f"login:pending:{_digest(pending)}", PENDING_FAILURE_LIMIT),
            (f"login:code:{user_id}", ctx.settings.login_rate_limit),
        ],
        False,
    )


def succeeded(session: Session, keys: Sequence[str]) -> None:
    """The attempt counted under ``keys`` succeeded (or was refused unchecked): take it back."""
    for key in keys:
        ratelimit.refund(session, key)
