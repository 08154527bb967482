"""What the chat streaming benchmarks share (``chat_stream.py``, ``openai_chat.py``): a client of
``/pygent/ws``, one timed chat exchange over it, and percentiles.

Latency per token is the time from the test server writing a token (its ``token_times``) to
the client holding it, on the same clock (``time.perf_counter``): the servers run on a thread
of the benchmark process.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets

from pygent_jupyter.testing.model_server import split_tokens

__all__ = ["TOKEN", "connect", "latencies", "pct", "tokens_in", "ws_chat"]

TOKEN = "bench-token"


async def connect(port: int, token: str = TOKEN) -> Any:
    """A ``/pygent/ws`` client of the server on ``port`` (waits for it to start)."""
    for _ in range(300):
        try:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/pygent/ws",
                additional_headers={"Authorization": f"token {token}"},
            )
            await ws.recv()  # connection_status
            return ws
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def latencies(arrivals: list[float], written: list[float]) -> list[float]:
    """Per token: when the client held it minus when the server wrote it."""
    if len(arrivals) != len(written):
        raise RuntimeError(f"{len(arrivals)} arrivals for {len(written)} tokens (batched?)")
    return [a - e for a, e in zip(arrivals, written, strict=True)]


async def ws_chat(
    ws: Any, server: Any, run: int, message: dict[str, Any]
) -> tuple[float, list[float]]:
    """One ``chat_message`` over ``ws``: (time to first token, per-token latencies).

    Each ``chat_stream`` delta counts as the tokens it carries (split as the test server
    splits them: word-sized, so a delta coalescing ``n`` tokens arrived ``n`` times at once).
    """
    server.token_times.clear()
    arrivals: list[float] = []
    msg_id = f"run{run}"
    sent = time.perf_counter()
    await ws.send(json.dumps({"type": "chat_message", "id": msg_id, "data": {"message": message}}))
    while True:
        event = json.loads(await ws.recv())
        now = time.perf_counter()
        if event.get("reply_to") != msg_id:
            continue
        kind = event["type"]
        if kind == "chat_stream":
            arrivals.extend([now] * tokens_in(event["data"]["delta"]))
        elif kind == "chat_response":
            break
        elif kind == "error":
            raise RuntimeError(event["data"])
    return arrivals[0] - sent, latencies(arrivals, server.token_times)


def tokens_in(delta: str) -> int:
    """How many of the test server's tokens a ``chat_stream`` delta carries."""
    return max(1, len(split_tokens(delta)))
