"""Check-in delivery in a real browser, on a desktop and a phone viewport: the QR code of a new
link on the client page, and the outbox after a sending run through a real SMTP server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from browser_helpers import log_in

from alliance.adapters.mail import SmtpNotifier
from alliance.services import auth, clients, delivery, sessions
from smtp_sink import RunningSink, smtp_settings

pytestmark = pytest.mark.e2e

VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}


def _context(browser: Any, kind: str) -> Any:
    width, height = VIEWPORTS[kind]
    if kind == "phone":
        return browser.new_context(
            viewport={"width": width, "height": height}, is_mobile=True, has_touch=True
        )
    return browser.new_context(viewport={"width": width, "height": height})


def _overflowing(page: Any, within: str = "body") -> list[str]:
    """Elements under ``within`` that stick out past the right edge of the viewport."""
    return list(
        page.evaluate(
            """([within, limit]) => [...document.querySelectorAll(within + ' *')]
                .filter(e => e.getBoundingClientRect().right > limit + 1)
                .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)""",
            [within, page.viewport_size["width"]],
        )
    )


@pytest.mark.parametrize("kind", list(VIEWPORTS))
def test_a_new_link_shows_a_scannable_qr_code(demo_server: Any, browser: Any, kind: str) -> None:
    context = _context(browser, kind)
    page = context.new_page()
    log_in(page, demo_server, "Maya Chen")
    page.goto(f"{demo_server.base_url}/clients/{demo_server.client_ids['John']}")
    page.get_by_role("button", name="Create check-in link").click()
    qr = page.locator("svg.qr")
    qr.scroll_into_view_if_needed()
    box = qr.bounding_box()
    assert box is not None
    assert abs(box["width"] - box["height"]) < 1
    assert box["width"] >= 150  # big enough to scan from across a desk
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= page.viewport_size["width"]
    # Only this section: the page's alert evidence table is a matter of its own.
    assert _overflowing(page, "section[aria-labelledby=link-h]") == []
    page.locator("section[aria-labelledby=link-h]").screenshot(
        path=str(demo_server.screenshots / f"checkin-qr-{kind}.png")
    )
    context.close()


def test_the_outbox_after_a_sending_run_reads_on_desktop_and_phone(
    demo_server: Any, browser: Any
) -> None:
    ctx = demo_server.ctx
    maya = auth.actor_for_email(ctx, demo_server.emails["Maya Chen"])
    for name, email in (("Robin Delacroix-Whitfield", "robin@mail.example"), ("Kim", None)):
        client, _ = clients.create_client(ctx, actor=maya, display_name=name, contact_email=email)
        sessions.schedule_session(
            ctx,
            actor=maya,
            client_id=client.id,
            scheduled_at=ctx.now() - timedelta(hours=1),
            status="attended",
        )
    running = RunningSink()
    try:
        settings = demo_server.ctx.settings.model_copy(update=smtp_settings(running.sink.port))
        report = delivery.send_due(demo_server.ctx, notifier=SmtpNotifier(settings))
    finally:
        running.stop()
    assert (report.sent, report.skipped) == (1, 1)
    for kind in VIEWPORTS:
        context = _context(browser, kind)
        page = context.new_page()
        log_in(page, demo_server, "Maya Chen")
        page.get_by_role("link", name="Outbox").click()
        page.wait_for_url(f"{demo_server.base_url}/outbox")
        rows = page.locator("table.outbox tbody tr")
        assert rows.count() > 0
        assert _overflowing(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[kind][0]
        page.screenshot(path=str(demo_server.screenshots / f"outbox-{kind}.png"), full_page=True)
        context.close()
