"""Relationship and rupture markers: a transparent, rule-based detector.

No public labelled data exists for these markers, so this is deliberately not a trained
model: every marker comes from a *named rule* (a regular expression or a small check that
can be read below), and every hit reports the rule that fired and the words it matched.

Markers (after Eubanks, Muran & Safran's Rupture Resolution Rating System, 3RS, for the
ruptures):

- ``collaboration`` — joint language ("let's", "we could", "together"), asking permission,
  offering choice, agreeing goals and tasks; from the client, agreeing to a task.
- ``validation`` — the therapist says the client's reaction makes sense / is normal.
- ``affirmation`` — the therapist recognises the client's effort, strength or success.
- withdrawal ruptures (client moves away from the therapist or the work):
  ``withdrawal_minimal`` (minimal answer to an open invitation), ``withdrawal_dont_know``,
  ``withdrawal_topic_shift``, ``withdrawal_deferring``, ``withdrawal_abstract``
  (intellectualised, impersonal talk in answer to a personal question);
- confrontation ruptures (client moves against the therapist or the work):
  ``confrontation_therapist``, ``confrontation_task``, ``confrontation_pace``,
  ``confrontation_progress``, ``confrontation_rejecting`` (rejects an intervention).

Each rule's ``confidence`` is a hand-set prior for how specific the rule is (a named phrase
such as "would it be okay if" is surer than "no shared content word"); it is *not* a
calibrated probability — the evaluation set is too small to calibrate on. Rules were tuned
on the development split of our evaluation set (tests/data/markers/dev.jsonl) and on
unlabelled AnnoMI sessions (rates only); the test split is measured, never tuned on (see
eval/evaluate_markers.py and docs/analysis.md for the figures and the limits).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from alliance.transcripts.model import Role, Transcript

Marker = Literal[
    "collaboration",
    "validation",
    "affirmation",
    "withdrawal_minimal",
    "withdrawal_dont_know",
    "withdrawal_topic_shift",
    "withdrawal_deferring",
    "withdrawal_abstract",
    "confrontation_therapist",
    "confrontation_task",
    "confrontation_pace",
    "confrontation_progress",
    "confrontation_rejecting",
]
# The one list of markers, in report order, read from the Literal so the two cannot drift.
MARKERS: tuple[Marker, ...] = get_args(Marker)
# 3RS subtypes that no rule names: only the model-based detector (.ruptures) reports them.
ModelOnlyMarker = Literal[
    "withdrawal_denial",
    "withdrawal_content_affect_split",
    "withdrawal_self_criticism",
    "confrontation_parameters",
    "confrontation_defending",
    "confrontation_control",
]
AnyMarker = Marker | ModelOnlyMarker
#: Every marker a hit can carry (rule markers first), in report order.
ALL_MARKERS: tuple[AnyMarker, ...] = (*MARKERS, *get_args(ModelOnlyMarker))
Source = Literal["rule", "model"]
Category = Literal["relationship", "withdrawal", "confrontation"]


def category_of(marker: str) -> Category:
    if marker.startswith("withdrawal"):
        return "withdrawal"
    if marker.startswith("confrontation"):
        return "confrontation"
    return "relationship"


@dataclass(frozen=True, slots=True)
class MarkerInput:
    """One utterance with the turn it answers (the other side's previous turn, if any)."""

    text: str
    role: Role
    previous_text: str = ""
    previous_role: Role | None = None


@dataclass(frozen=True, slots=True)
class MarkerHit:
    """A marker found in an utterance: which, by which rule, how sure, on which words.

    ``source`` says what found it: a named ``rule`` here (``confidence`` is the rule's
    hand-set prior) or the trained ``model`` of :mod:`.ruptures` (``confidence`` is the
    model's probability of the marker's category).
    """

    marker: AnyMarker
    rule: str
    confidence: float
    evidence: str
    source: Source = "rule"

    @property
    def category(self) -> Category:
        return category_of(self.marker)


Check = Callable[[MarkerInput, str], str | None]


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule: applies to some roles, returns the matched words or None."""

    name: str
    marker: Marker
    roles: frozenset[Role]
    confidence: float
    description: str
    check: Check


def _norm(text: str) -> str:
    """Lower case, straight apostrophes, single spaces: what every pattern expects."""
    return " ".join(text.casefold().replace("’", "'").replace("‘", "'").split())


def _regex(pattern: str) -> Check:
    compiled = re.compile(pattern)

    def check(_: MarkerInput, text: str) -> str | None:
        match = compiled.search(text)
        return match.group(0).strip() if match else None

    return check


_WORD = re.compile(r"[a-z']+")
# Any personal pronoun: a turn about oneself, the therapist or the people discussed is
# rarely a change of topic, whatever its words.
_PERSONAL = re.compile(
    r"\b(i|me|my|mine|myself|i'm|i've|i'd|i'll|we|us|our|you|your|you're|he|she|him|her|"
    r"his|they|them|their|it's like)\b"
)
_OPEN_PROMPT = re.compile(
    r"^(what|how|why|where|who|tell me|say more|can you (say|tell)|could you (say|tell)|"
    r"talk me|describe|which)\b"
)
_CLOSED_PROMPT = re.compile(
    r"^(did|do|does|is|are|was|were|have|has|had|shall|should|will|would|can|could|may|"
    r"might|any)\b"
)


def _closed_question(previous: str) -> bool:
    """A yes/no question ("Did you …?"): a short answer to it is no withdrawal."""
    text = _norm(previous)
    last = re.split(r"(?<=[.!])\s+", text)[-1]
    return "?" in last and bool(_CLOSED_PROMPT.match(last)) and not _OPEN_PROMPT.match(last)


# Words a minimal, non-committal answer is made of.
_MINIMAL_WORDS = frozenset(
    [
        "ok", "okay", "fine", "yeah", "yes", "yep", "no", "nope", "mm", "mmm", "hmm", "mhm",
        "mm-hm", "sure", "whatever", "nothing", "much", "not", "really", "dunno", "i", "guess",
        "suppose", "same", "as", "usual", "alright", "it", "was", "is", "don't", "know", "idea",
        "maybe", "honestly", "to", "tell", "say", "matter", "doesn't", "if", "you", "so",
        "think", "up", "good", "it's", "all", "right", "the", "well", "um", "uh", "i'm",
    ]
)  # fmt: skip


def _open_question(previous: str) -> bool:
    """An invitation to talk: an open question ("What …?", "Tell me about …")."""
    text = _norm(previous)
    sentences = [x for x in re.split(r"(?<=[.!?])\s+", text) if x]
    last = sentences[-1] if sentences else ""
    last = re.sub(r"^(so|and|okay|ok|well|um|uh|right)[, ]+", "", last)
    invites = last.startswith(("tell me", "say more", "describe", "talk me"))
    return bool(_OPEN_PROMPT.match(last)) and ("?" in last or invites)


def _minimal_answer(item: MarkerInput, text: str) -> str | None:
    # Only after an open question: a "yeah" after a reflection is agreement, and a short
    # answer to a yes/no question is simply an answer (seen on AnnoMI, see docs).
    if item.previous_role != "therapist" or not _open_question(item.previous_text):
        return None
    words = _WORD.findall(text)
    if not words or len(words) > 5:
        return None
    if sum(w in _MINIMAL_WORDS for w in words) < 0.8 * len(words):
        return None
    return text


_DONT_KNOW = re.compile(
    r"\b(i (really |honestly |just )?(don't|do not) know(,? really)?(?=[.!?,;]|$)|"
    r"i (really |honestly )?(don't|do not) know what i('m| am)? ?(want|feel|feeling|think)|"
    r"don't know(,)? really|no idea|dunno|(i'm |i am )?not sure(?=[.!?]|$)|"
    r"(i )?(can't|couldn't) (say|tell you)(?=[.!?,]|$)|hard to say)"
)
_DONT_KNOW_WHAT = re.compile(r"(don't|do not) know what i('m| am)? ?(want|feel|feeling|think)")


def _dont_know(_: MarkerInput, text: str) -> str | None:
    found = _DONT_KNOW.search(text)
    if found is None:
        return None
    # A trailing "…, I don't know" in a long turn is a hedge, not a withdrawal.
    if len(_WORD.findall(text)) <= 12 or _DONT_KNOW_WHAT.search(text):
        return found.group(0)
    return None


# Openers count only at the start of the turn (after fillers); requests to change the
# subject count anywhere.
_SHIFT_PHRASE = re.compile(
    r"(^((oh|um|uh|well|so|right|okay|ok)[,.]?\s+){0,2}(anyway|by the way|on (a different|"
    r"another) note|did (i tell you|you (see|watch|hear)))\b|"
    r"\bchang(e|ing) the subject\b|\b(talk|talking) about something else\b|"
    r"\blet's not go there\b|\bi'd rather not talk about\b|\bhow was your (weekend|week|day)\b)"
)
_STOP = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "but",
        "so",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "about",
        "that",
        "this",
        "it",
        "is",
        "was",
        "be",
        "been",
        "are",
        "were",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "my",
        "your",
        "his",
        "her",
        "our",
        "their",
        "them",
        "him",
        "what",
        "how",
        "why",
        "when",
        "where",
        "who",
        "which",
        "do",
        "did",
        "does",
        "have",
        "has",
        "had",
        "not",
        "no",
        "yes",
        "just",
        "really",
        "very",
        "can",
        "could",
        "would",
        "will",
        "shall",
        "should",
        "there",
        "then",
        "than",
        "as",
        "if",
        "into",
        "out",
        "up",
        "down",
        "over",
        "again",
        "some",
        "any",
        "all",
        "more",
        "most",
        "other",
        "such",
        "only",
        "own",
        "same",
        "too",
        "let's",
        "let",
        "us",
        "feel",
        "felt",
        "like",
        "think",
        "know",
        "get",
        "got",
        "go",
        "going",
        "said",
        "say",
        "tell",
        "told",
        "thing",
        "things",
    ]
)


def _content_words(text: str) -> set[str]:
    return {w.strip("'") for w in _WORD.findall(text) if len(w) > 2 and w not in _STOP}


# A turn opening with agreement carries on the therapist's topic even in new words.
_AGREEING = frozenset(["yeah", "yes", "yep", "exactly", "right", "true", "definitely", "totally"])


def _lexical_shift(item: MarkerInput, text: str) -> str | None:
    """An impersonal turn sharing no content word with the therapist's previous turn."""
    if item.previous_role != "therapist" or not item.previous_text:
        return None
    words = _WORD.findall(text)
    if len(words) < 6 or _PERSONAL.search(text) or words[0] in _AGREEING:
        return None
    # Answers to questions use new words by nature, and after a backchannel ("Mm-hmm.")
    # the client is carrying on with their own topic: neither is a shift.
    previous = _norm(item.previous_text)
    if "?" in previous or len(_WORD.findall(previous)) < 5 or text.startswith(("-", "…")):
        return None
    mine = _content_words(text)
    theirs = _content_words(_norm(item.previous_text))
    if not mine or mine & theirs:
        return None
    return text


_DEFERRING = re.compile(
    r"(whatever you (think|say|suggest|recommend)|you're the (expert|professional|doctor|"
    r"therapist)|you know (best|better)|\byou (decide|choose|tell me)\b|\bup to you\b|"
    r"if you (say so|think (so|it's best))|whichever you (recommend|think|suggest)|"
    r"i('ll| will) (just )?(go along with|do) whatever|i don't mind,? you)"
)
_ABSTRACT_STRONG = re.compile(
    r"\b(in general|generally( speaking)?|theoretically|in theory|one could|one would|"
    r"from a \w+ perspective|society|human beings?|social construct|construct|"
    r"evolutionary|research|phenomenon)\b"
)
_ABSTRACT_WEAK = re.compile(
    r"\b(people|everyone|one|humans?|cultures?|systems?|structural|process|psycholog\w*|"
    r"cognitive|modern|most)\b"
)
_HEDGES = re.compile(r"\bi (suppose|think|guess|mean)\b")


def _abstract(item: MarkerInput, text: str) -> str | None:
    if len(_WORD.findall(text)) < 10:
        return None
    if re.search(r"\b(i|me|my|mine|myself|i'm|i've|i'd)\b", _HEDGES.sub("", text)):
        return None
    strong = _ABSTRACT_STRONG.findall(text)
    weak = _ABSTRACT_WEAK.findall(text)
    if 2 * len(strong) + len(weak) >= 3:
        return text
    return None


_THERAPIST_COMPLAINT = re.compile(
    r"(\byou (don't|do not|never|always|just|keep|aren't|are not|'re not)\b( [\w']+){0,1}"
    r" ?(understand|get it|listen\w*|ask\w*|steer\w*|say that|analys\w*|decided)|"
    r"\byou're (not listening|twisting|judging|rushing|pushing)|you have no idea|"
    r"you don't get it|stop telling me|you've got it wrong|"
    r"you don't know (my|him|her|what it's like)|reading from a script|"
    r"you('ve| have) already decided|you('re| are) not taking me|"
    r"(don't|do not) think you('re| are) taking me seriously|you keep \w+ing)"
)
_TASK_NOUN = re.compile(
    r"\b(exercises?|homework|worksheets?|thought records?|diary|journal|breathing|"
    r"mindfulness|role ?plays?|imagery|technique|relaxation|exposure|these sessions|"
    r"this stuff|the app)\b"
)
_TASK_NEGATIVE = re.compile(
    r"(pointless|useless|waste of time|stupid|silly|fake|doesn't (help|work)|"
    r"isn't helping|not helping|don't see the point|\bhate\b|can't stand|gave up|"
    r"not for me|doesn't work for me|not more|makes me (more|worse))"
)


def _task_complaint(_: MarkerInput, text: str) -> str | None:
    noun = _TASK_NOUN.search(text)
    negative = _TASK_NEGATIVE.search(text)
    if noun and negative:
        return f"{noun.group(0)} … {negative.group(0)}"
    return None


_PACE = re.compile(
    r"(too (fast|quick(ly)?|slow(ly)?)|rushing me|you're rushing|pushing me|slow down|"
    r"speed (this|it|things) up|i'm not ready|haven't even finished|get to the point|"
    r"(moving|going) (way )?too|keep slowing)"
)
_PROGRESS = re.compile(
    r"(not getting (any )?better|\bno better\b|nothing('s| has) changed|"
    r"(this|therapy|it|coming here|the sessions|these sessions) (isn't|is not|aren't|are not|"
    r"'s not) (working|helping|doing anything)|don't think this is working|no progress|"
    r"getting nowhere|\bin circles\b|same things? (every week|over and over|again and again)|"
    r"still (stuck|just as)|"
    r"worse than when i started|what's the point|don't see the point of coming|why i bother|"
    r"(sessions|therapy|this|coming here) (are|is|isn't|aren't)( not)? doing anything)"
)
_REJECT = re.compile(
    r"(that's not (it|true|right|what i (said|meant))|that's not going to happen|"
    r"i've (already )?tried that|(that|it) (won't|will not|wouldn't) (work|help)|"
    r"i don't (want to|think that's right)|i'm not (doing|going to do) that|not for me|"
    r"you've got it wrong|that's ridiculous|twisting what i said|i'm not ready for that|"
    r"no way|i don't think that's)"
)


_SUGGESTION = re.compile(
    r"\b(could|might|maybe|perhaps|try|what if|how about|suggest|idea|option|consider)\b"
)


def _rejecting(item: MarkerInput, text: str) -> str | None:
    found = _REJECT.search(text)
    if found:
        return found.group(0)
    # A flat "No, …" to a suggestion (not "No, not really." to a question or reflection).
    flat = re.match(r"^(no|nope)[,.!]\s+(?!not really)\S", text)
    if flat and item.previous_role == "therapist" and _SUGGESTION.search(_norm(item.previous_text)):
        return flat.group(0)
    return None


_PERMISSION = re.compile(
    r"(would it be (ok|okay|alright|all right)|is it (ok|okay|alright|all right)( with you)? "
    r"if|may i (suggest|share|ask|offer)|can i (share|offer|suggest)|would you (mind|like me "
    r"to)|do you mind if)"
)
_JOINT = re.compile(
    r"(\blet's (see|look|think|work|try|decide|figure|agree|take|explore)|\bwe could\b|"
    r"\bshall we\b|\bcould we\b|\bwe'll (work|figure|look|find)|\btogether\b|"
    r"\bour (work|goal|goals|plan)\b|\bwork on together\b)"
)
_CHOICE = re.compile(
    r"(your choice|\byou decide\b|what would work (better )?for you|does that (sound|seem) "
    r"(right|ok|okay|good)|how does that sound|or would you rather|or something else|"
    r"what would you like (us |our )?(to (focus|work|start)|goals)|you can tell me whether|"
    r"at your pace|your view matters)"
)
_CLIENT_AGREES = re.compile(
    r"(let's (do|try|add)|i'm willing to|i could (do|try|give)|i('ll| will) (try|do it|give "
    r"it)|that's a good idea|i like that idea|give (it|that) a (try|go)|"
    r"i'd like (us )?to (work on|start with|look at)|main thing i want to work on|"
    r"we should look at)"
)
_VALIDATION = re.compile(
    r"(makes (complete |a lot of |total |perfect )?sense|it's (completely |totally |"
    r"perfectly )?(understandable|natural|normal|okay to|ok to|alright to|fine to)|"
    r"that's (completely |really |so |a really )?(understandable|natural|normal)|"
    r"of course you|no wonder|anyone (would|in your|might)|your feelings are valid|"
    r"not surprising|there's nothing (stupid|wrong|silly)|no right (way|timetable)|"
    r"(a )?(really |very )?normal (reaction|response)|is normal|i hear (how|that)|"
    r"you must (be|feel)|thank you for (telling|saying)|that's fine)"
)
_AFFIRMATION = re.compile(
    r"(well done|good (job|for you)|that's (great|fantastic|brilliant|wonderful|amazing)|"
    r"i'm (so |really )?(proud|impressed|pleased)|be proud|(took|takes|shows|showed|shown) "
    r"(real |a lot of |great )?(courage|strength|determination|commitment|effort)|"
    r"that was brave|you('ve| have) (really )?(worked|stuck|put|shown)|real achievement|"
    r"i (really )?(admire|appreciate)|you handled|that matters|you did (it|prepare)|"
    r"real effort|glad you did|great effort|faced something)"
)

THERAPIST: frozenset[Role] = frozenset({"therapist"})
CLIENT: frozenset[Role] = frozenset({"client"})

RULES: tuple[Rule, ...] = (
    Rule("asks_permission", "collaboration", THERAPIST, 0.9,
         "asks permission before suggesting, sharing or exploring", _regex(_PERMISSION.pattern)),
    Rule("joint_language", "collaboration", THERAPIST, 0.75,
         "'let's …', 'we could', 'together', 'our goal'", _regex(_JOINT.pattern)),
    Rule("offers_choice", "collaboration", THERAPIST, 0.8,
         "offers the client a choice or checks agreement on goals", _regex(_CHOICE.pattern)),
    Rule("client_agrees_task", "collaboration", CLIENT, 0.75,
         "client takes up or proposes a task or focus", _regex(_CLIENT_AGREES.pattern)),
    Rule("validates_reaction", "validation", THERAPIST, 0.8,
         "says the client's reaction is understandable, normal or makes sense",
         _regex(_VALIDATION.pattern)),
    Rule("affirms_effort", "affirmation", THERAPIST, 0.85,
         "recognises effort, courage, strength or success", _regex(_AFFIRMATION.pattern)),
    Rule("minimal_answer", "withdrawal_minimal", CLIENT, 0.75,
         "≤5 words of filler in answer to an open question", _minimal_answer),
    Rule("dont_know", "withdrawal_dont_know", CLIENT, 0.8,
         "'I don't know' / 'no idea' standing on its own in a short turn (≤12 words), or "
         "'I don't know what I want/feel'", _dont_know),
    Rule("shift_phrase", "withdrawal_topic_shift", CLIENT, 0.8,
         "'anyway', 'by the way', 'can we talk about something else'",
         _regex(_SHIFT_PHRASE.pattern)),
    Rule("lexical_shift", "withdrawal_topic_shift", CLIENT, 0.55,
         "≥6 words sharing no content word with the therapist's statement (not a question "
         "or backchannel), no personal pronoun", _lexical_shift),
    Rule("defers", "withdrawal_deferring", CLIENT, 0.85,
         "hands the decision to the therapist ('you're the expert', 'whatever you think')",
         _regex(_DEFERRING.pattern)),
    Rule("abstract_talk", "withdrawal_abstract", CLIENT, 0.7,
         "≥10 words, no first person, generic or theoretical terms", _abstract),
    Rule("complains_about_therapist", "confrontation_therapist", CLIENT, 0.8,
         "'you don't understand', 'you're not listening', 'you always …'",
         _regex(_THERAPIST_COMPLAINT.pattern)),
    Rule("complains_about_task", "confrontation_task", CLIENT, 0.8,
         "a therapy task named together with a negative judgement", _task_complaint),
    Rule("complains_about_pace", "confrontation_pace", CLIENT, 0.8,
         "'too fast', 'you're rushing me', 'slow down', 'get to the point'",
         _regex(_PACE.pattern)),
    Rule("complains_about_progress", "confrontation_progress", CLIENT, 0.8,
         "'nothing has changed', 'this isn't working', 'going round in circles'",
         _regex(_PROGRESS.pattern)),
    Rule("rejects_intervention", "confrontation_rejecting", CLIENT, 0.75,
         "turns down a suggestion or interpretation ('I've tried that', 'that's not it')",
         _rejecting),
)  # fmt: skip


def detect(item: MarkerInput) -> list[MarkerHit]:
    """All markers in one utterance, one hit per marker (the most confident rule)."""
    text = _norm(item.text)
    best: dict[Marker, MarkerHit] = {}
    for rule in RULES:
        if item.role not in rule.roles:
            continue
        evidence = rule.check(item, text)
        if evidence is None:
            continue
        current = best.get(rule.marker)
        if current is None or rule.confidence > current.confidence:
            best[rule.marker] = MarkerHit(rule.marker, rule.name, rule.confidence, evidence)
    # Deferring ("if you think it's best, I'll do it") is not agreement on the task.
    if "withdrawal_deferring" in best:
        best.pop("collaboration", None)
    # The weak lexical topic-shift rule yields to any other rupture rule that explains the turn.
    shift = best.get("withdrawal_topic_shift")
    others = [m for m in best if m != "withdrawal_topic_shift" and category_of(m) != "relationship"]
    if shift is not None and shift.rule == "lexical_shift" and others:
        best.pop("withdrawal_topic_shift")
    return [best[m] for m in MARKERS if m in best]


def marker_inputs(transcript: Transcript) -> list[MarkerInput]:
    """Pair each utterance with the latest turn by someone in another role."""
    items: list[MarkerInput] = []
    utterances = transcript.utterances
    for i, u in enumerate(utterances):
        previous = next((p for p in reversed(utterances[:i]) if p.role != u.role), None)
        items.append(
            MarkerInput(
                text=u.text,
                role=u.role,
                previous_text=previous.text if previous else "",
                previous_role=previous.role if previous else None,
            )
        )
    return items


def detect_session(transcript: Transcript) -> list[list[MarkerHit]]:
    """Markers for every utterance of a transcript, in order."""
    return [detect(item) for item in marker_inputs(transcript)]


def rule_table() -> Sequence[tuple[str, str, str, float, str]]:
    """(rule, marker, roles, confidence, description) for documentation and reports."""
    return [
        (r.name, r.marker, "/".join(sorted(r.roles)), r.confidence, r.description) for r in RULES
    ]
