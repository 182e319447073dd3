"""Monitoring rules on hand-made timelines (alliance.monitoring.alerts).

WAI-SR here is mean-scored 1–5 with the bundled reliable-change parameters (SD 0.7, r .90:
S_diff = √2·0.7·√0.1 = 0.313, a reliable change is more than 1.96·0.313 = 0.614 points) and
the bundled low-alliance threshold of 3.0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monitoring_helpers import START, attended, scores, week

from alliance.measures.instrument import Instrument
from alliance.measures.trajectory import fit_trajectories
from alliance.monitoring.alerts import (
    ALERT_KINDS,
    Alert,
    AlertSettings,
    alerts_by_session,
    evaluate_alerts,
    may_rupture,
    rupture_episodes,
)
from alliance.monitoring.timeline import Attendance, FitAnswer, Timeline

Instruments = Mapping[str, Instrument]
#: Every signal on its own, as before issue 11: for tests of one rule's own threshold, apart
#: from the backing weak signals now need (tested in its own section below).
EACH_ALONE = AlertSettings(weak_signals_need_support=False)


def kinds(alerts: list[Alert]) -> set[str]:
    return {a.kind for a in alerts}


def one(alerts: list[Alert], kind: str) -> Alert:
    found = [a for a in alerts if a.kind == kind]
    assert len(found) == 1, alerts
    return found[0]


# -- rupture -------------------------------------------------------------------------------

V_SHAPE = [3.6, 3.9, 4.1, 4.2, 3.0, 3.6, 4.1]


def test_a_v_shaped_rupture_is_raised_at_the_drop_and_its_repair_is_visible(
    instruments: Instruments,
) -> None:
    timeline = Timeline("john", scores("wai_sr", V_SHAPE), attended(range(1, 8)))
    history = alerts_by_session(timeline, instruments)
    ruptured = [n for n, alerts in history.items() if "rupture" in kinds(alerts)]
    assert ruptured == [5]

    alert = one(history[5], "rupture")
    assert alert.severity == "urgent"
    assert alert.session_number == 5
    assert "4.2 at session 4" in alert.reason
    assert "3 at session 5" in alert.reason
    assert "drop of 1.2" in alert.reason
    # four earlier scores: the within-client SD rule (Stiles et al. 2004) applies
    sd = 0.2646  # stdev(3.6, 3.9, 4.1, 4.2)
    assert f"SD {sd:.2f}" in alert.reason
    assert [e.session_number for e in alert.evidence] == [4, 5]
    assert [e.value for e in alert.evidence] == [4.2, 3.0]
    assert alert.evidence[1].score_id == "wai_sr-5"
    assert "own your part" in alert.next_step

    # the latest state (after the repair) raises no rupture …
    assert "rupture" not in kinds(evaluate_alerts(timeline, instruments))
    # … and the episode records when the alliance came back (4.1 is within S_diff of 4.2)
    (episode,) = rupture_episodes(timeline, instruments)
    assert (episode.before_session, episode.rupture_session) == (4, 5)
    assert episode.repaired_session == 7
    assert episode.repaired == 4.1


def test_with_few_earlier_scores_a_rupture_needs_a_reliable_drop(instruments: Instruments) -> None:
    sdiff = math.sqrt(2) * 0.7 * math.sqrt(0.1)
    big = evaluate_alerts(Timeline("a", scores("wai_sr", [4.0, 4.2, 3.3])), instruments)
    alert = one(big, "rupture")
    assert f"RCI {(3.3 - 4.2) / sdiff:.2f}" in alert.reason
    assert "0.61 points" in alert.reason
    small = evaluate_alerts(Timeline("a", scores("wai_sr", [4.0, 4.2, 3.7])), instruments)
    assert "rupture" not in kinds(small)


def test_a_client_whose_ratings_never_move_does_not_rupture_on_a_wobble(
    instruments: Instruments,
) -> None:
    steady = Timeline("s", scores("wai_sr", [4.5, 4.5, 4.6, 4.5, 4.3]))
    # 2 × SD (0.05) = 0.1 < 0.2 drop, but the floor of 1.96 · S_diff (0.61) holds it back
    assert "rupture" not in kinds(evaluate_alerts(steady, instruments))


def test_a_small_spread_never_lowers_the_bar_below_measurement_error(
    instruments: Instruments,
) -> None:
    # 2 × SD (0.05) = 0.1 and one S_diff (0.31) are both below this 0.5 drop, but measurement
    # error explains a drop of up to 0.61: no rupture. A drop of 0.7 is reliable and is one.
    noise = Timeline("n", scores("wai_sr", [4.5, 4.5, 4.6, 4.5, 4.0]))
    assert "rupture" not in kinds(evaluate_alerts(noise, instruments, EACH_ALONE))
    real = evaluate_alerts(
        Timeline("r", scores("wai_sr", [4.5, 4.5, 4.6, 4.5, 3.8])), instruments, EACH_ALONE
    )
    assert "at least 0.61, beyond measurement error" in one(real, "rupture").reason


# -- slow decline ------------------------------------------------------------------------------

SLOW = [4.2, 4.0, 3.8, 3.6, 3.4, 3.2, 3.0, 2.8, 2.6]


def test_a_slow_decline_is_not_a_rupture_but_low_and_deteriorating(
    instruments: Instruments,
) -> None:
    timeline = Timeline("d", scores("wai_sr", SLOW), attended(range(1, 10)))
    history = alerts_by_session(timeline, instruments)
    assert not any("rupture" in kinds(a) for a in history.values())

    latest = evaluate_alerts(timeline, instruments)
    assert {"low_alliance", "reliable_deterioration"} <= kinds(latest)
    assert "fit_check" not in kinds(latest)  # low only from session 7: past the fit window
    low = one(latest, "low_alliance")
    assert "below 3" in low.reason
    assert "2.8 at session 8, 2.6 at session 9" in low.reason
    deterioration = one(latest, "reliable_deterioration")
    assert "from 4.2 at session 1 to 2.6 at session 9" in deterioration.reason
    assert "-1.6" in deterioration.reason
    assert deterioration.severity == "warning"  # alliance; outcome deterioration is urgent


def test_low_alliance_needs_two_scores_below_the_threshold_by_default(
    instruments: Instruments,
) -> None:
    once = evaluate_alerts(Timeline("l", scores("wai_sr", [3.4, 2.9])), instruments)
    assert "low_alliance" not in kinds(once)
    strict = AlertSettings(low_alliance_consecutive=1)
    assert "low_alliance" in kinds(
        evaluate_alerts(Timeline("l", scores("wai_sr", [3.4, 2.9])), instruments, strict)
    )


def test_a_clinic_can_raise_the_low_alliance_threshold(instruments: Instruments) -> None:
    timeline = Timeline("l", scores("wai_sr", [3.4, 3.3]))
    assert "low_alliance" not in kinds(evaluate_alerts(timeline, instruments))
    settings = AlertSettings(low_alliance_thresholds={"wai_sr": 3.5})
    alert = one(evaluate_alerts(timeline, instruments, settings), "low_alliance")
    assert "below 3.5" in alert.reason


# -- attendance --------------------------------------------------------------------------------


def test_missed_sessions_in_a_row_raise_an_alert_and_cancellations_are_skipped(
    instruments: Instruments,
) -> None:
    records = [
        *attended(range(1, 5)),
        Attendance(5, week(5), "missed"),
        Attendance(6, week(6), "cancelled"),
        Attendance(7, week(7), "missed"),
    ]
    alert = one(evaluate_alerts(Timeline("m", attendance=records), instruments), "missed_sessions")
    assert alert.session_number == 7
    assert "2 sessions in a row missed" in alert.reason
    assert "session 5 on 2024-01-29" in alert.reason
    assert "last attended session was 4 on 2024-01-22" in alert.reason
    assert [e.session_number for e in alert.evidence] == [5, 7]
    one_missed = Timeline(
        "m", attendance=[*attended(range(1, 5)), Attendance(5, week(5), "missed")]
    )
    assert "missed_sessions" not in kinds(evaluate_alerts(one_missed, instruments))


def test_a_gap_far_beyond_the_usual_interval_is_irregular(instruments: Instruments) -> None:
    records = [*attended(range(1, 6)), Attendance(6, week(5) + timedelta(days=35), "attended")]
    alert = one(
        evaluate_alerts(Timeline("g", attendance=records), instruments), "irregular_sessions"
    )
    assert "35 days between sessions 5 (2024-01-29) and 6 (2024-03-04)" in alert.reason
    assert "usual 7 days" in alert.reason
    assert "median of 4 earlier intervals" in alert.reason
    # the same gap is fine for a client who usually comes every three weeks
    monthly = [Attendance(s, START + timedelta(days=21 * (s - 1)), "attended") for s in range(1, 6)]
    monthly.append(Attendance(6, monthly[-1].date + timedelta(days=35), "attended"))
    assert "irregular_sessions" not in kinds(
        evaluate_alerts(Timeline("g", attendance=monthly), instruments)
    )


def test_an_open_gap_counts_when_today_is_given(instruments: Instruments) -> None:
    timeline = Timeline("g", attendance=attended(range(1, 6)))
    assert "irregular_sessions" not in kinds(evaluate_alerts(timeline, instruments))
    later = week(5) + timedelta(days=30)
    alert = one(evaluate_alerts(timeline, instruments, today=later), "irregular_sessions")
    assert "30 days since the last attended session (5, 2024-01-29)" in alert.reason


# -- fit -------------------------------------------------------------------------------------


def test_a_client_who_says_the_fit_is_poor_raises_an_urgent_alert(instruments: Instruments) -> None:
    answers = [FitAnswer(1, week(1), "yes"), FitAnswer(2, week(2), "no")]
    alert = one(
        evaluate_alerts(Timeline("f", fit_answers=answers), instruments), "poor_fit_reported"
    )
    assert alert.severity == "urgent"
    assert 'answered "no"' in alert.reason
    assert "session 2" in alert.reason
    assert "change of therapist" in alert.next_step
    not_sure = Timeline("f", fit_answers=[FitAnswer(1, week(1), "not_sure")])
    alone = evaluate_alerts(not_sure, instruments, EACH_ALONE)
    assert one(alone, "poor_fit_reported").severity == "warning"
    quiet = AlertSettings(poor_fit_not_sure=False, weak_signals_need_support=False)
    assert "poor_fit_reported" not in kinds(evaluate_alerts(not_sure, instruments, quiet))
    mended = Timeline("f", fit_answers=[*answers, FitAnswer(3, week(3), "yes")])
    assert "poor_fit_reported" not in kinds(evaluate_alerts(mended, instruments))


def test_a_fit_check_is_suggested_at_session_three_when_alliance_is_low_and_flat(
    instruments: Instruments,
) -> None:
    timeline = Timeline("c", scores("wai_sr", [2.8, 2.7, 2.7]))
    history = alerts_by_session(timeline, instruments)
    assert "fit_check" not in kinds(history[2])
    alert = one(history[3], "fit_check")
    assert alert.severity == "info"
    assert "At session 3 WAI-SR is 2.7, below 3, and not rising (2.7 at session 2)" in alert.reason
    rising = Timeline("c", scores("wai_sr", [2.5, 2.6, 2.9]))
    assert "fit_check" not in kinds(evaluate_alerts(rising, instruments))


def test_the_fit_check_fires_once_per_episode_inside_its_window_and_never_at_session_12(
    instruments: Instruments,
) -> None:
    low_throughout = Timeline("c", scores("wai_sr", [2.8] * 12))
    history = alerts_by_session(low_throughout, instruments)
    fired = [n for n, found in history.items() if "fit_check" in kinds(found)]
    assert fired == [3]
    # Low only from session 5: the window's last session still gets its check.
    late = Timeline("c", scores("wai_sr", [3.6, 3.5, 3.5, 3.4, 2.8, 2.7, 2.7]))
    fired = [n for n, f in alerts_by_session(late, instruments).items() if "fit_check" in kinds(f)]
    assert fired == [5]
    # Low only from session 6: outside the window, no fit check at all.
    later = Timeline("c", scores("wai_sr", [3.6, 3.5, 3.5, 3.4, 3.3, 2.8, 2.7, 2.7]))
    assert all("fit_check" not in kinds(f) for f in alerts_by_session(later, instruments).values())
    wider = AlertSettings(fit_check_after_session=4, fit_check_until_session=8)
    fired = [
        n
        for n, f in alerts_by_session(later, instruments, wider).items()
        if "fit_check" in kinds(f)
    ]
    assert fired == [6]
    # No end: the behaviour before the window, at every low, flat session from session 3.
    endless = AlertSettings(fit_check_until_session=None)
    fired = [
        n
        for n, f in alerts_by_session(low_throughout, instruments, endless).items()
        if "fit_check" in kinds(f)
    ]
    assert fired == list(range(3, 13))


def test_a_fit_check_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="fit_check_until_session"):
        AlertSettings(fit_check_after_session=6, fit_check_until_session=5)


# -- outcome -----------------------------------------------------------------------------------


def test_an_outcome_that_is_not_improving_as_expected_is_flagged_with_the_fallback(
    instruments: Instruments,
) -> None:
    stuck = Timeline("o", scores("phq9", [20, 20, 19, 20, 19, 19, 19, 19]))
    alert = one(evaluate_alerts(stuck, instruments), "not_on_track")
    assert alert.instrument_id == "phq9"
    assert "PHQ-9 score 19 at session 8 is above the expected range" in alert.reason
    assert "expected 10 for an intake of 20" in alert.reason
    assert "rational fallback" in alert.reason
    improving = Timeline("o", scores("phq9", [20, 18, 16, 14, 13, 12, 11, 10]))
    assert "not_on_track" not in kinds(evaluate_alerts(improving, instruments))
    off = AlertSettings(not_on_track_fallback=False)
    assert "not_on_track" not in kinds(evaluate_alerts(stuck, instruments, off))


def test_not_on_track_waits_for_a_second_score_off_the_course(
    instruments: Instruments,
) -> None:
    twice = AlertSettings()  # the default waits for a second score off the course
    assert twice.not_on_track_consecutive == 2
    at_once = AlertSettings(not_on_track_consecutive=1)
    # Improving as expected, then one bad week: off the course once.
    once = Timeline("o", scores("phq9", [20, 18, 16, 14, 13, 12, 11, 19]))
    assert "not_on_track" in kinds(evaluate_alerts(once, instruments, at_once))
    assert "not_on_track" not in kinds(evaluate_alerts(once, instruments, twice))
    # A second week off the course: now it alerts, on the latest score.
    again = Timeline("o", scores("phq9", [20, 18, 16, 14, 13, 12, 11, 19, 19]))
    alert = one(evaluate_alerts(again, instruments, twice), "not_on_track")
    assert alert.session_number == 9
    assert [e.session_number for e in alert.evidence] == [1, 8, 9]
    assert alert.reason.endswith("; so was the score before it.")


def test_a_fitted_trajectory_is_used_when_given(instruments: Instruments) -> None:
    import pandas as pd

    rows = [
        (f"c{c}", s, 22 - 5 * math.log(s) + (c % 5 - 2) * 0.6 + ((c * s) % 3 - 1) * 0.8)
        for c in range(40)
        for s in range(1, 9)
    ]
    model = fit_trajectories(
        pd.DataFrame(rows, columns=["client_id", "session", "score"]), instruments["phq9"]
    )
    assert model.model != "fallback"
    stuck = Timeline("o", scores("phq9", [22, 22, 21, 21, 21, 21]))
    alert = one(evaluate_alerts(stuck, instruments, trajectory=model), "not_on_track")
    assert "mixed model" in alert.reason
    by_id = one(evaluate_alerts(stuck, instruments, trajectory={"phq9": model}), "not_on_track")
    assert by_id.reason == alert.reason


def test_reliable_deterioration_on_an_outcome_is_urgent(instruments: Instruments) -> None:
    worse = Timeline("w", scores("phq9", [10, 12, 17]))
    alert = one(evaluate_alerts(worse, instruments), "reliable_deterioration")
    assert alert.severity == "urgent"
    assert "PHQ-9 rose from 10 at session 1 to 17 at session 3 (+7; RCI" in alert.reason
    assert "safety" in alert.next_step
    assert "reliable_deterioration" not in kinds(
        evaluate_alerts(Timeline("w", scores("phq9", [10, 12, 15])), instruments)
    )


# -- settings and ordering ---------------------------------------------------------------------


def test_alerts_come_most_severe_first_and_kinds_can_be_switched_off(
    instruments: Instruments,
) -> None:
    timeline = Timeline(
        "x",
        scores("wai_sr", [2.8, 2.7, 2.7]),
        fit_answers=[FitAnswer(3, week(3), "no")],
    )
    alerts = evaluate_alerts(timeline, instruments)
    order = {"urgent": 0, "warning": 1, "info": 2}
    assert [order[a.severity] for a in alerts] == sorted(order[a.severity] for a in alerts)
    assert alerts[0].kind == "poor_fit_reported"
    without = AlertSettings(enabled=frozenset(set(ALERT_KINDS) - {"fit_check"}))
    assert "fit_check" not in kinds(evaluate_alerts(timeline, instruments, without))


def test_settings_have_documented_defaults_and_refuse_bad_values() -> None:
    settings = AlertSettings()
    assert AlertSettings.model_validate(settings.model_dump()) == settings
    for name, info in AlertSettings.model_fields.items():
        assert info.description, name
    with pytest.raises(pydantic.ValidationError):
        AlertSettings(missed_sessions_in_a_row=0)
    with pytest.raises(pydantic.ValidationError):
        AlertSettings(enabled=frozenset({"not_a_kind"}))  # type: ignore[arg-type]


def test_every_alert_setting_is_in_the_settings_table_of_docs_monitoring() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "monitoring.md").read_text()
    missing = [n for n in AlertSettings.model_fields if f"| `{n}` |" not in doc]
    assert missing == [], f"document these alert settings in docs/monitoring.md: {missing}"


def test_scores_of_unknown_instruments_are_ignored(instruments: Instruments) -> None:
    timeline = Timeline("u", scores("ors_local", [10, 30, 2]))
    assert evaluate_alerts(timeline, instruments) == []


def test_session_feedback_ratings_feed_the_relationship_rules(instruments: Instruments) -> None:
    low = evaluate_alerts(
        Timeline("f", scores("session_feedback", [8, 6.3, 6])), instruments, EACH_ALONE
    )
    alert = one(low, "low_alliance")
    assert "below 7" in alert.reason
    # no reliable-change parameters: the within-client SD rule, floored at a tenth of 0-10
    drop = Timeline("f", scores("session_feedback", [9, 9, 8.7, 9.3, 7]))
    rupture = one(evaluate_alerts(drop, instruments, EACH_ALONE), "rupture")
    assert "drop of 2.3" in rupture.reason
    wobble = Timeline("f", scores("session_feedback", [9, 9, 8.7, 9.3, 8.5]))
    assert "rupture" not in kinds(evaluate_alerts(wobble, instruments, EACH_ALONE))


# -- weak signals need a second source (issue 11) ----------------------------------------------
#
# WAI-SR: S_diff 0.313, so a fall alerts alone above 2.58 · 0.313 = 0.81, backs up another
# signal above 1.645 · 0.313 = 0.51, and is reliable (a rupture at all) above 0.61.

DIP = [9, 9, 8.7, 9.3, 7]  # a session-rating dip of 2.3 at session 5


def _fit(answer: str, session: int = 5) -> list[FitAnswer]:
    return [FitAnswer(session, week(session), answer)]  # type: ignore[arg-type]


def test_a_single_session_rating_dip_alerts_only_with_a_second_source(
    instruments: Instruments,
) -> None:
    alone = Timeline("f", scores("session_feedback", DIP))
    assert evaluate_alerts(alone, instruments) == []
    # The client is also not sure about the fit at that session: two sources, one message.
    backed = Timeline("f", scores("session_feedback", DIP), fit_answers=_fit("not_sure"))
    assert {"rupture", "poor_fit_reported"} <= kinds(evaluate_alerts(backed, instruments))
    # …or the alliance questionnaire fell by more than 1.645 S_diff (0.55 > 0.51), though not
    # by enough to be a rupture itself (0.55 < 0.61).
    wai = scores("wai_sr", [4.0, 4.05, 4.1, 4.1, 3.55])
    fell = Timeline("f", [*scores("session_feedback", DIP), *wai])
    rupture = one(evaluate_alerts(fell, instruments), "rupture")
    # The fall is in no other alert's reason, so the dip's reason says what backed it.
    assert (
        "Backed up at the same session: WAI-SR fell by 0.55 (more than 1.645 × S_diff = 0.51)"
        in rupture.reason
    )
    steady = Timeline("f", [*scores("session_feedback", DIP), *scores("wai_sr", [4.0] * 5)])
    assert evaluate_alerts(steady, instruments) == []


def test_signals_from_the_same_form_do_not_back_each_other_up(
    instruments: Instruments,
) -> None:
    # At session 5 the rating dips (a rupture on the form) and is low and not rising (a fit
    # check on the same form): one measurement, so no second source.
    same = Timeline("f", scores("session_feedback", [8, 8, 8.3, 8, 6]))
    assert kinds(evaluate_alerts(same, instruments, EACH_ALONE)) >= {"rupture", "fit_check"}
    assert evaluate_alerts(same, instruments) == []


def test_a_not_sure_waits_for_a_second_source_and_a_no_never_waits(
    instruments: Instruments,
) -> None:
    not_sure = Timeline("f", scores("wai_sr", [4.0] * 5), fit_answers=_fit("not_sure"))
    assert evaluate_alerts(not_sure, instruments) == []
    with_fall = Timeline(
        "f", scores("wai_sr", [4.0, 4.05, 4.1, 4.1, 3.55]), fit_answers=_fit("not_sure")
    )
    assert kinds(evaluate_alerts(with_fall, instruments)) == {"poor_fit_reported"}
    no = Timeline("f", scores("wai_sr", [4.0] * 5), fit_answers=_fit("no"))
    alert = one(evaluate_alerts(no, instruments), "poor_fit_reported")
    assert alert.severity == "urgent"


def test_a_just_reliable_alliance_drop_needs_backing_and_a_large_one_does_not(
    instruments: Instruments,
) -> None:
    just = scores("wai_sr", [4.5, 4.5, 4.6, 4.5, 3.8])  # a drop of 0.7: above 0.61, below 0.81
    assert evaluate_alerts(Timeline("j", just), instruments) == []
    backed = evaluate_alerts(Timeline("j", just, fit_answers=_fit("not_sure")), instruments)
    assert one(backed, "rupture").severity == "urgent"
    assert 'Backed up at the same session: the client answered "not sure"' in (
        one(backed, "rupture").reason
    )
    assert "Backed up at the same session: a drop on WAI-SR" in (
        one(backed, "poor_fit_reported").reason
    )
    large = scores("wai_sr", [4.5, 4.5, 4.6, 4.5, 3.6])  # a drop of 0.9: above 0.81
    assert "rupture" in kinds(evaluate_alerts(Timeline("l", large), instruments))
    # The bar is the clinic's: at 1.96 (the RCI's own) every reliable drop alerts alone.
    own = AlertSettings(fall_alone_sdiff=1.96)
    assert "rupture" in kinds(evaluate_alerts(Timeline("j", just), instruments, own))


def test_a_just_reliable_fall_from_the_first_alliance_score_needs_backing(
    instruments: Instruments,
) -> None:
    # 4.0 → 3.35 is 0.65 below the first score (reliable, below 0.81); no step is a rupture.
    drift = scores("wai_sr", [4.0, 3.9, 3.8, 3.7, 3.35])
    assert "reliable_deterioration" in kinds(
        evaluate_alerts(Timeline("d", drift), instruments, EACH_ALONE)
    )
    assert evaluate_alerts(Timeline("d", drift), instruments) == []
    backed = Timeline("d", drift, fit_answers=_fit("not_sure"))
    assert {"reliable_deterioration", "poor_fit_reported"} <= kinds(
        evaluate_alerts(backed, instruments)
    )
    far = scores("wai_sr", [4.0, 3.85, 3.7, 3.55, 3.1])  # 0.9 below the first score
    assert "reliable_deterioration" in kinds(evaluate_alerts(Timeline("d", far), instruments))


def test_a_rule_switched_off_backs_nothing_up(instruments: Instruments) -> None:
    just = Timeline("j", scores("wai_sr", [4.5, 4.5, 4.6, 4.5, 3.8]), fit_answers=_fit("not_sure"))
    without_fit = AlertSettings(enabled=frozenset(ALERT_KINDS) - {"poor_fit_reported"})
    assert evaluate_alerts(just, instruments, without_fit) == []


def test_outcome_and_attendance_alerts_never_need_backing(instruments: Instruments) -> None:
    missed = [Attendance(1, week(1), "attended")] + [
        Attendance(s, week(s), "missed") for s in (2, 3)
    ]
    worse = Timeline("w", scores("phq9", [10, 12, 17]), missed)
    assert {"reliable_deterioration", "missed_sessions"} <= kinds(
        evaluate_alerts(worse, instruments)
    )


@settings(max_examples=60, deadline=None)
@given(
    wai=st.lists(st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]), max_size=10),
    phq=st.lists(st.integers(0, 27), max_size=10),
    statuses=st.lists(st.sampled_from(["attended", "missed", "cancelled"]), max_size=10),
    gaps=st.lists(st.integers(1, 60), min_size=10, max_size=10),
    fit=st.lists(st.sampled_from(["yes", "not_sure", "no"]), max_size=3),
)
def test_any_timeline_gives_well_formed_alerts(
    instruments: Instruments,
    wai: list[float],
    phq: list[int],
    statuses: list[str],
    gaps: list[int],
    fit: list[str],
) -> None:
    dates = [START]
    for gap in gaps:
        dates.append(dates[-1] + timedelta(days=gap))
    timeline = Timeline(
        "h",
        [*scores("wai_sr", wai), *scores("phq9", [float(x) for x in phq])],
        [Attendance(i + 1, dates[i], s) for i, s in enumerate(statuses)],  # type: ignore[arg-type]
        [FitAnswer(i + 1, week(i + 1), a) for i, a in enumerate(fit)],  # type: ignore[arg-type]
    )
    alerts = evaluate_alerts(timeline, instruments, today=dates[-1])
    order = {"urgent": 0, "warning": 1, "info": 2}
    assert [order[a.severity] for a in alerts] == sorted(order[a.severity] for a in alerts)
    for alert in alerts:
        assert alert.kind in ALERT_KINDS
        assert any(ch.isdigit() for ch in alert.reason)
        assert alert.evidence
        assert all(e.session_number <= alert.session_number for e in alert.evidence)
    # a client with constant alliance never ruptures
    if wai:
        flat = Timeline("h", scores("wai_sr", [wai[0]] * len(wai)))
        assert "rupture" not in kinds(evaluate_alerts(flat, instruments))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["wai_sr", "session_feedback"]),
    st.lists(st.integers(min_value=12, max_value=60), min_size=2, max_size=10),
)
def test_a_series_may_rupture_whenever_the_rule_finds_a_rupture(
    instruments: Instruments, instrument_id: str, twelfths: list[int]
) -> None:
    """``may_rupture`` is a necessary condition of the rupture rule: when it says no, the rule
    finds nothing (the clinic report skips those series on its word)."""
    inst = instruments[instrument_id]
    low, high = inst.score_range
    totals = [low + (high - low) * (t - 12) / 48 for t in twelfths]
    found = rupture_episodes(Timeline("c", scores(instrument_id, totals)), instruments)
    if not may_rupture(totals, inst):
        assert found == ()
    assert not may_rupture([totals[0]], inst)
