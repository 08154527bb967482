"""EvoPrompt-style prompt operators: the LLM itself mutates and crosses over prompts.

Templates follow EvoPrompt's GA variant (Guo et al., 2023): crossover asks the model to combine
two prompts and then mutate the result; mutation asks for a rewrite. The new prompt is read from
``<prompt>…</prompt>``; an unusable reply leaves the prompt unchanged.

Per the randomness contract of :mod:`.genomes`, each call draws its sampling seed from ``rng``
immediately and returns a coroutine, so concurrent LLM calls keep runs reproducible with a
deterministic model.
"""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable
from typing import Any

from ...llm import LLMProvider, Options

__all__ = ["CROSSOVER_TEMPLATE", "MUTATION_TEMPLATE", "LLMPromptOperator", "extract_prompt"]

CROSSOVER_TEMPLATE = (
    "Please follow the instruction step-by-step to generate a better prompt.\n"
    "1. Cross over the following prompts and generate a new prompt:\n"
    "Prompt 1: {a}\n"
    "Prompt 2: {b}\n"
    "2. Mutate the prompt generated in Step 1 and generate a final prompt bracketed with "
    "<prompt> and </prompt>."
)

MUTATION_TEMPLATE = (
    "Please rewrite the following prompt for an AI assistant so that it gets more answers "
    "right. Keep the same task and keep it short.\n"
    "Prompt: {prompt}\n"
    "Give the new prompt bracketed with <prompt> and </prompt>."
)

_PROMPT = re.compile(r"<prompt>(.*?)</prompt>", re.DOTALL | re.IGNORECASE)


def extract_prompt(text: str, max_chars: int = 4000) -> str | None:
    """The last ``<prompt>…</prompt>`` in ``text``, stripped; None if absent, empty or too long."""
    found = _PROMPT.findall(text)
    if not found:
        return None
    prompt = str(found[-1]).strip()
    if not prompt or len(prompt) > max_chars:
        return None
    return prompt


class LLMPromptOperator:
    """Prompt mutation and crossover through an :class:`~pygent_jupyter.llm.LLMProvider`.

    ``tokens`` counts the tokens these calls used (the engine adds them to the token budget);
    ``calls`` and ``failures`` (unusable replies or provider errors) are kept for reports.
    """

    def __init__(
        self,
        provider: LLMProvider,
        *,
        model: str | None = None,
        temperature: float = 0.8,
        max_tokens: int = 256,
        mutation_template: str = MUTATION_TEMPLATE,
        crossover_template: str = CROSSOVER_TEMPLATE,
    ) -> None:
        self.provider = provider
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.mutation_template = mutation_template
        self.crossover_template = crossover_template
        self.tokens = 0
        self.calls = 0
        self.failures = 0

    def mutate(self, prompt: str, rng: random.Random) -> Awaitable[str]:
        seed = rng.getrandbits(31)
        return self._ask(self.mutation_template.format(prompt=prompt), seed, prompt)

    def crossover(self, a: str, b: str, rng: random.Random) -> Awaitable[str]:
        seed = rng.getrandbits(31)
        return self._ask(self.crossover_template.format(a=a, b=b), seed, a)

    async def _ask(self, text: str, seed: int, fallback: str) -> str:
        options: Options = {
            "temperature": self.temperature,
            "seed": seed,
            "num_predict": self.max_tokens,
        }
        self.calls += 1
        try:
            completion = await self.provider.chat(
                [{"role": "user", "content": text}], model=self.model, options=options
            )
        except Exception:
            self.failures += 1
            return fallback
        self.tokens += completion.prompt_tokens + completion.completion_tokens
        prompt = extract_prompt(completion.text)
        if prompt is None:
            self.failures += 1
            return fallback
        return prompt

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "calls": self.calls, "failures": self.failures}
