"""Therapist profiles, client intakes and the matching vocabulary they are written in.

What lives here:

* :class:`Vocabulary` / :func:`vocabulary` — the concerns taxonomy, modalities, relationship
  styles (with the plain words clients use for them), age groups, modes and the identity
  attributes a therapist may share; loaded once from the bundled ``vocabulary.yaml``.
* :class:`TherapistProfile` and its parts (:class:`StyleMix`, :class:`Capacity`,
  :class:`SharedIdentity`, :class:`Slot`).
* :class:`ClientIntake` and :class:`Preference` (importance ``must`` / ``prefer`` /
  ``dont_mind`` per attribute; style given in plain words is resolved here).
* :class:`HistoryRow` — one past client of the clinic, the input of therapist strengths.
* :class:`MatchingInput` — the self-contained file that ``alliance match`` reads, and
  :func:`matching_input_schema` which exports its JSON schema.

All models are frozen pydantic v2 models that refuse unknown fields.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from alliance.messages import Msg

__all__ = [
    "ATTRIBUTES",
    "DAYS",
    "IDENTITY_ATTRIBUTES",
    "Attribute",
    "Capacity",
    "ClientIntake",
    "HistoryRow",
    "Importance",
    "MatchingInput",
    "MatchingInputError",
    "Preference",
    "SharedIdentity",
    "Slot",
    "StyleMix",
    "TherapistProfile",
    "Vocabulary",
    "check_references",
    "folded",
    "matching_input_schema",
    "resolve_style",
    "vocabulary",
]

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Half-hour cells: availability is compared on this grid.
CELL_MINUTES = 30
CELLS_PER_DAY = 24 * 60 // CELL_MINUTES

Importance = Literal["must", "prefer", "dont_mind"]
Attribute = Literal[
    "style",
    "modality",
    "gender",
    "ethnicity",
    "faith",
    "lgbtq_affirming",
    "language",
    "mode",
    "location",
]
# Read from the Literal, so the attribute list and the type cannot drift apart.
ATTRIBUTES: tuple[str, ...] = get_args(Attribute)
#: Attributes a therapist shares only by choice; they count only when a client asks.
IDENTITY_ATTRIBUTES: tuple[str, ...] = ("gender", "ethnicity", "faith", "lgbtq_affirming")


# --------------------------------------------------------------------------- vocabulary


def folded(text: str) -> str:
    """``text`` as style cues are compared: lower case, accents dropped (NFKD with combining
    marks removed, so "Está" and "esta", "cariño" and "carino" read alike), runs of white space
    as one space. Clients often leave accents out, and a cue should not depend on them."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.split())


@dataclass(frozen=True)
class StyleWords:
    """One relationship style: its label, how a reason phrases it, and clients' words for it.

    ``cues_by_language`` is the cues as ``vocabulary.yaml`` lists them; ``cues`` is all of them
    together, :func:`folded`, which is what a client's words are matched against: an intake
    may come in any language (the API says none), so every language's cues count.
    """

    key: str
    label: str
    reason: str
    phrases: tuple[str, ...]
    cues_by_language: dict[str, tuple[str, ...]]
    cues: tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """Keys and labels of everything profiles and intakes may name (see vocabulary.yaml)."""

    concerns: dict[str, str]
    modalities: dict[str, str]
    styles: dict[str, StyleWords]
    age_groups: dict[str, str]
    modes: dict[str, str]
    identity_attributes: dict[str, str]


def _str_map(raw: Any, section: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ValueError(f"vocabulary.yaml: section {section!r} must be a mapping")
    return {str(k): str(v) for k, v in raw.items()}


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """Load the bundled vocabulary (package data; read once)."""
    text = resources.files("alliance.matching").joinpath("vocabulary.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    styles = {str(key): _style_words(str(key), spec) for key, spec in raw["styles"].items()}
    return Vocabulary(
        concerns=_str_map(raw["concerns"], "concerns"),
        modalities=_str_map(raw["modalities"], "modalities"),
        styles=styles,
        age_groups=_str_map(raw["age_groups"], "age_groups"),
        modes=_str_map(raw["modes"], "modes"),
        identity_attributes=_str_map(raw["identity_attributes"], "identity_attributes"),
    )


def _style_words(key: str, spec: Any) -> StyleWords:
    by_language = spec["cues"]
    if not isinstance(by_language, dict) or not by_language:
        raise ValueError(f"vocabulary.yaml: style {key!r}: cues must map a language to words")
    cues = {str(lang): tuple(str(c) for c in words) for lang, words in by_language.items()}
    flat = tuple(dict.fromkeys(folded(c) for words in cues.values() for c in words))
    if not all(flat):
        raise ValueError(f"vocabulary.yaml: style {key!r} has an empty cue")
    return StyleWords(
        key=key,
        label=str(spec["label"]),
        reason=str(spec["reason"]),
        phrases=tuple(str(p) for p in spec["phrases"]),
        cues_by_language=cues,
        cues=flat,
    )


def _norm(value: Any) -> Any:
    """Keys are compared case-insensitively with spaces, hyphens and underscores alike."""
    if isinstance(value, str):
        return re.sub(r"[\s\-]+", "_", value.strip().lower())
    return value


def _text(value: Any) -> Any:
    """Free-text values (languages, insurers, identity words) compare case-insensitively."""
    if isinstance(value, str):
        return " ".join(value.strip().lower().split())
    return value


def _member(section: str) -> Any:
    def check(value: str) -> str:
        known = getattr(vocabulary(), section)
        if value not in known:
            raise ValueError(
                Msg(
                    "unknown {kind} {value}; known: {known}",
                    kind=section[:-1],
                    value=repr(value),
                    known=", ".join(known),
                )
            )
        return value

    return check


def _vocab_enum(section: str) -> dict[str, Any]:
    # The JSON schema lists the vocabulary so that editors can offer the allowed values.
    return {"type": "string", "enum": list(getattr(vocabulary(), section))}


def _vocab_word(section: str) -> tuple[Any, ...]:
    """One place for what a vocabulary-bound field does: normalise the words, check them
    against the section and list the section's values in the JSON schema."""
    return (
        BeforeValidator(_norm),
        AfterValidator(_member(section)),
        WithJsonSchema(_vocab_enum(section)),
    )


Concern = Annotated[str, *_vocab_word("concerns")]
Modality = Annotated[str, *_vocab_word("modalities")]
AgeGroup = Annotated[str, *_vocab_word("age_groups")]
Mode = Annotated[str, *_vocab_word("modes")]
Word = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=80)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def resolve_style(words: str) -> str:
    """Map a client's plain words ("gives me structure", "me da estructura") or a style name
    to a style key. Words are compared :func:`folded` against every language's cues.

    Raises ``ValueError`` naming the known phrases when the words point at no single style.
    """
    styles = vocabulary().styles
    key = str(_norm(words))
    if key in styles:
        return key
    said = folded(words)
    hits = {k: sum(cue in said for cue in s.cues) for k, s in styles.items()}
    best = max(hits.values())
    winners = [k for k, h in hits.items() if h == best]
    if best == 0 or len(winners) > 1:
        examples = "; ".join(f"{p!r} ({k})" for k, s in styles.items() for p in s.phrases[:1])
        raise ValueError(
            Msg(
                "cannot tell a relationship style from {words}; say e.g. {examples}",
                words=repr(words),
                examples=examples,
            )
        )
    return winners[0]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


# --------------------------------------------------------------------------- time slots

_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
_SLOT_TEXT = re.compile(r"^\s*([A-Za-z]{3})[a-z]*\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


def _minutes(text: str) -> int:
    m = _TIME.match(text)
    if m is None:
        raise ValueError(f"time {text!r} is not HH:MM")
    minutes = int(m.group(1)) * 60 + int(m.group(2))
    if minutes > 24 * 60:
        raise ValueError(f"time {text!r} is after 24:00")
    return minutes


class Slot(_Frozen):
    """A weekly time window, e.g. ``{"day": "tue", "start": "17:00", "end": "20:00"}``.

    The short form ``"tue 17:00-20:00"`` is accepted too. Times are compared on a half-hour
    grid: a start is rounded up and an end down to the half hour.
    """

    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    start: str = Field(description="HH:MM, 24-hour clock")
    end: str = Field(description="HH:MM, 24-hour clock, after start")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, str):
            m = _SLOT_TEXT.match(data)
            if m is None:
                raise ValueError(f"slot {data!r} is not like 'tue 17:00-20:00'")
            return {"day": m.group(1).lower(), "start": m.group(2), "end": m.group(3)}
        if isinstance(data, dict) and isinstance(data.get("day"), str):
            return {**data, "day": data["day"].strip().lower()[:3]}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Slot:
        if _minutes(self.end) <= _minutes(self.start):
            raise ValueError(f"slot ends ({self.end}) before it starts ({self.start})")
        return self

    def cells(self) -> range:
        """The half-hour cells of the day this slot covers fully."""
        first = -(-_minutes(self.start) // CELL_MINUTES)
        last = _minutes(self.end) // CELL_MINUTES
        return range(first, last)


# --------------------------------------------------------------------------- therapist


class StyleMix(_Frozen):
    """How much of each relationship style a therapist works with (any non-negative scale)."""

    collaborative: float = Field(default=0.0, ge=0, le=100)
    supportive: float = Field(default=0.0, ge=0, le=100)
    directive: float = Field(default=0.0, ge=0, le=100)

    @model_validator(mode="after")
    def _some(self) -> StyleMix:
        if self.collaborative + self.supportive + self.directive <= 0:
            raise ValueError("at least one style needs a weight above 0")
        return self

    def as_dict(self) -> dict[str, float]:
        return {
            "collaborative": self.collaborative,
            "supportive": self.supportive,
            "directive": self.directive,
        }

    def relative(self) -> dict[str, float]:
        """Each style's weight relative to the therapist's strongest style (0..1)."""
        raw = self.as_dict()
        top = max(raw.values())
        return {k: v / top for k, v in raw.items()}

    def dominant(self) -> str:
        raw = self.as_dict()
        return max(raw, key=lambda k: raw[k])


class Capacity(_Frozen):
    """How many new clients a therapist can take now."""

    new_per_week: int = Field(ge=0, le=100, description="new clients per week")
    caseload_limit: int = Field(ge=0, le=1000)
    current_caseload: int = Field(default=0, ge=0, le=1000)

    @property
    def open_places(self) -> int:
        return max(0, min(self.new_per_week, self.caseload_limit - self.current_caseload))


class SharedIdentity(_Frozen):
    """Identity attributes, each present only if the therapist chose to share it."""

    gender: Word | None = None
    ethnicity: Word | None = None
    faith: Word | None = None
    lgbtq_affirming: bool | None = None


class TherapistProfile(_Frozen):
    """What matching knows about one therapist."""

    id: Ident
    name: str = Field(min_length=1, max_length=120)
    modalities: tuple[Modality, ...] = Field(min_length=1)
    styles: StyleMix
    specialties: tuple[Concern, ...] = ()
    languages: tuple[Word, ...] = Field(min_length=1)
    age_groups: tuple[AgeGroup, ...] = Field(min_length=1)
    modes: tuple[Mode, ...] = Field(min_length=1)
    location: Word | None = None
    availability: tuple[Slot, ...] = Field(min_length=1)
    capacity: Capacity
    fee: float = Field(ge=0, description="fee per session, in the clinic's currency")
    insurers: tuple[Word, ...] = ()
    identity: SharedIdentity = SharedIdentity()
    accepting_new: bool = True

    @property
    def open_places(self) -> int:
        return self.capacity.open_places if self.accepting_new else 0


# --------------------------------------------------------------------------- intake


class Preference(_Frozen):
    """A client's wish about one attribute: any of ``values``, with an importance.

    ``style`` values may be plain words ("gives me structure"); they are resolved to style keys
    and the words kept in ``said``. ``lgbtq_affirming`` needs no values.
    """

    attribute: Attribute
    values: tuple[str, ...] = ()
    importance: Importance = "prefer"
    said: tuple[str, ...] = Field(
        default=(), description="the client's own words, kept when values were resolved"
    )

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("values"), str):
            data["values"] = [data["values"]]
        if isinstance(data.get("importance"), str):
            data["importance"] = _norm(data["importance"]).replace("don't", "dont")
        attribute = data.get("attribute")
        values = data.get("values") or []
        if attribute == "style" and values and not data.get("said"):
            data["said"] = list(values)
            data["values"] = [resolve_style(str(v)) for v in values]
        return data

    @field_validator("values")
    @classmethod
    def _check_values(cls, values: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        attribute = info.data.get("attribute")
        voc = vocabulary()
        if attribute in ("modality", "mode"):
            section = "modalities" if attribute == "modality" else "modes"
            out = tuple(_norm(v) for v in values)
            for v in out:
                _member(section)(v)
            values = out
        elif attribute != "style":
            values = tuple(_text(v) for v in values)
        if attribute == "style":
            for v in values:
                if v not in voc.styles:
                    raise ValueError(Msg("unknown style {value}", value=repr(v)))
        if attribute != "lgbtq_affirming" and not values:
            raise ValueError(
                Msg("a {attribute} preference needs at least one value", attribute=attribute)
            )
        if attribute == "lgbtq_affirming" and values:
            raise ValueError(Msg("an lgbtq_affirming preference takes no values"))
        return values


class ClientIntake(_Frozen):
    """One client's intake: concerns in order, hard constraints and preferences."""

    id: Ident
    concerns: tuple[Concern, ...] = Field(min_length=1, description="most important first")
    preferences: tuple[Preference, ...] = ()
    languages: tuple[Word, ...] = Field(min_length=1, description="languages for therapy")
    modes: tuple[Mode, ...] = Field(default=("in_person", "video"), min_length=1)
    availability: tuple[Slot, ...] = Field(
        default=(), description="when the client can come; empty means any time"
    )
    max_fee: float | None = Field(
        default=None, ge=0, description="most the client can pay per session"
    )
    insurer: Word | None = None
    age_group: AgeGroup = "adult"
    consent: bool = Field(description="the client agreed that their intake is used to match")

    @field_validator("concerns")
    @classmethod
    def _unique_concerns(cls, concerns: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(concerns)) != len(concerns):
            raise ValueError(Msg("a concern is listed twice"))
        return concerns

    @field_validator("preferences")
    @classmethod
    def _one_per_attribute(cls, prefs: tuple[Preference, ...]) -> tuple[Preference, ...]:
        seen: set[str] = set()
        for p in prefs:
            if p.attribute in seen:
                raise ValueError(Msg("two preferences about {attribute}", attribute=p.attribute))
            seen.add(p.attribute)
        return prefs

    def preference(self, attribute: str) -> Preference | None:
        """The client's stated preference about ``attribute`` (``dont_mind`` counts as none)."""
        for p in self.preferences:
            if p.attribute == attribute and p.importance != "dont_mind":
                return p
        return None


# --------------------------------------------------------------------------- history


class HistoryRow(_Frozen):
    """One past client of the clinic: who saw them, for what, how severe, how it went.

    ``improvement`` is signed so that higher is better (e.g. PHQ-9 at intake minus at end);
    ``alliance`` is the mean alliance rating over the episode (e.g. WAI-SR mean item score).
    """

    therapist_id: Ident
    concern: Concern
    intake_severity: float
    improvement: float
    alliance: float | None = None


# --------------------------------------------------------------------------- the file


class MatchingInput(_Frozen):
    """The file ``alliance match`` reads: a roster, an intake queue and optional history."""

    version: Literal[1] = 1
    therapists: tuple[TherapistProfile, ...] = Field(min_length=1)
    intakes: tuple[ClientIntake, ...] = ()
    history: tuple[HistoryRow, ...] = Field(
        default=(), description="past clients, for therapist strengths; empty = no strengths"
    )
    alternatives: int = Field(default=3, ge=0, le=50, description="ranked alternatives per client")
    weights: dict[str, float | dict[str, float]] | None = Field(
        default=None, description="overrides of matching weights, see docs/matching.md"
    )


class MatchingInputError(ValueError):
    """A cross-reference problem in a :class:`MatchingInput`, with the JSON path of the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def check_references(data: MatchingInput) -> None:
    """Refuse duplicate ids and history rows that name an unknown therapist."""
    seen: dict[str, int] = {}
    for i, t in enumerate(data.therapists):
        if t.id in seen:
            raise MatchingInputError(
                f"therapists[{i}].id", f"duplicate id {t.id!r} (also therapists[{seen[t.id]}])"
            )
        seen[t.id] = i
    clients: dict[str, int] = {}
    for i, c in enumerate(data.intakes):
        if c.id in clients:
            raise MatchingInputError(
                f"intakes[{i}].id", f"duplicate id {c.id!r} (also intakes[{clients[c.id]}])"
            )
        clients[c.id] = i
    for i, row in enumerate(data.history):
        if row.therapist_id not in seen:
            raise MatchingInputError(
                f"history[{i}].therapist_id", f"unknown therapist {row.therapist_id!r}"
            )


def matching_input_schema() -> dict[str, Any]:
    """The JSON schema of the ``alliance match`` input file (kept in docs/matching-schema.json)."""
    schema = MatchingInput.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Alliance matching input"
    return schema
