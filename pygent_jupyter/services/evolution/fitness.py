"""Fitness evaluation: any sync or async callable, run with bounded concurrency, cached by genome.

A fitness function returns a number, a ``(fitness, tokens)`` pair, a mapping with ``fitness``
(and optionally ``tokens``, ``secondary``, ``details``) or a :class:`FitnessResult`.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Evaluator", "FitnessResult", "normalize_result"]


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


class Evaluator:
    """Evaluates genomes with at most ``concurrency`` in flight and a cache keyed by genome.

    ``evaluations`` counts calls of the fitness function (cache hits are free);
    ``tokens`` sums the tokens they reported. A sync function runs inline, or in a thread
    when ``sync_in_thread`` (for slow functions in a server). An exception in the fitness
    function gives that genome ``error_fitness`` (default ``-inf``) and is kept in
    ``details["error"]``; it does not stop the run.
    """

    def __init__(
        self,
        fn: FitnessFn,
        *,
        concurrency: int = 8,
        cache: bool = True,
        sync_in_thread: bool = False,
        error_fitness: float = -math.inf,
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
    ) -> list[FitnessResult | None]:
        """Results in input order. ``None`` marks a genome left unevaluated because
        ``may_start()`` said no (stop requested or a budget spent) before its turn.

        Evaluations already started always finish.
        """
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

        def store(key: Hashable, result: FitnessResult) -> None:
            self.evaluations += 1
            self.tokens += result.tokens
            if self.use_cache:
                self.cache[key] = result
                self._genomes[key] = genomes[pending[key][0]]
            for i in pending[key]:
                results[i] = result

        if not self.is_async and not self.sync_in_thread:
            for key in order:
                if may_start is not None and not may_start():
                    break
                store(key, await self._call(genomes[pending[key][0]]))
            return results

        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(key: Hashable) -> None:
            async with semaphore:
                if may_start is not None and not may_start():
                    return
                store(key, await self._call(genomes[pending[key][0]]))

        await asyncio.gather(*(one(key) for key in order))
        return results

    def dump(self, to_json: Callable[[Any], Any]) -> list[Any]:
        """The cache and counters as JSON (for checkpoints)."""
        return [
            [to_json(self._genomes[key]), result.to_json()] for key, result in self.cache.items()
        ]

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
            self.cache[key] = FitnessResult.from_json(result_json)
