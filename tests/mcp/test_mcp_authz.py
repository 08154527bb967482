"""Authorization: a Jupyter Authorizer that denies ``pygent:mcp`` and ``pygent:mcp:call``."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer
from mcp_fixtures import mcp_children, sdk_entry, write_config


class NoMCPAuthorizer(Authorizer):
    """Lets users in and chat, but never manage MCP servers or call their tools."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not resource.startswith("pygent:mcp")


@pytest.fixture
def pygent_config(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "pygent-mcp.json"
    write_config(path, {"sdk": sdk_entry()})
    return {
        "ServerApp": {"authorizer_class": NoMCPAuthorizer},
        "MCPService": {"config_path": str(path)},
    }


async def _error(client: Any, type_: str, data: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(AssertionError, match="error reply") as info:
        await client.request(type_, data)
    return dict(ast.literal_eval(str(info.value).split("error reply: ", 1)[1]))


async def test_actions_and_calls_need_permission(ws_client: Any, pygent_app: Any) -> None:
    client = await ws_client()
    for action in ("start", "restart", "stop", "accept_tools"):
        error = await _error(client, "mcp_server_action", {"server_id": "sdk", "action": action})
        assert error["code"] == "forbidden" and "pygent:mcp" in error["message"]
    call = await _error(
        client, "mcp_call_tool", {"server_id": "sdk", "tool": "add", "arguments": {"a": 1, "b": 1}}
    )
    assert call["code"] == "forbidden" and "pygent:mcp:call" in call["message"]
    # reading state needs no extra permission
    status = await client.request("mcp_server_action", {"server_id": "sdk", "action": "status"})
    assert status["data"]["state"] == "stopped"
    assert (await client.request("mcp_list_servers", {}))["type"] == "mcp_servers"
    await asyncio.sleep(0.2)
    assert mcp_children() == []
    mcp = pygent_app.hub.service("mcp")
    assert all(h.state.value == "stopped" for h in mcp.fleet.servers.values())
