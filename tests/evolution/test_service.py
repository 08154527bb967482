"""EvolutionService over the real socket: live progress, completion, stop, saved runs with
logbook and genealogy, winners registered as agent types usable in chat, and errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pygent_jupyter.services.evolution import store

from .scripted import KEY_PHRASE, ScriptedChatModel, arithmetic_responder

SERVICES = [
    "pygent_jupyter.services.agents:AgentsService",
    "pygent_jupyter.services.evolution.service:EvolutionService",
]

TASKS = {
    "name": "addition",
    "tasks": [
        {"input": "What is 2 + 3?", "expected": "5"},
        {"input": "What is 10 + 7?", "expected": "17"},
        {"input": "What is 41 + 1?", "expected": "42", "match": "exact"},
    ],
}

GENOME = {
    "seed_prompts": [
        "You are a helpful assistant.",
        "You are a friendly math tutor. Explain your reasoning.",
        "Think about the question.",
    ],
    "prompt_pool": ["Be polite.", KEY_PHRASE, "Use simple words."],
    "evolve": ["system_prompt", "temperature"],
}


@pytest.fixture
def pygent_config() -> dict[str, Any]:
    return {"PygentJupyter": {"services": SERVICES}}


def use(app: Any, model: ScriptedChatModel) -> ScriptedChatModel:
    """Every LLM call of agents and evolution goes to ``model`` (the agents service's seam)."""
    app.hub.service("agents").set_provider(model)
    return model


async def collect(client: Any, msg_id: str, timeout: float = 20.0) -> tuple[list, dict]:
    progress = []
    while True:
        event = await client.recv(timeout=timeout)
        if event.get("reply_to") != msg_id:
            continue
        if event["type"] == "error":
            raise AssertionError(event["data"])
        if event["type"] == "evolution_progress":
            progress.append(event["data"])
        elif event["type"] == "evolution_complete":
            return progress, event["data"]


async def test_a_run_streams_generations_saves_them_and_registers_the_winner(
    pygent_app: Any, ws_client: Any, tmp_path: Path
) -> None:
    model = use(pygent_app, ScriptedChatModel(arithmetic_responder))
    client = await ws_client()
    await client.send(
        "start_evolution",
        {
            "genome": GENOME,
            "task_set": TASKS,
            "population_size": 8,
            "generations": 10,
            "operators": {"selection": "tournament", "mutpb": 0.7, "elitism": 1},
            "seed": 1,
            "target": 1.0,
            "agent_name": "adder",
        },
        id="e1",
    )
    progress, complete = await collect(client, "e1")
    assert progress[0]["phase"] == "started" and progress[0]["task_set"]["tasks"] == 3
    run_id = progress[0]["run_id"]
    generations = [p for p in progress if p["phase"] == "generation"]
    assert [p["generation"] for p in generations] == list(range(len(generations)))
    assert generations[0]["best"] == 0.0  # no seed prompt has the key phrase
    for key in ("mean", "std", "diversity", "selection_pressure", "evaluations", "elapsed"):
        assert generations[-1][key] is not None

    assert complete["run_id"] == run_id and complete["status"] == "completed"
    assert complete["reason"] == "target"
    assert complete["best"]["fitness"] == 1.0
    assert KEY_PHRASE in complete["best"]["genome"]["system_prompt"]
    assert complete["improvement"]["absolute"] == 1.0
    assert complete["stats"]["tokens"] > 0 and len(model.calls) > 0
    name = complete["agent_types"][0]
    assert name.startswith("adder-")

    # the winner is a chat agent for this user
    await client.send(
        "chat_message", {"message": {"content": "What is 20 + 22?", "agentId": name}}, id="c1"
    )
    reply = await client.recv("chat_response", timeout=10)
    assert reply["data"]["message"]["content"].strip() == "42"
    agents = pygent_app.hub.service("agents")
    assert agents.agents.get(name, user="someone-else") is None

    # saved: run, logbook, genealogy
    listed = await client.request("list_evolution_runs", {})
    assert listed["data"]["runs"][0]["run_id"] == run_id
    assert listed["data"]["runs"][0]["best_fitness"] == 1.0
    saved = (await client.request("get_evolution_run", {"run_id": run_id}))["data"]
    assert saved["status"] == "completed"
    assert [r["generation"] for r in saved["logbook"]] == [p["generation"] for p in generations]
    best_id = str(complete["best"]["id"])
    assert (
        saved["genealogy"][best_id]["genome"]["system_prompt"]
        == (complete["best"]["genome"]["system_prompt"])
    )
    db_path = pygent_app.db.path
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        row = store.get_run(conn, _owner(conn), run_id)
        assert row is not None and row["checkpoint"]["generation"] == generations[-1]["generation"]
        assert [v["name"] for v in store.load_variants(conn)] == [name]
    finally:
        conn.close()


async def test_stop_completes_with_what_it_has(pygent_app: Any, ws_client: Any) -> None:
    use(pygent_app, ScriptedChatModel(arithmetic_responder, latency=0.05))
    client = await ws_client()
    await client.send(
        "start_evolution",
        {
            "genome": GENOME,
            "task_set": TASKS,
            "population_size": 6,
            "generations": 50,
            "run_id": "mine-1",
            "register": 0,
        },
        id="e1",
    )
    started = await client.recv("evolution_progress")
    assert started["data"]["run_id"] == "mine-1"
    reply = await client.request("stop_evolution", {"run_id": "mine-1"})
    assert reply["data"]["phase"] == "stopping"
    _progress, complete = await collect(client, "e1")
    assert complete["status"] == "stopped" and complete["reason"] == "stopped"
    assert complete["generations"] <= 1 and complete["agent_types"] == []
    saved = (await client.request("get_evolution_run", {"run_id": "mine-1"}))["data"]
    assert saved["status"] == "stopped"
    with pytest.raises(AssertionError, match="not_found"):
        await client.request("stop_evolution", {"run_id": "mine-1"})


async def test_bad_requests_get_clear_errors(pygent_app: Any, ws_client: Any) -> None:
    use(pygent_app, ScriptedChatModel(arithmetic_responder))
    client = await ws_client()
    bad = [
        ({"genome": GENOME, "task_set": {"name": "nope"}}, "built-in name"),
        ({"genome": GENOME, "task_set": TASKS, "operators": {"selection": "lottery"}}, "invalid"),
        ({"genome": GENOME, "task_set": TASKS, "population_size": 500}, "population_size"),
        (
            {
                "genome": GENOME,
                "task_set": {
                    "name": "x",
                    "tasks": [{"input": "a", "expected": "(", "match": "regex"}],
                },
            },
            "bad regex",
        ),
        ({"genome": {**GENOME, "temperature_range": [0.9, 0.1]}, "task_set": TASKS}, "low <= high"),
    ]
    for data, fragment in bad:
        with pytest.raises(AssertionError, match=fragment):
            await client.request("start_evolution", data)
    with pytest.raises(AssertionError, match="not_found"):
        await client.request("get_evolution_run", {"run_id": "nope"})


def _owner(conn: sqlite3.Connection) -> str:
    """The user who saved the (only) evolution run in ``conn``."""
    return str(conn.execute("SELECT DISTINCT user FROM evolution_runs").fetchone()[0])
