"""The versioned output of a session analysis: pydantic models and their JSON schema.

``AnalysisResult`` is what ``alliance analyze --format json`` prints and what the Python API
returns. ``utterances`` carries every turn with its codes and their confidences; ``summary``
carries the session indicators, each with the ids (``u1``, ``u2``, …) of the utterances
behind it. Bump ``SCHEMA_VERSION`` on any change a consumer could notice (major: removed or
renamed fields; minor: added fields); ``docs/analysis-schema.json`` is generated from these
models by :func:`analysis_json_schema` and a test keeps the two equal.

1.1 (minor) added ``models.units`` and, with segment-level coding, ``codes.segments`` on each
turn; a 1.0 result (stored before) still reads as one, with ``units`` "turns".
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Final = "1.1"
# 1.1 added ``source`` to markers and ruptures and ``models.rupture_model`` (model-based
# rupture markers), and the MITI codes (``codes.miti``, ``summary.miti.codes``,
# ``models.miti``), and segment-level coding (``codes.segments``, ``models.units``), all with
# defaults, so results stored as 1.0 still validate.
SchemaVersion = Literal["1.0", "1.1"]

Rating = Literal["good", "fair", "below fair", "not rated", "no data"]
StyleName = Literal["collaborative", "supportive", "directive", "mixed", "undetermined"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Code(_Model):
    """A model's label for one utterance with its probability and all class probabilities."""

    label: str
    confidence: float = Field(ge=0, le=1)
    probabilities: dict[str, float]


class EmpathyCode(_Model):
    """EPITOME mechanism levels (0 none, 1 weak, 2 strong) of a therapist response."""

    emotional_reactions: int = Field(ge=0, le=2)
    interpretations: int = Field(ge=0, le=2)
    explorations: int = Field(ge=0, le=2)
    confidences: dict[str, float]
    seeker_ids: list[str] = Field(description="The client turn(s) this response answers.")


class MarkerCode(_Model):
    """A relationship or rupture marker found by a named rule or by the rupture model."""

    marker: str
    category: Literal["relationship", "withdrawal", "confrontation"]
    rule: str
    confidence: float = Field(
        ge=0,
        le=1,
        description="A rule's hand-set prior (source 'rule') or the model's probability of "
        "the marker's category (source 'model').",
    )
    evidence: str = Field(description="The words that made the rule fire, or the model's scores.")
    source: Literal["rule", "model"] = Field(
        default="rule",
        description="'rule': a named, readable rule; 'model': the trained rupture classifier "
        "over sentence embeddings (model-based, see docs/model-card-ruptures.md).",
    )


class MitiHitOut(_Model):
    """One MITI 4.2.1 code given to a therapist turn (added in 1.1)."""

    code: str
    probability: float = Field(ge=0, le=1)
    sentence: str = Field(description="The sentence of the turn that scored highest.")


class MitiCodes(_Model):
    """MITI 4.2.1 codes AnnoMI lacks (affirm, seek collaboration, emphasise autonomy,
    persuade, persuade with permission, confront), from heads over sentence embeddings."""

    codes: list[MitiHitOut] = Field(description="Codes at or above their head's threshold.")
    probabilities: dict[str, float] = Field(
        description="Every code's highest sentence probability in the turn."
    )


class SegmentOut(_Model):
    """One coding unit of a turn (segment-level coding) and its code."""

    text: str
    start: int = Field(ge=0, description="Offset of the segment's first character in the turn.")
    end: int = Field(ge=0, description="Offset just past its last character.")
    therapist_behaviour: Code | None = None
    main_behaviour: Literal["question", "reflection", "input", "other"] | None = None
    client_talk: Code | None = None
    primary: bool = Field(
        description="Whether this segment's code is the turn's code (the aggregation rule)."
    )


class UtteranceCodes(_Model):
    therapist_behaviour: Code | None = None
    main_behaviour: Literal["question", "reflection", "input", "other"] | None = None
    client_talk: Code | None = None
    empathy: EmpathyCode | None = None
    markers: list[MarkerCode] = Field(default_factory=list)
    miti: MitiCodes | None = Field(
        default=None, description="Therapist turns only, when the MITI heads are installed (1.1)."
    )
    segments: list[SegmentOut] | None = Field(
        default=None,
        description="With units 'segments': the turn's coding units with their codes; the "
        "turn's own codes are the primary segment's (see docs/analysis.md). None otherwise.",
    )


class UtteranceOut(_Model):
    """One turn (consecutive fragments of one speaker merged) with its codes."""

    id: str
    index: int
    speaker: str
    role: Literal["therapist", "client", "other"]
    text: str
    start: float | None
    end: float | None
    words: int
    codes: UtteranceCodes


class Indicator(_Model):
    """A session figure with its formula inputs, thresholds, rating, source and evidence."""

    name: str
    value: float | None
    unit: Literal["ratio", "percent", "share", "level", "count"]
    numerator: float | None = None
    denominator: float | None = None
    fair: float | None = None
    good: float | None = None
    rating: Rating = "not rated"
    source: str = ""
    note: str = ""
    evidence: list[str] = Field(default_factory=list)


class CountOut(_Model):
    label: str
    count: int
    share: float | None = None
    evidence: list[str] = Field(default_factory=list)


class ShareOut(_Model):
    name: str
    role: Literal["therapist", "client", "other"]
    turns: int
    words: int
    word_share: float
    seconds: float | None
    time_share: float | None
    evidence: list[str]


class OverlapOut(_Model):
    utterance_id: str
    previous_id: str
    seconds: float
    interruption: bool


class LatencyOut(_Model):
    role: Literal["therapist", "client", "other"]
    count: int
    median: float
    mean: float
    longest: float
    longest_id: str


class TalkSummary(_Model):
    timing: Literal["cues", "starts", "none"]
    total_words: int
    total_seconds: float | None
    by_role: list[ShareOut]
    by_speaker: list[ShareOut]
    therapist_word_share: Indicator
    therapist_time_share: Indicator | None
    monologues: list[str] = Field(description="Therapist turns over the monologue threshold.")
    overlaps: list[OverlapOut] | None
    interruptions: list[str] | None
    latencies: list[LatencyOut] | None
    long_pauses: list[str] | None


class MitiCodeSummary(_Model):
    """MITI 4.2.1 behaviour counts from the MITI heads (added in 1.1)."""

    counts: list[CountOut] = Field(description="Therapist turns with each code.")
    mi_adherent: Indicator
    mi_non_adherent: Indicator
    percent_mi_adherent: Indicator


class MitiSummary(_Model):
    reflection_to_question: Indicator
    percent_complex_reflections: Indicator
    percent_open_questions: Indicator
    behaviours: list[CountOut]
    main_behaviours: list[CountOut]
    codes: MitiCodeSummary | None = Field(
        default=None, description="None when the MITI heads did not run (1.1)."
    )


class ClientTalkSummary(_Model):
    change_talk_ratio: Indicator
    counts: list[CountOut]


class EmpathySummary(_Model):
    responses: int
    level: Indicator
    mechanisms: list[Indicator]
    licence: str


class RuptureOut(_Model):
    utterance_id: str
    speaker: str
    marker: str
    category: Literal["withdrawal", "confrontation"]
    rule: str
    confidence: float
    text: str
    source: Literal["rule", "model"] = "rule"


class MarkerSummary(_Model):
    counts: list[CountOut]
    withdrawal: int = Field(description="Turns with a withdrawal marker (rule or model).")
    confrontation: int = Field(description="Turns with a confrontation marker (rule or model).")
    ruptures: list[RuptureOut]


class RelationshipStyle(_Model):
    style: StyleName
    rule: str
    shares: dict[str, float]
    thresholds: dict[str, float]
    evidence: dict[str, list[str]]


class Summary(_Model):
    talk: TalkSummary
    miti: MitiSummary
    client_talk: ClientTalkSummary
    empathy: EmpathySummary | None
    markers: MarkerSummary
    relationship_style: RelationshipStyle


class SpeakerOut(_Model):
    name: str
    role: Literal["therapist", "client", "other"]
    turns: int
    words: int


class RolesOut(_Model):
    method: Literal["given", "name_map", "inferred", "mixed"]
    confidence: float
    reasons: list[str]


class SourceOut(_Model):
    file: str | None
    format: Literal["vtt", "srt", "text", "json", "csv"]
    timing: Literal["cues", "starts", "none"]
    utterances: int


class ModelsOut(_Model):
    backend: Literal["accurate", "fast"] | None
    empathy: bool
    rupture_model: bool = Field(
        default=False, description="Whether the model-based rupture markers were run."
    )
    alliance_version: str
    miti: bool = Field(default=False, description="Whether the MITI heads ran (1.1).")
    units: Literal["turns", "segments"] = Field(
        default="turns",
        description="What the coder coded: whole turns, or the segments of each turn.",
    )


class AnalysisResult(_Model):
    """The whole analysis of one session."""

    schema_version: SchemaVersion
    source: SourceOut
    models: ModelsOut
    speakers: list[SpeakerOut]
    roles: RolesOut
    warnings: list[str]
    utterances: list[UtteranceOut]
    summary: Summary


def analysis_json_schema() -> dict[str, Any]:
    """The JSON schema of :class:`AnalysisResult` (what docs/analysis-schema.json holds)."""
    schema = AnalysisResult.model_json_schema(mode="serialization")
    schema["$id"] = f"https://alliance.invalid/schemas/analysis-{SCHEMA_VERSION}.json"
    schema["title"] = f"Alliance session analysis, schema {SCHEMA_VERSION}"
    return schema
