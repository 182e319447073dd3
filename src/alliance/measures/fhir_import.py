"""Reading FHIR Questionnaires written anywhere (LHC-Forms, SDC, Argonaut, app builders) into
instruments, with a report of what was understood, what was skipped and why.

:func:`import_questionnaire` is pure: it takes the parsed JSON and returns an
:class:`ImportReport` (the instrument, notes on what it understood, the items it skipped, the
warnings, and how it compares with a bundled instrument carrying the same LOINC code), or
raises :class:`QuestionnaireImportError` listing every problem, each with its linkId.

What it reads:

* items at any depth: groups (and questions with nested questions) are walked, their
  questions become the instrument's items in order; display items, calculated items (SDC
  ``calculatedExpression``, ``cqf-calculatedValue``), hidden and read-only items are skipped
  with a note; date, decimal, quantity, attachment, reference and url items are skipped too
  (Alliance keeps choice, integer, boolean and text answers);
* any linkId: one that is not a valid Alliance linkId (a UUID, ``H1/T1/Q1``, ``/44250-9``) is
  mapped to a safe one and the original kept on the item (``fhir_link_id``);
* answers from ``answerOption`` (``valueCoding``, ``valueInteger``, ``valueString``) or from
  an ``answerValueSet`` naming a ValueSet contained in the file (by ``#id`` or by its url), read
  from its ``expansion`` or its ``compose``; R5's ``coding`` item type is a choice;
* answer scores from the R4 ``ordinalValue``, the R5/SDC ``itemWeight``, the older STU3 names
  (``questionnaire-ordinalValue``, ``valueset-ordinalValue``, ``iso21090-CO-value``) and the
  Argonaut ``extension-score``, on the answerOption or on its Coding (and R5 ValueSet
  expansion ``property`` itemWeight); a choice item with no scores at all is kept unscored, one
  with scores on some answers only is an error;
* the whole resource is checked against the FHIR models (R4B, then R5 and STU3): what does not
  validate but is not read here (a narrative, a FHIRPath variable name, …) is a warning, never a
  reason to refuse.

The total: the choice items with answer scores. Integer (with ``minValue``/``maxValue``) and
boolean items count only when no choice item has scores; otherwise they are kept out of the
total. A Questionnaire exported by Alliance (its definition extension) comes back identical.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from alliance.measures.fhir import INSTRUMENT_ID_SYSTEM, MAX_VALUE_URL, MIN_VALUE_URL
from alliance.measures.fhir_extensions import (
    ANSWER_CODE_URL,
    DEFINITION_URL,
    IN_TOTAL_URL,
    REVERSE_URL,
    SOURCE_LINK_ID_URL,
    SUBSCALE_URL,
)
from alliance.measures.instrument import Direction, Instrument, Item, Kind
from alliance.measures.registry import InstrumentError, bundled_ids, load_instrument

__all__ = [
    "SCORE_EXTENSION_URLS",
    "BundledMatch",
    "ImportReport",
    "Note",
    "QuestionnaireImportError",
    "compare_with_bundled",
    "import_questionnaire",
    "questionnaire_to_instrument",
]

LOINC = "http://loinc.org"

#: Extensions that carry an answer's score, the current names first.
SCORE_EXTENSION_URLS = (
    "http://hl7.org/fhir/StructureDefinition/itemWeight",  # R5 core, SDC 3
    "http://hl7.org/fhir/StructureDefinition/ordinalValue",  # R4 core
    "http://hl7.org/fhir/StructureDefinition/questionnaire-ordinalValue",  # STU3
    "http://hl7.org/fhir/StructureDefinition/valueset-ordinalValue",  # STU3
    "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",  # DSTU2/STU3
    "http://fhir.org/guides/argonaut-questionnaire/StructureDefinition/extension-score",
)
_ITEM_WEIGHT_PROPERTY = "http://hl7.org/fhir/concept-properties#itemWeight"
_CALCULATED_URLS = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression",
    "http://hl7.org/fhir/StructureDefinition/cqf-calculatedValue",
    "http://hl7.org/fhir/StructureDefinition/cqf-expression",
)
_HIDDEN_URL = "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden"
_ANSWER_EXPRESSION_URL = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-answerExpression"
)
_ENABLE_WHEN_EXPRESSION_URL = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-enableWhenExpression"
)
_SAFE_LINK_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_.-]+")
_XHTML_DIV = re.compile(
    r"""^\s*<div\b[^>]*\bxmlns\s*=\s*["']http://www\.w3\.org/1999/xhtml["'][^>]*>.*</div>\s*$""",
    re.DOTALL,
)
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SKIPPED_TYPES = (
    *("date", "dateTime", "time", "decimal", "quantity", "attachment", "reference", "url"),
)
_MAX_VALIDATION_WARNINGS = 8
# Question types that may list their allowed answers (answerOption): read as choice items,
# the answer's text (a number, a string, a date) being the code a response records.
_LISTABLE_TYPES = ("integer", "string", "text", "date", "time")


@dataclass(frozen=True)
class Note:
    """One remark: where (``item H1/T1/Q1``, ``Questionnaire``) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class QuestionnaireImportError(InstrumentError):
    """The Questionnaire cannot become an instrument; ``problems`` lists every reason, and
    ``str()`` is one line naming each problem's linkId."""

    def __init__(self, label: str | None, problems: Sequence[Note]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        listed = "; ".join(str(p) for p in self.problems)
        if label is None:  # the file is no Questionnaire at all: nothing to count
            super().__init__(listed)
            return
        head = f"{label}: " + ("1 problem: " if count == 1 else f"{count} problems: ")
        super().__init__(head + listed)


@dataclass(frozen=True)
class BundledMatch:
    """A Questionnaire carrying the LOINC code of a bundled instrument, compared with it.

    ``same_totals``: every item in the bundled total has an imported counterpart (by LOINC
    item code) whose answers score the same (by LOINC answer code, else by code or label), the
    imported total has no other item and the scoring method is the same — so on every
    complete answer set the two totals are equal. ``differences`` says what breaks that.
    ``item_map`` maps each bundled linkId to the imported one.
    """

    instrument_id: str
    code: str
    same_totals: bool
    differences: tuple[str, ...]
    item_map: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_questionnaire` built and what it has to say about it."""

    instrument: Instrument
    understood: tuple[str, ...]
    skipped: tuple[Note, ...]
    warnings: tuple[Note, ...]
    bundled: BundledMatch | None
    fhir_version: str | None

    def lines(self) -> list[str]:
        """The report as printable lines (the CLI prints these)."""
        out = [f"understood: {line}" for line in self.understood]
        out += [f"skipped: {note}" for note in self.skipped]
        out += [f"warning: {note}" for note in self.warnings]
        return out


# -- the entry point ----------------------------------------------------------------------


def import_questionnaire(
    resource: object,
    *,
    instrument_id: str | None = None,
    method: Literal["sum", "mean"] | None = None,
    max_missing: int | None = None,
    direction: Direction | None = None,
    kind: Kind | None = None,
    bundled: Mapping[str, Instrument] | None = None,
) -> ImportReport:
    """Read a FHIR Questionnaire (parsed JSON) into an instrument and a report.

    The keyword arguments say what FHIR does not (sum or mean, missing-item rule, direction,
    kind); left out, they come from a bundled instrument with the same LOINC code, else sum,
    no missing item, higher is worse, kind "other". An Alliance-exported Questionnaire keeps
    its own definition. ``bundled`` (id → instrument) defaults to the bundled instruments.
    """
    if not isinstance(resource, Mapping):
        raise QuestionnaireImportError(None, [Note("", "not a FHIR resource (a JSON object)")])
    if resource.get("resourceType") != "Questionnaire":
        found = resource.get("resourceType")
        what = f"resourceType {found!r}" if isinstance(found, str) else "no resourceType"
        raise QuestionnaireImportError(None, [Note("", f"not a FHIR Questionnaire ({what})")])
    if bundled is None:
        bundled = {i: load_instrument(i) for i in bundled_ids()}
    reader = _Reader(resource)
    return reader.run(
        instrument_id=instrument_id,
        method=method,
        max_missing=max_missing,
        direction=direction,
        kind=kind,
        bundled=bundled,
    )


# -- validation against the FHIR models ------------------------------------------------------


def questionnaire_to_instrument(
    questionnaire: Mapping[str, Any],
    *,
    method: Literal["sum", "mean"] = "sum",
    max_missing: int = 0,
    direction: Direction = "higher_is_worse",
    kind: Kind = "other",
) -> Instrument:
    """Build an instrument from a FHIR Questionnaire: :func:`import_questionnaire` without
    its report. An Alliance-exported Questionnaire restores every field; for any other the
    keyword arguments give what FHIR does not. Errors are an :class:`InstrumentError` naming
    every problem with its linkId."""
    report = import_questionnaire(
        questionnaire, method=method, max_missing=max_missing, direction=direction, kind=kind
    )
    return report.instrument


def _fhir_validation(resource: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The first FHIR version whose Questionnaire model accepts the resource, and otherwise
    the R4B model's complaints (``item[2].text: …``)."""
    # Imported here: the models are large and only import needs all three versions.
    from fhir.resources.questionnaire import Questionnaire as R5Questionnaire
    from fhir.resources.R4B.questionnaire import Questionnaire as R4BQuestionnaire
    from fhir.resources.STU3.questionnaire import Questionnaire as STU3Questionnaire

    complaints: list[str] = []
    models = (("R4B", R4BQuestionnaire), ("R5", R5Questionnaire), ("STU3", STU3Questionnaire))
    for version, model in models:
        try:
            model.model_validate(dict(resource))
        except (ValidationError, ValueError, TypeError) as exc:
            if version == "R4B":
                complaints = _complaints(exc, resource)
            continue
        return version, complaints
    return None, complaints


def _complaints(exc: Exception, resource: Mapping[str, Any]) -> list[str]:
    if not isinstance(exc, ValidationError):
        return [_one_line(str(exc))[:200]]
    out = []
    for error in exc.errors(include_url=False):
        where = _json_path(error.get("loc", ()), resource)
        out.append(f"{where}: {_one_line(str(error.get('msg', 'invalid')))[:160]}")
    return out


def _json_path(loc: Sequence[Any], resource: Mapping[str, Any]) -> str:
    # item[3].item[0].text: name the linkId of the innermost item on the way.
    parts: list[str] = []
    node: Any = resource
    link_id = None
    for key in loc:
        if isinstance(key, int):
            parts.append(f"[{key}]")
            node = node[key] if isinstance(node, list) and key < len(node) else None
            if isinstance(node, Mapping) and isinstance(node.get("linkId"), str):
                link_id = node["linkId"]
        else:
            parts.append(f".{key}" if parts else str(key))
            node = node.get(key) if isinstance(node, Mapping) else None
    path = "".join(parts) or "Questionnaire"
    return f"{path} (item {link_id})" if link_id else path


# -- the reader ------------------------------------------------------------------------------


@dataclass
class _Draft:
    """An item read from the file, before it becomes an :class:`Item`."""

    original: str
    data: dict[str, Any]
    explicit_scores: bool = False


class _Reader:
    def __init__(self, resource: Mapping[str, Any]) -> None:
        self.q = resource
        self.problems: list[Note] = []
        self.warnings: list[Note] = []
        self.skipped: list[Note] = []
        self.understood: list[str] = []
        self.drafts: list[_Draft] = []
        self.seen_link_ids: dict[str, str] = {}  # linkId -> where it was first seen
        self.draft_paths: dict[int, str] = {}  # id(draft) -> where it is in the file
        self.value_sets = self._contained_value_sets()
        self.score_sources: set[str] = set()
        self.groups = 0

    # -- top level ---------------------------------------------------------------------

    def run(
        self,
        *,
        instrument_id: str | None,
        method: Literal["sum", "mean"] | None,
        max_missing: int | None,
        direction: Direction | None,
        kind: Kind | None,
        bundled: Mapping[str, Instrument],
    ) -> ImportReport:
        q = self.q
        version, complaints = _fhir_validation(q)
        # What the R4 model refuses is listed whether or not another version accepts it; none
        # of it stops the import unless the reader below needs that part.
        shown = complaints[:_MAX_VALIDATION_WARNINGS]
        for line in shown:
            self.warnings.append(Note("FHIR", f"not valid R4: {line}"))
        if len(complaints) > len(shown):
            more = len(complaints) - len(shown)
            self.warnings.append(Note("FHIR", f"and {more} more R4 validation problems"))
        self._check_narrative()
        definition = self._definition()
        items = q.get("item")
        if not isinstance(items, list) or not items:
            self.problems.append(Note("Questionnaire", "has no items"))
        else:
            self._walk(items, "item")

        alliance = definition is not None
        match_code, match = self._bundled_code(bundled)
        chosen_id = self._instrument_id(instrument_id, bundled)
        label = f"Questionnaire {chosen_id}"
        if self.problems:
            raise QuestionnaireImportError(label, self.problems)

        item_dicts = self._finish_items(alliance)
        if self.problems:
            raise QuestionnaireImportError(label, self.problems)

        base = bundled.get(match) if match is not None else None
        data: dict[str, Any] = {
            "id": chosen_id,
            "title": _text(q.get("title")) or _text(q.get("name")) or chosen_id,
            "version": _text(q.get("version")) or "1",
            "language": self._language(),
            "licence": _text(q.get("copyright")) or "not stated in the FHIR Questionnaire",
            "citation": _text(q.get("publisher"))
            or f"FHIR Questionnaire {_text(q.get('url')) or chosen_id}",
            "description": _text(q.get("description")),
            "items": item_dicts,
            "kind": kind or (base.kind if base is not None else "other"),
            "direction": direction or (base.direction if base is not None else "higher_is_worse"),
            "scoring": self._scoring(method, max_missing, base),
        }
        panel = _first_coding(q.get("code"))
        if panel is not None:
            data["code"] = panel
        if definition is not None:
            data.update(definition)
            if instrument_id is not None:
                data["id"] = chosen_id
        try:
            instrument = Instrument.model_validate(data)
        except ValidationError as exc:
            raise QuestionnaireImportError(label, _model_problems(exc, data)) from None

        found = None
        if base is not None and match_code is not None and definition is None:
            found = compare_with_bundled(instrument, base, match_code)
        self._summarise(instrument, version, alliance, found, data)
        return ImportReport(
            instrument=instrument,
            understood=tuple(self.understood),
            skipped=tuple(self.skipped),
            warnings=tuple(self.warnings),
            bundled=found,
            fhir_version=version,
        )

    def _check_narrative(self) -> None:
        # The FHIR models accept any text in Narrative.div; FHIR wants one XHTML <div> in the
        # XHTML namespace. Alliance never reads the narrative, so this is only a warning.
        text = self.q.get("text")
        div = text.get("div") if isinstance(text, Mapping) else None
        if div is not None and not (isinstance(div, str) and _XHTML_DIV.match(div)):
            self.warnings.append(
                Note("text.div", "not an XHTML <div> in the XHTML namespace (not read)")
            )

    def _definition(self) -> dict[str, Any] | None:
        raw = _extension_value(self.q, (DEFINITION_URL,), ("valueString",))
        if raw is None:
            return None
        try:
            extra = json.loads(raw) if isinstance(raw, str) else None
        except json.JSONDecodeError:
            extra = None
        if not isinstance(extra, dict):
            self.problems.append(Note("Questionnaire", f"{DEFINITION_URL} must hold a JSON object"))
            return None
        return extra

    def _language(self) -> str:
        raw = self.q.get("language")
        if raw is None:
            return "en"
        if isinstance(raw, str) and _LANGUAGE.match(raw.strip()):
            return raw.strip()
        if isinstance(raw, str) and _LANGUAGE.match(raw.strip().lower()):
            return raw.strip().lower()
        self.warnings.append(Note("Questionnaire", f"language {raw!r} not understood; using en"))
        return "en"

    def _instrument_id(self, given: str | None, bundled: Mapping[str, Instrument]) -> str:
        if given is not None:
            if not re.match(r"^[a-z][a-z0-9_-]{0,39}$", given):
                self.problems.append(
                    Note("id", f"{given!r} must be lower-case letters, digits, _ or -")
                )
            elif given in bundled:
                self.problems.append(Note("id", f"{given!r} is a bundled instrument's id"))
            return given
        for identifier in _list(self.q.get("identifier")):
            if (
                isinstance(identifier, Mapping)
                and identifier.get("system") == INSTRUMENT_ID_SYSTEM
                and isinstance(identifier.get("value"), str)
            ):
                return str(identifier["value"])
        raw = _text(self.q.get("id")) or _text(self.q.get("name")) or "questionnaire"
        cleaned = re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_") or "questionnaire"
        if not cleaned[:1].isalpha():
            cleaned = f"q_{cleaned}"
        cleaned = cleaned[:40].rstrip("_")
        if cleaned in bundled:
            # A user file may not take a bundled id (the registry refuses it).
            renamed = f"{cleaned[:35]}_fhir"
            self.warnings.append(
                Note("Questionnaire", f"id {cleaned!r} is a bundled instrument: saved as {renamed}")
            )
            cleaned = renamed
        return cleaned

    def _bundled_code(self, bundled: Mapping[str, Instrument]) -> tuple[str | None, str | None]:
        codes = set()
        for coding in _list(self.q.get("code")):
            if isinstance(coding, Mapping) and coding.get("system") == LOINC:
                codes.add(str(coding.get("code")))
        for identifier in _list(self.q.get("identifier")):
            if isinstance(identifier, Mapping) and identifier.get("system") == LOINC:
                codes.add(str(identifier.get("value")))
        # The panel code may sit on the top group instead (the Argonaut PHQ-9 does that).
        for item in _list(self.q.get("item")):
            if isinstance(item, Mapping) and item.get("type") == "group":
                for coding in _list(item.get("code")):
                    if isinstance(coding, Mapping) and coding.get("system") == LOINC:
                        codes.add(str(coding.get("code")))
        for instrument_id, inst in sorted(bundled.items()):
            if inst.code is not None and inst.code.system == LOINC and inst.code.code in codes:
                return inst.code.code, instrument_id
        return None, None

    def _scoring(
        self,
        method: Literal["sum", "mean"] | None,
        max_missing: int | None,
        base: Instrument | None,
    ) -> dict[str, Any]:
        if base is not None:
            rule = base.scoring.model_dump(exclude={"source"})
        else:
            rule = {"method": "sum", "max_missing": 0}
        if method is not None:
            rule["method"] = method
        if max_missing is not None:
            rule["max_missing"] = max_missing
        return rule

    # -- items -------------------------------------------------------------------------

    def _walk(self, items: list[Any], path: str) -> None:
        for index, raw in enumerate(items):
            here = f"{path}[{index}]"
            if not isinstance(raw, Mapping):
                self.problems.append(Note(here, "is not an item (a JSON object)"))
                continue
            link_id = raw.get("linkId")
            fhir_type = raw.get("type")
            children = raw.get("item")
            if not isinstance(link_id, str) or not link_id.strip():
                # FHIR requires a linkId; only a question needs one here (answers are keyed by
                # it), so a group or display text without one is a warning.
                if fhir_type in ("group", "display"):
                    self.warnings.append(Note(here, f"a {fhir_type} without a linkId"))
                    if fhir_type == "group" and isinstance(children, list):
                        self.groups += 1
                        self._walk(children, f"{here}.item")
                else:
                    self.problems.append(Note(here, "a question without a linkId"))
                continue
            where = f"item {link_id}"
            before = len(self.drafts)
            if fhir_type == "group":
                self.groups += 1
                if isinstance(children, list) and children:
                    self._walk(children, f"{here}.item")
                else:
                    self.skipped.append(Note(where, "a group without questions"))
            else:
                self._item(raw, link_id, where)
                if len(self.drafts) > before:
                    self.draft_paths[id(self.drafts[-1])] = here
                if isinstance(children, list) and children:
                    self.warnings.append(
                        Note(where, "has questions nested under it: read as separate questions")
                    )
                    self._walk(children, f"{here}.item")
            if link_id in self.seen_link_ids and fhir_type in ("group", "display"):
                self.warnings.append(
                    Note(where, f"linkId also used at {self.seen_link_ids[link_id]}")
                )
            self.seen_link_ids.setdefault(link_id, here)

    def _item(self, raw: Mapping[str, Any], link_id: str, where: str) -> None:
        fhir_type = raw.get("type")
        if fhir_type == "display":
            self.skipped.append(Note(where, "display text (no answer)"))
            return
        if _has_extension(raw, _CALCULATED_URLS):
            self.skipped.append(
                Note(where, "calculated by the form (Alliance computes its own totals)")
            )
            return
        if _extension_value(raw, (_HIDDEN_URL,), ("valueBoolean",)) is True:
            self.skipped.append(Note(where, "hidden (never shown to the respondent)"))
            return
        if raw.get("readOnly") is True:
            self.skipped.append(Note(where, "read-only (not answered by the respondent)"))
            return
        has_list = bool(_list(raw.get("answerOption")) or _list(raw.get("option")))
        if fhir_type in _SKIPPED_TYPES and not (fhir_type in _LISTABLE_TYPES and has_list):
            self.skipped.append(
                Note(where, f"type {fhir_type}: Alliance keeps choice, integer, boolean, text")
            )
            return
        if not isinstance(fhir_type, str):
            self.problems.append(Note(where, "has no type"))
            return
        data: dict[str, Any] = {
            "linkId": link_id,
            "text": _item_text(raw) or link_id,
            "required": raw.get("required") is True,
        }
        coding = _first_coding(raw.get("code"))
        if coding is not None:
            data["code"] = coding
        if _extension_value(raw, (REVERSE_URL,), ("valueBoolean",)) is True:
            data["reverse"] = True
        if _extension_value(raw, (IN_TOTAL_URL,), ("valueBoolean",)) is False:
            data["in_total"] = False
        subscale = _extension_value(raw, (SUBSCALE_URL,), ("valueString",))
        if isinstance(subscale, str):
            data["subscale"] = subscale
        source = _extension_value(raw, (SOURCE_LINK_ID_URL,), ("valueString",))
        original = source if isinstance(source, str) and source else link_id
        if raw.get("enableWhen") or _has_extension(raw, (_ENABLE_WHEN_EXPRESSION_URL,)):
            self.warnings.append(
                Note(where, "asked only under a condition: when not asked it counts as missing")
            )
        draft = _Draft(original=original, data=data)
        # R4 lets integer and string questions list their allowed answers too: a choice here.
        listed = fhir_type in _LISTABLE_TYPES and bool(
            _list(raw.get("answerOption")) or _list(raw.get("option"))
        )
        if fhir_type in ("choice", "open-choice", "coding") or listed:
            if not self._choice(raw, where, draft):
                return
            if fhir_type == "open-choice" or raw.get("answerConstraint") == "optionsOrString":
                self.warnings.append(
                    Note(where, "allows a free-text answer besides the options: not kept")
                )
        elif fhir_type == "integer":
            low = _extension_value(raw, (MIN_VALUE_URL,), ("valueInteger",))
            high = _extension_value(raw, (MAX_VALUE_URL,), ("valueInteger",))
            if _is_int(low) and _is_int(high) and low < high:
                data.update(type="integer", min_value=low, max_value=high)
            else:
                data["type"] = "text"
                self.warnings.append(
                    Note(where, "integer without minValue/maxValue: kept as text, unscored")
                )
        elif fhir_type == "boolean":
            data["type"] = "boolean"
        elif fhir_type in ("string", "text"):
            data["type"] = "text"
        else:
            self.skipped.append(Note(where, f"type {fhir_type!r} is not a question Alliance keeps"))
            return
        if raw.get("repeats") is True and data.get("type") != "text":
            self.warnings.append(Note(where, "allows several answers: Alliance keeps one"))
        self.drafts.append(draft)

    def _choice(self, raw: Mapping[str, Any], where: str, draft: _Draft) -> bool:
        options = raw.get("answerOption")
        value_set = raw.get("answerValueSet")
        if options is None and value_set is None:
            # STU3 spells them `option` and `options` (a Reference to the ValueSet).
            options = raw.get("option")
            legacy = raw.get("options")
            if isinstance(legacy, Mapping):
                value_set = legacy.get("reference")
        from_value_set = False
        if isinstance(options, list) and options:
            read = self._answer_options(options, where)
        elif isinstance(value_set, str) and value_set:
            from_value_set = True
            found = self._value_set(value_set)
            if found is None:
                self.skipped.append(
                    Note(where, f"answerValueSet {value_set} is not in the file (no server here)")
                )
                return False
            read = self._value_set_options(found, where)
        elif _has_extension(raw, (_ANSWER_EXPRESSION_URL,)):
            self.skipped.append(Note(where, "answers come from an expression (answerExpression)"))
            return False
        else:
            # An answer list looked up elsewhere (a search service, `externallydefined`) or
            # none at all: nothing to keep or check answers against.
            self.skipped.append(Note(where, "a choice item whose answers are not in the file"))
            return False
        if read is None:
            return False
        entries, scores = read
        if not entries:
            self.skipped.append(Note(where, "its answer list is empty"))
            return False

        def name(index: int) -> str:
            if from_value_set:
                return f"answerValueSet {value_set} concept {entries[index]['code']}"
            return f"answerOption[{index}]"

        missing = [i for i, s in enumerate(scores) if s is None]
        if missing and len(missing) < len(entries):
            for index in missing:
                self.problems.append(
                    Note(
                        where,
                        f"{name(index)} has no ordinalValue extension (its score), "
                        "while other answers have one",
                    )
                )
            return False
        codes = [e["code"] for e in entries]
        for index, code in enumerate(codes):
            if codes.index(code) != index:
                self.problems.append(Note(where, f"{name(index)}: code {code!r} twice"))
                return False
        if not missing:
            for entry, score in zip(entries, scores, strict=True):
                entry["score"] = score
            draft.explicit_scores = True
        draft.data.update(type="choice", options=entries)
        return True

    def _answer_options(
        self, options: list[Any], where: str
    ) -> tuple[list[dict[str, Any]], list[float | None]] | None:
        entries: list[dict[str, Any]] = []
        scores: list[float | None] = []
        for index, option in enumerate(options):
            at = f"answerOption[{index}]"
            if not isinstance(option, Mapping):
                self.problems.append(Note(where, f"{at} is not a JSON object"))
                return None
            coding = option.get("valueCoding")
            if isinstance(coding, Mapping):
                code = coding.get("code")
                display = _text(coding.get("display"))
                if not isinstance(code, str) or not code.strip():
                    if display is None:
                        self.problems.append(Note(where, f"{at}: valueCoding has no code"))
                        return None
                    code = display  # some builders write only a display
                entry: dict[str, Any] = {"code": code.strip(), "label": display or code.strip()}
                own = _extension_value(option, (ANSWER_CODE_URL,), ("valueString",))
                if isinstance(own, str) and own:
                    entry["code"] = own
                if isinstance(coding.get("system"), str) and coding["system"]:
                    entry["coding"] = {"system": coding["system"], "code": code.strip()}
                score = self._score(option, where, at)
                if score is None:
                    score = self._score(coding, where, at)
            elif "valueInteger" in option and _is_int(option["valueInteger"]):
                value = option["valueInteger"]
                entry = {"code": str(value), "label": str(value)}
                score = self._score(option, where, at)
            elif any(_text(option.get(k)) for k in ("valueString", "valueDate", "valueTime")):
                key = next(
                    k for k in ("valueString", "valueDate", "valueTime") if _text(option.get(k))
                )
                text = str(_text(option[key]))
                entry = {"code": text, "label": text}
                score = self._score(option, where, at)
            else:
                kinds = [k for k in option if k.startswith("value")]
                kind = kinds[0] if kinds else "no value"
                self.skipped.append(
                    Note(
                        where, f"{at} is {kind}: Alliance keeps coded, number, text or date answers"
                    )
                )
                return None
            entries.append(entry)
            scores.append(score)
        return entries, scores

    def _score(self, element: Mapping[str, Any], where: str, at: str) -> float | None:
        for ext in _list(element.get("extension")):
            if not isinstance(ext, Mapping) or ext.get("url") not in SCORE_EXTENSION_URLS:
                continue
            value = ext.get("valueDecimal", ext.get("valueInteger"))
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.problems.append(Note(where, f"{at}: {ext['url']} is not a number"))
                return None
            if not math.isfinite(value):
                self.problems.append(Note(where, f"{at}: {ext['url']} is not a finite number"))
                return None
            self.score_sources.add(str(ext["url"]).rsplit("/", 1)[-1])
            return float(value)
        return None

    # -- value sets --------------------------------------------------------------------

    def _contained_value_sets(self) -> dict[str, Mapping[str, Any]]:
        found: dict[str, Mapping[str, Any]] = {}
        for resource in _list(self.q.get("contained")):
            if not isinstance(resource, Mapping) or resource.get("resourceType") != "ValueSet":
                continue
            if isinstance(resource.get("id"), str):
                found[f"#{resource['id']}"] = resource
            if isinstance(resource.get("url"), str):
                found[resource["url"]] = resource
                if isinstance(resource.get("version"), str):
                    found[f"{resource['url']}|{resource['version']}"] = resource
        return found

    def _value_set(self, reference: str) -> Mapping[str, Any] | None:
        return self.value_sets.get(reference) or self.value_sets.get(reference.split("|")[0])

    def _value_set_options(
        self, value_set: Mapping[str, Any], where: str
    ) -> tuple[list[dict[str, Any]], list[float | None]] | None:
        entries: list[dict[str, Any]] = []
        scores: list[float | None] = []
        expansion = value_set.get("expansion")
        if isinstance(expansion, Mapping) and _list(expansion.get("contains")):
            weight_codes = {"itemWeight"}
            for prop in _list(expansion.get("property")):
                if isinstance(prop, Mapping) and prop.get("uri") == _ITEM_WEIGHT_PROPERTY:
                    weight_codes.add(str(prop.get("code")))
            stack = list(reversed(_list(expansion.get("contains"))))
            while stack:
                concept = stack.pop()
                if not isinstance(concept, Mapping):
                    continue
                stack.extend(reversed(_list(concept.get("contains"))))
                if concept.get("abstract") is True or not isinstance(concept.get("code"), str):
                    continue
                at = f"answerValueSet concept {concept['code']}"
                score = self._score(concept, where, at)
                if score is None:
                    score = self._property_weight(concept, weight_codes)
                entries.append(_concept_entry(concept, concept.get("system")))
                scores.append(score)
            return entries, scores
        compose = value_set.get("compose")
        for include in _list(compose.get("include") if isinstance(compose, Mapping) else None):
            if not isinstance(include, Mapping):
                continue
            system = include.get("system")
            concepts = _list(include.get("concept"))
            if not concepts:
                self.skipped.append(
                    Note(where, f"answerValueSet includes all of {system} (not listed in the file)")
                )
                return None
            for concept in concepts:
                if not isinstance(concept, Mapping) or not isinstance(concept.get("code"), str):
                    continue
                at = f"answerValueSet concept {concept['code']}"
                entries.append(_concept_entry(concept, system))
                scores.append(self._score(concept, where, at))
        return entries, scores

    def _property_weight(self, concept: Mapping[str, Any], codes: set[str]) -> float | None:
        for prop in _list(concept.get("property")):
            if isinstance(prop, Mapping) and prop.get("code") in codes:
                value = prop.get("valueDecimal", prop.get("valueInteger"))
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.score_sources.add("itemWeight")
                    return float(value)
        return None

    # -- safe linkIds and the total ------------------------------------------------------

    def _finish_items(self, alliance: bool) -> list[dict[str, Any]]:
        if not self.drafts:
            self.problems.append(Note("Questionnaire", "no question Alliance can keep"))
            return []
        first: dict[str, str] = {}
        for draft in self.drafts:
            where = self.draft_paths.get(id(draft), "?")
            if draft.original in first:
                self.problems.append(
                    Note(
                        f"item {draft.original}",
                        f"two questions share this linkId ({first[draft.original]} and {where})",
                    )
                )
            first.setdefault(draft.original, where)
        if self.problems:
            return []
        # Ids that are already safe keep their name; a mapped one must not take any of them.
        taken = {d.data["linkId"] for d in self.drafts if _SAFE_LINK_ID.match(d.data["linkId"])}
        renamed: list[str] = []
        for draft in self.drafts:
            source_link = draft.data["linkId"]
            if _SAFE_LINK_ID.match(draft.original) and source_link == draft.original:
                continue
            if source_link != draft.original and _SAFE_LINK_ID.match(source_link):
                # Alliance exported this item under a safe id and kept the original.
                draft.data["fhir_link_id"] = draft.original
                continue
            safe = _safe_link_id(draft.original, taken)
            taken.add(safe)
            draft.data["linkId"] = safe
            draft.data["fhir_link_id"] = draft.original
            renamed.append(f"{draft.original} → {safe}")
        if renamed:
            shown = ", ".join(renamed[:5])
            if len(renamed) > 5:
                shown += f", … ({len(renamed)} in all)"
            self.understood.append(
                f"linkIds that are not safe ids were mapped (the originals kept): {shown}"
            )
        if alliance:
            return [d.data for d in self.drafts]
        # The total is what the file scores: the choice answers with scores. A yes/no question
        # scores 1/0 but says nothing about the total, so booleans stay out of it; integer
        # ratings (with bounds) form the total only where no answer carries a score.
        scored_choice = [d for d in self.drafts if d.explicit_scores]
        integers = [d for d in self.drafts if d.data["type"] == "integer"]
        booleans = [d for d in self.drafts if d.data["type"] == "boolean"]
        outside = booleans + (integers if scored_choice else [])
        for draft in outside:
            draft.data["in_total"] = False
        if outside:
            names = ", ".join(d.original for d in outside[:5])
            self.understood.append(
                f"kept out of the total (scored as their value): {len(outside)} integer or "
                f"boolean item(s) ({names}{', …' if len(outside) > 5 else ''})"
            )
        if not scored_choice and not integers:
            self.problems.append(
                Note(
                    "Questionnaire",
                    "nothing to score: no answer carries a score (ordinalValue or itemWeight) "
                    "and no integer item has minValue/maxValue",
                )
            )
        elif not scored_choice:
            self.understood.append("no answer carries a score: the total is the integer items")
        return [d.data for d in self.drafts]

    # -- the report --------------------------------------------------------------------

    def _summarise(
        self,
        instrument: Instrument,
        version: str | None,
        alliance: bool,
        match: BundledMatch | None,
        data: Mapping[str, Any],
    ) -> None:
        valid = f"valid FHIR {version}" if version else "not valid FHIR R4 (see the warnings)"
        head = [f"Questionnaire {_text(self.q.get('title')) or instrument.id!r} ({valid})"]
        if alliance:
            head.append("exported by Alliance: its own definition is restored")
        scored = [i for i in instrument.items if i.scored and i.in_total]
        unscored = [i for i in instrument.items if i.type == "choice" and not i.scored]
        text = [i for i in instrument.items if i.type == "text"]
        out_of_total = [i for i in instrument.items if i.scored and not i.in_total]
        low, high = instrument.score_range
        parts = [f"{len(scored)} in the total"]
        if out_of_total:
            parts.append(f"{len(out_of_total)} scored outside it")
        if unscored:
            parts.append(f"{len(unscored)} unscored choice")
        if text:
            parts.append(f"{len(text)} text")
        allowed = instrument.scoring.max_missing
        missing = f"up to {allowed} missing item(s) prorated" if allowed else "no item missing"
        head.append(
            f"{len(instrument.items)} items ({', '.join(parts)}) from {self.groups} group(s); "
            f"total {low:g}–{high:g} ({instrument.scoring.method}, {missing})"
        )
        if unscored:
            names = ", ".join(i.fhir_link_id or i.link_id for i in unscored[:5])
            head.append(f"unscored choice items kept, answers checked, never counted: {names}")
        if self.score_sources:
            head.append(f"answer scores from {', '.join(sorted(self.score_sources))}")
        if match is not None:
            base_line = (
                f"LOINC {match.code} is the code of bundled instrument {match.instrument_id}: "
            )
            if match.same_totals:
                base_line += (
                    "compared item by item, on every complete answer set the totals equal "
                    f"{match.instrument_id}'s (its kind, direction and scoring rule were taken; "
                    f"`alliance score {match.instrument_id}` scores the bundled one)"
                )
            else:
                base_line += "the totals can differ: " + "; ".join(match.differences)
                self.warnings.append(
                    Note("Questionnaire", f"not scored like bundled {match.instrument_id}")
                )
            head.append(base_line)
        self.understood[:0] = head


# -- comparison with a bundled instrument --------------------------------------------------


def compare_with_bundled(imported: Instrument, bundled: Instrument, code: str) -> BundledMatch:
    """Whether ``imported`` totals equal ``bundled``'s on every complete answer set.

    Items are paired by their code (LOINC item code); answers by their coding (LOINC answer
    code), else by code, else by label. With every bundled total item paired, every pair's
    answers scoring alike, no other item in the imported total and the same method and
    multiplier, the totals are equal on every complete answer set (a sum or mean of equal
    item scores). Missing answers may still be treated differently (``max_missing``).
    """
    differences: list[str] = []
    item_map: dict[str, str] = {}
    by_code: dict[tuple[str, str], Item] = {}
    for item in imported.items:
        if item.code is not None and item.scored:
            by_code.setdefault((item.code.system, item.code.code), item)
    for item in bundled.total_items:
        if item.code is None:
            differences.append(f"{bundled.id} item {item.link_id} has no code to pair it by")
            continue
        twin = by_code.get((item.code.system, item.code.code))
        if twin is None:
            differences.append(f"no scored item with code {item.code.code} ({item.link_id})")
            continue
        item_map[item.link_id] = twin.link_id
        if not twin.in_total:
            differences.append(f"item {_shown(twin)} is not in the total")
        differences.extend(_answer_differences(item, twin))
    paired = set(item_map.values())
    for item in imported.total_items:
        if item.link_id not in paired:
            differences.append(f"item {_shown(item)} counts in the total, not in {bundled.id}")
    ours, theirs = bundled.scoring, imported.scoring
    if theirs.method != ours.method:
        differences.append(f"scoring method {theirs.method}, not {ours.method}")
    if theirs.multiplier != ours.multiplier:
        differences.append(f"multiplier {theirs.multiplier:g}, not {ours.multiplier:g}")
    return BundledMatch(
        instrument_id=bundled.id,
        code=code,
        same_totals=not differences,
        differences=tuple(differences),
        item_map=item_map,
    )


def _answer_differences(ours: Item, theirs: Item) -> list[str]:
    if ours.type != theirs.type:
        return [f"item {_shown(theirs)} is {theirs.type}, not {ours.type}"]
    if ours.type != "choice":
        # Integer and boolean answers score as their value (reversed within the range).
        same = (ours.score_min, ours.score_max, ours.reverse) == (
            theirs.score_min,
            theirs.score_max,
            theirs.reverse,
        )
        return [] if same else [f"item {_shown(theirs)} scores on another range"]
    out = []
    used: set[str] = set()
    for option in ours.options:
        twin = _paired_option(option, theirs)
        if twin is None:
            out.append(f"item {_shown(theirs)} has no answer {option.label!r}")
            continue
        used.add(twin.code)
        if ours.score_answer(option.code) != theirs.score_answer(twin.code):
            out.append(
                f"item {_shown(theirs)} answer {option.label!r} scores "
                f"{theirs.score_answer(twin.code):g}, not {ours.score_answer(option.code):g}"
            )
    for extra in theirs.options:
        if extra.code not in used:
            out.append(f"item {_shown(theirs)} has an extra answer {extra.label!r}")
    return out


def _paired_option(option: Any, item: Item) -> Any:
    for candidate in item.options:
        if (
            option.coding is not None
            and candidate.coding is not None
            and (option.coding.system, option.coding.code)
            == (candidate.coding.system, candidate.coding.code)
        ):
            return candidate
    for candidate in item.options:
        if candidate.code == option.code:
            return candidate
    for candidate in item.options:
        if candidate.label.strip().lower() == option.label.strip().lower():
            return candidate
    return None


def _shown(item: Item) -> str:
    return item.fhir_link_id or item.link_id


# -- small helpers -------------------------------------------------------------------------


def _safe_link_id(original: str, taken: set[str]) -> str:
    base = _UNSAFE_RUN.sub("_", original.strip()).strip("_.-") or "item"
    if not base[:1].isalpha():
        base = f"q_{base}"
    base = base[:64]
    candidate, n = base, 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate = base[: 64 - len(suffix)] + suffix
        n += 1
    return candidate


def _concept_entry(concept: Mapping[str, Any], system: object) -> dict[str, Any]:
    code = str(concept["code"]).strip()
    entry: dict[str, Any] = {"code": code, "label": _text(concept.get("display")) or code}
    if isinstance(system, str) and system:
        entry["coding"] = {"system": system, "code": code}
    return entry


def _first_coding(codes: object) -> dict[str, str] | None:
    for coding in _list(codes):
        if (
            isinstance(coding, Mapping)
            and isinstance(coding.get("system"), str)
            and isinstance(coding.get("code"), str)
            and coding["system"]
            and coding["code"]
        ):
            found = {"system": coding["system"], "code": coding["code"]}
            if isinstance(coding.get("display"), str) and coding["display"]:
                found["display"] = coding["display"]
            return found
    return None


def _item_text(raw: Mapping[str, Any]) -> str | None:
    text = _text(raw.get("text"))
    return " ".join(text.split()) if text else None


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _has_extension(element: Mapping[str, Any], urls: Sequence[str]) -> bool:
    found = _list(element.get("extension"))
    return any(isinstance(e, Mapping) and e.get("url") in urls for e in found)


def _extension_value(element: Mapping[str, Any], urls: Sequence[str], keys: Sequence[str]) -> Any:
    for ext in _list(element.get("extension")):
        if isinstance(ext, Mapping) and ext.get("url") in urls:
            for key in keys:
                if key in ext:
                    return ext[key]
    return None


def _model_problems(exc: ValidationError, data: Mapping[str, Any]) -> list[Note]:
    problems = []
    items = data.get("items") or []
    for error in exc.errors(include_url=False):
        loc = error.get("loc", ())
        where = "Questionnaire"
        rest = [str(p) for p in loc]
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int) and loc[1] < len(items):
            item = items[loc[1]]
            where = f"item {item.get('fhir_link_id') or item.get('linkId')}"
            rest = [str(p) for p in loc[2:]]
        ctx = error.get("ctx") or {}
        message = str(ctx.get("error") or error.get("msg") or "invalid")
        field_path = ".".join(rest)
        problems.append(Note(where, f"{field_path}: {message}" if field_path else message))
    return problems


def _one_line(text: str) -> str:
    return " ".join(text.split())
