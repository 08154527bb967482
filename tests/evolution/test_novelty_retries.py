"""``operators.novelty_retries`` over the real socket: a client sets it, the engine runs with
it, and a bad value is ``invalid`` naming the field."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from pygent_jupyter.services.evolution import store

from .scripted import ScriptedChatModel, arithmetic_responder
from .test_service import GENOME, SERVICES, TASKS, collect, use


@pytest.fixture
def pygent_config() -> dict[str, Any]:
    return {"PygentJupyter": {"services": SERVICES}}


@pytest.mark.parametrize("value", [-1, 21, 2.5, "5", None])
async def test_a_bad_novelty_retries_is_invalid_naming_the_field(
    pygent_app: Any, ws_client: Any, value: Any
) -> None:
    use(pygent_app, ScriptedChatModel(arithmetic_responder))
    client = await ws_client()
    data = {"genome": GENOME, "task_set": TASKS, "operators": {"novelty_retries": value}}
    await client.send("start_evolution", data, id="bad")
    error = await client.recv("error")
    assert error["reply_to"] == "bad"
    assert error["data"]["code"] == "invalid"
    assert error["data"]["field"] == "data.operators.novelty_retries"
    assert "novelty_retries" in error["data"]["message"]


@pytest.mark.parametrize("value", [0, 3])
async def test_a_client_sets_novelty_retries(pygent_app: Any, ws_client: Any, value: int) -> None:
    use(pygent_app, ScriptedChatModel(arithmetic_responder))
    client = await ws_client()
    data = {
        "genome": GENOME,
        "task_set": TASKS,
        "population_size": 4,
        "generations": 1,
        "operators": {"novelty_retries": value},
        "register": 0,
        "seed": 1,
    }
    await client.send("start_evolution", data, id="e1")
    _progress, complete = await collect(client, "e1")
    assert complete["status"] == "completed"
    conn = sqlite3.connect(pygent_app.db.path)
    conn.row_factory = sqlite3.Row
    try:
        row = store.get_run(conn, _owner(conn), complete["run_id"])
    finally:
        conn.close()
    assert row is not None
    assert row["config"]["operators"]["novelty_retries"] == value  # the request, as saved
    assert row["checkpoint"]["config"]["novelty_retries"] == value  # what the engine ran with


def _owner(conn: sqlite3.Connection) -> str:
    """The user who saved the (only) evolution run in ``conn``."""
    return str(conn.execute("SELECT DISTINCT user FROM evolution_runs").fetchone()[0])
