"""`ReasoningService`: Tree-of-Thought runs over the socket, streamed node by node, stored.

Commands: ``start_reasoning`` (runs until done, streaming ``reasoning_update`` and ending with
``reasoning_complete``), ``stop_reasoning`` (the run completes with the best path so far within
one model call), ``list_reasoning_runs`` and ``get_reasoning_run`` (saved runs, whole trees).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Float, Int

from ...llm import LLMProvider
from ...protocol import ErrorCode, PygentError
from ..runs import RunService
from ..seams import Publisher
from .engine import ReasoningTree, ToTEngine, ToTParams
from .game24 import load_puzzles, parse_numbers
from .providers import default_provider
from .store import RunStore
from .tasks import Game24Task, OpenProblemTask, Task

if TYPE_CHECKING:
    from ...hub import Request
    from ...protocol.types import (
        GetReasoningRunData,
        ListReasoningRunsData,
        StartReasoningData,
        StopReasoningData,
    )

__all__ = ["ReasoningService"]

_PARAM_KEYS = (
    "method",
    "method_generate",
    "method_evaluate",
    "method_select",
    "n_generate_sample",
    "n_evaluate_sample",
    "n_select_sample",
    "max_depth",
    "value_threshold",
    "temperature",
    "seed",
    "model",
    "max_proposals",
    "max_calls",
    "max_tokens",
    "max_seconds",
)


@dataclass
class _Run:
    run_id: str
    user: str
    engine: ToTEngine


class ReasoningService(RunService[_Run]):
    """Hosts Tree-of-Thought runs (see the module docstring)."""

    name = "reasoning"
    stop_command = "stop_reasoning"

    max_concurrent_calls = Int(
        16,
        help="Most model calls one run has in flight at once (all generation and evaluation "
        "calls of a step run concurrently up to this bound; 1 = the reference's sequential "
        "schedule).",
    ).tag(config=True)

    max_runs_per_user = Int(4, help="Most reasoning runs one user may have going at once.").tag(
        config=True
    )

    max_calls_limit = Int(
        2000, help="Upper bound on a run's model calls (a client's max_calls is capped to it)."
    ).tag(config=True)

    max_seconds_limit = Float(
        1800.0, help="Upper bound on a run's wall time in seconds (caps a client's max_seconds)."
    ).tag(config=True)

    open_problem_steps = Int(
        3, help="Depth of an open-problem run: a plan, next steps, then the final answer."
    ).tag(config=True)

    register_chat_agent = Bool(
        True,
        help="Register the Tree-of-Thought 'reasoning' chat agent with the agents service.",
    ).tag(config=True)

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self.store: RunStore | None = None
        self._fallback: LLMProvider | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def commands(self) -> Mapping[str, Callable[[Request], Awaitable[None]]]:
        return {
            "start_reasoning": self.start_reasoning,
            "stop_reasoning": self.stop_reasoning,
            "list_reasoning_runs": self.list_runs,
            "get_reasoning_run": self.get_run,
        }

    async def start(self) -> None:
        db = self.db
        if db is not None:
            self.store = RunStore(db)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self.store.migrate)
            interrupted = await self.store.mark_interrupted()
            if interrupted:
                self.log.info("pygent reasoning: %d run(s) from a previous process", interrupted)
        if self.register_chat_agent:
            self._register_agent()

    def health(self) -> dict[str, Any]:
        health = super().health()
        health["storage"] = self.store is not None
        return health

    def _register_agent(self) -> None:
        """Make the ToT agent the chat ``reasoning`` agent (when the agents service runs);
        its runs are saved in this service's store."""
        if self.agent_types is None:
            return
        from .agent import TreeOfThoughtAgent

        def factory(parent: Any) -> TreeOfThoughtAgent:
            return TreeOfThoughtAgent(parent=parent, store=self.store)

        self.agent_types.register_agent_type("reasoning", factory)

    def fallback_model(self) -> LLMProvider:
        """Without the agents service: the embedded model (built once)."""
        if self._fallback is None:
            try:
                self._fallback = default_provider("local", parent=self)
            except ImportError as exc:
                raise PygentError(
                    ErrorCode.UNAVAILABLE, "no language model backend is available"
                ) from exc
        return self._fallback

    # -- commands -------------------------------------------------------------------------

    def parse_start(self, data: Mapping[str, Any]) -> tuple[Task, str, ToTParams]:
        """Validate a ``start_reasoning`` payload into (task, input, params)."""
        task_name = data.get("task") or ("open" if "problem" in data else None)
        if task_name is None:
            raise PygentError(
                ErrorCode.INVALID,
                'give either "problem" (free-form) or "task" with its input '
                '(task "game24" with "puzzle" or "puzzle_index")',
                field="task",
            )
        task: Task
        if task_name == "game24":
            if "puzzle" in data:
                x = str(data["puzzle"]).strip()
            elif "puzzle_index" in data:
                puzzles = load_puzzles()
                index = int(data["puzzle_index"])
                if not 0 <= index < len(puzzles):
                    raise PygentError(
                        ErrorCode.INVALID,
                        f"puzzle_index must be in 0..{len(puzzles) - 1}",
                        field="puzzle_index",
                    )
                x = puzzles[index]
            else:
                raise PygentError(
                    ErrorCode.INVALID,
                    'task "game24" needs "puzzle" (four numbers, e.g. "4 5 6 10") or '
                    '"puzzle_index"',
                    field="puzzle",
                )
            numbers = parse_numbers(x)
            if len(numbers) != 4 or any(n.denominator != 1 or not 1 <= n <= 100 for n in numbers):
                raise PygentError(
                    ErrorCode.INVALID,
                    "a Game of 24 puzzle is four whole numbers from 1 to 100, e.g. '4 5 6 10'",
                    field="puzzle",
                )
            x = " ".join(str(int(n)) for n in numbers)
            task = Game24Task()
            if data.get("prompts") == "paper":  # the official package's prompts
                from .paper import PaperGame24Task, PaperModeUnavailable

                try:
                    task = PaperGame24Task()
                except PaperModeUnavailable as exc:
                    raise PygentError(ErrorCode.UNAVAILABLE, str(exc), field="prompts") from None
        else:
            if "problem" not in data:
                raise PygentError(ErrorCode.INVALID, 'task "open" needs "problem"', field="problem")
            x = str(data["problem"]).strip()
            if not x:
                raise PygentError(ErrorCode.INVALID, "problem is empty", field="problem")
            task = OpenProblemTask(steps=max(2, self.open_problem_steps))
        values = {k: data[k] for k in _PARAM_KEYS if k in data}
        values["max_calls"] = min(
            int(values.get("max_calls") or self.max_calls_limit), self.max_calls_limit
        )
        values["max_seconds"] = min(
            float(values.get("max_seconds") or self.max_seconds_limit), self.max_seconds_limit
        )
        values["concurrency"] = max(1, self.max_concurrent_calls)
        try:
            params = ToTParams(**values)
        except (TypeError, ValueError) as exc:
            raise PygentError(ErrorCode.INVALID, str(exc)) from None
        return task, x, params

    async def start_reasoning(self, request: Request[StartReasoningData]) -> None:
        task, x, params = self.parse_start(request.data)
        user = request.user
        self.check_capacity(user)
        provider = await self.model_for(user, request.data.get("backend"))
        run_id = f"tot-{uuid.uuid4().hex[:12]}"

        def forward(event: dict[str, Any]) -> None:
            request.reply("reasoning_update", {"run_id": run_id, **event})

        engine = ToTEngine(provider, task, x, params, on_event=forward, run_id=run_id)
        record = _Run(run_id, user, engine)
        self.track(record)
        try:
            if self.store is not None:
                await self.store.create(run_id, user, task.name, x, params.to_dict())
            request.reply(
                "reasoning_update",
                {
                    "run_id": run_id,
                    "event": "started",
                    "step": 0,
                    "task": task.name,
                    "input": x,
                    "params": params.to_dict(),
                    "node": engine.tree.nodes["n0"].to_dict(),
                },
            )
            run = asyncio.ensure_future(engine.run())
            try:
                tree = await asyncio.shield(run)
            except asyncio.CancelledError:
                # the client went away or cancelled: stop, keep what we have, then re-raise
                engine.stop()
                tree = await run
                tree.stats.stop_reason = "cancelled"
                await self._save(tree, "cancelled")
                raise
            await self._save(tree, tree.stats.stop_reason)
            request.reply("reasoning_complete", complete_data(tree))
        finally:
            self.untrack(record)

    async def _save(self, tree: ReasoningTree, status: str) -> None:
        if self.store is None or tree.run_id is None:
            return
        try:
            await self.store.finish(tree.run_id, tree, status)
        except Exception:
            self.log.exception("could not save reasoning run %s", tree.run_id)

    async def stop_reasoning(self, request: Request[StopReasoningData]) -> None:
        run_id = request.data["run_id"]
        run = self.owned_run(run_id, request.user)
        run.engine.stop()
        request.reply("reasoning_update", {"run_id": run_id, "event": "stopping"})

    async def list_runs(self, request: Request[ListReasoningRunsData]) -> None:
        store = self._require_store()
        runs = await store.list(
            request.user,
            limit=int(request.data.get("limit", 50)),
            before=request.data.get("before"),
        )
        running = [r.run_id for r in self.running(request.user)]
        request.reply("reasoning_runs", {"runs": runs, "running": running})

    async def get_run(self, request: Request[GetReasoningRunData]) -> None:
        store = self._require_store()
        run_id = request.data["run_id"]
        run = await store.get(request.user, run_id)
        if run is None:
            raise PygentError(
                ErrorCode.NOT_FOUND, f"no saved reasoning run {run_id!r}", field="run_id"
            )
        request.reply("reasoning_run", run)

    def _require_store(self) -> RunStore:
        if self.store is None:
            raise PygentError(ErrorCode.UNAVAILABLE, "reasoning runs are not saved on this server")
        return self.store


def complete_data(tree: ReasoningTree) -> dict[str, Any]:
    """The ``reasoning_complete`` payload of a finished tree."""
    path = tree.path(tree.best_node_id)
    data: dict[str, Any] = {
        "run_id": tree.run_id,
        "task": tree.task,
        "input": tree.input,
        "best_path": [n.thought for n in path],
        "best_path_ids": [n.id for n in path],
        "answer": tree.answer,
        "solved": tree.solved,
        "status": tree.stats.stop_reason,
        "stats": tree.stats.to_dict(),
    }
    if tree.error:
        data["error"] = tree.error
    return data
