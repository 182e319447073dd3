"""What the browser tests share besides their fixtures: signing in as one of the demo people.

Every demo account (therapists, the supervisor and the admin) lands on the caseload after
signing in, so one helper waits for exactly that page.
"""

from __future__ import annotations

from typing import Any


def log_in(page: Any, server: Any, name: str) -> None:
    """Sign ``page`` in as the demo person ``name`` and wait for their caseload."""
    page.goto(f"{server.base_url}/login")
    page.get_by_label("E-mail").fill(server.emails[name])
    page.get_by_label("Password").fill(server.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server.base_url}/caseload")
