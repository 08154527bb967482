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
import csv
import io
import json
import statistics
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from ...aio import run_sync
from ...llm import LLMProvider
from .engine import EventCallback, ReasoningTree, ToTEngine, ToTParams, ValueCache
from .game24 import load_puzzles
from .providers import default_provider
from .tasks import Task, make_task

__all__ = [
    "GPT4_PRICE",
    "METHODS",
    "BatchReport",
    "ItemResult",
    "ModelSpec",
    "PuzzleResult",
    "arun_batch",
    "arun_item",
    "asolve",
    "resolve_config",
    "run_batch",
    "run_game24_batch",
    "run_item",
    "solve",
    "task_inputs",
]

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
    method: str | None = None,
    preset: str | None = None,
    prompts: str | None = None,
    on_event: EventCallback | None = None,
    **params: Any,
) -> ReasoningTree:
    """Run one search and return its whole tree (await it; see :func:`solve`)."""
    if isinstance(task, str):
        config = resolve_config(
            task, method or "tot", preset=preset, prompts=prompts, model=model, **params
        )
        if config["method"] != "tot":
            raise ValueError("solve runs a ToT search: method is bfs or dfs")
        task_obj = make_task(task, prompts=config["prompts"])
        tot_params = ToTParams.from_dict(config["params"])
    else:
        task_obj = task
        tot_params = ToTParams(method=method or "bfs", model=model, **params)  # type: ignore[arg-type]
    if x is None:
        if puzzle_index is None or task_obj.name == "open":
            raise ValueError("give the input x (or puzzle_index into the task's data)")
        data = task_inputs(task_obj.name, task_obj.prompts)
        if not 0 <= puzzle_index < len(data):
            raise ValueError(f"puzzle_index must lie in [0, {len(data)})")
        x = data[puzzle_index]
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
    method: str | None = None,
    preset: str | None = None,
    prompts: str | None = None,
    on_event: EventCallback | None = None,
    **params: Any,
) -> ReasoningTree:
    """Run a Tree-of-Thought search and return the tree (blocking; works in a notebook).

    ``task`` is ``"game24"``, ``"open"``, ``"text"``, ``"crosswords"`` or a :class:`Task`;
    ``x`` its input (or ``puzzle_index`` into the task's data). ``prompts="paper"`` uses the
    official package's prompts and parsing; ``preset="paper"`` also the paper's settings
    for the task. The model is ``provider`` if given, else ``backend`` (``"ollama"`` at
    ``host``, or the embedded ``"local"`` model) with ``model``. Other keyword arguments are
    :class:`ToTParams` fields (``n_select_sample=5``, ``method_evaluate="vote"``…).
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
            preset=preset,
            prompts=prompts,
            on_event=on_event,
            **params,
        )
    )


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, also from inside a running loop (Jupyter)."""
    return run_sync(coro, thread_name="pygent-tot-solve")


# ---------------------------------------------------------------------------------------------
# Batches: one row of the paper's tables per call
# ---------------------------------------------------------------------------------------------

#: Batch methods: Tree-of-Thought and the paper's baselines.
METHODS = ("tot", "io", "cot", "cot_sc")

#: GPT-4 (8k) prices the paper's cost columns used, USD per 1000 (prompt, completion) tokens.
GPT4_PRICE = (0.03, 0.06)

_DEFAULT_ITEMS = {"game24": (900, 1000), "text": (0, 100), "crosswords": (0, 20)}


@dataclass(frozen=True)
class ModelSpec:
    """A picklable description of the model (for process executors): backend, model, host."""

    backend: str = "auto"
    model: str | None = None
    host: str | None = None

    def provider(self) -> LLMProvider:
        return _provider(None, self.backend, self.host)


@dataclass
class ItemResult:
    """One item of a batch. ``score`` is the item's success in [0, 1] (Game of 24: solved;
    crosswords: word-level success; Creative Writing: constraint share; IO/CoT: mean over
    samples); ``metrics`` holds the task's extra measures."""

    index: int | None
    input: str
    solved: bool | None
    answer: str | None
    llm_calls: int
    tokens: int
    wall_time: float
    stop_reason: str
    error: str | None = None
    method: str = "tot"
    score: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0
    dropped_lines: int = 0
    parse_errors: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def puzzle(self) -> str:
        return self.input


#: The name of :class:`ItemResult` before other tasks existed.
PuzzleResult = ItemResult


@dataclass
class BatchReport:
    """A batch: per-item rows, the aggregate, and what is needed to rerun it."""

    params: dict[str, Any]
    results: list[ItemResult] = field(default_factory=list)
    wall_time: float = 0.0
    task: str = "game24"
    method: str = "tot"
    prompts: str = "ours"
    model: str | None = None
    backend: str | None = None
    price: tuple[float, float] | None = None
    batch_id: str | None = None
    name: str | None = None
    created: float = field(default_factory=time.time)

    @property
    def success_rate(self) -> float:
        """Mean item score (Game of 24: the share solved)."""
        return statistics.fmean(r.score for r in self.results) if self.results else 0.0

    @property
    def cost(self) -> float | None:
        if self.price is None:
            return None
        p, c = self.price
        prompt = sum(r.prompt_tokens for r in self.results)
        completion = sum(r.completion_tokens for r in self.results)
        return round((prompt * p + completion * c) / 1000, 6)

    def summary(self) -> dict[str, Any]:
        rows = self.results

        def mean(xs: list[float]) -> float:
            return round(statistics.fmean(xs), 3) if xs else 0.0

        return {
            "puzzles": len(rows),
            "solved": sum(bool(r.solved) for r in rows),
            "score": round(self.success_rate, 4),
            "success_rate": round(self.success_rate, 4),
            "calls": sum(r.llm_calls for r in rows),
            "tokens": sum(r.tokens for r in rows),
            "cost": self.cost,
            "calls_per_puzzle": mean([r.llm_calls for r in rows]),
            "tokens_per_puzzle": mean([r.tokens for r in rows]),
            "seconds_per_puzzle": mean([r.wall_time for r in rows]),
            "dropped_lines": sum(r.dropped_lines for r in rows),
            "parse_errors": sum(r.parse_errors for r in rows),
            "errors": sum(r.error is not None for r in rows),
            "wall_time": round(self.wall_time, 3),
        }

    def to_record(self) -> dict[str, Any]:
        """The document :class:`.records.ExperimentStore` saves."""
        return {
            "id": self.batch_id,
            "created": self.created,
            "name": self.name,
            "task": self.task,
            "method": self.method,
            "prompts": self.prompts,
            "model": self.model,
            "backend": self.backend,
            "config": self.params,
            "summary": self.summary(),
            "wall_time": self.wall_time,
            "results": [asdict(r) for r in self.results],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "summary": self.summary(),
            "results": [asdict(r) for r in self.results],
        }

    def table(self) -> str:
        """A plain-text table (one row per item, then the summary)."""
        lines = [
            f"{'idx':>5}  {'input':<12} {'score':>5} {'calls':>5} {'tokens':>7} {'sec':>7}  answer"
        ]
        for r in self.results:
            first = r.input.splitlines()[0] if r.input else ""
            answer = (r.answer or r.stop_reason).replace("\n", " / ")[:60]
            lines.append(
                f"{r.index if r.index is not None else '-':>5}  {first[:12]:<12} "
                f"{'yes' if r.solved else ('no' if r.solved is False else f'{r.score:.2f}'):>5} "
                f"{r.llm_calls:>5} {r.tokens:>7} {r.wall_time:>7.2f}  {answer}"
            )
        s = self.summary()
        lines.append(
            f"{self.task} {self.method} ({self.prompts} prompts): success {s['solved']}/"
            f"{s['puzzles']} = {s['success_rate']:.0%}; per puzzle: {s['calls_per_puzzle']} "
            f"calls, {s['tokens_per_puzzle']} tokens, {s['seconds_per_puzzle']} s"
        )
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.table())


def task_inputs(task: str, prompts: str = "ours") -> tuple[str, ...]:
    """The dataset of ``task``: Game of 24 puzzles (24.csv; the package's copy in paper mode),
    Creative Writing inputs, or crossword clue sets."""
    if task == "game24":
        if prompts == "paper":
            from .paper import data_path

            text = data_path("24", "24.csv").read_text(encoding="utf-8")
            return tuple(r["Puzzles"].strip() for r in csv.DictReader(io.StringIO(text)))
        return load_puzzles()
    if task == "text":
        from .paper import load_text_inputs

        return load_text_inputs()
    if task == "crosswords":
        from .crosswords import load_games, render_clues

        return tuple(render_clues(clues) for clues, _ in load_games())
    raise ValueError(f"task {task!r} has no dataset (give the inputs)")


def resolve_config(
    task: str,
    method: str = "tot",
    *,
    preset: str | None = None,
    prompts: str | None = None,
    n_samples: int | None = None,
    **params: Any,
) -> dict[str, Any]:
    """The full, JSON-able configuration of a batch item (what is recorded).

    ``preset="paper"`` means the official prompts and the paper's settings for ``task``
    (:data:`.paper.PAPER_SETTINGS`; explicit ``params`` win). Raises ``ValueError`` for
    unknown names or parameters.
    """
    if method in ("bfs", "dfs"):  # a ToT search method given where a batch method goes
        method, params = "tot", {**params, "method": method}
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)}, bfs, dfs)")
    if preset not in (None, "paper"):
        raise ValueError(f"unknown preset {preset!r} (known: paper)")
    if prompts is None:
        prompts = "paper" if preset == "paper" or task in ("text", "crosswords") else "ours"
    if task in ("text", "crosswords") and prompts != "paper":
        raise ValueError(f"task {task!r} exists in paper mode only (prompts='paper')")
    tot: dict[str, Any] = {}
    if preset == "paper":
        from .paper import PAPER_SETTINGS

        tot.update(PAPER_SETTINGS.get(task, {}))
    elif task == "game24":
        tot.update(n_evaluate_sample=3, n_select_sample=5)
    tot.update(params)
    tot_params = ToTParams.from_dict(tot)
    unknown = set(params) - set(tot_params.to_dict())
    if unknown:
        raise ValueError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    config: dict[str, Any] = {"task": task, "method": method, "prompts": prompts}
    if method == "tot":
        config["params"] = tot_params.to_dict()
    else:
        paper_n = 100 if preset == "paper" else 10
        config.update(
            n_samples=n_samples or paper_n,
            temperature=tot_params.temperature,
            seed=tot_params.seed,
            concurrency=tot_params.concurrency,
            model=tot_params.model,
        )
    return config


async def arun_item(
    index: int | None,
    x: str,
    config: dict[str, Any],
    provider: LLMProvider,
    *,
    value_cache: ValueCache | None = None,
) -> ItemResult:
    """One item of a batch (ToT search or a baseline), scored. Never raises for model
    output; a backend failure is the item's ``error``."""
    task = make_task(config["task"], prompts=config["prompts"])
    method = config["method"]
    if method != "tot":
        from .baselines import run_baseline

        out = await run_baseline(
            task,
            x,
            method,
            provider,
            model=config.get("model"),
            n_samples=config["n_samples"],
            temperature=config["temperature"],
            seed=config["seed"],
            concurrency=config["concurrency"],
        )
        return ItemResult(index=index, input=x, method=method, **out)
    params = ToTParams.from_dict(config["params"])
    cache = value_cache if params.cache_scope == "batch" else None
    tree = await ToTEngine(provider, task, x, params, value_cache=cache).run()
    score, metrics = _tot_score(task, x, tree)
    s = tree.stats
    return ItemResult(
        index=index,
        input=x,
        method="tot",
        score=score,
        solved=tree.solved,
        answer=tree.answer,
        llm_calls=s.llm_calls,
        tokens=s.tokens,
        prompt_tokens=s.prompt_tokens,
        completion_tokens=s.completion_tokens,
        cache_hits=s.cache_hits,
        dropped_lines=s.dropped_lines,
        parse_errors=s.parse_errors,
        wall_time=s.wall_time,
        stop_reason=s.stop_reason,
        error=tree.error,
        metrics=metrics,
    )


def run_item(index: int | None, x: str, config: dict[str, Any], model: ModelSpec) -> ItemResult:
    """:func:`arun_item` from picklable arguments only (for process or Dask executors; the
    value cache is then per item)."""
    return asyncio.run(arun_item(index, x, config, model.provider()))


def run_item_on_worker(index: int | None, x: str, config: dict[str, Any], model: Any) -> ItemResult:
    """:func:`arun_item` on an executor's worker; ``model`` is what the executor shipped for
    the provider (see :func:`pygent_jupyter.executors.worker_provider`)."""
    from ...executors import resolve, run_on_worker_loop

    result: ItemResult = run_on_worker_loop(arun_item(index, x, config, resolve(model)))
    return result


async def _run_on_executor(
    spec: Any,
    selected: list[tuple[int | None, str]],
    config: dict[str, Any],
    llm: LLMProvider,
    on_result: Callable[[ItemResult], Any] | None,
) -> list[ItemResult]:
    """Every item as a task of the executor ``spec`` (a ``distributed.Client``, a cluster, an
    address or ``"processes"``); ``on_result`` per item as it finishes; results in order."""
    from ...executors import Executor, ExecutorError, as_executor, worker_provider

    executor = as_executor(spec)
    assert executor is not None
    owned = not isinstance(spec, Executor)
    handle = executor.prepare(worker_provider(llm), "the model provider")
    batch = executor.batch()
    results: list[ItemResult | None] = [None] * len(selected)
    try:
        for pos, (index, x) in enumerate(selected):
            batch.submit(pos, run_item_on_worker, index, x, config, handle)
        async for pos, value, error in batch.results():
            if error is not None:
                raise error if isinstance(error, ExecutorError) else ExecutorError(str(error))
            results[pos] = value
            if on_result is not None:
                on_result(value)
    finally:
        if batch.pending:
            await batch.cancel()
        executor.release(handle)
        if owned:
            await executor.aclose()
    return [r for r in results if r is not None]


def _tot_score(task: Task, x: str, tree: ReasoningTree) -> tuple[float, dict[str, Any]]:
    if task.name == "crosswords":
        metrics = task.score(x, tree.answer)  # type: ignore[attr-defined]
        return metrics["r_word"], metrics
    if task.name == "text":
        return task.constraint_score(x, tree.answer), {}  # type: ignore[attr-defined]
    return float(bool(tree.solved)), {}


def _select_items(
    task: str, prompts: str, items: Iterable[int] | Iterable[str] | None
) -> list[tuple[int | None, str]]:
    if items is None:
        start, end = _DEFAULT_ITEMS.get(task, (0, 0))
        items = range(start, end)
    chosen = list(items)
    if not chosen:
        raise ValueError("a batch needs at least one item")
    if all(isinstance(i, str) for i in chosen):
        return [(None, str(i)) for i in chosen]
    data = task_inputs(task, prompts)
    out: list[tuple[int | None, str]] = []
    for i in chosen:
        if not isinstance(i, int) or not 0 <= i < len(data):
            raise ValueError(f"item {i!r} is not an index into the {len(data)} {task} inputs")
        out.append((i, data[i]))
    return out


async def arun_batch(
    task: str = "game24",
    items: Iterable[int] | Iterable[str] | None = None,
    *,
    method: str = "tot",
    preset: str | None = None,
    prompts: str | None = None,
    provider: LLMProvider | None = None,
    model: str | None = None,
    backend: str = "auto",
    host: str | None = None,
    parallel: int = 1,
    n_samples: int | None = None,
    price: tuple[float, float] | None = None,
    record: bool | Any = True,
    name: str | None = None,
    on_result: Callable[[ItemResult], Any] | None = None,
    executor: Any = None,
    **params: Any,
) -> BatchReport:
    """See :func:`run_batch`."""
    config = resolve_config(
        task, method, preset=preset, prompts=prompts, n_samples=n_samples, model=model, **params
    )
    selected = _select_items(task, config["prompts"], items)
    llm = _provider(provider, backend, host)
    report = BatchReport(
        params=config,
        task=task,
        method=config["method"],
        prompts=config["prompts"],
        model=model or _safe(lambda: llm.default_model),
        backend=_backend_name(llm, backend),
        price=price,
        name=name,
    )
    # the reference's task.value_cache: one for the whole batch when cache_scope="batch"
    value_cache = ValueCache()
    sem = asyncio.Semaphore(max(1, parallel))
    began = time.monotonic()

    async def one(index: int | None, x: str) -> ItemResult:
        async with sem:
            result = await arun_item(index, x, config, llm, value_cache=value_cache)
        if on_result is not None:
            on_result(result)
        return result

    # the batch loop (one place): items in order, ``parallel`` at a time
    if executor is None or executor == "inprocess":
        report.results = list(await asyncio.gather(*(one(i, x) for i, x in selected)))
    else:  # every item a task of the executor, as many at once as it has slots
        report.results = await _run_on_executor(executor, selected, config, llm, on_result)
    report.wall_time = time.monotonic() - began
    report.params = {**config, "items": [i if i is not None else x for i, x in selected]}
    if record is not False and record is not None:  # (an empty store is falsy)
        from .records import ExperimentStore, runs

        store = record if isinstance(record, ExperimentStore) else runs
        report.batch_id = await asyncio.to_thread(store.save, report.to_record())
    return report


def run_batch(
    task: str = "game24",
    items: Iterable[int] | Iterable[str] | None = None,
    *,
    method: str = "tot",
    preset: str | None = None,
    prompts: str | None = None,
    provider: LLMProvider | None = None,
    model: str | None = None,
    backend: str = "auto",
    host: str | None = None,
    parallel: int = 1,
    n_samples: int | None = None,
    price: tuple[float, float] | None = None,
    record: bool | Any = True,
    name: str | None = None,
    on_result: Callable[[ItemResult], Any] | None = None,
    **params: Any,
) -> BatchReport:
    """Run one row of the paper's tables: ``method`` on ``items`` of ``task`` (blocking).

    - ``task``: ``game24``, ``text`` (Creative Writing) or ``crosswords``;
    - ``items``: indices into the task's data (default: the paper's slice: Game of 24
      900-999, text 0-99, the 20 crosswords) or the inputs themselves;
    - ``method``: ``tot``, ``io``, ``cot`` or ``cot_sc`` (``n_samples`` samples per item;
      100 with the paper preset, else 10);
    - ``preset="paper"``: the official prompts and the paper's settings (b=5 for Game of
      24; pass ``n_select_sample=1`` for b=1) with a batch-wide value cache;
    - ``price``: USD per 1000 (prompt, completion) tokens for the cost column
      (:data:`GPT4_PRICE` for the paper's);
    - ``record``: save the batch in the experiment records (``True``: the default store
      :data:`.records.runs`; or an :class:`.records.ExperimentStore`; ``False``: don't).

    - ``executor``: run each item as a task of a ``distributed.Client``, a Dask cluster or
      scheduler address, or ``"processes"`` (a local pool); ``on_result`` is called per item
      as it finishes; the workers call the model themselves (see ``docs/scale-out.md``), and
      the value cache is per item.

    Other keyword arguments are :class:`ToTParams` fields.
    """
    return _run_sync(
        arun_batch(
            task,
            items,
            method=method,
            preset=preset,
            prompts=prompts,
            provider=provider,
            model=model,
            backend=backend,
            host=host,
            parallel=parallel,
            n_samples=n_samples,
            price=price,
            record=record,
            name=name,
            on_result=on_result,
            **params,
        )
    )


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
    """ToT on Game of 24 puzzles ``start``..``end-1`` (:func:`run_batch` with ``task="game24"``).

    Defaults are the paper's setting: BFS, propose, value x 3, beam 5. ``executor=client``
    runs the puzzles on a Dask cluster (see :func:`run_batch`).
    """
    if not 0 <= start < end <= len(load_puzzles()):
        raise ValueError(f"need 0 <= start < end <= {len(load_puzzles())}")
    return run_batch(
        "game24",
        range(start, end),
        provider=provider,
        model=model,
        backend=backend,
        host=host,
        parallel=parallel_puzzles,
        on_result=on_result,
        **params,
    )


def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:
        return None


def _backend_name(llm: LLMProvider, requested: str) -> str:
    name = getattr(llm, "backend", None) or getattr(llm, "name", None)
    if isinstance(name, str) and name:
        return name
    return requested if requested != "auto" else type(llm).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m pygent_jupyter.services.reasoning.api --task game24 --start 900
    --end 910 --preset paper --method tot``."""
    parser = argparse.ArgumentParser(description="Tree-of-Thought and baselines, batch runs")
    parser.add_argument("--task", choices=["game24", "text", "crosswords"], default="game24")
    parser.add_argument("--start", type=int, default=None)
    parser.add_argument("--end", type=int, default=None)
    parser.add_argument("--method", choices=[*METHODS, "bfs", "dfs"], default="tot")
    parser.add_argument("--preset", choices=["paper"], default=None)
    parser.add_argument("--prompts", choices=["ours", "paper"], default=None)
    parser.add_argument("--backend", choices=["ollama", "local"], default="ollama")
    parser.add_argument("--host", default=None, help="Ollama host (default: $OLLAMA_HOST)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--n-select-sample", type=int, default=None)
    parser.add_argument("--n-evaluate-sample", type=int, default=None)
    parser.add_argument("--n-samples", type=int, default=None, help="IO/CoT/CoT-SC samples")
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--max-calls", type=int, default=None)
    parser.add_argument("--no-record", action="store_true", help="Do not save the batch")
    parser.add_argument("--json", default=None, help="Write the full report to this file")
    args = parser.parse_args(argv)
    provider = default_provider(args.backend, **({"host": args.host} if args.host else {}))
    default = _DEFAULT_ITEMS[args.task]
    start = default[0] if args.start is None else args.start
    end = default[1] if args.end is None else args.end
    extra = {
        k: v
        for k, v in {
            "n_select_sample": args.n_select_sample,
            "n_evaluate_sample": args.n_evaluate_sample,
            "temperature": args.temperature,
            "concurrency": args.concurrency,
            "max_calls": args.max_calls,
        }.items()
        if v is not None
    }
    report = run_batch(
        args.task,
        range(start, end),
        method=args.method,
        preset=args.preset,
        prompts=args.prompts,
        provider=provider,
        model=args.model,
        n_samples=args.n_samples,
        record=not args.no_record,
        on_result=lambda r: print(
            f"{r.index}: score={r.score:.3f} calls={r.llm_calls}", file=sys.stderr
        ),
        **extra,
    )
    print(report.table())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
