"""Helpers for the MCP tests: where the test servers are, config files, process checks.

A uniquely named module (not ``conftest``) so that ``from mcp_fixtures import …`` is never
ambiguous when the whole suite runs.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).parent
SDK_SERVER = str(HERE / "sdk_server.py")
TIME_SERVER = str(Path(sys.executable).parent / "mcp-server-time")


def mcp_children() -> list[psutil.Process]:
    """Live MCP server processes started from this test process (the Jupyter server runs
    in-process, so every server it starts is a descendant)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.cmdline())
        except psutil.NoSuchProcess:
            continue
        if SDK_SERVER in cmdline or "mcp-server-time" in cmdline:
            found.append(proc)
    return found


def sdk_entry(*flags: str, **extra: Any) -> dict[str, Any]:
    """A config entry that runs the SDK test server over stdio."""
    return {"command": sys.executable, "args": [SDK_SERVER, *flags], **extra}


def write_config(path: Path, servers: dict[str, Any]) -> None:
    """Write the admin file atomically, the way an editor or deploy tool would."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"mcpServers": servers}))
    tmp.replace(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
