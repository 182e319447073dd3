"""Use cases the web layer needs that the other service modules do not (yet) offer.

- :func:`complete_totp_login`: the second step of a two-step login. The web layer keeps only a
  short-lived signed note that the password step passed (never the password), so the code is
  checked here against the user's TOTP secret, with the same replay rule and audit events as
  :func:`alliance.services.auth.authenticate`.
- :func:`record_denial`: audit a request refused because of the caller's role (a therapist
  opening the team page); record-level denials are audited by :mod:`alliance.services.authz`.
"""

from __future__ import annotations

from alliance.services.auth import LoginResult, _accept_totp, _audit_login, login_result
from alliance.services.authz import Actor
from alliance.services.context import ServiceContext
from alliance.services.errors import AuthenticationFailed
from alliance.services.unit import unit_of_work
from alliance.store import audit
from alliance.store.models import StaffUser


def complete_totp_login(ctx: ServiceContext, *, user_id: int, code: str) -> LoginResult:
    """Accept the TOTP ``code`` of a user whose password was just verified.

    Raises :class:`AuthenticationFailed` for a wrong or replayed code, an inactive user, or a
    user without a second factor (that user never needed this step).
    """
    failure: AuthenticationFailed | None = None
    result: LoginResult | None = None
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, user_id)
        if user is None or not user.active or not user.totp_enabled:
            failure = AuthenticationFailed()
        elif not _accept_totp(ctx, user, code):
            failure = AuthenticationFailed()
            _audit_login(session, ctx, user, "deny", "wrong code")
        else:
            _audit_login(session, ctx, user, "login", "password+totp")
            result = login_result(session, user)
    # Raised after the commit so the failed attempt stays in the audit trail.
    if failure is not None:
        raise failure
    assert result is not None
    return result


def record_denial(ctx: ServiceContext, actor: Actor | None, why: str, *, path: str) -> None:
    """Audit a request refused for the caller's role (who, what they tried, when)."""
    with unit_of_work(ctx) as session:
        audit.append(
            session,
            at=ctx.now(),
            actor_type=actor.audit_type if actor else "anonymous",
            actor_id=actor.audit_id if actor else None,
            clinic_id=actor.clinic_id if actor else None,
            action="deny",
            entity_type="route",
            entity_id=path[:64],
            detail={"why": why, "role": actor.role if actor else None},
        )
