"""Event-loop CPU per streamed token: ``OllamaProvider.stream`` vs the ``ollama`` client.

One Ollama-API test server (``pygent_jupyter.testing.OllamaTestServer``) runs on its own
thread and streams ``--tokens`` tokens (with log-probabilities) as fast as it can. Alternating
runs read that stream on the main thread's event loop (a) with ``ollama.AsyncClient.chat``
directly, which builds a pydantic ``ChatResponse`` per line, and (b) through
``OllamaProvider.stream`` (our chat path's provider: plain ``json.loads`` per line). The
measure is the main thread's CPU time (``time.thread_time``) per token, so the test server's
thread is not counted; the ratio is taken within each pair of runs.

Run: ``.venv/bin/python benchmarks/ollama_stream.py [--runs 20] [--tokens 500]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable

import ollama

from pygent_jupyter.llm.base import ChatRequest
from pygent_jupyter.llm.ollama import OllamaProvider
from pygent_jupyter.testing import OllamaTestServer

MESSAGES = [{"role": "user", "content": "benchmark"}]


async def direct(client: ollama.AsyncClient) -> int:
    tokens = 0
    stream = await client.chat(model="llama3.2", messages=MESSAGES, stream=True, logprobs=True)
    async for part in stream:
        tokens += bool(part.message.content)
    return tokens


async def provider(p: OllamaProvider) -> int:
    tokens = 0
    async for chunk in p.stream(ChatRequest(MESSAGES, "llama3.2", None, None)):
        tokens += bool(chunk.delta)
    return tokens


async def cpu_per_token(run: Awaitable[int]) -> float:
    start = time.thread_time()
    tokens = await run
    return (time.thread_time() - start) / tokens


async def main(args: argparse.Namespace) -> None:
    server = OllamaTestServer(models=["llama3.2:latest"]).start_in_thread()
    try:
        text = " ".join(f"w{i}" for i in range(args.tokens))
        client = ollama.AsyncClient(host=server.host)
        ours = OllamaProvider(host=server.host, model="llama3.2")
        server.script(text)
        await direct(client)  # warm up both connections
        server.script(text)
        await provider(ours)
        a, b = [], []
        for _ in range(args.runs):
            server.script(text)
            a.append(await cpu_per_token(direct(client)))
            server.script(text)
            b.append(await cpu_per_token(provider(ours)))
        ratios = [x / y for x, y in zip(a, b, strict=True)]
        print(f"{args.runs} runs x {args.tokens} tokens, main-thread CPU per token (median):")
        print(f"  ollama client directly   {statistics.median(a) * 1e6:8.1f} us")
        print(f"  OllamaProvider.stream    {statistics.median(b) * 1e6:8.1f} us")
        print(f"  client / provider        {statistics.median(ratios):8.2f}x (median of pairs)")
        await ours.aclose()
    finally:
        server.stop_thread()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=500)
    asyncio.run(main(parser.parse_args()))
