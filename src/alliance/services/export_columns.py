"""What every column of a clinic export means: the codebook's source.

:func:`described` turns the rows an export collected into :class:`~alliance.datafiles.Table`
objects, giving each column its type, meaning and value labels. The fixed columns are listed
here once; the per-instrument ones (subscales, the wide table's items) come from the
instrument definitions, so an instrument a clinic adds is described the same way. A row key
with no description is an error (see ``Table``): nothing leaves undocumented.

Ids are integers in a full export and pseudonyms (text) in a de-identified one; times are UTC
timestamps in a full export and whole days since the episode started in a de-identified one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alliance.datafiles import Column, Kind, Table, safe_name
from alliance.measures.instrument import Instrument, Item
from alliance.measures.scoring import ScoringError, score_response

TABLE_DESCRIPTIONS: dict[str, str] = {
    "clients": "One row per client.",
    "episodes": "One row per episode of care (a client's course of therapy with one therapist).",
    "sessions": "One row per therapy session of an episode.",
    "scores": "One row per scored questionnaire response (long format).",
    "answers": "One row per answered item of a response (long format).",
    "responses_wide": (
        "One row per questionnaire response (wide format): every item's answer code and item "
        "score in its own column; columns of other instruments are empty."
    ),
    "goals": "One row per goal agreed in an episode.",
    "goal_ratings": "One row per rating of a goal at a check-in.",
    "alerts": "One row per alert the monitoring rules raised.",
}
TABLES: tuple[str, ...] = tuple(TABLE_DESCRIPTIONS)

_ID = "id"
_TIME = "time"
# (name, kind, meaning): _ID and _TIME take their kind from the export's mode.
_FIXED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "clients": (
        ("client_id", _ID, "The client."),
        ("display_name", "string", "Name the clinic uses for the client."),
        ("created_at", "datetime", "When the client was added (UTC)."),
        ("contact_email", "string", "The client's e-mail address, if given."),
    ),
    "episodes": (
        ("episode_id", _ID, "The episode."),
        ("client_id", _ID, "The client (see clients)."),
        ("therapist_id", _ID, "The therapist who holds the episode."),
        ("started", _TIME, "When the episode started."),
        ("ended", _TIME, "When the episode ended; empty while it is open."),
        ("end_reason", "string", "Why the episode ended (completed, dropped out, ...)."),
        ("instruments", "string", "Instruments of the routine check-in, comma-separated ids."),
    ),
    "sessions": (
        ("episode_id", _ID, "The episode (see episodes)."),
        ("session_number", "integer", "Session number within the episode, from 1."),
        ("scheduled", _TIME, "When the session was scheduled."),
        ("status", "string", "scheduled, attended, cancelled or missed."),
    ),
    "scores": (
        ("episode_id", _ID, "The episode (see episodes)."),
        ("instrument_id", "string", "The questionnaire (see the instruments' documentation)."),
        ("session_number", "integer", "Session the response belongs to; empty for none."),
        ("at", _TIME, "When the response was scored."),
        ("total", "number", "Total score (empty when too many items were missing)."),
        ("band", "string", "Severity band of the total, as the instrument names it."),
        (
            "band_order",
            "integer",
            "Rank of the band within its instrument, 1 = the band of the lowest scores.",
        ),
        ("valid", "boolean", "Whether the response had enough answers to be scored."),
    ),
    "answers": (
        ("episode_id", _ID, "The episode (see episodes)."),
        ("instrument_id", "string", "The questionnaire."),
        ("session_number", "integer", "Session the response belongs to; empty for none."),
        ("at", _TIME, "When the response was scored."),
        ("link_id", "string", "The item, as the instrument file names it."),
        ("answer", "string", "The answer code recorded (see responses_wide for its label)."),
        ("item_score", "number", "Points the answer scores, after reverse scoring."),
    ),
    "responses_wide": (
        ("episode_id", _ID, "The episode (see episodes)."),
        ("instrument_id", "string", "The questionnaire this row answers."),
        ("session_number", "integer", "Session the response belongs to; empty for none."),
        ("at", _TIME, "When the response was scored."),
    ),
    "goals": (
        ("goal_id", _ID, "The goal."),
        ("episode_id", _ID, "The episode (see episodes)."),
        ("position", "integer", "Order of the goal in the client's list, from 0."),
        ("agreed", _TIME, "When the goal was agreed."),
        ("active", "boolean", "Whether the goal is still being rated."),
        ("text", "string", "The goal in the client's words."),
    ),
    "goal_ratings": (
        ("goal_id", _ID, "The goal (see goals)."),
        ("rating", "integer", "How far the client rated progress on the goal (0-10)."),
        ("at", _TIME, "When the rating was given."),
    ),
    "alerts": (
        ("episode_id", _ID, "The episode (see episodes)."),
        ("kind", "string", "What the rule detected (rupture, deterioration, risk, ...)."),
        ("severity", "string", "info, warning or urgent."),
        ("session_number", "integer", "Session whose check-in raised the alert."),
        ("status", "string", "open, acknowledged or resolved."),
        ("raised", _TIME, "When the alert was raised."),
        ("reason", "string", "The rule's explanation, in words."),
        ("acknowledged_at", "datetime", "When a clinician acknowledged it (UTC)."),
        ("resolved_at", "datetime", "When it was resolved (UTC)."),
        ("acknowledge_note", "string", "The clinician's note on acknowledging."),
        ("resolve_note", "string", "The clinician's note on resolving."),
        (
            "evidence",
            "string",
            "The figures the rule used, as JSON (one alert per concern: "
            "its reasons under signals).",
        ),
        (
            "supervised_at",
            "datetime",
            "When a supervisor marked it discussed in supervision (UTC).",
        ),
        ("supervision_note", "string", "The supervisor's note from that discussion."),
    ),
}
# Names, contact details, free text and exact times: in full exports only.
FULL_ONLY: frozenset[tuple[str, str]] = frozenset(
    [("clients", c) for c in ("display_name", "created_at", "contact_email")]
    + [("goals", "text")]
    + [
        ("alerts", c)
        for c in (
            "reason",
            "acknowledged_at",
            "resolved_at",
            "acknowledge_note",
            "resolve_note",
            "evidence",
            "supervised_at",
            "supervision_note",
        )
    ]
)


def _kind(kind: str, *, deidentified: bool) -> Kind:
    if kind == _ID:
        return "string" if deidentified else "integer"
    if kind == _TIME:
        return "number" if deidentified else "datetime"
    return kind  # type: ignore[return-value]


def _meaning(kind: str, text: str, *, deidentified: bool) -> str:
    if kind == _ID and deidentified:
        return f"{text} Pseudonym valid in this export only."
    if kind == _TIME and deidentified:
        return f"{text} Whole days since the episode started."
    if kind == _TIME:
        return f"{text} (UTC)"
    return text


def band_levels(instrument: Instrument) -> tuple[str, ...]:
    """The instrument's bands from lowest scores to highest."""
    return tuple(b.label for b in sorted(instrument.bands, key=lambda b: b.min))


def band_order(instrument: Instrument, band: str | None) -> int | None:
    """1 for the band of the lowest scores, counting up; None for no or an unknown band."""
    levels = band_levels(instrument)
    return levels.index(band) + 1 if band in levels else None


def item_scores(instrument: Instrument, answers: Mapping[str, Any]) -> dict[str, float | None]:
    """Each answered item's score; empty when the stored answers no longer score under the
    current definition (the answer codes are still exported)."""
    try:
        return score_response(instrument, answers).item_scores
    except ScoringError:
        return {}


def _integer_codes(item: Item) -> dict[int, str] | None:
    """Value labels when every answer code of a choice item is a whole number."""
    if item.type != "choice":
        return None
    try:
        return {int(o.code): o.label for o in item.options}
    except ValueError:
        return None


def item_column(instrument: Instrument, item: Item, suffix: str = "") -> str:
    """The wide table's column for ``item`` (its answer code) or its score (``"score"``)."""
    parts = (instrument.id, item.link_id, suffix) if suffix else (instrument.id, item.link_id)
    return safe_name(*parts)


def answer_code(item: Item, value: Any) -> Any:
    """The answer as the wide table stores it: an integer code where the codes are integers."""
    if item.type == "integer" or _integer_codes(item) is not None:
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if item.type == "boolean":
        return bool(value)
    return str(value)


def _instrument_columns(instrument: Instrument, *, deidentified: bool) -> list[Column]:
    title = instrument.title
    columns = [
        Column(safe_name(instrument.id, "total"), "number", f"{title}: total score."),
        Column(
            safe_name(instrument.id, "band"),
            "category",
            f"{title}: severity band of the total.",
            levels=band_levels(instrument),
        ),
    ]
    for item in instrument.items:
        if item.type == "text" and deidentified:
            continue
        text = f"{title} item {item.link_id}: {item.text}"
        codes = _integer_codes(item)
        if codes is not None:
            columns.append(Column(item_column(instrument, item), "integer", text, labels=codes))
        elif item.type == "integer":
            columns.append(Column(item_column(instrument, item), "integer", text))
        elif item.type == "boolean":
            columns.append(Column(item_column(instrument, item), "boolean", text))
        else:
            columns.append(Column(item_column(instrument, item), "string", text))
        if item.scored:
            columns.append(
                Column(
                    item_column(instrument, item, "score"),
                    "number",
                    f"{title} item {item.link_id}: score after reverse scoring.",
                )
            )
    return columns


def described(
    rows: Mapping[str, list[dict[str, Any]]],
    instruments: Sequence[Instrument],
    *,
    deidentified: bool,
) -> list[Table]:
    """The export's tables, every column that occurs described (columns no row has are left
    out, e.g. names in a de-identified export)."""
    subscales = {
        f"subscale_{sub.name}": f"{inst.title}: subscale {sub.title or sub.name}."
        for inst in instruments
        for sub in inst.subscales
    }
    tables = []
    for name in TABLES:
        present: set[str] = set().union(*rows[name]) if rows[name] else set()
        columns = [
            Column(
                col,
                _kind(kind, deidentified=deidentified),
                _meaning(kind, text, deidentified=deidentified),
            )
            for col, kind, text in _FIXED[name]
            if col in present
            or (not rows[name] and not (deidentified and (name, col) in FULL_ONLY))
        ]
        if name == "scores":
            columns += [
                Column(col, "number", subscales.get(col, "Subscale score."))
                for col in sorted(present)
                if col.startswith("subscale_")
            ]
        if name == "responses_wide":
            for inst in instruments:
                columns += [
                    c
                    for c in _instrument_columns(inst, deidentified=deidentified)
                    if c.name in present
                ]
        tables.append(Table(name, TABLE_DESCRIPTIONS[name], tuple(columns), rows[name]))
    return tables
