"""ReasoningService over the real socket: live updates, completion, stop, saved runs, errors,
and the chat `reasoning` agent."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pygent_jupyter.llm import Options

from .scripted import ScriptedProvider, game24_oracle

SERVICES = [
    "pygent_jupyter.services.agents:AgentsService",
    "pygent_jupyter.services.reasoning.service:ReasoningService",
]


@pytest.fixture
def pygent_config() -> dict[str, Any]:
    return {"PygentJupyter": {"services": SERVICES}}


def use(app: Any, provider: ScriptedProvider) -> ScriptedProvider:
    app.hub.service("reasoning").provider = provider
    return provider


async def collect_run(client: Any, msg_id: str, timeout: float = 20.0) -> tuple[list, dict]:
    updates = []
    while True:
        event = await client.recv(timeout=timeout)
        if event.get("reply_to") != msg_id:
            continue
        if event["type"] == "error":
            raise AssertionError(event["data"])
        if event["type"] == "reasoning_update":
            updates.append(event["data"])
        elif event["type"] == "reasoning_complete":
            return updates, event["data"]


async def test_game24_run_streams_every_node_and_completes_solved(pygent_app, ws_client):
    provider = use(pygent_app, ScriptedProvider(game24_oracle()))
    client = await ws_client()
    await client.send(
        "start_reasoning",
        {"task": "game24", "puzzle": "4 5 6 10", "n_select_sample": 5, "n_evaluate_sample": 3},
        id="r1",
    )
    updates, complete = await collect_run(client, "r1")
    assert updates[0]["event"] == "started" and updates[0]["params"]["n_select_sample"] == 5
    run_id = updates[0]["run_id"]
    assert all(u["run_id"] == run_id for u in updates)
    nodes = [u["node"] for u in updates if u["event"] == "node"]
    assert {n["status"] for n in nodes} == {"proposed", "evaluated", "selected", "pruned"}
    assert all(
        {"id", "parent_id", "depth", "thought", "value", "status"} <= n.keys() for n in nodes
    )
    assert [u["step"] for u in updates if u["event"] == "step"] == [1, 2, 3, 4]

    assert complete["run_id"] == run_id and complete["solved"] is True
    assert complete["status"] == "solved" and complete["answer"]
    assert len(complete["best_path"]) == 4 and complete["best_path"][-1].startswith("Answer:")
    assert complete["stats"]["llm_calls"] == len(provider.calls)
    assert complete["stats"]["tokens"] > 0 and complete["stats"]["wall_time"] > 0

    listed = await client.request("list_reasoning_runs", {})
    assert listed["type"] == "reasoning_runs"
    assert [r["run_id"] for r in listed["data"]["runs"]] == [run_id]
    assert listed["data"]["runs"][0]["status"] == "solved"
    run = await client.request("get_reasoning_run", {"run_id": run_id})
    tree = run["data"]["tree"]
    assert tree["params"]["n_evaluate_sample"] == 3
    assert len(tree["nodes"]) == len({n["id"] for n in nodes}) + 1  # + the root
    assert tree["best_path"] == complete["best_path"]


async def test_stop_completes_within_one_model_call_with_the_best_path(pygent_app, ws_client):
    use(pygent_app, ScriptedProvider(game24_oracle(), latency=0.5))
    client = await ws_client()
    await client.send("start_reasoning", {"task": "game24", "puzzle_index": 900}, id="r1")
    started = await client.recv("reasoning_update")
    run_id = started["data"]["run_id"]
    # wait for step 1 to be valued (one propose + one round of values)
    while True:
        event = await client.recv("reasoning_update", timeout=5)
        if event["data"].get("event") == "step":
            break
    stop = await client.request("stop_reasoning", {"run_id": run_id})
    asked = time.monotonic()
    assert stop["data"] == {"run_id": run_id, "event": "stopping"}
    complete = await client.recv("reasoning_complete", timeout=5)
    assert time.monotonic() - asked < 0.4  # less than one model call (0.5 s)
    assert complete["data"]["status"] == "stopped"
    assert len(complete["data"]["best_path"]) >= 1
    listed = await client.request("list_reasoning_runs", {})
    assert listed["data"]["runs"][0]["status"] == "stopped"


async def test_budget_from_the_client_is_applied(pygent_app, ws_client):
    provider = use(pygent_app, ScriptedProvider(game24_oracle()))
    client = await ws_client()
    await client.send(
        "start_reasoning", {"task": "game24", "puzzle": "1 1 4 6", "max_calls": 4}, id="r1"
    )
    _, complete = await collect_run(client, "r1")
    assert complete["status"] == "budget_calls"
    assert complete["stats"]["llm_calls"] == 4 == len(provider.calls)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"task": "game24", "puzzle": "4 5 6"}, "puzzle"),
        ({"task": "game24", "puzzle": "4 5 6 1000"}, "puzzle"),
        ({"task": "game24"}, "puzzle"),
        ({"task": "game24", "puzzle_index": 5000}, "puzzle_index"),
        ({"method": "bfs"}, "task"),
        ({"task": "open"}, "problem"),
    ],
)
async def test_bad_starts_get_invalid_with_the_field(pygent_app, ws_client, data, field):
    provider = use(pygent_app, ScriptedProvider(game24_oracle()))
    client = await ws_client()
    with pytest.raises(AssertionError) as info:
        await client.request("start_reasoning", data)
    assert "'code': 'invalid'" in str(info.value)
    assert f"'field': '{field}'" in str(info.value)
    assert provider.calls == []


async def test_schema_rejects_unknown_parameters(pygent_app, ws_client):
    use(pygent_app, ScriptedProvider(game24_oracle()))
    client = await ws_client()
    with pytest.raises(AssertionError, match="invalid"):
        await client.request("start_reasoning", {"task": "game24", "puzzle": "1 2 3 4", "beam": 3})


async def test_unknown_runs_are_not_found(pygent_app, ws_client):
    client = await ws_client()
    with pytest.raises(AssertionError, match="not_found"):
        await client.request("stop_reasoning", {"run_id": "tot-nope"})
    with pytest.raises(AssertionError, match="not_found"):
        await client.request("get_reasoning_run", {"run_id": "tot-nope"})


def open_problem_model(prompt: str, options: Options) -> str:
    if "ways to break this problem" in prompt:
        return "good plan: count the legs per animal\nbad plan: guess\nbad plan: ask someone"
    if "next steps" in prompt:
        return "good step: 3 chickens have 6 legs and 2 cows have 8\nbad step: give up"
    if "write the final answer" in prompt:
        return "They have 14 legs in total."
    if "Is this partial solution correct" in prompt:
        last = prompt.split("Partial solution:")[1].split("Is this")[0].strip().splitlines()[-1]
        return "ok\nimpossible" if "bad" in last else "ok\nsure"
    return ""


async def test_chat_reasoning_agent_answers_with_tot_and_fills_reasoning_path(
    pygent_app, ws_client
):
    provider = ScriptedProvider(open_problem_model)
    pygent_app.hub.service("agents").set_provider(provider)
    client = await ws_client()
    await client.send(
        "chat_message",
        {"message": {"content": "3 chickens and 2 cows: how many legs?", "agentId": "reasoning"}},
        id="c1",
    )
    response = await client.recv("chat_response", timeout=20)
    message = response["data"]["message"]
    assert message["content"] == "They have 14 legs in total."
    path = message["metadata"]["reasoning_path"]
    assert path == [
        "good plan: count the legs per animal",
        "good step: 3 chickens have 6 legs and 2 cows have 8",
        "They have 14 legs in total.",
    ]
    assert message["metadata"]["reasoning_stats"]["llm_calls"] == len(provider.calls)
    updates = [e for e in client.events if e["type"] == "reasoning_update"]
    assert any(u["data"].get("node", {}).get("status") == "selected" for u in updates)
    listed = await client.request("list_reasoning_runs", {})
    run = listed["data"]["runs"][0]
    assert run["run_id"] == message["metadata"]["reasoning_run_id"]
    assert run["task"] == "open" and run["input"] == "3 chickens and 2 cows: how many legs?"


async def test_runs_per_user_are_limited(pygent_app, ws_client):
    service = pygent_app.hub.service("reasoning")
    service.max_runs_per_user = 1
    use(pygent_app, ScriptedProvider(game24_oracle(), latency=0.5))
    client = await ws_client()
    await client.send("start_reasoning", {"task": "game24", "puzzle": "4 5 6 10"}, id="r1")
    started = await client.recv("reasoning_update")
    with pytest.raises(AssertionError, match="rate_limited"):
        await client.request("start_reasoning", {"task": "game24", "puzzle": "1 1 4 6"})
    await client.request("stop_reasoning", {"run_id": started["data"]["run_id"]})
    complete = await client.recv("reasoning_complete", timeout=5)
    assert complete["data"]["status"] == "stopped"
