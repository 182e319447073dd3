"""Clinic administration: clinics, their settings, staff accounts, teams and the audit trail
(admins only, within their own clinic). Therapists' profiles are matching profiles
(:mod:`alliance.services.matching`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from alliance.measures.plan import GOALS
from alliance.measures.registry import InstrumentError
from alliance.services.auth import _check_supervisor, revoke_credentials, user_view
from alliance.services.authz import (
    Actor,
    forbidden,
    require_staff,
    require_user_admin,
)
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.errors import InvalidInput, NotFound
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import AuditEventView, ClinicView, UserView
from alliance.store import audit
from alliance.store.models import AuditEvent, Client, Clinic, StaffUser


def clinic_view(clinic: Clinic) -> ClinicView:
    return ClinicView(
        id=clinic.id, name=clinic.name, settings=ClinicSettings.from_json(clinic.settings)
    )


def validate_instruments(ctx: ServiceContext, ids: Sequence[str], *, field: str) -> None:
    """Every id names an instrument the registry can load (bundled or ALLIANCE_INSTRUMENTS_DIR)."""
    for instrument_id in ids:
        try:
            ctx.instruments.get(instrument_id)
        except InstrumentError as exc:
            raise InvalidInput(field, str(exc)) from exc


@denials_audited
def create_clinic(
    ctx: ServiceContext, *, actor: Actor, name: str, settings: ClinicSettings | None = None
) -> ClinicView:
    """A new tenant. Only a system actor (the CLI, the demo seed) may create clinics."""
    if not name.strip():
        raise InvalidInput("name", "must not be empty")
    chosen = settings or ClinicSettings()
    validate_instruments(ctx, chosen.instruments.all(), field="instruments")
    with unit_of_work(ctx) as session:
        if actor.kind != "system":
            raise forbidden(actor, "create clinics")
        clinic = Clinic(name=name.strip(), settings=chosen.to_json(), created_at=ctx.now())
        session.add(clinic)
        session.flush()
        record(
            session, ctx, actor, "write", "clinic", clinic.id, {"op": "create"}, clinic_id=clinic.id
        )
        return clinic_view(clinic)


@denials_audited
def get_clinic(ctx: ServiceContext, *, actor: Actor) -> ClinicView:
    """The actor's own clinic (any staff role)."""
    with unit_of_work(ctx) as session:
        if actor.clinic_id is None:
            raise NotFound("no clinic")
        clinic = session.get(Clinic, actor.clinic_id)
        if clinic is None:
            raise NotFound("no clinic")
        return clinic_view(clinic)


@denials_audited
def update_clinic_settings(
    ctx: ServiceContext, *, actor: Actor, settings: ClinicSettings | dict[str, Any]
) -> ClinicView:
    """Replace the clinic's settings (admins). Instrument ids (chosen and planned) are checked
    against the registry."""
    if isinstance(settings, dict):
        try:
            settings = ClinicSettings.model_validate(settings)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "settings"
            raise InvalidInput(where, first["msg"]) from exc
    validate_instruments(ctx, settings.instruments.all(), field="instruments")
    planned = tuple(k for k in settings.measurement_plan.cadences if k != GOALS)
    if planned:
        validate_instruments(ctx, planned, field="measurement_plan")
    with unit_of_work(ctx) as session:
        require_user_admin(session, actor)
        clinic = session.get(Clinic, actor.clinic_id)
        if clinic is None:
            raise NotFound("no clinic")
        clinic.settings = settings.to_json()
        record(session, ctx, actor, "write", "clinic", clinic.id, {"op": "settings"})
        return clinic_view(clinic)


@denials_audited
def list_users(ctx: ServiceContext, *, actor: Actor) -> list[UserView]:
    """Staff of the actor's clinic (admins and supervisors)."""
    require_staff(actor, "admin", "supervisor")
    with unit_of_work(ctx) as session:
        rows = session.scalars(
            select(StaffUser)
            .where(StaffUser.clinic_id == actor.clinic_id)
            .order_by(StaffUser.role, StaffUser.display_name)
        )
        return [user_view(user) for user in rows]


@denials_audited
def set_user_active(ctx: ServiceContext, *, actor: Actor, user_id: int, active: bool) -> UserView:
    """Deactivate (or reactivate) a staff account. Deactivating ends every web session and
    revokes every access token of the user for good: reactivation restores the account, not
    them (the user signs in again and makes new tokens)."""
    with unit_of_work(ctx) as session:
        user = require_user_admin(session, actor, user_id)
        assert user is not None
        if user.id == actor.user_id and not active:
            raise InvalidInput("user", "you cannot deactivate yourself")
        user.active = active
        if not active:
            revoke_credentials(session, ctx, user.id, "deactivated")
        record(
            session,
            ctx,
            actor,
            "write",
            "staff_user",
            user.id,
            {"op": "activate" if active else "deactivate"},
        )
        return user_view(user)


@denials_audited
def deactivate_user(ctx: ServiceContext, *, actor: Actor, user_id: int) -> UserView:
    return set_user_active(ctx, actor=actor, user_id=user_id, active=False)


@denials_audited
def assign_team(
    ctx: ServiceContext, *, actor: Actor, therapist_id: int, supervisor_id: int | None
) -> UserView:
    """Put a therapist in a supervisor's team (``None`` removes them from any team)."""
    with unit_of_work(ctx) as session:
        user = require_user_admin(session, actor, therapist_id)
        assert user is not None
        if supervisor_id is not None:
            if supervisor_id == therapist_id:
                raise InvalidInput("supervisor", "a user cannot supervise themself")
            _check_supervisor(session, user.clinic_id, supervisor_id)
        user.supervisor_id = supervisor_id
        record(
            session,
            ctx,
            actor,
            "write",
            "staff_user",
            user.id,
            {"op": "team", "supervisor_id": supervisor_id},
        )
        return user_view(user)


#: Who an event's actor is when no colleague's name applies.
_ACTOR_WORDS = {
    "client_link": "client (check-in link)",
    "system": "system",
    "anonymous": "anonymous visitor",
}
#: Records named after a staff member (their id is the record's id).
_USER_RECORDS = {"staff_user": "{name}'s account", "matching_profile": "{name}'s matching profile"}


@denials_audited
def list_audit_events(
    ctx: ServiceContext,
    *,
    actor: Actor,
    entity_type: str | None = None,
    entity_id: int | str | None = None,
    action: str | None = None,
    actor_id: int | None = None,
    client_id: int | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    limit: int = 200,
    export: bool = False,
) -> list[AuditEventView]:
    """The clinic's audit trail, newest first (admins), filtered by whichever of record,
    action, colleague (``actor_id``), client and time window (``since`` inclusive,
    ``before`` exclusive) are given. Each event carries who and which record in words.
    Reading it is itself audited (as an ``export`` when ``export``, e.g. a CSV download)."""
    with unit_of_work(ctx) as session:
        require_user_admin(session, actor)
        rows = audit.events(
            session,
            clinic_id=actor.clinic_id,
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            actor_type="staff" if actor_id is not None else None,
            actor_id=actor_id,
            client_id=client_id,
            since=since,
            before=before,
            limit=min(limit, 5000),
        )
        staff = {
            u.id: (u.display_name, u.role)
            for u in session.scalars(
                select(StaffUser).where(StaffUser.clinic_id == actor.clinic_id)
            )
        }
        client_ids = {
            int(row.entity_id)
            for row in rows
            if row.entity_type == "client" and row.entity_id and row.entity_id.isdigit()
        }
        client_names = {
            c.id: c.display_name
            for c in session.scalars(
                select(Client).where(Client.id.in_(client_ids), Client.clinic_id == actor.clinic_id)
            )
        }

        def who(row: AuditEvent) -> str:
            if row.actor_type == "staff" and row.actor_id in staff:
                name, role = staff[row.actor_id]
                return f"{name} ({role})"
            return _ACTOR_WORDS.get(row.actor_type, row.actor_type.replace("_", " "))

        def which(row: AuditEvent) -> str:
            kind = row.entity_type.replace("_", " ")
            ref = row.entity_id if row.entity_id and row.entity_id.isdigit() else None
            if ref is None:
                return kind
            if row.entity_type == "client" and int(ref) in client_names:
                return f"client {client_names[int(ref)]} (ref. {ref})"
            if row.entity_type in _USER_RECORDS and int(ref) in staff:
                return _USER_RECORDS[row.entity_type].format(name=staff[int(ref)][0])
            return f"{kind} ref. {ref}"

        views = [
            AuditEventView(
                id=row.id,
                at=row.at,
                actor_type=row.actor_type,
                actor_id=row.actor_id,
                action=row.action,
                entity_type=row.entity_type,
                entity_id=row.entity_id,
                detail=dict(row.detail),
                actor_name=who(row),
                record_name=which(row),
            )
            for row in rows
        ]
        shown = {
            "count": len(views),
            **{
                k: v
                for k, v in (
                    ("action", action),
                    ("actor_id", actor_id),
                    ("client_id", client_id),
                    ("since", since.isoformat() if since else None),
                    ("before", before.isoformat() if before else None),
                )
                if v is not None
            },
        }
        if export:
            record(session, ctx, actor, "export", "audit_events", None, {**shown, "format": "csv"})
            return views
        record(session, ctx, actor, "read", "audit_events", None, shown)
        return views
