"""The ordering and threshold rules of alliance.monitoring.alerts: severity order, kind
priority, the desk's sort key and urgency, and the one threshold merge — and that no other
module keeps a copy of them."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from monitoring_helpers import scores, week

from alliance.measures.instrument import Instrument
from alliance.monitoring.alerts import (
    ALERT_KINDS,
    ALERT_STATUSES,
    KIND_PRIORITY,
    NO_ALERT_URGENCY,
    SEVERITY_ORDER,
    AlertSettings,
    alert_rank,
    alert_thresholds,
    desk_sort_key,
    desk_urgency,
    evaluate_alerts,
    fit_check_threshold,
    kind_rank,
    low_alliance_threshold,
    severity_rank,
)
from alliance.monitoring.timeline import FitAnswer, Timeline

Instruments = Mapping[str, Instrument]
SRC = Path(__file__).resolve().parents[2] / "src" / "alliance"
HOME = SRC / "monitoring" / "alerts.py"


def test_severities_rank_most_severe_first_and_unknown_ones_last() -> None:
    assert SEVERITY_ORDER == ("urgent", "warning", "info")
    assert [severity_rank(s) for s in ("urgent", "warning", "info", "whatever")] == [0, 1, 2, 3]


def test_every_alert_kind_has_exactly_one_priority() -> None:
    assert sorted(KIND_PRIORITY) == sorted(ALERT_KINDS)
    assert KIND_PRIORITY[0] == "risk_reported"
    assert kind_rank("not_a_kind") == len(KIND_PRIORITY)


def test_equal_severities_come_in_the_order_of_clinical_urgency(instruments: Instruments) -> None:
    # Two warnings: low alliance (two WAI-SR scores below 3) and "not sure" about the fit.
    # The client's own word about the fit is the more urgent of the two, here as on the desk.
    timeline = Timeline(
        "c",
        scores("wai_sr", [2.8, 2.8]),
        fit_answers=[FitAnswer(2, week(2), "not_sure")],
    )
    found = evaluate_alerts(timeline, instruments)
    assert [(a.severity, a.kind) for a in found] == [
        ("warning", "poor_fit_reported"),
        ("warning", "low_alliance"),
    ]
    assert found == sorted(found, key=lambda a: alert_rank(a.severity, a.kind))


def test_the_desk_lists_open_then_acknowledged_then_resolved() -> None:
    keys = {status: desk_sort_key(status, "info", "fit_check", 1, 1) for status in ALERT_STATUSES}
    assert keys["open"] < keys["acknowledged"] < keys["resolved"]
    # Within a status: severity, then kind, then the latest session, then the first raised.
    assert desk_sort_key("open", "urgent", "rupture", 1, 9) < desk_sort_key(
        "open", "warning", "risk_reported", 9, 1
    )
    assert desk_sort_key("open", "urgent", "risk_reported", 1, 9) < desk_sort_key(
        "open", "urgent", "rupture", 9, 1
    )
    assert desk_sort_key("open", "warning", "low_alliance", 5, 9) < desk_sort_key(
        "open", "warning", "low_alliance", 4, 1
    )
    assert desk_sort_key("open", "warning", "low_alliance", 5, 1) < desk_sort_key(
        "open", "warning", "low_alliance", 5, 2
    )
    assert desk_sort_key("open", "info", "fit_check", None, 1)[3] == 0


def test_the_caseload_urgency_keeps_the_desk_order_for_unresolved_alerts() -> None:
    combos = list(itertools.product(("open", "acknowledged"), SEVERITY_ORDER, KIND_PRIORITY))
    by_key = sorted(combos, key=lambda c: desk_sort_key(*c, 1, 1))
    by_urgency = sorted(combos, key=lambda c: desk_urgency(*c))
    assert by_key == by_urgency
    assert len({desk_urgency(*c) for c in combos}) == len(combos)
    assert max(desk_urgency(*c) for c in combos) < NO_ALERT_URGENCY


def test_clinic_thresholds_override_the_instruments_and_the_rules_read_the_merge(
    instruments: Instruments,
) -> None:
    wai, feedback = instruments["wai_sr"], instruments["session_feedback"]
    defaults = AlertSettings()
    assert alert_thresholds(wai, defaults) == {"low": 3.0}
    assert alert_thresholds(feedback, defaults) == {"low": 7.0, "poor_fit": 0.0}
    assert fit_check_threshold(wai, defaults) == low_alliance_threshold(wai, defaults) == 3.0

    clinic = AlertSettings(
        low_alliance_thresholds={"wai_sr": 3.5}, fit_check_thresholds={"session_feedback": 6.0}
    )
    assert alert_thresholds(wai, clinic) == {"low": 3.5}
    assert alert_thresholds(feedback, clinic) == {"low": 7.0, "poor_fit": 0.0, "fit_check": 6.0}
    assert fit_check_threshold(wai, clinic) == 3.5  # follows the clinic's low threshold
    assert fit_check_threshold(feedback, clinic) == 6.0
    # The instrument itself is untouched by the merge.
    assert wai.alert_thresholds == {"low": 3.0}

    between = Timeline("c", scores("wai_sr", [3.2, 3.2]))
    assert not evaluate_alerts(between, instruments, defaults)
    assert [a.kind for a in evaluate_alerts(between, instruments, clinic)] == ["low_alliance"]


# A copy of one of these rules elsewhere is how the desk and the rules came to disagree (the
# services kept their own severity map, kind list and threshold merge). Each pattern matches
# the rule written out, in any layout, not a call to the functions above.
COPIES = {
    "severity order": re.compile(r"""["']urgent["']\s*[:,]\s*(?:\d+\s*,\s*)?["']warning["']"""),
    "kind priority": re.compile(
        r"""["']risk_reported["']\s*,\s*["']rupture["']\s*,\s*["']\w+["']"""
    ),
    "threshold merge": re.compile(r"(low_alliance|fit_check)_thresholds\s*(\[|\.get\()"),
}


@pytest.mark.parametrize("rule", sorted(COPIES))
def test_the_rule_is_written_only_in_the_domain_module(rule: str) -> None:
    pattern = COPIES[rule]
    assert pattern.search(HOME.read_text(encoding="utf-8")), "the pattern no longer finds it"
    copies = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if path != HOME and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert copies == []
