"""The delivery pages (issue 10): the outbox, a client's e-mail opt-out, the QR code of a new
link, and the in-app scheduler started by the app's lifespan."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from webworld import World, build_world, csrf_from, login

from alliance.adapters.mail import SmtpNotifier
from alliance.services import delivery, sessions
from smtp_sink import SmtpSink, smtp_settings


def _attended_now(world: World, case: str = "tom") -> int:
    return sessions.schedule_session(
        world.ctx,
        actor=world.people[case].actor,
        episode_id=world.cases[case].episode_id,
        scheduled_at=world.ctx.now() - timedelta(hours=1),
        status="attended",
    ).id


def test_the_in_app_scheduler_sends_what_is_due_and_the_outbox_shows_it(
    tmp_path: Path, sink: SmtpSink
) -> None:
    world = build_world(
        tmp_path,
        delivery_scheduler=True,
        delivery_scheduler_seconds=10,
        **smtp_settings(sink.port),
    )
    _attended_now(world, "tom")
    _attended_now(world, "tess")
    with TestClient(world.app) as http:  # the lifespan starts the scheduler
        deadline = time.monotonic() + 20
        while len(sink.messages) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(str(m["To"]) for m in sink.messages) == [
            "theo@example.org",
            "tina@example.org",
        ]
        login(http, world.people["tom"].email)
        page = http.get("/outbox").text
    assert "Tina" in page
    assert "Theo" not in page  # Tess's client
    assert "status-sent" in page
    assert world.app.state.delivery_scheduler.runs >= 1
    assert not world.app.state.delivery_scheduler._thread.is_alive()


def test_without_the_setting_no_scheduler_runs(world: World) -> None:
    with TestClient(world.app):
        assert world.app.state.delivery_scheduler is None


def test_the_admin_sees_the_clinics_messages_with_their_therapist(
    world: World, sink: SmtpSink
) -> None:
    _attended_now(world, "tom")
    _attended_now(world, "tess")
    notifier = SmtpNotifier(world.ctx.settings.model_copy(update=smtp_settings(sink.port)))
    delivery.send_due(world.ctx, notifier=notifier)
    page = world.login("ada").get("/outbox").text
    assert "Tina" in page
    assert "Theo" in page
    assert "Bill" not in page  # the other clinic
    assert "Therapist" in page
    only_sent = world.login("ada").get("/outbox?status=completed").text
    assert "Tina" not in only_sent


def test_an_unknown_status_filter_is_refused(world: World) -> None:
    assert world.login("tom").get("/outbox?status=whatever").status_code == 422


def test_a_new_link_comes_with_an_inline_qr_code(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    page = client.get(f"/clients/{case.client_id}")
    response = client.post(
        f"/clients/{case.client_id}/checkin-links", data={"csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 200
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in response.text
    assert 'class="qr"' in response.text
    # The code is only in the response that made the link, never on the plain page.
    assert 'class="qr"' not in client.get(f"/clients/{case.client_id}").text


def test_the_therapist_records_a_clients_opt_out_and_can_undo_it(world: World) -> None:
    client = world.login("tom")
    case = world.cases["tom"]
    url = f"/clients/{case.client_id}"
    page = client.get(url)
    assert "does not want e-mails" in page.text
    response = client.post(
        f"{url}/checkin-emails",
        data={"opted_out": "yes", "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = client.get(url)
    assert "asked not to be e-mailed" in page.text
    client.post(
        f"{url}/checkin-emails", data={"opted_out": "no", "csrf_token": csrf_from(page.text)}
    )
    assert "does not want e-mails" in client.get(url).text
