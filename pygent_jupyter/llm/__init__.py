"""The one small async interface every LLM backend implements (Ollama, embedded llama.cpp,
any OpenAI-compatible server).

Reasoning, evolution and the agents depend on this protocol only, so tests can pass a
scripted model and research code can pass any object with these methods.

Submodules: :mod:`.openai_compat` (the ``openai`` provider over the official ``openai``
client) and :mod:`.backends` (named backends configured by the admin, their credentials,
health, and the choice of the one that answers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

__all__ = ["ChatChunk", "ChatMessage", "Completion", "LLMProvider", "Options"]


class ChatMessage(TypedDict, total=False):
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: list[dict[str, Any]]
    tool_name: str


class Options(TypedDict, total=False):
    """Sampling options, named as in Ollama's API."""

    temperature: float
    top_p: float
    top_k: int
    seed: int
    num_predict: int  # max new tokens
    stop: list[str]


@dataclass
class Completion:
    """A finished generation with the accounting callers report."""

    text: str
    model: str
    backend: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    eval_duration_s: float = 0.0
    prompt_eval_duration_s: float = 0.0
    load_duration_s: float = 0.0
    total_duration_s: float = 0.0
    done_reason: str | None = None
    token_logprobs: list[float] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        if self.eval_duration_s <= 0:
            return 0.0
        return self.completion_tokens / self.eval_duration_s


@dataclass
class ChatChunk:
    """One streamed piece. The last chunk has ``done=True`` and carries ``completion``."""

    delta: str
    done: bool = False
    completion: Completion | None = None
    logprob: float | None = None


@runtime_checkable
class LLMProvider(Protocol):
    """An LLM backend. ``name`` is the backend's name (``"ollama"``, ``"local"``, an admin-named
    OpenAI-compatible backend) or a test double's name."""

    name: str

    @property
    def default_model(self) -> str: ...

    def chat_stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """Stream the assistant's answer; the final chunk carries the :class:`Completion`."""
        ...

    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> Completion: ...

    async def generate(
        self, prompt: str, *, model: str | None = None, options: Options | None = None
    ) -> Completion: ...

    async def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]:
        """Embeddings, one per text. Raises ``PygentError(unavailable)`` if unsupported."""
        ...

    async def list_models(self) -> list[dict[str, Any]]: ...

    async def health(self) -> dict[str, Any]: ...
