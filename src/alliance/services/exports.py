"""Data out: a clinic's export (CSV, Parquet or FHIR; full or de-identified), a client's
data-subject access export (JSON + FHIR) and a client's erasure.

De-identified exports replace every id (client, therapist, episode, goal; in FHIR also the
response) with a pseudonym, drop names, contact details, free text, notes and the rules'
written reasons (which quote dates), and hold no date at all: times become whole days since
the start of the episode, next to the session number. A pseudonym is HMAC-SHA-256 under a
random key drawn for that one export and then forgotten, so it is consistent inside the export
(the tables join) but two exports cannot be joined, and no key kept on the server can turn
pseudonyms back into ids (ids are small integers: under a fixed key, anyone holding the key
could recompute every pseudonym). Rows are ordered by pseudonym, not by id, so their order does
not tell who came first.

Erasure deletes every clinical row of the client and keeps one audit event saying that (and
when, and by whom) an erasure happened — never what was erased.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alliance.datafiles import FILE_FORMATS, Table, safe_name
from alliance.datafiles import files as data_files
from alliance.measures.instrument import Instrument
from alliance.services.authz import Actor, require_client, require_staff, require_user_admin
from alliance.services.context import ServiceContext
from alliance.services.episodes import decrypt_answers, instrument
from alliance.services.errors import InvalidInput
from alliance.services.export_columns import (
    TABLES,
    answer_code,
    band_order,
    described,
    item_column,
    item_scores,
)
from alliance.services.unit import denials_audited, record, unit_of_work
from alliance.store import audit
from alliance.store.encrypted import field_of
from alliance.store.matching_tables import HandoverNote, IntakeRequest, MatchDecision
from alliance.store.models import (
    Alert,
    CheckIn,
    Client,
    Episode,
    Goal,
    GoalRating,
    OutboxMessage,
    Response,
    Score,
    SessionTranscript,
    TherapySession,
)

ExportFormat = Literal["csv", "parquet", "spss", "stata", "rds", "fhir"]
FORMATS: tuple[str, ...] = (*FILE_FORMATS, "fhir")
CONTACT_FIELD = field_of(Client.contact_email_enc)
GOAL_FIELD = field_of(Goal.text_enc)
ACK_FIELD = field_of(Alert.acknowledge_note_enc)
RESOLVE_FIELD = field_of(Alert.resolve_note_enc)
SUPERVISION_FIELD = field_of(Alert.supervision_note_enc)


@dataclass(frozen=True)
class ErasureReceipt:
    client_id: int
    deleted: dict[str, int]


class _Pseudonyms:
    """The ids of one export: pseudonyms when de-identified, else the ids themselves.

    The key is new for every instance and never stored: build one per export."""

    def __init__(self, deidentified: bool) -> None:
        self._key = secrets.token_bytes(32)
        self.on = deidentified

    def __call__(self, kind: str, value: int | None) -> int | str | None:
        if value is None or not self.on:
            return value
        return self.of(kind, value)

    def of(self, kind: str, value: int) -> str:
        """The pseudonym of ``kind`` ``value``: its kind's initial and 16 hex digits."""
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind[0]}{digest[:16]}"


def _whole_days(at: datetime, start: datetime) -> float:
    return round((at - start).total_seconds() / 86400.0, 0)


def _days(at: datetime | None, start: datetime) -> float | None:
    return None if at is None else _whole_days(at, start)


def _collect(
    session: Session, ctx: ServiceContext, clients: list[Client], *, deidentified: bool
) -> dict[str, list[dict[str, Any]]]:
    """Rows of every export table for ``clients`` (already authorised), as JSON-ready dicts."""
    return {
        t.name: [dict(r) for r in t.rows]
        for t in _tables(session, ctx, clients, deidentified=deidentified)
    }


def _tables(
    session: Session, ctx: ServiceContext, clients: list[Client], *, deidentified: bool
) -> list[Table]:
    """Every export table for ``clients`` (already authorised), each column described."""
    pseudo = _Pseudonyms(deidentified)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    client_ids = [c.id for c in clients]
    episodes = (
        list(
            session.scalars(
                select(Episode).where(Episode.client_id.in_(client_ids)).order_by(Episode.id)
            )
        )
        if client_ids
        else []
    )
    start = {e.id: e.started_at for e in episodes}

    def when(at: datetime | None, episode_id: int) -> Any:
        return _days(at, start[episode_id]) if deidentified else at

    for c in clients:
        row: dict[str, Any] = {"client_id": pseudo("client", c.id)}
        if not deidentified:
            row |= {
                "display_name": c.display_name,
                "created_at": c.created_at,
                "contact_email": ctx.cipher.decrypt_optional(
                    c.contact_email_enc, field=CONTACT_FIELD
                ),
            }
        out["clients"].append(row)
    for e in episodes:
        out["episodes"].append(
            {
                "episode_id": pseudo("episode", e.id),
                "client_id": pseudo("client", e.client_id),
                "therapist_id": pseudo("therapist", e.therapist_id),
                "started": 0.0 if deidentified else e.started_at,
                "ended": when(e.ended_at, e.id),
                "end_reason": e.end_reason,
                "instruments": ",".join(map(str, e.instruments)),
            }
        )
    ids = list(start)
    for s in session.scalars(
        select(TherapySession)
        .where(TherapySession.episode_id.in_(ids))
        .order_by(TherapySession.episode_id, TherapySession.number)
    ):
        out["sessions"].append(
            {
                "episode_id": pseudo("episode", s.episode_id),
                "session_number": s.number,
                "scheduled": when(s.scheduled_at, s.episode_id),
                "status": s.status,
            }
        )
    rows = session.execute(
        select(Score, Response)
        .join(Response, Response.id == Score.response_id)
        .where(Score.episode_id.in_(ids))
        .order_by(Score.episode_id, Score.scored_at, Score.id)
    ).all()
    used: dict[str, Instrument] = {}
    for score, response in rows:
        inst = used.setdefault(score.instrument_id, instrument(ctx, score.instrument_id))
        base = {
            "episode_id": pseudo("episode", score.episode_id),
            "instrument_id": score.instrument_id,
            "session_number": score.session_number,
            "at": when(score.scored_at, score.episode_id),
        }
        srow = base | {
            "total": score.total,
            "band": score.band,
            "band_order": band_order(inst, score.band),
            "valid": score.valid,
        }
        srow |= {f"subscale_{k}": v for k, v in sorted(score.subscales.items())}
        out["scores"].append(srow)
        answers = decrypt_answers(ctx, score.instrument_id, response.answers)
        scored = item_scores(inst, answers)
        wide: dict[str, Any] = base | {
            safe_name(inst.id, "total"): score.total,
            safe_name(inst.id, "band"): score.band,
        }
        for item in inst.items:
            if item.link_id not in answers or (item.type == "text" and deidentified):
                continue
            value = answers[item.link_id]
            out["answers"].append(
                base
                | {
                    "link_id": item.link_id,
                    "answer": str(value),
                    "item_score": scored.get(item.link_id),
                }
            )
            wide[item_column(inst, item)] = answer_code(item, value)
            if item.scored:
                wide[item_column(inst, item, "score")] = scored.get(item.link_id)
        out["responses_wide"].append(wide)
    goals = list(
        session.scalars(
            select(Goal).where(Goal.episode_id.in_(ids)).order_by(Goal.episode_id, Goal.id)
        )
    )
    goal_episode = {g.id: g.episode_id for g in goals}
    for g in goals:
        grow: dict[str, Any] = {
            "goal_id": pseudo("goal", g.id),
            "episode_id": pseudo("episode", g.episode_id),
            "position": g.position,
            "agreed": when(g.agreed_at, g.episode_id),
            "active": g.active,
        }
        if not deidentified:
            grow["text"] = ctx.cipher.decrypt(g.text_enc, field=GOAL_FIELD)
        out["goals"].append(grow)
    if goals:
        for r in session.scalars(
            select(GoalRating)
            .where(GoalRating.goal_id.in_(list(goal_episode)))
            .order_by(GoalRating.goal_id, GoalRating.rated_at)
        ):
            out["goal_ratings"].append(
                {
                    "goal_id": pseudo("goal", r.goal_id),
                    "rating": r.rating,
                    "at": when(r.rated_at, goal_episode[r.goal_id]),
                }
            )
    for a in session.scalars(select(Alert).where(Alert.episode_id.in_(ids)).order_by(Alert.id)):
        arow: dict[str, Any] = {
            "episode_id": pseudo("episode", a.episode_id),
            "kind": a.kind,
            "severity": a.severity,
            "session_number": a.session_number,
            "status": a.status,
            "raised": when(a.created_at, a.episode_id),
        }
        if not deidentified:
            arow |= {
                "reason": a.reason,
                "acknowledged_at": a.acknowledged_at,
                "resolved_at": a.resolved_at,
                "acknowledge_note": ctx.cipher.decrypt_optional(
                    a.acknowledge_note_enc, field=ACK_FIELD
                ),
                "resolve_note": ctx.cipher.decrypt_optional(
                    a.resolve_note_enc, field=RESOLVE_FIELD
                ),
                "evidence": json.dumps(a.evidence, sort_keys=True),
                "supervised_at": a.supervised_at,
                "supervision_note": ctx.cipher.decrypt_optional(
                    a.supervision_note_enc, field=SUPERVISION_FIELD
                ),
            }
        out["alerts"].append(arow)
    if deidentified:
        # Each table's first column is its pseudonymous key; a stable sort on it keeps each
        # episode's rows in their order in time.
        for table_rows in out.values():
            table_rows.sort(key=lambda row: str(next(iter(row.values()))))
    return described(out, sorted(used.values(), key=lambda i: i.id), deidentified=deidentified)


def _fhir_bundle(
    session: Session, ctx: ServiceContext, clients: Iterable[Client], *, deidentified: bool
) -> dict[str, Any]:
    """A FHIR R4 collection Bundle: per response a QuestionnaireResponse and its score
    Observations, built by :mod:`alliance.measures.fhir`."""
    from alliance.services import _fhir

    return _fhir.bundle(
        session,
        ctx,
        list(clients),
        pseudo=_Pseudonyms(True).of if deidentified else None,
        days_since=_whole_days,
    )


def check_format(format: str) -> ExportFormat:
    """``format`` if it is one the clinic export writes, else :class:`InvalidInput` naming
    them (the CLI, the app's export form and the background job all ask here)."""
    if format not in FORMATS:
        raise InvalidInput("format", f"must be one of {', '.join(FORMATS)}, not {format!r}")
    return format  # type: ignore[return-value]  # one of FORMATS, checked above


@denials_audited
def export_clinic(
    ctx: ServiceContext, *, actor: Actor, format: str, deidentified: bool
) -> dict[str, bytes]:
    """The actor's clinic as files (name → bytes): one CSV or Parquet file per table, or one
    FHIR Bundle JSON. Admins only; audited."""
    check_format(format)
    with unit_of_work(ctx) as session:
        require_user_admin(session, actor)
        clients = list(
            session.scalars(
                select(Client).where(Client.clinic_id == actor.clinic_id).order_by(Client.id)
            )
        )
        files: dict[str, bytes]
        if format == "fhir":
            bundle = _fhir_bundle(session, ctx, clients, deidentified=deidentified)
            files = {"bundle.fhir.json": json.dumps(bundle, indent=1, default=str).encode()}
        else:
            tables = _tables(session, ctx, clients, deidentified=deidentified)
            kind = "de-identified" if deidentified else "full"
            files = data_files(
                tables,
                format,  # type: ignore[arg-type]  # checked against FORMATS above
                title=f"Codebook of a {kind} clinic export",
                name=f"alliance-clinic-export-{kind}",
            )
        record(
            session,
            ctx,
            actor,
            "export",
            "clinic",
            actor.clinic_id,
            {
                "format": format,
                "deidentified": deidentified,
                "clients": len(clients),
                "files": sorted(files),
            },
        )
        return files


@denials_audited
def export_client(ctx: ServiceContext, *, actor: Actor, client_id: int) -> dict[str, Any]:
    """Everything stored about one client (data-subject access): JSON-ready tables plus a FHIR
    Bundle under ``"fhir"``. Admins only; audited."""
    with unit_of_work(ctx) as session:
        require_user_admin(session, actor)
        client = require_client(session, actor, client_id)
        tables = _collect(session, ctx, [client], deidentified=False)
        document: dict[str, Any] = json.loads(json.dumps(tables, default=_iso))
        document["fhir"] = _fhir_bundle(session, ctx, [client], deidentified=False)
        # Who has read or changed this client's record, and when (the right of access
        # covers it); staff are named by id, as in the audit trail.
        document["access_log"] = [
            {
                "at": e.at.isoformat(),
                "actor_type": e.actor_type,
                "actor_id": e.actor_id,
                "action": e.action,
                "what": e.detail.get("what") or e.detail.get("op"),
            }
            for e in reversed(
                audit.events(
                    session, clinic_id=client.clinic_id, entity_type="client", entity_id=client.id
                )
            )
        ]
        document["exported_at"] = ctx.now().isoformat()
        record(session, ctx, actor, "export", "client", client.id, {"what": "data subject"})
        return document


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


@denials_audited
def erase_client(ctx: ServiceContext, *, actor: Actor, client_id: int) -> ErasureReceipt:
    """Delete the client and all their clinical data (admins only). The audit trail keeps one
    ``erase`` event with the counts of rows removed and nothing about their content."""
    require_staff(actor, "admin")
    with unit_of_work(ctx) as session:
        client = require_client(session, actor, client_id)
        episode_ids = list(
            session.scalars(select(Episode.id).where(Episode.client_id == client.id))
        )
        checkin_ids = (
            list(session.scalars(select(CheckIn.id).where(CheckIn.episode_id.in_(episode_ids))))
            if episode_ids
            else []
        )
        goal_ids = (
            list(session.scalars(select(Goal.id).where(Goal.episode_id.in_(episode_ids))))
            if episode_ids
            else []
        )
        response_ids = (
            list(session.scalars(select(Response.id).where(Response.checkin_id.in_(checkin_ids))))
            if checkin_ids
            else []
        )
        deleted: dict[str, int] = {}

        def remove(name: str, stmt: Any) -> None:
            result = session.execute(stmt.execution_options(synchronize_session=False))
            deleted[name] = int(getattr(result, "rowcount", 0) or 0)

        remove("goal_ratings", delete(GoalRating).where(GoalRating.goal_id.in_(goal_ids)))
        remove("scores", delete(Score).where(Score.response_id.in_(response_ids)))
        remove("responses", delete(Response).where(Response.id.in_(response_ids)))
        remove("goals", delete(Goal).where(Goal.id.in_(goal_ids)))
        remove("alerts", delete(Alert).where(Alert.client_id == client.id))
        # The client's messages (address-free, but they name the client and hold the link).
        remove("outbox_messages", delete(OutboxMessage).where(OutboxMessage.client_id == client.id))
        remove("checkins", delete(CheckIn).where(CheckIn.id.in_(checkin_ids)))
        remove(
            "session_transcripts",
            delete(SessionTranscript).where(SessionTranscript.episode_id.in_(episode_ids)),
        )
        remove(
            "handover_notes",
            delete(HandoverNote).where(HandoverNote.episode_id.in_(episode_ids)),
        )
        # A client who came through matching: their intake (contact details and what they
        # told the clinic) and the decisions on it go too.
        intake_ids = list(
            session.scalars(
                select(IntakeRequest.id).where(
                    (IntakeRequest.client_id == client.id)
                    | IntakeRequest.episode_id.in_(episode_ids)
                )
            )
        )
        remove(
            "match_decisions", delete(MatchDecision).where(MatchDecision.intake_id.in_(intake_ids))
        )
        remove("intake_requests", delete(IntakeRequest).where(IntakeRequest.id.in_(intake_ids)))
        remove("sessions", delete(TherapySession).where(TherapySession.episode_id.in_(episode_ids)))
        remove("episodes", delete(Episode).where(Episode.id.in_(episode_ids)))
        remove("clients", delete(Client).where(Client.id == client.id))
        record(session, ctx, actor, "erase", "client", client_id, {"deleted": deleted})
        return ErasureReceipt(client_id=client_id, deleted=deleted)
