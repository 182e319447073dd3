"""Alerts in a real browser (issue 11), on a phone (390×844) and a desktop (1280×900): John's
session 5 is one alliance alert with its reasons; a client's risk answer shows the clinic's
crisis contacts once as links to call; the risk alert leads the therapist's pages, looks
different, and its protocol page closes it only with a follow-up note; the caseload
shows the bulk acknowledge form. No axe-core violation on any page visited."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_helpers import log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

SIZES = {"phone": (390, 844), "desktop": (1280, 900)}


def _context(browser: Any, size: str) -> Any:
    width, height = SIZES[size]
    phone = size == "phone"
    return browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone
    )


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, width


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_johns_session_five_is_one_alliance_alert_with_its_reasons(
    demo_server: Any, browser: Any, axe: Any, size: str
) -> None:
    context = _context(browser, size)
    page = context.new_page()
    log_in(page, demo_server, "Maya Chen")
    page.screenshot(path=str(demo_server.screenshots / f"alerts-caseload-{size}.png"))
    assert axe(page) == []
    # John's open alert can be ticked for "Acknowledge selected" (not submitted here: the
    # other browser tests acknowledge it one by one).
    expect(page.get_by_role("button", name="Acknowledge selected")).to_be_visible()
    expect(page.get_by_label(re.compile("Select John's 1 open alert"))).to_be_visible()
    page.goto(f"{demo_server.base_url}/clients/{demo_server.client_ids['John']}")
    alerts = page.locator("article.alert-item")
    assert alerts.count() == 1
    first = alerts.first
    assert "Alliance concern at session 5" in first.locator("h3").inner_text()
    reasons = first.locator("ul.reasons li")
    assert reasons.count() == 6
    _no_sideways_scroll(page)
    first.screenshot(path=str(demo_server.screenshots / f"alerts-john-{size}.png"))
    assert axe(page) == []
    context.close()


def test_a_risk_answer_reaches_the_client_with_contacts_and_the_therapist_first(
    demo_server: Any, browser: Any, axe: Any
) -> None:
    from alliance.services import auth, checkins, timelines

    ctx = demo_server.ctx
    # Dana (Tom's client): a fresh link, so no other browser test's link is touched.
    tom = auth.actor_for_email(ctx, demo_server.emails["Tom Okafor"])
    dana = timelines.client_timeline(ctx, actor=tom, client_id=demo_server.client_ids["Dana"])
    assert dana.episode is not None
    link = checkins.create_checkin_link(ctx, actor=tom, episode_id=dana.episode.id)

    phone = _context(browser, "phone")
    page = phone.new_page()
    page.goto(f"{demo_server.base_url}/c/{link.token}")
    questions = page.locator("fieldset.question")
    for index in range(questions.count()):
        options = questions.nth(index).locator(".option label")
        options.nth(options.count() - 1).tap()  # the last option endorses PHQ-9 item 9
    page.get_by_role("button", name="Send my answers").tap()
    expect(page.locator("#crisis")).to_be_visible()
    calls = page.locator('a[href^="tel:"]')
    assert calls.count() == 2  # the clinic's two contacts, once
    assert calls.first.get_attribute("href") == "tel:01632960123"
    box = calls.first.bounding_box()
    assert box is not None
    assert box["height"] >= 44
    _no_sideways_scroll(page)
    assert axe(page) == []
    page.screenshot(path=str(demo_server.screenshots / "alerts-thanks-phone.png"), full_page=True)
    phone.close()

    for size in ("phone", "desktop"):
        context = _context(browser, size)
        staff = context.new_page()
        log_in(staff, demo_server, "Tom Okafor")
        first_row = staff.locator("table.caseload tbody tr").first
        assert first_row.locator("th a").inner_text() == "Dana"
        expect(first_row.locator(".badge.risk")).to_have_text("Risk reported")
        staff.screenshot(path=str(demo_server.screenshots / f"alerts-risk-caseload-{size}.png"))
        assert axe(staff) == []
        staff.goto(f"{demo_server.base_url}/clients/{demo_server.client_ids['Dana']}")
        first = staff.locator("article.alert-item").first
        assert "risk" in (first.get_attribute("class") or "").split()
        first.screenshot(path=str(demo_server.screenshots / f"alerts-risk-card-{size}.png"))
        first.get_by_role("link", name="Open the risk protocol").click()
        staff.wait_for_url(re.compile(r"/alerts/\d+/protocol$"))
        assert staff.locator('ul.crisis-contacts a[href^="tel:"]').count() == 2
        _no_sideways_scroll(staff)
        assert axe(staff) == []
        staff.screenshot(
            path=str(demo_server.screenshots / f"alerts-protocol-{size}.png"), full_page=True
        )
        if size == "phone":
            # Closing without a note: the problem is named by the note, nothing is lost.
            staff.get_by_label(re.compile("Contacted the client")).check()
            staff.get_by_role("button", name="Close with this follow-up note").click()
            expect(staff.locator("#follow-up-error")).to_contain_text("follow-up note")
            expect(staff.get_by_label(re.compile("Contacted the client"))).to_be_checked()
            staff.screenshot(path=str(demo_server.screenshots / "alerts-protocol-error-phone.png"))
            assert axe(staff) == []
        else:
            staff.get_by_label(re.compile("Follow-up note")).fill(
                "Phoned Dana: passing thoughts, no plan; safety plan agreed; seeing her Friday."
            )
            staff.get_by_role("button", name="Close with this follow-up note").click()
            staff.wait_for_url(re.compile(r"/clients/\d+\?flash=riskclosed"))
            expect(staff.get_by_role("status").first).to_contain_text("Risk alert closed")
        context.close()


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_admin_sets_crisis_contacts_and_the_escalation_hours(
    demo_server: Any, browser: Any, axe: Any, size: str
) -> None:
    context = _context(browser, size)
    page = context.new_page()
    log_in(page, demo_server, "Ada Admin")
    page.goto(f"{demo_server.base_url}/admin/settings")
    expect(page.get_by_label("Name 1", exact=True)).to_have_value(
        "Riverside duty line (demo number)"
    )
    expect(page.get_by_label("Phone 2", exact=True)).to_have_value("112")
    expect(page.get_by_label(re.compile("Escalate a risk alert"))).to_have_value("4")
    _no_sideways_scroll(page)
    assert axe(page) == []
    page.locator("fieldset.crisis-contacts-edit").screenshot(
        path=str(demo_server.screenshots / f"alerts-settings-contacts-{size}.png")
    )
    context.close()
