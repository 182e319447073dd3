"""Classification metrics shared by the evaluation scripts (eval/evaluate.py,
eval/evaluate_crossdataset.py, …): confusion matrices, per-class precision / recall / F1,
macro-F1, the printed per-class report, and a bootstrap over groups (conversations).

Pure numpy; no data is read here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        m[index[t], index[p]] += 1
    return m


def per_class(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(m).astype(float)
    pred = m.sum(axis=0).astype(float)
    true = m.sum(axis=1).astype(float)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1, true


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> float:
    """Mean F1 over the labels present in y_true or y_pred."""
    m = confusion(y_true, y_pred, labels)
    _, _, f1, support = per_class(m)
    present = (support > 0) | (m.sum(axis=0) > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def report(
    title: str, y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> float:
    """Print accuracy, macro-F1, per-class P/R/F1 and the confusion matrix; return macro-F1."""
    m = confusion(y_true, y_pred, labels)
    precision, recall, f1, support = per_class(m)
    acc = float(np.trace(m) / max(1, m.sum()))
    mf1 = macro_f1(y_true, y_pred, labels)
    print(f"\n  {title}: n={len(y_true)}  accuracy {acc:.3f}  macro-F1 {mf1:.3f}")
    width = max(len(lab) for lab in labels) + 2
    print(f"    {'class':<{width}} precision  recall    F1   support")
    for i, lab in enumerate(labels):
        print(
            f"    {lab:<{width}} {precision[i]:9.3f} {recall[i]:7.3f} {f1[i]:6.3f} "
            f"{int(support[i]):8d}"
        )
    short = [lab[:8] for lab in labels]
    print(f"    confusion (rows = true, columns = predicted): {' '.join(short)}")
    for i, lab in enumerate(labels):
        cells = " ".join(f"{int(v):>{len(short[j])}d}" for j, v in enumerate(m[i]))
        print(f"    {lab:<{width}} {cells}")
    return mf1


def bootstrap_ci(
    groups: Sequence[T],
    statistic: Callable[[Sequence[T]], float],
    *,
    resamples: int = 1000,
    seed: int = 20261203,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``groups`` resampled with
    replacement (whole conversations, so turns of one conversation stay together).

    Resamples whose statistic is NaN (e.g. a ratio with no denominator) are skipped."""
    if not groups:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        picked = rng.integers(0, len(groups), size=len(groups))
        value = statistic([groups[i] for i in picked])
        if not np.isnan(value):
            values.append(value)
    if not values:
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return (float(lo), float(hi))
