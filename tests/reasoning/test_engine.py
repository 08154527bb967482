"""The ToT engine with scripted models: beam selection, value aggregation, cache, pruning,
backtracking, stop, budgets, concurrency. No server."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Sequence

import pytest

from pygent_jupyter.llm import Options
from pygent_jupyter.services.reasoning.engine import ToTEngine, ToTParams
from pygent_jupyter.services.reasoning.tasks import Game24Task, Task

from .scripted import ScriptedProvider, game24_oracle


class ToyTask(Task):
    """Prompts that name the state, so a test scripts every answer. The value prompt depends
    only on the last thought, so two paths ending in the same thought share a value."""

    name = "toy"
    steps = 2

    def propose_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return "propose|" + "/".join(path)

    def sample_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return "sample|" + "/".join(path)

    def value_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return "value|" + path[-1]


def scripted(proposals: dict[str, list[str]], values: dict[str, list[str]], **kw: float):
    """A provider answering the ToyTask prompts from tables; value labels are cycled per
    prompt (the i-th call of a value prompt gets labels[i % len])."""
    seen: Counter[str] = Counter()

    def respond(prompt: str, options: Options) -> str:
        kind, _, key = prompt.partition("|")
        if kind == "propose":
            return "\n".join(proposals.get(key, []))
        if kind == "value":
            labels = values.get(key, ["impossible"])
            label = labels[seen[prompt] % len(labels)]
            seen[prompt] += 1
            return f"reasoning...\n{label}"
        if kind == "sample":
            return f"s{options.get('seed', 0) % 997}"
        if "best choice" in prompt:
            return "Choice 2 looks best.\nThe best choice is 2"
        return ""

    return ScriptedProvider(respond, **kw)


ROOT_VALUES = {
    "a": ["likely"],  # 3 x likely = 3
    "b": ["sure"],  # 60
    "c": ["impossible"],  # 0.003
    "d": ["sure", "likely", "likely"],  # 22
}


async def run(provider, task=None, x="input", events=None, **params):
    engine = ToTEngine(
        provider,
        task or ToyTask(),
        x,
        ToTParams(**params),
        on_event=None if events is None else events.append,
    )
    return await engine.run()


async def test_beam_keeps_the_n_select_sample_best_and_expands_only_them():
    provider = scripted({"": ["a", "b", "c", "d"], "b": ["b1"], "d": ["d1"]}, ROOT_VALUES)
    tree = await run(provider, n_select_sample=2, n_evaluate_sample=3)
    by_thought = {n.thought: n for n in tree.nodes.values()}
    assert {t: by_thought[t].status for t in "abcd"} == {
        "a": "pruned",
        "b": "selected",
        "c": "pruned",
        "d": "selected",
    }
    assert sorted(provider.prompts("propose|")) == ["propose|", "propose|b", "propose|d"]
    # the best leaf hangs under the best root child
    assert tree.best_path == ["b", "b1"]


async def test_value_is_the_sum_of_sure_likely_impossible_over_samples():
    provider = scripted({"": ["a", "b", "c", "d"]}, ROOT_VALUES)
    tree = await run(provider, n_select_sample=4, n_evaluate_sample=3, max_depth=1)
    values = {n.thought: n.value for n in tree.nodes.values() if n.parent_id}
    assert values["b"] == 60.0
    assert values["d"] == 22.0
    assert values["a"] == 3.0
    assert values["c"] == pytest.approx(0.003)
    assert len(provider.prompts("value|")) == 12  # 4 states x n_evaluate_sample


async def test_identical_states_are_valued_once():
    provider = scripted(
        {"": ["b", "d"], "b": ["x", "y"], "d": ["x", "z"]},
        {"b": ["sure"], "d": ["sure"], "x": ["likely"]},
    )
    tree = await run(provider, n_select_sample=2, n_evaluate_sample=3)
    xs = [n for n in tree.nodes.values() if n.thought == "x"]
    assert len(xs) == 2 and xs[0].value == xs[1].value == 3.0
    assert len(provider.prompts("value|x")) == 3  # scored once, not twice
    assert tree.stats.cache_hits == 1
    assert sum(1 for n in xs if n.info.get("cached")) == 1


async def test_cache_can_be_turned_off():
    provider = scripted({"": ["b", "d"], "b": ["x"], "d": ["x"]}, {"b": ["sure"], "d": ["sure"]})
    await run(provider, n_select_sample=2, n_evaluate_sample=2, cache_value=False)
    assert len(provider.prompts("value|x")) == 4


async def test_repeated_proposal_is_pruned_with_value_zero_and_no_calls():
    provider = scripted({"": ["a", "a", "b"]}, ROOT_VALUES)
    tree = await run(provider, max_depth=1, n_evaluate_sample=1)
    dupes = [n for n in tree.nodes.values() if n.thought == "a"]
    assert [n.status for n in dupes] == ["selected", "pruned"]
    assert dupes[1].value == 0.0 and dupes[1].info["reason"] == "duplicate"
    assert len(provider.prompts("value|a")) == 1


async def test_events_report_every_status_and_each_step():
    events: list[dict] = []
    provider = scripted({"": ["a", "b", "c"], "b": ["b1"]}, ROOT_VALUES)
    await run(provider, events=events, n_select_sample=1, n_evaluate_sample=1)
    statuses = Counter(e["node"]["status"] for e in events if e["event"] == "node")
    assert statuses == {"proposed": 4, "evaluated": 4, "selected": 2, "pruned": 2}
    steps = [e for e in events if e["event"] == "step"]
    assert [s["step"] for s in steps] == [1, 2]
    b = next(e["node"] for e in events if e["event"] == "node" and e["node"]["thought"] == "b")
    assert b["parent_id"] == "n0" and b["depth"] == 1
    assert steps[0]["stats"]["llm_calls"] == 4  # 1 propose + 3 values


async def test_dfs_prunes_below_threshold_and_backtracks():
    events: list[dict] = []
    provider = scripted(
        {"": ["a", "b", "c"], "a": ["a1", "a2"], "b": ["b1"]},
        {
            "a": ["sure"],
            "b": ["likely", "sure"],
            "c": ["likely"],
            "a1": ["impossible"],
            "a2": ["impossible"],
            "b1": ["sure"],
        },
    )
    tree = await run(
        provider, events=events, method="dfs", n_evaluate_sample=2, value_threshold=1.0
    )
    by = {n.thought: n for n in tree.nodes.values()}
    assert by["a1"].status == by["a2"].status == "pruned"
    assert by["a1"].info["reason"] == "below threshold"
    backtracked = [e["node"]["thought"] for e in events if e["event"] == "backtrack"]
    assert backtracked == ["a"]
    assert tree.best_path == ["b", "b1"]
    assert "propose|c" not in provider.prompts()  # search ended before trying c
    assert tree.stats.stop_reason == "finished"


async def test_dfs_threshold_prunes_whole_subtrees_without_calls():
    provider = scripted({"": ["a", "b"], "a": ["a1"]}, {"a": ["likely"], "b": ["impossible"]})
    tree = await run(provider, method="dfs", n_evaluate_sample=1, value_threshold=1.0)
    by = {n.thought: n for n in tree.nodes.values()}
    assert by["b"].status == "pruned"
    assert "propose|b" not in provider.prompts()
    assert "propose|a" in provider.prompts()


async def test_vote_counts_the_best_choice_lines():
    provider = scripted({"": ["a", "b", "c"]}, {})
    tree = await run(
        provider, method_evaluate="vote", n_evaluate_sample=3, n_select_sample=1, max_depth=1
    )
    values = {n.thought: n.value for n in tree.nodes.values() if n.parent_id}
    assert values == {"a": 0.0, "b": 3.0, "c": 0.0}
    assert len(provider.prompts("best choice")) == 3
    assert tree.best_path == ["b"]


async def test_sample_generation_draws_n_generate_sample_continuations():
    provider = scripted({}, {})
    tree = await run(
        provider, method_generate="sample", n_generate_sample=3, n_evaluate_sample=1, max_depth=1
    )
    calls = [(p, o["seed"]) for p, o in provider.calls if p.startswith("sample|")]
    assert len(calls) == 3 and len({seed for _, seed in calls}) == 3
    assert len([n for n in tree.nodes.values() if n.parent_id]) == 3


async def test_sample_selection_is_seeded_and_never_picks_value_zero():
    values = {"a": ["sure"], "b": ["likely"], "c": ["sure"], "d": ["likely"], "e": ["nothing"]}
    picks = []
    for seed in range(8):
        chosen = []
        for _ in range(2):
            tree = await run(
                scripted({"": list("abcde")}, values),
                method_select="sample",
                n_select_sample=2,
                n_evaluate_sample=1,
                max_depth=1,
                seed=seed,
            )
            chosen.append(
                sorted(
                    n.thought for n in tree.nodes.values() if n.status == "selected" and n.parent_id
                )
            )
        assert chosen[0] == chosen[1]  # same seed, same selection
        assert "e" not in chosen[0]
        picks.append(tuple(chosen[0]))
    assert len(set(picks)) > 1  # sampling, not greedy


async def test_call_budget_is_never_exceeded_and_keeps_the_best_so_far():
    provider = ScriptedProvider(game24_oracle())
    tree = await run(provider, task=Game24Task(), x="4 5 6 10", max_calls=7)
    assert tree.stats.llm_calls == 7 == len(provider.calls)
    assert tree.stats.stop_reason == "budget_calls"
    assert tree.best_path  # two step-1 states were valued (1 propose + 2 x 3 values)
    assert tree.solved is False


async def test_token_budget_stops_after_the_spending_call():
    provider = ScriptedProvider(game24_oracle())
    tree = await run(provider, task=Game24Task(), x="4 5 6 10", max_tokens=10)
    assert tree.stats.llm_calls == 1
    assert tree.stats.tokens > 10
    assert tree.stats.stop_reason == "budget_tokens"


async def test_time_budget_abandons_calls_in_flight():
    provider = ScriptedProvider(game24_oracle(), latency=0.2)
    began = time.monotonic()
    tree = await run(provider, task=Game24Task(), x="4 5 6 10", max_seconds=0.3)
    assert time.monotonic() - began < 0.5
    assert tree.stats.stop_reason == "budget_time"
    assert provider.cancelled > 0


async def test_stop_returns_within_one_model_call_with_the_best_path_so_far():
    provider = ScriptedProvider(game24_oracle(), latency=0.4)
    engine = ToTEngine(provider, Game24Task(), "4 5 6 10", ToTParams())
    task = asyncio.ensure_future(engine.run())
    await asyncio.sleep(1.0)  # propose (0.4 s) + values (0.4 s) done, step 2 in flight
    stopped_at = time.monotonic()
    engine.stop()
    tree = await task
    assert time.monotonic() - stopped_at < 0.2  # well within one model call (0.4 s)
    assert tree.stats.stop_reason == "stopped"
    assert tree.best_path and tree.nodes[tree.best_node_id].depth >= 1
    assert provider.in_flight == 0 and provider.cancelled > 0


async def test_provider_failure_ends_the_run_with_an_error_and_a_partial_tree():
    oracle = game24_oracle()

    def respond(prompt: str, options: Options) -> str:
        if prompt.startswith("Game of 24. Pick two") and "Numbers: 4 5 6 10" not in prompt:
            raise RuntimeError("model server went away")
        return oracle(prompt, options)

    tree = await run(ScriptedProvider(respond), task=Game24Task(), x="4 5 6 10")
    assert tree.stats.stop_reason == "error"
    assert "model server went away" in (tree.error or "")
    assert len(tree.best_path) == 1


async def test_concurrent_schedule_makes_the_same_calls_and_tree_faster():
    results = {}
    for concurrency in (1, 16):
        provider = ScriptedProvider(game24_oracle(), latency=0.02)
        began = time.monotonic()
        tree = await run(provider, task=Game24Task(), x="4 5 6 10", concurrency=concurrency)
        results[concurrency] = (time.monotonic() - began, provider, tree)
    (t1, p1, tree1), (t16, p16, tree16) = results[1], results[16]
    assert p1.max_in_flight == 1 and p16.max_in_flight == 16
    assert Counter(p for p, _ in p1.calls) == Counter(p for p, _ in p16.calls)
    d1, d16 = tree1.to_dict(), tree16.to_dict()
    for d in (d1, d16):
        d["stats"].pop("wall_time")
        d["params"].pop("concurrency")
    assert d1 == d16
    assert tree1.solved is True
    assert t1 / t16 > 4


async def test_calls_carry_seeds_that_do_not_depend_on_scheduling():
    seeds: dict[int, dict[str, list[int]]] = {}
    for concurrency in (1, 8):
        provider = scripted({"": ["a", "b"]}, ROOT_VALUES)
        await run(provider, max_depth=1, concurrency=concurrency, seed=3)
        by_prompt: dict[str, list[int]] = defaultdict(list)
        for prompt, options in provider.calls:
            by_prompt[prompt].append(options["seed"])
        seeds[concurrency] = {p: sorted(s) for p, s in by_prompt.items()}
    assert seeds[1] == seeds[8]
    assert len(seeds[1]["value|a"]) == 3 == len(set(seeds[1]["value|a"]))


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="n_select_sample"):
        ToTParams(n_select_sample=0)
    with pytest.raises(ValueError, match="method"):
        ToTParams(method="astar")  # type: ignore[arg-type]


async def test_cancelling_the_run_cancels_the_calls_in_flight():
    provider = ScriptedProvider(game24_oracle(), latency=0.3)
    task = asyncio.ensure_future(ToTEngine(provider, Game24Task(), "4 5 6 10", ToTParams()).run())
    await asyncio.sleep(0.45)  # the value calls of step 1 are in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)  # let the cancelled calls unwind
    assert provider.in_flight == 0
    assert provider.cancelled > 1
