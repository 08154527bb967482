"""Fixtures for the MCP tests: real server processes (SDK test server, mcp-server-time, HTTP)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_fixtures import SDK_SERVER, free_port


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
