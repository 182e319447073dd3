"""Changing one's own password in a real browser, on a desktop and a phone viewport: a weak
new password is refused with the reason beside the field, a strong one works, and the next
sign-in takes it. A fresh account per viewport, so the demo's shared logins stay as they are."""

from __future__ import annotations

from typing import Any

import pytest
from test_delivery_in_a_browser import VIEWPORTS, _context, _overflowing

from alliance.services import auth
from alliance.services.authz import system_actor

pytestmark = pytest.mark.e2e

FIRST = "maple kettle orbits slowly"
SECOND = "granite heron whistles at dusk"


def _sign_in(page: Any, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize("kind", list(VIEWPORTS))
def test_a_therapist_changes_their_own_password(demo_server: Any, browser: Any, kind: str) -> None:
    ctx = demo_server.ctx
    maya = auth.actor_for_email(ctx, demo_server.emails["Maya Chen"])
    email = f"pat.{kind}@riverside.example"
    auth.create_staff_user(
        ctx,
        actor=system_actor(),
        clinic_id=maya.clinic_id,
        email=email,
        display_name=f"Pat {kind}",
        role="therapist",
        password=FIRST,
    )
    context = _context(browser, kind)
    page = context.new_page()
    base = demo_server.base_url
    _sign_in(page, base, email, FIRST)
    page.wait_for_url(f"{base}/caseload")
    page.goto(f"{base}/account")
    page.get_by_role("link", name="Change your password").click()
    page.get_by_label("Current password").fill(FIRST)
    page.get_by_label("New password", exact=True).fill("aaaaaaaaaaaa")
    page.get_by_label("New password again").fill("aaaaaaaaaaaa")
    page.get_by_role("button", name="Change password").click()
    field = page.get_by_label("New password", exact=True)
    assert field.get_attribute("aria-invalid") == "true"
    message = page.locator("#pw-error").inner_text()
    assert "easy to guess" in message or "weak" in message.lower(), message
    assert _overflowing(page, "main") == []
    page.screenshot(path=str(demo_server.screenshots / f"password-refused-{kind}.png"))

    page.get_by_label("Current password").fill(FIRST)
    page.get_by_label("New password", exact=True).fill(SECOND)
    page.get_by_label("New password again").fill(SECOND)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_load_state()
    assert "aria-invalid" not in page.content()
    context.close()

    fresh = _context(browser, kind)
    page = fresh.new_page()
    _sign_in(page, base, email, FIRST)  # the old password no longer works
    assert page.url.startswith(f"{base}/login")
    _sign_in(page, base, email, SECOND)
    page.wait_for_url(f"{base}/caseload")
    fresh.close()
