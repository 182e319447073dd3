"""FHIR R4 mapping (alliance.measures.fhir): Questionnaire export/import round trip, the
response Bundle, Patients and the self-contained export Bundle, each checked with the
fhir.resources R4B models and with the official FHIR R4 JSON schema (tests/fhir_r4.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaire import Questionnaire

from alliance.measures.fhir import (
    ALLIANCE_SCORE_SYSTEM,
    ORDINAL_VALUE_URL,
    RelativeTime,
    collection_bundle,
    instrument_to_questionnaire,
    patient_reference,
    patient_to_fhir,
    questionnaire_canonical,
    response_to_fhir,
    unresolved,
)
from alliance.measures.fhir_import import questionnaire_to_instrument
from alliance.measures.registry import InstrumentError, bundled_ids, load_instrument
from alliance.measures.scoring import ScoringError, score_response
from fhir_r4 import r4_problems

WHEN = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("instrument_id", sorted(bundled_ids()))
def test_every_bundled_instrument_round_trips_through_a_questionnaire(instrument_id: str) -> None:
    inst = load_instrument(instrument_id)
    questionnaire = instrument_to_questionnaire(inst)
    Questionnaire.model_validate(questionnaire)  # valid R4 (R4B models)
    assert r4_problems(questionnaire) == []  # and by the official R4 JSON schema
    assert questionnaire_to_instrument(questionnaire) == inst
    # A versioned canonical: the URL names the instrument, the version its definition.
    assert questionnaire["url"] == f"urn:alliance:questionnaire:{instrument_id}"
    assert questionnaire["version"] == inst.version
    assert questionnaire_canonical(inst) == f"{questionnaire['url']}|{inst.version}"


def test_answer_scores_travel_as_ordinal_values() -> None:
    questionnaire = instrument_to_questionnaire(load_instrument("who5"))
    first = questionnaire["item"][0]
    assert first["linkId"] == "who5_1"
    assert first["type"] == "choice"
    option = first["answerOption"][0]
    assert option["valueCoding"] == {"code": "5", "display": "All of the time"}
    assert option["extension"] == [{"url": ORDINAL_VALUE_URL, "valueDecimal": 5}]
    assert questionnaire["id"] == "who5"
    assert instrument_to_questionnaire(load_instrument("wai_sr"))["id"] == "wai-sr"


@pytest.mark.parametrize(
    ("instrument_id", "panel", "first_item", "last_item"),
    [("phq9", "44249-1", "44250-9", "44260-8"), ("gad7", "69737-5", "69725-0", "69736-7")],
)
def test_phq9_and_gad7_questionnaires_carry_their_loinc_codes(
    instrument_id: str, panel: str, first_item: str, last_item: str
) -> None:
    questionnaire = instrument_to_questionnaire(load_instrument(instrument_id))
    loinc = "http://loinc.org"
    assert questionnaire["code"][0]["system"] == loinc
    assert questionnaire["code"][0]["code"] == panel
    items = questionnaire["item"]
    assert items[0]["code"] == [{"system": loinc, "code": first_item}]
    assert items[-1]["code"] == [{"system": loinc, "code": last_item}]
    codings = [o["valueCoding"] for o in items[0]["answerOption"]]
    assert [c["code"] for c in codings] == ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    assert {c["system"] for c in codings} == {loinc}
    # Read back, the options keep the codes a response stores and their LOINC coding.
    back = questionnaire_to_instrument(questionnaire)
    assert [o.code for o in back.items[0].options] == ["0", "1", "2", "3"]
    assert back.items[0].options[0].coding is not None
    assert back.items[0].options[0].coding.code == "LA6568-5"
    assert back.code is not None
    assert back.code.code == panel


def _foreign_questionnaire() -> dict[str, Any]:
    def option(code: str, label: str, score: int, on_coding: bool = False) -> dict[str, Any]:
        ordinal = [{"url": ORDINAL_VALUE_URL, "valueDecimal": score}]
        if on_coding:
            return {"valueCoding": {"code": code, "display": label, "extension": ordinal}}
        return {"valueCoding": {"code": code, "display": label}, "extension": ordinal}

    return {
        "resourceType": "Questionnaire",
        "id": "Mood-Check.2",
        "status": "active",
        "title": "Mood check",
        "copyright": "Example, free to use",
        "item": [
            {"linkId": "intro", "type": "display", "text": "Please answer"},
            {
                "linkId": "g1",
                "type": "group",
                "item": [
                    {
                        "linkId": "m1",
                        "type": "choice",
                        "text": "Low mood",
                        "answerOption": [option("a", "never", 0), option("b", "often", 2)],
                    },
                    {
                        "linkId": "m2",
                        "type": "choice",
                        "text": "Worry",
                        "answerOption": [
                            option("a", "never", 0, on_coding=True),
                            option("b", "often", 2, on_coding=True),
                        ],
                    },
                ],
            },
            {"linkId": "note", "type": "string", "text": "Anything else?"},
        ],
    }


def test_a_foreign_questionnaire_with_ordinal_values_imports_as_an_instrument() -> None:
    inst = questionnaire_to_instrument(_foreign_questionnaire(), method="sum", max_missing=1)
    assert inst.id == "mood_check_2"
    assert inst.link_ids == ("m1", "m2", "note")
    assert inst.licence == "Example, free to use"
    assert inst.score_range == (0, 4)
    score = score_response(inst, {"m1": "b", "m2": "a", "note": "fine"})
    assert score.total == 2.0


def test_a_questionnaire_without_answer_scores_is_refused_with_the_item_named() -> None:
    q = _foreign_questionnaire()
    del q["item"][1]["item"][0]["answerOption"][1]["extension"]
    with pytest.raises(InstrumentError, match=r"item m1: answerOption\[1\] has no ordinalValue"):
        questionnaire_to_instrument(q)


def test_an_invalid_questionnaire_is_refused() -> None:
    with pytest.raises(InstrumentError, match="Questionnaire"):
        questionnaire_to_instrument({"resourceType": "Questionnaire", "id": "bad_id!"})


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_a_phq9_response_becomes_a_bundle_with_a_loinc_total() -> None:
    phq9 = load_instrument("phq9")
    answers = {f"phq9_{i}": v for i, v in enumerate([1, 2, 3, 0, 1, 2, 1, 0, 0], start=1)}
    score = score_response(phq9, answers)
    bundle = response_to_fhir(phq9, answers, score, "Patient/p1", WHEN)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    [response] = _resources(bundle, "QuestionnaireResponse")
    assert response["status"] == "completed"
    assert response["subject"] == {"reference": "Patient/p1"}
    assert [i["linkId"] for i in response["item"]] == list(answers)
    assert response["item"][2]["answer"] == [  # LOINC's answer code for "3"
        {
            "valueCoding": {
                "system": "http://loinc.org",
                "code": "LA6571-9",
                "display": "Nearly every day",
            }
        }
    ]
    [total] = _resources(bundle, "Observation")
    assert total["code"]["coding"][0]["system"] == "http://loinc.org"
    assert total["code"]["coding"][0]["code"] == "44261-6"
    assert total["valueQuantity"]["value"] == score.total
    assert total["interpretation"] == [{"text": "moderate"}]
    assert total["derivedFrom"] == [{"reference": bundle["entry"][0]["fullUrl"]}]


def test_gad7_uses_its_loinc_code_and_subscales_get_local_codes() -> None:
    gad7 = load_instrument("gad7")
    answers = {f"gad7_{i}": 1 for i in range(1, 8)}
    bundle = response_to_fhir(gad7, answers, score_response(gad7, answers), "Patient/p", WHEN)
    [total] = _resources(bundle, "Observation")
    assert total["code"]["coding"][0]["code"] == "70274-6"

    wai = load_instrument("wai_sr")
    answers = {f"wai_{i}": 4 for i in range(1, 13)}
    bundle = response_to_fhir(wai, answers, score_response(wai, answers), "Patient/p", WHEN)
    codes = {o["code"]["coding"][0]["code"]: o for o in _resources(bundle, "Observation")}
    assert set(codes) == {"wai_sr.total", "wai_sr.goal", "wai_sr.task", "wai_sr.bond"}
    assert {o["code"]["coding"][0]["system"] for o in codes.values()} == {ALLIANCE_SCORE_SYSTEM}
    assert codes["wai_sr.bond"]["valueQuantity"]["value"] == 4


def test_an_invalid_score_has_no_total_observation_and_text_answers_are_kept() -> None:
    form = load_instrument("session_feedback")
    answers: dict[str, object] = {"sf_heard": 9, "sf_comment": "Thanks", "sf_fit": "yes"}
    score = score_response(form, answers)
    assert not score.valid
    bundle = response_to_fhir(form, answers, score, "Patient/p", WHEN)
    observations = _resources(bundle, "Observation")
    assert [o["code"]["coding"][0]["code"] for o in observations] == ["session_feedback.fit"]
    [response] = _resources(bundle, "QuestionnaireResponse")
    assert {
        "linkId": "sf_comment",
        "text": form.item("sf_comment").text,
        "answer": [{"valueString": "Thanks"}],
    } in response["item"]


def test_the_same_response_gives_the_same_bundle_and_times_keep_their_zone() -> None:
    phq9 = load_instrument("phq9")
    answers = {f"phq9_{i}": 1 for i in range(1, 10)}
    score = score_response(phq9, answers)
    local = WHEN.astimezone(timezone(timedelta(hours=2)))
    first = response_to_fhir(phq9, answers, score, "Patient/p", local)
    assert first == response_to_fhir(phq9, answers, score, "Patient/p", local)
    assert _resources(first, "QuestionnaireResponse")[0]["authored"].endswith("+02:00")
    with pytest.raises(ValueError, match="timezone"):
        response_to_fhir(phq9, answers, score, "Patient/p", datetime(2026, 3, 2))


def test_a_response_told_in_relative_time_holds_no_date() -> None:
    phq9 = load_instrument("phq9")
    answers = {f"phq9_{i}": 1 for i in range(1, 10)}
    score = score_response(phq9, answers)
    timing = RelativeTime(response_key="r1", episode="e1", days_since_start=14, session_number=3)
    bundle = response_to_fhir(phq9, answers, score, "Patient/p", timing)
    Bundle.model_validate(bundle)
    resources = [e["resource"] for e in bundle["entry"]]
    assert [r["resourceType"] for r in resources] == ["QuestionnaireResponse", "Observation"]
    for resource in resources:
        assert "authored" not in resource
        assert "effectiveDateTime" not in resource
        assert {x["url"]: x for x in resource["extension"]} == {
            "urn:alliance:fhir:episode": {
                "url": "urn:alliance:fhir:episode",
                "valueIdentifier": {"system": "urn:alliance:fhir:episode", "value": "e1"},
            },
            "urn:alliance:fhir:days-since-episode-start": {
                "url": "urn:alliance:fhir:days-since-episode-start",
                "valueDecimal": 14,
            },
            "urn:alliance:fhir:session-number": {
                "url": "urn:alliance:fhir:session-number",
                "valueInteger": 3,
            },
        }
    # The entry ids come from the response key, not from a time.
    other = RelativeTime(response_key="r2", episode="e1", days_since_start=14, session_number=3)
    again = response_to_fhir(phq9, answers, score, "Patient/p", other)
    assert bundle["entry"][0]["fullUrl"] != again["entry"][0]["fullUrl"]
    assert bundle == response_to_fhir(phq9, answers, score, "Patient/p", timing)


def test_answers_that_do_not_fit_the_item_are_refused() -> None:
    phq9 = load_instrument("phq9")
    answers = {f"phq9_{i}": 1 for i in range(1, 10)}
    score = score_response(phq9, answers)
    with pytest.raises(ScoringError, match="item phq9_2"):
        response_to_fhir(phq9, {**answers, "phq9_2": 9}, score, "Patient/p", WHEN)


def test_a_response_names_the_questionnaire_version_it_answered() -> None:
    phq9 = load_instrument("phq9")
    answers = {f"phq9_{i}": 2 for i in range(1, 10)}
    bundle = response_to_fhir(phq9, answers, score_response(phq9, answers), "Patient/p", WHEN)
    [response] = _resources(bundle, "QuestionnaireResponse")
    assert response["questionnaire"] == f"urn:alliance:questionnaire:phq9|{phq9.version}"
    assert r4_problems(bundle) == []
    later = RelativeTime(response_key="r", episode="e", days_since_start=3, session_number=1)
    told_later = response_to_fhir(phq9, answers, score_response(phq9, answers), "Patient/p", later)
    assert r4_problems(told_later) == []


def test_a_patient_is_the_client_or_only_a_labelled_pseudonym() -> None:
    full = patient_to_fhir("17", pseudonymous=False, name="Sarah")
    Patient.model_validate(full)
    assert r4_problems(full) == []
    assert full["identifier"] == [{"system": "urn:alliance:client", "value": "17"}]
    assert full["name"] == [{"text": "Sarah"}]
    pseudo = patient_to_fhir("c0123456789abcdef", pseudonymous=True)
    assert r4_problems(pseudo) == []
    assert set(pseudo) == {"resourceType", "id", "identifier", "meta"}
    assert pseudo["meta"]["security"][0]["code"] == "PSEUDED"
    assert pseudo["identifier"][0]["system"] == "urn:alliance:client-pseudonym"
    with pytest.raises(ValueError, match="no name"):
        patient_to_fhir("c1", pseudonymous=True, name="Sarah")
    assert patient_reference("17") == patient_reference("17") != patient_reference("18")
    assert patient_reference("17").startswith("urn:uuid:")


def _two_clients_bundle() -> dict[str, Any]:
    phq9, gad7 = load_instrument("phq9"), load_instrument("gad7")
    patients = [patient_to_fhir(p, pseudonymous=False, name=p.upper()) for p in ("1", "2")]
    parts = []
    for patient, inst in (("1", phq9), ("2", gad7), ("2", phq9)):
        answers = {item.link_id: 1 for item in inst.items if item.type == "choice"}
        score = score_response(inst, answers)
        parts.append(response_to_fhir(inst, answers, score, patient_reference(patient), WHEN))
    return collection_bundle(patients, [phq9, gad7, phq9], parts)


def test_the_export_bundle_holds_every_patient_questionnaire_and_definition_it_points_to() -> None:
    bundle = _two_clients_bundle()
    Bundle.model_validate(bundle)
    assert r4_problems(bundle) == []
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 2
    assert kinds.count("Questionnaire") == 2  # each instrument once
    assert kinds.count("QuestionnaireResponse") == 3
    assert "StructureDefinition" in kinds
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(full_urls) == len(set(full_urls))
    assert unresolved(bundle) == []


def test_a_bundle_that_points_outside_itself_is_found_and_refused() -> None:
    bundle = _two_clients_bundle()
    [first, *_] = _resources(bundle, "QuestionnaireResponse")
    first["subject"] = {"reference": "Patient/elsewhere"}
    first["questionnaire"] = "urn:alliance:questionnaire:phq9|0.9"
    assert unresolved(bundle) == ["Patient/elsewhere", "urn:alliance:questionnaire:phq9|0.9"]
    phq9 = load_instrument("phq9")
    answers = {f"phq9_{i}": 0 for i in range(1, 10)}
    stray = response_to_fhir(phq9, answers, score_response(phq9, answers), "Patient/x", WHEN)
    with pytest.raises(ValueError, match="does not hold what it points to"):
        collection_bundle([], [phq9], [stray])
