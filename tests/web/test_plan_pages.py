"""The measurement plan on the web: the clinic's plan in the settings, a client's own plan,
and a new link saying what it asks."""

from __future__ import annotations

import re

from webworld import World, csrf_from

from alliance.measures.plan import Cadence
from alliance.services import admin as admin_service
from alliance.services import plans


def test_the_settings_page_shows_and_saves_the_clinic_plan(world: World) -> None:
    client = world.login("ada")
    page = client.get("/admin/settings")
    assert "Measurement plan" in page.text
    assert 'name="plan.wai_sr.every"' in page.text
    assert 'name="plan.goals.every"' in page.text
    # The preview of the first twelve check-ins counts their answers.
    assert re.search(r"<td>2</td><td>[^<]*</td><td>\d+</td>", page.text)
    response = client.post(
        "/admin/settings",
        data={
            "instruments.alliance": "wai_sr",
            "instruments.outcome": ["phq9", "gad7"],
            "plan.wai_sr.shown": "1",
            "plan.wai_sr.every": "2",
            "plan.wai_sr.start": "2",
            "plan.wai_sr.discharge": "on",
            "plan.goals.shown": "1",
            "plan.goals.intake": "on",
            "plan.goals.every": "0",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 200
    assert "Clinic settings saved" in response.text
    saved = admin_service.get_clinic(world.ctx, actor=world.people["ada"].actor).settings
    assert saved.plan().cadence("wai_sr") == Cadence(intake=False, every=2, start=2)
    assert saved.plan().cadence("goals") == Cadence(intake=True, every=0, discharge=False)
    assert "at session 2 and every 2nd after, at discharge" in client.get("/admin/settings").text


def test_a_bad_cadence_is_refused_naming_it(world: World) -> None:
    client = world.login("ada")
    page = client.get("/admin/settings")
    response = client.post(
        "/admin/settings",
        data={
            "instruments.alliance": "wai_sr",
            "plan.wai_sr.shown": "1",
            "plan.wai_sr.every": "weekly",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert response.status_code == 422
    assert "measurement_plan.cadences.wai_sr.every" in response.text


def test_a_therapist_gives_their_client_a_plan_of_their_own(world: World) -> None:
    case = world.cases["tom"]
    client = world.login("tom")
    page = client.get(f"/clients/{case.client_id}/plan")
    assert page.status_code == 200
    assert "This client follows the clinic's plan" in page.text
    saved = client.post(
        f"/clients/{case.client_id}/plan",
        data={
            "plan.phq9.shown": "1",
            "plan.phq9.intake": "on",
            "plan.phq9.every": "2",
            "plan.phq9.start": "1",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert saved.status_code == 200
    assert "Measurement plan saved" in saved.text
    assert "their own cadence for 1 measure" in saved.text
    view = plans.get_episode_plan(
        world.ctx, actor=world.people["tom"].actor, client_id=case.client_id
    )
    assert view.own is not None
    assert view.own.cadence("phq9") == Cadence(every=2, discharge=False)
    reset = client.post(
        f"/clients/{case.client_id}/plan",
        data={"clinic": "1", "csrf_token": csrf_from(saved.text)},
    )
    assert "This client follows the clinic's plan" in reset.text


def test_another_therapist_cannot_open_or_change_the_plan(world: World) -> None:
    case = world.cases["tom"]
    client = world.login("tess")
    assert client.get(f"/clients/{case.client_id}/plan").status_code == 404
    page = client.get("/")
    refused = client.post(
        f"/clients/{case.client_id}/plan",
        data={"clinic": "1", "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 404


def test_a_plan_naming_a_measure_the_episode_does_not_use_is_refused(world: World) -> None:
    case = world.cases["tom"]
    client = world.login("tom")
    page = client.get(f"/clients/{case.client_id}/plan")
    response = client.post(
        f"/clients/{case.client_id}/plan",
        data={"plan.who5.shown": "1", "plan.who5.every": "1", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 422
    assert "not used in this episode: who5" in response.text


def test_a_new_link_says_what_it_asks(world: World) -> None:
    case = world.cases["tom"]
    client = world.login("tom")
    page = client.get(f"/clients/{case.client_id}")
    assert 'name="final"' in page.text
    created = client.post(
        f"/clients/{case.client_id}/checkin-links",
        data={"session_id": "", "csrf_token": csrf_from(page.text)},
    )
    assert created.status_code == 200
    asks = re.search(r"It asks: ([^<]*) — (\d+) answers", created.text)
    assert asks, created.text[:2000]
    assert "Patient Health Questionnaire" in asks.group(1) or "PHQ-9" in asks.group(1)
