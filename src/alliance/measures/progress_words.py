"""A client's own progress in plain words: what their scores and goal ratings say, written
for the client (no RCI, no cut-offs, no jargon), from the same Jacobson–Truax classification
the staff see (:mod:`alliance.measures.change`).

Deliberately gentle and never alarming: a client reading "worse" alone at night should also
read what to do with it. Pure: text in, text out. Every sentence is an English gettext
message id; a caller showing a client page in another language passes its catalogue's
``gettext`` as ``translate`` (the placeholders are filled after translating).
"""

from __future__ import annotations

from collections.abc import Callable

from alliance.measures.change import ChangeResult

FIRST = "This is your first answer to these questions. Your chart grows with each check-in."
UNCLASSIFIED = "Your chart shows how your answers have moved since your first check-in."
RECOVERED = (
    "Your answers show a real improvement since you started: you are now in the range "
    "most people who are not struggling score in."
)
IMPROVED = "Your answers show a real improvement since you started."
DETERIORATED = (
    "Your answers show things have been harder than when you started. Your therapist "
    "sees this too; it is worth talking about at your next session, or sooner if you "
    "need to."
)
UNCHANGED = (
    "Your answers are about where they were when you started. Changes this small can be "
    "day-to-day ups and downs; your therapist can talk them through with you."
)
GOAL_ONE = "You rated this {latest} out of 10."
GOAL_UP = "Up from {first} to {latest} out of 10 since your first rating."
GOAL_DOWN = "Down from {first} to {latest} out of 10 since your first rating."
GOAL_STEADY = "Steady at {latest} out of 10 since your first rating."

#: Every sentence above, for the catalogues' completeness test.
MESSAGES = (
    FIRST, UNCLASSIFIED, RECOVERED, IMPROVED, DETERIORATED, UNCHANGED,
    GOAL_ONE, GOAL_UP, GOAL_DOWN, GOAL_STEADY,
)  # fmt: skip


def _same(message: str) -> str:
    return message


def outcome_words(
    result: ChangeResult | None, *, scores: int, translate: Callable[[str], str] = _same
) -> str:
    """One or two sentences about a questionnaire's scores; ``result`` is the change from the
    first to the latest score (None when it cannot be classified, e.g. one score so far or no
    reliable-change figures)."""
    if scores < 2:
        return translate(FIRST)
    if result is None:
        return translate(UNCLASSIFIED)
    by_status = {"recovered": RECOVERED, "improved": IMPROVED, "deteriorated": DETERIORATED}
    return translate(by_status.get(result.status, UNCHANGED))


def goal_words(
    first: int, latest: int, ratings: int, *, translate: Callable[[str], str] = _same
) -> str:
    """A goal's ratings (0–10) since it was agreed, in words."""
    if ratings < 2:
        message = GOAL_ONE
    elif latest > first:
        message = GOAL_UP
    elif latest < first:
        message = GOAL_DOWN
    else:
        message = GOAL_STEADY
    return translate(message).format(first=first, latest=latest)
