"""VectorIndex: exact search (NumPy and FAISS agree), deletes, filters, IVF/HNSW recall, files."""

from __future__ import annotations

import numpy as np
import pytest

from pygent_jupyter.services.memory.index import (
    IndexConfig,
    VectorIndex,
    gpu_count,
    recall_at_k,
)

from .conftest import clustered


def brute_force(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]
    return ids[order]


def make(
    n: int, config: IndexConfig | None = None, seed: int = 0
) -> tuple[VectorIndex, np.ndarray]:
    x = clustered(n, seed=seed)
    index = VectorIndex(384, config or IndexConfig(approx_threshold=10**9))
    index.add(np.arange(1, n + 1, dtype=np.int64) * 10, x)
    return index, x


def test_exact_search_matches_brute_force_with_both_backends() -> None:
    index, x = make(3000)
    q = clustered(20, seed=9)
    truth = brute_force(x, index.ids, q, 10)
    _, ids, method = index.search(q, 10)
    assert method == "exact-numpy"
    assert (ids == truth).mean() > 0.99  # ties only
    faiss_index = VectorIndex(384, IndexConfig(approx_threshold=10**9, exact_backend="faiss"))
    faiss_index.add(index.ids, x)
    _, fids, fmethod = faiss_index.search(q, 10)
    assert fmethod == "exact-faiss"
    assert (fids == ids).mean() > 0.99


def test_k_larger_than_index_pads_with_minus_one() -> None:
    index, _ = make(3)
    scores, ids, _ = index.search(clustered(1, seed=3), 5)
    assert list(ids[0, 3:]) == [-1, -1]
    assert np.isneginf(scores[0, 3:]).all()
    assert sorted(ids[0, :3]) == [10, 20, 30]


def test_add_rejects_wrong_dimension_and_non_increasing_ids() -> None:
    index, _ = make(5)
    with pytest.raises(ValueError, match="vectors"):
        index.add(np.array([100]), np.zeros((1, 128), dtype=np.float32))
    with pytest.raises(ValueError, match="increasing"):
        index.add(np.array([20]), clustered(1))


def test_remove_deletes_only_the_given_ids() -> None:
    index, x = make(500)
    target = x[42:43]
    _, before, _ = index.search(target, 1)
    assert before[0, 0] == 430
    assert index.remove(np.array([430, 999_999])) == 1
    assert len(index) == 499
    _, after, _ = index.search(target, 10)
    assert 430 not in after[0]
    # every other vector is still found as its own nearest neighbour
    _, own, _ = index.search(x[[0, 100, 499]], 1)
    assert list(own[:, 0]) == [10, 1010, 5000]


def test_subset_search_is_exact_within_the_subset() -> None:
    index, x = make(2000)
    subset = index.ids[::7]
    q = clustered(5, seed=4)
    _, ids, method = index.search(q, 5, subset=subset)
    assert method == "exact-subset"
    assert np.isin(ids, subset).all()
    rows = np.searchsorted(index.ids, subset)
    assert (ids == brute_force(x[rows], subset, q, 5)).mean() > 0.99


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_is_built_at_threshold_and_reaches_recall(kind: str) -> None:
    config = IndexConfig(approx_threshold=4000, approx_kind=kind, min_recall=0.95)  # type: ignore[arg-type]
    index, _ = make(3999, config)
    assert index.approx is None
    index.add(np.array([10**6], dtype=np.int64), clustered(1, seed=5))
    assert index.approx_kind == kind
    assert index.recall is not None and index.recall >= 0.95
    rng = np.random.default_rng(7)
    queries = index.recall_queries(rng)
    _, approx, method = index.search(queries, 10)
    _, exact, _ = index.search(queries, 10, exact=True)
    assert method == kind
    assert recall_at_k(approx, exact) >= 0.93  # fresh queries, same distribution
    # deletes keep results correct (IVF removes in place, HNSW is rebuilt)
    victim = int(approx[0, 0])
    index.remove(np.array([victim]))
    _, again, _ = index.search(queries[:1], 10)
    assert victim not in again[0]


def test_serialized_index_round_trips() -> None:
    config = IndexConfig(approx_threshold=2000)
    index, _ = make(2500, config)
    index.remove(np.array([20, 30]))
    blob = b"".join(bytes(c) for c in index.to_bytes({"generation": 7}))
    loaded, meta = VectorIndex.from_bytes(blob, config)
    assert meta["generation"] == 7
    assert list(loaded.ids) == list(index.ids)
    assert loaded.approx_kind == "ivf" and loaded.approx_param == index.approx_param
    q = clustered(5, seed=11)
    assert (loaded.search(q, 10)[1] == index.search(q, 10)[1]).all()
    with pytest.raises(ValueError, match="truncated"):
        VectorIndex.from_bytes(blob[:-100], config)


@pytest.mark.skipif(gpu_count() == 0, reason="needs a GPU and faiss with GPU support")
def test_gpu_exact_search_equals_cpu() -> None:
    import faiss

    res = faiss.StandardGpuResources()
    x = clustered(20_000)
    ids = np.arange(1, 20_001, dtype=np.int64)
    cpu = VectorIndex(384, IndexConfig(use_gpu=False))
    gpu = VectorIndex(384, IndexConfig(use_gpu=True), gpu_resources=res)
    cpu.add(ids, x)
    gpu.add(ids, x)
    q = clustered(50, seed=3)
    cs, ci, _ = cpu.search(q, 10)
    gs, gi, method = gpu.search(q, 10)
    assert method == "exact-gpu"
    assert (ci == gi).mean() > 0.99
    assert np.allclose(cs, gs, atol=1e-4)
    assert gpu.gpu_bytes() == 20_000 * 384 * 4
    gpu.remove(ids[:10])
    _, gi2, _ = gpu.search(x[:1], 1)
    assert gi2[0, 0] != 1


def test_gpu_bookkeeping_with_a_cpu_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU code path (upload on add, re-upload after delete, bytes held, method name)
    with ``index_cpu_to_gpu`` replaced by a CPU clone; the real GPU is checked above and by
    ``benchmarks/gpu_check.py``."""
    import faiss

    uploads: list[int] = []

    def fake_upload(res: object, device: int, index: object) -> object:
        uploads.append(device)
        return faiss.clone_index(index)

    monkeypatch.setattr(faiss, "index_cpu_to_gpu", fake_upload, raising=False)
    x = clustered(1000)
    ids = np.arange(1, 1001, dtype=np.int64)
    gpu = VectorIndex(384, IndexConfig(use_gpu=True, gpu_device=1), gpu_resources=object())
    gpu.add(ids[:500], x[:500])
    gpu.add(ids[500:], x[500:])  # incremental add on the device copy
    assert uploads == [1] and gpu.gpu_bytes() == 1000 * 384 * 4
    cpu = VectorIndex(384, IndexConfig(use_gpu=False))
    cpu.add(ids, x)
    q = clustered(10, seed=2)
    assert gpu.search(q, 5)[2] == "exact-gpu"
    assert (gpu.search(q, 5)[1] == cpu.search(q, 5)[1]).all()
    gpu.remove(ids[:1])
    assert uploads == [1, 1] and gpu.gpu_bytes() == 999 * 384 * 4
    assert gpu.search(x[:1], 1)[1][0, 0] != 1
    blob = b"".join(bytes(c) for c in gpu.to_bytes({}))
    loaded, _ = VectorIndex.from_bytes(blob, gpu.config, gpu_resources=object())
    assert loaded.gpu_bytes() == 999 * 384 * 4  # a loaded index is put back on the GPU


def test_ivf_is_rebuilt_when_the_namespace_doubles() -> None:
    index, _ = make(2000, IndexConfig(approx_threshold=2000))
    first_lists = index.approx.nlist
    assert index.built_n == 2000
    index.add(np.arange(10**6, 10**6 + 1999, dtype=np.int64), clustered(1999, seed=8))
    assert index.built_n == 2000  # incremental adds below twice the built size
    index.add(np.array([2 * 10**6], dtype=np.int64), clustered(1, seed=9))
    assert index.built_n == 4000 and index.approx.nlist > first_lists
    assert index.recall is not None and index.recall >= 0.95
