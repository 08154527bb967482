"""Notebook agents in a real Jupyter Server: files through its ContentsManager and authorizer,
notebooks created through it, the service wired by the app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pygent_jupyter.testing.scripted_tools import ScriptedToolModel, Step, tool_call

SERVICES = [
    "pygent_jupyter.services.agents:AgentsService",
    "pygent_jupyter.services.notebook:NotebookService",
]


@pytest.fixture
def pygent_config() -> dict[str, Any]:
    return {
        "PygentJupyter": {"services": SERVICES},
        "AgentsService": {"backend": "local"},
    }


def _attach(model: ScriptedToolModel, pygent_app: Any) -> None:
    pygent_app.hub.service("agents").set_provider(model)


async def test_file_attachment_and_create_notebook_through_contents(
    pygent_app: Any, ws_client: Any, jp_root_dir: Path
) -> None:
    (jp_root_dir / "data.csv").write_text("x,y\n1,2\n3,4\n")
    model = ScriptedToolModel(
        Step(
            tool_calls=[tool_call("notebook_create", path="plots/new.ipynb", cells=["import math"])]
        ),
        Step(tool_calls=[tool_call("notebook_create", path="plots/new.ipynb", cells=["again"])]),
        Step("created"),
    )
    _attach(model, pygent_app)
    (jp_root_dir / "plots").mkdir()
    ws = await ws_client()
    attachments = [
        {"kind": "notebook", "path": "a.ipynb", "cells": [{"id": "c1", "source": "1"}]},
        {"kind": "file", "path": "data.csv"},
        {"kind": "file", "path": "missing.csv"},
    ]
    await ws.send(
        "chat_message",
        {"message": {"content": "plot it", "agentId": "notebook"}, "attachments": attachments},
        id="m1",
    )
    req = await ws.recv("agent_action_request", timeout=10)
    assert req["data"]["kind"] == "create_notebook" and "+import math" in req["data"]["diff"]
    rec = await ws.request(
        "agent_action_result",
        {"proposal_id": req["data"]["proposal_id"], "decision": "approved"},
        reply_type="agent_action_recorded",
    )
    assert rec["data"]["status"] == "applied"
    nb = json.loads((jp_root_dir / "plots" / "new.ipynb").read_text())
    assert "".join(nb["cells"][0]["source"]) == "import math"
    second = await ws.recv("agent_action_request", timeout=10)
    rec2 = await ws.request(
        "agent_action_result",
        {"proposal_id": second["data"]["proposal_id"], "decision": "approved"},
        reply_type="agent_action_recorded",
    )
    assert rec2["data"]["status"] == "failed"  # it exists now: never overwritten
    await ws.recv("chat_response", timeout=10)
    system = model.calls[0]["messages"][0]["content"]
    assert "File data.csv:\nx,y\n1,2\n3,4" in system
    assert "file missing.csv: not attached" in system
    assert "already exists" in model.tool_messages()[1]
    health = pygent_app.hub.health()["services"]["notebook"]
    assert health["state"] == "up" and health["pending_proposals"] == 0
