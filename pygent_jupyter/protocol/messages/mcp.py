"""The MCP server fleet: lifecycle, health, tools. Servers come only from admin config.

Client commands name a configured ``server_id`` and nothing else: every command schema is
closed (``additionalProperties: false``), so a message carrying ``command``, ``args``,
``env``, ``cwd`` or ``url`` is rejected with ``invalid`` before any handler runs.
"""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, arr, boolean, integer, number, obj, string

SERVER_ID = string(minLength=1, maxLength=128, pattern="^[A-Za-z0-9_.-]+$")
STATE = string(enum=["stopped", "starting", "running", "failed"])
TOOL = obj(
    {
        "name": string(),
        "description": string(),
        "input_schema": obj(additional=True),
        "trusted": boolean(description="false when the description changed since first seen"),
    },
    required=["name"],
    additional=True,
)
STATUS_PROPS = {
    "server_id": string(),
    "state": STATE,
    "since": string(description="ISO-8601 time of the last transition"),
    "pid": integer(),
    "error": string(description="why it failed, with the server's last stderr lines"),
    "transport": string(enum=["stdio", "http"]),
    "tool_count": integer(minimum=0),
    "disabled": boolean(),
    "removed": boolean(description="the server was removed from the configuration"),
    "accepted": arr(string(), description="tools re-pinned by accept_tools"),
}

MESSAGES = [
    MessageSpec(
        "mcp_server_action",
        CLIENT,
        obj(
            {
                "server_id": SERVER_ID,
                "action": string(enum=["start", "stop", "restart", "status", "accept_tools"]),
            },
            required=["server_id", "action"],
        ),
        "Start, stop, restart or query a configured server, by its id; `accept_tools` trusts "
        "tool descriptions that changed since first seen. Needs `pygent:mcp` permission for "
        "anything but `status`. Answered by `mcp_server_status` once the action is done "
        "(`running` or `failed` for a start). A message can never name a command or URL.",
        {"type": "mcp_server_action", "id": "x1", "data": {"server_id": "time", "action": "start"}},
        domain="mcp",
    ),
    MessageSpec(
        "mcp_list_servers",
        CLIENT,
        obj({}),
        "List configured servers with their state and tools. Answered by `mcp_servers`.",
        {"type": "mcp_list_servers", "id": "x2", "data": {}},
        domain="mcp",
    ),
    MessageSpec(
        "mcp_call_tool",
        CLIENT,
        obj(
            {
                "server_id": SERVER_ID,
                "tool": string(minLength=1, maxLength=256),
                "arguments": obj(additional=True),
                "timeout": number(exclusiveMinimum=0, description="seconds (capped by the server)"),
            },
            required=["server_id", "tool"],
        ),
        "Call a discovered tool (needs `pygent:mcp:call`). `arguments` are checked against the "
        "tool's input schema first (`invalid`, with `field`). Answered by `tool_call_result`; "
        "`error{timeout}` when it runs past its timeout; `cancel` on this message's id sends "
        "the MCP cancellation to the server.",
        {
            "type": "mcp_call_tool",
            "id": "x3",
            "data": {
                "server_id": "time",
                "tool": "get_current_time",
                "arguments": {"timezone": "UTC"},
                "timeout": 10,
            },
        },
        domain="mcp",
    ),
    MessageSpec(
        "mcp_servers",
        SERVER,
        obj(
            {
                "servers": arr(
                    obj(
                        STATUS_PROPS
                        | {"tools": arr(TOOL), "auto_start": boolean(), "description": string()},
                        required=["server_id", "state"],
                    )
                ),
                "config_state": string(enum=["loaded", "invalid"]),
                "config_error": string(),
            },
            required=["servers"],
        ),
        "Every configured server with its state and tools: the answer to `mcp_list_servers`, "
        "also sent on connect. Never contains command lines, environments, headers or URLs.",
        {
            "type": "mcp_servers",
            "reply_to": "x2",
            "seq": 299,
            "ts": "2026-11-27T15:03:59.000Z",
            "data": {
                "config_state": "loaded",
                "servers": [
                    {
                        "server_id": "time",
                        "transport": "stdio",
                        "disabled": False,
                        "auto_start": True,
                        "state": "running",
                        "since": "2026-11-27T15:03:58.120+00:00",
                        "pid": 4321,
                        "tool_count": 2,
                        "tools": [
                            {
                                "name": "get_current_time",
                                "description": "Get current time in a timezone",
                                "input_schema": {
                                    "type": "object",
                                    "properties": {"timezone": {"type": "string"}},
                                    "required": ["timezone"],
                                },
                                "trusted": True,
                            }
                        ],
                    }
                ],
            },
        },
        domain="mcp",
    ),
    MessageSpec(
        "mcp_config_status",
        SERVER,
        obj(
            {
                "state": string(enum=["loaded", "missing", "invalid"]),
                "servers": arr(string()),
                "error": string(),
                "message": string(),
                "warnings": arr(string()),
            },
            required=["state", "servers"],
        ),
        "The admin configuration file was (re)loaded, is missing (no servers), or is invalid: "
        "then `error` says where and why and the last good configuration (`servers`) is kept. "
        "Sent to everyone.",
        {
            "type": "mcp_config_status",
            "seq": 298,
            "ts": "2026-11-27T15:03:50.000Z",
            "data": {
                "state": "invalid",
                "error": "pygent-mcp.json is not valid JSON: Expecting ',' delimiter at "
                "line 4 column 7",
                "servers": ["time"],
                "message": "the file was not applied; the last good configuration is kept",
            },
        },
        domain="mcp",
    ),
    MessageSpec(
        "mcp_server_status",
        SERVER,
        obj(STATUS_PROPS, required=["server_id", "state", "since"]),
        "A server changed state (stopped -> starting -> running | failed; failed -> starting "
        "on an automatic restart). Sent to everyone on every transition, and as the answer to "
        "`mcp_server_action`.",
        {
            "type": "mcp_server_status",
            "seq": 300,
            "ts": "2026-11-27T15:04:00.000Z",
            "data": {
                "server_id": "time",
                "state": "failed",
                "since": "2026-11-27T15:04:00.000+00:00",
                "transport": "stdio",
                "tool_count": 0,
                "error": "exited with code 2; last stderr lines:\nfatal: config not found",
            },
        },
        domain="mcp",
    ),
    MessageSpec(
        "mcp_server_health",
        SERVER,
        obj(
            {
                "server_id": string(),
                "state": STATE,
                "ping_ms": {"type": ["number", "null"]},
                "tool_count": integer(minimum=0),
                "last_error": {"type": ["string", "null"]},
                "uptime": number(minimum=0),
                "calls": integer(minimum=0),
                "call_errors": integer(minimum=0),
                "avg_call_ms": {"type": ["number", "null"]},
            },
            required=["server_id", "ping_ms", "tool_count", "last_error", "uptime"],
        ),
        "Periodic health of each server (every `c.MCPService.health_interval` seconds) to "
        "subscribers of the `mcp` topic: ping round trip, tools, last error, uptime and call "
        "statistics. A server that misses a ping is marked failed and restarted.",
        {
            "type": "mcp_server_health",
            "seq": 301,
            "ts": "2026-11-27T15:04:30.000Z",
            "data": {
                "server_id": "time",
                "state": "running",
                "ping_ms": 0.8,
                "tool_count": 2,
                "last_error": None,
                "uptime": 30.0,
                "calls": 12,
                "call_errors": 1,
                "avg_call_ms": 1.9,
            },
        },
        lossy=True,
        domain="mcp",
    ),
    MessageSpec(
        "tool_discovered",
        SERVER,
        obj({"server_id": string(), "tools": arr(TOOL)}, required=["server_id", "tools"]),
        "A server's tools, on start and on `notifications/tools/list_changed`. Descriptions "
        "are untrusted text: `trusted` is false when one changed since it was first seen "
        "(a `system_alert` says so too). Sent to everyone.",
        {
            "type": "tool_discovered",
            "seq": 302,
            "ts": "2026-11-27T15:04:00.100Z",
            "data": {
                "server_id": "time",
                "tools": [
                    {
                        "name": "get_current_time",
                        "description": "Current time",
                        "input_schema": {"type": "object"},
                        "trusted": True,
                    }
                ],
            },
        },
        domain="mcp",
    ),
    MessageSpec(
        "tool_call_result",
        SERVER,
        obj(
            {
                "server_id": string(),
                "tool": string(),
                "is_error": boolean(),
                "content": arr(obj(additional=True)),
                "structured_content": {},
                "duration_ms": number(minimum=0),
                "error": obj({"code": {"type": ["integer", "string"]}, "message": string()}),
                "arguments": obj(additional=True),
                "conversation_id": string(),
                "message_id": string(),
            },
            required=["server_id", "tool", "is_error", "content", "duration_ms"],
            additional=True,
        ),
        "The result of a tool call: the answer to `mcp_call_tool`, or a call an agent made "
        "during a `chat_message` (then with `arguments`, `conversation_id` and `message_id`). "
        "`is_error` is the tool's own failure; `error` is set when the server answered with a "
        "protocol error.",
        {
            "type": "tool_call_result",
            "reply_to": "x3",
            "seq": 303,
            "ts": "2026-11-27T15:04:01.000Z",
            "data": {
                "server_id": "time",
                "tool": "get_current_time",
                "is_error": False,
                "content": [{"type": "text", "text": '{"timezone": "UTC"}'}],
                "structured_content": {"timezone": "UTC", "datetime": "2026-11-27T15:04:01+00:00"},
                "duration_ms": 2.4,
            },
        },
        domain="mcp",
    ),
]
