"""HL7 FHIR R4 mapping: instruments as Questionnaires, scored responses as
QuestionnaireResponse + Observations, and Questionnaires (with ordinal answer scores) back
into instruments.

Every resource built here is validated with the ``fhir.resources`` R4B models before it is
returned, and the functions return plain JSON-ready dicts.

Mapping (see docs/measures.md for the full table):

* ``Questionnaire.identifier`` (system ``urn:alliance:instrument``) carries the instrument id;
  ``Questionnaire.id`` is the id with ``_`` turned into ``-`` (FHIR ids allow no ``_``); its
  canonical ``url`` is ``urn:alliance:questionnaire:<id>`` with the instrument's ``version``,
  and a QuestionnaireResponse names the definition it answered as ``url|version``;
* each answer option is ``answerOption.valueCoding`` with its score in the
  ``http://hl7.org/fhir/StructureDefinition/ordinalValue`` extension (``valueDecimal``);
  integer items carry the standard ``minValue``/``maxValue`` extensions;
* reverse scoring, ``in_total`` and ``subscale`` go in small item extensions, and the rest of
  the definition (scoring rule, bands, subscales, reliable change, cut-off, …) in one
  ``urn:alliance:fhir:instrument-definition`` extension holding JSON, so an Alliance
  Questionnaire imports back to an identical instrument;
* a foreign Questionnaire (no Alliance extensions) imports with the scoring method, missing
  rule, direction and kind given as arguments; the reading itself (any linkId, nested groups,
  contained ValueSets, ordinalValue/itemWeight scores, …) lives in
  :mod:`alliance.measures.fhir_import`;
* an unscored choice item's options carry no ordinalValue; an item imported under a new
  linkId keeps the original in ``urn:alliance:fhir:source-link-id``;
* a response told without a date (:class:`RelativeTime`, for de-identified exports) has no
  ``authored`` / ``effectiveDateTime``; its QuestionnaireResponse and Observations carry the
  pseudonymous episode (``urn:alliance:fhir:episode``, an Identifier), the whole days since
  the episode began (``urn:alliance:fhir:days-since-episode-start``) and the session number
  (``urn:alliance:fhir:session-number``) instead;
* every ``urn:alliance:fhir:`` extension has a StructureDefinition
  (:mod:`alliance.measures.fhir_extensions`);
* :func:`collection_bundle` gathers Patients (:func:`patient_to_fhir`, pseudonymous in a
  de-identified export), the Questionnaires, the StructureDefinitions of the extensions used
  and the response Bundles into one Bundle in which every reference resolves.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaire import Questionnaire

from alliance.measures.fhir_extensions import (
    ANSWER_CODE_URL,
    DAYS_SINCE_START_URL,
    DEFINITION_URL,
    EPISODE_URL,
    IN_TOTAL_URL,
    REVERSE_URL,
    SESSION_NUMBER_URL,
    SOURCE_LINK_ID_URL,
    SUBSCALE_URL,
    extension_urls,
    structure_definitions,
)
from alliance.measures.instrument import (
    AnswerOption,
    Instrument,
    Item,
    is_missing,
)
from alliance.measures.scoring import Score, ScoringError

__all__ = [
    "ALLIANCE_SCORE_SYSTEM",
    "ORDINAL_VALUE_URL",
    "RelativeTime",
    "collection_bundle",
    "instrument_to_questionnaire",
    "patient_reference",
    "patient_to_fhir",
    "questionnaire_canonical",
    "questionnaire_url",
    "response_to_fhir",
    "unresolved",
]

ORDINAL_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MIN_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/maxValue"
INSTRUMENT_ID_SYSTEM = "urn:alliance:instrument"
ALLIANCE_SCORE_SYSTEM = "urn:alliance:score"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLIENT_ID_SYSTEM = "urn:alliance:client"
# A pseudonymous client: valid in one de-identified export only (see services/exports.py).
CLIENT_PSEUDONYM_SYSTEM = "urn:alliance:client-pseudonym"
# HL7's security label for data whose identifiers were replaced by pseudonyms.
PSEUDONYMISED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "PSEUDED",
    "display": "pseudonymized",
}


@dataclass(frozen=True)
class RelativeTime:
    """When a response was given, told without a date: the whole days since its episode
    began and its session number. ``episode`` and ``response_key`` are pseudonyms chosen by
    the caller; ``response_key`` seeds the entry ids in place of the time, so the ids say
    nothing about when the response was given either."""

    response_key: str
    episode: str
    days_since_start: float
    session_number: int | None = None

    def extensions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = [
            {"url": EPISODE_URL, "valueIdentifier": {"system": EPISODE_URL, "value": self.episode}},
            {"url": DAYS_SINCE_START_URL, "valueDecimal": _number(self.days_since_start)},
        ]
        if self.session_number is not None:
            found.append({"url": SESSION_NUMBER_URL, "valueInteger": self.session_number})
        return found


# Instrument fields that FHIR has no place for; they travel in the definition extension.
_DEFINITION_FIELDS = (
    "kind",
    "citation",
    "subscales",
    "scoring",
    "bands",
    "bands_source",
    "direction",
    "reliable_change",
    "clinical_cutoff",
    "alert_thresholds",
    "alert_thresholds_source",
    "risk_items",
    "total_code",
)


def questionnaire_url(instrument_id: str) -> str:
    """Canonical URL of an instrument's Questionnaire (``Questionnaire.url``; the instrument's
    version is ``Questionnaire.version``)."""
    return f"urn:alliance:questionnaire:{instrument_id}"


def questionnaire_canonical(instrument: Instrument) -> str:
    """The versioned canonical reference to the instrument's Questionnaire, ``url|version``,
    as a QuestionnaireResponse names the exact definition it answered."""
    return f"{questionnaire_url(instrument.id)}|{instrument.version}"


def _uuid_url(seed: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed)}"


def _fhir_id(instrument_id: str) -> str:
    return instrument_id.replace("_", "-")


# -- instrument -> Questionnaire ------------------------------------------------------


def instrument_to_questionnaire(instrument: Instrument) -> dict[str, Any]:
    """The instrument as a validated FHIR R4 Questionnaire (JSON-ready dict)."""
    definition = instrument.model_dump(mode="json", include=set(_DEFINITION_FIELDS))
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": _fhir_id(instrument.id),
        "language": instrument.language,
        "extension": [{"url": DEFINITION_URL, "valueString": json.dumps(definition)}],
        "url": questionnaire_url(instrument.id),
        "identifier": [{"system": INSTRUMENT_ID_SYSTEM, "value": instrument.id}],
        "version": instrument.version,
        "title": instrument.title,
        "status": "active",
        "copyright": instrument.licence,
        "item": [_item_to_fhir(item) for item in instrument.items],
    }
    if instrument.code is not None:
        resource["code"] = [instrument.code.model_dump(exclude_none=True)]
    if instrument.description is not None:
        resource["description"] = instrument.description
    return _validated(Questionnaire, resource)


def _item_to_fhir(item: Item) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = []
    if item.reverse:
        extensions.append({"url": REVERSE_URL, "valueBoolean": True})
    if not item.in_total:
        extensions.append({"url": IN_TOTAL_URL, "valueBoolean": False})
    if item.subscale is not None:
        extensions.append({"url": SUBSCALE_URL, "valueString": item.subscale})
    if item.fhir_link_id is not None:
        extensions.append({"url": SOURCE_LINK_ID_URL, "valueString": item.fhir_link_id})
    if item.type == "integer":
        extensions.append({"url": MIN_VALUE_URL, "valueInteger": item.min_value})
        extensions.append({"url": MAX_VALUE_URL, "valueInteger": item.max_value})
    out: dict[str, Any] = {
        "linkId": item.link_id,
        "text": item.text,
        "type": item.type,
        "required": item.required,
    }
    if extensions:
        out["extension"] = extensions
    if item.code is not None:
        out["code"] = [item.code.model_dump(exclude_none=True)]
    if item.type == "choice":
        out["answerOption"] = [_option_to_fhir(o) for o in item.options]
    return out


def _option_coding(option: AnswerOption) -> dict[str, Any]:
    """The answer as a FHIR Coding: its standard code (LOINC) where it has one."""
    if option.coding is not None:
        return {"system": option.coding.system, "code": option.coding.code, "display": option.label}
    return {"code": option.code, "display": option.label}


def _option_to_fhir(option: AnswerOption) -> dict[str, Any]:
    extensions: list[dict[str, Any]] = []
    if option.score is not None:  # an unscored choice item's options carry no ordinalValue
        extensions.append({"url": ORDINAL_VALUE_URL, "valueDecimal": _number(option.score)})
    if option.coding is not None:
        extensions.append({"url": ANSWER_CODE_URL, "valueString": option.code})
    out: dict[str, Any] = {"valueCoding": _option_coding(option)}
    if extensions:
        out["extension"] = extensions
    return out


# -- Questionnaire -> instrument ------------------------------------------------------


# -- response -> QuestionnaireResponse + Observations ---------------------------------


def response_to_fhir(
    instrument: Instrument,
    answers: Mapping[str, object],
    score: Score,
    subject_reference: str,
    authored: datetime | RelativeTime,
) -> dict[str, Any]:
    """A FHIR ``collection`` Bundle: the QuestionnaireResponse and one Observation for the
    total (if valid) and for each subscale with a value.

    ``authored`` is the time the response was given, or a :class:`RelativeTime` for a
    Bundle that must hold no date (then no resource has a dateTime; see the module notes).

    Observation codes: the instrument's ``total_code`` (LOINC where one exists: PHQ-9
    44261-6, GAD-7 70274-6) or a subscale's ``code``; otherwise ``urn:alliance:score`` with
    ``<id>.total`` / ``<id>.<subscale>``. Entry ids are deterministic (UUID5 of subject,
    instrument and time, or the ``response_key`` of a RelativeTime), so exporting the same
    response twice gives the same Bundle.
    """
    # when: the dateTime of every resource; timing: what stands in for it when there is none.
    when: str | None = None
    timing: dict[str, Any] = {}
    if isinstance(authored, RelativeTime):
        seed = f"{subject_reference}|{instrument.id}|{authored.response_key}"
        timing = {"extension": authored.extensions()}
    else:
        if authored.tzinfo is None or authored.utcoffset() is None:
            raise ValueError("authored must be timezone-aware (FHIR dateTime needs a zone)")
        when = authored.isoformat()
        seed = f"{subject_reference}|{instrument.id}|{when}"
    qr_url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed + '|response')}"
    subject = {"reference": subject_reference}

    response_items = []
    for item in instrument.items:
        answer = answers.get(item.link_id)
        if is_missing(answer):
            continue
        response_items.append(
            {"linkId": item.link_id, "text": item.text, "answer": [_answer(item, answer)]}
        )
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        **timing,
        "questionnaire": questionnaire_canonical(instrument),
        "status": "completed",
        "subject": subject,
        "authored": when,
        "item": response_items,
    }
    entries: list[dict[str, Any]] = [{"fullUrl": qr_url, "resource": response}]

    def observation(key: str, code: dict[str, Any], value: float, band: str | None) -> None:
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            **timing,
            "status": "final",
            "category": [
                {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}]},
            ],
            "code": {"coding": [code], "text": code.get("display")},
            "subject": subject,
            "effectiveDateTime": when,
            "valueQuantity": {
                "value": _number(value),
                "unit": "{score}",
                "system": "http://unitsofmeasure.org",
                "code": "{score}",
            },
            "derivedFrom": [{"reference": qr_url}],
        }
        if band is not None:
            obs["interpretation"] = [{"text": band}]
        url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{seed}|{key}')}"
        entries.append({"fullUrl": url, "resource": obs})

    if score.total is not None:
        if instrument.total_code is not None:
            code = instrument.total_code.model_dump(exclude_none=True)
        else:
            code = {
                "system": ALLIANCE_SCORE_SYSTEM,
                "code": f"{instrument.id}.total",
                "display": f"{instrument.title} total score",
            }
        observation("total", code, score.total, score.band)
    for sub in instrument.subscales:
        value = score.subscales.get(sub.name)
        if value is None:
            continue
        if sub.code is not None:
            code = sub.code.model_dump(exclude_none=True)
        else:
            code = {
                "system": ALLIANCE_SCORE_SYSTEM,
                "code": f"{instrument.id}.{sub.name}",
                "display": f"{instrument.title} {sub.title or sub.name} subscale score",
            }
        observation(sub.name, code, value, None)

    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return _validated(Bundle, bundle)


# -- Patients and the export Bundle ---------------------------------------------------


def patient_reference(patient_id: str) -> str:
    """The ``fullUrl`` of the Patient ``patient_id`` in an export Bundle, which is also what
    its responses' ``subject.reference`` holds: a UUID5 of the id, so references resolve
    inside the Bundle without a server and the same Patient gets the same URL each time."""
    return _uuid_url(f"urn:alliance:patient:{patient_id}")


def patient_to_fhir(
    patient_id: str, *, pseudonymous: bool, name: str | None = None
) -> dict[str, Any]:
    """A validated R4 Patient. ``patient_id`` is the client id, or with ``pseudonymous`` the
    client's pseudonym in one de-identified export: then the Patient holds nothing but that
    pseudonym and HL7's ``PSEUDED`` security label (``name`` is refused)."""
    if pseudonymous and name is not None:
        raise ValueError("a pseudonymous Patient has no name")
    system = CLIENT_PSEUDONYM_SYSTEM if pseudonymous else CLIENT_ID_SYSTEM
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": system, "value": patient_id}],
    }
    if pseudonymous:
        resource["meta"] = {"security": [PSEUDONYMISED]}
    if name is not None:
        resource["name"] = [{"text": name}]
    return _validated(Patient, resource)


def collection_bundle(
    patients: Sequence[Mapping[str, Any]],
    instruments: Sequence[Instrument],
    responses: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """One self-contained ``collection`` Bundle: the Patients (from :func:`patient_to_fhir`),
    each instrument's Questionnaire, a StructureDefinition for every Alliance extension used
    anywhere in the Bundle, then the entries of the response Bundles (from
    :func:`response_to_fhir`, their subjects :func:`patient_reference` of a Patient given).

    Every ``reference`` resolves to an entry's ``fullUrl`` and every QuestionnaireResponse's
    ``url|version`` to a Questionnaire in the Bundle; a response that points elsewhere is a
    ``ValueError`` (a caller's mistake, never something a receiver should find)."""
    entries: list[dict[str, Any]] = [
        {"fullUrl": patient_reference(str(p["id"])), "resource": dict(p)} for p in patients
    ]
    for inst in sorted({i.id: i for i in instruments}.values(), key=lambda i: i.id):
        entries.append(
            {
                "fullUrl": _uuid_url(questionnaire_canonical(inst)),
                "resource": instrument_to_questionnaire(inst),
            }
        )
    answered = [dict(e) for part in responses for e in part.get("entry", [])]
    used = extension_urls([e["resource"] for e in entries + answered])
    for definition in structure_definitions(used):
        entries.append({"fullUrl": _uuid_url(definition["url"]), "resource": definition})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": entries + answered,
    }
    problems = unresolved(bundle)
    if problems:
        raise ValueError(f"the Bundle does not hold what it points to: {problems[:3]}")
    return bundle


def unresolved(bundle: Mapping[str, Any]) -> list[str]:
    """What ``bundle`` points to but does not hold: references that are no entry's
    ``fullUrl``, and Questionnaire canonicals (``url|version``) that no Questionnaire in it
    has. Empty for a self-contained Bundle."""
    entries = bundle.get("entry", [])
    full_urls = {e.get("fullUrl") for e in entries}
    canonicals = {
        f"{r.get('url')}|{r.get('version')}"
        for r in (e.get("resource", {}) for e in entries)
        if r.get("resourceType") == "Questionnaire"
    }
    missing = [ref for ref in _references(entries) if ref not in full_urls]
    for entry in entries:
        resource = entry.get("resource", {})
        wanted = resource.get("questionnaire")
        if resource.get("resourceType") == "QuestionnaireResponse" and wanted not in canonicals:
            missing.append(str(wanted))
    return missing


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "reference" and isinstance(child, str):
                yield child
            else:
                yield from _references(child)
    elif isinstance(node, list):
        for child in node:
            yield from _references(child)


def _answer(item: Item, answer: object) -> dict[str, Any]:
    if item.type == "text":
        return {"valueString": str(answer)}
    try:
        item.score_answer(answer)  # the same validation as scoring
    except ValueError as exc:
        raise ScoringError(str(exc), item=item.link_id) from None
    if item.type == "choice":
        found = item.option(str(answer).strip()) if isinstance(answer, str) else None
        if found is None:
            found = next(o for o in item.options if _same_code(o.code, answer))
        return {"valueCoding": _option_coding(found)}
    if item.type == "integer":
        return {"valueInteger": int(float(str(answer)))}
    score = item.score_answer(answer)
    raw = 1.0 - score if item.reverse and score is not None else score
    return {"valueBoolean": raw == 1.0}


def _same_code(code: str, answer: object) -> bool:
    try:
        return float(code) == float(str(answer))
    except ValueError:
        return False


def _number(value: float) -> int | float:
    # FHIR decimals keep their written precision: send 3 rather than 3.0 for whole numbers.
    return int(value) if float(value).is_integer() else float(value)


def _validated(
    model: type[Questionnaire] | type[Bundle] | type[Patient], resource: dict[str, Any]
) -> dict[str, Any]:
    """Validate with the fhir.resources R4B model and return its JSON form."""
    parsed = model.model_validate(resource)
    plain: dict[str, Any] = _plain(parsed.model_dump(mode="json", exclude_none=True))
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return _number(float(value))
    return value
