"""Staff authentication: passwords (argon2id), TOTP second factor, server-side web sessions and
personal access tokens.

Secrets handed to a browser or a script (session cookie value, access token) are random
256-bit strings; the database keeps only their SHA-256, so a copy of the database does not let
anyone log in. Login outcomes are audited (``login`` / ``deny``), with the e-mail's owner as the
actor when one exists. Failed attempts are throttled by :mod:`alliance.services.login_throttle`.

Passwords must be at least 12 characters and hard to guess (zxcvbn score ≥ 3, with the user's
own e-mail and name counted as easy guesses). Users change their own password after giving the
current one (:func:`change_password`); an admin can make a user choose a new one at the next
sign-in (:func:`require_password_change`), which also ends every session and token of theirs,
as deactivating an account does (:func:`revoke_credentials`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from zxcvbn import zxcvbn

from alliance.config import Settings
from alliance.services import login_throttle
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
    PendingLoginSpent,
    TooManyAttempts,
    TotpRequired,
)
from alliance.services.login_throttle import LoginDevice
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import AccessTokenView, UserView, WebSessionView
from alliance.store import audit
from alliance.store.encrypted import field_of
from alliance.store.models import AccessToken, Clinic, StaffSession, StaffUser

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
# zxcvbn's own ceiling (it refuses longer input and slows down sharply before it); a longer
# passphrase is judged by its first 72 characters, which is conservative.
ZXCVBN_MAX_LENGTH = 72
MIN_PASSWORD_SCORE = 3  # zxcvbn: 3 = "safely unguessable", ~10^8 guesses or more
# zxcvbn keeps the user inputs of a call in a module-level dictionary: one call at a time.
_ZXCVBN_LOCK = threading.Lock()
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


def check_password_strength(
    password: str, *, user_inputs: Sequence[str] = (), field: str = "password"
) -> None:
    """Refuse a password that is short or easy to guess, saying why.

    ``user_inputs`` are words an attacker would try first for this account (its e-mail, the
    person's name, the clinic's name): zxcvbn counts a password built from them as weak."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(field, f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if "\x00" in password or any("\ud800" <= c <= "\udfff" for c in password):
        raise InvalidInput(field, "must be plain text (no NUL character, no lone surrogate)")
    inputs = ["alliance", *_words(user_inputs)]
    with _ZXCVBN_LOCK:
        verdict = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=inputs)
    if int(verdict["score"]) >= MIN_PASSWORD_SCORE:
        return
    feedback = verdict.get("feedback") or {}
    reasons = [str(feedback.get("warning") or "")]
    reasons += [str(item) for item in feedback.get("suggestions", [])]
    why = " ".join(r.strip() for r in reasons if r.strip())
    raise InvalidInput(
        field,
        "this password is too easy to guess"
        + (f": {why}" if why else ".")
        + " Try a few unrelated words, or a longer phrase only you would think of.",
    )


def _words(values: Sequence[str]) -> list[str]:
    """The values and their parts (an e-mail's local part and domain, each word of a name)."""
    words: list[str] = []
    for value in values:
        value = value.strip().lower()
        if not value:
            continue
        words.append(value)
        for part in value.replace("@", " ").replace(".", " ").replace("-", " ").split():
            if len(part) >= 3:
                words.append(part)
    return words


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
        must_change_password=user.must_change_password,
    )


@dataclass(frozen=True)
class LoginResult:
    """A successful password (and, when enabled, TOTP) check.

    ``mfa_setup_required``: the clinic enforces a second factor that this user has not set up;
    the web layer must confine the session to TOTP enrolment until it is done.
    ``password_change_required``: an admin forced a password reset; the web layer must have the
    user choose a new password (:func:`set_new_password_at_sign_in`) before any session.
    """

    user: UserView
    mfa_setup_required: bool
    password_change_required: bool = False


def login_result(session: Session, user: StaffUser) -> LoginResult:
    """One place for the outcome of a successful login (password or second step): the user,
    and whether their clinic enforces a second factor they have not set up yet."""
    clinic = session.get(Clinic, user.clinic_id)
    settings = ClinicSettings.from_json(clinic.settings if clinic else None)
    return LoginResult(
        user=user_view(user),
        mfa_setup_required=settings.mfa_enforced and not user.totp_enabled,
        password_change_required=user.must_change_password,
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
    check_password_strength(password, user_inputs=[address, display_name])
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
    ctx: ServiceContext,
    *,
    email: str,
    password: str,
    totp: str | None = None,
    device: LoginDevice | None = None,
    client: str = "unknown",
) -> LoginResult:
    """Check e-mail + password (+ TOTP code when the user has one). Raises
    :class:`AuthenticationFailed` (one message for every wrong input, a malformed e-mail
    included), :class:`TotpRequired`, or :class:`TooManyAttempts` when the attempt is throttled
    (see :mod:`alliance.services.login_throttle`: ``device`` is the caller's device cookie, if
    any, ``client`` its address) and so was not checked at all.
    """
    hasher = password_hasher(ctx.settings)
    try:
        address: str | None = normalise_email(email)
    except InvalidInput:
        address = None  # cannot be anyone's login (NUL, spaces, no @): a failed sign-in
    failure: AuthenticationFailed | TotpRequired | TooManyAttempts | None = None
    result: LoginResult | None = None
    with unit_of_work(ctx) as session:
        user = (
            session.scalar(select(StaffUser).where(StaffUser.email == address))
            if address is not None
            else None
        )
        attempt = login_throttle.password_attempt(
            session,
            ctx,
            account=address if address is not None else email,
            user_id=user.id if user is not None else None,
            device=device,
            client=client,
        )
        if not attempt.allowed:
            failure = TooManyAttempts(login_throttle.WINDOW_S)
            if user is not None:
                _audit_login(session, ctx, user, "deny", "throttled")
        elif user is None:
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
            if failure is None or isinstance(failure, TotpRequired):
                # The password was right: this attempt was no guess (the second step has
                # counts of its own).
                login_throttle.succeeded(session, attempt.keys)
            if failure is None:
                _audit_login(
                    session, ctx, user, "login", "password" + ("+totp" if user.totp_enabled else "")
                )
                result = login_result(session, user)
    # Raised after commit so failed attempts stay in the audit trail and in the counts.
    if failure is not None:
        raise failure
    assert result is not None
    return result


def complete_totp_login(
    ctx: ServiceContext, *, user_id: int, code: str, pending: str
) -> LoginResult:
    """Accept the TOTP ``code`` of a user whose password was just verified, within the
    half-finished sign-in ``pending`` (an opaque id of the web layer's pending-login note).

    Raises :class:`AuthenticationFailed` for a wrong or replayed code, an inactive user, or a
    user without a second factor (that user never needed this step);
    :class:`PendingLoginSpent` once ``pending`` has had
    :data:`~alliance.services.login_throttle.PENDING_FAILURE_LIMIT` wrong codes (it is no use
    any more: sign in again); :class:`TooManyAttempts` when the account has had too many wrong
    codes this window, whichever sign-in they came from.
    """
    failure: AuthenticationFailed | TooManyAttempts | None = None
    result: LoginResult | None = None
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, user_id)
        attempt = login_throttle.code_attempt(session, ctx, user_id=user_id, pending=pending)
        spent = attempt.counts[0] >= login_throttle.PENDING_FAILURE_LIMIT
        if not attempt.allowed:
            if attempt.counts[0] > login_throttle.PENDING_FAILURE_LIMIT:
                failure = PendingLoginSpent()
            else:
                failure = TooManyAttempts(login_throttle.WINDOW_S)
            if user is not None:
                _audit_login(session, ctx, user, "deny", "throttled code")
        elif user is None or not user.active or not user.totp_enabled:
            failure = PendingLoginSpent() if spent else AuthenticationFailed()
        elif not _accept_totp(ctx, user, code):
            failure = PendingLoginSpent() if spent else AuthenticationFailed()
            _audit_login(session, ctx, user, "deny", "wrong code")
        else:
            login_throttle.succeeded(session, attempt.keys)
            _audit_login(session, ctx, user, "login", "password+totp")
            result = login_result(session, user)
    # Raised after the commit so the failed attempt stays in the audit trail and the counts.
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
def confirm_totp(
    ctx: ServiceContext, *, actor: Actor, code: str, keep_session: str | None = None
) -> UserView:
    """Turn the second factor on once the user proves their app produces the right codes.

    Every other web session of the user ends (``keep_session``, the one enrolling, stays):
    a browser signed in with the password alone, perhaps by whoever made the user want a
    second factor, must not outlive it. Access tokens are kept (a separate credential)."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, actor.user_id)
        if user is None or user.totp_secret_enc is None:
            raise Conflict("start the set-up first")
        if not _accept_totp(ctx, user, code):
            raise InvalidInput("code", "that code is not right; check the time on your phone")
        user.totp_enabled = True
        revoke_credentials(
            session, ctx, user.id, "second factor on", keep_session=keep_session, tokens=False
        )
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


def revoke_credentials(
    session: Session,
    ctx: ServiceContext,
    user_id: int,
    reason: str,
    *,
    keep_session: str | None = None,
    tokens: bool = True,
) -> None:
    """End every open web session of ``user_id`` (but ``keep_session``, a cookie value) and,
    with ``tokens``, revoke every access token, for good: the rows say so, so nothing that
    happens to the account later (reactivation, a new password) brings them back."""
    now = ctx.now()
    sessions = update(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.ended_at.is_(None)
    )
    if keep_session is not None:
        sessions = sessions.where(StaffSession.id != hash_secret(keep_session))
    session.execute(sessions.values(ended_at=now, end_reason=reason[:20]))
    if tokens:
        session.execute(
            update(AccessToken)
            .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )


def _password_inputs(session: Session, user: StaffUser) -> list[str]:
    clinic = session.get(Clinic, user.clinic_id)
    return [user.email, user.display_name, *([clinic.name] if clinic else [])]


def _set_password(session: Session, ctx: ServiceContext, user: StaffUser, new: str) -> None:
    check_password_strength(new, user_inputs=_password_inputs(session, user), field="new_password")
    hasher = password_hasher(ctx.settings)
    if _verify(hasher, user.password_hash, new):
        raise InvalidInput("new_password", "must differ from the current password")
    user.password_hash = hasher.hash(new)
    user.must_change_password = False


@denials_audited
def change_password(
    ctx: ServiceContext,
    *,
    actor: Actor,
    current_password: str,
    new_password: str,
    keep_session: str | None = None,
) -> UserView:
    """The acting user replaces their password, proving the current one first.

    A wrong current password counts as a failed sign-in of the account (the same throttle), so
    a walked-away-from session cannot be used to guess it. Every other web session of the user
    ends (``keep_session``: the one making the change stays); access tokens are kept.
    """
    require_staff(actor)
    failure: InvalidInput | TooManyAttempts | None = None
    view: UserView | None = None
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, actor.user_id)
        if user is None or not user.active:
            raise NotFound("user not found")
        attempt = login_throttle.reauth_attempt(session, ctx, account=user.email)
        if not attempt.allowed:
            failure = TooManyAttempts(login_throttle.WINDOW_S)
        elif not _verify(password_hasher(ctx.settings), user.password_hash, current_password):
            failure = InvalidInput("current_password", "that is not your current password")
            _audit_login(session, ctx, user, "deny", "wrong current password")
        else:
            login_throttle.succeeded(session, attempt.keys)
            try:
                _set_password(session, ctx, user, new_password)
            except InvalidInput as weak:  # the current password was right: no failed sign-in
                failure = weak
            else:
                revoke_credentials(
                    session, ctx, user.id, "password", keep_session=keep_session, tokens=False
                )
                record(
                    session, ctx, actor, "write", "staff_user", user.id, {"op": "password-change"}
                )
                view = user_view(user)
    # Raised after the commit: the wrong password stays counted and audited.
    if failure is not None:
        raise failure
    assert view is not None
    return view


@denials_audited
def require_password_change(ctx: ServiceContext, *, actor: Actor, user_id: int) -> UserView:
    """An admin makes a user choose a new password at their next sign-in (a password that may
    be known to someone else). Their sessions and access tokens end now, for good."""
    with unit_of_work(ctx) as session:
        user = require_user_admin(session, actor, user_id)
        assert user is not None
        if user.id == actor.user_id:
            raise InvalidInput("user", "change your own password on your account page instead")
        user.must_change_password = True
        revoke_credentials(session, ctx, user.id, "password-reset")
        record(session, ctx, actor, "write", "staff_user", user.id, {"op": "password-reset"})
        return user_view(user)


def set_new_password_at_sign_in(
    ctx: ServiceContext, *, user_id: int, new_password: str
) -> LoginResult:
    """The sign-in step after a forced reset: ``user_id`` has just given their (old) password,
    and their second factor when they have one; they choose a new password before any session
    starts. :class:`InvalidInput` for a weak one, :class:`AuthenticationFailed` when this
    step is not due."""
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, user_id)
        if user is None or not user.active or not user.must_change_password:
            raise AuthenticationFailed()
        _set_password(session, ctx, user, new_password)
        _audit_login(session, ctx, user, "login", "new password")
        return login_result(session, user)


def start_web_session(ctx: ServiceContext, *, user_id: int) -> WebSessionView:
    """Open a server-side session after :func:`authenticate`; ``token`` goes in the cookie."""
    token = secrets.token_urlsafe(32)
    now = ctx.now()
    with unit_of_work(ctx) as session:
        user = session.get(StaffUser, user_id)
        if user is None or not user.active or user.must_change_password:
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
            clinic = session.get(Clinic, user.clinic_id)
            view = WebSessionView(
                user=user_view(user),
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                expires_at=_expiry(ctx.settings, row.created_at, row.last_seen_at),
                # Read raw: saved settings were validated, and this runs on every page.
                time_zone=str((clinic.settings or {}).get("time_zone") or "UTC")
                if clinic
                else "UTC",
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
