"""Fixtures for the MCP tests: real server processes (SDK test server, mcp-server-time, HTTP)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
SDK_SERVER = str(HERE / "sdk_server.py")
TIME_SERVER = str(Path(sys.executable).parent / "mcp-server-time")


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


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """File the SDK test server appends to when a ``hang`` call is cancelled."""
    return tmp_path / "cancelled.txt"


@pytest.fixture(scope="module")
def http_server_url() -> Iterator[str]:
    """The SDK test server on streamable HTTP, as its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, SDK_SERVER, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("the HTTP MCP test server did not come up")
    yield f"http://127.0.0.1:{port}/mcp"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
