"""A newcomer's first experiments, on the embedded model (SmolLM2-135M, llama.cpp, CPU).

1. Evolution with what the Evolution panel sends (population 8, 5 generations, no task set, so
   the built-in ``starter`` set and its few-shot examples), built as ``EvolutionService._build``
   builds it (its default genes and operators, ``novelty_retries`` 5): best and mean fitness
   per generation, and how many distinct variants were scored (``evaluations``).
2. The Reasoning panel's default problem (an open problem, the server's defaults: BFS,
   b=5, value x 3, 3 steps, 30-call budget): the values its tree gets.

3. ``--part speed``: where a variant's time goes, before and after the two fixes of the
   first experiment's speed, on the same variants in the same process, interleaved
   (before, after, before, after, ...): *before* is llama-cpp-python's default of every CPU
   for prompt evaluation and variants scored concurrently, so their prompts interleave in
   the model's single queue and each task re-evaluates its system prompt and few-shot
   examples; *after* is the provider's default (prompt threads = generation threads) and
   ``AgentVariantEvaluator(exclusive=...)``'s default for a serial model (one variant at a
   time, its tasks back to back, so the KV cache's common prefix is reused). It prints
   seconds per variant, prompt-evaluation vs generation seconds, and the ratios.

Rerun: ``.venv/bin/python benchmarks/first_experiment.py`` or ``--part evolution`` /
``--part reasoning`` / ``--part speed``; ``--seed``, ``--population`` and ``--generations``
for other runs; ``--variants`` and ``--rounds`` for ``speed``. Numbers: docs/evolution.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter

from pygent_jupyter.services.evolution import (
    AgentGenomeSpec,
    AgentVariantEvaluator,
    Engine,
    Evaluator,
    EvolutionConfig,
)
from pygent_jupyter.services.evolution.service import DEFAULT_PROMPT_POOL, DEFAULT_SEED_PROMPTS
from pygent_jupyter.services.evolution.tasks import task_set_from_json
from pygent_jupyter.services.reasoning import OpenProblemTask, ToTEngine, ToTParams
from pygent_jupyter.services.reasoning.providers import import_provider_class


class Recording:
    """The provider, recording every completion's prompt-evaluation and generation time."""

    def __init__(self, provider) -> None:
        self.provider = provider
        self.serial = getattr(provider, "serial", False)
        self.default_model = provider.default_model
        self.completions: list = []

    async def chat(self, messages, **kwargs):
        completion = await self.provider.chat(messages, **kwargs)
        self.completions.append(completion)
        return completion


def starter_spec(provider):
    task_set = task_set_from_json(None)  # what a run without a task set gets
    few_shot = list(task_set.examples)
    spec = AgentGenomeSpec(
        seed_prompts=DEFAULT_SEED_PROMPTS,
        models=[provider.default_model],
        prompt_pool=DEFAULT_PROMPT_POOL,
        temperature_range=(0.0, 1.0),
        top_p_range=(0.5, 1.0),
        few_shot_pool=few_shot,
        max_few_shot=3,
        gene_rate=0.3,
        evolve=("system_prompt", "temperature", "top_p", "few_shot"),  # the service's default
    )
    return task_set, few_shot, spec


async def evolution(provider, seed: int, population: int, generations: int) -> list[dict]:
    task_set, few_shot, spec = starter_spec(provider)
    config = EvolutionConfig(  # the service's default operators
        population_size=population, generations=generations, seed=seed, cxpb=0.5, mutpb=0.5
    )
    fitness = AgentVariantEvaluator(
        provider,
        task_set,
        few_shot_pool=few_shot,
        max_answer_tokens=task_set.max_answer_tokens or 256,
    )

    def progress(kind: str, data: dict) -> None:  # one line per generation, as it ends
        if kind == "evolution_progress" and data.get("phase") == "generation":
            print(
                f"generation {data['generation']}: best {data['best']:.3f} "
                f"mean {data['mean']:.3f} ({data['evaluations']} evaluations)",
                flush=True,
            )

    engine = Engine(
        spec,
        Evaluator(fitness, concurrency=4),
        config,
        run_id=f"first-{seed}",
        on_event=progress,
    )
    result = await engine.run()
    return result.logbook


def set_prompt_threads(provider, before: bool) -> None:
    """Before: llama-cpp-python's default prompt threads (every CPU); after: ours."""
    import os

    llm = provider._model()._llm
    threads = llm.n_threads
    llm._ctx.set_n_threads(threads, (os.cpu_count() or 1) if before else threads)


async def speed(provider, variants: int, rounds: int, seed: int) -> None:
    import os
    import random

    task_set, few_shot, spec = starter_spec(provider)
    rng = random.Random(seed)
    genomes = [spec.random(rng) for _ in range(variants)]
    await provider.warm_up()
    modes = ("before", "threads only", "after")
    rows: dict[str, list[tuple[float, float, float, int, int]]] = {m: [] for m in modes}
    for r in range(rounds):
        for mode in modes:
            set_prompt_threads(provider, mode == "before")
            recording = Recording(provider)
            fitness = AgentVariantEvaluator(
                recording,
                task_set,
                few_shot_pool=few_shot,
                max_answer_tokens=task_set.max_answer_tokens or 256,
                exclusive=mode == "after",  # before / threads only: variants interleave
            )
            began = time.monotonic()
            results = await asyncio.gather(*(fitness(g) for g in genomes))  # as the engine
            wall = time.monotonic() - began
            done = recording.completions
            prompt_s = sum(c.prompt_eval_duration_s or 0 for c in done)
            gen_s = sum(c.eval_duration_s or 0 for c in done)
            rows[mode].append(
                (
                    wall / variants,
                    prompt_s / variants,
                    gen_s / variants,
                    sum(c.prompt_tokens for c in done),
                    sum(c.completion_tokens for c in done),
                )
            )
            print(
                f"round {r} {mode}: {wall / variants:.1f} s per variant (prompt evaluation "
                f"{prompt_s / variants:.1f} s, generation {gen_s / variants:.1f} s; "
                f"{sum(c.prompt_tokens for c in done)} prompt / "
                f"{sum(c.completion_tokens for c in done)} completion tokens); fitness "
                f"{[round(x.fitness, 3) for x in results]}; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    set_prompt_threads(provider, False)
    med = {m: [statistics.median(col) for col in zip(*v, strict=True)] for m, v in rows.items()}
    print("| | s per variant | prompt evaluation s | generation s |")
    print("|---|---:|---:|---:|")
    for mode in modes:
        b = med[mode]
        print(f"| {mode} (median of {rounds}) | {b[0]:.1f} | {b[1]:.1f} | {b[2]:.1f} |")
    print(
        f"| ratio before/after | {med['before'][0] / med['after'][0]:.1f}x | "
        f"{med['before'][1] / med['after'][1]:.1f}x | {med['before'][2] / med['after'][2]:.1f}x |"
    )


async def reasoning(provider) -> list[float]:
    params = ToTParams(max_calls=30, seed=0)
    tree = await ToTEngine(
        provider, OpenProblemTask(steps=3), "Plan a picnic for four friends.", params
    ).run()
    print(tree.summary())
    return [n.value for n in tree.nodes.values() if n.parent_id and n.value is not None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "evolution", "reasoning", "speed"], default="all")
    parser.add_argument("--variants", type=int, default=2, help="speed: variants per round")
    parser.add_argument("--rounds", type=int, default=2, help="speed: before/after rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=5)
    args = parser.parse_args()
    provider = import_provider_class("local")()
    try:
        return run(provider, args)
    finally:
        provider._model().close()  # free llama.cpp before the interpreter tears down


def run(provider, args) -> int:
    if args.part == "speed":
        asyncio.run(speed(provider, args.variants, args.rounds, args.seed))
        return 0
    if args.part in ("all", "evolution"):
        began = time.monotonic()
        log = asyncio.run(evolution(provider, args.seed, args.population, args.generations))
        print("| generation | best | mean | evaluations |")
        print("|---:|---:|---:|---:|")
        for row in log:
            print(
                f"| {row.get('generation')} | {row.get('best'):.3f} | {row.get('mean'):.3f} | "
                f"{row.get('evaluations')} |"
            )
        first, last = log[0]["best"], max(r["best"] for r in log)
        took = time.monotonic() - began
        print(
            f"best fitness {first:.3f} -> {last:.3f} ({took:.0f} s, "
            f"{took / log[-1]['evaluations']:.1f} s per variant scored)"
        )
    if args.part in ("all", "reasoning"):
        began = time.monotonic()
        values = asyncio.run(reasoning(provider))
        counts = Counter(values)
        print(
            f"reasoning default problem: {len(values)} valued nodes, {len(counts)} distinct "
            f"values {sorted(counts.items())}, spread {statistics.pstdev(values):.2f} "
            f"({time.monotonic() - began:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
