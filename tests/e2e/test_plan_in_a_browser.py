"""The measurement plan in a real browser, on a phone and a desktop: a therapist gives one
client a cadence of their own and goes back to the clinic's plan."""

from __future__ import annotations

from typing import Any

import pytest
from browser_helpers import log_in
from playwright.sync_api import expect
from test_delivery_in_a_browser import VIEWPORTS, _context, _overflowing

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("kind", list(VIEWPORTS))
def test_a_therapist_changes_one_clients_plan(demo_server: Any, browser: Any, kind: str) -> None:
    context = _context(browser, kind)
    page = context.new_page()
    log_in(page, demo_server, "Tom Okafor")
    page.goto(f"{demo_server.base_url}/clients/{demo_server.client_ids['Dana']}")
    page.get_by_role("link", name="measurement plan").click()
    expect(page.get_by_role("heading", name="Measurement plan for this client")).to_be_visible()
    expect(page.get_by_text("This client follows the clinic's plan")).to_be_visible()
    page.locator("details.plan-row summary", has_text="GAD-7").click()
    page.get_by_label("Every how many sessions").and_(page.locator("#plan-gad7-every")).fill("1")
    page.get_by_label("From session").and_(page.locator("#plan-gad7-start")).fill("1")
    page.locator("details:has(table.plan-course) summary").click()
    assert _overflowing(page) == []
    page.screenshot(path=str(demo_server.screenshots / f"client-plan-{kind}.png"), full_page=True)
    page.get_by_role("button", name="Save plan").click()
    expect(page.get_by_text("Measurement plan saved.")).to_be_visible()
    expect(page.get_by_text("their own cadence for 1 measure")).to_be_visible()
    expect(page.locator("details.plan-row summary", has_text="GAD-7")).to_contain_text(
        "every session"
    )
    page.get_by_role("button", name="Follow the clinic's plan again").click()
    expect(page.get_by_text("This client follows the clinic's plan")).to_be_visible()
    context.close()
