"""Clients and care episodes: create a client with their first episode, start another episode
(e.g. after a transfer), end an episode with its reason, read a client's record.

:func:`open_episode` is the one way an episode row comes into being — at intake, when a
matching decision places a client, and at a hand-over — so the team rules (who may own a
client, who may assign them, one open episode per client, the audit event) hold on every
path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.services.admin import validate_instruments
from alliance.services.authz import (
    Actor,
    require_client,
    require_staff,
    visible_therapist_ids,
)
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.contact import optional_email_address
from alliance.services.context import ServiceContext
from alliance.services.episodes import resolve_episode
from alliance.services.errors import Conflict, InvalidInput
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import ClientView, EpisodeView, NamesakeView
from alliance.store.crypto import FieldCipher
from alliance.store.encrypted import field_of
from alliance.store.models import Client, Clinic, Episode, StaffUser

END_REASONS = ("completed", "dropout", "fit", "transfer", "other")
CONTACT_FIELD = field_of(Client.contact_email_enc)


def same_name_key(name: str) -> str:
    """What two display names are compared by: case and runs of spaces do not tell people
    apart on a screen, so "Tina  K" and "tina k" count as the same name."""
    return " ".join(name.split()).casefold()


def client_view(client: Client, cipher: FieldCipher) -> ClientView:
    return ClientView(
        id=client.id,
        clinic_id=client.clinic_id,
        display_name=client.display_name,
        contact_email=cipher.decrypt_optional(client.contact_email_enc, field=CONTACT_FIELD),
        created_at=client.created_at,
        checkin_emails_opt_out=bool(client.checkin_emails_opt_out),
    )


def episode_view(episode: Episode) -> EpisodeView:
    return EpisodeView(
        id=episode.id,
        client_id=episode.client_id,
        therapist_id=episode.therapist_id,
        started_at=episode.started_at,
        ended_at=episode.ended_at,
        end_reason=episode.end_reason,
        instruments=tuple(str(v) for v in episode.instruments),
    )


def _instrument_list(
    ctx: ServiceContext, clinic: Clinic, chosen: Sequence[str] | None
) -> list[str]:
    if chosen is None:
        return list(ClinicSettings.from_json(clinic.settings).instruments.all())
    ids = list(dict.fromkeys(str(v) for v in chosen))
    if not ids:
        raise InvalidInput("instruments", "choose at least one instrument")
    validate_instruments(ctx, ids, field="instruments")
    return ids


def add_client(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    clinic_id: int,
    display_name: str,
    contact_email: str | None,
    created_at: datetime,
) -> Client:
    """One place for adding a client row: the e-mail is encrypted, the row flushed for its id and
    its creation audited (used here and when a matching decision places a new client)."""
    client = Client(
        clinic_id=clinic_id,
        display_name=display_name,
        contact_email_enc=ctx.cipher.encrypt_optional(contact_email, field=CONTACT_FIELD),
        created_at=created_at,
    )
    session.add(client)
    session.flush()
    record(session, ctx, actor, "write", "client", client.id, {"op": "create"})
    return client


#: Who chose the episode's therapist. ``"actor"``: the person opening it, who may only give a
#: client to someone they run the work of (a therapist to themselves, a supervisor to their
#: team, an admin to anyone). ``"matching"``: an admin's decision on the matching queue.
#: ``"handover"``: a hand-over, with the client's consent, by someone who may see the ended
#: episode, to any active colleague.
EpisodeOrigin = Literal["actor", "matching", "handover"]


def _episode_owner(
    session: Session,
    actor: Actor,
    client: Client,
    therapist_id: int,
    *,
    origin: EpisodeOrigin,
    field: str,
) -> StaffUser:
    """The staff user who will run the episode, if the team rules allow it, else
    :class:`InvalidInput` naming ``field``."""
    therapist = session.get(StaffUser, therapist_id)
    if therapist is None or therapist.clinic_id != client.clinic_id:
        # Another clinic's user reads as no user at all: nothing crosses clinics.
        raise InvalidInput(field, f"no active therapist {therapist_id} in this clinic")
    if not therapist.active:
        raise InvalidInput(
            field, f"{therapist.display_name} (user {therapist_id}) is deactivated in this clinic"
        )
    if origin != "actor":
        return therapist
    if actor.role == "therapist" and therapist_id != actor.user_id:
        raise InvalidInput(field, "therapists can only open episodes for themselves")
    if (
        actor.role == "supervisor"
        and therapist_id != actor.user_id
        and (therapist.supervisor_id != actor.user_id)
    ):
        raise InvalidInput(field, "supervisors can only assign their own team")
    return therapist


def open_episode(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    client: Client,
    therapist_id: int,
    started_at: datetime,
    instruments: list[str],
    origin: EpisodeOrigin = "actor",
    field: str = "therapist",
    audit_detail: Mapping[str, object] | None = None,
) -> Episode:
    """Open a care episode for ``client`` with ``therapist_id``, under the team rules.

    The therapist must be an active staff user of the client's clinic (and, for
    ``origin="actor"``, one the actor may assign: see :data:`EpisodeOrigin`); the client must
    have no other open episode (:class:`Conflict`). The row is flushed for its id and its
    creation audited with the client, the therapist and ``audit_detail``. The caller's unit of
    work commits it, or rolls back everything it wrote before a refusal here.
    """
    if actor.clinic_id is not None and client.clinic_id != actor.clinic_id:
        raise InvalidInput("client", "the client is not in your clinic")
    therapist = _episode_owner(session, actor, client, therapist_id, origin=origin, field=field)
    still_open = session.scalar(
        select(Episode.id).where(Episode.client_id == client.id, Episode.ended_at.is_(None))
    )
    if still_open is not None:
        raise Conflict(f"client {client.id} still has open episode {still_open}")
    episode = Episode(
        client_id=client.id,
        therapist_id=therapist.id,
        started_at=started_at,
        ended_at=None,
        end_reason=None,
        instruments=instruments,
    )
    session.add(episode)
    session.flush()
    record(
        session,
        ctx,
        actor,
        "write",
        "episode",
        episode.id,
        {
            "op": "create",
            "client_id": client.id,
            "therapist_id": therapist.id,
            **(audit_detail or {}),
        },
    )
    return episode


@denials_audited
def create_client(
    ctx: ServiceContext,
    *,
    actor: Actor,
    display_name: str,
    therapist_id: int | None = None,
    contact_email: str | None = None,
    instruments: Sequence[str] | None = None,
    started_at: datetime | None = None,
) -> tuple[ClientView, EpisodeView]:
    """A new client and their first care episode (therapist defaults to the acting therapist;
    instruments default to the clinic's choice). The display name should be a pseudonym."""
    require_staff(actor)
    name = display_name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("display_name", "give a pseudonymous name of 1–200 characters")
    email = optional_email_address(contact_email, field="contact_email")
    with unit_of_work(ctx) as session:
        clinic = session.get(Clinic, actor.clinic_id)
        if clinic is None:
            raise InvalidInput("clinic", "no clinic")
        chosen = _instrument_list(ctx, clinic, instruments)
        now = ctx.now()
        client = add_client(
            session,
            ctx,
            actor,
            clinic_id=clinic.id,
            display_name=name,
            contact_email=email,
            created_at=now,
        )
        episode = open_episode(
            session,
            ctx,
            actor,
            client=client,
            therapist_id=therapist_id or actor.user_id or 0,
            started_at=started_at or now,
            instruments=chosen,
        )
        return client_view(client, ctx.cipher), episode_view(episode)


@denials_audited
def clients_named(
    ctx: ServiceContext, *, actor: Actor, display_name: str
) -> tuple[NamesakeView, ...]:
    """Clients in care (an open episode) that the actor sees under the same name as
    ``display_name``, oldest first: the page warns before a second "Tina" joins the caseload
    and looks like the first. Only the actor's own view is searched, so the warning tells
    nobody about clients they may not see (audited read)."""
    require_staff(actor)
    key = same_name_key(display_name)
    if not key:
        return ()
    with unit_of_work(ctx) as session:
        query = (
            select(Client, Episode, StaffUser.display_name)
            .join(Episode, Episode.client_id == Client.id)
            .join(StaffUser, StaffUser.id == Episode.therapist_id)
            .where(Client.clinic_id == actor.clinic_id, Episode.ended_at.is_(None))
            .order_by(Episode.started_at, Client.id)
        )
        therapists = visible_therapist_ids(session, actor)
        if therapists is not None:
            query = query.where(Episode.therapist_id.in_(therapists))
        found = tuple(
            NamesakeView(
                client_id=client.id,
                display_name=client.display_name,
                therapist_name=therapist_name,
                started_at=episode.started_at,
            )
            for client, episode, therapist_name in session.execute(query).all()
            if same_name_key(client.display_name) == key
        )
        for view in found:
            record(session, ctx, actor, "read", "client", view.client_id, {"what": "same name"})
        return found


@denials_audited
def start_episode(
    ctx: ServiceContext,
    *,
    actor: Actor,
    client_id: int,
    therapist_id: int,
    instruments: Sequence[str] | None = None,
) -> EpisodeView:
    """A further episode for a known client (e.g. after re-matching). The client must have no
    episode still open."""
    require_staff(actor, "admin", "supervisor", "therapist")
    with unit_of_work(ctx) as session:
        client = require_client(session, actor, client_id)
        clinic = session.get(Clinic, client.clinic_id)
        assert clinic is not None
        episode = open_episode(
            session,
            ctx,
            actor,
            client=client,
            therapist_id=therapist_id,
            started_at=ctx.now(),
            instruments=_instrument_list(ctx, clinic, instruments),
        )
        return episode_view(episode)


@denials_audited
def end_episode(
    ctx: ServiceContext,
    *,
    actor: Actor,
    reason: str,
    episode_id: int | None = None,
    client_id: int | None = None,
) -> EpisodeView:
    """End a care episode with its reason (completed, dropout, fit, transfer, other).

    Name the episode by ``client_id`` (the client's current episode) or by ``episode_id``.
    """
    if reason not in END_REASONS:
        raise InvalidInput("reason", f"must be one of {', '.join(END_REASONS)}, not {reason!r}")
    require_staff(actor)
    with unit_of_work(ctx) as session:
        episode = resolve_episode(session, actor, client_id=client_id, episode_id=episode_id)
        if episode.ended_at is not None:
            raise Conflict(f"episode {episode.id} already ended ({episode.end_reason})")
        episode.ended_at = ctx.now()
        episode.end_reason = reason
        record(session, ctx, actor, "write", "episode", episode.id, {"op": "end", "reason": reason})
        return episode_view(episode)


@denials_audited
def get_client(
    ctx: ServiceContext, *, actor: Actor, client_id: int
) -> tuple[ClientView, list[EpisodeView]]:
    """The client and the episodes the actor may see (audited read)."""
    from alliance.services.authz import can_see_episode

    with unit_of_work(ctx) as session:
        client = require_client(session, actor, client_id)
        episodes = [
            e
            for e in session.scalars(
                select(Episode)
                .where(Episode.client_id == client.id)
                .order_by(Episode.started_at, Episode.id)
            )
            if can_see_episode(session, actor, e, client)
        ]
        record(session, ctx, actor, "read", "client", client.id, {"what": "record"})
        return client_view(client, ctx.cipher), [episode_view(e) for e in episodes]


@denials_audited
def update_client_contact(
    ctx: ServiceContext, *, actor: Actor, client_id: int, contact_email: str | None
) -> ClientView:
    """Set or clear a client's (encrypted) contact e-mail."""
    email = optional_email_address(contact_email, field="contact_email")
    with unit_of_work(ctx) as session:
        client = require_client(session, actor, client_id)
        client.contact_email_enc = ctx.cipher.encrypt_optional(email, field=CONTACT_FIELD)
        record(session, ctx, actor, "write", "client", client.id, {"op": "contact"})
        return client_view(client, ctx.cipher)
