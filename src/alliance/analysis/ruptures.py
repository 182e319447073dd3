"""Model-based rupture markers: a small trained classifier beside the named rules.

The rules of :mod:`.markers` say exactly why they fire but miss what they do not name (the
held-out "You're not hearing me. I'm paying for this every week…" matched none of them).
This module adds a classifier over sentence embeddings (:mod:`.embeddings`) that scores each
client turn against the 14 subtypes of the Rupture Resolution Rating System (3RS; Eubanks,
Muran & Safran):

* withdrawal — denial, minimal response, abstract communication, avoidant storytelling /
  shifting topic, deferential / appeasing, content-affect split, self-criticism / hopelessness;
* confrontation — complaints about the therapist, rejecting an intervention, complaints
  about the activities of therapy, about its parameters (time, fees, frequency), about
  progress, defending oneself against the therapist, efforts to control or pressure them.

The head is a multinomial logistic regression (``none`` + 14 subtypes; numpy weights in
``models/rupture-lr.npz``) trained by training/train_rupture_model.py on examples we wrote
from the subtype definitions plus AnnoMI client turns as negatives. A turn gets a model hit
for a category when the probability of that category (the sum over its subtypes) reaches
the threshold stored with the weights; the hit names the most likely subtype, carries the
category probability as its confidence, and is marked ``source="model"`` with rule
``MODEL_RULE`` so that no one mistakes it for a named rule. The rules keep running; the
classifier only adds hits. Figures and limits: docs/model-card-ruptures.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from alliance.analysis.markers import ALL_MARKERS, AnyMarker, MarkerHit, MarkerInput

MODEL_FILE: Final = "rupture-lr.npz"
#: The ``rule`` of every model-based hit.
MODEL_RULE: Final = "model:rupture-embedding-lr"

#: The 14 3RS subtypes the classifier scores, withdrawal first (class order of the weights).
SUBTYPES: Final[tuple[AnyMarker, ...]] = (
    "withdrawal_denial",
    "withdrawal_minimal",
    "withdrawal_abstract",
    "withdrawal_topic_shift",
    "withdrawal_deferring",
    "withdrawal_content_affect_split",
    "withdrawal_self_criticism",
    "confrontation_therapist",
    "confrontation_rejecting",
    "confrontation_task",
    "confrontation_parameters",
    "confrontation_progress",
    "confrontation_defending",
    "confrontation_control",
)
CATEGORIES: Final = ("withdrawal", "confrontation")

#: The 3RS subtype each rule marker belongs to (for comparing rules with the model).
RULE_SUBTYPE: Final[dict[str, AnyMarker]] = {
    "withdrawal_dont_know": "withdrawal_minimal",
    "confrontation_pace": "confrontation_control",
    **{m: m for m in SUBTYPES},
}

if not set(SUBTYPES) <= set(ALL_MARKERS):  # two lists kept by hand: fail loudly if they drift
    raise RuntimeError("a rupture subtype is missing from markers.AnyMarker")


class RuptureModel:
    """The trained head; ``detect`` adds model-based hits to client turns."""

    def __init__(self, models_dir: Path) -> None:
        from alliance.analysis.classifiers import ModelNotInstalledError

        path = models_dir / MODEL_FILE
        if not path.is_file():
            raise ModelNotInstalledError(f"The rupture model is not installed: {path} is missing")
        with np.load(path, allow_pickle=False) as data:
            classes = tuple(str(c) for c in data["classes"])
            self.coef: npt.NDArray[np.float64] = data["coef"].astype(np.float64)
            self.intercept: npt.NDArray[np.float64] = data["intercept"].astype(np.float64)
            self.threshold = float(data["threshold"])
        if classes != ("none", *SUBTYPES):
            raise ModelNotInstalledError(f"{path}: unexpected classes {classes}; retrain it")
        self.models_dir = models_dir
        self.classes = classes
        self._columns = {
            c: np.array([i for i, s in enumerate(classes) if s.startswith(c)]) for c in CATEGORIES
        }

    def probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """Class probabilities (``none`` + ``SUBTYPES``), one row per text."""
        from alliance.analysis.classifiers import softmax
        from alliance.analysis.embeddings import sentence_embeddings

        x = sentence_embeddings(texts, models_dir=self.models_dir).astype(np.float64)
        return softmax(x @ self.coef + self.intercept)

    def category_probabilities(self, texts: Sequence[str]) -> dict[str, npt.NDArray[np.float64]]:
        """P(withdrawal) and P(confrontation) per text (sums over their subtypes)."""
        p = self.probabilities(texts)
        return {c: p[:, cols].sum(axis=1) for c, cols in self._columns.items()}

    def detect(self, items: Sequence[MarkerInput]) -> list[list[MarkerHit]]:
        """Model-based hits per item (client turns only; others get none)."""
        picked = [i for i, item in enumerate(items) if item.role == "client" and item.text.strip()]
        out: list[list[MarkerHit]] = [[] for _ in items]
        if not picked:
            return out
        p = self.probabilities([items[i].text for i in picked])
        for row, i in zip(p, picked, strict=True):
            for category, cols in self._columns.items():
                total = float(row[cols].sum())
                if total < self.threshold:
                    continue
                best = int(cols[int(np.argmax(row[cols]))])
                subtype = SUBTYPES[best - 1]
                out[i].append(
                    MarkerHit(
                        marker=subtype,
                        rule=MODEL_RULE,
                        confidence=round(total, 4),
                        evidence=(
                            f"model: P({category})={total:.2f}, "
                            f"most likely {subtype} ({float(row[best]):.2f})"
                        ),
                        source="model",
                    )
                )
        return out


def rupture_model_installed(models_dir: Path | None = None) -> bool:
    """Whether the rupture head's weights are present."""
    from alliance.analysis.classifiers import default_models_dir

    directory = models_dir if models_dir is not None else default_models_dir()
    return (directory / MODEL_FILE).is_file()


def load_rupture_model(*, models_dir: Path | None = None) -> RuptureModel | None:
    """The model-based rupture detector (cached per process), or None when not installed."""
    from alliance.analysis.classifiers import _cached, default_models_dir

    directory = models_dir if models_dir is not None else default_models_dir()
    if not rupture_model_installed(directory):
        return None
    model: RuptureModel = _cached("ruptures", directory, RuptureModel)
    return model
