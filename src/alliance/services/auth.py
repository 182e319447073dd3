"""Staff authentication: passwords (argon2id), TOTP second factor, server-side web sessions and
personal access tokens.

Secrets handed to a browser or a script (session cookie value, access token) are random
256-bit strings; the database keeps only their SHA-256, so a copy of the database does not let
anyone log in. Login outcomes are audited (``login`` / ``deny``), with the e-mail's owner as the
actor when one exists.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alliance.config import Settings
from alliance.services.authz import (
    ROLES,
    Actor,
    not_found,
    require_staff,
    require_user_admin,
    staff_actor,
)
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.contact import email_address
from alliance.services.context import ServiceContext
from alliance.services.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    TotpRequired,
)
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import AccessTokenView, UserView, WebSessionView
from alliance.store import audit
from alliance.store.encrypted import field_of
from alliance.store.models import AccessToken, Clinic, StaffSession, StaffUser

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "alp_"  # noqa: S105 - a public prefix, not a secret
TOTP_ISSUER = "Alliance"
# Writing last_seen on every request would turn every page view into a write; a minute of
# slack on a 30-minute idle timeout is harmless.
TOUCH_EVERY = timedelta(seconds=60)


def password_hasher(settings: Settings) -> PasswordHasher:
    """argon2id with the cost profile named by ``settings.password_hash_profile``.

    ``standard`` is RFC 9106's second recommended option (t=3, 64 MiB, 4 lanes);
    ``fast-insecure-tests`` (t=1, 8 KiB, 1 lane) exists so the test suite stays fast and is
    refused in production mode.
    """
    if settings.password_hash_profile == "standard":  # noqa: S105
        return PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def hash_secret(value: str) -> str:
    """SHA-256 hex of a high-entropy random secret (tokens, session ids — not passwords)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalise_email(email: str) -> str:
    """A staff login: a valid address (:func:`~alliance.services.contact.email_address`),
    lower-cased so that sign-in does not depend on how it was typed."""
    return email_address(email, field="email").lower()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")


def user_view(user: StaffUser) -> UserView:
    return UserView(
        id=user.id,
        clinic_id=user.clinic_id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        supervisor_id=user.supervisor_id,
        active=user.active,
        totp_enabled=user.totp_enabled,
    )


@dataclass(frozen=True)
class LoginResult:
    """A successful password (and, when enabled, TOTP) check.

    ``mfa_setup_required``: the clinic enforces a second factor that this user has not set up;
    the web layer must confine the session to TOTP enrolment until it is done.
    """

    user: UserView
    mfa_setup_required: bool


def login_result(session: Session, user: StaffUser) -> LoginResult:
    """One place for the outcome of a successful login (password or second step): the user,
    and whether their clinic enforces a second factor they have not set up yet."""
    clinic = session.get(Clinic, user.clinic_id)
    settings = ClinicSettings.from_json(clinic.settings if clinic else None)
    return LoginResult(
        user=user_view(user),
        mfa_setup_required=settings.mfa_enforced and not user.totp_enabled,
    )


@denials_audited
def create_staff_user(
    ctx: ServiceContext,
    *,
    actor: Actor,
    clinic_id: int,
    email: str,
    display_name: str,
    role: str,
    password: str,
    supervisor_id: int | None = None,
) -> UserView:
    """Create a staff account (admins of the clinic, or a system actor for the first admin)."""
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}, not {role!r}")
    address = normalise_email(email)
    check_password_strength(password)
    if not display_name.strip():
        raise InvalidInput("display_name", "must not be empty")
    hashed = password_hasher(ctx.settings).hash(password)
    with unit_of_work(ctx) as session:
        require_user_admin(session, actor)
        if actor.clinic_id is not None and actor.clinic_id != clinic_id:
            raise InvalidInput("clinic", "you can only add users to your own clinic")
        if session.get(Clinic, clinic_id) is None:
            raise InvalidInput("clinic", f"no clinic with id {clinic_id}")
        if session.scalar(select(StaffUser.id).where(StaffUser.email == address)) is not None:
            raise Conflict(f"a user with e-mail {address} already exists")
        if supervisor_id is not None:
            _check_supervisor(session, clinic_id, supervisor_id)
        user = StaffUser(
            clinic_id=clinic_id,
            email=address,
            display_name=display_name.strip(),
            role=role,
            password_hash=hashed,
            supervisor_id=supervisor_id,
            totp_enabled=False,
            active=True,
            created_at=ctx.now(),
        )
        session.add(user)
        try:
            session.flush()
        except IntegrityError as exc:  # a concurrent request took the e-mail first
            raise Conflict(f"a user with e-mail {address} already exists") from exc
        record(
            session,
            ctx,
            actor,
            "write",
            "staff_user",
            user.id,
            {"op": "create", "role": role},
            clinic_id=clinic_id,
        )
        return user_view(user)


def _check_supervisor(session: Session, clinic_id: int, supervisor_id: int) -> None:
    supervisor = session.get(StaffUser, supervisor_id)
    if supervisor is None or supervisor.clinic_id != clinic_id:
        raise InvalidInput("supervisor", f"no user {supervisor_id} in this clinic")
    if supervisor.role not in ("supervisor", "admin"):
        raise InvalidInput("supervisor", f"user {supervisor_id} is not a supervisor")


def authenticate(
    ctx: ServiceContext, *, email: str, password: str, totp: str | None = None
) -> LoginResult:
    """Check e-mail + password (+ TOTP code when the user has one). Raises
    :class:`AuthenticationFailed` (one message for every wrong input) or :class:`TotpRequired`.
    """
    hasher = password_hasher(ctx.settings)
    address = email.strip().lower()
    failure: AuthenticationFailed | TotpRequired | None = None
    result: LoginResult | None = None
    with unit_of_work(ctx) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == address))
        if user is None:
            # Spend the same time as a real check so response time does not reveal accounts.
            _verify(hasher, _dummy_hash(hasher), password)
            failure = AuthenticationFailed()
            audit.append(
                session,
                at=ctx.now(),
                actor_type="anonymous",
                actor_id=None,
                clinic_id=None,
                action="deny",
                entity_type="login",
                entity_id=None,
                detail={"why": "unknown e-mail"},
            )
        elif not _verify(hasher, user.password_hash, password) or not user.active:
            failure = AuthenticationFailed()
            why = "inactive user" if user.active is False else "wrong password"
            _audit_login(session, ctx, user, "deny", why)
        else:
            if hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hasher.hash(password)
            if user.totp_enabled:
                if not totp:
                    failure = TotpRequired()
                elif not _accept_totp(ctx, user, totp):
                    failure = AuthenticationFailed()
                    _audit_login(session, ctx, user, "deny", "wrong code")
            if failure is None:
                _audit_login(
                    session, ctx, user, "login", "password" + ("+totp" if user.totp_enabled else "")
                )
                result = login_result(session, user)
    # Raised after commit so failed attempts stay in the audit trail.
    if failure is not None:
        raise failure
    assert result is not None
    return result


_DUMMY: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    key = hasher.memory_cost
    if key not in _DUMMY:
        _DUMMY[key] = hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY[key]


def _verify(hasher: PasswordHasher, hashed: str, password: str) -> bool:
    try:
        return hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _audit_login(
    session: Session, ctx: ServiceContext, user: StaffUser, action: str, why: str
) -> None:
    audit.append(
        session,
        at=ctx.now(),
        actor_type="staff",
        actor_id=user.id,
        clinic_id=user.clinic_id,
        action=action,
        entity_type="staff_user",
        entity_id=user.id,
        detail={"how": why},
    )


def _accept_totp(ctx: ServiceContext, user: StaffUser, code: str) -> bool:
    """Valid for the current 30-s step ±1, and never the same step twice (no replay)."""
    if user.totp_secret_enc is None:
        return False
    secret = ctx.cipher.decrypt(user.totp_secret_enc, field=field_of(StaffUser.totp_secret_enc))
    totp = pyotp.TOTP(secret)
    code = code.strip().replace(" ", "")
    now = ctx.now()
    step = totp.timecode(now)
    for counter in (step - 1, step, step + 1):
        if secrets.compare_digest(totp.generate_otp(counter), code):
            if user.totp_last_counter is not None and counter <= user.totp_last_counter:
                return False
            user.totp_last_counter = counter
            return True
    return False


@denials_audited
def start_totp_enrolment(ctx: ServiceContext, *, actor: Actor) -> tuple[str, str]:
    """Create a new TOTP secret for the acting user; returns ``(secret, otpauth:// URI)``.

    The factor is not active until :func:`confirm_totp` sees a correct code.
    """
    require_staff(actor)
    secret = pyotp.random_base32()
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, actor.user_id)
        if user is None:
            raise NotFound("user not found")
        if user.totp_enabled:
            raise Conflict("a second factor is already set up; ask an admin to reset it")
        user.totp_secret_enc = ctx.cipher.encrypt(secret, field=field_of(StaffUser.totp_secret_enc))
        record(session, ctx, actor, "write", "staff_user", user.id, {"op": "totp-enrol"})
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return secret, uri


@denials_audited
def confirm_totp(ctx: ServiceContext, *, actor: Actor, code: str) -> UserView:
    """Turn the second factor on once the user proves their app produces the right codes."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, actor.user_id)
        if user is None or user.totp_secret_enc is None:
            raise Conflict("start the set-up first")
        if not _accept_totp(ctx, user, code):
            raise InvalidInput("code", "that code is not right; check the time on your phone")
        user.totp_enabled = True
        record(session, ctx, actor, "write", "staff_user", user.id, {"op": "totp-enable"})
        return user_view(user)


@denials_audited
def reset_totp(ctx: ServiceContext, *, actor: Actor, user_id: int) -> UserView:
    """An admin removes a user's second factor (lost phone); they must enrol again."""
    with unit_of_work(ctx) as session:
        user = require_user_admin(session, actor, user_id)
        assert user is not None
        user.totp_enabled = False
        user.totp_secret_enc = None
        user.totp_last_counter = None
        record(session, ctx, actor, "write", "staff_user", user.id, {"op": "totp-reset"})
        return user_view(user)


def start_web_session(ctx: ServiceContext, *, user_id: int) -> WebSessionView:
    """Open a server-side session after :func:`authenticate`; ``token`` goes in the cookie."""
    token = secrets.token_urlsafe(32)
    now = ctx.now()
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, user_id)
        if user is None or not user.active:
            raise AuthenticationFailed()
        session.add(
            StaffSession(
                id=hash_secret(token),
                user_id=user.id,
                created_at=now,
                last_seen_at=now,
                ended_at=None,
                end_reason=None,
            )
        )
        return WebSessionView(
            user=user_view(user),
            created_at=now,
            last_seen_at=now,
            expires_at=_expiry(ctx.settings, now, now),
            token=token,
        )


def _expiry(settings: Settings, created: datetime, last_seen: datetime) -> datetime:
    return min(
        last_seen + timedelta(minutes=settings.session_idle_minutes),
        created + timedelta(hours=settings.session_max_hours),
    )


def touch_web_session(ctx: ServiceContext, token: str) -> tuple[Actor, WebSessionView]:
    """The actor behind a session cookie; ends the session (and raises
    :class:`AuthenticationFailed`) when it is unknown, logged out, idle or past its maximum age."""
    now = ctx.now()
    expired: str | None = None
    with unit_of_work(ctx) as session:
        row = session.get(StaffSession, hash_secret(token))
        if row is None or row.ended_at is not None:
            raise AuthenticationFailed("your session has ended; please log in again")
        user = session.get(StaffUser, row.user_id)
        if user is None or not user.active:
            expired = "inactive"
        elif now - row.last_seen_at >= timedelta(minutes=ctx.settings.session_idle_minutes):
            expired = "idle"
        elif now - row.created_at >= timedelta(hours=ctx.settings.session_max_hours):
            expired = "absolute"
        if expired is not None:
            row.ended_at = now
            row.end_reason = expired
        else:
            assert user is not None
            if now - row.last_seen_at >= TOUCH_EVERY:
                row.last_seen_at = now
            view = WebSessionView(
                user=user_view(user),
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                expires_at=_expiry(ctx.settings, row.created_at, row.last_seen_at),
            )
            actor = staff_actor(user)
    if expired is not None:
        raise AuthenticationFailed("your session has expired; please log in again")
    return actor, view


def end_web_session(ctx: ServiceContext, token: str) -> None:
    """Log out: the session id stops working at once, whatever the cookie says."""
    with unit_of_work(ctx) as session:
        row = session.get(StaffSession, hash_secret(token))
        if row is None or row.ended_at is not None:
            return
        row.ended_at = ctx.now()
        row.end_reason = "logout"
        user = session.get(StaffUser, row.user_id)
        audit.append(
            session,
            at=ctx.now(),
            actor_type="staff",
            actor_id=row.user_id,
            clinic_id=user.clinic_id if user else None,
            action="logout",
            entity_type="staff_user",
            entity_id=row.user_id,
            detail={},
        )


def actor_for_user(ctx: ServiceContext, user_id: int) -> Actor:
    """The actor for an active user (the CLI's ``--as``); :class:`NotFound` otherwise."""
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, user_id)
        if user is None or not user.active:
            raise NotFound(f"no active user {user_id}")
        return staff_actor(user)


def actor_for_email(ctx: ServiceContext, email: str) -> Actor:
    with unit_of_work(ctx) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
        if user is None or not user.active:
            raise NotFound(f"no active user with e-mail {email}")
        return staff_actor(user)


def _token_view(row: AccessToken) -> AccessTokenView:
    return AccessTokenView(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


@denials_audited
def create_access_token(
    ctx: ServiceContext, *, actor: Actor, name: str
) -> tuple[AccessTokenView, str]:
    """A personal access token for the acting user; the token text is returned once only."""
    require_staff(actor)
    if not name.strip() or len(name) > 200:
        raise InvalidInput("name", "give the token a name of 1–200 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work(ctx) as session:
        assert actor.user_id is not None
        row = AccessToken(
            user_id=actor.user_id,
            name=name.strip(),
            token_hash=hash_secret(token),
            created_at=ctx.now(),
            last_used_at=None,
            revoked_at=None,
        )
        session.add(row)
        session.flush()
        record(session, ctx, actor, "write", "access_token", row.id, {"op": "create"})
        return _token_view(row), token


@denials_audited
def list_access_tokens(ctx: ServiceContext, *, actor: Actor) -> list[AccessTokenView]:
    require_staff(actor)
    with unit_of_work(ctx) as session:
        rows = session.scalars(
            select(AccessToken).where(AccessToken.user_id == actor.user_id).order_by(AccessToken.id)
        )
        return [_token_view(row) for row in rows]


@denials_audited
def revoke_access_token(ctx: ServiceContext, *, actor: Actor, token_id: int) -> AccessTokenView:
    """Revoke one of the actor's tokens (admins may revoke any token in their clinic)."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        row = session.get(AccessToken, token_id)
        owner = session.get(StaffUser, row.user_id) if row else None
        allowed = (
            row is not None
            and owner is not None
            and (
                row.user_id == actor.user_id
                or (actor.role == "admin" and owner.clinic_id == actor.clinic_id)
            )
        )
        if not allowed or row is None:
            raise not_found(actor, "access_token", token_id, why="not the owner")
        if row.revoked_at is None:
            row.revoked_at = ctx.now()
        record(session, ctx, actor, "write", "access_token", row.id, {"op": "revoke"})
        return _token_view(row)


def verify_access_token(ctx: ServiceContext, token: str) -> Actor:
    """The actor behind a bearer token, or :class:`AuthenticationFailed`."""
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationFailed("invalid access token")
    now = ctx.now()
    with unit_of_work(ctx) as session:
        row = session.scalar(
            select(AccessToken).where(AccessToken.token_hash == hash_secret(token))
        )
        user = session.get(StaffUser, row.user_id) if row else None
        if row is None or row.revoked_at is not None or user is None or not user.active:
            raise AuthenticationFailed("invalid access token")
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            row.last_used_at = now
        return staff_actor(user)
