"""The side panel while the server goes away and comes back (a real JupyterLab, restarted).

Within 10 s of the server stopping, the open tab says it is disconnected and when the next
try is; a message sent meanwhile waits, goes out once the (restarted) server is back, and
its answer streams into the conversation where it was asked. Screenshots go to
``test-artifacts/labextension/offline-*.png``.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import (  # tests/_browser.py (tests/ is on sys.path)
    CHROMIUM,
    free_port,
    keep_screenshot,
    lab_config,
    start_lab,
    stop_process,
    wait_http,
)

from .test_browser import ARTIFACTS, BASE_URL, BUILT, TOKEN, UI

pytestmark = [pytest.mark.slow, pytest.mark.browser]


class Lab:
    """A ``jupyter lab`` that can be stopped and started again on the same port and data."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_dir, self.root_dir, ext_dir = (
            tmp / "config",
            tmp / "root",
            tmp / "labextensions",
        )
        for d in (self.config_dir, self.root_dir, ext_dir):
            d.mkdir(parents=True, exist_ok=True)
        (ext_dir / "pygent-jupyter").symlink_to(BUILT, target_is_directory=True)
        config = lab_config(
            port=self.port,
            root_dir=self.root_dir,
            ext_dir=ext_dir,
            token=TOKEN,
            db_path=tmp / "pygent.db",
            base_url=BASE_URL,
            services=["pygent_jupyter.services.agents.service:AgentsService"],
        )
        config |= {
            "AgentsService": {"backend": "local"},
            "LocalProvider": {"n_ctx": 1024},
            "GeneralAgent": {"num_predict": 24, "temperature": 0.0, "seed": 7},
        }
        (self.config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
        self.root = f"http://127.0.0.1:{self.port}{BASE_URL}".rstrip("/")

    def start(self) -> None:
        log = self.tmp / "lab.log"
        self.proc = start_lab(self.tmp, self.config_dir, self.root_dir, log)
        wait_http(f"{self.root}/api/status?token={TOKEN}", self.proc, log, 120)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if not (BUILT / "package.json").exists():
        pytest.fail("the lab extension is not built: see docs/labextension.md")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    server = Lab(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(600)
def test_offline_is_shown_and_a_message_sent_meanwhile_is_answered(lab: Lab) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ui = UI(lab.root)
    try:

        def open_panel(page: Any) -> None:
            page.wait_for_selector("#jp-pygent-status[data-state='connected']", timeout=60_000)
            page.evaluate("window.jupyterapp.commands.execute('pygent:open-panel')")
            page.wait_for_selector("#pygent-panel", state="visible")
            assert page.locator(".jp-pygent-tab-chat .jp-pygent-offline").is_hidden()

        ui(open_panel)
        lab.stop()
        went_away = time.monotonic()

        def offline(page: Any) -> None:
            banner = page.locator(".jp-pygent-tab-chat .jp-pygent-offline")
            banner.wait_for(state="visible", timeout=10_000)
            seen = time.monotonic() - went_away
            assert seen <= 10, f"the offline banner took {seen:.1f} s"
            page.wait_for_function(
                "document.querySelector('.jp-pygent-tab-chat .jp-pygent-offline')"
                ".textContent.includes('next try in')",
                timeout=10_000,
            )
            news = page.locator(".jp-toast-button", has_text="No")
            if news.count():
                news.first.click()
            page.locator("textarea.jp-pygent-chat-input").fill("Say hello.")
            page.locator(".jp-pygent-send").click()
            page.wait_for_selector(".jp-pygent-queued", timeout=5_000)
            shot = ARTIFACTS / "offline-banner.png"
            page.locator("#pygent-panel").screenshot(path=str(shot))
            keep_screenshot(shot)
            # JupyterLab's own "Server Connection Error" modals, while it stays down: never a
            # stack of them; once dismissed, our banner (with its countdown) is what shows
            page.wait_for_timeout(12_000)
            dialogs = page.locator(".jp-Dialog").count()
            shot = ARTIFACTS / "offline-modals.png"
            page.screenshot(path=str(shot))
            keep_screenshot(shot)
            assert dialogs <= 1, f"{dialogs} JupyterLab dialogs stacked over the page"
            if dialogs:
                page.keyboard.press("Escape")
                page.locator(".jp-Dialog").wait_for(state="detached", timeout=5_000)
            banner.wait_for(state="visible", timeout=5_000)
            assert "next try in" in banner.inner_text() or "reconnecting now" in banner.inner_text()

        ui(offline)
        lab.start()

        def answered(page: Any) -> None:
            page.wait_for_selector("#jp-pygent-status[data-state='connected']", timeout=120_000)
            page.wait_for_selector(
                ".jp-pygent-tab-chat .jp-pygent-offline", state="hidden", timeout=10_000
            )
            page.wait_for_function(
                "document.querySelector('.jp-pygent-queued').textContent === 'sent'",
                timeout=10_000,
            )
            page.wait_for_selector(
                ".jp-pygent-msg-agent:not(.jp-pygent-streaming)", timeout=240_000
            )
            agent = page.locator(".jp-pygent-msg-agent").last
            assert agent.locator(".jp-pygent-body").inner_text().strip(), "empty answer"
            assert not agent.locator(".jp-pygent-error-text").count(), agent.inner_text()
            # the answer is in the conversation it was asked in
            user = page.locator(".jp-pygent-msg-user").last.inner_text()
            assert "Say hello." in user
            shot = ARTIFACTS / "offline-answered.png"
            page.locator("#pygent-panel").screenshot(path=str(shot))
            keep_screenshot(shot)

        ui(answered, timeout=400)
    finally:
        ui.close()
