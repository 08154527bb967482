"""``%pygent mcp``: the MCP panel, server lifecycle, tool listing and tool calls."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from ._base import MagicsBase, json_arg, parse

if TYPE_CHECKING:
    from ..protocol.types import (
        McpCallToolData,
        McpServersData,
        McpServersServersItemToolsItem,
        McpServerStatusData,
        ToolCallResultData,
    )

__all__ = ["MCPMagics"]


class MCPMagics(MagicsBase):
    @magic_arguments(name="%pygent mcp")
    @argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "start", "stop", "restart", "status", "tools", "call"],
    )
    @argument("server", nargs="?", default=None, help="configured server id")
    @argument("tool", nargs="?", default=None, help="tool name (for call)")
    @argument("--args", dest="tool_args", default=None, help="tool arguments, JSON object")
    @argument("--timeout", type=float, default=60.0)
    def _mcp(self, rest: str) -> Any:
        args = parse(self._mcp, rest)
        from ..widgets import MCPPanel

        if args.action == "list":
            self._show(MCPPanel())
            return None
        if not args.server:
            raise UsageError(f"pygent: %pygent mcp {args.action} needs a server id")
        link = self.link
        if args.action in ("start", "stop", "restart", "status"):
            reply = link.request(
                "mcp_server_action",
                {"server_id": args.server, "action": args.action},
                reply_type="mcp_server_status",
                timeout=args.timeout,
            )
            d: McpServerStatusData = reply["data"]
            extra = f" (pid {d['pid']})" if d.get("pid") else ""
            err = f": {d['error']}" if d.get("error") else ""
            print(f"{d.get('server_id')}: {d.get('state')}{extra}{err}")
            return None
        if args.action == "tools":
            tools = self._tools(args.server, args.timeout)
            if not tools:
                print(f"{args.server}: no tools")
            for t in tools:
                params = ", ".join((t.get("input_schema") or {}).get("properties", {}))
                print(f"{t.get('name')}({params}): {t.get('description', '')}")
            return None
        if not args.tool:
            raise UsageError("pygent: %pygent mcp call SERVER TOOL [--args JSON]")
        data: McpCallToolData = {
            "server_id": args.server,
            "tool": args.tool,
            "arguments": json_arg(args.tool_args, "--args"),
        }
        reply = link.request(
            "mcp_call_tool", data, reply_type="tool_call_result", timeout=args.timeout
        )
        result: ToolCallResultData = reply["data"]
        texts = [
            c.get("text", json.dumps(c)) for c in result.get("content") or [] if isinstance(c, dict)
        ]
        if result.get("is_error"):
            raise UsageError(f"pygent: {args.server}.{args.tool} failed: {' '.join(texts)}")
        print("\n".join(texts))
        if self.shell is not None:
            self.shell.user_ns["_pygent_tool_result"] = result
        return None

    def _tools(self, server: str, timeout: float) -> list[McpServersServersItemToolsItem]:
        """A server's tools, from the ``mcp_servers`` snapshot."""
        reply = self.link.request("mcp_list_servers", {}, reply_type="mcp_servers", timeout=timeout)
        snapshot: McpServersData = reply["data"]
        for entry in snapshot.get("servers") or []:
            if entry.get("server_id") == server:
                return list(entry.get("tools") or [])
        known = ", ".join(str(e.get("server_id")) for e in snapshot.get("servers") or [])
        raise UsageError(
            f"pygent: no MCP server {server!r} is configured"
            + (f" (configured: {known})" if known else "")
        )
