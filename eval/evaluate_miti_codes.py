"""Precision, recall and F1 of the MITI 4.2.1 code heads (alliance.analysis.miti), on our
frozen evaluation set and against AutoMISC's manual consensus MISC codes.

1. **Frozen set** (eval/data/miti_eval.yaml, written before training; its SHA-256 must match
   eval/data/miti_eval.sha256 or the script refuses): each item is one therapist turn with
   every code it carries. 95 % bootstrap intervals over items.
2. **AutoMISC** (read at run time by eval/_automisc.py; no licence, so evaluate only, never
   train on or commit): the counsellor segments of the manually coded HLQC and MIV6.3A
   conversations, minus those that copy AnnoMI (word 5-gram overlap, the same test as
   eval/evaluate_crossdataset.py). MISC has no *seek collaboration* code, so that head is
   scored on the frozen set only. The map (MISC 2.5 behaviour code → MITI 4.2.1 code):

   ======================  =========================================================
   affirm                  AF (a second row adds SU support, which MITI 4.2.1 would
                           often code as affirm but MISC keeps apart)
   emphasise_autonomy      EC (emphasise control)
   persuade                ADW advise without permission, RCW raise concern without
                           permission, WA warn, DI direct
   persuade_with_permission ADP advise with permission, RCP raise concern with permission
   confront                CO
   MI-adherent (any of     AF, EC
   affirm, autonomy)
   MI-non-adherent (any of ADW, RCW, WA, DI, CO
   persuade, confront)
   ======================  =========================================================

   Segment level: each MISC segment coded on its own. Turn level: each counsellor turn
   ("volley") coded whole (split into sentences as the pipeline does) against the union of
   its segments' codes. 95 % bootstrap intervals over conversations.

Same-run baseline: the rule-based markers (alliance.analysis.markers) where one corresponds —
``affirmation`` → affirm, ``collaboration`` → seek collaboration.

    PYTHONPATH=src .venv/bin/python eval/evaluate_miti_codes.py
    PYTHONPATH=src .venv/bin/python eval/evaluate_miti_codes.py --errors   # list mistakes
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "eval"))
sys.path.insert(0, str(ROOT / "training"))

import _automisc as am  # noqa: E402
from _metrics import bootstrap_ci  # noqa: E402

from alliance.analysis.markers import MarkerInput, detect  # noqa: E402
from alliance.analysis.miti import (  # noqa: E402
    HEADS_FILE,
    MI_NON_ADHERENT,
    MITI_CODES,
    MitiCoder,
    MitiHeads,
)

EVAL_SET = ROOT / "eval" / "data" / "miti_eval.yaml"
EVAL_HASH = ROOT / "eval" / "data" / "miti_eval.sha256"
SEED = 20261203
MISC_TO_MITI: dict[str, str] = {
    "AF": "affirm",
    "EC": "emphasise_autonomy",
    "ADW": "persuade",
    "RCW": "persuade",
    "WA": "persuade",
    "DI": "persuade",
    "ADP": "persuade_with_permission",
    "RCP": "persuade_with_permission",
    "CO": "confront",
}
# Derived rows: name → (codes predicted, MISC codes gold).
GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "affirm (AF+SU)": (("affirm",), ("AF", "SU")),
    "MI-adherent (AF, EC)": (("affirm", "emphasise_autonomy"), ("AF", "EC")),
    "MI-non-adherent": (MI_NON_ADHERENT, ("ADW", "RCW", "WA", "DI", "CO")),
}
BASELINE_MARKERS = {"affirmation": "affirm", "collaboration": "seek_collaboration"}

Pair = tuple[frozenset[str], frozenset[str]]  # (gold, predicted)


def prf(pairs: Sequence[Pair], code: str) -> tuple[float, float, float, int, int]:
    tp = sum(1 for g, p in pairs if code in g and code in p)
    gold = sum(1 for g, _ in pairs if code in g)
    pred = sum(1 for _, p in pairs if code in p)
    precision = tp / pred if pred else float("nan")
    recall = tp / gold if gold else float("nan")
    f1 = 2 * tp / (gold + pred) if gold + pred else float("nan")
    return precision, recall, f1, gold, pred


def ci_f1(groups: Sequence[Sequence[Pair]], code: str, resamples: int) -> tuple[float, float]:
    def stat(picked: Sequence[Sequence[Pair]]) -> float:
        return prf([p for g in picked for p in g], code)[2]

    return bootstrap_ci(groups, stat, resamples=resamples, seed=SEED)


def fmt(v: float) -> str:
    return "  n/a" if np.isnan(v) else f"{v:.3f}"


def print_table(
    title: str, groups: Sequence[Sequence[Pair]], codes: Sequence[str], resamples: int
) -> dict[str, float]:
    pairs = [p for g in groups for p in g]
    print(f"\n== {title} ({len(pairs)} units, {len(groups)} groups for the intervals)")
    print(f"  {'code':<28} {'gold':>5} {'pred':>5}  {'P':>5}  {'R':>5}  {'F1':>5}  95% CI (F1)")
    out: dict[str, float] = {}
    for code in codes:
        p, r, f, gold, pred = prf(pairs, code)
        lo, hi = ci_f1(groups, code, resamples) if gold else (float("nan"), float("nan"))
        print(
            f"  {code:<28} {gold:5d} {pred:5d}  {fmt(p)}  {fmt(r)}  {fmt(f)}  "
            f"[{fmt(lo)}, {fmt(hi)}]"
        )
        out[code] = f
    return out


def with_groups(pairs_codes: tuple[frozenset[str], frozenset[str]], misc: frozenset[str]) -> Pair:
    """Add the derived rows (GROUPS) to one unit's gold and predicted code sets."""
    gold, pred = pairs_codes
    g, p = set(gold), set(pred)
    for name, (codes, misc_codes) in GROUPS.items():
        if set(codes) & pred:
            p.add(name)
        if set(misc_codes) & misc:
            g.add(name)
    return frozenset(g), frozenset(p)


def load_coder(heads_path: Path) -> MitiCoder:
    from alliance.analysis.embeddings import sentence_embeddings

    return MitiCoder(heads=MitiHeads.load(heads_path), embed=sentence_embeddings)


def predict(coder: MitiCoder, texts: Sequence[str]) -> list[frozenset[str]]:
    return [frozenset(h.code for h in turn.hits) for turn in coder.code_turns(texts)]


def rule_baseline(texts: Sequence[str], previous: Sequence[str]) -> list[frozenset[str]]:
    out = []
    for text, prev in zip(texts, previous, strict=True):
        hits = detect(
            MarkerInput(
                text=text,
                role="therapist",
                previous_text=prev,
                previous_role="client" if prev else None,
            )
        )
        out.append(
            frozenset(BASELINE_MARKERS[h.marker] for h in hits if h.marker in BASELINE_MARKERS)
        )
    return out


# --------------------------------------------------------------------------- frozen set


def load_frozen() -> list[tuple[str, frozenset[str]]]:
    digest = hashlib.sha256(EVAL_SET.read_bytes()).hexdigest()
    expected = EVAL_HASH.read_text(encoding="utf-8").split()[0]
    if digest != expected:
        raise SystemExit(
            f"{EVAL_SET.name} has changed since it was frozen (sha256 {digest[:12]}…, expected "
            f"{expected[:12]}…); the evaluation set must not be edited"
        )
    items = yaml.safe_load(EVAL_SET.read_text(encoding="utf-8"))["items"]
    return [(str(i["text"]), frozenset(i.get("codes") or ())) for i in items]


def frozen_report(coder: MitiCoder, resamples: int, errors: bool) -> dict[str, float]:
    items = load_frozen()
    texts = [t for t, _ in items]
    predicted = predict(coder, texts)
    groups = [[(g, p)] for (_, g), p in zip(items, predicted, strict=True)]
    figures = print_table("frozen evaluation set, heads", groups, MITI_CODES, resamples)
    base = rule_baseline(texts, [""] * len(texts))
    base_groups = [[(g, p)] for (_, g), p in zip(items, base, strict=True)]
    print_table(
        "frozen evaluation set, same-run baseline: rule markers",
        base_groups,
        tuple(BASELINE_MARKERS.values()),
        resamples,
    )
    if errors:
        print("\n  mistakes (gold → predicted):")
        for (text, g), p in zip(items, predicted, strict=True):
            if g != p:
                print(f"    {sorted(g)} → {sorted(p)}: {text}")
    return figures


# --------------------------------------------------------------------------- AutoMISC


def non_copies(source: Path) -> list[am.Conversation]:
    import evaluate_crossdataset as xd

    manual = am.load_manual(source)
    index = xd.ngram_index(xd.annomi_transcript_texts())
    copies, _ = xd.find_copies({c.conv_id: c.text for c in manual}, index, xd.COPY_THRESHOLD)
    kept = [c for c in manual if c.conv_id not in copies]
    print(
        f"AutoMISC manual codes: {len(manual)} conversations, {len(copies)} copies of AnnoMI "
        f"dropped ({', '.join(sorted(copies))}), {len(kept)} kept "
        f"({dict(Counter(c.corpus for c in kept))})"
    )
    for corpus in am.MANUAL_FILES:
        counts = Counter(
            s.t2
            for c in manual
            if c.corpus == corpus
            for t in c.turns
            if t.role == "therapist"
            for s in t.segments
        )
        print(f"  {corpus} counsellor MISC codes (all conversations): {dict(counts.most_common())}")
    return kept


def misc_gold(codes: frozenset[str]) -> frozenset[str]:
    return frozenset(MISC_TO_MITI[c] for c in codes if c in MISC_TO_MITI)


def automisc_units(
    conversations: Sequence[am.Conversation],
) -> tuple[
    list[list[tuple[str, str, frozenset[str]]]], list[list[tuple[str, str, frozenset[str]]]]
]:
    """Per conversation: segment units and turn units as (text, previous client turn, MISC
    codes)."""
    segments, turns = [], []
    for c in conversations:
        seg_units, turn_units = [], []
        previous = ""
        for t in c.turns:
            if t.role == "client":
                previous = t.text
                continue
            if not t.segments:
                continue
            for s in t.segments:
                seg_units.append((s.text, previous, frozenset({s.t2.upper()})))
            turn_units.append((t.text, previous, frozenset(s.t2.upper() for s in t.segments)))
            previous = ""
        segments.append(seg_units)
        turns.append(turn_units)
    return segments, turns


def score_units(
    units: Sequence[Sequence[tuple[str, str, frozenset[str]]]],
    predictor: Callable[[Sequence[str], Sequence[str]], list[frozenset[str]]],
) -> list[list[Pair]]:
    flat = [u for g in units for u in g]
    predicted = predictor([u[0] for u in flat], [u[1] for u in flat])
    out: list[list[Pair]] = []
    k = 0
    for g in units:
        part = []
        for _text, _, misc in g:
            part.append(with_groups((misc_gold(misc), predicted[k]), misc))
            k += 1
        out.append(part)
    return out


def automisc_report(
    coder: MitiCoder, source: Path, resamples: int, errors: bool
) -> dict[str, float]:
    kept = non_copies(source)
    segments, turns = automisc_units(kept)
    codes = [c for c in MITI_CODES if c != "seek_collaboration"] + list(GROUPS)
    figures: dict[str, float] = {}
    for level, units in (("segment", segments), ("turn", turns)):
        scored = score_units(units, lambda texts, _prev: predict(coder, texts))
        f = print_table(f"AutoMISC non-copies, {level} level, heads", scored, codes, resamples)
        figures.update({f"{level}/{k}": v for k, v in f.items()})
        base = score_units(units, rule_baseline)
        print_table(
            f"AutoMISC non-copies, {level} level, same-run baseline: rule marker 'affirmation'",
            base,
            ("affirm", "affirm (AF+SU)"),
            resamples,
        )
        if errors and level == "segment":
            flat_units = [u for g in units for u in g]
            flat_scored = [p for g in scored for p in g]
            print("\n  segment mistakes on the mapped codes (MISC code, gold → predicted):")
            for (text, _, misc), (g, p) in zip(flat_units, flat_scored, strict=True):
                gm, pm = set(g) & set(MITI_CODES), set(p) & set(MITI_CODES)
                if gm != pm:
                    print(f"    {sorted(misc)} {sorted(gm)} → {sorted(pm)}: {text[:110]}")
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--automisc", help=f"AutoMISC bare git dir or work tree (or ${am.ENV_VAR})")
    parser.add_argument(
        "--heads", type=Path, help=f"heads file (default: the bundled {HEADS_FILE})"
    )
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--errors", action="store_true", help="list the mistakes")
    args = parser.parse_args(argv)
    from alliance.analysis.classifiers import default_models_dir

    heads_path = args.heads or default_models_dir() / HEADS_FILE
    if not heads_path.is_file():
        print(f"evaluate_miti_codes.py: no heads at {heads_path}; run training/train_miti_heads.py")
        return 1
    coder = load_coder(heads_path)
    print(
        f"heads: {heads_path}; thresholds "
        + ", ".join(
            f"{c} {t:.2f}" for c, t in zip(coder.heads.codes, coder.heads.thresholds, strict=True)
        )
    )
    frozen_report(coder, args.resamples, args.errors)
    source = am.resolve_source(args.automisc)
    if not am.available(source):
        print(f"\nAutoMISC part skipped — not found at {source}; {am.FETCH_HINT}")
        return 0
    if not (ROOT.parent / "shared" / "data" / "annomi" / "AnnoMI-full.csv").is_file():
        print("\nAutoMISC part skipped — AnnoMI is needed to drop the conversations that copy it")
        return 0
    automisc_report(coder, source, args.resamples, args.errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
