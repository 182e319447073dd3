"""The demo clinic: seeded through the same services the app uses, so every alert in it is a
real output of the monitoring rules.

Riverside Counselling has an admin, a supervisor and three therapists with different ways of
working (CBT and directive; person-centred and supportive; integrative and collaborative) and
about twenty clients with 6–20 weekly sessions of plausible WAI-SR, PHQ-9, GAD-7 and
session-feedback answers, generated from a fixed random seed. Three clients tell a story:

* **Sarah** (work anxiety, with Lena): trust builds steadily, anxiety (GAD-7) falls;
* **John** (depression, with Maya): guarded at first, a rupture at session 5 — a WAI-SR drop the
  rupture rule catches — then repaired, and his PHQ-9 improves;
* **Dana** (with Tom): keeps coming and likes her therapist, but her depression does not
  move — the not-on-track rule flags her.

The rules' findings reach the therapist as one alert per concern: everything John's session 5
showed (the WAI-SR drop, the session rating's drop, the dip counted as deterioration, his "not
sure" about fit, the fit check) is one alliance alert, led by the WAI-SR rupture, and it stays
open at the top of Maya's caseload; his outcome alert is closed with a short note once he is
back in range. Dana's outcome alert (PHQ-9 and GAD-7 not on track) stays open.

The matching side is seeded too: each therapist has a matching profile; twelve of the other
clients came in through the intake form and the admin's matching queue (so the clinic has a
small history to estimate strengths from, and the queue says how little it shows); and five
people wait in the queue today (one wants Spanish, one someone who "mostly listens", one asks
for something no one here offers and waits, with the reason).

Demo passwords are fixed and printed; the seed refuses to run in production mode.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from alliance.config import Settings
from alliance.measures.plan import BUNDLED_CADENCES, every_session_plan
from alliance.services import admin, alerts, auth, checkins, clients, goals, matching, sessions
from alliance.services.authz import Actor, system_actor
from alliance.services.clinic_settings import ClinicSettings, CrisisContact
from alliance.services.context import ServiceContext
from alliance.store.crypto import FieldCipher
from alliance.store.db import SessionFactory, transaction
from alliance.store.models import Client, Clinic, StaffUser

CLINIC_NAME = "Riverside Counselling (demo)"
DEMO_PASSWORD = "alliance-demo-2026"  # noqa: S105 - printed on purpose, development only
SEED = 20261122


@dataclass(frozen=True)
class DemoLogin:
    role: str
    name: str
    email: str
    password: str
    description: str = ""


@dataclass(frozen=True)
class DemoInfo:
    """What ``alliance demo`` prints: logins, one fresh client link and the story clients."""

    clinic_id: int
    logins: tuple[DemoLogin, ...]
    open_link_token: str
    open_link_url: str
    clients: dict[str, int] = field(default_factory=dict)
    created: bool = True


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


STAFF = (
    (
        "admin",
        "Ada Admin",
        "admin@riverside.example",
        "clinic admin: the matching queue, users, settings",
    ),
    (
        "supervisor",
        "Sam Supervisor",
        "sam@riverside.example",
        "supervises all three: the team page",
    ),
    (
        "therapist",
        "Maya Chen",
        "maya@riverside.example",
        "CBT, directive; John's rupture at session 5 tops her caseload",
    ),
    (
        "therapist",
        "Tom Okafor",
        "tom@riverside.example",
        "person-centred, supportive; Dana is not on track",
    ),
    (
        "therapist",
        "Lena Varga",
        "lena@riverside.example",
        "integrative, collaborative; Sarah (her check-in link is below)",
    ),
)

OTHER_CLIENTS = (
    "Amira K.",
    "Ben T.",
    "Chloe R.",
    "Dev P.",
    "Elena M.",
    "Farid S.",
    "Grace L.",
    "Hugo B.",
    "Ines V.",
    "Jonas W.",
    "Kemi A.",
    "Liam O.",
    "Mei H.",
    "Noor D.",
    "Oscar F.",
    "Priya N.",
    "Rafael G.",
)


@dataclass(frozen=True)
class _Handling:
    """What the therapist does about an alert once it is there, from session ``after`` on.

    ``instrument`` narrows to one instrument's finding (None: any); ``stale`` waits until the
    rule stopped firing (the alert's session is older than the latest), so that closing it does
    not just make the next check-in raise it again. ``note`` may use ``{phq9}``, ``{gad7}`` and
    ``{session}`` (the latest session's values).
    """

    after: int
    kind: str
    action: str  # "acknowledge" or "resolve"
    note: str
    instrument: str | None = None
    stale: bool = False


@dataclass(frozen=True)
class _Course:
    """Per-session targets for one client (index 0 = session 1)."""

    alliance: tuple[float, ...]
    phq9: tuple[int, ...]
    gad7: tuple[int, ...]
    attended: tuple[bool, ...]
    comments: dict[int, str] = field(default_factory=dict)
    fit: dict[int, str] = field(default_factory=dict)
    feedback: dict[int, int] = field(default_factory=dict)  # session → rating override
    handling: tuple[_Handling, ...] = ()


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _curve(
    start: float,
    end: float,
    n: int,
    rng: random.Random,
    noise: float,
    low: float,
    high: float,
    by: int = 10,
) -> list[float]:
    """A log-shaped path from ``start`` towards ``end`` (reached by session ``by``)."""
    out = []
    for s in range(1, n + 1):
        progress = min(1.0, math.log(s) / math.log(by))
        out.append(_clip(start + (end - start) * progress + rng.uniform(-noise, noise), low, high))
    return out


def _steady_alliance(start: float, end: float, n: int, rng: random.Random) -> list[float]:
    """Alliance that builds without dips big enough to look like a rupture."""
    values = _curve(start, end, n, rng, 0.12, 1.0, 5.0, by=8)
    for i in range(1, n):
        values[i] = max(values[i], values[i - 1] - 0.08)
    return values


def _sarah(rng: random.Random) -> _Course:
    n = 12
    return _Course(
        alliance=tuple(_steady_alliance(3.4, 4.6, n, rng)),
        phq9=tuple(round(v) for v in _curve(9, 4, n, rng, 0.8, 0, 27)),
        gad7=tuple(round(v) for v in _curve(16, 5, n, rng, 0.8, 0, 21)),
        attended=(True,) * n,
        comments={
            1: "I get anxious before every team meeting.",
            6: "The breathing before meetings really helps.",
        },
    )


def _john(rng: random.Random) -> _Course:
    alliance = [3.1, 3.3, 3.5, 3.6, 2.4, 3.4, 3.8, 4.0, 4.1, 4.3, 4.3, 4.4]
    phq = [19, 19, 18, 19, 20, 17, 15, 14, 12, 11, 10, 9]
    gad = [12, 12, 11, 12, 13, 11, 10, 9, 8, 8, 7, 7]
    return _Course(
        alliance=tuple(alliance),
        phq9=tuple(phq),
        gad7=tuple(gad),
        attended=(True,) * 12,
        comments={
            5: "Today felt like being told what to do. I don't think you heard me.",
            6: "Thank you for asking about last week. That mattered.",
        },
        fit={5: "not_sure"},
        feedback={5: 4},
        # The alliance alert of session 5 (the WAI-SR rupture, with the session rating's drop,
        # the dip counted as deterioration, his "not sure" about fit and the fit check as its
        # reasons) is left open on purpose: it is what the demo (and the browser test) shows a
        # therapist first. The outcome alert is closed once he is back in range.
        handling=(
            _Handling(
                8,
                "not_on_track",
                "resolve",
                "PHQ-9 {phq9} and GAD-7 {gad7} at session {session}: both back within the "
                "expected range.",
                stale=True,
            ),
        ),
    )


def _dana(rng: random.Random) -> _Course:
    n = 9
    return _Course(
        alliance=tuple(_steady_alliance(3.7, 4.1, n, rng)),
        phq9=tuple(round(_clip(18 + rng.uniform(-1, 1), 0, 27)) for _ in range(n)),
        gad7=tuple(round(_clip(11 + rng.uniform(-1, 1), 0, 21)) for _ in range(n)),
        attended=(True,) * n,
        # Her outcome alert (PHQ-9 and GAD-7 not on track) stays open: it is the story.
    )


def _other(rng: random.Random) -> _Course:
    n = rng.randint(6, 20)
    phq0 = rng.randint(8, 21)
    gad0 = rng.randint(6, 17)
    gain = rng.uniform(0.35, 0.7)
    attended = [rng.random() > 0.08 for _ in range(n)]
    attended[0] = attended[-1] = True
    for i in range(1, n):  # never two misses in a row: that alert is not this client's story
        if not attended[i] and not attended[i - 1]:
            attended[i] = True
    a0 = rng.uniform(3.3, 4.1)
    return _Course(
        alliance=tuple(_steady_alliance(a0, min(4.8, a0 + rng.uniform(0.2, 0.7)), n, rng)),
        phq9=tuple(round(v) for v in _curve(phq0, phq0 * (1 - gain), n, rng, 1.0, 0, 27)),
        gad7=tuple(round(v) for v in _curve(gad0, gad0 * (1 - gain), n, rng, 1.0, 0, 21)),
        attended=tuple(attended),
    )


def _spread(total: int, items: int, top: int, rng: random.Random) -> list[int]:
    """``items`` answers in 0..top (or 1..top for WAI) summing exactly to ``total``."""
    base, extra = divmod(total, items)
    answers = [min(base + (1 if i < extra else 0), top) for i in range(items)]
    rng.shuffle(answers)
    return answers


def _without_item_9(answers: list[int]) -> list[int]:
    """PHQ-9 answers with item 9 (thoughts of death or self-harm) at 0 and its points moved to
    items with room, keeping the total: any other answer raises the urgent risk alert, which
    no demo client is written to need. Uses no randomness, so the demo's draws are unchanged."""
    spare, answers = answers[-1], [*answers[:-1], 0]
    for index in range(len(answers) - 1):
        moved = min(3 - answers[index], spare)
        answers[index] += moved
        spare -= moved
    return answers


def _answers(course: _Course, index: int, rng: random.Random) -> dict[str, dict[str, object]]:
    wai_points = round(course.alliance[index] * 12)
    wai = _spread(wai_points, 12, 5, rng)
    phq = _without_item_9(_spread(course.phq9[index], 9, 3, rng))
    gad = _spread(course.gad7[index], 7, 3, rng)
    number = index + 1
    # Session feedback follows the alliance smoothly (no noise of its own, so it cannot fake a
    # rupture); clients tend to rate sessions high, hence the offset.
    rating = course.feedback.get(number, round(_clip(course.alliance[index] * 1.5 + 2.2, 0, 10)))
    feedback: dict[str, object] = {
        "sf_heard": rating,
        "sf_focus": rating,
        "sf_approach": rating,
        "sf_fit": course.fit.get(number, "yes"),
    }
    if number in course.comments:
        feedback["sf_comment"] = course.comments[number]
    return {
        "wai_sr": {f"wai_{i + 1}": v for i, v in enumerate(wai)},
        "phq9": {f"phq9_{i + 1}": v for i, v in enumerate(phq)},
        "gad7": {f"gad7_{i + 1}": v for i, v in enumerate(gad)},
        "session_feedback": feedback,
    }


def _play(
    ctx: ServiceContext,
    clock: _Clock,
    therapist: Actor,
    name: str,
    course: _Course,
    goal_texts: Sequence[str],
    rng: random.Random,
    end: datetime,
    referral: _Referral | None = None,
) -> int:
    """Create the client ``len(course)`` weeks before ``end`` (added by the therapist, or
    placed through the matching queue when there is a ``referral``) and live through the
    sessions."""
    n = len(course.attended)
    start = end - timedelta(weeks=n - 1, hours=rng.randint(0, 48))
    if referral is None:
        clock.now = start - timedelta(days=1)
        client, episode = clients.create_client(
            ctx, actor=therapist, display_name=name, started_at=clock.now
        )
        client_id, episode_id = client.id, episode.id
    else:
        clock.now = start - timedelta(days=4)
        client_id, episode_id = _arrive(ctx, clock, therapist, name, referral)
    if goal_texts:
        goals.agree_goals(ctx, actor=therapist, episode_id=episode_id, goals=goal_texts)
    goal_ids = [g.id for g in goals.list_goals(ctx, actor=therapist, episode_id=episode_id)]
    pending = list(course.handling)
    for index in range(n):
        clock.now = start + timedelta(weeks=index, minutes=rng.randint(0, 90))
        status = "attended" if course.attended[index] else "missed"
        session = sessions.schedule_session(
            ctx, actor=therapist, episode_id=episode_id, scheduled_at=clock.now, status=status
        )
        if status != "attended":
            continue
        link = checkins.create_checkin_link(
            ctx, actor=therapist, episode_id=episode_id, session_id=session.id
        )
        clock.now += timedelta(hours=rng.randint(1, 20))
        progress = index / max(n - 1, 1)
        ratings = {
            gid: round(_clip(2 + 7 * progress + rng.uniform(-1, 1), 0, 10)) for gid in goal_ids
        }
        checkins.record_check_in(ctx, link.token, _answers(course, index, rng), ratings)
        if pending:
            # The next working day; a fixed delay, so that the other clients' random courses
            # stay what they were before alerts were handled.
            clock.now += timedelta(hours=18)
            pending = _handle(ctx, therapist, client_id, course, index + 1, pending)
    return client_id


@dataclass(frozen=True)
class _Referral:
    """How a client came in through the matching queue: the admin who placed them and what
    they asked for (a modality only this therapist offers, so the proposal is theirs)."""

    admin: Actor
    modality: str
    concern: str


def _arrive(
    ctx: ServiceContext, clock: _Clock, therapist: Actor, name: str, referral: _Referral
) -> tuple[int, int]:
    """The client fills in the public intake form; next day the admin accepts the proposal,
    which creates the client and the episode. Returns their ids."""
    intake_id = matching.submit_intake(
        ctx,
        clinic_id=referral.admin.clinic_id,
        intake={
            "concerns": [referral.concern],
            "languages": ["english"],
            "preferences": [
                {"attribute": "modality", "values": [referral.modality], "importance": "must"}
            ],
            "consent": True,
        },
        contact_name=name,
    )
    clock.now += timedelta(days=1)
    decision = matching.decide(
        ctx, actor=referral.admin, intake_id=intake_id, therapist_id=therapist.user_id
    )
    if decision.decision != "accepted" or decision.client_id is None:
        raise RuntimeError(f"the demo expected {name} to be proposed to their therapist")
    assert decision.episode_id is not None
    return decision.client_id, decision.episode_id


def _handle(
    ctx: ServiceContext,
    therapist: Actor,
    client_id: int,
    course: _Course,
    number: int,
    pending: list[_Handling],
) -> list[_Handling]:
    """Do what is due after session ``number``; returns what is still to do."""
    due = [h for h in pending if h.after <= number]
    if not due:
        return pending
    current = alerts.list_client_alerts(
        ctx, actor=therapist, client_id=client_id, include_resolved=False
    )
    values = {
        "phq9": course.phq9[number - 1],
        "gad7": course.gad7[number - 1],
        "session": number,
    }
    left = [h for h in pending if h.after > number]
    for step in due:
        matches = [
            a
            for a in current
            if a.kind == step.kind
            and (step.instrument is None or a.evidence.get("instrument_id") == step.instrument)
            and (a.status == "open" or step.action == "resolve")
            and not (step.stale and (a.session_number or 0) >= number)
        ]
        if not matches:
            left.append(step)  # not raised (yet), or still firing: try after the next session
            continue
        act = alerts.acknowledge_alert if step.action == "acknowledge" else alerts.resolve_alert
        for alert in matches:
            act(ctx, actor=therapist, alert_id=alert.id, note=step.note.format(**values))
    return left


# Matching profiles (what the admin's matching queue works from), one per therapist; the
# supervisor sees no clients here, so has none.
PROFILES: dict[str, dict[str, object]] = {
    "Maya Chen": {
        "modalities": ["cbt", "act"],
        "styles": {"directive": 3, "collaborative": 1},
        "specialties": ["depression", "anxiety", "ocd", "stress"],
        "languages": ["english", "mandarin"],
        "age_groups": ["adult"],
        "modes": ["in_person", "video"],
        "location": "Riverside",
        "availability": ["mon 09:00-17:00", "wed 09:00-17:00", "thu 17:00-20:00"],
        "capacity": {"new_per_week": 2, "caseload_limit": 10},
        "fee": 90,
        "insurers": ["bupa", "axa"],
        "identity": {"gender": "woman"},
    },
    "Tom Okafor": {
        "modalities": ["person_centred", "psychodynamic"],
        "styles": {"supportive": 3, "collaborative": 1},
        "specialties": ["depression", "grief", "relationships", "self_esteem"],
        "languages": ["english", "yoruba"],
        "age_groups": ["adult", "older_adult"],
        "modes": ["in_person"],
        "location": "Riverside",
        "availability": ["tue 10:00-18:00", "fri 10:00-18:00"],
        "capacity": {"new_per_week": 1, "caseload_limit": 9},
        "fee": 75,
        "insurers": ["bupa"],
        "identity": {"gender": "man"},
    },
    "Lena Varga": {
        "modalities": ["integrative", "emdr", "cft"],
        "styles": {"collaborative": 3, "supportive": 2},
        "specialties": ["anxiety", "trauma", "work", "stress"],
        "languages": ["english", "spanish", "hungarian"],
        "age_groups": ["adolescent", "adult"],
        "modes": ["in_person", "video"],
        "location": "Riverside",
        "availability": ["mon 12:00-20:00", "thu 08:00-16:00"],
        "capacity": {"new_per_week": 2, "caseload_limit": 10},
        "fee": 85,
        "insurers": ["axa"],
        "identity": {"gender": "woman", "lgbtq_affirming": True},
    },
}

# The first this many of OTHER_CLIENTS came in through the intake form and the matching queue,
# so the clinic has a history to estimate therapists' strengths from.
MATCHED_CLIENTS = 12

# People waiting in the intake queue, oldest first: (days ago, name, e-mail, intake).
INTAKES: tuple[tuple[int, str, str | None, dict[str, object]], ...] = (
    (
        6,
        "Lucía R.",
        "lucia@example.org",
        {
            "concerns": ["anxiety", "work"],
            "languages": ["spanish", "english"],
            "preferences": [{"attribute": "language", "values": ["spanish"], "importance": "must"}],
            "modes": ["video"],
            "availability": ["mon 17:00-20:00", "thu 12:00-14:00"],
            "max_fee": 90,
            "consent": True,
        },
    ),
    (
        5,
        "Peter H.",
        None,
        {
            "concerns": ["grief", "depression"],
            "languages": ["english"],
            "preferences": [
                {"attribute": "style", "values": ["mostly listens"], "importance": "prefer"}
            ],
            "modes": ["in_person"],
            "availability": ["tue 14:00-18:00", "fri 09:00-12:00"],
            "age_group": "older_adult",
            "insurer": "bupa",
            "consent": True,
        },
    ),
    (
        4,
        "Sofia T.",
        "sofia.t@example.org",
        {
            "concerns": ["ocd", "anxiety"],
            "languages": ["english"],
            "preferences": [
                {"attribute": "style", "values": ["gives me structure"], "importance": "prefer"},
                {"attribute": "modality", "values": ["cbt"], "importance": "prefer"},
            ],
            "availability": ["mon 09:00-12:00", "thu 12:00-16:00"],
            "consent": True,
        },
    ),
    (
        3,
        "Karim B.",
        "karim@example.org",
        {
            # No therapist here speaks Arabic: he waits, and the queue says why.
            "concerns": ["trauma"],
            "languages": ["arabic"],
            "preferences": [{"attribute": "language", "values": ["arabic"], "importance": "must"}],
            "modes": ["in_person", "video"],
            "consent": True,
        },
    ),
    (
        1,
        "Alex M.",
        None,
        {
            "concerns": ["relationships", "self_esteem"],
            "languages": ["english"],
            "preferences": [
                {"attribute": "style", "values": ["works it out with me"], "importance": "prefer"},
                {"attribute": "lgbtq_affirming", "importance": "prefer"},
            ],
            "modes": ["video", "in_person"],
            "max_fee": 85,
            "consent": True,
        },
    ),
)


def _seed_queue(ctx: ServiceContext, clock: _Clock, clinic_id: int, now: datetime) -> None:
    """A few people waiting in the intake queue today, sent through the public intake form's
    service."""
    for days_ago, name, email, intake in INTAKES:
        clock.now = now - timedelta(days=days_ago, hours=3)
        matching.submit_intake(
            ctx, clinic_id=clinic_id, intake=intake, contact_name=name, contact_email=email
        )


def is_seeded(session_factory: SessionFactory) -> bool:
    with transaction(session_factory) as session:
        return bool(session.scalar(select(func.count(Clinic.id)).where(Clinic.name == CLINIC_NAME)))


def seed_demo(
    session_factory: SessionFactory, settings: Settings, *, now: datetime | None = None
) -> DemoInfo:
    """Seed the demo clinic into an upgraded database (or, when it is already there, just make
    a fresh client link). Refuses production mode."""
    return _seed_demo(session_factory, settings, now=now)


def _seed_demo(
    session_factory: SessionFactory, settings: Settings, *, now: datetime | None = None
) -> DemoInfo:
    if settings.mode == "production":
        raise RuntimeError("the demo clinic is for development mode only")
    real_now = now or datetime.now(UTC)
    if is_seeded(session_factory):
        return _info(session_factory, settings, real_now, created=False)
    clock = _Clock(real_now - timedelta(weeks=22))
    ctx = ServiceContext(
        session_factory=session_factory,
        settings=settings,
        cipher=FieldCipher.from_setting(settings.encryption_keys),
        clock=clock,
    )
    # Trajectory refits in the calling thread: the seeded alerts must not depend on when a
    # background refit happens to finish.
    with ctx.trajectories.refits_inline():
        rng = random.Random(SEED)
        clinic = admin.create_clinic(
            ctx,
            actor=system_actor(),
            name=CLINIC_NAME,
            # The stories' histories have every questionnaire at every session (their
            # charts and alerts are written session by session); from today the clinic
            # follows the default measurement plan (switched below).
            settings=ClinicSettings(
                show_client_progress=True,
                measurement_plan=every_session_plan(BUNDLED_CADENCES),
            ),
        )
        actors: dict[str, Actor] = {}
        supervisor_id: int | None = None
        for role, name, email, _desc in STAFF:
            user = auth.create_staff_user(
                ctx,
                actor=system_actor(),
                clinic_id=clinic.id,
                email=email,
                display_name=name,
                role=role,
                password=DEMO_PASSWORD,
                supervisor_id=supervisor_id if role == "therapist" else None,
            )
            if role == "supervisor":
                supervisor_id = user.id
            actors[name] = auth.actor_for_user(ctx, user.id)
            if role == "therapist":
                # Their one profile: what the team page shows and the matching queue works
                # from (set up before any client arrives).
                matching.save_profile(ctx, actor=actors[name], profile=PROFILES[name])
        maya, tom, lena = actors["Maya Chen"], actors["Tom Okafor"], actors["Lena Varga"]
        end = real_now - timedelta(days=2)
        story = {
            "Sarah": _play(
                ctx,
                clock,
                lena,
                "Sarah",
                _sarah(rng),
                ["Speak up in team meetings without panicking", "Leave work at work by 7 pm"],
                rng,
                end,
            ),
            "John": _play(
                ctx,
                clock,
                maya,
                "John",
                _john(rng),
                ["Get out of bed before 9 on weekdays", "See a friend once a week"],
                rng,
                end,
            ),
            "Dana": _play(ctx, clock, tom, "Dana", _dana(rng), ["Feel less flat"], rng, end),
        }
        therapists = (maya, tom, lena)
        names = ("Maya Chen", "Tom Okafor", "Lena Varga")
        for index, name in enumerate(OTHER_CLIENTS):
            therapist = therapists[index % 3]
            referral = None
            if index < MATCHED_CLIENTS:
                # Without the random generator, so that every course stays as it was.
                profile = PROFILES[names[index % 3]]
                offers, treats = profile["modalities"], profile["specialties"]
                assert isinstance(offers, list)
                assert isinstance(treats, list)
                referral = _Referral(actors["Ada Admin"], offers[0], treats[(index // 3) % 2])
            _play(
                ctx,
                clock,
                therapist,
                name,
                _other(rng),
                [],
                rng,
                end - timedelta(days=rng.randint(0, 3)),
                referral,
            )
        _seed_queue(ctx, clock, clinic.id, real_now)
        admin.update_clinic_settings(
            ctx,
            actor=actors["Ada Admin"],
            settings=ClinicSettings(
                show_client_progress=True,
                # Illustrative only: 01632 960xxx is a range reserved for fiction in the UK;
                # 112 reaches the emergency services across Europe (and the UK).
                crisis_contacts=(
                    CrisisContact(name="Riverside duty line (demo number)", phone="01632 960 123"),
                    CrisisContact(name="Emergency services", phone="112"),
                ),
            ),
        )
        info = _info(session_factory, settings, real_now, created=True)
        return DemoInfo(
            clinic_id=info.clinic_id,
            logins=info.logins,
            open_link_token=info.open_link_token,
            open_link_url=info.open_link_url,
            clients=story,
            created=True,
        )


def _info(
    session_factory: SessionFactory, settings: Settings, now: datetime, *, created: bool
) -> DemoInfo:
    """Logins and a fresh check-in link for Sarah (made now, so it is valid for a week)."""
    ctx = ServiceContext(
        session_factory=session_factory,
        settings=settings,
        cipher=FieldCipher.from_setting(settings.encryption_keys),
        clock=lambda: now,
    )
    with transaction(session_factory) as session:
        clinic_id = session.scalar(select(Clinic.id).where(Clinic.name == CLINIC_NAME))
        assert clinic_id is not None
        users = {
            u.email: u
            for u in session.scalars(select(StaffUser).where(StaffUser.clinic_id == clinic_id))
        }
        named = {
            c.display_name: c.id
            for c in session.scalars(
                select(Client).where(
                    Client.clinic_id == clinic_id,
                    Client.display_name.in_(("Sarah", "John", "Dana")),
                )
            )
        }
    logins = tuple(
        DemoLogin(role=role, name=name, email=email, password=DEMO_PASSWORD, description=desc)
        for role, name, email, desc in STAFF
        if email in users
    )
    lena = auth.actor_for_email(ctx, "lena@riverside.example")
    _client, episodes = clients.get_client(ctx, actor=lena, client_id=named["Sarah"])
    current = [e for e in episodes if e.ended_at is None][-1]
    link = checkins.create_checkin_link(ctx, actor=lena, episode_id=current.id)
    return DemoInfo(
        clinic_id=clinic_id,
        logins=logins,
        open_link_token=link.token,
        open_link_url=link.url,
        clients=named,
        created=created,
    )
