"""Alliance's FHIR extensions (alliance.measures.fhir_extensions): every extension URL that
the FHIR mapping writes has a StructureDefinition, valid by the fhir.resources R4B model and
by the official R4 JSON schema, whose context names every element the extension is found on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.structuredefinition import StructureDefinition
from measures_builders import instrument_data

from alliance.measures.fhir import (
    RelativeTime,
    instrument_to_questionnaire,
    response_to_fhir,
)
from alliance.measures.fhir_extensions import (
    EXTENSIONS,
    extension_urls,
    structure_definition,
    structure_definitions,
)
from alliance.measures.fhir_import import import_questionnaire
from alliance.measures.instrument import Instrument
from alliance.measures.registry import bundled_ids, load_instrument
from alliance.measures.scoring import score_response
from fhir_r4 import r4_problems

OURS = "urn:alliance:fhir:"
# The value[x] element name of each FHIR type our extensions use.
VALUE_KEY = {
    "string": "valueString",
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "decimal": "valueDecimal",
    "Identifier": "valueIdentifier",
}


def _everything_we_emit() -> list[dict[str, Any]]:
    """Resources that between them use every way the mapping has of writing an extension:
    each bundled instrument's Questionnaire, one of an imported Questionnaire whose linkIds
    had to change, one with a reversed item, and responses told with a date and without one
    (de-identified)."""
    resources = [instrument_to_questionnaire(load_instrument(i)) for i in sorted(bundled_ids())]
    foreign = {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [
            {
                "linkId": "H1/T1/Q1",
                "text": "How often?",
                "type": "choice",
                "answerOption": [
                    {
                        "valueCoding": {"code": str(n), "display": f"{n} times"},
                        "extension": [
                            {
                                "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                                "valueDecimal": n,
                            }
                        ],
                    }
                    for n in range(3)
                ],
            }
        ],
    }
    imported = import_questionnaire(foreign, instrument_id="imported").instrument
    resources.append(instrument_to_questionnaire(imported))
    reversed_item = instrument_data()
    reversed_item["items"][0]["reverse"] = True  # no bundled instrument reverses an item
    resources.append(instrument_to_questionnaire(Instrument.model_validate(reversed_item)))
    phq9 = load_instrument("phq9")
    answers = {f"phq9_{i}": 1 for i in range(1, 10)}
    score = score_response(phq9, answers)
    when = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    resources.append(response_to_fhir(phq9, answers, score, "Patient/p", when))
    later = RelativeTime(response_key="r1", episode="e1", days_since_start=14, session_number=3)
    resources.append(response_to_fhir(phq9, answers, score, "Patient/p", later))
    return resources


def _uses(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(element path, extension) for every extension in ``node``: the path is the FHIRPath of
    the element the extension sits on (``Questionnaire.item.answerOption``)."""
    if isinstance(node, dict):
        if "resourceType" in node:
            path = str(node["resourceType"])
        for key, child in node.items():
            if key == "extension" and isinstance(child, list):
                yield from ((path, e) for e in child)
            elif key == "resource":
                yield from _uses(child, path)
            else:
                yield from _uses(child, f"{path}.{key}")
    elif isinstance(node, list):
        for child in node:
            yield from _uses(child, path)


def test_every_extension_url_we_emit_has_a_structure_definition() -> None:
    emitted = extension_urls(_everything_we_emit())
    ours = {url for url in emitted if url.startswith(OURS)}
    # Every declared extension is really written somewhere, and nothing undeclared is.
    assert ours == set(EXTENSIONS)
    defined = {d["url"] for d in structure_definitions(emitted)}
    assert defined == ours
    others = emitted - ours
    assert all(url.startswith("http://hl7.org/fhir/StructureDefinition/") for url in others)


def test_each_extension_sits_only_where_its_definition_allows_with_its_value_type() -> None:
    seen: dict[str, set[str]] = {}
    for where, extension in _uses(_everything_we_emit(), ""):
        url = extension["url"]
        if not url.startswith(OURS):
            continue
        seen.setdefault(url, set()).add(where.removesuffix(".entry"))
        definition = structure_definition(url)
        value = definition["differential"]["element"][-1]["type"][0]["code"]
        assert set(extension) == {"url", VALUE_KEY[value]}, url
    for url, places in seen.items():
        contexts = {c["expression"] for c in structure_definition(url)["context"]}
        assert places <= contexts, url


@pytest.mark.parametrize("url", sorted(EXTENSIONS))
def test_each_structure_definition_is_valid_r4(url: str) -> None:
    definition = structure_definition(url)
    StructureDefinition.model_validate(definition)
    assert r4_problems(definition) == []
    assert definition["url"] == url
    assert definition["type"] == "Extension"
    assert definition["baseDefinition"] == "http://hl7.org/fhir/StructureDefinition/Extension"
    fixed = [e for e in definition["differential"]["element"] if e["path"] == "Extension.url"]
    assert fixed == [{"id": "Extension.url", "path": "Extension.url", "fixedUri": url}]
    assert definition["name"][0].isupper()
    assert definition["name"].isalnum()


def test_the_r4_check_can_fail() -> None:
    definition = structure_definition(sorted(EXTENSIONS)[0])
    assert r4_problems({**definition, "kind": "gadget"}) != []
    assert r4_problems({**definition, "colour": "red"}) != []


def test_only_our_own_urls_have_definitions_here() -> None:
    hl7 = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
    assert structure_definitions([hl7]) == []
    with pytest.raises(KeyError):
        structure_definition(hl7)
    assert len(structure_definitions()) == len(EXTENSIONS)
