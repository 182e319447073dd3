"""Train the MITI 4.2.1 code heads (affirm, seek collaboration, emphasise autonomy, persuade,
persuade with permission, confront) over sentence embeddings; write models/miti-heads.npz.

Data (see docs/model-card.md, "MITI codes"):

* positives and own negatives: training/miti_examples.yaml (sentences we wrote from the MITI
  4.2.1 definitions);
* hard negatives: sentences of AnnoMI therapist turns from the *training* transcripts only
  (labels.json ``annomi_split``), of the behaviours that should not carry these codes
  (questions, reflections, information, other), minus sentences whose words suggest one of
  the codes after all (``CUES``: AnnoMI does not code affirmations or permission, so e.g. a
  reflection saying "that's great" may be an affirmation and is left out rather than taught
  as a negative). AnnoMI advice, options and negotiation turns are not used at all.

Each head is an L2-regularised logistic regression (scipy L-BFGS, fixed start, so runs are
deterministic) on standardised embeddings; own examples weigh ``OWN_WEIGHT`` times an AnnoMI
sentence, and positives are up-weighted to balance each head. The L2 strength and each
head's threshold come from 5-fold cross-validation on the training data only (folds fixed by
seed); the frozen evaluation set and AutoMISC are never seen here.

    PYTHONPATH=src .venv/bin/python training/train_miti_heads.py           # train + write
    PYTHONPATH=src .venv/bin/python training/train_miti_heads.py --check   # train, compare
"""

from __future__ import annotations

import os

# One BLAS thread: the fits are small, and threads fighting over shared cores slow them down.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import yaml  # noqa: E402
from scipy import sparse  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from alliance.analysis.miti import (  # noqa: E402
    HEADS_FILE,
    MITI_CODES,
    MitiHeads,
    hashed_ngrams,
    split_sentences,
)

EXAMPLES = ROOT / "training" / "miti_examples.yaml"
MODELS = ROOT / "src" / "alliance" / "analysis" / "models"
WORK = ROOT / "training" / "work"
SEED = 20261203
FOLDS = 5
L2_GRID = (1.0, 3.0, 10.0, 30.0)
BUCKETS = 4096  # hashed word uni/bigram columns beside the 384 embedding dimensions
OWN_WEIGHT = 4.0
ANNOMI_NEGATIVE_LABELS = (
    "question_open",
    "question_closed",
    "reflection_simple",
    "reflection_complex",
    "input_information",
    "other",
)
MAX_ANNOMI_SENTENCES = 3000
# Words that may mean an AnnoMI sentence carries one of our codes (AnnoMI does not code them):
# such sentences are dropped from the negatives, not relabelled.
CUES = re.compile(
    r"\b(great|good (job|for you|work)|well done|proud|impress|brave|courag|strength|"
    r"appreciat|admir|congrat|fantastic|amazing|awesome|excellent|wonderful|"
    r"okay if|ok if|alright if|all right if|mind if|would you like|do you want me|"
    r"can i (share|tell|ask|give|offer|suggest)|may i|together|let's|let us|"
    r"up to you|your (choice|decision|call)|you decide|you choose|it's yours|"
    r"should|need to|have to|must|ought|got to|recommend|advise|suggest|"
    r"wrong|excuse|denial|lying|lie\b|fault|blame)",
    re.IGNORECASE,
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cached_embeddings(embed: Any, texts: list[str]) -> npt.NDArray[np.float64]:
    """``embed(texts)``, cached in training/work/ under a hash of the texts and the encoder
    file (a scratch speed-up only: the same inputs give the same vectors either way)."""
    from alliance.analysis import classifiers as clf

    model = clf.default_models_dir() / clf.ACCURATE_MODEL_FILE
    key = hashlib.sha256(model.read_bytes())
    key.update("\n".join(texts).encode("utf-8"))
    path = WORK / f"miti-embeddings-{key.hexdigest()[:16]}.npy"
    if path.is_file():
        return np.asarray(np.load(path), dtype=np.float64)
    x = np.asarray(embed(texts), dtype=np.float64)
    WORK.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    return x


def load_examples(path: Path = EXAMPLES) -> tuple[list[str], list[set[str]], set[frozenset[str]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    texts: list[str] = []
    labels: list[set[str]] = []
    for code, sentences in data["codes"].items():
        if code != "none" and code not in MITI_CODES:
            raise SystemExit(f"{path}: unknown code {code!r}")
        for s in sentences:
            texts.append(" ".join(str(s).split()))
            labels.append(set() if code == "none" else {code})
    compatible = {frozenset(pair) for pair in data.get("compatible", [])}
    return texts, labels, compatible


def annomi_negatives(limit: int = MAX_ANNOMI_SENTENCES) -> list[str]:
    """Hard-negative sentences from AnnoMI training transcripts (see the module docstring)."""
    import text_data

    if not text_data.ANNOMI_CSV.is_file():
        raise SystemExit(f"AnnoMI not found at {text_data.ANNOMI_CSV} (see docs/model-card.md)")
    meta = json.loads((MODELS / "labels.json").read_text(encoding="utf-8"))
    train_ids = set(meta["annomi_split"]["train_transcripts"])
    df = text_data.load_annomi()
    df = df[(df["role"] == "therapist") & df["transcript_id"].isin(train_ids)]
    df = df[df["fine"].isin(ANNOMI_NEGATIVE_LABELS)]
    seen: set[str] = set()
    sentences: list[str] = []
    for text in df["text"]:
        for s in split_sentences(str(text)):
            key = s.lower()
            if len(s) < 3 or key in seen or CUES.search(s):
                continue
            seen.add(key)
            sentences.append(s)
    rng = np.random.default_rng(SEED)
    picked = sorted(rng.choice(len(sentences), size=min(limit, len(sentences)), replace=False))
    return [sentences[i] for i in picked]


def fit_head(
    x: sparse.csr_matrix, y: npt.NDArray[np.float64], w: npt.NDArray[np.float64], l2: float
) -> tuple[npt.NDArray[np.float64], float]:
    """Weighted L2 logistic regression; weights balanced so positives and negatives weigh
    the same in total."""
    pos = y > 0.5
    weight = w.copy()
    if pos.any() and (~pos).any():
        weight[pos] *= weight[~pos].sum() / weight[pos].sum()
    weight /= weight.mean()
    n, dim = x.shape

    def loss(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        coef, b = theta[:dim], theta[dim]
        z = x @ coef + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
        nll = np.logaddexp(0.0, z) - y * z
        value = float((weight * nll).sum() / n + 0.5 * l2 * coef @ coef / n)
        g = weight * (p - y) / n
        grad = np.concatenate([x.T @ g + l2 * coef / n, [g.sum()]])
        return value, grad

    res = minimize(loss, np.zeros(dim + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[:dim], float(res.x[dim])


def f1(y: npt.NDArray[np.bool_], pred: npt.NDArray[np.bool_]) -> float:
    tp = float((y & pred).sum())
    denom = float(y.sum() + pred.sum())
    return 2 * tp / denom if denom else 0.0


def best_threshold(y: npt.NDArray[np.bool_], p: npt.NDArray[np.float64]) -> tuple[float, float]:
    grid = np.round(np.arange(0.30, 0.96, 0.05), 2)
    scores = [f1(y, p >= t) for t in grid]
    k = int(np.argmax(scores))
    return float(grid[k]), float(scores[k])


def train(
    embed: Any, *, buckets: int = BUCKETS, own_weight: float = OWN_WEIGHT
) -> tuple[MitiHeads, dict[str, Any]]:
    texts, labels, compatible = load_examples()
    own = len(texts)
    negatives = annomi_negatives()
    log(f"own sentences {own}, AnnoMI hard-negative sentences {len(negatives)}")
    all_texts = texts + negatives
    all_labels = labels + [set() for _ in negatives]
    x_raw = cached_embeddings(embed, all_texts)
    log(f"embedded {len(all_texts)} sentences")
    mean = x_raw.mean(axis=0)
    scale = x_raw.std(axis=0) + 1e-6
    # Sparse: the n-gram part is mostly zeros, which keeps each L-BFGS step cheap.
    x = sparse.hstack(
        [
            sparse.csr_matrix((x_raw - mean) / scale),
            sparse.csr_matrix(hashed_ngrams(all_texts, buckets)),
        ]
    ).tocsr()
    w = np.array([own_weight] * own + [1.0] * len(negatives))
    rng = np.random.default_rng(SEED)
    folds = rng.permutation(len(all_texts)) % FOLDS

    report: dict[str, Any] = {"own": own, "annomi_negatives": len(negatives), "heads": {}}
    weights, bias, thresholds = [], [], []
    for code in MITI_CODES:
        y = np.array([code in lab for lab in all_labels], dtype=np.float64)
        # Examples of a compatible code are neither positives nor negatives for this head.
        keep = np.array(
            [
                code in lab or not any(frozenset((code, o)) in compatible for o in lab)
                for lab in all_labels
            ]
        )
        best: tuple[float, float, float] | None = None  # (cv f1, l2, threshold)
        for l2 in L2_GRID:
            oof = np.zeros(len(all_texts))
            for k in range(FOLDS):
                tr = keep & (folds != k)
                coef, b = fit_head(x[tr], y[tr], w[tr], l2)
                te = folds == k
                oof[te] = 1.0 / (1.0 + np.exp(-(x[te] @ coef + b)))
            t, score = best_threshold(y[keep] > 0.5, oof[keep])
            if best is None or score > best[0] + 1e-9:
                best = (score, l2, t)
        assert best is not None
        score, l2, t = best
        coef, b = fit_head(x[keep], y[keep], w[keep], l2)
        weights.append(coef)
        bias.append(b)
        thresholds.append(t)
        report["heads"][code] = {
            "positives": int(y.sum()),
            "l2": l2,
            "threshold": t,
            "cv_f1": round(score, 3),
        }
        log(
            f"{code:26s} positives {int(y.sum()):3d}  l2 {l2:5.1f}  threshold {t:.2f}  "
            f"5-fold CV F1 {score:.3f}"
        )
    heads = MitiHeads(
        codes=MITI_CODES,
        weights=np.vstack(weights),
        bias=np.array(bias),
        mean=mean,
        scale=scale,
        thresholds=np.array(thresholds),
        buckets=buckets,
    )
    return heads, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="train and compare, write nothing")
    parser.add_argument("--out", type=Path, default=MODELS / HEADS_FILE)
    parser.add_argument("--buckets", type=int, default=BUCKETS, help="n-gram columns (0: none)")
    parser.add_argument("--own-weight", type=float, default=OWN_WEIGHT)
    args = parser.parse_args()
    from alliance.analysis.embeddings import sentence_embeddings

    heads, _ = train(sentence_embeddings, buckets=args.buckets, own_weight=args.own_weight)
    if args.check:
        shipped = MitiHeads.load(args.out)
        same = np.allclose(shipped.weights, heads.weights, atol=1e-6) and np.array_equal(
            shipped.thresholds, heads.thresholds
        )
        log("retrained heads match the shipped file" if same else "DIFFERENT from shipped")
        raise SystemExit(0 if same else 1)
    heads.save(args.out)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
