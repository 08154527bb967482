"""The boilerplate every scripted (deterministic, model-free) LLMProvider shares.

Subclasses implement ``chat`` and ``generate`` and wrap each call in ``async with
self.call():`` to get latency, in-flight and cancellation accounting; streaming, embeddings,
the model list and health come from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from ..llm import ChatChunk, ChatMessage, Completion, Options

__all__ = ["ScriptedLLMBase"]


class ScriptedLLMBase:
    """A test double of :class:`~pygent_jupyter.llm.LLMProvider`.

    ``in_flight``/``max_in_flight`` count calls inside :meth:`call`; ``cancelled`` counts the
    ones cancelled there. Each call first sleeps ``latency`` seconds.
    """

    name = "scripted"

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0

    @property
    def default_model(self) -> str:
        return "scripted-1"

    @asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """One model call: counted while it runs, delayed by ``latency``."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            yield
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Completion:
        raise NotImplementedError

    async def chat_stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """The whole ``chat`` answer as one delta, then the final chunk."""
        completion = await self.chat(messages, model=model, options=options)
        yield ChatChunk(delta=completion.text)
        yield ChatChunk(delta="", done=True, completion=completion)

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        return [[float(len(t))] for t in texts]

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"name": self.default_model}]

    async def health(self) -> dict[str, Any]:
        return {"state": "up"}
