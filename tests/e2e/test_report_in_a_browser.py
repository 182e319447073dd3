"""The client progress report in a real browser: reached from the client page, readable on a
phone (no sideways scrolling) and on a desktop, with no axe-core violation at either size,
and its PDF offered as a download."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_helpers import log_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _open_report(page: Any, server: Any) -> None:
    page.goto(f"{server.base_url}/clients/{server.client_ids['John']}")
    page.get_by_role("link", name="Progress report").click()
    page.wait_for_url(re.compile(r"/clients/\d+/report$"))


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_progress_report_passes_axe_and_fits_the_screen(
    demo_server: Any, browser: Any, axe: Any, viewport: dict[str, int]
) -> None:
    phone = viewport == PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, demo_server, "Maya Chen")
    _open_report(page, demo_server)

    assert page.get_by_role("heading", level=1).inner_text() == "John"
    for heading in ("Outcome measures", "Alliance", "Goals", "Attendance"):
        assert page.get_by_role("heading", name=heading, exact=True).is_visible()
    phq = page.locator("#m-phq9")
    assert re.search(r"Baseline\s+\d+", phq.locator("dl.facts").inner_text())
    assert "RCI" in phq.inner_text()
    # John's rupture at session 5: the drop and its repair, then the alerts with their notes.
    drops = page.locator("table.ruptures tbody tr")
    assert "at session 5" in drops.first.inner_text()
    assert "back to" in drops.first.inner_text()
    assert page.locator("#ruptures-h ~ ul .alert-record").count() >= 1

    assert axe(page) == []
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= viewport["width"], f"page is {scroll}px wide at {viewport['width']}px"

    if phone:
        page.screenshot(path=str(demo_server.screenshots / "progress-report-phone.png"))
    else:
        page.set_viewport_size({"width": 1280, "height": 1600})
        page.screenshot(path=str(demo_server.screenshots / "progress-report.png"))
        download = page.get_by_role("link", name="Download PDF")
        # A PDF is laid out by WeasyPrint on the server: on a loaded 2-core CI machine that
        # took longer than Playwright's default 30 s, so this one request gets 3 minutes.
        response = page.request.get(
            demo_server.base_url + download.get_attribute("href"), timeout=180_000
        )
        assert response.status == 200
        assert response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF-")
    assert errors == []
    context.close()
