"""The side panel in a real JupyterLab, driven in headless Chromium.

Starts ``jupyter lab`` with the extension (embedded llama.cpp model, metrics, a real MCP
server process), opens the panel with its keyboard shortcut, chats and watches the answer
stream in, watches the metrics charts move and lists the MCP servers. Screenshots go to
``test-artifacts/labextension/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _browser import (  # tests/_browser.py (tests/ is on sys.path)
    CHROMIUM,
    free_port,
    keep_screenshot,
    lab_config,
    launch_chromium,
    low_contrast,
    start_lab,
    stop_process,
    wait_http,
)

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / "pygent_jupyter" / "labextension"
ARTIFACTS = ROOT / "test-artifacts" / "labextension"
TOKEN = "pygent-browser-test-token"
BASE_URL = "/user/alice/"  # as under JupyterHub: the socket URL must carry the base URL

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab on 127.0.0.1 with the built extension and the pygent services."""
    if not (BUILT / "package.json").exists():
        pytest.fail(
            "the lab extension is not built: run `npm ci && npm run build:prod` in labextension/"
        )
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    tmp = tmp_path_factory.mktemp("lab")
    config_dir, root_dir, ext_dir = tmp / "config", tmp / "root", tmp / "labextensions"
    for d in (config_dir / "labconfig", root_dir, ext_dir):
        d.mkdir(parents=True)
    # The build output, found the way an installed wheel's share/jupyter/labextensions is.
    (ext_dir / "pygent-jupyter").symlink_to(BUILT, target_is_directory=True)
    (config_dir / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    # the palette in the left sidebar (not the modal one, which closes whenever focus moves)
    palette_settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    palette_settings.mkdir(parents=True)
    (palette_settings / "palette.jupyterlab-settings").write_text(json.dumps({"modal": False}))
    (config_dir / "pygent-mcp.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "time": {
                        "command": sys.executable,
                        "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"],
                        "autoStart": True,
                    }
                }
            }
        )
    )
    port = free_port()
    config = lab_config(
        port=port,
        root_dir=root_dir,
        ext_dir=ext_dir,
        token=TOKEN,
        db_path=tmp / "pygent.db",
        base_url=BASE_URL,
        services=[
            "pygent_jupyter.services.metrics.service:MetricsService",
            "pygent_jupyter.services.agents.service:AgentsService",
            "pygent_jupyter.services.mcp.service:MCPService",
            "pygent_jupyter.services.memory.service:MemoryService",
            "pygent_jupyter.services.reasoning.service:ReasoningService",
            "pygent_jupyter.services.evolution.service:EvolutionService",
        ],
    )
    config |= {
        "MetricsService": {"interval": 0.5},
        "AgentsService": {"backend": "local"},
        "LocalProvider": {"n_ctx": 1024},
        "GeneralAgent": {"num_predict": 48, "temperature": 0.0, "seed": 7},
        "CodingAgent": {"num_predict": 600, "temperature": 0.0, "seed": 7},
        "MCPService": {"config_path": str(config_dir / "pygent-mcp.json")},
    }
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    log = tmp / "lab.log"
    proc = start_lab(tmp, config_dir, root_dir, log)
    try:
        root = f"http://127.0.0.1:{port}{BASE_URL}".rstrip("/")
        wait_http(f"{root}/api/status?token={TOKEN}", proc, log, 90)
        yield root
    finally:
        stop_process(proc)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, ARTIFACTS / "jupyter-lab.log")


class UI:
    """Headless Chromium driven from one worker thread.

    Playwright's sync API runs an event loop in the thread that starts it; pytest-jupyter's
    autouse fixtures grab the main thread's loop, so the browser lives in its own thread and
    each test hands it a function of the page.
    """

    def __init__(self, url: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chromium")
        self.errors: list[str] = []
        self._pool.submit(self._start, url).result(timeout=120)

    def _start(self, url: str) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = launch_chromium(self._pw)
        self._context = self._browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self._context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.console: list[str] = []
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        self.page.goto(f"{url}/lab?token={TOKEN}", wait_until="domcontentloaded")
        self.page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
        # the layout restorer activates (and focuses) the launcher late: wait for it
        self.page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
        self.page.evaluate("() => window.jupyterapp.restored")

    def __call__(self, steps: Callable[[Any], None], timeout: float = 300) -> None:
        def run(page: Any) -> None:
            try:
                steps(page)
            except Exception:
                name = os.environ.get("PYTEST_CURRENT_TEST", "test").split("::")[-1].split()[0]
                page.screenshot(path=str(ARTIFACTS / f"failed-{name}.png"))
                (ARTIFACTS / f"failed-{name}.console.txt").write_text("\n".join(self.console))
                raise

        self._pool.submit(run, self.page).result(timeout=timeout)

    def close(self) -> None:
        def stop() -> None:
            try:
                self.page.screenshot(path=str(ARTIFACTS / "final.png"))
            finally:
                self._context.close()
                self._browser.close()
                self._pw.stop()

        try:
            self._pool.submit(stop).result(timeout=60)
        finally:
            self._pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def ui(lab_server: str) -> Iterator[UI]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver = UI(lab_server)
    try:
        yield driver
    finally:
        driver.close()
    assert not [e for e in driver.errors if "pygent" in e.lower()], driver.errors


FOCUSED_IN_COMPOSER = (
    "() => document.activeElement !== null"
    " && document.activeElement.classList.contains('jp-pygent-chat-input')"
)
ACTIVE_ELEMENT = "() => document.activeElement && document.activeElement.className"


def _record_events(page: Any) -> None:
    page.evaluate(
        """() => {
          window.__pygentEvents = [];
          if (window.__pygentRecording) return;  // one listener, however often we reset
          window.__pygentRecording = true;
          window.__pygentConnection.onAny(e => {
            const body = document.querySelector('.jp-pygent-streaming .jp-pygent-body');
            window.__pygentEvents.push({type: e.type, shown: body ? body.textContent.length : -1,
                                        data: e.type === 'evolution_complete' ? e.data : null});
          });
        }"""
    )


def test_status_bar_shows_connection_and_shortcut_opens_panel(ui: UI) -> None:
    def steps(page: Any) -> None:
        status = page.locator("#jp-pygent-status")
        status.wait_for(timeout=30_000)
        page.wait_for_selector("#jp-pygent-status[data-state='connected']", timeout=30_000)
        page.wait_for_function(
            "document.querySelector('#jp-pygent-status').textContent.includes('GPU')",
            timeout=15_000,
        )
        text = status.text_content()
        assert text.startswith("Pygent: connected")
        assert "no GPU" in text or "GPU " in text
        assert not page.locator("#pygent-panel").is_visible()
        page.locator("#jp-main-dock-panel").click()
        page.keyboard.press(
            "Control+Shift+Y"
        )  # the settings schema's shortcut for pygent:open-panel
        page.wait_for_selector("#pygent-panel", state="visible", timeout=10_000)
        tabs = page.locator("#pygent-panel .lm-TabBar-tab .lm-TabBar-tabLabel").all_text_contents()
        assert tabs == ["Chat", "Reasoning", "Evolution", "Metrics", "MCP", "Memory"]
        page.screenshot(path=str(ARTIFACTS / "panel-open.png"))

    ui(steps)


def test_chat_streams_a_reply_from_the_embedded_model(ui: UI) -> None:
    def steps(page: Any) -> None:
        page.wait_for_selector("#pygent-panel", state="visible")
        # pickers filled from the server: its agents (health) and the backend's models
        page.wait_for_function(
            "document.querySelectorAll('.jp-pygent-model option').length >= 2", timeout=30_000
        )
        models = page.locator(".jp-pygent-model option").all_inner_texts()
        assert any("smollm2" in m.lower() for m in models), models
        agents = page.locator(".jp-pygent-agent option").evaluate_all("os => os.map(o => o.value)")
        assert {"general", "coding", "reasoning"} <= set(agents), agents
        _record_events(page)
        # a Launcher in the main area, made before the user starts typing (creating one is slow
        # on a busy page; the guarded move below is only its activation)
        launcher = page.evaluate(
            "async () => { const app = window.jupyterapp; const find = () =>"
            " [...app.shell.widgets('main')].find(w => w.node.querySelector('.jp-Launcher'));"
            " let w = find(); if (!w) { await app.commands.execute('launcher:create'); w = find(); }"
            " return w.id; }"
        )
        box = page.locator(".jp-pygent-chat-input")
        box.focus()  # keyboard only from here: type and press Enter
        page.keyboard.type("Name three colours.")
        page.keyboard.press("Enter")
        page.locator(".jp-pygent-msg-user").last.wait_for(timeout=5_000)
        # JupyterLab activating a main-area widget late (its layout restorer does so with the
        # Launcher when the page is busy, which took the composer's focus ~1 s after a send)
        # leaves the composer focused: the user keeps typing where they were
        page.evaluate("id => window.jupyterapp.shell.activateById(id)", launcher)
        page.wait_for_timeout(1000)
        assert page.evaluate(FOCUSED_IN_COMPOSER), page.evaluate(ACTIVE_ELEMENT)
        assert (
            page.locator(".jp-pygent-msg-user .jp-pygent-body").text_content()
            == "Name three colours."
        )
        page.wait_for_function(
            "window.__pygentEvents.some(e => e.type === 'chat_stream' && e.shown > 0)",
            timeout=120_000,
        )
        page.screenshot(path=str(ARTIFACTS / "chat-streaming.png"))
        page.wait_for_function(
            "window.__pygentEvents.some(e => e.type === 'chat_response')", timeout=120_000
        )
        page.wait_for_selector(".jp-pygent-msg-agent:not(.jp-pygent-streaming)", timeout=10_000)
        events = page.evaluate("window.__pygentEvents")
        types = [e["type"] for e in events]
        streams = [e for e in events if e["type"] == "chat_stream"]
        assert len(streams) >= 2, types
        assert types.index("chat_response") > max(
            i for i, t in enumerate(types) if t == "chat_stream"
        )
        # the bubble grew while the deltas arrived, before the final answer
        assert any(e["shown"] > 0 for e in streams)
        answer = page.locator(".jp-pygent-msg-agent .jp-pygent-body").last.inner_text().strip()
        assert answer, "the final answer is empty"
        meta = page.locator(".jp-pygent-msg-agent .jp-pygent-meta").last.text_content()
        assert "tok/s" in meta
        assert not page.locator(".jp-pygent-send").is_disabled()
        assert page.locator(".jp-pygent-cancel").is_disabled()
        assert page.evaluate(FOCUSED_IN_COMPOSER), page.evaluate(ACTIVE_ELEMENT)
        page.screenshot(path=str(ARTIFACTS / "chat-answered.png"))

    ui(steps)


def test_chat_history_and_markdown(ui: UI) -> None:
    def steps(page: Any) -> None:
        # the answer was rendered by JupyterLab's (sanitizing) Markdown renderer
        assert page.locator(".jp-pygent-msg-agent .jp-pygent-md .jp-RenderedMarkdown").count() >= 1
        history = page.locator(".jp-pygent-history")
        conversation = history.input_value()
        assert conversation, "the new conversation was not added to the history picker"
        page.locator(".jp-pygent-new-chat").click()
        assert page.locator(".jp-pygent-chat-log .jp-pygent-msg").count() == 0
        assert history.input_value() == ""
        history.select_option(conversation)
        page.wait_for_selector(".jp-pygent-msg-user", timeout=10_000)
        bodies = page.locator(".jp-pygent-chat-log .jp-pygent-body").all_inner_texts()
        assert bodies[0] == "Name three colours."
        assert len(bodies) == 2 and bodies[1].strip()

    ui(steps)


def test_palette_new_chat_and_settings_schema(ui: UI) -> None:
    def steps(page: Any) -> None:
        props = page.evaluate(
            "window.jupyterapp.serviceManager.settings.fetch('pygent-jupyter:plugin')"
            ".then(s => Object.keys(s.schema.properties).sort())"
        )
        assert props == ["chartWindow", "defaultAgent", "metricsInterval"]
        assert page.locator(".jp-pygent-chat-log .jp-pygent-msg").count() > 0
        palette = page.locator(".lm-CommandPalette-input")
        page.evaluate("window.jupyterapp.commands.execute('apputils:activate-command-palette')")
        palette.fill("New Pygent Chat")
        page.locator(".lm-CommandPalette-item", has_text="New Pygent Chat").first.wait_for()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "document.activeElement && document.activeElement.classList"
            ".contains('jp-pygent-chat-input')",
            timeout=10_000,
        )
        assert page.locator(".jp-pygent-chat-log .jp-pygent-msg").count() == 0

    ui(steps)


def test_chat_cancel_with_escape_keeps_the_partial_answer(ui: UI) -> None:
    def steps(page: Any) -> None:
        page.locator(".jp-pygent-new-chat").click()
        page.locator(".jp-pygent-agent").select_option("coding")
        _record_events(page)
        page.locator(".jp-pygent-chat-input").fill(
            "Write a long Python module with ten functions and docstrings."
        )
        page.locator(".jp-pygent-send").click()  # Enter-to-send is covered above
        page.wait_for_function(
            "window.__pygentEvents.some(e => e.type === 'chat_stream' && e.shown >= 60)",
            timeout=120_000,
        )
        assert not page.locator(".jp-pygent-cancel").is_disabled()
        page.locator(".jp-pygent-chat-input").focus()
        page.keyboard.press("Escape")
        page.wait_for_selector(".jp-pygent-msg-agent.jp-pygent-incomplete", timeout=30_000)
        meta = page.locator(".jp-pygent-msg-agent .jp-pygent-meta").last.text_content()
        assert "cancelled" in meta
        partial = page.locator(".jp-pygent-msg-agent .jp-pygent-body").last.inner_text()
        assert len(partial.strip()) >= 20, partial  # what had streamed stays visible
        assert page.locator(".jp-pygent-cancel").is_disabled()
        page.screenshot(path=str(ARTIFACTS / "chat-cancelled.png"))

    ui(steps)


def test_metrics_charts_update_live(ui: UI) -> None:
    def steps(page: Any) -> None:
        page.locator("#pygent-panel .lm-TabBar-tab", has_text="Metrics").click()
        page.wait_for_selector(".jp-pygent-kv.jp-pygent-has-sample", timeout=20_000)
        points = (
            "(() => { const p = document.querySelector('.jp-pygent-tab-metrics polyline');"
            " return p ? p.getAttribute('points').trim().split(' ').length : 0; })()"
        )
        page.wait_for_function(f"{points} >= 2", timeout=20_000)
        first = page.evaluate(points)
        label = page.locator(".jp-pygent-tab-metrics .jp-pygent-chart-svg").first.get_attribute(
            "aria-label"
        )
        assert label.startswith("CPU: cpu ") and "%" in label
        page.wait_for_function(f"{points} > {first}", timeout=20_000)
        gpu = page.locator(".jp-pygent-tab-metrics").inner_text()
        assert "GPU" in gpu
        page.screenshot(path=str(ARTIFACTS / "metrics.png"))

    ui(steps)


def test_mcp_tab_lists_the_running_server_and_calls_a_tool(ui: UI) -> None:
    def steps(page: Any) -> None:
        page.locator("#pygent-panel .lm-TabBar-tab", has_text="MCP").click()
        row = page.locator("tr[data-server='time']")
        row.wait_for(timeout=30_000)
        page.wait_for_function(
            "document.querySelector(\"tr[data-server='time'] .jp-pygent-state\")"
            ".textContent === 'running'",
            timeout=60_000,
        )
        # the token user may manage servers (Jupyter's /api/me permissions), so Stop is offered
        row.get_by_role("button", name="Stop time").wait_for(timeout=10_000)
        page.wait_for_function(
            "[...document.querySelectorAll('.jp-pygent-tab-mcp select[aria-label=Tool] option')]"
            ".some(o => o.value === 'get_current_time')",
            timeout=30_000,
        )
        page.locator(".jp-pygent-tab-mcp select[aria-label=Tool]").select_option("get_current_time")
        page.locator(".jp-pygent-args").fill('{"timezone": "UTC"}')
        page.locator(".jp-pygent-call").click()
        page.wait_for_function(
            "document.querySelector('.jp-pygent-result').textContent.startsWith('Result')",
            timeout=30_000,
        )
        assert "UTC" in page.locator(".jp-pygent-result").text_content()
        page.screenshot(path=str(ARTIFACTS / "mcp.png"))

    ui(steps)


def _tab(page: Any, label: str) -> None:
    page.locator("#pygent-panel .lm-TabBar-tab", has_text=label).click()


def test_memory_tab_adds_and_finds_a_note(ui: UI) -> None:
    def steps(page: Any) -> None:
        _tab(page, "Memory")
        tab = page.locator(".jp-pygent-tab-memory")
        tab.locator("summary").click()
        tab.locator(".jp-pygent-note").fill("FAISS runs nearest-neighbour vector search on GPUs.")
        tab.get_by_role("button", name="Add").click()
        page.wait_for_function(
            "document.querySelector('.jp-pygent-tab-memory .jp-pygent-summary')"
            ".textContent === 'Remembered.'",
            timeout=60_000,
        )
        tab.get_by_label("Search query").fill("similarity search on graphics cards")
        tab.get_by_label("Search query").press("Enter")
        hit = tab.locator(".jp-pygent-hit").first
        hit.wait_for(timeout=30_000)
        assert "FAISS runs nearest-neighbour" in hit.inner_text()
        page.screenshot(path=str(ARTIFACTS / "memory.png"))

    ui(steps)


def test_reasoning_tab_grows_a_live_tree(ui: UI) -> None:
    def steps(page: Any) -> None:
        _tab(page, "Reasoning")
        tab = page.locator(".jp-pygent-tab-reasoning")
        assert tab.get_by_label("Puzzle or problem").input_value() == (
            "Plan a picnic for four friends."
        )
        tab.get_by_label("Budget: most model calls").fill("6")
        tab.locator(".jp-pygent-start").click()
        page.wait_for_function(
            "document.querySelectorAll('.jp-pygent-tab-reasoning [role=treeitem]').length >= 2",
            timeout=120_000,
        )
        page.wait_for_function(
            "document.querySelector('.jp-pygent-tab-reasoning .jp-pygent-summary')"
            ".textContent.startsWith('Done')",
            timeout=180_000,
        )
        summary = tab.locator(".jp-pygent-summary").text_content()
        assert "nodes" in summary and "LLM calls" in summary
        # the run picker names the task, the problem, the date and the outcome, not `tot-…`
        label = tab.locator(".jp-pygent-run option:checked").inner_text()
        assert label.startswith("Open: Plan a picnic"), label
        assert not label.startswith("tot-") and " · " in label, label
        # keyboard: the first tree item is tabbable and arrows move through the tree
        first = tab.locator("[role=treeitem]").first
        first.focus()
        page.keyboard.press("ArrowDown")
        focused = page.evaluate("document.activeElement.getAttribute('role')")
        assert focused == "treeitem"
        page.screenshot(path=str(ARTIFACTS / "reasoning.png"))

    ui(steps)


def test_evolution_tab_charts_fitness(ui: UI) -> None:
    def steps(page: Any) -> None:
        _tab(page, "Evolution")
        tab = page.locator(".jp-pygent-tab-evolution")
        tab.get_by_label("Population size").fill("2")
        tab.get_by_label("Generations").fill("1")
        tab.get_by_label("Budget: most evaluations").fill("4")
        _record_events(page)
        tab.locator(".jp-pygent-start").click()
        page.wait_for_function(
            "/^(Completed|Stopped|Failed|Done)/.test("
            "document.querySelector('.jp-pygent-tab-evolution .jp-pygent-summary').textContent)",
            timeout=240_000,
        )
        summary = tab.locator(".jp-pygent-summary").text_content()
        assert "best fitness" in summary, summary
        # the run's winners become chat agents, and the chat picker offers them
        done = page.evaluate(
            "window.__pygentEvents.filter(e => e.type === 'evolution_complete').map(e => e.data)"
        )
        assert len(done) == 1
        for name in done[0].get("agent_types") or []:
            page.wait_for_function(
                "[...document.querySelectorAll('.jp-pygent-agent option')]"
                f".some(o => o.value === {json.dumps(name)})",
                timeout=10_000,
            )
        assert tab.locator("polyline").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "evolution.png"))

    ui(steps)


def test_reconnect_resumes_on_the_same_socket_path(ui: UI) -> None:
    def steps(page: Any) -> None:
        _record_events(page)
        states = page.evaluate(
            """() => new Promise(resolve => {
              const conn = window.__pygentConnection, seen = [];
              const off = conn.onState(s => {
                seen.push(s);
                if (s === 'connected') { off(); resolve(seen); }
              });
              conn.reconnectNow();
            })"""
        )
        assert states == ["reconnecting", "connected"]
        page.wait_for_function(
            "window.__pygentEvents.some(e => e.type === 'resumed')", timeout=10_000
        )
        types = page.evaluate("window.__pygentEvents.map(e => e.type)")
        assert types.index("connection_status") < types.index("resumed")
        assert "error" not in types[: types.index("resumed")]
        url = page.evaluate("window.__pygentConnection._options.url")
        assert url.endswith(f"{BASE_URL}pygent/ws")
        page.wait_for_selector("#jp-pygent-status[data-state='connected']", timeout=10_000)

    ui(steps)


PANEL_TABS = ("Chat", "Reasoning", "Evolution", "Metrics", "MCP", "Memory")


def test_panel_contrast_axes_and_screens_in_both_themes(ui: UI) -> None:
    """Every tab, light then dark: text contrast >= 4.5:1 from the rendered colours (WCAG),
    charts with tick labels on both axes; a screenshot of each tab in each theme."""

    def steps(page: Any) -> None:
        # a conversation with Markdown to look at
        _tab(page, "Chat")
        chat = page.locator(".jp-pygent-tab-chat")
        history = chat.locator(".jp-pygent-history")
        if history.locator("option").count() > 1:
            history.select_option(index=1)
            page.wait_for_selector(".jp-pygent-msg-agent", timeout=20_000)
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            light = "true" if "Light" in theme else "false"
            page.evaluate(
                f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})"
            )
            page.wait_for_function(
                f"document.body.dataset.jpThemeLight === '{light}'", timeout=30_000
            )
            page.wait_for_timeout(1000)
            failures: dict[str, Any] = {}
            for label in PANEL_TABS:
                _tab(page, label)
                page.wait_for_timeout(700 if label == "Metrics" else 300)
                if label == "Metrics":
                    page.wait_for_function(
                        "document.querySelectorAll('.jp-pygent-tab-metrics text.jp-pygent-tick')"
                        ".length >= 4",
                        timeout=20_000,
                    )
                    ticks = page.locator(".jp-pygent-tab-metrics text.jp-pygent-tick")
                    labels = ticks.all_text_contents()
                    assert any(t.endswith("%") for t in labels), labels
                    assert any(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in labels), labels
                if label == "Evolution":
                    ticks = page.locator(".jp-pygent-tab-evolution text.jp-pygent-tick")
                    assert ticks.count() >= 2, "the fitness chart has no tick labels"
                bad = low_contrast(page, f"#pygent-panel .jp-pygent-tab-{label.lower()}")
                if bad:
                    failures[label] = bad[:5]
                name = f"panel-{label.lower()}-{'light' if light == 'true' else 'dark'}.png"
                page.locator("#pygent-panel").screenshot(path=str(ARTIFACTS / name))
                keep_screenshot(ARTIFACTS / name)
            assert not failures, (theme, failures)
        page.evaluate(
            "window.jupyterapp.commands.execute('apputils:change-theme', "
            "{theme: 'JupyterLab Light'})"
        )
        page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=30_000)
        _tab(page, "Chat")

    ui(steps)


def test_conversations_search_rename_delete(ui: UI) -> None:
    def steps(page: Any) -> None:
        _tab(page, "Chat")
        chat = page.locator(".jp-pygent-tab-chat")
        history = chat.locator(".jp-pygent-history")
        page.wait_for_function(
            "document.querySelectorAll('.jp-pygent-history option').length >= 2",
            timeout=20_000,
        )
        history.select_option(index=1)
        page.wait_for_selector(".jp-pygent-msg-agent", timeout=20_000)
        labels = history.locator("option").all_inner_texts()
        assert not any(label.startswith("cv-") for label in labels), labels
        # rename through the dialog
        chat.locator(".jp-pygent-rename").click()
        dialog = page.locator(".jp-Dialog")
        dialog.locator("input").fill("Renamed by the browser test")
        dialog.get_by_role("button", name="Ok").click()
        page.wait_for_function(
            "[...document.querySelectorAll('.jp-pygent-history option')]"
            ".some(o => o.textContent.startsWith('Renamed by the browser test'))",
            timeout=10_000,
        )
        # search: only matching conversations stay
        chat.locator(".jp-pygent-search").fill("zzz-no-such-words")
        page.wait_for_function(
            "document.querySelectorAll('.jp-pygent-history option').length === 1", timeout=10_000
        )
        chat.locator(".jp-pygent-search").fill("Renamed by the")
        page.wait_for_function(
            "document.querySelectorAll('.jp-pygent-history option').length === 2", timeout=10_000
        )
        history.select_option(index=1)
        page.wait_for_selector(".jp-pygent-msg-agent", timeout=20_000)
        # delete (confirmed): gone from the list, the log starts over
        chat.locator(".jp-pygent-delete").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        page.wait_for_function(
            "document.querySelectorAll('.jp-pygent-history option').length === 1", timeout=10_000
        )
        assert chat.locator(".jp-pygent-msg").count() == 0
        chat.locator(".jp-pygent-search").fill("")

    ui(steps)


def test_dark_theme_uses_jupyterlab_variables(ui: UI) -> None:
    def steps(page: Any) -> None:
        light = page.evaluate(
            "getComputedStyle(document.querySelector('.jp-pygent-panel')).backgroundColor"
        )
        page.evaluate(
            "window.jupyterapp.commands.execute("
            "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
        )
        page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=20_000)
        page.wait_for_function(
            "getComputedStyle(document.querySelector('.jp-pygent-panel')).backgroundColor"
            f" !== '{light}'",
            timeout=10_000,
        )
        page.locator("#pygent-panel .lm-TabBar-tab", has_text="Chat").click()
        page.screenshot(path=str(ARTIFACTS / "dark-chat.png"))
        page.locator("#pygent-panel .lm-TabBar-tab", has_text="Metrics").click()
        page.screenshot(path=str(ARTIFACTS / "dark-metrics.png"))

    ui(steps)


# Every element of the open tab that sticks out of the panel on the right (overflow), and
# whether the tab scrolls sideways as a whole; `pre` blocks may scroll inside themselves.
OVERFLOW_JS = """(sel) => {
  const tab = document.querySelector(sel), panel = document.querySelector('#pygent-panel');
  const right = panel.getBoundingClientRect().right + 1, out = [];
  for (const el of tab.querySelectorAll('*')) {
    if (el.closest('pre, .jp-pygent-scroll, .jp-pygent-chat-log, svg')) continue;
    if (el.closest('details:not([open]) > :not(summary)')) continue;  // not shown
    const r = el.getBoundingClientRect();
    if (r.width && r.right > right) out.push((el.className || el.tagName).toString().slice(0, 50));
  }
  return {out: out.slice(0, 8), scrolls: tab.scrollWidth > tab.clientWidth + 1,
          width: panel.getBoundingClientRect().width};
}"""


def test_panel_layout_holds_at_1600px(ui: UI) -> None:
    """A wide window: the panel keeps its layout (no tab scrolls sideways, nothing sticks out),
    and a wider sidebar is used by the tabs (they follow the available width)."""

    def steps(page: Any) -> None:
        page.set_viewport_size({"width": 1600, "height": 1000})
        sizes = None
        try:
            page.wait_for_timeout(800)
            widths = {}
            for label in PANEL_TABS:
                _tab(page, label)
                page.wait_for_timeout(300)
                sel = f"#pygent-panel .jp-pygent-tab-{label.lower()}"
                fit = page.evaluate(OVERFLOW_JS, sel)
                assert not fit["out"] and not fit["scrolls"], (label, fit)
                widths[label] = page.evaluate(
                    f"document.querySelector('{sel}').getBoundingClientRect().width"
                )
                assert widths[label] >= fit["width"] - 40, (label, widths[label], fit)
                name = f"panel-{label.lower()}-1600px.png"
                page.locator("#pygent-panel").screenshot(path=str(ARTIFACTS / name))
                keep_screenshot(ARTIFACTS / name)
            # the user drags the sidebar wider: the chat follows (log and composer as wide)
            # (JupyterLab's main split panel, as the drag handle resizes it)
            sizes = page.evaluate(
                "() => { const sp = window.jupyterapp.shell._hsplitPanel;"
                " const before = sp.relativeSizes(); const n = before.length;"
                " sp.setRelativeSizes(before.map((_, i) => i === n - 1 ? 0.45 : 0.55 / (n - 1)));"
                " return before; }"
            )
            page.wait_for_timeout(800)
            _tab(page, "Chat")
            page.wait_for_timeout(300)
            panel_w = page.evaluate(
                "document.querySelector('#pygent-panel').getBoundingClientRect().width"
            )
            chat = page.evaluate(
                "(() => { const r = s => document.querySelector(s).getBoundingClientRect().width;"
                " return {log: r('.jp-pygent-chat-log'), input: r('.jp-pygent-chat-input')}; })()"
            )
            assert panel_w >= 650, panel_w
            assert chat["log"] >= panel_w - 60 and chat["input"] >= panel_w * 0.6, (panel_w, chat)
            fit = page.evaluate(OVERFLOW_JS, "#pygent-panel .jp-pygent-tab-chat")
            assert not fit["out"] and not fit["scrolls"], fit
            page.locator("#pygent-panel").screenshot(path=str(ARTIFACTS / "panel-chat-wide.png"))
            keep_screenshot(ARTIFACTS / "panel-chat-wide.png")
        finally:
            if sizes:
                page.evaluate(
                    "(s) => window.jupyterapp.shell._hsplitPanel.setRelativeSizes(s)", sizes
                )
            page.set_viewport_size({"width": 1400, "height": 900})
            _tab(page, "Chat")

    ui(steps)


def test_panel_contrast_in_the_high_contrast_theme(ui: UI) -> None:
    """JupyterLab's own high-contrast theme: every text of every tab keeps >= 4.5:1 (the
    panel takes its colours from the theme's variables); a screenshot of each tab."""

    def steps(page: Any) -> None:
        theme = "JupyterLab Dark High Contrast"
        themes = page.evaluate(
            "window.jupyterapp.serviceManager.settings.fetch("
            "'@jupyterlab/apputils-extension:themes').then(s => s.schema.properties.theme)"
        )
        assert themes is not None
        page.evaluate(
            f"window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})"
        )
        try:
            page.wait_for_function(
                "document.body.dataset.jpThemeName === 'JupyterLab Dark High Contrast'",
                timeout=30_000,
            )
            page.wait_for_timeout(1000)
            failures: dict[str, Any] = {}
            for label in PANEL_TABS:
                _tab(page, label)
                page.wait_for_timeout(700 if label == "Metrics" else 300)
                bad = low_contrast(page, f"#pygent-panel .jp-pygent-tab-{label.lower()}")
                if bad:
                    failures[label] = bad[:5]
                name = f"panel-{label.lower()}-high-contrast.png"
                page.locator("#pygent-panel").screenshot(path=str(ARTIFACTS / name))
                keep_screenshot(ARTIFACTS / name)
            assert not failures, failures
        finally:
            page.evaluate(
                "window.jupyterapp.commands.execute('apputils:change-theme', "
                "{theme: 'JupyterLab Light'})"
            )
            page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=30_000)
            _tab(page, "Chat")

    ui(steps)
