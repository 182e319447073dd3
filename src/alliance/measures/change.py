"""Individual change: the Jacobson–Truax reliable change index and clinical-significance cut-offs.

Everything here is a pure function over plain numbers, plus :func:`classify_change` which
puts the pieces together into one :class:`ChangeResult` for a client,
:func:`classify_instrument_change` which reads the parameters from an instrument definition,
and :func:`classify_instrument_changes`, the same for many clients at once.

Formulas (Jacobson & Truax, 1991, *J Consult Clin Psychol* 59(1):12–19; the standard error of
the difference as corrected by Christensen & Mendoza, 1986):

* standard error of measurement  ``SE = SD·√(1 − r)``
* standard error of a difference ``S_diff = √(2·SE²)``
* reliable change index          ``RCI = (x₂ − x₁) / S_diff``; reliable when ``|RCI| > 1.96``
* cut-off *a*  two SDs from the clinical mean towards health: ``M₁ ∓ 2·s₁``
* cut-off *b*  two SDs from the functional mean towards illness: ``M₀ ± 2·s₀``
* cut-off *c*  the point between the two distributions: ``(s₀·M₁ + s₁·M₀) / (s₀ + s₁)``

The sign of a raw change means nothing on its own: a fall is an improvement on PHQ-9
(``higher_is_worse``) and a deterioration on WHO-5 (``higher_is_better``). Every function that
judges change therefore takes the instrument's direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from alliance.measures.instrument import Instrument

__all__ = [
    "RELIABLE_CHANGE_Z",
    "ChangeResult",
    "ChangeStatus",
    "CutoffMethod",
    "Direction",
    "ReliableChange",
    "choose_cutoff",
    "classify_change",
    "classify_instrument_change",
    "classify_instrument_changes",
    "cutoff_a",
    "cutoff_b",
    "cutoff_c",
    "improvement",
    "in_functional_range",
    "reliable_change_criterion",
    "reliable_change_direction",
    "reliable_change_index",
    "standard_error_of_difference",
    "standard_error_of_measurement",
]

Direction = Literal["higher_is_better", "higher_is_worse"]
ReliableChange = Literal["improved", "deteriorated", "none"]
ChangeStatus = Literal["recovered", "improved", "unchanged", "deteriorated"]
CutoffMethod = Literal["a", "b", "c", "published"]

#: Two-tailed 95 % criterion used by Jacobson & Truax (1991).
RELIABLE_CHANGE_Z = 1.96

_DIRECTIONS: tuple[str, ...] = ("higher_is_better", "higher_is_worse")


def _check_direction(direction: str) -> None:
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")


def _check_sd(sd: float, what: str = "sd") -> None:
    if not math.isfinite(sd) or sd <= 0:
        raise ValueError(f"{what} must be a positive number, got {sd!r}")


def _check_reliability(reliability: float) -> None:
    # r = 1 would make every difference "reliable" (division by zero); r <= 0 is not a
    # reliability anyone should use for individual change.
    if not math.isfinite(reliability) or not 0 < reliability < 1:
        raise ValueError(f"reliability must be strictly between 0 and 1, got {reliability!r}")


def standard_error_of_measurement(sd: float, reliability: float) -> float:
    """``SE = SD·√(1 − r)``: the spread of one observed score around the true score."""
    _check_sd(sd)
    _check_reliability(reliability)
    return sd * math.sqrt(1.0 - reliability)


def standard_error_of_difference(sd: float, reliability: float) -> float:
    """``S_diff = √(2·SE²)``: the spread of a difference of two scores when nothing changed."""
    se = standard_error_of_measurement(sd, reliability)
    return math.sqrt(2.0 * se * se)


def reliable_change_index(baseline: float, latest: float, sd: float, reliability: float) -> float:
    """``RCI = (latest − baseline) / S_diff`` (signed in raw score units, not direction-aware)."""
    return (latest - baseline) / standard_error_of_difference(sd, reliability)


def reliable_change_criterion(sd: float, reliability: float, z: float = RELIABLE_CHANGE_Z) -> float:
    """The smallest raw change that counts as reliable: ``z·S_diff``."""
    return z * standard_error_of_difference(sd, reliability)


def improvement(change: float, direction: Direction) -> float:
    """Re-sign a raw change so that a positive number always means the client got better."""
    _check_direction(direction)
    return change if direction == "higher_is_better" else -change


def reliable_change_direction(
    rci: float, direction: Direction, z: float = RELIABLE_CHANGE_Z
) -> ReliableChange:
    """``improved`` / ``deteriorated`` when ``|RCI| > z``, signed by the instrument's direction."""
    if abs(rci) <= z:
        return "none"
    return "improved" if improvement(rci, direction) > 0 else "deteriorated"


def cutoff_a(clinical_mean: float, clinical_sd: float, direction: Direction) -> float:
    """Cut-off *a*: two clinical SDs beyond the clinical mean, in the healthy direction."""
    _check_sd(clinical_sd, "clinical_sd")
    _check_direction(direction)
    step = 2.0 * clinical_sd
    return clinical_mean + step if direction == "higher_is_better" else clinical_mean - step


def cutoff_b(normal_mean: float, normal_sd: float, direction: Direction) -> float:
    """Cut-off *b*: two functional SDs beyond the functional mean, in the unhealthy direction."""
    _check_sd(normal_sd, "normal_sd")
    _check_direction(direction)
    step = 2.0 * normal_sd
    return normal_mean - step if direction == "higher_is_better" else normal_mean + step


def cutoff_c(
    clinical_mean: float, clinical_sd: float, normal_mean: float, normal_sd: float
) -> float:
    """Cut-off *c*: ``(s₀·M₁ + s₁·M₀)/(s₀ + s₁)``, the score that lies the same number of
    (own-population) SDs from the functional mean M₀ and from the clinical mean M₁."""
    _check_sd(clinical_sd, "clinical_sd")
    _check_sd(normal_sd, "normal_sd")
    return (normal_sd * clinical_mean + clinical_sd * normal_mean) / (normal_sd + clinical_sd)


def choose_cutoff(
    direction: Direction,
    *,
    clinical_mean: float | None = None,
    clinical_sd: float | None = None,
    normal_mean: float | None = None,
    normal_sd: float | None = None,
) -> tuple[float, CutoffMethod]:
    """The best cut-off the norms allow: *c* with both populations, else *b* (functional norms
    only), else *a* (clinical norms only), as Jacobson & Truax (1991) recommend."""
    if (
        clinical_mean is not None
        and clinical_sd is not None
        and normal_mean is not None
        and normal_sd is not None
    ):
        return cutoff_c(clinical_mean, clinical_sd, normal_mean, normal_sd), "c"
    if normal_mean is not None and normal_sd is not None:
        return cutoff_b(normal_mean, normal_sd, direction), "b"
    if clinical_mean is not None and clinical_sd is not None:
        return cutoff_a(clinical_mean, clinical_sd, direction), "a"
    raise ValueError("a cut-off needs the mean and SD of the clinical or the functional population")


def in_functional_range(
    score: float, cutoff: float, direction: Direction, *, inclusive: bool = True
) -> bool:
    """Whether ``score`` lies on the healthy side of ``cutoff``.

    ``inclusive`` (the default) counts a score exactly on the cut-off as clinical, as published
    caseness thresholds do (PHQ-9 ≥ 10 is a case); ``inclusive=False`` counts it as functional.
    """
    _check_direction(direction)
    if direction == "higher_is_better":
        return score > cutoff if inclusive else score >= cutoff
    return score < cutoff if inclusive else score <= cutoff


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """How one client's score moved from ``baseline`` to ``latest``.

    ``cutoff_method`` is Jacobson–Truax ``a``/``b``/``c`` or ``published`` (a validated
    caseness threshold taken from the literature, e.g. PHQ-9 ≥ 10).
    ``change`` is the raw difference ``latest − baseline``; ``rci`` its reliable change index.
    ``clinically_significant`` is True when the client started outside the functional range and
    ended inside it (crossed the cut-off), False when not, and None when the instrument has no
    cut-off. ``status`` follows Jacobson & Truax (1991): *recovered* = reliable improvement and
    crossed the cut-off; *improved* = reliable improvement only; *deteriorated* = reliable
    worsening; otherwise *unchanged*.
    """

    baseline: float
    latest: float
    change: float
    rci: float
    reliable_change: ReliableChange
    clinically_significant: bool | None
    status: ChangeStatus
    criterion: float
    cutoff: float | None = None
    cutoff_method: CutoffMethod | None = None


def classify_change(
    baseline: float,
    latest: float,
    *,
    sd: float,
    reliability: float,
    direction: Direction,
    cutoff: float | None = None,
    cutoff_method: CutoffMethod | None = None,
    cutoff_inclusive: bool = True,
    z: float = RELIABLE_CHANGE_Z,
) -> ChangeResult:
    """Classify one client's change (see :class:`ChangeResult` for what each field means)."""
    for name, value in (("baseline", baseline), ("latest", latest)):
        if not math.isfinite(value):
            raise ValueError(f"{name} score must be a finite number, got {value!r}")
    rci = reliable_change_index(baseline, latest, sd, reliability)
    reliable = reliable_change_direction(rci, direction, z)
    crossed: bool | None = None
    if cutoff is not None:
        crossed = not in_functional_range(
            baseline, cutoff, direction, inclusive=cutoff_inclusive
        ) and in_functional_range(latest, cutoff, direction, inclusive=cutoff_inclusive)
    status: ChangeStatus
    if reliable == "improved":
        status = "recovered" if crossed else "improved"
    elif reliable == "deteriorated":
        status = "deteriorated"
    else:
        status = "unchanged"
    return ChangeResult(
        baseline=float(baseline),
        latest=float(latest),
        change=float(latest - baseline),
        rci=rci,
        reliable_change=reliable,
        clinically_significant=crossed,
        status=status,
        criterion=reliable_change_criterion(sd, reliability, z),
        cutoff=cutoff,
        cutoff_method=cutoff_method if cutoff is not None else None,
    )


def classify_instrument_change(
    instrument: Instrument, baseline: float, latest: float, *, z: float = RELIABLE_CHANGE_Z
) -> ChangeResult:
    """:func:`classify_change` with SD, reliability, direction and cut-off from ``instrument``.

    Raises ``ValueError`` when the instrument defines no reliable-change parameters (an RCI
    without them would be made up).
    """
    params = instrument.reliable_change
    if params is None:
        raise ValueError(f"instrument {instrument.id!r} defines no reliable-change SD/reliability")
    cut = instrument.clinical_cutoff
    return classify_change(
        baseline,
        latest,
        sd=params.sd,
        reliability=params.reliability,
        direction=instrument.direction,
        cutoff=cut.value if cut is not None else None,
        cutoff_method=cut.method if cut is not None else None,
        cutoff_inclusive=cut.inclusive if cut is not None else True,
        z=z,
    )


def classify_instrument_changes(
    instrument: Instrument,
    baseline: Sequence[float],
    latest: Sequence[float],
    *,
    z: float = RELIABLE_CHANGE_Z,
) -> list[ChangeResult]:
    """:func:`classify_instrument_change` for many ``(baseline, latest)`` pairs, in order.

    Each distinct pair is classified once and its result shared: totals take few distinct
    values (a PHQ-9 total is one of 28), so a hundred thousand clients cost a few hundred
    classifications, and every result is exactly the one-pair result.
    """
    if len(baseline) != len(latest):
        raise ValueError("baseline and latest need the same length")
    cache: dict[tuple[float, float], ChangeResult] = {}
    out: list[ChangeResult] = []
    for pair in zip(baseline, latest, strict=True):
        result = cache.get(pair)
        if result is None:
            result = cache[pair] = classify_instrument_change(instrument, *pair, z=z)
        out.append(result)
    return out
