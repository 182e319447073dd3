"""Fit scores, hard constraints and plain-language reasons for client × therapist pairs.

What lives here:

* :class:`Weights` — how much preferences, specialties and strengths count (documented
  defaults) and the evidence thresholds used in reasons.
* :class:`Roster` — a roster compiled once into numpy arrays so that one intake is scored
  against every therapist with array operations, not a Python loop.
* :func:`evaluate` — hard-constraint masks, feasibility and score components for one intake
  against a whole roster; :func:`rank_matches` — the ranked, explained matches for one client.
* :func:`hard_constraint_violations` — a plain, one-pair reference implementation of the hard
  constraints (used for admin overrides and to cross-check the vectorised masks in tests).

Fit score = ``preferences · P + specialty · S + strengths · E`` over therapists that pass every
hard constraint, where ``P`` is the weighted share of the client's preferences met (0..1),
``S`` the share of the client's concerns (earlier ones weigh more) in the therapist's
specialties (0..1) and ``E`` the therapist's shrunken, standardised effect for those concerns.
Identity attributes enter only through a preference the client stated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alliance.matching.profiles import (
    ATTRIBUTES,
    CELL_MINUTES,
    DAYS,
    ClientIntake,
    Preference,
    Slot,
    TherapistProfile,
    vocabulary,
)
from alliance.matching.strengths import Strengths

__all__ = [
    "CONSTRAINTS",
    "Evaluation",
    "Match",
    "Roster",
    "Weights",
    "evaluate",
    "evaluate_queue",
    "explain",
    "hard_constraint_violations",
    "rank_matches",
]

BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]

#: A style preference is met when the therapist works with that style at least this much
#: relative to their strongest style.
STYLE_MET = 0.75

#: Hard constraints in the order reasons name them.
CONSTRAINTS: tuple[str, ...] = (
    "consent",
    "language",
    "mode",
    "age_group",
    "availability",
    "fees",
    "capacity",
)

#: Each hard constraint in plain words, as said of a therapist who breaks it.
_CONSTRAINT_WORDS: dict[str, str] = {
    "consent": "the client has not agreed to be matched",
    "language": "speaks none of the client's languages",
    "mode": "does not offer sessions the way the client can come (in person or by video)",
    "age_group": "does not work with the client's age group",
    "availability": "has no time when the client is free",
    "fees": "neither takes the client's insurer nor fits the client's budget",
    "capacity": "has no room for a new client",
}
_ATTRIBUTE_WORDS: dict[str, str] = {
    "style": "relationship style",
    "modality": "way of working",
    "lgbtq_affirming": "an LGBTQ+-affirming therapist",
    "mode": "in person or by video",
}


def constraint_text(code: str) -> str:
    """A hard-constraint code (``"language"``, ``"capacity"``, ``"must:style"``) in plain words
    for the admin screen: ``"does not meet the client's must-have: relationship style"``."""
    if code.startswith("must:"):
        attribute = code.removeprefix("must:")
        label = _ATTRIBUTE_WORDS.get(attribute, attribute.replace("_", " "))
        return f"does not meet the client's must-have: {label}"
    return _CONSTRAINT_WORDS.get(code, code.replace("_", " "))


_DEFAULT_ATTRIBUTE_WEIGHTS: dict[str, float] = {
    "style": 1.0,
    "modality": 0.8,
    "gender": 1.0,
    "ethnicity": 1.0,
    "faith": 1.0,
    "lgbtq_affirming": 1.0,
    "language": 0.6,
    "mode": 0.6,
    "location": 0.6,
}


class Weights(BaseModel):
    """Weights of the fit score and the thresholds reasons use (defaults in docs/matching.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preferences: float = Field(
        default=1.0, ge=0, description="weight of the share of preferences met"
    )
    specialty: float = Field(default=0.5, ge=0, description="weight of concerns in the specialties")
    strengths: float = Field(default=1.0, ge=0, description="weight of standardised strengths")
    alliance_share: float = Field(
        default=0.5, ge=0, description="alliance effect's weight relative to the outcome effect"
    )
    attributes: dict[str, float] = Field(
        default_factory=lambda: dict(_DEFAULT_ATTRIBUTE_WEIGHTS),
        description="relative weight of each preference attribute",
    )
    credible_z: float = Field(
        default=1.28,
        gt=0,
        description="posterior SDs from the clinic mean before a strength is claimed",
    )
    min_cases: int = Field(default=10, ge=1, description="fewer past cases than this earn a caveat")
    min_overlap_minutes: int = Field(
        default=60, ge=CELL_MINUTES, le=24 * 60, description="common weekly time a match needs"
    )

    @field_validator("attributes")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        for key, w in value.items():
            if key not in ATTRIBUTES:
                raise ValueError(f"unknown attribute {key!r}; known: {', '.join(ATTRIBUTES)}")
            if w < 0:
                raise ValueError(f"weight of {key} is negative")
        return {**_DEFAULT_ATTRIBUTE_WEIGHTS, **value}


class Match(BaseModel):
    """One ranked therapist for one client, with why and what to watch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    therapist_id: str
    therapist_name: str
    score: float
    components: dict[str, float]
    reasons: tuple[str, ...]
    caveats: tuple[str, ...]


# --------------------------------------------------------------------------- roster arrays


def _availability_bits(slots: Iterable[Slot]) -> NDArray[np.uint64]:
    """One 48-bit mask per weekday: bit c set when half-hour cell c is free."""
    return np.array(_availability_ints(tuple(slots)), dtype=np.uint64)


@lru_cache(maxsize=8192)
def _availability_ints(slots: tuple[Slot, ...]) -> tuple[int, ...]:
    # Cached: queues repeat the same few weekly patterns, and slots are frozen (hashable).
    bits = [0] * 7
    for slot in slots:
        d = DAYS.index(slot.day)
        for c in slot.cells():
            bits[d] |= 1 << c
    return tuple(bits)


def _codes(values: Sequence[str | None]) -> tuple[NDArray[np.int64], dict[str, int]]:
    index: dict[str, int] = {}
    codes = [-1 if v is None else index.setdefault(v, len(index)) for v in values]
    return np.array(codes, dtype=np.int64), index


def _multi_hot(
    rows: Sequence[Iterable[str]], index: dict[str, int] | None = None
) -> tuple[BoolArray, dict[str, int]]:
    if index is None:
        index = {}
        for row in rows:
            for v in row:
                index.setdefault(v, len(index))
    out = np.zeros((len(rows), max(len(index), 1)), dtype=bool)
    for i, row in enumerate(rows):
        for v in row:
            if v in index:
                out[i, index[v]] = True
    return out, index


@dataclass(frozen=True)
class Roster:
    """Therapists (and optional strengths) compiled into arrays, built once and reused."""

    therapists: tuple[TherapistProfile, ...]
    strengths: Strengths
    ids: tuple[str, ...]
    languages: BoolArray
    language_index: dict[str, int]
    modes: BoolArray
    mode_index: dict[str, int]
    age_groups: BoolArray
    age_index: dict[str, int]
    availability: NDArray[np.uint64]
    fee: FloatArray
    insurers: BoolArray
    insurer_index: dict[str, int]
    open_places: NDArray[np.int64]
    modalities: BoolArray
    modality_index: dict[str, int]
    style: FloatArray
    style_index: dict[str, int]
    specialties: FloatArray
    concern_index: dict[str, int]
    improvement_z: FloatArray
    alliance_z: FloatArray
    cases: NDArray[np.int64]
    identity: dict[str, tuple[NDArray[np.int64], dict[str, int]]]
    lgbtq_affirming: BoolArray
    location: tuple[NDArray[np.int64], dict[str, int]]
    language_share: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(
        cls, therapists: Sequence[TherapistProfile], strengths: Strengths | None = None
    ) -> Roster:
        voc = vocabulary()
        ts = tuple(therapists)
        ids = tuple(t.id for t in ts)
        if len(set(ids)) != len(ids):
            raise ValueError("therapist ids must be unique")
        strengths = strengths or Strengths()
        languages, language_index = _multi_hot([t.languages for t in ts])
        modes, mode_index = _multi_hot(
            [t.modes for t in ts], {k: i for i, k in enumerate(voc.modes)}
        )
        ages, age_index = _multi_hot(
            [t.age_groups for t in ts], {k: i for i, k in enumerate(voc.age_groups)}
        )
        insurers, insurer_index = _multi_hot([t.insurers for t in ts])
        modalities, modality_index = _multi_hot(
            [t.modalities for t in ts], {k: i for i, k in enumerate(voc.modalities)}
        )
        concern_index = {k: i for i, k in enumerate(voc.concerns)}
        specialties, _ = _multi_hot([t.specialties for t in ts], concern_index)
        style_index = {k: i for i, k in enumerate(voc.styles)}
        style = np.zeros((len(ts), len(style_index)))
        for i, t in enumerate(ts):
            for k, v in t.styles.relative().items():
                style[i, style_index[k]] = v
        avail = (
            np.stack([_availability_bits(t.availability) for t in ts])
            if ts
            else np.zeros((0, 7), dtype=np.uint64)
        )

        imp_z = np.zeros((len(ts), len(concern_index)))
        al_z = np.zeros((len(ts), len(concern_index)))
        cases = np.zeros((len(ts), len(concern_index)), dtype=np.int64)
        row_of = {tid: i for i, tid in enumerate(ids)}
        imp_scale = strengths.improvement_model.scale if strengths.improvement_model else 1.0
        al_scale = strengths.alliance_model.scale if strengths.alliance_model else 1.0
        for s in strengths.items:
            if s.therapist_id not in row_of:
                continue
            i, j = row_of[s.therapist_id], concern_index[s.concern]
            cases[i, j] = s.n
            imp_z[i, j] = s.improvement.estimate / imp_scale
            if s.alliance is not None:
                al_z[i, j] = s.alliance.estimate / al_scale

        identity = {
            attr: _codes([getattr(t.identity, attr) for t in ts])
            for attr in ("gender", "ethnicity", "faith")
        }
        share = {
            lang: float(languages[:, j].mean()) if ts else 0.0 for lang, j in language_index.items()
        }
        return cls(
            therapists=ts,
            strengths=strengths,
            ids=ids,
            languages=languages,
            language_index=language_index,
            modes=modes,
            mode_index=mode_index,
            age_groups=ages,
            age_index=age_index,
            availability=avail,
            fee=np.array([t.fee for t in ts], dtype=float),
            insurers=insurers,
            insurer_index=insurer_index,
            open_places=np.array([t.open_places for t in ts], dtype=np.int64),
            modalities=modalities,
            modality_index=modality_index,
            style=style,
            style_index=style_index,
            specialties=specialties.astype(float),
            concern_index=concern_index,
            improvement_z=imp_z,
            alliance_z=al_z,
            cases=cases,
            identity=identity,
            lgbtq_affirming=np.array([t.identity.lgbtq_affirming is True for t in ts]),
            location=_codes([t.location for t in ts]),
            language_share=share,
        )

    def __len__(self) -> int:
        return len(self.ids)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """One intake against a whole roster: per-constraint masks, feasibility and scores."""

    checks: dict[str, BoolArray]  # constraint name -> passes, incl. "must:<attribute>"
    feasible: BoolArray
    degree: dict[str, FloatArray]  # preference attribute -> how far each therapist meets it
    components: dict[str, FloatArray]
    score: FloatArray


def _any_of(matrix: BoolArray, index: dict[str, int], values: Iterable[str]) -> BoolArray:
    cols = [index[v] for v in values if v in index]
    if not cols:
        return np.zeros(matrix.shape[0], dtype=bool)
    return np.asarray(matrix[:, cols].any(axis=1), dtype=bool)


def _overlap(avail: NDArray[np.uint64], client: NDArray[np.uint64], cells: int) -> BoolArray:
    """Therapists sharing at least ``cells`` consecutive free half-hours with the client."""
    common = avail & client[None, :]
    run = common.copy()
    for shift in range(1, cells):
        run &= common >> np.uint64(shift)
    return np.asarray((run != 0).any(axis=1), dtype=bool)


def _degree(pref: Preference, roster: Roster) -> FloatArray:
    n = len(roster)
    attr = pref.attribute
    if attr == "style":
        cols = [roster.style_index[v] for v in pref.values]
        return np.asarray(roster.style[:, cols].max(axis=1), dtype=float)
    if attr == "modality":
        hit = _any_of(roster.modalities, roster.modality_index, pref.values)
    elif attr == "language":
        hit = _any_of(roster.languages, roster.language_index, pref.values)
    elif attr == "mode":
        hit = _any_of(roster.modes, roster.mode_index, pref.values)
    elif attr == "lgbtq_affirming":
        hit = roster.lgbtq_affirming
    elif attr == "location":
        codes, index = roster.location
        hit = np.isin(codes, [index[v] for v in pref.values if v in index])
    else:  # gender, ethnicity, faith: only what a therapist chose to share can match
        codes, index = roster.identity[attr]
        hit = np.isin(codes, [index[v] for v in pref.values if v in index])
    return hit.astype(float) if hit.shape == (n,) else np.zeros(n)


def _met(attr: str, degree: FloatArray) -> BoolArray:
    return degree >= (STYLE_MET if attr == "style" else 0.5)


def concern_weights(concerns: Sequence[str]) -> FloatArray:
    """Earlier concerns weigh more: 1, 1/2, 1/3 … normalised to sum to 1."""
    return np.array(_rank_weights(len(concerns)))


@lru_cache(maxsize=64)
def _rank_weights(k: int) -> tuple[float, ...]:
    raw = [1.0 / r for r in range(1, k + 1)]
    total = sum(raw)
    return tuple(x / total for x in raw)


def evaluate(intake: ClientIntake, roster: Roster, weights: Weights | None = None) -> Evaluation:
    """Hard-constraint masks, feasibility and fit-score components for one intake."""
    w = weights or Weights()
    n = len(roster)
    checks: dict[str, BoolArray] = {}
    checks["consent"] = np.full(n, intake.consent, dtype=bool)
    checks["language"] = _any_of(roster.languages, roster.language_index, intake.languages)
    checks["mode"] = _any_of(roster.modes, roster.mode_index, intake.modes)
    checks["age_group"] = _any_of(roster.age_groups, roster.age_index, [intake.age_group])
    if intake.availability:
        cells = -(-w.min_overlap_minutes // CELL_MINUTES)
        checks["availability"] = _overlap(
            roster.availability, _availability_bits(intake.availability), cells
        )
    else:
        checks["availability"] = np.ones(n, dtype=bool)
    fees = np.ones(n, dtype=bool)
    if intake.insurer is not None or intake.max_fee is not None:
        fees = np.zeros(n, dtype=bool)
        if intake.insurer is not None:
            fees |= _any_of(roster.insurers, roster.insurer_index, [intake.insurer])
        if intake.max_fee is not None:
            fees |= roster.fee <= intake.max_fee
    checks["fees"] = fees
    checks["capacity"] = roster.open_places > 0

    degree: dict[str, FloatArray] = {}
    for pref in intake.preferences:
        if pref.importance == "dont_mind":
            continue
        degree[pref.attribute] = _degree(pref, roster)
        if pref.importance == "must":
            checks[f"must:{pref.attribute}"] = _met(pref.attribute, degree[pref.attribute])

    feasible = np.ones(n, dtype=bool)
    for mask in checks.values():
        feasible &= mask

    total_w = sum(w.attributes[a] for a in degree)
    pref_part = np.zeros(n)
    if total_w > 0:
        for a, d in degree.items():
            pref_part += w.attributes[a] * d
        pref_part /= total_w
    cols = [roster.concern_index[c] for c in intake.concerns]
    cw = concern_weights(intake.concerns)
    spec_part = roster.specialties[:, cols] @ cw
    strength_part = (
        roster.improvement_z[:, cols] + w.alliance_share * roster.alliance_z[:, cols]
    ) @ cw
    components = {
        "preferences": w.preferences * pref_part,
        "specialty": w.specialty * spec_part,
        "strengths": w.strengths * strength_part,
    }
    score = components["preferences"] + components["specialty"] + components["strengths"]
    return Evaluation(
        checks=checks, feasible=feasible, degree=degree, components=components, score=score
    )


def _client_hot(rows: Sequence[Iterable[str]], index: dict[str, int]) -> FloatArray:
    out = np.zeros((len(rows), max(len(index), 1)))
    for i, row in enumerate(rows):
        for v in row:
            if v in index:
                out[i, index[v]] = 1.0
    return out


def _shares_any(
    client_rows: Sequence[Iterable[str]], matrix: BoolArray, index: dict[str, int]
) -> BoolArray:
    """(clients, therapists): the client's values and the therapist's share at least one."""
    return np.asarray(_client_hot(client_rows, index) @ matrix.T.astype(float) > 0)


def _degree_many(attr: str, prefs: Sequence[Preference], roster: Roster) -> FloatArray:
    """Like :func:`_degree` for many clients' preferences about one attribute at once."""
    values = [p.values for p in prefs]
    if attr == "style":
        hot = _client_hot(values, roster.style_index)  # (k, 3)
        return np.asarray((hot[:, None, :] * roster.style[None, :, :]).max(axis=2), dtype=float)
    if attr == "modality":
        hit = _shares_any(values, roster.modalities, roster.modality_index)
    elif attr == "language":
        hit = _shares_any(values, roster.languages, roster.language_index)
    elif attr == "mode":
        hit = _shares_any(values, roster.modes, roster.mode_index)
    elif attr == "lgbtq_affirming":
        hit = np.broadcast_to(roster.lgbtq_affirming, (len(prefs), len(roster)))
    else:
        codes, index = roster.location if attr == "location" else roster.identity[attr]
        # One extra column for "not shared" (code -1), which no client value can hit.
        hot = np.concatenate([_client_hot(values, index), np.zeros((len(prefs), 1))], axis=1)
        hit = hot[:, codes] > 0
    return np.asarray(hit, dtype=float)


def _run_bits(bits: NDArray[np.uint64], cells: int) -> NDArray[np.float32]:
    """0/1 matrix (rows, 7·64): where a run of ``cells`` free half-hours starts."""
    run = bits.copy()
    for shift in range(1, cells):
        run &= bits >> np.uint64(shift)
    flat = np.ascontiguousarray(run).view(np.uint8).reshape(len(bits), 7 * 8)
    return np.unpackbits(flat, axis=1).astype(np.float32)


def evaluate_queue(
    intakes: Sequence[ClientIntake], roster: Roster, weights: Weights | None = None
) -> tuple[BoolArray, FloatArray]:
    """Feasibility and fit score for many intakes at once: two (clients, therapists) arrays.

    Computes exactly what :func:`evaluate` does row by row, with whole-queue array operations
    (grouped by preference attribute) instead of a Python loop per client.
    """
    w = weights or Weights()
    n, t_count = len(intakes), len(roster)
    feasible = np.ones((n, t_count), dtype=bool)
    feasible &= np.array([c.consent for c in intakes], dtype=bool)[:, None]
    feasible &= _shares_any([c.languages for c in intakes], roster.languages, roster.language_index)
    feasible &= _shares_any([c.modes for c in intakes], roster.modes, roster.mode_index)
    feasible &= _shares_any([[c.age_group] for c in intakes], roster.age_groups, roster.age_index)
    feasible &= (roster.open_places > 0)[None, :]

    cells = -(-w.min_overlap_minutes // CELL_MINUTES)
    timed = [i for i, c in enumerate(intakes) if c.availability]
    if timed:
        # A common run of `cells` free half-hours exists iff the two "run starts here" masks
        # share a bit (AND distributes over the shifts), so the whole queue is one product
        # of 0/1 matrices over the 7 × 64 bit positions.
        theirs = _run_bits(roster.availability, cells)
        mine = _run_bits(
            np.stack([_availability_bits(intakes[i].availability) for i in timed]), cells
        )
        feasible[timed] &= (mine @ theirs.T) > 0

    paying = [i for i, c in enumerate(intakes) if c.insurer is not None or c.max_fee is not None]
    if paying:
        sub = [intakes[i] for i in paying]
        insured = _shares_any(
            [[c.insurer] if c.insurer is not None else [] for c in sub],
            roster.insurers,
            roster.insurer_index,
        )
        budget = np.array([np.inf if c.max_fee is None else c.max_fee for c in sub])
        has_budget = np.array([c.max_fee is not None for c in sub])
        affordable = has_budget[:, None] & (roster.fee[None, :] <= budget[:, None])
        feasible[paying] &= insured | affordable

    num = np.zeros((n, t_count))
    den = np.zeros(n)
    for attr in ATTRIBUTES:
        rows, prefs = [], []
        for i, c in enumerate(intakes):
            pref = c.preference(attr)
            if pref is not None:
                rows.append(i)
                prefs.append(pref)
        if not rows:
            continue
        degree = _degree_many(attr, prefs, roster)
        num[rows] += w.attributes[attr] * degree
        den[rows] += w.attributes[attr]
        must = [k for k, p in enumerate(prefs) if p.importance == "must"]
        if must:
            feasible[[rows[k] for k in must]] &= _met(attr, degree[must])
    pref_part = num / np.where(den > 0, den, 1.0)[:, None]

    cw = np.zeros((n, len(roster.concern_index)))
    for i, c in enumerate(intakes):
        for x, weight in zip(c.concerns, _rank_weights(len(c.concerns)), strict=True):
            cw[i, roster.concern_index[x]] = weight
    spec_part = cw @ roster.specialties.T
    strength_part = cw @ (roster.improvement_z + w.alliance_share * roster.alliance_z).T
    score = w.preferences * pref_part + w.specialty * spec_part + w.strengths * strength_part
    return feasible, np.asarray(score, dtype=float)


def describe_infeasibility(ev: Evaluation) -> str:
    """Why no therapist fits: how many pass each hard constraint."""
    n = len(ev.feasible)
    if n == 0:
        return "there are no therapists to match with"
    if not bool(ev.checks["consent"][0]):
        return "the client has not consented to matching"
    parts = [
        f"{name.replace('must:', 'must-have ')} ({int(mask.sum())} of {n} pass)"
        for name, mask in ev.checks.items()
        if not bool(mask.all())
    ]
    tail = "" if any(not bool(m.any()) for m in ev.checks.values()) else "; none meets all at once"
    return "no therapist meets every hard constraint: " + "; ".join(parts) + tail


# --------------------------------------------------------------------------- reasons


def _label(section: str, key: str) -> str:
    table: dict[str, str] = getattr(vocabulary(), section)
    return table.get(key, key)


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _clock(cell: int) -> str:
    minutes = cell * CELL_MINUTES
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _first_common_window(
    therapist: TherapistProfile, intake: ClientIntake, cells: int
) -> str | None:
    a = _availability_bits(therapist.availability)
    b = _availability_bits(intake.availability)
    for d in range(7):
        common = int(a[d]) & int(b[d])
        c = 0
        while c < 48:
            if common >> c & 1:
                end = c
                while end < 48 and common >> end & 1:
                    end += 1
                if end - c >= cells:
                    return f"{DAYS[d].capitalize()} {_clock(c)}–{_clock(end)}"
                c = end
            else:
                c += 1
    return None


def _pref_reason(pref: Preference, t: TherapistProfile, met: bool) -> str:
    voc = vocabulary()
    a = pref.attribute
    if a == "style":
        wanted = [voc.styles[v] for v in pref.values]
        if met:
            best = max(wanted, key=lambda s: t.styles.relative()[s.key])
            return f"{best.reason}, as the client asked"
        dominant = voc.styles[t.styles.dominant()].label
        return (
            f"works mostly in a {dominant} way, not the "
            f"{' or '.join(s.label for s in wanted)} style the client asked for"
        )
    if a == "modality":
        offered = [_label("modalities", v) for v in pref.values if v in t.modalities]
        if met:
            return f"offers {_join(offered)}, as the client asked"
        return f"does not offer {' or '.join(_label('modalities', v) for v in pref.values)}"
    if a == "language":
        spoken = [v.title() for v in pref.values if v in t.languages]
        if met:
            return f"speaks {_join(spoken)}, as the client asked"
        return f"does not speak {' or '.join(v.title() for v in pref.values)}"
    if a == "mode":
        if met:
            offered = [_label("modes", v) for v in pref.values if v in t.modes]
            return f"offers sessions {_join(offered)}, as the client asked"
        return f"does not offer sessions {' or '.join(_label('modes', v) for v in pref.values)}"
    if a == "location":
        if met:
            return f"works in {(t.location or '').title()}, as the client asked"
        return f"does not work in {' or '.join(pref.values)}"
    if a == "lgbtq_affirming":
        if met:
            return "is LGBTQ+-affirming, as the client asked"
        return "has not said they are LGBTQ+-affirming"
    # gender / ethnicity / faith: quote only what the therapist chose to share
    shared = getattr(t.identity, a)
    if met:
        shown = shared if a == "gender" else str(shared).title()
        return f"shares their {a} as {shown}, as the client asked"
    return f"has not shared a {a} that matches what the client asked for"


def explain(
    intake: ClientIntake,
    roster: Roster,
    row: int,
    weights: Weights | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Reasons (only for what is met) and caveats for therapist ``row`` of ``roster``."""
    w = weights or Weights()
    t = roster.therapists[row]
    reasons: list[str] = []
    caveats: list[str] = []
    first_name = t.name.split()[0]

    # Preferences: a reason only when met, a caveat when a "prefer" one is not.
    asked_language = intake.preference("language") is not None
    for pref in intake.preferences:
        if pref.importance == "dont_mind":
            continue
        met = _pair_meets(pref, t)
        text = _pref_reason(pref, t, met)
        (reasons if met else caveats).append(text)

    # A shared language is worth saying when few colleagues speak it.
    if not asked_language:
        shared = [lang for lang in intake.languages if lang in t.languages]
        if shared and roster.language_share.get(shared[0], 1.0) < 0.5:
            reasons.append(f"speaks {shared[0].title()}")

    spec = [c for c in intake.concerns if c in t.specialties]
    if spec:
        reasons.append(f"specialises in {_join([_label('concerns', c) for c in spec])}")
    elif intake.concerns:
        caveats.append(
            f"does not list {_label('concerns', intake.concerns[0])} among their specialties"
        )

    if intake.availability:
        cells = -(-w.min_overlap_minutes // CELL_MINUTES)
        window = _first_common_window(t, intake, cells)
        if window is not None:
            reasons.append(f"has time when the client does ({window})")
    if intake.insurer is not None and intake.insurer in t.insurers:
        reasons.append(f"accepts {intake.insurer.title()}")
    elif intake.max_fee is not None and t.fee <= intake.max_fee:
        reasons.append(f"fee ({t.fee:g}) within the client's budget")

    has_history = roster.strengths.improvement_model is not None
    for concern in intake.concerns:
        label = _label("concerns", concern)
        s = roster.strengths.get(t.id, concern)
        n = 0 if s is None else s.n
        if has_history and n == 0:
            caveats.append(f"no past clients with {label} at this clinic — no evidence either way")
            continue
        if s is None:
            continue
        if n < w.min_cases:
            caveats.append(
                f"only {n} past client{'s' if n != 1 else ''} with {label} — "
                "little evidence either way"
            )
            continue
        sign = s.improvement.credible_sign(w.credible_z)
        if sign > 0:
            reasons.append(
                f"{first_name}'s clients with {label} improve more than the clinic average "
                f"(n = {n})"
            )
        elif sign < 0:
            caveats.append(
                f"{first_name}'s past clients with {label} improved less than the clinic "
                f"average (n = {n})"
            )
        if s.alliance is not None and s.alliance.credible_sign(w.credible_z) > 0:
            reasons.append(
                f"{first_name}'s clients with {label} rate the relationship higher than the "
                f"clinic average (n = {s.alliance.n})"
            )
    return tuple(reasons), tuple(caveats)


def _match(intake: ClientIntake, roster: Roster, row: int, ev: Evaluation, w: Weights) -> Match:
    reasons, caveats = explain(intake, roster, row, w)
    return Match(
        therapist_id=roster.ids[row],
        therapist_name=roster.therapists[row].name,
        score=round(float(ev.score[row]), 6),
        components={k: round(float(v[row]), 6) for k, v in ev.components.items()},
        reasons=reasons,
        caveats=caveats,
    )


def rank_matches(
    intake: ClientIntake,
    therapists: Sequence[TherapistProfile] | Roster,
    strengths: Strengths | None = None,
    weights: Weights | None = None,
    *,
    limit: int | None = 10,
    exclude: Iterable[str] = (),
) -> list[Match]:
    """Therapists who meet every hard constraint, best fit first, each with reasons.

    Pass a prebuilt :class:`Roster` (with its strengths) to score many intakes against one
    roster; then ``strengths`` must be left out. Ties are broken by therapist id.
    """
    w = weights or Weights()
    if isinstance(therapists, Roster):
        if strengths is not None and strengths is not therapists.strengths:
            raise ValueError("pass strengths to Roster.build, not alongside a built roster")
        roster = therapists
    else:
        roster = Roster.build(therapists, strengths)
    ev = evaluate(intake, roster, w)
    ok = ev.feasible.copy()
    excluded = set(exclude)
    if excluded:
        ok &= ~np.isin(np.array(roster.ids, dtype=object), list(excluded))
    rows = np.flatnonzero(ok)
    if rows.size == 0:
        return []
    # Best score first; equal scores by id so the order never depends on roster order.
    ids = np.array(roster.ids, dtype=object)[rows]
    order = sorted(range(rows.size), key=lambda k: (-float(ev.score[rows[k]]), ids[k]))
    if limit is not None:
        order = order[:limit]
    return [_match(intake, roster, int(rows[k]), ev, w) for k in order]


# --------------------------------------------------------------------------- reference check


def hard_constraint_violations(
    intake: ClientIntake,
    therapist: TherapistProfile,
    *,
    min_overlap_minutes: int = 60,
    check_capacity: bool = True,
) -> tuple[str, ...]:
    """The hard constraints one pair breaks, written plainly (empty = allowed).

    A deliberately simple, loop-based statement of the rules: the vectorised
    :func:`evaluate` must agree with it.
    """
    out: list[str] = []
    if not intake.consent:
        out.append("consent")
    if not set(intake.languages) & set(therapist.languages):
        out.append("language")
    if not set(intake.modes) & set(therapist.modes):
        out.append("mode")
    if intake.age_group not in therapist.age_groups:
        out.append("age_group")
    if intake.availability:
        need = -(-min_overlap_minutes // CELL_MINUTES)
        mine = {(s.day, c) for s in intake.availability for c in s.cells()}
        theirs = {(s.day, c) for s in therapist.availability for c in s.cells()}
        common = mine & theirs
        if not any(all((d, c + k) in common for k in range(need)) for d, c in common):
            out.append("availability")
    if intake.insurer is not None or intake.max_fee is not None:
        insured = intake.insurer is not None and intake.insurer in therapist.insurers
        affordable = intake.max_fee is not None and therapist.fee <= intake.max_fee
        if not (insured or affordable):
            out.append("fees")
    if check_capacity and therapist.open_places <= 0:
        out.append("capacity")
    for pref in intake.preferences:
        if pref.importance != "must":
            continue
        if not _pair_meets(pref, therapist):
            out.append(f"must:{pref.attribute}")
    return tuple(out)


def _pair_meets(pref: Preference, t: TherapistProfile) -> bool:
    a = pref.attribute
    if a == "style":
        rel = t.styles.relative()
        return max(rel[v] for v in pref.values) >= STYLE_MET
    if a == "modality":
        return bool(set(pref.values) & set(t.modalities))
    if a == "language":
        return bool(set(pref.values) & set(t.languages))
    if a == "mode":
        return bool(set(pref.values) & set(t.modes))
    if a == "location":
        return t.location in pref.values
    if a == "lgbtq_affirming":
        return t.identity.lgbtq_affirming is True
    return getattr(t.identity, a) in pref.values
