"""Genome kinds and their variation operators.

A genome *spec* knows how to create, vary, key, serialize and measure the diversity of one
kind of genome. Genomes themselves are immutable (tuples or frozen dataclasses) so they can be
cache keys and never need copying.

Randomness contract: an operator takes a :class:`Random` and draws from it
*synchronously*, before returning. An operator may return an awaitable (LLM-driven operators
do); it must then have drawn what it needs from ``rng`` before returning it, so that runs stay
reproducible when such awaitables are resolved concurrently.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Hashable, Sequence
from dataclasses import asdict, dataclass, field, replace
from random import Random
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = [
    "AgentGenome",
    "AgentGenomeSpec",
    "BitString",
    "GenomeSpec",
    "RealVector",
    "cx_one_point",
    "cx_two_point",
    "cx_uniform",
    "mut_flip_bit",
    "mut_gaussian",
    "text_crossover",
    "text_mutate",
]

G = TypeVar("G")
MaybeAwaitable = Any  # G | Awaitable[G]; kept loose so sync specs stay simply typed


@runtime_checkable
class GenomeSpec(Protocol[G]):
    """What the engine needs from a kind of genome."""

    kind: str

    @property
    def async_operators(self) -> bool:
        """True when :meth:`crossover` or :meth:`mutate` may return awaitables."""
        ...

    def random(self, rng: Random) -> G: ...

    def crossover(self, a: G, b: G, rng: Random) -> MaybeAwaitable:
        """Two children (``tuple[G, G]``), or an awaitable of them."""
        ...

    def mutate(self, g: G, rng: Random) -> MaybeAwaitable:
        """One mutant, or an awaitable of it."""
        ...

    def key(self, g: G) -> Hashable: ...

    def to_json(self, g: G) -> Any: ...

    def from_json(self, data: Any) -> G: ...

    def diversity(self, genomes: Sequence[G]) -> float:
        """0 (all identical) … 1 (maximally spread)."""
        ...

    def describe(self) -> dict[str, Any]: ...


# -- fixed-length sequence operators (DEAP semantics) ------------------------------------


def cx_one_point(a: tuple[Any, ...], b: tuple[Any, ...], rng: Random) -> tuple[Any, Any]:
    """Swap the tails after one random cut point (1 … len-1)."""
    size = min(len(a), len(b))
    if size < 2:
        return a, b
    cut = rng.randint(1, size - 1)
    return a[:cut] + b[cut:], b[:cut] + a[cut:]


def cx_two_point(a: tuple[Any, ...], b: tuple[Any, ...], rng: Random) -> tuple[Any, Any]:
    """Swap the segment between two cut points, drawn exactly like DEAP's ``cxTwoPoint``."""
    size = min(len(a), len(b))
    if size < 2:
        return a, b
    p1 = rng.randint(1, size)
    p2 = rng.randint(1, size - 1)
    if p2 >= p1:
        p2 += 1
    else:
        p1, p2 = p2, p1
    return a[:p1] + b[p1:p2] + a[p2:], b[:p1] + a[p1:p2] + b[p2:]


def cx_uniform(
    a: tuple[Any, ...], b: tuple[Any, ...], rng: Random, indpb: float = 0.5
) -> tuple[Any, Any]:
    """Swap each position independently with probability ``indpb``."""
    c1, c2 = list(a), list(b)
    for i in range(min(len(a), len(b))):
        if rng.random() < indpb:
            c1[i], c2[i] = c2[i], c1[i]
    return tuple(c1), tuple(c2)


def mut_flip_bit(g: tuple[int, ...], rng: Random, indpb: float) -> tuple[int, ...]:
    """Flip each bit independently with probability ``indpb`` (DEAP's ``mutFlipBit``)."""
    r = rng.random
    return tuple([1 - x if r() < indpb else x for x in g])


def mut_gaussian(
    g: tuple[float, ...],
    rng: Random,
    sigma: float,
    indpb: float,
    low: float | None = None,
    high: float | None = None,
) -> tuple[float, ...]:
    """Add N(0, sigma) to each gene with probability ``indpb``, clipped to [low, high]."""
    out = []
    for x in g:
        if rng.random() < indpb:
            x = x + rng.gauss(0.0, sigma)
            if low is not None:
                x = max(low, x)
            if high is not None:
                x = min(high, x)
        out.append(x)
    return tuple(out)


_CROSSOVERS = {"one_point": cx_one_point, "two_point": cx_two_point, "uniform": cx_uniform}


# -- bit strings ----------------------------------------------------------------------------


@dataclass
class BitString:
    """Fixed-length tuples of 0/1. ``crossover``: one_point | two_point | uniform."""

    length: int
    indpb: float = 0.05
    crossover_kind: str = "two_point"
    kind: str = field(default="bits", init=False)
    async_operators: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError("length must be >= 1")
        if self.crossover_kind not in _CROSSOVERS:
            raise ValueError(f"unknown crossover {self.crossover_kind!r}")
        self._cx = _CROSSOVERS[self.crossover_kind]

    def random(self, rng: Random) -> tuple[int, ...]:
        r = rng.random
        return tuple([1 if r() < 0.5 else 0 for _ in range(self.length)])

    def crossover(
        self, a: tuple[int, ...], b: tuple[int, ...], rng: Random
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return self._cx(a, b, rng)

    def mutate(self, g: tuple[int, ...], rng: Random) -> tuple[int, ...]:
        return mut_flip_bit(g, rng, self.indpb)

    def key(self, g: tuple[int, ...]) -> Hashable:
        return g

    def to_json(self, g: tuple[int, ...]) -> Any:
        return "".join("1" if x else "0" for x in g)

    def from_json(self, data: Any) -> tuple[int, ...]:
        return tuple(1 if c == "1" else 0 for c in data)

    def diversity(self, genomes: Sequence[tuple[int, ...]]) -> float:
        """Mean pairwise Hamming distance / length, normalised so 1 = half the bits differ."""
        n = len(genomes)
        if n < 2:
            return 0.0
        total = 0.0
        for column in zip(*genomes, strict=False):
            ones = sum(column)
            total += ones * (n - ones)
        pairs = n * (n - 1) / 2
        return min(1.0, 2.0 * total / (pairs * self.length))

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "length": self.length,
            "indpb": self.indpb,
            "crossover": self.crossover_kind,
        }


# -- real vectors ---------------------------------------------------------------------------


@dataclass
class RealVector:
    """Fixed-length tuples of floats in [low, high], Gaussian mutation, blend or uniform cx."""

    length: int
    low: float = -1.0
    high: float = 1.0
    sigma: float = 0.1
    indpb: float = 0.2
    crossover_kind: str = "blend"
    alpha: float = 0.5
    kind: str = field(default="real", init=False)
    async_operators: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.length < 1 or self.high <= self.low:
            raise ValueError("need length >= 1 and high > low")
        if self.crossover_kind not in ("blend", *_CROSSOVERS):
            raise ValueError(f"unknown crossover {self.crossover_kind!r}")

    def random(self, rng: Random) -> tuple[float, ...]:
        return tuple(rng.uniform(self.low, self.high) for _ in range(self.length))

    def crossover(
        self, a: tuple[float, ...], b: tuple[float, ...], rng: Random
    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if self.crossover_kind != "blend":
            return _CROSSOVERS[self.crossover_kind](a, b, rng)
        c1, c2 = [], []
        for x, y in zip(a, b, strict=False):
            gamma = (1.0 + 2.0 * self.alpha) * rng.random() - self.alpha
            c1.append(self._clip((1.0 - gamma) * x + gamma * y))
            c2.append(self._clip(gamma * x + (1.0 - gamma) * y))
        return tuple(c1), tuple(c2)

    def _clip(self, x: float) -> float:
        return min(self.high, max(self.low, x))

    def mutate(self, g: tuple[float, ...], rng: Random) -> tuple[float, ...]:
        return mut_gaussian(g, rng, self.sigma, self.indpb, self.low, self.high)

    def key(self, g: tuple[float, ...]) -> Hashable:
        return g

    def to_json(self, g: tuple[float, ...]) -> Any:
        return list(g)

    def from_json(self, data: Any) -> tuple[float, ...]:
        return tuple(float(x) for x in data)

    def diversity(self, genomes: Sequence[tuple[float, ...]]) -> float:
        """Mean per-dimension standard deviation relative to that of a uniform spread."""
        n = len(genomes)
        if n < 2:
            return 0.0
        uniform_std = (self.high - self.low) / math.sqrt(12.0)
        total = 0.0
        for column in zip(*genomes, strict=False):
            mean = sum(column) / n
            total += math.sqrt(sum((x - mean) ** 2 for x in column) / n)
        return min(1.0, total / (self.length * uniform_std))

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "length": self.length,
            "low": self.low,
            "high": self.high,
            "sigma": self.sigma,
            "indpb": self.indpb,
            "crossover": self.crossover_kind,
        }


# -- text operators for prompts -------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def text_crossover(a: str, b: str, rng: Random) -> tuple[str, str]:
    """Sentence-level one-point crossover: head of one prompt + tail of the other."""
    sa, sb = _sentences(a), _sentences(b)
    if not sa or not sb:
        return a, b
    i = rng.randint(0, len(sa))
    j = rng.randint(0, len(sb))
    c1 = " ".join(sa[:i] + sb[j:]) or a
    c2 = " ".join(sb[:j] + sa[i:]) or b
    return c1, c2


def text_mutate(text: str, rng: Random, pool: Sequence[str] = ()) -> str:
    """Insert, replace, drop or swap a sentence (insert/replace draw from ``pool``)."""
    sentences = _sentences(text)
    moves = ["swap"] if len(sentences) >= 2 else []
    if len(sentences) >= 2:
        moves.append("drop")
    if pool:
        moves += ["insert", "replace"] if sentences else ["insert"]
    if not moves:
        return text
    move = rng.choice(moves)
    if move == "insert":
        sentences.insert(rng.randint(0, len(sentences)), rng.choice(list(pool)))
    elif move == "replace":
        sentences[rng.randrange(len(sentences))] = rng.choice(list(pool))
    elif move == "drop":
        del sentences[rng.randrange(len(sentences))]
    else:
        i, j = rng.sample(range(len(sentences)), 2)
        sentences[i], sentences[j] = sentences[j], sentences[i]
    return " ".join(sentences)


# -- agent genomes --------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentGenome:
    """One agent variant: what a chat agent needs to answer differently.

    ``few_shot`` holds indices into the spec's example pool; ``tools`` names a subset of the
    spec's tools.
    """

    system_prompt: str
    model: str
    temperature: float = 0.7
    top_p: float = 0.9
    few_shot: tuple[int, ...] = ()
    tools: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["few_shot"] = list(self.few_shot)
        data["tools"] = list(self.tools)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentGenome:
        return cls(
            system_prompt=str(data["system_prompt"]),
            model=str(data["model"]),
            temperature=float(data.get("temperature", 0.7)),
            top_p=float(data.get("top_p", 0.9)),
            few_shot=tuple(int(i) for i in data.get("few_shot", ())),
            tools=tuple(str(t) for t in data.get("tools", ())),
        )


class PromptOperator(Protocol):
    """An LLM-driven prompt operator (see :mod:`.llm_ops`)."""

    def mutate(self, prompt: str, rng: Random) -> Awaitable[str]: ...

    def crossover(self, a: str, b: str, rng: Random) -> Awaitable[str]: ...


@dataclass
class AgentGenomeSpec:
    """Agent genomes with one operator per gene.

    - ``system_prompt``: text crossover/mutation drawing on ``prompt_pool``, or, with
      ``llm_operator`` set, EvoPrompt-style LLM crossover/mutation with probability ``llm_rate``;
    - ``model``: uniform choice among ``models``;
    - ``temperature``/``top_p``: blend crossover, Gaussian mutation, clipped to the ranges;
    - ``few_shot``: subsets (at most ``max_few_shot``) of ``few_shot_pool`` indices;
    - ``tools``: subsets of ``tools``.

    ``mutate`` changes each gene with probability ``gene_rate`` (at least one gene).
    """

    seed_prompts: Sequence[str]
    models: Sequence[str]
    prompt_pool: Sequence[str] = ()
    temperature_range: tuple[float, float] = (0.0, 1.0)
    top_p_range: tuple[float, float] = (0.5, 1.0)
    sigma: float = 0.15
    few_shot_pool: Sequence[tuple[str, str]] = ()
    max_few_shot: int = 3
    tools: Sequence[str] = ()
    gene_rate: float = 0.3
    llm_operator: PromptOperator | None = None
    llm_rate: float = 1.0
    evolve: Sequence[str] = ("system_prompt", "model", "temperature", "top_p", "few_shot", "tools")
    kind: str = field(default="agent", init=False)

    def __post_init__(self) -> None:
        if not self.seed_prompts:
            raise ValueError("seed_prompts must not be empty")
        if not self.models:
            raise ValueError("models must not be empty")
        unknown = set(self.evolve) - set(_AGENT_GENES)
        if unknown:
            raise ValueError(f"unknown genes {sorted(unknown)}; known: {list(_AGENT_GENES)}")

    @property
    def async_operators(self) -> bool:
        return self.llm_operator is not None

    # -- creation ---------------------------------------------------------------------------

    def random(self, rng: Random) -> AgentGenome:
        lo, hi = self.temperature_range
        plo, phi = self.top_p_range
        shots: tuple[int, ...] = ()
        if self.few_shot_pool and "few_shot" in self.evolve:
            k = rng.randint(0, min(self.max_few_shot, len(self.few_shot_pool)))
            shots = tuple(sorted(rng.sample(range(len(self.few_shot_pool)), k)))
        tools: tuple[str, ...] = tuple(self.tools)
        if self.tools and "tools" in self.evolve:
            tools = tuple(t for t in self.tools if rng.random() < 0.5)
        return AgentGenome(
            system_prompt=rng.choice(list(self.seed_prompts)),
            model=rng.choice(list(self.models)) if "model" in self.evolve else self.models[0],
            temperature=round(rng.uniform(lo, hi), 3) if "temperature" in self.evolve else lo,
            top_p=round(rng.uniform(plo, phi), 3) if "top_p" in self.evolve else phi,
            few_shot=shots,
            tools=tools,
        )

    # -- variation --------------------------------------------------------------------------

    def crossover(self, a: AgentGenome, b: AgentGenome, rng: Random) -> MaybeAwaitable:
        fields_a: dict[str, Any] = {}
        fields_b: dict[str, Any] = {}
        for gene in self.evolve:
            if gene == "system_prompt":
                continue
            x, y = getattr(a, gene), getattr(b, gene)
            if gene in ("temperature", "top_p"):
                lo, hi = self.temperature_range if gene == "temperature" else self.top_p_range
                w = rng.random()
                fields_a[gene] = round(_clip(w * x + (1 - w) * y, lo, hi), 3)
                fields_b[gene] = round(_clip((1 - w) * x + w * y, lo, hi), 3)
            elif rng.random() < 0.5:
                fields_a[gene], fields_b[gene] = y, x
        c1, c2 = replace(a, **fields_a), replace(b, **fields_b)
        if "system_prompt" not in self.evolve:
            return c1, c2
        if self.llm_operator is not None and rng.random() < self.llm_rate:
            sub1, sub2 = Random(rng.getrandbits(64)), Random(rng.getrandbits(64))
            op = self.llm_operator
            pa, pb = a.system_prompt, b.system_prompt

            async def llm_children() -> tuple[AgentGenome, AgentGenome]:
                p1 = await op.crossover(pa, pb, sub1)
                p2 = await op.crossover(pb, pa, sub2)
                return replace(c1, system_prompt=p1), replace(c2, system_prompt=p2)

            return llm_children()
        p1, p2 = text_crossover(a.system_prompt, b.system_prompt, rng)
        return replace(c1, system_prompt=p1), replace(c2, system_prompt=p2)

    def mutate(self, g: AgentGenome, rng: Random) -> MaybeAwaitable:
        """Mutate genes; retries (up to 5 times) when the draw happened to change nothing."""
        for _ in range(5):
            mutant = self._mutate_once(g, rng)
            if mutant != g:
                break
        return mutant

    def _mutate_once(self, g: AgentGenome, rng: Random) -> MaybeAwaitable:
        genes = [gene for gene in self.evolve if rng.random() < self.gene_rate]
        if not genes:
            genes = [rng.choice(list(self.evolve))]
        changes: dict[str, Any] = {}
        llm_prompt: tuple[str, Random] | None = None
        for gene in genes:
            if gene == "system_prompt":
                if self.llm_operator is not None and rng.random() < self.llm_rate:
                    llm_prompt = (g.system_prompt, Random(rng.getrandbits(64)))
                else:
                    changes[gene] = text_mutate(g.system_prompt, rng, self.prompt_pool)
            elif gene == "model":
                others = [m for m in self.models if m != g.model]
                changes[gene] = rng.choice(others) if others else g.model
            elif gene in ("temperature", "top_p"):
                lo, hi = self.temperature_range if gene == "temperature" else self.top_p_range
                value = getattr(g, gene) + rng.gauss(0.0, self.sigma * (hi - lo))
                changes[gene] = round(_clip(value, lo, hi), 3)
            elif gene == "few_shot":
                changes[gene] = self._mutate_shots(g.few_shot, rng)
            elif gene == "tools" and self.tools:
                flip = rng.choice(list(self.tools))
                current = set(g.tools) ^ {flip}
                changes[gene] = tuple(t for t in self.tools if t in current)
        mutant = replace(g, **changes)
        if llm_prompt is None:
            return mutant
        op = self.llm_operator
        assert op is not None
        prompt, sub = llm_prompt

        async def llm_mutant() -> AgentGenome:
            return replace(mutant, system_prompt=await op.mutate(prompt, sub))

        return llm_mutant()

    def _mutate_shots(self, shots: tuple[int, ...], rng: Random) -> tuple[int, ...]:
        pool = range(len(self.few_shot_pool))
        if not self.few_shot_pool:
            return shots
        current = list(shots)
        unused = [i for i in pool if i not in current]
        moves = []
        if current:
            moves.append("drop")
        if unused and len(current) < self.max_few_shot:
            moves.append("add")
        if unused and current:
            moves.append("swap")
        if not moves:
            return shots
        move = rng.choice(moves)
        if move == "drop":
            current.pop(rng.randrange(len(current)))
        elif move == "add":
            current.append(rng.choice(unused))
        else:
            current[rng.randrange(len(current))] = rng.choice(unused)
        return tuple(sorted(current))

    # -- bookkeeping ------------------------------------------------------------------------

    def key(self, g: AgentGenome) -> Hashable:
        return g

    def to_json(self, g: AgentGenome) -> Any:
        return g.to_json()

    def from_json(self, data: Any) -> AgentGenome:
        return AgentGenome.from_json(data)

    def diversity(self, genomes: Sequence[AgentGenome]) -> float:
        """Share of distinct variants, averaged with the share of distinct prompts."""
        n = len(genomes)
        if n < 2:
            return 0.0
        distinct = (len(set(genomes)) - 1) / (n - 1)
        prompts = (len({g.system_prompt for g in genomes}) - 1) / (n - 1)
        return (distinct + prompts) / 2

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "models": list(self.models),
            "seed_prompts": len(self.seed_prompts),
            "prompt_pool": len(self.prompt_pool),
            "few_shot_pool": len(self.few_shot_pool),
            "tools": list(self.tools),
            "evolve": list(self.evolve),
            "llm_operator": self.llm_operator is not None,
        }


_AGENT_GENES = ("system_prompt", "model", "temperature", "top_p", "few_shot", "tools")


def _clip(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))
