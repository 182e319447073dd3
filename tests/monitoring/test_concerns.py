"""One concern, one alert (alliance.monitoring.concerns): grouping and the upsert plan."""

from __future__ import annotations

from collections.abc import Mapping

from monitoring_helpers import attended, scores, week

from alliance.measures.instrument import Instrument
from alliance.monitoring.alerts import Alert, evaluate_alerts
from alliance.monitoring.concerns import (
    AlertChange,
    Concern,
    Signal,
    StoredAlert,
    concern_of,
    group_signals,
    plan_alerts,
)
from alliance.monitoring.timeline import Attendance, FitAnswer, Timeline

Instruments = Mapping[str, Instrument]


def kinds_of(instruments: Instruments) -> dict[str, str]:
    return {i: inst.kind for i, inst in instruments.items()}


def signal(
    kind: str, session: int, severity: str = "warning", inst: str | None = "wai_sr"
) -> Alert:
    return Alert(kind, severity, session, f"{kind} at {session}", "step", (), inst)  # type: ignore[arg-type]


def stored(change: AlertChange, alert_id: int, status: str = "open") -> StoredAlert:
    return StoredAlert(alert_id, change.concern.key, status, change.signals)


def test_each_signal_belongs_to_one_concern_and_deterioration_follows_its_measure() -> None:
    assert concern_of("rupture") == concern_of("poor_fit_reported") == "alliance"
    assert concern_of("low_alliance") == concern_of("fit_check") == "alliance"
    assert concern_of("not_on_track") == "outcome"
    assert concern_of("missed_sessions") == concern_of("irregular_sessions") == "attendance"
    assert concern_of("risk_reported") == "risk"
    assert concern_of("reliable_deterioration", "alliance") == "alliance"
    assert concern_of("reliable_deterioration", "feedback") == "alliance"
    assert concern_of("reliable_deterioration", "outcome") == "outcome"


def test_one_bad_check_in_is_one_alliance_concern_with_every_reason(
    instruments: Instruments,
) -> None:
    # Low and flat, then a drop at session 4 with a "not a good fit" answer: the rules raise a
    # rupture, a poor fit, a reliable deterioration and a low alliance on WAI-SR and a fit
    # check on the session rating — five signals, one concern.
    timeline = Timeline(
        "c",
        [
            *scores("wai_sr", [2.9, 2.9, 2.8, 1.5]),
            *scores("session_feedback", [8, 8, 8, 3]),
        ],
        attended(range(1, 5)),
        [FitAnswer(4, week(4), "no")],
    )
    raised = evaluate_alerts(timeline, instruments)
    assert {a.kind for a in raised} == {
        "rupture",
        "poor_fit_reported",
        "reliable_deterioration",
        "low_alliance",
        "fit_check",
    }
    concerns = group_signals(raised, kinds_of(instruments))
    [alliance] = [c for c in concerns if c.concern == "alliance"]
    assert [c.concern for c in concerns] == ["alliance"]
    assert len(alliance.signals) == 5
    assert alliance.severity == "urgent"
    assert alliance.lead.kind == "rupture"  # urgent, and ranked before the others
    assert alliance.signals[-1].kind == "fit_check"
    assert all(s.reason in alliance.reason for s in alliance.signals)
    assert alliance.reason.startswith(alliance.lead.reason)
    # The old grouping: one alert per rule and instrument.
    by_signal = group_signals(raised, kinds_of(instruments), by="signal")
    assert len(by_signal) == len(raised)


def test_risk_stays_its_own_alert_and_leads() -> None:
    raised = [
        signal("risk_reported", 3, "urgent", "phq9"),
        signal("not_on_track", 3, "warning", "phq9"),
        signal("rupture", 3, "urgent"),
    ]
    concerns = group_signals(raised, {"phq9": "outcome", "wai_sr": "alliance"})
    assert [c.concern for c in concerns] == ["risk", "alliance", "outcome"]
    assert [len(c.signals) for c in concerns] == [1, 1, 1]


def test_an_open_alert_takes_later_evidence_instead_of_a_second_alert() -> None:
    kinds = {"wai_sr": "alliance"}
    [first] = plan_alerts(group_signals([signal("rupture", 4, "urgent")], kinds), [])
    assert first.op == "raise"
    on_desk = [stored(first, 1)]
    # The same state re-evaluated (the daily sweep): nothing to do.
    assert plan_alerts(group_signals([signal("rupture", 4, "urgent")], kinds), on_desk) == []
    # Session 5: still low. The rupture stays as a reason, low alliance joins it.
    [later] = plan_alerts(group_signals([signal("low_alliance", 5)], kinds), on_desk)
    assert (later.op, later.target, later.status) == ("update", 1, "open")
    assert [s.kind for s in later.signals] == ["rupture", "low_alliance"]
    assert later.session_number == 5
    assert later.severity == "urgent"


def test_an_acknowledged_alert_is_updated_and_reopens_only_when_it_gets_worse() -> None:
    kinds = {"wai_sr": "alliance"}
    [first] = plan_alerts(group_signals([signal("low_alliance", 4)], kinds), [])
    acked = [stored(first, 7, "acknowledged")]
    [same_level] = plan_alerts(group_signals([signal("low_alliance", 5)], kinds), acked)
    assert (same_level.op, same_level.status) == ("update", "acknowledged")
    [worse] = plan_alerts(group_signals([signal("rupture", 5, "urgent")], kinds), acked)
    assert (worse.op, worse.status) == ("update", "open")
    # A rupture acknowledged, then a second rupture at a later session: a new event.
    [rupture] = plan_alerts(group_signals([signal("rupture", 4, "urgent")], kinds), [])
    handled = [stored(rupture, 8, "acknowledged")]
    [still] = plan_alerts(group_signals([signal("low_alliance", 5)], kinds), handled)
    assert (still.op, still.status) == ("update", "acknowledged")
    [second] = plan_alerts(group_signals([signal("rupture", 7, "urgent")], kinds), handled)
    assert (second.op, second.status) == ("update", "open")


def test_a_resolved_alert_reopens_only_on_evidence_from_a_later_session() -> None:
    kinds = {"wai_sr": "alliance"}
    [first] = plan_alerts(group_signals([signal("low_alliance", 4)], kinds), [])
    resolved = [stored(first, 3, "resolved")]
    assert plan_alerts(group_signals([signal("low_alliance", 4)], kinds), resolved) == []
    # A stale reason (the fit answer of session 4) alone does not re-open it either.
    stale = [signal("poor_fit_reported", 4, "urgent", None)]
    assert plan_alerts(group_signals(stale, kinds), resolved) == []
    [again] = plan_alerts(group_signals([*stale, signal("low_alliance", 6)], kinds), resolved)
    assert (again.op, again.target, again.status) == ("reopen", 3, "open")
    assert [s.kind for s in again.signals] == ["low_alliance"]  # only what is new


def test_a_later_risk_answer_reopens_an_acknowledged_risk_alert() -> None:
    kinds = {"phq9": "outcome"}
    [first] = plan_alerts(group_signals([signal("risk_reported", 2, "urgent", "phq9")], kinds), [])
    acked = [stored(first, 5, "acknowledged")]
    same = group_signals([signal("risk_reported", 2, "urgent", "phq9")], kinds)
    assert plan_alerts(same, acked) == []
    [again] = plan_alerts(
        group_signals([signal("risk_reported", 3, "urgent", "phq9")], kinds), acked
    )
    assert (again.op, again.status) == ("update", "open")


def test_the_old_grouping_raises_a_new_alert_per_rule_and_handled_session() -> None:
    kinds = {"wai_sr": "alliance"}
    raised = group_signals([signal("low_alliance", 4)], kinds, by="signal")
    [first] = plan_alerts(raised, [], by="signal")
    acked = [stored(first, 1, "acknowledged")]
    assert plan_alerts(raised, acked, by="signal") == []
    later = group_signals([signal("low_alliance", 5)], kinds, by="signal")
    [second] = plan_alerts(later, acked, by="signal")
    assert (second.op, second.target) == ("raise", None)
    open_one = [stored(first, 1, "open")]
    [update] = plan_alerts(later, open_one, by="signal")
    assert (update.op, update.target) == ("update", 1)


def test_missed_and_irregular_sessions_are_one_attendance_alert(instruments: Instruments) -> None:
    records = [
        *attended(range(1, 5)),
        Attendance(5, week(5), "missed"),
        Attendance(6, week(6), "missed"),
    ]
    raised = evaluate_alerts(Timeline("a", attendance=records), instruments, today=week(14))
    assert {a.kind for a in raised} == {"missed_sessions", "irregular_sessions"}
    [concern] = group_signals(raised, kinds_of(instruments))
    assert isinstance(concern, Concern)
    assert concern.concern == "attendance"
    assert {s.kind for s in concern.signals} == {"missed_sessions", "irregular_sessions"}
    assert all(isinstance(s, Signal) for s in concern.signals)
