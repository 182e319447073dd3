"""The MITI heads' data: the evaluation set is the frozen one, and training never sees it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml

from alliance.analysis.labels import MITI_CODES

ROOT = Path(__file__).resolve().parents[2]
EVAL_SET = ROOT / "eval" / "data" / "miti_eval.yaml"
TRAINING = ROOT / "training" / "miti_examples.yaml"


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def test_the_evaluation_set_is_the_frozen_one() -> None:
    expected = (ROOT / "eval" / "data" / "miti_eval.sha256").read_text().split()[0]
    assert hashlib.sha256(EVAL_SET.read_bytes()).hexdigest() == expected


def test_every_code_in_both_files_is_a_known_miti_code() -> None:
    items = yaml.safe_load(EVAL_SET.read_text(encoding="utf-8"))["items"]
    assert {c for i in items for c in i["codes"]} <= set(MITI_CODES)
    training = yaml.safe_load(TRAINING.read_text(encoding="utf-8"))
    assert set(training["codes"]) == {*MITI_CODES, "none"}
    for pair in training["compatible"]:
        assert set(pair) <= set(MITI_CODES)


def test_no_evaluation_sentence_is_in_the_training_sentences() -> None:
    items = yaml.safe_load(EVAL_SET.read_text(encoding="utf-8"))["items"]
    training = yaml.safe_load(TRAINING.read_text(encoding="utf-8"))["codes"]
    train = {_norm(str(s)) for sentences in training.values() for s in sentences}
    assert not {_norm(i["text"]) for i in items} & train
