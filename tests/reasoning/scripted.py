"""A scripted, deterministic LLMProvider for reasoning tests and the concurrency benchmark.

``ScriptedProvider(respond)`` answers each ``generate`` call with ``respond(prompt, options)``
after ``latency`` seconds, records every call and the peak number in flight.
``game24_oracle`` is a responder that plays the Game of 24 prompts perfectly (real arithmetic,
brute-force solvability), so whole searches can run without a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from pygent_jupyter.llm import ChatMessage, Completion, Options
from pygent_jupyter.services.reasoning.game24 import check_answer, parse_numbers, solutions
from pygent_jupyter.testing.scripted import ScriptedLLMBase

Responder = Callable[[str, Options], str]

__all__ = ["ScriptedProvider", "game24_oracle", "paper_game24_oracle"]


class ScriptedProvider(ScriptedLLMBase):
    """An LLMProvider whose answers come from a function; counts calls and concurrency."""

    def __init__(self, respond: Responder, *, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.respond = respond
        self.calls: list[tuple[str, Options]] = []

    async def generate(
        self, prompt: str, *, model: str | None = None, options: Options | None = None
    ) -> Completion:
        opts: Options = options or {}
        self.calls.append((prompt, opts))
        async with self.call():
            text = self.respond(prompt, opts)
        return Completion(
            text=text,
            model=model or self.default_model,
            backend="scripted",
            prompt_tokens=len(prompt.split()),
            completion_tokens=len(text.split()),
        )

    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Completion:
        return await self.generate(messages[-1].get("content", ""), model=model, options=options)

    def prompts(self, contains: str = "") -> list[str]:
        return [p for p, _ in self.calls if contains in p]


# -- Game of 24 oracle -------------------------------------------------------------------------


def _fmt(value: Fraction) -> str:
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def _solvable(numbers: Sequence[Fraction]) -> bool:
    return bool(solutions(list(numbers)))


def _last_field(prompt: str, label: str) -> str:
    lines = [line for line in prompt.splitlines() if line.startswith(label)]
    return lines[-1][len(label) :].strip() if lines else ""


def _moves(numbers: list[Fraction]) -> list[tuple[str, bool]]:
    """Every ``a op b = c (left: …)`` step with whether what remains can still reach 24."""
    out: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for i in range(len(numbers)):
        for j in range(len(numbers)):
            if i == j:
                continue
            a, b = numbers[i], numbers[j]
            rest = [numbers[k] for k in range(len(numbers)) if k not in (i, j)]
            ops: list[tuple[str, Fraction]] = [("+", a + b), ("-", a - b), ("*", a * b)]
            if b != 0:
                ops.append(("/", a / b))
            for op, value in ops:
                if value < 0 or (op in "+*" and i > j):
                    continue
                left = sorted([*rest, value])
                line = (
                    f"{_fmt(a)} {op} {_fmt(b)} = {_fmt(value)} (left: {' '.join(map(_fmt, left))})"
                )
                if line not in seen:
                    seen.add(line)
                    out.append((line, _solvable(left)))
    return out


def game24_oracle(max_moves: int = 8) -> Responder:
    """A responder that answers the Game24Task prompts correctly and deterministically.

    Propose lists ``max_moves`` steps, alternating steps that keep 24 reachable and steps
    that do not (so selection and pruning matter); value says sure/impossible by brute force;
    the answer prompt gets a correct expression for the input.
    """

    def respond(prompt: str, options: Options) -> str:
        if prompt.startswith("Game of 24. Pick two"):
            numbers = parse_numbers(_last_field(prompt, "Numbers:"))
            moves = _moves(numbers)
            good = [m for m, ok in moves if ok]
            bad = [m for m, ok in moves if not ok]
            mixed: list[str] = []
            while (good or bad) and len(mixed) < max_moves:
                if bad:
                    mixed.append(bad.pop(0))
                if good and len(mixed) < max_moves:
                    mixed.append(good.pop(0))
            return "\n".join(mixed)
        if prompt.startswith("Game of 24: use every input number"):
            puzzle = _last_field(prompt, "Input:")
            found = solutions([int(n) for n in parse_numbers(puzzle)])
            return f"Answer: {found[0]} = 24" if found else "Answer: none"
        if prompt.startswith("Can these numbers reach exactly 24"):
            numbers = parse_numbers(_last_field(prompt, "Numbers:"))
            return "thinking\nsure" if _solvable(numbers) else "thinking\nimpossible"
        if prompt.startswith("Game of 24. Does the answer"):
            puzzle = _last_field(prompt, "Input:")
            answer = _last_field(prompt, "Answer:")
            return "checked\nsure" if check_answer(puzzle, answer) else "checked\nimpossible"
        return "impossible"

    return respond


# -- the paper's prompts (tree-of-thoughts-llm), played perfectly -------------------------------


def paper_game24_oracle(max_moves: int = 8) -> Responder:
    """Like :func:`game24_oracle`, for the official package's Game of 24 prompts: proposals
    alternate dead and live steps, values end with an exact ``sure``/``impossible`` line."""

    def respond(prompt: str, options: Options) -> str:
        lines = prompt.rstrip("\n").split("\n")
        if prompt.endswith("Possible next steps:\n"):
            numbers = parse_numbers(lines[-2][len("Input:") :])
            moves = _moves(numbers)
            good = [m for m, ok in moves if ok]
            bad = [m for m, ok in moves if not ok]
            mixed: list[str] = []
            while (good or bad) and len(mixed) < max_moves:
                if bad:
                    mixed.append(bad.pop(0))
                if good and len(mixed) < max_moves:
                    mixed.append(good.pop(0))
            return "\n".join(mixed)
        if prompt.startswith("Use numbers and basic") and "Steps:" in prompt.split("Input: ")[-1]:
            puzzle = prompt.split("Input: ")[-1].split("\n")[0]
            found = solutions([int(n) for n in parse_numbers(puzzle)])
            return f"Answer: {found[0]} = 24" if found else "Answer: none"
        if prompt.endswith("Judge:"):
            puzzle = lines[-3][len("Input: ") :]
            answer = lines[-2][len("Answer: ") :]
            return "sure" if check_answer(puzzle, answer) else "impossible"
        if prompt.startswith("Evaluate if given numbers can reach 24"):
            numbers = parse_numbers(lines[-1])
            return "thinking\nsure" if _solvable(numbers) else "thinking\nimpossible"
        return ""

    return respond
