"""The published JSON schema matches the pydantic models, and outputs validate against it."""

from __future__ import annotations

import json
from pathlib import Path

from alliance.analysis.schema import SCHEMA_VERSION, analysis_json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "analysis-schema.json"


def test_docs_schema_file_is_the_exported_schema() -> None:
    # Regenerate with: alliance analyze-schema -o docs/analysis-schema.json
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == analysis_json_schema()


def test_the_schema_names_its_version_and_requires_utterances_and_summary() -> None:
    schema = analysis_json_schema()
    assert SCHEMA_VERSION in schema["$id"]
    assert {"schema_version", "utterances", "summary"} <= set(schema["required"])
    indicator = schema["$defs"]["Indicator"]["properties"]
    assert "evidence" in indicator


def test_a_stored_1_0_result_without_the_miti_fields_still_reads() -> None:
    # Schema 1.1 only added optional fields (MITI codes), so 1.0 results stay readable.
    from alliance.analysis.pipeline import analyze_transcript
    from alliance.analysis.schema import AnalysisResult
    from alliance.transcripts import parse_transcript

    result = analyze_transcript(
        parse_transcript(b"Therapist: Hi.\nClient: Hello.\n", filename="t.txt"), coder=None
    )
    data = json.loads(result.model_dump_json())
    assert data["schema_version"] == SCHEMA_VERSION == "1.1"
    data["schema_version"] = "1.0"
    del data["models"]["miti"]
    del data["summary"]["miti"]["codes"]
    for u in data["utterances"]:
        del u["codes"]["miti"]
    old = AnalysisResult.model_validate(data)
    assert old.summary.miti.codes is None
    assert all(u.codes.miti is None for u in old.utterances)
    assert old.models.miti is False
