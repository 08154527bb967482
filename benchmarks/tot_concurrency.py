"""Tree-of-Thought: our concurrent BFS versus the same search one call at a time.

The model is a scripted Game of 24 player (tests/reasoning/scripted.py) behind a fixed
latency per call, standing in for a model server whose calls take that long and that serves
requests in parallel (vLLM, Ollama with OLLAMA_NUM_PARALLEL, a hosted API). Both schedules run
the paper's setting — BFS, propose, value x 3, beam b=5 — on the same puzzles; the baseline is
the reference implementation's schedule (``concurrency=1``: every call waits for the one
before). The benchmark checks that both make the same calls (same prompts, same count) and
build the same tree, then prints wall times and the ratio.

    .venv/bin/python benchmarks/tot_concurrency.py                 # 3 puzzles, 50 ms/call
    .venv/bin/python benchmarks/tot_concurrency.py --puzzles 10 --latency 0.2   # fuller run
    .venv/bin/python benchmarks/tot_concurrency.py --server http   # real HTTP, Ollama API
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "reasoning"))

from scripted import ScriptedProvider, game24_oracle  # noqa: E402

from pygent_jupyter.services.reasoning import Game24Task, ToTEngine, ToTParams  # noqa: E402
from pygent_jupyter.services.reasoning.game24 import load_puzzles  # noqa: E402


class Backend:
    """A fresh model per run: the scripted provider in process, or the real OllamaProvider
    over HTTP to the Ollama-API test server (both with a fixed latency per call)."""

    def __init__(self, kind: str, latency: float) -> None:
        self.kind = kind
        self.latency = latency
        self.server = None
        if kind == "http":
            from pygent_jupyter.testing.ollama_server import OllamaTestServer

            oracle = game24_oracle()
            self.server = OllamaTestServer(latency=latency).start_in_thread()
            self.server.responder = lambda body: oracle(body["prompt"], body.get("options", {}))

    def provider(self):
        if self.server is None:
            return ScriptedProvider(game24_oracle(), latency=self.latency)
        from pygent_jupyter.llm.ollama import OllamaProvider

        self.server.requests.clear()
        return OllamaProvider(host=self.server.host, model="llama3.2:latest")

    def prompts(self, provider) -> Counter:
        if self.server is None:
            return Counter(p for p, _ in provider.calls)
        return Counter(
            body["prompt"] for _m, path, body in self.server.requests if path == "/api/generate"
        )

    def peak(self, provider) -> str:
        return str(provider.max_in_flight) if self.server is None else "-"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop_thread()


async def run_one(backend: Backend, puzzle: str, concurrency: int):
    provider = backend.provider()
    params = ToTParams(
        method="bfs",
        method_generate="propose",
        method_evaluate="value",
        n_evaluate_sample=3,
        n_select_sample=5,
        concurrency=concurrency,
    )
    began = time.perf_counter()
    tree = await ToTEngine(provider, Game24Task(), puzzle, params).run()
    elapsed = time.perf_counter() - began
    return elapsed, backend.prompts(provider), backend.peak(provider), tree


def comparable(tree) -> dict:
    data = tree.to_dict()
    data["stats"].pop("wall_time")
    data["params"].pop("concurrency")
    return data


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=900, help="first puzzle index of 24.csv")
    parser.add_argument("--puzzles", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per model call")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--server",
        choices=["scripted", "http"],
        default="scripted",
        help="scripted: in-process provider; http: the real OllamaProvider "
        "against the Ollama-API test server",
    )
    args = parser.parse_args()

    puzzles = load_puzzles()[args.start : args.start + args.puzzles]
    where = "in process" if args.server == "scripted" else "over HTTP (Ollama API test server)"
    print(
        f"Game of 24 BFS b=5, propose, value x3; {len(puzzles)} puzzles from #{args.start}; "
        f"{args.latency * 1000:.0f} ms per call {where}; concurrency {args.concurrency} vs 1"
    )
    print(
        f"{'puzzle':<12} {'calls':>6} {'seq s':>8} {'conc s':>8} {'ratio':>6} "
        f"{'peak':>5} {'solved':>6}"
    )
    backend = Backend(args.server, args.latency)
    total_seq = total_conc = 0.0
    total_calls = 0
    try:
        for puzzle in puzzles:
            t_seq, calls_seq, _, tree_seq = await run_one(backend, puzzle, 1)
            t_conc, calls_conc, peak, tree_conc = await run_one(backend, puzzle, args.concurrency)
            if calls_seq != calls_conc or comparable(tree_seq) != comparable(tree_conc):
                print(f"MISMATCH on {puzzle}: the schedules made different calls or trees")
                return 1
            n_calls = sum(calls_seq.values())
            if n_calls != tree_seq.stats.llm_calls:
                print(
                    f"MISMATCH on {puzzle}: {n_calls} calls seen, "
                    f"{tree_seq.stats.llm_calls} counted"
                )
                return 1
            total_seq += t_seq
            total_conc += t_conc
            total_calls += n_calls
            print(
                f"{puzzle:<12} {n_calls:>6} {t_seq:>8.2f} {t_conc:>8.2f} "
                f"{t_seq / t_conc:>5.1f}x {peak:>5} {tree_conc.solved!s:>6}"
            )
    finally:
        backend.close()
    print(
        f"{'total':<12} {total_calls:>6} {total_seq:>8.2f} {total_conc:>8.2f} "
        f"{total_seq / total_conc:>5.1f}x"
    )
    print("same calls and identical trees in both schedules: yes")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
