"""Game of 24: shipped data, exact checker, prompts, and whole searches with an oracle model."""

from __future__ import annotations

from importlib import resources

import pytest

from pygent_jupyter.services.reasoning import Game24Task, load_puzzles, solve
from pygent_jupyter.services.reasoning.game24 import check_answer, current_numbers

from .scripted import ScriptedProvider, game24_oracle


def test_puzzles_and_license_ship_with_the_package():
    puzzles = load_puzzles()
    assert len(puzzles) == 1362
    assert puzzles[0] == "1 1 4 6"
    assert all(len(p.split()) == 4 for p in puzzles)
    data = resources.files("pygent_jupyter.services.reasoning").joinpath("data")
    notice = data.joinpath("LICENSE-tree-of-thought-llm").read_text(encoding="utf-8")
    assert "MIT License" in notice and "Shunyu Yao" in notice


@pytest.mark.parametrize(
    ("puzzle", "answer", "ok"),
    [
        ("4 5 6 10", "Answer: (10 - 6) + 4 * 5 = 24", True),
        ("4 5 6 10", "(10-6)+4*5", True),
        ("3 3 8 8", "8 / (3 - 8 / 3) = 24", True),  # needs exact fractions
        ("1 1 4 6", "1 * 1 * 4 * 6", True),
        ("4 5 6 10", "(10 - 4) * (5 - 6 + 5) = 24", False),  # 5 used twice, 10 never... 4 once
        ("4 5 6 10", "4 * 6 = 24", False),  # not every number used
        ("4 5 6 10", "(10 - 6) + 4 * 5 + 0 = 24", False),  # extra number
        ("4 5 6 10", "(10 - 5) * 4 + 6 = 24", False),  # uses each once but equals 26
        ("1 2 3 4", "1 * 2 * 3 * 4 = 24", True),
        ("1 2 3 4", "-1 + 2 * 3 * 4 + 1", False),  # unary minus and an extra 1
        ("2 3 4 12", "2 ** 3 + 4 + 12", False),  # powers are not allowed
        ("1 2 3 4", "__import__('os') + 1 + 2 + 3 + 4", False),
        ("4 5 6 10", "", False),
        ("1 5 5 5", "5 * (5 - 1 / 5)", True),
        ("4 4 10 10", "(10 * 10 - 4) / 4 = 24", True),
        ("4 4 10 10", "(10 * 10 - 4) / (4 - 4)", False),  # division by zero
    ],
)
def test_checker_is_exact(puzzle: str, answer: str, ok: bool) -> None:
    assert check_answer(puzzle, answer) is ok


def test_prompts_show_the_remaining_numbers():
    task = Game24Task()
    path = ["10 - 4 = 6 (left: 5 6 6)"]
    assert current_numbers("4 5 6 10", path) == "5 6 6"
    propose = task.propose_prompt("4 5 6 10", path)
    assert propose is not None and propose.rstrip().endswith("Numbers: 5 6 6")
    assert "4 5 6 10" not in propose
    value = task.value_prompt("4 5 6 10", path)
    assert value is not None and value.rstrip().endswith("Numbers: 5 6 6")


def test_answer_prompt_after_reaching_24_and_dead_ends_cost_nothing():
    task = Game24Task()
    reached = ["4 * 5 = 20 (left: 6 10 20)", "10 - 6 = 4 (left: 4 20)", "4 + 20 = 24 (left: 24)"]
    prompt = task.propose_prompt("4 5 6 10", reached)
    assert prompt is not None and "Input: 4 5 6 10" in prompt and reached[-1] in prompt
    missed = [*reached[:2], "4 * 20 = 80 (left: 80)"]
    assert task.propose_prompt("4 5 6 10", missed) is None


def test_answer_value_and_outcome():
    task = Game24Task()
    path = ["a (left: 6 10 20)", "b (left: 4 20)", "c (left: 24)", "Answer: (10 - 6) + 4 * 5 = 24"]
    assert task.is_terminal("4 5 6 10", path)
    assert task.answer("4 5 6 10", path) == "(10 - 6) + 4 * 5 = 24"
    assert task.check("4 5 6 10", task.answer("4 5 6 10", path)) is True
    value_prompt = task.value_prompt("4 5 6 10", path)
    assert value_prompt is not None and value_prompt.rstrip().endswith(
        "Answer: (10 - 6) + 4 * 5 = 24"
    )
    assert task.value_outputs_unwrap(
        "", path, ["x\nsure", "y\nLikely.", "z\nimpossible", "?"]
    ) == pytest.approx(21.001)
    # four steps and no answer: zero, without asking the model (the reference's rule)
    assert task.value_prompt("4 5 6 10", [*path[:3], "d (left: 24)"]) is None


def test_parse_keeps_only_well_formed_steps():
    task = Game24Task()
    text = "Sure! Here are steps:\n4 + 5 = 9 (left: 6 9 10)\n\nblah\n10 - 4 = 6 (left: 5 6 6)"
    assert task.parse_proposals("4 5 6 10", [], text) == [
        "4 + 5 = 9 (left: 6 9 10)",
        "10 - 4 = 6 (left: 5 6 6)",
    ]


@pytest.mark.parametrize("method", ["bfs", "dfs"])
def test_solve_with_an_oracle_model_solves_hard_puzzles(method: str) -> None:
    for index in (900, 950, 999):
        tree = solve(
            "game24", puzzle_index=index, provider=ScriptedProvider(game24_oracle()), method=method
        )
        assert tree.solved is True, (index, tree.summary())
        assert check_answer(load_puzzles()[index], tree.answer or "")
        assert len(tree.best_path) == 4
        assert tree.stats.stop_reason == "solved"
