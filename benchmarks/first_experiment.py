"""A newcomer's first experiments, on the embedded model (SmolLM2-135M, llama.cpp, CPU).

1. Evolution with what the Evolution panel sends (population 8, 5 generations, no task set, so
   the built-in ``starter`` set and its few-shot examples), built as ``EvolutionService._build``
   builds it (its default genes and operators, ``novelty_retries`` 5): best and mean fitness
   per generation, and how many distinct variants were scored (``evaluations``).
2. The Reasoning panel's default problem (an open problem, the server's defaults: BFS,
   b=5, value x 3, 3 steps, 30-call budget): the values its tree gets.

Rerun: ``.venv/bin/python benchmarks/first_experiment.py`` or ``--part evolution`` /
``--part reasoning``; ``--seed`` and ``--population`` for other runs. One variant costs about
16 short answers: 40-90 s on a busy 2-core machine, so population 4 x 5 generations (about
19 variants) takes 15-30 minutes there.
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


async def evolution(provider, seed: int, population: int, generations: int) -> list[dict]:
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


async def reasoning(provider) -> list[float]:
    params = ToTParams(max_calls=30, seed=0)
    tree = await ToTEngine(
        provider, OpenProblemTask(steps=3), "Plan a picnic for four friends.", params
    ).run()
    print(tree.summary())
    return [n.value for n in tree.nodes.values() if n.parent_id and n.value is not None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "evolution", "reasoning"], default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=5)
    args = parser.parse_args()
    provider = import_provider_class("local")()
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
        print(f"best fitness {first:.3f} -> {last:.3f} ({time.monotonic() - began:.0f} s)")
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
