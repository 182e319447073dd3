"""Train the model-based rupture markers: a logistic regression over sentence embeddings.

Data (see docs/model-card-ruptures.md):

* positives: ``training/rupture_examples.yaml`` — client turns we wrote from the 3RS subtype
  definitions (7 withdrawal and 7 confrontation subtypes);
* negatives: that file's ``near_miss`` turns, and client turns of the AnnoMI **train**
  transcripts (labels.json ``annomi_split``), read from ../shared/data at training time and
  never stored. AnnoMI turns on which a rupture *rule* fires are left out of the negatives:
  some of them are real ruptures (low-quality MI sessions have them), and a negative that
  may be a positive teaches the wrong thing. They are sampled from high- and low-quality
  sessions alike, so the model is not taught "high-quality session talk = no rupture".

Features: ``alliance.analysis.embeddings.sentence_embeddings`` (text alone, no context).
Model: multinomial logistic regression over 15 classes (``none`` + 14 subtypes), L2-penalised,
fitted with L-BFGS (scipy) from zeros — deterministic. Class weights balance ``none`` against
the ruptures. The category threshold is chosen by 5-fold cross-validation on the training
data only (never on the frozen evaluation set). Output: ``rupture-lr.npz`` (numpy only at run
time).

    .venv/bin/python training/train_rupture_model.py          # train, write the model
    .venv/bin/python training/train_rupture_model.py --cv     # also print CV figures
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alliance.analysis.embeddings import sentence_embeddings  # noqa: E402
from alliance.analysis.markers import MarkerInput, category_of, detect  # noqa: E402
from alliance.analysis.ruptures import MODEL_FILE, SUBTYPES  # noqa: E402

EXAMPLES = ROOT / "training" / "rupture_examples.yaml"
MODELS = ROOT / "src" / "alliance" / "analysis" / "models"
ANNOMI = ROOT.parent / "shared" / "data" / "annomi" / "AnnoMI-simple.csv"
SEED = 20261203
ANNOMI_NEGATIVES = 900
L2_GRID = (0.3, 3.0, 30.0)
CLASSES = ("none", *SUBTYPES)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def own_examples() -> tuple[list[str], list[str]]:
    data = yaml.safe_load(EXAMPLES.read_text(encoding="utf-8"))
    texts: list[str] = []
    labels: list[str] = []
    for subtype, entry in data["subtypes"].items():
        if subtype not in SUBTYPES:
            raise SystemExit(f"{EXAMPLES}: unknown subtype {subtype!r}")
        for text in entry["examples"]:
            texts.append(str(text))
            labels.append(subtype)
    for text in data["near_miss"]:
        texts.append(str(text))
        labels.append("none")
    return texts, labels


def annomi_negatives(n: int) -> list[str]:
    """Client turns of AnnoMI train transcripts on which no rupture rule fires (sampled)."""
    import pandas as pd

    if not ANNOMI.is_file():
        raise SystemExit(f"AnnoMI not found at {ANNOMI}: needed for the negatives")
    split = json.loads((MODELS / "labels.json").read_text())["annomi_split"]
    train = set(split["train_transcripts"])
    frame = pd.read_csv(ANNOMI).sort_values(["transcript_id", "utterance_id"])
    frame = frame[frame["transcript_id"].isin(train)]
    pool: list[str] = []
    for _, rows in frame.groupby("transcript_id", sort=True):
        previous = ""
        for role, text in zip(rows["interlocutor"], rows["utterance_text"], strict=True):
            text = str(text)
            if role == "client":
                item = MarkerInput(
                    text=text, role="client", previous_text=previous, previous_role="therapist"
                )
                ruptured = any(category_of(h.marker) != "relationship" for h in detect(item))
                if not ruptured and len(text.split()) >= 2:
                    pool.append(text)
            else:
                previous = text
    rng = random.Random(SEED)
    unique = sorted(set(pool))
    rng.shuffle(unique)
    return unique[:n]


def class_weights(y: np.ndarray) -> np.ndarray:
    """Each rupture subtype weighs as much in total as its examples; ``none`` in total as
    much as all ruptures together (so the model is not pushed to call everything none)."""
    counts = np.bincount(y, minlength=len(CLASSES)).astype(np.float64)
    w = np.ones(len(y))
    positives = counts[1:].sum()
    w[y == 0] = positives / max(counts[0], 1.0)
    return w


def fit(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted multinomial logistic regression; returns (coef (d, k), intercept (k,))."""
    n, d = x.shape
    k = len(CLASSES)
    w = class_weights(y)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0
    total = w.sum()

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef = theta[: d * k].reshape(d, k)
        bias = theta[d * k :]
        z = x @ coef + bias
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        value = -(w * (onehot * logp).sum(axis=1)).sum() / total + 0.5 * l2 * (coef**2).sum() / n
        g = (np.exp(logp) - onehot) * w[:, None] / total
        grad_coef = x.T @ g + l2 * coef / n
        return float(value), np.concatenate([grad_coef.ravel(), g.sum(axis=0)])

    theta0 = np.zeros(d * k + k)
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return result.x[: d * k].reshape(d, k), result.x[d * k :]


def probabilities(x: np.ndarray, coef: np.ndarray, bias: np.ndarray) -> np.ndarray:
    z = x @ coef + bias
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def category_probs(p: np.ndarray) -> dict[str, np.ndarray]:
    idx = {
        c: [i for i, s in enumerate(CLASSES) if s.startswith(c)]
        for c in ("withdrawal", "confrontation")
    }
    return {c: p[:, cols].sum(axis=1) for c, cols in idx.items()}


def cross_validate(x: np.ndarray, y: np.ndarray, l2: float, folds: int = 5) -> np.ndarray:
    """Out-of-fold probabilities (stratified by class, fixed seed)."""
    rng = np.random.default_rng(SEED)
    fold = np.zeros(len(y), dtype=int)
    for k in range(len(CLASSES)):
        members = np.flatnonzero(y == k)
        rng.shuffle(members)
        fold[members] = np.arange(len(members)) % folds
    out = np.zeros((len(y), len(CLASSES)))
    for f in range(folds):
        train, test = fold != f, fold == f
        coef, bias = fit(x[train], y[train], l2)
        out[test] = probabilities(x[test], coef, bias)
    return out


def f1_at(p_cat: dict[str, np.ndarray], y: np.ndarray, threshold: float) -> float:
    scores = []
    for c, p in p_cat.items():
        gold = np.array([CLASSES[v].startswith(c) for v in y])
        pred = p >= threshold
        tp = int((gold & pred).sum())
        fp = int((~gold & pred).sum())
        fn = int((gold & ~pred).sum())
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` with fixed zip timestamps, so the same weights give the same bytes."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
            z.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=(2026, 1, 1, 0, 0, 0)), buf.getvalue()
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true", help="print cross-validated figures")
    args = parser.parse_args()
    texts, labels = own_examples()
    own = len(texts)
    negatives = annomi_negatives(ANNOMI_NEGATIVES)
    texts += negatives
    labels += ["none"] * len(negatives)
    y = np.array([CLASSES.index(lab) for lab in labels])
    print(
        f"examples: {own} own ({int((y[:own] > 0).sum())} ruptures, "
        f"{int((y[:own] == 0).sum())} near misses) + {len(negatives)} AnnoMI train negatives"
    )
    raw = sentence_embeddings(texts).astype(np.float64)
    # Standardised features: the unit-norm embedding's coordinates are tiny, and one L2
    # strength then suits every direction. Mean and scale ship with the weights.
    mean = raw.mean(axis=0)
    scale = raw.std(axis=0) + 1e-6
    x = (raw - mean) / scale
    grid = [round(t, 2) for t in np.arange(0.30, 0.91, 0.05)]
    best: tuple[float, float, float] | None = None  # (F1, l2, threshold)
    oof_by_l2 = {}
    for l2 in L2_GRID:
        oof = cross_validate(x, y, l2)
        oof_by_l2[l2] = oof
        cats = category_probs(oof)
        f1s = {t: f1_at(cats, y, t) for t in grid}
        print(
            f"l2={l2}: CV macro category F1 by threshold: "
            + ", ".join(f"{t:.2f}:{f:.3f}" for t, f in f1s.items())
        )
        # Thresholds below 0.5 are not considered: a model hit should be more likely than not.
        for t in grid:
            if t >= 0.5 and (best is None or f1s[t] > best[0]):
                best = (f1s[t], l2, t)
    assert best is not None
    _, l2, threshold = best
    print(
        f"chosen: l2={l2}, category threshold {threshold:.2f} (CV macro category F1 {best[0]:.3f})"
    )
    if args.cv:
        pred = oof_by_l2[l2].argmax(axis=1)
        for k, name in enumerate(CLASSES):
            tp = int(((pred == k) & (y == k)).sum())
            fp = int(((pred == k) & (y != k)).sum())
            fn = int(((pred != k) & (y == k)).sum())
            f1 = 2 * tp / max(1, 2 * tp + fp + fn)
            print(f"  CV {name:34} n={int((y == k).sum()):4d} F1={f1:.2f}")
    coef, bias = fit(x, y, l2)
    # Fold the standardisation into the weights: the run time sees one affine map.
    coef_raw = coef / scale[:, None]
    bias_raw = bias - mean @ coef_raw
    coef, bias = coef_raw, bias_raw
    MODELS.mkdir(parents=True, exist_ok=True)
    out = MODELS / MODEL_FILE
    save_npz(
        out,
        coef=coef.astype(np.float32),
        intercept=bias.astype(np.float32),
        classes=np.array(CLASSES),
        threshold=np.array(threshold, dtype=np.float32),
        l2=np.array(l2, dtype=np.float32),
        examples_sha256=np.array(sha256(EXAMPLES)),
    )
    print(
        f"wrote {out.relative_to(ROOT)} ({out.stat().st_size / 1e3:.0f} kB), sha256 {sha256(out)}"
    )


if __name__ == "__main__":
    main()
