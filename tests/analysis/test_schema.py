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
