"""The genetic-algorithm engine: a pure, seeded, resumable core shared by server and kernel runs.

One generation: keep ``elitism`` best, select the rest with the configured selector, vary pairs
(crossover with ``cxpb``, then each child mutated with ``mutpb``, as DEAP's ``varAnd``),
mutate again a varied child that repeats a known genome (``novelty_retries``), evaluate the
changed children (concurrently, cached), then record statistics, hall of fame,
genealogy and a logbook row, and emit ``evolution_progress``. The run ends on the generation
budget, an evaluation/token/time budget, stagnation, a target fitness or :meth:`Engine.stop`,
and emits ``evolution_complete``.

Reproducibility: every random draw comes from one :class:`random.Random` seeded from
``config.seed``, in a fixed order; concurrent evaluations and LLM operators do not change
which numbers are drawn. A checkpoint holds that generator's state, so resuming from it gives
the same run as never stopping.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .fitness import Evaluator, FitnessResult
from .genomes import GenomeSpec
from .selection import make_selector

__all__ = [
    "CHECKPOINT_VERSION",
    "Engine",
    "EvolutionConfig",
    "EvolutionResult",
    "Individual",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_VERSION = 1

EventCallback = Callable[[str, dict[str, Any]], "Awaitable[None] | None"]
#: called with ``{"generation", "genome", "result", "error"}`` (JSON) per finished evaluation
EvaluationCallback = Callable[[dict[str, Any]], "Awaitable[None] | None"]


@dataclass
class EvolutionConfig:
    """Everything that shapes a run. Budgets left ``None`` are unlimited."""

    population_size: int = 50
    generations: int = 50
    elitism: int = 1
    selection: str = "tournament"
    tournsize: int = 3
    rank_pressure: float = 1.5
    cxpb: float = 0.5
    mutpb: float = 0.2
    seed: int | None = None
    hall_of_fame: int = 5
    max_evaluations: int | None = None
    max_tokens: int | None = None
    max_seconds: float | None = None
    stagnation: int | None = None
    min_improvement: float = 0.0
    target: float | None = None
    lexicographic: bool = False
    #: a varied child that repeats a genome already evaluated (or one of this generation's
    #: other children) is mutated again, and a repeated random genome of generation 0 drawn
    #: again, at most this many times; 0 keeps DEAP's plain ``varAnd``
    novelty_retries: int = 5

    def __post_init__(self) -> None:
        if self.population_size < 2:
            raise ValueError("population_size must be >= 2")
        if self.generations < 0:
            raise ValueError("generations must be >= 0")
        if not 0 <= self.elitism < self.population_size:
            raise ValueError("elitism must be in [0, population_size)")
        for name in ("cxpb", "mutpb"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.hall_of_fame < 1:
            raise ValueError("hall_of_fame must be >= 1")
        if self.novelty_retries < 0:
            raise ValueError("novelty_retries must be >= 0")
        if self.stagnation is not None and self.stagnation < 1:
            raise ValueError("stagnation must be >= 1 generation")
        make_selector(self.selection, tournsize=self.tournsize, pressure=self.rank_pressure)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvolutionConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Individual:
    """A genome with its fitness and ancestry. Unchanged offspring keep their parent's id."""

    id: int
    genome: Any
    generation: int
    parents: tuple[int, ...] = ()
    op: str = "init"
    result: FitnessResult | None = None
    key: Any = None  # selection key, set once evaluated

    @property
    def fitness(self) -> float | None:
        return None if self.result is None else self.result.fitness


@dataclass
class EvolutionResult:
    """What a finished run hands back: the ``evolution_complete`` data plus live objects."""

    run_id: str
    status: str
    reason: str
    best: Individual | None
    hall_of_fame: list[Individual]
    logbook: list[dict[str, Any]]
    genealogy: dict[int, dict[str, Any]]
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def best_genome(self) -> Any:
        return None if self.best is None else self.best.genome

    @property
    def best_fitness(self) -> float | None:
        return None if self.best is None else self.best.fitness


def _exact(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _finite(x: float | None, digits: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(x, digits)


class Engine:
    """One evolutionary run. Create, then ``await run()``; ``stop()`` from anywhere."""

    def __init__(
        self,
        spec: GenomeSpec[Any],
        fitness: Evaluator | Callable[[Any], Any],
        config: EvolutionConfig | None = None,
        *,
        run_id: str | None = None,
        on_event: EventCallback | Sequence[EventCallback] | None = None,
        on_checkpoint: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None,
        initial: Sequence[Any] = (),
        concurrency: int = 8,
        executor: Any = None,
        evaluation_events: bool = False,
        on_evaluation: EvaluationCallback | None = None,
    ) -> None:
        self.spec = spec
        self.evaluator = (
            fitness
            if isinstance(fitness, Evaluator)
            else Evaluator(fitness, concurrency=concurrency, executor=executor)
        )
        #: emit ``evolution_progress{phase: "evaluation"}`` per finished evaluation
        self.evaluation_events = evaluation_events
        #: save each finished evaluation as it arrives (a journal since the last checkpoint)
        self.on_evaluation = on_evaluation
        self._gen_todo = 0
        self._gen_done = 0
        self._gen_best: float | None = None
        self.config = config or EvolutionConfig()
        self.run_id = run_id or f"evo-{uuid.uuid4().hex[:12]}"
        if on_event is None:
            self._callbacks: list[EventCallback] = []
        elif callable(on_event):
            self._callbacks = [on_event]
        else:
            self._callbacks = list(on_event)
        self.on_checkpoint = on_checkpoint
        self.initial = list(initial)
        self._select = make_selector(
            self.config.selection,
            tournsize=self.config.tournsize,
            pressure=self.config.rank_pressure,
        )
        self.rng = random.Random(self.config.seed)
        self.generation = -1  # last completed generation
        self.population: list[Individual] = []
        self.hall: list[Individual] = []
        self._hall_keys: set[Hashable] = set()
        self.logbook: list[dict[str, Any]] = []
        self.genealogy: dict[int, dict[str, Any]] = {}
        self.next_id = 0
        self.best_so_far: float | None = None
        self.since_improvement = 0
        self.gen0_best: float | None = None
        self.elapsed_before = 0.0
        self._started = 0.0
        self._stop_requested = False
        self.stop_reason: str | None = None
        self.running = False

    # -- control ----------------------------------------------------------------------------

    def add_listener(self, callback: EventCallback) -> None:
        """Also call ``callback(type, data)`` for every event (it may return an awaitable)."""
        self._callbacks.append(callback)

    def stop(self) -> None:
        """Ask the run to end: no new evaluations start (in-process, those already started
        finish; on an executor they are cancelled), then the run completes with what it has
        (status ``stopped``). Thread-safe."""
        self._stop_requested = True
        interrupt = getattr(self.evaluator, "interrupt", None)
        if callable(interrupt):
            interrupt()

    @property
    def elapsed(self) -> float:
        if not self.running:
            return self.elapsed_before
        return self.elapsed_before + (time.monotonic() - self._started)

    def _budget_reason(self) -> str | None:
        cfg = self.config
        if self._stop_requested:
            return "stopped"
        if cfg.max_evaluations is not None and self.evaluator.evaluations >= cfg.max_evaluations:
            return "evaluations"
        if cfg.max_tokens is not None and self.tokens >= cfg.max_tokens:
            return "tokens"
        if cfg.max_seconds is not None and self.elapsed >= cfg.max_seconds:
            return "time"
        return None

    @property
    def tokens(self) -> int:
        """Tokens used: by evaluations plus by LLM-driven operators."""
        return self.evaluator.tokens + self._operator_tokens()

    def _operator(self) -> Any:
        return getattr(self.spec, "llm_operator", None)

    def _operator_tokens(self) -> int:
        return int(getattr(self._operator(), "tokens", 0))

    def _may_start(self) -> bool:
        return self._budget_reason() is None

    # -- the run ----------------------------------------------------------------------------

    async def run(self) -> EvolutionResult:
        """Run (or continue, after :meth:`from_checkpoint`) to the end; emits events."""
        self.running = True
        self._started = time.monotonic()
        try:
            if self.generation < 0:
                await self._initialize()
            while self.stop_reason is None:
                if self.generation >= self.config.generations:
                    self.stop_reason = "generations"
                    break
                reason = self._budget_reason()
                if reason is not None:
                    self.stop_reason = reason
                    break
                await self._step()
        finally:
            self.elapsed_before = self.elapsed
            self.running = False
            release = getattr(self.evaluator, "release", None)
            if callable(release):
                release()
        result = self._result()
        await self._emit("evolution_complete", result.data)
        return result

    def _new(self, genome: Any, generation: int, parents: tuple[int, ...], op: str) -> Individual:
        ind = Individual(self.next_id, genome, generation, parents, op)
        self.next_id += 1
        return ind

    async def _evaluate(self, individuals: Sequence[Individual]) -> bool:
        """Evaluate those without a result. Returns False if some were left unevaluated."""
        todo = [ind for ind in individuals if ind.result is None]
        if not todo:
            return True
        key = self.spec.key
        self._gen_todo, self._gen_done, self._gen_best = len(todo), 0, None
        hook = self._on_result if self.evaluation_events or self.on_evaluation else None
        results = await self.evaluator.evaluate(
            [ind.genome for ind in todo],
            [key(ind.genome) for ind in todo],
            may_start=self._may_start,
            on_result=hook,
        )
        complete = True
        lexi = self.config.lexicographic
        for ind, result in zip(todo, results, strict=False):
            if result is None:
                complete = False
                continue
            ind.result = result
            if lexi:
                second = result.secondary
                ind.key = (result.fitness, -math.inf if second is None else second)
            else:
                ind.key = result.fitness
        return complete

    async def _on_result(self, key: Hashable, genome: Any, result: FitnessResult) -> None:
        """One evaluation finished: journal it, then emit its progress event."""
        generation = self.generation + 1
        self._gen_done += 1
        if math.isfinite(result.fitness) and (
            self._gen_best is None or result.fitness > self._gen_best
        ):
            self._gen_best = result.fitness
        if self.on_evaluation is not None:
            outcome = self.on_evaluation(
                {
                    "generation": generation,
                    "genome": self.spec.to_json(genome),
                    "result": {**result.to_json(), "fitness": _exact(result.fitness)},
                }
            )
            if inspect.isawaitable(outcome):
                await outcome
        if self.evaluation_events and self._callbacks:
            best = self.best_so_far
            if self._gen_best is not None and (best is None or self._gen_best > best):
                best = self._gen_best
            await self._emit(
                "evolution_progress",
                {
                    "run_id": self.run_id,
                    "phase": "evaluation",
                    "generation": generation,
                    "generations": self.config.generations,
                    "population_size": self.config.population_size,
                    "evaluated": self._gen_done,
                    "to_evaluate": self._gen_todo,
                    "fitness": _finite(result.fitness),
                    "evaluations": self.evaluator.evaluations,
                    "tokens": self.tokens,
                    "best_so_far": _finite(best),
                    "elapsed": round(self.elapsed, 4),
                },
            )

    async def _initialize(self) -> None:
        n = self.config.population_size
        genomes = list(self.initial[:n])
        seen = {self.spec.key(g) for g in genomes}
        while len(genomes) < n:
            genome = self.spec.random(self.rng)
            for _ in range(self.config.novelty_retries):  # redraw a repeated random genome
                if self.spec.key(genome) not in seen:
                    break
                genome = self.spec.random(self.rng)
            seen.add(self.spec.key(genome))
            genomes.append(genome)
        population = [self._new(g, 0, (), "init") for g in genomes]
        complete = await self._evaluate(population)
        evaluated = [ind for ind in population if ind.result is not None]
        self.population = evaluated
        self.generation = 0
        self._record(evaluated, evaluated, [], 0.0, partial=not complete)
        await self._emit_progress()
        if not complete:
            self.stop_reason = self._budget_reason() or "stopped"
            return
        self._check_end()
        await self._checkpoint()

    async def _step(self) -> None:
        cfg = self.config
        pop = self.population
        n = cfg.population_size
        gen = self.generation + 1
        ranked = sorted(pop, key=_rank_key)
        elites = ranked[: cfg.elitism]
        keys = [ind.key for ind in pop]
        chosen = [pop[i] for i in self._select(keys, n - len(elites), self.rng)]
        pressure = _selection_intensity(pop, chosen)

        pairs = [(chosen[i], chosen[i + 1]) for i in range(0, len(chosen) - 1, 2)]
        odd = chosen[-1] if len(chosen) % 2 else None
        if self.spec.async_operators:
            rngs = [random.Random(self.rng.getrandbits(64)) for _ in range(len(pairs) + 1)]
            varied = await asyncio.gather(
                *(self._vary(a, b, r) for (a, b), r in zip(pairs, rngs, strict=False)),
                self._vary(odd, None, rngs[-1]) if odd else _none(),
            )
        else:
            varied = [await self._vary(a, b, self.rng) for a, b in pairs]
            varied.append(await self._vary(odd, None, self.rng) if odd else None)
        offspring: list[Individual] = []
        ops: list[tuple[Individual, str, tuple[Individual, ...]]] = []
        for item in await self._novel([item for item in varied if item is not None]):
            for genome, op, parents in item:
                if op == "":
                    offspring.append(parents[0])
                    continue
                child = self._new(genome, gen, tuple(p.id for p in parents), op)
                offspring.append(child)
                ops.append((child, op, parents))
        complete = await self._evaluate(offspring)
        cx_tried = cx_won = mut_tried = mut_won = 0
        for child, op, parents in ops:
            if child.result is None:
                continue
            better = all(child.key > p.key for p in parents)
            if "cx" in op:
                cx_tried += 1
                cx_won += better
            if "mut" in op:
                mut_tried += 1
                mut_won += better
        new_children = [c for c, _, _ in ops if c.result is not None]
        if complete:
            self.population = elites + offspring
        else:
            survivors = elites + [c for c in offspring if c.result is not None]
            rest = ranked[cfg.elitism :][: n - len(survivors)]
            self.population = survivors + rest
        self.generation = gen
        rates = (
            cx_won / cx_tried if cx_tried else None,
            mut_won / mut_tried if mut_tried else None,
        )
        self._record(self.population, new_children, rates, pressure, partial=not complete)
        await self._emit_progress()
        if not complete:
            self.stop_reason = self._budget_reason() or "stopped"
            return
        self._check_end()
        await self._checkpoint()

    async def _vary(
        self, a: Individual, b: Individual | None, rng: random.Random
    ) -> list[tuple[Any, str, tuple[Individual, ...]]]:
        """Children of a pair (or a single): ``(genome, op, parents)``; op ``""`` = unchanged."""
        spec, cfg = self.spec, self.config
        out: list[tuple[Any, str, tuple[Individual, ...]]] = []
        if b is not None and rng.random() < cfg.cxpb:
            children = spec.crossover(a.genome, b.genome, rng)
            if inspect.isawaitable(children):
                children = await children
            genomes = list(children)
            items: list[tuple[Any, str, tuple[Individual, ...]]] = [
                (genomes[0], "cx", (a, b)),
                (genomes[1], "cx", (a, b)),
            ]
        else:
            items = [(a.genome, "", (a,))] + ([(b.genome, "", (b,))] if b is not None else [])
        for genome, op, parents in items:
            if rng.random() < cfg.mutpb:
                mutant = spec.mutate(genome, rng)
                if inspect.isawaitable(mutant):
                    mutant = await mutant
                genome, op = mutant, ("cx+mut" if op else "mut")
            out.append((genome, op, parents))
        return out

    async def _novel(
        self, varied: list[list[tuple[Any, str, tuple[Individual, ...]]]]
    ) -> list[list[tuple[Any, str, tuple[Individual, ...]]]]:
        """Re-mutate varied children that repeat a known genome (one evaluated before, or an
        earlier child of this generation), up to ``novelty_retries`` times each, in order and
        with the engine's generator (reproducible). A child still equal to a parent becomes
        that parent, unchanged; unvaried copies (op ``""``) are left to selection."""
        spec = self.spec
        key = spec.key
        known: set[Hashable] = set(self.evaluator.cache)
        known.update(key(node["genome"]) for node in self.genealogy.values())
        known.update(key(ind.genome) for ind in self.population)
        out = []
        for item in varied:
            children = []
            for genome, op, parents in item:
                if op:
                    k = key(genome)
                    for _ in range(self.config.novelty_retries):
                        if k not in known:
                            break
                        mutant = spec.mutate(genome, self.rng)
                        if inspect.isawaitable(mutant):
                            mutant = await mutant
                        genome, k = mutant, key(mutant)
                        op = op if "mut" in op else f"{op}+mut"
                    same = [p for p in parents if key(p.genome) == k]
                    if same:  # the operators changed nothing: the parent survives as is
                        genome, op, parents = same[0].genome, "", (same[0],)
                    else:
                        known.add(k)
                children.append((genome, op, parents))
            out.append(children)
        return out

    # -- bookkeeping ------------------------------------------------------------------------

    def _record(
        self,
        population: Sequence[Individual],
        newcomers: Sequence[Individual],
        rates: Sequence[float | None],
        pressure: float,
        *,
        partial: bool,
    ) -> None:
        for ind in newcomers:
            self.genealogy[ind.id] = {
                "parents": list(ind.parents),
                "op": ind.op,
                "generation": ind.generation,
                "fitness": ind.fitness,
                "genome": ind.genome,
            }
        self._update_hall(newcomers)
        values = [ind.result.fitness for ind in population if ind.result is not None]
        finite = [v for v in values if math.isfinite(v)]
        if finite:
            mean = sum(finite) / len(finite)
            std = math.sqrt(sum((v - mean) ** 2 for v in finite) / len(finite))
            best, worst = max(finite), min(finite)
        else:
            mean = std = best = worst = math.nan
        if self.gen0_best is None and finite:
            self.gen0_best = best
        improved = self.best_so_far is None or (
            finite and best > self.best_so_far + self.config.min_improvement
        )
        if improved and finite:
            self.best_so_far = best
            self.since_improvement = 0
        elif self.generation > 0:
            self.since_improvement += 1
        cx_rate, mut_rate = (rates[0], rates[1]) if rates else (None, None)
        row = {
            "generation": self.generation,
            "best": _finite(best),
            "mean": _finite(mean),
            "worst": _finite(worst),
            "std": _finite(std),
            "diversity": _finite(self.spec.diversity([ind.genome for ind in population]), 4),
            "crossover_success": _finite(cx_rate, 4),
            "mutation_success": _finite(mut_rate, 4),
            "selection_pressure": _finite(pressure, 4),
            "generation_evaluations": 0,
            "evaluations": self.evaluator.evaluations,
            "tokens": self.tokens,
            "best_so_far": _finite(self.best_so_far),
            "stagnation": self.since_improvement,
            "elapsed": round(self.elapsed, 4),
        }
        previous = self.logbook[-1]["evaluations"] if self.logbook else 0
        row["generation_evaluations"] = self.evaluator.evaluations - previous
        if partial:
            row["partial"] = True
        self.logbook.append(row)

    def _update_hall(self, newcomers: Sequence[Individual]) -> None:
        added = False
        for ind in newcomers:
            if ind.result is None or not math.isfinite(ind.result.fitness):
                continue
            key = self.spec.key(ind.genome)
            if key in self._hall_keys:
                continue
            self.hall.append(ind)
            self._hall_keys.add(key)
            added = True
        if added:
            self.hall.sort(key=_rank_key)
            for dropped in self.hall[self.config.hall_of_fame :]:
                self._hall_keys.discard(self.spec.key(dropped.genome))
            del self.hall[self.config.hall_of_fame :]

    def _check_end(self) -> None:
        cfg = self.config
        if (
            cfg.target is not None
            and self.best_so_far is not None
            and self.best_so_far >= cfg.target
        ):
            self.stop_reason = "target"
        elif cfg.stagnation is not None and self.since_improvement >= cfg.stagnation:
            self.stop_reason = "stagnation"

    async def _emit(self, type_: str, data: dict[str, Any]) -> None:
        for callback in self._callbacks:
            outcome = callback(type_, data)
            if inspect.isawaitable(outcome):
                await outcome

    async def _emit_progress(self) -> None:
        if not self._callbacks:
            return
        await self._emit("evolution_progress", self.progress_data())

    def progress_data(self) -> dict[str, Any]:
        """The ``evolution_progress`` data of the last recorded generation."""
        row = dict(self.logbook[-1])
        best = self.hall[0] if self.hall else None
        return {
            "run_id": self.run_id,
            "phase": "generation",
            "generations": self.config.generations,
            "population_size": self.config.population_size,
            **row,
            "best_genome": None if best is None else self.spec.to_json(best.genome),
        }

    async def _checkpoint(self) -> None:
        if self.on_checkpoint is not None:
            outcome = self.on_checkpoint(self.checkpoint())
            if inspect.isawaitable(outcome):
                await outcome

    def _individual_json(self, ind: Individual, exact: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": ind.id,
            "genome": self.spec.to_json(ind.genome),
            "generation": ind.generation,
            "parents": list(ind.parents),
            "op": ind.op,
            "fitness": _exact(ind.fitness) if exact else _finite(ind.fitness),
        }
        if ind.result is not None:
            data["tokens"] = ind.result.tokens
            if ind.result.secondary is not None:
                data["secondary"] = ind.result.secondary
            if ind.result.details:
                data["details"] = ind.result.details
        return data

    def lineage(self, ind_id: int, limit: int = 200) -> list[dict[str, Any]]:
        """Ancestors of ``ind_id`` (itself first), breadth-first, at most ``limit``."""
        out: list[dict[str, Any]] = []
        seen: set[int] = set()
        queue = [ind_id]
        while queue and len(out) < limit:
            current = queue.pop(0)
            if current in seen or current not in self.genealogy:
                continue
            seen.add(current)
            node = self.genealogy[current]
            out.append({"id": current, **self._node_json(node)})
            queue.extend(node["parents"])
        return out

    def _node_json(self, node: dict[str, Any], exact: bool = False) -> dict[str, Any]:
        fitness = _exact(node["fitness"]) if exact else _finite(node["fitness"])
        return {**node, "genome": self.spec.to_json(node["genome"]), "fitness": fitness}

    def genealogy_json(self, exact: bool = False) -> dict[str, dict[str, Any]]:
        """``{id: {parents, op, generation, fitness, genome}}`` for every evaluated child."""
        return {str(i): self._node_json(node, exact) for i, node in self.genealogy.items()}

    def _result(self) -> EvolutionResult:
        reason = self.stop_reason or "generations"
        status = "stopped" if reason == "stopped" else "completed"
        best = self.hall[0] if self.hall else None
        final = self.best_so_far
        start = self.gen0_best
        improvement: dict[str, Any] = {
            "generation0_best": _finite(start),
            "final_best": _finite(final),
            "absolute": None,
            "relative": None,
        }
        if start is not None and final is not None:
            improvement["absolute"] = _finite(final - start)
            if start != 0:
                improvement["relative"] = _finite((final - start) / abs(start), 4)
        elapsed = self.elapsed_before
        data = {
            "run_id": self.run_id,
            "status": status,
            "reason": reason,
            "generations": max(self.generation, 0),
            "best": None if best is None else self._individual_json(best),
            "hall_of_fame": [self._individual_json(ind) for ind in self.hall],
            "improvement": improvement,
            "lineage": [] if best is None else self.lineage(best.id),
            "stats": {
                "evaluations": self.evaluator.evaluations,
                "cache_hits": self._cache_hits(),
                "errors": self.evaluator.errors,
                "tokens": self.tokens,
                "operator_tokens": self._operator_tokens(),
                "elapsed": round(elapsed, 4),
                "generations_per_s": round(self.generation / elapsed, 3)
                if elapsed > 0 and self.generation > 0
                else None,
                "genealogy_size": len(self.genealogy),
            },
            "genome": self.spec.describe(),
        }
        return EvolutionResult(
            run_id=self.run_id,
            status=status,
            reason=reason,
            best=best,
            hall_of_fame=list(self.hall),
            logbook=list(self.logbook),
            genealogy=self.genealogy,
            data=data,
        )

    def _cache_hits(self) -> int:
        return max(0, len(self.genealogy) - self.evaluator.evaluations)

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """The complete state after the last finished generation, as JSON-safe data."""
        version, internal, gauss = self.rng.getstate()
        return {
            "version": CHECKPOINT_VERSION,
            "run_id": self.run_id,
            "config": asdict(self.config),
            "genome": self.spec.describe(),
            "generation": self.generation,
            "rng": [version, list(internal), gauss],
            "next_id": self.next_id,
            "population": [self._individual_json(ind, True) for ind in self.population],
            "hall_of_fame": [self._individual_json(ind, True) for ind in self.hall],
            "logbook": [dict(row) for row in self.logbook],
            "genealogy": self.genealogy_json(exact=True),
            "cache": self.evaluator.dump(self.spec.to_json),
            "counters": {
                "evaluations": self.evaluator.evaluations,
                "tokens": self.evaluator.tokens,
                "errors": self.evaluator.errors,
                "operator_tokens": self._operator_tokens(),
                "best_so_far": self.best_so_far,
                "since_improvement": self.since_improvement,
                "gen0_best": self.gen0_best,
                "elapsed": self.elapsed,
            },
        }

    @classmethod
    def from_checkpoint(
        cls,
        state: dict[str, Any],
        spec: GenomeSpec[Any],
        fitness: Evaluator | Callable[[Any], Any],
        *,
        config: EvolutionConfig | None = None,
        on_event: EventCallback | Sequence[EventCallback] | None = None,
        on_checkpoint: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None,
        concurrency: int = 8,
        executor: Any = None,
        evaluation_events: bool = False,
        on_evaluation: EvaluationCallback | None = None,
        journal: Sequence[dict[str, Any]] = (),
    ) -> Engine:
        """An engine that continues the run saved in ``state``.

        ``config`` may raise budgets (e.g. more generations); by default the saved one is used.
        ``journal`` holds the evaluations saved (``on_evaluation``) after that checkpoint:
        they are reused, not recomputed, and counted as in the uninterrupted run.
        """
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"unsupported checkpoint version {state.get('version')!r}")
        engine = cls(
            spec,
            fitness,
            config or EvolutionConfig.from_json(state["config"]),
            run_id=state["run_id"],
            on_event=on_event,
            on_checkpoint=on_checkpoint,
            concurrency=concurrency,
            executor=executor,
            evaluation_events=evaluation_events,
            on_evaluation=on_evaluation,
        )
        version, internal, gauss = state["rng"]
        engine.rng.setstate((version, tuple(internal), gauss))
        engine.generation = int(state["generation"])
        engine.next_id = int(state["next_id"])
        engine.logbook = [dict(row) for row in state["logbook"]]
        for key, node in state["genealogy"].items():
            engine.genealogy[int(key)] = {
                **node,
                "parents": list(node["parents"]),
                "genome": spec.from_json(node["genome"]),
                "fitness": -math.inf if node["fitness"] is None else node["fitness"],
            }
        engine.evaluator.load(state["cache"], spec.from_json, spec.key)
        prepay = getattr(engine.evaluator, "prepay", None)
        if journal and callable(prepay):
            prepay([[e["genome"], e["result"]] for e in journal], spec.from_json, spec.key)
        counters = state["counters"]
        engine.evaluator.evaluations = int(counters["evaluations"])
        engine.evaluator.tokens = int(counters["tokens"])
        engine.evaluator.errors = int(counters["errors"])
        operator = engine._operator()
        if operator is not None and hasattr(operator, "tokens"):
            operator.tokens = int(counters.get("operator_tokens", 0))
        engine.best_so_far = counters["best_so_far"]
        engine.since_improvement = int(counters["since_improvement"])
        engine.gen0_best = counters["gen0_best"]
        engine.elapsed_before = float(counters["elapsed"])
        engine.population = [engine._individual_from_json(d) for d in state["population"]]
        engine.hall = [engine._individual_from_json(d) for d in state["hall_of_fame"]]
        engine._hall_keys = {spec.key(ind.genome) for ind in engine.hall}
        engine._check_end()  # a run that had reached its target or stagnated stays ended
        return engine

    def _individual_from_json(self, data: dict[str, Any]) -> Individual:
        genome = self.spec.from_json(data["genome"])
        fitness = -math.inf if data["fitness"] is None else float(data["fitness"])
        result = FitnessResult(
            fitness, int(data.get("tokens", 0)), data.get("secondary"), data.get("details", {})
        )
        ind = Individual(
            int(data["id"]),
            genome,
            int(data["generation"]),
            tuple(data["parents"]),
            data["op"],
            result,
        )
        if self.config.lexicographic:
            ind.key = (fitness, -math.inf if result.secondary is None else result.secondary)
        else:
            ind.key = fitness
        return ind


def _rank_key(ind: Individual) -> tuple[Any, int]:
    """Sort key: best first, then oldest (lowest id) first."""
    key = ind.key
    if isinstance(key, tuple):
        return tuple(-k for k in key), ind.id
    return (-key, ind.id)


def _selection_intensity(population: Sequence[Individual], chosen: Sequence[Individual]) -> float:
    """(mean fitness of the selected - population mean) / population std; 0 if no spread."""
    values = [ind.fitness for ind in population if ind.fitness is not None]
    values = [v for v in values if math.isfinite(v)]
    picked = [ind.fitness for ind in chosen if ind.fitness is not None]
    picked = [v for v in picked if math.isfinite(v)]
    if len(values) < 2 or not picked:
        return 0.0
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    if std == 0:
        return 0.0
    return (sum(picked) / len(picked) - mean) / std


async def _none() -> None:
    return None


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` as JSON atomically: temp file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data
