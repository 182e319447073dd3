"""Re-matching when the fit is poor."""

from __future__ import annotations

import pytest
from matching_factories import intake, therapist

from alliance.matching import propose_rematch


def _roster():  # type: ignore[no-untyped-def]
    return [
        therapist(1, name="Dee", styles={"directive": 3}, specialties=["anxiety"]),
        therapist(2, name="Di", styles={"directive": 3, "supportive": 1}, specialties=["anxiety"]),
        therapist(3, name="Sam", styles={"supportive": 3}, specialties=[]),
    ]


def test_alternatives_never_include_the_current_therapist() -> None:
    proposal = propose_rematch(intake(), _roster(), "t1", detail="client_reported_poor_fit")
    assert "t1" not in [m.therapist_id for m in proposal.alternatives]
    assert proposal.episode_end_reason == "fit"
    assert proposal.detail_text == "the client answered that this is not a good fit"
    assert proposal.handover_needs_consent


def test_a_style_mismatch_moves_same_style_colleagues_down() -> None:
    plain = propose_rematch(intake(), _roster(), "t1", detail="client_request")
    assert plain.alternatives[0].therapist_id == "t2"
    style = propose_rematch(intake(), _roster(), "t1", detail="style_mismatch")
    assert style.alternatives[0].therapist_id == "t3"
    di = next(m for m in style.alternatives if m.therapist_id == "t2")
    assert "works mostly in a directive way too, like Dee" in di.caveats


def test_a_stated_style_preference_wins_over_the_mismatch_guess() -> None:
    c = intake(preferences=[{"attribute": "style", "values": "gives me structure"}])
    style = propose_rematch(c, _roster(), "t1", detail="style_mismatch")
    assert style.alternatives[0].therapist_id == "t2"


def test_it_refuses_an_unknown_current_therapist() -> None:
    with pytest.raises(ValueError, match="unknown current therapist"):
        propose_rematch(intake(), _roster(), "nobody")
