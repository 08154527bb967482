"""Fitness evaluation: any sync or async callable, run with bounded concurrency, cached by genome.

A fitness function returns a number, a ``(fitness, tokens)`` pair, a mapping with ``fitness``
(and optionally ``tokens``, ``secondary``, ``details``) or a :class:`FitnessResult`.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Evaluator", "FitnessResult", "evaluate_on_worker", "normalize_result"]


@dataclass
class FitnessResult:
    """One evaluation. ``secondary`` breaks ties in selection (higher is better)."""

    fitness: float
    tokens: int = 0
    secondary: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"fitness": self.fitness, "tokens": self.tokens}
        if self.secondary is not None:
            data["secondary"] = self.secondary
        if self.details:
            data["details"] = self.details
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FitnessResult:
        return cls(
            fitness=float(data["fitness"]),
            tokens=int(data.get("tokens", 0)),
            secondary=data.get("secondary"),
            details=dict(data.get("details", {})),
        )


def normalize_result(value: Any) -> FitnessResult:
    """Turn what a fitness function returned into a :class:`FitnessResult`.

    Raises ``TypeError``/``ValueError`` for anything else, or for NaN.
    """
    if isinstance(value, FitnessResult):
        result = value
    elif isinstance(value, (bool, int, float)):
        result = FitnessResult(float(value))
    elif isinstance(value, Mapping):
        result = FitnessResult(
            float(value["fitness"]),
            int(value.get("tokens", 0)),
            None if value.get("secondary") is None else float(value["secondary"]),
            dict(value.get("details", {})),
        )
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        result = FitnessResult(float(value[0]), int(value[1]))
    else:
        try:  # numpy scalars and the like
            result = FitnessResult(float(value))
        except (TypeError, ValueError):
            raise TypeError(
                "a fitness function must return a number, (fitness, tokens), a mapping with "
                f"'fitness', or a FitnessResult; got {type(value).__name__}"
            ) from None
    if math.isnan(result.fitness):
        raise ValueError("fitness is NaN")
    return result


FitnessFn = Callable[[Any], Any]
ResultHook = Callable[[Hashable, Any, FitnessResult], "Awaitable[None] | None"]


def evaluate_on_worker(fn: Any, genome: Any, error_fitness: float) -> tuple[FitnessResult, bool]:
    """Runs on an executor's worker: ``(result, failed)`` of one evaluation.

    ``fn`` is what :meth:`Executor.prepare` shipped; an async function runs on the worker
    thread's own loop. An exception in it becomes an ``error_fitness`` result, as in-process.
    """
    from ...executors import resolve, run_on_worker_loop

    try:
        value = resolve(fn)(genome)
        if inspect.isawaitable(value):
            value = run_on_worker_loop(value)
        return normalize_result(value), False
    except Exception as exc:
        details = {"error": f"{type(exc).__name__}: {exc}"}
        return FitnessResult(error_fitness, details=details), True


class Evaluator:
    """Evaluates genomes with at most ``concurrency`` in flight and a cache keyed by genome.

    ``evaluations`` counts calls of the fitness function (cache hits are free);
    ``tokens`` sums the tokens they reported. A sync function runs inline, or in a thread
    when ``sync_in_thread`` (for slow functions in a server). An exception in the fitness
    function gives that genome ``error_fitness`` (default ``-inf``) and is kept in
    ``details["error"]``; it does not stop the run.

    With an ``executor`` (:mod:`pygent_jupyter.executors`) evaluations run there instead,
    at most ``max(concurrency, 8 x its slots, 64)`` in flight, and a stop or a spent budget
    cancels those in flight. ``prepaid`` results (restored from a journal after an
    interruption, see :meth:`prepay`) count as evaluations without calling the function.
    """

    def __init__(
        self,
        fn: FitnessFn,
        *,
        concurrency: int = 8,
        cache: bool = True,
        sync_in_thread: bool = False,
        error_fitness: float = -math.inf,
        executor: Any = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.fn = fn
        self.concurrency = concurrency
        self.use_cache = cache
        self.sync_in_thread = sync_in_thread
        self.error_fitness = error_fitness
        self.cache: dict[Hashable, FitnessResult] = {}
        self._genomes: dict[Hashable, Any] = {}
        self.evaluations = 0
        self.tokens = 0
        self.errors = 0
        self.executor = executor
        self.prepaid: dict[Hashable, FitnessResult] = {}
        self._handle: Any = None
        self._batch: Any = None
        self._interrupted = False
        fn_call = getattr(fn, "__call__", None)  # noqa: B004 - want the bound method
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(fn_call)

    async def _call(self, genome: Any) -> FitnessResult:
        try:
            if self.is_async:
                value = await self.fn(genome)
            elif self.sync_in_thread:
                value = await asyncio.to_thread(self.fn, genome)
            else:
                value = self.fn(genome)
                if inspect.isawaitable(value):
                    value = await value
            return normalize_result(value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bad genome must not kill the run
            self.errors += 1
            return FitnessResult(
                self.error_fitness, details={"error": f"{type(exc).__name__}: {exc}"}
            )

    async def evaluate(
        self,
        genomes: Sequence[Any],
        keys: Sequence[Hashable],
        *,
        may_start: Callable[[], bool] | None = None,
        on_result: ResultHook | None = None,
    ) -> list[FitnessResult | None]:
        """Results in input order. ``None`` marks a genome left unevaluated because
        ``may_start()`` said no (stop requested or a budget spent) before its turn.

        ``on_result(key, genome, result)`` is awaited for every finished evaluation as it
        arrives. In-process, evaluations already started always finish; on an executor they
        are cancelled.
        """
        self._interrupted = False
        results: list[FitnessResult | None] = [None] * len(genomes)
        pending: dict[Hashable, list[int]] = {}
        order: list[Hashable] = []
        for i, key in enumerate(keys):
            if self.use_cache and key in self.cache:
                results[i] = self.cache[key]
            elif key in pending:
                pending[key].append(i)
            else:
                pending[key] = [i]
                order.append(key)
        if not order:
            return results

        async def store(key: Hashable, result: FitnessResult) -> None:
            self.evaluations += 1
            self.tokens += result.tokens
            if self.use_cache:
                self.cache[key] = result
                self._genomes[key] = genomes[pending[key][0]]
            for i in pending[key]:
                results[i] = result
            if on_result is not None:
                outcome = on_result(key, genomes[pending[key][0]], result)
                if inspect.isawaitable(outcome):
                    await outcome

        if self.prepaid:
            for key in [k for k in order if k in self.prepaid]:
                result = self.prepaid.pop(key)
                if "error" in result.details:
                    self.errors += 1
                await store(key, result)
                order.remove(key)

        if self.executor is not None:
            await self._evaluate_remote(order, lambda k: genomes[pending[k][0]], store, may_start)
            return results

        if not self.is_async and not self.sync_in_thread:
            for key in order:
                if may_start is not None and not may_start():
                    break
                await store(key, await self._call(genomes[pending[key][0]]))
            return results

        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(key: Hashable) -> None:
            async with semaphore:
                if may_start is not None and not may_start():
                    return
                await store(key, await self._call(genomes[pending[key][0]]))

        await asyncio.gather(*(one(key) for key in order))
        return results

    async def _evaluate_remote(
        self,
        order: list[Hashable],
        genome_of: Callable[[Hashable], Any],
        store: Callable[[Hashable, FitnessResult], Awaitable[None]],
        may_start: Callable[[], bool] | None,
    ) -> None:
        """Evaluate ``order`` on the executor, storing each result as it arrives."""
        from ...executors import ExecutorError

        if not order:
            return
        executor = self.executor
        if self._handle is None:
            self._handle = executor.prepare(self.fn, "the fitness function")
        # a deep window keeps the workers fed and batches the fetches; what is still queued
        # when a stop or a budget ends the generation is cancelled before it runs
        window = max(self.concurrency, 8 * await executor.slots(), 64)
        batch = self._batch = executor.batch()
        todo = iter(order)
        exhausted = False
        try:
            while True:
                while not exhausted and batch.pending < window:
                    if self._interrupted or (may_start is not None and not may_start()):
                        exhausted = True
                        break
                    key = next(todo, None)
                    if key is None:
                        exhausted = True
                        break
                    batch.submit(
                        key, evaluate_on_worker, self._handle, genome_of(key), self.error_fitness
                    )
                if not batch.pending:
                    return
                item = await batch.next(timeout=0.25)
                if item is None:  # woken by a stop, or time to look at the budgets again
                    if self._interrupted or (may_start is not None and not may_start()):
                        return
                    continue
                key, value, error = item
                if error is not None:
                    if isinstance(error, ExecutorError):
                        raise error
                    raise ExecutorError(f"{type(error).__name__}: {error}") from error
                result, failed = value
                if failed:
                    self.errors += 1
                await store(key, result)
                if may_start is not None and not may_start():
                    return
        finally:
            self._batch = None
            if batch.pending:
                await batch.cancel()

    def interrupt(self) -> None:
        """Thread-safe: an executor run cancels its evaluations in flight now."""
        self._interrupted = True
        batch = self._batch
        if batch is not None:
            batch.wake()

    def release(self) -> None:
        """Forget the function shipped to the executor (call when the run is over)."""
        if self._handle is not None and self.executor is not None:
            self.executor.release(self._handle)
        self._handle = None

    def prepay(
        self,
        entries: Sequence[Any],
        from_json: Callable[[Any], Any],
        key_of: Callable[[Any], Hashable],
    ) -> int:
        """Results saved as they arrived (``[genome_json, result_json]``) after the last
        checkpoint: the next evaluation of each genome uses it instead of calling the
        function, and counts as an evaluation (so counters match an uninterrupted run)."""
        for genome_json, result_json in entries:
            data = dict(result_json)
            if data.get("fitness") is None:
                data["fitness"] = self.error_fitness
            self.prepaid[key_of(from_json(genome_json))] = FitnessResult.from_json(data)
        return len(entries)

    def dump(self, to_json: Callable[[Any], Any]) -> list[Any]:
        """The cache and counters as JSON (for checkpoints)."""
        out = []
        for key, result in self.cache.items():
            data = result.to_json()
            if not math.isfinite(result.fitness):  # JSON has no infinities: None = an error
                data["fitness"] = None
            out.append([to_json(self._genomes[key]), data])
        return out

    def load(
        self,
        entries: Sequence[Any],
        from_json: Callable[[Any], Any],
        key_of: Callable[[Any], Hashable],
    ) -> None:
        """Restore a cache written by :meth:`dump`."""
        for genome_json, result_json in entries:
            genome = from_json(genome_json)
            key = key_of(genome)
            self._genomes[key] = genome
            data = dict(result_json)
            if data.get("fitness") is None:
                data["fitness"] = self.error_fitness
            self.cache[key] = FitnessResult.from_json(data)
