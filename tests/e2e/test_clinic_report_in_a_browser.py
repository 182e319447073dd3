"""The clinic outcome report in a real browser: an admin opens it from the team page, it passes
axe-core with no violation on a desktop and on a phone (wide tables scroll inside their box,
the page itself does not), and its PDF is offered as a download."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_helpers import log_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def history(demo_server: Any) -> None:
    """Ended episodes for the demo's therapists (ended, so no caseload changes): enough for the
    report to show rates beside its suppressed cells."""
    from alliance.services import auth
    from outcomes_seed import Course, seed

    ctx = demo_server.ctx
    courses = {
        "Maya Chen": [Course((20, 12, 6), end_reason="completed") for _ in range(6)]
        + [Course((16, 15), wai=(4, 2, 4), end_reason="dropout") for _ in range(2)],
        "Tom Okafor": [Course((14, 8), end_reason="completed") for _ in range(4)]
        + [Course((9, 17), end_reason="completed") for _ in range(2)],
        "Lena Varga": [Course((22, 10, 4), end_reason="completed") for _ in range(3)],
    }
    for name, listed in courses.items():
        actor = auth.actor_for_email(ctx, demo_server.emails[name])
        seed(ctx, actor.clinic_id, actor.user_id, listed)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_clinic_report_passes_axe_and_fits_the_screen(
    demo_server: Any, browser: Any, axe: Any, history: None, viewport: dict[str, int]
) -> None:
    phone = viewport == PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, demo_server, "Ada Admin")
    page.goto(f"{demo_server.base_url}/team")
    assert axe(page) == []
    page.get_by_role("link", name="Full outcome report").click()
    page.wait_for_url(re.compile(r"/reports/clinic\?from=.*&to=.*"))

    assert page.get_by_role("heading", level=1).inner_text().startswith("Outcomes ")
    for heading in ("The clinic at a glance", "By therapist", "Published benchmarks"):
        assert page.get_by_role("heading", name=heading).first.is_visible()
    summary = page.locator("table.summary").inner_text()
    assert re.search(r"Reliable improvement\s+\d+\.\d %", summary)
    assert "CI" in summary
    assert "n < 5" in page.locator("main").inner_text()

    assert axe(page) == []
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= viewport["width"], f"page is {scroll}px wide at {viewport['width']}px"
    if not phone:
        page.set_viewport_size({"width": 1280, "height": 1400})
        page.screenshot(path=str(demo_server.screenshots / "clinic-report.png"))
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
