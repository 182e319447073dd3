"""Crash safety: SIGKILL the real server while clients submit check-ins, restart, inspect.

The app runs as a separate ``uvicorn`` process on a free loopback port against a SQLite file
or a fresh PostgreSQL database. The database is prepared beforehand through the services (a
clinic, a therapist, clients with episodes and agreed goals, one check-in link per planned
submission). Worker threads then do what a client's browser does — GET the form (CSRF cookie
and token), POST the answers — and the server is killed with SIGKILL as soon as ``KILL_AFTER``
submissions have been acknowledged, so the kill lands while the other workers are mid-request
(no sleeps, no timing guesses).

After a restart the test checks, from the database:

* every acknowledged submission (200 with the thank-you page) is stored whole: check-in marked
  completed, one response per instrument holding exactly the posted answers, one score per
  response, one rating per agreed goal, and the ``submit`` audit event;
* every check-in not marked completed has nothing at all (no responses, scores, goal ratings
  or submit audit event), and every completed one is whole, whatever happened to its request;
* the restarted server still serves: health check, a fresh submission succeeds and is whole,
  and an acknowledged link refuses a second submission.
"""

from __future__ import annotations

import html
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from alliance.config import Settings
from alliance.measures.plan import BUNDLED_CADENCES, every_session_plan
from alliance.measures.registry import load_instrument
from alliance.services import admin, auth, checkins, clients, goals
from alliance.services.authz import system_actor
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.store.db import make_engine, sqlite_url, transaction
from alliance.store.migrations import upgrade
from alliance.store.models import AuditEvent, CheckIn, GoalRating, Response, Score
from app_process import start_app

pytestmark = pytest.mark.slow

CLIENTS = 12
LINKS_PER_CLIENT = 12  # 144 links: far more than the workers get through before the kill
WORKERS = 8
KILL_AFTER = 24  # acknowledged submissions before SIGKILL
LOAD_TIMEOUT_S = 60.0
STARTUP_TIMEOUT_S = 40.0
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


# --- preparing the database through the services --------------------------------------------


@dataclass(frozen=True)
class Link:
    token: str
    checkin_id: int
    goal_ids: tuple[int, ...]
    seq: int  # varies the answers so a mixed-up row would show


def _settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=database_url,
        data_dir=data_dir,
        password_hash_profile="fast-insecure-tests",
        link_rate_limit=1_000_000,  # every worker comes from 127.0.0.1
    )


def _prepare(settings: Settings) -> list[Link]:
    upgrade(settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        ctx = ServiceContext.create(settings, engine=engine)
        clinic = admin.create_clinic(
            ctx,
            actor=system_actor(),
            name="Crash test clinic",
            # Every questionnaire on every link: the submissions post all four.
            settings=ClinicSettings(measurement_plan=every_session_plan(BUNDLED_CADENCES)),
        )
        therapist = auth.create_staff_user(
            ctx,
            actor=system_actor(),
            clinic_id=clinic.id,
            email="therapist@crash.example",
            display_name="Thea",
            role="therapist",
            password="a long enough test password",
        )
        actor = auth.actor_for_user(ctx, therapist.id)
        links: list[Link] = []
        for c in range(CLIENTS):
            _client, episode = clients.create_client(ctx, actor=actor, display_name=f"Client {c}")
            agreed = goals.agree_goals(
                ctx, actor=actor, episode_id=episode.id, goals=["Sleep better", "Walk daily"]
            )
            goal_ids = tuple(g.id for g in agreed)
            for _ in range(LINKS_PER_CLIENT):
                link = checkins.create_checkin_link(ctx, actor=actor, episode_id=episode.id)
                links.append(Link(link.token, link.checkin.id, goal_ids, len(links)))
        # Interleave clients so concurrent workers hit different episodes as well as the same.
        return sorted(links, key=lambda link: (link.seq % LINKS_PER_CLIENT, link.seq))
    finally:
        engine.dispose()


INSTRUMENTS = ("wai_sr", "phq9", "gad7", "session_feedback")


def _answers(link: Link) -> dict[str, dict[str, str]]:
    """Per instrument, linkId → the posted value (a valid option chosen by ``seq``)."""
    out: dict[str, dict[str, str]] = {}
    for instrument_id in INSTRUMENTS:
        instrument = load_instrument(instrument_id, None)
        answers: dict[str, str] = {}
        for index, item in enumerate(instrument.items):
            if item.options:
                answers[item.link_id] = item.options[(link.seq + index) % len(item.options)].code
            elif item.type == "text":
                answers[item.link_id] = f"note {link.seq}"
        out[instrument_id] = answers
    return out


def _form_fields(link: Link, csrf: str) -> dict[str, str]:
    fields = {"csrf_token": csrf}
    for instrument_id, answers in _answers(link).items():
        for link_id, value in answers.items():
            fields[f"{instrument_id}/{link_id}"] = value
    for position, goal_id in enumerate(link.goal_ids):
        fields[f"goal/{goal_id}"] = str((link.seq + position) % 11)
    return fields


# --- the server process ---------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path


def _start_server(settings: Settings, log: Path) -> Server:
    env = {
        "ALLIANCE_DATABASE_URL": settings.effective_database_url,
        "ALLIANCE_DATA_DIR": str(settings.data_dir),
        "ALLIANCE_PASSWORD_HASH_PROFILE": settings.password_hash_profile,
        "ALLIANCE_LINK_RATE_LIMIT": str(settings.link_rate_limit),
        "ALLIANCE_MODE": "development",
    }
    process, base_url = start_app(env, log, timeout_s=STARTUP_TIMEOUT_S, start_new_session=True)
    return Server(process, base_url, log)


def _kill(server: Server) -> None:
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


# --- the load generator ---------------------------------------------------------------------


@dataclass
class Outcomes:
    acknowledged: set[int] = field(default_factory=set)
    in_flight: set[int] = field(default_factory=set)  # no reply: killed mid-request
    rejected: dict[int, str] = field(default_factory=dict)  # a reply that was not success
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


def _submit(client: httpx.Client, base_url: str, link: Link) -> httpx.Response:
    """One client's check-in as a browser makes it: open the form (CSRF cookie), then post
    the answers with every hidden field the form carries (CSRF token, signed manifest)."""
    page = client.get(f"{base_url}/c/{link.token}")
    if page.status_code != 200:
        return page
    hidden = {name: html.unescape(value) for name, value in HIDDEN_RE.findall(page.text)}
    assert "csrf_token" in hidden, "the check-in form has no csrf_token field"
    fields = {**_form_fields(link, hidden["csrf_token"]), **hidden}
    return client.post(f"{base_url}/c/{link.token}", data=fields)


def _acknowledged(reply: httpx.Response) -> bool:
    # The route answers a stored submission with 200 and the thank-you page (no redirect).
    return reply.status_code == 200 and "Thank you" in reply.text


def _worker(base_url: str, queue: list[Link], outcomes: Outcomes) -> None:
    with httpx.Client(timeout=20.0) as client:
        while not outcomes.stop.is_set():
            with outcomes.lock:
                if not queue:
                    return
                link = queue.pop(0)
            try:
                reply = _submit(client, base_url, link)
            except httpx.TransportError:
                with outcomes.lock:
                    outcomes.in_flight.add(link.checkin_id)
                return  # the server is gone
            with outcomes.lock:
                if _acknowledged(reply):
                    outcomes.acknowledged.add(link.checkin_id)
                    if len(outcomes.acknowledged) >= KILL_AFTER:
                        outcomes.enough.set()
                else:
                    outcomes.rejected[link.checkin_id] = f"{reply.status_code} {reply.text[:200]}"


# --- checking the database ------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    completed: bool
    responses: dict[str, dict[str, object]]  # instrument → stored answers
    scored: set[str]  # instruments with exactly one score for their response
    score_rows: int
    goal_ratings: dict[int, int]
    submit_audits: int


def _stored(settings: Settings) -> dict[int, Stored]:
    engine = make_engine(settings.effective_database_url)
    try:
        ctx = ServiceContext.create(settings, engine=engine)
        with transaction(ctx.session_factory) as session:
            checkin_rows = list(session.scalars(select(CheckIn)))
            responses = list(session.scalars(select(Response)))
            scores = list(session.scalars(select(Score)))
            ratings = list(session.scalars(select(GoalRating)))
            audits = list(
                session.scalars(
                    select(AuditEvent).where(
                        AuditEvent.entity_type == "checkin", AuditEvent.action == "write"
                    )
                )
            )
    finally:
        engine.dispose()
    scores_per_response: dict[int, int] = {}
    for score in scores:
        scores_per_response[score.response_id] = scores_per_response.get(score.response_id, 0) + 1
    result: dict[int, Stored] = {}
    for row in checkin_rows:
        mine = [r for r in responses if r.checkin_id == row.id]
        result[row.id] = Stored(
            completed=row.completed_at is not None,
            responses={r.instrument_id: dict(r.answers) for r in mine},
            scored={r.instrument_id for r in mine if scores_per_response.get(r.id) == 1},
            score_rows=sum(scores_per_response.get(r.id, 0) for r in mine),
            goal_ratings={g.goal_id: g.rating for g in ratings if g.checkin_id == row.id},
            submit_audits=sum(
                1
                for a in audits
                if a.entity_id == str(row.id) and (a.detail or {}).get("op") == "submit"
            ),
        )
    return result


def _whole_problems(link: Link, stored: Stored) -> list[str]:
    """What is missing or wrong in a completed check-in (empty when it is whole)."""
    problems: list[str] = []
    expected = _answers(link)
    if not stored.completed:
        problems.append("not marked completed")
    if set(stored.responses) != set(INSTRUMENTS):
        problems.append(f"responses for {sorted(stored.responses)}, expected {list(INSTRUMENTS)}")
    for instrument_id, answers in expected.items():
        got = stored.responses.get(instrument_id)
        if got is None:
            continue
        # Free text is stored encrypted; every other answer as posted.
        plain = {k: str(v) for k, v in got.items() if not k.startswith("sf_comment")}
        want = {k: v for k, v in answers.items() if not k.startswith("sf_comment")}
        if plain != want:
            problems.append(f"{instrument_id} answers {plain} differ from posted {want}")
    if stored.scored != set(INSTRUMENTS) or stored.score_rows != len(INSTRUMENTS):
        problems.append(f"scores for {sorted(stored.scored)} ({stored.score_rows} rows)")
    want_ratings = {g: (link.seq + i) % 11 for i, g in enumerate(link.goal_ids)}
    if stored.goal_ratings != want_ratings:
        problems.append(f"goal ratings {stored.goal_ratings}, expected {want_ratings}")
    if stored.submit_audits != 1:
        problems.append(f"{stored.submit_audits} submit audit events, expected 1")
    return problems


def _partial_problems(stored: Stored) -> list[str]:
    """Anything stored for a check-in that is not marked completed."""
    problems: list[str] = []
    if stored.responses:
        problems.append(f"responses {sorted(stored.responses)}")
    if stored.score_rows:
        problems.append(f"{stored.score_rows} scores")
    if stored.goal_ratings:
        problems.append(f"goal ratings {stored.goal_ratings}")
    if stored.submit_audits:
        problems.append(f"{stored.submit_audits} submit audit events")
    return problems


# --- the test -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "crash.sqlite3")
    else:
        yield str(request.getfixturevalue("postgres_database_url"))


def test_acknowledged_checkins_survive_sigkill_whole_and_nothing_partial_remains(
    database_url: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path)
    links = _prepare(settings)
    by_id = {link.checkin_id: link for link in links}
    log = tmp_path / "server.log"

    server = _start_server(settings, log)
    outcomes = Outcomes()
    queue = list(links)
    threads = [
        threading.Thread(target=_worker, args=(server.base_url, queue, outcomes), daemon=True)
        for _ in range(WORKERS)
    ]
    try:
        for thread in threads:
            thread.start()
        reached = outcomes.enough.wait(LOAD_TIMEOUT_S)
        _kill(server)  # SIGKILL: no shutdown handlers, no flush, no rollback
    finally:
        outcomes.stop.set()
        _kill(server)
        for thread in threads:
            thread.join(timeout=30)
    assert reached, f"only {len(outcomes.acknowledged)} acknowledged before the timeout"
    assert not outcomes.rejected, f"valid submissions were refused: {outcomes.rejected}"
    assert outcomes.in_flight, "the kill interrupted no request: it did not land mid-load"

    restarted = _start_server(settings, log)
    try:
        stored = _stored(settings)
        broken = {
            checkin_id: problems
            for checkin_id in outcomes.acknowledged
            if (problems := _whole_problems(by_id[checkin_id], stored[checkin_id]))
        }
        assert not broken, f"acknowledged submissions not stored whole: {broken}"
        for checkin_id, row in stored.items():
            if row.completed:
                problems = _whole_problems(by_id[checkin_id], row)
                assert not problems, f"completed check-in {checkin_id} is partial: {problems}"
            else:
                problems = _partial_problems(row)
                assert not problems, f"check-in {checkin_id} not completed but has {problems}"

        # The restarted server serves: health, a new submission, and single use still holds.
        assert httpx.get(restarted.base_url + "/healthz", timeout=10).status_code == 200
        untouched = [link for link in links if not stored[link.checkin_id].completed]
        fresh = untouched[-1]
        with httpx.Client(timeout=20.0) as client:
            assert _acknowledged(_submit(client, restarted.base_url, fresh))
        again_id = min(outcomes.acknowledged)
        with httpx.Client(timeout=20.0) as client:
            # A used link shows no form, so take a CSRF token from the (equally anonymous)
            # login page and post the same answers again.
            match = CSRF_RE.search(client.get(restarted.base_url + "/login").text)
            assert match is not None
            reuse = client.post(
                f"{restarted.base_url}/c/{by_id[again_id].token}",
                data=_form_fields(by_id[again_id], match.group(1)),
            )
        assert reuse.status_code == 410
        after = _stored(settings)
        assert not _whole_problems(fresh, after[fresh.checkin_id])
        assert after[again_id] == stored[again_id]
    finally:
        _kill(restarted)
