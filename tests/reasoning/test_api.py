"""The research API: solve() from scripts and notebooks, and the Game of 24 batch runner."""

from __future__ import annotations

import json

from pygent_jupyter.services.reasoning import ReasoningTree, run_game24_batch, solve
from pygent_jupyter.services.reasoning.api import main

from .scripted import ScriptedProvider, game24_oracle


def test_solve_returns_the_whole_tree():
    events: list[dict] = []
    tree = solve(
        "game24",
        "4 5 6 10",
        provider=ScriptedProvider(game24_oracle()),
        n_select_sample=2,
        on_event=events.append,
    )
    assert isinstance(tree, ReasoningTree)
    assert tree.solved is True and tree.params.n_select_sample == 2
    assert len(tree.nodes) == tree.stats.nodes + 1
    assert {e["event"] for e in events} == {"node", "step"}
    assert "solved=True" in tree.summary()
    assert (
        ReasoningTree.from_dict(json.loads(json.dumps(tree.to_dict()))).best_path == tree.best_path
    )


async def test_solve_works_inside_a_running_loop_like_a_notebook():
    tree = solve("game24", "1 1 4 6", provider=ScriptedProvider(game24_oracle()))
    assert tree.solved is True


def test_batch_reports_success_calls_tokens_and_time_per_puzzle():
    def half_blind(max_moves: int = 8):
        oracle = game24_oracle(max_moves)

        def respond(prompt, options):  # never finds the final expression for odd inputs
            if prompt.startswith("Game of 24: use every input") and "Input: 1 2 4 7" in prompt:
                return "Answer: 1 + 2 + 4 + 7 = 24"
            return oracle(prompt, options)

        return respond

    rows = []
    report = run_game24_batch(
        900, 903, provider=ScriptedProvider(half_blind()), on_result=rows.append, parallel_puzzles=2
    )
    assert [r.index for r in report.results] == [900, 901, 902]
    assert [r.solved for r in report.results] == [True, False, True]
    summary = report.summary()
    assert summary["puzzles"] == 3 and summary["solved"] == 2
    assert summary["success_rate"] == round(2 / 3, 4)
    assert summary["calls_per_puzzle"] > 0 and summary["tokens_per_puzzle"] > 0
    tot = report.params["params"]
    assert tot["n_select_sample"] == 5 and tot["n_evaluate_sample"] == 3
    assert len(rows) == 3
    assert "success 2/3" in report.table()


def test_command_line_help_lists_the_paper_parameters(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "--n-select-sample" in capsys.readouterr().out
