"""What every provider shares: the :class:`~pygent_jupyter.llm.LLMProvider` signatures written
once (:class:`BaseProvider`), the call they are turned into (:class:`ChatRequest`), error mapping
around a block (:meth:`BaseProvider.mapped`), and the accounting of a streamed answer
(:class:`StreamTally`).

A backend subclasses :class:`BaseProvider` and implements :meth:`~BaseProvider.stream` (and,
when the backend has a cheaper non-streaming call, :meth:`~BaseProvider.complete`); ``chat``
defaults to collecting the stream and ``generate`` to a one-message chat.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..protocol import ErrorCode, PygentError
from . import ChatChunk, ChatMessage, Completion, Options
from .errors import BackendError

__all__ = ["BaseProvider", "ChatRequest", "StreamTally", "collect", "finite", "mean"]


@dataclass
class ChatRequest:
    """One chat call: the messages, the model (the provider's default when none was named),
    the sampling options and the tools on offer."""

    messages: Sequence[ChatMessage]
    model: str
    options: Options | None = None
    tools: Sequence[dict[str, Any]] | None = None


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def finite(logprobs: Sequence[float]) -> list[float] | None:
    """The finite log-probabilities, or None when there are none."""
    return [lp for lp in logprobs if math.isfinite(lp)] or None


async def collect(stream: AsyncIterator[ChatChunk]) -> Completion:
    """The :class:`Completion` of a stream's final chunk."""
    async for chunk in stream:
        if chunk.done and chunk.completion is not None:
            return chunk.completion
    raise PygentError(ErrorCode.CANCELLED, "the answer ended without its final message")


@dataclass
class StreamTally:
    """The text, log-probabilities and tool calls of one streamed answer, as it arrives."""

    started: float = field(default_factory=time.perf_counter)
    first: float | None = None
    text: list[str] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    def delta(self, text: str, logprobs: Sequence[float] = ()) -> ChatChunk:
        """Record one piece of text (and its tokens' log-probs); the chunk to yield for it."""
        if self.first is None:
            self.first = time.perf_counter()
        self.text.append(text)
        return ChatChunk(delta=text, logprob=mean(logprobs))

    @property
    def answer(self) -> str:
        return "".join(self.text)


class BaseProvider:
    """The :class:`~pygent_jupyter.llm.LLMProvider` methods over :meth:`stream` and
    :meth:`complete` (see the module docstring). Mixes in with traitlets' configurables."""

    name: str = "custom"

    @property
    def default_model(self) -> str:
        raise NotImplementedError

    def request(
        self,
        messages: Sequence[ChatMessage],
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> ChatRequest:
        return ChatRequest(messages, model or self.default_model, options, tools)

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream the answer; the final chunk carries the :class:`Completion`."""
        raise NotImplementedError

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer (default: the stream, collected)."""
        return await collect(self.stream(request))

    def backend_error(self, exc: Exception, model: str | None) -> BackendError:
        """Map a client/transport exception to a :class:`BackendError` (re-raise others)."""
        raise exc

    @contextmanager
    def mapped(self, model: str | None = None) -> Iterator[None]:
        """Run the block with every failure raised as :meth:`backend_error` maps it."""
        try:
            yield
        except Exception as exc:
            raise self.backend_error(exc, model) from None

    # -- LLMProvider -------------------------------------------------------------------------

    def chat_stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """Stream the assistant's answer; the final chunk carries the :class:`Completion`."""
        return self.stream(self.request(messages, model, options, tools))

    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Completion:
        return await self.complete(self.request(messages, model, options, tools))

    async def generate(
        self, prompt: str, *, model: str | None = None, options: Options | None = None
    ) -> Completion:
        """``prompt`` as one user message (backends with a raw completion override this)."""
        return await self.chat([{"role": "user", "content": prompt}], model=model, options=options)

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        raise PygentError(ErrorCode.UNAVAILABLE, f"backend {self.name!r} serves no embeddings")

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"name": self.default_model}]

    async def health(self) -> dict[str, Any]:
        return {"state": "up"}
