"""Every example notebook runs top to bottom (nbclient) against a real server with pygent.

The kernel gets exactly what the server exports to the kernels it starts ($PYGENT_URL,
$PYGENT_TOKEN), and the embedded defaults answer: the local GGUF model, FAISS on the CPU,
metrics without a GPU.
"""

from __future__ import annotations

import os
import subprocess
import time

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from .conftest import NOTEBOOKS, LabServer

# what a reader would check in each notebook's outputs
EXPECTED = {
    "01_quickstart.ipynb": ["services up", "samples plotted; GPU available", "%pygent chat"],
    "02_chat_agents.ipynb": ["tokens/s", "| id | title |", "invalid - data.message.content"],
    "03_tot_game24.ipynb": ["'llm_calls'", "| ToT (b=5) | 74.0 |", "| IO prompt | 7.3 |"],
    "04_evolution.ipynb": ["best fitness", "registered agent types", "generation 0 best"],
    "05_live_metrics.ipynb": ["samples; GPU available", "memory_percent", "GPUs:"],
    "06_mcp_tools.ipynb": ["configured servers: ['time']", "time is running", "get_current_time"],
    "07_memory.ipynb": [
        "stored 1 memory item(s)",
        "| score | text | metadata |",
        "Ollama serves local language models",
    ],
    "08_notebook_agent.ipynb": [
        "shape: 100 rows x 3 columns",
        "+df.plot(x='x', y='y')",
        "Applied: inserted cell c3.",
        "The user rejected this delete_cell: keep my imports",
        "undo: delete_cells ['c3']",
        "undone: [True, True]",
    ],
    "09_paper_tables.ipynb": [
        "tot_b5 ",
        "| cot_sc | 0.090 |",
        "batches recorded",
        "to paper_tables.jsonl",
    ],
}


def _text(nb: nbformat.NotebookNode) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            for key in ("text/markdown", "text/plain"):
                if key in out.get("data", {}):
                    parts.append(str(out["data"][key]))
    return "\n".join(parts)


def test_every_notebook_is_covered() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED)


def test_notebooks_are_stored_without_outputs() -> None:
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_top_to_bottom(
    name: str,
    lab_server: LabServer,
    monkeypatch: pytest.MonkeyPatch,
    record_property: pytest.RecordProperty,
) -> None:
    for key, value in lab_server.kernel_env().items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(lab_server.root)}},
    )
    started = time.perf_counter()
    client.execute()
    record_property("seconds", round(time.perf_counter() - started, 1))
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    text = _text(nb)
    for expected in EXPECTED[name]:
        assert expected in text, f"{name}: {expected!r} not in the outputs"
    assert "Traceback" not in text


def test_binder_builds_the_package_with_the_embedded_model() -> None:
    binder = NOTEBOOKS.parent / "binder"
    env = yaml.safe_load((binder / "environment.yml").read_text())
    deps = " ".join(str(d) for d in env["dependencies"])
    assert "python=3.11" in deps and "nodejs" in deps and "pip" in deps
    post = binder / "postBuild"
    assert os.access(post, os.X_OK), "repo2docker runs postBuild only when it is executable"
    subprocess.run(["bash", "-n", str(post)], check=True)  # it parses
    script = post.read_text()
    assert 'pip install --no-cache-dir -e ".[local,research,dask]"' in script
    assert "pip install --no-cache-dir --no-deps tree-of-thoughts-llm" in script  # notebook 09
    assert "jupyter server extension enable --sys-prefix pygent_jupyter" in script
