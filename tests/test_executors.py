"""The executor seam: choosing an executor, a real local process pool streaming outcomes in
completion order, unpicklable functions named, unreachable clusters reported, and model
backends shipped to workers without their credential."""

from __future__ import annotations

import os
import pickle
import threading
import time
from typing import Any

import pytest

from pygent_jupyter.executors import (
    BackendSpec,
    ExecutorError,
    ProcessExecutor,
    UnpicklableError,
    WorkerProvider,
    as_executor,
    backend_spec,
    check_picklable,
    chunk_sizes,
    resolve,
    worker_provider,
)
from pygent_jupyter.services.evolution import Evolution, RealVector, evolve


def call_prepared(handle: Any, x: float, wait_for: str | None, done: str) -> tuple[int, Any]:
    """A worker function: wait (30 s at most) until the file ``wait_for`` exists, apply the
    prepared (shipped) function, then create the file ``done``. Ordering by files rather than
    by sleeps keeps the test true when a worker process is slow to spawn on a busy machine."""
    deadline = time.monotonic() + 30.0
    while wait_for is not None and not os.path.exists(wait_for) and time.monotonic() < deadline:
        time.sleep(0.01)
    result = os.getpid(), resolve(handle)(x)
    open(done, "w").close()
    return result


def build_and_read_key(spec: BackendSpec) -> str | None:
    """On a worker: build the provider from the spec; the key it got (from the worker's env)."""
    provider = spec.build()
    return provider._api_key  # type: ignore[no-any-return]


async def test_a_process_pool_runs_a_notebook_lambda_and_streams_in_completion_order(
    tmp_path: Any,
) -> None:
    executor = as_executor("processes")
    assert isinstance(executor, ProcessExecutor)
    try:
        offset = 10.0
        handle = executor.prepare(lambda x: x + offset)  # a lambda: needs cloudpickle
        batch = executor.batch()
        fast_done, slow_done = str(tmp_path / "fast"), str(tmp_path / "slow")
        batch.submit("slow", call_prepared, handle, 1.0, fast_done, slow_done)
        batch.submit("fast", call_prepared, handle, 2.0, None, fast_done)
        outcomes = [item async for item in batch.results()]
    finally:
        await executor.aclose()
    assert [tag for tag, _, _ in outcomes] == ["fast", "slow"]
    assert [value[1] for _, value, _ in outcomes] == [12.0, 11.0]
    assert all(error is None for _, _, error in outcomes)
    assert os.getpid() not in {value[0] for _, value, _ in outcomes}


def sphere(genome: Any) -> float:
    return -sum(x * x for x in genome)


async def test_evolution_on_a_process_pool_equals_the_in_process_run() -> None:
    options: dict[str, Any] = {"population_size": 10, "generations": 3, "seed": 5}
    local = await evolve(RealVector(4), sphere, **options)
    pooled = await evolve(RealVector(4), sphere, executor=ProcessExecutor(2), **options)
    assert pooled.logbook[-1]["best"] == local.logbook[-1]["best"]
    assert pooled.best_genome == local.best_genome
    assert pooled.data["stats"]["evaluations"] == local.data["stats"]["evaluations"]


class _Holder:
    def __init__(self) -> None:
        self.conn = threading.Lock()
        self.scale = 2

    def __call__(self, genome: Any) -> float:
        return float(sum(genome)) * self.scale


def test_unpicklable_functions_are_refused_naming_the_culprit() -> None:
    lock = threading.Lock()

    def closure(genome: Any) -> float:
        with lock:
            return 0.0

    with pytest.raises(
        UnpicklableError, match=r"closure' cannot be sent.*captured variable 'lock'"
    ):
        check_picklable(closure, "the fitness function")
    with pytest.raises(UnpicklableError, match=r"attribute 'conn'"):
        check_picklable(_Holder(), "the fitness function")
    with pytest.raises(UnpicklableError, match="captured variable 'lock'"):
        Evolution(RealVector(2), closure, executor="processes", population_size=4)
    assert pickle.loads(check_picklable(sphere)) is sphere


def test_choosing_an_executor() -> None:
    assert as_executor(None) is None
    assert as_executor("inprocess") is None
    with pytest.raises(ValueError, match="unknown executor 'gpu'"):
        as_executor("gpu")
    with pytest.raises(ValueError, match="cannot run tasks on a int"):
        as_executor(3)


def test_an_unreachable_scheduler_is_reported_quickly() -> None:
    pytest.importorskip("distributed")
    began = time.monotonic()
    with pytest.raises(
        ExecutorError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        as_executor("tcp://127.0.0.1:9", connect_timeout=2)
    assert time.monotonic() - began < 10


def test_backends_travel_as_specs_without_their_credential(monkeypatch: Any) -> None:
    pytest.importorskip("openai")
    from pygent_jupyter.llm.backends import BackendSpec as Configured
    from pygent_jupyter.llm.openai_compat import OpenAIProvider

    secret = "sk-never-in-a-task-0123456789"
    config = Configured(
        name="gpu", kind="openai", base_url="http://vllm:8000/v1", api_key_env="PYGENT_T_KEY"
    )
    shipped = worker_provider(OpenAIProvider(config, secret))
    assert isinstance(shipped, WorkerProvider)
    blob = check_picklable(shipped)
    assert secret.encode() not in blob
    assert secret not in repr(shipped) and secret not in repr(shipped.spec)
    # a worker reads the key from its own environment, or says which variable is missing
    spec = pickle.loads(blob).spec
    monkeypatch.delenv("PYGENT_T_KEY", raising=False)
    with pytest.raises(ValueError, match="PYGENT_T_KEY is not set"):
        build_and_read_key(spec)
    monkeypatch.setenv("PYGENT_T_KEY", "sk-worker-side")
    assert build_and_read_key(spec) == "sk-worker-side"


def test_ollama_and_embedded_backends_get_specs() -> None:
    class Ollama:
        name = "ollama"
        host = "http://gpu-box:11434"
        model = "qwen2.5:0.5b"
        default_model = "qwen2.5:0.5b"

    spec = backend_spec(Ollama())
    assert spec == BackendSpec("ollama", {"host": "http://gpu-box:11434", "model": "qwen2.5:0.5b"})
    assert worker_provider(Ollama()).default_model == "qwen2.5:0.5b"

    class Local:
        name = "local"

    assert backend_spec(Local()) == BackendSpec("local", {})


def test_a_burst_is_cut_into_chunks_that_shrink_to_one_call() -> None:
    sizes = chunk_sizes(46, 2)
    assert sum(sizes) == 46
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] == 12 and sizes[-1] == 1
    assert chunk_sizes(64, 100) == [1] * 64  # a big cluster: one call per task
    assert chunk_sizes(0, 2) == []
