"""Precision and recall of the relationship/rupture markers: the named rules and the
model-based rupture classifier (alliance.analysis.ruptures).

1. Rules on our labelled set (tests/data/markers/{dev,test}.jsonl), written by hand for this
   project: each line is an utterance with the turn before it and the markers a reader would
   see in it, including hard negatives. Rules are tuned on ``dev`` only; ``test`` is
   reported, never tuned on.
2. Rules vs classifier vs their union on the frozen rupture set (tests/data/ruptures/
   eval.jsonl; written before the classifier's training data, by another procedure, and
   refused if its SHA-256 changed): P / R / F1 per 3RS subtype and per category. Rule
   markers are mapped to their 3RS subtype (``ruptures.RULE_SUBTYPE``).
3. External checks, no rupture labels needed: rupture turns per 100 client turns per session
   should be higher in low- than in high-quality MI. AUC (low quality = positive) with a
   bootstrap interval over sessions, and the rate in high-quality sessions (read as false
   positives per 100 client turns, an upper bound: some may be real), for rules, classifier
   and union, on AnnoMI's held-out test transcripts (``mi_quality``) and on HLQC
   conversations from AutoMISC that are not copies of AnnoMI (word 5-gram overlap, as in
   eval/evaluate_crossdataset.py; AutoMISC has no licence: read at run time, evaluate only).
   Each part is skipped with a message when its data is absent.

    .venv/bin/python eval/evaluate_markers.py            # everything
    .venv/bin/python eval/evaluate_markers.py --errors   # also list dev-split mistakes
    .venv/bin/python eval/evaluate_markers.py --no-annomi --no-external   # labelled sets only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alliance.analysis.markers import (
    MARKERS,
    MarkerHit,
    MarkerInput,
    category_of,
    detect,
    detect_session,
    marker_inputs,
)
from alliance.analysis.ruptures import RULE_SUBTYPE, SUBTYPES, RuptureModel, load_rupture_model

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "markers"
RUPTURE_SET = ROOT / "tests" / "data" / "ruptures" / "eval.jsonl"
RUPTURE_SET_SHA256 = "420282f13dbe23f182ae61e9b8e71fde810f592eb5d617ba7681527453af252b"
SEED = 20261203
GROUPS = ("collaboration", "validation", "affirmation", "withdrawal", "confrontation")


def load(split: str) -> list[dict[str, object]]:
    with (DATA / f"{split}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def predict(row: dict[str, object]) -> set[str]:
    context = row["context"]
    assert isinstance(context, list)
    previous = context[-1] if context else {"role": None, "text": ""}
    item = MarkerInput(
        text=str(row["text"]),
        role=row["role"],  # type: ignore[arg-type]
        previous_text=str(previous["text"]),
        previous_role=previous["role"],
    )
    return {hit.marker for hit in detect(item)}


def group(markers: set[str]) -> set[str]:
    out = set()
    for m in markers:
        cat = category_of(m)
        out.add(m if cat == "relationship" else cat)
    return out


def scores(gold: list[set[str]], pred: list[set[str]], labels: tuple[str, ...]) -> list[tuple]:
    rows = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if label in g and label in p)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if label not in g and label in p)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if label in g and label not in p)
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if tp and precision + recall else 0.0
        rows.append((label, tp + fn, tp, fp, fn, precision, recall, f1))
    return rows


def report(split: str, show_errors: bool) -> None:
    rows = load(split)
    gold = [set(r["markers"]) for r in rows]  # type: ignore[arg-type]
    pred = [predict(r) for r in rows]
    negatives = sum(1 for g in gold if not g)
    print(f"\n== {split}: {len(rows)} utterances ({negatives} with no marker) ==")
    header = (
        f"{'marker':26} {'n':>3} {'tp':>3} {'fp':>3} {'fn':>3} {'prec':>6} {'rec':>6} {'F1':>6}"
    )
    for title, labels, g, p in (
        ("per marker", MARKERS, gold, pred),
        ("per category", GROUPS, [group(x) for x in gold], [group(x) for x in pred]),
    ):
        print(f"-- {title}")
        print(header)
        table = scores(g, p, labels)
        for label, n, tp, fp, fn, prec, rec, f1 in table:
            print(f"{label:26} {n:3d} {tp:3d} {fp:3d} {fn:3d} {prec:6.2f} {rec:6.2f} {f1:6.2f}")
        tp = sum(r[2] for r in table)
        fp = sum(r[3] for r in table)
        fn = sum(r[4] for r in table)
        micro_p = tp / (tp + fp) if tp + fp else float("nan")
        micro_r = tp / (tp + fn) if tp + fn else float("nan")
        macro_f1 = sum(r[7] for r in table) / len(table)
        print(f"{'micro':26} {tp + fn:3d} {tp:3d} {fp:3d} {fn:3d} {micro_p:6.2f} {micro_r:6.2f}")
        print(f"{'macro F1':26} {macro_f1:.2f}")
    clean = sum(1 for g, p in zip(gold, pred, strict=True) if not g and not p)
    print(f"hard negatives left unmarked: {clean}/{negatives}")
    if show_errors:
        for r, g, p in zip(rows, gold, pred, strict=True):
            if g != p:
                print(f"  {r['id']}: gold={sorted(g)} pred={sorted(p)} :: {r['text']}")


def annomi_rates() -> None:
    """Face validity, not accuracy: marker rates in AnnoMI's high- vs low-quality MI sessions.

    AnnoMI has no marker labels; but good MI should show more collaboration, validation and
    affirmation from the therapist, and low-quality (confrontational, directive) MI more
    client withdrawal and confrontation. A detector that showed the opposite would be suspect.
    """
    import pandas as pd

    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "annomi" / "AnnoMI-simple.csv"
    if not path.is_file():
        print(f"\n(AnnoMI not found at {path}: face-validity check skipped)")
        return
    frame = pd.read_csv(path).sort_values(["transcript_id", "utterance_id"])
    counts: dict[tuple[str, str], int] = {}
    turns: dict[tuple[str, str], int] = {}
    for (quality, _), rows in frame.groupby(["mi_quality", "transcript_id"], sort=False):
        previous: dict[str, str] = {}
        for role, text in zip(rows["interlocutor"], rows["utterance_text"], strict=True):
            other = "client" if role == "therapist" else "therapist"
            item = MarkerInput(
                text=str(text),
                role=role,
                previous_text=previous.get(other, ""),
                previous_role=other if other in previous else None,
            )
            turns[(quality, role)] = turns.get((quality, role), 0) + 1
            for marker in group({hit.marker for hit in detect(item)}):
                counts[(quality, marker)] = counts.get((quality, marker), 0) + 1
            previous[role] = str(text)
    print("\n== face validity on AnnoMI (no labels): markers per 100 turns of the speaker ==")
    print(f"{'marker':16} {'high-quality MI':>16} {'low-quality MI':>15}")
    for marker, role in (
        ("collaboration", "therapist"),
        ("validation", "therapist"),
        ("affirmation", "therapist"),
        ("withdrawal", "client"),
        ("confrontation", "client"),
    ):
        cells = []
        for quality in ("high", "low"):
            n = turns.get((quality, role), 0)
            rate = 100 * counts.get((quality, marker), 0) / n if n else float("nan")
            cells.append(rate)
        print(f"{marker:16} {cells[0]:16.1f} {cells[1]:15.1f}")
    print(
        "turns: "
        + ", ".join(
            f"{q} {r} {turns.get((q, r), 0)}"
            for q in ("high", "low")
            for r in ("therapist", "client")
        )
    )


# --------------------------------------------------------------------------- rupture set

METHODS = ("rules", "classifier", "union")


def _rupture_subtypes(hits: Sequence[MarkerHit]) -> set[str]:
    return {RULE_SUBTYPE[h.marker] for h in hits if h.marker in RULE_SUBTYPE}


def _prf(gold: list[set[str]], pred: list[set[str]], label: str) -> tuple[int, float, float, float]:
    tp = sum(1 for g, p in zip(gold, pred, strict=True) if label in g and label in p)
    fp = sum(1 for g, p in zip(gold, pred, strict=True) if label not in g and label in p)
    fn = sum(1 for g, p in zip(gold, pred, strict=True) if label in g and label not in p)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return tp + fn, precision, recall, f1


def rupture_set(model: RuptureModel | None, show_errors: bool) -> None:
    """Rules vs classifier vs union on the frozen rupture set (never tuned on)."""
    digest = hashlib.sha256(RUPTURE_SET.read_bytes()).hexdigest()
    if digest != RUPTURE_SET_SHA256:
        raise SystemExit(f"{RUPTURE_SET} has changed (sha256 {digest}); it is frozen")
    rows = [json.loads(line) for line in RUPTURE_SET.read_text("utf-8").splitlines() if line]
    items = []
    for r in rows:
        previous = r["context"][-1]
        items.append(
            MarkerInput(
                text=r["text"],
                role=r["role"],
                previous_text=previous["text"],
                previous_role=previous["role"],
            )
        )
    gold = [set(r["subtypes"]) for r in rows]
    rules = [_rupture_subtypes(detect(item)) for item in items]
    if model is None:
        print("\n(rupture model not installed: classifier columns skipped)")
        classifier = [set() for _ in items]
    else:
        classifier = [_rupture_subtypes(h) for h in model.detect(items)]
    union = [a | b for a, b in zip(rules, classifier, strict=True)]
    preds = dict(zip(METHODS, (rules, classifier, union), strict=True))
    negatives = sum(1 for g in gold if not g)
    print(
        f"\n== frozen rupture set: {len(rows)} client turns ({negatives} without a rupture), "
        f"sha256 {digest[:12]}… =="
    )
    head = " ".join(f"{m + ' P/R/F1':>20}" for m in METHODS)
    for title, labels, to_label in (
        ("per 3RS subtype", SUBTYPES, lambda s: s),
        ("per category", ("withdrawal", "confrontation"), category_of),
    ):
        print(f"-- {title}")
        print(f"{'':34} {'n':>3} {head}")
        g = [{to_label(x) for x in row} for row in gold]
        f1s: dict[str, list[float]] = {m: [] for m in METHODS}
        for label in labels:
            cells = []
            n = 0
            for m in METHODS:
                p = [{to_label(x) for x in row} for row in preds[m]]
                n, prec, rec, f1 = _prf(g, p, label)
                f1s[m].append(f1)
                cells.append(f"{prec:6.2f} {rec:5.2f} {f1:5.2f}")
            print(f"{label:34} {n:3d} " + " ".join(f"{c:>20}" for c in cells))
        macro = " ".join(f"{np.mean(f1s[m]):20.2f}" for m in METHODS)
        print(f"{'macro F1':34}     {macro}")
    clean = {
        m: sum(1 for gg, p in zip(gold, preds[m], strict=True) if not gg and not p) for m in METHODS
    }
    print("negatives left unmarked: " + ", ".join(f"{m} {clean[m]}/{negatives}" for m in METHODS))
    if show_errors:
        print("(errors on the frozen set are not listed: it must not be tuned on)")


# --------------------------------------------------------------------------- external checks


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties half); NaN with one class only."""
    pos, neg = score[y == 1], score[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def auc_ci(y: np.ndarray, score: np.ndarray, resamples: int) -> tuple[float, float]:
    """Percentile bootstrap 95 % interval of the AUC, resampling sessions."""
    rng = np.random.default_rng(SEED)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(y), size=len(y))
        value = auc(y[pick], score[pick])
        if not np.isnan(value):
            values.append(value)
    lo, hi = np.percentile(values, [2.5, 97.5]) if values else (float("nan"), float("nan"))
    return float(lo), float(hi)


Session = tuple[str, str, Any]  # (id, quality "high"/"low", Transcript)


def session_rates(
    sessions: Sequence[Session], model: RuptureModel | None
) -> dict[str, list[tuple[str, int, dict[str, dict[str, int]]]]]:
    """Per session: quality, client turns, and per method per category the flagged turns."""
    out: dict[str, list[tuple[str, int, dict[str, dict[str, int]]]]] = {"all": []}
    for _, quality, transcript in sessions:
        items = marker_inputs(transcript)
        rule_hits = detect_session(transcript)
        model_hits = model.detect(items) if model is not None else [[] for _ in items]
        clients = [i for i, it in enumerate(items) if it.role == "client"]
        counts: dict[str, dict[str, int]] = {}
        for method in METHODS:
            per: dict[str, int] = {"withdrawal": 0, "confrontation": 0, "any": 0}
            for i in clients:
                hits = {
                    "rules": rule_hits[i],
                    "classifier": model_hits[i],
                    "union": rule_hits[i] + model_hits[i],
                }[method]
                cats = {category_of(h.marker) for h in hits} - {"relationship"}
                for c in cats:
                    per[c] += 1
                per["any"] += bool(cats)
            counts[method] = per
        out["all"].append((quality, len(clients), counts))
    return out


def separation(
    name: str, sessions: Sequence[Session], model: RuptureModel | None, resamples: int
) -> None:
    rows = session_rates(sessions, model)["all"]
    rows = [r for r in rows if r[1] > 0]
    y = np.array([1 if q == "low" else 0 for q, _, _ in rows])
    print(
        f"\n== {name}: {len(rows)} sessions ({int(y.sum())} low-, {int((1 - y).sum())} "
        f"high-quality MI), {sum(r[1] for r in rows)} client turns =="
    )
    print(
        f"{'method':11} {'category':14} {'AUC low>high [95% CI]':>24} "
        f"{'per 100 client turns: high':>27} {'low':>6}"
    )
    for method in METHODS:
        if method != "rules" and model is None:
            continue
        for category in ("any", "withdrawal", "confrontation"):
            score = np.array([100 * c[method][category] / n for _, n, c in rows])
            value = auc(y, score)
            lo, hi = auc_ci(y, score, resamples)
            rate = {}
            for q in ("high", "low"):
                turns = sum(n for qq, n, _ in rows if qq == q)
                flagged = sum(c[method][category] for qq, _, c in rows if qq == q)
                rate[q] = 100 * flagged / turns if turns else float("nan")
            print(
                f"{method:11} {category:14} {value:8.3f} [{lo:.3f}, {hi:.3f}]  "
                f"{rate['high']:27.1f} {rate['low']:6.1f}"
            )


def annomi_sessions() -> list[Session] | None:
    """AnnoMI's held-out test transcripts (labels.json split) with their MI quality."""
    import pandas as pd

    from alliance.analysis import classifiers as clf
    from alliance.transcripts import parse_transcript

    path = ROOT.parent / "shared" / "data" / "annomi" / "AnnoMI-simple.csv"
    if not path.is_file():
        return None
    labels = json.loads((clf.default_models_dir() / clf.LABELS_FILE).read_text())
    test = set(labels["annomi_split"]["test_transcripts"])
    frame = pd.read_csv(path).sort_values(["transcript_id", "utterance_id"])
    out: list[Session] = []
    for tid, rows in frame[frame["transcript_id"].isin(test)].groupby("transcript_id"):
        lines = [
            f"{'Therapist' if role == 'therapist' else 'Client'}: {' '.join(str(t).split())}"
            for role, t in zip(rows["interlocutor"], rows["utterance_text"], strict=True)
        ]
        transcript = parse_transcript("\n".join(lines), filename=f"annomi-{tid}.txt")
        out.append((str(tid), str(rows["mi_quality"].iloc[0]), transcript))
    return out


def hlqc_sessions(automisc: str | None) -> tuple[list[Session], str] | None:
    """HLQC conversations that are not copies of AnnoMI, with their quality."""
    sys.path.insert(0, str(ROOT / "eval"))
    sys.path.insert(0, str(ROOT / "training"))
    import _automisc as am
    import evaluate_crossdataset as xd

    source = am.resolve_source(automisc)
    if not am.available(source):
        print(f"\n(HLQC check skipped — AutoMISC not found at {source}; {am.FETCH_HINT})")
        return None
    texts = xd.annomi_transcript_texts()
    hlqc = am.load_hlqc(source)
    copies, _ = xd.find_copies({c.conv_id: c.text for c in hlqc}, xd.ngram_index(texts))
    kept = [c for c in hlqc if c.conv_id not in copies and c.quality in ("high", "low")]
    note = f"{len(copies)} of {len(hlqc)} HLQC conversations dropped as copies of AnnoMI"
    return [(c.conv_id, str(c.quality), xd.transcript_of(c)) for c in kept], note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "test", "both"], default="both")
    parser.add_argument(
        "--errors", action="store_true", help="list mistakes on the dev split (never test)"
    )
    parser.add_argument(
        "--no-annomi", action="store_true", help="skip the AnnoMI face-validity rates"
    )
    parser.add_argument(
        "--no-external", action="store_true", help="skip the low- vs high-quality checks"
    )
    parser.add_argument("--automisc", help="AutoMISC bare git dir or work tree")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args()
    for split in ("dev", "test") if args.split == "both" else (args.split,):
        report(split, show_errors=args.errors and split == "dev")
    model = load_rupture_model()
    rupture_set(model, show_errors=args.errors)
    if not args.no_annomi:
        annomi_rates()
    if args.no_external:
        return
    annomi = annomi_sessions()
    if annomi is None:
        print("\n(AnnoMI not found: held-out quality check skipped)")
    else:
        separation("AnnoMI held-out test transcripts", annomi, model, args.resamples)
    hlqc = hlqc_sessions(args.automisc)
    if hlqc is not None:
        sessions, note = hlqc
        separation(f"HLQC non-copies ({note})", sessions, model, args.resamples)


if __name__ == "__main__":
    main()
