"""The hand-written marker evaluation set is well formed, big enough, and its splits disjoint."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from alliance.analysis.markers import MARKERS, RULES

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "markers"


def rows(split: str) -> list[dict[str, object]]:
    lines = (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_the_set_has_at_least_200_utterances_with_context_and_known_labels() -> None:
    everything = rows("dev") + rows("test")
    assert len(everything) >= 200
    for row in everything:
        assert row["role"] in ("therapist", "client")
        context = row["context"]
        assert isinstance(context, list)
        assert context
        assert str(row["text"]).strip()
        assert set(row["markers"]) <= set(MARKERS)  # type: ignore[arg-type]


def test_every_marker_has_positives_in_both_splits_and_there_are_hard_negatives() -> None:
    for split in ("dev", "test"):
        data = rows(split)
        counts = Counter(m for row in data for m in row["markers"])  # type: ignore[attr-defined]
        assert set(counts) == set(MARKERS), split
        assert sum(1 for row in data if not row["markers"]) >= 25


def key(row: dict[str, object]) -> str:
    return json.dumps([row["context"], row["text"]]).casefold()


def test_dev_and_test_share_no_exchange() -> None:
    # A bare "Yes." may recur, but never with the same turn before it.
    assert not {key(r) for r in rows("dev")} & {key(r) for r in rows("test")}


def test_every_rule_is_documented() -> None:
    doc = (ROOT / "docs" / "analysis.md").read_text(encoding="utf-8")
    for rule in RULES:
        assert f"`{rule.name}`" in doc
