"""Model backends: the one small async interface every LLM backend implements, and every
backend (Ollama, embedded llama.cpp, any OpenAI-compatible server).

The agents, memory (embedders), reasoning and evolution reach models through this package
only, and depend on the :class:`LLMProvider` protocol, so tests can pass a scripted model and
research code can pass any object with these methods.

Submodules:

- :mod:`.errors`: :class:`BackendError` (and :class:`OllamaError`), the one error family with
  stable codes (``unreachable``, ``timeout``, ``model_not_found``, ``rate_limited``…);
- :mod:`.base`: :class:`~.base.BaseProvider`, the provider methods written once;
- :mod:`.ollama`: :class:`OllamaProvider` (the ``ollama`` client);
- :mod:`.local`: :class:`LocalProvider` (a GGUF model run by llama.cpp in-process);
- :mod:`.openai_compat`: :class:`OpenAIProvider` (the official ``openai`` client);
- :mod:`.backends`: named backends configured by the admin, their credentials, health, and
  the choice of the one that answers.

The three providers are importable from here (``from pygent_jupyter.llm import
OllamaProvider``); their modules load on first use, so importing the contract stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, runtime_checkable

__all__ = [
    "BackendError",
    "ChatChunk",
    "ChatMessage",
    "Completion",
    "LLMProvider",
    "LocalProvider",
    "OllamaError",
    "OllamaProvider",
    "OpenAIProvider",
    "Options",
    "provider_class",
]


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


from .errors import BackendError, OllamaError  # noqa: E402  (needs nothing above)

_PROVIDERS = {
    "ollama": ("ollama", "OllamaProvider"),
    "local": ("local", "LocalProvider"),
    "openai": ("openai_compat", "OpenAIProvider"),
}


def provider_class(kind: str) -> type[Any]:
    """The provider class of a backend ``kind``: ``ollama``, ``local`` or ``openai``."""
    if kind not in _PROVIDERS:
        raise ValueError(f"unknown backend kind {kind!r}; known: {sorted(_PROVIDERS)}")
    module, name = _PROVIDERS[kind]
    cls: type[Any] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls


def __getattr__(name: str) -> Any:
    for kind, (_module, cls) in _PROVIDERS.items():
        if name == cls:
            return provider_class(kind)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from .local import LocalProvider
    from .ollama import OllamaProvider
    from .openai_compat import OpenAIProvider
