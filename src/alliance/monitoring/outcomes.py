"""Clinic outcome statistics: what happened to a set of care episodes, by group.

Pure computation for the clinic outcome report and the team page (issue 14). The service
(:mod:`alliance.services.outcomes`) reads the rows and hands each episode over as an
:class:`EpisodeFacts`; everything after that lives here:

* :func:`episode_change` — an episode's Jacobson–Truax classification from its first and last
  valid score on its outcome measure, through
  :func:`alliance.measures.change.classify_instrument_changes` (no second formula), plus
  whether the first score was at *caseness* (on the clinical side of the instrument's
  cut-off), the denominator of the recovery rate;
* :func:`wilson_interval` — the Wilson score interval of a proportion;
* :func:`summarise` — one :class:`OutcomeRow` per group (clinic, team, therapist, modality,
  concern…): counts, rates with 95 % intervals, the severity-adjusted rates and the
  suppression of small cells;
* :data:`BENCHMARKS` — published national figures, each with where it was read.

**Severity adjustment** is *indirect standardisation* over intake-severity strata (the
instrument and severity band of the episode's first outcome score): for a group with observed
count ``O`` and ``E = Σ_b n_{g,b} · p_b`` expected from the reference population's rate ``p_b``
in each stratum ``b``, the adjusted rate is ``P · O / E`` where ``P`` is the reference's crude
rate (capped at 1). A group that sees more severe clients than the clinic is thus compared
with what the clinic achieves with clients like theirs. Indirect rather than direct
standardisation because a therapist's caseload rarely has episodes in every band, and the
direct method needs a rate in each band of every group.

**Suppression**: a rate whose denominator is below :data:`MIN_CELL` (5), a mean over fewer
than five episodes and a count between 1 and 4 are shown as "n < 5" and withheld from the
view (the value is ``None``), so that a small group cannot be traced to a client.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alliance.measures.change import ChangeStatus, classify_instrument_changes

if TYPE_CHECKING:
    from alliance.measures.instrument import Instrument

__all__ = [
    "BENCHMARKS",
    "MIN_CELL",
    "Benchmark",
    "Count",
    "EpisodeChange",
    "EpisodeFacts",
    "Mean",
    "OutcomeRow",
    "Rate",
    "ReferenceRates",
    "episode_change",
    "episode_changes",
    "overall",
    "reference_rates",
    "summarise",
    "wilson_interval",
]

#: Cells computed from fewer episodes than this are suppressed.
MIN_CELL = 5
#: Two-sided 95 % normal quantile (the interval's z).
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``successes / n`` (Wilson 1927, JASA 22:209–212):
    ``(p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie between 0 and n={n}, got {successes}")
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Rounding can put an end a hair outside [0, 1] at p = 0 or 1.
    return max(0.0, centre - half), min(1.0, centre + half)


# --------------------------------------------------------------------------- one episode


@dataclass(frozen=True, slots=True)
class EpisodeChange:
    """An episode's change on its outcome measure (first → last valid score)."""

    instrument_id: str
    baseline: float
    latest: float
    status: ChangeStatus
    at_caseness: bool | None  # None: the instrument has no cut-off


def _at_caseness(inst: Instrument, baseline: float) -> bool | None:
    cut = inst.clinical_cutoff
    if cut is None:
        return None
    if inst.direction == "higher_is_worse":
        return baseline >= cut.value if cut.inclusive else baseline > cut.value
    return baseline <= cut.value if cut.inclusive else baseline < cut.value


def episode_change(inst: Instrument, scores: Sequence[float]) -> EpisodeChange | None:
    """The change between the first and last of ``scores`` (valid totals in order), or None
    with fewer than two scores or without reliable-change parameters."""
    return episode_changes(inst, [scores])[0]


def episode_changes(
    inst: Instrument, series: Sequence[Sequence[float]]
) -> list[EpisodeChange | None]:
    """:func:`episode_change` for many episodes of one instrument (pairs classified once)."""
    out: list[EpisodeChange | None] = [None] * len(series)
    if inst.reliable_change is None:
        return out
    index = [i for i, s in enumerate(series) if len(s) >= 2]
    results = classify_instrument_changes(
        inst, [series[i][0] for i in index], [series[i][-1] for i in index]
    )
    for i, result in zip(index, results, strict=True):
        out[i] = EpisodeChange(
            instrument_id=inst.id,
            baseline=result.baseline,
            latest=result.latest,
            status=result.status,
            at_caseness=_at_caseness(inst, result.baseline),
        )
    return out


@dataclass(frozen=True, slots=True)
class EpisodeFacts:
    """What the report counts about one episode in the period.

    ``started`` / ``ended``: in the period; ``dropout``: ended in the period with end reason
    ``dropout``; ``change``: None with fewer than two outcome scores; ``stratum``: the intake
    severity stratum (instrument and band of the first outcome score), None when unknown;
    ``alliance``: the mean of the episode's alliance scores; ``ruptures`` / ``repaired``: from
    :func:`alliance.monitoring.alerts.rupture_episodes`; check-ins created in the period and
    how many of them were completed.
    """

    episode_id: int
    started: bool = False
    ended: bool = False
    dropout: bool = False
    change: EpisodeChange | None = None
    stratum: str | None = None
    alliance: float | None = None
    ruptures: int = 0
    repaired: int = 0
    checkins_created: int = 0
    checkins_completed: int = 0


# --------------------------------------------------------------------------- cells


@dataclass(frozen=True, slots=True)
class Count:
    """A count; ``value`` is None when it is suppressed (1–4)."""

    value: int | None
    suppressed: bool = False

    @staticmethod
    def of(n: int) -> Count:
        if 0 < n < MIN_CELL:
            return Count(None, True)
        return Count(n)


@dataclass(frozen=True, slots=True)
class Rate:
    """``numerator / denominator`` with its Wilson 95 % interval and, where a reference was
    given, its severity-adjusted value. Everything is None when the denominator is 0 or the
    cell is suppressed (denominator below :data:`MIN_CELL`)."""

    numerator: int | None
    denominator: int | None
    value: float | None = None
    low: float | None = None
    high: float | None = None
    adjusted: float | None = None
    suppressed: bool = False

    @staticmethod
    def of(numerator: int, denominator: int, adjusted: float | None = None) -> Rate:
        if denominator == 0:
            return Rate(0, 0)
        if denominator < MIN_CELL:
            return Rate(None, None, suppressed=True)
        low, high = wilson_interval(numerator, denominator)
        return Rate(numerator, denominator, numerator / denominator, low, high, adjusted)


@dataclass(frozen=True, slots=True)
class Mean:
    """A mean over ``n`` episodes; None when there are none or fewer than :data:`MIN_CELL`."""

    value: float | None
    n: int | None
    suppressed: bool = False

    @staticmethod
    def of(values: Sequence[float]) -> Mean:
        if not values:
            return Mean(None, 0)
        if len(values) < MIN_CELL:
            return Mean(None, None, True)
        return Mean(math.fsum(values) / len(values), len(values))


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One group's figures (see ``docs/admin-guide.md`` for each definition)."""

    dimension: str
    key: str
    label: str
    episodes: Count
    started: Count
    ended: Count
    with_two_scores: Count
    reliable_improvement: Rate
    recovery: Rate
    reliable_deterioration: Rate
    dropout: Rate
    alliance: Mean
    rupture_repair: Rate
    checkin_completion: Rate
    strata: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------- groups


def _improved(f: EpisodeFacts) -> bool:
    return f.change is not None and f.change.status in ("improved", "recovered")


def _recovered(f: EpisodeFacts) -> bool:
    return f.change is not None and f.change.status == "recovered"


def _deteriorated(f: EpisodeFacts) -> bool:
    return f.change is not None and f.change.status == "deteriorated"


def _has_change(f: EpisodeFacts) -> bool:
    return f.change is not None


def _caseness(f: EpisodeFacts) -> bool:
    return f.change is not None and f.change.at_caseness is True


def _stratum(f: EpisodeFacts) -> str:
    return f.stratum or "unknown"


@dataclass(frozen=True, slots=True)
class _Reference:
    """The reference population's rate per stratum, and its crude rate, for one outcome."""

    per_stratum: Mapping[str, float]
    crude: float | None


def _reference(
    facts: Sequence[EpisodeFacts],
    eligible: Callable[[EpisodeFacts], bool],
    success: Callable[[EpisodeFacts], bool],
) -> _Reference:
    n: dict[str, int] = defaultdict(int)
    x: dict[str, int] = defaultdict(int)
    for f in facts:
        if eligible(f):
            n[_stratum(f)] += 1
            x[_stratum(f)] += success(f)
    total = sum(n.values())
    return _Reference({b: x[b] / n[b] for b in n}, sum(x.values()) / total if total else None)


def _rate(
    facts: Sequence[EpisodeFacts],
    eligible: Callable[[EpisodeFacts], bool],
    success: Callable[[EpisodeFacts], bool],
    reference: _Reference,
) -> Rate:
    """The crude rate and, by indirect standardisation, the adjusted one: the reference's
    crude rate × observed / expected (one pass over ``facts``)."""
    denominator = observed = 0
    expected = 0.0
    per_stratum, crude = reference.per_stratum, reference.crude
    for f in facts:
        if eligible(f):
            denominator += 1
            observed += success(f)
            if crude is not None:
                expected += per_stratum.get(_stratum(f), crude)
    adjusted = None
    if crude is not None and expected > 0:
        adjusted = min(1.0, crude * observed / expected)
    return Rate.of(observed, denominator, adjusted)


_OUTCOMES: tuple[
    tuple[str, Callable[[EpisodeFacts], bool], Callable[[EpisodeFacts], bool]], ...
] = (
    ("reliable_improvement", _has_change, _improved),
    ("recovery", _caseness, _recovered),
    ("reliable_deterioration", _has_change, _deteriorated),
)


def _row(
    dimension: str,
    key: str,
    label: str,
    facts: Sequence[EpisodeFacts],
    references: Mapping[str, _Reference],
) -> OutcomeRow:
    rates = {
        name: _rate(facts, eligible, success, references[name])
        for name, eligible, success in _OUTCOMES
    }
    ended = sum(f.ended for f in facts)
    ruptures = sum(f.ruptures for f in facts)
    created = sum(f.checkins_created for f in facts)
    return OutcomeRow(
        dimension=dimension,
        key=key,
        label=label,
        episodes=Count.of(len(facts)),
        started=Count.of(sum(f.started for f in facts)),
        ended=Count.of(ended),
        with_two_scores=Count.of(sum(1 for f in facts if f.change is not None)),
        reliable_improvement=rates["reliable_improvement"],
        recovery=rates["recovery"],
        reliable_deterioration=rates["reliable_deterioration"],
        dropout=Rate.of(sum(f.dropout for f in facts), ended),
        alliance=Mean.of([f.alliance for f in facts if f.alliance is not None]),
        rupture_repair=Rate.of(sum(f.repaired for f in facts), ruptures),
        checkin_completion=Rate.of(sum(f.checkins_completed for f in facts), created),
        strata=tuple(sorted({_stratum(f) for f in facts if f.change is not None})),
    )


@dataclass(frozen=True, slots=True)
class ReferenceRates:
    """A reference population's rates per intake-severity stratum, for each outcome (what the
    severity adjustment compares a group with); build it once with :func:`reference_rates`."""

    by_outcome: Mapping[str, _Reference]


def reference_rates(facts: Iterable[EpisodeFacts]) -> ReferenceRates:
    listed = list(facts)
    return ReferenceRates({name: _reference(listed, e, s) for name, e, s in _OUTCOMES})


def _references(
    listed: Sequence[EpisodeFacts], reference: Sequence[EpisodeFacts] | ReferenceRates | None
) -> Mapping[str, _Reference]:
    if isinstance(reference, ReferenceRates):
        return reference.by_outcome
    return reference_rates(listed if reference is None else reference).by_outcome


def summarise(
    facts: Iterable[EpisodeFacts],
    dimension: str,
    groups: Mapping[int, Sequence[tuple[str, str]]],
    *,
    reference: Sequence[EpisodeFacts] | ReferenceRates | None = None,
) -> tuple[OutcomeRow, ...]:
    """One row per group of ``dimension``: ``groups[episode_id]`` lists the ``(key, label)``
    groups an episode belongs to (usually one; none leaves it out of this dimension). Rates
    are adjusted against ``reference`` (default: all of ``facts``). Rows come in label order.
    """
    listed = list(facts)
    references = _references(listed, reference)
    members: dict[str, list[EpisodeFacts]] = defaultdict(list)
    labels: dict[str, str] = {}
    for f in listed:
        for key, label in groups.get(f.episode_id, ()):
            members[key].append(f)
            labels[key] = label
    return tuple(
        _row(dimension, key, labels[key], members[key], references)
        for key in sorted(members, key=lambda k: (labels[k].casefold(), k))
    )


def overall(
    facts: Iterable[EpisodeFacts],
    label: str = "All",
    *,
    reference: Sequence[EpisodeFacts] | ReferenceRates | None = None,
) -> OutcomeRow:
    """One row over all of ``facts`` (also when there are none)."""
    listed = list(facts)
    references = _references(listed, reference)
    return _row("clinic", "all", label, listed, references)


# --------------------------------------------------------------------------- benchmarks


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A published figure to read a clinic's rate against, with where it was read."""

    metric: str  # reliable_improvement | recovery | reliable_deterioration
    value: float
    period: str
    what: str
    source: str
    url: str
    note: str


#: Published NHS Talking Therapies (formerly IAPT) figures for England. Each figure was read on
#: the page at ``url`` (December 2026); ``note`` says when that page is not the annual report
#: itself. The national definitions differ from this report's: recovery there is "at caseness on
#: both PHQ-9 and the anxiety measure at the start, below caseness on both at the end" and
#: reliable improvement uses both measures; here both come from one outcome measure per episode.
BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        metric="recovery",
        value=0.508,
        period="2017-18",
        what="referrals finishing a course of treatment that moved to recovery",
        source="NHS Digital, Psychological Therapies: Annual Report on the use of IAPT services"
        " 2017-18",
        url="https://www.nursinginpractice.com/recoveries-following-psychological-therapy-courses-reach-record-levels",
        note="as reported by Nursing in Practice; the annual report's own table was not read",
    ),
    Benchmark(
        metric="reliable_improvement",
        value=0.664,
        period="2017-18",
        what="referrals finishing a course of treatment that showed reliable improvement",
        source="NHS Digital, Psychological Therapies: Annual Report on the use of IAPT services"
        " 2017-18",
        url="https://www.nursinginpractice.com/recoveries-following-psychological-therapy-courses-reach-record-levels",
        note="as reported by Nursing in Practice; the annual report's own table was not read",
    ),
    Benchmark(
        metric="recovery",
        value=0.484,
        period="April 2025",
        what="referrals finishing a course of treatment at caseness that reliably recovered"
        " (26,457 of 54,672)",
        source="NHS England, NHS Talking Therapies Monthly Statistics, Performance April 2025",
        url="https://production-like.nhsd.io/data-and-information/publications/statistical/nhs-talking-therapies-monthly-statistics-including-employment-advisors/performance-april-2025/introduction",
        note="one month of the official monthly statistics (reliable recovery), not an annual"
        " figure; the page was read on a mirror of digital.nhs.uk",
    ),
)
