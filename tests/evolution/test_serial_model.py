"""On a model that serves one request at a time (``provider.serial``, the embedded llama.cpp
model), variants scored concurrently still send their tasks back to back, so each task reuses
the system prompt and few-shot prefix already in the model's KV cache."""

from __future__ import annotations

import asyncio
import itertools
import pickle
from collections.abc import Sequence

import pytest

from pygent_jupyter.llm import ChatMessage, Options
from pygent_jupyter.services.evolution import AgentVariantEvaluator, Evaluator
from pygent_jupyter.services.evolution.genomes import AgentGenome
from pygent_jupyter.services.evolution.tasks import builtin_task_set

from .scripted import ScriptedChatModel, system_of


def answer(messages: Sequence[ChatMessage], options: Options) -> str:
    return "positive"


class SerialModel(ScriptedChatModel):
    serial = True


def switches(model: ScriptedChatModel) -> int:
    """How often consecutive calls change system prompt (a lost KV-cache prefix)."""
    systems = [system_of(messages) for messages, _ in model.calls]
    return sum(a != b for a, b in itertools.pairwise(systems))


async def score_four(model: ScriptedChatModel, exclusive: bool | None = None) -> list[float]:
    """Score four variants concurrently, as the service scores a generation."""
    task_set = builtin_task_set("starter")
    fitness = AgentVariantEvaluator(
        model, task_set, few_shot_pool=task_set.examples, exclusive=exclusive
    )
    genomes = [AgentGenome(f"Prompt {i}.", "m", 0.5, 0.9, (i,)) for i in range(4)]
    results = await Evaluator(fitness, concurrency=4).evaluate(genomes, genomes)
    return [r.fitness for r in results if r is not None]


@pytest.mark.parametrize("serial", [True, False])
async def test_variants_take_turns_on_a_serial_model(serial: bool) -> None:
    model = (SerialModel if serial else ScriptedChatModel)(answer, latency=0.001)
    fitness = await score_four(model)
    assert len(fitness) == 4 and len(model.calls) == 4 * 16
    if serial:
        assert switches(model) == 3  # one block of 16 tasks per variant
        assert model.max_in_flight == 1
    else:  # a parallel backend: variants are scored concurrently, their calls interleave
        assert switches(model) > 3 and model.max_in_flight > 1
    interleaved = SerialModel(answer, latency=0.001)
    assert await score_four(interleaved, exclusive=False) == fitness  # same scores
    assert switches(interleaved) > 3


def test_the_evaluator_pickles_without_its_lock() -> None:
    task_set = builtin_task_set("format")
    fitness = AgentVariantEvaluator(SerialModel(answer), task_set)
    asyncio.run(fitness(AgentGenome("p", "m")))  # creates the lock
    clone = pickle.loads(pickle.dumps(fitness))
    assert clone._lock is None and asyncio.run(clone(AgentGenome("p", "m"))).fitness == 0.0
