"""The trained utterance coders: shipped files load offline, outputs are well-formed, the
numpy fast backend reproduces its scikit-learn training features, missing files fail clearly.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from alliance.analysis import classifiers as clf

BACKENDS = ["accurate", "fast"]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forbid any network use and empty the model cache so files are really loaded."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(clf, "_CACHE", {})


THERAPIST_SAMPLES = [
    ("What brings you here today?", ""),
    ("Did you drink anything yesterday?", "client: I had a rough week."),
    (
        "So on the one hand the drinking helps you relax, and on the other you worry "
        "about what it is doing to your health.",
        "client: I like a beer after work, it calms me down. But my doctor said my liver "
        "numbers are bad.",
    ),
    ("Hello, nice to meet you.", ""),
    ("", ""),
]
CLIENT_SAMPLES = [
    ("I really want to quit smoking, I'm going to start on Monday.", "therapist: What now?"),
    ("I don't have a problem. I like drinking and I'm not going to stop.", ""),
    ("Yeah.", "therapist: Is that right?"),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_shipped_coders_load_offline_and_return_distributions(
    offline: None, backend: str
) -> None:
    coder = clf.load_coder(backend)  # type: ignore[arg-type]
    assert coder.backend == backend
    texts, contexts = zip(*THERAPIST_SAMPLES, strict=True)
    therapist = coder.therapist_behaviour(list(texts), list(contexts))
    texts, contexts = zip(*CLIENT_SAMPLES, strict=True)
    client = coder.client_talk(list(texts), list(contexts))
    assert len(therapist) == len(THERAPIST_SAMPLES)
    assert len(client) == len(CLIENT_SAMPLES)
    for preds, labels in ((therapist, clf.THERAPIST_LABELS), (client, clf.CLIENT_LABELS)):
        for p in preds:
            assert p.label in labels
            assert set(p.probabilities) == set(labels)
            assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
            assert p.confidence == pytest.approx(max(p.probabilities.values()))
            assert p.probabilities[p.label] == pytest.approx(p.confidence)


@pytest.mark.parametrize("backend", BACKENDS)
def test_obvious_utterances_get_the_obvious_codes(offline: None, backend: str) -> None:
    coder = clf.load_coder(backend)  # type: ignore[arg-type]
    open_q, closed_q = coder.therapist_behaviour(
        ["What brings you here today?", "Did you drink anything yesterday?"], ["", ""]
    )
    assert open_q.label == "question_open"
    assert clf.main_behaviour(closed_q.label) == "question"
    change, sustain = coder.client_talk(
        [
            "I want to stop drinking. I know I need to make a change.",
            "I don't have a problem. I like drinking and I'm not going to stop.",
        ],
        ["", ""],
    )
    assert change.label == "change"
    assert sustain.label == "sustain"


def test_batching_and_padding_do_not_change_accurate_predictions(offline: None) -> None:
    coder = clf.load_coder("accurate")
    short = ("How are you?", "client: Fine.")
    long_text = " ".join(["I have been thinking about it a lot lately"] * 20)
    alone = coder.therapist_behaviour([short[0]], [short[1]])[0]
    batch = coder.therapist_behaviour([long_text, short[0], long_text], [long_text, short[1], ""])[
        1
    ]
    # Padding is masked out, so only int8 dynamic quantisation (its activation scale is set
    # per batch) may move the probabilities a little; a padding bug moves them a lot.
    assert batch.label == alone.label
    for label in clf.THERAPIST_LABELS:
        assert batch.probabilities[label] == pytest.approx(alone.probabilities[label], abs=0.05)


def test_the_fast_backend_features_equal_scikit_learns(offline: None) -> None:
    text_module = pytest.importorskip("sklearn.feature_extraction.text")
    coder = clf.load_coder("fast")
    assert isinstance(coder, clf.FastUtteranceCoder)
    samples = [
        "What brings you here today?",
        "So you're saying... you'd like to cut down, but not quit?!",
        "",
        "Über-café: naïve résumé — 12 £7 don't   stop",
        "line one\nline two? yes\r\nthree",
        "you know you know you know",
        "?!?! !!",
    ]
    for space, ngram in ((coder.text_space, coder.text_space.ngram_max), (coder.context_space, 1)):
        reference = text_module.TfidfVectorizer(
            token_pattern=clf.FAST_TOKEN_PATTERN,
            ngram_range=(1, ngram),
            sublinear_tf=space.sublinear_tf,
            vocabulary=space.vocabulary,
            dtype=np.float64,
        )
        reference.fit(["fit needs one document"])
        reference.idf_ = space.idf
        expected = reference.transform(samples).toarray()
        got = space.transform(samples).toarray()
        assert expected.shape == got.shape
        assert np.abs(expected - got).max() < 1e-12
        assert (np.abs(got).sum(axis=1) > 0).sum() >= 5  # the samples do hit the vocabulary


def test_the_fast_tokeniser_splits_like_the_regex_per_text() -> None:
    coder = clf.load_coder("fast")
    assert isinstance(coder, clf.FastUtteranceCoder)
    space = coder.context_space  # unigrams only: columns are exactly the known tokens
    texts = ["Why? Because I said so!", "", "a\nb c", "don't"]
    matrix = space.transform(texts).toarray()
    for row, text in zip(matrix, texts, strict=True):
        known = {space.vocabulary[t] for t in clf.fast_terms(text, 1) if t in space.vocabulary}
        assert set(np.flatnonzero(row)) == known


def test_a_missing_model_file_raises_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(clf.ModelNotInstalledError) as info:
        clf.load_coder("accurate", models_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert clf.ACCURATE_MODEL_FILE in message
    with pytest.raises(clf.ModelNotInstalledError):
        clf.load_coder("fast", models_dir=tmp_path)


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown analysis backend"):
        clf.load_coder("slow")  # type: ignore[arg-type]


def test_the_empathy_model_is_optional(tmp_path: Path) -> None:
    assert clf.load_empathy_model(enabled=False) is None
    assert clf.load_empathy_model(models_dir=tmp_path, enabled=True) is None


def test_the_empathy_model_scores_levels_when_installed(offline: None) -> None:
    if not clf.empathy_model_installed():
        pytest.skip("optional empathy model not installed")
    model = clf.load_empathy_model(enabled=True)
    assert model is not None
    scores = model.score(
        ["I lost my job and I feel worthless.", "I can't sleep."],
        [
            "I'm so sorry, that sounds really painful. What happened?",
            "Take melatonin.",
        ],
    )
    assert len(scores) == 2
    for s in scores:
        for mech in clf.EMPATHY_MECHANISMS:
            assert getattr(s, mech) in (0, 1, 2)
            assert 1 / 3 <= s.confidences[mech] <= 1


def test_the_empathy_model_respects_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from alliance.config import get_settings

    monkeypatch.setenv("ALLIANCE_EMPATHY_MODEL", "false")
    get_settings.cache_clear()
    try:
        assert clf.load_empathy_model() is None
    finally:
        monkeypatch.delenv("ALLIANCE_EMPATHY_MODEL")
        get_settings.cache_clear()


def test_build_context_keeps_the_most_recent_turns_in_order() -> None:
    turns = [("therapist", "first"), ("Client", " second\n turn "), ("therapist", "third")]
    context = clf.build_context(turns)
    assert context.endswith("therapist: third")
    assert "client: second turn" in context
    assert "first" not in context or clf.CONTEXT_TURNS >= 3
    assert clf.build_context([]) == ""
    assert clf.last_turn(context) == "therapist: third"


def test_a_long_context_is_cut_from_its_oldest_end_before_the_utterance() -> None:
    tokenizer = clf._load_tokenizer(clf.default_models_dir())
    context = "old " * 200 + "newest words"
    ((ids, types),) = clf.encode_pairs(tokenizer, [context], ["how are you"], max_tokens=32)
    assert len(ids) == 32
    words = tokenizer.decode(ids)
    assert words.endswith("newest words how are you")
    assert types[-4:] == [1, 1, 1, 1]
    ((long_ids, _),) = clf.encode_pairs(tokenizer, [""], ["word " * 100], max_tokens=16)
    assert len(long_ids) == 16


def test_main_behaviour_folds_fine_labels() -> None:
    folded = {label: clf.main_behaviour(label) for label in clf.THERAPIST_LABELS}
    assert folded["question_open"] == folded["question_closed"] == "question"
    assert folded["reflection_complex"] == "reflection"
    assert folded["input_negotiation"] == "input"
    assert folded["other"] == "other"
    with pytest.raises(ValueError, match="unknown therapist behaviour"):
        clf.main_behaviour("chit_chat")


def test_mismatched_inputs_are_refused() -> None:
    coder = clf.load_coder("fast")
    with pytest.raises(ValueError, match="texts has 2 items but contexts has 1"):
        coder.therapist_behaviour(["a", "b"], [""])
    with pytest.raises(TypeError, match="not a string"):
        coder.client_talk("just one string", "")
    assert coder.client_talk([], []) == []


def test_models_dir_contents_are_small_enough_to_commit() -> None:
    for path in clf.default_models_dir().iterdir():
        assert path.stat().st_size < 40_000_000, path.name


def test_a_copied_models_dir_is_used_instead_of_the_package(tmp_path: Path) -> None:
    for name in (clf.FAST_VOCAB_FILE, clf.FAST_WEIGHTS_FILE):
        shutil.copy(clf.default_models_dir() / name, tmp_path / name)
    coder = clf.load_coder("fast", models_dir=tmp_path)
    assert coder is not clf.load_coder("fast")
    assert coder.therapist_behaviour(["What brings you here?"], [""])[0].label.startswith(
        "question"
    )


def test_predictions_survive_pickling_for_worker_processes() -> None:
    import pickle

    coder = clf.load_coder("fast")
    (prediction,) = coder.therapist_behaviour(["What would you like to change?"], [""])
    assert pickle.loads(pickle.dumps(prediction)) == prediction  # noqa: S301 - own data
