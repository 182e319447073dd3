"""eval/evaluate_markers.py's rupture parts on made-up inputs: AUC, per-label scores, session
rates for rules / classifier / union, and the frozen-set guard."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from alliance.analysis.markers import MarkerHit, MarkerInput
from alliance.transcripts import parse_transcript
from eval_scripts import load_script


@pytest.fixture(scope="module")
def em() -> ModuleType:
    return load_script("evaluate_markers")


def test_auc_counts_ties_half_and_needs_both_classes(em) -> None:
    y = np.array([1, 1, 0, 0])
    assert em.auc(y, np.array([3.0, 2.0, 1.0, 0.0])) == 1.0
    assert em.auc(y, np.array([0.0, 1.0, 2.0, 3.0])) == 0.0
    assert em.auc(y, np.array([1.0, 1.0, 1.0, 1.0])) == 0.5
    assert np.isnan(em.auc(np.array([1, 1]), np.array([1.0, 2.0])))


def test_precision_recall_f1_of_one_label(em) -> None:
    gold = [{"a"}, {"a"}, set(), set()]
    pred = [{"a"}, set(), {"a"}, set()]
    n, precision, recall, f1 = em._prf(gold, pred, "a")
    assert (n, precision, recall, f1) == (2, 0.5, 0.5, 0.5)


class _OneHit:
    """A stand-in model: flags every client turn that says 'paying'."""

    def detect(self, items: list[MarkerInput]) -> list[list[MarkerHit]]:
        return [
            [MarkerHit("confrontation_parameters", "model:x", 0.9, "p", source="model")]
            if item.role == "client" and "paying" in item.text
            else []
            for item in items
        ]


def test_session_rates_count_turns_per_method_and_the_union_once(em) -> None:
    text = (
        "Therapist: How was the week?\nClient: This isn't working and I'm paying for it.\n"
        "Therapist: Say more.\nClient: I'm paying a lot.\nTherapist: Okay.\nClient: Fine then.\n"
    )
    transcript = parse_transcript(text, filename="s.txt")
    ((quality, clients, counts),) = em.session_rates([("s", "low", transcript)], _OneHit())["all"]
    assert (quality, clients) == ("low", 3)
    assert counts["rules"]["confrontation"] == 1
    assert counts["classifier"]["confrontation"] == 2
    # The first client turn has a rule hit and a model hit: one confrontation turn.
    assert counts["union"]["confrontation"] == 2
    assert counts["union"]["any"] == 2


def test_an_edited_frozen_set_is_refused(em, tmp_path: Path, monkeypatch) -> None:
    copy = tmp_path / "eval.jsonl"
    copy.write_bytes(em.RUPTURE_SET.read_bytes() + b"\n")
    monkeypatch.setattr(em, "RUPTURE_SET", copy)
    with pytest.raises(SystemExit, match="it is frozen"):
        em.rupture_set(None, show_errors=False)
