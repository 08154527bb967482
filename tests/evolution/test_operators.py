"""Operators, selection and fitness plumbing on known cases (no server)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from deap import tools as deap_tools

from pygent_jupyter.services.evolution import (
    AgentGenome,
    AgentGenomeSpec,
    BitString,
    Evaluator,
    FitnessResult,
    RealVector,
    select_rank,
    select_roulette,
    select_tournament,
)
from pygent_jupyter.services.evolution.fitness import normalize_result
from pygent_jupyter.services.evolution.genomes import (
    cx_one_point,
    cx_two_point,
    mut_flip_bit,
    text_crossover,
    text_mutate,
)
from pygent_jupyter.services.evolution.selection import make_selector


class ScriptedRng(random.Random):
    """``randint`` returns scripted values (to pin cut points)."""

    def __init__(self, ints: list[int]) -> None:
        super().__init__(0)
        self.ints = list(ints)

    def randint(self, a: int, b: int) -> int:
        value = self.ints.pop(0)
        assert a <= value <= b
        return value


A = (0,) * 10
B = (1,) * 10


def test_two_point_crossover_swaps_the_middle_segment() -> None:
    c1, c2 = cx_two_point(A, B, ScriptedRng([3, 5]))  # p2 >= p1 -> p2 = 6
    assert c1 == (0, 0, 0, 1, 1, 1, 0, 0, 0, 0)
    assert c2 == (1, 1, 1, 0, 0, 0, 1, 1, 1, 1)
    c1, _ = cx_two_point(A, B, ScriptedRng([7, 2]))  # p2 < p1 -> swapped: [2, 7)
    assert c1 == (0, 0, 1, 1, 1, 1, 1, 0, 0, 0)


def test_one_point_crossover_swaps_tails() -> None:
    c1, c2 = cx_one_point(A, B, ScriptedRng([4]))
    assert c1 == (0, 0, 0, 0, 1, 1, 1, 1, 1, 1)
    assert c2 == (1, 1, 1, 1, 0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize("seed", range(5))
def test_two_point_and_flip_bit_match_deap_draw_for_draw(seed: int) -> None:
    rng = random.Random(seed)
    a = tuple(rng.randint(0, 1) for _ in range(40))
    b = tuple(rng.randint(0, 1) for _ in range(40))
    random.seed(seed + 100)
    da, db = deap_tools.cxTwoPoint(list(a), list(b))
    ours = cx_two_point(a, b, random.Random(seed + 100))
    assert ours == (tuple(da), tuple(db))
    random.seed(seed + 200)
    (dm,) = deap_tools.mutFlipBit(list(a), indpb=0.2)
    assert mut_flip_bit(a, random.Random(seed + 200), 0.2) == tuple(dm)


def _freq(indices: list[int], n: int) -> list[float]:
    counts = Counter(indices)
    return [counts[i] / len(indices) for i in range(n)]


def test_tournament_selection_probabilities() -> None:
    keys = [0.0, 1.0, 2.0, 3.0]
    freq = _freq(select_tournament(keys, 40_000, random.Random(1), tournsize=3), 4)
    # P(best of 3 draws with replacement is rank r) = ((r+1)^3 - r^3) / 4^3
    expected = [((r + 1) ** 3 - r**3) / 64 for r in range(4)]
    assert freq == pytest.approx(expected, abs=0.01)
    assert set(select_tournament(keys, 200, random.Random(2), tournsize=1)) == {0, 1, 2, 3}


def test_roulette_is_fitness_proportional_after_shifting_the_worst_to_zero() -> None:
    freq = _freq(select_roulette([5.0, 6.0, 7.0], 30_000, random.Random(3)), 3)
    assert freq == pytest.approx([0.0, 1 / 3, 2 / 3], abs=0.01)
    uniform = _freq(select_roulette([-2.0, -2.0], 10_000, random.Random(3)), 2)
    assert uniform == pytest.approx([0.5, 0.5], abs=0.02)


def test_rank_selection_uses_linear_ranks_and_shares_ties() -> None:
    freq = _freq(select_rank([10.0, 0.0, 5.0], 30_000, random.Random(4), pressure=2.0), 3)
    assert freq == pytest.approx([2 / 3, 0.0, 1 / 3], abs=0.01)
    tied = _freq(select_rank([1.0, 1.0, 0.0], 30_000, random.Random(5), pressure=2.0), 3)
    assert tied[0] == pytest.approx(tied[1], abs=0.015)
    assert tied[2] < 0.01


def test_lexicographic_keys_break_ties_on_the_second_objective() -> None:
    keys = [(1.0, -500.0), (1.0, -100.0), (0.5, 0.0)]
    chosen = select_tournament(keys, 1000, random.Random(6), tournsize=3)
    # whenever entrant 1 takes part it wins, so it is chosen far more than the others
    assert Counter(chosen).most_common(1)[0][0] == 1


def test_unknown_selection_is_rejected() -> None:
    with pytest.raises(ValueError, match="tournament, roulette, rank"):
        make_selector("lottery")


def test_bitstring_diversity_and_json_roundtrip() -> None:
    spec = BitString(8)
    assert spec.diversity([A[:8], A[:8]]) == 0.0
    assert spec.diversity([A[:8], B[:8]]) == 1.0
    g = spec.random(random.Random(1))
    assert spec.from_json(spec.to_json(g)) == g


def test_real_vector_mutation_stays_in_bounds() -> None:
    spec = RealVector(5, low=0.0, high=1.0, sigma=5.0, indpb=1.0)
    rng = random.Random(7)
    g = spec.random(rng)
    for _ in range(50):
        g = spec.mutate(g, rng)
        c1, c2 = spec.crossover(g, spec.random(rng), rng)
        assert all(0.0 <= x <= 1.0 for x in (*g, *c1, *c2))


def test_text_operators_work_on_sentences() -> None:
    a = "Be brief. Use numbers."
    b = "Think step by step. Check your work."
    sentences = {"Be brief.", "Use numbers.", "Think step by step.", "Check your work."}
    rng = random.Random(8)
    for _ in range(20):
        c1, c2 = text_crossover(a, b, rng)
        for child in (c1, c2):
            parts = {s if s.endswith(".") else s + "." for s in child.split(". ")}
            assert parts <= sentences
    mutated = {text_mutate(a, random.Random(i), ["Reply in French."]) for i in range(30)}
    assert any("Reply in French." in m for m in mutated)  # insert / replace
    assert "Use numbers. Be brief." in mutated  # swap
    assert "Be brief." in mutated or "Use numbers." in mutated  # drop


def test_agent_genome_operators_respect_every_gene_domain() -> None:
    spec = AgentGenomeSpec(
        seed_prompts=["You help.", "You are precise."],
        models=["m1", "m2"],
        prompt_pool=["Answer briefly."],
        temperature_range=(0.1, 0.5),
        top_p_range=(0.8, 0.9),
        few_shot_pool=[("1+1", "2"), ("2+2", "4"), ("3+3", "6"), ("4+4", "8")],
        max_few_shot=2,
        tools=["search", "calc"],
        gene_rate=0.5,
    )
    rng = random.Random(9)
    population = [spec.random(rng) for _ in range(10)]
    for _ in range(200):
        a, b = rng.sample(population, 2)
        children = spec.crossover(a, b, rng)
        mutant = spec.mutate(children[0], rng)
        assert mutant != children[0]  # at least one gene changes
        for g in (*children, mutant):
            assert isinstance(g, AgentGenome)
            assert g.model in ("m1", "m2")
            assert 0.1 <= g.temperature <= 0.5 and 0.8 <= g.top_p <= 0.9
            assert len(g.few_shot) <= 2 and len(set(g.few_shot)) == len(g.few_shot)
            assert set(g.few_shot) <= {0, 1, 2, 3}
            assert set(g.tools) <= {"search", "calc"}
        population[rng.randrange(10)] = mutant
    assert AgentGenome.from_json(mutant.to_json()) == mutant
    assert spec.diversity(population) > 0


def test_normalize_result_accepts_the_documented_shapes() -> None:
    assert normalize_result(3).fitness == 3.0
    assert normalize_result((0.5, 120)).tokens == 120
    assert normalize_result({"fitness": 1, "secondary": -4}).secondary == -4.0
    assert normalize_result(FitnessResult(2.0)).fitness == 2.0
    with pytest.raises(TypeError, match="must return a number"):
        normalize_result("good")
    with pytest.raises(ValueError, match="NaN"):
        normalize_result(float("nan"))


async def test_evaluator_bounds_concurrency_and_caches_by_genome() -> None:
    in_flight = peak = calls = 0

    async def fitness(g: tuple[int, ...]) -> float:
        nonlocal in_flight, peak, calls
        calls += 1
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return float(sum(g))

    evaluator = Evaluator(fitness, concurrency=3)
    genomes = [(i, 1) for i in range(10)] + [(0, 1), (1, 1)]
    results = await evaluator.evaluate(genomes, genomes)
    assert [r.fitness for r in results if r] == [float(i + 1) for i in range(10)] + [1.0, 2.0]
    assert peak == 3
    assert calls == evaluator.evaluations == 10  # duplicates in one batch are evaluated once
    await evaluator.evaluate(genomes[:4], genomes[:4])
    assert calls == 10  # cache hits are free


async def test_a_failing_fitness_gives_minus_infinity_not_a_crash() -> None:
    def fitness(g: int) -> float:
        if g == 2:
            raise ZeroDivisionError("boom")
        return float(g)

    evaluator = Evaluator(fitness)
    results = await evaluator.evaluate([1, 2], [1, 2])
    assert results[0] is not None and results[0].fitness == 1.0
    assert results[1] is not None and results[1].fitness == float("-inf")
    assert "ZeroDivisionError" in results[1].details["error"]
    assert evaluator.errors == 1
