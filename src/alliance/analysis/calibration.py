"""Post-hoc calibration of the utterance coders' class probabilities, and the confidence
threshold below which a code is shown as "low confidence".

A coder's probabilities ``p`` (after the accurate backend's blend) are rescaled per role as

    q_k  ∝  exp(log(p_k) / T + b_k)

with a temperature ``T`` (T > 1 softens, T < 1 sharpens) and an optional log-prior shift
``b`` (one value per class, moving probability mass between classes: the correction for a
head that predicts a class more often than it occurs). For a single softmax model this is
temperature scaling of its logits plus a bias; the same form applies to a blend of two
models, whose logits do not exist. ``T = 1, b = 0`` is the identity.

The parameters are fitted on AnnoMI's dev transcripts by training/fit_calibration.py and
stored in the shipped ``labels.json`` under ``"calibration"``; nothing here reads files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

#: A code whose (calibrated) probability is below this is marked "low confidence" in reports.
#: 0.5 because, with calibrated probabilities, such a code is more likely wrong than right
#: (eval/calibration.py prints how often they are right on AnnoMI test; docs/model-card.md).
LOW_CONFIDENCE_THRESHOLD: Final = 0.5


def is_low_confidence(confidence: float) -> bool:
    """Whether a code with this probability is shown as low confidence."""
    return confidence < LOW_CONFIDENCE_THRESHOLD


# The smallest probability the log is taken of: a class the blend gives exactly 0 keeps a
# finite (very negative) log, so calibration never produces NaN.
_FLOOR: Final = 1e-12


@dataclass(frozen=True)
class Calibration:
    """Temperature and log-prior shift of one coder head (``T = 1, b = None``: identity)."""

    temperature: float = 1.0
    log_prior_shift: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"calibration temperature must be > 0, not {self.temperature!r}")
        if self.log_prior_shift is not None and not all(
            math.isfinite(v) for v in self.log_prior_shift
        ):
            raise ValueError("calibration log_prior_shift must be finite numbers")

    @property
    def is_identity(self) -> bool:
        return self.temperature == 1.0 and not any(self.log_prior_shift or ())

    def apply(self, probs: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Calibrated probabilities, one row per input row (rows sum to 1)."""
        p = np.asarray(probs, dtype=np.float64)
        if self.is_identity:
            return p
        if self.log_prior_shift is not None and len(self.log_prior_shift) != p.shape[-1]:
            raise ValueError(
                f"calibration has {len(self.log_prior_shift)} class shifts for "
                f"{p.shape[-1]} classes"
            )
        z = np.log(np.clip(p, _FLOOR, None)) / self.temperature
        if self.log_prior_shift is not None:
            z = z + np.asarray(self.log_prior_shift, dtype=np.float64)
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        result: npt.NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
        return result

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"temperature": round(self.temperature, 6)}
        if self.log_prior_shift is not None:
            out["log_prior_shift"] = [round(v, 6) for v in self.log_prior_shift]
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], labels: Sequence[str]) -> Calibration:
        """Read one head's entry; ``labels`` is the head's class order (for a length check)."""
        shift = obj.get("log_prior_shift")
        if shift is not None and len(shift) != len(labels):
            raise ValueError(
                f"calibration log_prior_shift has {len(shift)} values for {len(labels)} labels"
            )
        return cls(
            temperature=float(obj.get("temperature", 1.0)),
            log_prior_shift=tuple(float(v) for v in shift) if shift is not None else None,
        )


IDENTITY: Final = Calibration()


def calibrations_from_meta(
    meta: Mapping[str, Any], backend: str, labels: Mapping[str, Sequence[str]]
) -> dict[str, Calibration]:
    """Per-role calibration of ``backend`` from a ``labels.json`` mapping (identity if absent).

    ``labels`` maps each role ("therapist", "client") to its class order.
    """
    section = meta.get("calibration", {}).get(backend, {})
    return {
        role: Calibration.from_json(section[role], role_labels) if role in section else IDENTITY
        for role, role_labels in labels.items()
    }
