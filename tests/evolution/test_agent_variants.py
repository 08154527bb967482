"""Agent-variant evolution on a scripted chat model: the known-better variant must win."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from pygent_jupyter.llm import ChatMessage, Options
from pygent_jupyter.services.evolution import (
    AgentGenome,
    AgentGenomeSpec,
    AgentVariantEvaluator,
    Engine,
    EvolutionConfig,
    LLMPromptOperator,
    Task,
    TaskSet,
    build_messages,
    game24_task_set,
    task_set_from_json,
)
from pygent_jupyter.services.evolution.llm_ops import extract_prompt
from pygent_jupyter.services.reasoning.game24 import parse_numbers, solutions

from .scripted import KEY_PHRASE, ScriptedChatModel, arithmetic_responder, system_of

ADDITION = TaskSet(
    "addition",
    [Task(f"What is {a} + {b}?", str(a + b)) for a, b in [(2, 3), (10, 7), (41, 1), (5, 5)]],
)

BAD_PROMPTS = [
    "You are a helpful assistant.",
    "You are a friendly math tutor. Explain your reasoning.",
    "Think about the question.",
    "You answer questions.",
]


def test_task_scoring_modes() -> None:
    assert Task("q", "42").score("Let me see.\n42.") == 1.0
    assert Task("q", "42").score("It is 42") == 0.0
    assert Task("q", "paris", match="contains").score("It is Paris.") == 1.0
    assert Task("q", r"\b4[0-9]\b", match="regex").score("about 47 or so") == 1.0
    assert Task("q", match="checker", checker=lambda t, a: 0.25 * len(a)).score("abc") == 0.75
    with pytest.raises(ValueError, match="unknown match"):
        Task("q", "a", match="fuzzy")
    with pytest.raises(ValueError, match="at most 2 tasks"):
        task_set_from_json({"tasks": [{"input": "a", "expected": "b"}] * 3}, max_tasks=2)
    with pytest.raises(ValueError, match="bad regex"):
        task_set_from_json({"tasks": [{"input": "a", "expected": "(", "match": "regex"}]})


def test_game24_task_set_reuses_the_reasoning_checker() -> None:
    tasks = game24_task_set(900, 903)
    assert len(tasks.tasks) == 3
    puzzle = tasks.tasks[0].input
    good = solutions([int(n) for n in parse_numbers(puzzle)])[0]
    assert tasks.tasks[0].score(good) == 1.0
    assert tasks.tasks[0].score("1 + 1") == 0.0
    with pytest.raises(ValueError, match="range"):
        game24_task_set(0, 100_000)


def test_messages_carry_prompt_few_shot_and_input() -> None:
    genome = AgentGenome("Be exact.", "m", few_shot=(1,))
    messages = build_messages(genome, "2+2?", [("1+1?", "2"), ("3+3?", "6")])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "3+3?" and messages[-1]["content"] == "2+2?"


async def test_the_known_better_prompt_wins() -> None:
    model = ScriptedChatModel(arithmetic_responder, latency=0.002)
    known_better = f"You are a calculator. {KEY_PHRASE}"
    spec = AgentGenomeSpec(
        seed_prompts=[*BAD_PROMPTS, known_better],
        models=["scripted-1"],
        evolve=("system_prompt", "temperature"),
    )
    evaluator = AgentVariantEvaluator(model, ADDITION)
    # the known-better prompt is in the seeds but no initial variant is forced to carry it
    config = EvolutionConfig(population_size=12, generations=6, seed=5, elitism=1)
    result = await Engine(spec, evaluator, config, concurrency=4).run()
    assert result.best_fitness == 1.0
    assert KEY_PHRASE in result.best_genome.system_prompt
    assert result.logbook[-1]["mean"] > result.logbook[0]["mean"]
    assert 1 < model.max_in_flight <= 4  # variants scored concurrently, bounded


async def test_text_mutation_discovers_the_key_instruction_from_the_pool() -> None:
    model = ScriptedChatModel(arithmetic_responder)
    spec = AgentGenomeSpec(
        seed_prompts=BAD_PROMPTS,
        models=["scripted-1"],
        prompt_pool=["Be polite.", KEY_PHRASE, "Use simple words."],
        evolve=("system_prompt",),
        gene_rate=1.0,
    )
    config = EvolutionConfig(population_size=10, generations=12, seed=1, mutpb=0.6, target=1.0)
    result = await Engine(spec, AgentVariantEvaluator(model, ADDITION), config).run()
    assert result.logbook[0]["best"] == 0.0
    assert result.best_fitness == 1.0 and result.reason == "target"
    assert KEY_PHRASE in result.best_genome.system_prompt


async def test_llm_driven_mutation_evoprompt_style() -> None:
    model = ScriptedChatModel(arithmetic_responder)
    operator = LLMPromptOperator(model)
    spec = AgentGenomeSpec(
        seed_prompts=BAD_PROMPTS,
        models=["scripted-1"],
        evolve=("system_prompt",),
        llm_operator=operator,
        gene_rate=1.0,
    )
    config = EvolutionConfig(population_size=8, generations=4, seed=2, mutpb=0.5)
    result = await Engine(spec, AgentVariantEvaluator(model, ADDITION), config).run()
    assert result.best_fitness == 1.0
    assert KEY_PHRASE in result.best_genome.system_prompt
    assert operator.calls > 0 and operator.tokens > 0
    assert result.data["stats"]["operator_tokens"] == operator.tokens
    assert any("Cross over the following prompts" in str(m[-1]["content"]) for m, _ in model.calls)


async def test_llm_operator_runs_are_reproducible_and_resumable() -> None:
    def make() -> tuple[AgentGenomeSpec, AgentVariantEvaluator]:
        model = ScriptedChatModel(arithmetic_responder, latency=0.002)
        spec = AgentGenomeSpec(
            seed_prompts=BAD_PROMPTS,
            models=["a", "b"],
            evolve=("system_prompt", "model", "top_p"),
            llm_operator=LLMPromptOperator(model),
            llm_rate=0.5,
        )
        return spec, AgentVariantEvaluator(model, ADDITION)

    config = EvolutionConfig(population_size=8, generations=5, seed=3, mutpb=0.5)
    states: dict[int, dict] = {}
    spec, evaluator = make()
    full = await Engine(
        spec,
        evaluator,
        config,
        run_id="x",
        on_checkpoint=lambda s: states.update({s["generation"]: s}),
    ).run()
    spec2, evaluator2 = make()
    resumed = await Engine.from_checkpoint(states[2], spec2, evaluator2).run()
    assert [r["best"] for r in resumed.logbook] == [r["best"] for r in full.logbook]
    assert resumed.best_genome == full.best_genome
    assert resumed.data["stats"]["tokens"] == full.data["stats"]["tokens"]


def test_extract_prompt() -> None:
    assert extract_prompt("x <prompt> A </prompt> y <prompt>B</prompt>") == "B"
    assert extract_prompt("no tags") is None
    assert extract_prompt("<prompt>  </prompt>") is None


def _verbose_or_terse(messages: Sequence[ChatMessage], options: Options) -> str:
    last = str(messages[-1].get("content", ""))
    total = sum(int(t) for t in last.replace("?", " ").split() if t.isdigit())
    if "verbose" in system_of(messages):
        return "Sure! After careful consideration of every digit involved here:\n" + str(total)
    return str(total)


@pytest.mark.parametrize("cost", ["penalty", "objective"])
async def test_token_cost_prefers_the_cheaper_of_two_accurate_prompts(cost: str) -> None:
    model = ScriptedChatModel(_verbose_or_terse)
    spec = AgentGenomeSpec(
        seed_prompts=["Be verbose.", "Be terse."], models=["m"], evolve=("system_prompt",)
    )
    evaluator = AgentVariantEvaluator(model, ADDITION, cost=cost, token_penalty=1.0)
    verbose = await evaluator(AgentGenome("Be verbose.", "m"))
    terse = await evaluator(AgentGenome("Be terse.", "m"))
    assert verbose.details["accuracy"] == terse.details["accuracy"] == 1.0
    assert verbose.tokens > terse.tokens
    config = EvolutionConfig(
        population_size=6, generations=2, seed=4, lexicographic=cost == "objective"
    )
    result = await Engine(spec, evaluator, config).run()
    assert result.best_genome.system_prompt == "Be terse."


async def test_game24_variants_are_scored_with_the_exact_checker() -> None:
    def respond(messages: Sequence[ChatMessage], options: Options) -> str:
        puzzle = str(messages[-1]["content"]).splitlines()[-1]
        if "expression only" in system_of(messages):
            return solutions([int(n) for n in parse_numbers(puzzle)])[0]
        return "I would add them all up: " + " + ".join(puzzle.split())

    model = ScriptedChatModel(respond)
    spec = AgentGenomeSpec(
        seed_prompts=["Chat freely.", "Give the expression only."],
        models=["m"],
        evolve=("system_prompt",),
    )
    config = EvolutionConfig(population_size=4, generations=2, seed=random.Random(0).randint(0, 9))
    result = await Engine(
        spec, AgentVariantEvaluator(model, game24_task_set(900, 903)), config
    ).run()
    assert result.best_fitness == 1.0
    assert result.best_genome.system_prompt == "Give the expression only."
