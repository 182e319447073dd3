"""The ``risk_reported`` rule (alliance.monitoring.alerts) on hand-made PHQ-9 timelines whose
points carry the risk flags that alliance.measures.scoring.risk_flags reads from the answers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pytest
from monitoring_helpers import attended, scores, week

from alliance.measures.instrument import Instrument
from alliance.measures.scoring import ScoringError, risk_flags, score_response, stored_risk_flags
from alliance.monitoring.alerts import (
    ALERT_KINDS,
    Alert,
    AlertSettings,
    alerts_by_session,
    evaluate_alerts,
)
from alliance.monitoring.timeline import FitAnswer, ScorePoint, Timeline

Instruments = Mapping[str, Instrument]


def phq9_point(
    instruments: Instruments, session: int, item9: int, others: int = 1, when: date | None = None
) -> ScorePoint:
    """A PHQ-9 administration scored from its answers, as the services build one."""
    phq9 = instruments["phq9"]
    answers: dict[str, object] = {f"phq9_{i}": others for i in range(1, 9)}
    answers["phq9_9"] = item9
    score = score_response(phq9, answers)
    return ScorePoint(
        session_number=session,
        date=when or week(session),
        instrument_id="phq9",
        total=score.total,
        score_id=f"phq9-{session}",
        risk=risk_flags(phq9, answers),
    )


def risk_alerts(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.kind == "risk_reported"]


def test_item_9_endorsed_at_the_latest_score_raises_an_urgent_alert_quoting_the_answer(
    instruments: Instruments,
) -> None:
    points = [phq9_point(instruments, s, item9=0) for s in range(1, 6)]
    points.append(phq9_point(instruments, 6, item9=2, when=date(2026, 11, 20)))
    alerts = evaluate_alerts(Timeline("c", points, attended(range(1, 7))), instruments)
    (alert,) = risk_alerts(alerts)
    assert alert.severity == "urgent"
    assert alert.session_number == 6
    assert alert.instrument_id == "phq9"
    assert "answered 2 = 'More than half the days' to PHQ-9 item 9" in alert.reason
    assert "Thoughts that you would be better off dead" in alert.reason
    assert "session 6, 2026-11-20" in alert.reason
    assert instruments["phq9"].risk_items[0].label in alert.reason
    assert "protocol today" in alert.next_step
    assert "not a risk assessment" in alert.next_step
    (evidence,) = alert.evidence
    latest = points[-1]
    assert (evidence.instrument_id, evidence.session_number, evidence.date) == (
        "phq9",
        6,
        date(2026, 11, 20),
    )
    assert evidence.value == latest.total
    assert evidence.score_id == "phq9-6"


def test_endorsed_earlier_but_not_at_the_latest_score_raises_no_alert_now(
    instruments: Instruments,
) -> None:
    points = [phq9_point(instruments, s, item9=item9) for s, item9 in ((1, 0), (2, 3), (3, 0))]
    timeline = Timeline("c", points)
    assert risk_alerts(evaluate_alerts(timeline, instruments)) == []
    # …but the history shows it was raised right after session 2.
    history = alerts_by_session(timeline, instruments)
    assert [n for n, alerts in history.items() if risk_alerts(alerts)] == [2]


def test_item_9_answered_not_at_all_raises_nothing_even_with_a_severe_total(
    instruments: Instruments,
) -> None:
    severe = phq9_point(instruments, 1, item9=0, others=3)
    assert severe.total == 24
    assert severe.risk == ()
    assert risk_alerts(evaluate_alerts(Timeline("c", [severe]), instruments)) == []


def test_a_single_administration_is_enough(instruments: Instruments) -> None:
    # No earlier score is needed: the first PHQ-9 of an episode can carry the flag.
    alerts = evaluate_alerts(Timeline("c", [phq9_point(instruments, 1, item9=1)]), instruments)
    (alert,) = risk_alerts(alerts)
    assert "answered 1 = 'Several days'" in alert.reason


def test_an_invalid_latest_total_still_raises_the_alert(instruments: Instruments) -> None:
    phq9 = instruments["phq9"]
    answers: dict[str, object] = {"phq9_9": 3}  # everything else skipped
    point = ScorePoint(
        2, week(2), "phq9", score_response(phq9, answers).total, risk=risk_flags(phq9, answers)
    )
    assert point.total is None
    timeline = Timeline("c", [phq9_point(instruments, 1, item9=0), point])
    (alert,) = risk_alerts(evaluate_alerts(timeline, instruments))
    assert alert.session_number == 2
    assert alert.evidence[0].value is None


def test_the_risk_alert_comes_before_every_other_urgent_alert(instruments: Instruments) -> None:
    points = [phq9_point(instruments, 1, item9=0, others=0), phq9_point(instruments, 2, 2, 3)]
    timeline = Timeline("c", points, fit_answers=[FitAnswer(2, week(2), "no")])
    alerts = evaluate_alerts(timeline, instruments)
    assert {"reliable_deterioration", "poor_fit_reported"} <= {a.kind for a in alerts}
    assert alerts[0].kind == "risk_reported"
    assert ALERT_KINDS[0] == "risk_reported"


def test_a_flag_on_an_instrument_the_caller_did_not_pass_is_still_reported(
    instruments: Instruments,
) -> None:
    timeline = Timeline("c", [phq9_point(instruments, 1, item9=2)])
    (alert,) = risk_alerts(evaluate_alerts(timeline, {}))
    assert "answered 2 = 'More than half the days' to phq9 item phq9_9" in alert.reason


def test_the_rule_is_on_by_default_and_a_clinic_setting_can_list_it(
    instruments: Instruments,
) -> None:
    assert "risk_reported" in AlertSettings().enabled
    timeline = Timeline("c", [phq9_point(instruments, 1, item9=1)])
    only = AlertSettings(enabled=frozenset({"risk_reported"}))
    assert [a.kind for a in evaluate_alerts(timeline, instruments, only)] == ["risk_reported"]
    assert AlertSettings.model_validate(only.model_dump()) == only


def test_points_without_risk_keep_working_and_flags_are_frozen(instruments: Instruments) -> None:
    (plain,) = scores("phq9", [12])
    assert plain.risk == ()
    flags = phq9_point(instruments, 1, item9=2).risk
    given = list(flags)
    point = ScorePoint(1, week(1), "phq9", 10.0, risk=given)  # type: ignore[arg-type]
    given.clear()  # the caller's list changing later must not change the point
    assert point.risk == flags
    assert isinstance(point.risk, tuple)


def test_a_clinic_list_without_the_rule_cannot_switch_it_off(instruments: Instruments) -> None:
    timeline = Timeline("c", [phq9_point(instruments, 1, item9=1)])
    # A list saved before the rule existed, or one that tried to leave it out.
    stored = {"enabled": ["rupture", "low_alliance"]}
    settings = AlertSettings.model_validate(stored)
    assert "risk_reported" in settings.enabled
    assert "risk_reported" in kinds_of(evaluate_alerts(timeline, instruments, settings))
    # Even settings built without validation keep the risk alert.
    raw = AlertSettings.model_construct(enabled=frozenset({"rupture"}))
    assert "risk_reported" not in raw.enabled
    assert "risk_reported" in kinds_of(evaluate_alerts(timeline, instruments, raw))
    # …while the other rules still follow the list.
    assert set(kinds_of(evaluate_alerts(timeline, instruments, raw))) <= {
        "risk_reported",
        "rupture",
    }


def kinds_of(alerts: list[Alert]) -> list[str]:
    return [a.kind for a in alerts]


def test_a_stored_risk_answer_the_current_definition_cannot_read_is_flagged_not_dropped(
    instruments: Instruments,
) -> None:
    phq9 = instruments["phq9"]
    # Stored under an earlier definition whose item 9 had a fifth option (code 4).
    stored: dict[str, object] = {f"phq9_{i}": 1 for i in range(1, 9)}
    stored["phq9_9"] = 4
    with pytest.raises(ScoringError):
        risk_flags(phq9, stored)  # the strict reader still refuses it (for fresh input)
    (flag,) = stored_risk_flags(phq9, stored)
    assert flag.unreadable
    assert (flag.link_id, flag.answer) == ("phq9_9", "4")
    point = ScorePoint(1, week(1), "phq9", None, risk=stored_risk_flags(phq9, stored))
    (alert,) = risk_alerts(evaluate_alerts(Timeline("c", [point]), instruments))
    assert alert.severity == "urgent"
    assert "'4' to PHQ-9 item 9" in alert.reason
    assert "could not be read under the current definition" in alert.reason


def test_stored_answers_that_still_read_give_the_same_flags_as_fresh_ones(
    instruments: Instruments,
) -> None:
    phq9 = instruments["phq9"]
    for item9 in (0, 1, 3, None):
        answers: dict[str, object] = {f"phq9_{i}": 2 for i in range(1, 9)}
        answers["phq9_9"] = item9
        assert stored_risk_flags(phq9, answers) == risk_flags(phq9, answers)
    # A bad answer to a non-risk item is not the risk reader's business.
    answers = {"phq9_1": "nonsense", "phq9_9": 0}
    assert stored_risk_flags(phq9, answers) == ()
