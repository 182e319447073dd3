"""Browser tests: the real app under uvicorn on a free loopback port, a temporary SQLite
database seeded with the demo clinic, and Debian's chromium driven by Playwright.

Without /usr/bin/chromium the tests skip with a message (a contributor's laptop), unless
``CI=true``, where a missing browser fails the run. No browser is ever downloaded.

``axe`` runs the axe-core accessibility engine on a page: the script comes from the
``axe-playwright-python`` package (a dev dependency that ships ``axe.min.js``), read from disk
and evaluated in the page, so nothing is fetched.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless=new",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found: install Debian's chromium package to run browser tests"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class DemoServer:
    base_url: str
    password: str
    emails: dict[str, str]  # display name -> e-mail
    link_token: str  # a fresh check-in link for Sarah
    client_ids: dict[str, int]
    screenshots: Path
    ctx: Any = None  # the app's ServiceContext, for tests that run a service beside the app


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    _need_chromium()
    import uvicorn

    from alliance.config import Settings
    from alliance.demo import seed_demo
    from alliance.services.context import ServiceContext
    from alliance.store.migrations import upgrade
    from alliance.web.app import create_app

    data_dir = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        data_dir=data_dir, base_url=base, password_hash_profile="fast-insecure-tests"
    )
    upgrade(settings.effective_database_url)
    ctx = ServiceContext.create(settings)
    info = seed_demo(ctx.session_factory, settings)
    app = create_app(settings, context=ctx)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    )
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    # Screenshots land in docs/ only when asked (they change with every seeded date).
    if os.environ.get("ALLIANCE_UPDATE_SCREENSHOTS") == "1":
        shots = ROOT / "docs" / "screenshots"
    else:
        shots = data_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield DemoServer(
            base_url=base,
            password=info.logins[0].password,
            emails={login.name: login.email for login in info.logins},
            link_token=info.open_link_token,
            client_ids=dict(info.clients),
            screenshots=shots,
            ctx=ctx,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser(demo_server: DemoServer) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def axe() -> Callable[[Any], list[dict[str, Any]]]:
    """``axe(page)``: the axe-core violations on the page as it is now (all rules that axe
    runs by default: WCAG 2 A/AA and best practices)."""
    from importlib import resources

    script = (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")

    def violations(page: Any) -> list[dict[str, Any]]:
        # evaluate() runs as the debugger does, outside the page's Content-Security-Policy
        # (which allows no inline script); the page itself is not changed.
        page.evaluate(script)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"]][:5],
            }
            for v in result["violations"]
        ]

    return violations
