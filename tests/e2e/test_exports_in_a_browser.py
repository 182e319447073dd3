"""Research exports in a real browser: the admin asks for one, the page follows it being
built by the app's background worker until it is ready (without a reload), the download is a
ZIP whose tables parse, and the page passes axe-core at both sizes without sideways
scrolling. Screenshots go to /tmp/alliance-e2e-exports (to look at, not compared)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser_helpers import log_in

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SHOTS = Path("/tmp/alliance-e2e-exports")


@pytest.mark.parametrize(
    ("viewport", "fmt", "scope"),
    [(DESKTOP, "csv", "Full"), (PHONE, "spss", "De-identified")],
    ids=["desktop", "phone"],
)
def test_an_admin_requests_an_export_watches_it_finish_and_downloads_it(
    demo_server: Any, browser: Any, axe: Any, viewport: dict[str, int], fmt: str, scope: str
) -> None:
    phone = viewport == PHONE
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport=viewport, is_mobile=phone, has_touch=phone, accept_downloads=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, demo_server, "Ada Admin")
    page.get_by_role("link", name="Exports").click()
    page.wait_for_url(re.compile(r"/admin/exports$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Research exports"
    assert axe(page) == []

    page.get_by_label("Format").select_option(fmt)
    page.get_by_role("radio", name=re.compile(f"^{scope}")).check()
    page.get_by_role("button", name="Request export").click()
    page.wait_for_url(re.compile(r"/admin/exports\?flash=export#export-\d+$"))
    job_id = int(page.url.rsplit("-", 1)[1])
    card = page.locator(f"#export-{job_id}")
    assert "Export requested." in page.locator(".flash").inner_text()
    # The worker builds it in the background; the page notices without a reload.
    download_link = page.get_by_role("link", name=f"Download export {job_id} (.zip)")
    download_link.wait_for(timeout=60_000)
    status = page.locator("#export-status").inner_text()
    assert status == f"Export {job_id} is ready to download."
    assert "Ready" in card.inner_text()
    assert axe(page) == []
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= viewport["width"], f"page is {scroll}px wide at {viewport['width']}px"
    page.screenshot(
        path=str(SHOTS / f"exports-{'phone' if phone else 'desktop'}.png"), full_page=True
    )

    with page.expect_download() as info:
        download_link.click()
    saved = Path(info.value.path())
    assert info.value.suggested_filename.startswith(f"alliance-export-{job_id}-{fmt}")
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        names = set(archive.namelist())
        package = json.loads(archive.read("datapackage.json"))
        if fmt == "csv":
            clients = pd.read_csv(io.BytesIO(archive.read("clients.csv")))
            assert "display_name" in clients.columns
            assert len(clients) > 0
        else:
            import pyreadstat

            target = Path(saved.parent / "scores.sav")
            target.write_bytes(archive.read("scores.sav"))
            frame, meta = pyreadstat.read_sav(str(target))
            assert len(frame) > 0
            assert meta.column_labels
    assert {"codebook.md", "datapackage.json"} <= names
    assert package["resources"]
    assert errors == []
    context.close()
