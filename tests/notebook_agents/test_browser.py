"""Notebook agents in a real JupyterLab (headless Chromium): the panel attaches the open
notebook, shows the agent's proposals with their diff, applies accepted ones on the live
notebook, runs a cell with approval (the agent reads its output), passes a rejection to the
model, and undo restores the notebook.

The model is the Ollama-API test server answering from a function of the conversation, so
the agent really goes through the server's tool loop: insert a cell, run it, delete the
original cell (rejected), answer with the output it read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import pytest
from _browser import (  # tests/_browser.py (tests/ is on sys.path)
    CHROMIUM,
    free_port,
    lab_config,
    launch_chromium,
    start_lab,
    stop_process,
    wait_http,
)

from pygent_jupyter.testing import OllamaTestServer
from pygent_jupyter.testing.ollama_server import Reply

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / "pygent_jupyter" / "labextension"
ARTIFACTS = ROOT / "test-artifacts" / "notebook_agents"
TOKEN = "pygent-notebook-agent-token"

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def agent(body: dict[str, Any]) -> Reply:
    """A tool-calling model: insert, run what it inserted, propose deleting c1, answer."""
    tools = [m for m in body.get("messages", []) if m.get("role") == "tool"]
    if not body.get("tools"):
        return Reply("I am out of steps.")
    if not tools:
        call = {"name": "notebook_insert_cell", "arguments": {"source": "y = x * 2\nprint(y)"}}
    else:
        last = str(tools[-1].get("content", ""))
        inserted = re.search(r"inserted cell (\S+)\.", str(tools[0].get("content", "")))
        if last.startswith("Applied: inserted") and inserted:
            call = {"name": "notebook_run_cell", "arguments": {"cell_id": inserted.group(1)}}
        elif last.startswith("Ran cell"):
            first = body["messages"][0]["content"]
            original = re.search(r"\[cell (\S+)\] \(code", first)
            cell = original.group(1) if original else "unknown"
            call = {"name": "notebook_delete_cell", "arguments": {"cell_id": cell}}
        else:
            ran = next(
                (str(t["content"]) for t in tools if str(t["content"]).startswith("Ran")), ""
            )
            output = ran.split("Output:\n", 1)[-1].strip()
            first = body["messages"][0]["content"]
            var = re.search(r"Variable x \(kernel summary\):\n(.*)\n(.*)", first)
            saw = f" I saw {var.group(1)} = {var.group(2)}." if var else ""
            return Reply(
                f"Done: the new cell printed {output}. {last.split('.')[0]}.{saw}\n\n"
                "Next you could try:\n\n```python\nz = y + 1\n```\n"
            )
    return Reply("", tool_calls=[{"function": call}])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not (BUILT / "package.json").exists():
        pytest.fail("the lab extension is not built: run `npm run build` in labextension/")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    ollama = OllamaTestServer(models=["llama3.2:latest"]).start_in_thread()
    ollama.responder = agent
    tmp = tmp_path_factory.mktemp("lab")
    config_dir, root_dir, ext_dir = tmp / "config", tmp / "root", tmp / "labextensions"
    for d in (config_dir / "labconfig", root_dir, ext_dir):
        d.mkdir(parents=True)
    (ext_dir / "pygent-jupyter").symlink_to(BUILT, target_is_directory=True)
    (config_dir / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 21")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, root_dir / "analysis.ipynb")
    port = free_port()
    config = lab_config(
        port=port,
        root_dir=root_dir,
        ext_dir=ext_dir,
        token=TOKEN,
        db_path=tmp / "pygent.db",
        services=[
            "pygent_jupyter.services.agents.service:AgentsService",
            "pygent_jupyter.services.notebook:NotebookService",
        ],
    )
    config |= {
        "AgentsService": {"backend": "ollama"},
        "OllamaProvider": {"host": ollama.host, "model": "llama3.2"},
    }
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    log = tmp / "lab.log"
    proc = start_lab(tmp, config_dir, root_dir, log)
    root = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{root}/api/status?token={TOKEN}", proc, log, 90)
        yield root, root_dir
    finally:
        stop_process(proc)
        ollama.stop_thread()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "jupyter-lab.log").write_text(log.read_text())


def _steps(root: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    seen: dict[str, Any] = {}
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(f"{root}/lab/tree/analysis.ipynb?token={TOKEN}")
            page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell.jp-mod-active", timeout=30_000)
            page.evaluate("() => window.jupyterapp.commands.execute('pygent:open-panel')")
            chip = page.locator(".jp-pygent-chip").first
            chip.wait_for(timeout=30_000)
            seen["chip"] = chip.inner_text()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-pygent-agent option')]"
                ".some(o => o.value === 'notebook')",
                timeout=30_000,
            )
            page.locator(".jp-pygent-agent").select_option("notebook")
            # 0. `@var x`: the kernel summarizes x silently; a chip shows it will be attached
            kernel = "window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel"
            page.wait_for_function(
                f"() => {{ const k = {kernel}; return !!k && k.connectionStatus === 'connected'"
                " && k.status === 'idle'; }",
                timeout=120_000,
            )
            # the user ran the notebook's first cell: x = 21 lives in the kernel
            page.evaluate(
                f"async () => {{ await {kernel}.requestExecute({{code: 'x = 21'}}).done; }}"
            )
            page.locator(".jp-pygent-at").fill("@var x")
            page.locator(".jp-pygent-at").press("Enter")
            var_chip = page.locator(".jp-pygent-chip", has_text="variable: x")
            var_chip.wait_for(timeout=30_000)
            seen["var_chip"] = var_chip.inner_text()
            page.locator(".jp-pygent-chat-input").fill("double x in a new cell and run it")
            page.locator(".jp-pygent-send").click()
            # 1. insert: the card shows the diff; accept; the cell is in the live notebook
            card = page.locator('.jp-pygent-proposal[data-kind="insert_cell"]')
            card.wait_for(timeout=60_000)
            seen["insert_diff"] = card.locator(".jp-pygent-diff").inner_text()
            card.locator(".jp-pygent-accept").click()
            page.wait_for_function(
                "() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === 2",
                timeout=30_000,
            )
            seen["cells_after_insert"] = page.locator(
                ".jp-Notebook .jp-Cell .jp-InputArea-editor"
            ).all_inner_texts()
            # 2. run the new cell, with approval; its output reaches the agent
            run = page.locator('.jp-pygent-proposal[data-kind="run_cell"]')
            run.wait_for(timeout=60_000)
            # the kernel must have run x = 21 first (the agent's cell uses x)
            page.evaluate(
                "() => { const nb = window.jupyterapp.shell.currentWidget;"
                " nb.content.activeCellIndex = 0; }"
            )
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
            run.locator(".jp-pygent-accept").click()
            # 3. reject deleting the original cell
            delete = page.locator('.jp-pygent-proposal[data-kind="delete_cell"]')
            delete.wait_for(timeout=120_000)
            seen["delete_diff"] = delete.locator(".jp-pygent-diff").inner_text()
            delete.locator(".jp-pygent-reject").click()
            answer = page.locator(".jp-pygent-msg-agent .jp-pygent-body").last
            # the answer is complete and rendered: no longer streaming, its code block a <pre>
            page.wait_for_function(
                "() => { const b = [...document.querySelectorAll("
                "'.jp-pygent-msg-agent .jp-pygent-body')].pop();"
                " return !!b && !b.closest('.jp-pygent-streaming')"
                " && b.textContent.includes('Done:') && !!b.querySelector('pre'); }",
                timeout=60_000,
            )
            seen["answer"] = answer.inner_text()
            seen["chips_after_send"] = page.locator(".jp-pygent-chip").all_inner_texts()
            seen["outputs"] = page.locator(".jp-Notebook .jp-OutputArea-output").all_inner_texts()
            # 4. undo twice: the run (nothing to revert), then the insert
            page.locator(".jp-pygent-journal-box summary").click()
            for _ in range(2):
                page.locator(".jp-pygent-undo").click()
                page.wait_for_function(
                    "() => document.querySelector('.jp-pygent-progress').textContent === 'Undone.'",
                    timeout=30_000,
                )
                page.evaluate(
                    "() => document.querySelector('.jp-pygent-progress').textContent = ''"
                )
            page.wait_for_function(
                "() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === 1",
                timeout=30_000,
            )
            seen["cells_after_undo"] = page.locator(
                ".jp-Notebook .jp-Cell .jp-InputArea-editor"
            ).all_inner_texts()
            seen["journal"] = page.locator(".jp-pygent-journal-entry").all_inner_texts()
            # 5. a code block of the answer goes below the active cell with one click
            page.locator(".jp-pygent-msg-agent .jp-pygent-code-insert").last.click()
            page.wait_for_function(
                "() => document.querySelectorAll('.jp-Notebook .jp-Cell').length === 2",
                timeout=30_000,
            )
            seen["cells_after_code_block"] = page.locator(
                ".jp-Notebook .jp-Cell .jp-InputArea-editor"
            ).all_inner_texts()
            seen["errors"] = errors
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "notebook-agent.png"))
            browser.close()
    return seen


def test_proposals_are_reviewed_applied_run_rejected_and_undone(lab: tuple[str, Path]) -> None:
    root, _ = lab
    with ThreadPoolExecutor(max_workers=1) as pool:  # Playwright's sync API needs its own thread
        seen = pool.submit(_steps, root).result(timeout=600)
    assert "analysis.ipynb" in seen["chip"]
    # the variable went with the message as the kernel's summary (the model quotes it back),
    # and its chip is gone once sent (attachments belong to one message)
    assert "variable: x" in seen["var_chip"]
    assert "I saw" in seen["answer"] and "21" in seen["answer"].split("I saw", 1)[1], seen["answer"]
    assert not any("variable: x" in c for c in seen["chips_after_send"])
    assert "+y = x * 2" in seen["insert_diff"] and "+print(y)" in seen["insert_diff"]
    assert any("y = x * 2" in c for c in seen["cells_after_insert"])
    assert any("42" in o for o in seen["outputs"])
    assert "-x = 21" in seen["delete_diff"]
    assert "printed 42" in seen["answer"] and "The user rejected this delete_cell" in seen["answer"]
    assert len(seen["cells_after_undo"]) == 1 and "x = 21" in seen["cells_after_undo"][0]
    assert all("(undone)" in e for e in seen["journal"])
    assert "z = y + 1" in seen["cells_after_code_block"][1]
    assert not [e for e in seen["errors"] if "pygent" in e.lower()], seen["errors"]
