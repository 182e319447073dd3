"""Hypothesis strategies and small builders for matching tests (shared by tests/matching)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from alliance.matching import ClientIntake, HistoryRow, TherapistProfile

LANGS = ["english", "spanish", "polish"]
MODES = ["in_person", "video"]
AGES = ["adult", "adolescent"]
SLOTS = ["mon 09:00-12:00", "tue 17:00-20:00", "wed 12:00-13:00", "sat 10:00-11:30"]
CLIENT_SLOTS = ["mon 11:00-14:00", "tue 19:30-21:00", "wed 12:00-14:00", "sat 09:00-10:30"]
CONCERNS = ["anxiety", "depression", "trauma", "grief"]
MODALITIES = ["cbt", "person_centred", "emdr", "act"]
INSURERS = ["aetna", "bupa"]
GENDERS = ["woman", "man", "non-binary"]
FAITHS = ["muslim", "christian", "jewish"]


def therapist(i: int = 0, **over: Any) -> TherapistProfile:
    """A plain, widely available therapist; override any field by keyword."""
    data: dict[str, Any] = {
        "id": f"t{i}",
        "name": f"Therapist {i}",
        "modalities": ["cbt"],
        "styles": {"collaborative": 1},
        "specialties": ["anxiety"],
        "languages": ["english"],
        "age_groups": ["adult"],
        "modes": ["in_person", "video"],
        "availability": ["mon 09:00-17:00"],
        "capacity": {"new_per_week": 2, "caseload_limit": 20, "current_caseload": 0},
        "fee": 80,
    }
    data.update(over)
    return TherapistProfile.model_validate(data)


def intake(i: int = 0, **over: Any) -> ClientIntake:
    """A plain intake with no preferences; override any field by keyword."""
    data: dict[str, Any] = {
        "id": f"c{i}",
        "concerns": ["anxiety"],
        "languages": ["english"],
        "consent": True,
    }
    data.update(over)
    return ClientIntake.model_validate(data)


def _subset(items: list[str], min_size: int = 1) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(items), min_size=min_size, max_size=len(items), unique=True)


@st.composite
def therapists(draw: st.DrawFn, i: int = 0) -> TherapistProfile:
    identity: dict[str, Any] = {}
    if draw(st.booleans()):
        identity["gender"] = draw(st.sampled_from(GENDERS))
    if draw(st.booleans()):
        identity["faith"] = draw(st.sampled_from(FAITHS))
    if draw(st.booleans()):
        identity["lgbtq_affirming"] = draw(st.booleans())
    weights = draw(st.lists(st.integers(0, 3), min_size=3, max_size=3).filter(lambda w: sum(w)))
    return therapist(
        i,
        modalities=draw(_subset(MODALITIES)),
        styles=dict(zip(["collaborative", "supportive", "directive"], weights, strict=True)),
        specialties=draw(_subset(CONCERNS, 0)),
        languages=draw(_subset(LANGS)),
        age_groups=draw(_subset(AGES)),
        modes=draw(_subset(MODES)),
        availability=draw(_subset(SLOTS)),
        capacity={
            "new_per_week": draw(st.integers(0, 2)),
            "caseload_limit": 20,
            "current_caseload": draw(st.sampled_from([0, 0, 19, 20])),
        },
        fee=draw(st.sampled_from([40, 80, 120])),
        insurers=draw(_subset(INSURERS, 0)),
        location=draw(st.sampled_from([None, "north", "south"])),
        identity=identity,
        accepting_new=draw(st.sampled_from([True, True, True, False])),
    )


def _preference(draw: st.DrawFn, attribute: str) -> dict[str, Any]:
    importance = draw(st.sampled_from(["must", "prefer", "prefer", "dont_mind"]))
    values: list[str] = []
    if attribute == "style":
        values = draw(_subset(["collaborative", "supportive", "directive"]).map(lambda v: v[:2]))
    elif attribute == "modality":
        values = draw(_subset(MODALITIES).map(lambda v: v[:2]))
    elif attribute == "gender":
        values = [draw(st.sampled_from(GENDERS))]
    elif attribute == "faith":
        values = [draw(st.sampled_from(FAITHS))]
    elif attribute == "language":
        values = [draw(st.sampled_from(LANGS))]
    elif attribute == "mode":
        values = [draw(st.sampled_from(MODES))]
    elif attribute == "location":
        values = [draw(st.sampled_from(["north", "south"]))]
    return {"attribute": attribute, "values": values, "importance": importance}


ATTRS = ["style", "modality", "gender", "faith", "lgbtq_affirming", "language", "mode", "location"]


@st.composite
def intakes(draw: st.DrawFn, i: int = 0, identity: bool = True) -> ClientIntake:
    attrs = (
        ATTRS if identity else [a for a in ATTRS if a not in ("gender", "faith", "lgbtq_affirming")]
    )
    chosen = draw(st.lists(st.sampled_from(attrs), unique=True, max_size=4))
    return intake(
        i,
        concerns=draw(_subset(CONCERNS).map(lambda v: v[:3])),
        languages=draw(_subset(LANGS)),
        modes=draw(_subset(MODES)),
        availability=draw(_subset(CLIENT_SLOTS, 0)),
        max_fee=draw(st.sampled_from([None, 60, 100])),
        insurer=draw(st.sampled_from([None, "aetna", "bupa"])),
        age_group=draw(st.sampled_from(AGES)),
        consent=draw(st.sampled_from([True, True, True, False])),
        preferences=[_preference(draw, a) for a in chosen],
    )


@st.composite
def instances(
    draw: st.DrawFn, max_therapists: int = 4, max_clients: int = 6
) -> tuple[list[TherapistProfile], list[ClientIntake]]:
    n_t = draw(st.integers(1, max_therapists))
    n_c = draw(st.integers(1, max_clients))
    ts = [draw(therapists(i)) for i in range(n_t)]
    cs = [draw(intakes(i)) for i in range(n_c)]
    return ts, cs


def history_rows(spec: dict[tuple[str, str], list[tuple[float, float]]]) -> list[HistoryRow]:
    """Rows from {(therapist, concern): [(severity, improvement), ...]}."""
    return [
        HistoryRow(therapist_id=t, concern=c, intake_severity=sev, improvement=imp)
        for (t, c), cases in spec.items()
        for sev, imp in cases
    ]
