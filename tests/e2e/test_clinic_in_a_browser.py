"""The clinic app in a real browser: a therapist handles John's rupture, a client checks in on a
phone, the therapist sees the new point, and the link refuses a second use."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from browser_helpers import log_in
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_a_therapist_sees_johns_rupture_first_and_acknowledges_it(
    demo_server: Any, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, demo_server, "Maya Chen")

    first_row = page.locator("table.caseload tbody tr").first
    assert first_row.locator("th a").inner_text() == "John"
    # One alert for the whole alliance concern, led by the rupture.
    assert first_row.locator(".badge").first.inner_text() == "Alliance concern"
    assert "fell from" in first_row.locator(".reason").inner_text()
    # What the session showed is one alert, not a pile of them beside each other.
    assert not re.search(r"\+\d+ more", first_row.locator("td").nth(1).inner_text())
    page.screenshot(path=str(demo_server.screenshots / "caseload.png"), full_page=True)

    first_row.locator("th a").click()
    page.wait_for_url(re.compile(r"/clients/\d+$"))
    first_alert = page.locator("article.alert-item").first
    assert "Alliance concern" in first_alert.locator("h3").inner_text()
    assert "Rupture." in first_alert.locator("ul.reasons").inner_text()
    assert first_alert.get_by_text("Suggested next step").is_visible()
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.screenshot(path=str(demo_server.screenshots / "client.png"))
    page.locator("section[aria-labelledby=charts-h]").screenshot(
        path=str(demo_server.screenshots / "client-timeline.png")
    )

    first_alert.get_by_label("Note").fill("Named the strain with John; we agreed to slow down.")
    first_alert.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").first.inner_text().startswith("Alert acknowledged")
    assert page.get_by_text("Named the strain with John; we agreed to slow down.").is_visible()

    page.get_by_role("button", name="Create check-in link").click()
    link = page.locator("#new-link")
    expect(link).to_have_value(re.compile(r"/c/[A-Za-z0-9_-]{40,}$"))
    # The page's only script adds a Copy button next to the link (and nothing breaks without it).
    expect(page.get_by_role("button", name="Copy Link")).to_be_visible()
    assert errors == []
    context.close()


def test_a_client_checks_in_on_a_phone_and_the_link_then_refuses_reuse(
    demo_server: Any, browser: Any
) -> None:
    therapist = browser.new_context(viewport={"width": 1280, "height": 900})
    staff_page = therapist.new_page()
    log_in(staff_page, demo_server, "Lena Varga")
    sarah = f"{demo_server.base_url}/clients/{demo_server.client_ids['Sarah']}"
    staff_page.goto(sarah)
    # PHQ-9 is asked at every check-in under the default measurement plan.
    caption = staff_page.locator("#series-phq9 figcaption")
    before = int(re.search(r"(\d+) scores?", caption.inner_text()).group(1))  # type: ignore[union-attr]

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    link = f"{demo_server.base_url}/c/{demo_server.link_token}"
    page.goto(link)
    assert page.get_by_role("heading", name="Your check-in").is_visible()
    questions = page.locator("fieldset.question")
    count = questions.count()
    # A routine check-in: PHQ-9 and the session feedback's four choice questions.
    assert 10 <= count <= 15
    assert page.locator(".question-count").first.inner_text().startswith("1 of ")
    # Tap targets are big enough for a thumb (at least 44 CSS pixels high).
    box = questions.first.locator(".option label").first.bounding_box()
    assert box is not None
    assert box["height"] >= 44
    page.screenshot(path=str(demo_server.screenshots / "checkin-phone.png"))
    # What finishing costs on a phone: one tap per question and one to send (measured and
    # printed, not asserted as a time: the figure goes to docs/benchmarks.md).
    taps = 0
    started = time.perf_counter()
    for index in range(count):
        options = questions.nth(index).locator(".option label")
        options.nth(options.count() - 1).tap()
        taps += 1
    page.get_by_role("button", name="Send my answers").tap()
    taps += 1
    expect(page.get_by_role("heading", name="Thank you", exact=True)).to_be_visible()
    elapsed = time.perf_counter() - started
    assert taps == count + 1
    print(f"\ncheck-in on a phone: {count} questions, {taps} taps, {elapsed:.1f} s by script")
    # The last option of every question endorses PHQ-9 item 9 (self-harm thoughts), so the
    # thank-you page must show the clinic's crisis information.
    expect(page.locator("#crisis")).to_be_visible()

    staff_page.reload()
    after = int(re.search(r"(\d+) scores?", caption.inner_text()).group(1))  # type: ignore[union-attr]
    assert after == before + 1

    page.goto(link)
    expect(page.get_by_role("heading", name="Already sent — thank you")).to_be_visible()
    phone.close()
    therapist.close()


def test_an_admin_opens_the_matching_queue_from_the_menu_and_sees_proposals_with_reasons(
    demo_server: Any, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, demo_server, "Ada Admin")
    menu = page.get_by_role("navigation", name="Main")
    menu.get_by_role("link", name="Matching queue").click()
    page.wait_for_url(f"{demo_server.base_url}/admin/matching")
    expect(menu.get_by_role("link", name="Matching queue")).to_have_attribute(
        "aria-current", "page"
    )
    cards = page.locator("main section.card")
    assert cards.count() >= 4
    text = page.locator("main").inner_text()
    assert "speaks Spanish, as the client asked" in text
    assert "mostly listens and supports, as the client asked" in text
    assert "Waiting: no therapist meets every hard constraint" in text
    page.screenshot(path=str(demo_server.screenshots / "matching-queue.png"), full_page=True)
    context.close()


def test_the_supervisor_opens_the_team_page_and_sees_each_approach_from_the_profiles(
    demo_server: Any, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, demo_server, "Sam Supervisor")
    page.get_by_role("link", name="Team").first.click()
    page.wait_for_url(f"{demo_server.base_url}/team")
    rows = page.locator("table tbody tr")
    approach = {
        rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").last.inner_text()
        for i in range(rows.count())
    }
    # From the matching profiles the demo therapists saved (labels, strongest style first).
    assert approach["Maya Chen"].startswith("CBT, ACT, directive, collaborative")
    assert approach["Tom Okafor"].startswith("person-centred / humanistic, psychodynamic")
    assert approach["Lena Varga"].startswith("integrative, EMDR, compassion-focused")
    context.close()
