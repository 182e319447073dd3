"""Reports people read and print: the client progress report.

:func:`client_report` is one use case: the client's timeline (built by
:func:`alliance.services.timelines.read_client_timeline`, the code the client page reads, so
the two never disagree), plus what a printed report needs beside it — the Jacobson–Truax
change of each measure with its parameters and their sources, every alert with who
acknowledged and resolved it, the ruptures and repairs the monitoring rules find, attendance
counts, and who asked for the report when. It is one transaction and audited as a read of the
client's record, like the client page.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from alliance.measures.change import RELIABLE_CHANGE_Z, classify_instrument_change
from alliance.measures.instrument import Instrument
from alliance.monitoring.alerts import RELATIONSHIP_ALERT_KINDS, rupture_episodes
from alliance.monitoring.timeline import Timeline
from alliance.services import monitor
from alliance.services.authz import Actor, require_staff
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.services.episodes import instrument, load_episode
from alliance.services.timelines import read_client_timeline
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import (
    Attendance,
    ClientReportView,
    HandledAlert,
    InstrumentSeries,
    MeasureChange,
    RuptureRepair,
    SessionView,
    SourcedScore,
)
from alliance.store.models import Clinic, Episode, StaffUser


def _valid_scores(series: InstrumentSeries) -> list[SourcedScore]:
    """The series' valid scores, in the timeline's order (the points the charts draw)."""
    return [
        SourcedScore(
            instrument_id=series.instrument_id,
            value=float(p.value),
            session_number=p.session_number,
            at=p.at,
            band=p.band,
        )
        for p in series.points
        if p.valid and p.value is not None
    ]


def measure_change(inst: Instrument, series: InstrumentSeries) -> MeasureChange:
    """Baseline (first valid score), latest (last valid score) and, with two scores and the
    instrument's reliable-change parameters, its Jacobson–Truax classification."""
    scores = _valid_scores(series)
    baseline = scores[0] if scores else None
    latest = scores[-1] if scores else None
    params = inst.reliable_change
    cut = inst.clinical_cutoff
    base = MeasureChange(
        instrument_id=inst.id,
        title=inst.title,
        kind=inst.kind,
        direction=inst.direction,
        citation=inst.citation,
        scores=len(scores),
        baseline=baseline,
        latest=latest,
        sd=params.sd if params else None,
        reliability=params.reliability if params else None,
        sd_source=params.sd_source if params else None,
        reliability_source=params.reliability_source if params else None,
        standard_error_of_difference=params.standard_error_of_difference if params else None,
        criterion=params.criterion(RELIABLE_CHANGE_Z) if params else None,
        cutoff=cut.value if cut else None,
        cutoff_method=cut.method if cut else None,
        cutoff_source=cut.source if cut else None,
        on_track=series.trajectory.on_track if series.trajectory else None,
    )
    if baseline is None or latest is None or len(scores) < 2:
        note = "no scores yet" if not scores else "one score so far: change needs two"
        return replace(base, note=note)
    if params is None:
        return replace(
            base,
            change=latest.value - baseline.value,
            note="the instrument has no published reliable-change parameters",
        )
    result = classify_instrument_change(inst, baseline.value, latest.value)
    return replace(
        base,
        change=result.change,
        rci=result.rci,
        criterion=result.criterion,
        reliable_change=result.reliable_change,
        clinically_significant=result.clinically_significant,
        status=result.status,
    )


def _attendance(sessions: tuple[SessionView, ...]) -> Attendance:
    def count(status: str) -> int:
        return sum(1 for s in sessions if s.status == status)

    return Attendance(
        attended=count("attended"),
        missed=count("missed"),
        cancelled=count("cancelled"),
        scheduled=count("scheduled"),
    )


def _ruptures(
    ctx: ServiceContext, rules: Timeline, settings: ClinicSettings
) -> tuple[RuptureRepair, ...]:
    """The ruptures and repairs the monitoring rules see, with the clinic's thresholds."""
    instruments = {i: instrument(ctx, i) for i in rules.instrument_ids()}
    return tuple(
        RuptureRepair(
            instrument_id=r.instrument_id,
            before_session=r.before_session,
            before=r.before,
            rupture_session=r.rupture_session,
            low=r.low,
            repaired_session=r.repaired_session,
            repaired=r.repaired,
        )
        for r in rupture_episodes(rules, instruments, settings.alert_settings)
    )


@denials_audited
def client_report(
    ctx: ServiceContext, *, actor: Actor, client_id: int, episode_id: int | None = None
) -> ClientReportView:
    """The progress report of one episode of a client's care (default: the current one), for
    whoever may see the client's page; audited as a read of the client's record."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        timeline = read_client_timeline(
            session, ctx, actor, client_id=client_id, episode_id=episode_id
        )
        measures = tuple(
            measure_change(instrument(ctx, s.instrument_id), s) for s in timeline.series
        )
        staff_ids = {
            i for a in timeline.alerts for i in (a.acknowledged_by, a.resolved_by) if i is not None
        }
        if actor.user_id is not None:
            staff_ids.add(actor.user_id)
        names: dict[int, str] = {}
        if staff_ids:
            names = {
                user.id: user.display_name
                for user in session.scalars(
                    select(StaffUser).where(
                        StaffUser.id.in_(sorted(staff_ids)),
                        StaffUser.clinic_id == timeline.client.clinic_id,
                    )
                )
            }
        alerts = tuple(
            HandledAlert(
                alert=a,
                # One alert per concern: the alliance concern is about the relationship
                # whichever of its reasons leads (an alert stored before concerns by kind).
                relationship=a.concern == "alliance" or a.kind in RELATIONSHIP_ALERT_KINDS,
                acknowledged_by_name=names.get(a.acknowledged_by) if a.acknowledged_by else None,
                resolved_by_name=names.get(a.resolved_by) if a.resolved_by else None,
            )
            for a in timeline.alerts
        )
        clinic = session.get(Clinic, timeline.client.clinic_id)
        ruptures: tuple[RuptureRepair, ...] = ()
        episode = session.get(Episode, timeline.episode.id) if timeline.episode else None
        if episode is not None:
            settings = ClinicSettings.from_json(clinic.settings if clinic else None)
            ruptures = _ruptures(
                ctx, monitor.build_timeline(ctx, load_episode(session, episode)), settings
            )
        detail: dict[str, object] = {"what": "progress_report"}
        if timeline.episode is not None:
            detail["episode_id"] = timeline.episode.id
        record(session, ctx, actor, "read", "client", timeline.client.id, detail)
        return ClientReportView(
            timeline=timeline,
            clinic_name=clinic.name if clinic else "",
            generated_at=ctx.now(),
            generated_by=names.get(actor.user_id or 0, "system"),
            measures=measures,
            alerts=alerts,
            attendance=_attendance(timeline.sessions),
            ruptures=ruptures,
        )
