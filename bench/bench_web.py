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

    .venv/bin/python bench/bench_web.py
    .venv/bin/python bench/bench_web.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
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
from alliance.services import admin, auth, checkins, clients, episodes, goals, monitor, sessions
from alliance.services.auth import hash_secret
from alliance.services.authz import Actor, system_actor
from alliance.services.context import ServiceContext
from alliance.store import audit
from alliance.store.db import make_engine, sqlite_url, transaction
from alliance.store.migrations import upgrade
from alliance.store.models import CheckIn, Episode, GoalRating, Response, Score, TherapySession

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


@contextmanager
def serve(env: dict[str, str], log: Path, workers: int = 1) -> Iterator[str]:
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
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not start within 90 s")
            time.sleep(0.1)
        yield base
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
) -> Result:
    """``total`` requests from ``concurrency`` threads, each with its own keep-alive client.

    Closed loop by default (each thread sends its next request as soon as the last one is
    answered). With ``rate``, request *n* is due at ``start + n / rate`` (open loop) and its
    latency counts from when it was due, so time spent waiting for a free thread counts too.
    """
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
                try:
                    ok, error = request(client, number), ""
                except httpx.HTTPError as exc:  # counted and shown, never a dead worker
                    ok, error = False, f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        failures.append(error or f"request {number} did not succeed")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    # Read by the workers only after the barrier; open-loop runs leave them time to line up.
    started = time.perf_counter() + (0.05 if rate is not None else 0.0)
    barrier.wait()
    for thread in threads:
        thread.join()
    return Result(name, concurrency, latencies, time.perf_counter() - started, failures)


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
    return (
        f"{result.name:<34} {result.concurrency:>4} {len(result.latencies):>5} "
        f"{p50:>7.1f} {p95:>7.1f} {result.pct(1.0) * 1000:>7.0f} {result.throughput:>7.1f} "
        f"{len(result.failures):>4}  {ratio}"
    )


def _profile(settings: Settings, seeded: Seeded, links: list[tuple[str, int]], n: int) -> None:
    """Where the time goes, in process (no HTTP): the caseload service, the client page's
    service + figures, and ``record_check_in`` — each ``n`` times under pyinstrument."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("--profile needs pyinstrument: .venv/bin/pip install pyinstrument")
        return
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
            profiler = Profiler(interval=0.001)
            wall, cpu = time.perf_counter(), time.process_time()
            profiler.start()
            for i in range(1, n + 1):
                func(i)
            profiler.stop()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(
                f"\n### profile: {name} — {wall / n * 1000:.1f} ms wall, "
                f"{cpu / n * 1000:.1f} ms CPU per call (n = {n})"
            )
            print(profiler.output_text(unicode=False, color=False))
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
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="afterwards, profile N calls of each service path in process (needs pyinstrument)",
    )
    args = parser.parse_args(argv)

    with (
        tempfile.TemporaryDirectory(prefix="alliance-bench-") as tmp,
        _database(args.postgres, Path(tmp)) as url,
    ):
        workdir = Path(tmp)
        settings = Settings(  # type: ignore[call-arg]
            database_url=url,
            data_dir=workdir,
            secret_key="bench-" + uuid.uuid4().hex * 2,
            link_rate_limit=10_000_000,  # every simulated client comes from 127.0.0.1
            login_rate_limit=1000,
        )
        upgrade(url)
        seeded = _seed(settings, args.clients, args.sessions, args.seed)
        link_count = args.warmup + args.single + args.open_submissions + args.submissions
        started = time.perf_counter()
        links = _links(settings, seeded, link_count + (args.profile + 1 if args.profile else 0))
        link_seconds = time.perf_counter() - started
        env = {
            "ALLIANCE_DATABASE_URL": url,
            "ALLIANCE_DATA_DIR": str(workdir),
            "ALLIANCE_SECRET_KEY": settings.secret_key,
            "ALLIANCE_LINK_RATE_LIMIT": str(settings.link_rate_limit),
            "ALLIANCE_LOGIN_RATE_LIMIT": str(settings.login_rate_limit),
        }
        backend = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=FULL)"
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; database: {backend}; server: "
            f"{args.workers} uvicorn worker{'s' if args.workers > 1 else ''}"
        )
        print(
            f"data: 1 therapist, {args.clients} clients x {args.sessions} sessions "
            f"(4 instruments + 2 goal ratings per check-in), seeded via {args.seed} in "
            f"{seeded.seconds:.1f} s; {len(links)} links via create_checkin_link in "
            f"{link_seconds:.1f} s"
        )
        results: list[tuple[Result, Result | None]] = []
        with serve(env, workdir / "server.log", args.workers) as base:
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
                baseline = run_load("/healthz", anonymous, healthz, n, conc)
                results.append((baseline, None))
                results.append((run_load(name, make, request, n, conc), baseline))

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

            # Every submitter shares one anonymous cookie jar (CSRF seed). As a browser does,
            # each link's form is opened (GET) before it is posted, with all its hidden fields
            # (CSRF token, signed list of required questions); the forms are opened up front,
            # untimed, and the answers built before the clock starts.
            with anonymous() as first:
                _anonymous_csrf(first)
                anon_cookies = first.cookies
            hidden: dict[str, dict[str, str]] = {}

            def open_form(client: httpx.Client, n: int) -> bool:
                token = links[n][0]
                page = client.get(f"/c/{token}")
                hidden[token] = {
                    name: html.unescape(value) for name, value in HIDDEN_RE.findall(page.text)
                }
                return page.status_code == 200 and "csrf_token" in hidden[token]

            def submitter() -> httpx.Client:
                return httpx.Client(base_url=base, timeout=60, cookies=anon_cookies)

            opened = run_load("open forms", submitter, open_form, link_count, 4)
            if opened.failures:
                raise SystemExit(f"could not open the check-in forms: {opened.failures[0]}")
            rng = random.Random(SEED + 1)
            posts = [
                (
                    token,
                    {
                        **_submission_form(seeded.goal_ids[episode_id], rng, ""),
                        **hidden[token],
                    },
                )
                for token, episode_id in links[:link_count]
            ]
            used = [0]

            def submissions(count: int) -> Request:
                """Requests over the next ``count`` unused links."""
                offset = used[0]
                used[0] += count

                def submit(client: httpx.Client, n: int) -> bool:
                    token, form = posts[offset + n]
                    reply = client.post(f"/c/{token}", data=form)
                    return reply.status_code == 200 and "Thank you" in reply.text

                return submit

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
        print(
            f"{'scenario':<34} {'conc':>4} {'reqs':>5} {'p50 ms':>7} {'p95 ms':>7} "
            f"{'max ms':>7} {'req/s':>7} {'fail':>4}  {'p50 / p95 vs /healthz'}"
        )
        for result, baseline in results:
            print(_row(result, baseline))
        print(f"\nload average (1 min) at the end: {load:.1f}")
        by_name = {r.name: r for r, _ in results}
        submit = by_name["check-in submit (POST /c/{token})"]
        case = by_name[f"caseload ({args.clients} clients)"]
        print(
            f"aims: check-in submit p95 at {args.concurrency} clients "
            f"{submit.pct(0.95) * 1000:.0f} ms (aim < 50 ms: "
            f"{'met' if submit.pct(0.95) < 0.05 else 'not met'}); caseload p95 "
            f"{case.pct(0.95) * 1000:.0f} ms (aim < 150 ms: "
            f"{'met' if case.pct(0.95) < 0.15 else 'not met'})"
        )
        failed = [(r.name, r.failures) for r, _ in results if r.failures]
        for name, failures in failed:
            print(f"FAILED {len(failures)} x {name}: {failures[0]}")
        if args.profile:
            _profile(settings, seeded, links[link_count:], args.profile)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
