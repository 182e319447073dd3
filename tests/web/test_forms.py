"""Reshaping a posted check-in form into the service's answer structure."""

from __future__ import annotations

from datetime import UTC, datetime

from alliance.services.views import CheckInForm, FormQuestion, FormSection, GoalView
from alliance.web.forms import missing_required, parse_answers, sections_for
from alliance.web.routes.checkin import form_field_for_error


def _form() -> CheckInForm:
    q1 = FormQuestion(
        "phq9",
        "phq9_1",
        "Little interest",
        "choice",
        True,
        (("0", "Not at all"), ("1", "Several days")),
    )
    q2 = FormQuestion("session_feedback", "sf_comment", "Anything?", "text", False, ())
    now = datetime.now(UTC)
    return CheckInForm(
        checkin_id=1,
        client_display_name="C",
        therapist_display_name="T",
        sections=(
            FormSection("phq9", "PHQ-9", "outcome", (q1,)),
            FormSection("session_feedback", "Feedback", "feedback", (q2,)),
        ),
        goals=(GoalView(7, 1, 1, "Sleep", now, True),),
        expires_at=now,
        show_progress=False,
    )


def test_fields_are_split_into_instruments_and_goals() -> None:
    parsed = parse_answers(
        [
            ("csrf_token", "x"),
            ("phq9/phq9_1", "1"),
            ("session_feedback/sf_comment", "  hi "),
            ("goal/7", "6"),
            ("phq9/phq9_2", ""),
        ]
    )
    assert parsed.instruments == {"phq9": {"phq9_1": "1"}, "session_feedback": {"sf_comment": "hi"}}
    assert parsed.goals == {7: "6"}
    assert parsed.unknown == ()


def test_fields_of_no_known_shape_are_reported_not_dropped() -> None:
    parsed = parse_answers([("rogue", "1"), ("goal/abc", "2"), ("/x", "3")])
    assert parsed.unknown == ("rogue", "goal/abc", "/x")


def test_required_questions_and_goals_must_be_answered() -> None:
    missing = missing_required(_form(), parse_answers([("session_feedback/sf_comment", "x")]))
    assert set(missing) == {"phq9/phq9_1", "goal/7"}
    complete = parse_answers([("phq9/phq9_1", "0"), ("goal/7", "3")])
    assert missing_required(_form(), complete) == {}


def test_goal_ratings_are_offered_on_a_0_to_10_scale() -> None:
    sections = sections_for(_form())
    goal_section = sections[-1]
    assert [o.value for o in goal_section.questions[0].options] == [str(i) for i in range(11)]
    assert sections[0].title == "How you have been feeling"
    assert sections[0].source == "PHQ-9"


def test_service_field_names_map_back_to_form_fields() -> None:
    assert form_field_for_error("phq9.phq9_1") == "phq9/phq9_1"
    assert form_field_for_error("goal_12") == "goal/12"
    assert form_field_for_error("goals") == "goals"


def test_a_numeric_scale_with_worded_ends_becomes_a_row_of_numbers() -> None:
    from alliance.web.forms import _question

    labels = [
        ("0", "0 - not at all"),
        *((str(i), str(i)) for i in range(1, 10)),
        ("10", "10 - completely"),
    ]
    question = _question(FormQuestion("sf", "heard", "I felt heard", "choice", True, tuple(labels)))
    assert question.short_labels
    assert question.scale_ends == ("0 - not at all", "10 - completely")
    assert [o.label for o in question.options] == [str(i) for i in range(11)]
    assert question.options[0].extra == "not at all"  # kept for screen readers


def test_worded_options_stay_a_list() -> None:
    from alliance.web.forms import _question

    question = _question(
        FormQuestion(
            "x",
            "fit",
            "Good fit?",
            "choice",
            True,
            (("yes", "Yes"), ("unsure", "Not sure"), ("no", "No")),
        )
    )
    assert not question.short_labels
    assert question.scale_ends is None
