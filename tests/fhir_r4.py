"""The independent FHIR R4 check of the tests (importable from every test folder): the official
FHIR R4 JSON schema (``fhir.schema.json``, FHIR 4.0, published by HL7), read from the npm
package pinned in ``tests/validators/package.json`` and applied with ``jsonschema``, resource
by resource (each entry of a Bundle against its own resource type).

The package is installed by ``make dev`` (``npm ci`` in tests/validators); nothing is
downloaded at run time. Without it the checks skip with that advice on a developer's machine,
and fail in CI (``CI=true``), where it must be there.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft6Validator

SCHEMA = (
    Path(__file__).resolve().parent
    / "validators"
    / "node_modules"
    / "@asymmetrik"
    / "fhir-json-schema-validator"
    / "fhir.schema.json"
)


@cache
def _schema() -> dict[str, Any]:
    if not SCHEMA.is_file():
        message = f"{SCHEMA} is missing: run `make dev` (npm ci in tests/validators)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    schema: dict[str, Any] = json.loads(SCHEMA.read_text("utf-8"))
    assert schema["id"] == "http://hl7.org/fhir/json-schema/4.0"  # R4, not another release
    # The package ships the schema of R4's first publication (4.0.0); 4.0.1, R4's technical
    # correction and the version R4 tools declare, is missing from its list of versions.
    version = schema["definitions"]["StructureDefinition"]["properties"]["fhirVersion"]
    assert "4.0.0" in version["enum"]
    version["enum"].append("4.0.1")
    return schema


@cache
def _validator(resource_type: str) -> Draft6Validator:
    """The schema of one resource type (the file's own definition, with all the others it
    refers to), so that a problem is reported where it is rather than as "matches none of
    the 145 resource types"."""
    definitions = _schema()["definitions"]
    if resource_type not in definitions:
        pytest.fail(f"{resource_type!r} is not an R4 resource type")
    return Draft6Validator({"$ref": f"#/definitions/{resource_type}", "definitions": definitions})


def r4_problems(resource: dict[str, Any], where: str = "") -> list[str]:
    """Where and why ``resource`` (any resource; a Bundle with every resource it holds) breaks
    the R4 schema; empty when it is valid R4 JSON."""
    kind = str(resource.get("resourceType"))
    problems = []
    for error in _validator(kind).iter_errors(resource):
        path = [str(p) for p in error.absolute_path]
        if kind == "Bundle" and len(path) >= 3 and path[0] == "entry" and path[2] == "resource":
            continue  # checked below against the entry's own resource type
        problems.append(f"{where}{kind}/{'/'.join(path)}: {error.message[:200]}")
    if kind == "Bundle":
        for index, entry in enumerate(resource.get("entry", [])):
            if isinstance(entry.get("resource"), dict):
                problems += r4_problems(entry["resource"], f"{where}entry/{index}/")
    return problems
