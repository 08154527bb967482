"""`MemoryService`: the shared vector memory behind ``memory_add`` / ``memory_search`` /
``memory_delete`` / ``memory_stats``, each answered by ``memory_update`` with timings.

Namespaces: every user has a private namespace ``user:<name>`` (the default for every
command; nobody else can read or write it). Admins configure shared namespaces with
``c.MemoryService.shared_namespaces = {"team": {"read": ["*"], "write": ["alice"]}}``; the
rules are in :mod:`.access`.

Embedding runs in the embedder's worker thread (or over HTTP for Ollama); FAISS and file
I/O run in this service's one worker thread; SQL runs on the database thread. The event loop
only awaits.

Seams (:mod:`..seams`): memory adds :meth:`MemoryService.provide_context` (retrieval for a
chat turn) and an answer listener (auto-embedding of turns, ``auto_embed_turns``) to the
agents' ``chat_hooks``; it offers ``gpu_memory`` (:meth:`MemoryService.gpu_index_bytes`) to
the metrics service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from traitlets import Bool, Dict, Enum, Float, Int, Unicode, default

from ...protocol import ErrorCode, PygentError
from ..base import Service
from ..seams import ChatHooks, ModelSource, Publisher, Seams
from .access import NamespaceAccess, private_namespace
from .embedders import Embedder, MiniLMEmbedder, OllamaEmbedder, QueryCache
from .index import IndexConfig, gpu_count
from .store import MemoryStore, StoreError

if TYPE_CHECKING:
    from ...hub import Request
    from ...protocol.types import (
        MemoryAddData,
        MemoryDeleteData,
        MemorySearchData,
        MemoryStatsData,
    )
    from ...storage import Database

__all__ = ["MemoryService", "private_namespace"]

T = TypeVar("T")


class MemoryService(Service):
    """Per-user and shared vector memories over FAISS, persisted next to the SQLite file."""

    name = "memory"

    embedder = Enum(
        ["auto", "local", "ollama"],
        default_value="auto",
        help="Embedder for new namespaces. 'local': the embedded all-MiniLM-L6-v2 (CPU, 384 "
        "dims, needs the `local` extra). 'ollama': Ollama's /api/embed with `ollama_model`. "
        "'auto': Ollama when it answers at start with that model, else local. A namespace "
        "keeps the embedder it was created with.",
    ).tag(config=True)

    ollama_host = Unicode(
        help="Ollama's base URL for embeddings. Default: $OLLAMA_HOST, else http://127.0.0.1:11434."
    ).tag(config=True)

    @default("ollama_host")
    def _default_ollama_host(self) -> str:
        from ...llm.ollama import normalize_host

        return normalize_host(os.environ.get("OLLAMA_HOST"))

    ollama_model = Unicode(
        "nomic-embed-text", help="Ollama embedding model (e.g. nomic-embed-text, all-minilm)."
    ).tag(config=True)

    embed_backend = Unicode(
        "",
        help="Name of an OpenAI-compatible backend of the agents service (c.AgentsService."
        "backends) whose /v1/embeddings (with the backend's embed_model) embeds new namespaces "
        "when it answers at start. Empty: use `embedder`.",
    ).tag(config=True)

    data_dir = Unicode(
        help="Directory of the index files. Default: 'memory/' next to the SQLite database."
    ).tag(config=True)

    shared_namespaces = Dict(
        value_trait=Dict(),
        help="Shared namespaces: {name: {'read': [users], 'write': [users]}}; '*' means every "
        "user. Names use [A-Za-z0-9_.:-] and must not start with 'user:'.",
    ).tag(config=True)

    approx_threshold = Int(
        100_000,
        help="From this many vectors in a namespace on, an approximate index answers "
        "unfiltered searches (on the CPU; a GPU searches exactly).",
    ).tag(config=True)

    approx_kind = Enum(
        ["ivf", "hnsw", "none"],
        default_value="ivf",
        help="Approximate index: 'ivf' (IndexIVFFlat, supports deletes), 'hnsw' "
        "(IndexHNSWFlat, rebuilt after deletes) or 'none' (always exact).",
    ).tag(config=True)

    min_recall = Float(
        0.95,
        help="recall@10 against exact search the approximate index is tuned to reach "
        "(nprobe / efSearch doubled until it does).",
    ).tag(config=True)

    ivf_nlist = Int(0, help="IVF lists; 0 picks about sqrt(vectors).").tag(config=True)

    hnsw_m = Int(32, help="HNSW neighbours per node.").tag(config=True)

    exact_backend = Enum(
        ["auto", "numpy", "faiss"],
        default_value="auto",
        help="Exact search on the CPU: 'auto' = NumPy (measured faster than IndexFlatIP at "
        "every size on the reference machine), or force 'faiss'.",
    ).tag(config=True)

    use_gpu = Bool(True, help="Mirror indexes on the GPU when faiss.get_num_gpus() > 0.").tag(
        config=True
    )

    gpu_device = Int(0, help="The GPU that holds the indexes.").tag(config=True)

    save_delay = Float(
        5.0,
        help="Seconds after a change before a namespace's index file is rewritten (SQLite "
        "already holds the change; the file only speeds up the next start).",
    ).tag(config=True)

    default_k = Int(5, help="Results per search when the client gives no k.").tag(config=True)

    query_cache_size = Int(
        256,
        help="Search queries whose vectors are kept (least recently used out), so a repeated "
        "query skips the embedder. 0: no cache.",
    ).tag(config=True)

    max_items_per_user = Int(
        100_000,
        help="Most memories a user's private namespace may hold (each shared namespace is "
        "limited the same way); an add beyond it is refused with `forbidden`. 0: no limit.",
    ).tag(config=True)

    max_bytes_per_user = Int(
        256 * 1024 * 1024,
        help="Most bytes of text and metadata (UTF-8) a user's private namespace may hold "
        "(each shared namespace likewise); an add beyond it is refused with `forbidden`. "
        "0: no limit.",
    ).tag(config=True)

    ollama_read_timeout = Float(
        help="Seconds one Ollama embedding call may take in all before it fails with "
        "`timeout`. Default: c.OllamaProvider.read_timeout when set, else 60."
    ).tag(config=True)

    @default("ollama_read_timeout")
    def _default_ollama_read_timeout(self) -> float:
        return float(self._ollama_provider_setting("read_timeout", 60.0))

    ollama_connect_timeout = Float(
        help="Seconds to connect to Ollama for embeddings. Default: "
        "c.OllamaProvider.connect_timeout when set, else 5."
    ).tag(config=True)

    @default("ollama_connect_timeout")
    def _default_ollama_connect_timeout(self) -> float:
        return float(self._ollama_provider_setting("connect_timeout", 5.0))

    def _ollama_provider_setting(self, name: str, fallback: float) -> Any:
        section = self.config.get("OllamaProvider")
        if section is not None and name in section:
            return section[name]
        return fallback

    agent_context = Bool(
        True, help="Chat agents retrieve memories relevant to each user turn."
    ).tag(config=True)

    agent_k = Int(3, help="Memories retrieved per chat turn.").tag(config=True)

    agent_min_score = Float(
        0.3, help="Retrieved memories scoring below this (cosine) are not used."
    ).tag(config=True)

    auto_embed_turns = Bool(
        False,
        help="Store every chat turn (user and agent) in the user's private namespace.",
    ).tag(config=True)

    def __init__(self, hub: Publisher, **kwargs: Any) -> None:
        super().__init__(hub, **kwargs)
        self._hooks: ChatHooks | None = None
        self._models: ModelSource | None = None
        self.store: MemoryStore | None = None
        self.embedders: dict[str, Embedder] = {}
        self.preferred: Embedder | None = None
        self.query_cache = QueryCache(self.query_cache_size)
        self._executor: ThreadPoolExecutor | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._save_error: str | None = None
        self._unhook: Callable[[], None] | None = None
        self._unhook_answers: Callable[[], None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._usage: dict[str, list[int]] = {}  # namespace -> [items, bytes], filled lazily
        NamespaceAccess(self.shared_namespaces)  # refuses a bad configuration now

    def offers(self) -> Seams:
        """GPU memory held by the indexes, for the metrics service."""
        return Seams(gpu_memory=self)

    def bind(self, db: Database | None, seams: Seams) -> None:
        super().bind(db, seams)
        self._hooks = seams.chat_hooks
        self._models = seams.models

    @property
    def access(self) -> NamespaceAccess:
        """The namespace access rules of the current ``shared_namespaces``."""
        return NamespaceAccess(self.shared_namespaces)

    # -- lifecycle ------------------------------------------------------------------------

    def index_config(self) -> IndexConfig:
        return IndexConfig(
            approx_threshold=self.approx_threshold,
            approx_kind=self.approx_kind,  # type: ignore[arg-type]
            min_recall=self.min_recall,
            ivf_nlist=self.ivf_nlist,
            hnsw_m=self.hnsw_m,
            exact_backend=self.exact_backend,  # type: ignore[arg-type]
            use_gpu=self.use_gpu,
            gpu_device=self.gpu_device,
        )

    def _directory(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir)
        db = self.db
        if db is None or str(db.path) == ":memory:":
            raise RuntimeError("MemoryService needs the project's SQLite database file")
        return Path(db.path).parent / "memory"

    async def start(self) -> None:
        """Open the store (verifying every index file against SQLite) and pick embedders."""
        db = self.db
        if db is None:
            raise RuntimeError("MemoryService needs the project's SQLite database")
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pygent-memory")
        directory = self._directory()
        store = await self._run(
            lambda: MemoryStore(db, directory, self.index_config(), log=self.log)
        )
        self.store = store
        # Verify/load every namespace on the worker thread without holding up the server's
        # start; commands queue behind it on the same thread.
        loading = asyncio.ensure_future(self._open_all(store))
        self._background.add(loading)
        loading.add_done_callback(self._background.discard)
        await self._setup_embedders()
        self._flusher = asyncio.ensure_future(self._flush_loop())
        if self._hooks is not None:
            self._unhook = self._hooks.add_context_provider(self.provide_context)
            self._unhook_answers = self._hooks.add_answer_listener(self._remember_answer)

    async def _open_all(self, store: MemoryStore) -> None:
        started = time.perf_counter()
        opened = await self._run(store.open_all)
        rebuilt = sorted(n for n, how in opened.items() if how != "file")
        if rebuilt:
            self.log.warning("memory: rebuilt %d index(es) from SQLite: %s", len(rebuilt), rebuilt)
        self.log.info(
            "memory: %d namespace(s) ready in %.2f s", len(opened), time.perf_counter() - started
        )

    async def _setup_embedders(self) -> None:
        local = MiniLMEmbedder()
        if local.available():
            self.embedders[local.name] = local
        if self.embedder in ("auto", "ollama"):
            ollama = OllamaEmbedder(
                self.ollama_host,
                self.ollama_model,
                timeout=self.ollama_read_timeout,
                connect_timeout=self.ollama_connect_timeout,
            )
            self.embedders[ollama.name] = ollama
            if self.embedder == "ollama":
                self.preferred = ollama
            else:
                try:
                    up = await asyncio.wait_for(ollama.probe(), 3.0)
                except asyncio.TimeoutError:
                    up = False
                self.preferred = ollama if up else self.embedders.get(local.name)
        else:
            self.preferred = self.embedders.get(local.name)
        if self.embed_backend:
            await self._setup_backend_embedder()
        if self.preferred is None:
            self.log.warning(
                "memory: no embedder available (install the `local` extra for all-MiniLM-L6-v2 "
                "or run Ollama with %s)",
                self.ollama_model,
            )
        else:
            self.log.info("memory: embedding new namespaces with %s", self.preferred.name)

    async def _setup_backend_embedder(self) -> None:
        """Embed new namespaces with ``/v1/embeddings`` of the agents service's backend
        ``embed_backend`` when it answers (else keep the choice above, with a warning)."""
        from .embedders import OpenAIEmbedder

        found = self._models.backend_named(self.embed_backend) if self._models else None
        if found is None or found[0].kind != "openai":
            self.log.warning(
                "memory: embed_backend %r is not an OpenAI-compatible backend of the agents "
                "service",
                self.embed_backend,
            )
            return
        spec, provider = found
        embedder = OpenAIEmbedder(provider, spec.embed_model or spec.default_model)
        self.embedders[embedder.name] = embedder
        try:
            up = await asyncio.wait_for(embedder.probe(), 10.0)
        except asyncio.TimeoutError:
            up = False
        if up:
            self.preferred = embedder
        else:
            self.log.warning("memory: backend %r does not embed; keeping the default", spec.name)

    async def stop(self) -> None:
        for unhook in (self._unhook, self._unhook_answers):
            if unhook is not None:
                with contextlib.suppress(ValueError):
                    unhook()
        self._unhook = self._unhook_answers = None
        for task in list(self._background):
            task.cancel()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self.store is not None:
            try:
                await self._run(self.store.flush)
            except StoreError as exc:
                self.log.error("memory: final save failed: %s", exc)
            await self._run(self.store.close)
            self.store = None
        for embedder in self.embedders.values():
            close = getattr(embedder, "close", None)
            if close is not None:
                close()
        self.embedders.clear()
        self.query_cache.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _flush_loop(self) -> None:
        interval = max(0.2, self.save_delay / 2)
        while True:
            await asyncio.sleep(interval)
            await self.flush(older_than=self.save_delay)

    async def flush(self, older_than: float = 0.0) -> list[str]:
        """Save changed index files now; errors are logged and shown in :meth:`health`."""
        if self.store is None:
            return []
        try:
            saved = await self._run(self.store.flush, older_than=older_than)
        except StoreError as exc:
            if self._save_error != str(exc):
                self.log.error("memory: %s", exc)
            self._save_error = str(exc)
            return []
        self._save_error = None
        return saved

    def health(self) -> dict[str, Any]:
        base = super().health()
        if base["state"] != "up":
            return base
        info: dict[str, Any] = {
            "state": "up",
            "device": self.store.device if self.store else "cpu",
            "embedder": self.preferred.name if self.preferred else None,
        }
        if self.preferred is None:
            info.update(state="degraded", error="no embedder available")
        if self._save_error:
            info.update(state="degraded", error=self._save_error)
        return info

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._executor is None:
            raise PygentError(ErrorCode.UNAVAILABLE, "the memory service is not running")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def _store(self) -> MemoryStore:
        if self.store is None:
            raise PygentError(ErrorCode.UNAVAILABLE, "the memory service is not running")
        return self.store

    # -- access control (rules in .access) -----------------------------------------------

    def readable_namespaces(self, user: str) -> list[str]:
        return self.access.readable(user)

    def writable_namespaces(self, user: str) -> list[str]:
        return self.access.writable(user)

    async def _embedder_for(self, namespace: str) -> Embedder:
        store = self._store()
        info = await self._run(store.namespace_info, namespace)
        if info is not None:
            embedder = self.embedders.get(info[0])
            if embedder is None:
                raise PygentError(
                    ErrorCode.UNAVAILABLE,
                    f"namespace {namespace!r} was built with embedder {info[0]}, which is not "
                    "available on this server",
                )
            return embedder
        if self.preferred is None:
            raise PygentError(
                ErrorCode.UNAVAILABLE,
                "no embedder is available: install pygent-jupyter[local] (all-MiniLM-L6-v2) "
                "or start Ollama",
            )
        return self.preferred

    # -- core operations (used by the commands and by other services) ---------------------

    async def add(
        self, user: str, items: Sequence[Mapping[str, Any]], namespace: str | None = None
    ) -> dict[str, Any]:
        """Embed and store ``items`` (``{text, metadata?}``); returns the ``added`` payload."""
        started = time.perf_counter()
        name = self.access.resolve(user, namespace, "write")
        embedder = await self._embedder_for(name)
        texts = [str(item["text"]) for item in items]
        metadatas = [dict(item.get("metadata") or {}) for item in items]
        size = sum(
            _utf8_len(t) + _utf8_len(json.dumps(m)) for t, m in zip(texts, metadatas, strict=True)
        )
        await self._check_quota(name, len(texts), size)
        vectors = await embedder.embed(texts)
        embedded = time.perf_counter()
        store = self._store()
        try:
            ids = await self._run(store.add, name, embedder.name, texts, metadatas, vectors)
        except ValueError as exc:
            raise PygentError(ErrorCode.CONFLICT, str(exc), field="namespace") from None
        usage = self._usage.get(name)
        if usage is not None:
            usage[0] += len(ids)
            usage[1] += size
        count = await self._run(store.count, name)
        done = time.perf_counter()
        return {
            "kind": "added",
            "namespace": name,
            "ids": ids,
            "count": count,
            "embedder": embedder.name,
            "took_ms": _ms(done - started),
            "embed_ms": _ms(embedded - started),
            "store_ms": _ms(done - embedded),
        }

    async def search(
        self,
        user: str,
        query: str,
        k: int | None = None,
        namespace: str | None = None,
        metadata_filter: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``results`` payload: top-``k`` memories of the namespace for ``query``."""
        started = time.perf_counter()
        name = self.access.resolve(user, namespace, "read")
        k = k or self.default_k
        store = self._store()
        if metadata_filter:
            from .store import build_filter

            try:
                build_filter(metadata_filter)
            except ValueError as exc:
                raise PygentError(ErrorCode.INVALID, str(exc), field="filter") from None
        payload: dict[str, Any] = {
            "kind": "results",
            "namespace": name,
            "query": query,
            "k": k,
            "results": [],
        }
        if await self._run(store.count, name) == 0:
            payload.update(
                took_ms=_ms(time.perf_counter() - started),
                embed_ms=0.0,
                search_ms=0.0,
                method="empty",
            )
            return payload
        embedder = await self._embedder_for(name)
        vector = await self.query_cache.embed(embedder, query)
        embedded = time.perf_counter()
        try:
            hits, timings = await self._run(store.search, [name], vector, k, metadata_filter)
        except ValueError as exc:
            raise PygentError(ErrorCode.CONFLICT, str(exc), field="namespace") from None
        payload["results"] = [h.to_data() for h in hits]
        payload.update(
            took_ms=_ms(time.perf_counter() - started),
            embed_ms=_ms(embedded - started),
            **timings,
        )
        return payload

    async def delete(
        self, user: str, ids: Sequence[int], namespace: str | None = None
    ) -> dict[str, Any]:
        """The ``deleted`` payload. Ids the user may not delete are reported as ``missing``."""
        started = time.perf_counter()
        names = (
            [self.access.resolve(user, namespace, "write")]
            if namespace is not None
            else self.writable_namespaces(user)
        )
        store = self._store()
        deleted = await self._run(store.delete, names, ids)
        for name in deleted:
            self._usage.pop(name, None)  # recounted at the next add
        gone = sorted(i for ids_ in deleted.values() for i in ids_)
        missing = sorted(set(int(i) for i in ids) - set(gone))
        return {
            "kind": "deleted",
            "ids": gone,
            "missing": missing,
            "namespaces": {n: len(v) for n, v in deleted.items()},
            "took_ms": _ms(time.perf_counter() - started),
        }

    async def _check_quota(self, namespace: str, items: int, size: int) -> None:
        """Raise ``forbidden`` when adding ``items`` memories of ``size`` bytes would pass
        ``max_items_per_user`` or ``max_bytes_per_user`` for ``namespace``."""
        if self.max_items_per_user <= 0 and self.max_bytes_per_user <= 0:
            return
        usage = self._usage.get(namespace)
        if usage is None:
            db = self.db
            if db is None:
                return
            usage = self._usage[namespace] = list(await db.run(_usage_of, namespace))
        held, held_bytes = usage
        for kind, limit, used, extra in (
            ("items", self.max_items_per_user, held, items),
            ("bytes", self.max_bytes_per_user, held_bytes, size),
        ):
            if limit > 0 and used + extra > limit:
                raise PygentError(
                    ErrorCode.FORBIDDEN,
                    f"namespace {namespace!r} would exceed its quota of {limit} {kind} "
                    f"(it holds {used}; this add brings {extra}); delete memories with "
                    "memory_delete or ask the admin to raise "
                    f"c.MemoryService.max_{kind}_per_user",
                    field="data.items",
                    details={"quota": kind, "limit": limit, "used": used, "requested": extra},
                )

    async def stats(self, user: str, namespace: str | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        names = (
            [self.access.resolve(user, namespace, "read")]
            if namespace is not None
            else self.readable_namespaces(user)
        )
        store = self._store()
        per = [await self._run(store.stats, n) for n in names]
        return {
            "kind": "stats",
            "namespaces": per,
            "device": store.device,
            "gpus": gpu_count(),
            "gpu_index_bytes": {str(k): v for k, v in self.gpu_index_bytes().items()},
            "embedder": self.preferred.name if self.preferred else None,
            "took_ms": _ms(time.perf_counter() - started),
        }

    def gpu_index_bytes(self) -> dict[int, int]:
        """``{gpu_index: bytes}`` held by memory indexes on each GPU; ``{}`` without a GPU.

        Cheap and non-blocking (reads sizes only); for the metrics service's ``gpu_metrics``.
        """
        store = self.store
        return store.gpu_index_bytes() if store is not None else {}

    # -- agents integration ---------------------------------------------------------------

    async def provide_context(self, user: str, text: str, **_: Any) -> list[dict[str, Any]]:
        """Memories relevant to a chat turn, for the agent's prompt and
        ``chat_response.metadata.memories``: ``[{"content", "id", "score", "namespace",
        "metadata"}]``. Registered with the agents service's ``add_context_provider`` at start.

        Returns ``[]`` when ``agent_context`` is off, nothing is stored, or embedding is
        unavailable (a chat turn never fails because of memory). With ``auto_embed_turns``
        the user's turn is then stored (after retrieval, so it never retrieves itself).
        """
        if self.store is None or not text.strip():
            return []
        payload: dict[str, Any] = {"results": []}
        if self.agent_context:
            try:
                payload = await self.search(user, text, k=self.agent_k)
            except PygentError as exc:
                self.log.debug("memory: no context for chat turn: %s", exc.message)
        if self.auto_embed_turns:
            task = asyncio.ensure_future(self.remember_turn(user, "user", text))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return [
            {
                "content": r["text"],
                "id": r["id"],
                "score": r["score"],
                "namespace": r["namespace"],
                "metadata": r["metadata"],
            }
            for r in payload["results"]
            if r["score"] >= self.agent_min_score
        ]

    async def _remember_answer(
        self, user: str, conversation_id: str, text: str, metadata: Mapping[str, Any]
    ) -> None:
        await self.remember_turn(
            user, "assistant", text, {"conversation_id": conversation_id, **metadata}
        )

    async def remember_turn(
        self, user: str, role: str, text: str, metadata: Mapping[str, Any] | None = None
    ) -> list[int]:
        """Store a chat turn in the user's private namespace if ``auto_embed_turns`` is on."""
        if not self.auto_embed_turns or self.store is None or not text.strip():
            return []
        meta = {"source": "chat", "role": role, **dict(metadata or {})}
        try:
            payload = await self.add(user, [{"text": text, "metadata": meta}])
        except PygentError as exc:
            self.log.debug("memory: chat turn not stored: %s", exc.message)
            return []
        ids: list[int] = payload["ids"]
        return ids

    # -- socket commands ------------------------------------------------------------------

    def commands(self) -> Mapping[str, Callable[[Request], Awaitable[None]]]:
        return {
            "memory_add": self._on_add,
            "memory_search": self._on_search,
            "memory_delete": self._on_delete,
            "memory_stats": self._on_stats,
        }

    async def _on_add(self, request: Request[MemoryAddData]) -> None:
        data = request.data
        request.reply(
            "memory_update", await self.add(request.user, data["items"], data.get("namespace"))
        )

    async def _on_search(self, request: Request[MemorySearchData]) -> None:
        data = request.data
        payload = await self.search(
            request.user, data["query"], data.get("k"), data.get("namespace"), data.get("filter")
        )
        await request.reply_large("memory_update", payload)

    async def _on_delete(self, request: Request[MemoryDeleteData]) -> None:
        data = request.data
        request.reply(
            "memory_update", await self.delete(request.user, data["ids"], data.get("namespace"))
        )

    async def _on_stats(self, request: Request[MemoryStatsData]) -> None:
        request.reply(
            "memory_update", await self.stats(request.user, request.data.get("namespace"))
        )


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 3)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "replace"))


def _usage_of(conn: Any, namespace: str) -> tuple[int, int]:
    """Items and UTF-8 bytes of text + metadata held in ``namespace`` (database thread)."""
    row = conn.execute(
        "SELECT count(*), coalesce(sum(length(CAST(text AS BLOB)) + "
        "length(CAST(metadata AS BLOB))), 0) FROM memory_items WHERE namespace=?",
        (namespace,),
    ).fetchone()
    return int(row[0]), int(row[1])
