"""Hardening benchmark: does one attacking client hurt a bystander, and does memory come back?

    python benchmarks/hardening_bench.py            # full
    python benchmarks/hardening_bench.py --quick    # smaller counts

A real Jupyter Server subprocess hosts the memory, agents and evolution services, with models
and embeddings served by the Ollama-API test server (in this process, on its own thread). A
bystander pings continuously and we report its p50/p99 round trip:

- ``idle``: nobody else is connected (the baseline);
- ``pattern``: the attacker starts evolution runs whose task set holds the regex ``(a+)+$``
  while the model answers ``aaaa…a!`` (catastrophic backtracking for Python's ``re``);
- ``flood``: the attacker sends frames as fast as it can (invalid values and commands);
- ``large``: the attacker runs memory searches whose replies are ~1 MB each.

Then the attacker leaves and we compare the server's RSS with its RSS before ``large``.
Targets (issue 12): every attack p99 within 10x idle p99; RSS back within 10% of baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import websockets
from _server import free_port, start_jupyter_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pygent_jupyter import safe_regex  # noqa: E402
from pygent_jupyter.testing.ollama_server import OllamaTestServer, Reply  # noqa: E402

TOKEN = "bench-token"
EVIL_ANSWER = "a" * 28 + "!"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def connect(port: int, client_id: str) -> websockets.ClientConnection:
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/pygent/ws?client_id={client_id}",
        additional_headers={"Authorization": f"token {TOKEN}"},
        max_size=None,
    )
    await ws.recv()  # connection_status
    return ws


async def wait_up(port: int) -> None:
    for _ in range(600):
        try:
            ws = await connect(port, "probe")
            await ws.close()
            return
        except (OSError, websockets.exceptions.InvalidStatus):
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


async def request(ws: Any, type_: str, data: dict[str, Any], msg_id: str) -> dict[str, Any]:
    """Send; return the first reply to it (the attacker reads its own socket)."""
    await ws.send(json.dumps({"type": type_, "id": msg_id, "data": data}))
    while True:
        event = json.loads(await ws.recv())
        if event.get("reply_to") == msg_id:
            return event


class Bystander:
    """Pings every ``interval`` seconds on its own socket and records round trips (ms)."""

    def __init__(self, ws: Any, interval: float = 0.001) -> None:
        self.ws = ws
        self.interval = interval
        self.rtts: list[float] = []
        self._n = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._n += 1
            msg_id = f"b{self._n}"
            started = time.perf_counter()
            await self.ws.send(json.dumps({"type": "ping", "id": msg_id, "data": {}}))
            while True:
                event = json.loads(await self.ws.recv())
                if event.get("reply_to") == msg_id:
                    break
            self.rtts.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(self.interval)

    async def measure(self, attack: Any) -> dict[str, float]:
        self.rtts = []
        stop = asyncio.Event()
        pinger = asyncio.ensure_future(self.run(stop))
        try:
            await attack()
        finally:
            stop.set()
            await pinger
        return {"p50": pct(self.rtts, 0.5), "p99": pct(self.rtts, 0.99), "n": len(self.rtts)}


async def drain(ws: Any, seconds: float) -> None:
    """Read (and drop) whatever the server sends for ``seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            return


async def attack_pattern(port: int, runs: int, seconds: float) -> None:
    ws = await connect(port, "attacker-pattern")
    task_set = {
        "name": "evil",
        "tasks": [{"input": f"q{i}", "expected": "(a+)+$", "match": "regex"} for i in range(8)],
    }
    started = 0
    for i in range(runs):
        reply = await request(
            ws,
            "start_evolution",
            {
                "task_set": task_set,
                "population_size": 4,
                "generations": 2,
                "genome": {"seed_prompts": ["Answer."], "evolve": ["system_prompt"]},
            },
            f"e{i}",
        )
        started += reply["type"] != "error"
    await drain(ws, seconds)
    await ws.close()
    if not started:
        raise RuntimeError(f"no evolution run started: {reply['data']}")


async def attack_flood(port: int, frames: int) -> None:
    ws = await connect(port, "attacker-flood")
    bad = [
        '{"type": "ping", "id": "x", "data": {"ts": NaN}}',
        '{"type": "memory_search", "id": "x", "data": {"query": "\\ud800"}}',
        '{"type": "memory_search", "id": "x", "data": {"query": "q", "k": 1e400}}',
        '{"type": "nope"}',
        "not json",
        '{"type": "ping", "data": {}}',
    ]
    for i in range(frames):
        await ws.send(bad[i % len(bad)])
    await drain(ws, 0.5)
    await ws.close()


async def prepare_large(port: int, items: int, size: int) -> None:
    ws = await connect(port, "preparer")
    text = "lorem ipsum " * (size // 12)
    items_data = [{"text": f"{i} {text}"} for i in range(items)]
    reply = await request(ws, "memory_add", {"items": items_data}, "add")
    if reply["type"] == "error":
        raise RuntimeError(f"memory_add failed: {reply['data']}")
    await ws.close()


async def attack_large(port: int, searches: int, k: int, window: int = 6) -> int:
    """``searches`` memory searches of ~1 MB replies (``window`` in flight, under the
    per-connection command limit) by a client that then leaves; returns bytes received."""
    ws = await connect(port, "attacker-large")
    received = 0
    sent = done = 0
    while done < searches:
        while sent < searches and sent - done < window:
            data = {"query": "lorem", "k": k}
            await ws.send(json.dumps({"type": "memory_search", "id": f"s{sent}", "data": data}))
            sent += 1
        frame = await ws.recv()
        received += len(frame)
        if '"reply_to":"s' in frame:
            if '"type":"error"' in frame:
                raise RuntimeError(f"memory_search failed: {frame[:300]}")
            done += 1
    await ws.close()
    return received


def _run_attack(name: str, *args: Any) -> Any:
    """Run one attack coroutine in this (separate) process: the attacker's own work, such as
    reading 1 MB frames, must not delay the bystander's client."""
    attacks = {
        "pattern": attack_pattern,
        "flood": attack_flood,
        "large": attack_large,
        "prepare": prepare_large,
    }
    return asyncio.run(attacks[name](*args))


async def in_process(pool: ProcessPoolExecutor, name: str, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(pool, _run_attack, name, *args)


def regex_cost() -> dict[str, float]:
    """What the pattern attack costs per match: Python's ``re`` on a shorter answer (22
    characters; each one more doubles it) against RE2 on the answer the model gives."""
    started = time.perf_counter()
    re.search("(a+)+$", "a" * 22 + "!", re.IGNORECASE | re.MULTILINE)
    python_re = (time.perf_counter() - started) * 1000
    pattern = safe_regex.compile("(a+)+$", ignore_case=True, multiline=True)
    started = time.perf_counter()
    pattern.search(EVIL_ANSWER)
    linear = (time.perf_counter() - started) * 1000
    return {"python_re_22_chars_ms": round(python_re, 1), "re2_28_chars_ms": round(linear, 3)}


def rss_mb(proc: psutil.Process) -> float:
    return float(proc.memory_info().rss) / 2**20


async def settle_rss(proc: psutil.Process, seconds: float = 3.0) -> float:
    await asyncio.sleep(seconds)
    return rss_mb(proc)


async def sample_rss(proc: psutil.Process, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(proc))
        await asyncio.sleep(0.05)


async def main(quick: bool, replay_bytes: int | None = None) -> dict[str, Any]:
    ollama = OllamaTestServer(models=["llama3.2:latest", "all-minilm:latest"])
    ollama.responder = lambda body: Reply(EVIL_ANSWER)
    ollama.start_in_thread()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = {
            "PygentJupyter": {
                "services": [
                    "pygent_jupyter.services.memory.service:MemoryService",
                    "pygent_jupyter.services.agents:AgentsService",
                    "pygent_jupyter.services.evolution.service:EvolutionService",
                ]
            },
            "OllamaProvider": {"host": ollama.host, "model": "llama3.2"},
            "AgentsService": {"backend": "ollama"},
            "MemoryService": {
                "embedder": "ollama",
                "ollama_host": ollama.host,
                "ollama_model": "all-minilm",
            },
            "EvolutionService": {"max_runs_per_user": 4},
        }
        if replay_bytes is not None:  # e.g. 2**40: the ring bounded by count only, as before
            config["PygentJupyter"]["replay_buffer_bytes"] = replay_bytes
        Path(tmp, "cfg").mkdir()
        Path(tmp, "cfg", "jupyter_server_config.json").write_text(json.dumps(config))
        args: list[str] = []
        server = start_jupyter_server(port, tmp, TOKEN, args)
        try:
            await wait_up(port)
            proc = psutil.Process(server.pid)
            bystander = Bystander(await connect(port, "bystander"))
            pings = 400 if quick else 2000

            async def idle() -> None:
                while len(bystander.rtts) < pings:
                    await asyncio.sleep(0.05)

            results: dict[str, Any] = {}
            await bystander.measure(idle)  # warm-up
            results["idle"] = await bystander.measure(idle)
            calls = len(ollama.requests)
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            await in_process(pool, "prepare", port, 10, 100_000)  # also starts the process
            results["pattern"] = await bystander.measure(
                lambda: in_process(pool, "pattern", port, 2 if quick else 4, 3.0 if quick else 8.0)
            )
            results["pattern"]["model_calls"] = len(ollama.requests) - calls
            results["regex"] = regex_cost()
            results["flood"] = await bystander.measure(
                lambda: in_process(pool, "flood", port, 5000 if quick else 20000)
            )
            await in_process(pool, "large", port, 3, 10)  # warm the path once (allocator, caches)
            await asyncio.sleep(1)
            baseline = await settle_rss(proc)
            searches = 50 if quick else 150
            sent: list[int] = []

            async def large() -> None:
                sent.append(await in_process(pool, "large", port, searches, 10))

            peak = [baseline]
            stop = asyncio.Event()
            sampler = asyncio.ensure_future(sample_rss(proc, peak, stop))
            results["large"] = await bystander.measure(large)
            stop.set()
            await sampler
            after = await settle_rss(proc, 5.0)
            results["rss"] = {
                "baseline_mb": round(baseline, 1),
                "peak_mb": round(peak[0], 1),
                "after_mb": round(after, 1),
                "ratio": round(after / baseline, 3),
                "replied_mb": round(sum(sent) / 2**20, 1),
            }
            await bystander.ws.close()
            pool.shutdown()
        finally:
            server.terminate()
            server.wait(20)
            ollama.stop_thread()
    return results


def report(results: dict[str, Any]) -> bool:
    idle = results["idle"]["p99"]
    ok = True
    print(f"{'phase':<10}{'pings':>7}{'p50 ms':>10}{'p99 ms':>10}{'p99/idle':>10}")
    for phase in ("idle", "pattern", "flood", "large"):
        r = results[phase]
        ratio = r["p99"] / idle
        ok &= ratio <= 10 or phase == "idle"
        print(f"{phase:<10}{r['n']:>7}{r['p50']:>10.2f}{r['p99']:>10.2f}{ratio:>10.1f}")
    print(
        f"pattern phase: {results['pattern']['model_calls']} model calls scored with (a+)+$; "
        f"one match costs {results['regex']['python_re_22_chars_ms']} ms with Python re on 22 "
        f"characters (x2 per character), {results['regex']['re2_28_chars_ms']} ms with RE2 on 28"
    )
    rss = results["rss"]
    print(
        f"RSS: baseline {rss['baseline_mb']} MB, peak {rss['peak_mb']} MB, after "
        f"{rss['after_mb']} MB (x{rss['ratio']}) after {rss['replied_mb']} MB of replies"
    )
    ok &= rss["ratio"] <= 1.10
    print("targets met" if ok else "TARGETS MISSED")
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--replay-bytes",
        type=int,
        help="c.PygentJupyter.replay_buffer_bytes for the server (default: its default, 4 MiB)",
    )
    options = parser.parse_args()
    measured = asyncio.run(main(options.quick, options.replay_bytes))
    if options.json:
        Path(options.json).write_text(json.dumps(measured, indent=2))
    sys.exit(0 if report(measured) else 1)
