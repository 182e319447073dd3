"""Expected treatment trajectories fitted from a clinic's own data, and the not-on-track flag.

**The model.** For one outcome instrument, every client's scores are regressed on
``log(session)`` in a linear mixed model (statsmodels ``MixedLM``, REML)::

    score_it = a_b + b_b·log(t) + u_i + v_i·log(t) + e_it

with a fixed intercept ``a_b`` and slope ``b_b`` for each *intake-severity band* ``b`` (the
instrument's band of the client's first score), a random intercept ``u_i`` and — when the data
support it — a random slope ``v_i`` per client, ``(u, v) ~ N(0, G)``, ``e ~ N(0, σ²)``.
``log(session)`` gives the negatively accelerated dose–effect shape seen in psychotherapy
(Howard et al., 1986; Lambert's expected recovery curves are fitted the same way), and
``log(1) = 0`` makes ``a_b`` the band's expected intake score.

**Expected score for one client.** Given the client's intake score ``y₀`` at session ``s₀`` we
predict the score at session ``t`` conditionally on that intake (the best linear unbiased
predictor given one observation), so a client who starts high within a band is expected to
regress part of the way towards the band's mean::

    k      = z_t'G z₀ / (z₀'G z₀ + σ²)
    mean   = x_t'β + k·(y₀ − x₀'β)
    var    = z_t'G z_t + σ² − (z_t'G z₀)² / (z₀'G z₀ + σ²) + c'Σ_β c,   c = x_t − k·x₀

(``x``: fixed-effect design row, ``z``: random-effect design row ``[1, log t]``, ``Σ_β``: the
covariance of the fixed effects). The tolerance band is ``mean ± z·√var`` with ``z`` for the
chosen two-sided coverage (default 90 %: ``z = 1.645``), clipped to the instrument's range.

**Which model.** The random-slope model is tried first; if statsmodels warns (e.g.
``ConvergenceWarning``, a singular random-effects covariance) or does not converge, the
random-intercept model is tried; if that fails too — or a band has fewer than
``min_clients`` clients with two or more scores or fewer than ``min_observations`` scores —
that band (or every band) uses the rational fallback below. :attr:`TrajectoryModel.model` and
every :class:`ExpectedPoint`'s ``source`` say which was used.

**Rational fallback** (a convention, not an estimate): the expected score closes
``proportion`` (default 50 %) of the gap between the intake score and the healthy end of the
scale by session ``by_session`` (default 8), along a ``log(t)`` curve, and stays there::

    expected(t) = y₀ − proportion · (y₀ − target) · min(1, ln(t/s₀) / ln(by_session/s₀))

where ``target`` is the functional population's mean when the instrument's cut-off gives it
(``clinical_cutoff.normal_mean``), else the healthy end of the scale.

Fifty per cent is the usual definition of treatment *response* (a halving of symptoms);
session 8 follows Howard et al. (1986), where about half of clients had measurably improved
by the eighth session. The tolerance is ``± z·S_diff`` with ``S_diff = √2·SD·√(1−r)`` from
the instrument's reliable-change parameters: an observed score further than that from the
expected one differs from it by more than measurement error of a two-score difference
(Jacobson & Truax, 1991) at the chosen coverage.
"""

from __future__ import annotations

import functools
import hashlib
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from alliance.measures.instrument import Instrument

__all__ = [
    "BandCurve",
    "ExpectedPoint",
    "FallbackSettings",
    "ModelKind",
    "NotOnTrack",
    "TrajectoryModel",
    "fit_trajectories",
    "not_on_track",
]

ModelKind = Literal["random_slope", "random_intercept", "fallback"]
Source = Literal["mixed_model", "fallback"]
FloatArray = npt.NDArray[np.float64]

#: Label used for intake scores outside every band (or instruments without bands).
ALL_BANDS = "all"

_MODEL_WORDS: dict[str, str] = {
    "random_slope": "mixed model (random intercept and slope)",
    "random_intercept": "mixed model (random intercept)",
    "fallback": "rational fallback",
}


@dataclass(frozen=True, slots=True)
class FallbackSettings:
    """The rational fallback trajectory (see the module docstring for the formula and reasons).

    ``min_clients``/``min_observations``: a band needs at least this many clients with two or
    more scores, and this many scores in all, before a mixed model is fitted for it.
    """

    proportion: float = 0.5
    by_session: int = 8
    min_clients: int = 10
    min_observations: int = 40

    def __post_init__(self) -> None:
        if not 0 < self.proportion <= 1:
            raise ValueError(f"proportion must be in (0, 1], got {self.proportion!r}")
        if self.by_session < 2:
            raise ValueError(f"by_session must be at least 2, got {self.by_session!r}")
        if self.min_clients < 2 or self.min_observations < 3:
            raise ValueError("min_clients must be ≥ 2 and min_observations ≥ 3")


@dataclass(frozen=True, slots=True)
class BandCurve:
    """The fitted mean curve of one intake band: ``intercept + slope·log(session)``."""

    band: str
    intercept: float
    slope: float
    n_clients: int
    n_observations: int


@dataclass(frozen=True, slots=True)
class ExpectedPoint:
    """The expected score at ``session`` for a client with a given intake, and its tolerance
    band ``[lower, upper]``; ``source`` says whether the clinic's model or the fallback made it.
    """

    session: int
    expected: float
    lower: float
    upper: float
    source: Source
    band: str
    model: str


@dataclass(frozen=True, slots=True)
class NotOnTrack:
    """Verdict for one observed score: ``flag`` is True when it lies beyond the tolerance band
    on the *worse* side (above ``upper`` when higher is worse, below ``lower`` otherwise)."""

    flag: bool
    session: int
    score: float
    expected: float
    lower: float
    upper: float
    source: Source
    reason: str


@functools.lru_cache(maxsize=64)
def _two_sided_z(coverage: float) -> float:
    # A chart asks for the quantile at every point and a model only ever uses one coverage,
    # so remember it. The standard library's normal quantile (not scipy.stats, whose import
    # costs the web app most of a second at start-up).
    return NormalDist().inv_cdf(0.5 + coverage / 2.0)


@dataclass(frozen=True, eq=False)
class TrajectoryModel:
    """Expected trajectories for one instrument; call :meth:`expected` for a client's band.

    Built by :func:`fit_trajectories`. ``curves`` holds the fitted bands (empty when only the
    fallback is available); ``reason`` says in words why this model was chosen.
    """

    instrument: Instrument
    model: ModelKind
    coverage: float
    fallback: FallbackSettings
    reason: str
    curves: Mapping[str, BandCurve] = field(default_factory=dict)
    fallback_bands: Mapping[str, str] = field(default_factory=dict)
    _band_order: tuple[str, ...] = ()
    _beta: FloatArray = field(default_factory=lambda: np.zeros(0))
    _beta_cov: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    _re_cov: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    _residual_var: float = 0.0

    @property
    def z(self) -> float:
        """Normal quantile for the two-sided ``coverage`` (1.645 for 90 %)."""
        return _two_sided_z(self.coverage)

    def band_of(self, intake_score: float) -> str:
        """The intake-severity band the model uses for this intake score."""
        return _band_label(self.instrument, intake_score)

    def expected(
        self, intake_score: float, session: int, *, intake_session: int = 1
    ) -> ExpectedPoint:
        """Expected score and tolerance band at ``session`` for a client whose first score
        was ``intake_score`` at ``intake_session``."""
        if not math.isfinite(intake_score):
            raise ValueError(f"intake score must be a finite number, got {intake_score!r}")
        if intake_session < 1 or session < intake_session:
            raise ValueError(
                f"session {session} must not come before the intake session {intake_session} "
                "(sessions count from 1)"
            )
        band = self.band_of(intake_score)
        if band in self.curves:
            mean, var = self._conditional(band, intake_score, intake_session, session)
            half = self.z * math.sqrt(max(var, 0.0))
            return self._point(session, mean, half, "mixed_model", band, _MODEL_WORDS[self.model])
        mean = self._fallback_mean(intake_score, intake_session, session)
        half = self.z * self._fallback_sdiff()
        return self._point(session, mean, half, "fallback", band, _MODEL_WORDS["fallback"])

    def curve(
        self, intake_score: float, sessions: Sequence[int], *, intake_session: int = 1
    ) -> tuple[ExpectedPoint, ...]:
        """:meth:`expected` for each session (for charts)."""
        return tuple(
            self.expected(intake_score, s, intake_session=intake_session) for s in sessions
        )

    # -- internals -------------------------------------------------------------------------

    def _point(
        self, session: int, mean: float, half: float, source: Source, band: str, words: str
    ) -> ExpectedPoint:
        low, high = self.instrument.score_range
        return ExpectedPoint(
            session=session,
            expected=_clip(mean, low, high),
            lower=_clip(mean - half, low, high),
            upper=_clip(mean + half, low, high),
            source=source,
            band=band,
            model=words,
        )

    def _design(self, band: str, session: int) -> tuple[FloatArray, FloatArray]:
        index = self._band_order.index(band)
        log_t = math.log(session)
        x = np.zeros(2 * len(self._band_order))
        x[2 * index] = 1.0
        x[2 * index + 1] = log_t
        z = np.array([1.0, log_t]) if self._re_cov.shape[0] == 2 else np.array([1.0])
        return x, z

    def _conditional(
        self, band: str, intake: float, intake_session: int, session: int
    ) -> tuple[float, float]:
        x0, z0 = self._design(band, intake_session)
        xt, zt = self._design(band, session)
        g = self._re_cov
        v0 = float(z0 @ g @ z0) + self._residual_var
        cross = float(zt @ g @ z0)
        k = cross / v0
        mean = float(xt @ self._beta) + k * (intake - float(x0 @ self._beta))
        c = xt - k * x0
        var = (
            float(zt @ g @ zt)
            + self._residual_var
            - cross * cross / v0
            + float(c @ self._beta_cov @ c)
        )
        return mean, var

    def _healthy_end(self) -> float:
        # The functional population's mean when the instrument gives it (a realistic target),
        # else the healthy end of the scale.
        cut = self.instrument.clinical_cutoff
        if cut is not None and cut.normal_mean is not None:
            return cut.normal_mean
        low, high = self.instrument.score_range
        return low if self.instrument.direction == "higher_is_worse" else high

    def _fallback_mean(self, intake: float, intake_session: int, session: int) -> float:
        settings = self.fallback
        gap = intake - self._healthy_end()
        # A client who already starts at or beyond the target is expected to stay put, not to
        # drift back towards it.
        gap = max(0.0, gap) if self.instrument.direction == "higher_is_worse" else min(0.0, gap)
        horizon = max(settings.by_session, intake_session + 1)
        progress = min(1.0, math.log(session / intake_session) / math.log(horizon / intake_session))
        return intake - settings.proportion * gap * progress

    def _fallback_sdiff(self) -> float:
        params = self.instrument.reliable_change
        if params is None:
            raise ValueError(
                f"instrument {self.instrument.id!r} has no reliable-change SD/reliability, so "
                "the fallback trajectory has no tolerance band; fit with more data"
            )
        return math.sqrt(2.0) * params.sd * math.sqrt(1.0 - params.reliability)


def not_on_track(
    model: TrajectoryModel,
    intake: float,
    session: int,
    score: float,
    *,
    intake_session: int = 1,
) -> NotOnTrack:
    """Whether ``score`` at ``session`` is off the expected track for this intake."""
    inst = model.instrument
    if session <= intake_session:
        point = model.expected(intake, intake_session, intake_session=intake_session)
        flag = False
        reason = f"session {session} is the intake: there is no progress to compare yet"
    else:
        point = model.expected(intake, session, intake_session=intake_session)
        worse_is_higher = inst.direction == "higher_is_worse"
        flag = score > point.upper if worse_is_higher else score < point.lower
        side = "above" if worse_is_higher else "below"
        verdict = "is" if flag else "is not"
        reason = (
            f"{inst.title} score {_num(score)} at session {session} {verdict} {side} the "
            f"expected range {_num(point.lower)}–{_num(point.upper)} (expected "
            f"{_num(point.expected)} for an intake of {_num(intake)} in the '{point.band}' "
            f"band; {point.model}, {round(model.coverage * 100)} % band)"
        )
    # One result for both cases: only the flag and the reason differ.
    return NotOnTrack(
        flag=flag,
        session=session,
        score=score,
        expected=point.expected,
        lower=point.lower,
        upper=point.upper,
        source=point.source,
        reason=reason,
    )


def fit_trajectories(
    data: pd.DataFrame,
    instrument: Instrument,
    *,
    coverage: float = 0.90,
    fallback: FallbackSettings | None = None,
    max_clients: int = 2000,
) -> TrajectoryModel:
    """Fit expected trajectories from a clinic's scores.

    ``data`` has one row per score with columns ``client_id``, ``session`` (1 = first session)
    and ``score`` (the instrument's total). Rows with a missing score are ignored. Raises
    ``ValueError`` naming the column for missing columns or impossible sessions.

    With more than ``max_clients`` clients the model is fitted on a fixed pseudo-random sample
    of that many (chosen by a hash of the client id, so the same data give the same sample):
    fit time grows with the number of clients (about 8 s for 2,000 clients × 8 sessions on two
    cores) while the fixed effects are already precise long before that.
    """
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be between 0 and 1, got {coverage!r}")
    if max_clients < 2:
        raise ValueError(f"max_clients must be at least 2, got {max_clients!r}")
    settings = fallback or FallbackSettings()
    frame = _clean(data)
    sampled_note = ""
    all_clients = frame["client_id"].unique()
    if len(all_clients) > max_clients:
        keys = sorted(
            all_clients,
            key=lambda c: hashlib.blake2b(str(c).encode(), digest_size=8).digest(),
        )
        frame = frame[frame["client_id"].isin(set(keys[:max_clients]))].reset_index(drop=True)
        sampled_note = f" (a fixed sample of {max_clients} of {len(all_clients)} clients)"
    bands_seen: dict[str, tuple[int, int]] = {}
    if len(frame):
        first = frame.sort_values("session").groupby("client_id", sort=False).first()
        intake_band = {
            client: _band_label(instrument, float(score))
            for client, score in first["score"].items()
        }
        frame = frame.assign(band=frame["client_id"].map(intake_band))
        per_client = frame.groupby("client_id")["band"].agg(["first", "size"])
        for band, group in per_client.groupby("first"):
            bands_seen[str(band)] = (int((group["size"] >= 2).sum()), int(group["size"].sum()))

    eligible = sorted(
        band
        for band, (clients, rows) in bands_seen.items()
        if clients >= settings.min_clients and rows >= settings.min_observations
    )
    too_small = {
        band: (
            f"{clients} clients with 2+ scores and {rows} scores; the model needs "
            f"{settings.min_clients} and {settings.min_observations}"
        )
        for band, (clients, rows) in bands_seen.items()
        if band not in eligible
    }

    def fallback_model(reason: str) -> TrajectoryModel:
        return TrajectoryModel(
            instrument=instrument,
            model="fallback",
            coverage=coverage,
            fallback=settings,
            reason=reason,
            fallback_bands={**too_small, **dict.fromkeys(eligible, reason)},
        )

    if not eligible:
        total = len(frame["client_id"].unique()) if len(frame) else 0
        return fallback_model(
            f"too little data for a mixed model ({total} clients, {len(frame)} scores; each "
            f"intake band needs {settings.min_clients} clients with 2+ scores and "
            f"{settings.min_observations} scores)"
        )

    subset = frame[frame["band"].isin(eligible)]
    failures: list[str] = []
    for kind in ("random_slope", "random_intercept"):
        fitted = _fit_mixed(subset, eligible, random_slope=kind == "random_slope")
        if isinstance(fitted, str):
            failures.append(f"{_MODEL_WORDS[kind]}: {fitted}")
            continue
        beta, beta_cov, re_cov, residual_var = fitted
        curves = {}
        for index, band in enumerate(eligible):
            clients, rows = bands_seen[band]
            curves[band] = BandCurve(
                band=band,
                intercept=float(beta[2 * index]),
                slope=float(beta[2 * index + 1]),
                n_clients=clients,
                n_observations=rows,
            )
        reason = (
            f"{_MODEL_WORDS[kind]} fitted on {subset['client_id'].nunique()} clients and "
            f"{len(subset)} scores in bands {', '.join(eligible)}{sampled_note}"
        )
        if failures:
            reason += f" (simpler model used because {'; '.join(failures)})"
        return TrajectoryModel(
            instrument=instrument,
            model=kind,
            coverage=coverage,
            fallback=settings,
            reason=reason,
            curves=curves,
            fallback_bands=too_small,
            _band_order=tuple(eligible),
            _beta=beta,
            _beta_cov=beta_cov,
            _re_cov=re_cov,
            _residual_var=residual_var,
        )
    return fallback_model("the mixed model could not be fitted: " + "; ".join(failures))


# -- helpers ---------------------------------------------------------------------------------


def _band_label(instrument: Instrument, score: float) -> str:
    return instrument.band_for(score) or ALL_BANDS


def _clean(data: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("client_id", "session", "score") if c not in data.columns]
    if missing:
        raise ValueError(f"trajectory data lacks column(s): {', '.join(missing)}")
    frame = data[["client_id", "session", "score"]].copy()
    score = pd.to_numeric(frame["score"], errors="coerce")
    bad_score = score.isna() & frame["score"].notna()
    if bad_score.any():
        row = int(np.flatnonzero(bad_score.to_numpy())[0])
        raise ValueError(f"row {row}: column score: {frame['score'].iloc[row]!r} is not a number")
    session = pd.to_numeric(frame["session"], errors="coerce")
    bad_session = session.isna() | (session < 1) | (session % 1 != 0)
    if bad_session.any():
        row = int(np.flatnonzero(bad_session.to_numpy())[0])
        raise ValueError(
            f"row {row}: column session: {frame['session'].iloc[row]!r} is not a session "
            "number (1, 2, 3, …)"
        )
    frame["score"] = score.astype(float)
    frame["session"] = session.astype(int)
    return frame[frame["score"].notna()].reset_index(drop=True)


def _fit_mixed(
    frame: pd.DataFrame, bands: list[str], *, random_slope: bool
) -> tuple[FloatArray, FloatArray, FloatArray, float] | str:
    """Fit one structure; return its estimates, or a short reason why it is not usable."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    log_t = np.log(frame["session"].to_numpy(dtype=float))
    exog = np.zeros((len(frame), 2 * len(bands)))
    band_index = frame["band"].map({b: i for i, b in enumerate(bands)}).to_numpy(dtype=int)
    rows = np.arange(len(frame))
    exog[rows, 2 * band_index] = 1.0
    exog[rows, 2 * band_index + 1] = log_t
    exog_re = (
        np.column_stack([np.ones(len(frame)), log_t]) if random_slope else np.ones((len(frame), 1))
    )
    with warnings.catch_warnings(record=True) as caught:
        # Record instead of raising: a warning here is a verdict on the model, not a bug.
        warnings.simplefilter("always")
        try:
            model = MixedLM(
                frame["score"].to_numpy(dtype=float),
                exog,
                groups=frame["client_id"].astype(str).to_numpy(),
                exog_re=exog_re,
            )
            result = model.fit(reml=True)
        except Exception as exc:
            # Any failure inside statsmodels means "this structure does not fit these data";
            # the caller tries a simpler one or the fallback, and says why in the result.
            return f"fit failed ({type(exc).__name__}: {exc})"
    statsmodels_warnings = [w for w in caught if _is_model_warning(w.category)]
    if statsmodels_warnings:
        first = statsmodels_warnings[0]
        return f"{first.category.__name__}: {str(first.message).splitlines()[0]}"
    if not getattr(result, "converged", False):
        return "the optimiser did not converge"
    k_fe = exog.shape[1]
    beta = np.asarray(result.fe_params, dtype=float)
    beta_cov = np.asarray(result.cov_params(), dtype=float)[:k_fe, :k_fe]
    re_cov = np.atleast_2d(np.asarray(result.cov_re, dtype=float))
    residual_var = float(result.scale)
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(beta_cov))):
        return "non-finite estimates"
    eigen = np.linalg.eigvalsh(re_cov)
    if eigen.min() <= 1e-8 * max(1.0, float(eigen.max())) or residual_var <= 0:
        return "the random-effects covariance is singular (a variance is estimated at zero)"
    return beta, beta_cov, re_cov, residual_var


def _is_model_warning(category: type[Warning]) -> bool:
    # ConvergenceWarning and friends come from statsmodels; RuntimeWarnings come from numpy
    # inside the optimiser (overflow, invalid value) and mean the same thing for us.
    module = getattr(category, "__module__", "")
    return module.startswith("statsmodels") or issubclass(category, RuntimeWarning)


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _num(value: float) -> str:
    return (
        f"{value:.1f}".rstrip("0").rstrip(".") if not float(value).is_integer() else str(int(value))
    )
