"""Mini Crosswords (5x5) in paper mode: the reference's board, prompts, parsing and DFS rules.

A state is a list of actions (``"h1. agend"``, ``"v3. tarot"``); :class:`Board` replays them
as the reference's ``MiniCrosswordsEnv.step`` does. A step proposes words with the package's
``propose_prompt`` (``n_generate_sample`` samples whose ``(certain/high/medium/low)``
confidences are summed per word, best first); a proposal that would overwrite a letter
already on the board is dropped, as the reference skips it. A state is valued by asking the
package's ``value_prompt`` about every word with at least two letters placed (one call per
word, cached); any ``impossible`` prunes it (value 0, below the DFS threshold 1), otherwise it
is worth 1 + sure/10, so candidates keep their confidence order. The data are the 20 games of
``tot/data/crosswords/mini0505_0_100_5.json``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

from . import paper
from .tasks import Task

__all__ = ["Board", "CrosswordsTask", "load_games", "metrics"]

_ACTION_RE = re.compile(r"^([hv][1-5])\. ([a-zA-Z]{5,5}) \((certain|high|medium|low)\).*$")
_CONFIDENCE = {"certain": 1.0, "high": 0.5, "medium": 0.2, "low": 0.1}


@functools.lru_cache(maxsize=1)
def load_games() -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """The 20 games: ``(clues: 5 horizontal + 5 vertical, solution: 25 letters)``."""
    data = json.loads(
        paper.data_path("crosswords", "mini0505_0_100_5.json").read_text(encoding="utf-8")
    )
    return tuple((tuple(clues), tuple(board)) for clues, board in data)


def render_clues(clues: Sequence[str]) -> str:
    """The task input ``x``, as the reference's ``render_clues``."""
    return "".join(f"h{i + 1}. {clues[i]}\n" for i in range(5)) + "".join(
        f"v{i + 1}. {clues[i + 5]}\n" for i in range(5)
    )


def parse_clues(x: str) -> list[str]:
    """The 10 clues back from :func:`render_clues` (``h1``…``h5``, ``v1``…``v5``)."""
    clues = [line.split(". ", 1)[1] for line in x.splitlines() if ". " in line]
    if len(clues) != 10:
        raise ValueError("a crossword input has 10 clue lines (h1-h5, v1-v5)")
    return clues


class Board:
    """The reference's environment state: 25 cells, 10 answers, per-answer status."""

    def __init__(self, clues: Sequence[str]) -> None:
        self.clues = list(clues)
        self.board = ["_"] * 25
        self.status = [0] * 10  # 0 unfilled, 1 filled, 2 filled then changed

    @property
    def answers(self) -> list[str]:
        rows = ["".join(self.board[i * 5 : (i + 1) * 5]) for i in range(5)]
        cols = ["".join(self.board[i::5]) for i in range(5)]
        return rows + cols

    def step(self, action: str) -> bool:
        """Apply ``"h1. apple"``; False (board unchanged) when it is not a valid action."""
        parts = action.split("\n")[-1].split(". ")
        if len(parts) != 2 or len(parts[1]) != 5 or parts[0][:1] not in ("h", "v"):
            return False
        pos, word = parts
        try:
            idx = int(pos[1:]) - 1
        except ValueError:
            return False
        if not 0 <= idx < 5:
            return False
        old = self.answers
        if pos.startswith("h"):
            self.board[idx * 5 : (idx + 1) * 5] = list(word.upper())
        else:
            self.board[idx::5] = list(word.upper())
            idx += 5
        new = self.answers
        self.status = [
            2 if any(a != b and a != "_" for a, b in zip(o, n, strict=True)) else s
            for s, o, n in zip(self.status, old, new, strict=True)
        ]
        self.status[idx] = 1
        return True

    def render(self) -> str:
        """The reference's ``env.render()`` (board, then unfilled / filled / changed clues)."""
        board = "Current Board:\n" + "".join(
            "".join(self.board[i * 5 : (i + 1) * 5]) + "\n" for i in range(5)
        )
        return (
            board
            + "\nUnfilled:\n"
            + self._render_ans(0)
            + "\nFilled:\n"
            + self._render_ans(1)
            + "\nChanged:\n"
            + self._render_ans(2)
        )

    def _render_ans(self, status: int) -> str:
        answers = self.answers
        out = ""
        for i in range(10):
            if self.status[i] == status:
                name = f"h{i + 1}" if i < 5 else f"v{i - 4}"
                out += f"{name}. {self.clues[i]}: {answers[i]}\n"
        return out


def replay(clues: Sequence[str], actions: Sequence[str]) -> Board:
    board = Board(clues)
    for action in actions:
        board.step(action)
    return board


def metrics(solution: Sequence[str], board: Sequence[str]) -> dict[str, float]:
    """Letter-, word- and game-level success of ``board`` against ``solution`` (25 letters)."""
    sol, got = Board([""] * 10), Board([""] * 10)
    sol.board, got.board = list(solution), list(board)
    return {
        "r_letter": sum(a == b for a, b in zip(got.board, sol.board, strict=True)) / 25,
        "r_word": sum(a == b for a, b in zip(got.answers, sol.answers, strict=True)) / 10,
        "r_game": float(got.board == sol.board),
    }


def board_from_output(output: str) -> list[str]:
    """The reference's ``test_output`` reading: the last 5 lines, letters split by spaces."""
    board: list[str] = []
    for line in output.split("Output:\n")[-1].strip().split("\n")[-5:]:
        letters = [c.upper() for c in line.split(" ")[:5]]
        word = "".join(letters)[:5]
        board += list(word + "_" * (5 - len(word)))
    return (board + ["_"] * 25)[:25]


class CrosswordsTask(Task):
    """Mini Crosswords searched by DFS over word placements (paper mode only)."""

    name = "crosswords"
    #: DFS may end on a partial board; it is still the answer (scored per letter and word).
    partial_answer = True
    steps = 10
    prompts = "paper"
    api = "chat"
    max_new_tokens = {"propose": 400, "sample": 400, "value": 200, "vote": 200}

    def __init__(self) -> None:
        module = paper.prompts("crosswords")
        self.templates: dict[str, str] = {
            "standard": module.standard_prompt,
            "cot": module.cot_prompt,
            "propose": module.propose_prompt,
            "value": module.value_prompt,
        }
        self._solutions = {render_clues(c): b for c, b in load_games()}

    def propose_samples(self, params: Any) -> int:
        return int(getattr(params, "n_generate_sample", 1))

    def propose_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return self.templates["propose"].format(input=replay(parse_clues(x), path).render())

    def parse_proposal_outputs(
        self, x: str, path: Sequence[str], texts: Sequence[str]
    ) -> list[str]:
        scores: dict[str, float] = {}
        for text in texts:
            for line in text.split("\n"):
                match = _ACTION_RE.match(line)
                if match:
                    action = f"{match.group(1).lower()}. {match.group(2).lower()}"
                    scores[action] = scores.get(action, 0.0) + _CONFIDENCE[match.group(3)]
        ranked = sorted(scores, key=lambda a: scores[a], reverse=True)
        clues = parse_clues(x)
        keep = []
        for action in ranked:  # the reference skips actions that change a placed letter
            board = replay(clues, [*path, action])
            if not any(s == 2 for s in board.status):
                keep.append(action)
        return keep

    def parse_proposals(self, x: str, path: Sequence[str], text: str) -> list[str]:
        return self.parse_proposal_outputs(x, path, [text])

    def sample_prompt(self, x: str, path: Sequence[str]) -> str | None:
        return self.propose_prompt(x, path)

    def value_prompt(self, x: str, path: Sequence[str]) -> str | None:
        prompts = self.value_prompts(x, path)
        return prompts[0] if prompts else None

    def value_prompts(self, x: str, path: Sequence[str]) -> list[str] | None:
        """One prompt per word with at least two letters placed (the reference's rule)."""
        board = replay(parse_clues(x), path)
        out = []
        for answer, clue in zip(board.answers, board.clues, strict=True):
            if answer.count("_") >= 4:
                continue
            line = f"{clue}: {' '.join(answer.lower())}"
            out.append(self.templates["value"].format(input=line))
        return out or None

    def static_value(self, x: str, path: Sequence[str]) -> float:
        return 1.0

    def value_outputs_unwrap(self, x: str, path: Sequence[str], outputs: Sequence[str]) -> float:
        """One word's label: sure 2, maybe 1, impossible 0; anything else counts as maybe
        (the reference ignores it)."""
        labels = [o.split("\n")[-1].strip() for o in outputs]
        if "impossible" in labels:
            return 0.0
        return 2.0 if "sure" in labels else 1.0

    def combine_values(self, x: str, path: Sequence[str], values: Sequence[float]) -> float:
        if any(v == 0.0 for v in values):
            return 0.0
        return 1.0 + sum(v == 2.0 for v in values) / 10

    def is_terminal(self, x: str, path: Sequence[str]) -> bool:
        return len(path) >= self.steps or "_" not in replay(parse_clues(x), path).board

    def answer(self, x: str, path: Sequence[str]) -> str | None:
        board = replay(parse_clues(x), path).board
        return "\n".join(" ".join(board[i * 5 : (i + 1) * 5]) for i in range(5))

    def solution(self, x: str) -> tuple[str, ...] | None:
        return self._solutions.get(x)

    def check(self, x: str, answer: str | None) -> bool | None:
        solution = self.solution(x)
        if solution is None:
            return None
        if not answer:
            return False
        return metrics(solution, board_from_output(answer))["r_game"] == 1.0

    def score(self, x: str, answer: str | None) -> dict[str, float]:
        """Letter/word/game success of an answer (5 lines of 5 space-separated letters)."""
        solution = self.solution(x)
        if solution is None or not answer:
            return {"r_letter": 0.0, "r_word": 0.0, "r_game": 0.0}
        return metrics(solution, board_from_output(answer))
