"""Research API: run Tree-of-Thought from a notebook or script, no server needed.

>>> tree = solve("game24", "4 5 6 10", model="llama3.1:8b", backend="ollama")  # doctest: +SKIP
>>> tree.solved, tree.answer, tree.stats.llm_calls                             # doctest: +SKIP

``run_game24_batch`` reruns the paper's Game of 24 table on any provider: a range of puzzles
of the shipped 24.csv (the paper uses 900-999), reporting success rate, calls, tokens and time
per puzzle. From a shell::

    python -m pygent_jupyter.services.reasoning.api --start 900 --end 910 --backend ollama \\
        --model llama3.1:8b
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from ...llm import LLMProvider
from .engine import EventCallback, ReasoningTree, ToTEngine, ToTParams
from .game24 import load_puzzles
from .providers import default_provider
from .tasks import Task, make_task

__all__ = ["BatchReport", "PuzzleResult", "asolve", "run_game24_batch", "solve"]

T = TypeVar("T")


def _provider(provider: LLMProvider | None, backend: str, host: str | None) -> LLMProvider:
    if provider is not None:
        return provider
    kwargs: dict[str, Any] = {}
    if host:
        kwargs["host"] = host
    if backend == "auto":
        backend = "ollama" if host else "local"
    return default_provider(backend, **kwargs)


async def asolve(
    task: str | Task,
    x: str | None = None,
    *,
    puzzle_index: int | None = None,
    provider: LLMProvider | None = None,
    model: str | None = None,
    backend: str = "auto",
    host: str | None = None,
    method: str = "bfs",
    on_event: EventCallback | None = None,
    **params: Any,
) -> ReasoningTree:
    """Run one search and return its whole tree (await it; see :func:`solve`)."""
    task_obj = make_task(task) if isinstance(task, str) else task
    if x is None:
        if puzzle_index is None or task_obj.name != "game24":
            raise ValueError("give the input x (or puzzle_index for game24)")
        x = load_puzzles()[puzzle_index]
    tot_params = ToTParams(method=method, model=model, **params)  # type: ignore[arg-type]
    engine = ToTEngine(
        _provider(provider, backend, host), task_obj, x, tot_params, on_event=on_event
    )
    return await engine.run()


def solve(
    task: str | Task,
    x: str | None = None,
    *,
    puzzle_index: int | None = None,
    provider: LLMProvider | None = None,
    model: str | None = None,
    backend: str = "auto",
    host: str | None = None,
    method: str = "bfs",
    on_event: EventCallback | None = None,
    **params: Any,
) -> ReasoningTree:
    """Run a Tree-of-Thought search and return the tree (blocking; works in a notebook).

    ``task`` is ``"game24"``, ``"open"`` or a :class:`Task`; ``x`` its input (or
    ``puzzle_index`` into 24.csv). The model is ``provider`` if given, else ``backend``
    (``"ollama"`` at ``host``, or the embedded ``"local"`` model) with ``model``. Other
    keyword arguments are :class:`ToTParams` fields (``n_select_sample=5``,
    ``method_evaluate="vote"``, ``max_calls=100``…).
    """
    return _run_sync(
        asolve(
            task,
            x,
            puzzle_index=puzzle_index,
            provider=provider,
            model=model,
            backend=backend,
            host=host,
            method=method,
            on_event=on_event,
            **params,
        )
    )


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, also from inside a running loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="pygent-tot-solve")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


@dataclass
class PuzzleResult:
    """One puzzle of a batch."""

    index: int
    puzzle: str
    solved: bool
    answer: str | None
    llm_calls: int
    tokens: int
    wall_time: float
    stop_reason: str
    error: str | None = None


@dataclass
class BatchReport:
    """A batch of Game of 24 searches: per-puzzle rows and the aggregate."""

    params: dict[str, Any]
    results: list[PuzzleResult] = field(default_factory=list)
    wall_time: float = 0.0

    @property
    def success_rate(self) -> float:
        return sum(r.solved for r in self.results) / len(self.results) if self.results else 0.0

    def summary(self) -> dict[str, Any]:
        rows = self.results

        def mean(xs: list[float]) -> float:
            return round(statistics.fmean(xs), 3) if xs else 0.0

        return {
            "puzzles": len(rows),
            "solved": sum(r.solved for r in rows),
            "success_rate": round(self.success_rate, 4),
            "calls_per_puzzle": mean([r.llm_calls for r in rows]),
            "tokens_per_puzzle": mean([r.tokens for r in rows]),
            "seconds_per_puzzle": mean([r.wall_time for r in rows]),
            "wall_time": round(self.wall_time, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "summary": self.summary(),
            "results": [asdict(r) for r in self.results],
        }

    def table(self) -> str:
        """A plain-text table (one row per puzzle, then the summary)."""
        lines = [
            f"{'idx':>5}  {'puzzle':<12} {'ok':<3} {'calls':>5} {'tokens':>7} {'sec':>7}  answer"
        ]
        for r in self.results:
            lines.append(
                f"{r.index:>5}  {r.puzzle:<12} {'yes' if r.solved else 'no':<3} {r.llm_calls:>5} "
                f"{r.tokens:>7} {r.wall_time:>7.2f}  {r.answer or r.stop_reason}"
            )
        s = self.summary()
        lines.append(
            f"success {s['solved']}/{s['puzzles']} = {s['success_rate']:.0%}; per puzzle: "
            f"{s['calls_per_puzzle']} calls, {s['tokens_per_puzzle']} tokens, "
            f"{s['seconds_per_puzzle']} s"
        )
        return "\n".join(lines)


async def arun_game24_batch(
    start: int = 900,
    end: int = 1000,
    *,
    provider: LLMProvider | None = None,
    model: str | None = None,
    backend: str = "auto",
    host: str | None = None,
    parallel_puzzles: int = 1,
    on_result: Any = None,
    **params: Any,
) -> BatchReport:
    """Search puzzles ``start``..``end-1`` of 24.csv; see :func:`run_game24_batch`."""
    puzzles = load_puzzles()
    if not 0 <= start < end <= len(puzzles):
        raise ValueError(f"need 0 <= start < end <= {len(puzzles)}")
    llm = _provider(provider, backend, host)
    base = {
        "method": "bfs",
        "method_generate": "propose",
        "method_evaluate": "value",
        "n_evaluate_sample": 3,
        "n_select_sample": 5,
        **params,
    }
    report = BatchReport(
        params={**ToTParams(model=model, **base).to_dict(), "start": start, "end": end}
    )
    sem = asyncio.Semaphore(max(1, parallel_puzzles))
    began = time.monotonic()

    async def one(index: int) -> PuzzleResult:
        async with sem:
            tree = await ToTEngine(
                llm, make_task("game24"), puzzles[index], ToTParams(model=model, **base)
            ).run()
        result = PuzzleResult(
            index=index,
            puzzle=puzzles[index],
            solved=bool(tree.solved),
            answer=tree.answer,
            llm_calls=tree.stats.llm_calls,
            tokens=tree.stats.tokens,
            wall_time=tree.stats.wall_time,
            stop_reason=tree.stats.stop_reason,
            error=tree.error,
        )
        if on_result is not None:
            on_result(result)
        return result

    report.results = list(await asyncio.gather(*(one(i) for i in range(start, end))))
    report.wall_time = time.monotonic() - began
    return report


def run_game24_batch(
    start: int = 900,
    end: int = 1000,
    *,
    provider: LLMProvider | None = None,
    model: str | None = None,
    backend: str = "auto",
    host: str | None = None,
    parallel_puzzles: int = 1,
    on_result: Any = None,
    **params: Any,
) -> BatchReport:
    """Run ToT on Game of 24 puzzles ``start``..``end-1`` (blocking; works in a notebook).

    Defaults are the paper's setting: BFS, propose, value x 3, beam 5. ``params`` are
    :class:`ToTParams` fields; ``parallel_puzzles`` puzzles run at once (each one's calls
    are concurrent anyway).
    """
    return _run_sync(
        arun_game24_batch(
            start,
            end,
            provider=provider,
            model=model,
            backend=backend,
            host=host,
            parallel_puzzles=parallel_puzzles,
            on_result=on_result,
            **params,
        )
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m pygent_jupyter.services.reasoning.api --start 900 --end 910``."""
    parser = argparse.ArgumentParser(description="Tree-of-Thought on Game of 24 puzzles")
    parser.add_argument("--start", type=int, default=900)
    parser.add_argument("--end", type=int, default=910)
    parser.add_argument("--backend", choices=["ollama", "local"], default="ollama")
    parser.add_argument("--host", default=None, help="Ollama host (default: $OLLAMA_HOST)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--method", choices=["bfs", "dfs"], default="bfs")
    parser.add_argument("--n-select-sample", type=int, default=5)
    parser.add_argument("--n-evaluate-sample", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-calls", type=int, default=None)
    parser.add_argument("--json", default=None, help="Write the full report to this file")
    args = parser.parse_args(argv)
    provider = default_provider(args.backend, **({"host": args.host} if args.host else {}))
    report = run_game24_batch(
        args.start,
        args.end,
        provider=provider,
        model=args.model,
        method=args.method,
        n_select_sample=args.n_select_sample,
        n_evaluate_sample=args.n_evaluate_sample,
        temperature=args.temperature,
        concurrency=args.concurrency,
        max_calls=args.max_calls,
        on_result=lambda r: print(
            f"{r.index} {r.puzzle}: solved={r.solved} calls={r.llm_calls}", file=sys.stderr
        ),
    )
    print(report.table())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
