"""Task sets that agent variants are scored on: exact, contains, regex or a checker function.

Built in (:data:`BUILTIN_TASK_SETS`): ``starter`` (the default when a run names no task set:
short classification, arithmetic and format-following items with partial credit, on which a
small local model scores well above 0 and evolution has room to improve it), its parts
``sentiment``, ``arithmetic`` and ``format``, and Game of 24 (the reasoning service's puzzle
list and exact checker, :mod:`pygent_jupyter.services.reasoning.game24`), which small models
score 0 on. A built-in set carries few-shot ``examples``, the default few-shot pool.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ... import safe_regex

__all__ = [
    "BUILTIN_TASK_SETS",
    "DEFAULT_TASK_SET",
    "MATCHES",
    "Task",
    "TaskSet",
    "builtin_task_set",
    "game24_task_set",
    "task_set_from_json",
]

MATCHES = ("exact", "contains", "regex", "checker")

Checker = Callable[["Task", str], "bool | float"]


def _normalise(text: str) -> str:
    return " ".join(text.strip().lower().split()).rstrip(".")


@dataclass
class Task:
    """One input and how to score an answer to it (1.0 right … 0.0 wrong).

    - ``exact``: the answer's last non-empty line equals ``expected`` (case and spacing ignored);
    - ``contains``: ``expected`` occurs in the answer (case ignored);
    - ``regex``: ``expected`` is an RE2 pattern (:mod:`pygent_jupyter.safe_regex`: linear
      time, no backreferences or lookaround) found anywhere in the answer;
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
            # RE2: linear-time matching, safe on the event loop (no catastrophic backtracking)
            self._pattern = safe_regex.compile(self.expected, ignore_case=True, multiline=True)

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
    #: (input, output) pairs a run may use as its few-shot pool when it gives none.
    examples: list[tuple[str, str]] = field(default_factory=list)
    #: The answer length a run uses when its fitness names none (None: the service's).
    max_answer_tokens: int | None = None

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


# -- built-in starter sets: progress is measurable on a 135M model -----------------------------

_WORD_RE = re.compile(r"[A-Za-z]+")
_NUM_RE = re.compile(r"-?\d+")


def _label_checker(task: Task, answer: str) -> float:
    """1 when the answer starts with the label, 0.5 when it only contains it; 0 when it
    names another label too (or not this one)."""
    words = [w.lower() for w in _WORD_RE.findall(answer)]
    present = [label for label in task.meta["labels"] if label in words]
    if present != [task.expected]:
        return 0.0
    return 1.0 if words[0] == task.expected else 0.5


def _number_checker(task: Task, answer: str) -> float:
    """1 when the answer's first number is the expected one, 0.5 when it occurs later."""
    numbers = _NUM_RE.findall(answer)
    if numbers and numbers[0] == task.expected:
        return 1.0
    return 0.5 if task.expected in numbers else 0.0


def _format_checker(task: Task, answer: str) -> float:
    """1 for exactly the expected text, 0.5 when it is the first word of the answer."""
    text = answer.strip().strip(".!\"'")
    if text == task.expected:
        return 1.0
    words = answer.split()
    return 0.5 if words and words[0].strip(".,!:\"'") == task.expected else 0.0


_SENTIMENT = [
    ("I loved this movie, it was wonderful.", "positive"),
    ("The food was cold and the waiter was rude.", "negative"),
    ("What a great day, everything went perfectly.", "positive"),
    ("This phone broke after one day. Terrible.", "negative"),
    ("The concert was amazing and the crowd was happy.", "positive"),
    ("I hated the ending, it was boring and sad.", "negative"),
]
_ARITHMETIC = [
    ("2 + 3", "5"),
    ("4 + 4", "8"),
    ("10 - 3", "7"),
    ("3 * 3", "9"),
    ("6 + 1", "7"),
    ("9 - 5", "4"),
]
_FORMAT = [
    ("Reply with the word YES in capital letters and nothing else.", "YES"),
    ("Reply with the word blue in lowercase letters and nothing else.", "blue"),
    ("Reply with the number 42 and nothing else.", "42"),
    ("Reply with the word OK and nothing else.", "OK"),
]


def _sentiment_tasks() -> list[Task]:
    return [
        Task(
            f"Is this review positive or negative? Reply with one word.\nReview: {text}",
            label,
            "checker",
            _label_checker,
            {"labels": ["positive", "negative"]},
        )
        for text, label in _SENTIMENT
    ]


def _arithmetic_tasks() -> list[Task]:
    return [
        Task(f"What is {q}? Reply with the number only.", a, "checker", _number_checker)
        for q, a in _ARITHMETIC
    ]


def _format_tasks() -> list[Task]:
    return [Task(q, a, "checker", _format_checker) for q, a in _FORMAT]


_EXAMPLES = {
    "sentiment": [
        (
            "Is this review positive or negative? Reply with one word.\nReview: Lovely hotel.",
            "positive",
        ),
        (
            "Is this review positive or negative? Reply with one word.\nReview: Awful service.",
            "negative",
        ),
    ],
    "arithmetic": [
        ("What is 1 + 1? Reply with the number only.", "2"),
        ("What is 8 - 2? Reply with the number only.", "6"),
    ],
    "format": [("Reply with the word NO in capital letters and nothing else.", "NO")],
}


#: The answer budget of the starter sets: every item asks for one word or number, and its
#: checker reads the first word or number, so 10 tokens keep partial credit ("The review is
#: positive") while costing 40% less time on the embedded model than 24 (measured).
STARTER_ANSWER_TOKENS = 10


def builtin_task_set(name: str = "starter") -> TaskSet:
    """A built-in task set by name (see :data:`BUILTIN_TASK_SETS`)."""
    if name == "game24":
        return game24_task_set()
    parts = {
        "sentiment": _sentiment_tasks,
        "arithmetic": _arithmetic_tasks,
        "format": _format_tasks,
    }
    if name == "starter":
        tasks = [t for make in parts.values() for t in make()]
        examples = [e for key in parts for e in _EXAMPLES[key]]
        return TaskSet("starter", tasks, examples=examples, max_answer_tokens=STARTER_ANSWER_TOKENS)
    if name in parts:
        return TaskSet(
            name,
            parts[name](),
            examples=list(_EXAMPLES[name]),
            max_answer_tokens=STARTER_ANSWER_TOKENS,
        )
    raise ValueError(
        f"unknown task set {name!r}; built in: {', '.join(BUILTIN_TASK_SETS)} (or give 'tasks')"
    )


#: Built-in task sets, by name; ``starter`` is the default of runs that name none.
BUILTIN_TASK_SETS = ("starter", "sentiment", "arithmetic", "format", "game24")
DEFAULT_TASK_SET = "starter"


def task_set_from_json(data: Mapping[str, Any] | None, *, max_tasks: int = 100) -> TaskSet:
    """Build a task set from client data: None or ``{}`` (the default, ``starter``), a
    built-in name (``{"name": "sentiment"}``), ``{"name": "game24", "range": [a, b]}`` or
    ``{"name": …, "instruction": …, "tasks": [{"input", "expected", "match"}, …]}``.

    Raises ``ValueError`` with a message fit for the client.
    """
    data = data or {"name": DEFAULT_TASK_SET}
    if "tasks" not in data and data.get("name", DEFAULT_TASK_SET) in BUILTIN_TASK_SETS[:-1]:
        return builtin_task_set(str(data.get("name", DEFAULT_TASK_SET)))
    name = str(data.get("name") or "custom")
    if name == "game24" and "tasks" not in data:
        start, stop = data.get("range", [900, 905])
        if stop - start > max_tasks:
            raise ValueError(f"at most {max_tasks} tasks per run")
        return game24_task_set(int(start), int(stop))
    raw = data.get("tasks")
    if not isinstance(raw, list) or not raw:
        raise ValueError(
            "task_set needs 'tasks' (a non-empty list) or a built-in name: "
            + ", ".join(BUILTIN_TASK_SETS)
        )
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
