"""Speaker roles: given (``--therapist NAME``), from a name map, or inferred with a confidence.

Inference scores each speaker on transparent cues and picks the best-scoring speaker as the
therapist (two when both carry a clinician's name or label, e.g. co-therapists); everyone else
is a client — so couples and group sessions (several clients) work — except speakers whose
name marks them as an interpreter, observer and the like, who get ``other``.

Cues, with their weights (a name or label outweighs behaviour on purpose: it is what a person
wrote down):
- a clinician's name or label ("Therapist", "Counsellor", "Dr …", "T") +4; a client's
  ("Client", "Patient", "C") −4;
- share of the speaker's turns that ask a question (therapists ask most questions) +3 × share;
- share of turns that sound like a reflection ("it sounds like", "so you …") +2 × share;
- talking about the other person rather than oneself: 20 × (rate of "you/your" − rate of
  "I/me/my" per word) — therapists say "you", clients say "I";
- speaking first +0.5 (therapists usually open a session, but not always).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from alliance.transcripts.model import Role, RoleAssignment, RoleMethod, TranscriptError

# Words in a speaker label that state a role ("Dr. Lee", "Therapist (Ruth)", "Client 2").
_THERAPIST_WORDS = frozenset(
    [
        "therapist",
        "counsellor",
        "counselor",
        "clinician",
        "psychologist",
        "psychotherapist",
        "psychiatrist",
        "interviewer",
        "practitioner",
        "coach",
        "facilitator",
        "provider",
        "doctor",
        "dr",
        "clinicienne",
        "therapeut",
        "mi-counsellor",
    ]
)
_CLIENT_WORDS = frozenset(
    [
        "client",
        "patient",
        "pt",
        "participant",
        "interviewee",
        "service-user",
        "clientin",
        "patientin",
    ]
)
_OTHER_WORDS = frozenset(
    [
        "interpreter",
        "translator",
        "observer",
        "supervisor",
        "narrator",
        "unknown",
        "recorder",
        "system",
        "host",
        "moderator",
        "notetaker",
        "note-taker",
    ]
)
_SINGLE_LETTER: dict[str, Role] = {"t": "therapist", "th": "therapist", "c": "client"}
_QUESTION_START = re.compile(
    r"^(?:what|how|why|when|where|who|which|do|does|did|is|are|was|were|can|could|would|"
    r"will|have|has|tell me)\b",
    re.IGNORECASE,
)
_REFLECTION_START = re.compile(
    r"^(?:so,? you|it sounds like|sounds like|you(?:'re| are) (?:feeling|saying)|you feel|"
    r"it seems|you seem|what i(?:'m| am) hearing|on the one hand)",
    re.IGNORECASE,
)

_YOU = re.compile(r"\b(you|your|yours|yourself|you're|you've|you'd|you'll)\b", re.IGNORECASE)
_I = re.compile(r"\b(i|me|my|mine|myself|i'm|i've|i'd|i'll)\b", re.IGNORECASE)

Turn = tuple[str, str]


def role_from_name(name: str) -> Role | None:
    """The role a speaker's name or label states outright, if it states one."""
    words = [w.strip(".:()[],").casefold() for w in name.split()]
    words = [w for w in words if w]
    if len(words) == 1 and words[0] in _SINGLE_LETTER:
        return _SINGLE_LETTER[words[0]]
    if any(w in _OTHER_WORDS for w in words):
        return "other"
    if any(w in _THERAPIST_WORDS for w in words):
        return "therapist"
    if any(w in _CLIENT_WORDS for w in words):
        return "client"
    return None


def _match_name(wanted: str, speakers: Sequence[str]) -> str | None:
    """Find ``wanted`` among speakers: exact, then case-insensitive, then a unique prefix."""
    if wanted in speakers:
        return wanted
    folded = wanted.casefold().strip()
    exact = [s for s in speakers if s.casefold() == folded]
    if exact:
        return exact[0]
    prefix = [s for s in speakers if s.casefold().startswith(folded)]
    if len(prefix) == 1:
        return prefix[0]
    return None


def _cue_scores(turns: Sequence[Turn], speakers: Sequence[str]) -> dict[str, tuple[float, str]]:
    """Score each speaker's likelihood of being the therapist, with a short reason."""
    questions: Counter[str] = Counter()
    reflections: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    you_minus_i: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for speaker, text in turns:
        counts[speaker] += 1
        text = text.replace("’", "'")
        words[speaker] += len(text.split())
        you_minus_i[speaker] += len(_YOU.findall(text)) - len(_I.findall(text))
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
        if "?" in text or any(_QUESTION_START.match(s) for s in sentences[-1:]):
            questions[speaker] += 1
        if _REFLECTION_START.match(text.strip()):
            reflections[speaker] += 1
    first = turns[0][0] if turns else None
    scores: dict[str, tuple[float, str]] = {}
    for speaker in speakers:
        n = max(1, counts[speaker])
        q_share = questions[speaker] / n
        r_share = reflections[speaker] / n
        addressing = you_minus_i[speaker] / max(1, words[speaker])
        score = (
            3.0 * q_share + 2.0 * r_share + 20.0 * addressing + (0.5 if speaker == first else 0.0)
        )
        reason = (
            f"{speaker!r}: {q_share:.0%} of turns ask a question, {r_share:.0%} reflect, "
            f"'you' minus 'I' {addressing:+.1%} of words"
        )
        named = role_from_name(speaker)
        if named == "therapist":
            score += 4.0
            reason += ", name says therapist"
        elif named == "client":
            score -= 4.0
            reason += ", name says client"
        if speaker == first:
            reason += ", speaks first"
        scores[speaker] = (score, reason)
    return scores


def assign_roles(
    turns: Sequence[Turn],
    *,
    therapist: str | Sequence[str] | None = None,
    name_map: Mapping[str, Role] | None = None,
) -> RoleAssignment:
    """Give every speaker in ``turns`` (speaker, text) a role.

    ``therapist`` names the therapist(s) (case-insensitive; a unique prefix such as a first
    name is enough); ``name_map`` fixes any speaker's role. Speakers neither names are
    inferred: clients, unless their label says otherwise, and — when no therapist was
    given — the best-scoring speaker is the therapist, with a confidence from the score gap.
    """
    speakers = list(dict.fromkeys(s for s, _ in turns))
    fixed: dict[str, Role] = {}
    methods: set[RoleMethod] = set()
    reasons: list[str] = []
    wanted = [therapist] if isinstance(therapist, str) else list(therapist or [])
    for name in wanted:
        found = _match_name(name, speakers)
        if found is None:
            raise TranscriptError(
                f"therapist {name!r} is not one of the speakers: {', '.join(speakers)}"
            )
        fixed[found] = "therapist"
        methods.add("given")
        reasons.append(f"{found!r} named as therapist")
    for name, role in (name_map or {}).items():
        found = _match_name(name, speakers)
        if found is None:
            raise TranscriptError(
                f"speaker {name!r} in the name map is not one of: {', '.join(speakers)}"
            )
        fixed[found] = role
        methods.add("name_map")
        reasons.append(f"{found!r} mapped to {role}")

    free = [s for s in speakers if s not in fixed]
    roles: dict[str, Role] = dict(fixed)
    confidence = 1.0
    if "therapist" not in roles.values():
        candidates = [s for s in free if role_from_name(s) != "other"]
        if not candidates:
            raise TranscriptError(
                "no speaker can be the therapist; name one with --therapist or a name map"
            )
        scores = _cue_scores(turns, candidates)
        ranked = sorted(candidates, key=lambda s: scores[s][0], reverse=True)
        chosen = [ranked[0]]
        # Co-therapists: a second speaker whose label also says "therapist".
        chosen += [s for s in ranked[1:] if role_from_name(s) == "therapist"]
        for s in chosen:
            roles[s] = "therapist"
        best = scores[ranked[0]][0]
        runner_up = max((scores[s][0] for s in ranked if s not in chosen), default=best - 4.0)
        # A logistic of the score gap: a gap of 1 (e.g. a third more of turns asking
        # questions) gives ~0.73, a name label (gap ≥ 4) gives ~0.98.
        confidence = round(1.0 / (1.0 + math.exp(-(best - runner_up))), 2)
        methods.add("inferred")
        reasons.extend(scores[s][1] for s in ranked)
    for s in free:
        if s in roles:
            continue
        named = role_from_name(s)
        roles[s] = "other" if named == "other" else "client"
        reasons.append(f"{s!r} taken as {roles[s]}")
    if "client" not in roles.values():
        raise TranscriptError("no speaker can be a client: every speaker was given another role")
    method: RoleMethod = methods.pop() if len(methods) == 1 else "mixed"
    if method in ("given", "name_map"):
        confidence = 1.0
    return RoleAssignment(
        roles=dict(roles), method=method, confidence=confidence, reasons=tuple(reasons)
    )
