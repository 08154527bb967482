"""Evolution fitness on a 2-worker Dask ``LocalCluster`` vs in-process, in the same run.

1. A CPU-bound fitness (~50 ms of single-threaded NumPy per genome: elementwise maths and a
   sort, no BLAS threads), population 64, 5 generations, same seed: wall time in-process
   (the fitness inline on the event loop, as today) vs ``executor=client`` on
   ``LocalCluster(processes=True, n_workers=2, threads_per_worker=1)``, and vs a plain
   2-process pool (``ProcessExecutor(2)``: what two processes get from this machine, without a
   scheduler). Runs alternate (in-process, then the parallel ones, ``--repeats`` rounds) and
   each speed-up is taken within its round, as this machine's speed drifts. Checks the runs
   are identical (logbook without elapsed, genealogy fitness, best genome).
2. The Dask path's per-task overhead with a no-op fitness: the same evolution (population 64,
   5 generations) in-process vs on the cluster, overhead = time difference / evaluations; and
   the round trip of one task at a time.

Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``
(``distributed.nanny.pre-spawn-environ``). Setting any glibc malloc tunable turns off glibc's
dynamic mmap threshold, so every NumPy array over 128 KiB is a fresh ``mmap`` and its pages
fault in again on each allocation: ~30x the page faults of the same fitness in a plain
process, and about half the speed. The CPU-bound part therefore runs twice on the cluster:
with Dask's default worker environment, and with ``MALLOC_TRIM_THRESHOLD_`` left unset (the
setting docs/scale-out.md recommends for allocation-heavy fitness functions).

Run: ``.venv/bin/python benchmarks/evolution_dask.py [--repeats 3] [--ms 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
from typing import Any

import dask
import numpy as np
from distributed import Client, LocalCluster

from pygent_jupyter.executors import DaskExecutor, ProcessExecutor
from pygent_jupyter.services.evolution import RealVector, evolve

POP, NGEN, SEED = 64, 5, 17
SPEC = RealVector(8, low=-3.0, high=3.0)
_SIZE = 50_000


def _work(rounds: int) -> float:
    x = np.random.default_rng(0).standard_normal(_SIZE)
    for _ in range(rounds):
        x = np.sort(np.sin(x) * 1.0001 + 0.001)
    return float(x[0])


def cpu_fitness(genome: Any, rounds: int) -> float:
    """``-sum(x^2)`` after ``rounds`` of single-threaded NumPy work."""
    _work(rounds)
    return -float(np.dot(genome, genome))


def noop_fitness(genome: Any) -> float:
    return -float(sum(x * x for x in genome))


def calibrate(ms: float) -> int:
    """Rounds of :func:`_work` that take about ``ms`` milliseconds here."""
    _work(2)
    samples = []
    for _ in range(5):  # the median of five: one sample taken in a slow second misleads
        start = time.perf_counter()
        _work(10)
        samples.append((time.perf_counter() - start) / 10)
    return max(1, round(ms / 1000 / statistics.median(samples)))


def _rows(result: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "elapsed"} for row in result.logbook]


async def timed(fitness: Any, executor: Any = None) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await evolve(
        SPEC, fitness, population_size=POP, generations=NGEN, seed=SEED, executor=executor
    )
    return time.perf_counter() - start, result


async def round_trip(client: Any, n: int = 50) -> float:
    """Mean seconds for one no-op task, submitted and awaited one at a time."""
    executor = DaskExecutor(client)
    batch = executor.batch()
    start = time.perf_counter()
    for i in range(n):
        batch.submit(i, noop_fitness, [0.0])
        await batch.next()
    return (time.perf_counter() - start) / n


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
        return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


def _page_faults(rounds: int) -> int:
    """Minor page faults of one (warm) fitness call in the process that runs it."""
    import resource

    _work(rounds)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    _work(rounds)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _worker_environ(tuned: bool) -> dict[str, Any]:
    """Dask settings for the workers' environment: its defaults, or without the malloc tunable
    when ``tuned`` (``None`` unsets a variable). The nanny copies its variables into this
    process's ``os.environ`` before spawning, so an earlier cluster's value is removed too."""
    if not tuned:
        return {}
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def _identical(local: Any, remote: Any) -> bool:
    return bool(
        _rows(local) == _rows(remote)
        and local.best_genome == remote.best_genome
        and {i: n["fitness"] for i, n in local.genealogy.items()}
        == {i: n["fitness"] for i, n in remote.genealogy.items()}
    )


def _cluster() -> LocalCluster:
    return LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )


async def interleaved(
    args: argparse.Namespace, fitness: Any, parallel: dict[str, Any]
) -> tuple[list[float], dict[str, list[float]], bool]:
    """``args.repeats`` rounds of: the in-process run, then each executor in ``parallel``.
    Each speed-up is taken against the in-process run of its own round: this machine's speed
    drifts by tens of percent from minute to minute, so rounds are compared within."""
    local_times: list[float] = []
    ratios: dict[str, list[float]] = {name: [] for name in parallel}
    identical = True
    for _ in range(args.repeats):
        local_t, local = await timed(fitness)
        local_times.append(local_t)
        for name, executor in parallel.items():
            t, remote = await timed(fitness, executor)
            ratios[name].append(local_t / t)
            identical &= _identical(local, remote)
    return local_times, ratios, identical


def _report(label: str, ratios: list[float], faults: int | str, identical: bool) -> None:
    each = " ".join(f"{r:.2f}" for r in ratios)
    print(
        f"  {label:<34} speed-up {statistics.median(ratios):5.2f}x   (rounds: {each})   "
        f"[{faults}]   identical results: {identical}"
    )


async def cpu_bound(args: argparse.Namespace, fitness: Any, rounds: int) -> None:
    """The CPU-bound comparison: Dask with its default worker environment; then Dask without
    the malloc tunable beside a plain 2-process pool (``ProcessExecutor(2)``, no scheduler),
    which shows what two processes can get from this machine in the same minutes."""
    print(
        f"\nCPU-bound, population {POP}, {NGEN} generations, median of {args.repeats} rounds "
        "(each round: in-process, then the parallel runs); page faults per fitness call in "
        "brackets:"
    )
    print(f"  in-process: {_page_faults(rounds)} page faults per fitness call")
    with dask.config.set(_worker_environ(False)), _cluster() as cluster, Client(cluster) as c:
        c.wait_for_workers(2)
        await timed(noop_fitness, c)  # warm up: workers import numpy and pygent
        faults = max(c.run(_page_faults, rounds).values())
        local_times, ratios, same = await interleaved(args, fitness, {"dask": c})
    print(f"  in-process wall time, median     {statistics.median(local_times):7.2f} s")
    _report("Dask defaults, 2 workers", ratios["dask"], faults, same)
    pool = ProcessExecutor(2)
    try:
        with dask.config.set(_worker_environ(True)), _cluster() as cluster, Client(cluster) as c:
            c.wait_for_workers(2)
            await timed(noop_fitness, c)
            await timed(noop_fitness, pool)
            faults = max(c.run(_page_faults, rounds).values())
            local_times, ratios, same = await interleaved(args, fitness, {"dask": c, "pool": pool})
    finally:
        await pool.aclose()
    print(f"  in-process wall time, median     {statistics.median(local_times):7.2f} s")
    _report("Dask, no malloc tunable, 2 workers", ratios["dask"], faults, same)
    _report("plain process pool, 2 processes", ratios["pool"], "-", same)
    share = [d / p for d, p in zip(ratios["dask"], ratios["pool"], strict=True)]
    print(
        f"  Dask's speed-up as a share of the process pool's, same rounds: median "
        f"{statistics.median(share):.0%} (rounds: {' '.join(f'{x:.0%}' for x in share)})"
    )


async def main(args: argparse.Namespace) -> None:
    rounds = calibrate(args.ms)
    import functools

    fitness = functools.partial(cpu_fitness, rounds=rounds)
    single = []
    for _ in range(3):
        start = time.perf_counter()
        fitness([0.0] * 8)
        single.append(time.perf_counter() - start)
    print(f"fitness: {rounds} rounds, {statistics.median(single) * 1000:.1f} ms per genome here")
    print(_load())
    await cpu_bound(args, fitness, rounds)

    with _cluster() as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        await timed(noop_fitness, client)  # warm up
        noop_local, noop_remote = [], []
        for _ in range(args.repeats):
            t, local = await timed(noop_fitness)
            noop_local.append(t)
            t, _remote = await timed(noop_fitness, client)
            noop_remote.append(t)
        n = local.data["stats"]["evaluations"]
        nl, nr = statistics.median(noop_local), statistics.median(noop_remote)
        rt = await round_trip(client)
        print(f"\nno-op fitness, {n} evaluations, median of {args.repeats}:")
        print(f"  in-process          {nl * 1000:7.1f} ms")
        print(f"  Dask, 2 workers     {nr * 1000:7.1f} ms")
        print(f"  overhead per task   {(nr - nl) / n * 1000:7.2f} ms (pipelined)")
        print(f"  one task at a time  {rt * 1000:7.2f} ms round trip")
    print(_load())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ms", type=float, default=50.0, help="fitness milliseconds")
    asyncio.run(main(parser.parse_args()))
