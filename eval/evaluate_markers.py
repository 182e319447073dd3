"""Precision and recall of the rule-based relationship/rupture markers on our own labelled set.

The set (tests/data/markers/{dev,test}.jsonl) was written by hand for this project: each
line is an utterance with the turn before it and the markers a reader would see in it,
including hard negatives. Rules are tuned on ``dev`` only; ``test`` is reported, never tuned
on. Run:

    .venv/bin/python eval/evaluate_markers.py            # both splits, figures only
    .venv/bin/python eval/evaluate_markers.py --errors   # also list dev-split mistakes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from alliance.analysis.markers import MARKERS, MarkerInput, category_of, detect

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "markers"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "test", "both"], default="both")
    parser.add_argument(
        "--errors", action="store_true", help="list mistakes on the dev split (never test)"
    )
    parser.add_argument(
        "--no-annomi", action="store_true", help="skip the AnnoMI face-validity rates"
    )
    args = parser.parse_args()
    for split in ("dev", "test") if args.split == "both" else (args.split,):
        report(split, show_errors=args.errors and split == "dev")
    if not args.no_annomi:
        annomi_rates()


if __name__ == "__main__":
    main()
