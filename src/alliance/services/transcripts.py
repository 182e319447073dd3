"""Session transcripts in the clinic app: attach one to a session, read its analysis, and a
therapist's indicators across sessions.

``attach_transcript`` parses and analyses first (seconds of model time, outside any
transaction), then stores the transcript text and the analysis JSON encrypted, with the
numeric indicators in the clear, and audits — in one transaction, after re-checking that the
actor may see the session. Reads decrypt and are audited. Who may see what follows the
episode: the therapist of the client, their supervisor, an admin of the clinic.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.analysis.schema import AnalysisResult
from alliance.services.authz import (
    Actor,
    not_found,
    require_episode,
    require_staff,
    visible_therapist_ids,
)
from alliance.services.context import ServiceContext
from alliance.services.errors import InvalidInput
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.services.views import (
    SessionTranscripts,
    TherapistIndicators,
    TranscriptAnalysis,
    TranscriptSummary,
)
from alliance.store.encrypted import field_of
from alliance.store.models import (
    Client,
    Episode,
    SessionTranscript,
    StaffUser,
    TherapySession,
)

TRANSCRIPT_FIELD = field_of(SessionTranscript.transcript_enc)
ANALYSIS_FIELD = field_of(SessionTranscript.analysis_enc)


def indicators_of(result: AnalysisResult) -> dict[str, Any]:
    """The numbers (no text) kept in the clear for overviews across sessions."""
    s = result.summary
    return {
        "utterances": result.source.utterances,
        "therapist_word_share": s.talk.therapist_word_share.value,
        "reflection_to_question": s.miti.reflection_to_question.value,
        "reflection_to_question_rating": s.miti.reflection_to_question.rating,
        "percent_complex_reflections": s.miti.percent_complex_reflections.value,
        "percent_complex_reflections_rating": s.miti.percent_complex_reflections.rating,
        "percent_open_questions": s.miti.percent_open_questions.value,
        "percent_open_questions_rating": s.miti.percent_open_questions.rating,
        "change_talk_ratio": s.client_talk.change_talk_ratio.value,
        "empathy_level": s.empathy.level.value if s.empathy else None,
        "withdrawal_markers": s.markers.withdrawal,
        "confrontation_markers": s.markers.confrontation,
        "relationship_style": s.relationship_style.style,
    }


def _summary(row: SessionTranscript, therapy: TherapySession, client_id: int) -> TranscriptSummary:
    return TranscriptSummary(
        id=row.id,
        session_id=row.session_id,
        session_number=therapy.number,
        session_at=therapy.scheduled_at,
        client_id=client_id,
        therapist_id=row.therapist_id,
        filename=row.filename,
        format=row.format,
        backend=row.backend,
        uploaded_at=row.uploaded_at,
        indicators=dict(row.indicators),
    )


def _require_session(
    session: Session, actor: Actor, session_id: int
) -> tuple[TherapySession, Episode]:
    therapy = session.get(TherapySession, session_id)
    if therapy is None:
        raise not_found(actor, "therapy_session", session_id, why="no such session")
    episode = require_episode(session, actor, therapy.episode_id)
    return therapy, episode


def _client(session: Session, episode: Episode) -> Client:
    client = session.get(Client, episode.client_id)
    assert client is not None  # episodes always have a client (foreign key)
    return client


@denials_audited
def session_transcripts(
    ctx: ServiceContext, *, actor: Actor, session_id: int
) -> SessionTranscripts:
    """The transcripts attached to a session (no text), for the upload page."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        therapy, episode = _require_session(session, actor, session_id)
        client = _client(session, episode)
        rows = session.scalars(
            select(SessionTranscript)
            .where(SessionTranscript.session_id == therapy.id)
            .order_by(SessionTranscript.uploaded_at, SessionTranscript.id)
        )
        items = tuple(_summary(row, therapy, client.id) for row in rows)
        record(session, ctx, actor, "read", "therapy_session", therapy.id, {"what": "transcripts"})
        return SessionTranscripts(
            session_id=therapy.id,
            session_number=therapy.number,
            client_id=client.id,
            client_name=client.display_name,
            transcripts=items,
        )


@denials_audited
def attach_transcript(
    ctx: ServiceContext,
    *,
    actor: Actor,
    session_id: int,
    filename: str,
    data: bytes,
    therapist_name: str | None = None,
) -> TranscriptSummary:
    """Parse, analyse and store a transcript for a session (encrypted); audited.

    Bad transcripts raise :class:`InvalidInput` on field ``transcript`` with the parser's one
    line (file and line number). ``therapist_name`` names the therapist in the transcript
    when role inference should not decide.
    """
    from alliance.analysis.pipeline import Analyzer
    from alliance.transcripts import TranscriptError, parse_transcript
    from alliance.transcripts.parse import decode

    require_staff(actor)
    with unit_of_work(ctx) as session:  # refuse before spending model time
        _require_session(session, actor, session_id)
    name = (filename or "transcript").replace("\\", "/").rsplit("/", 1)[-1][:200]
    if not data:
        raise InvalidInput("transcript", "choose a transcript file to upload")
    try:
        transcript = parse_transcript(
            data,
            filename=name,
            therapist=therapist_name.strip() if therapist_name and therapist_name.strip() else None,
            max_bytes=ctx.settings.transcript_max_bytes,
        )
        text = decode(data)
    except TranscriptError as exc:
        raise InvalidInput("transcript", str(exc)) from None
    backend = ctx.settings.analysis_backend
    analyzer = Analyzer.load(
        backend, empathy=ctx.settings.empathy_model, units=ctx.settings.analysis_units
    )
    result = analyzer.analyze(transcript)

    with unit_of_work(ctx) as session:
        therapy, episode = _require_session(session, actor, session_id)
        client = _client(session, episode)
        row = SessionTranscript(
            clinic_id=client.clinic_id,
            session_id=therapy.id,
            episode_id=episode.id,
            therapist_id=episode.therapist_id,
            uploaded_by=actor.user_id,
            uploaded_at=ctx.now(),
            filename=name,
            format=transcript.format,
            backend=backend,
            schema_version=result.schema_version,
            transcript_enc=ctx.cipher.encrypt(text, field=TRANSCRIPT_FIELD),
            analysis_enc=ctx.cipher.encrypt(result.model_dump_json(), field=ANALYSIS_FIELD),
            indicators=indicators_of(result),
        )
        session.add(row)
        session.flush()
        record(
            session,
            ctx,
            actor,
            "write",
            "session_transcript",
            row.id,
            {"op": "attach", "session_id": therapy.id, "utterances": result.source.utterances},
        )
        return _summary(row, therapy, client.id)


@denials_audited
def transcript_analysis(
    ctx: ServiceContext, *, actor: Actor, transcript_id: int
) -> TranscriptAnalysis:
    """One transcript's analysis, decrypted; audited as a read."""
    require_staff(actor)
    with unit_of_work(ctx) as session:
        row = session.get(SessionTranscript, transcript_id)
        if row is None:
            raise not_found(actor, "session_transcript", transcript_id, why="no such transcript")
        therapy, episode = _require_session(session, actor, row.session_id)
        client = _client(session, episode)
        therapist = session.get(StaffUser, row.therapist_id)
        result = AnalysisResult.model_validate_json(
            ctx.cipher.decrypt(row.analysis_enc, field=ANALYSIS_FIELD)
        )
        record(session, ctx, actor, "read", "session_transcript", row.id, {"what": "analysis"})
        return TranscriptAnalysis(
            summary=_summary(row, therapy, client.id),
            client_name=client.display_name,
            therapist_name=therapist.display_name if therapist else "",
            result=result,
        )


@denials_audited
def therapist_indicators(
    ctx: ServiceContext, *, actor: Actor, therapist_id: int
) -> TherapistIndicators:
    """A therapist's analysed sessions in time order (numbers only).

    Therapists see their own, supervisors their team's, admins anyone's in the clinic.
    """
    require_staff(actor)
    with unit_of_work(ctx) as session:
        therapist = session.get(StaffUser, therapist_id)
        visible = visible_therapist_ids(session, actor)
        if (
            therapist is None
            or therapist.clinic_id != actor.clinic_id
            or (visible is not None and therapist_id not in visible)
        ):
            raise not_found(actor, "staff_user", therapist_id, why="not in the actor's team")
        rows = session.execute(
            select(SessionTranscript, TherapySession, Episode.client_id)
            .join(TherapySession, TherapySession.id == SessionTranscript.session_id)
            .join(Episode, Episode.id == SessionTranscript.episode_id)
            .where(SessionTranscript.therapist_id == therapist_id)
            .order_by(TherapySession.scheduled_at, SessionTranscript.id)
        ).all()
        items = tuple(_summary(row, therapy, client_id) for row, therapy, client_id in rows)
        record(
            session, ctx, actor, "read", "staff_user", therapist_id, {"what": "session analyses"}
        )
        return TherapistIndicators(
            therapist_id=therapist_id,
            therapist_name=therapist.display_name,
            transcripts=items,
        )
