"""Paper mode (the official tree-of-thoughts-llm prompts), ties, robustness, the paper's other
tasks and baselines, batch-wide caching and the experiment records, on scripted models."""

from __future__ import annotations

import importlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from pygent_jupyter.services.reasoning import (
    ExperimentStore,
    ToTEngine,
    ToTParams,
    make_task,
    run_batch,
    solve,
)
from pygent_jupyter.services.reasoning import paper as paper_mod
from pygent_jupyter.services.reasoning.tasks import Task, value_from_counts

from .scripted import ScriptedProvider, game24_oracle, paper_game24_oracle

# a test dependency (scripts/setup.sh installs it with --no-deps): missing means a broken setup
tot_game24 = importlib.import_module("tot.prompts.game24")
tot_text = importlib.import_module("tot.prompts.text")
tot_crosswords = importlib.import_module("tot.prompts.crosswords")

FIXTURES = Path(__file__).parent / "fixtures"


# -- paper mode uses the package's strings -----------------------------------------------------


def test_paper_mode_uses_the_package_prompt_strings_by_identity():
    game24 = make_task("game24", prompts="paper")
    assert game24.templates["propose"] is tot_game24.propose_prompt
    assert game24.templates["value"] is tot_game24.value_prompt
    assert game24.templates["value_last_step"] is tot_game24.value_last_step_prompt
    assert game24.templates["cot"] is tot_game24.cot_prompt
    assert game24.templates["standard"] is tot_game24.standard_prompt
    text = make_task("text", prompts="paper")
    assert text.templates["cot"] is tot_text.cot_prompt
    assert text.templates["vote"] is tot_text.vote_prompt
    cw = make_task("crosswords", prompts="paper")
    assert cw.templates["propose"] is tot_crosswords.propose_prompt
    assert cw.templates["value"] is tot_crosswords.value_prompt
    # and the prompts it sends are those strings, filled in as the reference fills them
    assert game24.propose_prompt("4 5 6 10", []) == tot_game24.propose_prompt.format(
        input="4 5 6 10"
    )
    steps = ["4 + 5 = 9 (left: 6 9 10)", "10 - 6 = 4 (left: 4 9)", "4 * 9 = 36 (left: 36)"]
    assert game24.value_prompt("4 5 6 10", steps[:1]) == tot_game24.value_prompt.format(
        input="6 9 10"
    )
    won = [*steps[:2], "6 * 4 = 24 (left: 24)"]
    assert game24.propose_prompt("4 5 6 10", won) == (
        tot_game24.cot_prompt.format(input="4 5 6 10") + "Steps:" + "".join(s + "\n" for s in won)
    )
    assert game24.value_prompt("4 5 6 10", [*won, "Answer: (10 - 6) * (5 - 4) = 24"]) == (
        tot_game24.value_last_step_prompt.format(input="4 5 6 10", answer="(10 - 6) * (5 - 4) = 24")
    )
    # no copy of the prompts lives in our package
    source = Path(paper_mod.__file__).read_text() + Path(make_task.__code__.co_filename).read_text()
    assert "Possible next steps:" not in source


def test_paper_label_parsing_counts_only_exact_last_lines():
    task = make_task("game24", prompts="paper")
    ours = make_task("game24")
    outputs = ["x\nsure", "x\nSure", "x\nsure ", "x\nlikely\n", "x\nlikely"]
    assert task.value_outputs_unwrap("4 5 6 10", ["1 + 1 = 2 (left: 2 6 10)"], outputs) == 21.0
    assert ours.value_outputs_unwrap("4 5 6 10", ["1 + 1 = 2 (left: 2 6 10)"], outputs) == 62.0
    # four steps without an answer are worth 0, as in the reference
    four = ["a (left: 1 2 3)", "b (left: 3 3)", "c (left: 5)", "d (left: 5)"]
    assert task.value_outputs_unwrap("1 2 3 4", four, ["sure"] * 3) == 0.0


def test_values_are_summed_from_label_counts_so_ties_are_exact():
    orders = [["impossible", "likely", "impossible"], ["impossible", "impossible", "likely"]]
    naive = [sum([0.0] + [{"impossible": 0.001, "likely": 1.0}[v] for v in o]) for o in orders]
    assert naive[0] != naive[1]  # the bug: sample order changed the last bit
    task = make_task("game24")
    values = {task.value_outputs_unwrap("1 2 3 4", [], [f"-\n{v}" for v in o]) for o in orders}
    assert values == {value_from_counts({"impossible": 2, "likely": 1})} == {1.002}


def test_missing_package_gives_an_install_hint(monkeypatch):
    paper_mod.prompts.cache_clear()
    monkeypatch.setitem(sys.modules, "tot.prompts.game24", None)
    try:
        with pytest.raises(paper_mod.PaperModeUnavailable, match="--no-deps tree-of-thoughts-llm"):
            make_task("game24", prompts="paper")
    finally:
        paper_mod.prompts.cache_clear()


# -- replay: recorded outputs pin values, selection and ties -----------------------------------


def _replayer(fixture: dict):
    seen: dict[str, int] = defaultdict(int)

    def respond(prompt: str, options) -> str:
        lines = prompt.rstrip("\n").split("\n")
        if prompt.endswith("Possible next steps:\n"):
            return fixture["propose"].get(lines[-2][len("Input: ") :], "")
        if prompt.startswith("Evaluate if given numbers"):
            outputs = fixture["value"][lines[-1]]
            i = seen[prompt]
            seen[prompt] += 1
            return outputs[i % len(outputs)]
        return "impossible"

    return respond


@pytest.mark.parametrize("beam", [3, 4])
async def test_replay_pins_values_selection_and_ties(beam):
    fixture = json.loads((FIXTURES / "replay_game24.json").read_text())
    provider = ScriptedProvider(_replayer(fixture))
    params = ToTParams(n_select_sample=beam, n_evaluate_sample=3, max_depth=1, concurrency=1)
    engine = ToTEngine(provider, make_task("game24", prompts="paper"), fixture["puzzle"], params)
    tree = await engine.run()
    children = [tree.nodes[c] for c in tree.nodes["n0"].children]
    assert [c.value for c in children] == fixture["expected"]["values"]
    assert children[4].info["reason"] == "duplicate"
    selected = sorted(
        (c for c in children if c.status == "selected"), key=lambda c: -(c.value or 0)
    )
    assert [c.thought for c in selected] == fixture["expected"][f"beam_{beam}"]
    assert tree.stats.llm_calls == 1 + 5 * 3  # one propose, three samples per distinct state
    assert tree.error is None


# -- malformed outputs never end a run ---------------------------------------------------------


def test_answer_without_colon_and_approximate_steps_do_not_end_the_run():
    oracle = game24_oracle()

    def respond(prompt, options):
        if prompt.startswith("Game of 24: use every input"):
            return "Answer (4 * 5) + (10 - 6) = 24"  # no colon: used to raise IndexError
        if prompt.startswith("Game of 24. Pick two"):
            return "6 / 4 = 1.5 (left: 1.5 5 10)\n10 / 6 = 1.67 (left: ~1.67 4 5)\n" + oracle(
                prompt, options
            )
        return oracle(prompt, options)

    tree = solve("game24", "4 5 6 10", provider=ScriptedProvider(respond))
    assert tree.error is None and tree.stats.stop_reason in {"solved", "finished"}
    assert tree.answer == "(4 * 5) + (10 - 6) = 24" and tree.solved is True
    assert tree.stats.dropped_lines >= 1  # the ~1.67 step was dropped and counted
    assert all("~" not in n.thought for n in tree.nodes.values())


class _Exploding(Task):
    name = "exploding"
    steps = 2

    def propose_prompt(self, x, path):
        return f"propose {len(path)}"

    def parse_proposals(self, x, path, text):
        if "boom" in text:
            raise IndexError("list index out of range")
        return super().parse_proposals(x, path, text)

    def value_prompt(self, x, path):
        return f"value {path[-1]}"

    def value_outputs_unwrap(self, x, path, outputs):
        if "bad" in path[-1]:
            raise ValueError("unreadable")
        return super().value_outputs_unwrap(x, path, outputs)

    def vote_outputs_unwrap(self, outputs, n_candidates):
        raise KeyError("nope")


@pytest.mark.parametrize("evaluate", ["value", "vote"])
async def test_parser_errors_are_counted_not_raised(evaluate):
    def respond(prompt, options):
        if prompt == "propose 0":
            return "good one\nbad one"
        if prompt.startswith("propose"):
            return "boom"
        return "sure"

    params = ToTParams(n_evaluate_sample=1, n_select_sample=2, method_evaluate=evaluate)
    tree = await ToTEngine(ScriptedProvider(respond), _Exploding(), "x", params).run()
    assert tree.error is None and tree.stats.stop_reason == "finished"
    assert tree.stats.parse_errors >= 1
    assert tree.stats.steps == 2


# -- the paper's other tasks on scripted models ------------------------------------------------


def _crossword_oracle(game: int = 0):
    from pygent_jupyter.services.reasoning.crosswords import Board, load_games

    clues, solution = load_games()[game]
    sol = Board(clues)
    sol.board = list(solution)
    words = {clue: word.lower() for clue, word in zip(clues, sol.answers, strict=True)}
    names = [f"h{i}" for i in range(1, 6)] + [f"v{i}" for i in range(1, 6)]

    def respond(prompt: str, options) -> str:
        if prompt.startswith("Let's play a 5 x 5 mini crossword"):
            unfilled = prompt.split("Unfilled:\n")[1].split("\n\nFilled:")[0]
            out = []
            for line in unfilled.splitlines():
                name, rest = line.split(". ", 1)
                clue = rest.rsplit(": ", 1)[0]
                out.append(f"{name}. {words[clue]} (high)")
                out.append(f"{name}. zzzzz (low)")
            return "\n".join(out)
        if prompt.startswith("Evaluate if there exists a five letter word"):
            clue, pattern = prompt.rstrip("\n").split("\n")[-1].rsplit(": ", 1)
            word = words[clue]
            ok = all(p in ("_", w) for p, w in zip(pattern.split(" "), word, strict=True))
            return "reasoning\nsure" if ok else "reasoning\nimpossible"
        return ""

    return respond, names


def test_crosswords_dfs_solves_a_game_with_a_scripted_model():
    respond, _ = _crossword_oracle(0)
    provider = ScriptedProvider(respond)
    tree = solve(
        "crosswords", puzzle_index=0, provider=provider, preset="paper", n_generate_sample=1
    )
    assert tree.error is None
    assert tree.solved is True, tree.summary()
    task = make_task("crosswords", prompts="paper")
    assert task.score(tree.input, tree.answer) == {"r_letter": 1.0, "r_word": 1.0, "r_game": 1.0}
    assert tree.params.method == "dfs" and tree.stats.cache_hits >= 0


def test_crosswords_wrong_proposals_are_pruned_by_impossible_values():
    from pygent_jupyter.services.reasoning.crosswords import CrosswordsTask

    task = CrosswordsTask()
    values = [
        task.value_outputs_unwrap("", [], [o])
        for o in ("a\nsure", "b\nmaybe", "c\nimpossible", "junk")
    ]
    assert values == [2.0, 1.0, 0.0, 1.0]
    assert task.combine_values("", [], [2.0, 1.0]) == 1.1
    assert task.combine_values("", [], [2.0, 0.0]) == 0.0


def test_creative_writing_samples_plans_votes_and_writes_a_passage():
    from pygent_jupyter.services.reasoning.paper import load_text_inputs

    sentences = load_text_inputs()[0]
    assert len(_sentences(sentences)) == 4

    def respond(prompt: str, options) -> str:
        if prompt.startswith("Given an instruction and several choices"):
            return "Choice 2 is best.\nThe best choice is 2"
        if prompt.rstrip().endswith("Your passage here."):  # the plan (stops at Passage:)
            return f"Plan:\nfour paragraphs (seed {options['seed']})\n\nPassage:\nignored"
        paragraphs = "\n\n".join(f"Some text. {s}" for s in _sentences(sentences))
        return f"\nPassage:\n{paragraphs}"

    provider = ScriptedProvider(respond)
    tree = solve("text", puzzle_index=0, provider=provider, preset="paper")
    assert tree.error is None and tree.stats.stop_reason == "finished"
    plans = [n for n in tree.nodes.values() if n.depth == 1]
    assert len(plans) == 5 and all("Passage" not in p.thought for p in plans)
    assert [p.value for p in plans] == [0.0, 5.0, 0.0, 0.0, 0.0]  # 5 votes for choice 2
    assert any(opts.get("stop") == ["\nPassage:\n"] for _, opts in provider.calls)
    assert tree.answer and tree.answer.startswith("Some text.")
    assert make_task("text", prompts="paper").constraint_score(sentences, tree.answer) == 1.0


def _sentences(text: str) -> list[str]:
    from pygent_jupyter.services.reasoning.paper import _sentences as split

    return split(text)


# -- baselines and batches ---------------------------------------------------------------------


def test_io_cot_and_cot_sc_baselines_score_samples(tmp_path):
    answers = ["Answer: 4 * 5 + 10 - 6 = 24", "Answer: 4 + 5 + 6 + 10 = 24"]
    count = [0]

    def respond(prompt, options):  # every other sample is right
        count[0] += 1
        return answers[count[0] % 2]

    provider = ScriptedProvider(respond)
    store = ExperimentStore(tmp_path / "baselines.db")
    rows = {}
    for method in ("io", "cot", "cot_sc"):
        report = run_batch(
            "game24",
            ["4 5 6 10"],
            method=method,
            prompts="paper",
            provider=provider,
            n_samples=8,
            price=(0.03, 0.06),
            record=store,
        )
        rows[method] = report.results[0]
        assert report.summary()["cost"] > 0
    io = rows["io"]
    assert io.llm_calls == 8 and io.score == 0.5 and io.metrics["best_of_n"] == 1.0
    assert rows["cot_sc"].score in (0.0, 1.0) and rows["cot_sc"].llm_calls == 8
    assert provider.calls[0][0] == tot_game24.standard_prompt.format(input="4 5 6 10")
    assert provider.calls[8][0] == tot_game24.cot_prompt.format(input="4 5 6 10")
    assert len(store) == 3


def test_batch_wide_cache_saves_calls_and_matches_the_reference_scope():
    provider = ScriptedProvider(paper_game24_oracle())
    batch = run_batch("game24", range(900, 903), preset="paper", provider=provider, concurrency=1)
    per_run = run_batch(
        "game24",
        range(900, 903),
        preset="paper",
        provider=provider,
        concurrency=1,
        cache_scope="run",
    )
    b, r = batch.summary(), per_run.summary()
    assert b["calls"] < r["calls"]
    assert sum(x.cache_hits for x in batch.results) > sum(x.cache_hits for x in per_run.results)
    assert [x.solved for x in batch.results] == [x.solved for x in per_run.results]
    assert batch.params["params"]["cache_scope"] == "batch"
    assert all(x.error is None for x in batch.results)


def test_records_load_into_pandas_and_export_json_lines(tmp_path):
    import pandas as pd

    store = ExperimentStore(tmp_path / "runs.db")
    provider = ScriptedProvider(game24_oracle())
    report = run_batch("game24", [900, 901], provider=provider, record=store, name="smoke")
    run_batch("game24", ["4 5 6 10"], provider=provider, record=store, n_select_sample=1)
    frame = store.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3
    first = frame[frame.batch_id == report.batch_id]
    assert list(first.idx) == [900, 901] and set(first.name) == {"smoke"}
    assert {"model", "backend", "calls", "tokens", "wall_time", "score", "config"} <= set(frame)
    assert first.calls.sum() == report.summary()["calls"]
    assert first.config.iloc[0]["params"]["n_select_sample"] == 5
    batches = store.to_frame("batches")
    assert len(batches) == 2 and batches.backend.iloc[0] == "scripted"
    path = tmp_path / "runs.jsonl"
    assert store.export_jsonl(path) == 2
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert docs[0]["results"][0]["input"] == report.results[0].input
    assert docs[0]["config"]["task"] == "game24"


def test_default_store_records_every_batch():
    from pygent_jupyter.services.reasoning import runs

    before = len(runs)
    run_batch("game24", [900], provider=ScriptedProvider(game24_oracle()))
    assert len(runs) == before + 1


def test_bad_batch_arguments_are_value_errors():
    provider = ScriptedProvider(game24_oracle())
    with pytest.raises(ValueError, match="unknown method"):
        run_batch("game24", [900], method="magic", provider=provider)
    with pytest.raises(ValueError, match="paper mode only"):
        run_batch("text", [0], prompts="ours", provider=provider)
    with pytest.raises(ValueError, match="not an index"):
        run_batch("game24", [99999], provider=provider)
    with pytest.raises(ValueError, match="unknown parameter"):
        run_batch("game24", [900], provider=provider, n_selectt_sample=2)


def test_open_problems_read_yes_no_and_are_sent_as_chat():
    from pygent_jupyter.services.reasoning import OpenProblemTask

    task = OpenProblemTask()
    outputs = ["Yes, it is on track.", "No.", "I am sure.", "1. Buy a rocket."]
    assert task.value_outputs_unwrap("p", ["a"], outputs) == value_from_counts(
        {"likely": 1, "impossible": 1, "sure": 1}
    )
    seen: list[str] = []

    class ChatOnly(ScriptedProvider):
        async def generate(self, prompt, *, model=None, options=None):
            seen.append("generate")
            return await super().generate(prompt, model=model, options=options)

        async def chat(self, messages, *, model=None, options=None, tools=None):
            seen.append("chat")
            assert messages == [{"role": "user", "content": messages[0]["content"]}]
            return await super().generate(messages[0]["content"], model=model, options=options)

    solve(task, "p", provider=ChatOnly(lambda p, o: "one\ntwo\nsure"), max_calls=4)
    assert set(seen) == {"chat"}
    seen.clear()
    solve(task, "p", provider=ChatOnly(lambda p, o: "one"), max_calls=2, api="generate")
    assert set(seen) == {"generate"}
