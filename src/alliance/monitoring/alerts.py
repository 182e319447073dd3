"""Monitoring rules: from a client's timeline to alerts a therapist can act on.

:func:`evaluate_alerts` looks at the *latest state* of each part of a
:class:`~alliance.monitoring.timeline.Timeline` (the last two alliance scores, the newest
outcome score, the most recent attendance records, the last fit answer) and returns one
:class:`Alert` per rule that fires. Each alert carries a plain-language ``reason`` that quotes
the numbers behind it, a suggested ``next_step``, and the ``evidence`` (which scores or
records, from which sessions). Weak relationship signals (a session-rating dip, a "not sure",
an alliance fall only just beyond measurement error) are kept only when another source backs
them up at the same session (``AlertSettings.weak_signals_need_support``; issue 11).
:func:`alerts_by_session` replays the rules after every session
for history views; :func:`rupture_episodes` pairs each rupture with its repair, if any.

The ordering rules live here too, once, for every caller: :data:`SEVERITY_ORDER` and
:data:`KIND_PRIORITY` (:func:`alert_rank`) order the alerts :func:`evaluate_alerts` returns,
and :func:`desk_sort_key` / :func:`desk_urgency` order stored alerts (with their status) on a
client's page and the caseload. :func:`alert_thresholds` is the one threshold merge: an
instrument's defaults with the clinic's overrides applied, as the rules read them and the
charts draw them.

The rules, their defaults and the reasons for them are listed in ``docs/monitoring.md``;
every threshold is a field of :class:`AlertSettings` so a clinic can change it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alliance.measures.change import classify_instrument_change, improvement
from alliance.measures.trajectory import TrajectoryModel, fit_trajectories, not_on_track
from alliance.monitoring.timeline import ScorePoint, Timeline

if TYPE_CHECKING:
    from alliance.measures.instrument import Instrument
    from alliance.measures.scoring import RiskFlag

__all__ = [
    "ALERT_KINDS",
    "ALERT_STATUSES",
    "ALWAYS_ON_KINDS",
    "KIND_PRIORITY",
    "RELATIONSHIP_ALERT_KINDS",
    "SEVERITY_ORDER",
    "Alert",
    "AlertKind",
    "AlertSettings",
    "AlertStatus",
    "Evidence",
    "RuptureEpisode",
    "Severity",
    "alert_rank",
    "alert_thresholds",
    "alerts_by_session",
    "desk_sort_key",
    "desk_urgency",
    "evaluate_alerts",
    "fit_check_threshold",
    "kind_rank",
    "low_alliance_threshold",
    "may_rupture",
    "rupture_episodes",
    "severity_rank",
]

AlertKind = Literal[
    "risk_reported",
    "rupture",
    "low_alliance",
    "not_on_track",
    "reliable_deterioration",
    "missed_sessions",
    "irregular_sessions",
    "poor_fit_reported",
    "fit_check",
]
Severity = Literal["info", "warning", "urgent"]

ALERT_KINDS: tuple[AlertKind, ...] = get_args(AlertKind)
#: Rules no clinic setting can switch off: a client's answer about self-harm must always reach
#: a clinician, so ``AlertSettings.enabled`` cannot leave these out (a stored list without them,
#: such as one saved before the rule existed, gets them back when it is read).
ALWAYS_ON_KINDS: tuple[AlertKind, ...] = ("risk_reported",)
#: Instrument kinds the relationship rules (rupture, low alliance, fit check) read: the alliance
#: measure and the per-session feedback form (a low or falling session rating is a relational
#: signal too, as with session-rating scales).
RELATIONSHIP_KINDS: tuple[str, ...] = ("alliance", "feedback")
#: Alert kinds about the relationship itself (the alliance chart rings them; the progress
#: report lists them with the alliance, each with how it was handled).
RELATIONSHIP_ALERT_KINDS: frozenset[AlertKind] = frozenset(
    {"rupture", "low_alliance", "fit_check", "poor_fit_reported"}
)

# -- ordering: the one definition every list of alerts follows -------------------------------

#: Severities, most severe first.
SEVERITY_ORDER: tuple[Severity, ...] = ("urgent", "warning", "info")
#: Alert kinds in order of clinical urgency, used to break ties between equal severities
#: (a client's answer about self-harm needs action today; a rupture needs the next session's
#: attention; a fit check can wait a week).
KIND_PRIORITY: tuple[AlertKind, ...] = (
    "risk_reported",
    "rupture",
    "reliable_deterioration",
    "poor_fit_reported",
    "not_on_track",
    "low_alliance",
    "fit_check",
    "missed_sessions",
    "irregular_sessions",
)
AlertStatus = Literal["open", "acknowledged", "resolved"]
#: A stored alert's statuses in the order staff see them: what still needs action first.
ALERT_STATUSES: tuple[AlertStatus, ...] = get_args(AlertStatus)


def severity_rank(severity: str) -> int:
    """0 for the most severe; a severity this version does not know sorts last."""
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


def kind_rank(kind: str) -> int:
    """0 for the most urgent kind; a kind this version does not know sorts last."""
    return KIND_PRIORITY.index(kind) if kind in KIND_PRIORITY else len(KIND_PRIORITY)


def alert_rank(severity: str, kind: str) -> tuple[int, int]:
    """Most severe first, then the most urgent kind: the order of :func:`evaluate_alerts`."""
    return severity_rank(severity), kind_rank(kind)


def _status_rank(status: str) -> int:
    return ALERT_STATUSES.index(status) if status in ALERT_STATUSES else len(ALERT_STATUSES)


def desk_sort_key(
    status: str, severity: str, kind: str, session_number: int | None, alert_id: int
) -> tuple[int, int, int, int, int]:
    """The order stored alerts are listed in: open, then acknowledged, then resolved; within
    each, by :func:`alert_rank`, then the most recent session, then the first raised among
    equals (the alliance measure's, evaluated first)."""
    return (
        _status_rank(status),
        severity_rank(severity),
        kind_rank(kind),
        -(session_number or 0),
        alert_id,
    )


#: The caseload's urgency for a client with no unresolved alert: after every alert.
NO_ALERT_URGENCY = 99


def desk_urgency(status: str, severity: str, kind: str) -> int:
    """A client's urgency on the caseload from their top unresolved alert, as one number that
    keeps :func:`desk_sort_key`'s order (open before acknowledged, severity, kind); lower is
    more urgent, and every value is below :data:`NO_ALERT_URGENCY`."""
    return (0 if status == "open" else 50) + severity_rank(severity) * 10 + kind_rank(kind)


# -- suggested next steps (our own words; see docs/monitoring.md for the sources) ------------

NEXT_STEPS: dict[str, str] = {
    "risk_reported": (
        "Follow your clinic's risk and safety protocol today; do not wait for the next "
        "session. Contact the client, ask directly about thoughts of death, suicide or "
        "self-harm (how often, how strong, any plan, intent, access to means, past attempts) "
        "and what helps them stay safe. A questionnaire answer is not a risk assessment: it "
        "tells you one is needed. If the client may be in immediate danger, take the emergency "
        "steps your protocol sets out. Record what you found and agreed, and involve your "
        "supervisor or the on-call clinician as the protocol requires."
    ),
    "rupture": (
        "Bring it up early in the next session, gently and without blame: say you noticed the "
        "drop and that you would like to understand it. Invite the client's view of what "
        "happened between you, stay curious rather than defending, and own your part (for "
        "example, moving too fast or missing what mattered). Then agree again on what you are "
        "working on and how."
    ),
    "low_alliance": (
        "Set time aside to talk about how the work feels: ask which goals matter most to the "
        "client, whether the tasks make sense to them, and whether they feel understood. "
        "Adjust what you can and check again next session."
    ),
    "not_on_track": (
        "Look at the progress chart together with the client. Ask what is and is not "
        "helping, review the goals and the plan, and consider changing the focus, the "
        "frequency or the approach, or discussing the case in supervision."
    ),
    "reliable_deterioration_outcome": (
        "Ask directly what has got worse, including about safety and risk. Review the plan "
        "with the client, and consider supervision, a medical review or more support."
    ),
    "reliable_deterioration_alliance": (
        "The relationship has weakened beyond measurement error since the start. Talk "
        "openly about how the work together feels now compared with the beginning, and what "
        "would help."
    ),
    "missed_sessions": (
        "Reach out personally rather than with an automatic reminder: ask how the client is, "
        "whether the timing or the work itself is getting in the way, and offer a way back."
    ),
    "irregular_sessions": (
        "Check in about the gap: ask what made it hard to come, whether the rhythm of "
        "sessions still suits the client, and agree the next appointment together."
    ),
    "poor_fit_reported": (
        "Raise it openly and without defensiveness: thank the client for saying so, ask what "
        "does not fit (the approach, the pace, the person) and what would help. If it cannot "
        "be mended, offer a well-supported referral or a change of therapist."
    ),
    "fit_check": (
        "Make room for a fit check: ask how the work feels so far, whether the goals and the "
        "way you work suit the client, and what you could do differently. Asking is itself "
        "part of building the alliance."
    ),
}


class AlertSettings(BaseModel):
    """Every threshold of every monitoring rule, with its default.

    A clinic can store ``AlertSettings.model_dump()`` and rebuild it with
    ``AlertSettings.model_validate(...)``; per-instrument thresholds are keyed by instrument id.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: frozenset[AlertKind] = Field(
        default=frozenset(ALERT_KINDS),
        description="Rules that run; leave one out to switch it off. risk_reported always "
        "runs and cannot be switched off.",
    )
    rupture_rci_z: float = Field(
        default=1.96,
        gt=0,
        description="Rupture (few prior scores): drop between consecutive alliance scores with "
        "|RCI| above this (Jacobson & Truax 1991).",
    )
    rupture_sd_multiplier: float = Field(
        default=2.0,
        gt=0,
        description="Rupture (enough prior scores): drop larger than this many within-client "
        "SDs of the earlier alliance scores (Stiles et al. 2004), and beyond the floor below.",
    )
    rupture_floor_sdiff: float = Field(
        default=1.96,
        gt=0,
        description="Rupture (enough prior scores): however steady the client's earlier "
        "scores, the drop must be larger than this many standard errors of a difference "
        "(S_diff; 1.96 = the RCI's 95 %). Before issue 11: 1.0.",
    )
    rupture_min_prior_points: int = Field(
        default=3,
        ge=2,
        description="Earlier alliance scores needed before the within-client SD rule replaces "
        "the RCI rule.",
    )
    low_alliance_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Per-instrument low-alliance threshold; default: the instrument's "
        "alert_thresholds['low'] (WAI-SR: 3.0).",
    )
    low_alliance_consecutive: int = Field(
        default=2,
        ge=1,
        description="Consecutive alliance scores below the threshold before alerting.",
    )
    not_on_track_consecutive: int = Field(
        default=2,
        ge=1,
        description="Consecutive outcome scores off the expected track before alerting. "
        "Before issue 11: 1.",
    )
    not_on_track_fallback: bool = Field(
        default=True,
        description="Without a fitted trajectory, judge outcome scores against the rational "
        "fallback trajectory.",
    )
    deterioration_z: float = Field(
        default=1.96,
        gt=0,
        description="Reliable deterioration from the first score: |RCI| above this.",
    )
    missed_sessions_in_a_row: int = Field(
        default=2,
        ge=1,
        description="Consecutive missed sessions (cancellations skipped) before alerting.",
    )
    irregular_gap_factor: float = Field(
        default=2.0,
        gt=1,
        description="A gap counts as irregular above this multiple of the median gap.",
    )
    irregular_gap_min_days: int = Field(
        default=21, ge=1, description="…and only when it is also longer than this many days."
    )
    irregular_min_intervals: int = Field(
        default=3, ge=1, description="Earlier intervals needed to know the client's usual interval."
    )
    poor_fit_not_sure: bool = Field(
        default=True, description='Also alert (as a warning) when the client answers "not sure".'
    )
    weak_signals_need_support: bool = Field(
        default=True,
        description="Weak relationship signals alert only when another source backs them up "
        "at the same session. Weak: every rule on a relationship measure without "
        "reliable-change parameters (the session-feedback form: a single session-rating dip, "
        'a low or not-rising rating), a "not sure" fit answer, and a fall of an alliance '
        "measure (a rupture, or reliable deterioration from the first score) no larger than "
        "fall_alone_sdiff · S_diff. Backing: a relationship signal from another instrument or "
        "the fit answer at the same session, or a fall of another alliance measure beyond "
        "fall_support_sdiff · S_diff. Off: every signal alerts on its own, as before issue 11.",
    )
    fall_alone_sdiff: float = Field(
        default=2.58,
        gt=0,
        description="A fall of an alliance measure with reliable-change parameters (a "
        "rupture, or reliable deterioration from the first score) alerts on its own only when "
        "larger than this many standard errors of a difference (S_diff; 2.58 = 99 %); a "
        "smaller, still reliable fall needs backing (see weak_signals_need_support).",
    )
    fall_support_sdiff: float = Field(
        default=1.645,
        gt=0,
        description="A fall of an alliance measure larger than this many S_diff (1.645 = 90 "
        "%) at the same session backs up a weak signal from another source, though it is too "
        "small to alert on its own.",
    )
    fit_check_after_session: int = Field(
        default=3,
        ge=1,
        description="Fit check window, first session: suggest a fit check from this session "
        "on when alliance is low.",
    )
    fit_check_until_session: int | None = Field(
        default=5,
        ge=1,
        description="Fit check window, last session: the check is suggested once per episode, "
        "at the first session in the window where alliance is low and not rising. No end "
        "(null in the settings JSON): at every such session, as before the window existed.",
    )
    fit_check_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Per-instrument threshold for the fit check; default: the low-alliance one.",
    )

    @model_validator(mode="after")
    def _window(self) -> AlertSettings:
        end = self.fit_check_until_session
        if end is not None and end < self.fit_check_after_session:
            raise ValueError(
                f"fit_check_until_session ({end}) must not be before "
                f"fit_check_after_session ({self.fit_check_after_session})"
            )
        return self

    @field_validator("enabled", mode="after")
    @classmethod
    def _always_on(cls, value: frozenset[AlertKind]) -> frozenset[AlertKind]:
        # Settings saved before risk_reported existed, or a form that left it out, still
        # evaluate it: the stored list can say which rules a clinic wants, not silence risk.
        return value | frozenset(ALWAYS_ON_KINDS)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record behind an alert: a score (``value`` = its total), an attendance record
    (``instrument_id`` = "attendance", ``value`` = its status) or a fit answer
    (``instrument_id`` = "fit", ``value`` = the answer)."""

    instrument_id: str
    session_number: int
    date: date
    value: float | str | None
    score_id: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One monitoring alert for one client at ``session_number``."""

    kind: AlertKind
    severity: Severity
    session_number: int
    reason: str
    next_step: str
    evidence: tuple[Evidence, ...]
    instrument_id: str | None = None


@dataclass(frozen=True, slots=True)
class RuptureEpisode:
    """A rupture (a drop at ``rupture_session``) and, if it came, its repair."""

    instrument_id: str
    before_session: int
    before: float
    rupture_session: int
    low: float
    repaired_session: int | None
    repaired: float | None


TrajectoryArg = TrajectoryModel | Mapping[str, TrajectoryModel] | None


def evaluate_alerts(
    timeline: Timeline,
    instruments: Mapping[str, Instrument],
    settings: AlertSettings | None = None,
    trajectory: TrajectoryArg = None,
    *,
    today: date | None = None,
) -> list[Alert]:
    """Alerts for the latest state of ``timeline``, most severe first.

    ``instruments`` maps instrument id to its definition; scores of instruments not in it are
    ignored — except that a risk flag on an instrument's latest score (``ScorePoint.risk``)
    always raises ``risk_reported``: a client's answer about self-harm is never dropped.
    ``trajectory`` is a fitted model for the outcome instrument (or a mapping of
    instrument id to model); without one the rational fallback is used (see
    :class:`AlertSettings`). ``today``, when given, lets an open gap since the last attended
    session count as irregular.
    """
    config = settings or AlertSettings()
    alerts: list[Alert] = _risk_reported(timeline, instruments)
    for instrument_id in timeline.instrument_ids():
        inst = instruments.get(instrument_id)
        if inst is None:
            continue
        series = timeline.series(instrument_id)
        if not series:
            continue
        if inst.kind in RELATIONSHIP_KINDS:
            alerts.extend(_rupture(series, inst, config))
            alerts.extend(_low_alliance(series, inst, config))
            alerts.extend(_fit_check(series, inst, config))
        if inst.kind == "outcome":
            alerts.extend(_not_on_track(series, inst, config, trajectory))
        alerts.extend(_deterioration(series, inst, config))
    alerts.extend(_missed(timeline, config))
    alerts.extend(_irregular(timeline, config, today))
    alerts.extend(_poor_fit(timeline, config))
    # Checked here as well as in AlertSettings: a settings object built without validation
    # (model_construct) must not be able to drop a risk alert either.
    enabled = [a for a in alerts if a.kind in config.enabled or a.kind in ALWAYS_ON_KINDS]
    if config.weak_signals_need_support:
        # After the switch-offs: a rule a clinic turned off backs nothing up either.
        enabled = _backed_up(enabled, timeline, instruments, config)
    return sorted(enabled, key=lambda a: alert_rank(a.severity, a.kind))


# -- weak signals and their backing (issue 11) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LatestStep:
    """A relationship measure's latest score: its session, the drop from the score before and
    the fall from the first score (positive when worse, in the measure's own units)."""

    session_number: int
    drop: float
    fall: float


def _sdiff(inst: Instrument) -> float | None:
    """The standard error of a difference between two scores (Jacobson & Truax 1991), or
    None without reliable-change parameters."""
    params = inst.reliable_change
    if params is None:
        return None
    return math.sqrt(2.0) * params.sd * math.sqrt(1.0 - params.reliability)


def _latest_steps(
    timeline: Timeline, instruments: Mapping[str, Instrument]
) -> dict[str, _LatestStep]:
    steps: dict[str, _LatestStep] = {}
    for instrument_id in timeline.instrument_ids():
        inst = instruments.get(instrument_id)
        if inst is None or inst.kind not in RELATIONSHIP_KINDS:
            continue
        series = timeline.series(instrument_id)
        if len(series) < 2:
            continue
        first, prev, cur = series[0], series[-2], series[-1]
        assert first.total is not None
        assert prev.total is not None
        assert cur.total is not None
        steps[instrument_id] = _LatestStep(
            cur.session_number,
            -improvement(cur.total - prev.total, inst.direction),
            -improvement(cur.total - first.total, inst.direction),
        )
    return steps


def _is_weak(
    alert: Alert,
    instruments: Mapping[str, Instrument],
    steps: Mapping[str, _LatestStep],
    config: AlertSettings,
) -> bool:
    """Whether measurement error alone often produces ``alert`` (see
    ``AlertSettings.weak_signals_need_support``). A "no" to the fit question is the client's
    own clear word and is never weak; nor is anything outside the relationship rules."""
    if alert.kind == "poor_fit_reported":
        return alert.severity != "urgent"  # "not sure"
    inst = instruments.get(alert.instrument_id or "")
    if inst is None or inst.kind not in RELATIONSHIP_KINDS:
        return False
    if alert.kind not in RELATIONSHIP_ALERT_KINDS and alert.kind != "reliable_deterioration":
        return False
    sdiff = _sdiff(inst)
    if sdiff is None:
        # No reliable-change parameters (the session-feedback form, not validated): nothing
        # says a dip or a low rating is beyond noise; a rating's noise is about 0.8 of 10.
        return True
    step = steps.get(inst.id)
    if step is None:
        return False
    # Only just reliable: a steady client's step crosses 1.96 · S_diff about one time in
    # forty on noise alone, eleven steps a course.
    if alert.kind == "rupture":
        return step.drop <= config.fall_alone_sdiff * sdiff
    if alert.kind == "reliable_deterioration":
        return step.fall <= config.fall_alone_sdiff * sdiff
    return False


def _backed_up(
    alerts: list[Alert],
    timeline: Timeline,
    instruments: Mapping[str, Instrument],
    config: AlertSettings,
) -> list[Alert]:
    """``alerts`` less the weak ones (:func:`_is_weak`) that nothing from another source backs
    up at the same session: another relationship signal (weak or not) from another instrument
    or the fit answer, or a fall of another alliance measure beyond ``fall_support_sdiff`` ·
    S_diff. Two weak signals from different sources back each other up: a client whose session
    rating dipped *and* who is not sure about the fit is saying the same thing twice, with
    independent noise. A weak alert that is kept says in its reason what backed it (a fall
    too small to alert is in no other reason). Risk, outcome and attendance alerts pass
    untouched."""
    steps = _latest_steps(timeline, instruments)
    # (source, session, what it is in words); the fit answer's source is None.
    backing = [
        (a.instrument_id, a.session_number, _what(a, instruments))
        for a in alerts
        if _about_relationship(a, instruments)
    ]
    signalled = {(source, session) for source, session, _words in backing}
    for instrument_id, step in steps.items():
        inst = instruments[instrument_id]
        sdiff = _sdiff(inst)
        bar = config.fall_support_sdiff * sdiff if sdiff is not None else math.inf
        # A fall that is itself a signal is already named by it.
        if step.drop > bar and (instrument_id, step.session_number) not in signalled:
            backing.append(
                (
                    instrument_id,
                    step.session_number,
                    f"{inst.short_name} fell by {_fmt(step.drop)} (more than "
                    f"{config.fall_support_sdiff:g} × S_diff = {_fmt(bar)})",
                )
            )
    kept: list[Alert] = []
    for alert in alerts:
        if not _is_weak(alert, instruments, steps, config):
            kept.append(alert)
            continue
        others = list(
            dict.fromkeys(
                words
                for source, session, words in backing
                if source != alert.instrument_id and session == alert.session_number
            )
        )
        if others:
            reason = f"{alert.reason} Backed up at the same session: {'; '.join(others)}."
            kept.append(dataclasses.replace(alert, reason=reason))
    return kept


def _what(alert: Alert, instruments: Mapping[str, Instrument]) -> str:
    """One relationship signal in a few words, for the reason of the alert it backs up."""
    if alert.kind == "poor_fit_reported":
        answer = "no" if alert.severity == "urgent" else "not sure"
        return f'the client answered "{answer}" to "is this a good fit for you?"'
    inst = instruments.get(alert.instrument_id or "")
    name = inst.short_name if inst is not None else (alert.instrument_id or "")
    words = {
        "rupture": f"a drop on {name}",
        "low_alliance": f"{name} low",
        "fit_check": f"{name} low and not rising",
        "reliable_deterioration": f"{name} reliably below its first score",
    }
    return words.get(alert.kind, f"{alert.kind} on {name}")


def _about_relationship(alert: Alert, instruments: Mapping[str, Instrument]) -> bool:
    """Whether ``alert`` is about the relationship: a relationship rule, or reliable
    deterioration of a relationship measure."""
    if alert.kind in RELATIONSHIP_ALERT_KINDS:
        return True
    inst = instruments.get(alert.instrument_id or "")
    return (
        alert.kind == "reliable_deterioration"
        and inst is not None
        and inst.kind in RELATIONSHIP_KINDS
    )


def alerts_by_session(
    timeline: Timeline,
    instruments: Mapping[str, Instrument],
    settings: AlertSettings | None = None,
    trajectory: TrajectoryArg = None,
) -> dict[int, list[Alert]]:
    """The alerts :func:`evaluate_alerts` would have raised right after each session."""
    return {
        number: evaluate_alerts(timeline.up_to(number), instruments, settings, trajectory)
        for number in timeline.session_numbers
    }


def may_rupture(
    totals: Sequence[float], inst: Instrument, settings: AlertSettings | None = None
) -> bool:
    """Whether the valid totals of one relationship instrument, in order, have a step that the
    rupture rule could call a rupture: a drop beyond ``min(1, z) · S_diff`` (any drop without
    reliable-change parameters). False means :func:`rupture_episodes` finds none on them, so a
    caller counting ruptures over many series can skip those (the clinic outcome report)."""
    config = settings or AlertSettings()
    params = inst.reliable_change
    bound = 0.0
    if params is not None:
        sdiff = math.sqrt(2.0) * params.sd * math.sqrt(1.0 - params.reliability)
        bound = min(config.rupture_floor_sdiff, config.rupture_rci_z) * sdiff
    return any(
        -improvement(later - earlier, inst.direction) > bound
        for earlier, later in itertools.pairwise(totals)
    )


def rupture_episodes(
    timeline: Timeline,
    instruments: Mapping[str, Instrument],
    settings: AlertSettings | None = None,
) -> tuple[RuptureEpisode, ...]:
    """Every rupture on the alliance instruments, each with its repair if one followed.

    A rupture is repaired at the first later score that is back within one standard error of
    the difference (S_diff) of the score before the drop — no longer reliably lower than it —
    or back at that score when the instrument has no reliable-change parameters.
    """
    config = settings or AlertSettings()
    episodes: list[RuptureEpisode] = []
    for instrument_id in timeline.instrument_ids():
        inst = instruments.get(instrument_id)
        if inst is None or inst.kind not in RELATIONSHIP_KINDS:
            continue
        series = timeline.series(instrument_id)
        params = inst.reliable_change
        slack = 0.0
        if params is not None:
            slack = math.sqrt(2.0) * params.sd * math.sqrt(1.0 - params.reliability)
        for index in range(1, len(series)):
            if not _rupture(series[: index + 1], inst, config):
                continue
            before, low = series[index - 1], series[index]
            assert before.total is not None
            assert low.total is not None
            repair = next(
                (
                    later
                    for later in series[index + 1 :]
                    if later.total is not None
                    and improvement(later.total - before.total, inst.direction) >= -slack
                ),
                None,
            )
            episodes.append(
                RuptureEpisode(
                    instrument_id=instrument_id,
                    before_session=before.session_number,
                    before=before.total,
                    rupture_session=low.session_number,
                    low=low.total,
                    repaired_session=repair.session_number if repair else None,
                    repaired=repair.total if repair else None,
                )
            )
    return tuple(episodes)


# -- rules -----------------------------------------------------------------------------------


def _risk_reported(timeline: Timeline, instruments: Mapping[str, Instrument]) -> list[Alert]:
    alerts: list[Alert] = []
    for instrument_id in timeline.instrument_ids():
        # The latest administration, valid or not: an endorsed risk item counts even when too
        # many other items were skipped to give a total. An earlier endorsement that the
        # latest answer no longer carries stays in the alert history, not in today's alerts.
        latest = timeline.series(instrument_id, valid_only=False)[-1]
        if not latest.risk:
            continue
        inst = instruments.get(instrument_id)
        name = inst.short_name if inst is not None else instrument_id
        answers = "; and ".join(_risk_answer(flag, inst, name) for flag in latest.risk)
        labels = "; ".join(dict.fromkeys(flag.label for flag in latest.risk))
        reason = (
            f"The client answered {answers} at session {latest.session_number}, "
            f"{latest.date.isoformat()}. Risk item{'s' if len(latest.risk) > 1 else ''}: "
            f"{labels}."
        )
        if any(flag.unreadable for flag in latest.risk):
            reason += (
                " The stored answer could not be read under the current definition of the "
                "instrument, so it is treated as a possible risk: ask the client directly."
            )
        alerts.append(
            Alert(
                kind="risk_reported",
                severity="urgent",
                session_number=latest.session_number,
                reason=reason,
                next_step=NEXT_STEPS["risk_reported"],
                evidence=(_score_evidence(latest),),
                instrument_id=instrument_id,
            )
        )
    return alerts


def _risk_answer(flag: RiskFlag, inst: Instrument | None, name: str) -> str:
    """``2 = 'More than half the days' to PHQ-9 item 9 ("Thoughts that …")``."""
    if flag.unreadable:
        # The stored answer predates the current definition: quote it rather than invent a score.
        answer = f"'{flag.answer}'"
    else:
        answer = _fmt(flag.score) + (f" = '{flag.answer}'" if flag.answer else "")
    if inst is not None and flag.link_id in inst.link_ids:
        text = inst.item(flag.link_id).text
        return f'{answer} to {name} item {inst.item_number(flag.link_id)} ("{text}")'
    return f"{answer} to {name} item {flag.link_id}"


def _rupture(series: Sequence[ScorePoint], inst: Instrument, config: AlertSettings) -> list[Alert]:
    if len(series) < 2:
        return []
    prev, cur = series[-2], series[-1]
    assert prev.total is not None
    assert cur.total is not None
    drop = -improvement(cur.total - prev.total, inst.direction)
    if drop <= 0:
        return []
    params = inst.reliable_change
    sdiff = (
        math.sqrt(2.0) * params.sd * math.sqrt(1.0 - params.reliability)
        if params is not None
        else None
    )
    # Both tests below need a drop beyond the floor (rupture_floor_sdiff · S_diff) or beyond
    # z · S_diff (the RCI): a smaller one is no rupture, decided before the client's SD is
    # worked out (most steps of a series stop here, which keeps the clinic report over 20,000
    # episodes fast).
    bound = min(config.rupture_floor_sdiff, config.rupture_rci_z)
    if sdiff is not None and drop <= bound * sdiff:
        return []
    name = inst.short_name
    prior = [p.total for p in series[:-1] if p.total is not None]
    within_sd = statistics.stdev(prior) if len(prior) >= config.rupture_min_prior_points else 0.0
    if within_sd > 0:
        # Stiles et al. (2004): a drop beyond 2 of the client's own SDs. An SD from a few
        # earlier scores is itself noisy and often far below the true spread, so the client's
        # spread may raise the bar but never lower it below what measurement error explains:
        # the floor is by default the RCI's criterion (1.96 · S_diff; a tenth of the scale
        # without reliable-change parameters). With one S_diff as the floor (before issue 11),
        # one WAI-SR step in six crossed it on noise alone.
        threshold = config.rupture_sd_multiplier * within_sd
        if sdiff is not None:
            floor = config.rupture_floor_sdiff * sdiff
        else:  # the scale's range is worked out only when it is needed (it sums the items)
            low_end, high_end = inst.score_range
            floor = (high_end - low_end) / 10.0
        if drop <= max(threshold, floor):
            return []
        rule = (
            f"more than {_fmt(config.rupture_sd_multiplier)} × this client's usual spread "
            f"(SD {_fmt(within_sd)} over {len(prior)} earlier scores = {_fmt(threshold)} points"
            + (f"; at least {_fmt(floor)}{_floor_why(sdiff)}" if floor > threshold else "")
            + ")"
        )
    elif sdiff is not None:
        rci = (cur.total - prev.total) / sdiff
        if abs(rci) <= config.rupture_rci_z:
            return []
        rule = (
            f"RCI {_fmt(rci)}, beyond the ±{_fmt(config.rupture_rci_z)} that measurement error "
            f"explains (a reliable drop is more than {_fmt(config.rupture_rci_z * sdiff)} points)"
        )
    else:
        return []
    reason = (
        f"{name} fell from {_fmt(prev.total)} at session {prev.session_number} to "
        f"{_fmt(cur.total)} at session {cur.session_number} (a drop of {_fmt(drop)}): {rule}."
    )
    return [
        Alert(
            kind="rupture",
            severity="urgent",
            session_number=cur.session_number,
            reason=reason,
            next_step=NEXT_STEPS["rupture"],
            evidence=(_score_evidence(prev), _score_evidence(cur)),
            instrument_id=inst.id,
        )
    ]


def alert_thresholds(inst: Instrument, settings: AlertSettings) -> dict[str, float]:
    """The instrument's ``alert_thresholds`` with the clinic's overrides applied: ``low`` from
    ``settings.low_alliance_thresholds`` and ``fit_check`` from ``settings.fit_check_thresholds``
    when the clinic set one for this instrument."""
    merged = dict(inst.alert_thresholds)
    if inst.id in settings.low_alliance_thresholds:
        merged["low"] = settings.low_alliance_thresholds[inst.id]
    if inst.id in settings.fit_check_thresholds:
        merged["fit_check"] = settings.fit_check_thresholds[inst.id]
    return merged


def low_alliance_threshold(inst: Instrument, settings: AlertSettings) -> float | None:
    """The low-alliance threshold the rules use: the clinic's, else the instrument's ``low``."""
    return alert_thresholds(inst, settings).get("low")


def fit_check_threshold(inst: Instrument, settings: AlertSettings) -> float | None:
    """The fit-check threshold: the clinic's fit-check override, else the low-alliance one
    (an instrument's own thresholds name no fit-check value)."""
    if inst.id in settings.fit_check_thresholds:
        return settings.fit_check_thresholds[inst.id]
    return low_alliance_threshold(inst, settings)


def _is_low(total: float, threshold: float, inst: Instrument) -> bool:
    return total < threshold if inst.direction == "higher_is_better" else total > threshold


def _low_alliance(
    series: Sequence[ScorePoint], inst: Instrument, config: AlertSettings
) -> list[Alert]:
    threshold = low_alliance_threshold(inst, config)
    needed = config.low_alliance_consecutive
    if threshold is None or len(series) < needed:
        return []
    recent = series[-needed:]
    if not all(p.total is not None and _is_low(p.total, threshold, inst) for p in recent):
        return []
    side = "below" if inst.direction == "higher_is_better" else "above"
    listed = ", ".join(f"{_fmt(p.total)} at session {p.session_number}" for p in recent)
    count = "the latest score" if needed == 1 else f"the last {needed} scores"
    reason = f"{inst.short_name} is {side} {_fmt(threshold)} in {count}: {listed}."
    return [
        Alert(
            kind="low_alliance",
            severity="warning",
            session_number=recent[-1].session_number,
            reason=reason,
            next_step=NEXT_STEPS["low_alliance"],
            evidence=tuple(_score_evidence(p) for p in recent),
            instrument_id=inst.id,
        )
    ]


def _fit_check(
    series: Sequence[ScorePoint], inst: Instrument, config: AlertSettings
) -> list[Alert]:
    end = config.fit_check_until_session
    if end is None:
        return _fit_check_at(series, inst, config)
    # Once per episode: only at the first session inside the window where the check applies.
    # Replaying the earlier points keeps this a function of the timeline alone (no stored
    # state), so a re-evaluation after a later session stays silent.
    for index, point in enumerate(series):
        if point.session_number > end:
            break
        if point.session_number < config.fit_check_after_session:
            continue
        found = _fit_check_at(series[: index + 1], inst, config)
        if found:
            return found if index == len(series) - 1 else []
    return []


def _fit_check_at(
    series: Sequence[ScorePoint], inst: Instrument, config: AlertSettings
) -> list[Alert]:
    cur = series[-1]
    assert cur.total is not None
    if cur.session_number < config.fit_check_after_session:
        return []
    threshold = fit_check_threshold(inst, config)
    if threshold is None or not _is_low(cur.total, threshold, inst):
        return []
    prev = series[-2] if len(series) >= 2 else None
    if prev is not None:
        assert prev.total is not None
        if improvement(cur.total - prev.total, inst.direction) > 0:
            return []  # rising: give it time
        trend = f"not rising ({_fmt(prev.total)} at session {prev.session_number})"
    else:
        trend = "with no earlier score to show it rising"
    side = "below" if inst.direction == "higher_is_better" else "above"
    reason = (
        f"At session {cur.session_number} {inst.short_name} is {_fmt(cur.total)}, {side} "
        f"{_fmt(threshold)}, and {trend}."
    )
    evidence = tuple(_score_evidence(p) for p in ((prev, cur) if prev else (cur,)))
    return [
        Alert(
            kind="fit_check",
            severity="info",
            session_number=cur.session_number,
            reason=reason,
            next_step=NEXT_STEPS["fit_check"],
            evidence=evidence,
            instrument_id=inst.id,
        )
    ]


def _trajectory_for(inst: Instrument, trajectory: TrajectoryArg) -> TrajectoryModel | None:
    if isinstance(trajectory, TrajectoryModel):
        return trajectory if trajectory.instrument.id == inst.id else None
    if trajectory is not None:
        return trajectory.get(inst.id)
    return None


def _floor_why(sdiff: float | None) -> str:
    # The floor is measurement error only where the instrument has reliable-change parameters
    # (without them it is a tenth of the scale).
    return ", beyond measurement error" if sdiff is not None else ", a tenth of the scale"


def _not_on_track(
    series: Sequence[ScorePoint],
    inst: Instrument,
    config: AlertSettings,
    trajectory: TrajectoryArg,
) -> list[Alert]:
    if len(series) < 2:
        return []
    model = _trajectory_for(inst, trajectory)
    if model is None:
        if not config.not_on_track_fallback or inst.reliable_change is None:
            return []
        model = _fallback_model(inst)
    intake, cur = series[0], series[-1]
    assert intake.total is not None
    assert cur.total is not None
    needed = config.not_on_track_consecutive
    if len(series) <= needed:
        return []
    recent = series[-needed:]
    verdicts = [
        not_on_track(
            model, intake.total, p.session_number, p.total, intake_session=intake.session_number
        )
        for p in recent
        if p.total is not None
    ]
    if len(verdicts) < needed or not all(v.flag for v in verdicts):
        return []
    verdict = verdicts[-1]
    reason = verdict.reason.replace(inst.title, inst.short_name)
    if needed > 1:
        before = "the score before it" if needed == 2 else f"the {needed - 1} scores before it"
        reason += f"; so was {before}"
    return [
        Alert(
            kind="not_on_track",
            severity="warning",
            session_number=cur.session_number,
            reason=reason + ".",
            next_step=NEXT_STEPS["not_on_track"],
            evidence=(_score_evidence(intake), *(_score_evidence(p) for p in recent)),
            instrument_id=inst.id,
        )
    ]


def _fallback_model(inst: Instrument) -> TrajectoryModel:
    import pandas as pd

    empty = pd.DataFrame({"client_id": [], "session": [], "score": []})
    return fit_trajectories(empty, inst)


def _deterioration(
    series: Sequence[ScorePoint], inst: Instrument, config: AlertSettings
) -> list[Alert]:
    if len(series) < 2 or inst.reliable_change is None:
        return []
    first, cur = series[0], series[-1]
    assert first.total is not None
    assert cur.total is not None
    result = classify_instrument_change(inst, first.total, cur.total, z=config.deterioration_z)
    if result.reliable_change != "deteriorated":
        return []
    verb = "rose" if cur.total > first.total else "fell"
    reason = (
        f"{inst.short_name} {verb} from {_fmt(first.total)} at session "
        f"{first.session_number} to {_fmt(cur.total)} at session {cur.session_number} "
        f"({_signed(result.change)}; RCI {_fmt(result.rci)}): worse by more than the "
        f"{_fmt(result.criterion)} points measurement error can explain."
    )
    outcome = inst.kind == "outcome"
    return [
        Alert(
            kind="reliable_deterioration",
            severity="urgent" if outcome else "warning",
            session_number=cur.session_number,
            reason=reason,
            next_step=NEXT_STEPS[
                "reliable_deterioration_outcome" if outcome else "reliable_deterioration_alliance"
            ],
            evidence=(_score_evidence(first), _score_evidence(cur)),
            instrument_id=inst.id,
        )
    ]


def _missed(timeline: Timeline, config: AlertSettings) -> list[Alert]:
    missed = []
    last_attended = None
    for record in reversed(timeline.attendance):
        if record.status == "cancelled":
            continue  # a cancelled session neither counts as missed nor breaks the run
        if record.status == "attended":
            last_attended = record
            break
        missed.append(record)
    if len(missed) < config.missed_sessions_in_a_row:
        return []
    missed.reverse()
    listed = ", ".join(f"session {r.session_number} on {r.date.isoformat()}" for r in missed)
    reason = f"{len(missed)} sessions in a row missed ({listed})"
    if last_attended is not None:
        reason += (
            f"; the last attended session was {last_attended.session_number} on "
            f"{last_attended.date.isoformat()}"
        )
    return [
        Alert(
            kind="missed_sessions",
            severity="warning",
            session_number=missed[-1].session_number,
            reason=reason + ".",
            next_step=NEXT_STEPS["missed_sessions"],
            evidence=tuple(
                Evidence("attendance", r.session_number, r.date, r.status) for r in missed
            ),
        )
    ]


def _irregular(timeline: Timeline, config: AlertSettings, today: date | None) -> list[Alert]:
    attended = [a for a in timeline.attendance if a.status == "attended"]
    if not attended:
        return []
    dates = [a.date for a in attended]
    gaps = [(later - earlier).days for earlier, later in itertools.pairwise(dates)]
    open_gap = today is not None and today > dates[-1]
    if open_gap:
        assert today is not None
        latest_gap = (today - dates[-1]).days
        usual_gaps = gaps
    else:
        if not gaps:
            return []
        latest_gap, usual_gaps = gaps[-1], gaps[:-1]
    if len(usual_gaps) < config.irregular_min_intervals:
        return []
    usual = statistics.median(usual_gaps)
    if (
        latest_gap <= config.irregular_gap_factor * usual
        or latest_gap <= config.irregular_gap_min_days
    ):
        return []
    last = attended[-1]
    if open_gap:
        assert today is not None
        span = (
            f"{latest_gap} days since the last attended session ({last.session_number}, "
            f"{last.date.isoformat()}) as of {today.isoformat()}"
        )
        evidence: tuple[Evidence, ...] = (
            Evidence("attendance", last.session_number, last.date, last.status),
        )
        session = last.session_number
    else:
        before = attended[-2]
        span = (
            f"{latest_gap} days between sessions {before.session_number} "
            f"({before.date.isoformat()}) and {last.session_number} ({last.date.isoformat()})"
        )
        evidence = (
            Evidence("attendance", before.session_number, before.date, before.status),
            Evidence("attendance", last.session_number, last.date, last.status),
        )
        session = last.session_number
    reason = (
        f"{span}, against a usual {_fmt(usual)} days (median of {len(usual_gaps)} earlier "
        f"intervals; alert above {_fmt(config.irregular_gap_factor)} × usual and "
        f"{config.irregular_gap_min_days} days)."
    )
    return [
        Alert(
            kind="irregular_sessions",
            severity="warning",
            session_number=session,
            reason=reason,
            next_step=NEXT_STEPS["irregular_sessions"],
            evidence=evidence,
        )
    ]


def _poor_fit(timeline: Timeline, config: AlertSettings) -> list[Alert]:
    if not timeline.fit_answers:
        return []
    last = timeline.fit_answers[-1]
    if last.answer == "yes" or (last.answer == "not_sure" and not config.poor_fit_not_sure):
        return []
    words = "no" if last.answer == "no" else "not sure"
    reason = (
        f"At session {last.session_number} ({last.date.isoformat()}) the client answered "
        f'"{words}" to "is this a good fit for you?".'
    )
    return [
        Alert(
            kind="poor_fit_reported",
            severity="urgent" if last.answer == "no" else "warning",
            session_number=last.session_number,
            reason=reason,
            next_step=NEXT_STEPS["poor_fit_reported"],
            evidence=(Evidence("fit", last.session_number, last.date, last.answer),),
        )
    ]


# -- formatting ------------------------------------------------------------------------------


def _score_evidence(point: ScorePoint) -> Evidence:
    return Evidence(
        point.instrument_id, point.session_number, point.date, point.total, point.score_id
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + _fmt(value)
