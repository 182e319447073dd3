"""How well the coders' probabilities are calibrated, before and after the shipped calibration.

On AnnoMI dev (what the calibration was fitted on) and AnnoMI held-out test (never used to fit
anything), for both backends and both heads (therapist: 9 fine labels; client: change /
neutral / sustain), it prints:

* ECE — expected calibration error of the top class, 15 equal-width bins of the top-class
  probability (``sum_b n_b/N |accuracy_b - mean confidence_b|``);
* NLL — mean negative log-likelihood of the gold class;
* accuracy and macro-F1 of the top class;
* predicted-vs-gold class rates: the share of utterances whose top class is each class, next
  to the share that has it as gold;
* on test, the codes under the report's low-confidence threshold: how many, and how often
  they are right (what the threshold in alliance.analysis.calibration rests on).

"before" is the model's own probabilities (``load_coder(..., calibrated=False)``), "after" the
same probabilities through the calibration stored in labels.json. Dev probabilities of the
linear model come from a train-only refit (training/fit_calibration.py; needs scikit-learn)
because the shipped one was refitted on train+dev; without scikit-learn the dev rows use the
shipped models and are marked optimistic. Skips with a message when ../shared/data is absent.

    PYTHONPATH=src .venv/bin/python eval/calibration.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "eval"))
sys.path.insert(0, str(ROOT / "training"))

import fit_calibration as fc  # noqa: E402
import text_data  # noqa: E402
from _metrics import bootstrap_ci, macro_f1  # noqa: E402

from alliance.analysis import classifiers as clf  # noqa: E402
from alliance.analysis.calibration import (  # noqa: E402
    IDENTITY,
    LOW_CONFIDENCE_THRESHOLD,
)


def shipped_probabilities(transcripts: list[int], backend: str) -> dict[fc.Role, fc.HeadData]:
    """The shipped coder's own (uncalibrated) probabilities on AnnoMI ``transcripts``."""
    coder = clf.load_coder(backend, calibrated=False)  # type: ignore[arg-type]
    out: dict[fc.Role, fc.HeadData] = {}
    for role, rows in fc.annomi_rows(transcripts).items():
        labels = coder.therapist_labels if role == "therapist" else coder.client_labels
        probs = coder.probabilities(role, list(rows["text"]), list(rows["context"]))
        tids = rows["transcript_id"].to_numpy(dtype=np.int64)
        out[role] = fc.HeadData(probs, fc.gold_of(rows, role), labels, tids)
    return out


def figures(probs: npt.NDArray[np.float64], head: fc.HeadData) -> dict[str, float]:
    pred = probs.argmax(axis=1)
    labels = head.labels
    return {
        "ece": fc.ece(probs, head.gold),
        "nll": fc.nll(probs, head.gold),
        "accuracy": float(np.mean(pred == head.gold)),
        "macro_f1": macro_f1(
            [labels[i] for i in head.gold], [labels[i] for i in pred], list(labels)
        ),
    }


def print_head(title: str, head: fc.HeadData, calibrated: npt.NDArray[np.float64]) -> None:
    before, after = figures(head.probs, head), figures(calibrated, head)
    print(f"\n  {title}: n={len(head.gold)}")
    print("    figure        before   after")
    for key, name in (
        ("ece", f"ECE ({fc.ECE_BINS} bins)"),
        ("nll", "NLL"),
        ("accuracy", "accuracy"),
        ("macro_f1", "macro-F1"),
    ):
        print(f"    {name:<13} {before[key]:6.3f}  {after[key]:6.3f}")
    k = len(head.labels)
    gold = np.bincount(head.gold, minlength=k) / len(head.gold)
    rb, ra = fc.class_rates(head.probs, k), fc.class_rates(calibrated, k)
    width = max(len(lab) for lab in head.labels) + 1
    print(f"    {'class':<{width}} predicted before  after   gold   ratio before -> after")
    for j, lab in enumerate(head.labels):
        ratio = f"{rb[j] / gold[j]:.2f}x -> {ra[j] / gold[j]:.2f}x" if gold[j] > 0 else "(no gold)"
        print(f"    {lab:<{width}} {rb[j]:16.3f} {ra[j]:6.3f} {gold[j]:6.3f}   {ratio}")


def print_macro_f1_change(head: fc.HeadData, calibrated: npt.NDArray[np.float64]) -> None:
    """Macro-F1 after minus before, with a paired 95 % bootstrap interval over transcripts."""
    labels = list(head.labels)
    gold = [labels[i] for i in head.gold]
    before = [labels[i] for i in head.probs.argmax(axis=1)]
    after = [labels[i] for i in calibrated.argmax(axis=1)]
    rows_of = {t: np.flatnonzero(head.transcripts == t) for t in np.unique(head.transcripts)}

    def change(picked: list[int]) -> float:
        idx = np.concatenate([rows_of[t] for t in picked])
        g = [gold[i] for i in idx]
        return macro_f1(g, [after[i] for i in idx], labels) - macro_f1(
            g, [before[i] for i in idx], labels
        )

    lo, hi = bootstrap_ci(list(rows_of), change, resamples=1000, seed=20261203)
    delta = macro_f1(gold, after, labels) - macro_f1(gold, before, labels)
    print(
        f"    macro-F1 change {delta:+.3f}, 95% paired bootstrap over {len(rows_of)} transcripts "
        f"[{lo:+.3f}, {hi:+.3f}]"
    )


def print_low_confidence(head: fc.HeadData, calibrated: npt.NDArray[np.float64]) -> None:
    conf = calibrated.max(axis=1)
    right = calibrated.argmax(axis=1) == head.gold
    low = conf < LOW_CONFIDENCE_THRESHOLD
    n_low = int(low.sum())
    low_acc = f"{right[low].mean():.3f}" if n_low else "–"
    high_acc = f"{right[~low].mean():.3f}" if (~low).any() else "–"
    print(
        f"    under the low-confidence threshold {LOW_CONFIDENCE_THRESHOLD}: {n_low} of "
        f"{len(conf)} codes ({n_low / len(conf):.1%}), right {low_acc} of the time "
        f"(codes at or above it: {high_acc})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="accurate,fast")
    args = parser.parse_args()
    if not text_data.ANNOMI_CSV.is_file():
        print(f"calibration.py: skipped — AnnoMI not found at {text_data.ANNOMI_CSV}")
        return
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    df = text_data.load_annomi()
    split = text_data.split_transcripts(df)
    try:
        dev = fc.dev_probabilities()
        dev_note = "linear model refitted on train only, as the fit saw it"
    except ImportError:
        dev = {b: shipped_probabilities(split.dev, b) for b in backends}
        dev_note = "shipped models; OPTIMISTIC: scikit-learn absent and the linear model saw dev"
    print(
        f"AnnoMI: dev {len(split.dev)} transcripts ({dev_note}); test {len(split.test)} "
        f"transcripts. ECE: top-class, {fc.ECE_BINS} equal-width bins."
    )
    for backend in backends:
        coder = clf.load_coder(backend)  # type: ignore[arg-type]
        test = shipped_probabilities(split.test, backend)
        for part, data in (("dev", dev[backend]), ("test", test)):
            print(f"\n== {backend} backend, AnnoMI {part}")
            for role in fc.ROLES:
                head = data[role]
                cal = coder.calibration.get(role, IDENTITY)
                calibrated = cal.apply(head.probs)
                shift = (
                    f", log-prior shift {list(cal.log_prior_shift)}" if cal.log_prior_shift else ""
                )
                print_head(
                    f"{role} head (temperature {cal.temperature:.3f}{shift})", head, calibrated
                )
                if part == "test":
                    print_macro_f1_change(head, calibrated)
                    print_low_confidence(head, calibrated)


if __name__ == "__main__":
    main()
