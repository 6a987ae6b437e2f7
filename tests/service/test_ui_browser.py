"""The maintainers' page driven in headless Chromium, against a real `incidents serve`.

Debian's ``chromium`` (``/usr/bin/chromium``), driven by Playwright's Python package pointed at it:
no browser is downloaded. Without it the test is skipped, saying how to install it, except where
``INCIDENTS_REQUIRE_BROWSER`` is set: `.ci/run` installs Chromium and sets it, so CI fails rather
than skips. ``INCIDENTS_UI_SCREENSHOT=docs/ui.png`` also saves the page's screenshot
there (`make screenshot`); it is always saved in the test's tmp_path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from classifier import Taxonomy
from core.bugzilla import read_snapshot
from core.db import session_scope, upgrade
from core.store import upsert_bugs
from core.tokens import create_token
from tests.fixtures import UNTAGGED, add_review_queue, first_ready, incidents_serve, write_snapshot

CHROMIUM = Path("/usr/bin/chromium")
# Headless as root, and nothing fetched from outside on a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PERIOD = "start=2023-01-01&end=2023-06-30"
SCREENSHOT = os.environ.get("INCIDENTS_UI_SCREENSHOT")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, launched headless by Playwright."""
    if not CHROMIUM.is_file():
        missing = (f"{CHROMIUM} is missing: `apt-get install -y chromium chromium-driver` "
                   "(.ci/run does it)")
        if os.environ.get("INCIDENTS_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_correct_incident_in_browser(tmp_path: Path, trained_models: Path, chromium):
    url = f"sqlite:///{tmp_path / 'page.db'}"
    taxonomy = Taxonomy.load()
    upgrade(url)
    with session_scope(url) as session:
        upsert_bugs(session=session, records=read_snapshot(write_snapshot(tmp_path / "snapshot"), taxonomy))
    add_review_queue(url, trained_models)
    with session_scope(url) as session:
        token, _ = create_token(session=session, name="alice")

    with incidents_serve(tmp_path, trained_models, database_url=url,
                         env={"INCIDENTS_BUGZILLA_URL": "https://bugzilla.mozilla.org"}) as (process, base, log):
        assert first_ready(process, base, log).status_code == 200
        context = chromium.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        try:
            page.goto(f"{base}/?{PERIOD}")
            assert page.title() == "Briefing 2023-01-01 to 2023-06-30 · incident-classifier"
            # The stylesheet is applied: the top bar is dark.
            assert page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor") \
                == "rgb(27, 42, 58)"

            def counts() -> dict[str, int]:
                cells = page.locator("#briefing-table tr[data-category]")
                return {cells.nth(i).get_attribute("data-category") or "":
                        int(cells.nth(i).locator("td.count").inner_text())
                        for i in range(cells.count())}

            before = counts()
            assert before["total"] == len(UNTAGGED)

            # Open the review queue; its first incident is linked to Bugzilla.
            page.get_by_role("link", name="Review queue").click()
            page.wait_for_url("**#review")
            items = page.locator("article.review-item")
            assert items.count() == len(UNTAGGED)
            first = items.first
            bug = int((first.get_attribute("id") or "").removeprefix("bug-"))
            assert first.get_by_role("link", name=f"Bug {bug}").get_attribute("href") \
                == f"https://bugzilla.mozilla.org/show_bug.cgi?id={bug}"
            predicted = first.get_by_label("Type tags").input_value().split()
            assert predicted and first.locator(".why").first.inner_text().startswith(f"{predicted[0]}:")
            new_tag = "crl-failure" if "crl-failure" not in predicted else "ocsp-failure"

            # A wrong token: the page says so and nothing changes.
            form = first.locator("form")
            assert not form.is_visible()
            first.get_by_text(f"Correct the tags of bug {bug}").click()
            assert form.is_visible()
            form.get_by_label("Type tags").fill(new_tag)
            form.get_by_label("Maintainer token").fill("inc_not-the-token")
            form.get_by_role("button", name="Store the correction").click()
            page.wait_for_load_state()
            assert "the API token is unknown, revoked or expired" in page.get_by_role("alert").inner_text()
            assert counts() == before

            # The right token: stored, said, and counted in the table.
            form = page.locator(f"#bug-{bug} form")
            assert form.is_visible()  # left open, with what was typed
            assert form.get_by_label("Type tags").input_value() == new_tag
            form.get_by_label("Note").fill("seen in the browser test")
            form.get_by_label("Maintainer token").fill(token)
            form.get_by_role("button", name="Store the correction").click()
            page.wait_for_url(f"**corrected={bug}#review")
            assert token not in page.url
            assert f"Correction of bug {bug} stored ({new_tag}; by alice)" \
                in page.get_by_role("status").inner_text()
            expected = dict(before)
            for category in taxonomy.categories_of(predicted):
                expected[category] -= 1
            for category in taxonomy.categories_of([new_tag]):
                expected[category] += 1
            after = counts()
            assert after == expected != before
            assert page.locator(f"#bug-{bug}").count() == 0
            assert page.locator("#briefing-table tfoot td").nth(1).inner_text() == "1"  # corrected

            # The picture of the page for the README: the briefing after the correction, the queue
            # with one correction form open.
            page.goto(page.url.split("#")[0])
            page.locator("article.review-item details.correct summary").first.click()
            shot = tmp_path / "ui.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if SCREENSHOT:
                shutil.copyfile(shot, SCREENSHOT)
        finally:
            context.close()
    assert "POST /ui/corrections 303" in log.read_text()
    assert token not in log.read_text()
