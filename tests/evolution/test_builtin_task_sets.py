"""Built-in task sets: the default ``starter`` set gives partial credit a small model can earn."""

from __future__ import annotations

import pytest

from pygent_jupyter.services.evolution.tasks import (
    BUILTIN_TASK_SETS,
    DEFAULT_TASK_SET,
    builtin_task_set,
    task_set_from_json,
)


def test_no_task_set_means_the_starter_set_with_examples():
    for data in (None, {}, {"name": "starter"}):
        task_set = task_set_from_json(data)
        assert task_set.name == DEFAULT_TASK_SET == "starter"
        assert len(task_set.tasks) == 16 and len(task_set.examples) == 5
    assert [task_set_from_json({"name": n}).name for n in BUILTIN_TASK_SETS] == list(
        BUILTIN_TASK_SETS
    )
    assert len(task_set_from_json({"name": "game24", "range": [900, 902]}).tasks) == 2


@pytest.mark.parametrize(
    ("name", "index", "answer", "score"),
    [
        ("sentiment", 0, "Positive.", 1.0),
        ("sentiment", 0, "The review is positive.", 0.5),
        ("sentiment", 0, "positive or negative", 0.0),
        ("sentiment", 1, "negative", 1.0),
        ("arithmetic", 0, "5", 1.0),
        ("arithmetic", 0, "2 + 3 = 5", 0.5),
        ("arithmetic", 0, "six", 0.0),
        ("format", 0, "YES", 1.0),
        ("format", 0, "YES, of course", 0.5),
        ("format", 0, "yes", 0.0),
        ("format", 2, "42.", 1.0),
    ],
)
def test_partial_credit(name, index, answer, score):
    assert builtin_task_set(name).tasks[index].score(answer) == score


def test_unknown_names_are_client_errors():
    with pytest.raises(ValueError, match="built in: starter"):
        builtin_task_set("nope")
    with pytest.raises(ValueError, match="built-in name"):
        task_set_from_json({"name": "nope"})
