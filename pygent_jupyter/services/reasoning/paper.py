"""Paper mode: the official ``tree-of-thoughts-llm`` prompts, data and parsing, verbatim.

The prompt strings are *imported* from the package (``tot.prompts.game24``, ``tot.prompts.text``,
``tot.prompts.crosswords``), never copied, and its data files are located inside the installed
package. Only those modules are imported: the package's ``tot.models`` / ``tot.tasks`` pull in
``openai``, ``sympy``, ``pandas`` and ``numpy`` at pinned, obsolete versions, which paper mode
never needs. Install it without its dependencies::

    pip install --no-deps tree-of-thoughts-llm

Each paper task reproduces the reference's ``*_prompt_wrap`` and ``*_outputs_unwrap`` (label
parsing that counts a sample only when its last line *is* the label); :data:`PAPER_SETTINGS`
holds the paper's search settings per task.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

from .game24 import check_answer
from .tasks import Game24Task, Task, value_from_counts

__all__ = [
    "INSTALL_HINT",
    "PAPER_SETTINGS",
    "PAPER_TABLES",
    "PaperGame24Task",
    "PaperModeUnavailable",
    "TextTask",
    "data_path",
    "load_text_inputs",
    "make_paper_task",
    "prompts",
]

INSTALL_HINT = "pip install --no-deps tree-of-thoughts-llm"

#: The paper's ToT settings per task (``scripts/*/bfs.sh`` of the reference; crosswords from
#: its DFS notebook). ``paper`` presets of :func:`..api.solve` / the batch runners use them.
PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    "game24": {
        "method": "bfs",
        "method_generate": "propose",
        "method_evaluate": "value",
        "method_select": "greedy",
        "n_evaluate_sample": 3,
        "n_select_sample": 5,
        "temperature": 0.7,
        "cache_scope": "batch",
    },
    "text": {
        "method": "bfs",
        "method_generate": "sample",
        "method_evaluate": "vote",
        "method_select": "greedy",
        "n_generate_sample": 5,
        "n_evaluate_sample": 5,
        "n_select_sample": 1,
        "temperature": 1.0,
        "cache_scope": "batch",
    },
    "crosswords": {
        "method": "dfs",
        "method_generate": "propose",
        "method_evaluate": "value",
        "method_select": "greedy",
        "n_generate_sample": 8,
        "n_evaluate_sample": 1,
        "n_select_sample": 3,
        "value_threshold": 1.0,
        "temperature": 0.7,
        "cache_scope": "batch",
        "max_calls": 400,
    },
}

#: The paper's reported numbers (GPT-4), for plotting beside a rerun. Game of 24: success
#: rate on puzzles 900-999; Creative Writing: GPT-4 coherency score (1-10); Crosswords:
#: word-level success.
PAPER_TABLES: dict[str, dict[str, float]] = {
    "game24": {"io": 0.073, "cot": 0.040, "cot_sc": 0.090, "tot_b1": 0.45, "tot_b5": 0.74},
    "text": {"io": 6.19, "cot": 6.93, "tot": 7.56},
    "crosswords": {"io": 0.143, "cot": 0.156, "tot": 0.60},
}


class PaperModeUnavailable(ImportError):
    """The official ``tree-of-thoughts-llm`` package is not installed."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "paper mode needs the official prompts and data of the Tree-of-Thought paper: "
            f"install them with `{INSTALL_HINT}` (no dependencies are needed)"
            + (f" [{detail}]" if detail else "")
        )


@functools.cache
def prompts(task: str) -> ModuleType:
    """The package's prompt module ``tot.prompts.<task>`` (``game24``, ``text``, ``crosswords``).

    Raises :class:`PaperModeUnavailable` when the package is missing.
    """
    try:
        return importlib.import_module(f"tot.prompts.{task}")
    except ImportError as exc:
        raise PaperModeUnavailable(str(exc)) from None


def data_path(*parts: str) -> Path:
    """A file under the installed package's ``tot/data`` (``data_path("24", "24.csv")``)."""
    try:
        root = resources.files("tot")
    except ImportError as exc:  # ModuleNotFoundError
        raise PaperModeUnavailable(str(exc)) from None
    path = Path(str(root.joinpath("data", *parts)))
    if not path.exists():
        raise PaperModeUnavailable(f"{path} is missing")
    return path


@functools.lru_cache(maxsize=1)
def load_text_inputs() -> tuple[str, ...]:
    """The 100 Creative Writing inputs (4 random sentences each) of ``data_100_random_text.txt``."""
    text = data_path("text", "data_100_random_text.txt").read_text(encoding="utf-8")
    return tuple(line.rstrip("\n") for line in text.splitlines(keepends=True))


# ---------------------------------------------------------------------------------------------
# Game of 24
# ---------------------------------------------------------------------------------------------


def _current_numbers(y: str) -> str:
    """The reference's ``get_current_numbers``: what follows ``left: `` on the last line."""
    last_line = y.strip().split("\n")[-1]
    return last_line.split("left: ")[-1].split(")")[0]


def _y(path: Sequence[str]) -> str:
    """The reference's partial output ``y``: one line per thought, each ending in a newline."""
    return "".join(f"{thought}\n" for thought in path)


def exact_label_counts(outputs: Sequence[str], labels: Sequence[str]) -> Counter[str]:
    """How many outputs' last line (split on ``\\n``, not stripped) is exactly each label."""
    names = Counter(output.split("\n")[-1] for output in outputs)
    return Counter({label: names[label] for label in labels if names[label]})


class PaperGame24Task(Game24Task):
    """Game of 24 with the reference's prompts, schedule and label parsing.

    Unlike :class:`.tasks.Game24Task` (our prompts), a state whose three steps do not reach
    24 is still expanded and valued, as in the reference (its value is then 0 without the
    model's say, but the calls are made); a value sample counts only when its last line is
    exactly ``sure``/``likely``/``impossible``.
    """

    prompts = "paper"
    api = "chat"  # the reference sends each prompt as one ChatCompletion user message

    def __init__(self) -> None:
        module = prompts("game24")
        #: The package's own strings (identity, not copies).
        self.templates: dict[str, str] = {
            "standard": module.standard_prompt,
            "cot": module.cot_prompt,
            "propose": module.propose_prompt,
            "value": module.value_prompt,
            "value_last_step": module.value_last_step_prompt,
        }

    def stop(self, kind: str, path: Sequence[str]) -> list[str] | None:
        return None  # the reference sends no stop sequence

    def propose_prompt(self, x: str, path: Sequence[str]) -> str | None:
        y = _y(path)
        if _current_numbers(y if y else x) == "24":
            return self.templates["cot"].format(input=x) + "Steps:" + y
        return self.templates["propose"].format(input=_current_numbers(y if y else x))

    def parse_proposals(self, x: str, path: Sequence[str], text: str) -> list[str]:
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        if _current_numbers(_y(path) or x) == "24":
            return lines  # the reference values every line of the answer step
        return super().parse_proposals(x, [], text)  # only well-formed steps

    def value_prompt(self, x: str, path: Sequence[str]) -> str | None:
        y = _y(path)
        last_line = y.strip().split("\n")[-1]
        if "left: " not in last_line:
            answer = last_line.lower().replace("answer: ", "")
            return self.templates["value_last_step"].format(input=x, answer=answer)
        return self.templates["value"].format(input=_current_numbers(y))

    def value_outputs_unwrap(self, x: str, path: Sequence[str], outputs: Sequence[str]) -> float:
        y = _y(path)
        if len(y.strip().split("\n")) == 4 and "answer" not in y.lower():
            return 0.0
        return value_from_counts(exact_label_counts(outputs, ("impossible", "likely", "sure")))

    def is_terminal(self, x: str, path: Sequence[str]) -> bool:
        return bool(path) and (len(path) >= self.steps or "left: " not in path[-1])

    def answer(self, x: str, path: Sequence[str]) -> str | None:
        if path and "left: " not in path[-1]:
            return path[-1]
        return None

    def check(self, x: str, answer: str | None) -> bool | None:
        return bool(answer) and check_answer(x, answer or "")


# ---------------------------------------------------------------------------------------------
# Creative Writing
# ---------------------------------------------------------------------------------------------

_VOTE_RE = re.compile(r".*best choice is .*(\d+).*", re.DOTALL)
_SCORE_RE = re.compile(r".*coherency score is (\d+).*", re.DOTALL)


class TextTask(Task):
    """Creative Writing: ``x`` is four sentences; a plan, then a passage of four paragraphs
    whose paragraphs end with them. Sampled (CoT prompt) and voted on, as in the paper.

    There is no ground truth: :meth:`check` is None; :meth:`constraint_score` is the share
    of the four sentences that end a paragraph, and :meth:`score_prompt` /
    :meth:`parse_score` give the paper's model-judged coherency score (1-10).
    """

    name = "text"
    steps = 2
    prompts = "paper"
    api = "chat"
    counts_dropped_lines = False
    max_new_tokens = {"propose": 200, "sample": 700, "value": 64, "vote": 500, "score": 300}

    def __init__(self) -> None:
        module = prompts("text")
        self.templates: dict[str, str] = {
            "standard": module.standard_prompt,
            "cot": module.cot_prompt,
            "vote": module.vote_prompt,
            "score": module.score_prompt,
        }

    def sample_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return self.templates["cot"].format(input=x) + "".join(path)

    def stop(self, kind: str, path: Sequence[str]) -> list[str] | None:
        return ["\nPassage:\n"] if kind == "sample" and not path else None

    def parse_sample(self, x: str, path: Sequence[str], text: str) -> str | None:
        if not path:  # the plan: everything before the passage (the reference's stop)
            text = text.split("\nPassage:\n")[0]
        return text if text.strip() else None

    def propose_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return self.sample_prompt(x, path)

    def parse_proposals(self, x: str, path: Sequence[str], text: str) -> list[str]:
        thought = self.parse_sample(x, path, text)
        return [thought] if thought else []

    def value_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return None  # the paper votes; valuing is not defined for this task

    def vote_prompt(self, x: str, paths: Sequence[Sequence[str]]) -> str:
        prompt = self.templates["vote"]
        for i, path in enumerate(paths, 1):
            prompt += f"Choice {i}:\n{''.join(path)}\n"
        return prompt

    def vote_outputs_unwrap(self, outputs: Sequence[str], n_candidates: int) -> list[float]:
        votes = [0.0] * n_candidates
        for output in outputs:
            match = _VOTE_RE.match(output)
            if match:
                vote = int(match.groups()[0]) - 1
                if vote in range(n_candidates):
                    votes[vote] += 1
        return votes

    def answer(self, x: str, path: Sequence[str]) -> str | None:
        if not path or not self.is_terminal(x, path):
            return None
        return "".join(path).split("Passage:\n")[-1].strip() or None

    def check(self, x: str, answer: str | None) -> bool | None:
        return None

    @staticmethod
    def constraint_score(x: str, passage: str | None) -> float:
        """Share of the input's sentences that end one of the passage's paragraphs."""
        sentences = _sentences(x)
        if not passage or not sentences:
            return 0.0
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", passage.strip()) if p.strip()]
        ends = [" ".join(p.split()) for p in paragraphs]
        hits = sum(any(end.endswith(" ".join(s.split())) for end in ends) for s in sentences)
        return hits / len(sentences)

    def score_prompt(self, passage: str) -> str:
        return self.templates["score"] + passage.split("Passage:\n")[-1]

    @staticmethod
    def parse_score(output: str) -> int | None:
        match = _SCORE_RE.match(output)
        return int(match.groups()[0]) if match else None


def _sentences(x: str) -> list[str]:
    return [s.strip() for s in re.findall("[^.!?]+[.!?]+[\"\u201d\u2019']?", x) if s.strip()]


def make_paper_task(name: str) -> Task:
    """The paper-mode task ``game24``, ``text`` or ``crosswords``."""
    if name == "game24":
        return PaperGame24Task()
    if name == "text":
        return TextTask()
    if name == "crosswords":
        from .crosswords import CrosswordsTask

        return CrosswordsTask()
    raise ValueError(f"no paper mode for task {name!r} (known: game24, text, crosswords)")
