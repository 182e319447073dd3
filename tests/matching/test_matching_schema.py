"""The documented JSON schema and the bundled example stay in step with the code."""

from __future__ import annotations

import json
from pathlib import Path

from alliance.matching import MatchingInput, check_references, matching_input_schema
from alliance.matching.assign import run_matching

ROOT = Path(__file__).resolve().parents[2]


def test_docs_schema_file_matches_the_models() -> None:
    documented = json.loads((ROOT / "docs" / "matching-schema.json").read_text("utf-8"))
    assert documented == matching_input_schema(), (
        "docs/matching-schema.json is stale: regenerate it with "
        "python -c 'import json; from alliance.matching import matching_input_schema; "
        "print(json.dumps(matching_input_schema(), indent=2, ensure_ascii=False))'"
    )


def test_schema_lists_the_vocabulary() -> None:
    schema = json.dumps(matching_input_schema())
    assert '"person_centred"' in schema
    assert '"substance_use"' in schema


def test_the_example_clinic_is_valid_and_realistic() -> None:
    raw = json.loads((ROOT / "examples" / "matching" / "clinic.json").read_text("utf-8"))
    data = MatchingInput.model_validate(raw)
    check_references(data)
    assert len(data.therapists) >= 10
    assert len(data.intakes) >= 20
    result = run_matching(data)
    placed = {p.client_id for p in result.placements}
    waiting = {u.client_id for u in result.unassigned}
    assert placed | waiting == {c.id for c in data.intakes}
    assert len(placed) > len(waiting)
    assert result.strengths.improvement_model is not None
