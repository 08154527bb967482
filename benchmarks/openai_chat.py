"""The `openai` backend: streaming overhead against the `openai` client used directly, and a
Tree-of-Thought batch on a model server 8 slots wide versus 1.

    .venv/bin/python benchmarks/openai_chat.py                  # 20 runs x 100 tokens, 5 ms apart
    .venv/bin/python benchmarks/openai_chat.py --runs 40 --tokens 200 --gap 0.002
    .venv/bin/python benchmarks/openai_chat.py --skip-tot       # only the streaming part
    .venv/bin/python benchmarks/openai_chat.py --puzzles 4 --call-time 0.05   # ToT batch size

Part 1. One OpenAI-API test server (pygent_jupyter.testing.openai_server) runs on its own
thread in this process and streams N tokens with a fixed gap (SSE, usage chunk at the end),
recording when it writes each token. Alternating runs read the same stream three ways:

- direct: ``openai.AsyncOpenAI().chat.completions.create(stream=True)``;
- provider: :class:`~pygent_jupyter.llm.openai_compat.OpenAIProvider` ``chat_stream`` in this
  process (the same client underneath, plus our mapping);
- hub: the agents service in this process (a Hub on a SQLite file, no socket): the whole
  server-side chat path (user turn committed, history, prompt, agent, one ``chat_stream``
  frame per delta, usage row) up to the frame handed to the connection's transport;
- /pygent/ws: a client of the socket on a real Jupyter Server (subprocess) whose agents
  service has the test server configured as backend ``gpu`` (the same, plus the WebSocket
  and a second process).

TTFT is measured from sending the request; per-token latency from the server writing a token
to the client holding it (same clock). "added" is the path minus direct.

Part 2. Game of 24 puzzles solved by the Tree-of-Thought engine (BFS, propose, value x 3,
b=5, the paper's setting), all puzzles at once and up to 8 calls in flight per run, through
OpenAIProvider against the test server answering with the Game of 24 oracle; each answer
takes ``--call-time`` seconds of "generation" inside a server slot. The same batch runs on a
server with 1 slot and with 8 (vLLM's ``--max-num-seqs``), and the wall times are compared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import openai
from _chat import TOKEN, connect, latencies, pct, tokens_in, ws_chat
from _server import free_port, start_jupyter_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reasoning"))

from scripted import game24_oracle  # noqa: E402

from pygent_jupyter.llm.backends import parse_backends  # noqa: E402
from pygent_jupyter.llm.openai_compat import OpenAIProvider  # noqa: E402
from pygent_jupyter.testing import OpenAITestServer, Reply  # noqa: E402

KEY = "sk-bench-key"
MESSAGES = [{"role": "user", "content": "benchmark"}]


def start_server(port: int, tmp: str, base_url: str) -> subprocess.Popen[bytes]:
    os.makedirs(f"{tmp}/cfg", exist_ok=True)
    config = {
        "AgentsService": {
            "backends": [
                {
                    "name": "gpu",
                    "kind": "openai",
                    "base_url": base_url,
                    "api_key_env": "BENCH_OPENAI_KEY",
                    "default_model": "test-chat",
                }
            ]
        }
    }
    Path(f"{tmp}/cfg/jupyter_server_config.json").write_text(json.dumps(config))
    os.environ["BENCH_OPENAI_KEY"] = KEY
    args = [
        "--PygentJupyter.services=pygent_jupyter.services.agents:AgentsService",
        f"--PygentJupyter.db_path={tmp}/pygent.db",
    ]
    return start_jupyter_server(port, tmp, TOKEN, args)


def _lat(arrivals: list[float], server: OpenAITestServer) -> list[float]:
    return latencies(arrivals, server.token_times)


async def run_direct(
    client: openai.AsyncOpenAI, server: OpenAITestServer
) -> tuple[float, list[float]]:
    server.token_times.clear()
    arrivals: list[float] = []
    sent = time.perf_counter()
    stream = await client.chat.completions.create(
        model="test-chat",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
    return arrivals[0] - sent, _lat(arrivals, server)


async def run_provider(
    provider: OpenAIProvider, server: OpenAITestServer
) -> tuple[float, list[float]]:
    server.token_times.clear()
    arrivals: list[float] = []
    sent = time.perf_counter()
    async for chunk in provider.chat_stream(MESSAGES):  # type: ignore[arg-type]
        if chunk.delta:
            arrivals.append(time.perf_counter())
    return arrivals[0] - sent, _lat(arrivals, server)


async def run_pygent(ws: Any, server: OpenAITestServer, run: int) -> tuple[float, list[float]]:
    return await ws_chat(ws, server, run, {"content": "benchmark", "backend": "gpu"})


class _Transport:
    """Notes when each token of one exchange reaches the transport (a ``chat_stream`` frame
    carries one, or several when deltas were joined)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.done = asyncio.Event()

    async def _written(self) -> None:
        return None

    def write_frames(self, frames: Any) -> Any:
        now = time.perf_counter()
        for frame in frames:
            if '"chat_stream"' in frame:
                delta = json.loads(frame)["data"]["delta"]
                self.arrivals.extend([now] * tokens_in(delta))
            elif '"chat_response"' in frame:
                self.done.set()
        return self._written()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        pass


async def start_hub(tmp: str, base_url: str) -> tuple[Any, Any]:
    from traitlets.config import Config

    from pygent_jupyter.hub import Hub
    from pygent_jupyter.server.connections import Connection
    from pygent_jupyter.services.agents import AgentsService
    from pygent_jupyter.services.seams import wire
    from pygent_jupyter.storage import Database

    os.environ["BENCH_OPENAI_KEY"] = KEY
    db = Database(Path(tmp) / "hub.db")
    hub = Hub()
    config = Config()
    config.AgentsService.backends = [
        {
            "name": "gpu",
            "base_url": base_url,
            "api_key_env": "BENCH_OPENAI_KEY",
            "default_model": "test-chat",
        }
    ]
    hub.register(AgentsService(hub, config=config))
    wire(hub.services.values(), db)
    await hub.start()
    transport = _Transport()
    conn = Connection(transport, "bench")
    hub.open(conn)
    return hub, (conn, transport, db)


async def run_hub(
    hub: Any, peer: Any, server: OpenAITestServer, run: int
) -> tuple[float, list[float]]:
    conn, transport, _db = peer
    server.token_times.clear()
    transport.arrivals.clear()
    transport.done.clear()
    data = {"message": {"content": "benchmark", "backend": "gpu"}}
    sent = time.perf_counter()
    hub.handle_frame(conn, json.dumps({"type": "chat_message", "id": f"h{run}", "data": data}))
    await asyncio.wait_for(transport.done.wait(), 60)
    return transport.arrivals[0] - sent, _lat(transport.arrivals, server)


async def streaming(args: argparse.Namespace) -> None:
    server = OpenAITestServer(models=["test-chat"], api_key=KEY, token_delay=args.gap)
    server.responder = lambda body: Reply(" ".join(f"t{i}" for i in range(args.tokens)))
    server.start_in_thread()
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    [spec] = parse_backends(
        [{"name": "gpu", "base_url": server.base_url, "default_model": "test-chat"}]
    )
    provider = OpenAIProvider(spec, KEY)
    paths = ("direct", "provider", "hub", "pygent")
    ttfts: dict[str, list[float]] = {p: [] for p in paths}
    lats: dict[str, list[float]] = {p: [] for p in paths}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_server(port, tmp, server.base_url)
        try:
            ws = await connect(port)
            hub, peer = await start_hub(args.hub_db_dir or tmp, server.base_url)
            for _ in range(2):  # warm every path (connections, caches, first probe)
                await run_direct(client, server)
                await run_provider(provider, server)
                await run_hub(hub, peer, server, -1)
                await run_pygent(ws, server, -1)
            for run in range(args.runs):
                for name in paths:
                    if name == "direct":
                        ttft, lat = await run_direct(client, server)
                    elif name == "provider":
                        ttft, lat = await run_provider(provider, server)
                    elif name == "hub":
                        ttft, lat = await run_hub(hub, peer, server, run)
                    else:
                        ttft, lat = await run_pygent(ws, server, run)
                    ttfts[name].append(ttft)
                    lats[name] += lat
            await ws.close()
            await hub.stop()
            peer[2].close()
        finally:
            proc.terminate()
            proc.wait(10)
            await client.close()
            await provider.aclose()
            server.stop_thread()
    ms = 1000.0
    print(
        f"{args.runs} runs x {args.tokens} tokens, {args.gap * ms:g} ms apart "
        f"(Python {sys.version.split()[0]}, openai {openai.__version__}, {os.cpu_count()} CPUs)\n"
    )
    print(
        f"{'':32}{'direct openai':>14}{'provider':>10}{'added':>9}{'hub':>9}{'added':>9}"
        f"{'/pygent/ws':>12}{'added':>9}"
    )
    rows = [
        ("time to first token p50 (ms)", ttfts, 0.5),
        ("time to first token p99 (ms)", ttfts, 0.99),
        ("per-token latency p50 (ms)", lats, 0.5),
        ("per-token latency p99 (ms)", lats, 0.99),
    ]
    for name, values, q in rows:
        d, p, h, w = (pct(values[k], q) * ms for k in paths)
        print(f"{name:32}{d:14.3f}{p:10.3f}{p - d:9.3f}{h:9.3f}{h - d:9.3f}{w:12.3f}{w - d:9.3f}")
    for label, key in (
        ("provider", "provider"),
        ("chat in the hub", "hub"),
        ("/pygent/ws chat", "pygent"),
    ):
        added_ttft = (pct(ttfts[key], 0.5) - pct(ttfts["direct"], 0.5)) * ms
        added_tok = (pct(lats[key], 0.5) - pct(lats["direct"], 0.5)) * ms
        print(
            f"{label}: added TTFT p50 {added_ttft:.2f} ms (target <= 5: "
            f"{'OK' if added_ttft <= 5 else 'MISSED'}), added per-token p50 {added_tok:.3f} ms "
            f"(target <= 0.5: {'OK' if added_tok <= 0.5 else 'MISSED'})"
        )


async def tot_batch(slots: int, puzzles: list[str], call_time: float) -> tuple[float, int, int]:
    from pygent_jupyter.services.reasoning import Game24Task, ToTEngine, ToTParams

    oracle = game24_oracle()
    server = OpenAITestServer(models=["test-chat"], slots=slots, first_token_delay=call_time)
    server.responder = lambda body: Reply(
        oracle(body["messages"][-1]["content"], {"temperature": body.get("temperature")})
    )
    server.start_in_thread()
    [spec] = parse_backends(
        [{"name": "gpu", "base_url": server.base_url, "default_model": "test-chat"}]
    )
    provider = OpenAIProvider(spec)
    try:
        started = time.perf_counter()
        trees = await asyncio.gather(
            *(
                ToTEngine(provider, Game24Task(), x, ToTParams(concurrency=8, seed=i)).run()
                for i, x in enumerate(puzzles)
            )
        )
        wall = time.perf_counter() - started
    finally:
        await provider.aclose()
        server.stop_thread()
    solved = sum(1 for t in trees if t.solved)
    calls = sum(t.stats.llm_calls for t in trees)
    return wall, solved, calls


async def tot(args: argparse.Namespace) -> None:
    from pygent_jupyter.services.reasoning.game24 import load_puzzles

    puzzles = load_puzzles()[900 : 900 + args.puzzles]
    results = {}
    for slots in (1, 8):
        results[slots] = await tot_batch(slots, puzzles, args.call_time)
    (w1, s1, c1), (w8, s8, c8) = results[1], results[8]
    print(
        f"\nTree-of-Thought batch: {len(puzzles)} Game of 24 puzzles at once, <= 8 calls in "
        f"flight each, {args.call_time * 1000:g} ms per answer in a server slot"
    )
    print(f"{'server slots':>14}{'wall s':>9}{'solved':>8}{'calls':>7}")
    print(f"{1:>14}{w1:9.2f}{s1:>8}{c1:>7}")
    print(f"{8:>14}{w8:9.2f}{s8:>8}{c8:>7}")
    print(f"speed-up from the wider server: {w1 / w8:.2f}x (same calls: {c1 == c8})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.005, help="seconds between tokens")
    parser.add_argument("--puzzles", type=int, default=3)
    parser.add_argument("--call-time", type=float, default=0.05)
    parser.add_argument("--skip-tot", action="store_true")
    parser.add_argument("--skip-stream", action="store_true")
    parser.add_argument(
        "--hub-db-dir",
        default=None,
        help="directory of the in-process hub's database (e.g. /dev/shm to leave out fsync)",
    )
    args = parser.parse_args()
    if not args.skip_stream:
        await streaming(args)
    if not args.skip_tot:
        await tot(args)


if __name__ == "__main__":
    asyncio.run(main())
