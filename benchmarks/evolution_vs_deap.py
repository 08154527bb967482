"""pygent-jupyter's GA engine against DEAP, in the same process.

1. OneMax, 100 bits, population 100, 100 generations, tournament of 3, two-point crossover
   (cxpb 0.5), flip-bit mutation (mutpb 0.2, indpb 0.05), no elitism: DEAP's ``eaSimple`` with
   its usual Statistics + HallOfFame vs our :class:`Engine` (statistics, diversity, hall of
   fame, genealogy and events included). Reports generations/s and the best fitness each
   reached at equal evaluation counts (the smaller of the two totals), over N seeds.
2. A fitness function with 20 ms of async latency (an LLM/HTTP call stand-in): our engine with
   ``concurrency=1`` (sequential) vs ``concurrency=population`` (concurrent).

Run: ``.venv/bin/python benchmarks/evolution_vs_deap.py [--seeds 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

import numpy as np
from deap import algorithms, base, creator, tools

from pygent_jupyter.services.evolution import BitString, Engine, Evaluator, EvolutionConfig

BITS, POP, NGEN, CXPB, MUTPB, INDPB, TOURN = 100, 100, 100, 0.5, 0.2, 0.05, 3


def deap_onemax(seed: int) -> tuple[float, list[tuple[int, float]]]:
    """Seconds, and per generation (cumulative evaluations, best fitness)."""
    if not hasattr(creator, "FitnessMax"):
        creator.create("FitnessMax", base.Fitness, weights=(1.0,))
        creator.create("Individual", list, fitness=creator.FitnessMax)
    random.seed(seed)
    toolbox = base.Toolbox()
    toolbox.register("attr_bool", random.randint, 0, 1)
    toolbox.register("individual", tools.initRepeat, creator.Individual, toolbox.attr_bool, BITS)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("evaluate", lambda ind: (sum(ind),))
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("mutate", tools.mutFlipBit, indpb=INDPB)
    toolbox.register("select", tools.selTournament, tournsize=TOURN)
    stats = tools.Statistics(lambda ind: ind.fitness.values)
    stats.register("avg", np.mean)
    stats.register("std", np.std)
    stats.register("min", np.min)
    stats.register("max", np.max)
    hof = tools.HallOfFame(1)
    start = time.perf_counter()
    pop = toolbox.population(n=POP)
    _, logbook = algorithms.eaSimple(
        pop, toolbox, CXPB, MUTPB, NGEN, stats=stats, halloffame=hof, verbose=False
    )
    seconds = time.perf_counter() - start
    curve, total = [], 0
    for row in logbook:
        total += row["nevals"]
        curve.append((total, float(row["max"])))
    return seconds, curve


def ours_onemax(seed: int) -> tuple[float, list[tuple[int, float]]]:
    config = EvolutionConfig(
        population_size=POP,
        generations=NGEN,
        elitism=0,
        selection="tournament",
        tournsize=TOURN,
        cxpb=CXPB,
        mutpb=MUTPB,
        seed=seed,
        hall_of_fame=1,
    )
    events: list[Any] = []
    engine = Engine(
        BitString(BITS, indpb=INDPB, crossover_kind="two_point"),
        lambda g: float(sum(g)),
        config,
        on_event=lambda t, d: events.append(t),
    )
    start = time.perf_counter()
    result = asyncio.run(engine.run())
    seconds = time.perf_counter() - start
    assert len(events) == NGEN + 2  # a progress event per generation (0…NGEN) + complete
    return seconds, [(row["evaluations"], float(row["best"])) for row in result.logbook]


def best_at(curve: list[tuple[int, float]], evaluations: int) -> float:
    """Best fitness reached by the last generation whose cumulative evaluations <= budget."""
    best = curve[0][1]
    for total, value in curve:
        if total > evaluations:
            break
        best = max(best, value)
    return best


async def latency_run(concurrency: int, population: int, generations: int) -> tuple[float, int]:
    async def fitness(g: tuple[int, ...]) -> float:
        await asyncio.sleep(0.020)
        return float(sum(g))

    config = EvolutionConfig(population_size=population, generations=generations, seed=1)
    evaluator = Evaluator(fitness, concurrency=concurrency)
    start = time.perf_counter()
    result = await Engine(BitString(64), evaluator, config).run()
    return time.perf_counter() - start, result.data["stats"]["evaluations"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--latency-population", type=int, default=50)
    parser.add_argument("--latency-generations", type=int, default=5)
    args = parser.parse_args()

    print(
        f"OneMax {BITS} bits, pop {POP}, {NGEN} generations, tournament {TOURN}, "
        f"cxTwoPoint {CXPB}, mutFlipBit {MUTPB}/{INDPB}; {args.seeds} seeds"
    )
    rows = []
    for seed in range(args.seeds):
        d_sec, d_curve = deap_onemax(seed)
        o_sec, o_curve = ours_onemax(seed)
        budget = min(d_curve[-1][0], o_curve[-1][0])
        rows.append(
            {
                "seed": seed,
                "deap_gps": NGEN / d_sec,
                "ours_gps": NGEN / o_sec,
                "budget": budget,
                "deap_best": best_at(d_curve, budget),
                "ours_best": best_at(o_curve, budget),
                "deap_evals": d_curve[-1][0],
                "ours_evals": o_curve[-1][0],
                "deap_final": d_curve[-1][1],
                "ours_final": o_curve[-1][1],
            }
        )
        r = rows[-1]
        print(
            f"  seed {seed}: gen/s DEAP {r['deap_gps']:7.1f} ours {r['ours_gps']:7.1f} | "
            f"evals DEAP {r['deap_evals']} ours {r['ours_evals']} | best at {budget} evals: "
            f"DEAP {r['deap_best']:.0f} ours {r['ours_best']:.0f}"
        )

    def mean(key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    print()
    print(
        f"generations/s      DEAP {mean('deap_gps'):8.1f}   ours {mean('ours_gps'):8.1f}   "
        f"ratio ours/DEAP {mean('ours_gps') / mean('deap_gps'):.2f}x"
    )
    print(
        f"best @ equal evals DEAP {mean('deap_best'):8.2f}   ours {mean('ours_best'):8.2f}   "
        f"(mean over {len(rows)} seeds; budget = min of the two totals, mean "
        f"{mean('budget'):.0f})"
    )
    print(
        f"evaluations/run    DEAP {mean('deap_evals'):8.0f}   ours {mean('ours_evals'):8.0f}   "
        "(ours skips unchanged children and cache hits)"
    )
    print(f"final best         DEAP {mean('deap_final'):8.2f}   ours {mean('ours_final'):8.2f}")

    pop, gens = args.latency_population, args.latency_generations
    seq, n_seq = asyncio.run(latency_run(1, pop, gens))
    conc, n_conc = asyncio.run(latency_run(pop, pop, gens))
    print()
    print(f"20 ms async fitness, pop {pop}, {gens} generations ({n_seq} evaluations):")
    print(f"  sequential {seq:6.2f} s   concurrent {conc:6.2f} s   speed-up {seq / conc:.1f}x")
    assert n_seq == n_conc, "both runs must do the same evaluations"


if __name__ == "__main__":
    main()
