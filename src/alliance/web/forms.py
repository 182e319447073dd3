"""The client check-in form: field names, the page's question model, and parsing a POST.

Field names are ``<instrument_id>/<linkId>`` for instrument items and ``goal/<goal id>`` for
goal ratings. Instrument ids and linkIds cannot contain ``/`` (their schema forbids it), so the
split back is unambiguous. Parsing only reshapes the form into the structure the check-in
service takes; every check of the answers themselves (ranges, required items, scoring) is the
service's job, so a script posting to the JSON API gets exactly the same rules.

The page's own words (headings, hints, messages) are English gettext message ids, translated
through the ``translate`` the route passes; an instrument's words come only from the
instrument file or a validated translation file the clinic installed (``translations``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from alliance.measures.instrument import Instrument
from alliance.services.views import CheckInDraft, CheckInForm, FormQuestion, GoalView

GOAL_PREFIX = "goal/"
MANIFEST_FIELD = "_required"
MANIFEST_SIG_FIELD = "_required_sig"
ACTION_FIELD = "_action"  # "save": keep the answers so far and finish later
CONTROL_FIELDS = frozenset({"csrf_token", MANIFEST_FIELD, MANIFEST_SIG_FIELD, ACTION_FIELD})


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    extra: str = ""  # read by screen readers only (the end label of a numeric scale)


@dataclass(frozen=True)
class Question:
    """One question as the template draws it (a radio group, yes/no, a number or free text)."""

    name: str
    text: str
    kind: str
    required: bool
    options: tuple[Option, ...] = ()
    min: int | None = None
    max: int | None = None
    short_labels: bool = False
    scale_ends: tuple[str, str] | None = None


@dataclass(frozen=True)
class Section:
    title: str
    intro: str
    questions: tuple[Question, ...]
    source: str = ""
    language: str = "en"  # the language of the questionnaire's own words


# Plain headings for clients; the instrument's formal title is shown small underneath.
_HEADINGS = {
    "alliance": "Working with your therapist",
    "outcome": "How you have been feeling",
    "feedback": "About today's session",
    "goals": "Your goals",
}
_INTROS = {
    "alliance": "How you feel about working with your therapist.",
    "outcome": "Over the last two weeks.",
    "feedback": "",
    "goals": "How far have you come towards each goal?",
}
GOAL_ENDS = ("0 = no progress", "10 = fully achieved")
UNKNOWN_FIELD = "This is not a question of this check-in."
ANSWER_THIS = "Please answer this question."
ANSWER = "Please answer: “{text}”"
RATE_GOAL = "Please rate your progress on “{text}”"
#: Every message id of this module, for the catalogues' completeness test.
MESSAGES = (
    *_HEADINGS.values(),
    *(v for v in _INTROS.values() if v),
    *GOAL_ENDS,
    UNKNOWN_FIELD,
    ANSWER_THIS,
    ANSWER,
    RATE_GOAL,
)


def _same(message: str) -> str:
    return message


def field_name(instrument_id: str, link_id: str) -> str:
    return f"{instrument_id}/{link_id}"


def _question(q: FormQuestion) -> Question:
    options = tuple(Option(code, label) for code, label in q.options)
    # Numeric scales with many options read best as a row of buttons with the end labels
    # written once underneath; long verbal options stay a vertical list. A scale whose ends
    # are labelled ("0 - not at all" … "10 - completely") shows the numbers on the buttons,
    # the words under the row, and keeps the words for screen readers.
    middle = options[1:-1]
    short = len(options) > 4 and all(len(o.label) <= 3 for o in middle)
    ends: tuple[str, str] | None = None
    if short and (len(options[0].label) > 3 or len(options[-1].label) > 3):
        ends = (options[0].label, options[-1].label)
        options = tuple(
            Option(o.value, o.value, o.label[len(o.value) :].lstrip(" -–:"))
            if len(o.label) > 3 and o.label.startswith(o.value)
            else o
            for o in options
        )
        short = all(len(o.label) <= 3 for o in options)
        if not short:
            ends = None
            options = tuple(Option(code, label) for code, label in q.options)
    return Question(
        name=field_name(q.instrument_id, q.link_id),
        text=q.text,
        kind=q.type,
        required=q.required,
        options=options,
        min=q.min_value,
        max=q.max_value,
        short_labels=short,
        scale_ends=ends,
    )


def _translated(q: FormQuestion, translation: Instrument | None) -> FormQuestion:
    """``q`` in the words of the clinic's validated translation (same linkId and codes)."""
    if translation is None:
        return q
    item = next((i for i in translation.items if i.link_id == q.link_id), None)
    if item is None:
        return q
    labels = {o.code: o.label for o in item.options}
    return replace(
        q,
        text=item.text,
        options=tuple((code, labels.get(code, label)) for code, label in q.options),
    )


def _goal_question(goal: GoalView, translate: Callable[[str], str]) -> Question:
    options = tuple(Option(str(i), str(i)) for i in range(11))
    return Question(
        name=f"{GOAL_PREFIX}{goal.id}",
        text=goal.text,
        kind="choice",
        required=True,
        options=options,
        short_labels=True,
        scale_ends=(translate(GOAL_ENDS[0]), translate(GOAL_ENDS[1])),
    )


def sections_for(
    form: CheckInForm,
    descriptions: Mapping[str, str | None] | None = None,
    *,
    translate: Callable[[str], str] = _same,
    language: str = "en",
    languages: Mapping[str, str] | None = None,
    translations: Mapping[str, Instrument] | None = None,
) -> list[Section]:
    """The page's sections: one per instrument, then the agreed goals when there are any.

    ``descriptions`` (instrument id → the instrument's own instructions) supplies the stem a
    questionnaire's items need ("Over the last 2 weeks, how often…"). ``translate`` is the
    page's gettext, ``language`` the page's language; ``languages`` gives each instrument's
    own language and ``translations`` the validated translation into the page's language a
    clinic installed, whose words then replace the instrument's (never invented ones).
    """
    descriptions = descriptions or {}
    languages = languages or {}
    translations = translations or {}
    sections = []
    for s in form.sections:
        translation = translations.get(s.instrument_id)
        title = translation.title if translation else s.title
        # The instrument's own instructions (in its words, or the translation's) come first;
        # the page's plain intro only when the instrument has none.
        own = translation.description if translation else descriptions.get(s.instrument_id)
        fallback = _INTROS.get(s.kind, "")
        intro = own or (translate(fallback) if fallback else "")
        sections.append(
            Section(
                title=translate(_HEADINGS[s.kind]) if s.kind in _HEADINGS else title,
                intro=intro,
                questions=tuple(_question(_translated(q, translation)) for q in s.questions),
                source=title if s.kind in _HEADINGS else "",
                language=language if translation else languages.get(s.instrument_id, "en"),
            )
        )
    if form.goals:
        sections.append(
            Section(
                title=translate(_HEADINGS["goals"]),
                intro=translate(_INTROS["goals"]),
                questions=tuple(_goal_question(g, translate) for g in form.goals),
                # Goals are the client's and therapist's own words, in whatever they wrote.
                language=language,
            )
        )
    return sections


@dataclass(frozen=True)
class ParsedAnswers:
    """Answers per instrument (linkId → text as posted) and goal ratings (goal id → text)."""

    instruments: dict[str, dict[str, str]]
    goals: dict[int, str]
    unknown: tuple[str, ...]


def parse_answers(fields: Iterable[tuple[str, str]]) -> ParsedAnswers:
    """Reshape posted form fields; blank answers are left out (the service decides if missing
    is allowed); field names that fit neither pattern are reported back, not dropped silently."""
    instruments: dict[str, dict[str, str]] = {}
    goals: dict[int, str] = {}
    unknown: list[str] = []
    for name, raw in fields:
        if name in CONTROL_FIELDS:
            continue
        value = raw.strip() if isinstance(raw, str) else ""
        if name.startswith(GOAL_PREFIX):
            ident = name[len(GOAL_PREFIX) :]
            if not ident.isdigit():
                unknown.append(name)
                continue
            if value:
                goals[int(ident)] = value
            continue
        instrument_id, sep, link_id = name.partition("/")
        if not sep or not instrument_id or not link_id:
            unknown.append(name)
            continue
        if value:
            instruments.setdefault(instrument_id, {})[link_id] = value
    return ParsedAnswers(instruments, goals, tuple(unknown))


def draft_values(draft: CheckInDraft) -> dict[str, str]:
    """A saved draft as the form's field values, to refill the page."""
    values = {
        field_name(instrument_id, link_id): value
        for instrument_id, answers in draft.answers.items()
        for link_id, value in answers.items()
    }
    values.update({f"{GOAL_PREFIX}{goal_id}": value for goal_id, value in draft.goals.items()})
    return values


def posted_values(fields: Mapping[str, str]) -> dict[str, str]:
    """What the client had entered, to refill the form when it comes back with errors."""
    return {k: v for k, v in fields.items() if k not in CONTROL_FIELDS}


def missing_required(
    form: CheckInForm, parsed: ParsedAnswers, *, translate: Callable[[str], str] = _same
) -> dict[str, str]:
    """Required questions of this form left unanswered, as ``{field name: message}``.

    The same rule the page states with ``required`` attributes, enforced again on the server
    for browsers that skip them; a half-filled check-in is never stored.
    """
    errors: dict[str, str] = {}
    for section in form.sections:
        answered = parsed.instruments.get(section.instrument_id, {})
        for q in section.questions:
            if q.required and q.link_id not in answered:
                errors[field_name(q.instrument_id, q.link_id)] = translate(ANSWER).format(
                    text=q.text
                )
    for goal in form.goals:
        if goal.id not in parsed.goals:
            errors[f"{GOAL_PREFIX}{goal.id}"] = translate(RATE_GOAL).format(text=goal.text)
    return errors


def required_names(form: CheckInForm) -> list[str]:
    """Field names the client must answer on this form (required items and every goal)."""
    names = [
        field_name(q.instrument_id, q.link_id)
        for section in form.sections
        for q in section.questions
        if q.required
    ]
    names.extend(f"{GOAL_PREFIX}{goal.id}" for goal in form.goals)
    return names


def all_answered(names: Iterable[str], parsed: ParsedAnswers) -> bool:
    """True when every field in ``names`` has an answer in ``parsed``."""
    for name in names:
        if name.startswith(GOAL_PREFIX):
            ident = name[len(GOAL_PREFIX) :]
            if not ident.isdigit() or int(ident) not in parsed.goals:
                return False
            continue
        instrument_id, _, link_id = name.partition("/")
        if link_id not in parsed.instruments.get(instrument_id, {}):
            return False
    return True
