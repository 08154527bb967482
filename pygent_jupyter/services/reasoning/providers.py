"""Finding an LLM provider for reasoning: the agents service's active one, or a default."""

from __future__ import annotations

import importlib
from typing import Any

from ...llm import LLMProvider

__all__ = ["default_provider", "import_provider_class"]

_PATHS = {
    "local": [
        "pygent_jupyter.services.agents.providers.local:LocalProvider",
        "pygent_jupyter.services.agents.local:LocalProvider",
    ],
    "ollama": [
        "pygent_jupyter.services.agents.providers.ollama:OllamaProvider",
        "pygent_jupyter.services.agents.ollama:OllamaProvider",
    ],
}


def import_provider_class(backend: str) -> Any:
    """The provider class of ``backend`` (``"local"`` or ``"ollama"``)."""
    errors = []
    for spec in _PATHS.get(backend, []):
        module, _, name = spec.partition(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            errors.append(f"{spec}: {exc}")
    raise ImportError(f"no {backend!r} provider available ({'; '.join(errors) or 'unknown'})")


def default_provider(backend: str = "auto", **kwargs: Any) -> LLMProvider:
    """A provider for notebooks and scripts: ``ollama``, ``local`` or ``auto``.

    ``auto`` picks Ollama when a model name is not a local GGUF and Ollama's client is
    importable, otherwise the embedded model. Extra ``kwargs`` are traits (``host=…``).
    """
    if backend == "auto":
        backend = "local" if not kwargs.get("host") else "ollama"
    cls = import_provider_class(backend)
    provider: LLMProvider = cls(**kwargs)
    return provider


def service_provider(hub: Any) -> LLMProvider | None:
    """The agents service's active provider, when that service exposes one."""
    agents = hub.service("agents") if hub is not None else None
    if agents is None:
        return None
    for attr in ("provider", "active_provider"):
        value = getattr(agents, attr, None)
        if callable(value) and not isinstance(value, LLMProvider):
            value = value()
        if value is not None and isinstance(value, LLMProvider):
            return value
    for method in ("get_provider", "current_provider"):
        fn = getattr(agents, method, None)
        if callable(fn):
            value = fn()
            if isinstance(value, LLMProvider):
                return value
    return None
