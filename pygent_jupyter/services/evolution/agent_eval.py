"""Score an agent variant on a task set through an LLM provider.

Fitness is the mean task score in [0, 1]. Token cost (prompt + completion tokens over the task
set) is either ignored (``cost="none"``), subtracted as a penalty of ``token_penalty`` per 1000
tokens (``cost="penalty"``), or kept as a second objective: fewer tokens win between equally
accurate variants (``cost="objective"``, with ``EvolutionConfig.lexicographic``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from ...llm import ChatMessage, LLMProvider, Options
from .fitness import FitnessResult
from .genomes import AgentGenome
from .tasks import TaskSet

__all__ = ["COST_MODES", "AgentVariantEvaluator", "build_messages"]

COST_MODES = ("none", "penalty", "objective")


def build_messages(
    genome: AgentGenome,
    user_text: str,
    few_shot_pool: Sequence[tuple[str, str]] = (),
) -> list[ChatMessage]:
    """System prompt, the genome's few-shot examples as user/assistant turns, then the input."""
    messages: list[ChatMessage] = [{"role": "system", "content": genome.system_prompt}]
    for i in genome.few_shot:
        if 0 <= i < len(few_shot_pool):
            question, answer = few_shot_pool[i]
            messages.append({"role": "user", "content": question})
            messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": user_text})
    return messages


class AgentVariantEvaluator:
    """``await evaluator(genome) -> FitnessResult``; an async fitness function for the engine.

    Tasks of one variant run ``task_concurrency`` at a time, in task-set order; the engine
    bounds how many variants are scored at once. ``details`` of the result hold per-task
    scores.

    ``exclusive`` (default: ``provider.serial``, true for the embedded llama.cpp model, which
    serves one request at a time) scores one variant at a time on this evaluator: its tasks
    reach the model back to back, so each reuses the system prompt and few-shot examples
    already in the model's KV cache instead of re-evaluating them after another variant's
    prompt (6x less prompt time per task on the embedded model; see docs/evolution.md).
    Variants are still scored concurrently up to the engine's bound on parallel backends.
    """

    def __init__(
        self,
        provider: LLMProvider,
        task_set: TaskSet,
        *,
        few_shot_pool: Sequence[tuple[str, str]] = (),
        tool_schemas: Mapping[str, dict[str, Any]] | None = None,
        cost: str = "none",
        token_penalty: float = 0.01,
        max_answer_tokens: int = 256,
        seed: int | None = 0,
        task_concurrency: int = 1,
        exclusive: bool | None = None,
    ) -> None:
        if cost not in COST_MODES:
            raise ValueError(f"unknown cost mode {cost!r}; choose one of {', '.join(COST_MODES)}")
        self.provider = provider
        self.task_set = task_set
        self.few_shot_pool = list(few_shot_pool)
        self.tool_schemas = dict(tool_schemas or {})
        self.cost = cost
        self.token_penalty = token_penalty
        self.max_answer_tokens = max_answer_tokens
        self.seed = seed
        self.task_concurrency = max(1, task_concurrency)
        self.exclusive = exclusive
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_lock"] = None  # a lock belongs to one event loop of one process
        return state

    def _variant_lock(self) -> asyncio.Lock | None:
        """The lock that makes variants take turns, or None when they need not."""
        exclusive = self.exclusive
        if exclusive is None:
            exclusive = bool(getattr(self.provider, "serial", False))
        if not exclusive:
            return None
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    async def _one(
        self, genome: AgentGenome, index: int, semaphore: asyncio.Semaphore
    ) -> tuple[float, int, str | None]:
        task = self.task_set.tasks[index]
        options: Options = {
            "temperature": genome.temperature,
            "top_p": genome.top_p,
            "num_predict": self.max_answer_tokens,
        }
        if self.seed is not None:
            options["seed"] = self.seed
        tools = [self.tool_schemas[t] for t in genome.tools if t in self.tool_schemas]
        messages = build_messages(genome, self.task_set.prompt(task), self.few_shot_pool)
        async with semaphore:
            try:
                completion = await self.provider.chat(
                    messages, model=genome.model, options=options, tools=tools or None
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                return 0.0, 0, f"{type(exc).__name__}: {exc}"
        tokens = completion.prompt_tokens + completion.completion_tokens
        return task.score(completion.text), tokens, None

    async def __call__(self, genome: AgentGenome) -> FitnessResult:
        semaphore = asyncio.Semaphore(self.task_concurrency)
        lock = self._variant_lock()
        async with lock if lock is not None else contextlib.nullcontext():
            outcomes = await asyncio.gather(
                *(self._one(genome, i, semaphore) for i in range(len(self.task_set.tasks)))
            )
        scores = [score for score, _, _ in outcomes]
        tokens = sum(t for _, t, _ in outcomes)
        errors = [e for _, _, e in outcomes if e]
        accuracy = sum(scores) / len(scores)
        fitness = accuracy
        secondary = None
        if self.cost == "penalty":
            fitness = accuracy - self.token_penalty * tokens / 1000.0
        elif self.cost == "objective":
            secondary = -float(tokens)
        details: dict[str, Any] = {"accuracy": round(accuracy, 4), "scores": scores}
        if errors:
            details["errors"] = errors[:3]
        return FitnessResult(fitness, tokens, secondary, details)
