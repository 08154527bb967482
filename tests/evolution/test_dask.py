"""Evolution on a real Dask cluster (``LocalCluster``, 2 worker processes): same result as
in-process with the same seed, progress per evaluation as results arrive, a worker killed
mid-run loses nothing, stop cancels the cluster's tasks, an interrupted run resumes from its
checkpoint and journal, and an unpicklable fitness is refused naming the cause."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import numpy as np
import pytest

from pygent_jupyter.executors import UnpicklableError
from pygent_jupyter.services.evolution import Evolution, RealVector, evolve, load_checkpoint
from pygent_jupyter.services.evolution.api import resume_evolution


@pytest.fixture
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


def cpu_fitness(genome: Any, delay: float = 0.0, log: str | None = None) -> dict[str, Any]:
    """~10 ms of NumPy; the score is -sum(x^2). ``delay`` sleeps first; ``log`` records the
    call (one line per call, from whichever process made it)."""
    if delay:
        time.sleep(delay)
    x = np.asarray(genome, dtype=float)
    m = np.random.default_rng(7).standard_normal((80, 80))
    for _ in range(4):
        m = np.tanh(m @ m / 80.0)
    if log is not None:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")
    return {"fitness": -float(x @ x) + 0.0 * float(m[0, 0]), "details": {"pid": os.getpid()}}


SPEC = RealVector(6, low=-3.0, high=3.0)
OPTIONS: dict[str, Any] = {"population_size": 12, "generations": 3, "seed": 11}


def _rows(result: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "elapsed"} for row in result.logbook]


def _fitnesses(result: Any) -> dict[int, Any]:
    return {i: node["fitness"] for i, node in result.genealogy.items()}


async def test_a_cluster_run_equals_the_in_process_run_and_streams_each_evaluation(
    client: Any,
) -> None:
    local = await evolve(SPEC, cpu_fitness, **OPTIONS)
    events: list[dict[str, Any]] = []
    remote = await evolve(SPEC, cpu_fitness, executor=client, on_event=events.append, **OPTIONS)

    assert _rows(remote) == _rows(local)
    assert remote.best_genome == local.best_genome
    assert _fitnesses(remote) == _fitnesses(local)
    # the work ran in the worker processes, not here
    pids = {ind.result.details["pid"] for ind in remote.hall_of_fame}
    assert os.getpid() not in pids
    # one progress event per finished evaluation, before the generation's own row
    phases = [(e["data"]["phase"], e["data"]["generation"]) for e in events[:-1]]
    evaluations = [p for p in phases if p[0] == "evaluation"]
    assert len(evaluations) == remote.data["stats"]["evaluations"]
    first_row = phases.index(("generation", 0))
    assert phases[:first_row] == [("evaluation", 0)] * OPTIONS["population_size"]
    counts = [
        e["data"]["evaluated"]
        for e in events
        if e["data"].get("phase") == "evaluation" and e["data"]["generation"] == 0
    ]
    assert counts == list(range(1, OPTIONS["population_size"] + 1))


async def test_a_worker_killed_mid_run_loses_nothing(client: Any) -> None:
    reference = await evolve(SPEC, cpu_fitness, **OPTIONS)
    victim = next(iter(client.run(os.getpid).values()))
    killed = threading.Event()

    def kill_on_first_result(event: dict[str, Any]) -> None:
        if event["data"].get("phase") == "evaluation" and not killed.is_set():
            os.kill(victim, signal.SIGKILL)
            killed.set()

    slow = functools.partial(cpu_fitness, delay=0.08)
    result = await evolve(SPEC, slow, executor=client, on_event=kill_on_first_result, **OPTIONS)

    assert killed.is_set()
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)
    assert result.status == "completed" and result.reason == "generations"
    assert result.data["stats"]["errors"] == 0
    assert _rows(result) == _rows(reference)
    assert _fitnesses(result) == _fitnesses(reference)


def _our_tasks(cluster: Any) -> list[str]:
    return [str(k) for k in cluster.scheduler.tasks if str(k).startswith("pygent-")]


async def test_stop_cancels_the_tasks_on_the_cluster(client: Any, cluster: Any) -> None:
    slow = functools.partial(cpu_fitness, delay=1.5)
    run = Evolution(SPEC, slow, executor=client, population_size=8, generations=2, seed=1)
    task = run.start()
    deadline = time.monotonic() + 20
    while not any(
        str(k).startswith("pygent-") for keys in client.processing().values() for k in keys
    ):
        assert time.monotonic() < deadline, "no task reached a worker"
        await asyncio.sleep(0.05)
    began = time.monotonic()
    run.stop()
    result = await asyncio.wait_for(task, 10)
    assert time.monotonic() - began < 1.0  # did not wait for the 1.5 s evaluations
    assert result.status == "stopped"
    assert result.data["stats"]["evaluations"] == 0
    deadline = time.monotonic() + 5
    while _our_tasks(cluster):
        assert time.monotonic() < deadline, f"left on the cluster: {_our_tasks(cluster)}"
        await asyncio.sleep(0.05)


async def test_an_interrupted_cluster_run_resumes_from_checkpoint_and_journal(
    client: Any, tmp_path: Path
) -> None:
    reference = await evolve(SPEC, cpu_fitness, **OPTIONS)
    checkpoint = tmp_path / "run.json"
    calls = tmp_path / "calls.log"
    fitness = functools.partial(cpu_fitness, delay=0.05, log=str(calls))
    seen: list[dict[str, Any]] = []
    run = Evolution(
        SPEC,
        fitness,
        executor=client,
        checkpoint_path=checkpoint,
        on_event=seen.append,
        **OPTIONS,
    )
    task = run.start()
    # crash (cancel) in the middle of generation 1, after some of its evaluations arrived
    while not [
        e for e in seen if e["data"].get("generation") == 1 and e["data"].get("evaluated") == 3
    ]:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)  # evaluations cut by the crash finish on the workers, unheard
    journal = run.journal_path
    assert journal is not None
    saved = len(journal.read_text().splitlines())
    assert saved >= 3
    checkpointed = load_checkpoint(checkpoint)["counters"]["evaluations"]
    calls_before = len(calls.read_text().splitlines())

    result = await resume_evolution(checkpoint, SPEC, fitness, executor=client)

    assert _rows(result) == _rows(reference)
    assert _fitnesses(result) == _fitnesses(reference)
    total = reference.data["stats"]["evaluations"]
    assert result.data["stats"]["evaluations"] == total
    # only what was neither checkpointed nor journaled was evaluated again
    assert len(calls.read_text().splitlines()) - calls_before == total - checkpointed - saved
    assert not journal.exists()  # folded into the final checkpoint


async def test_an_unpicklable_fitness_is_refused_naming_the_cause(client: Any) -> None:
    lock = threading.Lock()

    def guarded(genome: Any) -> float:
        with lock:
            return float(sum(genome))

    with pytest.raises(UnpicklableError, match=r"captured variable 'lock'.*pickle"):
        Evolution(SPEC, guarded, executor=client, population_size=4, generations=1)
    # in-process it still runs
    assert (await evolve(SPEC, guarded, population_size=4, generations=1, seed=1)).best_fitness


async def test_workers_call_the_model_server_with_a_key_only_they_hold(client: Any) -> None:
    """Agent variants scored on the cluster: each worker builds its own OpenAI-compatible
    client from the backend's spec and its own environment; the key is in no task."""
    import cloudpickle

    from pygent_jupyter.executors import worker_provider
    from pygent_jupyter.llm.backends import BackendSpec
    from pygent_jupyter.llm.openai_compat import OpenAIProvider
    from pygent_jupyter.services.evolution import AgentGenomeSpec, AgentVariantEvaluator, TaskSet
    from pygent_jupyter.services.evolution.tasks import Task
    from pygent_jupyter.testing.openai_server import OpenAITestServer, Reply

    from .conftest import WORKER_KEY, WORKER_KEY_ENV

    server = OpenAITestServer(models=["tiny"], api_key=WORKER_KEY).start_in_thread()
    server.responder = lambda body: Reply("5")
    try:
        config = BackendSpec(
            name="lab-gpu",
            kind="openai",
            base_url=server.base_url,
            api_key_env=WORKER_KEY_ENV,
            default_model="tiny",
        )
        # the server-side provider holds the key (as the Jupyter server's would)...
        provider = OpenAIProvider(config, WORKER_KEY)
        tasks = TaskSet("adds", [Task("What is 2 + 3?", "5"), Task("What is 1 + 1?", "2")])
        evaluator = AgentVariantEvaluator(worker_provider(provider), tasks)
        # ...but what travels to the workers does not
        assert WORKER_KEY.encode() not in cloudpickle.dumps(evaluator)
        spec = AgentGenomeSpec(seed_prompts=["Answer with a number."], models=["tiny"])
        result = await evolve(
            spec, evaluator, executor=client, population_size=4, generations=1, seed=1
        )
    finally:
        server.stop_thread()
    assert result.best_fitness == 0.5  # "5" is right for one task of two: the calls worked
    assert result.data["stats"]["tokens"] > 0
    chats = [r for r in server.requests if r[1].endswith("/chat/completions")]
    assert len(chats) == 2 * result.data["stats"]["evaluations"]


def costly_fitness(genome: Any) -> tuple[float, int]:
    """A score and the tokens it 'spent' (as an LLM-based fitness reports them)."""
    return -float(np.dot(genome, genome)), 100


async def test_budgets_count_what_the_workers_did(client: Any) -> None:
    by_count = await evolve(
        SPEC,
        costly_fitness,
        executor=client,
        population_size=12,
        generations=50,
        max_evaluations=30,
        seed=2,
    )
    assert by_count.reason == "evaluations"
    assert by_count.data["stats"]["evaluations"] == 30  # none over: the rest were cancelled
    assert by_count.data["stats"]["tokens"] == 3000
    by_tokens = await evolve(
        SPEC,
        costly_fitness,
        executor=client,
        population_size=12,
        generations=50,
        max_tokens=2500,
        seed=2,
    )
    assert by_tokens.reason == "tokens"
    assert by_tokens.data["stats"]["tokens"] == 2500


async def test_the_widget_shows_each_evaluation_while_a_generation_is_built(
    client: Any,
) -> None:
    from pygent_jupyter.widgets import EvolutionWidget

    widget = EvolutionWidget()
    headers: list[str] = []

    def feed(event: dict[str, Any]) -> None:
        widget.feed(event)
        if event["data"].get("phase") == "evaluation":
            widget._draw()
            headers.append(widget.header.value)

    await evolve(SPEC, cpu_fitness, executor=client, on_event=feed, **OPTIONS)
    assert "generation 0: 1/12 evaluated" in headers[0]
    assert "generation 0: 12/12 evaluated" in headers[11]
    assert [g["generation"] for g in widget.generations] == [0, 1, 2, 3]


async def test_a_game24_batch_runs_its_items_on_the_cluster(client: Any) -> None:
    from reasoning.scripted import ScriptedProvider, game24_oracle  # tests/reasoning

    from pygent_jupyter.services.reasoning.api import arun_batch

    local_model = ScriptedProvider(game24_oracle())
    local = await arun_batch("game24", range(900, 904), provider=local_model, record=False)
    model = ScriptedProvider(game24_oracle())
    arrived: list[Any] = []
    remote = await arun_batch(
        "game24",
        range(900, 904),
        provider=model,
        executor=client,
        record=False,
        on_result=arrived.append,
    )
    assert [r.index for r in remote.results] == [900, 901, 902, 903]
    assert [(r.solved, r.answer, r.llm_calls, r.tokens) for r in remote.results] == [
        (r.solved, r.answer, r.llm_calls, r.tokens) for r in local.results
    ]
    assert sorted(r.index for r in arrived) == [900, 901, 902, 903]  # each as it finished
    assert model.calls == [] and local_model.calls  # the searches ran on the workers
    # the blocking notebook form takes the same executor
    from pygent_jupyter.services.reasoning import run_game24_batch

    report = await asyncio.to_thread(
        run_game24_batch, 900, 902, provider=model, executor=client, record=False
    )
    assert [(r.index, r.solved) for r in report.results] == [
        (r.index, r.solved) for r in local.results[:2]
    ]
