"""Saved runs in a real SQLite file, and what the service does with them at start."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from _hub import RecordingTransport  # tests/_hub.py (tests/ is on sys.path)

from pygent_jupyter.hub import Hub
from pygent_jupyter.server.connections import Connection
from pygent_jupyter.services.evolution import AgentGenome, store
from pygent_jupyter.services.evolution.service import EvolutionService
from pygent_jupyter.services.evolution.variants import EvolvedAgent
from pygent_jupyter.services.seams import Seams, wire
from pygent_jupyter.storage import Database

from .scripted import ScriptedChatModel


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = Database(tmp_path / "pygent.db")
    database.migrate("evolution", store.MIGRATIONS)
    yield database
    database.close()


async def test_a_run_is_saved_with_logbook_genealogy_and_result(db: Database) -> None:
    key = store.run_key("alice", "r1")
    await db.run(store.insert_run, key, "alice", {"population_size": 4})
    node = {"generation": 0, "parents": [], "op": "init", "genome": "0101", "fitness": 2.0}
    await db.run(store.save_generation, key, {"generation": 0, "best": 2.0}, [(0, node)], None)
    await db.run(store.save_generation, key, {"generation": 1, "best": 3.0}, [], {"generation": 1})
    await db.run(store.finish_run, key, "completed", {"best": {"fitness": 3.0}, "generations": 1})
    run = await db.run(store.get_run, "alice", "r1")
    assert run["status"] == "completed" and run["user"] == "alice"
    assert run["run_id"] == "r1" and run["key"] == key
    assert [r["best"] for r in run["logbook"]] == [2.0, 3.0]
    assert run["genealogy"][0]["genome"] == "0101"
    assert run["checkpoint"] == {"generation": 1}
    listed = await db.run(store.list_runs, "alice")
    assert listed[0]["run_id"] == "r1"
    assert listed[0]["best_fitness"] == 3.0 and listed[0]["generations"] == 1
    assert await db.run(store.list_runs, "bob") == []
    assert await db.run(store.get_run, "bob", "r1") is None


async def test_run_ids_are_per_user(db: Database) -> None:
    """Two users may name their runs alike; neither sees, nor collides with, the other's."""
    await db.run(store.insert_run, store.run_key("alice", "exp"), "alice", {"seed": 1})
    await db.run(store.insert_run, store.run_key("bob", "exp"), "bob", {"seed": 2})
    assert (await db.run(store.get_run, "alice", "exp"))["config"] == {"seed": 1}
    assert (await db.run(store.get_run, "bob", "exp"))["config"] == {"seed": 2}
    assert [r["run_id"] for r in await db.run(store.list_runs, "bob")] == ["exp"]


async def test_runs_left_running_are_marked_interrupted(db: Database) -> None:
    await db.run(store.insert_run, "r2", "alice", {})  # a bare key: saved before keys were scoped
    assert await db.run(store.mark_interrupted) == 1
    assert (await db.run(store.get_run, "alice", "r2"))["status"] == "interrupted"
    assert await db.run(store.get_run, "bob", "r2") is None


class FakeAgents:
    """An agent-type registry (the ``agent_types`` seam) that records registrations."""

    def __init__(self) -> None:
        self.registered: dict[tuple[str, str | None], Any] = {}

    def unregister_agent_type(self, name: str, *, user: str | None = None) -> None:
        self.registered.pop((name, user), None)

    def register_agent_type(self, name: str, factory: Any, *, user: str | None = None) -> None:
        self.registered[(name, user)] = factory


async def test_saved_variants_are_registered_again_when_the_service_starts(db: Database) -> None:
    genome = AgentGenome("Reply with only the number.", "m1", 0.2, 0.9, (0,))
    await db.run(
        store.save_variant, "alice", "adder-1", "r1", genome.to_json(), [("1+1?", "2")], 1.0
    )
    await db.run(store.insert_run, "r3", "alice", {})
    agents = FakeAgents()
    service = EvolutionService(hub=Hub())
    service.bind(db, Seams(agent_types=agents))
    await service.start()
    factory = agents.registered[("adder-1", "alice")]
    agent = factory(None)
    assert isinstance(agent, EvolvedAgent)
    assert agent.system_prompt == "Reply with only the number." and agent.temperature == 0.2
    assert agent.few_shot == [("1+1?", "2")]
    assert (await db.run(store.get_run, "alice", "r3"))["status"] == "interrupted"
    await service.stop()


async def test_without_an_llm_backend_the_service_says_unavailable() -> None:
    from pygent_jupyter.protocol import PygentError

    service = EvolutionService(hub=Hub())
    service.bind(None, Seams())  # no agents service: no model source
    with pytest.raises(PygentError, match="no LLM backend") as info:
        await service.model_for("alice")
    assert info.value.code.value == "unavailable"


async def _ask(hub: Hub, user: str, frame: dict[str, Any], *, until: str) -> dict[str, Any]:
    """Send ``frame`` as ``user``; the first reply of type ``until`` (or an error)."""
    transport = RecordingTransport()
    conn = Connection(transport, user, client_id=f"{user}-{frame['id']}")
    hub.open(conn)
    hub.handle_frame(conn, json.dumps(frame))
    for _ in range(500):
        for reply in transport.replies(frame["id"]):
            if reply["type"] in (until, "error"):
                return reply
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {until} for {frame['id']}")


async def test_two_users_may_name_their_runs_alike(db: Database) -> None:
    """Run ids are per user: bob's run called like alice's neither conflicts with it nor
    reveals it, and each user reads back only their own."""
    hub = Hub()
    service = EvolutionService(hub=hub, provider=ScriptedChatModel(lambda m, o: "4"))
    hub.register(service)
    wire(hub.services.values(), db)
    await hub.start()
    try:
        data = {
            "run_id": "exp-1",
            "task_set": {"name": "t", "tasks": [{"input": "2+2?", "expected": "4"}]},
            "population_size": 2,
            "generations": 1,
        }
        for user in ("alice", "bob"):
            start = {"type": "start_evolution", "id": f"s-{user}", "data": data}
            done = await _ask(hub, user, start, until="evolution_complete")
            assert done["type"] == "evolution_complete", done
            assert done["data"]["run_id"] == "exp-1"
        again = {"type": "start_evolution", "id": "s-again", "data": data}
        conflict = await _ask(hub, "bob", again, until="evolution_complete")
        assert conflict["data"]["code"] == "conflict"
        assert conflict["data"]["message"] == "you have a run called 'exp-1' already"
        for user in ("alice", "bob"):
            get = {"type": "get_evolution_run", "id": f"g-{user}", "data": {"run_id": "exp-1"}}
            saved = await _ask(hub, user, get, until="evolution_run")
            assert saved["data"]["run_id"] == "exp-1" and "key" not in saved["data"]
        assert len(await db.run(store.list_runs, "alice")) == 1
    finally:
        await hub.stop()
