"""Saved runs in a real SQLite file: whole tree and parameters, per user, reloadable."""

from __future__ import annotations

from pathlib import Path

import pytest

from pygent_jupyter.services.reasoning import Game24Task, ReasoningTree, ToTEngine, ToTParams
from pygent_jupyter.services.reasoning.store import RunStore
from pygent_jupyter.storage import Database

from .scripted import ScriptedProvider, game24_oracle


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path / "pygent.db")
    yield database
    database.close()


async def test_a_run_round_trips_with_its_whole_tree(db: Database) -> None:
    store = RunStore(db)
    store.migrate()
    params = ToTParams(n_select_sample=3, seed=7)
    tree = await ToTEngine(
        ScriptedProvider(game24_oracle()), Game24Task(), "4 5 6 10", params, run_id="tot-a"
    ).run()
    await store.create("tot-a", "alice", "game24", "4 5 6 10", params.to_dict())
    listed = await store.list("alice")
    assert [r["status"] for r in listed] == ["running"]
    await store.finish("tot-a", tree, tree.stats.stop_reason)

    run = await store.get("alice", "tot-a")
    assert run is not None
    assert run["status"] == "solved" and run["solved"] is True
    assert run["params"]["n_select_sample"] == 3 and run["params"]["seed"] == 7
    assert run["stats"]["llm_calls"] == tree.stats.llm_calls
    reloaded = await store.load_tree("alice", "tot-a")
    assert isinstance(reloaded, ReasoningTree)
    assert reloaded.to_dict() == tree.to_dict()
    assert reloaded.best_path == tree.best_path and len(reloaded.nodes) == len(tree.nodes)


async def test_runs_are_scoped_to_their_user_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "pygent.db"
    first = Database(path)
    store = RunStore(first)
    store.migrate()
    await store.create("tot-1", "alice", "open", "why?", {})
    await store.create("tot-2", "bob", "open", "how?", {})
    assert await store.get("bob", "tot-1") is None
    assert [r["run_id"] for r in await store.list("alice")] == ["tot-1"]
    first.close()

    again = Database(path)
    try:
        store = RunStore(again)
        store.migrate()
        assert await store.mark_interrupted() == 2  # left 'running' by the previous process
        run = await store.get("alice", "tot-1")
        assert run is not None and run["status"] == "interrupted" and run["tree"] is None
    finally:
        again.close()
