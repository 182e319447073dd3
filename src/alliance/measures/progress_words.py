"""A client's own progress in plain words: what their scores and goal ratings say, written
for the client (no RCI, no cut-offs, no jargon), from the same Jacobson–Truax classification
the staff see (:mod:`alliance.measures.change`).

Deliberately gentle and never alarming: a client reading "worse" alone at night should also
read what to do with it. Pure: text in, text out.
"""

from __future__ import annotations

from alliance.measures.change import ChangeResult


def outcome_words(result: ChangeResult | None, *, scores: int) -> str:
    """One or two sentences about a questionnaire's scores; ``result`` is the change from the
    first to the latest score (None when it cannot be classified, e.g. one score so far or no
    reliable-change figures)."""
    if scores < 2:
        return "This is your first answer to these questions. Your chart grows with each check-in."
    if result is None:
        return "Your chart shows how your answers have moved since your first check-in."
    if result.status == "recovered":
        return (
            "Your answers show a real improvement since you started: you are now in the range "
            "most people who are not struggling score in."
        )
    if result.status == "improved":
        return "Your answers show a real improvement since you started."
    if result.status == "deteriorated":
        return (
            "Your answers show things have been harder than when you started. Your therapist "
            "sees this too; it is worth talking about at your next session, or sooner if you "
            "need to."
        )
    return (
        "Your answers are about where they were when you started. Changes this small can be "
        "day-to-day ups and downs; your therapist can talk them through with you."
    )


def goal_words(first: int, latest: int, ratings: int) -> str:
    """A goal's ratings (0–10) since it was agreed, in words."""
    if ratings < 2:
        return f"You rated this {latest} out of 10."
    if latest > first:
        return f"Up from {first} to {latest} out of 10 since your first rating."
    if latest < first:
        return f"Down from {first} to {latest} out of 10 since your first rating."
    return f"Steady at {latest} out of 10 since your first rating."
