"""Matching and fit: the right therapist for each client, and a way out when it isn't.

Pure domain code (no database, web or file I/O). The public interface:

* profiles — :class:`TherapistProfile`, :class:`ClientIntake`, :class:`Preference`,
  :class:`HistoryRow`, :class:`MatchingInput`, :func:`matching_input_schema`, :func:`vocabulary`
* strengths — :func:`estimate_strengths` → :class:`Strengths`
* score — :func:`rank_matches` → list of :class:`Match`; :class:`Weights`; :class:`Roster`;
  :func:`hard_constraint_violations` (:func:`constraint_text` says each in plain words)
* assign — :func:`assign_queue` → :class:`Assignment`; :func:`apply_override`
* refit — :func:`propose_rematch` → :class:`RematchProposal`
"""

from alliance.matching.assign import (
    Assignment,
    Override,
    OverrideError,
    Placement,
    Unassigned,
    apply_override,
    assign_queue,
)
from alliance.matching.profiles import (
    ClientIntake,
    HistoryRow,
    MatchingInput,
    MatchingInputError,
    Preference,
    TherapistProfile,
    check_references,
    matching_input_schema,
    resolve_style,
    vocabulary,
)
from alliance.matching.refit import RematchProposal, propose_rematch
from alliance.matching.score import (
    Match,
    Roster,
    Weights,
    constraint_text,
    evaluate,
    evaluate_queue,
    hard_constraint_violations,
    rank_matches,
)
from alliance.matching.strengths import Strength, Strengths, estimate_strengths

__all__ = [
    "Assignment",
    "ClientIntake",
    "HistoryRow",
    "Match",
    "MatchingInput",
    "MatchingInputError",
    "Override",
    "OverrideError",
    "Placement",
    "Preference",
    "RematchProposal",
    "Roster",
    "Strength",
    "Strengths",
    "TherapistProfile",
    "Unassigned",
    "Weights",
    "apply_override",
    "assign_queue",
    "check_references",
    "constraint_text",
    "estimate_strengths",
    "evaluate",
    "evaluate_queue",
    "hard_constraint_violations",
    "matching_input_schema",
    "propose_rematch",
    "rank_matches",
    "resolve_style",
    "vocabulary",
]
