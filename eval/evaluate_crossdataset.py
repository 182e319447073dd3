"""Cross-dataset evaluation: Alliance's coder against codes other people made (AutoMISC's
manual consensus MISC codes), and a session-quality indicator on HLQC.

Data (read at run time, never committed: AutoMISC has no licence, so evaluate only):
AutoMISC's ``data/manual/HLQC_balanced_manual.csv`` (10 HLQC conversations) and
``data/manual/MIV6.3A_manual.csv`` (10 text-chat conversations), and ``data/HLQC.csv``
(257 HLQC conversations with their high / low MI quality), read by ``eval/_automisc.py``
from ``--automisc PATH`` (a bare git dir or a work tree), else ``$ALLIANCE_AUTOMISC``, else the
default mirror path. Without it the script prints one line saying what to fetch and exits 0.

Leakage: many HLQC conversations are copies of AnnoMI transcripts (both come from the same
public MI videos). Every conversation whose word 5-grams are ``--copy-threshold`` (10 %) or
more contained in one AnnoMI transcript is dropped; the script prints how many, how many of
those are AnnoMI train transcripts (labels.json ``annomi_split``), and the overlap either side
of the threshold so the gap it sits in can be seen.

MISC → our classes (the table in ``eval/_automisc.py``; also docs/model-card.md):
OQ / CQ → question; SR / CR / RF → reflection; GI / ADP / ADW / RCP / RCW / WA / DI / CO →
input; every other counsellor code (AF, EC, SU, FA, FI, ST, …) → other. Client codes by
their valence suffix: ``…+`` change, ``…-`` sustain, ``N`` neutral.

Scoring (turn = AutoMISC "volley"; MISC codes its *segments*):
* turn level, **lenient**: a turn whose segments have several classes is right if the
  prediction is any of them (its gold label becomes the prediction); otherwise it is scored
  against its strict label;
* turn level, **strict**: the gold label is the most frequent class among the turn's segments,
  ties going to the class of the earliest segment;
* **segment level**: each gold segment coded on its own (with the turns before its turn as
  context), scored against its own code;
* **segment level of the coding's own units** (``--coding``): with ``turns`` every gold segment
  is given its turn's label (what a turn coder tells a segment-level reader); with
  ``segments`` the pipeline runs with ``units="segments"`` — turns split by
  ``alliance.analysis.segments``, coded and folded back (the turn-level figures) — and each
  gold segment is given the code of our segment that covers most of its words;
* per-class precision / recall / F1, confusion matrices, macro-F1, and 95 % percentile
  bootstrap intervals over conversations (``--resamples``, fixed seed);
* change-talk rate: predicted share of client turns coded change, against the gold share of
  client turns with any change-talk segment (and with change as strict label), and the ratio;
* fine labels where MISC has them (OQ / CQ / SR / CR): on AutoMISC segments and turns, and on
  AnnoMI's held-out test transcripts through eval/evaluate.py's loader.

Session quality (item 7 of issue 12): per HLQC non-copy conversation, Alliance's own summary
indicators (reflection-to-question ratio, % complex reflections, % open questions,
change-talk ratio; a second model adds the main-behaviour shares and the therapist's share
of words) feed an L2 logistic regression scored by leave-one-conversation-out: accuracy and
AUC with bootstrap intervals, beside the majority baseline and Pérez-Rosas et al. 2019
(ACL; up to 0.88 accuracy with their own linguistic features, on all HLQC conversations);
the model fitted on all of HLQC is then applied to AnnoMI's held-out test transcripts.

    .venv/bin/python eval/evaluate_crossdataset.py                    # accurate + fast
    .venv/bin/python eval/evaluate_crossdataset.py --backends accurate --quick
    .venv/bin/python eval/evaluate_crossdataset.py --uncalibrated  # the coders' own probabilities
    .venv/bin/python eval/evaluate_crossdataset.py --coding segments --no-quality
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "eval"))
sys.path.insert(0, str(ROOT / "training"))

import _automisc as am  # noqa: E402
from _metrics import bootstrap_ci, confusion, macro_f1, per_class, report  # noqa: E402

from alliance.analysis.labels import fold_behaviour  # noqa: E402
from alliance.analysis.pipeline import Analyzer, contexts_for  # noqa: E402
from alliance.analysis.schema import AnalysisResult  # noqa: E402
from alliance.transcripts import RoleAssignment, Speaker, Transcript, Utterance  # noqa: E402

#: What "segment level" means for each coding's own units (the gold segments coded one by one
#: are reported beside it for both).
UNIT_NOTE = {
    "turns": "each gold segment given its turn's label",
    "segments": "each gold segment given the code of our overlapping segment",
}
SEED = 20261203
ANNOMI_CSV = ROOT.parent / "shared" / "data" / "annomi" / "AnnoMI-full.csv"
COPY_THRESHOLD = 0.10
NGRAM = 5
FINE4 = ("question_open", "question_closed", "reflection_simple", "reflection_complex")
FINE_SCORED = (*FINE4, "other")
THERAPIST = am.THERAPIST_CLASSES
CLIENT = am.CLIENT_CLASSES
PEREZ_ROSAS_2019 = 0.88
ISSUE_BASELINE = {"therapist": 0.742, "client": 0.545}
AIMS = {"therapist": 0.80, "client": 0.65, "ct_ratio": 1.5}
SPEAKER_NAMES = {"therapist": "Counsellor", "client": "Client"}


# --------------------------------------------------------------------------- copies of AnnoMI


def word_ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    """The set of word n-grams of ``text`` (lower case, letters, digits and apostrophes)."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def ngram_index(documents: Mapping[Any, str], n: int = NGRAM) -> dict[tuple[str, ...], set[Any]]:
    """n-gram → ids of the documents that contain it."""
    index: dict[tuple[str, ...], set[Any]] = defaultdict(set)
    for doc_id, text in documents.items():
        for gram in word_ngrams(text, n):
            index[gram].add(doc_id)
    return index


def best_overlap(
    text: str, index: Mapping[tuple[str, ...], set[Any]], n: int = NGRAM
) -> tuple[float, Any]:
    """(share of ``text``'s n-grams found in the one indexed document holding most of them,
    that document's id); (0.0, None) when nothing is shared."""
    grams = word_ngrams(text, n)
    hits: Counter[Any] = Counter()
    for gram in grams:
        hits.update(index.get(gram, ()))
    if not grams or not hits:
        return 0.0, None
    doc_id, count = hits.most_common(1)[0]
    return count / len(grams), doc_id


def find_copies(
    texts: Mapping[str, str],
    index: Mapping[tuple[str, ...], set[Any]],
    threshold: float = COPY_THRESHOLD,
) -> tuple[dict[str, tuple[float, Any]], dict[str, float]]:
    """(copies: id → (overlap, source id) at or above ``threshold``; every id's overlap)."""
    copies: dict[str, tuple[float, Any]] = {}
    overlaps: dict[str, float] = {}
    for conv_id, text in texts.items():
        share, source = best_overlap(text, index)
        overlaps[conv_id] = share
        if share >= threshold:
            copies[conv_id] = (share, source)
    return copies, overlaps


# --------------------------------------------------------------------------- scoring


def strict_label(segment_classes: Sequence[str]) -> str:
    """The most frequent class among a turn's segments; ties go to the earliest segment's."""
    counts = Counter(segment_classes)
    top = max(counts.values())
    return next(c for c in segment_classes if counts[c] == top)


def lenient_label(gold: Iterable[str], strict: str, predicted: str) -> str:
    """The gold label a prediction is scored against when any class of a mixed turn counts."""
    return predicted if predicted in set(gold) else strict


@dataclass(frozen=True, slots=True)
class ScoredTurn:
    """One coded turn: its role, gold classes, strict label, prediction (main class or client
    label), gold fine labels (OQ/CQ/SR/CR segments) and predicted fine label."""

    role: str
    gold: frozenset[str]
    strict: str
    predicted: str
    fine_gold: frozenset[str] = frozenset()
    fine_predicted: str | None = None

    @property
    def lenient(self) -> str:
        return lenient_label(self.gold, self.strict, self.predicted)


def turn_f1(turns: Sequence[ScoredTurn], role: str, *, lenient: bool) -> float:
    labels = THERAPIST if role == "therapist" else CLIENT
    picked = [t for t in turns if t.role == role]
    gold = [t.lenient if lenient else t.strict for t in picked]
    return macro_f1(gold, [t.predicted for t in picked], labels)


def change_rates(turns: Sequence[ScoredTurn]) -> tuple[float, float, float]:
    """(predicted, gold any-change, gold strict-change) shares of client turns."""
    client = [t for t in turns if t.role == "client"]
    if not client:
        return (float("nan"),) * 3
    n = len(client)
    return (
        sum(t.predicted == "change" for t in client) / n,
        sum("change" in t.gold for t in client) / n,
        sum(t.strict == "change" for t in client) / n,
    )


def change_ratio(turns: Sequence[ScoredTurn]) -> float:
    predicted, gold, _ = change_rates(turns)
    return predicted / gold if gold else float("nan")


def flat(groups: Iterable[Sequence[ScoredTurn]]) -> list[ScoredTurn]:
    return [t for g in groups for t in g]


def fine_scored(label: str | None) -> str:
    """A fine prediction on the question/reflection subtype scale (anything else: other)."""
    return label if label in FINE4 else "other"


# --------------------------------------------------------------------------- coding


def transcript_of(conversation: am.Conversation) -> Transcript:
    """The conversation as a parsed :class:`Transcript`, one utterance per AutoMISC turn
    (turns are kept as the corpus cut them, so gold and predictions align one to one)."""
    utterances = tuple(
        Utterance(
            id=f"u{i}",
            index=i - 1,
            speaker=SPEAKER_NAMES[t.role],
            role=t.role,
            text=t.text,
            line=i,
        )
        for i, t in enumerate(conversation.turns, 1)
    )
    speakers = tuple(
        Speaker(
            name=name,
            role=role,  # type: ignore[arg-type]
            turns=sum(u.role == role for u in utterances),
            words=sum(u.words for u in utterances if u.role == role),
        )
        for role, name in SPEAKER_NAMES.items()
    )
    return Transcript(
        utterances=utterances,
        speakers=speakers,
        roles=RoleAssignment(
            roles={name: role for role, name in SPEAKER_NAMES.items()},  # type: ignore[misc]
            method="given",
            confidence=1.0,
        ),
        format="csv",
        source=f"{conversation.corpus}/{conversation.conv_id}",
    )


def analyse(analyzer: Analyzer, conversation: am.Conversation) -> AnalysisResult:
    return analyzer.analyze(transcript_of(conversation))


def turn_codes(result: AnalysisResult) -> list[str]:
    """One label per utterance: the fine therapist label, or the client talk label."""
    out = []
    for u in result.utterances:
        code = u.codes.therapist_behaviour if u.role == "therapist" else u.codes.client_talk
        out.append(code.label if code is not None else "")
    return out


def predict_turns(analyzer: Analyzer, conversation: am.Conversation) -> list[str]:
    """The per-turn prediction step (swap this for another coding, e.g. by segments): the
    public pipeline on the whole conversation, one label per turn (fine therapist label or
    client talk label)."""
    return turn_codes(analyse(analyzer, conversation))


def predict_by_segments(analyzer: Analyzer, conversation: am.Conversation) -> list[str]:
    """``--coding segments``: the public pipeline with ``units="segments"`` (each turn split
    by ``alliance.analysis.segments``, coded and folded back), one label per turn."""
    return turn_codes(analyse(replace(analyzer, units="segments"), conversation))


CODINGS: dict[str, Callable[[Analyzer, am.Conversation], list[str]]] = {
    "turns": predict_turns,
    "segments": predict_by_segments,
}


def _spans(sizes: Sequence[int]) -> list[tuple[float, float]]:
    """Each part's [start, end) as a fraction of the whole, from the parts' word counts."""
    total = float(sum(sizes)) or 1.0
    out, at = [], 0
    for n in sizes:
        out.append((at / total, (at + n) / total))
        at += n
    return out


def align(gold_sizes: Sequence[int], ours: Sequence[tuple[int, str]]) -> list[str]:
    """The label each gold segment gets from our segments: the one whose share of the turn's
    words overlaps it most (ties: the earlier). ``ours`` is (word count, label) per segment;
    word positions, not characters, because the corpus respelled some words in its segments."""
    mine = _spans([n for n, _ in ours])
    labels = []
    for g0, g1 in _spans(gold_sizes):
        overlaps = [max(0.0, min(g1, m1) - max(g0, m0)) for m0, m1 in mine]
        labels.append(ours[max(range(len(ours)), key=lambda k: (overlaps[k], -k))][1])
    return labels


def _word_count(text: str) -> int:
    return max(1, len(text.split()))


def code_conversation(
    analyzer: Analyzer, conversation: am.Conversation, coding: str
) -> tuple[list[str], list[list[str]]]:
    """One label per turn, and the label that coding gives each gold segment: with ``turns``
    every segment gets its turn's label (what a turn coder delivers to a segment-level
    reader); with ``segments`` each gold segment gets the code of our segment that overlaps it
    most (:func:`align`)."""
    if coding != "segments":
        labels = CODINGS[coding](analyzer, conversation)
        return labels, [
            [label] * len(t.segments) for t, label in zip(conversation.turns, labels, strict=True)
        ]
    result = analyse(replace(analyzer, units="segments"), conversation)
    labels = turn_codes(result)
    per_segment: list[list[str]] = []
    for turn, u in zip(conversation.turns, result.utterances, strict=True):
        ours = [
            (_word_count(seg.text), code.label)
            for seg in u.codes.segments or []
            if (code := seg.therapist_behaviour or seg.client_talk) is not None
        ]
        if not turn.segments or not ours:
            per_segment.append([])
            continue
        per_segment.append(align([_word_count(g.text) for g in turn.segments], ours))
    return labels, per_segment


def predict_segments(analyzer: Analyzer, conversation: am.Conversation) -> list[list[str]]:
    """Each gold segment coded on its own, with the turns before its turn as context."""
    assert analyzer.coder is not None
    contexts = contexts_for(transcript_of(conversation))
    out: list[list[str]] = [[] for _ in conversation.turns]
    for role, method in (
        ("therapist", analyzer.coder.therapist_behaviour),
        ("client", analyzer.coder.client_talk),
    ):
        where = [
            (i, s.text)
            for i, t in enumerate(conversation.turns)
            if t.role == role
            for s in t.segments
        ]
        if not where:
            continue
        predictions = method([text for _, text in where], [contexts[i] for i, _ in where])
        for (i, _), p in zip(where, predictions, strict=True):
            out[i].append(p.label)
    return out


def score_conversation(conversation: am.Conversation, labels: Sequence[str]) -> list[ScoredTurn]:
    """Pair each coded turn with its prediction (``labels``: one per turn, as
    :func:`predict_turns` returns)."""
    scored = []
    for turn, label in zip(conversation.turns, labels, strict=True):
        if not turn.segments:
            continue
        classes = [s.gold for s in turn.segments]
        therapist = turn.role == "therapist"
        scored.append(
            ScoredTurn(
                role=turn.role,
                gold=turn.gold,
                strict=strict_label(classes),
                predicted=fold_behaviour(label) if therapist else label,
                fine_gold=frozenset(s.fine for s in turn.segments if s.fine),
                fine_predicted=label if therapist else None,
            )
        )
    return scored


def score_segments(
    conversation: am.Conversation, labels: Sequence[Sequence[str]]
) -> list[ScoredTurn]:
    """Every gold segment as its own one-class 'turn'."""
    scored = []
    for turn, predicted in zip(conversation.turns, labels, strict=True):
        for segment, label in zip(turn.segments, predicted, strict=True):
            therapist = turn.role == "therapist"
            scored.append(
                ScoredTurn(
                    role=turn.role,
                    gold=frozenset({segment.gold}),
                    strict=segment.gold,
                    predicted=fold_behaviour(label) if therapist else label,
                    fine_gold=frozenset({segment.fine}) if segment.fine else frozenset(),
                    fine_predicted=label if therapist else None,
                )
            )
    return scored


# --------------------------------------------------------------------------- reporting


def ci_text(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def figures_with_ci(
    name: str,
    groups: Sequence[Sequence[ScoredTurn]],
    resamples: int,
    *,
    lenient: bool,
) -> dict[str, float]:
    turns = flat(groups)
    out: dict[str, float] = {}
    for role in ("therapist", "client"):
        value = turn_f1(turns, role, lenient=lenient)

        def statistic(g: Sequence[Sequence[ScoredTurn]], r: str = role) -> float:
            return turn_f1(flat(g), r, lenient=lenient)

        ci = bootstrap_ci(groups, statistic, resamples=resamples, seed=SEED)
        out[role] = value
        print(f"  {name} {role} macro-F1 {value:.3f} 95% CI {ci_text(ci)}")
    return out


def print_detail(title: str, turns: Sequence[ScoredTurn], *, lenient: bool) -> None:
    for role, labels in (("therapist", THERAPIST), ("client", CLIENT)):
        picked = [t for t in turns if t.role == role]
        report(
            f"{title}, {role}",
            [t.lenient if lenient else t.strict for t in picked],
            [t.predicted for t in picked],
            labels,
        )


def print_change(name: str, groups: Sequence[Sequence[ScoredTurn]], resamples: int) -> float:
    predicted, gold_any, gold_strict = change_rates(flat(groups))
    ratio = predicted / gold_any if gold_any else float("nan")
    ci = bootstrap_ci(groups, lambda g: change_ratio(flat(g)), resamples=resamples, seed=SEED)
    strict_ratio = predicted / gold_strict if gold_strict else float("nan")
    print(
        f"  {name} change talk: predicted {predicted:.1%} of client turns; gold {gold_any:.1%} "
        f"(turns with any change segment) -> ratio {ratio:.2f}x 95% CI {ci_text(ci)}; "
        f"gold {gold_strict:.1%} as strict label -> {strict_ratio:.2f}x"
    )
    return ratio


def print_fine(title: str, gold: Sequence[str], predicted: Sequence[str | None]) -> float:
    """Fine-label report on the four subtypes (predictions outside them count as other), and
    the subtype accuracy where the main class was right."""
    scored = [fine_scored(p) for p in predicted]
    report(title, list(gold), scored, FINE_SCORED)
    # macro-F1 over the four subtypes only: "other" is where a missed subtype went, not a
    # class of its own here (it has no gold support, so its F1 is always 0)
    _, _, f1, _ = per_class(confusion(list(gold), scored, FINE_SCORED))
    mf1 = float(f1[: len(FINE4)].mean())
    print(f"    macro-F1 over the four subtypes {mf1:.3f}")
    for main in ("question", "reflection"):
        pairs = [
            (g, p) for g, p in zip(gold, scored, strict=True) if g.startswith(main) and p != "other"
        ]
        pairs = [(g, p) for g, p in pairs if p.startswith(main)]
        if pairs:
            right = sum(g == p for g, p in pairs)
            print(
                f"    {main} subtype right when the main class was: {right}/{len(pairs)} "
                f"({right / len(pairs):.1%})"
            )
    return mf1


# --------------------------------------------------------------------------- session quality


FEATURES_MITI = (
    "reflection_to_question",
    "percent_complex_reflections",
    "percent_open_questions",
    "change_talk_ratio",
)
FEATURES_MORE = (
    *FEATURES_MITI,
    "share_question",
    "share_reflection",
    "share_input",
    "therapist_word_share",
)


def session_features(result: AnalysisResult) -> dict[str, float]:
    """Alliance's summary figures of one session (NaN where a figure is undefined)."""
    miti = result.summary.miti

    def value(v: float | None) -> float:
        return float(v) if v is not None else float("nan")

    shares = {c.label: c.share for c in miti.main_behaviours}
    rq = miti.reflection_to_question.value
    return {
        # log keeps a session with 12 reflections per question from dominating the fit
        "reflection_to_question": float(np.log1p(rq)) if rq is not None else float("nan"),
        "percent_complex_reflections": value(miti.percent_complex_reflections.value),
        "percent_open_questions": value(miti.percent_open_questions.value),
        "change_talk_ratio": value(result.summary.client_talk.change_talk_ratio.value),
        "share_question": value(shares.get("question")),
        "share_reflection": value(shares.get("reflection")),
        "share_input": value(shares.get("input")),
        "therapist_word_share": value(result.summary.talk.therapist_word_share.value),
    }


def nan_stat(stat: Callable[[np.ndarray], Any], values: np.ndarray, empty: float) -> float:
    """``stat`` of the defined (non-NaN) values, or ``empty`` when there are none."""
    defined = values[~np.isnan(values)]
    return float(stat(defined)) if len(defined) else empty


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """L2-penalised logistic regression by Newton steps; returns [intercept, weights…].
    ``x`` is already standardised; the intercept is not penalised."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


@dataclass(frozen=True)
class QualityModel:
    """Imputation (training medians), standardisation and weights of one fitted model."""

    medians: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    weights: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> QualityModel:
        # a column with no defined value at all gets 0 (after standardising it is constant)
        medians = np.array([nan_stat(np.median, x[:, j], 0.0) for j in range(x.shape[1])])
        filled = np.where(np.isnan(x), medians, x)
        means, scales = filled.mean(axis=0), filled.std(axis=0)
        scales = np.where(scales > 0, scales, 1.0)
        weights = fit_logistic((filled - means) / scales, y, l2)
        return cls(medians, means, scales, weights)

    def probability(self, x: np.ndarray) -> np.ndarray:
        filled = np.where(np.isnan(x), self.medians, x)
        z = (filled - self.means) / self.scales
        return np.asarray(1 / (1 + np.exp(-(self.weights[0] + z @ self.weights[1:]))))


def auc(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties count half); NaN with one class only."""
    y_arr, s = np.asarray(y), np.asarray(score, dtype=float)
    pos, neg = s[y_arr == 1], s[y_arr == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def leave_one_out(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> np.ndarray:
    """Out-of-fold probability of each conversation (leave one conversation out)."""
    out = np.zeros(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = QualityModel.fit(x[keep], y[keep], l2).probability(x[i : i + 1])[0]
    return out


def quality_report(
    name: str, y: np.ndarray, prob: np.ndarray, resamples: int
) -> tuple[float, float]:
    pairs = list(zip(y.tolist(), prob.tolist(), strict=True))
    acc = float(np.mean((prob >= 0.5) == (y == 1)))
    area = auc(y, prob)
    acc_ci = bootstrap_ci(
        pairs,
        lambda g: float(np.mean([(p >= 0.5) == (t == 1) for t, p in g])),
        resamples=resamples,
        seed=SEED,
    )
    auc_ci = bootstrap_ci(
        pairs,
        lambda g: auc([t for t, _ in g], [p for _, p in g]),
        resamples=resamples,
        seed=SEED,
    )
    print(
        f"  {name}: accuracy {acc:.3f} 95% CI {ci_text(acc_ci)}, AUC {area:.3f} 95% CI "
        f"{ci_text(auc_ci)} (n={len(y)}, {int(y.sum())} high)"
    )
    return acc, area


# --------------------------------------------------------------------------- main


def annomi_transcript_texts(df: Any = None) -> dict[int, str]:
    """Each AnnoMI transcript's whole text by id (what the copy check compares against);
    ``df`` is the loaded AnnoMI frame, read here when not given."""
    import text_data

    frame = text_data.load_annomi() if df is None else df
    return {
        int(tid): " ".join(part["text"].astype(str)) for tid, part in frame.groupby("transcript_id")
    }


def annomi_texts() -> tuple[dict[int, str], Any, Any, Any]:
    """AnnoMI transcripts' text by id, and the held-out split and frames of eval/evaluate.py."""
    import evaluate
    import text_data

    df = text_data.load_annomi()
    split, ther, cli = evaluate.annomi_heldout()
    return annomi_transcript_texts(df), df[df["transcript_id"].isin(split.test)], ther, cli


def annomi_split_of(transcript_id: int) -> str:
    from alliance.analysis import classifiers as clf

    path = clf.default_models_dir() / clf.LABELS_FILE
    split = json.loads(path.read_text()).get("annomi_split", {}) if path.is_file() else {}
    for part in ("train", "dev", "test"):
        if transcript_id in split.get(f"{part}_transcripts", []):
            return part
    return "unknown"


def annomi_conversations(df: Any) -> list[am.Conversation]:
    """AnnoMI held-out transcripts as conversations (no codes), with their MI quality."""
    out = []
    for tid, part in df.groupby("transcript_id"):
        turns = tuple(
            am.Turn(role=role, text=str(text))
            for role, text in zip(part["role"], part["text"], strict=True)
            if role in ("therapist", "client")
        )
        out.append(
            am.Conversation(
                corpus="AnnoMI",
                conv_id=str(tid),
                quality=str(part["mi_quality"].iloc[0]),
                turns=turns,
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--automisc", help=f"AutoMISC bare git dir or work tree (or ${am.ENV_VAR})")
    parser.add_argument("--backends", default="accurate,fast")
    parser.add_argument("--coding", choices=sorted(CODINGS), default="turns")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 bootstrap resamples")
    parser.add_argument("--copy-threshold", type=float, default=COPY_THRESHOLD)
    parser.add_argument("--no-quality", action="store_true", help="skip the session-quality model")
    parser.add_argument(
        "--quality-backend", help="backend for the session-quality model (default: the first)"
    )
    parser.add_argument(
        "--uncalibrated",
        action="store_true",
        help="the coders' own probabilities, without the calibration in labels.json (the "
        "'before' of eval/calibration.py)",
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in [*backends, args.quality_backend or "accurate"]:
        if backend not in ("accurate", "fast"):
            parser.error(f"unknown backend {backend!r}: choose accurate and/or fast")
    resamples = 100 if args.quick else args.resamples
    source = am.resolve_source(args.automisc)
    if not am.available(source):
        print(
            f"evaluate_crossdataset.py: skipped — AutoMISC not found at {source}; {am.FETCH_HINT}"
        )
        return 0
    annomi_csv = ANNOMI_CSV
    if not annomi_csv.is_file():
        print(
            f"evaluate_crossdataset.py: skipped — AnnoMI not found at {annomi_csv} (needed to "
            "drop the HLQC conversations that are copies of AnnoMI transcripts)"
        )
        return 0

    manual = am.load_manual(source)
    print(f"AutoMISC from {source}: {len(manual)} manually coded conversations")
    print("\n== MISC codes in the data and the class each maps to (role, t1, t2 -> class: count)")
    for role, t1, t2, cls, n in am.code_table(manual):
        print(f"  {role:<9} {t1:<4} {t2:<4} -> {cls:<10} {n:5d}")
    print(f"  client rows whose t1 and t2 valence disagree: {am.client_disagreements(manual)}")

    texts, annomi_test, ther, _cli = annomi_texts()
    index = ngram_index(texts)
    hlqc = am.load_hlqc(source)
    hlqc_copies, overlaps = find_copies(
        {c.conv_id: c.text for c in hlqc}, index, args.copy_threshold
    )
    in_train = Counter(annomi_split_of(int(src)) for _, src in hlqc_copies.values())
    below = max((v for v in overlaps.values() if v < args.copy_threshold), default=0.0)
    above = min((v for v, _ in hlqc_copies.values()), default=float("nan"))
    print(
        f"\n== copies of AnnoMI (word {NGRAM}-gram overlap >= {args.copy_threshold:.0%} of the "
        f"conversation's {NGRAM}-grams in one AnnoMI transcript)"
    )
    print(
        f"  HLQC: {len(hlqc_copies)} of {len(hlqc)} conversations are copies and are dropped "
        f"(AnnoMI split of their source: {dict(sorted(in_train.items()))}); highest overlap "
        f"kept {below:.1%}, lowest dropped {above:.1%}"
    )
    manual_copies, _ = find_copies({c.conv_id: c.text for c in manual}, index, args.copy_threshold)
    kept = [c for c in manual if c.conv_id not in manual_copies and c.conv_id not in hlqc_copies]
    by_corpus = Counter(c.corpus for c in kept)
    print(
        f"  manually coded: {len(manual) - len(kept)} copies dropped "
        f"({', '.join(sorted(manual_copies))}); kept {len(kept)} ({dict(by_corpus)})"
    )

    summary: dict[str, dict[str, float]] = {}
    for backend in backends:
        if args.uncalibrated:
            from alliance.analysis.classifiers import load_coder

            coder = load_coder(backend, calibrated=False)
            analyzer = Analyzer(coder=coder, backend=backend)
        else:
            analyzer = Analyzer.load(backend, empathy=False)
        t0 = time.perf_counter()
        both = {c.conv_id: code_conversation(analyzer, c, args.coding) for c in kept}
        coded = {k: labels for k, (labels, _) in both.items()}
        segs = {c.conv_id: predict_segments(analyzer, c) for c in kept}
        elapsed = time.perf_counter() - t0
        calibration = "uncalibrated" if args.uncalibrated else "calibrated"
        print(
            f"\n== backend {backend} ({calibration}; coding={args.coding}; coded in "
            f"{elapsed:.1f} s)"
        )
        groups = {c.conv_id: score_conversation(c, coded[c.conv_id]) for c in kept}
        seg_groups = {c.conv_id: score_segments(c, segs[c.conv_id]) for c in kept}
        unit_groups = {c.conv_id: score_segments(c, both[c.conv_id][1]) for c in kept}
        figs: dict[str, float] = {}
        parts = [("all", kept)] + [
            (corpus, [c for c in kept if c.corpus == corpus]) for corpus in sorted(by_corpus)
        ]
        for part, convs in parts:
            g = [groups[c.conv_id] for c in convs]
            sg = [seg_groups[c.conv_id] for c in convs]
            n_t = sum(t.role == "therapist" for t in flat(g))
            n_c = len(flat(g)) - n_t
            print(
                f"\n  -- {part}: {len(convs)} conversations, {n_t} therapist + {n_c} client turns"
            )
            for key, value in figures_with_ci(
                f"{part} turn lenient", g, resamples, lenient=True
            ).items():
                figs[f"{part}/lenient/{key}"] = value
            for key, value in figures_with_ci(
                f"{part} turn strict", g, resamples, lenient=False
            ).items():
                figs[f"{part}/strict/{key}"] = value
            for key, value in figures_with_ci(
                f"{part} segment", sg, resamples, lenient=False
            ).items():
                figs[f"{part}/segment/{key}"] = value
            ug = [unit_groups[c.conv_id] for c in convs]
            for key, value in figures_with_ci(
                f"{part} segment ({args.coding}: {UNIT_NOTE[args.coding]})",
                ug,
                resamples,
                lenient=False,
            ).items():
                figs[f"{part}/units/{key}"] = value
            figs[f"{part}/ct_ratio"] = print_change(f"{part} turn", g, resamples)
            print_change(f"{part} segment", sg, resamples)
        turns = flat(groups.values())
        print_detail("turn level lenient (all)", turns, lenient=True)
        print_detail("turn level strict (all)", turns, lenient=False)
        print_detail("segment level (all)", flat(seg_groups.values()), lenient=False)
        seg_fine = [t for t in flat(seg_groups.values()) if t.fine_gold]
        figs["fine/segment"] = print_fine(
            "fine labels, segments coded OQ/CQ/SR/CR (all)",
            [next(iter(t.fine_gold)) for t in seg_fine],
            [t.fine_predicted for t in seg_fine],
        )
        turn_fine = [t for t in turns if len(t.fine_gold) == 1]
        figs["fine/turn"] = print_fine(
            "fine labels, turns whose OQ/CQ/SR/CR segments share one code (all)",
            [next(iter(t.fine_gold)) for t in turn_fine],
            [t.fine_predicted for t in turn_fine],
        )
        coder = analyzer.coder
        assert coder is not None
        keep = ther["fine"].isin(FINE4).to_numpy()
        predicted = coder.therapist_behaviour(list(ther["text"][keep]), list(ther["context"][keep]))
        figs["fine/annomi"] = print_fine(
            "fine labels, AnnoMI held-out therapist utterances coded open/closed question or "
            "simple/complex reflection",
            list(ther["fine"][keep]),
            [p.label for p in predicted],
        )
        summary[backend] = figs

    print("\n== summary (non-copies, turn level lenient; issue 12 measured 0.742 / 0.545)")
    for backend, figs in summary.items():
        t, c, r = figs["all/lenient/therapist"], figs["all/lenient/client"], figs["all/ct_ratio"]
        print(
            f"  {backend}: therapist {t:.3f} (aim >= {AIMS['therapist']:.2f}: "
            f"{'met' if t >= AIMS['therapist'] else 'missed'}), client {c:.3f} (aim >= "
            f"{AIMS['client']:.2f}: {'met' if c >= AIMS['client'] else 'missed'}), change-talk "
            f"rate {r:.2f}x gold (aim within {AIMS['ct_ratio']}x: "
            f"{'met' if 1 / AIMS['ct_ratio'] <= r <= AIMS['ct_ratio'] else 'missed'}); strict "
            f"{figs['all/strict/therapist']:.3f} / {figs['all/strict/client']:.3f}, segment "
            f"(gold segments coded) {figs['all/segment/therapist']:.3f} / "
            f"{figs['all/segment/client']:.3f}, segment ({args.coding}: "
            f"{UNIT_NOTE[args.coding]}) {figs['all/units/therapist']:.3f} / "
            f"{figs['all/units/client']:.3f}; fine "
            f"macro-F1 segments {figs['fine/segment']:.3f}, AnnoMI held-out "
            f"{figs['fine/annomi']:.3f}"
        )

    if not args.no_quality:
        quality(hlqc, hlqc_copies, annomi_test, args.quality_backend or backends[0], resamples)
    return 0


def quality(
    hlqc: Sequence[am.Conversation],
    copies: Mapping[str, Any],
    annomi_test: Any,
    backend: str,
    resamples: int,
) -> None:
    analyzer = Analyzer.load(backend, empathy=False)  # type: ignore[arg-type]
    convs = [c for c in hlqc if c.conv_id not in copies and c.quality in ("high", "low")]
    t0 = time.perf_counter()
    rows = [session_features(analyse(analyzer, c)) for c in convs]
    y = np.array([c.quality == "high" for c in convs], dtype=int)
    print(
        f"\n== session quality: HLQC non-copies, {len(convs)} conversations ({int(y.sum())} high, "
        f"{len(y) - int(y.sum())} low), analysed with {backend} in {time.perf_counter() - t0:.1f} s"
    )
    majority = max(y.mean(), 1 - y.mean())
    print(f"  majority-class baseline accuracy {majority:.3f}")
    for name in FEATURES_MORE:
        v = np.array([r[name] for r in rows])
        ok = ~np.isnan(v)
        print(
            f"  {name:<28} high mean {nan_stat(np.mean, v[y == 1], np.nan):7.3f}  low mean "
            f"{nan_stat(np.mean, v[y == 0], np.nan):7.3f}  AUC alone {auc(y[ok], v[ok]):.3f} "
            f"({int((~ok).sum())} undefined)"
        )
    annomi = annomi_conversations(annomi_test)
    a_rows = [session_features(analyse(analyzer, c)) for c in annomi]
    a_y = np.array([c.quality == "high" for c in annomi], dtype=int)
    for label, names in (
        ("MITI indicators (4)", FEATURES_MITI),
        ("indicators + shares (8)", FEATURES_MORE),
    ):
        x = np.array([[r[n] for n in names] for r in rows])
        quality_report(
            f"{label}, leave-one-conversation-out on HLQC", y, leave_one_out(x, y), resamples
        )
        model = QualityModel.fit(x, y)
        weights = ", ".join(f"{n} {w:+.2f}" for n, w in zip(names, model.weights[1:], strict=True))
        print(f"    fitted on all of HLQC, weights per SD (positive = high quality): {weights}")
        ax = np.array([[r[n] for n in names] for r in a_rows])
        quality_report(
            f"{label}, fitted on HLQC, applied to AnnoMI held-out",
            a_y,
            model.probability(ax),
            resamples,
        )
    print(
        f"  published: Pérez-Rosas et al. 2019 (ACL), up to {PEREZ_ROSAS_2019:.2f} accuracy on "
        "HLQC with their own linguistic features (other protocol; copies of AnnoMI not removed)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
