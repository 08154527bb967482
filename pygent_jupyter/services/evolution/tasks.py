"""Task sets that agent variants are scored on: exact, contains, regex or a checker function.

Game of 24 is built in, reusing the reasoning service's puzzle list and exact checker
(:mod:`pygent_jupyter.services.reasoning.game24`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MATCHES", "Task", "TaskSet", "game24_task_set", "task_set_from_json"]

MATCHES = ("exact", "contains", "regex", "checker")

Checker = Callable[["Task", str], "bool | float"]


def _normalise(text: str) -> str:
    return " ".join(text.strip().lower().split()).rstrip(".")


@dataclass
class Task:
    """One input and how to score an answer to it (1.0 right … 0.0 wrong).

    - ``exact``: the answer's last non-empty line equals ``expected`` (case and spacing ignored);
    - ``contains``: ``expected`` occurs in the answer (case ignored);
    - ``regex``: ``expected`` is a pattern that :func:`re.search` finds in the answer;
    - ``checker``: ``checker(task, answer)`` returns a bool or a score in [0, 1].
    """

    input: str
    expected: str | None = None
    match: str = "exact"
    checker: Checker | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.match not in MATCHES:
            raise ValueError(f"unknown match {self.match!r}; choose one of {', '.join(MATCHES)}")
        if self.match == "checker" and self.checker is None:
            raise ValueError("match 'checker' needs a checker function")
        if self.match != "checker" and self.expected is None:
            raise ValueError(f"match {self.match!r} needs 'expected'")
        if self.match == "regex":
            assert self.expected is not None
            self._pattern = re.compile(self.expected, re.IGNORECASE | re.MULTILINE)

    def score(self, answer: str) -> float:
        """The answer's score in [0, 1]."""
        if self.match == "checker":
            assert self.checker is not None
            return max(0.0, min(1.0, float(self.checker(self, answer))))
        assert self.expected is not None
        if self.match == "contains":
            return float(self.expected.lower() in answer.lower())
        if self.match == "regex":
            return float(self._pattern.search(answer) is not None)
        lines = [line for line in answer.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        return float(_normalise(last) == _normalise(self.expected))


@dataclass
class TaskSet:
    """A named list of tasks, with an optional instruction put before each input."""

    name: str
    tasks: list[Task]
    instruction: str = ""

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("a task set needs at least one task")

    def prompt(self, task: Task) -> str:
        return f"{self.instruction}\n\n{task.input}".strip() if self.instruction else task.input

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "tasks": len(self.tasks)}


GAME24_INSTRUCTION = (
    "Use each of the four numbers exactly once with + - * / and parentheses to make 24. "
    "Reply with the expression only, for example: (4 + 8) * (6 - 4)"
)


def _game24_checker(task: Task, answer: str) -> bool:
    from ..reasoning.game24 import check_answer

    return check_answer(task.input, answer)


def game24_task_set(
    start: int = 900, stop: int = 905, puzzles: Sequence[str] | None = None
) -> TaskSet:
    """Game of 24 puzzles ``[start, stop)`` of the reasoning service's list (or ``puzzles``)."""
    if puzzles is None:
        from ..reasoning.game24 import load_puzzles

        everything = load_puzzles()
        if not 0 <= start < stop <= len(everything):
            raise ValueError(f"game24 range must lie within [0, {len(everything)}]")
        puzzles = everything[start:stop]
    tasks = [Task(p, match="checker", checker=_game24_checker) for p in puzzles]
    return TaskSet("game24", tasks, instruction=GAME24_INSTRUCTION)


def task_set_from_json(data: Mapping[str, Any], *, max_tasks: int = 100) -> TaskSet:
    """Build a task set from client data: ``{"name": "game24", "range": [a, b]}`` or
    ``{"name": …, "instruction": …, "tasks": [{"input", "expected", "match"}, …]}``.

    Raises ``ValueError`` with a message fit for the client.
    """
    name = str(data.get("name") or "custom")
    if name == "game24" and "tasks" not in data:
        start, stop = data.get("range", [900, 905])
        if stop - start > max_tasks:
            raise ValueError(f"at most {max_tasks} tasks per run")
        return game24_task_set(int(start), int(stop))
    raw = data.get("tasks")
    if not isinstance(raw, list) or not raw:
        raise ValueError("task_set needs 'tasks' (a non-empty list) or name 'game24'")
    if len(raw) > max_tasks:
        raise ValueError(f"at most {max_tasks} tasks per run")
    tasks = []
    for item in raw:
        if item.get("match") == "checker":
            raise ValueError("checker tasks can only be built in Python (or use name 'game24')")
        try:
            tasks.append(
                Task(str(item["input"]), str(item["expected"]), str(item.get("match", "exact")))
            )
        except re.error as exc:
            raise ValueError(f"bad regex {item.get('expected')!r}: {exc}") from None
    return TaskSet(name, tasks, instruction=str(data.get("instruction", "")))
