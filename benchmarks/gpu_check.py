"""GPU check for the vector memory: GPU results equal CPU results, and exact search at 1M.

Needs FAISS with GPU support. From PyPI (CUDA 12): ``faiss-gpu-cu12`` (1.14.1.post1 at the
time of writing; it depends on ``nvidia-cuda-runtime-cu12`` and ``nvidia-cublas-cu12``). It
provides the same ``faiss`` module as ``faiss-cpu``, so install it in place of faiss-cpu:

    .venv/bin/pip uninstall -y faiss-cpu && .venv/bin/pip install faiss-gpu-cu12
    .venv/bin/python benchmarks/gpu_check.py            # ~1 minute on an H100
    .venv/bin/python benchmarks/gpu_check.py --n 100000 # quicker

Checks (exit code 1 if one fails, 2 if there is no GPU):

1. exact top-10 on the GPU (``index_cpu_to_gpu`` of the project's ``VectorIndex``) equals the
   CPU path (NumPy) on ``--check-queries`` queries: ids agree >= 99% (ties aside), scores
   within 1e-4;
2. single-query GPU exact search p50 / p99 at ``--n`` vectors (target p50 < 5 ms at 1M), and
   a batch of queries; the CPU NumPy p50 in the same run for the ratio;
3. the ``MemoryStore`` on the GPU: searches report ``exact-gpu``, deletes are honoured
   (the GPU copy is re-uploaded), and ``gpu_index_bytes()`` reports the bytes held.

Writes ``gpu_check.json`` to ``$OUT`` (or the current directory).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory_search import clustered

from pygent_jupyter.services.memory.index import IndexConfig, VectorIndex


def timed(fn: Any, queries: np.ndarray) -> list[float]:
    fn(queries[:1])
    out = []
    for i in range(len(queries)):
        t = time.perf_counter()
        fn(queries[i : i + 1])
        out.append((time.perf_counter() - t) * 1e3)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--check-queries", type=int, default=100)
    parser.add_argument("--cpu-queries", type=int, default=20)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "faiss": faiss.__version__,
        "gpus": faiss.get_num_gpus(),
        "n": args.n,
        "dim": args.dim,
    }
    print(f"faiss {faiss.__version__}, GPUs visible to FAISS: {report['gpus']}")
    if report["gpus"] == 0:
        print("no GPU: install faiss-gpu-cu12 (see the docstring) on a machine with a GPU")
        return 2
    ok = True
    res = faiss.StandardGpuResources()
    t = time.perf_counter()
    xb = clustered(args.n, args.dim, 2000, seed=1)
    queries = clustered(max(args.queries, args.check_queries), args.dim, 2000, seed=2)
    ids = np.arange(1, args.n + 1, dtype=np.int64)
    report["gen_s"] = round(time.perf_counter() - t, 2)

    cpu = VectorIndex(args.dim, IndexConfig(use_gpu=False, approx_threshold=10**12))
    gpu = VectorIndex(args.dim, IndexConfig(use_gpu=True, approx_threshold=10**12), res)
    cpu.add(ids, xb)
    gpu.add(ids, xb)
    t = time.perf_counter()
    gpu.search(queries[:1], 10)  # uploads the index
    report["upload_s"] = round(time.perf_counter() - t, 3)

    # 1. same results
    qc = queries[: args.check_queries]
    cs, ci, cmethod = cpu.search(qc, 10)
    gs, gi, gmethod = gpu.search(qc, 10)
    agree = float((ci == gi).mean())
    max_diff = float(np.abs(cs - gs).max())
    report.update(
        cpu_method=cmethod,
        gpu_method=gmethod,
        id_agreement=round(agree, 5),
        max_score_diff=max_diff,
    )
    same = gmethod == "exact-gpu" and agree >= 0.99 and max_diff < 1e-4
    ok &= same
    print(
        f"[{'ok' if same else 'FAIL'}] GPU == CPU: ids agree {agree:.4%}, "
        f"max score diff {max_diff:.2e} ({gmethod} vs {cmethod})"
    )

    # 2. latency
    gtimes = timed(lambda q: gpu.search(q, 10), queries[: args.queries])
    ctimes = timed(lambda q: cpu.search(q, 10), queries[: args.cpu_queries])
    t = time.perf_counter()
    gpu.search(queries[: args.queries], 10)
    batch_ms = (time.perf_counter() - t) * 1e3
    report.update(
        gpu_p50_ms=round(float(np.percentile(gtimes, 50)), 3),
        gpu_p99_ms=round(float(np.percentile(gtimes, 99)), 3),
        cpu_numpy_p50_ms=round(float(np.percentile(ctimes, 50)), 3),
        gpu_batch_ms_per_query=round(batch_ms / args.queries, 4),
        gpu_index_bytes=gpu.gpu_bytes(),
    )
    fast = report["gpu_p50_ms"] < 5.0
    ok &= fast
    speedup = report["cpu_numpy_p50_ms"] / max(report["gpu_p50_ms"], 1e-9)
    print(
        f"[{'ok' if fast else 'FAIL'}] GPU exact k=10 at {args.n:,}: p50 "
        f"{report['gpu_p50_ms']} ms, p99 {report['gpu_p99_ms']} ms (CPU NumPy p50 "
        f"{report['cpu_numpy_p50_ms']} ms, x{speedup:.1f}); "
        f"batch of {args.queries}: {report['gpu_batch_ms_per_query']} ms/query; "
        f"{report['gpu_index_bytes'] / 2**20:.0f} MiB on the GPU"
    )
    cpu.release_gpu()
    gpu.release_gpu()  # free the 1M copy before the store check

    # 3. the store on the GPU
    from pygent_jupyter.services.memory.store import MemoryStore
    from pygent_jupyter.storage import Database

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "hub.db")
        store = MemoryStore(db, Path(tmp) / "memory", IndexConfig(use_gpu=True))
        small = xb[:20_000]
        new_ids = store.add(
            "user:gpu", "bench", [f"t{i}" for i in range(len(small))], [{}] * len(small), small
        )
        hits, timings = store.search(["user:gpu"], small[5], 3)
        first = hits[0].id == new_ids[5] and timings["method"] == "exact-gpu"
        store.delete(["user:gpu"], [new_ids[5]])
        hits2, _ = store.search(["user:gpu"], small[5], 3)
        deleted = new_ids[5] not in [h.id for h in hits2]
        held = store.gpu_index_bytes()
        report.update(store_method=timings["method"], store_gpu_index_bytes=held)
        store_ok = first and deleted and held.get(0) == (len(small) - 1) * 384 * 4
        ok &= store_ok
        print(
            f"[{'ok' if store_ok else 'FAIL'}] MemoryStore on GPU: method "
            f"{timings['method']}, delete honoured: {deleted}, gpu_index_bytes {held}"
        )
        store.close()
        db.close()

    report["ok"] = bool(ok)
    out_dir = Path(os.environ.get("OUT", "."))
    (out_dir / "gpu_check.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
