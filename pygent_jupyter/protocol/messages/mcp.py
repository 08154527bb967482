"""The MCP server fleet: lifecycle, health, tools. Servers come only from admin config."""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, number, obj, string

SERVER_ID = string(minLength=1, maxLength=128, pattern="^[A-Za-z0-9_.-]+$")

MESSAGES = [
    MessageSpec(
        "mcp_server_action",
        CLIENT,
        obj({"server_id": SERVER_ID,
             "action": string(enum=["start", "stop", "restart", "status"])},
            required=["server_id", "action"]),
        "Start, stop, restart or query a configured server, by its id. Needs `pygent:mcp` "
        "permission for anything but `status`. A message can never name a command.",
        {"type": "mcp_server_action", "id": "x1",
         "data": {"server_id": "time", "action": "start"}},
        domain="mcp",
    ),
    MessageSpec(
        "mcp_list_servers",
        CLIENT,
        obj({}),
        "List configured servers with their state. Answered by `mcp_server_status` events.",
        {"type": "mcp_list_servers", "id": "x2", "data": {}},
        domain="mcp",
    ),
    MessageSpec(
        "mcp_call_tool",
        CLIENT,
        obj({"server_id": SERVER_ID, "tool": string(minLength=1, maxLength=256),
             "arguments": obj(additional=True), "timeout": number(exclusiveMinimum=0)},
            required=["server_id", "tool"]),
        "Call a discovered tool (needs `pygent:mcp:call`). Answered by `tool_call_result`.",
        {"type": "mcp_call_tool", "id": "x3",
         "data": {"server_id": "time", "tool": "get_current_time",
                  "arguments": {"timezone": "UTC"}}},
        domain="mcp",
    ),
    MessageSpec(
        "mcp_server_status",
        SERVER,
        obj({"server_id": string(), "state": string()}, required=["server_id", "state"],
            additional=True),
        "A server changed state (stopped, starting, running, failed).",
        {"type": "mcp_server_status", "seq": 300, "ts": "2026-11-27T15:04:00.000Z",
         "data": {"server_id": "time", "state": "running", "pid": 4321,
                  "since": "2026-11-27T15:04:00Z"}},
        domain="mcp",
    ),
    MessageSpec(
        "mcp_server_health",
        SERVER,
        obj({"server_id": string()}, required=["server_id"], additional=True),
        "Periodic health of a running server.",
        {"type": "mcp_server_health", "seq": 301, "ts": "2026-11-27T15:04:30.000Z",
         "data": {"server_id": "time", "ping_ms": 0.8, "tool_count": 2, "last_error": None,
                  "uptime": 30.0}},
        lossy=True,
        domain="mcp",
    ),
    MessageSpec(
        "tool_discovered",
        SERVER,
        obj({"server_id": string()}, required=["server_id"], additional=True),
        "A server's tools, on start and on `notifications/tools/list_changed`.",
        {"type": "tool_discovered", "seq": 302, "ts": "2026-11-27T15:04:00.100Z",
         "data": {"server_id": "time",
                  "tools": [{"name": "get_current_time", "description": "Current time",
                             "input_schema": {"type": "object"}}]}},
        domain="mcp",
    ),
    MessageSpec(
        "tool_call_result",
        SERVER,
        obj({"server_id": string(), "tool": string()}, required=["server_id", "tool"],
            additional=True),
        "The result of a tool call.",
        {"type": "tool_call_result", "reply_to": "x3", "seq": 303,
         "ts": "2026-11-27T15:04:01.000Z",
         "data": {"server_id": "time", "tool": "get_current_time", "is_error": False,
                  "content": [{"type": "text", "text": "2026-11-27T15:04:01Z"}],
                  "duration_ms": 2.4}},
        domain="mcp",
    ),
]
