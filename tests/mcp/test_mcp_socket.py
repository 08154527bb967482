"""The MCP service through /pygent/ws on a real Jupyter Server, with real MCP processes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp_fixtures import TIME_SERVER, mcp_children, sdk_entry, write_config

from pygent_jupyter.hub import Hub
from pygent_jupyter.services.mcp import MCPService


@pytest.fixture
def mcp_file(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "pygent-mcp.json"
    write_config(
        path,
        {
            "sdk": sdk_entry(env={"SDK_SERVER_MARKER": str(marker)}),
            "time": {"command": TIME_SERVER, "args": ["--local-timezone", "UTC"]},
        },
    )
    return path


@pytest.fixture
def pygent_config(mcp_file: Path) -> dict[str, Any]:
    return {
        "MCPService": {
            "config_path": str(mcp_file),
            "config_poll_interval": 0.1,
            "health_interval": 0.3,
            "stop_grace": 1.0,
        }
    }


@contextlib.asynccontextmanager
async def live(pygent_app: Any) -> AsyncIterator[MCPService]:
    """The MCP service with its background loops in this test's event loop.

    The shared ``pygent_app`` fixture starts services on pytest-asyncio's fixture loop, which
    does not run while a test does: restart the watcher and health loops here, and stop the
    fleet here, where its runner tasks live.
    """
    svc = pygent_app.hub.service("mcp")
    for task in svc._tasks:
        task.cancel()
    svc._tasks = [
        asyncio.ensure_future(svc._watch_config()),
        asyncio.ensure_future(svc._health_loop()),
    ]
    try:
        yield svc
    finally:
        await svc.stop()


async def test_list_start_call_stop(ws_client: Any, pygent_app: Any) -> None:
    async with live(pygent_app):
        client = await ws_client()
        listing = await client.request("mcp_list_servers", {})
        assert listing["type"] == "mcp_servers"
        servers = {s["server_id"]: s for s in listing["data"]["servers"]}
        assert set(servers) == {"sdk", "time"}
        assert all(s["state"] == "stopped" for s in servers.values())
        assert "command" not in str(listing["data"]) and "args" not in servers["sdk"]

        reply = await client.request("mcp_server_action", {"server_id": "time", "action": "start"})
        assert reply["type"] == "mcp_server_status" and reply["data"]["state"] == "running"
        assert reply["data"]["pid"] in [p.pid for p in mcp_children()]
        discovered = await client.recv("tool_discovered")
        assert {t["name"] for t in discovered["data"]["tools"]} == {
            "get_current_time",
            "convert_time",
        }
        result = await client.request(
            "mcp_call_tool",
            {"server_id": "time", "tool": "get_current_time", "arguments": {"timezone": "UTC"}},
        )
        assert result["type"] == "tool_call_result"
        assert result["data"]["is_error"] is False
        assert result["data"]["structured_content"]["timezone"] == "UTC"

        error = await _error(
            client,
            "mcp_call_tool",
            {"server_id": "time", "tool": "get_current_time", "arguments": {"timezone": 5}},
        )
        assert error["code"] == "invalid" and error["field"] == "data.arguments.timezone"

        stopped = await client.request("mcp_server_action", {"server_id": "time", "action": "stop"})
        assert stopped["data"]["state"] == "stopped"
        assert mcp_children() == []
        status = await client.request(
            "mcp_server_action", {"server_id": "time", "action": "status"}
        )
        assert status["data"]["state"] == "stopped"


async def _error(client: Any, type_: str, data: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(AssertionError, match="error reply") as info:
        await client.request(type_, data)
    text = str(info.value)
    import ast

    return dict(ast.literal_eval(text.split("error reply: ", 1)[1]))


@pytest.mark.parametrize(
    "data",
    [
        {"server_id": "sdk", "action": "start", "command": "/bin/sh"},
        {"server_id": "sdk", "action": "start", "args": ["-c", "touch /tmp/pwned"]},
        {"server_id": "sdk", "action": "restart", "env": {"LD_PRELOAD": "/tmp/x.so"}},
        {"server_id": "sdk", "action": "start", "cwd": "/tmp"},
        {"server_id": "sdk", "action": "start", "url": "http://evil.example/mcp"},
        {"server_id": "/bin/sh", "action": "start"},
    ],
)
async def test_messages_can_never_start_a_process(
    ws_client: Any, pygent_app: Any, data: dict[str, Any]
) -> None:
    async with live(pygent_app):
        client = await ws_client()
        error = await _error(client, "mcp_server_action", data)
        assert error["code"] == "invalid"
        for extra in (
            {"server_id": "sdk", "tool": "add", "arguments": {}, "command": "sh"},
            {"server_id": "sdk", "tool": "add", "url": "http://evil.example/mcp"},
        ):
            assert (await _error(client, "mcp_call_tool", extra))["code"] == "invalid"
        listing = await _error(client, "mcp_list_servers", {"command": "/bin/sh"})
        assert listing["code"] == "invalid"
        unknown = await _error(
            client, "mcp_server_action", {"server_id": "nope", "action": "start"}
        )
        assert unknown["code"] == "not_found"
        await asyncio.sleep(0.3)
        assert mcp_children() == []
        listing = await client.request("mcp_list_servers", {})
        assert {s["state"] for s in listing["data"]["servers"]} == {"stopped"}


async def test_cancel_and_timeout_reach_the_server(
    ws_client: Any, pygent_app: Any, marker: Path
) -> None:
    async with live(pygent_app):
        client = await ws_client()
        await client.request("mcp_server_action", {"server_id": "sdk", "action": "start"})
        await client.send(
            "mcp_call_tool",
            {"server_id": "sdk", "tool": "hang", "arguments": {"tag": "ws"}},
            id="slow",
        )
        await asyncio.sleep(0.3)
        await client.send("cancel", {"request_id": "slow"})
        error = await client.recv("error")
        assert error["reply_to"] == "slow" and error["data"]["code"] == "cancelled"
        t0 = time.monotonic()
        timeout = await _error(
            client,
            "mcp_call_tool",
            {"server_id": "sdk", "tool": "hang", "arguments": {"tag": "t"}, "timeout": 0.4},
        )
        assert timeout["code"] == "timeout" and time.monotonic() - t0 < 3
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(_lines(marker)) < 2:
            await asyncio.sleep(0.05)
        assert _lines(marker) == ["cancelled ws", "cancelled t"]
        result = await client.request(
            "mcp_call_tool", {"server_id": "sdk", "tool": "add", "arguments": {"a": 2, "b": 3}}
        )
        assert result["data"]["content"] == [{"type": "text", "text": "5"}]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_config_reload_and_invalid_file(
    ws_client: Any, mcp_file: Path, pygent_app: Any
) -> None:
    async with live(pygent_app) as svc:
        client = await ws_client()
        write_config(mcp_file, {"fresh": sdk_entry(autoStart=True)})
        loaded = await client.recv("mcp_config_status", timeout=10)
        assert loaded["data"] == {"state": "loaded", "servers": ["fresh"]}
        running = None
        while running is None:
            event = await client.recv("mcp_server_status", timeout=15)
            if event["data"]["server_id"] == "fresh" and event["data"]["state"] == "running":
                running = event
        mcp_file.write_text('{"mcpServers": {"broken": {"command": }}}')
        invalid = await client.recv("mcp_config_status", timeout=10)
        assert invalid["data"]["state"] == "invalid"
        assert "not valid JSON" in invalid["data"]["error"] and "line 1" in invalid["data"]["error"]
        assert invalid["data"]["servers"] == ["fresh"]
        listing = await client.request("mcp_list_servers", {})
        assert [s["server_id"] for s in listing["data"]["servers"]] == ["fresh"]
        assert listing["data"]["servers"][0]["state"] == "running"  # last good config kept
        assert listing["data"]["config_state"] == "invalid"
        assert "not valid JSON" in svc.health()["config_error"]
        write_config(mcp_file, {"fresh": sdk_entry(autoStart=True), "more": sdk_entry()})
        fixed = await client.recv("mcp_config_status", timeout=10)
        assert fixed["data"] == {"state": "loaded", "servers": ["fresh", "more"]}
        assert "config_error" not in svc.health()
        pid = running["data"]["pid"]
        status = await client.request(
            "mcp_server_action", {"server_id": "fresh", "action": "status"}
        )
        assert status["data"]["pid"] == pid  # unchanged servers keep running untouched


async def test_health_events_on_the_mcp_topic(ws_client: Any, pygent_app: Any) -> None:
    async with live(pygent_app):
        client = await ws_client()
        await client.request("subscribe", {"topics": ["mcp"]})
        await client.request("mcp_server_action", {"server_id": "sdk", "action": "start"})
        while True:
            health = await client.recv("mcp_server_health", timeout=5)
            if health["data"]["server_id"] == "sdk" and health["data"]["ping_ms"] is not None:
                break
        data = health["data"]
        assert data["tool_count"] == 7 and data["uptime"] > 0 and data["last_error"] is None
        assert 0 < data["ping_ms"] < 1000


async def test_list_changed_is_pushed_to_clients(ws_client: Any, pygent_app: Any) -> None:
    async with live(pygent_app):
        client = await ws_client()
        await client.request("mcp_server_action", {"server_id": "sdk", "action": "start"})
        await client.recv("tool_discovered")
        await client.request(
            "mcp_call_tool",
            {"server_id": "sdk", "tool": "grow", "arguments": {"name": "late_tool"}},
        )
        event = await client.recv("tool_discovered", timeout=5)
        assert "late_tool" in [t["name"] for t in event["data"]["tools"]]


def test_default_config_path_follows_jupyter_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "cfg"))
    service = MCPService(hub=Hub())
    assert service.config_path == str(tmp_path / "cfg" / "pygent-mcp.json")
