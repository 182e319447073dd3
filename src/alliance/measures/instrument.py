"""The instrument model: a questionnaire defined as data.

One :class:`Instrument` per questionnaire (PHQ-9, WAI-SR, …), parsed from a YAML file by
:mod:`alliance.measures.registry` and validated here. Everything the rest of Alliance needs to
score and interpret a response lives on the model: items and their answer options, subscales,
the scoring rule and its missing-item rule, severity bands, direction, reliable-change
parameters, the clinical cut-off, alert thresholds and risk items (answers a clinician must
hear about the same day, e.g. PHQ-9 item 9).

The models are frozen pydantic v2 models. Cross-field checks (a subscale naming an unknown
item, overlapping bands, …) raise ``ValueError`` with a message that *starts with the path* of
the offending field (``subscales[1] (task).items[2]: …``) so the loader can report one line
that names the item and the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any, Literal, Self, SupportsFloat, SupportsIndex

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alliance.messages import Msg

ItemType = Literal["choice", "text", "integer", "boolean"]
Kind = Literal["alliance", "outcome", "feedback", "goals", "other"]
Direction = Literal["higher_is_better", "higher_is_worse"]

_IDENT = r"^[A-Za-z][A-Za-z0-9_]*$"
_LINK_ID = r"^[A-Za-z][A-Za-z0-9_.-]*$"


class _Frozen(BaseModel):
    """Immutable, so what is derived from the fields (an item's score range, an instrument's
    scored items) is worked out once per object (``cached_property``): scoring and the alert
    rules read them for every answer of every check-in."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        # The values cached on the original describe its fields, not the copy's new ones.
        for name in [k for k in copied.__dict__ if k not in type(self).model_fields]:
            del copied.__dict__[name]
        return copied


class Coding(_Frozen):
    """A code in a code system (used for FHIR Observation codes, e.g. LOINC)."""

    system: str = Field(min_length=1, description="Code system URI, e.g. http://loinc.org.")
    code: str = Field(min_length=1)
    display: str | None = None


class AnswerOption(_Frozen):
    """One answer of a choice item: the code stored in responses, its label, and its score.

    ``score`` is None on every option of an *unscored* choice item (a question asked for its
    answer, not for points, e.g. a FHIR Questionnaire's "how difficult have these problems
    made it…" question without answer scores); an item's options are all scored or none.
    """

    code: str = Field(min_length=1, description="What a response records, e.g. '2' or 'yes'.")
    label: str = Field(min_length=1, description="What the respondent reads.")
    score: float | None = Field(
        None, description="Points this answer is worth before reverse scoring (none: unscored)."
    )
    coding: Coding | None = Field(
        None, description="The answer in a code system (LOINC answer code, e.g. LA6568-5)."
    )

    @field_validator("code", mode="before")
    @classmethod
    def _code_from_number(cls, value: object) -> object:
        # YAML authors write `code: 0`; a response column read from CSV holds 0 too. Store the
        # canonical text form so that 0, 0.0 and "0" all mean the same answer.
        if isinstance(value, bool):
            raise ValueError("must be text or a number, not true/false")
        if isinstance(value, int | float):
            return canonical_code(value)
        return value

    @field_validator("score", mode="before")
    @classmethod
    def _score_is_number(cls, value: object) -> object:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


def canonical_code(value: float) -> str:
    """Text form of a numeric answer code: ``2`` and ``2.0`` both become ``'2'``."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Item(_Frozen):
    """One question.

    ``choice`` items score through their options; ``integer`` items score as the number given
    (between ``min_value`` and ``max_value``); ``boolean`` items score 1 for true and 0 for
    false; ``text`` items are never scored. ``reverse`` flips the item's score within its own
    range (score' = min + max − score). ``in_total`` False keeps a scored item out of the total
    (it may still form a subscale, e.g. the session-feedback "good fit?" question).
    ``required`` is for forms (check-in pages, FHIR); scoring applies the instrument's
    missing-item rule whatever ``required`` says. A choice item whose options carry no score is
    unscored: its answer is kept and checked against the options, never counted.
    ``fhir_link_id`` keeps the linkId of the FHIR Questionnaire the item was imported from,
    where that linkId is not a valid Alliance linkId (a UUID, ``H1/T1/Q1``, ``/44250-9``).
    """

    link_id: str = Field(alias="linkId", pattern=_LINK_ID, max_length=64)
    text: str = Field(min_length=1)
    type: ItemType = "choice"
    options: tuple[AnswerOption, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    reverse: bool = False
    required: bool = True
    in_total: bool = True
    subscale: str | None = Field(
        None, description="Informational: the subscale that lists this item, if any."
    )
    code: Coding | None = Field(None, description="The question's code (LOINC where one exists).")
    fhir_link_id: str | None = Field(
        None, min_length=1, description="The linkId in the FHIR Questionnaire it came from."
    )

    @model_validator(mode="after")
    def _options_fit_type(self) -> Item:
        if self.type == "choice":
            if not self.options:
                raise ValueError("options: a choice item needs at least one answer option")
            codes = [o.code for o in self.options]
            for index, code in enumerate(codes):
                if codes.index(code) != index:
                    raise ValueError(f"options[{index}].code: duplicate code {code!r}")
            unscored = [o.score is None for o in self.options]
            if any(unscored) and not all(unscored):
                index = unscored.index(not unscored[0])
                raise ValueError(
                    f"options[{index}].score: give every option a score, or none (unscored item)"
                )
            if all(unscored) and self.reverse:
                raise ValueError("reverse: an item whose options have no score is not scored")
            if self.min_value is not None or self.max_value is not None:
                raise ValueError("min_value: only integer items have min_value/max_value")
        elif self.type == "integer":
            if self.options:
                raise ValueError("options: integer items take min_value/max_value, not options")
            if self.min_value is None or self.max_value is None:
                raise ValueError("min_value: integer items need min_value and max_value")
            if self.min_value >= self.max_value:
                raise ValueError("max_value: must be greater than min_value")
        else:
            if self.options:
                raise ValueError(f"options: {self.type} items have no answer options")
            if self.min_value is not None or self.max_value is not None:
                raise ValueError("min_value: only integer items have min_value/max_value")
            if self.type == "text" and self.reverse:
                raise ValueError("reverse: text items are not scored")
        return self

    @cached_property
    def scored(self) -> bool:
        """True when answers to this item carry a number (not text, not an unscored choice)."""
        if self.type == "choice":
            return all(o.score is not None for o in self.options)
        return self.type != "text"

    @property
    def unscored_kind(self) -> str:
        """What an unscored item is, for messages: "a text item" or "an unscored choice item"."""
        return "a text item" if self.type == "text" else "an unscored choice item"

    @property
    def score_min(self) -> float:
        """Lowest score this item can contribute (after reverse scoring)."""
        return self._score_bounds[0]

    @property
    def score_max(self) -> float:
        """Highest score this item can contribute (after reverse scoring)."""
        return self._score_bounds[1]

    @cached_property
    def _score_bounds(self) -> tuple[float, float]:
        return self._raw_range()

    def _raw_range(self) -> tuple[float, float]:
        if self.type == "choice":
            scores = [o.score for o in self.options if o.score is not None]
            if not scores:
                raise ValueError(f"item {self.link_id} is an unscored choice item")
            return min(scores), max(scores)
        if self.type == "integer":
            low, high = self._int_bounds()
            return float(low), float(high)
        if self.type == "boolean":
            return 0.0, 1.0
        raise ValueError(f"item {self.link_id} is a text item and has no score")

    def option(self, code: str) -> AnswerOption | None:
        """The answer option with this code, or None."""
        for candidate in self.options:
            if candidate.code == code:
                return candidate
        return None

    def score_answer(self, answer: object) -> float | None:
        """Score one answer to this item (reverse scoring applied).

        Returns None for a missing answer (None, NaN or blank text). Raises ``ValueError`` with
        a short message when the answer is not allowed for this item.
        """
        if is_missing(answer):
            return None
        if self.type == "text":
            return None  # free text is kept as it is, never scored
        if not self.scored:
            self._raw_score(answer)  # an unscored choice still takes only its own options
            return None
        raw = self._raw_score(answer)
        if self.reverse:
            low, high = self._raw_range()
            return low + high - raw
        return raw

    def _raw_score(self, answer: object) -> float:
        if self.type == "choice":
            found = self.answer_option(answer)
            if found is None:
                allowed = ", ".join(o.code for o in self.options)
                raise ValueError(
                    Msg(
                        "answer {answer} is not one of {allowed}",
                        answer=_show(answer),
                        allowed=allowed,
                    )
                )
            return found.score if found.score is not None else math.nan
        if self.type == "boolean":
            if isinstance(answer, bool):
                return 1.0 if answer else 0.0
            number = _as_number(answer)
            if number not in (0.0, 1.0):
                text = str(answer).strip().lower()
                if text in ("true", "yes"):
                    return 1.0
                if text in ("false", "no"):
                    return 0.0
                raise ValueError(
                    Msg("answer {answer} is not true/false (1/0)", answer=_show(answer))
                )
            assert number is not None
            return number
        # integer
        number = _as_number(answer)
        low, high = self._int_bounds()
        if number is None or not number.is_integer():
            raise ValueError(Msg("answer {answer} is not a whole number", answer=_show(answer)))
        if not low <= number <= high:
            raise ValueError(
                Msg(
                    "answer {answer} is outside {low}–{high}",
                    answer=_show(answer),
                    low=low,
                    high=high,
                )
            )
        return number

    def answer_option(self, answer: object) -> AnswerOption | None:
        """The option a choice answer names (exact code first, then its numeric reading);
        None for a missing answer, a non-choice item or an answer that names no option."""
        if self.type != "choice" or is_missing(answer):
            return None
        # Exact text first (a code may be "01" or "not_sure"), then the numeric reading.
        found = self.option(answer.strip()) if isinstance(answer, str) else None
        if found is None:
            code = _answer_code(answer)
            found = self.option(code) if code is not None else None
        return found

    def _int_bounds(self) -> tuple[int, int]:
        # The validator guarantees both bounds on integer items.
        if self.min_value is None or self.max_value is None:
            raise ValueError(f"item {self.link_id} has no min_value/max_value")
        return self.min_value, self.max_value


def is_missing(answer: object) -> bool:
    """None, NaN and blank text count as a missing answer."""
    if answer is None:
        return True
    if isinstance(answer, float) and math.isnan(answer):
        return True
    if isinstance(answer, str) and not answer.strip():
        return True
    # pandas.NA / NaT and numpy NaN scalars compare unequal to themselves or refuse to.
    try:
        return bool(answer != answer)
    except (TypeError, ValueError):
        return True


def _as_number(answer: object) -> float | None:
    if isinstance(answer, bool):
        return 1.0 if answer else 0.0
    if isinstance(answer, int | float):
        return float(answer)
    if isinstance(answer, str):
        try:
            return float(answer.strip())
        except ValueError:
            return None
    if not isinstance(answer, SupportsFloat | SupportsIndex):  # numpy scalars are both
        return None
    try:
        return float(answer)
    except (TypeError, ValueError):
        return None


def _answer_code(answer: object) -> str | None:
    if isinstance(answer, str):
        text = answer.strip()
        number = _as_number(text)
        # "2.0" and "2" name the same numeric option.
        return canonical_code(number) if number is not None and math.isfinite(number) else text
    if isinstance(answer, bool):
        return None
    number = _as_number(answer)
    if number is None or not math.isfinite(number):
        return None
    return canonical_code(number)


def _show(answer: object) -> str:
    if isinstance(answer, float) and answer.is_integer():
        return str(int(answer))
    return repr(answer) if isinstance(answer, str) else str(answer)


class Subscale(_Frozen):
    """A named group of items scored with the instrument's method (sum or mean)."""

    name: str = Field(pattern=_IDENT, max_length=40, description="Used in `subscale_<name>`.")
    title: str | None = None
    items: tuple[str, ...] = Field(min_length=1, description="linkIds of the items.")
    max_missing: int = Field(0, ge=0, description="Items that may be missing (prorated).")
    code: Coding | None = Field(None, description="Observation code for FHIR export.")


class ScoringRule(_Frozen):
    """How the total (and each subscale) is computed.

    ``sum``: total = Σ item scores; with k of n items missing and k ≤ ``max_missing`` the sum
    is prorated to n·(Σ present)/(n−k) and, when ``round_prorated``, rounded half up to a whole
    number. ``mean``: total = mean of the present item scores (the mean is its own
    proration). The result is multiplied by ``multiplier`` (WHO-5: ×4 gives 0–100). More than
    ``max_missing`` missing → the total is invalid (not an error).
    """

    method: Literal["sum", "mean"]
    max_missing: int = Field(0, ge=0)
    round_prorated: bool = True
    multiplier: float = Field(1.0, gt=0)
    source: str | None = Field(None, description="Where this scoring rule is published.")


class Band(_Frozen):
    """A severity band on the total's scale; ``min`` and ``max`` are both inclusive.

    Bands are listed low to high and may touch (the higher band takes the shared value).
    """

    label: str = Field(min_length=1)
    min: float
    max: float


class ReliableChange(_Frozen):
    """Jacobson–Truax parameters: a baseline SD and a reliability, each with its source.

    The reliable-change criterion is z·√2·SD·√(1−r) (z = 1.96 for 95 %).
    """

    sd: float = Field(gt=0)
    reliability: float = Field(gt=0, lt=1)
    sd_source: str = Field(min_length=1)
    reliability_source: str = Field(min_length=1)
    published_threshold: float | None = Field(
        None, gt=0, description="A published reliable-change threshold these values reproduce."
    )
    published_threshold_source: str | None = None

    @property
    def standard_error_of_difference(self) -> float:
        """S_diff = √2 · SD · √(1 − r) (Jacobson & Truax 1991)."""
        return math.sqrt(2.0) * self.sd * math.sqrt(1.0 - self.reliability)

    def criterion(self, z: float = 1.96) -> float:
        """Smallest change in total that counts as reliable at this z."""
        return z * self.standard_error_of_difference


class ClinicalCutoff(_Frozen):
    """The clinical cut-off on the total's scale.

    ``method``: Jacobson–Truax ``a`` (2 SD beyond the clinical mean), ``b`` (2 SD inside the
    normal mean), ``c`` (weighted midpoint), or ``published`` (a validated caseness cut-off).
    ``inclusive``: the value itself lies in the clinical range. Which side is clinical follows
    the instrument's direction (higher_is_worse: at/above; higher_is_better: at/below).
    """

    value: float
    method: Literal["a", "b", "c", "published"]
    source: str = Field(min_length=1)
    inclusive: bool = True
    clinical_mean: float | None = None
    clinical_sd: float | None = Field(None, gt=0)
    normal_mean: float | None = None
    normal_sd: float | None = Field(None, gt=0)


class RiskItem(_Frozen):
    """An item whose answer at or above ``min_score`` must reach a clinician today.

    ``min_score`` is on the item's own score scale (after reverse scoring, like every item
    score). ``label`` is what a clinician reads in the alert ("thoughts of being better off
    dead or of self-harm"); ``source`` says who recommends acting on this answer.
    """

    link_id: str = Field(alias="linkId", pattern=_LINK_ID, max_length=64)
    min_score: float = Field(description="Item score at or above which the answer is flagged.")
    label: str = Field(min_length=1, max_length=120, description="Short clinician-facing label.")
    source: str = Field(min_length=1, description="Why this answer needs action, with source.")

    @field_validator("min_score", mode="before")
    @classmethod
    def _min_score_is_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


def short_name_of(title: str) -> str:
    """The abbreviation a title gives in parentheses, else the title (see
    :attr:`Instrument.short_name`)."""
    match = re.search(r"\(([^()]{2,20})\)", title)
    return match.group(1) if match else title


class Instrument(_Frozen):
    """A questionnaire and everything needed to score and interpret it."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)
    title: str = Field(min_length=1)
    version: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    licence: str = Field(min_length=1, description="Licence / permission note.")
    language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    translation_of: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_-]*$",
        max_length=40,
        description="The id of the instrument this file is a validated translation of: its "
        "texts are shown to clients reading ``language``; answers and scores stay the "
        "original's (same linkIds and answer codes).",
    )
    kind: Kind
    description: str | None = None
    items: tuple[Item, ...] = Field(min_length=1)
    subscales: tuple[Subscale, ...] = ()
    scoring: ScoringRule
    bands: tuple[Band, ...] = ()
    bands_source: str | None = None
    direction: Direction
    reliable_change: ReliableChange | None = None
    clinical_cutoff: ClinicalCutoff | None = None
    alert_thresholds: dict[str, float] = Field(default_factory=dict)
    alert_thresholds_source: str | None = None
    risk_items: tuple[RiskItem, ...] = Field(
        (), description="Answers that raise an urgent risk alert (e.g. PHQ-9 item 9 >= 1)."
    )
    total_code: Coding | None = Field(None, description="Observation code of the total score.")
    code: Coding | None = Field(
        None, description="The questionnaire's own code (LOINC panel, e.g. 44249-1 for PHQ-9)."
    )

    @model_validator(mode="before")
    @classmethod
    def _expand_answer_sets(cls, data: Any) -> Any:
        # Files may define `answer_sets: {name: [options]}` once and write `options: name` on
        # each item; the parsed model always carries the options on the item itself.
        if not isinstance(data, dict) or "answer_sets" not in data:
            return data
        data = dict(data)
        sets = data.pop("answer_sets")
        if not isinstance(sets, dict):
            raise ValueError("answer_sets: must be a mapping of name to a list of options")
        items = data.get("items")
        if isinstance(items, list):
            expanded = []
            for index, item in enumerate(items):
                if isinstance(item, dict) and isinstance(item.get("options"), str):
                    name = item["options"]
                    if name not in sets:
                        raise ValueError(
                            f"{_item_path(index, item)}.options: no answer set named {name!r}"
                        )
                    item = {**item, "options": sets[name]}
                expanded.append(item)
            data["items"] = expanded
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        seen: dict[str, int] = {}
        for index, item in enumerate(self.items):
            if item.link_id in seen:
                first = seen[item.link_id]
                raise ValueError(f"items[{index}] ({item.link_id}).linkId: same as items[{first}]")
            seen[item.link_id] = index
        total_items = self.total_items
        if not total_items:
            raise ValueError("items: at least one scored item must count towards the total")
        if self.scoring.max_missing >= len(total_items):
            raise ValueError(
                f"scoring.max_missing: must be less than the {len(total_items)} items in the total"
            )
        names: set[str] = set()
        for s_index, sub in enumerate(self.subscales):
            path = f"subscales[{s_index}] ({sub.name})"
            if sub.name in names:
                raise ValueError(f"{path}.name: duplicate subscale name")
            names.add(sub.name)
            for i_index, link_id in enumerate(sub.items):
                if link_id not in seen:
                    raise ValueError(f"{path}.items[{i_index}]: unknown linkId {link_id!r}")
                listed = self.items[seen[link_id]]
                if not listed.scored:
                    raise ValueError(
                        f"{path}.items[{i_index}]: {link_id} is {listed.unscored_kind}"
                    )
                if sub.items.index(link_id) != i_index:
                    raise ValueError(f"{path}.items[{i_index}]: {link_id} listed twice")
            if sub.max_missing >= len(sub.items):
                raise ValueError(
                    f"{path}.max_missing: must be less than its {len(sub.items)} items"
                )
        for index, item in enumerate(self.items):
            if item.subscale is not None:
                match = next((s for s in self.subscales if s.name == item.subscale), None)
                if match is None or item.link_id not in match.items:
                    raise ValueError(
                        f"items[{index}] ({item.link_id}).subscale: subscale {item.subscale!r} "
                        "does not list this item"
                    )
        low, high = self.score_range
        previous: Band | None = None
        labels: list[str] = []
        for b_index, band in enumerate(self.bands):
            path = f"bands[{b_index}] ({band.label})"
            if band.label in labels:
                raise ValueError(f"{path}.label: duplicate band label")
            labels.append(band.label)
            if band.min > band.max:
                raise ValueError(f"{path}.min: greater than max")
            if band.min < low - 1e-9 or band.max > high + 1e-9:
                raise ValueError(f"{path}: outside the total's range {low:g}–{high:g}")
            if previous is not None and band.min < previous.max:
                raise ValueError(f"{path}.min: overlaps the previous band (bands go low to high)")
            previous = band
        if self.clinical_cutoff is not None and not low <= self.clinical_cutoff.value <= high:
            raise ValueError(f"clinical_cutoff.value: outside the total's range {low:g}–{high:g}")
        self._check_risk_items(seen)
        return self

    def _check_risk_items(self, seen: dict[str, int]) -> None:
        flagged: set[str] = set()
        for r_index, risk in enumerate(self.risk_items):
            path = f"risk_items[{r_index}] ({risk.link_id})"
            if risk.link_id not in seen:
                raise ValueError(f"{path}.linkId: not an item of this instrument")
            if risk.link_id in flagged:
                raise ValueError(f"{path}.linkId: listed twice")
            flagged.add(risk.link_id)
            item = self.items[seen[risk.link_id]]
            if not item.scored:
                raise ValueError(
                    f"{path}.linkId: {risk.link_id} is {item.unscored_kind} and has no score"
                )
            # A threshold at or below the lowest score would flag every answer (and one above
            # the highest none): either is a typo, never a deliberate rule.
            if not item.score_min < risk.min_score <= item.score_max:
                raise ValueError(
                    f"{path}.min_score: must be above the item's lowest score and at most its "
                    f"highest ({item.score_min:g} < min_score <= {item.score_max:g})"
                )

    # -- convenience -------------------------------------------------------------------

    def item(self, link_id: str) -> Item:
        """The item with this linkId (KeyError if there is none)."""
        for candidate in self.items:
            if candidate.link_id == link_id:
                return candidate
        raise KeyError(link_id)

    @cached_property
    def link_ids(self) -> tuple[str, ...]:
        return tuple(i.link_id for i in self.items)

    @cached_property
    def short_name(self) -> str:
        """What staff call it: the abbreviation the title gives in parentheses ("PHQ-9" from
        "Patient Health Questionnaire-9 (PHQ-9)"), else the whole title."""
        return short_name_of(self.title)

    @cached_property
    def scored_items(self) -> tuple[Item, ...]:
        """Items whose answers carry a score (everything but text items)."""
        return tuple(i for i in self.items if i.scored)

    @cached_property
    def total_items(self) -> tuple[Item, ...]:
        """Scored items that count towards the total."""
        return tuple(i for i in self.items if i.scored and i.in_total)

    def risk_item(self, link_id: str) -> RiskItem | None:
        """The risk rule on this item, or None."""
        return next((r for r in self.risk_items if r.link_id == link_id), None)

    def item_number(self, link_id: str) -> int:
        """1-based position of the item, as printed on the form ("item 9")."""
        return self.link_ids.index(link_id) + 1

    def subscale_items(self, name: str) -> tuple[Item, ...]:
        for sub in self.subscales:
            if sub.name == name:
                return tuple(self.item(link_id) for link_id in sub.items)
        raise KeyError(name)

    @cached_property
    def total_min(self) -> float:
        return _combine(self.scoring.method, [i.score_min for i in self.total_items]) * (
            self.scoring.multiplier
        )

    @cached_property
    def total_max(self) -> float:
        return _combine(self.scoring.method, [i.score_max for i in self.total_items]) * (
            self.scoring.multiplier
        )

    @cached_property
    def score_range(self) -> tuple[float, float]:
        """(lowest, highest) possible total."""
        return self.total_min, self.total_max

    def band_for(self, total: float | None) -> str | None:
        """Label of the band with min ≤ total ≤ max; None for no total or no band.

        Where two bands touch (``low: 1–3``, ``moderate: 3–4``) the higher band takes the
        shared value, so continuous (mean) scales need no gaps.
        """
        if total is None or math.isnan(total):
            return None
        for band in reversed(self.bands):
            if band.min <= total <= band.max:
                return band.label
        return None

    def is_clinical(self, total: float) -> bool | None:
        """Whether a total lies in the clinical range; None without a clinical cut-off."""
        cut = self.clinical_cutoff
        if cut is None:
            return None
        if self.direction == "higher_is_worse":
            return total >= cut.value if cut.inclusive else total > cut.value
        return total <= cut.value if cut.inclusive else total < cut.value

    def iter_bands(self) -> Iterator[Band]:
        return iter(self.bands)


def _combine(method: str, values: list[float]) -> float:
    total = sum(values)
    return total / len(values) if method == "mean" else total


def _item_path(index: int, item: dict[str, Any]) -> str:
    link_id = item.get("linkId") or item.get("link_id")
    return f"items[{index}] ({link_id})" if isinstance(link_id, str) else f"items[{index}]"
