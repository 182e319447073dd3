"""The clinic outcome report (issue 14): :func:`clinic_outcomes`, for admins (their clinic) and
supervisors (their team), audited as an aggregate read.

The rows are read in a few set-wise queries over the episodes in care during the period —
never one query per episode, so a clinic of 20,000 episodes reports in seconds — and turned
into :class:`alliance.monitoring.outcomes.EpisodeFacts`; every statistic is then computed by
the pure :mod:`alliance.monitoring.outcomes`. :func:`outcomes_in` is the same computation
inside a caller's unit of work (the team page uses it, so its rates are the report's).

What each episode contributes (``docs/admin-guide.md`` has the definitions):

* its **outcome measure** is the first instrument of the episode's list whose kind is
  ``outcome`` and which has reliable-change parameters; first and last valid score on or
  before the period's last day;
* its **intake-severity stratum** is that measure and the severity band of its first score;
* its **alliance** is the mean of its valid scores on ``alliance`` instruments in the period;
* its **ruptures** come from :func:`alliance.monitoring.alerts.rupture_episodes` over its
  relationship scores up to the period's end, with the clinic's thresholds;
* its **check-ins** are those created in the period, and whether each was completed by its end.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from alliance.matching import vocabulary
from alliance.measures.instrument import Instrument
from alliance.monitoring.alerts import RELATIONSHIP_KINDS, may_rupture, rupture_episodes
from alliance.monitoring.outcomes import (
    BENCHMARKS,
    EpisodeChange,
    EpisodeFacts,
    episode_changes,
    overall,
    reference_rates,
    summarise,
)
from alliance.monitoring.timeline import ScorePoint, Timeline
from alliance.services.authz import Actor, require_staff, visible_therapist_ids
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.errors import InvalidInput
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import ClinicOutcomesView, OutcomeBreakdown
from alliance.store.encrypted import field_of
from alliance.store.matching_tables import IntakeRequest, MatchingProfile
from alliance.store.models import CheckIn, Client, Clinic, Episode, Score, StaffUser

#: The longest period one report covers (a bound on the work one request can ask for).
MAX_PERIOD_DAYS = 3660
INTAKE_FIELD = field_of(IntakeRequest.intake_enc)

DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("team", "By team (supervisor)"),
    ("therapist", "By therapist"),
    ("modality", "By modality (the therapist's first-listed approach)"),
    ("concern", "By concern (the client's main concern at intake)"),
)


def check_period(start: date, end: date) -> None:
    """A period is ``start`` ≤ ``end`` and at most :data:`MAX_PERIOD_DAYS` long."""
    if end < start:
        raise InvalidInput("to", f"the period ends ({end}) before it starts ({start})")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput("from", f"a report covers at most {MAX_PERIOD_DAYS} days")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _scope(actor: Actor, visible: set[int] | None, start: datetime, end: datetime) -> Select[Any]:
    """The ids of the episodes in care during [start, end) that the actor may see."""
    query = (
        select(Episode.id)
        .join(Client, Client.id == Episode.client_id)
        .where(
            Client.clinic_id == actor.clinic_id,
            Episode.started_at < end,
            or_(Episode.ended_at.is_(None), Episode.ended_at >= start),
        )
    )
    if visible is not None:
        query = query.where(Episode.therapist_id.in_(sorted(visible)))
    return query


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _Kinds:
    """Instrument lookups for one report (unknown ids are skipped, not fatal: a user file may
    have been removed since the scores were stored)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._cache: dict[str, Instrument | None] = {}

    def get(self, instrument_id: str) -> Instrument | None:
        if instrument_id not in self._cache:
            try:
                self._cache[instrument_id] = self._ctx.instruments.get(instrument_id)
            except Exception:  # an InstrumentError of any kind: not counted
                self._cache[instrument_id] = None
        return self._cache[instrument_id]

    def kind(self, instrument_id: str) -> str | None:
        inst = self.get(instrument_id)
        return inst.kind if inst else None


def _outcome_instrument(kinds: _Kinds, listed: Sequence[Any]) -> Instrument | None:
    for instrument_id in map(str, listed or ()):
        inst = kinds.get(instrument_id)
        if inst is not None and inst.kind == "outcome" and inst.reliable_change is not None:
            return inst
    return None


def outcomes_in(
    session: Session, ctx: ServiceContext, actor: Actor, *, start: date, end: date
) -> ClinicOutcomesView:
    """The clinic outcome report's figures, read inside the caller's unit of work (no audit
    event: the caller writes it). ``actor`` must be an admin or a supervisor."""
    check_period(start, end)
    start_at, end_at = _midnight(start), _midnight(end + timedelta(days=1))
    clinic = session.get(Clinic, actor.clinic_id)
    settings = ClinicSettings.from_json(clinic.settings if clinic else None)
    visible = visible_therapist_ids(session, actor)
    scope = _scope(actor, visible, start_at, end_at).scalar_subquery()
    kinds = _Kinds(ctx)

    episodes = session.execute(
        select(
            Episode.id,
            Episode.therapist_id,
            Episode.started_at,
            Episode.ended_at,
            Episode.end_reason,
            Episode.instruments,
        ).where(Episode.id.in_(scope))
    ).all()
    primary: dict[int, Instrument | None] = {
        e.id: _outcome_instrument(kinds, e.instruments) for e in episodes
    }

    # Valid scores up to the period's end, in the order the timelines use.
    outcome_series: dict[int, list[float]] = defaultdict(list)
    first_band: dict[int, str | None] = {}
    relationship: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    alliance_ids: set[str] = set()
    for episode_id, instrument_id, total, band in session.execute(
        select(Score.episode_id, Score.instrument_id, Score.total, Score.band)
        .where(
            Score.episode_id.in_(scope),
            Score.valid.is_(True),
            Score.total.is_not(None),
            Score.scored_at < end_at,
        )
        .order_by(Score.episode_id, Score.scored_at, Score.id)
    ):
        if total is None:  # excluded by the query; narrows the type
            continue
        inst = primary.get(episode_id)
        if inst is not None and instrument_id == inst.id:
            if episode_id not in first_band:
                first_band[episode_id] = band
            outcome_series[episode_id].append(float(total))
            continue
        kind = kinds.kind(instrument_id)
        if kind in RELATIONSHIP_KINDS:
            relationship[episode_id][instrument_id].append(float(total))
            if kind == "alliance":
                alliance_ids.add(instrument_id)

    changes: dict[int, EpisodeChange | None] = {}
    by_instrument: dict[str, list[int]] = defaultdict(list)
    for episode_id, inst in primary.items():
        if inst is not None:
            by_instrument[inst.id].append(episode_id)
    for instrument_id, ids in by_instrument.items():
        inst = kinds.get(instrument_id)
        assert inst is not None
        for episode_id, change in zip(
            ids, episode_changes(inst, [outcome_series.get(i, []) for i in ids]), strict=True
        ):
            changes[episode_id] = change

    checkins: dict[int, tuple[int, int]] = {}
    for episode_id, created, completed in session.execute(
        select(
            CheckIn.episode_id,
            func.count(CheckIn.id),
            func.count(CheckIn.completed_at).filter(CheckIn.completed_at < end_at),
        )
        .where(
            CheckIn.episode_id.in_(scope),
            CheckIn.created_at >= start_at,
            CheckIn.created_at < end_at,
        )
        .group_by(CheckIn.episode_id)
    ):
        checkins[episode_id] = (int(created), int(completed))

    facts: list[EpisodeFacts] = []
    for e in episodes:
        started_at, ended_at = _aware(e.started_at), _aware(e.ended_at)
        ended = ended_at is not None and start_at <= ended_at < end_at
        scores = relationship.get(e.id, {})
        alliance = [v for i, values in scores.items() if i in alliance_ids for v in values]
        ruptures = _ruptures(e.id, scores, kinds, settings)
        created, completed = checkins.get(e.id, (0, 0))
        inst = primary[e.id]
        facts.append(
            EpisodeFacts(
                episode_id=e.id,
                started=started_at is not None and start_at <= started_at < end_at,
                ended=ended,
                dropout=ended and e.end_reason == "dropout",
                change=changes.get(e.id),
                stratum=(
                    f"{inst.id}:{first_band.get(e.id) or 'no band'}"
                    if inst is not None and e.id in first_band
                    else None
                ),
                alliance=sum(alliance) / len(alliance) if alliance else None,
                ruptures=ruptures[0],
                repaired=ruptures[1],
                checkins_created=created,
                checkins_completed=completed,
            )
        )

    groups, no_data = _groups(session, ctx, actor, episodes, scope)
    reference = reference_rates(facts)
    clinic_row = overall(facts, reference=reference)
    breakdowns = tuple(
        OutcomeBreakdown(
            dimension=dimension,
            title=title,
            rows=summarise(facts, dimension, groups[dimension], reference=reference),
            no_data=no_data.get(dimension, ()),
        )
        for dimension, title in DIMENSIONS
    )
    names = {
        u.id: u.display_name
        for u in session.scalars(select(StaffUser).where(StaffUser.clinic_id == actor.clinic_id))
    }
    scope_text = (
        "the whole clinic"
        if visible is None
        else f"the team of {names.get(actor.user_id or 0, 'the supervisor')}"
    )
    notes: list[str] = []
    if not facts:
        notes.append("No episode was in care during the period.")
    missing = sum(1 for f in facts if primary.get(f.episode_id) is None)
    if missing:
        notes.append(
            f"{missing} episode(s) have no outcome measure with reliable-change parameters:"
            " they count in the activity figures only."
        )
    return ClinicOutcomesView(
        clinic_name=clinic.name if clinic else "",
        scope=scope_text,
        start=start,
        end=end,
        generated_at=ctx.now(),
        generated_by=names.get(actor.user_id or 0, "system"),
        clinic=clinic_row,
        breakdowns=breakdowns,
        benchmarks=BENCHMARKS,
        outcome_instruments=tuple(sorted(by_instrument)),
        alliance_instruments=tuple(sorted(alliance_ids)),
        notes=tuple(notes),
    )


def _ruptures(
    episode_id: int,
    scores: Mapping[str, list[float]],
    kinds: _Kinds,
    settings: ClinicSettings,
) -> tuple[int, int]:
    """(ruptures, repaired) of one episode by the monitoring rules' own definition."""
    instruments = {i: inst for i in scores if (inst := kinds.get(i)) is not None}
    config = settings.alert_settings
    # Most series have no drop the rule could call a rupture (the rule's own test, in
    # monitoring.alerts): those skip building a timeline at all.
    candidates = {
        i: v
        for i, v in scores.items()
        if i in instruments and may_rupture(v, instruments[i], config)
    }
    if not candidates:
        return 0, 0
    today = date(2000, 1, 1)  # dates play no part in rupture detection
    points = [
        ScorePoint(session_number=n, date=today, instrument_id=i, total=v)
        for i, values in candidates.items()
        for n, v in enumerate(values, start=1)
    ]
    found = rupture_episodes(Timeline(str(episode_id), points), instruments, config)
    return len(found), sum(1 for r in found if r.repaired_session is not None)


def _groups(
    session: Session, ctx: ServiceContext, actor: Actor, episodes: Sequence[Any], scope: Any
) -> tuple[dict[str, dict[int, list[tuple[str, str]]]], dict[str, tuple[str, ...]]]:
    """Which team, therapist, modality and concern each episode belongs to, and a sentence per
    breakdown about episodes that have none on record."""
    voc = vocabulary()
    staff = {
        u.id: u
        for u in session.scalars(select(StaffUser).where(StaffUser.clinic_id == actor.clinic_id))
    }
    modality: dict[int, str] = {}
    for user_id, profile in session.execute(
        select(MatchingProfile.user_id, MatchingProfile.profile).where(
            MatchingProfile.clinic_id == actor.clinic_id
        )
    ):
        listed = (profile or {}).get("modalities") or ()
        if listed:
            modality[user_id] = str(listed[0])
    episode_ids = [e.id for e in episodes]
    concern: dict[int, str] = {}
    if episode_ids:
        for episode_id, intake_enc in session.execute(
            select(IntakeRequest.episode_id, IntakeRequest.intake_enc).where(
                IntakeRequest.clinic_id == actor.clinic_id,
                IntakeRequest.episode_id.in_(scope),
            )
        ):
            if episode_id is None or episode_id in concern:
                continue
            try:
                data = json.loads(ctx.cipher.decrypt(intake_enc, field=INTAKE_FIELD))
                main = str((data.get("concerns") or [None])[0] or "")
            except (ValueError, TypeError, AttributeError):
                main = ""
            if main:
                concern[episode_id] = main

    groups: dict[str, dict[int, list[tuple[str, str]]]] = {d: {} for d, _ in DIMENSIONS}
    lacking: dict[str, int] = defaultdict(int)
    for e in episodes:
        therapist = staff.get(e.therapist_id)
        name = therapist.display_name if therapist else f"therapist {e.therapist_id}"
        groups["therapist"][e.id] = [(str(e.therapist_id), name)]
        lead = None
        if therapist is not None:
            lead = therapist.supervisor_id or (
                therapist.id if therapist.role == "supervisor" else None
            )
        if lead is not None and lead in staff:
            groups["team"][e.id] = [(str(lead), f"{staff[lead].display_name}'s team")]
        else:
            groups["team"][e.id] = []
            lacking["team"] += 1
        approach = modality.get(e.therapist_id)
        if approach:
            groups["modality"][e.id] = [(approach, voc.modalities.get(approach, approach))]
        else:
            groups["modality"][e.id] = []
            lacking["modality"] += 1
        main_concern = concern.get(e.id)
        if main_concern:
            label = voc.concerns.get(main_concern, main_concern)
            groups["concern"][e.id] = [(main_concern, label)]
        else:
            groups["concern"][e.id] = []
            lacking["concern"] += 1
    reasons = {
        "team": "their therapist is in no supervisor's team",
        "modality": "their therapist has no matching profile with a modality",
        "concern": "no intake with a concern is linked to them",
    }
    no_data: dict[str, tuple[str, ...]] = {
        d: (f"{n} episode(s) are not in this breakdown: {reasons[d]}.",)
        for d, n in lacking.items()
        if n
    }
    return groups, no_data


@denials_audited
def clinic_outcomes(
    ctx: ServiceContext, *, actor: Actor, start: date, end: date
) -> ClinicOutcomesView:
    """The clinic outcome report over ``start``–``end`` (both included): for an admin their
    clinic, for a supervisor their team. Audited as an aggregate read (no client named)."""
    require_staff(actor, "admin", "supervisor")
    check_period(start, end)
    with unit_of_work(ctx) as session:
        view = outcomes_in(session, ctx, actor, start=start, end=end)
        record(
            session,
            ctx,
            actor,
            "read",
            "clinic_outcomes",
            actor.clinic_id,
            {
                "what": "clinic_outcome_report",
                "from": start.isoformat(),
                "to": end.isoformat(),
                "scope": "clinic" if view.scope == "the whole clinic" else "team",
                "episodes": view.clinic.episodes.value,
            },
        )
        return view
