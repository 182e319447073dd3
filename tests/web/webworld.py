"""A small world for the web tests, built through the services (no demo data needed).

Two clinics. In clinic A: admin Ada, supervisor Sue, therapist Tom (in Sue's team), therapist
Tess (in no team). In clinic B: admin Bob and therapist Bea. Each therapist has one client with
an episode, two sessions, agreed goals and one open alert; Tom's client also has an unused
check-in link. Every test gets a fresh SQLite database.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from alliance.config import Settings
from alliance.measures.plan import BUNDLED_CADENCES, every_session_plan
from alliance.services import auth as auth_service
from alliance.services import checkins, clients, goals, sessions
from alliance.services.admin import create_clinic
from alliance.services.authz import Actor, system_actor
from alliance.services.clinic_settings import ClinicSettings, InstrumentChoice
from alliance.services.context import ServiceContext
from alliance.store.db import transaction
from alliance.store.migrations import upgrade
from alliance.store.models import Alert
from alliance.web.app import create_app

PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def create_schema(url: str) -> None:
    """The real migrations (the schema the app runs on in production)."""
    upgrade(url)


def test_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "password_hash_profile": "fast-insecure-tests",
        "base_url": "http://testserver",
        "link_rate_limit": 10_000,
        "login_rate_limit": 10_000,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Person:
    email: str
    user_id: int
    actor: Actor


@dataclass
class Case:
    """One client of one therapist, with the ids the routes need."""

    clinic_id: int
    client_id: int
    episode_id: int
    session_ids: list[int]
    alert_id: int
    link_token: str | None = None


@dataclass
class World:
    ctx: ServiceContext
    app: FastAPI
    people: dict[str, Person] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    counter: int = 0

    def client(self) -> TestClient:
        return TestClient(self.app)

    def login(self, who: str) -> TestClient:
        client = self.client()
        login(client, self.people[who].email)
        return client

    def token(self, who: str) -> str:
        _, token = auth_service.create_access_token(
            self.ctx, actor=self.people[who].actor, name=f"test {who}"
        )
        return token

    def new_link(self, case: str) -> str:
        """A fresh, unused check-in link for the case's client."""
        link = checkins.create_checkin_link(
            self.ctx, actor=self.people[case].actor, episode_id=self.cases[case].episode_id
        )
        return link.token

    def new_alert(self, case: str, *, risk: bool = False) -> int:
        """A fresh open alert on the case's episode (a rupture, or a risk answer)."""
        c = self.cases[case]
        return insert_alert(self.ctx, c.clinic_id, c.client_id, c.episode_id, "Client", risk=risk)

    def new_session(self, case: str, *, days: float = 1) -> int:
        """A fresh scheduled session on the case's episode, ``days`` from now (tomorrow; a
        negative number for one whose time has come, which can be marked attended)."""
        return sessions.schedule_session(
            self.ctx,
            actor=self.people[case].actor,
            episode_id=self.cases[case].episode_id,
            scheduled_at=self.ctx.now() + timedelta(days=days),
        ).id

    def new_user(self, clinic: str) -> int:
        """A fresh therapist account in clinic "a" or "b"."""
        admin = self.people["ada" if clinic == "a" else "bob"]
        self.counter += 1
        assert admin.actor.clinic_id is not None
        return _staff(
            self.ctx, admin.actor, admin.actor.clinic_id, f"extra{self.counter}", "therapist"
        ).user_id

    def new_client(self, case: str) -> int:
        """A fresh client (with an open episode) of the case's therapist."""
        self.counter += 1
        client, _ = clients.create_client(
            self.ctx, actor=self.people[case].actor, display_name=f"Extra {self.counter}"
        )
        return client.id

    def token_id(self, who: str) -> int:
        view, _ = auth_service.create_access_token(
            self.ctx, actor=self.people[who].actor, name=f"token of {who}"
        )
        return view.id


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    assert response.headers["location"] == "/caseload"


def _staff(
    ctx: ServiceContext,
    admin: Actor | None,
    clinic_id: int,
    key: str,
    role: str,
    supervisor_id: int | None = None,
) -> Person:
    email = f"{key}@clinic{clinic_id}.example"
    view = auth_service.create_staff_user(
        ctx,
        actor=admin or system_actor(clinic_id),
        clinic_id=clinic_id,
        email=email,
        display_name=key.capitalize(),
        role=role,
        password=PASSWORD,
        supervisor_id=supervisor_id,
    )
    return Person(email, view.id, auth_service.actor_for_user(ctx, view.id))


def _case(ctx: ServiceContext, admin: Actor, therapist: Person, name: str) -> Case:
    client, episode = clients.create_client(
        ctx,
        actor=admin,
        display_name=name,
        therapist_id=therapist.user_id,
        contact_email=f"{name.lower()}@example.org",
    )
    start = ctx.now() - timedelta(days=14)
    ids = [
        sessions.schedule_session(
            ctx,
            actor=therapist.actor,
            episode_id=episode.id,
            scheduled_at=start + timedelta(days=7 * i),
            status=status,
        ).id
        for i, status in enumerate(["attended", "scheduled"])
    ]
    goals.agree_goals(
        ctx, actor=therapist.actor, episode_id=episode.id, goals=["Sleep through the night"]
    )
    alert_id = insert_alert(ctx, client.clinic_id, client.id, episode.id, name)
    return Case(client.clinic_id, client.id, episode.id, ids, alert_id)


def insert_alert(
    ctx: ServiceContext,
    clinic_id: int,
    client_id: int,
    episode_id: int,
    name: str,
    *,
    risk: bool = False,
) -> int:
    """Alerts normally come from the monitoring rules; a fixed one keeps these tests about the
    web layer (a rupture, or with ``risk`` a risk answer)."""
    now = ctx.now()
    if risk:
        kind, reason = "risk_reported", f"{name} answered 1 to PHQ-9 item 9 at session 1."
        evidence: dict[str, object] = {"concern": "risk", "instrument_id": "phq9", "items": []}
    else:
        kind, reason = "rupture", f"{name}'s alliance fell from 4.5 to 2.5 between sessions."
        evidence = {"sessions": [1, 2], "scores": [4.5, 2.5]}
    with transaction(ctx.session_factory) as session:
        alert = Alert(
            clinic_id=clinic_id,
            client_id=client_id,
            episode_id=episode_id,
            kind=kind,
            severity="urgent",
            session_number=1,
            reason=reason,
            next_step="Acknowledge the strain and invite the client's view.",
            evidence=evidence,
            status="open",
            created_at=now,
            updated_at=now,
        )
        session.add(alert)
        session.flush()
        return alert.id


class Clock:
    """A clock the tests can move forward (idle sessions, expired links, TOTP steps)."""

    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def build_world(tmp_path: Path, clock: Clock | None = None, **overrides: object) -> World:
    settings = test_settings(tmp_path, **overrides)
    create_schema(settings.effective_database_url)
    ctx = ServiceContext.create(settings, clock=clock or Clock())
    choice = InstrumentChoice(
        alliance=("wai_sr",), outcome=("phq9",), feedback=("session_feedback",)
    )
    # Every questionnaire at every check-in (the default plan is tested on its own).
    clinic_settings = ClinicSettings(
        instruments=choice,
        show_client_progress=True,
        measurement_plan=every_session_plan(BUNDLED_CADENCES),
    )
    world = World(ctx=ctx, app=create_app(settings, context=ctx, warm_charts=False))
    for clinic_name, prefix in (("Clinic A", "a"), ("Clinic B", "b")):
        clinic = create_clinic(
            ctx, actor=system_actor(), name=clinic_name, settings=clinic_settings
        )
        if prefix == "a":
            ada = _staff(ctx, None, clinic.id, "ada", "admin")
            sue = _staff(ctx, ada.actor, clinic.id, "sue", "supervisor")
            tom = _staff(ctx, ada.actor, clinic.id, "tom", "therapist", supervisor_id=sue.user_id)
            tess = _staff(ctx, ada.actor, clinic.id, "tess", "therapist")
            world.people.update(ada=ada, sue=sue, tom=tom, tess=tess)
            world.cases["tom"] = _case(ctx, ada.actor, tom, "Tina")
            world.cases["tess"] = _case(ctx, ada.actor, tess, "Theo")
        else:
            bob = _staff(ctx, None, clinic.id, "bob", "admin")
            bea = _staff(ctx, bob.actor, clinic.id, "bea", "therapist")
            world.people.update(bob=bob, bea=bea)
            world.cases["bea"] = _case(ctx, bob.actor, bea, "Bill")
    for case in world.cases.values():
        case.link_token = None
    world.cases["tom"].link_token = world.new_link("tom")
    return world


def aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


RADIO_RE = re.compile(r'<input type="radio"[^>]*name="([^"]+)" value="([^"]*)"')
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
NUMBER_RE = re.compile(r'<input type="number"[^>]*name="([^"]+)"')


def full_answers(form_html: str, *, pick: str = "first") -> dict[str, str]:
    """Answer every radio question of a check-in page (the first or last option of each)."""
    answers: dict[str, list[str]] = {}
    for name, value in RADIO_RE.findall(form_html):
        answers.setdefault(name, []).append(value)
    chosen = {
        name: (values[0] if pick == "first" else values[-1]) for name, values in answers.items()
    }
    for name in NUMBER_RE.findall(form_html):
        chosen.setdefault(name, "1")
    for name, value in HIDDEN_RE.findall(form_html):
        chosen[name] = html.unescape(value)
    return chosen


class _FormReader(HTMLParser):
    """The fields one form submits as a browser would: text and number inputs, checked boxes
    and radios, each select's chosen option, textareas; submit buttons are left out."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._first_option: str | None = None
        self._chosen = False
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((name, a.get("value", "on")))
            elif kind not in ("submit", "button", "file"):
                self.fields.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._first_option, self._chosen = name, None, False
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in a and not self._chosen:
                self.fields.append((self._select, value))
                self._chosen = True
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            if not self._chosen and self._first_option is not None:
                self.fields.append((self._select, self._first_option))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # A browser drops one newline straight after the opening tag.
            self.fields.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def form_fields(page: str, action: str, **change: str | list[str]) -> dict[str, list[str]]:
    """What submitting the page's form with this ``action`` would send (``change`` replaces
    fields, as a person editing them would), shaped for ``TestClient.post(data=...)``."""
    reader = _FormReader(action)
    reader.feed(page)
    fields: dict[str, list[str]] = {}
    for name, value in reader.fields:
        fields.setdefault(name, []).append(value)
    for name, value in change.items():
        fields[name] = [value] if isinstance(value, str) else list(value)
    return fields
