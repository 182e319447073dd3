"""Re-matching when the fit is poor: alternatives that exclude the current therapist.

The alert that starts this conversation (fit check after session 3, "poor fit" answers) lives
in :mod:`alliance.monitoring.alerts`. Here is what follows when client or therapist decide to
change: :func:`propose_rematch` ranks alternatives without the current therapist, says why the
episode ends (always ``"fit"``, with the detail of what did not fit), and marks that the
handover needs the client's consent.

When the detail is that the *style* did not fit and the client stated no style preference,
alternatives who work mostly in the same style as the current therapist are moved down and get
a caveat: the client has told us something about style even without naming one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeGuard

from pydantic import BaseModel, ConfigDict

from alliance.matching.profiles import ClientIntake, TherapistProfile, vocabulary
from alliance.matching.score import Match, Roster, Weights, rank_matches
from alliance.matching.strengths import Strengths

__all__ = [
    "FIT_END_REASONS",
    "FitEndDetail",
    "RematchProposal",
    "is_fit_end_detail",
    "propose_rematch",
]

FitEndDetail = Literal[
    "client_reported_poor_fit",
    "low_alliance_not_rising",
    "style_mismatch",
    "client_request",
    "therapist_request",
]

#: Plain words for why the episode ends for fit.
FIT_END_REASONS: dict[str, str] = {
    "client_reported_poor_fit": "the client answered that this is not a good fit",
    "low_alliance_not_rising": "the alliance stayed low and did not rise after the fit check",
    "style_mismatch": "the way of working did not suit the client",
    "client_request": "the client asked to change therapist",
    "therapist_request": "the therapist judged another colleague would suit the client better",
}


def is_fit_end_detail(value: str) -> TypeGuard[FitEndDetail]:
    """Whether ``value`` (e.g. a form field) is one of the known fit details."""
    return value in FIT_END_REASONS


#: Score taken off an alternative that works mostly in the style that did not suit.
SAME_STYLE_PENALTY = 0.75


class RematchProposal(BaseModel):
    """Alternatives for a client whose episode ends for fit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str
    current_therapist_id: str
    episode_end_reason: Literal["fit"] = "fit"
    detail: FitEndDetail
    detail_text: str
    handover_needs_consent: bool = True
    alternatives: tuple[Match, ...]


def propose_rematch(
    intake: ClientIntake,
    therapists: Sequence[TherapistProfile] | Roster,
    current_therapist_id: str,
    strengths: Strengths | None = None,
    weights: Weights | None = None,
    *,
    detail: FitEndDetail = "client_request",
    limit: int = 3,
) -> RematchProposal:
    """Ranked alternatives excluding ``current_therapist_id`` (see module doc)."""
    if detail not in FIT_END_REASONS:
        raise ValueError(f"unknown fit detail {detail!r}")
    roster = therapists if isinstance(therapists, Roster) else Roster.build(therapists, strengths)
    if current_therapist_id not in roster.ids:
        raise ValueError(f"unknown current therapist {current_therapist_id!r}")
    current = roster.therapists[roster.ids.index(current_therapist_id)]
    penalise = detail == "style_mismatch" and intake.preference("style") is None
    # Rank everyone first when penalising, since the penalty can reorder the top.
    ranked = rank_matches(
        intake,
        roster,
        weights=weights,
        limit=None if penalise else limit,
        exclude=[current_therapist_id],
    )
    if penalise:
        style = current.styles.dominant()
        label = vocabulary().styles[style].label
        adjusted: list[Match] = []
        for m in ranked:
            other = roster.therapists[roster.ids.index(m.therapist_id)]
            if other.styles.dominant() == style:
                m = m.model_copy(
                    update={
                        "score": round(m.score - SAME_STYLE_PENALTY, 6),
                        "components": {**m.components, "same_style": -SAME_STYLE_PENALTY},
                        "caveats": (
                            *m.caveats,
                            f"works mostly in a {label} way too, like {current.name}",
                        ),
                    }
                )
            adjusted.append(m)
        adjusted.sort(key=lambda m: (-m.score, m.therapist_id))
        ranked = adjusted[:limit]
    return RematchProposal(
        client_id=intake.id,
        current_therapist_id=current_therapist_id,
        detail=detail,
        detail_text=FIT_END_REASONS[detail],
        alternatives=tuple(ranked),
    )
