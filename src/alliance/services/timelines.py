"""Read models for the therapist and supervisor pages: a client's timeline, the caseload
ordered by urgency, and the team overview. Every read is audited."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from statistics import fmean
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.matching import vocabulary
from alliance.measures.instrument import Instrument
from alliance.measures.trajectory import not_on_track
from alliance.monitoring.alerts import (
    NO_ALERT_URGENCY,
    alert_thresholds,
    desk_sort_key,
    desk_urgency,
)
from alliance.services.alerts import alert_view, overdue, stored_alert_key, waiting_since
from alliance.services.authz import (
    Actor,
    can_see_episode,
    not_found,
    require_client,
    require_episode,
    require_staff,
    visible_therapist_ids,
)
from alliance.services.checkins import checkin_view, goal_view
from alliance.services.clients import client_view, episode_view, same_name_key
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.episodes import (
    StoredScore,
    decrypt_answers,
    instrument,
    load_episode,
)
from alliance.services.outcomes import check_period, outcomes_in
from alliance.services.sessions import session_view
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import (
    CaseloadRow,
    GoalSeries,
    InstrumentSeries,
    SeriesPoint,
    TeamOverview,
    TeamRiskAlert,
    TherapistSummary,
    TimelineView,
    TrajectoryBand,
    WaitingRisk,
)
from alliance.store.matching_tables import MatchingProfile
from alliance.store.models import (
    Alert,
    CheckIn,
    Client,
    Clinic,
    Episode,
    Goal,
    GoalRating,
    Score,
    StaffUser,
    TherapySession,
)

TRAJECTORY_HORIZON = 4


def _series_points(scores: list[StoredScore]) -> tuple[SeriesPoint, ...]:
    return tuple(
        SeriesPoint(
            session_number=s.session_number, at=s.at, value=s.total, band=s.band, valid=s.valid
        )
        for s in scores
    )


def _trajectory(
    session: Session,
    ctx: ServiceContext,
    clinic_id: int,
    inst: Instrument,
    scores: list[StoredScore],
) -> TrajectoryBand | None:
    valid = [s for s in scores if s.valid and s.total is not None and s.session_number]
    if inst.kind != "outcome" or not valid:
        return None
    intake = valid[0]
    assert intake.total is not None
    assert intake.session_number is not None
    model = ctx.trajectories.model(session, clinic_id, inst)
    last = max(s.session_number or 0 for s in valid)
    numbers = list(
        range(intake.session_number, max(last, intake.session_number) + TRAJECTORY_HORIZON + 1)
    )
    try:
        points = model.curve(intake.total, numbers, intake_session=intake.session_number)
    except ValueError:
        return None  # no reliable-change parameters: no band to draw
    latest = valid[-1]
    assert latest.total is not None
    assert latest.session_number is not None
    flag = not_on_track(
        model,
        intake.total,
        latest.session_number,
        latest.total,
        intake_session=intake.session_number,
    ).flag
    return TrajectoryBand(
        session_numbers=tuple(p.session for p in points),
        expected=tuple(p.expected for p in points),
        lower=tuple(p.lower for p in points),
        upper=tuple(p.upper for p in points),
        method=model.reason,
        on_track=None if len(valid) < 2 else not flag,
    )


def _pick_episode(
    session: Session, actor: Actor, client: Client, episode_id: int | None
) -> Episode | None:
    if episode_id is not None:
        episode = require_episode(session, actor, episode_id)
        if episode.client_id != client.id:
            raise not_found(actor, "episode", episode_id, why="other client")
        return episode
    episodes = session.scalars(
        select(Episode)
        .where(Episode.client_id == client.id)
        .order_by(Episode.ended_at.is_not(None), Episode.started_at.desc(), Episode.id.desc())
    )
    for episode in episodes:
        if can_see_episode(session, actor, episode, client):
            return episode
    return None


@denials_audited
def client_timeline(
    ctx: ServiceContext, *, actor: Actor, client_id: int, episode_id: int | None = None
) -> TimelineView:
    """Everything the client page shows for one episode (default: the current one): scores per
    instrument with thresholds and, for outcome measures, the expected-trajectory band; goals
    with their ratings; attendance; alerts; check-ins; the client's free-text feedback."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        view = read_client_timeline(session, ctx, actor, client_id=client_id, episode_id=episode_id)
        detail: dict[str, Any] = {"what": "timeline"}
        if view.episode is not None:
            detail["episode_id"] = view.episode.id
        record(session, ctx, actor, "read", "client", view.client.id, detail)
        return view


def read_client_timeline(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    client_id: int,
    episode_id: int | None = None,
) -> TimelineView:
    """The timeline of :func:`client_timeline`, built inside the caller's unit of work and not
    audited: the caller records the read (the client page and the progress report each
    name what they read). Authorization is checked here, so no caller can skip it."""
    client = require_client(session, actor, client_id)
    episode = _pick_episode(session, actor, client, episode_id)
    clinic = session.get(Clinic, client.clinic_id)
    settings = ClinicSettings.from_json(clinic.settings if clinic else None)
    if episode is None:
        return TimelineView(
            client=client_view(client, ctx.cipher),
            episode=None,
            therapist_name=None,
            series=(),
            goals=(),
            sessions=(),
            alerts=(),
            checkins=(),
        )
    data = load_episode(session, episode)
    series: list[InstrumentSeries] = []
    for instrument_id in episode.instruments:
        inst = instrument(ctx, str(instrument_id))
        scores = data.scores_for(inst.id)
        subscales = {
            sub.name: tuple(
                SeriesPoint(
                    session_number=s.session_number,
                    at=s.at,
                    value=s.subscales.get(sub.name),
                    valid=s.valid,
                )
                for s in scores
            )
            for sub in inst.subscales
        }
        low, high = inst.score_range
        series.append(
            InstrumentSeries(
                instrument_id=inst.id,
                title=inst.title,
                kind=inst.kind,
                direction=inst.direction,
                score_min=low,
                score_max=high,
                points=_series_points(scores),
                subscales=subscales,
                thresholds=alert_thresholds(inst, settings.alert_settings),
                clinical_cutoff=inst.clinical_cutoff.value if inst.clinical_cutoff else None,
                trajectory=_trajectory(session, ctx, client.clinic_id, inst, scores),
            )
        )
    goals = _goal_series(session, ctx, episode)
    alerts = sorted(
        session.scalars(select(Alert).where(Alert.episode_id == episode.id)),
        key=stored_alert_key,
    )
    checkins = list(
        session.scalars(
            select(CheckIn)
            .where(CheckIn.episode_id == episode.id)
            .order_by(CheckIn.created_at.desc(), CheckIn.id.desc())
        )
    )
    checked_in = {c.session_id for c in checkins if c.completed_at is not None}
    therapist = session.get(StaffUser, episode.therapist_id)
    feedback: list[tuple[int | None, str]] = []
    for number, _at, instrument_id, raw in data.answers:
        inst = instrument(ctx, instrument_id)
        text_items = {item.link_id for item in inst.items if item.type == "text"}
        if not text_items:
            continue
        plain = decrypt_answers(ctx, instrument_id, raw)
        feedback.extend((number, str(plain[key])) for key in sorted(text_items) if plain.get(key))
    return TimelineView(
        client=client_view(client, ctx.cipher),
        episode=episode_view(episode),
        therapist_name=therapist.display_name if therapist else None,
        series=tuple(series),
        goals=goals,
        sessions=tuple(session_view(s, checked_in=s.id in checked_in) for s in data.sessions),
        alerts=tuple(alert_view(a, ctx.cipher) for a in alerts),
        checkins=tuple(checkin_view(c) for c in checkins),
        feedback=tuple(feedback),
    )


def _goal_series(session: Session, ctx: ServiceContext, episode: Episode) -> tuple[GoalSeries, ...]:
    goals = list(
        session.scalars(
            select(Goal)
            .where(Goal.episode_id == episode.id)
            .order_by(Goal.active.desc(), Goal.agreed_at, Goal.position)
        )
    )
    if not goals:
        return ()
    rows = session.execute(
        select(GoalRating, TherapySession.number)
        .join(CheckIn, CheckIn.id == GoalRating.checkin_id)
        .outerjoin(TherapySession, TherapySession.id == CheckIn.session_id)
        .where(GoalRating.goal_id.in_([g.id for g in goals]))
        .order_by(GoalRating.rated_at, GoalRating.id)
    ).all()
    by_goal: dict[int, list[SeriesPoint]] = defaultdict(list)
    for rating, number in rows:
        by_goal[rating.goal_id].append(
            SeriesPoint(session_number=number, at=rating.rated_at, value=float(rating.rating))
        )
    return tuple(GoalSeries(goal=goal_view(g, ctx), ratings=tuple(by_goal[g.id])) for g in goals)


def _latest_scores(
    session: Session, episode_ids: list[int]
) -> dict[tuple[int, str], tuple[float | None, float | None, int]]:
    """(episode, instrument) → (first valid total, latest valid total, number of scores).

    "First" and "latest" are the first and last recorded (lowest and highest id): one grouped
    query and a primary-key lookup, so a caseload of 100 clients × 30 sessions reads a few
    hundred rows instead of sorting thousands.
    """
    if not episode_ids:
        return {}
    grouped = (
        select(
            Score.episode_id,
            Score.instrument_id,
            func.min(Score.id).label("first_id"),
            func.max(Score.id).label("last_id"),
            func.count(Score.id).label("n"),
        )
        .where(Score.episode_id.in_(episode_ids), Score.valid.is_(True), Score.total.is_not(None))
        .group_by(Score.episode_id, Score.instrument_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Score.id,
            Score.total,
            grouped.c.episode_id,
            grouped.c.instrument_id,
            grouped.c.first_id,
            grouped.c.last_id,
            grouped.c.n,
        ).join(grouped, (Score.id == grouped.c.first_id) | (Score.id == grouped.c.last_id))
    ).all()
    out: dict[tuple[int, str], tuple[float | None, float | None, int]] = {}
    for score_id, total, episode_id, instrument_id, first_id, last_id, count in rows:
        key = (episode_id, instrument_id)
        first, latest, _ = out.get(key, (None, None, 0))
        if score_id == first_id:
            first = total
        if score_id == last_id:
            latest = total
        out[key] = (first, latest, int(count))
    return out


def _visible_open_episodes(
    session: Session, actor: Actor, therapist_id: int | None
) -> list[tuple[Episode, Client]]:
    query = (
        select(Episode, Client)
        .join(Client, Client.id == Episode.client_id)
        .where(Client.clinic_id == actor.clinic_id, Episode.ended_at.is_(None))
    )
    therapists = visible_therapist_ids(session, actor)
    if therapists is not None:
        query = query.where(Episode.therapist_id.in_(therapists))
    if therapist_id is not None:
        query = query.where(Episode.therapist_id == therapist_id)
    return [(e, c) for e, c in session.execute(query).all()]


def _kinds(ctx: ServiceContext, ids: list[str]) -> dict[str, str]:
    return {i: instrument(ctx, i).kind for i in ids}


@denials_audited
def caseload(
    ctx: ServiceContext, *, actor: Actor, therapist_id: int | None = None
) -> list[CaseloadRow]:
    """Open episodes the actor may see, most urgent first: clients with open alerts (by the top
    alert's severity and kind), then the lowest latest alliance."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        pairs = _visible_open_episodes(session, actor, therapist_id)
        episode_ids = [e.id for e, _ in pairs]
        latest = _latest_scores(session, episode_ids)
        # The page shows each client's top alert and a count, so rank the unresolved alerts on
        # their sort columns alone and load whole rows (evidence JSON and all) only for the
        # tops: loading every open alert as an object cost 40 % of the page.
        ranked: dict[int, list[tuple[tuple[int, int, int, int, int], str, str]]] = defaultdict(list)
        if episode_ids:
            for alert_id, episode_id, status, severity, kind, number in session.execute(
                select(
                    Alert.id,
                    Alert.episode_id,
                    Alert.status,
                    Alert.severity,
                    Alert.kind,
                    Alert.session_number,
                ).where(Alert.episode_id.in_(episode_ids), Alert.status != "resolved")
            ):
                key = desk_sort_key(status, severity, kind, number, alert_id)
                ranked[episode_id].append((key, status, kind))
        top_ids = [min(entries)[0][4] for entries in ranked.values()]
        tops: dict[int, Alert] = {}
        if top_ids:
            tops = {
                a.episode_id: a for a in session.scalars(select(Alert).where(Alert.id.in_(top_ids)))
            }
        session_stats: dict[int, tuple[int, datetime | None]] = {}
        if episode_ids:
            for episode_id, count, last_at in session.execute(
                select(
                    TherapySession.episode_id,
                    func.count(TherapySession.id),
                    func.max(TherapySession.scheduled_at),
                )
                .where(
                    TherapySession.episode_id.in_(episode_ids), TherapySession.status == "attended"
                )
                .group_by(TherapySession.episode_id)
            ).all():
                session_stats[episode_id] = (int(count), _aware(last_at))
        names = {
            u.id: u.display_name
            for u in session.scalars(
                select(StaffUser).where(StaffUser.clinic_id == actor.clinic_id)
            )
        }
        all_ids = sorted({str(i) for e, _ in pairs for i in e.instruments})
        kinds = _kinds(ctx, all_ids)
        rows: list[CaseloadRow] = []
        name_counts = Counter(same_name_key(c.display_name) for _, c in pairs)
        for episode, client in pairs:
            open_count = sum(1 for _, status, _k in ranked.get(episode.id, ()) if status == "open")
            ackable = tuple(
                key[4]
                for key, status, kind in sorted(ranked.get(episode.id, ()))
                if status == "open" and kind != "risk_reported"
            )
            top = tops.get(episode.id)
            alliance_ids = [str(i) for i in episode.instruments if kinds.get(str(i)) == "alliance"]
            alliance_id = next((i for i in alliance_ids if (episode.id, i) in latest), None)
            latest_alliance = None if alliance_id is None else latest[(episode.id, alliance_id)][1]
            outcome = {
                str(i): latest.get((episode.id, str(i)), (None, None, 0))[1]
                for i in episode.instruments
                if kinds.get(str(i)) == "outcome"
            }
            urgency = NO_ALERT_URGENCY
            if top is not None:
                urgency = desk_urgency(top.status, top.severity, top.kind)
            count, last_seen = session_stats.get(episode.id, (0, None))
            rows.append(
                CaseloadRow(
                    client_id=client.id,
                    display_name=client.display_name,
                    episode_id=episode.id,
                    therapist_id=episode.therapist_id,
                    therapist_name=names.get(episode.therapist_id, "?"),
                    sessions=count,
                    last_session_at=last_seen,
                    latest_alliance=latest_alliance,
                    latest_outcome=outcome,
                    open_alerts=open_count,
                    top_alert=alert_view(top, ctx.cipher) if top else None,
                    urgency=urgency,
                    latest_alliance_instrument=alliance_id,
                    started_at=_aware(episode.started_at),
                    shares_name=name_counts[same_name_key(client.display_name)] > 1,
                    ackable_alert_ids=ackable,
                )
            )
        rows.sort(
            key=lambda r: (
                r.urgency,
                r.latest_alliance if r.latest_alliance is not None else 1e9,
                r.display_name.lower(),
            )
        )
        record(
            session,
            ctx,
            actor,
            "read",
            "caseload",
            therapist_id,
            {"clients": [r.client_id for r in rows]},
        )
        return rows


def _aware(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    if isinstance(value, str):  # SQLite aggregate results skip the column type
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _approach(stored: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The labels of a matching profile's modalities, and of its relationship styles strongest
    first. Read leniently: a profile carried over from the older store (migration 0006) may be
    incomplete, and a key the vocabulary no longer knows is shown as it was stored."""
    voc = vocabulary()
    modalities = tuple(voc.modalities.get(str(m), str(m)) for m in stored.get("modalities") or ())
    raw = stored.get("styles")
    weights = {
        str(key): float(weight)
        for key, weight in (raw.items() if isinstance(raw, Mapping) else ())
        if isinstance(weight, int | float) and weight > 0
    }
    strongest = sorted(weights, key=lambda key: (-weights[key], key))
    styles = tuple(voc.styles[k].label if k in voc.styles else k for k in strongest)
    return modalities, styles


@denials_audited
def team_overview(
    ctx: ServiceContext, *, actor: Actor, period: tuple[date, date] | None = None
) -> TeamOverview:
    """Per therapist (a supervisor's team; an admin's whole clinic): clients, mean latest
    alliance, mean outcome change (latest − first) per outcome measure, open alerts,
    overdue check-ins and their approach as their matching profile states it.

    With ``period`` (first and last day) also the clinic outcome report's figures over it
    (:func:`alliance.services.outcomes.outcomes_in`, so the rates are the report's) and the
    team's open risk alerts."""
    require_staff(actor, "supervisor", "admin")
    if period is not None:
        check_period(*period)
    with unit_of_work(ctx) as session:
        clinic = session.get(Clinic, actor.clinic_id)
        settings = ClinicSettings.from_json(clinic.settings if clinic else None)
        therapists_q = select(StaffUser).where(
            StaffUser.clinic_id == actor.clinic_id,
            StaffUser.active.is_(True),
            StaffUser.role != "admin",
        )
        visible = visible_therapist_ids(session, actor)
        if visible is not None:
            therapists_q = therapists_q.where(StaffUser.id.in_(visible))
        therapists = list(session.scalars(therapists_q.order_by(StaffUser.display_name)))
        pairs = _visible_open_episodes(session, actor, None)
        episode_ids = [e.id for e, _ in pairs]
        latest = _latest_scores(session, episode_ids)
        kinds = _kinds(ctx, sorted({str(i) for e, _ in pairs for i in e.instruments}))
        open_alerts: dict[int, int] = defaultdict(int)
        last_checkin: dict[int, datetime] = {}
        if episode_ids:
            for episode_id, count in session.execute(
                select(Alert.episode_id, func.count(Alert.id))
                .where(Alert.episode_id.in_(episode_ids), Alert.status == "open")
                .group_by(Alert.episode_id)
            ).all():
                open_alerts[episode_id] = int(count)
            for episode_id, completed in session.execute(
                select(CheckIn.episode_id, func.max(CheckIn.completed_at))
                .where(CheckIn.episode_id.in_(episode_ids))
                .group_by(CheckIn.episode_id)
            ).all():
                aware = _aware(completed)
                if aware is not None:
                    last_checkin[episode_id] = aware
        # The clinic's own matching profiles of the therapists listed: nothing of another
        # clinic is read, even by id.
        profiles = {
            p.user_id: p.profile
            for p in session.scalars(
                select(MatchingProfile).where(
                    MatchingProfile.clinic_id == actor.clinic_id,
                    MatchingProfile.user_id.in_([t.id for t in therapists]),
                )
            )
        }
        due = ctx.now() - timedelta(days=settings.checkin_overdue_days)
        summaries: list[TherapistSummary] = []
        for therapist in therapists:
            mine = [e for e, _ in pairs if e.therapist_id == therapist.id]
            alliance: list[float] = []
            change: dict[str, list[float]] = defaultdict(list)
            overdue = 0
            for episode in mine:
                for instrument_id in map(str, episode.instruments):
                    first, newest, count = latest.get((episode.id, instrument_id), (None, None, 0))
                    if newest is None:
                        continue
                    if kinds.get(instrument_id) == "alliance":
                        alliance.append(newest)
                    elif kinds.get(instrument_id) == "outcome" and count >= 2 and first is not None:
                        change[instrument_id].append(newest - first)
                reference = last_checkin.get(episode.id, episode.started_at)
                if reference < due:
                    overdue += 1
            modalities, styles = _approach(profiles.get(therapist.id) or {})
            outcome_ids = sorted(
                {str(i) for e in mine for i in e.instruments if kinds.get(str(i)) == "outcome"}
            )
            summaries.append(
                TherapistSummary(
                    therapist_id=therapist.id,
                    display_name=therapist.display_name,
                    clients=len(mine),
                    mean_latest_alliance=fmean(alliance) if alliance else None,
                    mean_outcome_change={
                        i: (fmean(change[i]) if change[i] else None) for i in outcome_ids
                    },
                    open_alerts=sum(open_alerts[e.id] for e in mine),
                    overdue_checkins=overdue,
                    modalities=modalities,
                    styles=styles,
                )
            )
        outcome_view = None
        risk: tuple[TeamRiskAlert, ...] = ()
        detail: dict[str, Any] = {"therapists": [s.therapist_id for s in summaries]}
        if period is not None:
            outcome_view = outcomes_in(session, ctx, actor, start=period[0], end=period[1])
            risk = _open_risk_alerts(session, actor)
            detail.update(
                {"from": period[0].isoformat(), "to": period[1].isoformat()},
                risk_alerts=[a.alert_id for a in risk],
            )
        record(session, ctx, actor, "read", "team", None, detail)
        waiting = _waiting_risks(session, ctx, pairs, settings.risk_escalation_hours)
        return TeamOverview(
            therapists=tuple(summaries),
            outcomes=outcome_view,
            risk_alerts=risk,
            waiting_risks=waiting,
            escalation_hours=settings.risk_escalation_hours,
        )


def _open_risk_alerts(session: Session, actor: Actor) -> tuple[TeamRiskAlert, ...]:
    """Risk alerts not yet resolved on the open episodes the actor sees, newest first."""
    query = (
        select(Alert, Client.display_name, Episode.therapist_id, StaffUser.display_name)
        .join(Episode, Episode.id == Alert.episode_id)
        .join(Client, Client.id == Alert.client_id)
        .join(StaffUser, StaffUser.id == Episode.therapist_id)
        .where(
            Client.clinic_id == actor.clinic_id,
            Alert.kind == "risk_reported",
            Alert.status != "resolved",
            Episode.ended_at.is_(None),
        )
        .order_by(Alert.created_at.desc(), Alert.id.desc())
    )
    therapists = visible_therapist_ids(session, actor)
    if therapists is not None:
        query = query.where(Episode.therapist_id.in_(sorted(therapists)))
    return tuple(
        TeamRiskAlert(
            alert_id=alert.id,
            client_id=alert.client_id,
            client_name=client_name,
            therapist_id=therapist_id,
            therapist_name=therapist_name,
            severity=alert.severity,
            status=alert.status,
            reason=alert.reason,
            created_at=alert.created_at,
        )
        for alert, client_name, therapist_id, therapist_name in session.execute(query)
    )


def _waiting_risks(
    session: Session,
    ctx: ServiceContext,
    pairs: Sequence[tuple[Episode, Client]],
    hours: int,
) -> tuple[WaitingRisk, ...]:
    """Open risk alerts of the visible episodes that have waited ``hours`` or more."""
    by_episode = {e.id: (e, c) for e, c in pairs}
    if not by_episode:
        return ()
    now = ctx.now()
    therapist_ids = {e.therapist_id for e, _ in pairs}
    names = {
        u.id: u.display_name
        for u in session.scalars(select(StaffUser).where(StaffUser.id.in_(therapist_ids)))
    }
    found = []
    for alert in session.scalars(
        select(Alert).where(
            Alert.episode_id.in_(list(by_episode)),
            Alert.kind == "risk_reported",
            Alert.status == "open",
        )
    ):
        if not overdue(alert, hours, now):
            continue
        episode, client = by_episode[alert.episode_id]
        found.append(
            WaitingRisk(
                alert_id=alert.id,
                client_id=client.id,
                client_name=client.display_name,
                therapist_name=names.get(episode.therapist_id, "?"),
                waiting_since=waiting_since(alert),
                escalated_at=alert.escalated_at,
            )
        )
    return tuple(sorted(found, key=lambda w: w.waiting_since))
