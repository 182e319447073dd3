"""Client check-ins through a private link: create the link, open the form, record answers.

A link carries ``secrets.token_urlsafe(32)`` (256 bits); the database keeps only its SHA-256.
It belongs to one check-in of one client's episode, expires after
``settings.checkin_link_days`` and accepts exactly one submission: :func:`record_check_in`
claims the check-in with ``UPDATE … SET completed_at = now WHERE id = ? AND completed_at IS
NULL`` and goes on only when that changed one row, so of two concurrent submissions one wins
and the other is refused — on SQLite and on PostgreSQL alike.

Recording is one transaction: validate and score every answer (the measures engine), store
responses (free text encrypted) and scores, store goal ratings, re-evaluate the episode's alerts
(the monitoring rules) and audit. Any failure leaves nothing behind.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from alliance.measures.change import classify_instrument_change
from alliance.measures.instrument import Instrument
from alliance.measures.progress_words import goal_words, outcome_words
from alliance.measures.scoring import risk_flags
from alliance.messages import Msg
from alliance.services import episodes, monitor
from alliance.services.auth import hash_secret
from alliance.services.authz import Actor, link_actor, require_episode, require_staff
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.episodes import answer_field
from alliance.services.errors import Conflict, InvalidInput, LinkRefused, NotFound
from alliance.services.unit import denials_audited, record, record_many, unit_of_work
from alliance.services.views import (
    CheckInDraft,
    CheckInForm,
    CheckInLink,
    CheckInResult,
    CheckInView,
    ClientProgressView,
    FormQuestion,
    FormSection,
    GoalView,
    OwnGoalView,
    OwnMeasureView,
    ScoreView,
)
from alliance.store.encrypted import field_of
from alliance.store.models import (
    CheckIn,
    Client,
    Clinic,
    Episode,
    Goal,
    GoalRating,
    Response,
    Score,
    StaffUser,
    TherapySession,
)

#: Path of the client check-in page; the link is ``settings.base_url + CHECKIN_PATH + token``.
CHECKIN_PATH = "/c/"
SENT_VIA = ("copy", "email")
GOAL_FIELD = field_of(Goal.text_enc)
DRAFT_FIELD = field_of(CheckIn.draft_enc)
MAX_TEXT_ANSWER = 4000

# The statements of every submission, built once (a statement is immutable; reusing it spares
# building the expression and its cache key on each request). They are Core statements on the
# tables, run on the unit of work's connection: nothing of a submission needs ORM objects, and
# the ORM's per-statement bookkeeping was a good part of a submission's CPU.
_CHECKIN_TABLE = cast(Table, CheckIn.__table__)
_CHECKINS = _CHECKIN_TABLE.c
_EPISODES = Episode.__table__.c
_CLIENTS = Client.__table__.c
_CLINICS = Clinic.__table__.c
_SESSIONS = TherapySession.__table__.c
_BY_TOKEN = select(CheckIn).where(CheckIn.token_hash == bindparam("token_hash"))
#: The link of a submission with everything the submission reads about its episode, client,
#: clinic and session, in one statement (an outer join: a check-in may have no session).
_SUBMISSION = (
    select(
        _CHECKINS.id,
        _CHECKINS.episode_id,
        _CHECKINS.session_id,
        _CHECKINS.instruments,
        _CHECKINS.rate_goals,
        _CHECKINS.opened_at,
        _CHECKINS.completed_at,
        _CHECKINS.expires_at,
        _EPISODES.client_id,
        _EPISODES.therapist_id,
        _EPISODES.instruments.label("episode_instruments"),
        _EPISODES.ended_at,
        _CLIENTS.clinic_id,
        _CLINICS.settings,
        _CLINICS.name.label("clinic_name"),
        _SESSIONS.number.label("session_number"),
    )
    .select_from(CheckIn.__table__)
    .join(Episode.__table__, _EPISODES.id == _CHECKINS.episode_id)
    .join(Client.__table__, _CLIENTS.id == _EPISODES.client_id)
    .join(Clinic.__table__, _CLINICS.id == _CLIENTS.clinic_id)
    .outerjoin(TherapySession.__table__, _SESSIONS.id == _CHECKINS.session_id)
    .where(_CHECKINS.token_hash == bindparam("token_hash"))
)
_ACTIVE_GOAL_IDS = select(Goal.__table__.c.id).where(
    Goal.__table__.c.episode_id == bindparam("episode_id"), Goal.__table__.c.active.is_(True)
)
_CLAIM = (
    update(_CHECKIN_TABLE)
    .where(_CHECKINS.id == bindparam("checkin_id"), _CHECKINS.completed_at.is_(None))
    .values(
        completed_at=bindparam("now"),
        opened_at=bindparam("opened_at"),
        # The saved draft is of no use once the answers are stored: it goes in the same step.
        draft_enc=None,
        draft_saved_at=None,
    )
)
_LOCK_SESSION = select(_SESSIONS.id).where(_SESSIONS.id == bindparam("id")).with_for_update()
_OTHER_CHECKIN = select(_CHECKINS.id).where(
    _CHECKINS.session_id == bindparam("session_id"),
    _CHECKINS.id != bindparam("checkin_id"),
    _CHECKINS.completed_at.is_not(None),
)
_SESSION_NUMBER = select(TherapySession.number).where(TherapySession.id == bindparam("id"))
# The ids come back with their instrument (one response per instrument and check-in), so
# the rows need not come back in parameter order: that let SQLite send one INSERT for all of
# them instead of one per response.
_INSERT_RESPONSES = insert(cast(Table, Response.__table__)).returning(
    Response.__table__.c.id, Response.__table__.c.instrument_id
)
_INSERT_SCORES = insert(cast(Table, Score.__table__))
_INSERT_GOAL_RATINGS = insert(cast(Table, GoalRating.__table__))
_THERAPIST = select(StaffUser.__table__.c.email, StaffUser.__table__.c.active).where(
    StaffUser.__table__.c.id == bindparam("id")
)


def checkin_view(row: CheckIn) -> CheckInView:
    return CheckInView(
        id=row.id,
        episode_id=row.episode_id,
        session_id=row.session_id,
        instruments=tuple(str(v) for v in row.instruments),
        created_at=row.created_at,
        expires_at=row.expires_at,
        opened_at=row.opened_at,
        completed_at=row.completed_at,
        sent_via=row.sent_via,
        rate_goals=row.rate_goals,
    )


def checkin_url(base_url: str, token: str) -> str:
    return base_url.rstrip("/") + CHECKIN_PATH + token


def goal_view(goal: Goal, ctx: ServiceContext) -> GoalView:
    return GoalView(
        id=goal.id,
        episode_id=goal.episode_id,
        position=goal.position,
        text=ctx.cipher.decrypt(goal.text_enc, field=GOAL_FIELD),
        agreed_at=goal.agreed_at,
        active=goal.active,
    )


@denials_audited
def create_checkin_link(
    ctx: ServiceContext,
    *,
    actor: Actor,
    episode_id: int | None = None,
    client_id: int | None = None,
    session_id: int | None = None,
    instruments: tuple[str, ...] | None = None,
    sent_via: str = "copy",
    final: bool = False,
) -> CheckInLink:
    """A new single-use link for the episode's client (the episode named by ``episode_id``, or
    the client's current one by ``client_id``).

    ``session_id`` ties the answers to a session; by default the latest session that has taken
    place (or is due) is used. ``instruments`` defaults to what the measurement plan asks at
    that session (intake at the episode's first check-in, discharge when ``final``); goal
    ratings are asked on the plan's goals cadence either way.
    """
    require_staff(actor)
    if sent_via not in SENT_VIA:
        raise InvalidInput("sent_via", f"must be one of {', '.join(SENT_VIA)}")
    token = _new_token()
    now = ctx.now()
    with unit_of_work(ctx) as session:
        episode = episodes.resolve_episode(
            session, actor, client_id=client_id, episode_id=episode_id
        )
        if episode.ended_at is not None:
            raise Conflict(f"episode {episode.id} has ended")
        if instruments is not None:
            unknown = [i for i in instruments if i not in episode.instruments]
            if unknown or not instruments:
                raise InvalidInput("instruments", f"not chosen for this episode: {unknown or '[]'}")
        done = _sessions_checked_in(session, episode.id)
        if session_id is not None:
            therapy = session.get(TherapySession, session_id)
            if therapy is None or therapy.episode_id != episode.id:
                raise InvalidInput("session", f"session {session_id} is not in this episode")
            if therapy.id in done:
                raise Conflict(_taken_message(therapy.number))
        else:
            # The latest session that has taken place (or is due) and has no check-in yet:
            # never one that has, or its chart would get a second point.
            query = select(TherapySession.id).where(
                TherapySession.episode_id == episode.id,
                TherapySession.status.in_(("attended", "scheduled")),
                TherapySession.scheduled_at <= now + timedelta(hours=12),
            )
            if done:
                query = query.where(TherapySession.id.not_in(done))
            session_id = session.scalar(query.order_by(TherapySession.number.desc()).limit(1))
        planned, rate_goals = _planned(session, episode, session_id, final=final)
        chosen = list(instruments) if instruments is not None else list(planned)
        if not chosen:
            raise InvalidInput(
                "instruments",
                "the measurement plan asks nothing at this session; choose the questionnaires",
            )
        row = CheckIn(
            episode_id=episode.id,
            session_id=session_id,
            instruments=chosen,
            rate_goals=rate_goals,
            token_hash=hash_secret(token),
            created_by=actor.user_id,
            created_at=now,
            expires_at=now + timedelta(days=ctx.settings.checkin_link_days),
            opened_at=None,
            completed_at=None,
            sent_via=sent_via,
        )
        session.add(row)
        session.flush()
        record(
            session,
            ctx,
            actor,
            "write",
            "checkin",
            row.id,
            {
                "op": "create",
                "episode_id": episode.id,
                "sent_via": sent_via,
                "instruments": chosen,
                "final": final,
            },
        )
        return CheckInLink(
            checkin=checkin_view(row), token=token, url=checkin_url(ctx.settings.base_url, token)
        )


def _planned(
    session: Session, episode: Episode, session_id: int | None, *, final: bool
) -> tuple[tuple[str, ...], bool]:
    """What the measurement plan asks at a check-in for ``session_id``: the instruments due
    and whether goals are rated."""
    plan = episodes.episode_plan(session, episode)
    number = session.scalar(_SESSION_NUMBER, {"id": session_id}) if session_id else None
    first = not episodes.has_completed_checkin(session, episode.id)
    due = plan.due(episode.instruments, number, first=first, final=final)
    return due, plan.goals_due(number, first=first, final=final)


def _refuse_a_second_check_in(
    session: Session, checkin_id: int, session_id: int | None, *, lock: bool
) -> None:
    """Raise :class:`LinkRefused` ("session_done") when another link for the same session was
    completed first: one session, one check-in, so a chart has one point per session.

    With ``lock`` (on submission, after this link is claimed) the session row is locked on
    PostgreSQL so that of two submissions racing for one session the second waits and then
    sees the first; SQLite's ``BEGIN IMMEDIATE`` already serialises them."""
    if session_id is None:
        return
    connection = session.connection()
    if lock:
        connection.execute(_LOCK_SESSION, {"id": session_id})
    other = connection.execute(
        _OTHER_CHECKIN, {"session_id": session_id, "checkin_id": checkin_id}
    ).scalar()
    if other is not None:
        raise LinkRefused("session_done")


def _sessions_checked_in(session: Session, episode_id: int) -> set[int]:
    """Ids of the episode's sessions that already have a completed check-in."""
    return set(
        session.scalars(
            select(CheckIn.session_id).where(
                CheckIn.episode_id == episode_id,
                CheckIn.session_id.is_not(None),
                CheckIn.completed_at.is_not(None),
            )
        )
    )


def _taken_message(number: int) -> str:
    return (
        f"session {number} already has a completed check-in; a session has one check-in, "
        "so choose another session (or none)"
    )


def _new_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def _find_link(session: Session, ctx: ServiceContext, token: str) -> tuple[CheckIn, Episode]:
    """The check-in behind ``token`` and its episode, or :class:`LinkRefused` (unknown, used,
    expired). The episode is returned, not just checked: the session's identity map holds
    objects weakly, so a caller looking it up again would read it again."""
    if not token or len(token) > 200:
        raise LinkRefused("unknown")
    row = session.scalar(_BY_TOKEN, {"token_hash": hash_secret(token)})
    if row is None:
        raise LinkRefused("unknown")
    if row.completed_at is not None:
        raise LinkRefused("used")
    episode = session.get(Episode, row.episode_id)
    if ctx.now() >= row.expires_at or episode is None or episode.ended_at is not None:
        raise LinkRefused("expired")
    return row, episode


def _instruments(ctx: ServiceContext, ids: list[Any]) -> list[Instrument]:
    return [episodes.instrument(ctx, str(i)) for i in ids]


def _section(instrument: Instrument) -> FormSection:
    questions = tuple(
        FormQuestion(
            instrument_id=instrument.id,
            link_id=item.link_id,
            text=item.text,
            type=item.type,
            required=item.required,
            options=tuple((option.code, option.label) for option in item.options),
            min_value=item.min_value,
            max_value=item.max_value,
        )
        for item in instrument.items
    )
    return FormSection(
        instrument_id=instrument.id,
        title=instrument.title,
        kind=instrument.kind,
        questions=questions,
    )


def _active_goals(session: Session, episode_id: int) -> list[Goal]:
    return list(
        session.scalars(
            select(Goal)
            .where(Goal.episode_id == episode_id, Goal.active.is_(True))
            .order_by(Goal.position)
        )
    )


def open_checkin(ctx: ServiceContext, token: str) -> CheckInForm:
    """The form behind a link (instruments of the check-in + the episode's agreed goals).

    Marks the check-in opened on first use. Refuses unknown, expired and used links with
    :class:`LinkRefused` (its ``reason`` says which).
    """
    with unit_of_work(ctx) as session:
        row, episode = _find_link(session, ctx, token)
        _refuse_a_second_check_in(session, row.id, row.session_id, lock=False)
        client = session.get(Client, episode.client_id)
        therapist = session.get(StaffUser, episode.therapist_id)
        therapy = session.get(TherapySession, row.session_id) if row.session_id else None
        clinic = session.get(Clinic, client.clinic_id) if client else None
        assert client is not None
        assert therapist is not None
        assert clinic is not None
        if row.opened_at is None:
            row.opened_at = ctx.now()
        actor = link_actor(row, client.clinic_id)
        goals = (
            tuple(goal_view(goal, ctx) for goal in _active_goals(session, episode.id))
            if row.rate_goals
            else ()
        )
        clinic_settings = ClinicSettings.from_json(clinic.settings)
        record(session, ctx, actor, "read", "checkin", row.id, {"what": "form"})
        return CheckInForm(
            clinic_name=clinic.name,
            checkin_id=row.id,
            client_display_name=client.display_name,
            therapist_display_name=therapist.display_name,
            sections=tuple(_section(i) for i in _instruments(ctx, row.instruments)),
            goals=goals,
            expires_at=row.expires_at,
            show_progress=clinic_settings.show_client_progress,
            session_number=therapy.number if therapy else None,
            session_at=therapy.scheduled_at if therapy else None,
            draft=_read_draft(ctx, row),
            draft_saved_at=row.draft_saved_at,
            time_zone=clinic_settings.time_zone,
            client_language=clinic_settings.client_language,
        )


def checkin_client_language(ctx: ServiceContext, token: str) -> str | None:
    """The ``client_language`` setting of the clinic behind a link, None for a link
    :func:`open_checkin` would refuse (which names no clinic).

    For a reply that needs only the page's language (the draft save's refusal), without
    opening the form: nothing about the client is read or returned, so nothing is audited.
    """
    with unit_of_work(ctx) as session:
        try:
            _, episode = _find_link(session, ctx, token)
        except LinkRefused:
            return None
        client = session.get(Client, episode.client_id)
        clinic = session.get(Clinic, client.clinic_id) if client else None
        if clinic is None:
            return None
        return ClinicSettings.from_json(clinic.settings).client_language


def _read_draft(ctx: ServiceContext, row: CheckIn) -> CheckInDraft:
    if not row.draft_enc:
        return CheckInDraft()
    data = json.loads(ctx.cipher.decrypt(row.draft_enc, field=DRAFT_FIELD))
    return CheckInDraft(
        answers={i: dict(a) for i, a in data.get("answers", {}).items()},
        goals={int(k): str(v) for k, v in data.get("goals", {}).items()},
    )


def save_checkin_draft(
    ctx: ServiceContext,
    token: str,
    answers: Mapping[str, Mapping[str, Any]],
    goal_ratings: Mapping[int, Any] | None = None,
) -> CheckInDraft:
    """Keep the answers given so far, to finish later through the same link (until it expires
    or is used). Nothing is scored or checked for completeness; answers must belong to this
    check-in's questions (and goals, when it asks for them). Replaces any earlier draft.

    Refusals: :class:`LinkRefused` (unknown/expired/used), :class:`InvalidInput` naming the
    question."""
    with unit_of_work(ctx) as session:
        row, episode = _find_link(session, ctx, token)
        instruments = _instruments(ctx, row.instruments)
        cleaned = _clean_answers(ctx, instruments, answers)
        by_id = {i.id: i for i in instruments}
        for instrument_id, given in cleaned.items():
            for link_id in given:
                try:
                    by_id[instrument_id].item(link_id)
                except KeyError:
                    raise InvalidInput(
                        f"{instrument_id}.{link_id}", Msg("this check-in has no such question")
                    ) from None
        goal_ids = (
            set(session.scalars(_ACTIVE_GOAL_IDS, {"episode_id": episode.id}))
            if row.rate_goals
            else set()
        )
        ratings = _clean_goal_ratings(goal_ids, goal_ratings)
        draft = CheckInDraft(
            answers={i: {k: str(v) for k, v in a.items()} for i, a in cleaned.items() if a},
            goals={k: str(v) for k, v in ratings.items()},
        )
        payload = json.dumps({"answers": draft.answers, "goals": draft.goals}, sort_keys=True)
        row.draft_enc = ctx.cipher.encrypt(payload, field=DRAFT_FIELD)
        row.draft_saved_at = ctx.now()
        if row.opened_at is None:
            row.opened_at = row.draft_saved_at
        client = session.get(Client, episode.client_id)
        assert client is not None
        record(
            session,
            ctx,
            link_actor(row, client.clinic_id),
            "write",
            "checkin",
            row.id,
            {"op": "draft", "answers": draft.count()},
        )
        return draft


def _clean_answers(
    ctx: ServiceContext, instruments: list[Instrument], answers: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per instrument, answers restricted to known items with empty strings as missing.

    Unknown instruments or items are refused (the scoring engine names the item)."""
    known = {instrument.id for instrument in instruments}
    for instrument_id in answers:
        if instrument_id not in known:
            raise InvalidInput(
                instrument_id, Msg("this check-in does not include that questionnaire")
            )
    cleaned: dict[str, dict[str, Any]] = {}
    for instrument in instruments:
        given = dict(answers.get(instrument.id, {}))
        out: dict[str, Any] = {}
        for link_id, value in given.items():
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue
            if value is None:
                continue
            out[link_id] = value
        for item in instrument.items:
            if (
                item.type == "text"
                and isinstance(out.get(item.link_id), str)
                and len(out[item.link_id]) > MAX_TEXT_ANSWER
            ):
                raise InvalidInput(
                    f"{instrument.id}.{item.link_id}",
                    Msg("at most {n} characters", n=MAX_TEXT_ANSWER),
                )
        cleaned[instrument.id] = out
    return cleaned


def _clean_goal_ratings(by_id: set[int], ratings: Mapping[int, Any] | None) -> dict[int, int]:
    if not ratings:
        return {}
    out: dict[int, int] = {}
    for raw_id, raw_value in ratings.items():
        try:
            goal_id = int(raw_id)
        except (TypeError, ValueError) as exc:
            raise InvalidInput("goals", Msg("unknown goal {goal}", goal=repr(raw_id))) from exc
        if goal_id not in by_id:
            raise InvalidInput(f"goal_{goal_id}", Msg("not a goal of this check-in"))
        if raw_value is None or (isinstance(raw_value, str) and not raw_value.strip()):
            continue
        try:
            number = float(raw_value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"goal_{goal_id}", Msg("{value} is not a number 0–10", value=repr(raw_value))
            ) from exc
        if not math.isfinite(number) or number != int(number) or not 0 <= number <= 10:
            raise InvalidInput(
                f"goal_{goal_id}", Msg("{value} is not a whole number 0–10", value=repr(raw_value))
            )
        out[goal_id] = int(number)
    return out


def record_check_in(
    ctx: ServiceContext,
    token: str,
    answers: Mapping[str, Mapping[str, Any]],
    goal_ratings: Mapping[int, Any] | None = None,
) -> CheckInResult:
    """Validate, score and store one submission, update goal ratings, evaluate alerts, audit —
    all in one transaction. ``answers`` maps instrument id → {linkId: answer}; answers may be
    option codes, numbers or text (text items). ``goal_ratings`` maps goal id → 0..10.

    Refusals: :class:`LinkRefused` (unknown/expired/used), :class:`InvalidInput` naming the
    instrument and item of the first bad answer.
    """
    with unit_of_work(ctx) as session:
        connection = session.connection()
        row = _submission_link(connection, ctx, token)
        instruments = _instruments(ctx, row.instruments)
        cleaned = _clean_answers(ctx, instruments, answers)
        # A questionnaire the client skipped entirely is not stored (nothing to score); one
        # with some answers is stored and scored under its missing-item rule.
        instruments = [i for i in instruments if cleaned[i.id]]
        if not instruments:
            raise InvalidInput("answers", Msg("please answer at least one question"))
        scored = {i.id: episodes.score(i, cleaned[i.id]) for i in instruments}
        # Read from the answers just validated (scoring has accepted each one), so the caller
        # need not re-derive it: the route shows crisis information and notifies the therapist.
        risk_flagged = any(risk_flags(i, cleaned[i.id]) for i in instruments if i.risk_items)
        # Goals the form did not ask about cannot be rated through this link.
        goal_ids = (
            set(connection.execute(_ACTIVE_GOAL_IDS, {"episode_id": row.episode_id}).scalars())
            if row.rate_goals
            else set()
        )
        ratings = _clean_goal_ratings(goal_ids, goal_ratings)
        now = ctx.now()
        # The single-use guarantee: only one transaction can move completed_at off NULL.
        claimed = connection.execute(
            _CLAIM, {"checkin_id": row.id, "now": now, "opened_at": row.opened_at or now}
        )
        if claimed.rowcount != 1:
            raise LinkRefused("used")
        _refuse_a_second_check_in(session, row.id, row.session_id, lock=True)
        actor = Actor(kind="client_link", checkin_id=row.id, clinic_id=row.clinic_id)
        session_number = row.session_number
        # Plain multi-row INSERTs, not the unit of work: this runs on every submission and
        # nothing here needs the rows as objects afterwards.
        stored = {
            instrument.id: {
                link_id: (
                    ctx.cipher.encrypt(str(value), field=answer_field(instrument.id, link_id))
                    if instrument.item(link_id).type == "text"
                    else value
                )
                for link_id, value in cleaned[instrument.id].items()
            }
            for instrument in instruments
        }
        response_ids = {
            instrument_id: response_id
            for response_id, instrument_id in connection.execute(
                _INSERT_RESPONSES,
                [
                    {
                        "checkin_id": row.id,
                        "instrument_id": instrument.id,
                        "answers": stored[instrument.id],
                        "created_at": now,
                    }
                    for instrument in instruments
                ],
            )
        }
        connection.execute(
            _INSERT_SCORES,
            [
                {
                    "response_id": response_ids[instrument.id],
                    "episode_id": row.episode_id,
                    "instrument_id": instrument.id,
                    "session_number": session_number,
                    "total": scored[instrument.id].total,
                    "subscales": dict(scored[instrument.id].subscales),
                    "band": scored[instrument.id].band,
                    "valid": scored[instrument.id].valid,
                    "scored_at": now,
                }
                for instrument in instruments
            ],
        )
        score_views = [
            ScoreView(
                instrument_id=instrument.id,
                session_number=session_number,
                at=now,
                total=scored[instrument.id].total,
                subscales=dict(scored[instrument.id].subscales),
                band=scored[instrument.id].band,
                valid=scored[instrument.id].valid,
            )
            for instrument in instruments
        ]
        if ratings:
            connection.execute(
                _INSERT_GOAL_RATINGS,
                [
                    {"goal_id": goal_id, "checkin_id": row.id, "rating": rating, "rated_at": now}
                    for goal_id, rating in ratings.items()
                ],
            )
        clinic_settings = ClinicSettings.from_json(row.settings)
        alerts = monitor.refresh_episode_alerts(
            session,
            ctx,
            actor,
            monitor.EpisodeRef(
                id=row.episode_id,
                client_id=row.client_id,
                clinic_id=row.clinic_id,
                instruments=tuple(str(i) for i in row.episode_instruments),
                settings=clinic_settings,
            ),
            # The answers as the database now holds them (a JSON round trip, as the column
            # makes), so the rules need not read back what this transaction has just written.
            written={
                response_ids[instrument_id]: json.loads(json.dumps(answers))
                for instrument_id, answers in stored.items()
            },
        )
        record_many(
            session,
            ctx,
            actor,
            [
                (
                    "write",
                    "checkin",
                    row.id,
                    {
                        "op": "submit",
                        "instruments": [i.id for i in instruments],
                        "goal_ratings": len(ratings),
                    },
                    None,
                )
            ],
        )
        notify_email = None
        if risk_flagged:
            therapist = connection.execute(_THERAPIST, {"id": row.therapist_id}).one_or_none()
            if therapist is not None and therapist.active:
                notify_email = therapist.email
        return CheckInResult(
            clinic_name=row.clinic_name,
            checkin_id=row.id,
            scores=tuple(score_views),
            alerts=tuple(alerts),
            show_progress=clinic_settings.show_client_progress,
            risk_flagged=risk_flagged,
            crisis_message=clinic_settings.crisis_message if risk_flagged else None,
            client_language=clinic_settings.client_language,
            notify_email=notify_email,
            crisis_contacts=tuple(
                (c.name, c.phone, c.tel) for c in clinic_settings.crisis_contacts
            ),
        )


def _submission_link(
    connection: Connection, ctx: ServiceContext, token: str
) -> Row[*tuple[Any, ...]]:
    """What a submission reads about the link behind ``token`` (:data:`_SUBMISSION`), or
    :class:`LinkRefused` for an unknown, used or expired link — the same refusals, in the same
    order, as :func:`_find_link`."""
    if not token or len(token) > 200:
        raise LinkRefused("unknown")
    row = connection.execute(_SUBMISSION, {"token_hash": hash_secret(token)}).one_or_none()
    if row is None:
        raise LinkRefused("unknown")
    if row.completed_at is not None:
        raise LinkRefused("used")
    if ctx.now() >= row.expires_at or row.ended_at is not None:
        raise LinkRefused("expired")
    return row


@denials_audited
def list_checkins(ctx: ServiceContext, *, actor: Actor, episode_id: int) -> list[CheckInView]:
    """The episode's check-ins, newest first (audited read)."""
    with unit_of_work(ctx) as session:
        episode = require_episode(session, actor, episode_id)
        rows = session.scalars(
            select(CheckIn)
            .where(CheckIn.episode_id == episode.id)
            .order_by(CheckIn.created_at.desc(), CheckIn.id.desc())
        )
        views = [checkin_view(row) for row in rows]
        record(session, ctx, actor, "read", "episode", episode.id, {"what": "checkins"})
        return views


def checkin_progress(ctx: ServiceContext, token: str) -> ClientProgressView:
    """After submitting, and through the used link until it expires, the client's own
    progress: their outcome questionnaires with plain words, and their goal ratings — what
    the clinic chose to show, and only when it shows clients their progress."""
    with unit_of_work(ctx) as session:
        row = session.scalar(select(CheckIn).where(CheckIn.token_hash == hash_secret(token)))
        if row is None or row.completed_at is None:
            raise NotFound("no completed check-in for this link")
        if ctx.now() >= row.expires_at:
            raise LinkRefused("expired")
        episode = session.get(Episode, row.episode_id)
        client = session.get(Client, episode.client_id) if episode else None
        clinic = session.get(Clinic, client.clinic_id) if client else None
        assert episode is not None
        assert client is not None
        assert clinic is not None
        settings = ClinicSettings.from_json(clinic.settings)
        if not settings.show_client_progress:
            raise NotFound("progress is not shown to clients in this clinic")
        shows = set(settings.client_progress_shows)
        outcomes = _own_outcomes(session, ctx, episode.id) if "outcomes" in shows else ()
        own_goals = _own_goals(session, ctx, episode.id) if "goals" in shows else ()
        record(
            session,
            ctx,
            link_actor(row, client.clinic_id),
            "read",
            "episode",
            episode.id,
            {"what": "own progress"},
        )
        return ClientProgressView(outcomes=outcomes, goals=own_goals)


def _own_outcomes(
    session: Session, ctx: ServiceContext, episode_id: int
) -> tuple[OwnMeasureView, ...]:
    by_instrument: dict[str, list[Score]] = {}
    for s in session.scalars(
        select(Score).where(Score.episode_id == episode_id).order_by(Score.scored_at, Score.id)
    ):
        if s.valid and s.total is not None:
            by_instrument.setdefault(s.instrument_id, []).append(s)
    out = []
    for instrument_id, scores in by_instrument.items():
        try:
            instrument = episodes.instrument(ctx, instrument_id)
        except InvalidInput:
            continue  # an instrument no longer installed: nothing to explain it with
        if instrument.kind != "outcome":
            continue
        totals = [float(s.total) for s in scores if s.total is not None]
        result = None
        if len(totals) >= 2 and instrument.reliable_change is not None:
            result = classify_instrument_change(instrument, totals[0], totals[-1])
        out.append(
            OwnMeasureView(
                instrument_id=instrument.id,
                title=instrument.title,
                points=tuple(
                    (float(s.session_number or i), t)
                    for i, (s, t) in enumerate(zip(scores, totals, strict=True), start=1)
                ),
                words=outcome_words(result, scores=len(totals)),
            )
        )
    return tuple(out)


def _own_goals(session: Session, ctx: ServiceContext, episode_id: int) -> tuple[OwnGoalView, ...]:
    out = []
    for goal in _active_goals(session, episode_id):
        ratings = tuple(
            int(r)
            for r in session.scalars(
                select(GoalRating.rating)
                .where(GoalRating.goal_id == goal.id)
                .order_by(GoalRating.rated_at, GoalRating.id)
            )
        )
        if not ratings:
            continue
        out.append(
            OwnGoalView(
                text=goal_view(goal, ctx).text,
                ratings=ratings,
                words=goal_words(ratings[0], ratings[-1], len(ratings)),
            )
        )
    return tuple(out)
