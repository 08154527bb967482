"""Parent selection: tournament, roulette (fitness-proportional) and rank.

Each selector takes a list of fitness keys (higher is better; comparable values, tuples for
lexicographic secondary objectives), a count ``k`` and a :class:`random.Random`, and returns
``k`` indices into the list. Selection with replacement, like DEAP's selectors.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["SELECTORS", "make_selector", "select_rank", "select_roulette", "select_tournament"]

Selector = Callable[[Sequence[Any], int, random.Random], list[int]]


def select_tournament(
    keys: Sequence[Any], k: int, rng: random.Random, tournsize: int = 3
) -> list[int]:
    """``k`` times: draw ``tournsize`` entrants uniformly (with replacement), keep the best.

    Ties go to the entrant drawn first.
    """
    n = len(keys)
    chosen: list[int] = []
    r = rng.random
    for _ in range(k):
        best = int(r() * n)
        for _ in range(tournsize - 1):
            i = int(r() * n)
            if keys[i] > keys[best]:
                best = i
        chosen.append(best)
    return chosen


def _primary(key: Any) -> float:
    return float(key[0] if isinstance(key, tuple) else key)


def select_roulette(keys: Sequence[Any], k: int, rng: random.Random) -> list[int]:
    """Probability proportional to fitness (the primary objective).

    Fitness is shifted so the worst individual has weight 0 plus a small epsilon, which makes
    negative fitness usable; all-equal fitness degrades to uniform selection.
    """
    values = [_primary(key) for key in keys]
    low = min(values)
    spread = max(values) - low
    eps = spread * 1e-3 if spread > 0 else 1.0
    cumulative = list(itertools.accumulate(v - low + eps for v in values))
    total = cumulative[-1]
    return [
        min(bisect.bisect_right(cumulative, rng.random() * total), len(keys) - 1) for _ in range(k)
    ]


def select_rank(
    keys: Sequence[Any], k: int, rng: random.Random, pressure: float = 1.5
) -> list[int]:
    """Linear ranking: the best gets weight ``pressure``, the worst ``2 - pressure``.

    ``pressure`` is in [1, 2]; 1 is uniform. Equal keys share the mean of their rank weights.
    """
    if not 1.0 <= pressure <= 2.0:
        raise ValueError("pressure must be in [1, 2]")
    n = len(keys)
    if n == 1:
        return [0] * k
    order = sorted(range(n), key=lambda i: keys[i])  # worst first
    weights = [0.0] * n
    rank = 0
    for _, group in itertools.groupby(order, key=lambda i: keys[i]):
        members = list(group)
        ranks = range(rank, rank + len(members))
        mean = sum((2 - pressure) + 2 * (pressure - 1) * r / (n - 1) for r in ranks) / len(members)
        for i in members:
            weights[i] = mean
        rank += len(members)
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    return [min(bisect.bisect_right(cumulative, rng.random() * total), n - 1) for _ in range(k)]


SELECTORS = ("tournament", "roulette", "rank")


def make_selector(name: str, *, tournsize: int = 3, pressure: float = 1.5) -> Selector:
    """The selector called ``name`` with its parameter bound."""
    if name == "tournament":
        if tournsize < 1:
            raise ValueError("tournsize must be >= 1")
        return lambda keys, k, rng: select_tournament(keys, k, rng, tournsize)
    if name == "roulette":
        return select_roulette
    if name == "rank":
        return lambda keys, k, rng: select_rank(keys, k, rng, pressure)
    raise ValueError(f"unknown selection {name!r}; choose one of {', '.join(SELECTORS)}")
