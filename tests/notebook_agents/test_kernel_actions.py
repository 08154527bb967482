"""``%%pygent`` attaches the calling cell and variables; with ``--act`` proposals are approved
at a prompt and applied in the kernel (next input, runs here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from pygent_jupyter.magics import PygentMagics, load_ipython_extension
from pygent_jupyter.widgets.actions import KernelActions


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    load_ipython_extension(ip)
    yield ip
    for name in ("df", "_pygent_answer", "_pygent_conversation", "y"):
        ip.user_ns.pop(name, None)


def _request(kind: str, pid: str, **extra: Any) -> dict[str, Any]:
    return {"proposal_id": pid, "kind": kind, "diff": "…", "target": {}, **extra}


def test_insert_run_replace_delete_in_the_kernel(shell: InteractiveShell) -> None:
    answers = iter([True, True, False, True, True, True])
    nexts: list[str] = []
    shell.set_next_input = lambda text, replace=False: nexts.append(text)  # type: ignore[method-assign]
    acts = KernelActions(shell, "%%pygent --act\nmake y", decide=lambda d: next(answers))
    ins = acts.handle(_request("insert_cell", "p1", source="y = 6 * 7\nprint(y)"))
    assert ins == {
        "proposal_id": "p1",
        "decision": "applied",
        "result": {"cell_ids": ["new-1"], "after": "y = 6 * 7\nprint(y)"},
    }
    assert nexts[-1] == "y = 6 * 7\nprint(y)"
    ran = acts.handle(_request("run_cell", "p2", target={"cell_id": "new-1"}))
    assert ran["decision"] == "applied" and ran["result"]["outputs"] == "42"
    assert shell.user_ns["y"] == 42
    rejected = acts.handle(_request("insert_cell", "p3", source="rm -rf"))
    assert rejected == {"proposal_id": "p3", "decision": "rejected"}
    bad = acts.handle(_request("run_cell", "p4", target={"cell_id": "calling"}))
    assert bad["decision"] == "failed" and "JupyterLab panel" in bad["result"]["error"]
    boom = acts.handle(_request("replace_cell", "p5", target={"cell_id": "new-1"}, source="1/0"))
    assert boom["result"]["before"].startswith("y = 6 * 7")
    err = acts.handle(_request("run_cell", "p6", target={"cell_id": "new-1"}))
    assert "ZeroDivisionError" in err["result"]["error"]
    auto = acts.handle(_request("create_notebook", "p7", auto_approved=True))
    assert auto == {"proposal_id": "p7", "decision": "approved"}


def test_cell_magic_attaches_the_cell_and_variable_summaries(shell: InteractiveShell) -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    class Link:
        def stream(self, type_: str, data: dict[str, Any], **_: Any) -> Iterator[dict[str, Any]]:
            sent.append((type_, data))
            yield {
                "type": "agent_action_request",
                "data": _request("insert_cell", "p1", source="df.describe()", auto_approved=True),
            }
            yield {
                "type": "chat_response",
                "data": {"conversation_id": "cv", "message": {"content": "done", "metadata": {}}},
            }

        def send_nowait(self, type_: str, data: dict[str, Any], msg_id: str) -> None:
            sent.append((type_, data))

    shell.register_magics(PygentMagics(shell, link_factory=lambda: Link()))
    shell.user_ns["df"] = pd.DataFrame({"x": range(10)})
    shell.run_cell_magic("pygent", "--act --vars df,missing", "describe df")
    (kind, chat), (kind2, decision) = sent
    assert kind == "chat_message" and kind2 == "agent_action_result"
    notebook, df, missing = chat["attachments"]
    assert notebook["actions"] is True and notebook["cells"][0] == {
        "id": "calling",
        "cell_type": "code",
        "source": "describe df",
    }
    assert df["name"] == "df" and "10 rows x 1 columns" in df["summary"] and df["truncated"]
    assert missing["summary"] == "missing: not defined"
    assert decision["decision"] == "applied" and decision["result"]["cell_ids"] == ["new-1"]
    assert shell.user_ns["_pygent_answer"] == "done"
