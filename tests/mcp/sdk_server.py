"""A real MCP server for the tests, written with the official SDK (``MCPServer``).

Run as ``python sdk_server.py [--http PORT] [--junk-at-start] [--crash-at-start]
[--hang-at-start]``.

Tools: ``add`` and ``echo`` succeed, ``fail`` returns an error result, ``hang`` never
returns (on MCP cancellation it appends a line to ``$SDK_SERVER_MARKER``), ``crash`` kills
the process, ``junk`` prints a non-JSON line to stdout, ``grow`` registers a new tool and
sends ``notifications/tools/list_changed``. ``$SDK_SERVER_DESCRIPTION`` overrides ``echo``'s
description (to test description pinning).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

if __name__ == "__main__":  # before the slow SDK import: start-up tests read this line
    sys.stderr.write("sdk test server starting\n")
    sys.stderr.flush()

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

WIRE_FD = os.dup(1)  # the real stdout pipe, taken before the SDK diverts fd 1


def build() -> MCPServer:
    server = MCPServer("pygent-test-server")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool(description=os.environ.get("SDK_SERVER_DESCRIPTION", "Echo the text back."))
    def echo(text: str) -> str:
        return text

    @server.tool()
    def fail(reason: str = "boom") -> str:
        """Always fails with the given reason."""
        raise ToolError(f"tool failed: {reason}")

    @server.tool()
    async def hang(tag: str = "") -> str:
        """Never returns; records cancellation in $SDK_SERVER_MARKER."""
        try:
            await asyncio.sleep(3600)
        except BaseException:
            marker = os.environ.get("SDK_SERVER_MARKER")
            if marker:
                with open(marker, "a") as fh:
                    fh.write(f"cancelled {tag}\n")
            raise
        return "never"

    @server.tool()
    def crash(code: int = 3) -> str:
        """Write a farewell to stderr and exit the process at once."""
        sys.stderr.write("about to crash: simulated fatal error\n")
        sys.stderr.flush()
        os._exit(code)

    @server.tool()
    def junk() -> str:
        """Write a line that is not JSON-RPC to stdout (breaks the stdio protocol)."""
        # The SDK diverts fd 1 to stderr while serving, so print() is harmless; write to a
        # duplicate of the real stdout pipe, as a buggy native extension would.
        os.write(WIRE_FD, b"this is not json-rpc\n")
        return "wrote junk"

    @server.tool()
    async def grow(name: str, ctx: Context) -> str:
        """Register a new tool called ``name`` and announce it with list_changed."""

        def extra() -> str:
            return f"I am {name}"

        server.add_tool(extra, name=name, description=f"Dynamically added tool {name}.")
        await ctx.session.send_tool_list_changed()
        return f"added {name}"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=0, help="serve streamable HTTP on this port")
    parser.add_argument("--junk-at-start", action="store_true")
    parser.add_argument("--crash-at-start", action="store_true")
    parser.add_argument("--hang-at-start", action="store_true", help="never answer initialize")
    opts = parser.parse_args()
    if opts.crash_at_start:
        sys.stderr.write("fatal: cannot open database (simulated)\n")
        sys.exit(2)
    if opts.hang_at_start:
        import time

        time.sleep(3600)
    if opts.junk_at_start:
        sys.stdout.write("Welcome! this banner is not JSON-RPC\n")
        sys.stdout.flush()
    server = build()
    if opts.http:
        server.run("streamable-http", host="127.0.0.1", port=opts.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
