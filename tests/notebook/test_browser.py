"""JupyterLab in headless Chromium: open the quickstart, run it, see the widgets render.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); skipped without it. Screenshots
go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from _browser import (  # tests/_browser.py (tests/ is on sys.path)
    CHROMIUM,
    element_screenshot,
    launch_chromium,
)

from .conftest import ARTIFACTS, LabServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def page() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        page.console_log = console  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            (ARTIFACTS / "browser-console.log").write_text("\n".join(console))
            context.close()
            browser.close()


def _dismiss(page: Any) -> None:
    """Answer JupyterLab's first-run dialogs: the kernel picker and the news toast."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # the kernel may start without asking
        page.locator(".jp-Dialog").get_by_role("button", name="Select", exact=True).click(
            timeout=20_000
        )
    news = page.locator(".jp-toast-button", has_text="No")
    if news.count():
        news.first.click()


@pytest.mark.timeout(900)
def test_quickstart_renders_chat_and_metrics_widgets(page: Any, lab_server: LabServer) -> None:
    page.set_default_timeout(60_000)
    # ?reset: a fresh workspace, so tabs another test left open (the widgets notebook) are not
    # restored beside the quickstart (their hidden kernel indicators matched the wait below)
    page.goto(f"{lab_server.url}lab/tree/01_quickstart.ipynb?reset&token={lab_server.token}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    _dismiss(page)
    # the kernel is idle before we run anything
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        timeout=120_000
    )
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:
        # the chat widget shows the agent's reply to `chat.ask(...)`
        reply = page.locator(".pygent-chat .pygent-msg-agent").first
        reply.wait_for(timeout=300_000)
        text = reply.inner_text()
        assert text.strip(), "the agent's reply is empty"
        # the notebook ran to its last cell (`%pygent help`)
        page.get_by_text("%pygent metrics", exact=False).last.wait_for(timeout=300_000)
        # the dashboards' charts (inline SVG by default) have drawn data
        drawn = (
            "() => document.querySelectorAll("
            "'.pygent-chart svg polyline, .pygent-chart svg circle').length > 0"
        )
        page.wait_for_function(drawn, timeout=60_000)
        errors = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        )
        tracebacks = [e.inner_text() for e in errors.all() if "Traceback" in e.inner_text()]
        assert not tracebacks, tracebacks
        # the live widgets redraw (their inner nodes are replaced) while we look: measure and
        # capture in one step, on the widget's own element, never a node inside it
        element_screenshot(
            page.locator(".pygent-chat:visible").first, ARTIFACTS / "browser-chat-widget.png"
        )
        element_screenshot(
            page.locator(".pygent-chart:visible").last, ARTIFACTS / "browser-metrics-plot.png"
        )
    finally:
        page.screenshot(path=str(ARTIFACTS / "browser-quickstart.png"))
