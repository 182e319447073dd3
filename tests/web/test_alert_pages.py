"""Alerts a therapist can trust, in the browser's HTML (issue 11): one concern per alert with
its reasons, risk alerts set apart with a protocol page, bulk acknowledge on the caseload, the
supervision mark, waiting risk alerts on the team page, crisis contacts on the thank-you page."""

from __future__ import annotations

import re

from webworld import World, csrf_from, full_answers

from alliance.services import admin as admin_service
from alliance.services import alerts as alert_service
from alliance.services import checkins, sessions

CONTACTS = [
    {"name": "Riverside duty line", "phone": "+44 20 7946 0000"},
    {"name": "Samaritans", "phone": "116 123"},
]


def _with_contacts(world: World) -> None:
    ada = world.people["ada"].actor
    current = admin_service.get_clinic(world.ctx, actor=ada).settings
    settings = current.model_copy(
        update={
            "crisis_contacts": current.model_validate({"crisis_contacts": CONTACTS}).crisis_contacts
        }
    )
    admin_service.update_clinic_settings(world.ctx, actor=ada, settings=settings)


def _check_in(world: World, *, wai: int, rating: int, fit: str = "yes", item9: int = 0) -> None:
    """Tom's client Tina: an attended session now, then a check-in with these answers."""
    case = world.cases["tom"]
    actor = world.people["tom"].actor
    world.ctx.clock.advance(days=7)  # type: ignore[attr-defined]
    sessions.schedule_session(
        world.ctx,
        actor=actor,
        episode_id=case.episode_id,
        scheduled_at=world.ctx.now(),
        status="attended",
    )
    link = checkins.create_checkin_link(world.ctx, actor=actor, episode_id=case.episode_id)
    phq = {f"phq9_{i}": 1 for i in range(1, 9)}
    phq["phq9_9"] = item9
    answers = {
        "wai_sr": {f"wai_{i}": wai for i in range(1, 13)},
        "phq9": phq,
        "session_feedback": {
            "sf_heard": rating,
            "sf_focus": rating,
            "sf_approach": rating,
            "sf_fit": fit,
        },
    }
    checkins.record_check_in(world.ctx, link.token, answers)


def _open_alert_ids(world: World, who: str = "tom") -> list[int]:
    found = alert_service.list_client_alerts(
        world.ctx, actor=world.people[who].actor, client_id=world.cases["tom"].client_id
    )
    return [a.id for a in found if a.status == "open"]


def test_a_bad_check_in_shows_one_alliance_alert_with_its_reasons(world: World) -> None:
    for _ in range(3):
        _check_in(world, wai=4, rating=9)
    _check_in(world, wai=1, rating=2, fit="no")
    page = world.login("tom").get(f"/clients/{world.cases['tom'].client_id}").text
    assert page.count("Alliance concern at session") == 1
    assert "signs point to this concern" in page
    assert "Rupture." in page
    assert "Poor fit reported." in page


def test_a_risk_alert_leads_looks_different_and_opens_its_protocol(world: World) -> None:
    _with_contacts(world)
    _check_in(world, wai=4, rating=9, item9=2)
    tom = world.login("tom")
    page = tom.get(f"/clients/{world.cases['tom'].client_id}").text
    articles = re.findall(r'<article class="card alert-item ([^"]*)"', page)
    assert "risk" in articles[0].split()
    assert '<span class="badge risk">Risk</span>' in page
    [risk_id] = [
        a.id
        for a in alert_service.list_client_alerts(
            world.ctx, actor=world.people["tom"].actor, client_id=world.cases["tom"].client_id
        )
        if a.is_risk
    ]
    assert f'href="/alerts/{risk_id}/protocol"' in page
    protocol = tom.get(f"/alerts/{risk_id}/protocol")
    assert protocol.status_code == 200
    assert 'href="tel:+442079460000"' in protocol.text
    assert 'href="tel:116123"' in protocol.text
    assert protocol.text.count('name="checks"') == 5
    # Closing without a follow-up note: the page again, the problem by the note, ticks kept.
    csrf = csrf_from(protocol.text)
    refused = tom.post(
        f"/alerts/{risk_id}/protocol",
        data={
            "csrf_token": csrf,
            "note": " ",
            "checks": ["contacted", "asked"],
            "action": "resolve",
        },
    )
    assert refused.status_code == 422
    assert "follow-up note" in refused.text
    assert 'id="follow-up-error"' in refused.text
    assert refused.text.count("checked") >= 2
    closed = tom.post(
        f"/alerts/{risk_id}/protocol",
        data={
            "csrf_token": csrf,
            "note": "Phoned her: no plan, safety plan agreed",
            "checks": ["contacted", "asked"],
            "action": "resolve",
        },
        follow_redirects=False,
    )
    assert closed.status_code == 303
    view = alert_service.get_alert(world.ctx, actor=world.people["tom"].actor, alert_id=risk_id)
    assert (view.status, view.protocol_checks) == ("resolved", ("contacted", "asked"))


def test_the_caseload_acknowledges_the_selected_clients_alerts_but_not_risk(
    world: World,
) -> None:
    for _ in range(3):
        _check_in(world, wai=4, rating=9)
    _check_in(world, wai=1, rating=2, fit="no")
    tom = world.login("tom")
    page = tom.get("/caseload").text
    assert 'action="/alerts/acknowledge"' in page
    boxes = re.findall(r'name="alert_ids" value="([^"]*)"', page)
    assert boxes
    done = tom.post(
        "/alerts/acknowledge",
        data={"csrf_token": csrf_from(page), "alert_ids": boxes, "note": "Seen, next session"},
    )
    assert done.status_code == 200
    assert "The selected alerts were acknowledged." in done.text
    assert _open_alert_ids(world) == []
    bad = tom.post(
        "/alerts/acknowledge", data={"csrf_token": csrf_from(page), "alert_ids": "12; DROP"}
    )
    assert bad.status_code == 422
    assert "alert_ids" in bad.text


def test_a_supervisor_marks_an_alert_discussed_in_supervision(world: World) -> None:
    alert_id = world.cases["tom"].alert_id
    sue = world.login("sue")
    page = sue.get(f"/clients/{world.cases['tom'].client_id}").text
    assert f'action="/alerts/{alert_id}/supervision"' in page
    assert (
        "/supervision"
        not in world.login("tom").get(f"/clients/{world.cases['tom'].client_id}").text
    )
    done = sue.post(
        f"/alerts/{alert_id}/supervision",
        data={"csrf_token": csrf_from(page), "note": "Agreed: name the rupture first thing"},
    )
    assert done.status_code == 200
    assert "Discussed" in done.text
    assert "Agreed: name the rupture first thing" in done.text
    empty = sue.post(
        f"/alerts/{alert_id}/supervision", data={"csrf_token": csrf_from(page), "note": ""}
    )
    assert empty.status_code == 422


def test_the_team_page_lists_a_risk_alert_left_unacknowledged(world: World) -> None:
    _check_in(world, wai=4, rating=9, item9=1)
    sue = world.login("sue")
    assert "not acknowledged within" not in sue.get("/team").text
    world.ctx.clock.advance(hours=5)  # type: ignore[attr-defined]
    page = world.login("sue").get("/team").text  # signed in again: the session timed out
    assert "Risk alerts not acknowledged within 4 hours" in page
    assert "Tina" in page


def test_the_thank_you_page_shows_the_crisis_contacts_once_as_tel_links(world: World) -> None:
    _with_contacts(world)
    client = world.client()
    for item9 in ("0", "2"):
        token = world.new_link("tom")
        answers = full_answers(client.get(f"/c/{token}").text)
        answers["phq9/phq9_9"] = item9
        page = client.post(f"/c/{token}", data=answers).text
        assert page.count('href="tel:') == len(CONTACTS)
        assert page.count('class="crisis-contacts"') == 1
        assert 'href="tel:116123"' in page
        assert page.count("local emergency number") == 1


def test_crisis_contacts_are_saved_from_the_settings_page_and_checked(world: World) -> None:
    admin = world.login("ada")
    page = admin.get("/admin/settings")
    form = {
        "instruments.alliance": "wai_sr",
        "instruments.outcome": ["phq9"],
        "instruments.feedback": "session_feedback",
        "checkin_overdue_days": "10",
        "crisis_contacts.0.name": "Duty line",
        "crisis_contacts.0.phone": "020 7946 0000",
        "risk_escalation_hours": "6",
        "csrf_token": csrf_from(page.text),
    }
    assert admin.post("/admin/settings", data=form).status_code == 200
    current = admin_service.get_clinic(world.ctx, actor=world.people["ada"].actor).settings
    assert [(c.name, c.tel) for c in current.crisis_contacts] == [("Duty line", "tel:02079460000")]
    assert current.risk_escalation_hours == 6
    page = admin.get("/admin/settings")
    assert 'value="Duty line"' in page.text
    bad = admin.post(
        "/admin/settings",
        data={**form, "crisis_contacts.0.phone": "ring me", "csrf_token": csrf_from(page.text)},
    )
    assert bad.status_code == 422
    assert "crisis_contacts.0.phone" in bad.text
