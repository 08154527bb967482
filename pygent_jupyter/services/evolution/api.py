"""In-kernel evolution: evolve anything with a Python fitness function, streamed to callbacks.

Callbacks receive the same events a server-side run sends over the socket, as envelope-shaped
dicts ``{"type": "evolution_progress" | "evolution_complete", "data": {…}}``, so the same
widgets render both::

    from pygent_jupyter.services.evolution import BitString, Evolution

    run = Evolution(BitString(64), fitness=sum, population_size=50, generations=40, seed=1,
                    on_event=widget.handle)
    result = await run.run()        # in a notebook cell; run.stop() from another cell
    result.best_genome, result.best_fitness

``executor=`` runs the evaluations elsewhere: ``"processes"`` (a local process pool), a
``distributed.Client``, a Dask cluster or a scheduler address (see ``docs/scale-out.md``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ...aio import run_sync
from ...executors import Executor, as_executor, check_picklable
from .engine import Engine, EvolutionConfig, EvolutionResult, load_checkpoint, save_checkpoint
from .fitness import Evaluator
from .genomes import BitString, GenomeSpec

__all__ = ["Evolution", "evolve", "evolve_sync", "resume_evolution"]

EventSink = Callable[[dict[str, Any]], Any]


class Evolution:
    """One in-kernel run. ``genome`` is a spec, or an int for a bit string of that length.

    Keyword arguments not listed go to :class:`EvolutionConfig` (``elitism``, ``selection``,
    ``cxpb``, ``max_seconds``, ``stagnation``…). With ``checkpoint_path`` the state is written
    after every generation and every finished evaluation is appended, as it arrives, to
    ``<checkpoint_path>.evaluations.jsonl``; ``resume=True`` continues from that checkpoint
    when it exists, reusing the evaluations saved after it.

    ``executor`` is where evaluations run (``None``: here; see :func:`as_executor`); one made
    here from a string or a cluster is closed when the run ends, a ``Client`` or
    :class:`Executor` you pass is not. ``evaluation_events`` (default: on with an executor)
    emits ``evolution_progress{phase: "evaluation"}`` per finished evaluation.
    """

    def __init__(
        self,
        genome: GenomeSpec[Any] | int,
        fitness: Callable[[Any], Any],
        *,
        population_size: int = 50,
        generations: int = 50,
        seed: int | None = None,
        concurrency: int = 8,
        cache: bool = True,
        sync_in_thread: bool = False,
        on_event: EventSink | None = None,
        on_progress: EventSink | None = None,
        on_complete: EventSink | None = None,
        checkpoint_path: str | Path | None = None,
        resume: bool = False,
        initial: Sequence[Any] = (),
        run_id: str | None = None,
        executor: Any = None,
        evaluation_events: bool | None = None,
        **config: Any,
    ) -> None:
        self.spec: GenomeSpec[Any] = BitString(genome) if isinstance(genome, int) else genome
        self.config = EvolutionConfig(
            population_size=population_size, generations=generations, seed=seed, **config
        )
        self.events: list[dict[str, Any]] = []
        self._sinks = [s for s in (on_event,) if s is not None]
        self._on_progress = on_progress
        self._on_complete = on_complete
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.journal_path = (
            self.checkpoint_path.with_name(self.checkpoint_path.name + ".evaluations.jsonl")
            if self.checkpoint_path
            else None
        )
        self._owns_executor = not isinstance(executor, Executor)
        self.executor = as_executor(executor)
        if evaluation_events is None:
            evaluation_events = self.executor is not None
        evaluator = Evaluator(
            fitness,
            concurrency=concurrency,
            cache=cache,
            sync_in_thread=sync_in_thread,
            executor=self.executor,
        )
        if self.executor is not None:  # fail now, naming the cause, not on the first task
            check_picklable(fitness, "the fitness function")
        on_checkpoint = self._save if self.checkpoint_path else None
        on_evaluation = self._journal if self.journal_path else None
        if resume and self.checkpoint_path and self.checkpoint_path.exists():
            self.engine = Engine.from_checkpoint(
                load_checkpoint(self.checkpoint_path),
                self.spec,
                evaluator,
                config=self.config,
                on_event=self._emit,
                on_checkpoint=on_checkpoint,
                evaluation_events=evaluation_events,
                on_evaluation=on_evaluation,
                journal=self._read_journal(),
            )
        else:
            if self.journal_path is not None:
                self.journal_path.unlink(missing_ok=True)
            self.engine = Engine(
                self.spec,
                evaluator,
                self.config,
                run_id=run_id,
                on_event=self._emit,
                on_checkpoint=on_checkpoint,
                initial=initial,
                evaluation_events=evaluation_events,
                on_evaluation=on_evaluation,
            )

    @property
    def run_id(self) -> str:
        return self.engine.run_id

    def _save(self, state: dict[str, Any]) -> None:
        assert self.checkpoint_path is not None and self.journal_path is not None
        save_checkpoint(state, self.checkpoint_path)
        self.journal_path.unlink(missing_ok=True)  # its entries are in the checkpoint now

    def _journal(self, entry: dict[str, Any]) -> None:
        assert self.journal_path is not None
        with open(self.journal_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, allow_nan=False) + "\n")

    def _read_journal(self) -> list[dict[str, Any]]:
        """Entries written after the checkpoint; a line torn by a crash is skipped."""
        if self.journal_path is None or not self.journal_path.exists():
            return []
        out = []
        for line in self.journal_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def _emit(self, type_: str, data: dict[str, Any]) -> None:
        event = {"type": type_, "data": data}
        if data.get("phase") != "evaluation":  # keep one row per generation
            self.events.append(event)
        for sink in self._sinks:
            sink(event)
        if type_ == "evolution_progress" and self._on_progress is not None:
            self._on_progress(event)
        if type_ == "evolution_complete" and self._on_complete is not None:
            self._on_complete(event)

    async def run(self) -> EvolutionResult:
        """Run to the end (or until :meth:`stop`) and return the result."""
        try:
            return await self.engine.run()
        finally:
            if self.executor is not None and self._owns_executor:
                await self.executor.aclose()

    def start(self) -> asyncio.Task[EvolutionResult]:
        """Run in the background of the current event loop (a notebook's); returns the task."""
        return asyncio.ensure_future(self.run())

    def stop(self) -> None:
        """Start no more evaluations (in-process, those in flight finish; on an executor
        they are cancelled), then complete with what there is. Thread-safe."""
        self.engine.stop()


async def evolve(
    genome: GenomeSpec[Any] | int, fitness: Callable[[Any], Any], **kwargs: Any
) -> EvolutionResult:
    """``await evolve(spec, fitness, …)``: shorthand for ``await Evolution(…).run()``."""
    return await Evolution(genome, fitness, **kwargs).run()


async def resume_evolution(
    checkpoint_path: str | Path,
    genome: GenomeSpec[Any] | int,
    fitness: Callable[[Any], Any],
    **kwargs: Any,
) -> EvolutionResult:
    """Continue the interrupted run saved at ``checkpoint_path`` (same genome and fitness;
    other :class:`Evolution` options such as ``executor`` or a larger ``generations`` may
    change). Evaluations finished after the checkpoint are reused. Raises
    ``FileNotFoundError`` when there is no checkpoint."""
    path = Path(checkpoint_path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    for name, value in load_checkpoint(path)["config"].items():
        kwargs.setdefault(name, value)
    return await Evolution(genome, fitness, checkpoint_path=path, resume=True, **kwargs).run()


def evolve_sync(
    genome: GenomeSpec[Any] | int, fitness: Callable[[Any], Any], **kwargs: Any
) -> EvolutionResult:
    """Blocking :func:`evolve` for scripts; inside a running loop (a notebook) it runs on a
    helper thread with its own loop, so callbacks are then called from that thread."""
    return run_sync(evolve(genome, fitness, **kwargs), thread_name="pygent-evolve")
