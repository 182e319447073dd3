"""Who may do what: the one place the access rules live.

Every service takes ``actor=`` and calls one of the ``require_*`` functions below before it
touches a record. The rules:

- a **therapist** sees the clients and episodes they run (their own episodes, current or past);
- a **supervisor** sees their own episodes and those of the therapists they supervise;
- an **admin** sees everything in their clinic;
- a **client link** sees only the one check-in (and its episode) it was issued for;
- a **system** actor (CLI maintenance, the demo seed) sees everything in its clinic, or every
  clinic when ``clinic_id`` is None;
- nothing ever crosses clinics.

A record the actor may not see raises :class:`NotFound` (the same answer as for a record that
does not exist, so existence does not leak). Each denial carries an audit event that
:func:`alliance.services.unit.unit_of_work` writes *after* the failed transaction has rolled
back, so denials are recorded even though the work was not done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from alliance.services.errors import Forbidden, NotFound
from alliance.store.models import Alert, CheckIn, Client, Episode, StaffUser

ActorKind = Literal["staff", "client_link", "system"]
Role = Literal["admin", "supervisor", "therapist"]
ROLES: tuple[Role, ...] = ("admin", "supervisor", "therapist")


@dataclass(frozen=True)
class Actor:
    """Who is acting. Build staff actors with :func:`staff_actor`, never from request data."""

    kind: ActorKind
    clinic_id: int | None
    user_id: int | None = None
    role: Role | None = None
    checkin_id: int | None = None

    @property
    def audit_type(self) -> str:
        return self.kind

    @property
    def audit_id(self) -> int | None:
        return self.checkin_id if self.kind == "client_link" else self.user_id


def staff_actor(user: StaffUser) -> Actor:
    return Actor(kind="staff", clinic_id=user.clinic_id, user_id=user.id, role=_role(user.role))


def system_actor(clinic_id: int | None = None) -> Actor:
    return Actor(kind="system", clinic_id=clinic_id)


def link_actor(checkin: CheckIn, clinic_id: int) -> Actor:
    return Actor(kind="client_link", clinic_id=clinic_id, checkin_id=checkin.id)


def _role(value: str) -> Role:
    if value == "admin":
        return "admin"
    if value == "supervisor":
        return "supervisor"
    return "therapist"


def _denied(actor: Actor, entity_type: str, entity_id: object, *, why: str) -> dict[str, Any]:
    return {
        "actor_type": actor.audit_type,
        "actor_id": actor.audit_id,
        "clinic_id": actor.clinic_id,
        "action": "deny",
        "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id),
        "detail": {"why": why, "role": actor.role},
    }


def not_found(actor: Actor, entity_type: str, entity_id: object, *, why: str) -> NotFound:
    """A :class:`NotFound` carrying the denial's audit event."""
    error = NotFound(f"{entity_type.replace('_', ' ')} {entity_id} not found")
    error.audit = _denied(actor, entity_type, entity_id, why=why)
    return error


def forbidden(
    actor: Actor, what: str, *, entity_type: str = "clinic", entity_id: object = None
) -> Forbidden:
    error = Forbidden(f"your role may not {what}")
    error.audit = _denied(actor, entity_type, entity_id, why=what)
    return error


def require_staff(actor: Actor, *roles: Role) -> None:
    """The actor is staff with one of ``roles`` (any role when none are given)."""
    if actor.kind != "staff" or actor.user_id is None or actor.role is None:
        raise forbidden(actor, "use staff functions")
    if roles and actor.role not in roles:
        raise forbidden(actor, f"do this (needs {' or '.join(roles)})")


def _team_ids(session: Session, supervisor_id: int) -> set[int]:
    rows = session.scalars(select(StaffUser.id).where(StaffUser.supervisor_id == supervisor_id))
    return {supervisor_id, *rows}


def can_see_episode(session: Session, actor: Actor, episode: Episode, client: Client) -> bool:
    if actor.clinic_id is not None and client.clinic_id != actor.clinic_id:
        return False
    if actor.kind == "system":
        return True
    if actor.kind == "client_link":
        if actor.checkin_id is None:
            return False
        checkin = session.get(CheckIn, actor.checkin_id)
        return checkin is not None and checkin.episode_id == episode.id
    if actor.role == "admin":
        return True
    if actor.role == "supervisor" and actor.user_id is not None:
        return episode.therapist_id in _team_ids(session, actor.user_id)
    return episode.therapist_id == actor.user_id


def visible_therapist_ids(session: Session, actor: Actor) -> set[int] | None:
    """Therapists whose episodes the actor sees; ``None`` = all in the actor's clinic."""
    if actor.kind == "system" or actor.role == "admin":
        return None
    if actor.kind != "staff" or actor.user_id is None:
        return set()
    if actor.role == "supervisor":
        return _team_ids(session, actor.user_id)
    return {actor.user_id}


def require_client(session: Session, actor: Actor, client_id: int) -> Client:
    """The client, if the actor may see them (see the module docstring), else :class:`NotFound`."""
    client = session.get(Client, client_id)
    if client is None:
        raise not_found(actor, "client", client_id, why="no such client")
    if actor.clinic_id is not None and client.clinic_id != actor.clinic_id:
        raise not_found(actor, "client", client_id, why="other clinic")
    if actor.kind == "system" or (actor.kind == "staff" and actor.role == "admin"):
        return client
    if actor.kind == "client_link":
        checkin = session.get(CheckIn, actor.checkin_id) if actor.checkin_id else None
        episode = session.get(Episode, checkin.episode_id) if checkin else None
        if episode is not None and episode.client_id == client.id:
            return client
        raise not_found(actor, "client", client_id, why="other client")
    therapists = visible_therapist_ids(session, actor)
    if therapists:
        runs = session.scalar(
            select(
                exists().where(Episode.client_id == client.id, Episode.therapist_id.in_(therapists))
            )
        )
        if runs:
            return client
    raise not_found(actor, "client", client_id, why="not on caseload")


def require_episode(session: Session, actor: Actor, episode_id: int) -> Episode:
    """The episode, if the actor may see it, else :class:`NotFound`."""
    episode = session.get(Episode, episode_id)
    if episode is None:
        raise not_found(actor, "episode", episode_id, why="no such episode")
    client = session.get(Client, episode.client_id)
    if client is None or not can_see_episode(session, actor, episode, client):
        raise not_found(actor, "episode", episode_id, why="not on caseload")
    return episode


def require_alert(session: Session, actor: Actor, alert_id: int) -> Alert:
    """The alert, if the actor may see its episode, else :class:`NotFound`."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise not_found(actor, "alert", alert_id, why="no such alert")
    episode = session.get(Episode, alert.episode_id)
    client = session.get(Client, alert.client_id)
    if episode is None or client is None or not can_see_episode(session, actor, episode, client):
        raise not_found(actor, "alert", alert_id, why="not on caseload")
    return alert


def require_user_admin(
    session: Session, actor: Actor, user_id: int | None = None
) -> StaffUser | None:
    """The actor administers their clinic; with ``user_id``, that user is in the same clinic.

    System actors pass (the CLI creates the first admin). Returns the target user when given.
    """
    if actor.kind != "system":
        require_staff(actor, "admin")
    if user_id is None:
        return None
    user = session.get(StaffUser, user_id)
    if user is None or (actor.clinic_id is not None and user.clinic_id != actor.clinic_id):
        raise not_found(actor, "staff_user", user_id, why="no such user in clinic")
    return user


def require_same_clinic(actor: Actor, clinic_id: int) -> None:
    """Staff may only act within their clinic."""
    if actor.clinic_id is not None and actor.clinic_id != clinic_id:
        raise not_found(actor, "clinic", clinic_id, why="other clinic")
