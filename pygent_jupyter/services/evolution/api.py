"""In-kernel evolution: evolve anything with a Python fitness function, streamed to callbacks.

Callbacks receive the same events a server-side run sends over the socket, as envelope-shaped
dicts ``{"type": "evolution_progress" | "evolution_complete", "data": {…}}``, so the same
widgets render both::

    from pygent_jupyter.services.evolution import BitString, Evolution

    run = Evolution(BitString(64), fitness=sum, population_size=50, generations=40, seed=1,
                    on_event=widget.handle)
    result = await run.run()        # in a notebook cell; run.stop() from another cell
    result.best_genome, result.best_fitness
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .engine import Engine, EvolutionConfig, EvolutionResult, load_checkpoint, save_checkpoint
from .fitness import Evaluator
from .genomes import BitString, GenomeSpec

__all__ = ["Evolution", "evolve", "evolve_sync"]

EventSink = Callable[[dict[str, Any]], Any]


class Evolution:
    """One in-kernel run. ``genome`` is a spec, or an int for a bit string of that length.

    Keyword arguments not listed go to :class:`EvolutionConfig` (``elitism``, ``selection``,
    ``cxpb``, ``max_seconds``, ``stagnation``…). With ``checkpoint_path`` the state is written
    after every generation; ``resume=True`` continues from that file when it exists.
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
        evaluator = Evaluator(
            fitness, concurrency=concurrency, cache=cache, sync_in_thread=sync_in_thread
        )
        on_checkpoint = self._save if self.checkpoint_path else None
        if resume and self.checkpoint_path and self.checkpoint_path.exists():
            self.engine = Engine.from_checkpoint(
                load_checkpoint(self.checkpoint_path),
                self.spec,
                evaluator,
                config=self.config,
                on_event=self._emit,
                on_checkpoint=on_checkpoint,
            )
        else:
            self.engine = Engine(
                self.spec,
                evaluator,
                self.config,
                run_id=run_id,
                on_event=self._emit,
                on_checkpoint=on_checkpoint,
                initial=initial,
            )

    @property
    def run_id(self) -> str:
        return self.engine.run_id

    def _save(self, state: dict[str, Any]) -> None:
        assert self.checkpoint_path is not None
        save_checkpoint(state, self.checkpoint_path)

    def _emit(self, type_: str, data: dict[str, Any]) -> None:
        event = {"type": type_, "data": data}
        self.events.append(event)
        for sink in self._sinks:
            sink(event)
        if type_ == "evolution_progress" and self._on_progress is not None:
            self._on_progress(event)
        if type_ == "evolution_complete" and self._on_complete is not None:
            self._on_complete(event)

    async def run(self) -> EvolutionResult:
        """Run to the end (or until :meth:`stop`) and return the result."""
        return await self.engine.run()

    def start(self) -> asyncio.Task[EvolutionResult]:
        """Run in the background of the current event loop (a notebook's); returns the task."""
        return asyncio.ensure_future(self.run())

    def stop(self) -> None:
        """Finish the evaluations in flight, then complete with what there is."""
        self.engine.stop()


async def evolve(
    genome: GenomeSpec[Any] | int, fitness: Callable[[Any], Any], **kwargs: Any
) -> EvolutionResult:
    """``await evolve(spec, fitness, …)``: shorthand for ``await Evolution(…).run()``."""
    return await Evolution(genome, fitness, **kwargs).run()


def evolve_sync(
    genome: GenomeSpec[Any] | int, fitness: Callable[[Any], Any], **kwargs: Any
) -> EvolutionResult:
    """Blocking :func:`evolve` for scripts; inside a running loop (a notebook) it runs on a
    helper thread with its own loop, so callbacks are then called from that thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(evolve(genome, fitness, **kwargs))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(evolve(genome, fitness, **kwargs))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="pygent-evolve")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: EvolutionResult = box["result"]
    return result
