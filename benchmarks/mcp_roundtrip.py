"""MCP tool-call round trip: through /pygent/ws versus the SDK's ClientSession directly.

    python benchmarks/mcp_roundtrip.py            # 500 calls each (default)
    python benchmarks/mcp_roundtrip.py --calls 2000

Both sides call the same tool (``add``) of the same stdio server (tests/mcp/sdk_server.py,
written with the official SDK), in the same run, one call at a time:

- baseline: ``mcp.ClientSession`` over ``mcp.stdio_client`` in this process;
- ours: a WebSocket client sends ``mcp_call_tool`` to a real Jupyter Server running the
  extension (only the MCP service loaded), which validates the arguments against the tool's
  schema and calls the server through its own ClientSession; the client waits for
  ``tool_call_result``.

Prints p50/p95/mean per side and the latency the socket path adds (target: <= 2 ms at p50).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import websockets
from _server import free_port, start_jupyter_server
from mcp import ClientSession, StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parent.parent
SDK_SERVER = str(ROOT / "tests" / "mcp" / "sdk_server.py")
TOKEN = "mcp-bench-token"


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[int(0.95 * (len(ordered) - 1))],
        "mean": statistics.fmean(ordered),
    }


async def direct(calls: int, warmup: int) -> list[float]:
    """Baseline: the SDK's ClientSession over stdio, no server in between."""
    params = StdioServerParameters(command=sys.executable, args=[SDK_SERVER])
    with open(os.devnull, "w") as devnull:
        return await _direct(params, devnull, calls, warmup)


async def _direct(
    params: StdioServerParameters, errlog: TextIO, calls: int, warmup: int
) -> list[float]:
    async with (
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        await session.list_tools()
        samples = []
        for i in range(warmup + calls):
            t0 = time.perf_counter()
            result = await session.call_tool("add", {"a": i, "b": 1})
            elapsed = time.perf_counter() - t0
            assert not result.is_error
            if i >= warmup:
                samples.append(elapsed * 1000)
        return samples


def start_server(port: int, tmp: str) -> subprocess.Popen[bytes]:
    config = Path(tmp) / "pygent-mcp.json"
    config.write_text(
        json.dumps({"mcpServers": {"bench": {"command": sys.executable, "args": [SDK_SERVER]}}})
    )
    args = [
        "--PygentJupyter.services=pygent_jupyter.services.mcp:MCPService",
        f"--PygentJupyter.db_path={tmp}/pygent.db",
        f"--MCPService.config_path={config}",
        "--MCPService.health_interval=3600",
    ]
    return start_jupyter_server(port, tmp, TOKEN, args)


async def connect(port: int) -> websockets.ClientConnection:
    url = f"ws://127.0.0.1:{port}/pygent/ws"
    deadline = time.monotonic() + 60
    while True:
        try:
            return await websockets.connect(
                url, additional_headers={"Authorization": f"token {TOKEN}"}, max_size=None
            )
        except (OSError, websockets.InvalidStatus):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def reply(ws: websockets.ClientConnection, msg_id: str) -> dict[str, object]:
    while True:
        event = json.loads(await ws.recv())
        if event.get("reply_to") == msg_id:
            if event["type"] == "error":
                raise RuntimeError(event["data"])
            return dict(event)


async def through_socket(port: int, calls: int, warmup: int) -> list[float]:
    ws = await connect(port)
    try:
        await ws.send(
            json.dumps(
                {
                    "type": "mcp_server_action",
                    "id": "start",
                    "data": {"server_id": "bench", "action": "start"},
                }
            )
        )
        status = await reply(ws, "start")
        assert status["data"]["state"] == "running", status  # type: ignore[index]
        samples = []
        for i in range(warmup + calls):
            msg_id = f"c{i}"
            frame = json.dumps(
                {
                    "type": "mcp_call_tool",
                    "id": msg_id,
                    "data": {"server_id": "bench", "tool": "add", "arguments": {"a": i, "b": 1}},
                }
            )
            t0 = time.perf_counter()
            await ws.send(frame)
            event = await reply(ws, msg_id)
            elapsed = time.perf_counter() - t0
            assert event["type"] == "tool_call_result", event
            if i >= warmup:
                samples.append(elapsed * 1000)
        return samples
    finally:
        await ws.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_server(port, tmp)
        try:
            base = summary(await direct(opts.calls, opts.warmup))
            ours = summary(await through_socket(port, opts.calls, opts.warmup))
            base2 = summary(await direct(opts.calls, opts.warmup))  # again, to bracket drift
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
    baseline = {k: min(base[k], base2[k]) for k in base}
    print(f"MCP tool call round trip, {opts.calls} sequential calls of `add` per side")
    print(f"{'':28}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    for label, row in (
        ("SDK ClientSession (direct)", baseline),
        ("via /pygent/ws", ours),
    ):
        print(f"{label:28}{row['p50']:>10.3f}{row['p95']:>10.3f}{row['mean']:>10.3f}")
    added = ours["p50"] - baseline["p50"]
    print(
        f"added latency at p50: {added:.3f} ms (target <= 2 ms: "
        f"{'met' if added <= 2 else 'NOT met'}); ratio p50 {ours['p50'] / baseline['p50']:.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
