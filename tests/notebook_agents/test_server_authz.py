"""A user who may not read contents cannot attach files (Jupyter's own authorizer decides)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer

from pygent_jupyter.testing.scripted_tools import ScriptedToolModel, Step

from .test_server import SERVICES, _attach


class NoContentsRead(Authorizer):
    """Everything but reading contents."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "contents" and action == "read")


@pytest.fixture
def pygent_config() -> dict[str, Any]:
    return {
        "ServerApp": {"authorizer_class": NoContentsRead},
        "PygentJupyter": {"services": SERVICES},
        "AgentsService": {"backend": "local"},
    }


async def test_unreadable_files_are_not_attached(
    pygent_app: Any, ws_client: Any, jp_root_dir: Path
) -> None:
    (jp_root_dir / "secret.txt").write_text("the password")
    model = ScriptedToolModel(Step("ok"))
    _attach(model, pygent_app)
    ws = await ws_client()
    await ws.send(
        "chat_message",
        {
            "message": {"content": "read it"},
            "attachments": [{"kind": "file", "path": "secret.txt"}],
        },
        id="m1",
    )
    response = await ws.recv("chat_response", timeout=10)
    system = model.calls[0]["messages"][0]["content"]
    assert "the password" not in system
    assert "not allowed to read 'contents'" in system
    assert response["data"]["message"]["metadata"]["memories"][0]["attachments"][0]["error"]
