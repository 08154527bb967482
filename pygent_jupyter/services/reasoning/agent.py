"""The chat ``reasoning`` agent: answers with a Tree-of-Thought search over an open problem.

Registered by :class:`~.service.ReasoningService` through the ``agent_types`` seam, with
the service's run store (chat runs are saved like socket runs). The search streams
``reasoning_update`` events to the asking client while it runs; the answer is the best
path's final thought, and ``chat_response.message.metadata.reasoning_path`` lists the
thoughts of the best path (plan, steps, answer).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from traitlets import Float, Int, Unicode

from ...llm import ChatChunk, Completion
from ..agents.factory import Agent, AgentTurn
from .engine import ToTEngine, ToTParams
from .store import RunStore
from .tasks import OpenProblemTask

__all__ = ["TreeOfThoughtAgent"]


class TreeOfThoughtAgent(Agent):
    """Tree-of-Thought over the active provider (BFS: plan, steps, answer; value-scored)."""

    description = Unicode(
        "Explores several lines of reasoning (Tree of Thoughts) and answers with the best; "
        "the chosen path is in reasoning_path."
    )
    steps = Int(3, help="Depth of the tree: a plan, next steps, then the answer.").tag(config=True)
    breadth = Int(3, help="Thoughts proposed per node.").tag(config=True)
    n_select_sample = Int(2, help="Beam width (states kept per step).").tag(config=True)
    n_evaluate_sample = Int(1, help="Value prompts per state.").tag(config=True)
    temperature = Float(0.7, help="Sampling temperature of every call.").tag(config=True)
    max_calls = Int(40, help="Most model calls for one answer.").tag(config=True)
    max_seconds = Float(300.0, help="Most seconds for one answer.").tag(config=True)
    concurrency = Int(8, help="Most model calls in flight at once.").tag(config=True)
    model = Unicode("", help="Model to use; empty: the chat's or the backend's default.").tag(
        config=True
    )

    def __init__(self, *, store: RunStore | None = None, **kwargs: Any) -> None:
        """``store``: where runs are saved (the reasoning service's); None: not saved."""
        super().__init__(**kwargs)
        self.store = store

    async def respond(self, turn: AgentTurn) -> AsyncIterator[ChatChunk]:
        run_id = f"tot-{uuid.uuid4().hex[:12]}"
        params = ToTParams(
            method="bfs",
            method_generate="propose",
            method_evaluate="value",
            method_select="greedy",
            n_evaluate_sample=self.n_evaluate_sample,
            n_select_sample=self.n_select_sample,
            temperature=self.temperature,
            model=turn.model or self.model or None,
            max_calls=self.max_calls,
            max_seconds=self.max_seconds,
            concurrency=self.concurrency,
        )
        task = OpenProblemTask(steps=max(2, self.steps), k=self.breadth)

        def forward(event: dict[str, Any]) -> None:
            turn.emit("reasoning_update", {"run_id": run_id, **event})

        engine = ToTEngine(
            turn.provider, task, turn.content, params, on_event=forward, run_id=run_id
        )
        store = self.store
        if store is not None:  # chat runs are saved like socket runs (list_reasoning_runs)
            await store.create(run_id, turn.user, task.name, turn.content, params.to_dict())
        try:
            tree = await engine.run()
        except asyncio.CancelledError:
            if store is not None:
                engine.tree.stats.stop_reason = "cancelled"
                await asyncio.shield(store.finish(run_id, engine.tree, "cancelled"))
            raise
        if store is not None:
            await store.finish(run_id, tree, tree.stats.stop_reason)
        path = tree.best_path
        if tree.answer:
            text = tree.answer
        elif path:
            text = "\n".join(path)
        else:
            text = "I could not reach an answer" + (f" ({tree.error})" if tree.error else ".")
        turn.metadata["reasoning_path"] = path
        turn.metadata["reasoning_run_id"] = run_id
        turn.metadata["reasoning_stats"] = tree.stats.to_dict()
        values = [n.value for n in tree.path(tree.best_node_id) if n.value is not None]
        if values:
            # share of the best value possible (every sample "sure")
            best = 20.0 * params.n_evaluate_sample
            turn.metadata["confidence"] = round(min(1.0, values[-1] / best), 3)
        completion = Completion(
            text=text,
            model=params.model or turn.provider.default_model,
            backend=turn.provider.name,
            prompt_tokens=tree.stats.prompt_tokens,
            completion_tokens=tree.stats.completion_tokens,
            total_duration_s=tree.stats.wall_time,
            done_reason=tree.stats.stop_reason,
        )
        yield ChatChunk(delta=text)
        yield ChatChunk(delta="", done=True, completion=completion)
