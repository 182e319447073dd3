"""Two app processes on one PostgreSQL database behave as one app: they keep no state of their
own that another would need (what ``uvicorn --workers 2`` or two hosts behind a balancer rely
on). Real ``uvicorn`` processes on two ports, driven over HTTP; skipped without PostgreSQL
unless ``ALLIANCE_REQUIRE_POSTGRES=1``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from webworld import full_answers

from alliance.config import Settings
from alliance.measures.plan import BUNDLED_CADENCES, every_session_plan
from alliance.services import admin, auth, checkins, clients
from alliance.services.authz import system_actor
from alliance.services.clinic_settings import ClinicSettings
from alliance.services.context import ServiceContext
from alliance.store.db import make_engine
from alliance.store.migrations import upgrade
from app_process import start_app

pytestmark = pytest.mark.postgres

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
EMAIL = "tess@workers.example"
PASSWORD = "two workers, one database"
LINK_LIMIT = 12  # client-link requests per address per 15 minutes, shared by both processes
BUNDLED_GAD7 = Path(__file__).parents[2] / "src/alliance/measures/instruments/gad7.yaml"


def _user_instrument(folder: Path, description: str) -> None:
    """A user instrument ``mood_check`` (the GAD-7 under another id and description)."""
    text = BUNDLED_GAD7.read_text()
    text = text.replace("id: gad7\n", "id: mood_check\n").replace(
        "title: Generalized Anxiety Disorder 7-item scale (GAD-7)", "title: Mood check"
    )
    text = re.sub(r"^description: .*$", f"description: {description}", text, flags=re.M)
    path = folder / "mood_check.yaml"
    path.write_text(text)
    # Two writes within one clock tick must still look changed to the registry.
    stamp = time.time_ns() + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


@contextmanager
def _serve(env: dict[str, str], log: Path) -> Iterator[str]:
    process, base_url = start_app(env, log, timeout_s=90)
    try:
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_two_app_processes_share_sessions_rate_limits_links_and_fresh_data(
    tmp_path: Path, postgres_database_url: str
) -> None:
    url = postgres_database_url
    instruments = tmp_path / "instruments"
    instruments.mkdir()
    _user_instrument(instruments, "Version one of the mood check.")
    settings = Settings(  # type: ignore[call-arg]
        database_url=url,
        data_dir=tmp_path,
        secret_key="workers-" + uuid.uuid4().hex * 2,
        instruments_dir=instruments,
        link_rate_limit=LINK_LIMIT,
    )
    upgrade(url)
    engine = make_engine(url)
    try:
        ctx = ServiceContext.create(settings, engine=engine)
        clinic = admin.create_clinic(
            ctx,
            actor=system_actor(),
            name="Two workers clinic",
            # Every questionnaire on every link: the submissions post all four.
            settings=ClinicSettings(measurement_plan=every_session_plan(BUNDLED_CADENCES)),
        )
        user = auth.create_staff_user(
            ctx,
            actor=system_actor(),
            clinic_id=clinic.id,
            email=EMAIL,
            display_name="Tess Two",
            role="therapist",
            password=PASSWORD,
        )
        therapist = auth.actor_for_user(ctx, user.id)
        client, episode = clients.create_client(
            ctx, actor=therapist, display_name="Wendy Worker", instruments=["phq9", "mood_check"]
        )
        first, second = (
            checkins.create_checkin_link(ctx, actor=therapist, episode_id=episode.id)
            for _ in range(2)
        )
    finally:
        engine.dispose()
    env = {
        "ALLIANCE_DATABASE_URL": url,
        "ALLIANCE_DATA_DIR": str(tmp_path),
        "ALLIANCE_SECRET_KEY": settings.secret_key,
        "ALLIANCE_INSTRUMENTS_DIR": str(instruments),
        "ALLIANCE_LINK_RATE_LIMIT": str(LINK_LIMIT),
    }
    with ExitStack() as stack:
        a = stack.enter_context(_serve(env, tmp_path / "a.log"))
        b = stack.enter_context(_serve(env, tmp_path / "b.log"))
        on_a = stack.enter_context(httpx.Client(base_url=a, timeout=30))
        link_requests = 0

        # A session made on A is good on B (server-side sessions, one signing key).
        login_form = on_a.get("/login").text
        csrf = CSRF_RE.search(login_form)
        assert csrf is not None
        reply = on_a.post(
            "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf.group(1)}
        )
        assert (reply.status_code, reply.headers.get("location")) == (303, "/caseload")
        on_b = stack.enter_context(httpx.Client(base_url=b, timeout=30, cookies=on_a.cookies))
        assert "Wendy Worker" in on_b.get("/caseload").text
        assert on_b.get(f"/clients/{client.id}").status_code == 200

        # A link used on A is refused on B; the form opened on B is accepted on A.
        page = on_b.get(f"/c/{first.token}").text
        link_requests += 1
        answers = full_answers(page, pick="last")
        assert on_a.post(f"/c/{first.token}", data=answers).status_code == 200
        link_requests += 1
        refused = on_b.post(f"/c/{first.token}", data=answers)
        link_requests += 1
        assert refused.status_code == 410

        # What A wrote, B shows at once: no per-process copy of the timeline or caseload.
        page_b = on_b.get(f"/clients/{client.id}").text
        assert "1 score" in page_b

        # The user instrument changes on disk: both processes show the new version.
        assert "Version one of the mood check." in on_a.get(f"/c/{second.token}").text
        link_requests += 1
        _user_instrument(instruments, "Version two of the mood check.")
        for base_client in (on_a, on_b):
            shown = base_client.get(f"/c/{second.token}").text
            link_requests += 1
            assert "Version two of the mood check." in shown
            assert "Version one" not in shown

        # One rate-limit count for both: alternate processes until the shared limit is spent.
        statuses = []
        while link_requests < LINK_LIMIT + 1:
            target = on_a if link_requests % 2 else on_b
            statuses.append(target.get("/c/not-a-real-link").status_code)
            link_requests += 1
        assert statuses[:-1] == [410] * (len(statuses) - 1)
        assert statuses[-1] == 429  # request LINK_LIMIT + 1 over both processes together
        # Each process alone saw about half of them, well under the limit.
        assert len(statuses) > 2
