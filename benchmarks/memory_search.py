"""Vector memory search: FAISS (exact, IVF, HNSW) against NumPy brute force, same run.

Data: unit vectors clustered like sentence embeddings (``--clusters`` centres, noise so that
a query's nearest neighbour scores ~0.6-0.7, as related MiniLM sentences do), never uniform
noise, on which approximate indexes recall almost nothing. Queries are fresh points from the
same clusters. Each query is run by every method, in every order in turn, so that load
from other processes and the method run just before hit them all alike.

Measures, per size: add throughput (index only, and the durable MemoryStore path with SQLite
for ``--store-items`` items), approximate-index build time, single-query search latency
p50/p99 for k=10 of every method, recall@10 of the approximate index versus exact, and the
MiniLM embedding rate (``--embed``). Prints a table and ratios against NumPy.

    .venv/bin/python benchmarks/memory_search.py                     # 100k (about a minute)
    .venv/bin/python benchmarks/memory_search.py --sizes 100000,1000000 --hnsw
    .venv/bin/python benchmarks/memory_search.py --sizes 1000 --real 5000  # real text
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pygent_jupyter.services.memory.index import (
    IndexConfig,
    VectorIndex,
    recall_at_k,
)


def clustered(
    n: int, dim: int, clusters: int, seed: int, chunk: int = 100_000, noise: float = 0.75
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(12345).standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        labels = rng.integers(0, clusters, m)
        x = centres[labels] + rng.standard_normal((m, dim), dtype=np.float32) * np.float32(
            noise / np.sqrt(dim)
        )
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + m] = x
    return out


def numpy_brute_force(xb: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    """The baseline: one matrix-vector product and argpartition, nothing else."""
    scores = xb @ q
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def latencies(fns: dict[str, Any], queries: np.ndarray) -> dict[str, tuple[list[float], list[Any]]]:
    """Time every method on every query, cycling through every order of the methods, so that
    neither load from other processes nor the one before (FAISS's OpenMP threads keep
    spinning for a while after a search) favours one; ``{name: (ms list, results)}``."""
    out: dict[str, tuple[list[float], list[Any]]] = {name: ([], []) for name in fns}
    for fn in fns.values():
        fn(queries[0])  # warm-up
    orders = list(itertools.permutations(fns))  # every method follows every other equally
    for i, q in enumerate(queries):
        for name in orders[i % len(orders)]:
            fn = fns[name]
            t = time.perf_counter()
            result = fn(q)
            out[name][0].append((time.perf_counter() - t) * 1e3)
            out[name][1].append(result)
    return out


def pct(times: list[float], p: float) -> float:
    return float(np.percentile(times, p))


def run_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    dim, k = args.dim, 10
    t = time.perf_counter()
    xb = clustered(n, dim, args.clusters, seed=1, noise=args.noise)
    queries = clustered(args.queries, dim, args.clusters, seed=2, noise=args.noise)
    gen_s = time.perf_counter() - t
    ids = np.arange(1, n + 1, dtype=np.int64)
    out: dict[str, Any] = {"n": n, "dim": dim, "queries": args.queries, "gen_s": round(gen_s, 2)}

    # -- add throughput (exact index: FAISS IndexFlatIP storage) ---------------------------
    index = VectorIndex(dim, IndexConfig(approx_threshold=10**12))
    t = time.perf_counter()
    for start in range(0, n, 10_000):
        index.add(ids[start : start + 10_000], xb[start : start + 10_000])
    out["add_flat_per_s"] = round(n / (time.perf_counter() - t))

    stored = index.vectors()
    exact_ids = []
    nq_exact = min(args.queries, args.exact_queries)
    qx = queries[:nq_exact]
    methods = latencies(
        {
            "numpy brute force": lambda q: numpy_brute_force(stored, q, k),
            "faiss IndexFlatIP": lambda q: index.flat.search(q[None], k)[1][0],
            "exact (auto: numpy)": lambda q: index.search(q[None], k, exact=True)[1][0],
        },
        qx,
    )
    exact_ids = [ids[r] for r in methods["numpy brute force"][1]]
    top1 = [
        float(stored[r[0]] @ q) for r, q in zip(methods["numpy brute force"][1], qx, strict=True)
    ]
    out["typical_top1_cosine"] = round(float(np.median(top1)), 3)

    # -- approximate indexes ----------------------------------------------------------------
    approx_kinds = ["ivf"] + (["hnsw"] if args.hnsw else [])
    for kind in approx_kinds:
        config = IndexConfig(approx_threshold=10**12, approx_kind=kind, min_recall=0.95)  # type: ignore[arg-type]
        approx = VectorIndex(dim, config)
        approx.flat = index.flat  # share the stored vectors
        approx.ids = index.ids
        t = time.perf_counter()
        approx.build_approx()
        build_s = time.perf_counter() - t
        label = f"{kind} ({'nprobe' if kind == 'ivf' else 'efSearch'}={approx.approx_param})"
        timed = latencies({label: lambda q, a=approx: a.search(q[None], k)[1][0]}, queries)
        times, results = timed[label]
        recall = recall_at_k(np.array(results[:nq_exact]), np.array(exact_ids))
        methods[label] = (times, results)
        out[f"{kind}_build_s"] = round(build_s, 2)
        out[f"{kind}_add_per_s"] = round(n / build_s)
        out[f"{kind}_recall_at_10"] = round(recall, 4)
        out[f"{kind}_tuned_recall"] = round(approx.recall or 0.0, 4)
        approx.approx = None

    base = pct(methods["numpy brute force"][0], 50)
    out["search"] = {
        name: {
            "p50_ms": round(pct(times, 50), 3),
            "p99_ms": round(pct(times, 99), 3),
            "x_numpy_p50": round(base / pct(times, 50), 2),
        }
        for name, (times, _) in methods.items()
    }

    # -- batch of queries (what a multi-query caller would do) ------------------------------
    t = time.perf_counter()
    faiss_batch = index.flat.search(qx, k)
    out["batch_faiss_ms_per_query"] = round((time.perf_counter() - t) * 1e3 / nq_exact, 3)
    t = time.perf_counter()
    index.search(qx, k, exact=True)
    out["batch_numpy_ms_per_query"] = round((time.perf_counter() - t) * 1e3 / nq_exact, 3)
    del faiss_batch
    return out


def store_add_rate(items: int, dim: int, clusters: int) -> dict[str, Any]:
    """Durable adds: SQLite rows (WAL, synchronous=FULL) + index, batches of 1000."""
    from pygent_jupyter.services.memory.store import MemoryStore
    from pygent_jupyter.storage import Database

    x = clustered(items, dim, clusters, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "hub.db")
        store = MemoryStore(db, Path(tmp) / "memory", IndexConfig(approx_threshold=10**12))
        t = time.perf_counter()
        for start in range(0, items, 1000):
            m = min(1000, items - start)
            texts = [f"memory {start + j}" for j in range(m)]
            metas = [{"i": start + j} for j in range(m)]
            store.add("bench", "bench", texts, metas, x[start : start + m])
        add_s = time.perf_counter() - t
        t = time.perf_counter()
        store.save("bench")
        save_s = time.perf_counter() - t
        t = time.perf_counter()
        reopened = MemoryStore(db, Path(tmp) / "memory", IndexConfig(approx_threshold=10**12))
        reopened.open_all()
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        reopened._namespaces.clear()
        (Path(tmp) / "memory" / "bench.index").unlink()
        reopened.open_all()
        rebuild_s = time.perf_counter() - t
        db.close()
    return {
        "store_items": items,
        "store_add_per_s": round(items / add_s),
        "save_s": round(save_s, 3),
        "load_from_file_s": round(load_s, 3),
        "rebuild_from_sqlite_s": round(rebuild_s, 3),
    }


def embed_rate(count: int) -> dict[str, Any]:
    from pygent_jupyter.services.memory.minilm import MiniLM

    model = MiniLM()
    texts = [
        f"note {i}: the experiment with learning rate {i % 7} improved accuracy by {i % 13}%"
        for i in range(count)
    ]
    t = time.perf_counter()
    model.encode(texts)
    batch_s = time.perf_counter() - t
    single = []
    for text in texts[:20]:
        t = time.perf_counter()
        model.encode([text])
        single.append((time.perf_counter() - t) * 1e3)
    return {
        "minilm_texts_per_s": round(count / batch_s, 1),
        "minilm_single_p50_ms": round(pct(single, 50), 2),
    }


def stdlib_paragraphs(count: int) -> list[str]:
    """Real English text: docstring paragraphs of the Python standard library."""
    import ast
    import sysconfig

    texts: list[str] = []
    seen: set[str] = set()
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node) or ""
                for para in doc.split("\n\n"):
                    para = " ".join(para.split())
                    if len(para) >= 60 and para not in seen:
                        seen.add(para)
                        texts.append(para)
                        if len(texts) >= count:
                            return texts
    return texts


def real_text_recall(count: int, queries: int) -> dict[str, Any]:
    """Recall of IVF and HNSW on real MiniLM embeddings (stdlib docstrings)."""
    from pygent_jupyter.services.memory.minilm import MiniLM

    texts = stdlib_paragraphs(count + queries)
    model = MiniLM()
    t = time.perf_counter()
    vectors = model.encode(texts)
    embed_s = time.perf_counter() - t
    xb, q = vectors[:count], vectors[count:]
    ids = np.arange(1, len(xb) + 1, dtype=np.int64)
    out: dict[str, Any] = {
        "texts": len(xb),
        "queries": len(q),
        "embed_per_s": round(len(texts) / embed_s, 1),
    }
    exact = VectorIndex(384, IndexConfig(approx_threshold=10**12))
    exact.add(ids, xb)
    truth = exact.search(q, 10, exact=True)[1]
    out["top1_cosine"] = round(float(np.median(exact.search(q, 1, exact=True)[0])), 3)
    for kind in ("ivf", "hnsw"):
        config = IndexConfig(approx_threshold=10**12, approx_kind=kind, min_recall=0.95)  # type: ignore[arg-type]
        index = VectorIndex(384, config)
        index.add(ids, xb)
        index.build_approx()
        found = index.search(q, 10)[1]
        out[kind] = {
            "param": index.approx_param,
            "tuned_recall": round(index.recall or 0, 4),
            "recall_at_10": round(recall_at_k(found, truth), 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated vector counts")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--noise",
        type=float,
        default=0.75,
        help="spread around cluster centres (1.0: harder, top-1 cosine ~0.5)",
    )
    parser.add_argument(
        "--exact-queries", type=int, default=100, help="queries for the (slow at 1M) exact methods"
    )
    parser.add_argument("--hnsw", action="store_true", help="also build HNSW (slow at 1M)")
    parser.add_argument("--store-items", type=int, default=20_000)
    parser.add_argument("--embed", type=int, default=256, help="texts to embed with MiniLM")
    parser.add_argument(
        "--real",
        type=int,
        default=0,
        help="also embed this many real texts (stdlib docstrings) with MiniLM "
        "and report IVF/HNSW recall on them",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    print(
        f"faiss {faiss.__version__}, numpy {np.__version__}, "
        f"threads {faiss.omp_get_max_threads()}, gpus {faiss.get_num_gpus()}"
    )
    results: dict[str, Any] = {"sizes": []}
    for n in (int(s) for s in args.sizes.split(",")):
        r = run_size(n, args)
        results["sizes"].append(r)
        print(f"\n== {n:,} x {args.dim} (top-1 cosine of a query ~{r['typical_top1_cosine']}) ==")
        print(
            f"add: flat {r['add_flat_per_s']:,}/s"
            + "".join(
                f", {kind} build {r[f'{kind}_build_s']} s ({r[f'{kind}_add_per_s']:,}/s)"
                for kind in ("ivf", "hnsw")
                if f"{kind}_build_s" in r
            )
        )
        print(f"{'method':<28}{'p50 ms':>10}{'p99 ms':>10}{'vs numpy':>10}")
        for name, s in r["search"].items():
            print(f"{name:<28}{s['p50_ms']:>10.3f}{s['p99_ms']:>10.3f}{s['x_numpy_p50']:>9.2f}x")
        for kind in ("ivf", "hnsw"):
            if f"{kind}_recall_at_10" in r:
                print(
                    f"{kind} recall@10 vs exact: {r[f'{kind}_recall_at_10']} "
                    f"(tuned on stored-vector queries: {r[f'{kind}_tuned_recall']})"
                )
        print(
            f"batch of {min(args.queries, args.exact_queries)} queries, ms/query: faiss "
            f"{r['batch_faiss_ms_per_query']}, numpy {r['batch_numpy_ms_per_query']}"
        )
    if args.store_items:
        results["store"] = store_add_rate(args.store_items, args.dim, args.clusters)
        print("\ndurable store:", results["store"])
    if args.embed:
        results["embed"] = embed_rate(args.embed)
        print("MiniLM (NumPy, CPU):", results["embed"])
    if args.real:
        results["real"] = real_text_recall(args.real, 200)
        print("real MiniLM embeddings of stdlib docstrings:", results["real"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
