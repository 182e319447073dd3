"""eval/evaluate_crossdataset.py and eval/_automisc.py on tiny synthetic inputs: the MISC map,
the manual-file reader, the 5-gram copy check, lenient/strict scoring, the bootstrap, the
session-quality model, the coding step with a stand-in coder, and the clean skip.

No AutoMISC text is used here: every row below is made up for the test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from alliance.analysis.pipeline import Analyzer
from eval_scripts import load_script


def _load(name: str) -> ModuleType:
    return load_script(name)


@pytest.fixture(scope="module")
def xd() -> ModuleType:
    return _load("evaluate_crossdataset")


@pytest.fixture(scope="module")
def am(xd: ModuleType) -> ModuleType:
    return sys.modules["_automisc"]


MANUAL = (
    "corp_conv_idx,conv_id,speaker,corp_vol_idx,conv_vol_idx,vol_text,corp_utt_idx,"
    "conv_utt_idx,utt_text,t1_label_GT,t2_label_GT\n"
    "0,high_900,counsellor,0,0,Hi there. What brings you in?,0,0,Hi there.,O,FI\n"
    "0,high_900,counsellor,0,0,Hi there. What brings you in?,1,1,What brings you in?,Q,OQ\n"
    "0,high_900,client,1,1,I want to cut down. But I like it.,2,2,I want to cut down.,C,R+\n"
    "0,high_900,client,1,1,I want to cut down. But I like it.,3,3,But I like it.,S,D-\n"
    "0,high_900,counsellor,2,2,You feel torn.,4,4,You feel torn.,CRL,CR\n"
    "1,low_901,client,0,0,Okay.,5,0,Okay.,N,N\n"
    "1,low_901,counsellor,1,1,You should stop.,6,1,You should stop.,IMI,ADW\n"
)


# --------------------------------------------------------------------------- the MISC map


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("OQ", "question"),
        ("CQ", "question"),
        ("SR", "reflection"),
        ("CR", "reflection"),
        ("RF", "reflection"),
        *[(c, "input") for c in ("GI", "ADP", "ADW", "RCP", "RCW", "WA", "DI", "CO")],
        *[(c, "other") for c in ("AF", "EC", "SU", "FA", "FI", "ST", "XYZ")],
    ],
)
def test_counsellor_codes_map_to_the_documented_classes(
    am: ModuleType, code: str, cls: str
) -> None:
    assert am.map_code("therapist", code) == cls


@pytest.mark.parametrize(
    ("t2", "t1", "cls"),
    [
        ("R+", "C", "change"),
        ("AB+", "C", "change"),
        ("N+", "C", "change"),
        ("D-", "S", "sustain"),
        ("TS-", "", "sustain"),
        ("N", "N", "neutral"),
        ("", "S", "sustain"),
    ],
)
def test_client_codes_map_by_their_valence_suffix(
    am: ModuleType, t2: str, t1: str, cls: str
) -> None:
    assert am.map_code("client", t2, t1) == cls


def test_an_unreadable_client_code_is_refused(am: ModuleType) -> None:
    with pytest.raises(ValueError, match="client code"):
        am.client_class("??", "")


def test_fine_labels_exist_only_where_misc_gives_them(am: ModuleType) -> None:
    assert [am.fine_code(c) for c in ("OQ", "CQ", "SR", "CR", "RF", "GI")] == [
        "question_open",
        "question_closed",
        "reflection_simple",
        "reflection_complex",
        None,
        None,
    ]


def test_the_manual_file_is_read_into_turns_of_coded_segments(am: ModuleType) -> None:
    convs = am.parse_manual(MANUAL, "HLQC")
    assert [(c.conv_id, c.quality, len(c.turns)) for c in convs] == [
        ("high_900", "high", 3),
        ("low_901", "low", 2),
    ]
    first = convs[0]
    assert first.turns[0].gold == {"other", "question"}
    assert first.turns[1].gold == {"change", "sustain"}
    assert [s.fine for s in first.turns[0].segments] == [None, "question_open"]
    assert convs[1].turns[1].gold == {"input"}
    table = am.code_table(convs)
    assert ("client", "C", "R+", "change", 1) in table
    assert am.client_disagreements(convs) == 0


def test_the_reader_takes_a_work_tree_or_a_bare_git_dir(am: ModuleType, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for relpath in am.MANUAL_FILES.values():
        (tree / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tree / relpath).write_text(MANUAL, encoding="utf-8")
    assert am.available(tree)
    assert len(am.load_manual(tree)) == 4  # two conversations per file

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "x")
    bare = tmp_path / "bare.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(tree), str(bare)], check=True, capture_output=True
    )
    assert am.available(bare)
    assert am.read_text(bare, am.MANUAL_FILES["HLQC"]) == MANUAL
    assert not am.available(tmp_path / "nowhere")


def test_the_source_is_the_option_then_the_environment_then_the_default(
    am: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(am.ENV_VAR, raising=False)
    assert am.resolve_source(None) == am.DEFAULT_SOURCE
    monkeypatch.setenv(am.ENV_VAR, "/from/env")
    assert am.resolve_source(None) == Path("/from/env")
    assert am.resolve_source("/given") == Path("/given")


# --------------------------------------------------------------------------- copies


def test_a_conversation_mostly_made_of_one_documents_5grams_is_a_copy(xd: ModuleType) -> None:
    base = "the cat sat on the mat and then it went to sleep by the warm fire all night"
    docs = {1: base, 2: "a completely different text about bicycles and rain in the spring time"}
    index = xd.ngram_index(docs)
    share, source = xd.best_overlap(base.upper() + "!", index)
    assert (share, source) == (1.0, 1)
    copies, overlaps = xd.find_copies(
        {
            "copy": "so " + base,
            "own": "nothing here is shared with any of the indexed documents at all ok",
            "short": "too short",
        },
        index,
        threshold=0.5,
    )
    assert set(copies) == {"copy"}
    assert copies["copy"][1] == 1
    assert overlaps["own"] == 0.0
    assert overlaps["short"] == 0.0
    assert len(xd.word_ngrams("one two three four five six")) == 2


# --------------------------------------------------------------------------- scoring


def test_strict_takes_the_majority_and_ties_go_to_the_earliest_segment(xd: ModuleType) -> None:
    assert xd.strict_label(["reflection", "question", "question"]) == "question"
    assert xd.strict_label(["reflection", "question"]) == "reflection"
    assert xd.strict_label(["other"]) == "other"


def test_lenient_accepts_any_class_of_a_mixed_turn(xd: ModuleType) -> None:
    mixed = xd.ScoredTurn(
        role="therapist",
        gold=frozenset({"reflection", "question"}),
        strict="reflection",
        predicted="question",
    )
    wrong = xd.ScoredTurn(
        role="therapist",
        gold=frozenset({"reflection", "question"}),
        strict="reflection",
        predicted="input",
    )
    assert mixed.lenient == "question"
    assert wrong.lenient == "reflection"
    turns = [mixed, wrong]
    # lenient: one question right, one reflection missed -> F1 question 1, reflection 0, input 0
    assert xd.turn_f1(turns, "therapist", lenient=True) == pytest.approx(1 / 3)
    # strict: both gold reflection, none predicted reflection -> all three F1 are 0
    assert xd.turn_f1(turns, "therapist", lenient=False) == 0.0


def test_change_talk_rates_and_ratio(xd: ModuleType) -> None:
    def client(gold: set[str], strict: str, predicted: str) -> object:
        return xd.ScoredTurn(
            role="client", gold=frozenset(gold), strict=strict, predicted=predicted
        )

    turns = [
        client({"change", "neutral"}, "neutral", "change"),
        client({"neutral"}, "neutral", "change"),
        client({"neutral"}, "neutral", "neutral"),
        client({"sustain"}, "sustain", "neutral"),
    ]
    assert xd.change_rates(turns) == (0.5, 0.25, 0.0)
    assert xd.change_ratio(turns) == 2.0
    assert np.isnan(xd.change_ratio([client({"neutral"}, "neutral", "change")]))


def test_the_bootstrap_is_seeded_and_brackets_a_stable_statistic(xd: ModuleType) -> None:
    from _metrics import bootstrap_ci

    groups = [[1.0, 2.0], [3.0], [4.0, 5.0, 6.0], [2.0]]

    def mean(g: list[list[float]]) -> float:
        return float(np.mean([v for part in g for v in part]))

    a = bootstrap_ci(groups, mean, resamples=200, seed=7)
    b = bootstrap_ci(groups, mean, resamples=200, seed=7)
    assert a == b
    assert a[0] < mean(groups) < a[1]
    assert bootstrap_ci([[1.0], [1.0]], mean, resamples=50) == (1.0, 1.0)
    assert all(np.isnan(bootstrap_ci([[1.0]], lambda g: float("nan"), resamples=5)))


# --------------------------------------------------------------------------- quality model


def test_auc_counts_ties_half_and_needs_both_classes(xd: ModuleType) -> None:
    assert xd.auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert xd.auc([1, 0], [0.5, 0.5]) == 0.5
    assert xd.auc([0, 1], [0.9, 0.1]) == 0.0
    assert np.isnan(xd.auc([1, 1], [0.1, 0.2]))


def test_leave_one_out_separates_separable_sessions_and_imputes_gaps(xd: ModuleType) -> None:
    rng = np.random.default_rng(0)
    y = np.array([1] * 20 + [0] * 20)
    x = np.column_stack([y * 2.0 + rng.normal(0, 0.3, 40), rng.normal(0, 1, 40)])
    x[3, 1] = np.nan  # an undefined indicator is filled from the training median
    prob = xd.leave_one_out(x, y)
    assert np.all(np.isfinite(prob))
    assert xd.auc(y, prob) > 0.95
    assert np.mean((prob >= 0.5) == (y == 1)) > 0.9


# --------------------------------------------------------------------------- coding


class _Coder:
    """Stand-in coder: questions are anything ending in '?', 'want' is change talk."""

    class _P:
        def __init__(self, label: str) -> None:
            self.label, self.confidence = label, 0.9
            self.probabilities = {label: 0.9}

    def therapist_behaviour(self, texts, contexts):  # type: ignore[no-untyped-def]
        return [
            self._P("question_open" if t.endswith("?") else "reflection_complex") for t in texts
        ]

    def client_talk(self, texts, contexts):  # type: ignore[no-untyped-def]
        return [self._P("change" if "want" in t else "neutral") for t in texts]


def test_turns_and_segments_are_coded_in_step_with_the_gold(xd: ModuleType, am: ModuleType) -> None:
    conv = am.parse_manual(MANUAL, "HLQC")[0]
    analyzer = Analyzer(coder=_Coder())
    labels = xd.CODINGS["turns"](analyzer, conv)
    assert labels == ["question_open", "change", "reflection_complex"]
    scored = xd.score_conversation(conv, labels)
    assert [(t.predicted, t.lenient, t.strict) for t in scored] == [
        ("question", "question", "other"),
        ("change", "change", "change"),
        ("reflection", "reflection", "reflection"),
    ]
    segments = xd.predict_segments(analyzer, conv)
    assert segments == [
        ["reflection_complex", "question_open"],
        ["change", "neutral"],
        ["reflection_complex"],
    ]
    seg_scored = xd.score_segments(conv, segments)
    assert [(t.strict, t.predicted) for t in seg_scored] == [
        ("other", "reflection"),
        ("question", "question"),
        ("change", "change"),
        ("sustain", "neutral"),
        ("reflection", "reflection"),
    ]
    assert [t.fine_gold for t in seg_scored if t.role == "therapist"] == [
        frozenset(),
        frozenset({"question_open"}),
        frozenset({"reflection_complex"}),
    ]


def test_segment_coding_gives_turn_labels_and_a_code_for_every_gold_segment(
    xd: ModuleType, am: ModuleType
) -> None:
    conv = am.parse_manual(MANUAL, "HLQC")[0]
    analyzer = Analyzer(coder=_Coder())
    labels, per_segment = xd.code_conversation(analyzer, conv, "segments")
    # "Hi there." is too short to stand alone; the client turn splits into its two sentences.
    assert labels == ["question_open", "change", "reflection_complex"]
    assert per_segment == [
        ["question_open", "question_open"],
        ["change", "neutral"],
        ["reflection_complex"],
    ]
    labels, per_segment = xd.code_conversation(analyzer, conv, "turns")
    assert per_segment == [["question_open"] * 2, ["change"] * 2, ["reflection_complex"]]


def test_a_gold_segment_takes_the_code_of_the_segment_covering_most_of_its_words(
    xd: ModuleType,
) -> None:
    assert xd.align([2, 3], [(5, "a")]) == ["a", "a"]
    assert xd.align([3, 3], [(2, "x"), (4, "y")]) == ["x", "y"]
    assert xd.align([1, 1, 4], [(3, "x"), (3, "y")]) == ["x", "x", "y"]


def test_it_skips_with_one_line_when_automisc_is_missing(
    xd: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert xd.main(["--automisc", str(tmp_path / "missing")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith("evaluate_crossdataset.py: skipped")
    assert "cimhasgithub/AutoMISC" in out[0]


def test_fine_labels_are_scored_on_the_four_subtypes_with_misses_as_other(
    xd: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    gold = ["question_open", "question_closed", "reflection_simple", "reflection_complex"]
    predicted = ["question_open", "question_closed", "reflection_simple", "input_advice"]
    # three subtypes perfect, reflection_complex missed (went to "other"): (1+1+1+0)/4
    assert xd.print_fine("t", gold, predicted) == pytest.approx(0.75)
    assert "macro-F1 over the four subtypes 0.750" in capsys.readouterr().out


def _hlqc_csv() -> str:
    rows = ["corp_vol_idx,conv_id,speaker,vol_text"]
    lines = {
        "high": [
            ("counsellor", "What would you like to change?"),
            ("client", "I want to walk more every day"),
            ("counsellor", "You see walking as a way forward?"),
            ("client", "I want that"),
        ],
        "low": [
            ("counsellor", "You must stop now"),
            ("client", "No"),
            ("counsellor", "Why not"),
            ("client", "I like it"),
        ],
    }
    i = 0
    for quality in ("high", "low"):
        for n in range(4):
            for speaker, text in lines[quality]:
                rows.append(f"{i},{quality}_{n:03d},{speaker},{text} {n}")
                i += 1
    # one conversation copied from the (made-up) AnnoMI transcript 7
    for speaker, text in (("counsellor", COPIED[0]), ("client", COPIED[1])):
        rows.append(f"{i},high_099,{speaker},{text}")
        i += 1
    return "\n".join(rows) + "\n"


COPIED = (
    "so tell me about the last time you went out running along the river path",
    "it was early on a cold morning and the light was just coming up over the hills",
)


def test_the_whole_report_runs_on_a_tiny_made_up_corpus(
    xd: ModuleType,
    am: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import pandas as pd

    tree = tmp_path / "automisc"
    for relpath in am.MANUAL_FILES.values():
        (tree / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tree / relpath).write_text(MANUAL, encoding="utf-8")
    (tree / am.HLQC_FILE).write_text(_hlqc_csv(), encoding="utf-8")
    annomi_csv = tmp_path / "AnnoMI-full.csv"
    annomi_csv.write_text("present\n")
    monkeypatch.setattr(xd, "ANNOMI_CSV", annomi_csv)
    test = pd.DataFrame(
        {
            "transcript_id": [7, 7, 8, 8],
            "utterance_id": [0, 1, 0, 1],
            "role": ["therapist", "client", "therapist", "client"],
            "text": [COPIED[0], COPIED[1], "Do you want to?", "I want to"],
            "mi_quality": ["high", "high", "low", "low"],
            "fine": ["question_open", None, "question_closed", None],
            "context": ["", "", "", ""],
        }
    )
    monkeypatch.setattr(
        xd,
        "annomi_texts",
        lambda: (
            {7: " ".join(COPIED), 8: "Do you want to? I want to"},
            test,
            test[::2],
            test[1::2],
        ),
    )
    monkeypatch.setattr(xd, "annomi_split_of", lambda tid: "train")
    monkeypatch.setattr(
        Analyzer,
        "load",
        classmethod(lambda cls, backend="accurate", empathy=None: cls(coder=_Coder())),
    )
    assert xd.main(["--automisc", str(tree), "--backends", "fast", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "HLQC: 1 of 9 conversations are copies and are dropped" in out
    assert "{'train': 1}" in out
    assert "kept 4 ({'HLQC': 2, 'MIV6.3A': 2})" in out
    assert re.search(r"all turn lenient therapist macro-F1 \d\.\d{3} 95% CI", out)
    assert re.search(r"fast: therapist \d\.\d{3} \(aim >= 0\.80: (met|missed)\)", out)
    assert "session quality: HLQC non-copies, 8 conversations (4 high, 4 low)" in out
    assert "leave-one-conversation-out on HLQC: accuracy" in out
