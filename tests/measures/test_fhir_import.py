"""Importing FHIR Questionnaires written elsewhere (alliance.measures.fhir_import).

Every Questionnaire here is small and written for the test, each showing one thing real files
do: UUID and path-like linkIds, nested groups, display and calculated items, unscored
questions, contained ValueSets, the different score extensions, R5's ``coding`` type,
invalid parts that are not read. The PHQ-9 and GAD-7 ones carry the LOINC codes of the
bundled instruments, and their totals are compared with the bundled ones' on every complete
answer set.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alliance.measures.fhir import instrument_to_questionnaire
from alliance.measures.fhir_import import (
    ImportReport,
    QuestionnaireImportError,
    compare_with_bundled,
    import_questionnaire,
    questionnaire_to_instrument,
)
from alliance.measures.registry import dump_instrument, load_instrument, parse_instrument
from alliance.measures.scoring import ScoringError, score_frame, score_response

ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
CALCULATED = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"
LOINC = "http://loinc.org"
FREQUENCY = [
    ("LA6568-5", "Not at all", 0),
    ("LA6569-3", "Several days", 1),
    ("LA6570-1", "More than half the days", 2),
    ("LA6571-9", "Nearly every day", 3),
]
PHQ9_ITEMS = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
GAD7_ITEMS = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]


def _weight(url: str, value: float) -> dict[str, Any]:
    return {"url": url, "valueDecimal": value}


def _option(code: str, label: str, score: float | None, url: str = ORDINAL) -> dict[str, Any]:
    option: dict[str, Any] = {"valueCoding": {"system": LOINC, "code": code, "display": label}}
    if score is not None:
        option["extension"] = [_weight(url, score)]
    return option


def _q(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Questionnaire", "status": "active", "item": list(items), **extra}


def _choice(link_id: str, scores: list[float | None], **extra: Any) -> dict[str, Any]:
    options = [_option(f"a{i}", f"answer {i}", s) for i, s in enumerate(scores)]
    return {"linkId": link_id, "type": "choice", "text": link_id, "answerOption": options, **extra}


def _import(q: dict[str, Any], **kwargs: Any) -> ImportReport:
    return import_questionnaire(q, **kwargs)


# -- linkIds ---------------------------------------------------------------------------------


def test_any_link_id_is_mapped_to_a_safe_id_and_the_original_is_kept() -> None:
    uuid = "3f2b8a1e-0c4d-4e5f-9a6b-7c8d9e0f1a2b"
    q = _q(
        _choice(uuid, [0, 1]),
        _choice("H1/T1/Q1", [0, 2]),
        _choice("/44250-9", [0, 3]),
        _choice("H1_T1_Q1", [0, 1]),  # already safe, and what H1/T1/Q1 would become
    )
    report = _import(q)
    inst = report.instrument
    assert inst.link_ids == (f"q_{uuid}", "H1_T1_Q1_2", "q_44250-9", "H1_T1_Q1")
    assert [i.fhir_link_id for i in inst.items] == [uuid, "H1/T1/Q1", "/44250-9", None]
    assert any("H1/T1/Q1 → H1_T1_Q1_2" in line for line in report.understood)
    # The original travels out again and back (an Alliance export restores it exactly).
    back = questionnaire_to_instrument(instrument_to_questionnaire(inst))
    assert back == inst
    # And the instrument file keeps it.
    assert parse_instrument(dump_instrument(inst), "x.yaml") == inst


def test_a_very_long_link_id_is_cut_to_64_characters() -> None:
    report = _import(_q(_choice("9" * 100, [0, 1]), _choice("9" * 99 + "8", [0, 1])))
    ids = report.instrument.link_ids
    assert all(len(i) <= 64 for i in ids)
    assert len(set(ids)) == 2


# -- structure -------------------------------------------------------------------------------


def test_nested_groups_display_and_calculated_items() -> None:
    q = _q(
        {"linkId": "intro", "type": "display", "text": "Please answer"},
        {
            "linkId": "g1",
            "type": "group",
            "item": [
                {
                    "linkId": "g1.1",
                    "type": "group",
                    "item": [
                        _choice("deep", [0, 1], item=[_choice("under-question", [0, 2])]),
                    ],
                },
                _choice("shallow", [0, 3]),
            ],
        },
        {
            "linkId": "total",
            "type": "integer",
            "text": "Total",
            "readOnly": True,
            "extension": [
                {
                    "url": CALCULATED,
                    "valueExpression": {"language": "text/fhirpath", "expression": "1"},
                }
            ],
        },
        {"linkId": "when", "type": "date", "text": "Date"},
        {"linkId": "note", "type": "text", "text": "Anything else?"},
    )
    report = _import(q)
    assert report.instrument.link_ids == ("deep", "under-question", "shallow", "note")
    skipped = {n.where: n.message for n in report.skipped}
    assert set(skipped) == {"item intro", "item total", "item when"}
    assert "display" in skipped["item intro"]
    assert "calculated" in skipped["item total"]
    assert "type date" in skipped["item when"]
    assert any(n.where == "item deep" and "nested" in n.message for n in report.warnings)
    assert report.instrument.score_range == (0, 6)


def test_an_unscored_choice_item_is_kept_unscored_and_its_answers_still_checked() -> None:
    q = _q(_choice("mood", [0, 1, 2]), _choice("difficulty", [None, None]))
    inst = _import(q).instrument
    difficulty = inst.item("difficulty")
    assert difficulty.type == "choice"
    assert not difficulty.scored
    assert [o.score for o in difficulty.options] == [None, None]
    assert inst.total_items == (inst.item("mood"),)
    assert score_response(inst, {"mood": "a2", "difficulty": "a1"}).total == 2
    with pytest.raises(ScoringError, match="difficulty"):
        score_response(inst, {"mood": "a2", "difficulty": "a7"})
    assert parse_instrument(dump_instrument(inst), "x.yaml") == inst
    # Exported, its answers carry no ordinalValue, and it reads back unscored.
    exported = instrument_to_questionnaire(inst)
    urls = [e["url"] for o in exported["item"][1]["answerOption"] for e in o.get("extension", [])]
    assert ORDINAL not in urls
    assert questionnaire_to_instrument(exported) == inst


def test_boolean_items_stay_out_of_the_total_and_integer_items_form_it_without_scores() -> None:
    yes_no = {"linkId": "smoker", "type": "boolean", "text": "Do you smoke?"}
    bounds = [
        {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": 0},
        {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": 10},
    ]
    rating = {"linkId": "pain", "type": "integer", "text": "Pain 0-10", "extension": bounds}
    scored = _import(_q(_choice("mood", [0, 1]), yes_no, rating)).instrument
    assert [i.link_id for i in scored.total_items] == ["mood"]
    only_rating = _import(_q(yes_no, rating)).instrument
    assert [i.link_id for i in only_rating.total_items] == ["pain"]
    with pytest.raises(QuestionnaireImportError, match="nothing to score"):
        _import(_q(yes_no, {"linkId": "n", "type": "string", "text": "Name"}))


# -- answers and their scores ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        ORDINAL,
        ITEM_WEIGHT,
        "http://hl7.org/fhir/StructureDefinition/questionnaire-ordinalValue",
        "http://hl7.org/fhir/StructureDefinition/iso21090-CO-value",
        "http://fhir.org/guides/argonaut-questionnaire/StructureDefinition/extension-score",
    ],
)
def test_scores_come_from_every_score_extension_on_the_option_or_its_coding(url: str) -> None:
    on_option = [_option("x", "X", 0, url), _option("y", "Y", 4, url)]
    on_coding = [
        {"valueCoding": {"code": "x", "display": "X", "extension": [_weight(url, 1)]}},
        {"valueCoding": {"code": "y", "display": "Y", "extension": [_weight(url, 2)]}},
    ]
    q = _q(
        {"linkId": "a", "type": "choice", "text": "A", "answerOption": on_option},
        {"linkId": "b", "type": "choice", "text": "B", "answerOption": on_coding},
    )
    inst = _import(q).instrument
    assert [o.score for o in inst.item("a").options] == [0, 4]
    assert [o.score for o in inst.item("b").options] == [1, 2]
    assert inst.item("a").options[1].coding is not None


def test_integer_string_and_date_options_and_r5_coding_items() -> None:
    q = _q(
        {
            "linkId": "count",
            "type": "integer",
            "text": "How many",
            "answerOption": [
                {"valueInteger": 1, "extension": [_weight(ORDINAL, 0)]},
                {"valueInteger": 5, "extension": [_weight(ORDINAL, 1)]},
            ],
        },
        {
            "linkId": "word",
            "type": "choice",
            "text": "Which",
            "answerOption": [
                {"valueString": "never", "extension": [_weight(ITEM_WEIGHT, 0)]},
                {"valueString": "often", "extension": [_weight(ITEM_WEIGHT, 2)]},
            ],
        },
        {
            "linkId": "r5",
            "type": "coding",
            "text": "R5 coding item",
            "answerConstraint": "optionsOnly",
            "answerOption": [_option("p", "P", 0, ITEM_WEIGHT), _option("q", "Q", 1, ITEM_WEIGHT)],
        },
    )
    q["item"].append(
        {
            "linkId": "when",
            "type": "date",
            "text": "Which visit",
            "answerOption": [
                {"valueDate": "2024-01-01", "extension": [_weight(ORDINAL, 0)]},
                {"valueDate": "2024-06-01", "extension": [_weight(ORDINAL, 1)]},
            ],
        }
    )
    inst = _import(q).instrument
    assert [o.code for o in inst.item("when").options] == ["2024-01-01", "2024-06-01"]
    assert [(o.code, o.label, o.score) for o in inst.item("count").options] == [
        ("1", "1", 0),
        ("5", "5", 1),
    ]
    assert [o.code for o in inst.item("word").options] == ["never", "often"]
    assert inst.item("r5").type == "choice"
    answers = {"count": "5", "word": "often", "r5": "q", "when": "2024-06-01"}
    assert score_response(inst, answers).total == 5


def _value_sets() -> list[dict[str, Any]]:
    expanded = {
        "resourceType": "ValueSet",
        "id": "freq",
        "url": "http://example.org/ValueSet/freq",
        "status": "active",
        "expansion": {
            "timestamp": "2024-01-01T00:00:00Z",
            "contains": [
                {"system": LOINC, "code": c, "display": d, "extension": [_weight(ORDINAL, s)]}
                for c, d, s in FREQUENCY
            ],
        },
    }
    composed = {
        "resourceType": "ValueSet",
        "id": "agree",
        "status": "active",
        "compose": {
            "include": [
                {
                    "system": "http://example.org/agree",
                    "concept": [
                        {"code": "no", "display": "No", "extension": [_weight(ITEM_WEIGHT, 0)]},
                        {"code": "yes", "display": "Yes", "extension": [_weight(ITEM_WEIGHT, 5)]},
                    ],
                }
            ]
        },
    }
    # R5: the weight as an expansion property, named through expansion.property.
    r5 = {
        "resourceType": "ValueSet",
        "id": "r5",
        "status": "active",
        "expansion": {
            "timestamp": "2024-01-01T00:00:00Z",
            "property": [{"code": "w", "uri": "http://hl7.org/fhir/concept-properties#itemWeight"}],
            "contains": [
                {"system": "urn:x", "code": "lo", "property": [{"code": "w", "valueDecimal": 1}]},
                {"system": "urn:x", "code": "hi", "property": [{"code": "w", "valueDecimal": 7}]},
            ],
        },
    }
    unscored = {
        "resourceType": "ValueSet",
        "id": "plain",
        "status": "active",
        "compose": {"include": [{"system": "urn:y", "concept": [{"code": "a"}, {"code": "b"}]}]},
    }
    return [expanded, composed, r5, unscored]


def test_contained_answer_value_sets_by_id_or_url_expansion_or_compose() -> None:
    q = _q(
        {"linkId": "f", "type": "choice", "text": "F", "answerValueSet": "#freq"},
        {
            "linkId": "f2",
            "type": "choice",
            "text": "F2",
            "answerValueSet": "http://example.org/ValueSet/freq",
        },
        {"linkId": "a", "type": "choice", "text": "A", "answerValueSet": "#agree"},
        {"linkId": "r", "type": "coding", "text": "R", "answerValueSet": "#r5"},
        {"linkId": "p", "type": "choice", "text": "P", "answerValueSet": "#plain"},
        {
            "linkId": "ext",
            "type": "choice",
            "text": "Elsewhere",
            "answerValueSet": "http://loinc.org/vs/LL358-3",
        },
        contained=_value_sets(),
    )
    report = _import(q)
    inst = report.instrument
    assert [o.code for o in inst.item("f").options] == [c for c, _, _ in FREQUENCY]
    assert [o.score for o in inst.item("f2").options] == [0, 1, 2, 3]
    assert [(o.code, o.label, o.score) for o in inst.item("a").options] == [
        ("no", "No", 0),
        ("yes", "Yes", 5),
    ]
    assert [o.score for o in inst.item("r").options] == [1, 7]
    assert not inst.item("p").scored
    assert "ext" not in inst.link_ids
    [skip] = [n for n in report.skipped if n.where == "item ext"]
    assert "not in the file" in skip.message
    assert inst.score_range == (0 + 0 + 0 + 1, 3 + 3 + 5 + 7)


# -- what is validated and what is only warned about -----------------------------------------


def test_an_invalid_narrative_and_a_bad_variable_name_are_warnings_not_refusals() -> None:
    q = _q(
        _choice("mood", [0, 1]),
        text={"status": "generated", "div": "<p>not a div"},
        extension=[
            {
                "url": "http://hl7.org/fhir/StructureDefinition/variable",
                "valueExpression": {
                    "name": "bad name!",
                    "language": "text/fhirpath",
                    "expression": "1",
                },
            }
        ],
    )
    report = _import(q)
    assert report.instrument.link_ids == ("mood",)
    assert any(n.where == "text.div" for n in report.warnings)
    fhir_warnings = " ".join(n.message for n in report.warnings if n.where == "FHIR")
    assert "extension[0].valueExpression.name" in fhir_warnings
    # A proper narrative draws no warning.
    q["text"] = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Hi</div>'}
    assert not any(n.where == "text.div" for n in _import(q).warnings)


def test_errors_name_every_problem_with_its_link_id() -> None:
    q = _q(
        _choice("part1", [0, None, 2]),
        {"linkId": "g", "type": "group", "item": [_choice("part2", [None, 1])]},
        _choice("dup", [0, 1]),
        _choice("dup", [0, 1]),
        {
            "linkId": "text-score",
            "type": "choice",
            "text": "T",
            "answerOption": [
                {"valueString": "x", "extension": [{"url": ORDINAL, "valueString": "one"}]}
            ],
        },
        {"type": "choice", "text": "no id", "answerOption": [{"valueString": "x"}]},
    )
    with pytest.raises(QuestionnaireImportError) as caught:
        _import(q)
    problems = {str(p) for p in caught.value.problems}
    message = str(caught.value)
    assert "\n" not in message
    assert "item part1: answerOption[1] has no ordinalValue" in message
    assert "item part2: answerOption[0] has no ordinalValue" in message
    assert any(p.startswith("item text-score: answerOption[0]") for p in problems)
    assert any(p.startswith("item[5]: a question without a linkId") for p in problems)
    assert len(caught.value.problems) == 4
    # The duplicate is found once the others are fixed (it needs the items read first).
    fixed = copy.deepcopy(q)
    fixed["item"] = [_choice("dup", [0, 1]), _choice("dup", [0, 1])]
    with pytest.raises(QuestionnaireImportError, match="item dup: two questions share"):
        _import(fixed)


def test_a_value_set_scoring_some_answers_only_is_an_error_naming_the_concept() -> None:
    value_set = _value_sets()[1]
    del value_set["compose"]["include"][0]["concept"][1]["extension"]
    q = _q(
        {"linkId": "a", "type": "choice", "text": "A", "answerValueSet": "#agree"},
        contained=[value_set],
    )
    with pytest.raises(
        QuestionnaireImportError, match="item a: answerValueSet #agree concept yes has no"
    ):
        _import(q)


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ([1, 2], "not a FHIR resource"),
        ({"resourceType": "Patient"}, "not a FHIR Questionnaire .resourceType 'Patient'."),
        ({"resourceType": "Questionnaire", "status": "active"}, "has no items"),
    ],
)
def test_what_is_not_a_questionnaire_is_refused_in_one_line(resource: Any, message: str) -> None:
    with pytest.raises(QuestionnaireImportError, match=message):
        import_questionnaire(resource)


def test_keyword_arguments_say_what_fhir_does_not() -> None:
    inst = _import(
        _q(_choice("a", [1, 5]), _choice("b", [1, 5]), id="wellbeing-check"),
        method="mean",
        max_missing=1,
        direction="higher_is_better",
        kind="outcome",
    ).instrument
    assert inst.id == "wellbeing_check"
    assert (inst.scoring.method, inst.scoring.max_missing) == ("mean", 1)
    assert (inst.direction, inst.kind) == ("higher_is_better", "outcome")
    with pytest.raises(QuestionnaireImportError, match="bundled"):
        _import(_q(_choice("a", [0, 1])), instrument_id="phq9")


# -- questionnaires carrying a bundled instrument's LOINC code -------------------------------


def _phq9_questionnaire() -> dict[str, Any]:
    """A PHQ-9 as LHC-Forms writes it: linkIds like /44250-9, LOINC codes, a calculated
    total and the unscored "how difficult" question; scores on the options (ordinalValue)
    for items 1-5 and as itemWeight for items 6-9."""
    items = []
    for number, code in enumerate(PHQ9_ITEMS, start=1):
        url = ORDINAL if number <= 5 else ITEM_WEIGHT
        items.append(
            {
                "linkId": f"/{code}",
                "code": [{"system": LOINC, "code": code}],
                "text": f"PHQ-9 question {number}",
                "type": "choice",
                "required": True,
                "answerOption": [_option(c, d, s, url) for c, d, s in FREQUENCY],
            }
        )
    items.append(
        {
            "linkId": "/69722-7",
            "code": [{"system": LOINC, "code": "69722-7"}],
            "text": "How difficult have these problems made it for you?",
            "type": "choice",
            "answerOption": [_option(f"LA{n}", f"level {n}", None) for n in range(4)],
        }
    )
    items.append(
        {
            "linkId": "/44261-6",
            "code": [{"system": LOINC, "code": "44261-6"}],
            "text": "Total score",
            "type": "integer",
            "readOnly": True,
            "extension": [
                {
                    "url": CALCULATED,
                    "valueExpression": {"language": "text/fhirpath", "expression": "0"},
                }
            ],
        }
    )
    return _q(
        *items,
        name="PHQ-9 quick depression assessment panel",
        code=[{"system": LOINC, "code": "44249-1"}],
    )


def _gad7_questionnaire() -> dict[str, Any]:
    """A GAD-7 as the Argonaut/R5 samples write it: a LOINC-coded group, R5 ``coding``
    items and one contained ValueSet whose expansion carries the scores."""
    value_set = _value_sets()[0]
    questions = [
        {
            "linkId": f"g1.q{number}",
            "code": [{"system": LOINC, "code": code}],
            "text": f"GAD-7 question {number}",
            "type": "coding",
            "answerValueSet": "#freq",
        }
        for number, code in enumerate(GAD7_ITEMS, start=1)
    ]
    group = {
        "linkId": "g1",
        "type": "group",
        "code": [{"system": LOINC, "code": "69737-5"}],
        "item": [
            {"linkId": "g1.d", "type": "display", "text": "Over the last 2 weeks"},
            *questions,
        ],
    }
    return _q(group, id="gad-7", contained=[value_set])


def _every_complete_answer_set(n_items: int) -> np.ndarray:
    return np.array(list(itertools.product(range(4), repeat=n_items)), dtype=np.int64)


@pytest.mark.parametrize(
    ("build", "bundled_id", "loinc_items"),
    [(_phq9_questionnaire, "phq9", PHQ9_ITEMS), (_gad7_questionnaire, "gad7", GAD7_ITEMS)],
)
def test_a_bundled_instruments_loinc_code_is_recognised_and_totals_equal_on_every_answer_set(
    build: Any, bundled_id: str, loinc_items: list[str]
) -> None:
    report = _import(build())
    bundled = load_instrument(bundled_id)
    imported = report.instrument
    assert report.bundled is not None
    assert report.bundled.instrument_id == bundled_id
    assert report.bundled.same_totals, report.bundled.differences
    assert any(f"bundled instrument {bundled_id}" in line for line in report.understood)
    assert imported.id != bundled_id  # a user file may not take a bundled id
    # Kind, direction and scoring rule come from the bundled instrument.
    assert (imported.kind, imported.direction) == (bundled.kind, bundled.direction)
    assert imported.scoring.max_missing == bundled.scoring.max_missing

    # Every complete answer set (4^9 = 262,144 for PHQ-9, 4^7 for GAD-7), each answer given
    # as the LOINC answer code the Questionnaire uses and as the code the bundled one stores.
    grid = _every_complete_answer_set(len(loinc_items))
    by_code = {i.code.code: i for i in imported.items if i.code is not None}
    la_codes = np.array([c for c, _, _ in FREQUENCY], dtype=object)
    ours = pd.DataFrame(
        {item.link_id: grid[:, n] for n, item in enumerate(bundled.items)}, dtype=np.int64
    )
    theirs = pd.DataFrame(
        {by_code[code].link_id: la_codes[grid[:, n]] for n, code in enumerate(loinc_items)}
    )
    expected = score_frame(bundled, ours)["total"].to_numpy()
    got = score_frame(imported, theirs)["total"].to_numpy()
    assert len(got) == 4 ** len(loinc_items)
    np.testing.assert_array_equal(got, expected)


def test_a_questionnaire_scoring_one_answer_differently_is_told_it_differs() -> None:
    q = _phq9_questionnaire()
    q["item"][8]["answerOption"][3]["extension"] = [_weight(ITEM_WEIGHT, 4)]
    report = _import(q)
    assert report.bundled is not None
    assert not report.bundled.same_totals
    assert report.bundled.differences == (
        "item /44260-8 answer 'Nearly every day' scores 4, not 3",
    )
    assert any("not scored like bundled phq9" in n.message for n in report.warnings)
    # Comparing an instrument with itself finds nothing.
    phq9 = load_instrument("phq9")
    assert compare_with_bundled(phq9, phq9, "44249-1").same_totals


def test_an_alliance_export_of_a_bundled_instrument_reads_back_identical() -> None:
    for instrument_id in ("phq9", "wai_sr", "session_feedback", "client_goals"):
        inst = load_instrument(instrument_id)
        report = _import(instrument_to_questionnaire(inst))
        assert report.instrument == inst
        assert report.bundled is None  # its own definition, nothing to compare
