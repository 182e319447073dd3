"""Web benchmark: latency and throughput of the clinic app served by uvicorn on loopback.

The app runs as a separate ``uvicorn`` process (one worker, as ``alliance serve`` runs it)
against a temporary SQLite file, or a fresh database on a PostgreSQL server (``--postgres
URL``; the database is created and dropped again). One therapist gets ``--clients`` clients
with ``--sessions`` weekly sessions each, every session with a completed check-in (WAI-SR,
PHQ-9, GAD-7, session feedback, two goal ratings). Then, with threads + httpx as the load
generator and a warm-up before each measurement, it measures:

* check-in submission (POST of a whole form to ``/c/{token}``) at ``--concurrency`` clients,
  each client posting one fresh link after another;
* the therapist's caseload page (``/caseload``);
* a client page (``/clients/{id}``, rotating over the clients);

each beside ``/healthz`` (a trivial route of the same app: no database, no template) measured
at the same concurrency in the same run, and prints p50/p95 latency, throughput and the ratio
to ``/healthz``.

Seeding (``--seed``): ``bulk`` (default) writes the history straight into the real tables —
sessions, check-ins, responses scored by the measures engine, scores, goal ratings, submit
audit events — and then runs the monitoring rules once per episode through the services'
``monitor.refresh_alerts``, so alerts are the rules' real output; it takes seconds.
``services`` lives through every session with the same service calls the app makes
(``schedule_session``, ``create_checkin_link``, ``record_check_in``) — the most faithful data,
but minutes on a small machine. Clinic, therapist, clients, goals and the links used for the
measured submissions always go through the services.

Every row also shows the server's CPU per request (CPU time of the uvicorn process and its
workers over the run, read from ``/proc``, divided by the requests), and the one-at-a-time
submissions give the median server CPU of one submission. ``--scaling`` (PostgreSQL only) runs
the closed-loop submissions against ``uvicorn --workers 1`` and then ``--workers 2`` on the
same seeded database and prints the throughput ratio and the p95. Afterwards the app is also
run in the bench's own process for ``--sql-submissions`` form posts (the first uncounted), to
print the SQL statements per submission by kind.

    .venv/bin/python bench/bench_web.py
    .venv/bin/python bench/bench_web.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/bench_web.py --scaling \
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import html
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from alliance.config import Settings
from alliance.measures.plan import every_session_plan
from alliance.services import admin, auth, checkins, clients, episodes, goals, monitor, sessions
from alliance.services.auth import hash_secret
from alliance.services.authz import Actor, system_actor
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.store import audit
from alliance.store.db import make_engine, sqlite_url, transaction
from alliance.store.migrations import upgrade
from alliance.store.models import (
    CheckIn,
    Clinic,
    Episode,
    GoalRating,
    Response,
    Score,
    TherapySession,
)

INSTRUMENTS = ("wai_sr", "phq9", "gad7", "session_feedback")
EMAIL = "thea@bench.example"
PASSWORD = "bench password long enough"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
SEED = 20261122


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Course:
    """Per-session targets for one client (mean item level per instrument)."""

    alliance: list[float]  # WAI-SR item mean, 1..5
    phq9: list[float]  # item mean, 0..3
    gad7: list[float]
    attended: list[bool]


def _course(rng: random.Random, n: int) -> Course:
    a = rng.uniform(2.6, 4.0)
    p = rng.uniform(1.0, 2.4)
    g = rng.uniform(0.8, 2.2)
    gain = rng.uniform(0.0, 0.7)
    alliance, phq, gad = [], [], []
    for s in range(n):
        a = min(5.0, max(1.0, a + rng.uniform(-0.15, 0.2)))
        if rng.random() < 0.03:
            a = max(1.0, a - 1.0)  # an occasional rupture
        progress = gain * min(1.0, s / 12)
        alliance.append(a)
        phq.append(max(0.0, p * (1 - progress) + rng.uniform(-0.3, 0.3)))
        gad.append(max(0.0, g * (1 - progress) + rng.uniform(-0.3, 0.3)))
    attended = [rng.random() > 0.06 for _ in range(n)]
    attended[0] = attended[-1] = True
    return Course(alliance, phq, gad, attended)


def _items(level: float, count: int, low: int, high: int, rng: random.Random) -> list[str]:
    return [str(min(high, max(low, round(level + rng.uniform(-0.6, 0.6))))) for _ in range(count)]


def _answers(course: Course, index: int, rng: random.Random) -> dict[str, dict[str, str]]:
    rating = min(10, max(0, round(course.alliance[index] * 2 + rng.uniform(-1, 1))))
    feedback = {"sf_heard": str(rating), "sf_focus": str(rating), "sf_approach": str(rating)}
    feedback["sf_fit"] = "yes" if course.alliance[index] > 2.5 else "not_sure"
    if rng.random() < 0.2:
        feedback["sf_comment"] = "Today was useful; the homework felt like a lot."
    return {
        "wai_sr": dict(
            zip(
                (f"wai_{i}" for i in range(1, 13)),
                _items(course.alliance[index], 12, 1, 5, rng),
                strict=True,
            )
        ),
        "phq9": dict(
            zip(
                (f"phq9_{i}" for i in range(1, 10)),
                _items(course.phq9[index], 9, 0, 3, rng),
                strict=True,
            )
        ),
        "gad7": dict(
            zip(
                (f"gad7_{i}" for i in range(1, 8)),
                _items(course.gad7[index], 7, 0, 3, rng),
                strict=True,
            )
        ),
        "session_feedback": feedback,
    }


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass(frozen=True)
class Seeded:
    client_ids: list[int]
    episode_ids: list[int]
    goal_ids: dict[int, tuple[int, ...]]  # episode → goals
    actor: Actor
    seconds: float


def _seed(settings: Settings, n_clients: int, n_sessions: int, how: str) -> Seeded:
    engine = make_engine(settings.effective_database_url)
    try:
        real_now = datetime.now(UTC)
        clock = Clock(real_now - timedelta(weeks=n_sessions + 1))
        ctx = ServiceContext.create(settings, engine=engine, clock=clock)
        started = time.perf_counter()
        clinic = admin.create_clinic(ctx, actor=system_actor(), name="Bench clinic")
        # Every check-in asks all four questionnaires and the goals (the load this bench has
        # always measured), not the bundled plan's cadences, which skip some at most sessions.
        with transaction(ctx.session_factory) as session:
            row = session.get(Clinic, clinic.id)
            assert row is not None
            row.settings = (
                ClinicSettings.from_json(row.settings)
                .model_copy(update={"measurement_plan": every_session_plan(INSTRUMENTS)})
                .to_json()
            )
        user = auth.create_staff_user(
            ctx,
            actor=system_actor(),
            clinic_id=clinic.id,
            email=EMAIL,
            display_name="Thea Bench",
            role="therapist",
            password=PASSWORD,
        )
        actor = auth.actor_for_user(ctx, user.id)
        rng = random.Random(SEED)
        client_ids: list[int] = []
        episode_ids: list[int] = []
        goal_ids: dict[int, tuple[int, ...]] = {}
        for c in range(n_clients):
            clock.now = real_now - timedelta(weeks=n_sessions + 1, hours=c)
            client, episode = clients.create_client(
                ctx, actor=actor, display_name=f"Client {c:03d}", started_at=clock.now
            )
            agreed = goals.agree_goals(
                ctx, actor=actor, episode_id=episode.id, goals=["Sleep better", "Go out weekly"]
            )
            client_ids.append(client.id)
            episode_ids.append(episode.id)
            goal_ids[episode.id] = tuple(g.id for g in agreed)
            course = _course(rng, n_sessions)
            if how == "services":
                _live_through(ctx, clock, actor, episode.id, goal_ids[episode.id], course, rng)
            else:
                _bulk_history(ctx, clock.now, actor, episode.id, goal_ids[episode.id], course, rng)
        if how == "bulk":
            clock.now = real_now - timedelta(days=2)
            for episode_id in episode_ids:
                with transaction(ctx.session_factory) as session:
                    episode = session.get(Episode, episode_id)
                    assert episode is not None
                    monitor.refresh_alerts(session, ctx, actor, episode)
        return Seeded(
            client_ids, episode_ids, goal_ids, actor, seconds=time.perf_counter() - started
        )
    finally:
        engine.dispose()


def _live_through(
    ctx: ServiceContext,
    clock: Clock,
    actor: Actor,
    episode_id: int,
    goal_ids: tuple[int, ...],
    course: Course,
    rng: random.Random,
) -> None:
    start = clock.now + timedelta(days=1)
    for index, attended in enumerate(course.attended):
        clock.now = start + timedelta(weeks=index)
        status = "attended" if attended else "missed"
        therapy = sessions.schedule_session(
            ctx, actor=actor, episode_id=episode_id, scheduled_at=clock.now, status=status
        )
        if not attended:
            continue
        link = checkins.create_checkin_link(
            ctx, actor=actor, episode_id=episode_id, session_id=therapy.id
        )
        clock.now += timedelta(hours=3)
        ratings = {g: min(10, index // 3 + rng.randint(0, 2)) for g in goal_ids}
        checkins.record_check_in(ctx, link.token, _answers(course, index, rng), ratings)


def _bulk_history(
    ctx: ServiceContext,
    episode_start: datetime,
    actor: Actor,
    episode_id: int,
    goal_ids: tuple[int, ...],
    course: Course,
    rng: random.Random,
) -> None:
    """The rows ``record_check_in`` writes for every session of one episode, in one
    transaction with one flush per table (ids come back in bulk)."""
    instruments = [episodes.instrument(ctx, i) for i in INSTRUMENTS]
    with transaction(ctx.session_factory) as session:
        therapy_rows = [
            TherapySession(
                episode_id=episode_id,
                number=index + 1,
                scheduled_at=episode_start + timedelta(days=1, weeks=index),
                status="attended" if attended else "missed",
            )
            for index, attended in enumerate(course.attended)
        ]
        session.add_all(therapy_rows)
        session.flush()
        attended_rows = [(i, t) for i, t in enumerate(therapy_rows) if t.status == "attended"]
        checkin_rows = [
            CheckIn(
                episode_id=episode_id,
                session_id=therapy.id,
                instruments=list(INSTRUMENTS),
                token_hash=hash_secret(uuid.uuid4().hex),
                created_by=actor.user_id,
                created_at=therapy.scheduled_at,
                expires_at=therapy.scheduled_at + timedelta(days=7),
                opened_at=therapy.scheduled_at + timedelta(hours=3),
                completed_at=therapy.scheduled_at + timedelta(hours=3),
                sent_via="copy",
            )
            for _index, therapy in attended_rows
        ]
        session.add_all(checkin_rows)
        session.flush()
        pending: list[tuple[Response, Any, int, datetime]] = []
        for (index, therapy), checkin in zip(attended_rows, checkin_rows, strict=True):
            at = therapy.scheduled_at + timedelta(hours=3)
            answers = _answers(course, index, rng)
            for instrument in instruments:
                given = answers[instrument.id]
                stored = {
                    k: (
                        ctx.cipher.encrypt(v, field=episodes.answer_field(instrument.id, k))
                        if instrument.item(k).type == "text"
                        else v
                    )
                    for k, v in given.items()
                }
                response = Response(
                    checkin_id=checkin.id,
                    instrument_id=instrument.id,
                    answers=stored,
                    created_at=at,
                )
                pending.append((response, episodes.score(instrument, given), therapy.number, at))
            for goal_id in goal_ids:
                session.add(
                    GoalRating(
                        goal_id=goal_id,
                        checkin_id=checkin.id,
                        rating=min(10, index // 3 + rng.randint(0, 2)),
                        rated_at=at,
                    )
                )
            audit.append(
                session,
                at=at,
                actor_type="client_link",
                actor_id=checkin.id,
                clinic_id=actor.clinic_id,
                action="write",
                entity_type="checkin",
                entity_id=checkin.id,
                detail={"op": "submit", "instruments": list(INSTRUMENTS), "goal_ratings": 2},
            )
        session.add_all([response for response, *_ in pending])
        session.flush()
        session.add_all(
            Score(
                response_id=response.id,
                episode_id=episode_id,
                instrument_id=response.instrument_id,
                session_number=number,
                total=result.total,
                subscales=dict(result.subscales),
                band=result.band,
                valid=result.valid,
                scored_at=at,
            )
            for response, result, number, at in pending
        )


def _links(settings: Settings, seeded: Seeded, count: int) -> list[tuple[str, int]]:
    """``count`` fresh check-in links round-robin over the episodes (via the service)."""
    engine = make_engine(settings.effective_database_url)
    try:
        ctx = ServiceContext.create(settings, engine=engine)
        out = []
        for i in range(count):
            episode_id = seeded.episode_ids[i % len(seeded.episode_ids)]
            link = checkins.create_checkin_link(ctx, actor=seeded.actor, episode_id=episode_id)
            out.append((link.token, episode_id))
        return out
    finally:
        engine.dispose()


def _submission_form(goal_ids: tuple[int, ...], rng: random.Random, csrf: str) -> dict[str, str]:
    course = _course(rng, 1)
    fields = {"csrf_token": csrf}
    for instrument_id, answers in _answers(course, 0, rng).items():
        for link_id, value in answers.items():
            fields[f"{instrument_id}/{link_id}"] = value
    for goal_id in goal_ids:
        fields[f"goal/{goal_id}"] = str(rng.randint(0, 10))
    return fields


# --- server ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerCPU:
    """CPU time (user + system) of the server: the uvicorn process and, with ``--workers``,
    its worker processes — read from ``/proc``, so it is the server's time, not the load
    generator's (Linux only).

    :meth:`seconds` is per process (``/proc/PID/stat``, threads that have exited included;
    10 ms granularity), for totals over a run. :meth:`precise` sums the nanosecond run times of
    the live threads (``/proc/PID/task/*/schedstat``), for the cost of one request.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.pids = [root]
        self._tick = os.sysconf("SC_CLK_TCK")

    def find_workers(self) -> None:
        """Add the processes started by the server (uvicorn's ``--workers``)."""
        children: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.root:
                children.add(int(entry.name))
        self.pids = [self.root, *sorted(children)]

    def wait_for_workers(self, workers: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.find_workers()
            if len(self.pids) > workers or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # short-lived helpers of the start-up gone, then look again
        self.find_workers()

    def seconds(self) -> float:
        total = 0
        for pid in list(self.pids):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:  # a helper process that has exited
                self.pids.remove(pid)
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / self._tick

    def precise(self) -> float:
        total = 0
        for pid in self.pids:
            for task in Path(f"/proc/{pid}/task").iterdir():
                try:
                    total += int((task / "schedstat").read_text().split()[0])
                except (OSError, IndexError, ValueError):
                    continue  # a thread that has just exited
        return total / 1e9


@dataclass(frozen=True)
class Server:
    base: str
    cpu: ServerCPU


@contextmanager
def serve(env: dict[str, str], log: Path, workers: int = 1) -> Iterator[Server]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "alliance.web.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if workers > 1:
        command += ["--workers", str(workers)]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not start within 300 s")
            time.sleep(0.1)
        cpu = ServerCPU(process.pid)
        if workers > 1:
            cpu.wait_for_workers(workers)
        yield Server(base, cpu)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- load generator -------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    name: str
    concurrency: int
    latencies: list[float]  # seconds
    wall: float
    failures: list[str]
    cpu: float | None = None  # server CPU seconds during the run
    request_cpu: tuple[float, ...] = ()  # server CPU seconds of each request (concurrency 1)

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request, in ms (all of the server's CPU during the run / requests)."""
        if self.cpu is None or not self.latencies:
            return float("nan")
        return self.cpu / len(self.latencies) * 1000

    @property
    def median_request_cpu_ms(self) -> float:
        data = sorted(self.request_cpu)
        return data[len(data) // 2] * 1000 if data else float("nan")

    def pct(self, q: float) -> float:
        data = sorted(self.latencies)
        if not data:
            return float("nan")
        position = q * (len(data) - 1)
        low = int(position)
        high = min(low + 1, len(data) - 1)
        return data[low] + (data[high] - data[low]) * (position - low)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall if self.wall > 0 else float("nan")


Request = Callable[[httpx.Client, int], bool]  # (client, request number) → success


def run_load(
    name: str,
    make_client: Callable[[], httpx.Client],
    request: Request,
    total: int,
    concurrency: int,
    rate: float | None = None,
    cpu: ServerCPU | None = None,
) -> Result:
    """``total`` requests from ``concurrency`` threads, each with its own keep-alive client.

    Closed loop by default (each thread sends its next request as soon as the last one is
    answered). With ``rate``, request *n* is due at ``start + n / rate`` (open loop) and its
    latency counts from when it was due, so time spent waiting for a free thread counts too.
    With ``cpu``, the server's CPU time over the run is taken too, and at concurrency 1 also
    each request's (the only one in flight, so the server's CPU meanwhile is its cost).
    """
    per_request = cpu is not None and concurrency == 1 and rate is None
    request_cpu: list[float] = []
    counter = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    barrier = threading.Barrier(concurrency + 1)

    def worker() -> None:
        with make_client() as client:
            barrier.wait()
            while True:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                start = time.perf_counter()
                if rate is not None:
                    due = started + number / rate
                    if due > start:
                        time.sleep(due - start)
                    start = due
                before = cpu.precise() if per_request and cpu is not None else 0.0
                try:
                    ok, error = request(client, number), ""
                except httpx.HTTPError as exc:  # counted and shown, never a dead worker
                    ok, error = False, f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - start
                if per_request and cpu is not None:
                    request_cpu.append(cpu.precise() - before)
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        failures.append(error or f"request {number} did not succeed")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    # Read by the workers only after the barrier; open-loop runs leave them time to line up.
    started = time.perf_counter() + (0.05 if rate is not None else 0.0)
    cpu_before = cpu.seconds() if cpu is not None else 0.0
    barrier.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    used = cpu.seconds() - cpu_before if cpu is not None else None
    return Result(name, concurrency, latencies, wall, failures, used, tuple(request_cpu))


# --- main -----------------------------------------------------------------------------------


def _login(base: str) -> httpx.Cookies:
    with httpx.Client(base_url=base, timeout=60) as client:
        csrf = CSRF_RE.search(client.get("/login").text)
        assert csrf is not None
        reply = client.post(
            "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf.group(1)}
        )
        if reply.status_code != 303 or reply.headers.get("location") != "/caseload":
            raise SystemExit(f"login failed: {reply.status_code} {reply.text[:300]}")
        return client.cookies


def _anonymous_csrf(client: httpx.Client) -> str:
    """The CSRF token of this cookie jar for anonymous forms (check-in pages included)."""
    match = CSRF_RE.search(client.get("/login").text)
    assert match is not None
    return match.group(1)


@contextmanager
def _database(postgres: str | None, workdir: Path) -> Iterator[str]:
    if postgres is None:
        yield sqlite_url(workdir / "bench.sqlite3")
        return
    import psycopg

    name = f"alliance_bench_{uuid.uuid4().hex[:10]}"
    admin_dsn = postgres.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _row(result: Result, baseline: Result | None) -> str:
    p50, p95 = result.pct(0.5) * 1000, result.pct(0.95) * 1000
    ratio = ""
    if baseline is not None:
        ratio = (
            f"{p50 / (baseline.pct(0.5) * 1000):6.1f}× {p95 / (baseline.pct(0.95) * 1000):6.1f}×"
        )
    cpu = f"{result.cpu_ms:>7.1f}" if result.cpu is not None else f"{'':>7}"
    return (
        f"{result.name:<34} {result.concurrency:>4} {len(result.latencies):>5} "
        f"{p50:>7.1f} {p95:>7.1f} {result.pct(1.0) * 1000:>7.0f} {result.throughput:>7.1f} "
        f"{len(result.failures):>4} {cpu}  {ratio}"
    )


HEADER = (
    f"{'scenario':<34} {'conc':>4} {'reqs':>5} {'p50 ms':>7} {'p95 ms':>7} "
    f"{'max ms':>7} {'req/s':>7} {'fail':>4} {'CPU ms':>7}  {'p50 / p95 vs /healthz'}"
)


def _open_forms(
    base: str, links: list[tuple[str, int]], seeded: Seeded, seed: int
) -> tuple[httpx.Cookies, list[tuple[str, dict[str, str]]]]:
    """Every link's form opened (GET, untimed) as a browser would, and the POST body built
    from its hidden fields (CSRF token, signed list of required questions), all answers and the
    goal ratings. Every submitter shares one anonymous cookie jar (the CSRF seed)."""
    with httpx.Client(base_url=base, timeout=60) as first:
        _anonymous_csrf(first)
        cookies = first.cookies
    hidden: dict[str, dict[str, str]] = {}

    def open_form(client: httpx.Client, n: int) -> bool:
        token = links[n][0]
        page = client.get(f"/c/{token}")
        hidden[token] = {name: html.unescape(value) for name, value in HIDDEN_RE.findall(page.text)}
        return page.status_code == 200 and "csrf_token" in hidden[token]

    def submitter() -> httpx.Client:
        return httpx.Client(base_url=base, timeout=60, cookies=cookies)

    opened = run_load("open forms", submitter, open_form, len(links), 4)
    if opened.failures:
        raise SystemExit(f"could not open the check-in forms: {opened.failures[0]}")
    rng = random.Random(seed)
    posts = [
        (token, {**_submission_form(seeded.goal_ids[episode_id], rng, ""), **hidden[token]})
        for token, episode_id in links
    ]
    return cookies, posts


def _submit_request(posts: list[tuple[str, dict[str, str]]], offset: int) -> Request:
    def submit(client: httpx.Client, n: int) -> bool:
        token, form = posts[offset + n]
        reply = client.post(f"/c/{token}", data=form)
        return reply.status_code == 200 and "Thank you" in reply.text

    return submit


def _settings_and_env(url: str, workdir: Path) -> tuple[Settings, dict[str, str]]:
    settings = Settings(  # type: ignore[call-arg]
        database_url=url,
        data_dir=workdir,
        secret_key="bench-" + uuid.uuid4().hex * 2,
        link_rate_limit=10_000_000,  # every simulated client comes from 127.0.0.1
        login_rate_limit=1000,
    )
    env = {
        "ALLIANCE_DATABASE_URL": url,
        "ALLIANCE_DATA_DIR": str(workdir),
        "ALLIANCE_SECRET_KEY": settings.secret_key,
        "ALLIANCE_LINK_RATE_LIMIT": str(settings.link_rate_limit),
        "ALLIANCE_LOGIN_RATE_LIMIT": str(settings.login_rate_limit),
    }
    return settings, env


def _machine_line(backend: str, workers: str) -> str:
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; database: {backend}; server: {workers}"
    )


def scaling(args: argparse.Namespace) -> int:
    """``--scaling``: closed-loop check-in submissions on PostgreSQL with one uvicorn worker and
    then two, against the same seeded database, and the ratio of their throughputs."""
    counts = (1, 2)
    with (
        tempfile.TemporaryDirectory(prefix="alliance-bench-") as tmp,
        _database(args.postgres, Path(tmp)) as url,
    ):
        workdir = Path(tmp)
        settings, env = _settings_and_env(url, workdir)
        upgrade(url)
        seeded = _seed(settings, args.clients, args.sessions, args.seed)
        per_run = args.warmup + args.single + args.submissions
        links = _links(settings, seeded, per_run * len(counts))
        print(_machine_line("PostgreSQL", "uvicorn --workers 1, then --workers 2"))
        print(
            f"data: 1 therapist, {args.clients} clients x {args.sessions} sessions, seeded via "
            f"{args.seed} in {seeded.seconds:.1f} s; {len(links)} links"
        )
        results: dict[int, tuple[Result, Result, Result]] = {}
        for index, workers in enumerate(counts):
            mine = links[index * per_run : (index + 1) * per_run]
            with serve(env, workdir / f"server-{workers}.log", workers) as server:
                cookies, posts = _open_forms(server.base, mine, seeded, SEED + 1 + index)

                def submitter(
                    jar: httpx.Cookies = cookies, base: str = server.base
                ) -> httpx.Client:
                    return httpx.Client(base_url=base, timeout=60, cookies=jar)

                # Enough warm-up for every worker to have fitted its trajectory models.
                run_load(
                    "warm-up", submitter, _submit_request(posts, 0), args.warmup, args.concurrency
                )
                one = run_load(
                    "check-in submit, one client",
                    submitter,
                    _submit_request(posts, args.warmup),
                    args.single,
                    1,
                    cpu=server.cpu,
                )
                loop = run_load(
                    "check-in submit (POST /c/{token})",
                    submitter,
                    _submit_request(posts, args.warmup + args.single),
                    args.submissions,
                    args.concurrency,
                    cpu=server.cpu,
                )
                health = run_load(
                    "/healthz",
                    submitter,
                    lambda client, _n: client.get("/healthz").status_code == 200,
                    args.submissions,
                    args.concurrency,
                    cpu=server.cpu,
                )
                results[workers] = (one, loop, health)
        load = os.getloadavg()[0]
        print()
        print(f"{'workers':<8} {HEADER}")
        for workers, rows in results.items():
            for row in rows:
                print(f"{workers:<8} {_row(row, None)}")
        one_loop, two_loop = results[1][1], results[2][1]
        ratio = two_loop.throughput / one_loop.throughput
        p95 = two_loop.pct(0.95) * 1000
        print(f"\nload average (1 min) at the end: {load:.1f}")
        print(
            "median server CPU per submission (one client): "
            + ", ".join(
                f"{w} worker{'s' if w > 1 else ''} {r[0].median_request_cpu_ms:.1f} ms"
                for w, r in results.items()
            )
        )
        print(
            f"aims: throughput 2 workers / 1 worker at {args.concurrency} closed-loop clients "
            f"{ratio:.2f}x (aim >= 1.7x: {'met' if ratio >= 1.7 else 'not met'}); p95 with 2 "
            f"workers {p95:.0f} ms (aim < 150 ms: {'met' if p95 < 150 else 'not met'})"
        )
        failed = [
            (w, r.name, r.failures) for w, rows in results.items() for r in rows if r.failures
        ]
        for workers, name, failures in failed:
            print(f"FAILED {len(failures)} x {name} ({workers} workers): {failures[0]}")
        return 1 if failed else 0


def _sql_per_submission(
    settings: Settings, seeded: Seeded, links: list[tuple[str, int]]
) -> tuple[float, dict[str, float]]:
    """SQL statements the server runs per check-in submission: the app in this process
    (Starlette's test client, same settings and database), each link's form opened first as
    in the HTTP runs, and only the statements of the POSTs counted (an engine event; an
    ``executemany`` counts once, as it is one round trip). Returns the mean per submission
    and the mean per kind of statement (the first word: SELECT, INSERT, …)."""
    from collections import Counter

    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from starlette.testclient import TestClient

    from alliance.web.app import create_app

    counting = [False]
    kinds: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if counting[0]:
            kinds[statement.split(None, 1)[0].upper()] += 1

    event.listen(Engine, "before_cursor_execute", count)
    rng = random.Random(SEED + 3)
    # Not entered as a context manager: no lifespan, so no background worker (research
    # exports, delivery) runs statements of its own while the POSTs are counted.
    client = TestClient(create_app(settings, warm_charts=False))
    try:
        _anonymous_csrf(client)
        for number, (token, episode_id) in enumerate(links):
            page = client.get(f"/c/{token}")
            hidden = {k: html.unescape(v) for k, v in HIDDEN_RE.findall(page.text)}
            form = {**_submission_form(seeded.goal_ids[episode_id], rng, ""), **hidden}
            counting[0] = number > 0  # the first one fits this process's trajectory models
            reply = client.post(f"/c/{token}", data=form)
            counting[0] = False
            if reply.status_code != 200 or "Thank you" not in reply.text:
                raise SystemExit(f"in-process submission failed: {reply.status_code}")
    finally:
        client.close()
        event.remove(Engine, "before_cursor_execute", count)
    n = len(links) - 1
    return sum(kinds.values()) / n, {k: v / n for k, v in sorted(kinds.items())}


def _profile(settings: Settings, seeded: Seeded, links: list[tuple[str, int]], n: int) -> None:
    """Where the time goes, in process (no HTTP): the caseload service, the client page's
    service + figures, and ``record_check_in`` — each ``n`` times under cProfile, timed by
    CPU time (``time.process_time``) rather than the wall clock of a shared machine."""
    import cProfile
    import io
    import pstats

    from alliance.services import timelines
    from alliance.web.figures import timeline_figures
    from alliance.web.forms import parse_answers

    engine = make_engine(settings.effective_database_url)
    ctx = ServiceContext.create(settings, engine=engine)
    rng = random.Random(SEED + 2)
    todo = iter(links)

    def caseload(_i: int) -> None:
        timelines.caseload(ctx, actor=seeded.actor)

    def client_page(i: int) -> None:
        client_id = seeded.client_ids[i % len(seeded.client_ids)]
        timeline_figures(timelines.client_timeline(ctx, actor=seeded.actor, client_id=client_id))

    def submit(_i: int) -> None:
        token, episode_id = next(todo)
        parsed = parse_answers(_submission_form(seeded.goal_ids[episode_id], rng, "").items())
        checkins.record_check_in(ctx, token, parsed.instruments, parsed.goals)

    try:
        for name, func in (
            ("caseload service", caseload),
            ("client page: timeline service + figures", client_page),
            ("record_check_in", submit),
        ):
            func(0)  # warm caches (trajectory fit, instrument files)
            # Unprofiled first: the profiler's own overhead would inflate the figure.
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(1, n + 1):
                func(i)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(
                f"\n### profile: {name} — {wall / n * 1000:.1f} ms wall, "
                f"{cpu / n * 1000:.1f} ms CPU per call (n = {n}, unprofiled)"
            )
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for i in range(n + 1, 2 * n + 1):
                func(i)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(r"alliance", 25)
            stats.sort_stats("tottime").print_stats(15)
            print(out.getvalue())
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="PostgreSQL server URL (a fresh database is created on it and dropped afterwards)",
    )
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--seed", choices=("bulk", "services"), default="bulk")
    parser.add_argument("--concurrency", type=int, default=20, help="check-in submitters")
    parser.add_argument("--submissions", type=int, default=400, help="measured at --concurrency")
    parser.add_argument("--single", type=int, default=50, help="submissions measured one by one")
    parser.add_argument(
        "--rate",
        type=float,
        default=5.0,
        help="also submit at this many per second from --concurrency clients (open loop)",
    )
    parser.add_argument("--open-submissions", type=int, default=100)
    parser.add_argument("--page-concurrency", type=int, default=1)
    parser.add_argument("--page-requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20, help="requests before each measure")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (alliance serve runs 1)"
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="with --postgres: check-in submissions with 1 and then 2 uvicorn workers, and the "
        "throughput ratio",
    )
    parser.add_argument(
        "--sql-submissions",
        type=int,
        default=11,
        metavar="N",
        help="afterwards, count the SQL statements of N submissions (the first one uncounted) "
        "with the app in process; 0: do not",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="afterwards, profile N calls of each service path in process (cProfile, CPU time)",
    )
    args = parser.parse_args(argv)
    if args.scaling:
        if not args.postgres:
            parser.error("--scaling needs --postgres URL")
        return scaling(args)

    with (
        tempfile.TemporaryDirectory(prefix="alliance-bench-") as tmp,
        _database(args.postgres, Path(tmp)) as url,
    ):
        workdir = Path(tmp)
        settings, env = _settings_and_env(url, workdir)
        upgrade(url)
        seeded = _seed(settings, args.clients, args.sessions, args.seed)
        link_count = args.warmup + args.single + args.open_submissions + args.submissions
        started = time.perf_counter()
        extra = args.sql_submissions + (2 * args.profile + 1 if args.profile else 0)
        links = _links(settings, seeded, link_count + extra)
        link_seconds = time.perf_counter() - started
        backend = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=FULL)"
        print(
            _machine_line(
                backend, f"{args.workers} uvicorn worker{'s' if args.workers > 1 else ''}"
            )
        )
        print(
            f"data: 1 therapist, {args.clients} clients x {args.sessions} sessions "
            f"(4 instruments + 2 goal ratings per check-in), seeded via {args.seed} in "
            f"{seeded.seconds:.1f} s; {len(links)} links via create_checkin_link in "
            f"{link_seconds:.1f} s"
        )
        results: list[tuple[Result, Result | None]] = []
        with serve(env, workdir / "server.log", args.workers) as server:
            base = server.base
            cookies = _login(base)

            def anonymous() -> httpx.Client:
                return httpx.Client(base_url=base, timeout=60)

            def staff() -> httpx.Client:
                return httpx.Client(base_url=base, timeout=60, cookies=cookies)

            def healthz(client: httpx.Client, _n: int) -> bool:
                return client.get("/healthz").status_code == 200

            def caseload(client: httpx.Client, _n: int) -> bool:
                reply = client.get("/caseload")
                return reply.status_code == 200 and "Client 0" in reply.text

            def client_page(client: httpx.Client, n: int) -> bool:
                client_id = seeded.client_ids[n % len(seeded.client_ids)]
                return client.get(f"/clients/{client_id}").status_code == 200

            def measure(
                name: str, make: Callable[[], httpx.Client], request: Request, n: int, conc: int
            ) -> None:
                """``/healthz`` then the scenario, at the same concurrency, after a warm-up."""
                run_load("warm-up", anonymous, healthz, args.warmup, conc)
                baseline = run_load("/healthz", anonymous, healthz, n, conc, cpu=server.cpu)
                results.append((baseline, None))
                results.append((run_load(name, make, request, n, conc, cpu=server.cpu), baseline))

            # Pages first, so they see exactly the seeded history.
            pc = args.page_concurrency
            run_load("warm-up", staff, caseload, args.warmup, pc)
            measure(f"caseload ({args.clients} clients)", staff, caseload, args.page_requests, pc)
            # Warm up on one client only (the last one measured): charts are cached by their
            # data, so the measured requests are almost all first views of a client.
            last = len(seeded.client_ids) - 1

            def last_client_page(client: httpx.Client, _n: int) -> bool:
                return client_page(client, last)

            run_load("warm-up", staff, last_client_page, args.warmup, pc)
            measure(
                f"client page ({args.sessions} sessions)",
                staff,
                client_page,
                args.page_requests,
                pc,
            )

            anon_cookies, posts = _open_forms(base, links[:link_count], seeded, SEED + 1)

            def submitter() -> httpx.Client:
                return httpx.Client(base_url=base, timeout=60, cookies=anon_cookies)

            used = [0]

            def submissions(count: int) -> Request:
                """Requests over the next ``count`` unused links."""
                offset = used[0]
                used[0] += count
                return _submit_request(posts, offset)

            run_load("warm-up", submitter, submissions(args.warmup), args.warmup, args.concurrency)
            measure(
                "check-in submit, one client", submitter, submissions(args.single), args.single, 1
            )
            measure_open = f"check-in submit at {args.rate:g}/s"
            run_load("warm-up", anonymous, healthz, args.warmup, args.concurrency)
            baseline = run_load(
                "/healthz", anonymous, healthz, args.open_submissions, args.concurrency, args.rate
            )
            results.append((baseline, None))
            results.append(
                (
                    run_load(
                        measure_open,
                        submitter,
                        submissions(args.open_submissions),
                        args.open_submissions,
                        args.concurrency,
                        args.rate,
                        cpu=server.cpu,
                    ),
                    baseline,
                )
            )
            measure(
                "check-in submit (POST /c/{token})",
                submitter,
                submissions(args.submissions),
                args.submissions,
                args.concurrency,
            )
        load = os.getloadavg()[0]

        print()
        print(HEADER)
        for result, baseline in results:
            print(_row(result, baseline))
        print(f"\nload average (1 min) at the end: {load:.1f}")
        by_name = {r.name: r for r, _ in results}
        submit = by_name["check-in submit (POST /c/{token})"]
        single = by_name["check-in submit, one client"]
        case = by_name[f"caseload ({args.clients} clients)"]
        median_cpu = single.median_request_cpu_ms
        print(
            f"server CPU per submission: median {median_cpu:.1f} ms over {len(single.latencies)} "
            f"one-at-a-time submissions; {single.cpu_ms:.1f} ms mean over them; "
            f"{submit.cpu_ms:.1f} ms mean over the {args.concurrency}-client closed loop"
        )
        print(
            f"aims: median CPU per submission {median_cpu:.1f} ms (aim <= 5 ms: "
            f"{'met' if median_cpu <= 5 else 'not met'}); check-in submit p95 at "
            f"{args.concurrency} clients {submit.pct(0.95) * 1000:.0f} ms (aim < 50 ms: "
            f"{'met' if submit.pct(0.95) < 0.05 else 'not met'}); caseload p95 "
            f"{case.pct(0.95) * 1000:.0f} ms (aim < 150 ms: "
            f"{'met' if case.pct(0.95) < 0.15 else 'not met'})"
        )
        failed = [(r.name, r.failures) for r, _ in results if r.failures]
        for name, failures in failed:
            print(f"FAILED {len(failures)} x {name}: {failures[0]}")
        spare = links[link_count:]
        if args.sql_submissions > 1:
            mean, by_kind = _sql_per_submission(settings, seeded, spare[: args.sql_submissions])
            print(
                f"SQL statements per submission (in process, {args.sql_submissions - 1} POSTs "
                "after one warm-up): "
                f"{mean:.1f} (" + ", ".join(f"{k} {v:.1f}" for k, v in by_kind.items()) + ")"
            )
        if args.profile:
            _profile(settings, seeded, spare[args.sql_submissions :], args.profile)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
