"""Namespaced memories: rows in the project's SQLite database, vectors in FAISS index files.

SQLite is the source of truth: every item (text, metadata JSON, namespace, created, vector)
is committed before an add is acknowledged, and each namespace has a ``generation`` that every
add and delete increments in the same transaction. An index file is a cache of one namespace
stamped with the generation it reflects; it is written to a temp file, fsynced and renamed,
so a crash leaves either the old or the new file. On load a file whose generation or count
disagrees with SQLite (or that does not parse) is discarded and the index is rebuilt from the
stored vectors. A failed save (disk full) raises :class:`StoreError` and leaves the previous
file in place.

Synchronous and not thread-safe: the service calls it from one worker thread. SQL runs on the
database's own thread via :meth:`Database.run_sync`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...storage import Database, transaction
from .index import IndexConfig, VectorIndex, gpu_count

__all__ = ["MIGRATIONS", "MemoryStore", "SearchHit", "StoreError"]

MIGRATIONS = [
    """
    CREATE TABLE memory_namespaces (
        name TEXT PRIMARY KEY,
        embedder TEXT NOT NULL,
        dim INTEGER NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
    );
    CREATE TABLE memory_items (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        namespace TEXT NOT NULL REFERENCES memory_namespaces(name),
        text TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX memory_items_namespace ON memory_items(namespace, id)
    """
]

_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,4}$")


class StoreError(Exception):
    """A storage failure (disk full, unreadable file). ``reason`` is a short stable word."""

    def __init__(self, message: str, reason: str = "io") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class SearchHit:
    id: int
    score: float
    text: str
    metadata: dict[str, Any]
    created: float
    namespace: str

    def to_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": round(float(self.score), 6),
            "text": self.text,
            "metadata": self.metadata,
            "created": self.created,
            "namespace": self.namespace,
        }


@dataclass
class _Namespace:
    name: str
    embedder: str
    dim: int
    index: VectorIndex
    generation: int
    saved_generation: int = -1
    loaded_from: str = "new"  # "file" | "rebuilt" | "new"
    last_save: float | None = None
    save_s: float = 0.0  # how long the last save took
    dirty_since: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class MemoryStore:
    """Namespaces of (id, text, metadata, vector) with persistent FAISS indexes."""

    def __init__(
        self,
        db: Database,
        directory: str | Path,
        config: IndexConfig | None = None,
        *,
        log: Any = None,
    ) -> None:
        self.db = db
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = config or IndexConfig()
        self.log = log
        self._namespaces: dict[str, _Namespace] = {}
        self._gpu_res: Any = None
        if self.config.use_gpu and gpu_count() > 0:
            import faiss

            self._gpu_res = faiss.StandardGpuResources()
        db.migrate("memory", MIGRATIONS)
        self._remove_temp_files()

    # -- namespaces -----------------------------------------------------------------------

    @property
    def device(self) -> str:
        return f"gpu:{self.config.gpu_device}" if self._gpu_res is not None else "cpu"

    def namespace_names(self) -> list[str]:
        rows = self.db.run_sync(
            lambda c: c.execute("SELECT name FROM memory_namespaces ORDER BY name").fetchall()
        )
        return [r[0] for r in rows]

    def namespace_info(self, name: str) -> tuple[str, int] | None:
        """``(embedder, dim)`` a namespace was created with, or None if it has no items yet."""
        ns = self._open(name)
        return (ns.embedder, ns.dim) if ns is not None else None

    def open_all(self) -> dict[str, str]:
        """Load (or rebuild) every namespace now. Returns ``{name: "file" | "rebuilt"}``."""
        return {
            name: ns.loaded_from
            for name in self.namespace_names()
            if (ns := self._open(name)) is not None
        }

    def _file(self, name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"%{ord(m.group()):02x}", name)
        return self.directory / f"{safe}.index"

    def _open(self, name: str) -> _Namespace | None:
        ns = self._namespaces.get(name)
        if ns is not None:
            return ns
        row = self.db.run_sync(
            lambda c: c.execute(
                "SELECT embedder, dim, generation FROM memory_namespaces WHERE name=?", (name,)
            ).fetchone()
        )
        if row is None:
            return None
        embedder, dim, generation = row[0], int(row[1]), int(row[2])
        index, loaded_from = self._load_file(name, dim, generation)
        if index is None:
            index = self._rebuild(name, dim)
            loaded_from = "rebuilt"
        ns = _Namespace(name, embedder, dim, index, generation, loaded_from=loaded_from)
        ns.saved_generation = generation if loaded_from == "file" else -1
        if loaded_from != "file":
            ns.dirty_since = time.time()
        self._namespaces[name] = ns
        return ns

    def _load_file(self, name: str, dim: int, generation: int) -> tuple[VectorIndex | None, str]:
        path = self._file(name)
        if not path.exists():
            return None, "missing"
        try:
            data = path.read_bytes()
            meta, _ = VectorIndex.read_header(data)
            if meta.get("generation") != generation or meta.get("namespace") != name:
                self._note(
                    f"memory index {path.name}: generation {meta.get('generation')} "
                    f"!= database {generation}; rebuilding from SQLite"
                )
                return None, "stale"
            index, _ = VectorIndex.from_bytes(data, self.config, self._gpu_res)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            self._note(f"memory index {path.name} unreadable ({exc}); rebuilding from SQLite")
            return None, "corrupt"
        count = self._count_rows(name)
        if len(index) != count or index.dim != dim:
            self._note(
                f"memory index {path.name}: {len(index)} vectors but {count} rows; "
                "rebuilding from SQLite"
            )
            return None, "stale"
        return index, "file"

    def _rebuild(self, name: str, dim: int) -> VectorIndex:
        def read(conn: sqlite3.Connection) -> tuple[np.ndarray, np.ndarray]:
            rows = conn.execute(
                "SELECT id, vector FROM memory_items WHERE namespace=? ORDER BY id", (name,)
            ).fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            return ids, vectors.reshape(len(rows), dim)

        ids, vectors = self.db.run_sync(read)
        index = VectorIndex(dim, self.config, self._gpu_res)
        index.add(ids, vectors)
        return index

    def _count_rows(self, name: str) -> int:
        return int(
            self.db.run_sync(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM memory_items WHERE namespace=?", (name,)
                ).fetchone()[0]
            )
        )

    # -- items ----------------------------------------------------------------------------

    def add(
        self,
        namespace: str,
        embedder: str,
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        vectors: np.ndarray,
    ) -> list[int]:
        """Store items durably, then index them. Returns their ids (in input order).

        Raises ``ValueError`` when ``embedder``/``dim`` differ from the namespace's.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts) or len(texts) != len(metadatas):
            raise ValueError("texts, metadatas and vectors must have the same length")
        dim = int(vectors.shape[1])
        ns = self._open(namespace)
        if ns is not None and (ns.embedder != embedder or ns.dim != dim):
            raise ValueError(
                f"namespace {namespace!r} holds {ns.dim}-dim vectors from {ns.embedder}; "
                f"got {dim}-dim vectors from {embedder}"
            )
        now = time.time()
        blobs = [memoryview(v).tobytes() for v in vectors]
        metas = [json.dumps(dict(m), separators=(",", ":"), sort_keys=True) for m in metadatas]

        def write(conn: sqlite3.Connection) -> tuple[list[int], int]:
            with transaction(conn):
                conn.execute(
                    "INSERT INTO memory_namespaces(name, embedder, dim, generation, created)"
                    " VALUES(?, ?, ?, 0, ?) ON CONFLICT(name) DO NOTHING",
                    (namespace, embedder, dim, now),
                )
                ids = []
                for text, meta, blob in zip(texts, metas, blobs, strict=True):
                    cur = conn.execute(
                        "INSERT INTO memory_items(namespace, text, metadata, created, vector)"
                        " VALUES(?, ?, ?, ?, ?)",
                        (namespace, text, meta, now, blob),
                    )
                    ids.append(int(cur.lastrowid or 0))
                generation = conn.execute(
                    "UPDATE memory_namespaces SET generation = generation + 1 WHERE name=?"
                    " RETURNING generation",
                    (namespace,),
                ).fetchone()[0]
            return ids, int(generation)

        ids, generation = self.db.run_sync(write)
        if ns is None:
            ns = _Namespace(
                namespace, embedder, dim, VectorIndex(dim, self.config, self._gpu_res), 0
            )
            self._namespaces[namespace] = ns
        ns.index.add(np.asarray(ids, dtype=np.int64), vectors)
        self._touch(ns, generation)
        return ids

    def delete(self, namespaces: Sequence[str], ids: Sequence[int]) -> dict[str, list[int]]:
        """Delete ``ids`` that live in one of ``namespaces``. Returns ``{namespace: deleted}``."""
        wanted = sorted(set(int(i) for i in ids))
        allowed = list(dict.fromkeys(namespaces))
        if not wanted or not allowed:
            return {}

        def write(conn: sqlite3.Connection) -> dict[str, tuple[list[int], int]]:
            found: dict[str, list[int]] = {}
            with transaction(conn):
                for chunk in _chunks(wanted, 500):
                    marks = ",".join("?" * len(chunk))
                    nmarks = ",".join("?" * len(allowed))
                    rows = conn.execute(
                        f"SELECT id, namespace FROM memory_items WHERE id IN ({marks})"
                        f" AND namespace IN ({nmarks})",
                        (*chunk, *allowed),
                    ).fetchall()
                    for item_id, name in rows:
                        found.setdefault(name, []).append(int(item_id))
                result = {}
                for name, found_ids in found.items():
                    for chunk in _chunks(found_ids, 500):
                        marks = ",".join("?" * len(chunk))
                        conn.execute(f"DELETE FROM memory_items WHERE id IN ({marks})", chunk)
                    generation = conn.execute(
                        "UPDATE memory_namespaces SET generation = generation + 1 WHERE name=?"
                        " RETURNING generation",
                        (name,),
                    ).fetchone()[0]
                    result[name] = (sorted(found_ids), int(generation))
            return result

        result = self.db.run_sync(write)
        out: dict[str, list[int]] = {}
        for name, (deleted, generation) in result.items():
            ns = self._open(name)
            if ns is not None:
                if ns.generation < generation:
                    ns.index.remove(np.asarray(deleted, dtype=np.int64))
                self._touch(ns, generation)
            out[name] = deleted
        return out

    def search(
        self,
        namespaces: Sequence[str],
        query: np.ndarray,
        k: int,
        metadata_filter: Mapping[str, Any] | None = None,
        *,
        exact: bool = False,
    ) -> tuple[list[SearchHit], dict[str, Any]]:
        """Top-``k`` items across ``namespaces`` (merged by score) matching the filter.

        Returns the hits and ``{"search_ms", "fetch_ms", "method"}``.
        """
        started = time.perf_counter()
        query = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        candidates: list[tuple[float, int, str]] = []
        methods = []
        for name in namespaces:
            ns = self._open(name)
            if ns is None or len(ns.index) == 0:
                continue
            if ns.dim != query.shape[1]:
                raise ValueError(
                    f"namespace {name!r} holds {ns.dim}-dim vectors; the query has {query.shape[1]}"
                )
            subset = None
            if metadata_filter:
                subset = self._filter_ids(name, metadata_filter)
            scores, ids, method = ns.index.search(query, k, subset=subset, exact=exact)
            methods.append(method)
            candidates += [
                (float(s), int(i), name) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0
            ]
        candidates.sort(key=lambda c: -c[0])
        candidates = candidates[:k]
        searched = time.perf_counter()
        rows = self._rows([c[1] for c in candidates])
        hits = [
            SearchHit(i, score, rows[i][0], json.loads(rows[i][1]), rows[i][2], name)
            for score, i, name in candidates
            if i in rows
        ]
        timings = {
            "search_ms": round((searched - started) * 1e3, 3),
            "fetch_ms": round((time.perf_counter() - searched) * 1e3, 3),
            "method": ",".join(sorted(set(methods))) or "empty",
        }
        return hits, timings

    def _rows(self, ids: Sequence[int]) -> dict[int, tuple[str, str, float]]:
        if not ids:
            return {}

        def read(conn: sqlite3.Connection) -> dict[int, tuple[str, str, float]]:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT id, text, metadata, created FROM memory_items WHERE id IN ({marks})",
                list(ids),
            ).fetchall()
            return {int(r[0]): (r[1], r[2], float(r[3])) for r in rows}

        return self.db.run_sync(read)

    def _filter_ids(self, namespace: str, metadata_filter: Mapping[str, Any]) -> np.ndarray:
        clauses, params = build_filter(metadata_filter)

        def read(conn: sqlite3.Connection) -> np.ndarray:
            rows = conn.execute(
                f"SELECT id FROM memory_items WHERE namespace=? AND {' AND '.join(clauses)}",
                (namespace, *params),
            ).fetchall()
            return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

        return self.db.run_sync(read)

    def get(self, ids: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        """``{id: (text, metadata)}`` for the ids that exist."""
        return {i: (t, json.loads(m)) for i, (t, m, _c) in self._rows(list(ids)).items()}

    def count(self, namespace: str) -> int:
        ns = self._open(namespace)
        return len(ns.index) if ns is not None else 0

    def stats(self, namespace: str) -> dict[str, Any]:
        ns = self._open(namespace)
        if ns is None:
            return {"namespace": namespace, "count": 0, "device": self.device}
        index = ns.index
        return {
            "namespace": namespace,
            "count": len(index),
            "dim": ns.dim,
            "embedder": ns.embedder,
            "generation": ns.generation,
            "saved_generation": ns.saved_generation,
            "loaded_from": ns.loaded_from,
            "index": index.approx_kind if index.approx is not None else "flat",
            "approx_param": index.approx_param if index.approx is not None else None,
            "recall_at_10": index.recall if index.approx is not None else None,
            "device": self.device,
            "cpu_bytes": index.cpu_bytes(),
            "gpu_bytes": index.gpu_bytes(),
        }

    def gpu_index_bytes(self) -> dict[int, int]:
        """``{gpu_index: bytes}`` the loaded indexes hold on each GPU (empty on CPU)."""
        if self._gpu_res is None:
            return {}
        # called from other threads (metrics sampler): copy before iterating
        total = sum(ns.index.gpu_bytes() for ns in list(self._namespaces.values()))
        return {self.config.gpu_device: total}

    # -- persistence ----------------------------------------------------------------------

    def _touch(self, ns: _Namespace, generation: int) -> None:
        ns.generation = generation
        if ns.dirty_since is None:
            ns.dirty_since = time.time()

    def dirty(self) -> list[str]:
        return [n for n, ns in self._namespaces.items() if ns.saved_generation != ns.generation]

    def save(self, name: str) -> Path:
        """Write one namespace's index file atomically. Raises :class:`StoreError`."""
        ns = self._namespaces[name]
        path = self._file(name)
        chunks = ns.index.to_bytes(
            {
                "namespace": name,
                "generation": ns.generation,
                "embedder": ns.embedder,
                "saved": time.time(),
            }
        )
        started = time.perf_counter()
        atomic_write(path, chunks)
        ns.save_s = time.perf_counter() - started
        ns.saved_generation = ns.generation
        ns.last_save = time.time()
        ns.dirty_since = None
        return path

    def flush(self, *, older_than: float = 0.0) -> list[str]:
        """Save every namespace changed more than ``older_than`` seconds ago.

        Returns the names saved; the first failure raises :class:`StoreError` after the
        other namespaces were tried.
        """
        saved, error = [], None
        now = time.time()
        for name in self.dirty():
            ns = self._namespaces[name]
            if ns.dirty_since is not None and now - ns.dirty_since < older_than:
                continue
            if older_than and ns.last_save and now - ns.last_save < 10 * ns.save_s:
                continue  # big namespace: spend at most ~10% of the time rewriting its file
            try:
                self.save(name)
                saved.append(name)
            except StoreError as exc:
                error = error or exc
        if error is not None:
            raise error
        return saved

    def close(self) -> None:
        for ns in self._namespaces.values():
            ns.index.release_gpu()
        self._namespaces.clear()
        self._gpu_res = None

    def _remove_temp_files(self) -> None:
        for tmp in self.directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _note(self, message: str) -> None:
        if self.log is not None:
            self.log.warning(message)


def atomic_write(path: Path, chunks: Iterable[bytes | memoryview]) -> None:
    """Write ``chunks`` to ``path`` via a temp file, fsync and rename (then fsync the dir).

    On any failure the temp file is removed, ``path`` is untouched and :class:`StoreError`
    is raised (``reason="disk_full"`` for ENOSPC/EDQUOT/EFBIG).
    """
    import errno

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = -1
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for chunk in chunks:
            view = memoryview(chunk).cast("B")
            while view:
                written = os.write(fd, view[: 1 << 24])
                view = view[written:]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        raise StoreError(
            f"could not save memory index {path.name}: {exc.strerror or exc}; "
            "the previous index file is intact",
            "disk_full" if full else "io",
        ) from exc


def build_filter(metadata_filter: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    """SQL clauses over ``memory_items.metadata`` for ``{key: value | [values]}``.

    Keys are dotted paths of ``[A-Za-z0-9_-]`` segments; values are strings, numbers,
    booleans or null, or a non-empty list of them (any of). Raises ``ValueError`` otherwise.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in metadata_filter.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"filter key {key!r} must be a dotted path of [A-Za-z0-9_-] names")
        path = "$." + ".".join(f'"{part}"' for part in key.split("."))
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > 100:
            raise ValueError(f"filter {key!r}: give 1 to 100 values")
        ors = []
        for v in values:
            if v is None:
                ors.append(f"json_type(metadata, '{path}') = 'null'")
            elif isinstance(v, bool):
                ors.append(f"json_type(metadata, '{path}') = '{'true' if v else 'false'}'")
            elif isinstance(v, (int, float, str)):
                ors.append(f"json_extract(metadata, '{path}') = ?")
                params.append(v)
            else:
                raise ValueError(f"filter {key!r}: values must be scalars, got {type(v).__name__}")
        clauses.append("(" + " OR ".join(ors) + ")")
    return clauses or ["1"], params


def _chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
