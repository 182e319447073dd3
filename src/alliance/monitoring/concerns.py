"""One concern, one alert: from the signals the rules raise to the alerts a therapist reads.

The rules (:mod:`alliance.monitoring.alerts`) each say one thing — a rupture, a low alliance, a
"not a good fit" answer. A therapist acts on *concerns*: the alliance, the outcome, attendance,
risk. Here signals become concerns, and stored concerns are kept up to date, as pure data:

* :func:`concern_of` names a signal's concern: ``alliance`` (rupture, low alliance, fit check,
  "not a good fit", and reliable deterioration of an alliance measure), ``outcome`` (not on
  track, reliable deterioration of an outcome measure), ``attendance`` (missed or irregular
  sessions) and ``risk`` (a risk answer, always on its own).
* :func:`group_signals` folds one evaluation's signals into one :class:`Concern` per concern,
  each with all its reasons (:class:`Signal`), the most urgent leading.
* :func:`plan_alerts` compares the concerns raised now with the stored alerts of the episode
  (:class:`StoredAlert`) and says, per concern, what to do (:class:`AlertChange`): raise a new
  alert, update an unresolved one with the later evidence, re-open a resolved one when the
  evidence comes from a later session, or nothing. The service layer writes what it says.

``by="signal"`` keeps the grouping used before concerns existed — one alert per rule and
instrument, a new alert when a handled one fires again at a later session — so that the two
can be compared (``eval/alert_burden.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from alliance.monitoring.alerts import (
    Alert,
    alert_rank,
    severity_rank,
)

__all__ = [
    "CONCERNS",
    "CONCERN_TITLES",
    "EVENT_KINDS",
    "AlertChange",
    "Concern",
    "ConcernKind",
    "Grouping",
    "Signal",
    "StoredAlert",
    "concern_of",
    "group_signals",
    "plan_alerts",
]

ConcernKind = Literal["risk", "alliance", "outcome", "attendance"]
#: The concerns, in the order a desk lists them when all else is equal.
CONCERNS: tuple[ConcernKind, ...] = get_args(ConcernKind)
#: How a concern is named on the desk.
CONCERN_TITLES: dict[str, str] = {
    "risk": "Risk reported",
    "alliance": "Alliance concern",
    "outcome": "Outcome concern",
    "attendance": "Attendance",
}
Grouping = Literal["concern", "signal"]

_BY_KIND: dict[str, ConcernKind] = {
    "risk_reported": "risk",
    "rupture": "alliance",
    "low_alliance": "alliance",
    "fit_check": "alliance",
    "poor_fit_reported": "alliance",
    "not_on_track": "outcome",
    "missed_sessions": "attendance",
    "irregular_sessions": "attendance",
}


def concern_of(kind: str, instrument_kind: str | None = None) -> ConcernKind:
    """The concern a signal of ``kind`` belongs to; ``instrument_kind`` (the kind of the
    instrument it was read from) decides for reliable deterioration: of an alliance or
    session-feedback measure it is about the relationship, of anything else about outcome."""
    if kind == "reliable_deterioration":
        return "alliance" if instrument_kind in ("alliance", "feedback") else "outcome"
    return _BY_KIND.get(kind, "outcome")


@dataclass(frozen=True, slots=True)
class Signal:
    """One reason inside an alert: what one rule found, as stored with the alert."""

    kind: str
    severity: str
    session_number: int
    reason: str
    next_step: str
    instrument_id: str | None

    @property
    def key(self) -> tuple[str, str | None]:
        """A rule on an instrument: a later firing of the same rule replaces the earlier."""
        return (self.kind, self.instrument_id)

    @classmethod
    def of(cls, alert: Alert) -> Signal:
        return cls(
            alert.kind,
            alert.severity,
            alert.session_number,
            alert.reason,
            alert.next_step,
            alert.instrument_id,
        )


def _ranked(signals: Sequence[Signal]) -> tuple[Signal, ...]:
    return tuple(
        sorted(signals, key=lambda s: (*alert_rank(s.severity, s.kind), -s.session_number))
    )


class _AsOneAlert:
    """What a run of signals, the most urgent first, says as one alert: the lead's kind, next
    step and instrument, the most severe severity, the latest session, every reason in turn.
    Shared by a raised concern and the change it makes to a stored alert."""

    __slots__ = ()
    signals: tuple[Signal, ...]

    @property
    def lead(self) -> Signal:
        return self.signals[0]

    @property
    def kind(self) -> str:
        return self.lead.kind

    @property
    def severity(self) -> str:
        return min((s.severity for s in self.signals), key=severity_rank)

    @property
    def session_number(self) -> int:
        return max(s.session_number for s in self.signals)

    @property
    def reason(self) -> str:
        """Every signal's reason, the lead's first."""
        return " ".join(s.reason for s in self.signals)

    @property
    def next_step(self) -> str:
        return self.lead.next_step

    @property
    def instrument_id(self) -> str | None:
        return self.lead.instrument_id


@dataclass(frozen=True, slots=True)
class Concern(_AsOneAlert):
    """One concern as raised by one evaluation: its signals, the most urgent first.

    ``key`` identifies it within an episode: the concern's name (with ``by="signal"``, the rule
    and instrument instead). ``alerts`` are the rule outputs it was made of, with their
    evidence.
    """

    key: str
    concern: ConcernKind
    signals: tuple[Signal, ...]
    alerts: tuple[Alert, ...] = ()


def group_signals(
    alerts: Sequence[Alert],
    instrument_kinds: Mapping[str, str],
    *,
    by: Grouping = "concern",
) -> list[Concern]:
    """One :class:`Concern` per concern among ``alerts`` (one evaluation's rule outputs),
    most urgent first; ``instrument_kinds`` maps instrument id to its kind (alliance,
    outcome, feedback …). With ``by="signal"`` every rule and instrument is its own concern."""
    groups: dict[str, list[Alert]] = {}
    names: dict[str, ConcernKind] = {}
    for alert in alerts:
        name = concern_of(alert.kind, instrument_kinds.get(alert.instrument_id or ""))
        key = name if by == "concern" else f"{alert.kind}:{alert.instrument_id or ''}"
        groups.setdefault(key, []).append(alert)
        names[key] = name
    concerns = [
        Concern(key, names[key], _ranked([Signal.of(a) for a in found]), tuple(found))
        for key, found in groups.items()
    ]
    return sorted(concerns, key=lambda c: alert_rank(c.severity, c.kind))


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """What :func:`plan_alerts` needs of an alert already stored for the episode."""

    id: int
    key: str
    status: str  # open | acknowledged | resolved
    signals: tuple[Signal, ...]

    @property
    def session_number(self) -> int:
        return max((s.session_number for s in self.signals), default=0)

    @property
    def severity(self) -> str:
        return min((s.severity for s in self.signals), key=severity_rank, default="info")


@dataclass(frozen=True, slots=True)
class AlertChange(_AsOneAlert):
    """What to do with one raised concern.

    ``op``: ``raise`` (a new alert), ``update`` (the unresolved alert ``target`` takes the
    later evidence), ``reopen`` (the resolved alert ``target`` is open again: new evidence from
    a later session). ``signals`` are the alert's reasons after the change and ``status`` its
    status (an acknowledged alert goes back to open when the new evidence is more severe, adds
    an urgent reason, or is a new rupture or risk answer; see :func:`_needs_another_look`).
    """

    op: Literal["raise", "update", "reopen"]
    concern: Concern
    signals: tuple[Signal, ...]
    status: str
    target: int | None = None


def _merge(old: Sequence[Signal], new: Sequence[Signal]) -> tuple[Signal, ...]:
    """``old`` with ``new`` laid over it: a rule's later firing replaces its earlier one; a
    reason the rules no longer raise stays (it is part of why the alert is there)."""
    merged = {s.key: s for s in old}
    for signal in new:
        merged[signal.key] = signal
    return _ranked(list(merged.values()))


def plan_alerts(
    raised: Sequence[Concern], stored: Sequence[StoredAlert], *, by: Grouping = "concern"
) -> list[AlertChange]:
    """What to store for the concerns ``raised`` now, given the episode's ``stored`` alerts.

    ``by="concern"``: an unresolved alert of the concern (the newest if there are several,
    as there may be from before concerns existed) takes the new evidence; without one, the
    newest resolved alert re-opens when some signal comes from a session later than all its
    evidence, and otherwise nothing happens (it was handled: do not nag); with no alert of the
    concern at all, a new one is raised. Nothing is planned where nothing changes.

    ``by="signal"`` (the grouping before concerns, kept for comparison): only an *open* alert
    of the same rule and instrument is updated; one already raised for the same session and
    handled since is left alone; anything else raises a new alert.
    """
    changes: list[AlertChange] = []
    for concern in raised:
        same = sorted((a for a in stored if a.key == concern.key), key=lambda a: a.id)
        change = _plan_signal(concern, same) if by == "signal" else _plan_concern(concern, same)
        if change is not None:
            changes.append(change)
    return changes


def _plan_concern(concern: Concern, same: Sequence[StoredAlert]) -> AlertChange | None:
    unresolved = [a for a in same if a.status != "resolved"]
    if unresolved:
        target = unresolved[-1]
        signals = _merge(target.signals, concern.signals)
        if signals == target.signals:
            return None
        status = target.status
        if status == "acknowledged" and _needs_another_look(target, concern):
            status = "open"
        return AlertChange("update", concern, signals, status, target.id)
    if same:
        target = same[-1]
        later = [s for s in concern.signals if s.session_number > target.session_number]
        if not later:
            return None
        return AlertChange("reopen", concern, _ranked(later), "open", target.id)
    return AlertChange("raise", concern, concern.signals, "open")


#: Rules that report an event (a drop between two sessions, an answer about self-harm) rather
#: than a state that lasts (a low alliance, an outcome off track): a later firing is a new event.
EVENT_KINDS: frozenset[str] = frozenset({"risk_reported", "rupture"})


def _needs_another_look(target: StoredAlert, concern: Concern) -> bool:
    """An acknowledged alert goes back to open when the later evidence is more severe than
    what was acknowledged, adds an urgent reason it did not have, or is a new event (a rupture
    or a risk answer from a later session than the one acknowledged). A lasting state firing
    again (still low, still off track) only updates it: the therapist already said what they
    will do about it."""
    if severity_rank(concern.severity) < severity_rank(target.severity):
        return True
    before = {s.key: s for s in target.signals}
    for signal in concern.signals:
        known = before.get(signal.key)
        if known is None:
            if signal.severity == "urgent":
                return True
            continue
        if signal.kind in EVENT_KINDS and signal.session_number > known.session_number:
            return True
    return False


def _plan_signal(concern: Concern, same: Sequence[StoredAlert]) -> AlertChange | None:
    number = concern.session_number
    same_session = [a for a in same if a.session_number == number]
    if same_session and not any(a.status == "open" for a in same_session):
        return None
    candidates = [a for a in same_session if a.status == "open"] or [
        a for a in same if a.status == "open"
    ]
    if not candidates:
        return AlertChange("raise", concern, concern.signals, "open")
    target = candidates[0]
    if target.signals == concern.signals:
        return None
    return AlertChange("update", concern, concern.signals, "open", target.id)
