"""Adapter from stored episode data to the monitoring rules' :class:`Timeline` and back.

Kept apart from :mod:`alliance.services.monitor` so that the shape of the pure rules' inputs is
translated in one place.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy.orm import Session

from alliance.measures.scoring import RiskFlag, stored_risk_flags
from alliance.monitoring.alerts import Alert, evaluate_alerts
from alliance.monitoring.timeline import (
    Attendance,
    AttendanceStatus,
    FitAnswer,
    FitAnswerValue,
    ScorePoint,
    Timeline,
)
from alliance.services.context import ServiceContext
from alliance.services.monitor import (
    EpisodeData,
    clinic_trajectory,
    decrypt_answers,
    instrument,
)

FIT_VALUES = {
    "yes": "yes",
    "no": "no",
    "not_sure": "not_sure",
    "unsure": "not_sure",
    "true": "yes",
    "false": "no",
    "1": "yes",
    "0": "no",
}


def session_numbers(data: EpisodeData) -> dict[int, int]:
    """check-in id → session number; check-ins without a session get their order number."""
    numbers: dict[int, int] = {}
    ordinal = 0
    for score in data.scores:
        if score.checkin_id in numbers:
            continue
        ordinal += 1
        numbers[score.checkin_id] = score.session_number or ordinal
    return numbers


def build_timeline(ctx: ServiceContext, data: EpisodeData) -> Timeline:
    numbers = session_numbers(data)
    points = [
        ScorePoint(
            session_number=numbers[s.checkin_id],
            date=s.at.date(),
            instrument_id=s.instrument_id,
            total=s.total if s.valid else None,
            subscales=s.subscales,
            score_id=None,
            risk=_risk(ctx, s.instrument_id, raw),
        )
        for s, (_number, _at, _instrument_id, raw) in zip(data.scores, data.answers, strict=True)
    ]
    attendance = [
        Attendance(
            session_number=t.number,
            date=t.scheduled_at.date(),
            status=cast(AttendanceStatus, t.status),
        )
        for t in data.sessions
        if t.status in ("attended", "missed", "cancelled")
    ]
    fits: list[FitAnswer] = []
    for (number, at, instrument_id, raw), score in zip(data.answers, data.scores, strict=True):
        inst = instrument(ctx, instrument_id)
        fit_items = [item.link_id for item in inst.items if _is_fit_item(item.link_id)]
        if not fit_items:
            continue
        answers = decrypt_answers(ctx, instrument_id, raw)
        value = answers.get(fit_items[0])
        mapped = FIT_VALUES.get(str(value).strip().lower()) if value is not None else None
        if mapped is not None:
            fits.append(
                FitAnswer(
                    session_number=number or numbers[score.checkin_id],
                    date=at.date(),
                    answer=cast(FitAnswerValue, mapped),
                )
            )
    return Timeline(str(data.client.id), points, attendance, fits)


def _risk(ctx: ServiceContext, instrument_id: str, raw: dict[str, object]) -> tuple[RiskFlag, ...]:
    """Risk items (PHQ-9 item 9) the stored answers endorse, read from the answers themselves
    so that a low or invalid total never hides them. An answer stored under an earlier
    definition that no longer reads is flagged as a possible risk instead of failing the
    refresh (which would block every later check-in of the episode)."""
    inst = instrument(ctx, instrument_id)
    if not inst.risk_items:
        return ()
    return stored_risk_flags(inst, decrypt_answers(ctx, instrument_id, raw))


def _is_fit_item(link_id: str) -> bool:
    return "fit" in link_id.lower()


def evaluate(session: Session, ctx: ServiceContext, data: EpisodeData) -> list[Alert]:
    timeline = build_timeline(ctx, data)
    instruments = {str(i): instrument(ctx, str(i)) for i in data.episode.instruments}
    trajectories = {
        inst.id: clinic_trajectory(session, ctx, data.client.clinic_id, inst)
        for inst in instruments.values()
        if inst.kind == "outcome" and inst.reliable_change is not None
    }
    return evaluate_alerts(
        timeline,
        instruments,
        data.clinic_settings.alert_settings,
        trajectories,
        today=ctx.now().date(),
    )
