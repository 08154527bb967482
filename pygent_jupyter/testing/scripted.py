"""The boilerplate every scripted (deterministic, model-free) LLMProvider shares.

Subclasses implement ``chat`` (and ``generate`` when prompts matter) and wrap each call in
``async with self.call():`` to get latency, in-flight and cancellation accounting; streaming
(the whole ``chat`` answer as one delta), ``generate`` (a one-message chat), embeddings, the
model list and health come from here and from :class:`~pygent_jupyter.llm.base.BaseProvider`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from ..llm import ChatChunk, Completion
from ..llm.base import BaseProvider, ChatRequest

__all__ = ["ScriptedLLMBase"]


class ScriptedLLMBase(BaseProvider):
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

    async def complete(self, request: ChatRequest) -> Completion:
        raise NotImplementedError("a scripted model implements chat()")

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """The whole ``chat`` answer as one delta (none when empty), then the final chunk."""
        completion = await self.chat(
            request.messages, model=request.model, options=request.options, tools=request.tools
        )
        if completion.text:
            yield ChatChunk(delta=completion.text)
        yield ChatChunk(delta="", done=True, completion=completion)

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        return [[float(len(t))] for t in texts]
