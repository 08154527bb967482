"""Saved runs in a real SQLite file, and what the service does with them at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pygent_jupyter.hub import Hub
from pygent_jupyter.services.evolution import AgentGenome, store
from pygent_jupyter.services.evolution.service import EvolutionService
from pygent_jupyter.services.evolution.variants import EvolvedAgent
from pygent_jupyter.storage import Database


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = Database(tmp_path / "pygent.db")
    database.migrate("evolution", store.MIGRATIONS)
    yield database
    database.close()


async def test_a_run_is_saved_with_logbook_genealogy_and_result(db: Database) -> None:
    await db.run(store.insert_run, "r1", "alice", {"population_size": 4})
    node = {"generation": 0, "parents": [], "op": "init", "genome": "0101", "fitness": 2.0}
    await db.run(store.save_generation, "r1", {"generation": 0, "best": 2.0}, [(0, node)], None)
    await db.run(store.save_generation, "r1", {"generation": 1, "best": 3.0}, [], {"generation": 1})
    await db.run(store.finish_run, "r1", "completed", {"best": {"fitness": 3.0}, "generations": 1})
    run = await db.run(store.get_run, "r1")
    assert run["status"] == "completed" and run["user"] == "alice"
    assert [r["best"] for r in run["logbook"]] == [2.0, 3.0]
    assert run["genealogy"][0]["genome"] == "0101"
    assert run["checkpoint"] == {"generation": 1}
    listed = await db.run(store.list_runs, "alice")
    assert listed[0]["best_fitness"] == 3.0 and listed[0]["generations"] == 1
    assert await db.run(store.list_runs, "bob") == []


async def test_runs_left_running_are_marked_interrupted(db: Database) -> None:
    await db.run(store.insert_run, "r2", "alice", {})
    assert await db.run(store.mark_interrupted) == 1
    assert (await db.run(store.get_run, "r2"))["status"] == "interrupted"


class FakeAgents:
    name = "agents"

    def __init__(self) -> None:
        self.registered: dict[tuple[str, str | None], Any] = {}

    def commands(self) -> dict[str, Any]:
        return {}

    def register_agent_type(self, name: str, factory: Any, *, user: str | None = None) -> None:
        self.registered[(name, user)] = factory


async def test_saved_variants_are_registered_again_when_the_service_starts(db: Database) -> None:
    genome = AgentGenome("Reply with only the number.", "m1", 0.2, 0.9, (0,))
    await db.run(
        store.save_variant, "alice", "adder-1", "r1", genome.to_json(), [("1+1?", "2")], 1.0
    )
    await db.run(store.insert_run, "r3", "alice", {})
    hub = Hub(db=db)
    agents = FakeAgents()
    hub.services["agents"] = agents  # type: ignore[assignment]
    service = EvolutionService(hub=hub)
    await service.start()
    factory = agents.registered[("adder-1", "alice")]
    agent = factory(None)
    assert isinstance(agent, EvolvedAgent)
    assert agent.system_prompt == "Reply with only the number." and agent.temperature == 0.2
    assert agent.few_shot == [("1+1?", "2")]
    assert (await db.run(store.get_run, "r3"))["status"] == "interrupted"
    await service.stop()


def test_without_an_llm_backend_the_service_says_unavailable() -> None:
    from pygent_jupyter.protocol import PygentError

    service = EvolutionService(hub=Hub())
    with pytest.raises(PygentError, match="no LLM backend") as info:
        service._provider()
    assert info.value.code.value == "unavailable"
