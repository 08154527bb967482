"""Built-in task sets: the default ``starter`` set gives partial credit a small model can earn."""

from __future__ import annotations

import pytest

from pygent_jupyter.services.evolution.tasks import (
    BUILTIN_TASK_SETS,
    DEFAULT_TASK_SET,
    builtin_task_set,
    task_set_from_json,
)


def test_no_task_set_means_the_starter_set_with_examples():
    for data in (None, {}, {"name": "starter"}):
        task_set = task_set_from_json(data)
        assert task_set.name == DEFAULT_TASK_SET == "starter"
        assert len(task_set.tasks) == 16 and len(task_set.examples) == 5
    assert [task_set_from_json({"name": n}).name for n in BUILTIN_TASK_SETS] == list(
        BUILTIN_TASK_SETS
    )
    assert len(task_set_from_json({"name": "game24", "range": [900, 902]}).tasks) == 2


@pytest.mark.parametrize(
    ("name", "index", "answer", "score"),
    [
        ("sentiment", 0, "Positive.", 1.0),
        ("sentiment", 0, "The review is positive.", 0.5),
        ("sentiment", 0, "positive or negative", 0.0),
        ("sentiment", 1, "negative", 1.0),
        ("arithmetic", 0, "5", 1.0),
        ("arithmetic", 0, "2 + 3 = 5", 0.5),
        ("arithmetic", 0, "six", 0.0),
        ("format", 0, "YES", 1.0),
        ("format", 0, "YES, of course", 0.5),
        ("format", 0, "yes", 0.0),
        ("format", 2, "42.", 1.0),
    ],
)
def test_partial_credit(name, index, answer, score):
    assert builtin_task_set(name).tasks[index].score(answer) == score


def test_unknown_names_are_client_errors():
    with pytest.raises(ValueError, match="built in: starter"):
        builtin_task_set("nope")
    with pytest.raises(ValueError, match="built-in name"):
        task_set_from_json({"name": "nope"})


# -- over the socket: what the panel's seed client sends (population settings only) ------------

SERVICES = [
    "pygent_jupyter.services.agents:AgentsService",
    "pygent_jupyter.services.evolution.service:EvolutionService",
]


@pytest.fixture
def pygent_config():
    return {"PygentJupyter": {"services": SERVICES}}


async def test_a_run_without_task_set_uses_the_starter_set_and_its_examples(pygent_app, ws_client):
    from .scripted import ScriptedChatModel
    from .test_service import collect, use

    prompts: list[list[dict]] = []

    def responder(messages, options):  # right on sentiment, wrong elsewhere
        prompts.append(messages)
        return "positive" if "Review:" in messages[-1]["content"] else "no idea"

    use(pygent_app, ScriptedChatModel(responder))
    client = await ws_client()
    await client.send(
        "start_evolution", {"population_size": 2, "generations": 1, "seed": 3}, id="s1"
    )
    progress, complete = await collect(client, "s1")
    assert progress[0]["task_set"] == {"name": "starter", "tasks": 16}
    assert complete["status"] == "completed"
    generations = [p for p in progress if p["phase"] == "generation"]
    assert 0 < generations[0]["best"] < 1  # 3 of 16 items right (+ partial credit)
    # the set's examples are the few-shot pool: some variant shows them to the model
    assert any(
        m["role"] == "assistant" and m["content"] in ("positive", "negative", "2", "6", "NO")
        for messages in prompts
        for m in messages
    )
