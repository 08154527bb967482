"""A model for notebooks and scripts that run reasoning without a server's agents service.

On the server, :class:`~.service.ReasoningService` gets its model from the
:class:`~..seams.ModelSource` seam (the agents service's backends); these functions are for
the notebook API (:mod:`.api`), the command line and Dask workers.
"""

from __future__ import annotations

from typing import Any

from ...llm import LLMProvider

__all__ = ["default_provider", "import_provider_class"]

BACKENDS = ("local", "ollama")


def import_provider_class(backend: str) -> Any:
    """The provider class of ``backend``: ``"local"`` (embedded llama.cpp) or ``"ollama"``.
    Raises ``ValueError`` for any other name."""
    if backend == "local":
        from ...llm.local import LocalProvider

        return LocalProvider
    if backend == "ollama":
        from ...llm.ollama import OllamaProvider

        return OllamaProvider
    raise ValueError(f"unknown model backend {backend!r}; one of {', '.join(BACKENDS)}")


def default_provider(backend: str = "auto", **kwargs: Any) -> LLMProvider:
    """A provider for notebooks and scripts: ``ollama``, ``local`` or ``auto``.

    ``auto`` is Ollama when a ``host`` is given, else the embedded model. Extra ``kwargs``
    are the provider's traits (``host=…``, ``parent=…``).
    """
    if backend == "auto":
        backend = "local" if not kwargs.get("host") else "ollama"
    cls = import_provider_class(backend)
    provider: LLMProvider = cls(**kwargs)
    return provider
