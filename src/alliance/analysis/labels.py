"""The label sets of the behaviour coders and the fold of a fine therapist label into its main
behaviour.

Kept apart from :mod:`alliance.analysis.classifiers` (which loads numpy, scipy and the model
runtime) so that the summary and the pipeline can use the same labels without importing the
models: one list for everyone, so coder, summary and training cannot disagree.
"""

from __future__ import annotations

from typing import Final, Literal

THERAPIST_LABELS: Final[tuple[str, ...]] = (
    "question_open",
    "question_closed",
    "reflection_simple",
    "reflection_complex",
    "input_information",
    "input_advice",
    "input_options",
    "input_negotiation",
    "other",
)
CLIENT_LABELS: Final[tuple[str, ...]] = ("change", "neutral", "sustain")
# MITI 4.2.1 codes AnnoMI lacks (alliance.analysis.miti), and MITI 4.2.1's two summary groups.
MITI_CODES: Final[tuple[str, ...]] = (
    "affirm",
    "seek_collaboration",
    "emphasise_autonomy",
    "persuade",
    "persuade_with_permission",
    "confront",
)
MI_ADHERENT: Final[tuple[str, ...]] = ("affirm", "seek_collaboration", "emphasise_autonomy")
MI_NON_ADHERENT: Final[tuple[str, ...]] = ("persuade", "confront")
MainBehaviour = Literal["question", "reflection", "input", "other"]


def fold_behaviour(label: str) -> MainBehaviour:
    """The main behaviour a fine therapist label belongs to, read from its prefix; anything
    without a known prefix is ``other`` (callers that must reject unknown labels check first,
    see :func:`alliance.analysis.classifiers.main_behaviour`)."""
    head = label.split("_", 1)[0]
    if head == "question":
        return "question"
    if head == "reflection":
        return "reflection"
    if head == "input":
        return "input"
    return "other"
