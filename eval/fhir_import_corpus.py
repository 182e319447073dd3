"""How many real FHIR Questionnaires nobody here wrote Alliance can import.

Walks a directory (default /work/fetched/questionnaires, e.g. files taken from the
LHC-Forms test data, the HL7 SDC IG sources, Google's Android FHIR SDK and CSIRO's Smart
Forms), reads every ``*.json`` whose ``resourceType`` is Questionnaire with
:func:`alliance.measures.fhir_import.import_questionnaire`, and prints per file whether it was
imported (items, scored items, skipped items, warnings, a bundled instrument it matches) or
refused (the reason). Files that are not Questionnaires are not counted. Many public
Questionnaires are data-entry forms (demographics, vital signs) with nothing to score, which
Alliance refuses with that reason; so the script also counts the Questionnaires that carry
answer scores (an ordinalValue/itemWeight-style extension anywhere in the file). Last line:
``fhir import: N of M questionnaires imported``. Run:

    .venv/bin/python eval/fhir_import_corpus.py [DIR]
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

from alliance.measures.fhir_import import SCORE_EXTENSION_URLS, import_questionnaire
from alliance.measures.registry import InstrumentError, bundled_ids, load_instrument

DEFAULT = Path("/work/fetched/questionnaires")


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT
    if not folder.is_dir():
        print(f"no questionnaires at {folder}: nothing to import (give a directory)")
        return 0
    bundled = {i: load_instrument(i) for i in bundled_ids()}
    imported = total = scored = scored_imported = 0
    reasons: Counter[str] = Counter()
    for path in sorted(folder.rglob("*.json")):
        name = path.relative_to(folder)
        try:
            resource = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            print(f"unreadable {name}: {exc}")
            continue
        if not isinstance(resource, dict) or resource.get("resourceType") != "Questionnaire":
            continue
        total += 1
        text = json.dumps(resource)
        with_scores = any(url in text for url in SCORE_EXTENSION_URLS) or "itemWeight" in text
        scored += with_scores
        try:
            report = import_questionnaire(resource, bundled=bundled)
        except InstrumentError as exc:
            problems = getattr(exc, "problems", ())
            for problem in problems:
                # One kind per message: without positions, quoted codes and parentheses.
                kind = re.sub(r"\[\d+\]", "[]", problem.message.split(" (")[0])
                reasons[re.sub(r"'[^']*'", "'…'", kind)[:70]] += 1
            print(f"refused  {name}{' (has answer scores)' if with_scores else ''}: {exc}")
            continue
        imported += 1
        scored_imported += with_scores
        inst = report.instrument
        in_total = len(inst.total_items)
        match = ""
        if report.bundled is not None:
            found = report.bundled
            same = "same totals" if found.same_totals else "totals differ"
            match = f"; LOINC {found.code} = bundled {found.instrument_id}, {same}"
        print(
            f"imported {name} -> {inst.id}: {len(inst.items)} items, {in_total} in the total, "
            f"{len(report.skipped)} skipped, {len(report.warnings)} warnings, "
            f"FHIR {report.fhir_version or 'invalid'}{match}"
        )
    if reasons:
        print("refusal reasons (problems, by kind):")
        for reason, count in reasons.most_common():
            print(f"  {count:4d}  {reason}")
    print(f"with answer scores: {scored_imported} of {scored} imported")
    print(f"fhir import: {imported} of {total} questionnaires imported")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
