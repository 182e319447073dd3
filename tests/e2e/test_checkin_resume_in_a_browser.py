"""A client stops half way through a check-in on a phone and comes back to it: the page's
script has saved the answers on the server, and the same link shows them again."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from alliance.services import auth, checkins, clients

pytestmark = pytest.mark.e2e


def test_a_client_closes_the_page_half_way_and_finds_the_answers_again(
    demo_server: Any, browser: Any
) -> None:
    ctx = demo_server.ctx
    lena = auth.actor_for_email(ctx, demo_server.emails["Lena Varga"])
    _client, episodes = clients.get_client(
        ctx, actor=lena, client_id=demo_server.client_ids["Sarah"]
    )
    current = [e for e in episodes if e.ended_at is None][-1]
    link = checkins.create_checkin_link(ctx, actor=lena, episode_id=current.id)
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    page.goto(link.url.replace("https://alliance.example", demo_server.base_url, 1))
    url = page.url
    questions = page.locator("fieldset.question")
    half = questions.count() // 2
    for index in range(half):
        questions.nth(index).locator(".option label").first.tap()
    # The script saves within a few seconds of the last answer.
    expect(page.locator("#draft-status")).to_have_text("Answers saved.", timeout=15_000)
    phone.close()

    later = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = later.new_page()
    page.goto(url)
    expect(page.locator("#draft-status")).to_contain_text("Welcome back")
    questions = page.locator("fieldset.question")
    for index in range(half):
        expect(questions.nth(index).locator("input[type=radio]").first).to_be_checked()
    expect(questions.nth(half).locator("input[type=radio]:checked")).to_have_count(0)
    page.screenshot(path=str(demo_server.screenshots / "checkin-resumed-phone.png"))
    for index in range(half, questions.count()):
        questions.nth(index).locator(".option label").first.tap()
    page.get_by_role("button", name="Send my answers").tap()
    expect(page.get_by_role("heading", name="Thank you", exact=True)).to_be_visible()
    later.close()
