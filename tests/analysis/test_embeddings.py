"""Sentence embeddings read from the shipped coder; its heads are unchanged by the edit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alliance.analysis import classifiers as clf
from alliance.analysis.embeddings import EMBEDDING_DIM, sentence_embeddings

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "embeddings" / "head_logits.json"


def test_the_heads_give_the_logits_recorded_before_the_pooled_output_was_added() -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    coder = clf.load_coder("accurate")
    assert isinstance(coder, clf.OnnxUtteranceCoder)
    probes = reference["probes"]
    feed = clf.pad_batch(
        clf.encode_pairs(
            coder._tokenizer, [p["context"] for p in probes], [p["text"] for p in probes]
        )
    )
    therapist, client = coder._session.run(["therapist_logits", "client_logits"], feed)
    # Recorded on the original file by training/expose_embeddings.py (which also checked
    # bit-for-bit equality there); the tolerance only allows for another CPU's kernels.
    np.testing.assert_allclose(therapist, reference["therapist_logits"], atol=1e-4)
    np.testing.assert_allclose(client, reference["client_logits"], atol=1e-4)


def test_embeddings_are_unit_rows_of_the_encoder_width() -> None:
    e = sentence_embeddings(["I guess so.", "My sister keeps calling me about money."])
    assert e.shape == (2, EMBEDDING_DIM)
    assert e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_embeddings_are_deterministic_and_independent_of_order() -> None:
    texts = ["You never listen to me.", "Okay.", "We talked about the garden all week."]
    once = sentence_embeddings(texts)
    again = sentence_embeddings(list(reversed(texts)))[::-1]
    # Batches are sorted by length, so order does not change the padding (int8 scales).
    np.testing.assert_allclose(once, again, atol=1e-5)


def test_a_paraphrase_is_nearer_than_an_unrelated_sentence() -> None:
    a, b, c = sentence_embeddings(
        [
            "You're not listening to a word I say.",
            "You don't hear me at all.",
            "The bus was late again this morning.",
        ]
    )
    assert float(a @ b) > float(a @ c)


def test_empty_input_gives_an_empty_matrix_and_a_string_is_refused() -> None:
    assert sentence_embeddings([]).shape == (0, EMBEDDING_DIM)
    with pytest.raises(TypeError, match="not a string"):
        sentence_embeddings("one sentence")


def test_contexts_must_match_the_texts() -> None:
    with pytest.raises(ValueError, match="one entry per utterance"):
        sentence_embeddings(["a", "b"], contexts=["only one"])
