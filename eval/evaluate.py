"""Evaluate the shipped session-analysis models on held-out data and print the figures.

What it measures (all through ``alliance.analysis.classifiers``, i.e. the shipped ONNX int8
and numpy fast-backend files that users get — never the torch training checkpoint):

* AnnoMI held-out transcripts (the split recorded in the shipped labels.json): therapist
  behaviour as 4 main classes and 9 fine labels, client talk type (3 classes), for both
  backends: per-class precision / recall / F1, accuracy, macro-F1, confusion matrices,
  next to the published results;
* human agreement recomputed on the 428 utterances coded by all 10 annotators (each
  annotator against the majority of the other nine; Fleiss' kappa), and the models against
  the majority of all ten on the same utterances;
* EPITOME empathy (optional model): accuracy and macro-F1 per mechanism on the held-out
  seeker posts, next to the published figures;
* units: the same held-out turns coded whole (``--units turns``, what the pipeline does by
  default) and by segments (``segments``: each turn split by ``alliance.analysis.segments``,
  coded through the pipeline's own ``code_segments`` and folded back to the turn); AnnoMI's
  labels are turn labels, so both are scored against them. ``--segment-rules`` compares the
  candidate aggregation rules on the *dev* transcripts (how the shipped rule was chosen).

Skips with a message when ../shared/data is absent.

    .venv/bin/python eval/evaluate.py            # everything
    .venv/bin/python eval/evaluate.py --no-empathy
    .venv/bin/python eval/evaluate.py --backends accurate --units turns,segments --segment-rules
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))

from alliance.analysis import classifiers as clf  # noqa: E402

sys.path.insert(0, str(ROOT / "eval"))
from _metrics import macro_f1, report  # noqa: E402

MAIN4 = ("question", "reflection", "input", "other")
PUBLISHED = {
    "therapist main (4)": [("Wu et al. 2022/2023", 0.72), ("M3TCM, LREC-COLING 2024", 0.83)],
    "client talk (3)": [
        ("Wu et al. 2022/2023", 0.55),
        ("M3TCM, LREC-COLING 2024", 0.66),
        ("BERT talk-type model (acc .70)", 0.58),
    ],
}
PUBLISHED_EMPATHY = {  # Sharma et al. 2020 replication: (accuracy, macro-F1)
    "emotional_reactions": (0.821, 0.753),
    "interpretations": (0.839, 0.697),
    "explorations": (0.914, 0.635),
}


# --------------------------------------------------------------------------- metrics


def fleiss_kappa(ratings: Sequence[Sequence[str]], labels: Sequence[str]) -> float:
    """Fleiss' kappa for items each rated by the same number of raters."""
    index = {lab: i for i, lab in enumerate(labels)}
    counts = np.zeros((len(ratings), len(labels)))
    for i, row in enumerate(ratings):
        for r in row:
            counts[i, index[r]] += 1
    n = counts.sum(axis=1)[0]
    p_j = counts.sum(axis=0) / counts.sum()
    p_i = ((counts * counts).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), (p_j * p_j).sum()
    return float((p_bar - p_e) / (1 - p_e))


def majority(values: Sequence[str], order: Sequence[str]) -> str:
    """Most frequent label; ties go to the earlier label in ``order``."""
    counts = dict.fromkeys(order, 0)
    for v in values:
        counts[v] += 1
    top = max(counts.values())
    return next(lab for lab in order if counts[lab] == top)


# --------------------------------------------------------------------------- AnnoMI


class MiniLMOnly:
    """The accurate backend's transformer without the blend with the linear model."""

    def __init__(self, coder: Any) -> None:
        self.coder = coder

    def therapist_behaviour(self, texts: list[str], contexts: list[str]) -> list[Any]:
        probs = self.coder.transformer_probabilities("therapist", texts, contexts)
        return clf._predictions(probs, self.coder.therapist_labels)

    def client_talk(self, texts: list[str], contexts: list[str]) -> list[Any]:
        probs = self.coder.transformer_probabilities("client", texts, contexts)
        return clf._predictions(probs, self.coder.client_labels)


def segment_units(coder: Any, ther: Any, cli: Any) -> tuple[list[Any], list[Any], int, int]:
    """Turn predictions with ``units="segments"`` (the pipeline's own code path), and how many
    segments the therapist and client turns were split into."""
    from alliance.analysis.pipeline import code_segments

    tc = code_segments(
        coder.therapist_behaviour, "therapist", list(ther["text"]), list(ther["context"])
    )
    cc = code_segments(coder.client_talk, "client", list(cli["text"]), list(cli["context"]))
    return (
        [code for code, _ in tc],
        [code for code, _ in cc],
        sum(len(segs) for _, segs in tc),
        sum(len(segs) for _, segs in cc),
    )


def units_eval(backend: str, coder: Any, ther: Any, cli: Any, figures: dict[str, float]) -> None:
    """Score ``units="segments"`` against AnnoMI's turn labels (see the module docstring)."""
    t0 = time.perf_counter()
    tp, cp, n_ts, n_cs = segment_units(coder, ther, cli)
    elapsed = time.perf_counter() - t0
    print(
        f"\n== backend {backend}, units segments: {len(ther)} therapist turns -> {n_ts} "
        f"segments, {len(cli)} client turns -> {n_cs} segments; turns and segments coded in "
        f"{elapsed:.2f} s ({(len(ther) + len(cli)) / elapsed:,.0f} turns/s)"
    )
    pred_main = [clf.main_behaviour(p.label) for p in tp]
    figures[f"{backend}/segments/main"] = report(
        "therapist behaviour, 4 main classes (turn level, units segments)",
        list(ther["main"]),
        pred_main,
        MAIN4,
    )
    fine_mask = ther["fine"].notna().to_numpy()
    figures[f"{backend}/segments/fine"] = macro_f1(
        list(ther["fine"][fine_mask]),
        [p.label for p, keep in zip(tp, fine_mask, strict=True) if keep],
        clf.THERAPIST_LABELS,
    )
    print(
        f"  therapist behaviour, 9 fine labels (units segments): macro-F1 "
        f"{figures[f'{backend}/segments/fine']:.3f}"
    )
    figures[f"{backend}/segments/client"] = report(
        "client talk type (turn level, units segments)",
        list(cli["talk"]),
        [p.label for p in cp],
        clf.CLIENT_LABELS,
    )
    figures[f"{backend}/segments/change_rate"] = float(np.mean([p.label == "change" for p in cp]))


def segment_rules(backend: str) -> None:
    """Candidate aggregation rules on AnnoMI *dev* (never test): how the shipped one was chosen."""
    import itertools

    import text_data

    from alliance.analysis.segments import aggregate, segment_weights, split_turn

    coder = clf.load_coder(backend)  # type: ignore[arg-type]
    df = text_data.load_annomi()
    split = text_data.split_transcripts(df)
    dev = df[df["transcript_id"].isin(split.dev)]
    ther = dev[dev["role"] == "therapist"]
    cli = dev[(dev["role"] == "client") & dev["talk"].notna()]
    print(f"\n== aggregation rules on AnnoMI dev ({len(split.dev)} transcripts), backend {backend}")

    def coded(method: Any, rows: Any) -> tuple[list[Any], list[tuple[list[Any], list[Any]]]]:
        segs = [split_turn(t) for t in rows["text"]]
        flat = [s.text for ss in segs for s in ss]
        ctx = [c for ss, c in zip(segs, rows["context"], strict=True) for _ in ss]
        preds = method(flat, ctx)
        out, at = [], 0
        for ss in segs:
            out.append((ss, preds[at : at + len(ss)]))
            at += len(ss)
        return method(list(rows["text"]), list(rows["context"])), out

    def mean_label(ss: list[Any], ps: list[Any], labels: Sequence[str]) -> str:
        w = segment_weights(ss)
        return max(
            labels,
            key=lambda lab: sum(wi * p.probabilities[lab] for wi, p in zip(w, ps, strict=True)),
        )

    def blend_own(turn: Any, ps: list[Any], w: list[float]) -> str:
        if len(ps) == 1:
            return str(turn.label)
        labels: list[str] = list(dict.fromkeys(str(p.label) for p in ps))
        return max(
            labels,
            key=lambda lab: (
                turn.probabilities[lab]
                + sum(wi * p.probabilities[lab] for wi, p in zip(w, ps, strict=True))
            ),
        )

    def shared_rules(
        turns: list[Any], segs: list[Any], labels: Sequence[str]
    ) -> list[tuple[str, list[str]]]:
        """The rules compared for both roles, each with its label per turn."""
        pairs = list(zip(turns, segs, strict=True))
        return [
            ("whole turn (units turns)", [p.label for p in turns]),
            (
                "blend of turn and segments (shipped)",
                [aggregate(t, ps, segment_weights(ss)).label for t, (ss, ps) in pairs],
            ),
            (
                "blend, only the segments' own classes",
                [blend_own(t, ps, segment_weights(ss)) for t, (ss, ps) in pairs],
            ),
            ("segments only, word-weighted mean", [mean_label(ss, ps, labels) for ss, ps in segs]),
        ]

    t_turn, t_segs = coded(coder.therapist_behaviour, ther)
    fine_mask = ther["fine"].notna().to_numpy()

    def ther_line(name: str, labels: list[str]) -> None:
        main = macro_f1(list(ther["main"]), [clf.main_behaviour(x) for x in labels], MAIN4)
        fine = macro_f1(
            list(ther["fine"][fine_mask]),
            [x for x, k in zip(labels, fine_mask, strict=True) if k],
            clf.THERAPIST_LABELS,
        )
        print(f"  therapist {name:<44} main {main:.3f}  fine {fine:.3f}")

    for name, labels in shared_rules(t_turn, t_segs, clf.THERAPIST_LABELS):
        ther_line(name, labels)
    best: tuple[float, str] = (-1.0, "")
    for order in itertools.permutations(MAIN4):
        rank = {m: i for i, m in enumerate(order)}
        labels = [
            min(ps, key=lambda p: (rank[clf.main_behaviour(p.label)], -p.confidence)).label
            for _, ps in t_segs
        ]
        score = macro_f1(list(ther["main"]), [clf.main_behaviour(x) for x in labels], MAIN4)
        if score > best[0]:
            best = (score, " > ".join(order))
        if order in (
            ("reflection", "question", "input", "other"),
            ("question", "reflection", "input", "other"),
        ):
            ther_line(f"priority {' > '.join(order)}", labels)
    print(f"  therapist best of the 24 priority orders: {best[1]} (main {best[0]:.3f})")
    ther_line(
        "most confident segment", [max(ps, key=lambda p: p.confidence).label for _, ps in t_segs]
    )
    ther_line("last segment", [ps[-1].label for _, ps in t_segs])

    c_turn, c_segs = coded(coder.client_talk, cli)

    def client_line(name: str, labels: list[str]) -> None:
        score = macro_f1(list(cli["talk"]), labels, clf.CLIENT_LABELS)
        rate = float(np.mean([x == "change" for x in labels]))
        print(f"  client    {name:<44} macro-F1 {score:.3f}  change-talk rate {rate:.3f}")

    print(f"  client gold change-talk rate {float(np.mean(cli['talk'] == 'change')):.3f}")
    for name, labels in shared_rules(c_turn, c_segs, clf.CLIENT_LABELS):
        client_line(name, labels)
    for tau in (0.4, 0.5, 0.6):
        labels = []
        for _, ps in c_segs:
            talk = [p for p in ps if p.label != "neutral" and p.confidence >= tau]
            labels.append(max(talk, key=lambda p: p.confidence).label if talk else "neutral")
        client_line(f"change/sustain in any segment at p >= {tau}", labels)
    client_line(
        "most confident segment", [max(ps, key=lambda p: p.confidence).label for _, ps in c_segs]
    )


def annomi_heldout() -> tuple[Any, Any, Any]:
    """(split, therapist rows, client rows) of AnnoMI's held-out test transcripts, warning
    when the shipped model's recorded split differs (eval/evaluate_crossdataset.py reuses it)."""
    import text_data

    df = text_data.load_annomi()
    split = text_data.split_transcripts(df)
    labels_path = clf.default_models_dir() / clf.LABELS_FILE
    if labels_path.is_file():
        shipped = json.loads(labels_path.read_text()).get("annomi_split", {})
        if shipped and shipped.get("test_transcripts") != split.test:
            print("warning: the shipped model's test transcripts differ from this split")
    test = df[df["transcript_id"].isin(split.test)]
    ther = test[(test["role"] == "therapist")]
    cli = test[(test["role"] == "client") & test["talk"].notna()]
    return split, ther, cli


def annomi_eval(backends: Sequence[str], units: Sequence[str] = ("turns",)) -> dict[str, float]:
    split, ther, cli = annomi_heldout()
    print(
        f"AnnoMI held-out: {len(split.test)} transcripts ({len(split.human_subset)} of them the "
        f"10-annotator ones, majority label), {len(ther)} therapist + {len(cli)} client "
        f"utterances; trained on {len(split.train)} transcripts, dev {len(split.dev)}"
    )
    figures: dict[str, float] = {}
    for backend in backends:
        try:
            if backend == "minilm":
                coder: Any = MiniLMOnly(clf.load_coder("accurate"))
            else:
                coder = clf.load_coder(backend)  # type: ignore[arg-type]
        except clf.ModelNotInstalledError as exc:
            print(f"\n== backend {backend}: skipped ({exc})")
            continue
        coder.therapist_behaviour(["warm up"], [""])
        t0 = time.perf_counter()
        tp = coder.therapist_behaviour(list(ther["text"]), list(ther["context"]))
        cp = coder.client_talk(list(cli["text"]), list(cli["context"]))
        elapsed = time.perf_counter() - t0
        n = len(tp) + len(cp)
        print(
            f"\n== backend {backend} ({n} utterances coded in {elapsed:.2f} s, "
            f"{n / elapsed:,.0f}/s)"
        )
        pred_main = [clf.main_behaviour(p.label) for p in tp]
        figures[f"{backend}/main"] = report(
            "therapist behaviour, 4 main classes", list(ther["main"]), pred_main, MAIN4
        )
        fine_mask = ther["fine"].notna().to_numpy()
        figures[f"{backend}/fine"] = report(
            "therapist behaviour, 9 fine labels",
            list(ther["fine"][fine_mask]),
            [p.label for p, keep in zip(tp, fine_mask, strict=True) if keep],
            clf.THERAPIST_LABELS,
        )
        figures[f"{backend}/client"] = report(
            "client talk type", list(cli["talk"]), [p.label for p in cp], clf.CLIENT_LABELS
        )
        figures[f"{backend}/change_rate"] = float(np.mean([p.label == "change" for p in cp]))
        if "segments" in units:
            units_eval(backend, coder, ther, cli, figures)
        # The same utterances the human agreement is measured on (majority of all ten).
        hs_t = ther["multi"].to_numpy()
        hs_c = cli["multi"].to_numpy()
        figures[f"{backend}/human_subset/main"] = macro_f1(
            list(ther["main"][hs_t]), [p for p, k in zip(pred_main, hs_t, strict=True) if k], MAIN4
        )
        keep = hs_t & fine_mask
        figures[f"{backend}/human_subset/fine"] = macro_f1(
            list(ther["fine"][keep]),
            [p.label for p, k in zip(tp, keep, strict=True) if k],
            clf.THERAPIST_LABELS,
        )
        figures[f"{backend}/human_subset/client"] = macro_f1(
            list(cli["talk"][hs_c]),
            [p.label for p, k in zip(cp, hs_c, strict=True) if k],
            clf.CLIENT_LABELS,
        )
    return figures


def human_agreement() -> dict[str, tuple[float, float, float, float]]:
    """Per task: mean, min, max macro-F1 of one annotator vs the other nine, and Fleiss' kappa."""
    import text_data

    raw = text_data.read_annomi_raw()
    multi = raw[raw["multi"]]
    out: dict[str, tuple[float, float, float, float]] = {}
    tasks = (
        ("therapist main (4)", "therapist", "main", MAIN4),
        ("therapist fine (9)", "therapist", "fine", clf.THERAPIST_LABELS),
        ("client talk (3)", "client", "talk", clf.CLIENT_LABELS),
    )
    for name, role, col, labels in tasks:
        part = multi[multi["interlocutor"] == role]
        table = part.pivot_table(
            index=["transcript_id", "utterance_id"],
            columns="annotator_id",
            values=col,
            aggfunc="first",
        ).dropna()
        annotators = list(table.columns)
        rows = table.to_numpy().tolist()
        scores = []
        for a in range(len(annotators)):
            own = [r[a] for r in rows]
            rest = [majority([v for j, v in enumerate(r) if j != a], labels) for r in rows]
            scores.append(macro_f1(rest, own, labels))
        kappa = fleiss_kappa(rows, labels)
        out[name] = (float(np.mean(scores)), min(scores), max(scores), kappa)
        print(
            f"  {name}: {len(rows)} utterances x {len(annotators)} annotators; one annotator vs "
            f"majority of the other nine macro-F1 mean {np.mean(scores):.3f} "
            f"(range {min(scores):.3f}-{max(scores):.3f}); Fleiss kappa {kappa:.3f}"
        )
    return out


def summary(figures: dict[str, float], human: dict[str, tuple[float, float, float, float]]) -> None:
    print("\n== summary: macro-F1 on AnnoMI (held-out transcripts unless noted)")
    rows = (
        ("therapist main (4)", "main"),
        ("therapist fine (9)", "fine"),
        ("client talk (3)", "client"),
    )
    for name, key in rows:
        print(f"  {name}")
        for backend in ("accurate", "minilm", "fast"):
            if f"{backend}/{key}" in figures:
                print(
                    f"    Alliance {backend:<8}: {figures[f'{backend}/{key}']:.3f} (all held-out)"
                    f", {figures[f'{backend}/human_subset/{key}']:.3f} "
                    "(10-annotator subset vs majority of ten)"
                )
        for who, value in PUBLISHED.get(name, []):
            print(f"    published {who}: {value:.2f}")
        mean, lo, hi, kappa = human[name]
        print(
            f"    human (one annotator vs other nine, 10-annotator subset): {mean:.3f} "
            f"[{lo:.3f}-{hi:.3f}], Fleiss kappa {kappa:.3f}"
        )
    print("  (published figures use other splits and protocols; compare with care)")
    segmented = [b for b in ("accurate", "minilm", "fast") if f"{b}/segments/main" in figures]
    if segmented:
        print("\n== units: turn-level macro-F1 on AnnoMI held-out, turns vs segments")
        for b in segmented:
            for key, name in (
                ("main", "therapist main"),
                ("fine", "therapist fine"),
                ("client", "client talk"),
            ):
                print(
                    f"  {b:<8} {name:<15} turns {figures[f'{b}/{key}']:.3f}  segments "
                    f"{figures[f'{b}/segments/{key}']:.3f}"
                )
            print(
                f"  {b:<8} predicted change-talk rate: turns {figures[f'{b}/change_rate']:.3f}  "
                f"segments {figures[f'{b}/segments/change_rate']:.3f}"
            )


# --------------------------------------------------------------------------- EPITOME


def empathy_eval() -> None:
    import text_data

    model = clf.load_empathy_model(enabled=True)
    if model is None:
        print("\n== empathy: skipped (optional model not installed)")
        return
    df = text_data.load_epitome()
    split = text_data.split_epitome(df)
    test = df[df["sp_id"].isin(split["test"])]
    t0 = time.perf_counter()
    preds = model.score(list(test["seeker_post"]), list(test["response_post"]))
    elapsed = time.perf_counter() - t0
    print(
        f"\n== empathy (EPITOME Reddit, {len(split['test'])} held-out seeker posts, "
        f"{len(test)} pairs, scored in {elapsed:.1f} s)"
    )
    levels = ("0", "1", "2")
    for mech in clf.EMPATHY_MECHANISMS:
        y_true = [str(v) for v in test[mech]]
        y_pred = [str(getattr(p, mech)) for p in preds]
        mf1 = report(mech, y_true, y_pred, levels)
        acc = float(np.mean([a == b for a, b in zip(y_true, y_pred, strict=True)]))
        pa, pf = PUBLISHED_EMPATHY[mech]
        print(
            f"    {mech}: Alliance acc {acc:.3f} / macro-F1 {mf1:.3f}; "
            f"published (Sharma et al. 2020) acc {pa:.3f} / macro-F1 {pf:.3f}"
        )


def throughput(repeat: int) -> None:
    """Utterances per second of each backend on the held-out utterances (wall and CPU time)."""
    import os

    import text_data

    df = text_data.load_annomi()
    split = text_data.split_transcripts(df)
    test = df[df["transcript_id"].isin(split.test)]
    texts, contexts = list(test["text"]), list(test["context"])
    print(f"\n== throughput (2 onnxruntime threads; load average {os.getloadavg()[0]:.1f})")
    rates: dict[str, float] = {}
    for backend, times in (("fast", repeat), ("accurate", 1)):
        try:
            coder = clf.load_coder(backend)  # type: ignore[arg-type]
        except clf.ModelNotInstalledError as exc:
            print(f"  {backend}: skipped ({exc})")
            continue
        coder.therapist_behaviour(texts[:64], contexts[:64])
        batch_t, batch_c = texts * times, contexts * times
        w0, c0 = time.perf_counter(), time.process_time()
        coder.therapist_behaviour(batch_t, batch_c)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rates[backend] = len(batch_t) / wall
        print(
            f"  {backend}: {len(batch_t):,} utterances in {wall:.2f} s wall ({cpu:.2f} s CPU) "
            f"-> {len(batch_t) / wall:,.0f} utterances/s"
        )
    if len(rates) == 2:
        print(f"  fast / accurate speed ratio: {rates['fast'] / rates['accurate']:,.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends",
        default="accurate,minilm,fast",
        help="accurate (shipped: MiniLM blended with the linear model), minilm (the "
        "transformer alone), fast",
    )
    parser.add_argument("--no-empathy", action="store_true")
    parser.add_argument(
        "--units",
        default="turns,segments",
        help="turns, segments or both: how the held-out turns are coded (segments: split, "
        "coded and folded back to the turn; AnnoMI's labels are turn labels)",
    )
    parser.add_argument(
        "--segment-rules",
        action="store_true",
        help="also compare the candidate segment aggregation rules on AnnoMI dev",
    )
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput section")
    parser.add_argument(
        "--speed-repeat",
        type=int,
        default=20,
        help="the fast backend's throughput is timed on the held-out set repeated N times",
    )
    args = parser.parse_args()
    data = ROOT.parent / "shared" / "data"
    if not (data / "annomi" / "AnnoMI-full.csv").is_file():
        print(f"evaluate.py: skipped — training/evaluation data not found at {data}")
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    units = [u.strip() for u in args.units.split(",") if u.strip()]
    if set(units) - {"turns", "segments"}:
        parser.error(f"--units {args.units!r}: choose turns, segments or both")
    if args.segment_rules:
        segment_rules("accurate" if "accurate" in backends or "minilm" in backends else "fast")
    figures = annomi_eval(backends, units)
    print("\n== human agreement (AnnoMI utterances coded by all 10 annotators)")
    human = human_agreement()
    summary(figures, human)
    if not args.no_empathy and (data / "epitome").is_dir():
        empathy_eval()
    if not args.no_speed:
        throughput(args.speed_repeat)


if __name__ == "__main__":
    main()
