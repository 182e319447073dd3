"""Batch analysis, the pure part: one transcript's bytes in, one tidy result row out.

:func:`analyse_bytes` is what a worker process (local or on a Dask cluster) runs: it parses,
analyses and flattens, and never raises for a bad transcript — a failure becomes a row with
``status="failed"`` and the one-line error, so a batch lists failures and carries on. The
driver that finds files, reads them, skips finished ones and writes Parquet lives in the CLI
(:mod:`alliance.cli._analysis_batch`), which is where file I/O belongs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from alliance.analysis.schema import SCHEMA_VERSION, AnalysisResult, Indicator
from alliance.transcripts.model import Role, SpeakerMode, TranscriptError

Backend = Literal["accurate", "fast"]
Units = Literal["turns", "segments"]

#: Columns of the batch table, in order (``result_json`` holds the full analysis).
COLUMNS: tuple[str, ...] = (
    "file",
    "status",
    "error",
    "schema_version",
    "backend",
    "format",
    "utterances",
    "speakers",
    "therapists",
    "clients",
    "roles_method",
    "roles_confidence",
    "therapist_word_share",
    "therapist_time_share",
    "reflection_to_question",
    "reflection_to_question_rating",
    "percent_complex_reflections",
    "percent_complex_reflections_rating",
    "percent_open_questions",
    "percent_open_questions_rating",
    "change_talk_ratio",
    "empathy_level",
    "collaboration_markers",
    "validation_markers",
    "affirmation_markers",
    "withdrawal_markers",
    "confrontation_markers",
    "interruptions",
    "monologues",
    "relationship_style",
    "result_json",
)


@dataclass(frozen=True)
class BatchOptions:
    """What every file in a batch is analysed with (picklable for worker processes)."""

    backend: Backend = "accurate"
    therapist: tuple[str, ...] = ()
    name_map: tuple[tuple[str, Role], ...] = ()
    empathy: bool | None = None
    max_bytes: int | None = None
    speakers: SpeakerMode = "labels"
    units: Units = "turns"


def _value(indicator: Indicator | None) -> float | None:
    return indicator.value if indicator is not None else None


def result_row(file: str, result: AnalysisResult) -> dict[str, object]:
    """Flatten one analysis into a batch row (see :data:`COLUMNS`)."""
    s = result.summary
    counts = {c.label: c.count for c in s.markers.counts}
    roles = [sp.role for sp in result.speakers]
    return {
        "file": file,
        "status": "ok",
        "error": None,
        "schema_version": result.schema_version,
        "backend": result.models.backend,
        "format": result.source.format,
        "utterances": result.source.utterances,
        "speakers": len(result.speakers),
        "therapists": roles.count("therapist"),
        "clients": roles.count("client"),
        "roles_method": result.roles.method,
        "roles_confidence": result.roles.confidence,
        "therapist_word_share": _value(s.talk.therapist_word_share),
        "therapist_time_share": _value(s.talk.therapist_time_share),
        "reflection_to_question": _value(s.miti.reflection_to_question),
        "reflection_to_question_rating": s.miti.reflection_to_question.rating,
        "percent_complex_reflections": _value(s.miti.percent_complex_reflections),
        "percent_complex_reflections_rating": s.miti.percent_complex_reflections.rating,
        "percent_open_questions": _value(s.miti.percent_open_questions),
        "percent_open_questions_rating": s.miti.percent_open_questions.rating,
        "change_talk_ratio": _value(s.client_talk.change_talk_ratio),
        "empathy_level": _value(s.empathy.level) if s.empathy else None,
        "collaboration_markers": counts.get("collaboration", 0),
        "validation_markers": counts.get("validation", 0),
        "affirmation_markers": counts.get("affirmation", 0),
        "withdrawal_markers": s.markers.withdrawal,
        "confrontation_markers": s.markers.confrontation,
        "interruptions": (len(s.talk.interruptions) if s.talk.interruptions is not None else None),
        "monologues": len(s.talk.monologues),
        "relationship_style": s.relationship_style.style,
        "result_json": result.model_dump_json(),
    }


def failure_row(file: str, error: str) -> dict[str, object]:
    """A row for a file that could not be analysed: every figure empty, the error kept."""
    row: dict[str, object] = dict.fromkeys(COLUMNS)
    row.update(
        file=file, status="failed", error=" ".join(error.split()), schema_version=SCHEMA_VERSION
    )
    return row


def analyse_bytes(file: str, data: bytes, options: BatchOptions) -> dict[str, object]:
    """Parse and analyse one transcript; bad input becomes a ``failed`` row, not an error."""
    from alliance.analysis.pipeline import Analyzer
    from alliance.transcripts.parse import parse_transcript

    name_map: Mapping[str, Role] = dict(options.name_map)
    try:
        transcript = parse_transcript(
            data,
            filename=file,
            therapist=list(options.therapist) or None,
            name_map=name_map or None,
            max_bytes=options.max_bytes,
            speakers=options.speakers,
        )
    except TranscriptError as exc:
        return failure_row(file, str(exc))
    try:
        analyzer = Analyzer.load(options.backend, empathy=options.empathy, units=options.units)
    except Exception as exc:  # a missing model fails every file the same way: say so
        return failure_row(file, f"{file}: models could not be loaded: {exc}")
    return result_row(file, analyzer.analyze(transcript))


def pending(files: Sequence[str], done: Sequence[str]) -> list[str]:
    """Files still to analyse: those without an ``ok`` row already (order kept)."""
    finished = set(done)
    return [f for f in files if f not in finished]
