"""EvolutionService with a Dask cluster and resume, over the real socket: ``executor: "dask"``
runs the variants on the cluster's workers with progress per evaluation and every result
saved as it arrives; no cluster (or an unreachable one) is ``unavailable``; a stopped run
resumes from its checkpoint and ends as the uninterrupted run would."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from .scripted import ScriptedChatModel, arithmetic_responder
from .test_service import GENOME, SERVICES, TASKS, collect, use


@pytest.fixture
def pygent_config(request: Any) -> dict[str, Any]:
    evolution: dict[str, Any] = dict(getattr(request, "param", {}))
    if "cluster" in request.fixturenames:
        evolution["dask_scheduler"] = request.getfixturevalue("cluster").scheduler_address
    return {"PygentJupyter": {"services": SERVICES}, "EvolutionService": evolution}


RUN: dict[str, Any] = {
    "genome": GENOME,
    "task_set": TASKS,
    "population_size": 6,
    "generations": 3,
    "seed": 3,
    "register": 0,
}


async def test_a_run_on_the_cluster_streams_each_evaluation_and_saves_it(
    cluster: Any, pygent_app: Any, ws_client: Any
) -> None:
    model = use(pygent_app, ScriptedChatModel(arithmetic_responder))
    client = await ws_client()
    await client.send("start_evolution", {**RUN, "executor": "dask"}, id="d1")
    progress, complete = await collect(client, "d1", timeout=60)

    started = progress[0]
    assert started["phase"] == "started"
    assert started["executor"]["kind"] == "dask"
    assert started["executor"]["address"] == cluster.scheduler_address
    assert complete["status"] == "completed", complete
    evaluations = [p for p in progress if p["phase"] == "evaluation"]
    assert len(evaluations) == complete["stats"]["evaluations"] > 0
    first_row = next(i for i, p in enumerate(progress) if p["phase"] == "generation")
    assert [p["evaluated"] for p in progress[1:first_row]] == list(range(1, 7))
    assert complete["stats"]["tokens"] > 0
    assert model.calls == []  # the model was called on the workers, not in the server

    saved = (await client.request("get_evolution_run", {"run_id": complete["run_id"]}))["data"]
    assert saved["status"] == "completed" and len(saved["logbook"]) == 4
    # the journal of results since the last checkpoint is folded into it
    conn = sqlite3.connect(pygent_app.db.path)
    try:
        left = conn.execute("SELECT COUNT(*) FROM evolution_evaluations").fetchone()[0]
    finally:
        conn.close()
    assert left == 0


async def test_asking_for_dask_without_a_cluster_is_unavailable(
    pygent_app: Any, ws_client: Any
) -> None:
    use(pygent_app, ScriptedChatModel(arithmetic_responder))
    client = await ws_client()
    with pytest.raises(AssertionError, match=r"unavailable.*dask_scheduler"):
        await client.request("start_evolution", {**RUN, "executor": "dask"})
    with pytest.raises(AssertionError, match="invalid"):
        await client.request("start_evolution", {**RUN, "executor": "gpu-farm"})


@pytest.mark.parametrize(
    "pygent_config",
    [{"dask_scheduler": "tcp://127.0.0.1:9", "dask_connect_timeout": 1}],
    indirect=True,
)
async def test_an_unreachable_cluster_is_unavailable(pygent_app: Any, ws_client: Any) -> None:
    use(pygent_app, ScriptedChatModel(arithmetic_responder))
    client = await ws_client()
    with pytest.raises(AssertionError, match=r"unavailable.*cannot reach the Dask scheduler"):
        await client.request("start_evolution", {**RUN, "executor": "dask"}, timeout=20)


async def test_a_stopped_run_resumes_and_ends_as_if_never_stopped(
    pygent_app: Any, ws_client: Any
) -> None:
    use(pygent_app, ScriptedChatModel(arithmetic_responder, latency=0.02))
    client = await ws_client()
    run = {**RUN, "generations": 4, "population_size": 8}
    await client.send("start_evolution", {**run, "run_id": "straight"}, id="s1")
    _progress, straight = await collect(client, "s1", timeout=60)

    await client.send("start_evolution", {**run, "run_id": "cut"}, id="c1")
    while True:  # stop in the middle of generation 2
        event = await client.recv("evolution_progress", timeout=20)
        data = event["data"]
        if data.get("phase") == "evaluation" and data["generation"] == 2 and data["evaluated"] >= 2:
            break
    await client.request("stop_evolution", {"run_id": "cut"})
    _progress, cut = await collect(client, "c1", timeout=30)
    assert cut["status"] == "stopped"
    conn = sqlite3.connect(pygent_app.db.path)
    try:
        journal = conn.execute(  # keys are per user: <hash of the user>/cut
            "SELECT COUNT(*) FROM evolution_evaluations WHERE run_id LIKE '%/cut'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert journal >= 2  # the finished evaluations of the cut generation were saved

    with pytest.raises(AssertionError, match="conflict"):
        await client.request("resume_evolution", {"run_id": "straight"})  # completed
    with pytest.raises(AssertionError, match="not_found"):
        await client.request("resume_evolution", {"run_id": "nope"})

    await client.send("resume_evolution", {"run_id": "cut"}, id="r1")
    progress, resumed = await collect(client, "r1", timeout=60)
    assert progress[0]["phase"] == "started" and progress[0]["resumed"] is True
    assert progress[0]["reused_evaluations"] == journal
    assert progress[0]["generation"] == 1  # continues after the last full generation
    assert resumed["status"] == "completed" and resumed["generations"] == 4
    for key in ("evaluations", "tokens", "errors"):
        assert resumed["stats"][key] == straight["stats"][key], key
    assert resumed["best"]["genome"] == straight["best"]["genome"]
    assert resumed["best"]["fitness"] == straight["best"]["fitness"]

    saved = (await client.request("get_evolution_run", {"run_id": "cut"}))["data"]
    assert saved["status"] == "completed"
    assert [r["generation"] for r in saved["logbook"]] == [0, 1, 2, 3, 4]
