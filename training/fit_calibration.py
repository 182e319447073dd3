"""Fit the post-hoc calibration of the utterance coders on AnnoMI dev and store it in labels.json.

What is fitted (form: ``q_k ∝ exp(log p_k / T + b_k)``, see alliance.analysis.calibration):

* accurate backend (MiniLM blended with the linear model, as shipped), client talk head:
  temperature ``T`` and a log-prior shift ``b`` (3 classes, ``b_change`` fixed at 0 because
  only differences matter) — the head predicts change talk too often;
* therapist heads: temperature only — 9 classes, several with under 10 dev utterances, too
  few to fit 8 shifts (decided before any fit);
* fast backend, client talk head: temperature only. This was decided *after* a first fit
  with the shift: it cost the fast head 0.079 dev macro-F1 (0.042 on test) and coded "I want
  to stop drinking. I know I need to make a change." as neutral (docs/model-card.md).

Fitted by maximum likelihood (mean negative log-likelihood, L-BFGS-B from the identity) on the
AnnoMI **dev** transcripts of the split recorded in labels.json — never on test, never on any
other data set. Deterministic: no sampling anywhere.

The shipped fast model was refitted on train+dev, so its dev probabilities are fitted to dev
and would teach the calibration that it is more reliable than it is. The dev probabilities of
the linear part therefore come from a copy refitted on the train transcripts only (the same
recipe and C, ``train_text_models.fit_fast_models``); MiniLM's dev probabilities are the
shipped ONNX model's (dev chose its epoch, nothing else). Needs scikit-learn (the ``train``
extra) and ../shared/data.

    PYTHONPATH=src .venv/bin/python training/fit_calibration.py            # fit, write
    PYTHONPATH=src .venv/bin/python training/fit_calibration.py --dry-run  # fit, print only
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
import text_data

from alliance.analysis import classifiers as clf
from alliance.analysis.calibration import Calibration

Role = Literal["therapist", "client"]
ROLES: tuple[Role, ...] = ("therapist", "client")
BACKENDS = ("accurate", "fast")
#: Which (backend, head) get a log-prior shift besides the temperature (see above).
PRIOR_SHIFT = {
    ("accurate", "therapist"): False,
    ("accurate", "client"): True,
    ("fast", "therapist"): False,
    ("fast", "client"): False,
}
#: Bins of the expected calibration error (equal width over the top-class probability).
ECE_BINS = 15
LABEL_COLUMN = {"therapist": "fine", "client": "talk"}
COMMAND = "PYTHONPATH=src .venv/bin/python training/fit_calibration.py"


@dataclass(frozen=True)
class HeadData:
    """One head's uncalibrated probabilities on a set of utterances, with the gold classes."""

    probs: npt.NDArray[np.float64]
    gold: npt.NDArray[np.int64]
    labels: tuple[str, ...]
    transcripts: npt.NDArray[np.int64]  # the AnnoMI transcript of each utterance


# --------------------------------------------------------------------------- metrics


def nll(probs: npt.NDArray[np.float64], gold: npt.NDArray[np.int64]) -> float:
    """Mean negative log-likelihood of the gold classes."""
    picked = np.clip(probs[np.arange(len(gold)), gold], 1e-12, None)
    return float(-np.mean(np.log(picked)))


def ece(probs: npt.NDArray[np.float64], gold: npt.NDArray[np.int64], bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top class: ``sum_b n_b/N |accuracy_b - confidence_b|``
    over ``bins`` equal-width bins of the top-class probability (right-closed, (0, 1/bins]…)."""
    conf = probs.max(axis=1)
    right = (probs.argmax(axis=1) == gold).astype(np.float64)
    which = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    return float(total)


# --------------------------------------------------------------------------- fitting


def _unpack(theta: npt.NDArray[np.float64], n_classes: int, prior: bool) -> Calibration:
    shift = (0.0, *(float(v) for v in theta[1:])) if prior else None
    return Calibration(temperature=float(np.exp(theta[0])), log_prior_shift=shift)


def fit_head(
    probs: npt.NDArray[np.float64], gold: npt.NDArray[np.int64], prior: bool
) -> Calibration:
    """The temperature (and log-prior shift when ``prior``) minimising dev NLL."""
    from scipy.optimize import minimize

    k = probs.shape[1]
    start = np.zeros(k if prior else 1)
    # log T in [-3, 3] keeps T in (0.05, 20); shifts within +-5 nats are far past any sane fit.
    bounds = [(-3.0, 3.0)] + [(-5.0, 5.0)] * (len(start) - 1)
    res = minimize(
        lambda t: nll(_unpack(t, k, prior).apply(probs), gold),
        start,
        method="L-BFGS-B",
        bounds=bounds,
    )
    if not res.success:
        raise RuntimeError(f"calibration fit did not converge: {res.message}")
    return _unpack(res.x, k, prior)


# --------------------------------------------------------------------------- data


def annomi_rows(transcripts: list[int]) -> dict[Role, Any]:
    """AnnoMI utterances of ``transcripts`` that have a gold label, per role."""
    df = text_data.load_annomi()
    part = df[df["transcript_id"].isin(transcripts)]
    return {role: part[(part["role"] == role) & part[LABEL_COLUMN[role]].notna()] for role in ROLES}


def gold_of(rows: Any, role: Role) -> npt.NDArray[np.int64]:
    labels = clf.THERAPIST_LABELS if role == "therapist" else clf.CLIENT_LABELS
    index = {lab: i for i, lab in enumerate(labels)}
    return np.asarray([index[v] for v in rows[LABEL_COLUMN[role]]], dtype=np.int64)


def dev_probabilities() -> dict[str, dict[Role, HeadData]]:
    """Uncalibrated dev probabilities of both backends, the linear part refitted on train only."""
    import train_text_models as ttm

    df = text_data.load_annomi()
    split = text_data.split_transcripts(df)
    meta = json.loads((clf.default_models_dir() / clf.LABELS_FILE).read_text("utf-8"))
    if meta["annomi_split"]["dev_transcripts"] != split.dev:
        raise SystemExit("error: the shipped model's dev transcripts differ from this split")
    fast_meta = json.loads((clf.default_models_dir() / clf.FAST_VOCAB_FILE).read_text("utf-8"))
    train_only = df[df["transcript_id"].isin(split.train)]
    text_vec, ctx_vec, models = ttm.fit_fast_models(train_only, fast_meta["chosen_C"])
    accurate = clf.load_coder("accurate")
    assert isinstance(accurate, clf.OnnxUtteranceCoder)
    w = float(meta.get("accurate_blend_fast_weight", 0.0))
    out: dict[str, dict[Role, HeadData]] = {"accurate": {}, "fast": {}}
    for role, rows in annomi_rows(split.dev).items():
        labels = accurate.therapist_labels if role == "therapist" else accurate.client_labels
        gold = gold_of(rows, role)
        texts, contexts = list(rows["text"]), list(rows["context"])
        fast = models[role].predict_proba(ttm.fast_features(text_vec, ctx_vec, rows, fit=False))
        minilm = accurate.transformer_probabilities(role, texts, contexts)
        tids = rows["transcript_id"].to_numpy(dtype=np.int64)
        out["fast"][role] = HeadData(np.asarray(fast, dtype=np.float64), gold, labels, tids)
        out["accurate"][role] = HeadData((1.0 - w) * minilm + w * fast, gold, labels, tids)
    return out


def class_rates(probs: npt.NDArray[np.float64], n_classes: int) -> npt.NDArray[np.float64]:
    """Share of utterances whose top class is each class."""
    rates: npt.NDArray[np.float64] = np.bincount(probs.argmax(axis=1), minlength=n_classes) / max(
        1, len(probs)
    )
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the fit, write nothing")
    args = parser.parse_args()
    if not text_data.ANNOMI_CSV.exists():
        sys.exit(f"error: AnnoMI not found at {text_data.ANNOMI_CSV} (see ../shared/data)")
    try:
        import sklearn  # noqa: F401
    except ImportError:
        sys.exit("error: scikit-learn is needed to refit the train-only linear model (train extra)")
    data = dev_probabilities()
    section: dict[str, Any] = {
        "form": "q_k proportional to exp(log(p_k) / temperature + log_prior_shift[k])",
        "fitted_on": "AnnoMI dev transcripts (annomi_split.dev_transcripts); never test",
        "objective": "mean negative log-likelihood, L-BFGS-B from the identity",
        "note": "the linear model's dev probabilities come from a train-only refit "
        "(the shipped one was refitted on train+dev)",
        "command": COMMAND,
    }
    for backend in BACKENDS:
        entry: dict[str, Any] = {}
        if backend == "accurate":
            meta = json.loads((clf.default_models_dir() / clf.LABELS_FILE).read_text("utf-8"))
            entry["blend_fast_weight"] = float(meta.get("accurate_blend_fast_weight", 0.0))
        for role in ROLES:
            head = data[backend][role]
            cal = fit_head(head.probs, head.gold, PRIOR_SHIFT[backend, role])
            after = cal.apply(head.probs)
            entry[role] = {
                **cal.to_json(),
                "dev_utterances": len(head.gold),
                "dev_nll": [round(nll(head.probs, head.gold), 4), round(nll(after, head.gold), 4)],
            }
            k = len(head.labels)
            print(
                f"{backend:<8} {role:<9} n={len(head.gold):4d}  T={cal.temperature:.3f}  "
                f"shift={cal.log_prior_shift}  dev NLL {nll(head.probs, head.gold):.3f} -> "
                f"{nll(after, head.gold):.3f}  ECE({ECE_BINS}) {ece(head.probs, head.gold):.3f} "
                f"-> {ece(after, head.gold):.3f}"
            )
            if role == "client":
                gold_rate = np.bincount(head.gold, minlength=k) / len(head.gold)
                for j, lab in enumerate(head.labels):
                    print(
                        f"    {lab:<8} predicted {class_rates(head.probs, k)[j]:.3f} -> "
                        f"{class_rates(after, k)[j]:.3f}  gold {gold_rate[j]:.3f}"
                    )
        section[backend] = entry
    if args.dry_run:
        print("dry run: labels.json not written")
        return
    import train_text_models as ttm

    ttm.update_labels_json({"calibration": section})
    print(f"wrote calibration to {ttm.MODELS / clf.LABELS_FILE}")


if __name__ == "__main__":
    main()
