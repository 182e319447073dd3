"""Therapist strengths per concern domain, estimated from the clinic's own history.

For each outcome (``improvement``, and ``alliance`` where rows have it):

1. **Case-mix adjustment.** Least squares of the outcome on concern-domain intercepts plus one
   slope on intake severity; each past client's residual is how much better (or worse) they
   did than a client of the same domain and severity at this clinic.
2. **Cells.** For each therapist × domain cell *j*: ``n_j`` clients and mean residual ``m_j``.
   Within-cell variance ``σ²`` is pooled over cells; between-cell variance ``τ²`` comes from the
   one-way random-effects method of moments, floored at 0.
3. **Empirical-Bayes shrinkage** (normal–normal): ``B_j = τ² / (τ² + σ²/n_j)``; the estimate is
   ``B_j · m_j`` (the clinic mean of residuals is 0) with posterior SD ``sqrt(B_j · σ²/n_j)``.
   Few cases → ``B_j`` near 0 → little is claimed.

:func:`estimate_strengths` returns :class:`Strengths`, whose :meth:`Strengths.get` answers one
therapist × domain. Effects are in the outcome's own units; ``scale`` (the client-level SD of
residuals) turns them into standardised effects for scoring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, PrivateAttr

from alliance.matching.profiles import HistoryRow

__all__ = [
    "OutcomeModel",
    "Strength",
    "Strengths",
    "estimate_strengths",
    "shrink",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Effect(_Frozen):
    """One therapist × domain effect on one outcome."""

    n: int
    raw: float  # mean severity-adjusted residual, before shrinkage
    estimate: float  # shrunken toward the clinic mean (0)
    sd: float  # posterior SD of the estimate
    shrinkage: float  # B: the weight the therapist's own data gets (0..1)

    def credible_sign(self, z: float) -> int:
        """+1 / -1 when the estimate is at least ``z`` posterior SDs from the clinic mean."""
        if self.sd <= 0 or self.estimate == 0:
            return 0
        ratio = self.estimate / self.sd
        return 1 if ratio >= z else -1 if ratio <= -z else 0


class Strength(_Frozen):
    """A therapist's estimated effect with clients of one concern domain."""

    therapist_id: str
    concern: str
    n: int
    improvement: Effect
    alliance: Effect | None = None


class OutcomeModel(_Frozen):
    """The clinic-level quantities behind one outcome's estimates (for reports and docs)."""

    outcome: str
    rows: int
    severity_slope: float
    sigma2: float  # within-cell variance of residuals
    tau2: float  # between-cell variance of true effects
    scale: float  # client-level SD of residuals: sqrt(sigma2 + tau2)


class Strengths(_Frozen):
    """All therapist × domain strengths of one clinic, with the models behind them."""

    items: tuple[Strength, ...] = ()
    improvement_model: OutcomeModel | None = None
    alliance_model: OutcomeModel | None = None
    _index: dict[tuple[str, str], Strength] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object, /) -> None:
        self._index = {(s.therapist_id, s.concern): s for s in self.items}

    def get(self, therapist_id: str, concern: str) -> Strength | None:
        return self._index.get((therapist_id, concern))

    def cases(self, therapist_id: str, concern: str) -> int:
        found = self.get(therapist_id, concern)
        return 0 if found is None else found.n

    @classmethod
    def empty(cls) -> Strengths:
        return cls()


def shrink(mean: float, n: int, sigma2: float, tau2: float) -> tuple[float, float, float]:
    """Normal–normal posterior for a cell mean: ``(estimate, posterior SD, B)``.

    ``B = τ²/(τ² + σ²/n)``; with ``n = 0`` or ``τ² = 0`` nothing is claimed (estimate 0).
    """
    if n <= 0 or tau2 <= 0:
        return 0.0, 0.0, 0.0
    if sigma2 <= 0:
        return mean, 0.0, 1.0
    b = tau2 / (tau2 + sigma2 / n)
    return b * mean, math.sqrt(b * sigma2 / n), b


@dataclass(frozen=True)
class _Fit:
    model: OutcomeModel
    cells: dict[tuple[str, str], tuple[int, float]]  # (therapist, concern) -> (n, mean resid)


def _fit(
    outcome: str,
    tids: list[str],
    concerns: list[str],
    sev: NDArray[np.float64],
    y: NDArray[np.float64],
) -> _Fit | None:
    n_rows = len(y)
    if n_rows < 3:
        return None
    domains = sorted(set(concerns))
    d_index = {d: i for i, d in enumerate(domains)}
    x = np.zeros((n_rows, len(domains) + 1))
    x[np.arange(n_rows), [d_index[c] for c in concerns]] = 1.0
    # One slope on severity shared by all domains: clinics rarely have enough rows per domain
    # for separate slopes, and a shared slope is what "case-mix adjustment" needs here.
    centred = sev - sev.mean()
    x[:, -1] = centred
    use_slope = n_rows > len(domains) + 1 and float(np.ptp(centred)) > 0
    design = x if use_slope else x[:, :-1]
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    slope = float(coef[-1]) if use_slope else 0.0

    keys = list(zip(tids, concerns, strict=True))
    cell_ids: dict[tuple[str, str], int] = {}
    codes = np.array([cell_ids.setdefault(k, len(cell_ids)) for k in keys])
    n_cells = len(cell_ids)
    counts = np.bincount(codes, minlength=n_cells).astype(float)
    means = np.bincount(codes, weights=resid, minlength=n_cells) / counts
    within = float(np.sum((resid - means[codes]) ** 2))
    sigma2 = within / (n_rows - n_cells) if n_rows > n_cells else float(np.var(resid))
    # One-way random-effects method of moments; domain intercepts used len(domains) df.
    between = float(np.sum(counts * means**2))
    df_between = max(n_cells - len(domains), 0)
    denom = n_rows - float(np.sum(counts**2)) / n_rows
    tau2 = max(0.0, (between - df_between * sigma2) / denom) if denom > 0 else 0.0
    if df_between == 0:
        tau2 = 0.0
    model = OutcomeModel(
        outcome=outcome,
        rows=n_rows,
        severity_slope=slope,
        sigma2=sigma2,
        tau2=tau2,
        scale=math.sqrt(sigma2 + tau2) if sigma2 + tau2 > 0 else 1.0,
    )
    cells = {k: (int(counts[i]), float(means[i])) for k, i in cell_ids.items()}
    return _Fit(model=model, cells=cells)


def _effect(fit: _Fit | None, key: tuple[str, str]) -> Effect | None:
    if fit is None or key not in fit.cells:
        return None
    n, mean = fit.cells[key]
    est, sd, b = shrink(mean, n, fit.model.sigma2, fit.model.tau2)
    return Effect(n=n, raw=mean, estimate=est, sd=sd, shrinkage=b)


def estimate_strengths(rows: Sequence[HistoryRow]) -> Strengths:
    """Case-mix-adjusted, shrunken effects per therapist × concern domain (see module doc)."""
    if not rows:
        return Strengths()
    tids = [r.therapist_id for r in rows]
    concerns = [r.concern for r in rows]
    sev = np.array([r.intake_severity for r in rows], dtype=float)
    imp = np.array([r.improvement for r in rows], dtype=float)
    imp_fit = _fit("improvement", tids, concerns, sev, imp)

    with_alliance = [i for i, r in enumerate(rows) if r.alliance is not None]
    al_fit = None
    if with_alliance:
        al = np.array([rows[i].alliance for i in with_alliance], dtype=float)
        al_fit = _fit(
            "alliance",
            [tids[i] for i in with_alliance],
            [concerns[i] for i in with_alliance],
            sev[with_alliance],
            al,
        )

    items: list[Strength] = []
    for key in dict.fromkeys(zip(tids, concerns, strict=True)):
        improvement = _effect(imp_fit, key)
        if improvement is None:
            # Too few rows for any model: record the cases but claim nothing.
            n = sum(1 for k in zip(tids, concerns, strict=True) if k == key)
            improvement = Effect(n=n, raw=0.0, estimate=0.0, sd=0.0, shrinkage=0.0)
        items.append(
            Strength(
                therapist_id=key[0],
                concern=key[1],
                n=improvement.n,
                improvement=improvement,
                alliance=_effect(al_fit, key),
            )
        )
    return Strengths(
        items=tuple(items),
        improvement_model=None if imp_fit is None else imp_fit.model,
        alliance_model=None if al_fit is None else al_fit.model,
    )
