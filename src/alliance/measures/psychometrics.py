"""Sample psychometrics: Cronbach's alpha with a Feldt (1965) confidence interval.

``alpha = k/(k−1) · (1 − Σ s²ᵢ / s²ₓ)`` (Cronbach, 1951), with k items, s²ᵢ the variance of
item i and s²ₓ the variance of the total (both with the n−1 denominator; the choice cancels).

Confidence interval (Feldt, 1965; Feldt, Woodruff & Salih, 1987): under the usual normal-theory
assumptions ``(1 − ρ)/(1 − α̂)`` follows an F distribution with ``n−1`` and ``(n−1)(k−1)``
degrees of freedom, so a (1−γ) interval is

    lower = 1 − (1 − α̂)·F(1−γ/2; n−1, (n−1)(k−1))
    upper = 1 − (1 − α̂)·F(γ/2;   n−1, (n−1)(k−1))

We chose the analytic F interval over a bootstrap because it is exact under its assumptions,
deterministic (no seed, same answer every run) and instant on any sample size.

Missing answers: **listwise deletion** — a respondent with any missing item is left out of the
whole computation (alpha needs one covariance matrix from one set of people); how many were
left out is reported in :class:`AlphaResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["AlphaResult", "cronbach_alpha"]


@dataclass(frozen=True, slots=True)
class AlphaResult:
    """Cronbach's alpha for one sample, with its Feldt confidence interval.

    ``n`` respondents were used (after listwise deletion of ``n_dropped``), ``k`` items.
    """

    alpha: float
    lower: float
    upper: float
    confidence: float
    n: int
    k: int
    n_dropped: int
    method: str = "feldt-1965"


def cronbach_alpha(items: pd.DataFrame, *, confidence: float = 0.95) -> AlphaResult:
    """Cronbach's alpha of the item columns of ``items`` (one row per respondent).

    Raises ``ValueError`` naming the problem when a column is not numeric, fewer than two
    items or two complete respondents remain, or the total score does not vary.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    k = items.shape[1]
    if k < 2:
        raise ValueError(f"alpha needs at least 2 item columns, got {k}")
    for column in items.columns:
        if not pd.api.types.is_numeric_dtype(items[column]) or pd.api.types.is_bool_dtype(
            items[column]
        ):
            raise ValueError(f"item column {column!r} is not numeric")
    complete = items.dropna(how="any")
    n = len(complete)
    n_dropped = len(items) - n
    if n < 2:
        raise ValueError(
            f"alpha needs at least 2 respondents with every item answered, got {n} "
            f"({n_dropped} dropped for missing answers)"
        )
    data = complete.to_numpy(dtype=float)
    item_variances = data.var(axis=0, ddof=1)
    total_variance = float(data.sum(axis=1).var(ddof=1))
    if total_variance <= 0 or not math.isfinite(total_variance):
        raise ValueError("alpha is undefined: the total score has no variance in this sample")
    alpha = (k / (k - 1)) * (1.0 - float(np.sum(item_variances)) / total_variance)
    # Rounding can push alpha for identical items a hair above 1.
    alpha = min(alpha, 1.0)
    gamma = 1.0 - confidence
    df1 = n - 1
    df2 = (n - 1) * (k - 1)
    f_high = float(stats.f.ppf(1.0 - gamma / 2.0, df1, df2))
    f_low = float(stats.f.ppf(gamma / 2.0, df1, df2))
    return AlphaResult(
        alpha=alpha,
        lower=1.0 - (1.0 - alpha) * f_high,
        upper=1.0 - (1.0 - alpha) * f_low,
        confidence=confidence,
        n=n,
        k=k,
        n_dropped=n_dropped,
    )
