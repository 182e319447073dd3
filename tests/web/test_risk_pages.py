"""A client who endorses a risk item (PHQ-9 item 9) sees calm crisis information on the
thank-you page, in the clinic's own words, and their therapist gets an e-mail notice with
nothing clinical in it when SMTP is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_mail_and_robustness import FakeSMTP
from webworld import World, build_world, csrf_from, full_answers

from alliance.services import admin as admin_service
from alliance.services import alerts as alert_service
from alliance.services.clinic_settings import DEFAULT_CRISIS_MESSAGE

ITEM_9 = "phq9/phq9_9"


def _submit(world: World, case: str = "tom", item9: str | None = None) -> str:
    client = world.client()
    token = world.cases[case].link_token if case == "tom" else world.new_link(case)
    answers = full_answers(client.get(f"/c/{token}").text)  # first option: item 9 = 0
    assert answers[ITEM_9] == "0"
    if item9 is not None:
        answers[ITEM_9] = item9
    done = client.post(f"/c/{token}", data=answers)
    assert done.status_code == 200
    assert "Thank you" in done.text
    return done.text


def test_an_endorsed_risk_item_shows_the_crisis_message_on_the_thank_you_page(
    world: World,
) -> None:
    page = _submit(world, item9="2")
    assert 'id="crisis"' in page
    assert "Your therapist will see your answer" in page
    assert DEFAULT_CRISIS_MESSAGE.split(",")[0] in page
    assert "local emergency number" in page


def test_without_an_endorsed_risk_item_no_crisis_message_is_shown(world: World) -> None:
    page = _submit(world)
    assert 'id="crisis"' not in page
    assert DEFAULT_CRISIS_MESSAGE.split(",")[0] not in page


def test_the_clinics_own_crisis_text_is_edited_on_the_settings_page_and_shown(
    world: World,
) -> None:
    admin = world.login("ada")
    page = admin.get("/admin/settings")
    assert 'name="crisis_message"' in page.text
    own = "Call 000 now if you are in danger. Our duty line is open 9 to 5 on weekdays."
    form = {
        "instruments.alliance": "wai_sr",
        "instruments.outcome": ["phq9", "gad7"],
        "instruments.feedback": "session_feedback",
        "checkin_overdue_days": "10",
        "crisis_message": own,
    }
    # Like every form, it needs the page's CSRF token.
    refused = admin.post("/admin/settings", data=form)
    assert refused.status_code == 403
    saved = admin.post("/admin/settings", data={**form, "csrf_token": csrf_from(page.text)})
    assert saved.status_code == 200
    assert own in admin.get("/admin/settings").text
    shown = _submit(world, item9="1")
    assert own in shown
    assert DEFAULT_CRISIS_MESSAGE.split(",")[0] not in shown
    # Clearing the text restores the default rather than leaving the client with nothing.
    page = admin.get("/admin/settings")
    admin.post(
        "/admin/settings",
        data={**form, "crisis_message": "  ", "csrf_token": csrf_from(page.text)},
    )
    current = admin_service.get_clinic(world.ctx, actor=world.people["ada"].actor).settings
    assert current.crisis_message == DEFAULT_CRISIS_MESSAGE


@pytest.fixture
def smtp_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    FakeSMTP.sent = []
    FakeSMTP.fail = False
    monkeypatch.setattr("alliance.adapters.mail.smtplib.SMTP", FakeSMTP)
    return build_world(tmp_path, smtp_host="smtp.example.org", smtp_from="clinic@example.org")


def test_with_smtp_the_therapist_gets_a_notice_without_clinical_content(
    smtp_world: World,
) -> None:
    _submit(smtp_world, item9="3")
    (message,) = FakeSMTP.sent
    assert message["To"] == smtp_world.people["tom"].email
    body = message.get_content()
    assert "A client on your caseload needs your attention today" in body
    assert "/caseload" in body
    for clinical in ("Tina", "PHQ", "phq9", "item 9", "self-harm", "risk"):
        assert clinical.lower() not in (body + str(message["Subject"])).lower()


def test_with_smtp_no_notice_is_sent_without_an_endorsed_risk_item(smtp_world: World) -> None:
    _submit(smtp_world)
    assert FakeSMTP.sent == []


def test_a_failed_notice_leaves_the_clients_page_and_the_alert_alone(smtp_world: World) -> None:
    FakeSMTP.fail = True
    page = _submit(smtp_world, item9="2")
    assert 'id="crisis"' in page
    case = smtp_world.cases["tom"]
    listed = alert_service.list_client_alerts(
        smtp_world.ctx, actor=smtp_world.people["tom"].actor, client_id=case.client_id
    )
    assert [a.status for a in listed if a.kind == "risk_reported"] == ["open"]


def test_the_crisis_text_round_trips_through_the_api(world: World) -> None:
    client = world.client()
    headers = {"Authorization": f"Bearer {world.token('ada')}"}
    settings = client.get("/api/v1/clinic", headers=headers).json()["settings"]
    assert settings["crisis_message"] == DEFAULT_CRISIS_MESSAGE
    settings["crisis_message"] = "Our own words for a hard moment."
    saved = client.put("/api/v1/clinic/settings", json=settings, headers=headers)
    assert saved.status_code == 200
    assert saved.json()["settings"]["crisis_message"] == "Our own words for a hard moment."
    assert "Our own words for a hard moment." in _submit(world, item9="1")
