"""eval/variants.py's pure parts on made-up inputs: context assembly (text and embedding
concatenation), class weights, the numpy heads (gradient and a toy fit), the TF-IDF space,
scoring against AutoMISC-style turns, the table, and the clean skip without data.

No AnnoMI or AutoMISC text is used here.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from alliance.analysis.classifiers import build_context
from eval_scripts import load_script


@pytest.fixture(scope="module")
def v() -> ModuleType:
    return load_script("variants")


CONV = ["a", "a", "a", "a", "b", "b"]
ROLES = ["therapist", "client", "therapist", "client", "client", "therapist"]
TEXTS = ["Hi.", "I drink.", "How much?", "A lot.", "Hello.", "Welcome."]


# --------------------------------------------------------------------------- context assembly


def test_previous_turns_stop_at_the_conversation_start(v: ModuleType) -> None:
    assert v.previous_turns(CONV, 0, 2) == []
    assert v.previous_turns(CONV, 1, 2) == [0]
    assert v.previous_turns(CONV, 3, 2) == [1, 2]
    assert v.previous_turns(CONV, 3, 5) == [0, 1, 2]
    assert v.previous_turns(CONV, 4, 2) == []  # first turn of "b": nothing from "a"
    assert v.previous_turns(CONV, 5, 2) == [4]


def test_text_contexts_render_the_last_k_turns_as_the_runtime_does(v: ModuleType) -> None:
    assert v.text_contexts(CONV, ROLES, TEXTS, 0) == [""] * 6
    one = v.text_contexts(CONV, ROLES, TEXTS, 1)
    assert one[3] == "therapist: How much?"
    assert one[4] == ""
    two = v.text_contexts(CONV, ROLES, TEXTS, 2)
    assert two[3] == "client: I drink. | therapist: How much?"
    # k = 2 is what training and the pipeline give the shipped model
    turns = list(zip(ROLES, TEXTS, strict=True))
    assert two[:4] == [build_context(turns[:i]) for i in range(4)]


def test_stack_context_puts_the_most_recent_turn_first_with_speaker_flags(
    v: ModuleType,
) -> None:
    emb = np.arange(6, dtype=np.float32)[:, None] * np.ones((6, 3), dtype=np.float32) + 1
    out = v.stack_context(emb, CONV, ROLES, 2)
    assert out.shape == (6, 3 * 3 + 2)
    np.testing.assert_array_equal(out[3, :3], emb[3])
    np.testing.assert_array_equal(out[3, 3:6], emb[2])  # previous turn
    np.testing.assert_array_equal(out[3, 6:9], emb[1])  # the one before
    assert list(out[3, 9:]) == [1.0, -1.0]  # therapist, then client
    # a conversation's first turns: zeros and flag 0 where there is no turn
    np.testing.assert_array_equal(out[4, 3:], np.zeros(8))
    np.testing.assert_array_equal(out[5, 6:9], np.zeros(3))
    assert list(out[5, 9:]) == [-1.0, 0.0]
    assert v.stack_context(emb, CONV, ROLES, 0).shape == (6, 3)


def test_single_layout_drops_the_empty_contexts_separator(v: ModuleType) -> None:
    encoded = [([101, 102, 7, 8, 102], [0, 0, 1, 1, 1]), ([101, 5, 102, 7, 102], [0, 0, 0, 1, 1])]
    out = v.single_layout(encoded, ["", "client: yes"])
    assert out[0] == ([101, 7, 8, 102], [0, 0, 0, 0])
    assert out[1] == encoded[1]  # with a context the pair layout stays


# --------------------------------------------------------------------------- heads


def test_class_weights(v: ModuleType) -> None:
    y = [0, 0, 0, 1]
    assert list(v.class_weights(y, 2, "none")) == [1.0] * 4
    bal = v.class_weights(y, 2, "balanced")
    assert bal.mean() == pytest.approx(1.0)
    assert bal[:3].sum() == pytest.approx(bal[3])  # each class the same total weight
    sq = v.class_weights(y, 2, "sqrt")
    assert sq[3] / sq[0] == pytest.approx(np.sqrt(3))
    with pytest.raises(ValueError, match="unknown class-weight scheme"):
        v.class_weights(y, 2, "inverse")


@pytest.mark.parametrize("hidden", [0, 3])
def test_head_gradient_matches_finite_differences(v: ModuleType, hidden: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(15, 4))
    heads = [(np.arange(10), v.one_hot(rng.integers(0, 3, 10), 3), rng.uniform(0.5, 2, 10))]
    if hidden:  # a second head on overlapping rows, with soft targets
        heads.append((np.arange(5, 15), v._softmax(rng.normal(size=(10, 2))), np.ones(10)))
    model = v.MLP(hidden)
    theta = model.init(4, [t.shape[1] for _, t, _ in heads]) + rng.normal(0, 0.3, 1)
    theta = theta + rng.normal(0, 0.3, theta.shape)
    _, grad = model.loss_and_grad(theta, x, heads, 0.1)
    eps = 1e-6
    numeric = np.array(
        [
            (
                model.loss_and_grad(theta + eps * e, x, heads, 0.1)[0]
                - model.loss_and_grad(theta - eps * e, x, heads, 0.1)[0]
            )
            / (2 * eps)
            for e in np.eye(len(theta))
        ]
    )
    np.testing.assert_allclose(grad, numeric, atol=1e-6)


@pytest.mark.parametrize("hidden", [0, 8])
def test_heads_learn_a_separable_problem(v: ModuleType, hidden: int) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 90)
    x = rng.normal(0, 0.3, size=(90, 3)) + np.eye(3)[y] * 2
    model = v.MLP(hidden).fit(x, [(np.arange(90), v.one_hot(y, 3), np.ones(90))], 1e-3)
    assert (model.predict(x).argmax(1) == y).mean() > 0.95


def test_standardiser_uses_the_training_columns(v: ModuleType) -> None:
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    s = v.Standardiser.fit(x)
    np.testing.assert_allclose(s(x), [[-1.0, 0.0], [1.0, 0.0]])  # a constant column stays 0


def test_tfidf_space_keeps_terms_in_two_texts_with_smooth_idf(v: ModuleType) -> None:
    space = v.fit_tfidf_space(["how much", "how often", "why"], 2)
    assert set(space.vocabulary) == {"how"}
    assert space.idf[0] == pytest.approx(np.log(4 / 3) + 1)
    row = space.transform(["how how why"]).toarray()
    assert row[0, 0] == pytest.approx(1.0)  # l2-normalised, the only known term


# --------------------------------------------------------------------------- scoring, table


def test_cross_scores_fold_fine_labels_and_score_leniently(v: ModuleType) -> None:
    import _automisc as am

    seg = am.CodedSegment
    conv = am.Conversation(
        corpus="HLQC",
        conv_id="high_900",
        quality="high",
        turns=(
            am.Turn(
                "therapist",
                "Hi. Why?",
                (
                    seg("Hi.", "O", "FI", "other", None),
                    seg("Why?", "Q", "OQ", "question", "question_open"),
                ),
            ),
            am.Turn(
                "client", "I want to stop.", (seg("I want to stop.", "C", "R+", "change", None),)
            ),
            am.Turn("therapist", "Uncoded."),
        ),
    )
    corpus = v.Corpus(
        "x",
        ["high_900"] * 3,
        ["therapist", "client", "therapist"],
        ["Hi. Why?", "I want to stop.", "Uncoded."],
        [None] * 3,
        [None] * 3,
        [None] * 3,
        conversations=[conv],
    )
    t = np.zeros((2, 9))
    t[:, 1] = 1.0  # question_closed: main class question, one of the mixed turn's classes
    c = np.array([[0.1, 0.8, 0.1]])  # neutral, gold change
    therapist, client = v.cross_scores(corpus, {"therapist": t, "client": c})
    assert therapist == pytest.approx(1.0)
    assert client == pytest.approx(0.0)
    assert v.cross_scores(None, None) != v.cross_scores(None, None)  # NaN when not measured


def test_format_table_aligns_and_marks_missing_figures(v: ModuleType) -> None:
    rows = [
        v.Row("shipped", 0.79, 0.486, 0.557, 0.739, 0.627, 147.4, "reference"),
        v.Row("tfidf", 0.7, 0.4, 0.5, float("nan"), float("nan"), 25000.0),
    ]
    text = v.format_table(rows)
    lines = text.splitlines()
    assert lines[0].startswith("variant")
    assert all(name in lines[0] for name in v.COLUMNS)
    assert "0.790" in lines[1]
    assert "147" in lines[1]
    assert lines[1].endswith("reference")
    assert "2.71" in lines[1]  # 400 turns at 147.4/s
    assert lines[2].split()[4:6] == ["-", "-"]
    assert "25,000" in lines[2]
    assert len({line.index("0.") for line in lines[1:]}) == 1  # the first figure column lines up


def test_skips_cleanly_without_data(
    v: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(v, "ANNOMI_CSV", tmp_path / "missing.csv")
    assert v.main([]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out
    assert "missing.csv" in out
