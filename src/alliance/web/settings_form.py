"""The clinic-settings form, generated from the settings models themselves.

The measurement plan is one row per questionnaire (and one for goal ratings): at intake,
every Nth session from session S, at discharge, with a preview of what the first twelve
check-ins would ask.

Every alert threshold is a field of :class:`alliance.monitoring.alerts.AlertSettings` with a
default and a description; the form lists them all from the model, so a new threshold appears
on the page without touching a template. Posted values are reshaped into the JSON the
``update_clinic_settings`` service validates (its errors name the field).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import available_timezones

from starlette.datastructures import FormData

from alliance.measures.plan import GOALS, Cadence, MeasurementPlan, answers_asked, course
from alliance.monitoring.alerts import ALERT_KINDS, ALWAYS_ON_KINDS, AlertSettings
from alliance.services.clinic_settings import (
    CLIENT_LANGUAGES,
    CRISIS_MESSAGE_MAX,
    DEFAULT_CRISIS_MESSAGE,
    ClinicSettings,
)
from alliance.services.errors import InvalidInput
from alliance.web.i18n import language_name
from alliance.web.routes._form_values import form_text

PURPOSES = ("alliance", "outcome", "feedback")
GOALS_LABEL = "Goal ratings"
PREVIEW_SESSIONS = 12
MAX_PLAN_ROWS = 50
# Offered in the time-zone field's list (any IANA name is accepted when typed).
TIME_ZONES = tuple(
    sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
)


@dataclass(frozen=True)
class SettingField:
    """One input on the form: ``kind`` is number, integer, bool, kinds or per_instrument."""

    name: str
    label: str
    kind: str
    description: str
    value: Any
    default: Any


def _kind(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if origin in (frozenset, set):
        return "kinds"
    if origin is dict:
        return "per_instrument"
    if isinstance(annotation, types.UnionType):
        # An optional number (``int | None``) is entered like the number itself.
        return "integer" if int in typing.get_args(annotation) else "number"
    return "number"


#: What the settings page calls each alert setting, and the help under it, in a clinician's
#: words (the model's own descriptions cite the method and are for the docs). A setting added
#: to AlertSettings without an entry here still appears, under its name and description; a
#: test asks for an entry for every one.
PLAIN_WORDS: dict[str, tuple[str, str]] = {
    "rupture_rci_z": (
        "Rupture: how large a drop counts, while there are few earlier scores",
        "A fall between two alliance scores in a row counts as a rupture when it is larger than "
        "measurement error alone would explain, by this many standard errors. 1.96 means 95% "
        "sure; a higher number gives fewer, surer alerts.",
    ),
    "rupture_sd_multiplier": (
        "Rupture: how large a drop counts, once there are enough earlier scores",
        "A fall counts as a rupture when it is larger than this many times the client's own "
        "usual ups and downs (the spread of their earlier scores). Higher means fewer alerts.",
    ),
    "rupture_floor_sdiff": (
        "Rupture: the smallest drop that can count, however steady the client's scores",
        "Even for a client whose scores hardly move, a fall counts only when it is larger than "
        "measurement error by this many standard errors. 1.96 means 95% sure; 1 gives more "
        "alerts, many of them from chance.",
    ),
    "rupture_min_prior_points": (
        "Rupture: earlier scores needed to judge by the client's own ups and downs",
        "Until a client has this many alliance scores, ruptures are judged by measurement error "
        "(the first rupture setting); from then on by their own ups and downs.",
    ),
    "low_alliance_thresholds": (
        "Low alliance: the score below which alliance counts as low",
        "One value per alliance questionnaire. Leave empty to use the questionnaire's own "
        "threshold (WAI-SR: 3.0).",
    ),
    "low_alliance_consecutive": (
        "Low alliance: check-ins in a row below that score before an alert",
        "1 alerts at the first low score; 2 waits for a second one in a row.",
    ),
    "not_on_track_consecutive": (
        "Not on track: check-ins in a row off the expected course before an alert",
        "1 alerts at the first score off the expected course; 2 waits for a second one in a "
        "row: fewer alerts from a single bad week, found a session later.",
    ),
    "not_on_track_fallback": (
        "Not on track: compare with a standard expected course while the clinic has too few "
        "clients of its own",
        "Off: no “not on track” alerts until the clinic's own expected course has been fitted "
        "from enough past clients.",
    ),
    "deterioration_z": (
        "Getting worse: how much worse than the first score counts as reliable",
        "An outcome score counts as reliably worse than the client's first when the change is "
        "larger than measurement error by this many standard errors (1.96 means 95% sure).",
    ),
    "missed_sessions_in_a_row": (
        "Missed sessions in a row before an alert",
        "Cancelled sessions do not count either way.",
    ),
    "irregular_gap_factor": (
        "Irregular sessions: a gap counts when it is this many times the client's usual gap",
        "The usual gap is the middle (median) of the client's earlier gaps between sessions.",
    ),
    "irregular_gap_min_days": (
        "Irregular sessions: and only when the gap is longer than (days)",
        "Stops short gaps from counting for clients who come very often.",
    ),
    "irregular_min_intervals": (
        "Irregular sessions: earlier gaps needed to know the client's usual rhythm",
        "No irregular-session alert until the client has had this many gaps between sessions.",
    ),
    "poor_fit_not_sure": (
        "Poor fit: also alert when the client answers “not sure”",
        "A “no” to “is this a good fit?” always alerts; with this on, “not sure” raises a "
        "warning too.",
    ),
    "weak_signals_need_support": (
        "Weak alliance signals: alert only when a second source agrees",
        "A single dip or low score on the session-feedback form, a “not sure” about fit, and a "
        "fall in the alliance questionnaire that is only just beyond chance alert only when "
        "something else from the same session points the same way (the other questionnaire, "
        "or the fit answer). Most such signals on their own are chance. A “no” about fit and "
        "any answer about risk always alert.",
    ),
    "fall_alone_sdiff": (
        "Alliance fall: how large it must be to alert on its own",
        "A fall in the alliance questionnaire (from the last score, or from the first) "
        "alerts without a second source when it is larger than measurement error by this "
        "many standard errors. 2.58 means 99% sure; a smaller but still real fall waits for "
        "another sign from the same session.",
    ),
    "fall_support_sdiff": (
        "Alliance fall: how large it must be to back up another sign",
        "A fall in the alliance questionnaire larger than this many standard errors (1.645 "
        "means 90% sure) counts as the second source for a weak sign from the same session, "
        "though it is too small to alert by itself.",
    ),
    "fit_check_after_session": (
        "Fit check: suggest one from this session on",
        "When alliance is low and not rising from this session on, the client page suggests "
        "talking about fit.",
    ),
    "fit_check_until_session": (
        "Fit check: the last session it may be suggested at",
        "The fit check is suggested once per episode, at the first session from the one above "
        "to this one where alliance is low and not rising.",
    ),
    "fit_check_thresholds": (
        "Fit check: the alliance score below which a fit check is suggested",
        "One value per alliance questionnaire. Leave empty to use the low-alliance score.",
    ),
}


def alert_fields(current: AlertSettings) -> list[SettingField]:
    defaults = AlertSettings()
    fields: list[SettingField] = []
    for name, info in AlertSettings.model_fields.items():
        label, help_text = PLAIN_WORDS.get(
            name, (name.replace("_", " ").capitalize(), info.description or "")
        )
        fields.append(
            SettingField(
                name=name,
                label=label,
                kind=_kind(info.annotation),
                description=help_text,
                value=getattr(current, name),
                default=getattr(defaults, name),
            )
        )
    return fields


def _text(form: FormData, key: str) -> str:
    value = form.get(key)
    return form_text(value.strip(), key) if isinstance(value, str) else ""


def parse_settings(form: FormData, alliance_ids: Sequence[str]) -> dict[str, Any]:
    """The posted form as ``ClinicSettings`` JSON. Blank numbers fall back to the defaults;
    text that is not a number is passed through so the service names the field."""
    alert: dict[str, Any] = {}
    for name, info in AlertSettings.model_fields.items():
        kind = _kind(info.annotation)
        key = f"alert.{name}"
        if kind == "bool":
            alert[name] = form.get(key) == "on"
        elif kind == "kinds":
            # An always-on rule is shown as a disabled control (never posted); it is kept on
            # whatever the form says (AlertSettings adds it back in any case).
            alert[name] = [
                k for k in ALERT_KINDS if k in ALWAYS_ON_KINDS or form.get(f"{key}.{k}") == "on"
            ]
        elif kind == "per_instrument":
            per: dict[str, Any] = {}
            for instrument_id in alliance_ids:
                raw = _text(form, f"{key}.{instrument_id}")
                if raw:
                    per[instrument_id] = raw
            alert[name] = per
        else:
            raw = _text(form, key)
            if raw:
                alert[name] = raw
    return {
        "alert_settings": alert,
        "instruments": {
            p: [
                form_text(str(v), f"instruments.{p}", 100) for v in form.getlist(f"instruments.{p}")
            ]
            for p in PURPOSES
        },
        "mfa_enforced": form.get("mfa_enforced") == "on",
        "show_client_progress": form.get("show_client_progress") == "on",
        "client_progress_shows": [
            k for k in ("outcomes", "goals") if form.get(f"client_progress_shows.{k}") == "on"
        ],
        "checkin_overdue_days": _text(form, "checkin_overdue_days") or "10",
        "delivery": {
            "send": _text(form, "delivery.send") or "after_attended",
            "hours_before": _text(form, "delivery.hours_before") or "24",
            "reminder_hours": _text(form, "delivery.reminder_hours") or "48",
        },
        # Blank goes back to the default text (ClinicSettings); it is never left empty.
        "crisis_message": _text(form, "crisis_message"),
        "time_zone": _text(form, "time_zone") or "UTC",
        "client_language": _text(form, "client_language") or "en",
        "crisis_contacts": _crisis_contacts(form),
        "risk_escalation_hours": _text(form, "risk_escalation_hours") or "4",
        "measurement_plan": parse_plan(form),
    }


@dataclass(frozen=True)
class PlanRow:
    """One measure's cadence on a plan form (``key`` an instrument id or goals)."""

    key: str
    label: str
    items: str  # e.g. "12 questions"
    cadence: Cadence
    described: str


@dataclass(frozen=True)
class CourseRow:
    """One check-in of the preview: which measures it asks and how many answers."""

    session_number: int
    asks: tuple[str, ...]
    answers: int


def plan_rows(plan: MeasurementPlan, instruments: Sequence[Any]) -> list[PlanRow]:
    rows = [
        PlanRow(
            key=i.id,
            label=i.title,
            items=f"{len(i.items)} question{'s' if len(i.items) != 1 else ''}",
            cadence=plan.cadence(i.id),
            described=plan.cadence(i.id).describe(),
        )
        for i in instruments
    ]
    goals = plan.cadence(GOALS)
    rows.append(PlanRow(GOALS, GOALS_LABEL, "one per agreed goal", goals, goals.describe()))
    return rows


def plan_course(
    plan: MeasurementPlan, instruments: Sequence[Any], *, goals: int = 1
) -> list[CourseRow]:
    """What the first check-ins of an episode with ``instruments`` (and ``goals`` agreed
    goals) ask under ``plan``; the last row is a discharge check-in."""
    titles = {i.id: i.short_name for i in instruments}
    counts = {i.id: len(i.items) for i in instruments}
    return [
        CourseRow(
            session_number=c.session_number,
            asks=tuple(titles[i] for i in c.instruments) + ((GOALS_LABEL,) if c.goals else ()),
            answers=answers_asked(c.instruments, counts, goals if c.goals else 0),
        )
        for c in course(plan, [i.id for i in instruments], PREVIEW_SESSIONS)
    ]


def parse_plan(form: FormData) -> dict[str, Any]:
    """The plan rows of a posted form as ``MeasurementPlan`` JSON (the service validates it,
    checks its keys and names a bad field). A row is read when the form showed it (its
    hidden ``plan.KEY.shown``): unticked boxes are not posted, so the marker is what tells a
    row with both boxes unticked from a row that was not on the form. Blank numbers fall
    back to the defaults."""
    cadences: dict[str, Any] = {}
    for field_name in form:
        if not (field_name.startswith("plan.") and field_name.endswith(".shown")):
            continue
        key = form_text(field_name[len("plan.") : -len(".shown")], "plan", 100)
        if len(cadences) >= MAX_PLAN_ROWS:
            raise InvalidInput("plan", f"at most {MAX_PLAN_ROWS} measures")
        name = f"plan.{key}"
        cadence: dict[str, Any] = {
            "intake": form.get(f"{name}.intake") == "on",
            "discharge": form.get(f"{name}.discharge") == "on",
        }
        for number in ("every", "start"):
            raw = _text(form, f"{name}.{number}")
            if raw:
                cadence[number] = raw
        cadences[key] = cadence
    return {"cadences": cadences}


def form_context(settings: ClinicSettings, instruments: Sequence[Any]) -> dict[str, Any]:
    by_purpose = {p: [i for i in instruments if i.kind == p] for p in PURPOSES}
    chosen = set(settings.instruments.all())
    plan = settings.plan()
    return {
        "settings": settings,
        "by_purpose": by_purpose,
        "chosen": {p: set(getattr(settings.instruments, p)) for p in PURPOSES},
        "alert_fields": alert_fields(settings.alert_settings),
        "alert_kinds": ALERT_KINDS,
        "always_on_kinds": ALWAYS_ON_KINDS,
        "crisis_default": DEFAULT_CRISIS_MESSAGE,
        "crisis_max": CRISIS_MESSAGE_MAX,
        "crisis_rows": [
            *settings.crisis_contacts,
            *[None] * max(0, min(2, CRISIS_CONTACT_ROWS - len(settings.crisis_contacts))),
        ],
        "alliance_instruments": by_purpose["alliance"],
        "time_zones": TIME_ZONES,
        # Each offered language under its own name, as a client would look for it.
        "client_languages": [(c, language_name(c)) for c in CLIENT_LANGUAGES],
        "plan_rows": plan_rows(plan, instruments),
        "plan_course": plan_course(plan, [i for i in instruments if i.id in chosen]),
    }


#: Rows of the crisis-contacts table the settings form posts (filled ones and blank ones).
CRISIS_CONTACT_ROWS = 10


def _crisis_contacts(form: FormData) -> list[dict[str, str]]:
    """The form's crisis contact rows (``crisis_contacts.N.name`` / ``.phone``); a row with
    both fields blank is left out, a half-filled one is kept so that validation names it."""
    rows: list[dict[str, str]] = []
    for index in range(CRISIS_CONTACT_ROWS):
        name = _text(form, f"crisis_contacts.{index}.name")
        phone = _text(form, f"crisis_contacts.{index}.phone")
        if name or phone:
            rows.append({"name": name, "phone": phone})
    return rows
