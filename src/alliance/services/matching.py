"""Matching use cases for the clinic app: intake, the admin's matching queue, decisions,
therapists' matching profiles and alternatives when a fit ends.

Each function is one unit of work. The matching itself is :mod:`alliance.matching` (pure);
here the clinic's records are turned into its inputs:

* a therapist is matchable when they have a matching profile; their current caseload is the
  number of their open episodes;
* the queue is the clinic's intake requests with status ``waiting``;
* strengths come from the clinic's own history: episodes placed through matching (so the
  concern domain is known), with intake severity and improvement from the first outcome
  instrument of the clinic's choice that has two valid scores, and the mean of the first
  alliance instrument's valid scores.

Intakes, contact details, the reasons shown at decision time and notes are stored encrypted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.matching import (
    Assignment,
    ClientIntake,
    HistoryRow,
    OverrideError,
    Placement,
    Roster,
    TherapistProfile,
    apply_override,
    assign_queue,
    constraint_text,
    estimate_strengths,
    propose_rematch,
    rank_matches,
    vocabulary,
)
from alliance.matching.refit import FIT_END_REASONS, FitEndDetail
from alliance.messages import Msg, message_of
from alliance.services.authz import (
    Actor,
    not_found,
    require_episode,
    require_staff,
    require_user_admin,
)
from alliance.services.clients import add_client, open_episode
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.contact import optional_email_address, optional_phone_number
from alliance.services.context import ServiceContext
from alliance.services.episodes import instrument
from alliance.services.errors import Conflict, InvalidInput, NotFound
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import (
    HandoverView,
    IntakeClinicView,
    MatchDecisionView,
    MatchingProfileView,
    MatchingQueueView,
    MatchView,
    ProposalView,
)
from alliance.store import audit
from alliance.store.encrypted import field_of
from alliance.store.matching_tables import (
    HandoverNote,
    IntakeRequest,
    MatchDecision,
    MatchingProfile,
)
from alliance.store.models import Client, Clinic, Episode, Score, StaffUser

INTAKE_FIELD = field_of(IntakeRequest.intake_enc)
NAME_FIELD = field_of(IntakeRequest.contact_name_enc)
EMAIL_FIELD = field_of(IntakeRequest.contact_email_enc)
PHONE_FIELD = field_of(IntakeRequest.contact_phone_enc)
REASONS_FIELD = field_of(MatchDecision.reasons_enc)
NOTE_FIELD = field_of(MatchDecision.note_enc)
HANDOVER_NOTE_FIELD = field_of(HandoverNote.note_enc)

__all__ = [
    "decide",
    "get_profile",
    "hand_over",
    "intake_clinic",
    "matching_queue",
    "rematch_alternatives",
    "save_profile",
    "submit_intake",
]


# --------------------------------------------------------------------------- helpers


def _json_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "intake"


#: Pydantic's own refusals that a client can reach on the intake form (a language name over
#: 80 characters, a negative fee, no concern chosen), by error type: the message id a client
#: page translates, filled from the error's ``ctx``. Pydantic's English words stay as they are.
_PYDANTIC_MESSAGES = {
    "too_long": "at most {max_length} characters",
    "string_too_long": "at most {max_length} characters",
    "too_short": "choose at least {min_length}",
    "greater_than_equal": "must be at least {ge}",
}


def _message(error: Mapping[str, Any]) -> str:
    """One pydantic error's message: our validator's own (a :class:`Msg` kept as it was
    raised, which a client page can translate), else pydantic's words (translatable on a
    client page when :data:`_PYDANTIC_MESSAGES` knows the error)."""
    ctx = error.get("ctx") or {}
    raised = ctx.get("error")
    if isinstance(raised, ValueError):
        return message_of(raised)
    text = str(error["msg"]).removeprefix("Value error, ")
    msgid = _PYDANTIC_MESSAGES.get(str(error["type"]))
    if msgid is None:
        return text
    # A bound of 0.0 reads "0", as pydantic's own message writes it.
    params = {
        key: int(value) if isinstance(value, float) and value.is_integer() else value
        for key, value in ctx.items()
    }
    return Msg.worded(text, msgid, **params)


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    # Our validators' own words, without pydantic's "Value error, " in front of them.
    return [(_json_path(error["loc"]), _message(error)) for error in exc.errors()]


def _invalid(exc: ValidationError) -> InvalidInput:
    """Every problem pydantic found, the first one named as ``field``."""
    return InvalidInput.of(_problems(exc))


def _caseloads(session: Session, clinic_id: int) -> dict[int, int]:
    rows = session.execute(
        select(Episode.therapist_id, func.count(Episode.id))
        .join(Client, Client.id == Episode.client_id)
        .where(Client.clinic_id == clinic_id, Episode.ended_at.is_(None))
        .group_by(Episode.therapist_id)
    )
    return {int(t): int(n) for t, n in rows}


def _to_profile(user: StaffUser, stored: Mapping[str, Any], caseload: int) -> TherapistProfile:
    data = dict(stored)
    capacity = dict(data.get("capacity") or {})
    capacity["current_caseload"] = caseload
    data.update(id=str(user.id), name=user.display_name, capacity=capacity)
    return TherapistProfile.model_validate(data)


def _roster_profiles(session: Session, clinic_id: int) -> tuple[list[TherapistProfile], list[str]]:
    caseloads = _caseloads(session, clinic_id)
    users = session.scalars(
        select(StaffUser).where(StaffUser.clinic_id == clinic_id, StaffUser.active.is_(True))
    ).all()
    stored = {
        p.user_id: p
        for p in session.scalars(
            select(MatchingProfile).where(MatchingProfile.clinic_id == clinic_id)
        )
    }
    profiles: list[TherapistProfile] = []
    missing: list[str] = []
    for user in users:
        row = stored.get(user.id)
        if row is None:
            if user.role == "therapist":
                missing.append(user.display_name)
            continue
        try:
            profiles.append(_to_profile(user, row.profile, caseloads.get(user.id, 0)))
        except ValidationError:
            # A profile saved under an older vocabulary: listed for fixing, not matched.
            missing.append(user.display_name)
    return profiles, missing


def _intake_of(ctx: ServiceContext, request: IntakeRequest) -> ClientIntake:
    data = json.loads(ctx.cipher.decrypt(request.intake_enc, field=INTAKE_FIELD))
    data["id"] = str(request.id)
    return ClientIntake.model_validate(data)


def _history(ctx: ServiceContext, session: Session, clinic: Clinic) -> list[HistoryRow]:
    choice = ClinicSettings.from_json(clinic.settings).instruments
    placed = session.scalars(
        select(IntakeRequest).where(
            IntakeRequest.clinic_id == clinic.id, IntakeRequest.episode_id.is_not(None)
        )
    ).all()
    directions: dict[str, bool] = {}
    rows: list[HistoryRow] = []
    for request in placed:
        episode = session.get(Episode, request.episode_id)
        if episode is None:
            continue
        scores = session.scalars(
            select(Score)
            .where(Score.episode_id == episode.id, Score.valid.is_(True))
            .order_by(Score.session_number, Score.scored_at)
        ).all()
        by_instrument: dict[str, list[float]] = {}
        for s in scores:
            if s.total is not None:
                by_instrument.setdefault(s.instrument_id, []).append(float(s.total))
        outcome = next((i for i in choice.outcome if len(by_instrument.get(i, [])) >= 2), None)
        if outcome is None:
            continue
        if outcome not in directions:
            directions[outcome] = instrument(ctx, outcome).direction == "higher_is_worse"
        first, last = by_instrument[outcome][0], by_instrument[outcome][-1]
        alliance = next((by_instrument[i] for i in choice.alliance if i in by_instrument), None)
        rows.append(
            HistoryRow(
                therapist_id=str(episode.therapist_id),
                concern=_intake_of(ctx, request).concerns[0],
                intake_severity=first,
                improvement=first - last if directions[outcome] else last - first,
                alliance=None if alliance is None else sum(alliance) / len(alliance),
            )
        )
    return rows


def _out(match: Any) -> MatchView:
    return MatchView(
        therapist_id=int(match.therapist_id),
        therapist_name=str(getattr(match, "therapist_name", "")),
        score=float(match.score),
        reasons=tuple(match.reasons),
        caveats=tuple(match.caveats),
    )


def _wishes(intake: ClientIntake) -> tuple[str, ...]:
    voc = vocabulary()
    out = []
    for p in intake.preferences:
        if p.importance == "dont_mind":
            continue
        said = ", ".join(p.said) if p.said else ", ".join(p.values) or "yes"
        label = "must" if p.importance == "must" else "prefers"
        out.append(f"{label} {p.attribute.replace('_', ' ')}: {said}")
    out.append("languages: " + ", ".join(intake.languages))
    out.append("modes: " + ", ".join(voc.modes.get(m, m) for m in intake.modes))
    return tuple(out)


class _Queue:
    """The clinic's matching inputs and the optimiser's answer, built inside one unit of work."""

    def __init__(self, ctx: ServiceContext, session: Session, clinic: Clinic) -> None:
        self.profiles, self.missing = _roster_profiles(session, clinic.id)
        self.history = _history(ctx, session, clinic)
        self.roster = Roster.build(self.profiles, estimate_strengths(self.history))
        self.requests = session.scalars(
            select(IntakeRequest)
            .where(IntakeRequest.clinic_id == clinic.id, IntakeRequest.status == "waiting")
            .order_by(IntakeRequest.id)
        ).all()
        self.intakes = [_intake_of(ctx, r) for r in self.requests]
        self.assignment: Assignment = assign_queue(self.intakes, self.roster)

    def placement(self, intake_id: int) -> Placement | None:
        return next((p for p in self.assignment.placements if p.client_id == str(intake_id)), None)


def _clinic(session: Session, actor: Actor) -> Clinic:
    clinic = session.get(Clinic, actor.clinic_id)
    if clinic is None:
        raise NotFound("clinic not found")
    return clinic


# --------------------------------------------------------------------------- use cases


def intake_clinic(ctx: ServiceContext, clinic_id: int) -> IntakeClinicView:
    """The clinic's name and client-page language for the public intake page;
    :class:`NotFound` for no such clinic."""
    with unit_of_work(ctx) as session:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None:
            raise NotFound("there is no such clinic")
        language = ClinicSettings.from_json(clinic.settings).client_language
        return IntakeClinicView(name=str(clinic.name), client_language=language)


@denials_audited
def submit_intake(
    ctx: ServiceContext,
    *,
    clinic_id: int | None,
    intake: Mapping[str, Any],
    contact_name: str,
    contact_email: str | None = None,
    actor: Actor | None = None,
    contact_phone: str | None = None,
) -> int:
    """Store a client's intake in the clinic's matching queue; returns its id.

    Public (no account) when ``actor`` is None; through the API a staff actor posts into their
    own clinic (naming another ``clinic_id`` is refused as not found). The intake is validated
    by :class:`alliance.matching.ClientIntake`; a field that is wrong raises
    :class:`InvalidInput` naming its path. Consent is required.
    """
    if actor is not None:
        require_staff(actor)
        if clinic_id is not None and clinic_id != actor.clinic_id:
            raise not_found(actor, "clinic", clinic_id, why="intake for another clinic")
        clinic_id = actor.clinic_id
    # Every problem at once, so the client fixes the form in one go, not one field a time.
    problems: list[tuple[str, str]] = []
    name = contact_name.strip()
    if not name or len(name) > 100:
        problems.append(("contact_name", Msg("give a name (or a nickname) of 1–100 characters")))
    email = None
    try:
        email = optional_email_address(contact_email, field="contact_email")
    except InvalidInput as exc:
        problems.extend(exc.problems)
    phone = None
    try:
        phone = optional_phone_number(contact_phone, field="contact_phone")
    except InvalidInput as exc:
        problems.extend(exc.problems)
    parsed = None
    try:
        parsed = ClientIntake.model_validate({**dict(intake), "id": "new"})
    except ValidationError as exc:
        problems.extend(_problems(exc))
    agreed = parsed.consent if parsed is not None else intake.get("consent") is True
    if not agreed and all(field != "consent" for field, _ in problems):
        problems.append(("consent", Msg("we can only match you if you agree to it")))
    if problems or parsed is None:
        raise InvalidInput.of(problems)
    with unit_of_work(ctx) as session:
        clinic = session.get(Clinic, clinic_id) if clinic_id is not None else None
        if clinic is None:
            raise NotFound("clinic not found")
        body = parsed.model_dump(mode="json", exclude={"id"})
        request = IntakeRequest(
            clinic_id=clinic.id,
            intake_enc=ctx.cipher.encrypt(json.dumps(body), field=INTAKE_FIELD),
            contact_name_enc=ctx.cipher.encrypt(name, field=NAME_FIELD),
            contact_email_enc=ctx.cipher.encrypt_optional(email, field=EMAIL_FIELD),
            contact_phone_enc=ctx.cipher.encrypt_optional(phone, field=PHONE_FIELD),
            source="form" if actor is None else "api",
            status="waiting",
            created_at=ctx.now(),
            decided_at=None,
            client_id=None,
            episode_id=None,
        )
        session.add(request)
        session.flush()
        if actor is None:
            audit.append(
                session,
                at=ctx.now(),
                actor_type="anonymous",
                actor_id=None,
                clinic_id=clinic.id,
                action="write",
                entity_type="intake_request",
                entity_id=request.id,
                detail={"op": "create", "source": "form"},
            )
        else:
            record(session, ctx, actor, "write", "intake_request", request.id, {"op": "create"})
        return int(request.id)


@denials_audited
def matching_queue(ctx: ServiceContext, *, actor: Actor) -> MatchingQueueView:
    """The admin's queue: each waiting intake with the optimiser's proposal, its reasons and
    caveats (or why the client waits) and up to three alternatives."""
    require_staff(actor, "admin")
    with unit_of_work(ctx) as session:
        clinic = _clinic(session, actor)
        queue = _Queue(ctx, session, clinic)
        waiting = {u.client_id: u.reason for u in queue.assignment.unassigned}
        proposals = []
        for request, intake in zip(queue.requests, queue.intakes, strict=True):
            placed = queue.placement(request.id)
            proposed = None
            if placed is not None:
                name = queue.roster.therapists[queue.roster.ids.index(placed.therapist_id)].name
                proposed = MatchView(
                    therapist_id=int(placed.therapist_id),
                    therapist_name=name,
                    score=float(placed.score),
                    reasons=tuple(placed.reasons),
                    caveats=tuple(placed.caveats),
                )
            alternatives = rank_matches(
                intake,
                queue.roster,
                limit=3,
                exclude=[placed.therapist_id] if placed else [],
            )
            proposals.append(
                ProposalView(
                    intake_id=request.id,
                    received_at=request.created_at,
                    contact_name=ctx.cipher.decrypt(request.contact_name_enc, field=NAME_FIELD),
                    contact_email=ctx.cipher.decrypt_optional(
                        request.contact_email_enc, field=EMAIL_FIELD
                    ),
                    contact_phone=ctx.cipher.decrypt_optional(
                        request.contact_phone_enc, field=PHONE_FIELD
                    ),
                    concerns=tuple(vocabulary().concerns[c] for c in intake.concerns),
                    wishes=_wishes(intake),
                    proposed=proposed,
                    waiting_reason=waiting.get(str(request.id)),
                    alternatives=tuple(_out(m) for m in alternatives),
                )
            )
        record(session, ctx, actor, "read", "matching_queue", None, {"intakes": len(proposals)})
        return MatchingQueueView(
            proposals=tuple(proposals),
            therapists=tuple(
                MatchView(
                    therapist_id=int(t.id), therapist_name=t.name, score=0.0, reasons=(), caveats=()
                )
                for t in queue.profiles
            ),
            without_profile=tuple(queue.missing),
            history_cases=len(queue.history),
        )


@denials_audited
def decide(
    ctx: ServiceContext,
    *,
    actor: Actor,
    intake_id: int,
    therapist_id: int | None,
    note: str = "",
    force: bool = False,
) -> MatchDecisionView:
    """Accept the proposal, override it with another therapist, or hold the client back
    (``therapist_id=None``). Placing creates the client and their first episode; an override
    needs a note, and one that breaks a hard constraint or capacity needs ``force``. The
    decision is recorded (who, when, proposal, choice, reasons shown, note)."""
    require_staff(actor, "admin")
    note = note.strip()
    if len(note) > 2000:
        raise InvalidInput("note", "keep the note under 2,000 characters")
    with unit_of_work(ctx) as session:
        clinic = _clinic(session, actor)
        request = session.get(IntakeRequest, intake_id)
        if request is None or request.clinic_id != clinic.id:
            raise not_found(actor, "intake_request", intake_id, why="no such intake in clinic")
        if request.status != "waiting":
            raise Conflict(f"intake {intake_id} was already decided ({request.status})")
        queue = _Queue(ctx, session, clinic)
        proposal = queue.placement(intake_id)
        proposed_id = int(proposal.therapist_id) if proposal else None
        intake = next(c for c in queue.intakes if c.id == str(intake_id))
        violations: tuple[str, ...] = ()
        placement = proposal
        if therapist_id is None:
            kind: Literal["accepted", "override", "held"] = "held"
            placement = None
        elif therapist_id == proposed_id:
            kind = "accepted"
        else:
            kind = "override"
            if str(therapist_id) not in queue.roster.ids:
                raise InvalidInput(
                    "therapist_id", f"no therapist {therapist_id} with a matching profile here"
                )
            if not note:
                raise InvalidInput(
                    "note", "say in the note why you chose someone other than the proposal"
                )
            # Judge the override against the open places as they are now, not against the
            # optimiser's other proposals, which are not decisions yet.
            alone = Assignment(
                placements=(proposal,) if proposal else (), unassigned=(), total_fit=0.0
            )
            try:
                changed = apply_override(
                    alone,
                    client_id=str(intake_id),
                    therapist_id=str(therapist_id),
                    by=str(actor.user_id),
                    reason=note,
                    intakes=[intake],
                    therapists=queue.roster,
                    force=force,
                )
            except OverrideError as exc:
                who = queue.roster.therapists[queue.roster.ids.index(str(therapist_id))].name
                raise InvalidInput(
                    "therapist_id",
                    f"{who} "
                    + "; ".join(constraint_text(v) for v in exc.violations)
                    + " — confirm the override to place the client with them anyway",
                ) from None
            violations = changed.overrides[-1].violations
            placement = changed.placements[-1]

        client_id = episode_id = None
        now = ctx.now()
        if placement is not None:
            choice = ClinicSettings.from_json(clinic.settings).instruments
            email = ctx.cipher.decrypt_optional(request.contact_email_enc, field=EMAIL_FIELD)
            client = add_client(
                session,
                ctx,
                actor,
                clinic_id=clinic.id,
                display_name=ctx.cipher.decrypt(request.contact_name_enc, field=NAME_FIELD),
                contact_email=email,
                created_at=now,
            )
            episode = open_episode(
                session,
                ctx,
                actor,
                client=client,
                therapist_id=int(placement.therapist_id),
                started_at=now,
                instruments=list(choice.all()),
                origin="matching",
                field="therapist_id",
            )
            client_id, episode_id = client.id, episode.id
            request.status = "placed"
            request.client_id = client.id
            request.episode_id = episode.id
            request.decided_at = now
        decision = MatchDecision(
            clinic_id=clinic.id,
            intake_id=request.id,
            decision=kind,
            proposed_therapist_id=proposed_id,
            therapist_id=None if placement is None else int(placement.therapist_id),
            score=None if placement is None else placement.score,
            violations=list(violations),
            reasons_enc=None
            if placement is None
            else ctx.cipher.encrypt(
                json.dumps({"reasons": placement.reasons, "caveats": placement.caveats}),
                field=REASONS_FIELD,
            ),
            note_enc=ctx.cipher.encrypt_optional(note or None, field=NOTE_FIELD),
            decided_by=actor.user_id or 0,
            decided_at=now,
        )
        session.add(decision)
        session.flush()
        record(
            session,
            ctx,
            actor,
            "write",
            "match_decision",
            decision.id,
            {
                "intake_id": request.id,
                "decision": kind,
                "proposed": proposed_id,
                "chosen": decision.therapist_id,
                "violations": list(violations),
            },
        )
        return MatchDecisionView(
            id=decision.id,
            intake_id=request.id,
            decision=kind,
            therapist_id=decision.therapist_id,
            violations=tuple(violations),
            client_id=client_id,
            episode_id=episode_id,
        )


def _profile_target(session: Session, actor: Actor, user_id: int | None) -> StaffUser:
    require_staff(actor)
    if user_id is None or user_id == actor.user_id:
        user = session.get(StaffUser, actor.user_id)
        if user is None:
            raise NotFound("user not found")
        return user
    target = require_user_admin(session, actor, user_id)
    assert target is not None
    return target


@denials_audited
def get_profile(
    ctx: ServiceContext, *, actor: Actor, user_id: int | None = None
) -> MatchingProfileView:
    """A therapist's matching profile (their own; an admin may read anyone's in the clinic)."""
    with unit_of_work(ctx) as session:
        user = _profile_target(session, actor, user_id)
        row = session.get(MatchingProfile, user.id)
        record(session, ctx, actor, "read", "matching_profile", user.id)
        caseload = _caseloads(session, user.clinic_id).get(user.id, 0)
        matchable = False
        if row is not None:
            try:
                _to_profile(user, row.profile, caseload)
                matchable = True
            except ValidationError:
                pass
        return MatchingProfileView(
            user_id=user.id,
            display_name=user.display_name,
            has_profile=row is not None,
            current_caseload=caseload,
            profile=dict(row.profile) if row else {},
            matchable=matchable,
        )


@denials_audited
def save_profile(
    ctx: ServiceContext,
    *,
    actor: Actor,
    profile: Mapping[str, Any],
    user_id: int | None = None,
) -> MatchingProfileView:
    """Validate and store a matching profile (fields of ``TherapistProfile`` except id, name
    and current caseload). Identity attributes are stored only when given."""
    with unit_of_work(ctx) as session:
        user = _profile_target(session, actor, user_id)
        caseload = _caseloads(session, user.clinic_id).get(user.id, 0)
        data = {k: v for k, v in dict(profile).items() if k not in ("id", "name")}
        try:
            parsed = _to_profile(user, data, caseload)
        except ValidationError as exc:
            raise _invalid(exc) from None
        stored = parsed.model_dump(mode="json", exclude={"id", "name"}, exclude_none=True)
        stored["capacity"].pop("current_caseload", None)
        stored["identity"] = {k: v for k, v in stored.get("identity", {}).items() if v is not None}
        row = session.get(MatchingProfile, user.id)
        if row is None:
            row = MatchingProfile(
                user_id=user.id, clinic_id=user.clinic_id, profile=stored, updated_at=ctx.now()
            )
            session.add(row)
        else:
            row.profile = stored
            row.updated_at = ctx.now()
        record(session, ctx, actor, "write", "matching_profile", user.id)
        return MatchingProfileView(
            user_id=user.id,
            display_name=user.display_name,
            has_profile=True,
            current_caseload=caseload,
            profile=stored,
            matchable=True,
        )


NO_INTAKE_CAVEAT = (
    "No intake on file: ranked without the client's preferences — ask the client what "
    "matters to them in a therapist before choosing."
)


def _neutral_ranking(
    episode: Episode, profiles: Sequence[TherapistProfile]
) -> tuple[ClientIntake, list[TherapistProfile]]:
    """A neutral intake (and roster copies) for a client who never filled in the intake form.

    Nothing is known about the client's preferences, language, age group, times or budget, so
    none of them may exclude a colleague: only capacity (and, in the caller, the clinic and
    the current therapist) still apply. Episodes record no concern domain, so there are no
    concerns either. Consent: a clinician acts here with the client's consent at hand-over.
    The copies serve this ranking only; stored profiles are untouched.
    """
    voc = vocabulary()
    anyone = "any"
    copies = [
        p.model_copy(update={"age_groups": tuple(voc.age_groups), "languages": (anyone,)})
        for p in profiles
    ]
    # model_construct: the intake form's rule "at least one concern" is for clients; here
    # the absence of concerns is the honest state of what is known.
    intake = ClientIntake.model_construct(
        id=f"episode-{episode.id}",
        concerns=(),
        preferences=(),
        languages=(anyone,),
        modes=tuple(voc.modes),
        availability=(),
        max_fee=None,
        insurer=None,
        age_group="adult",
        consent=True,
    )
    return intake, copies


def _has_colleague(
    session: Session, clinic_id: int, current: int, profiles: Sequence[TherapistProfile]
) -> bool:
    if any(p.id != str(current) for p in profiles):
        return True
    other = session.scalar(
        select(StaffUser.id)
        .where(
            StaffUser.clinic_id == clinic_id,
            StaffUser.active.is_(True),
            StaffUser.role == "therapist",
            StaffUser.id != current,
        )
        .limit(1)
    )
    return other is not None


@denials_audited
def rematch_alternatives(
    ctx: ServiceContext,
    *,
    actor: Actor,
    episode_id: int,
    detail: FitEndDetail = "client_request",
    limit: int = 3,
) -> tuple[MatchView, ...]:
    """Other therapists for a client whose fit is ending (the current therapist excluded),
    from the intake they came in with. The episode is ended elsewhere, with reason "fit".

    A client without an intake on file (added in the clinic app, or any client before
    matching existed) gets alternatives from a neutral intake (see :func:`_neutral_ranking`),
    each with :data:`NO_INTAKE_CAVEAT`. :class:`Conflict` only when the clinic has no other
    active therapist at all.
    """
    require_staff(actor)
    with unit_of_work(ctx) as session:
        episode = require_episode(session, actor, episode_id)
        request = session.scalar(
            select(IntakeRequest).where(IntakeRequest.episode_id == episode.id)
        )
        clinic = _clinic(session, actor)
        profiles, _ = _roster_profiles(session, clinic.id)
        if not _has_colleague(session, clinic.id, episode.therapist_id, profiles):
            raise Conflict("there is no other active therapist in this clinic to hand over to")
        if request is None:
            intake, profiles = _neutral_ranking(episode, profiles)
        else:
            intake = _intake_of(ctx, request)
        roster = Roster.build(profiles, estimate_strengths(_history(ctx, session, clinic)))
        current = str(episode.therapist_id)
        if current not in roster.ids:
            # The current therapist has no profile (any more): exclude them all the same.
            matches = rank_matches(intake, roster, limit=limit, exclude=[current])
        else:
            matches = list(
                propose_rematch(intake, roster, current, detail=detail, limit=limit).alternatives
            )
        record(
            session,
            ctx,
            actor,
            "read",
            "rematch",
            episode.id,
            {"detail": detail, "intake": request is not None},
        )
        found = [_out(m) for m in matches]
        if request is None:
            # The neutral intake has no preferences and no concerns, so every part of the fit
            # score (preferences, specialty, strengths by concern) is 0: not a fit of 0.
            found = [
                replace(m, caveats=(NO_INTAKE_CAVEAT, *m.caveats), scored=False) for m in found
            ]
        return tuple(found)


@denials_audited
def hand_over(
    ctx: ServiceContext,
    *,
    actor: Actor,
    episode_id: int,
    therapist_id: int,
    client_consented: bool,
    detail: FitEndDetail = "client_request",
    note: str = "",
) -> HandoverView:
    """End an episode for fit and continue with another therapist, with the client's consent.

    Whoever may see the episode (its therapist, their supervisor, an admin) may hand over to
    an active colleague in the same clinic. Both steps happen in one transaction: the old
    episode ends with reason ``"fit"`` and the new one starts with the same instruments, through
    :func:`~alliance.services.clients.open_episode` like every episode (a colleague of another
    clinic or a deactivated one is refused there, and the ending is rolled back with it).
    ``note`` (optional, e.g. what was agreed with the client) is kept, encrypted, as the ended
    episode's :class:`~alliance.store.matching_tables.HandoverNote`.
    """
    require_staff(actor)
    if detail not in FIT_END_REASONS:
        raise InvalidInput("detail", f"must be one of {', '.join(FIT_END_REASONS)}")
    if not client_consented:
        raise InvalidInput("client_consented", "hand over only when the client has agreed")
    note = note.strip()
    if len(note) > 2000:
        raise InvalidInput("note", "keep the note under 2,000 characters")
    with unit_of_work(ctx) as session:
        episode = require_episode(session, actor, episode_id)
        if episode.ended_at is not None:
            raise Conflict(f"episode {episode_id} already ended ({episode.end_reason})")
        if therapist_id == episode.therapist_id:
            raise InvalidInput("therapist_id", "choose a different therapist")
        client = session.get(Client, episode.client_id)
        assert client is not None
        now = ctx.now()
        episode.ended_at = now
        episode.end_reason = "fit"
        record(
            session,
            ctx,
            actor,
            "write",
            "episode",
            episode.id,
            {
                "op": "end",
                "reason": "fit",
                "detail": detail,
                "handed_to": therapist_id,
                # The note itself is clinical text: it goes to its own (encrypted, rotatable,
                # erasable) row, never into the append-only audit trail.
                "handover_note": bool(note),
            },
        )
        if note:
            session.add(
                HandoverNote(
                    episode_id=episode.id,
                    clinic_id=client.clinic_id,
                    written_by=actor.user_id,
                    written_at=now,
                    note_enc=ctx.cipher.encrypt(note, field=HANDOVER_NOTE_FIELD),
                )
            )
        # The episode above is ended first so that the one-open-episode rule holds; a refusal
        # here (a colleague of another clinic, or deactivated) rolls the ending back with it.
        new = open_episode(
            session,
            ctx,
            actor,
            client=client,
            therapist_id=therapist_id,
            started_at=now,
            instruments=list(episode.instruments),
            origin="handover",
            field="therapist_id",
            audit_detail={"after": episode.id, "client_consented": True},
        )
        return HandoverView(
            ended_episode_id=episode.id,
            new_episode_id=new.id,
            client_id=episode.client_id,
            therapist_id=new.therapist_id,
        )
