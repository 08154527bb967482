"""One namespace's vectors: exact search, an optional approximate index, an optional GPU copy.

Pure and synchronous (no SQLite, no asyncio); callers serialise access (one thread).

- Storage is a FAISS ``IndexFlatIP``; row ``i`` holds the vector of ``ids[i]``; ``ids`` is kept
  sorted (ids come from SQLite ``AUTOINCREMENT`` so they only grow).
- Exact search on the CPU is a NumPy matrix product over the flat index's own buffer (no copy):
  measured on this project's CPUs it beats ``IndexFlatIP.search`` at every size tried (see
  ``benchmarks/README.md``); ``exact_backend="faiss"`` forces FAISS.
- From ``approx_threshold`` vectors on, an IVF (default) or HNSW index answers unfiltered
  searches; after each (re)build (and each doubling in size) its recall@10 against exact
  search is measured on perturbed stored vectors, and ``nprobe`` / ``efSearch`` is doubled
  until it reaches ``min_recall`` plus a small margin.
- With a GPU (``faiss.get_num_gpus() > 0`` and ``use_gpu``) the flat index is mirrored on the
  GPU with ``index_cpu_to_gpu`` and exact search runs there; results equal the CPU path.
"""

from __future__ import annotations

import json
import math
import struct
import time
from dataclasses import dataclass
from typing import Any, Literal

import faiss
import numpy as np

__all__ = ["IndexConfig", "VectorIndex", "gpu_count"]

ApproxKind = Literal["ivf", "hnsw", "none"]
_MAGIC = b"PGMEMIX1"


def gpu_count() -> int:
    """How many GPUs FAISS can use (0 with ``faiss-cpu``)."""
    try:
        return int(faiss.get_num_gpus())
    except Exception:  # pragma: no cover - very old builds
        return 0


@dataclass(frozen=True)
class IndexConfig:
    """Knobs of a :class:`VectorIndex` (mirrors ``MemoryService`` traits)."""

    approx_threshold: int = 100_000
    approx_kind: ApproxKind = "ivf"
    min_recall: float = 0.95
    ivf_nlist: int = 0  # 0: about sqrt(n)
    hnsw_m: int = 32
    exact_backend: Literal["auto", "numpy", "faiss"] = "auto"
    use_gpu: bool = True
    gpu_device: int = 0
    recall_queries: int = 200
    # Recall is measured on stored vectors perturbed by noise of this norm: 1.5 puts a query
    # at cosine ~0.55 from its source, like real MiniLM queries and their best match.
    recall_noise: float = 1.5
    recall_margin: float = 0.02  # tune to min_recall + margin: real queries recall a bit less
    seed: int = 1234


class VectorIndex:
    """Vectors of one namespace keyed by int64 ids. Not thread-safe."""

    def __init__(
        self, dim: int, config: IndexConfig | None = None, gpu_resources: Any = None
    ) -> None:
        self.dim = dim
        self.config = config or IndexConfig()
        self.flat: Any = faiss.IndexFlatIP(dim)
        self.ids = np.zeros(0, dtype=np.int64)
        self.approx: Any = None
        self.approx_kind: str = "none"
        self.approx_param = 0  # nprobe (IVF) or efSearch (HNSW)
        self.recall: float | None = None
        self.build_s: float | None = None
        self.built_n = 0  # size at the last approximate build
        self._view: tuple[int, np.ndarray] | None = None  # (buffer address, numpy view)
        self._gpu_res = gpu_resources
        self._gpu_flat: Any = None
        self._gpu_stale = True

    # -- size and memory ------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def on_gpu(self) -> bool:
        return self._gpu_res is not None and self.config.use_gpu

    def gpu_bytes(self) -> int:
        """Bytes this index holds on its GPU (0 on the CPU)."""
        if self._gpu_flat is None or self._gpu_stale:
            return 0
        return int(self._gpu_flat.ntotal) * self.dim * 4

    def cpu_bytes(self) -> int:
        approx = 0
        if self.approx is not None:
            approx = len(self) * self.dim * 4 + (
                len(self) * self.config.hnsw_m * 2 * 4 if self.approx_kind == "hnsw" else 0
            )
        return len(self) * (self.dim * 4 + 8) + approx

    def vectors(self) -> np.ndarray:
        """A read-only view of the stored vectors (row i belongs to ``ids[i]``)."""
        n = len(self)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        pointer = int(self.flat.get_xb())
        cached = self._view
        if cached is not None and cached[0] == pointer and cached[1].shape[0] == n:
            return cached[1]  # still valid: same buffer, same size
        view = faiss.rev_swig_ptr(self.flat.get_xb(), n * self.dim).reshape(n, self.dim)
        view.flags.writeable = False
        self._view = (pointer, view)
        return view

    # -- mutation -------------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Append ``vectors`` under ``ids`` (strictly increasing, above every stored id)."""
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {(len(ids), self.dim)} vectors, got {vectors.shape}")
        if len(ids) == 0:
            return
        if np.any(np.diff(ids) <= 0) or (len(self) and ids[0] <= self.ids[-1]):
            raise ValueError("ids must be strictly increasing and above every stored id")
        self.flat.add(vectors)
        self.ids = np.concatenate([self.ids, ids])
        if self.approx is not None:
            self.approx.add_with_ids(vectors, ids)
        if self._gpu_flat is not None and not self._gpu_stale:
            self._gpu_flat.add(vectors)
        elif self.on_gpu:
            self._gpu_index()  # held on the GPU from the start, so metrics see it
        self.maybe_build_approx()

    def remove(self, ids: np.ndarray) -> int:
        """Remove the given ids (unknown ids are ignored); returns how many were removed."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        if len(ids) == 0 or len(self) == 0:
            return 0
        pos = np.searchsorted(self.ids, ids)
        pos = pos[pos < len(self)]
        hit = pos[np.isin(self.ids[pos], ids)]
        if len(hit) == 0:
            return 0
        removed_ids = self.ids[hit]
        self.flat.remove_ids(faiss.IDSelectorBatch(hit.astype(np.int64)))
        self.ids = np.delete(self.ids, hit)
        if self.approx is not None:
            if self.approx_kind == "ivf":
                self.approx.remove_ids(faiss.IDSelectorBatch(removed_ids))
            else:  # HNSW cannot delete: rebuild on the next search that wants it
                self.approx = None
        self._gpu_stale = True
        if self.on_gpu:
            self._gpu_index()  # GPU flat indexes cannot delete in place: upload again
        if len(self) < self.config.approx_threshold // 2:
            self.approx = None  # small again: exact is fast enough and always right
            self.approx_kind = "none"
        return len(hit)

    # -- approximate index ----------------------------------------------------------------

    def maybe_build_approx(self) -> bool:
        """Build the approximate index if the size calls for one. Returns True if built."""
        if (
            self.config.approx_kind == "none"
            or len(self) < self.config.approx_threshold
            or self.on_gpu  # exact GPU search is fast enough at these sizes
        ):
            return False
        if self.approx is not None and len(self) < 2 * self.built_n:
            return False  # rebuilt (new lists, re-tuned) each time the size doubles
        self.build_approx()
        return True

    def build_approx(self) -> None:
        """(Re)build the approximate index from the stored vectors and tune it for recall."""
        started = time.perf_counter()
        xb = self.vectors()
        n = len(self)
        rng = np.random.default_rng(self.config.seed)
        if self.config.approx_kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = 64
            index: Any = faiss.IndexIDMap2(hnsw)
            index.add_with_ids(xb, self.ids)
            param = 32
        else:
            nlist = self.config.ivf_nlist or int(min(65536, max(16, round(math.sqrt(n)))))
            quantizer = faiss.IndexFlatIP(self.dim)
            index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = xb
            if n > nlist * 40:
                sample = xb[np.sort(rng.choice(n, nlist * 40, replace=False))]
            index.train(np.ascontiguousarray(sample))
            index.add_with_ids(xb, self.ids)
            param = 8
        self.approx = index
        self.built_n = n
        self.approx_kind = self.config.approx_kind
        self.approx_param = param
        self._tune(rng)
        self.build_s = time.perf_counter() - started

    def _set_param(self, value: int) -> None:
        self.approx_param = value
        if self.approx_kind == "hnsw":
            inner: Any = faiss.downcast_index(self.approx.index)
            inner.hnsw.efSearch = value
        else:
            self.approx.nprobe = value

    def recall_queries(self, rng: np.random.Generator) -> np.ndarray:
        """Realistic queries: stored vectors plus noise of comparable size, renormalised."""
        xb = self.vectors()
        count = min(self.config.recall_queries, len(self))
        base = xb[rng.choice(len(self), count, replace=False)]
        noise = rng.standard_normal(base.shape).astype(np.float32)
        noise *= self.config.recall_noise / np.sqrt(self.dim)  # |noise| ~ recall_noise
        queries = base + noise
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        return np.ascontiguousarray(queries, dtype=np.float32)

    def _tune(self, rng: np.random.Generator) -> None:
        queries = self.recall_queries(rng)
        _, exact = self._search_exact(queries, 10)
        limit = 4096 if self.approx_kind == "hnsw" else int(self.approx.nlist)
        value = self.approx_param
        while True:
            self._set_param(value)
            _, approx = self.approx.search(queries, 10)
            self.recall = recall_at_k(approx, exact)
            target = min(0.999, self.config.min_recall + self.config.recall_margin)
            if self.recall >= target or value >= limit:
                return
            value = min(limit, value * 2)

    # -- search ---------------------------------------------------------------------------

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        subset: np.ndarray | None = None,
        exact: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, str]:
        """Top-``k`` by inner product for each query row.

        Returns ``(scores, ids, method)``; missing results are id -1 / score -inf. ``subset``
        (stored ids) restricts the search exactly. ``method`` says which path answered.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise ValueError(f"queries have {queries.shape[1]} dims, the index {self.dim}")
        if subset is not None:
            return (*self._search_subset(queries, k, subset), "exact-subset")
        if len(self) == 0:
            return (*_empty(len(queries), k), "empty")
        if not exact and self.approx is None and self.config.approx_kind == "hnsw":
            self.maybe_build_approx()  # after an HNSW delete
        if not exact and self.approx is not None:
            scores, ids = self.approx.search(queries, min(k, len(self)))
            return (*_pad(scores, ids, k), self.approx_kind)
        scores, ids = self._search_exact(queries, k)
        return scores, ids, self._exact_method()

    def _exact_method(self) -> str:
        if self.on_gpu:
            return "exact-gpu"
        return "exact-faiss" if self.config.exact_backend == "faiss" else "exact-numpy"

    def _search_exact(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        kk = min(k, len(self))
        if self.on_gpu:
            gpu = self._gpu_index()
            scores, rows = gpu.search(queries, kk)
        elif self.config.exact_backend == "faiss":
            scores, rows = self.flat.search(queries, kk)
        else:  # NumPy: rows are never -1, and there are k of them unless the index is small
            scores, rows = _numpy_topk(self.vectors(), queries, kk)
            ids = self.ids[rows]
            return (scores, ids) if kk == k else _pad(scores, ids, k)
        ids = np.where(rows >= 0, self.ids[np.maximum(rows, 0)], -1)
        return _pad(scores, ids, k)

    def _search_subset(
        self, queries: np.ndarray, k: int, subset: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        subset = np.unique(np.asarray(subset, dtype=np.int64))
        pos = np.searchsorted(self.ids, subset)
        pos = pos[pos < len(self)]
        pos = pos[np.isin(self.ids[pos], subset)]
        if len(pos) == 0:
            return _empty(len(queries), k)
        rows = self.vectors()[pos]
        scores, local = _numpy_topk(rows, queries, min(k, len(pos)))
        return _pad(scores, self.ids[pos][local], k)

    def _gpu_index(self) -> Any:
        if self._gpu_flat is None or self._gpu_stale:
            self._gpu_flat = None
            self._gpu_flat = faiss.index_cpu_to_gpu(
                self._gpu_res, self.config.gpu_device, self.flat
            )
            self._gpu_stale = False
        return self._gpu_flat

    def release_gpu(self) -> None:
        self._gpu_flat = None
        self._gpu_stale = True

    # -- persistence ----------------------------------------------------------------------

    def to_bytes(self, header: dict[str, Any]) -> list[bytes | memoryview]:
        """Chunks of a self-describing file: magic, JSON header, flat index, ids, approx."""
        flat = faiss.serialize_index(self.flat)
        approx = faiss.serialize_index(self.approx) if self.approx is not None else None
        meta = dict(header)
        meta.update(
            dim=self.dim,
            count=len(self),
            approx_kind=self.approx_kind if self.approx is not None else "none",
            approx_param=self.approx_param,
            built_n=self.built_n,
            recall=self.recall,
            sections=[len(flat), self.ids.nbytes, len(approx) if approx is not None else 0],
        )
        head = json.dumps(meta).encode()
        chunks: list[bytes | memoryview] = [_MAGIC, struct.pack("<Q", len(head)), head]
        chunks += [flat.data, self.ids.data]
        if approx is not None:
            chunks.append(approx.data)
        return chunks

    @staticmethod
    def read_header(data: bytes | memoryview) -> tuple[dict[str, Any], int]:
        """Parse the header; raises ValueError if the file is not complete and well formed."""
        view = memoryview(data)
        if bytes(view[:8]) != _MAGIC:
            raise ValueError("not a pygent memory index file")
        (length,) = struct.unpack("<Q", view[8:16])
        meta: dict[str, Any] = json.loads(bytes(view[16 : 16 + length]))
        offset = 16 + length
        if offset + sum(meta["sections"]) != len(view):
            raise ValueError("index file is truncated or has trailing bytes")
        return meta, offset

    @classmethod
    def from_bytes(
        cls,
        data: bytes | memoryview,
        config: IndexConfig | None = None,
        gpu_resources: Any = None,
    ) -> tuple[VectorIndex, dict[str, Any]]:
        """Rebuild an index from :meth:`to_bytes` output; returns it with its header."""
        meta, offset = cls.read_header(data)
        view = memoryview(data)
        flat_len, ids_len, approx_len = meta["sections"]
        index = cls(int(meta["dim"]), config, gpu_resources)
        flat_bytes = np.frombuffer(view[offset : offset + flat_len], dtype=np.uint8)
        index.flat = faiss.deserialize_index(flat_bytes)
        offset += flat_len
        index.ids = np.frombuffer(view[offset : offset + ids_len], dtype=np.int64).copy()
        offset += ids_len
        if approx_len:
            approx_bytes = np.frombuffer(view[offset : offset + approx_len], dtype=np.uint8)
            index.approx = faiss.deserialize_index(approx_bytes)
            index.approx_kind = str(meta["approx_kind"])
            index.recall = meta.get("recall")
            index.built_n = int(meta.get("built_n", len(index.ids)))
            index._set_param(int(meta["approx_param"]))
        if index.flat.ntotal != len(index.ids) or len(index.ids) != meta["count"]:
            raise ValueError("index file sections disagree")
        if index.on_gpu and len(index):
            index._gpu_index()
        return index, meta


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of each exact top-k id list found in the approximate one."""
    hits = 0
    total = 0
    for a, e in zip(approx, exact, strict=True):
        truth = set(int(x) for x in e if x >= 0)
        hits += len(truth & set(int(x) for x in a if x >= 0))
        total += len(truth)
    return hits / total if total else 1.0


def _numpy_topk(xb: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k inner product by one matrix product and ``argpartition``."""
    n = xb.shape[0]
    if len(queries) == 1:  # a matrix-vector product (gemv) and the fewest array passes
        s = xb @ queries[0]
        top1 = np.argpartition(s, n - k)[n - k :] if k < n else np.arange(n)
        best = top1[np.argsort(-s[top1], kind="stable")]
        return s[best][None, :], best[None, :]
    scores = queries @ xb.T  # (nq, n)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(n), (len(queries), 1))
    top = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(part, order, axis=1)


def _pad(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if ids.shape[1] >= k:
        return scores[:, :k], ids[:, :k].astype(np.int64, copy=False)
    extra = k - ids.shape[1]
    nq = ids.shape[0]
    return (
        np.hstack([scores, np.full((nq, extra), -np.inf, dtype=np.float32)]),
        np.hstack([ids.astype(np.int64), np.full((nq, extra), -1, dtype=np.int64)]),
    )


def _empty(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)
