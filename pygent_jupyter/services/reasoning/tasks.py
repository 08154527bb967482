"""Pluggable Tree-of-Thought tasks: prompt builders, output parsers and answer checks.

A *state* is the input ``x`` plus the thoughts so far (``path``, one line each), as in the
reference implementation's ``(x, y)`` with ``y = "\\n".join(path)``. The engine never looks
inside a thought; everything task-specific lives here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .game24 import check_answer, current_numbers, parse_numbers

__all__ = [
    "PROMPT_MODES",
    "TASKS",
    "VALUE_MAP",
    "Game24Task",
    "OpenProblemTask",
    "Task",
    "make_task",
    "value_from_counts",
]

#: Labels of the value prompt and their scores, as in the reference (summed over samples).
VALUE_MAP: dict[str, float] = {"sure": 20.0, "likely": 1.0, "impossible": 0.001}

#: The order in which the reference adds the label scores (``value_map.items()``).
_LABEL_ORDER = ("impossible", "likely", "sure")

#: ``ours`` (this project's prompts) or ``paper`` (the official package's, verbatim).
PROMPT_MODES = ("ours", "paper")

#: Task names :func:`make_task` knows.
TASKS = ("game24", "open", "text", "crosswords")


def value_from_counts(counts: Counter[str] | dict[str, int]) -> float:
    """A state's value from its label counts, added as the reference adds them.

    ``sum(score * count)`` in the order impossible, likely, sure: equal counts always give
    bit-identical values (so ties break as in the reference), whatever the sample order.
    """
    return sum(VALUE_MAP[name] * counts.get(name, 0) for name in _LABEL_ORDER)


_VOTE_RE = re.compile(r"best choice is\s*:?\s*\**\s*(\d+)", re.IGNORECASE)


class Task:
    """Base class of a ToT task. Subclasses set ``name`` and ``steps`` and build prompts.

    ``path`` is a sequence of thoughts from the root (empty at the root).
    """

    name: str = "task"
    #: Default search depth (the reference's ``task.steps``).
    steps: int = 3
    #: Max new tokens per call kind (``Options.num_predict``).
    max_new_tokens: dict[str, int] = {"propose": 256, "sample": 128, "value": 96, "vote": 128}
    #: ``ours`` or ``paper`` (the official package's prompts and parsing).
    prompts: str = "ours"
    #: Whether output lines that are not thoughts count as ``SearchStats.dropped_lines``.
    counts_dropped_lines: bool = True
    #: How ``ToTParams(api="auto")`` sends this task's prompts: ``generate`` or ``chat``.
    api: str = "generate"

    def propose_samples(self, params: Any) -> int:
        """How many propose outputs one expansion asks for (1; crosswords: more)."""
        return 1

    def parse_proposal_outputs(
        self, x: str, path: Sequence[str], texts: Sequence[str]
    ) -> list[str]:
        """The thoughts of one expansion's propose output(s), in order."""
        out: list[str] = []
        for text in texts:
            out += self.parse_proposals(x, path, text)
        return out

    def stop(self, kind: str, path: Sequence[str]) -> list[str] | None:
        """Stop sequences for a call of ``kind`` at ``path`` (None: none)."""
        return None

    # -- generation -----------------------------------------------------------------------
    def propose_prompt(self, x: str, path: Sequence[str]) -> str | None:
        """The prompt that asks for several next thoughts, or None when ``path`` is a dead end."""
        raise NotImplementedError

    def parse_proposals(self, x: str, path: Sequence[str], text: str) -> list[str]:
        """Split a propose output into thoughts (one per non-empty line by default)."""
        return [line.strip() for line in text.splitlines() if line.strip()]

    def sample_prompt(self, x: str, path: Sequence[str]) -> str | None:
        """The prompt whose one sampled continuation is the next thought (``sample`` mode)."""
        raise NotImplementedError

    def parse_sample(self, x: str, path: Sequence[str], text: str) -> str | None:
        """The next thought from one sampled continuation (its first non-empty line)."""
        for line in text.splitlines():
            if line.strip():
                return line.strip()
        return None

    # -- evaluation -----------------------------------------------------------------------
    def value_prompt(self, x: str, path: Sequence[str]) -> str | None:
        """The prompt scoring one state, or None when the value is known without the model."""
        raise NotImplementedError

    def static_value(self, x: str, path: Sequence[str]) -> float:
        """The value of a state whose :meth:`value_prompt` is None."""
        return 0.0

    def value_outputs_unwrap(self, x: str, path: Sequence[str], outputs: Sequence[str]) -> float:
        """:func:`value_from_counts` of the label on each output's last line (lenient: the
        last label word on the last non-empty line, any case)."""
        return value_from_counts(Counter(filter(None, map(_last_label, outputs))))

    def vote_prompt(self, x: str, paths: Sequence[Sequence[str]]) -> str:
        """A prompt asking which of ``paths`` is most promising."""
        choices = "\n".join(
            f"Choice {i}:\n" + ("\n".join(p) if p else "(no steps yet)")
            for i, p in enumerate(paths, 1)
        )
        return (
            "Several partial solutions to a problem follow. Analyse each briefly, then end "
            'with a line "The best choice is N", where N is the number of the most promising '
            f"one.\n\nProblem: {x}\n\n{choices}\n"
        )

    def vote_outputs_unwrap(self, outputs: Sequence[str], n_candidates: int) -> list[float]:
        """Vote counts per candidate (``The best choice is N``, 1-based)."""
        votes = [0.0] * n_candidates
        for output in outputs:
            matches = _VOTE_RE.findall(output)
            if matches:
                choice = int(matches[-1]) - 1
                if 0 <= choice < n_candidates:
                    votes[choice] += 1
        return votes

    # -- outcome --------------------------------------------------------------------------
    def is_terminal(self, x: str, path: Sequence[str]) -> bool:
        """True when ``path`` is a complete solution attempt (no further step makes sense)."""
        return len(path) >= self.steps

    def answer(self, x: str, path: Sequence[str]) -> str | None:
        """The final answer carried by ``path``, if it has one."""
        return path[-1] if path and self.is_terminal(x, path) else None

    def check(self, x: str, answer: str | None) -> bool | None:
        """True/False when the task can verify an answer, None when it cannot."""
        return None


def _last_label(output: str) -> str | None:
    """The last label word of the last non-empty line; failing that, of the whole output
    (small models often state the label and then ramble on)."""
    lines = [line.strip().lower() for line in output.strip().splitlines() if line.strip()]
    for text in (lines[-1:], lines):
        for word in reversed(re.findall(r"[a-z]+", " ".join(text))):
            if word in VALUE_MAP:
                return word
    return None


_SYNONYMS = {"yes": "likely", "no": "impossible"}


def _open_label(output: str) -> str | None:
    label = _last_label(output)
    if label is not None:
        return label
    for word in re.findall(r"[a-z]+", output.lower()):
        if word in _SYNONYMS:
            return _SYNONYMS[word]
    return None


# ---------------------------------------------------------------------------------------------
# Game of 24
# ---------------------------------------------------------------------------------------------

_PROPOSE_24 = """\
Game of 24. Pick two of the numbers and combine them with +, -, * or /. The result replaces \
the two numbers you used; the other numbers stay. List several different possible next steps, \
one per line, each exactly in the form: a op b = c (left: the numbers that remain)

Numbers: 2 8 8 14
2 + 8 = 10 (left: 8 10 14)
8 / 2 = 4 (left: 4 8 14)
14 + 2 = 16 (left: 8 8 16)
2 * 8 = 16 (left: 8 14 16)
8 - 2 = 6 (left: 6 8 14)
14 - 8 = 6 (left: 2 6 8)
14 / 2 = 7 (left: 7 8 8)
14 - 2 = 12 (left: 8 8 12)

Numbers: {numbers}
"""

_ANSWER_24 = """\
Game of 24: use every input number exactly once with +, -, * and / to make 24. The steps below \
reach 24; write the single expression they amount to, in the form: Answer: expression = 24

Input: 4 4 6 8
Steps:
4 + 8 = 12 (left: 4 6 12)
6 - 4 = 2 (left: 2 12)
2 * 12 = 24 (left: 24)
Answer: (6 - 4) * (4 + 8) = 24

Input: {input}
Steps:
{steps}
"""

_VALUE_24 = """\
Can these numbers reach exactly 24 with +, -, * and /, using each number exactly once? Try a \
few combinations, then answer on the last line with one word: sure, likely or impossible.

Numbers: 10 14
10 + 14 = 24
sure

Numbers: 4 4 10
(10 - 4) * 4 = 24
sure

Numbers: 11 12
11 + 12 = 23, 12 - 11 = 1, 11 * 12 = 132, 12 / 11 is not an integer
impossible

Numbers: 5 7 8
5 + 7 + 8 = 20, (8 - 5) * 7 = 21; 24 is within reach but not found yet
likely

Numbers: 1 3 3
1 * 3 * 3 = 9, (1 + 3) * 3 = 12; these numbers are too small
impossible

Numbers: {numbers}
"""

_VALUE_LAST_24 = """\
Game of 24. Does the answer use each input number exactly once and evaluate to 24? Check it, \
then answer on the last line with one word: sure or impossible.

Input: 4 4 6 8
Answer: (4 + 8) * (6 - 4) = 24
(4 + 8) * (6 - 4) = 12 * 2 = 24, and it uses 4 4 6 8
sure

Input: 2 9 10 12
Answer: 2 * 12 * (10 - 9) = 24
2 * 12 * 1 = 24, and it uses 2 9 10 12
sure

Input: 4 9 10 13
Answer: (13 - 9) * (10 - 4) = 24
4 * 6 = 24 but it does not use the numbers correctly
impossible

Input: {input}
Answer: {answer}
"""

_STEP_RE = re.compile(r"\(left:\s*[-\d./ ]+\)")

#: Where the next few-shot example of our Game of 24 prompts would begin.
_STOPS_24 = ("\nNumbers:", "\nInput:")


class Game24Task(Task):
    """Game of 24: ``x`` is four numbers (``"4 5 6 10"``); three steps then an answer line.

    States show the model only the *remaining* numbers (``left: …``) when proposing and
    valuing, as in the reference. The answer check is exact (:func:`check_answer`).
    """

    name = "game24"
    steps = 4
    max_new_tokens = {"propose": 200, "sample": 48, "value": 96, "vote": 160}

    def stop(self, kind: str, path: Sequence[str]) -> list[str] | None:
        """Our prompts are raw completions of few-shot examples: a model that has answered
        goes on to invent the next example (``Numbers: …`` / ``Input: …``) with its own steps
        and labels, which would be read as this state's. Stop there."""
        return list(_STOPS_24)

    def propose_prompt(self, x: str, path: Sequence[str]) -> str | None:
        numbers = current_numbers(x, path)
        if len(path) >= self.steps - 1:
            if _is_24(numbers):
                return _ANSWER_24.format(input=x, steps="\n".join(path))
            return None  # three steps that do not reach 24: a dead end, no call spent
        return _PROPOSE_24.format(numbers=numbers)

    def parse_proposals(self, x: str, path: Sequence[str], text: str) -> list[str]:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if len(path) >= self.steps - 1:
            for line in lines:
                if line.lower().startswith("answer"):
                    return [_normalise_answer(line)]
            return [_normalise_answer(lines[0])] if lines else []
        return [line for line in lines if _STEP_RE.search(line)]

    def sample_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return self.propose_prompt(x, path)

    def parse_sample(self, x: str, path: Sequence[str], text: str) -> str | None:
        thoughts = self.parse_proposals(x, path, text)
        return thoughts[0] if thoughts else None

    def value_prompt(self, x: str, path: Sequence[str]) -> str | None:
        if not path:
            return _VALUE_24.format(numbers=x)
        last = path[-1]
        if "left:" not in last:
            return _VALUE_LAST_24.format(input=x, answer=_answer_body(last))
        if len(path) >= self.steps:
            return None
        return _VALUE_24.format(numbers=current_numbers(x, path))

    def static_value(self, x: str, path: Sequence[str]) -> float:
        return 0.0  # four steps without an answer (the reference's rule)

    def is_terminal(self, x: str, path: Sequence[str]) -> bool:
        return bool(path) and (len(path) >= self.steps or "left:" not in path[-1])

    def answer(self, x: str, path: Sequence[str]) -> str | None:
        if path and "left:" not in path[-1]:
            return _answer_body(path[-1])
        return None

    def check(self, x: str, answer: str | None) -> bool | None:
        return bool(answer) and check_answer(x, answer or "")


def _is_24(numbers: str) -> bool:
    values = parse_numbers(numbers)
    return len(values) == 1 and values[0] == 24


def _answer_body(line: str) -> str:
    """``"Answer: e = 24"``, ``"Answer e = 24"`` or ``"e = 24"`` -> ``"e = 24"``."""
    text = line.strip()
    if text.lower().startswith("answer"):
        text = text[len("answer") :].lstrip(" \t:-")
    return text


def _normalise_answer(line: str) -> str:
    return f"Answer: {_answer_body(line)}"


# ---------------------------------------------------------------------------------------------
# Open problems (the chat `reasoning` agent)
# ---------------------------------------------------------------------------------------------

_DECOMPOSE = """\
Problem: {problem}

Propose {k} different ways to break this problem into smaller parts. Write each on its own \
line as one short plan (one sentence), with no numbering.
"""

_NEXT_STEP = """\
Problem: {problem}

Progress so far:
{steps}

Propose {k} different next steps that move this solution forward. Write each on its own line \
as one or two sentences, with no numbering.
"""

_FINAL = """\
Problem: {problem}

Reasoning so far:
{steps}

Using this reasoning, write the final answer to the problem in a short paragraph.
"""

_VALUE_OPEN = """\
Problem: {problem}

Partial solution:
{steps}

Is this partial solution correct and on track to solve the problem? Explain in one sentence, \
then answer on the last line with one word: sure, likely or impossible.
"""


class OpenProblemTask(Task):
    """A free-form problem: decompose, then propose steps, then a final answer.

    Depth 1 proposes decompositions (plans), intermediate depths propose next steps and the
    last depth writes the final answer; every state is valued sure/likely/impossible.
    """

    name = "open"
    api = "chat"  # instructions, not a pattern to continue

    def __init__(self, steps: int = 3, k: int = 3) -> None:
        if steps < 2:
            raise ValueError("an open problem needs at least 2 steps (plan, answer)")
        self.steps = steps
        self.k = k
        self.max_new_tokens = {"propose": 320, "sample": 160, "value": 96, "vote": 160}

    def _steps_text(self, path: Sequence[str]) -> str:
        return "\n".join(f"{i}. {t}" for i, t in enumerate(path, 1))

    def propose_prompt(self, x: str, path: Sequence[str]) -> str | None:
        if not path:
            return _DECOMPOSE.format(problem=x, k=self.k)
        if len(path) >= self.steps - 1:
            return _FINAL.format(problem=x, steps=self._steps_text(path))
        return _NEXT_STEP.format(problem=x, steps=self._steps_text(path), k=self.k)

    def parse_proposals(self, x: str, path: Sequence[str], text: str) -> list[str]:
        if len(path) >= self.steps - 1:
            answer = text.strip()
            return [answer] if answer else []
        lines = [
            re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip() for line in text.splitlines()
        ]
        return [line for line in lines if line][: self.k]

    def sample_prompt(self, x: str, path: Sequence[str]) -> str | None:
        if len(path) >= self.steps - 1:
            return _FINAL.format(problem=x, steps=self._steps_text(path))
        return _NEXT_STEP.format(problem=x, steps=self._steps_text(path) or "(none yet)", k=1)

    def parse_sample(self, x: str, path: Sequence[str], text: str) -> str | None:
        if len(path) >= self.steps - 1:
            return text.strip() or None
        return super().parse_sample(x, path, text)

    def value_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return _VALUE_OPEN.format(problem=x, steps=self._steps_text(path) or "(empty)")

    def value_outputs_unwrap(self, x: str, path: Sequence[str], outputs: Sequence[str]) -> float:
        """As :meth:`Task.value_outputs_unwrap`, also reading a plain ``yes`` as ``likely``
        and ``no`` as ``impossible`` (small instruct models answer the question that way)."""
        return value_from_counts(Counter(filter(None, (_open_label(o) for o in outputs))))


def make_task(name: str, *, prompts: str = "ours", **kwargs: Any) -> Task:
    """A task by name: ``game24``, ``open``, ``text`` (Creative Writing) or ``crosswords``.

    ``prompts="paper"`` gives the official ``tree-of-thoughts-llm`` prompts and parsing
    (:mod:`.paper`); ``text`` and ``crosswords`` exist only in paper mode (their prompts are
    the paper's). Raises ``ValueError`` for an unknown name or mode.
    """
    if prompts not in PROMPT_MODES:
        raise ValueError(f"unknown prompts {prompts!r} (known: {', '.join(PROMPT_MODES)})")
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r} (known: {', '.join(TASKS)})")
    if name == "open":
        return OpenProblemTask(**kwargs)
    if name == "game24" and prompts == "ours":
        return Game24Task()
    from . import paper  # the official package is needed from here on

    return paper.make_paper_task(name)
