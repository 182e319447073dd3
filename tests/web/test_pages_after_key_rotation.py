"""After ``rotate-keys`` the old key can really go: every route of the authorization matrix,
as every role, still answers as the matrix says (no 500), and the demo clinic's pages (the
matching queue above all) render with only the new key.

The world: a copy of the seeded demo clinic, the web tests' two clinics added to it, and one
value of every encrypted kind in clinic A (intakes held and placed, a hand-over note, a
free-text answer, alert notes, a transcript, a half-enrolled second factor), all written with
the demo's key k0; then rotation to k1, and a new app that knows k1 only. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import webworld
from test_authorization_matrix import MATRIX, PERSON, ROLES, TARGETS, Caller, expected
from webworld import World, build_world, login

from alliance.demo import DEMO_PASSWORD
from alliance.services import auth, clients, timelines
from alliance.services.context import ServiceContext
from alliance.services.keys import rotate_encryption
from alliance.web.app import create_app
from demo_copies import DEMO_KEYS, DemoCopy
from encrypted_values import seed_every_kind_of_encrypted_value

pytestmark = pytest.mark.slow

OLD_KEY = DEMO_KEYS  # the key the seeded demo was written with (id k0)
NEW_KEY = "k1:" + base64.urlsafe_b64encode(b"1" * 32).decode()


def _rotated_world(tmp_path: Path, database_url: str) -> World:
    extra = {"database_url": database_url}
    world = build_world(tmp_path, encryption_keys=OLD_KEY, **extra)
    ctx = world.ctx
    ada, tom, tess = (world.people[p].actor for p in ("ada", "tom", "tess"))
    client, episode = clients.create_client(
        ctx, actor=ada, display_name="Kai", therapist_id=world.people["tom"].user_id
    )
    seed_every_kind_of_encrypted_value(
        ctx,
        admin=ada,
        therapist=tom,
        colleague=tess,
        newcomer=auth.actor_for_user(ctx, world.new_user("a")),
        client_id=client.id,
        episode_id=episode.id,
    )
    keys = {"encryption_keys": f"{NEW_KEY},{OLD_KEY}", **extra}
    rotate_encryption(
        ServiceContext.create(webworld.test_settings(tmp_path, **keys), clock=ctx.clock)
    )
    # The old key is dropped: a fresh context and app that know only the new one.
    settings = webworld.test_settings(tmp_path, encryption_keys=NEW_KEY, **extra)
    only_new = ServiceContext.create(settings, clock=ctx.clock)
    return World(
        ctx=only_new,
        app=create_app(settings, context=only_new, warm_charts=False),
        people=world.people,
        cases=world.cases,
        counter=world.counter,
    )


@pytest.fixture(scope="module")
def rotated(module_demo_copy: DemoCopy, tmp_path_factory: pytest.TempPathFactory) -> World:
    return _rotated_world(tmp_path_factory.mktemp("rotated"), module_demo_copy.url)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_as_the_matrix_says_without_the_old_key(
    rotated: World, role: str
) -> None:
    caller = Caller(rotated, role)  # each call fails on a 5xx
    failures: list[str] = []
    for (method, path), entry in sorted(MATRIX.items(), key=lambda kv: kv[0][1] == "/logout"):
        for target in TARGETS:
            params = entry.params(rotated, role, target)
            want = expected(entry, path, role, target)
            got = caller.call(method, path, entry, params, target)
            if got != want:
                failures.append(f"{method} {path} as {role} on {target}: {got}, expected {want}")
            if path == "/logout" and got == 303 and role in PERSON:
                caller = Caller(rotated, role)
    assert failures == []


def test_the_matching_queues_render_without_the_old_key(rotated: World) -> None:
    queue = rotated.login("ada").get("/admin/matching")
    assert queue.status_code == 200
    assert "Ash" in queue.text  # an intake written with the old key, waiting
    demo_admin = rotated.client()
    login(demo_admin, "admin@riverside.example", DEMO_PASSWORD)
    demo_queue = demo_admin.get("/admin/matching")
    assert demo_queue.status_code == 200
    assert "Lucía R." in demo_queue.text


def test_the_demo_therapists_client_pages_render_without_the_old_key(rotated: World) -> None:
    for email in ("maya@riverside.example", "tom@riverside.example", "lena@riverside.example"):
        http = rotated.client()
        login(http, email, DEMO_PASSWORD)
        rows = timelines.caseload(rotated.ctx, actor=auth.actor_for_email(rotated.ctx, email))
        assert rows
        for row in rows:
            page = http.get(f"/clients/{row.client_id}")
            assert page.status_code == 200, (email, row.display_name, page.text[:300])
            rematch = http.get(f"/episodes/{row.episode_id}/rematch")
            assert rematch.status_code == 200, (email, row.display_name, rematch.text[:300])
