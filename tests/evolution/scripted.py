"""A scripted chat model for evolution tests: its answers depend on the whole conversation
(system prompt, few-shot turns, sampling options), so better variants measurably score better.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pygent_jupyter.llm import ChatMessage, Completion, Options
from pygent_jupyter.testing.scripted import ScriptedLLMBase

Responder = Callable[[Sequence[ChatMessage], Options], str]


class ScriptedChatModel(ScriptedLLMBase):
    """An LLMProvider answering ``chat`` with ``respond(messages, options)``.

    Tokens are counted as words. Records calls, in-flight peak and cancellations.
    """

    def __init__(self, respond: Responder, *, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.respond = respond
        self.calls: list[tuple[list[ChatMessage], Options]] = []

    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Completion:
        opts: Options = options or {}
        self.calls.append((list(messages), opts))
        async with self.call():
            text = self.respond(messages, opts)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        return Completion(
            text=text,
            model=model or self.default_model,
            backend="scripted",
            prompt_tokens=prompt_tokens,
            completion_tokens=len(text.split()),
        )

    async def generate(
        self, prompt: str, *, model: str | None = None, options: Options | None = None
    ) -> Completion:
        return await self.chat([{"role": "user", "content": prompt}], model=model, options=options)


KEY_PHRASE = "Reply with only the number."


def system_of(messages: Sequence[ChatMessage]) -> str:
    return next((str(m.get("content", "")) for m in messages if m.get("role") == "system"), "")


def arithmetic_responder(messages: Sequence[ChatMessage], options: Options) -> str:
    """Computes ``a + b`` from the last user turn. It answers with the bare number only when
    the system prompt contains :data:`KEY_PHRASE`; otherwise it rambles (wrong for ``exact``).
    Prompts for the LLM operators get the key phrase added (EvoPrompt-style improvement)."""
    last = str(messages[-1].get("content", ""))
    if "<prompt>" in last:
        original = last.split("Prompt: ", 1)[1].split("\n", 1)[0] if "Prompt: " in last else ""
        return f"Here you go.\n<prompt>{original} {KEY_PHRASE}</prompt>"
    numbers = [int(t) for t in last.replace("?", " ").split() if t.lstrip("-").isdigit()]
    total = sum(numbers)
    if KEY_PHRASE.lower() in system_of(messages).lower():
        return str(total)
    return f"Let me think about this question carefully. The sum is {total} I believe."
