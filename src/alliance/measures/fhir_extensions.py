"""Alliance's own FHIR extensions: their URLs, what each one means, and a FHIR R4
``StructureDefinition`` for each, so that a receiver can look up every extension we write.

Every ``urn:alliance:fhir:…`` extension that :mod:`alliance.measures.fhir` emits is declared
once in :data:`EXTENSIONS` (its value type and the elements it may sit on); from that
:func:`structure_definition` builds the definition, validated with the ``fhir.resources``
R4B model. :func:`extension_urls` finds the extension URLs a resource uses, which is how an
export Bundle knows which definitions to carry. HL7's own extensions (``ordinalValue``,
``minValue``, ``maxValue``) are defined by the FHIR core specification and are not repeated.

The URLs stay the ``urn:alliance:fhir:`` names Alliance has always written, so Questionnaires
exported before the definitions existed still import (see :mod:`alliance.measures.fhir_import`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.structuredefinition import StructureDefinition

from alliance._version import __version__

__all__ = [
    "ANSWER_CODE_URL",
    "DAYS_SINCE_START_URL",
    "DEFINITION_URL",
    "EPISODE_URL",
    "EXTENSIONS",
    "IN_TOTAL_URL",
    "REVERSE_URL",
    "SESSION_NUMBER_URL",
    "SOURCE_LINK_ID_URL",
    "SUBSCALE_URL",
    "ExtensionSpec",
    "extension_urls",
    "structure_definition",
    "structure_definitions",
]

DEFINITION_URL = "urn:alliance:fhir:instrument-definition"
REVERSE_URL = "urn:alliance:fhir:item-reverse"
IN_TOTAL_URL = "urn:alliance:fhir:item-in-total"
SUBSCALE_URL = "urn:alliance:fhir:item-subscale"
# The linkId an imported item had in its source Questionnaire, where that was not a valid
# Alliance linkId (see alliance.measures.fhir_import).
SOURCE_LINK_ID_URL = "urn:alliance:fhir:source-link-id"
# The answer code a response stores ("0".."3"), kept beside a standard answer coding (LOINC
# LA codes) so that an exported Questionnaire reads back with the codes Alliance scores.
ANSWER_CODE_URL = "urn:alliance:fhir:answer-code"
EPISODE_URL = "urn:alliance:fhir:episode"
DAYS_SINCE_START_URL = "urn:alliance:fhir:days-since-episode-start"
SESSION_NUMBER_URL = "urn:alliance:fhir:session-number"

# The FHIR release the definitions are written against (R4; R4B changed nothing they use).
FHIR_VERSION = "4.0.1"
_EXTENSION_BASE = "http://hl7.org/fhir/StructureDefinition/Extension"
_TIMING = ("QuestionnaireResponse", "Observation")


@dataclass(frozen=True)
class ExtensionSpec:
    """One extension: its computable ``name`` (FHIR asks for an upper-case first letter and
    letters, digits or ``_``), a one-line ``title``, what it means, the FHIR type of its
    ``value[x]`` and the elements (FHIRPath) it may appear on."""

    url: str
    name: str
    title: str
    description: str
    value_type: str
    contexts: tuple[str, ...]

    @property
    def id(self) -> str:
        """The definition's resource id: ``alliance-`` and the URL's last part."""
        return "alliance-" + self.url.rsplit(":", 1)[-1]


EXTENSIONS: dict[str, ExtensionSpec] = {
    spec.url: spec
    for spec in (
        ExtensionSpec(
            DEFINITION_URL,
            "AllianceInstrumentDefinition",
            "Alliance instrument definition",
            "The parts of an Alliance instrument that FHIR has no element for (kind, citation, "
            "scoring rule and proration, severity bands, subscales, direction, reliable change, "
            "clinical cut-off, alert thresholds, risk items, total code), as one JSON object, "
            "so that an exported Questionnaire imports back to the same instrument.",
            "string",
            ("Questionnaire",),
        ),
        ExtensionSpec(
            REVERSE_URL,
            "AllianceItemReverse",
            "Item is reverse-scored",
            "True when the item's answer scores are reversed (maximum + minimum - score) "
            "before they count towards a total.",
            "boolean",
            ("Questionnaire.item",),
        ),
        ExtensionSpec(
            IN_TOTAL_URL,
            "AllianceItemInTotal",
            "Item counts towards the total",
            "False when the item is asked and scored but left out of the total score; "
            "absent means it counts.",
            "boolean",
            ("Questionnaire.item",),
        ),
        ExtensionSpec(
            SUBSCALE_URL,
            "AllianceItemSubscale",
            "Subscale of the item",
            "The name of the subscale the item belongs to, as the instrument definition "
            "lists its subscales.",
            "string",
            ("Questionnaire.item",),
        ),
        ExtensionSpec(
            SOURCE_LINK_ID_URL,
            "AllianceSourceLinkId",
            "Item's linkId in its source Questionnaire",
            "The linkId the item had in the Questionnaire it was imported from, where that "
            "was not a valid Alliance linkId and the item was given a new one.",
            "string",
            ("Questionnaire.item",),
        ),
        ExtensionSpec(
            ANSWER_CODE_URL,
            "AllianceAnswerCode",
            "Answer code Alliance stores",
            "The code Alliance records for this answer (e.g. '0'..'3'), kept beside a "
            "standard answer coding such as a LOINC LA code.",
            "string",
            ("Questionnaire.item.answerOption",),
        ),
        ExtensionSpec(
            EPISODE_URL,
            "AllianceEpisode",
            "Episode of care (pseudonymous)",
            "The episode of care the response belongs to, as a pseudonym valid in one "
            "de-identified export only.",
            "Identifier",
            _TIMING,
        ),
        ExtensionSpec(
            DAYS_SINCE_START_URL,
            "AllianceDaysSinceEpisodeStart",
            "Days since the episode started",
            "When the response was given, told without a date: whole days since its episode "
            "of care began (de-identified exports hold no dates).",
            "decimal",
            _TIMING,
        ),
        ExtensionSpec(
            SESSION_NUMBER_URL,
            "AllianceSessionNumber",
            "Session number",
            "The number of the therapy session the response belongs to within its episode, "
            "counting from 1.",
            "integer",
            _TIMING,
        ),
    )
}


def structure_definition(url: str) -> dict[str, Any]:
    """The R4 StructureDefinition of the Alliance extension ``url`` (JSON-ready, validated
    with the fhir.resources R4B model). A URL that is not ours is a ``KeyError``."""
    spec = EXTENSIONS[url]
    resource: dict[str, Any] = {
        "resourceType": "StructureDefinition",
        "id": spec.id,
        "url": spec.url,
        "version": __version__,
        "name": spec.name,
        "title": spec.title,
        "status": "active",
        "publisher": "Alliance",
        "description": spec.description,
        "fhirVersion": FHIR_VERSION,
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": where} for where in spec.contexts],
        "type": "Extension",
        "baseDefinition": _EXTENSION_BASE,
        "derivation": "constraint",
        "differential": {
            "element": [
                {
                    "id": "Extension",
                    "path": "Extension",
                    "short": spec.title,
                    "definition": spec.description,
                    "min": 0,
                    "max": "1",
                },
                {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": spec.url},
                {
                    "id": "Extension.value[x]",
                    "path": "Extension.value[x]",
                    "min": 1,
                    "type": [{"code": spec.value_type}],
                },
            ]
        },
    }
    parsed = StructureDefinition.model_validate(resource)
    plain: dict[str, Any] = parsed.model_dump(mode="json", exclude_none=True)
    return plain


def structure_definitions(urls: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The definitions of ``urls`` that are Alliance extensions (all of them by default), in
    URL order; HL7's own extension URLs among ``urls`` are passed over."""
    chosen = EXTENSIONS if urls is None else {u for u in urls if u in EXTENSIONS}
    return [structure_definition(url) for url in sorted(chosen)]


def extension_urls(node: Any) -> set[str]:
    """Every extension URL used anywhere in ``node`` (a resource or Bundle as JSON)."""
    return set(_urls(node))


def _urls(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, child in node.items():
            if key in ("extension", "modifierExtension") and isinstance(child, list):
                yield from (e["url"] for e in child if isinstance(e, dict) and "url" in e)
            yield from _urls(child)
    elif isinstance(node, list):
        for child in node:
            yield from _urls(child)
