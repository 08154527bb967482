"""The notebook widgets in a real JupyterLab (headless Chromium), as a user meets them.

One notebook shows a chat with a long history, the live metrics dashboard, an evolution run
and a Tree-of-Thought. Checked from the rendered page: the chat scrolls and shows its newest
message, every text has a WCAG contrast of at least 4.5:1 in the light and the dark theme,
charts have tick labels, an 800 px window still shows the newest metrics point, and the saved
notebook reopened without its kernel shows each widget's last state (no "model not found").
Screenshots of each widget in both themes go to ``test-artifacts/widgets/`` (and
``/tmp/team/screens/`` when it exists).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from _browser import (  # tests/_browser.py (tests/ is on sys.path)
    CHROMIUM,
    element_screenshot,
    keep_screenshot,
    launch_chromium,
    low_contrast,
)

from .conftest import ARTIFACTS, LabServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SHOTS = ARTIFACTS / "widgets"
NOTEBOOK = "ux_widgets.ipynb"

CELLS = [
    "from pygent_jupyter.widgets import (ChatWidget, EvolutionWidget, MetricsDashboard,\n"
    "    ReasoningTreeWidget, shared_link)\n"
    "link = shared_link()",
    # a long conversation (fed as the server's events would arrive), then one more turn
    "chat = ChatWidget().attach(link)\n"
    "for i in range(40):\n"
    "    chat.messages.append({'role': 'user', 'content': f'question {i}: how do I sort?'})\n"
    "    chat.messages.append({'role': 'agent', 'agentId': 'coding', 'content':\n"
    "        f'Answer {i}: use `sorted()`\\n\\n```python\\nsorted([3, 1, 2])\\n```',\n"
    "        'metadata': {'model': 'smollm2', 'tokens_per_s': 42.0}})\n"
    "chat.messages.append({'role': 'agent', 'agentId': 'coding', 'content': 'NEWEST ANSWER'})\n"
    "chat.flush()\n"
    "chat",
    "metrics = MetricsDashboard(window=60).attach(link)\nmetrics",
    "evo = EvolutionWidget()\n"
    "for g in range(12):\n"
    "    evo.feed({'type': 'evolution_progress', 'data': {'run_id': 'evo-ux', 'phase':\n"
    "        'generation', 'generation': g, 'best': 0.3 + g / 20, 'mean': 0.3 + g / 30,\n"
    "        'worst': 0.1 + g / 40, 'diversity': 0.5, 'evaluations': 10 * g}})\n"
    "evo.feed({'type': 'evolution_complete', 'data': {'run_id': 'evo-ux', 'best': {'id': 'x',\n"
    "    'fitness': 0.85}, 'improvement': {'generation0_best': 0.3, 'final_best': 0.85,\n"
    "    'absolute': 0.55, 'relative': 1.83}, 'lineage': [{'generation': g, 'id': f'ind-{g}',\n"
    "    'op': 'mutate', 'fitness': g / 12} for g in range(12)]}})\n"
    "evo.flush()\n"
    "evo",
    "tree = ReasoningTreeWidget()\n"
    "nodes = [('n0', None, 0, None), ('n0.0', 'n0', 1, 0.8), ('n0.1', 'n0', 1, 0.2),\n"
    "         ('n0.0.0', 'n0.0', 2, 0.9), ('n0.0.1', 'n0.0', 2, None)]\n"
    "for nid, parent, depth, value in nodes:\n"
    "    tree.feed({'type': 'reasoning_update', 'data': {'run_id': 'tot-ux', 'event': 'node',\n"
    "        'node': {'id': nid, 'parent_id': parent, 'depth': depth, 'thought': nid,\n"
    "                 'status': 'evaluated', 'value': value}}})\n"
    "tree.feed({'type': 'reasoning_complete', 'data': {'run_id': 'tot-ux', 'answer': '24',\n"
    "    'solved': True, 'best_path_ids': ['n0', 'n0.0', 'n0.0.0'], 'status': 'done'}})\n"
    "tree.flush()\n"
    "tree",
]


def _notebook() -> dict[str, Any]:
    return {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": src,
                "outputs": [],
                "execution_count": None,
            }
            for src in CELLS
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _api(server: LabServer, method: str, path: str, body: Any = None) -> Any:
    req = urllib.request.Request(
        f"{server.url}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _set_theme(server: LabServer, theme: str) -> None:
    _api(
        server,
        "PUT",
        "lab/api/settings/@jupyterlab/apputils-extension:themes",
        {"raw": json.dumps({"theme": theme})},
    )


@pytest.fixture
def page() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
        try:
            yield page
        finally:
            (SHOTS / "browser-console.log").write_text("\n".join(console))
            context.close()
            browser.close()


def _shot(locator: Any, name: str) -> None:
    path = SHOTS / f"{name}.png"
    element_screenshot(locator, path)
    keep_screenshot(path)


def _open(page: Any, server: LabServer) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # ?reset: a fresh workspace, so tabs another test left open (the quickstart) are not
    # restored beside this notebook, where their cells would match the locators too
    page.goto(f"{server.url}lab/tree/{NOTEBOOK}?reset&token={server.token}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    with contextlib.suppress(PlaywrightTimeout):  # the kernel picker, when JupyterLab asks
        page.locator(".jp-Dialog").get_by_role("button", name="Select", exact=True).click(
            timeout=5_000
        )
    news = page.locator(".jp-toast-button", has_text="No")
    if news.count():
        news.first.click()


def _outputs(page: Any) -> dict[str, Any]:
    """Each widget's output (live or its saved snapshot), by cell."""

    def out(index: int) -> Any:
        return (
            page.locator(".jp-Cell")
            .nth(index)
            .locator(
                ".jp-OutputArea-output:has(.pygent-w), "
                ".jp-OutputArea-output:has(.jp-pygent-widget-fallback)"
            )
            .first
        )

    return {"chat": out(1), "metrics": out(2), "evolution": out(3), "reasoning": out(4)}


@pytest.mark.timeout(900)
def test_widgets_scroll_contrast_width_and_reopen(page: Any, lab_server: LabServer) -> None:
    page.set_default_timeout(60_000)
    (lab_server.root / NOTEBOOK).write_text(json.dumps(_notebook()))
    _set_theme(lab_server, "JupyterLab Light")
    _open(page, lab_server)
    # the kernel is idle (the indicator may sit in a toolbar that is not shown)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        state="attached", timeout=180_000
    )
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()  # this notebook is active
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:
        # -- 1. the chat scrolls, and the newest message is what you see -----------------
        log = page.locator(".pygent-chat-history .pygent-chat-log").first
        log.wait_for(timeout=180_000)
        newest = log.get_by_text("NEWEST ANSWER")
        newest.wait_for(timeout=60_000)
        box = log.evaluate(
            "el => ({overflow: getComputedStyle(el).overflowY, scroll: el.scrollHeight,"
            " client: el.clientHeight})"
        )
        assert box["overflow"] == "auto" and box["scroll"] > box["client"] + 1000, box
        log.evaluate("el => el.scrollIntoView({block: 'nearest'})")
        seen = newest.evaluate(
            "(el) => { const r = el.getBoundingClientRect(); const l = el.closest("
            "'.pygent-chat-log').getBoundingClientRect(); return r.top >= l.top - 1 &&"
            " r.bottom <= l.bottom + 1; }"
        )
        assert seen, "the newest message is scrolled out of the chat's view"
        # the input box comes after the log, never over it
        composer = page.locator(".pygent-chat textarea").first.bounding_box()
        assert composer["y"] >= log.bounding_box()["y"] + log.bounding_box()["height"] - 1

        # -- 2. charts have tick labels; metrics are live -----------------------------------
        outs = _outputs(page)
        for index, name in ((2, "metrics"), (3, "evolution"), (4, "reasoning")):
            out = outs[name]
            # outputs below the fold render when scrolled to (JupyterLab's windowing)
            cell = page.locator(".jp-Cell").nth(index)
            circle = out.locator(".pygent-chart svg circle").first
            for attempt in range(8):  # scrolled to again each time: it renders when in view
                cell.evaluate("el => el.scrollIntoView()")
                try:
                    circle.wait_for(timeout=15_000)
                    break
                except Exception:
                    if attempt == 7:
                        page.screenshot(path=str(SHOTS / f"failed-{name}-cell.png"))
                        raise
            labels = out.locator(".pygent-chart svg text").all_text_contents()
            numbers = [t for t in labels if t.replace(".", "").replace("-", "").isdigit()]
            assert len(numbers) >= 3, (name, labels)  # tick labels on the axes
        times = outs["metrics"].locator(".pygent-chart svg text").all_text_contents()
        assert any(len(t) == 8 and t.count(":") == 2 for t in times), times  # HH:MM:SS
        page.wait_for_function(
            "() => document.querySelectorAll('.pygent-chart svg circle').length > 10",
            timeout=120_000,
        )

        # -- 3. contrast >= 4.5:1, light theme; screenshots -----------------------------------
        page.wait_for_timeout(1500)
        bad = low_contrast(page, ".jp-OutputArea-output .pygent-w")
        outs = _outputs(page)
        for name, loc in outs.items():
            _shot(loc, f"widget-{name}-light")
        assert not bad, bad[:10]

        # -- 4. 800 px: charts fit the output and show the newest point --------------------------
        page.set_viewport_size({"width": 800, "height": 1000})
        page.wait_for_timeout(2500)
        fit = outs["metrics"].evaluate(
            "(out) => { const svg = out.querySelector('.pygent-chart svg');"
            " const o = out.getBoundingClientRect(); const s = svg.getBoundingClientRect();"
            " const xs = [...svg.querySelectorAll('circle')].map(c => c.getBoundingClientRect());"
            " const last = xs.reduce((a, b) => (b.right > a.right ? b : a));"
            " return {out: o.right, svg: s.right, svgLeft: s.left, last: last.right,"
            " lastLeft: last.left, width: s.width}; }"
        )
        assert fit["svg"] <= fit["out"] + 2 and fit["width"] > 300, fit
        assert fit["svgLeft"] <= fit["lastLeft"] and fit["last"] <= fit["svg"], fit
        _shot(outs["metrics"], "widget-metrics-800px")
        _shot(outs["chat"], "widget-chat-800px")
        page.set_viewport_size({"width": 1400, "height": 1000})

        # -- 5. dark theme: contrast again, screenshots ---------------------------------------
        page.keyboard.press("Control+s")
        page.wait_for_timeout(1500)
        _set_theme(lab_server, "JupyterLab Dark")
        page.reload()
        page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
        # the live widget (restored from the kernel) or its saved snapshot
        page.locator(".jp-OutputArea-output .pygent-chat-log:visible").first.wait_for(
            timeout=120_000
        )
        page.wait_for_timeout(3000)
        bad = low_contrast(page, ".jp-OutputArea-output .pygent-w")
        outs = _outputs(page)
        for name, loc in outs.items():
            _shot(loc, f"widget-{name}-dark")
        assert not bad, bad[:10]

        # -- 6. saved, kernel gone, reopened: every widget shows its last state ------------------
        page.keyboard.press("Control+s")
        page.wait_for_timeout(2000)
        for kernel in _api(lab_server, "GET", "api/kernels"):
            _api(lab_server, "DELETE", f"api/kernels/{kernel['id']}")
        _set_theme(lab_server, "JupyterLab Light")
        page.reload()
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
        page.locator(".jp-pygent-widget-fallback").first.wait_for(timeout=60_000)
        page.wait_for_timeout(5000)  # the widget manager gives up on the missing models
        text = page.locator(".jp-Notebook").inner_text()
        assert "Error displaying widget" not in text
        assert "model not found" not in text
        assert "NEWEST ANSWER" in text  # the chat's last state
        assert page.locator(".jp-pygent-widget-fallback svg.pygent-svg-chart").count() >= 3
        assert "samples" in text  # the metrics summary line
        shot = SHOTS / "reopened-notebook.png"
        page.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot)
        for name, loc in _outputs(page).items():
            if name != "chat":
                _shot(loc, f"reopened-{name}")
        page.wait_for_timeout(10)
        _shot(_outputs(page)["chat"], "reopened-chat")
    finally:
        page.screenshot(path=str(SHOTS / "final.png"))
        _set_theme(lab_server, "JupyterLab Light")
