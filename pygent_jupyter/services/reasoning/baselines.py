"""The paper's baselines beside ToT: IO, CoT and CoT-SC, with the package's prompts.

- ``io``: the task's ``standard_prompt`` (5-shot for Game of 24), ``n_samples`` samples;
  the item's score is the mean over samples (the paper's "IO: 7.3%" is an average of 100);
- ``cot``: the same with ``cot_prompt``;
- ``cot_sc``: ``n_samples`` CoT samples, the most common final answer is the item's answer
  (self-consistency); defined where answers can be compared (Game of 24, crosswords).

Every item also reports ``best_of_n`` (any sample right), the paper's "IO (best of 100)".
Scores: Game of 24 exact check (1/0); Creative Writing the share of constraint sentences
that end a paragraph (the paper's GPT-4 coherency judge is :func:`judge_coherency`);
crosswords word-level success ``r_word`` (``r_letter``/``r_game`` in ``metrics``).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from typing import Any

from ...llm import LLMProvider, Options
from .engine import derive_seed
from .tasks import Task

__all__ = ["BASELINES", "judge_coherency", "run_baseline", "score_output"]

BASELINES = ("io", "cot", "cot_sc")


def score_output(task: Task, x: str, output: str) -> tuple[float, str, dict[str, float]]:
    """(score in [0, 1], the comparable final answer, extra metrics) of one model output."""
    if task.name == "game24":
        line = output.strip().split("\n")[-1] if output.strip() else ""
        key = " ".join(line.lower().replace("answer: ", "").split("=")[0].split())
        solved = task.check(x, line)
        return float(bool(solved)), key, {}
    if task.name == "crosswords":
        from .crosswords import board_from_output

        board = board_from_output(output)
        m = task.score(x, output)  # type: ignore[attr-defined]
        return m["r_word"], "".join(board), m
    if task.name == "text":
        passage = output.split("Passage:\n")[-1]
        return task.constraint_score(x, passage), passage.strip(), {}  # type: ignore[attr-defined]
    solved = task.check(x, output)
    return float(bool(solved)), output.strip(), {}


async def run_baseline(
    task: Task,
    x: str,
    method: str,
    provider: LLMProvider,
    *,
    model: str | None = None,
    n_samples: int = 10,
    temperature: float = 0.7,
    seed: int = 0,
    concurrency: int = 16,
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """One item of a baseline: ``n_samples`` calls, scored; returns the item's result dict.

    Never raises for a malformed output (it scores 0); a backend failure is returned as
    ``error`` with the samples gathered so far.
    """
    if method not in BASELINES:
        raise ValueError(f"unknown baseline {method!r} (known: {', '.join(BASELINES)})")
    if method == "cot_sc" and task.name == "text":
        raise ValueError("cot_sc needs comparable answers: Game of 24 or crosswords")
    templates: dict[str, str] = getattr(task, "templates", {})
    key = "standard" if method == "io" else "cot"
    if key not in templates:
        raise ValueError(f"task {task.name!r} has no {key} prompt (use prompts='paper')")
    prompt = templates[key].format(input=x)
    sem = asyncio.Semaphore(max(1, concurrency))
    usage = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    began = time.monotonic()

    async def sample(i: int) -> str:
        async with sem:
            options: Options = {
                "temperature": temperature,
                "seed": derive_seed(seed, method, prompt, i),
                "num_predict": max_new_tokens or (1000 if task.name == "text" else 400),
            }
            usage["calls"] += 1
            completion = await provider.chat(  # one user message, as the reference
                [{"role": "user", "content": prompt}], model=model, options=options
            )
        usage["prompt_tokens"] += completion.prompt_tokens
        usage["completion_tokens"] += completion.completion_tokens
        return completion.text

    error = None
    results = await asyncio.gather(*(sample(i) for i in range(n_samples)), return_exceptions=True)
    outputs: list[str] = []
    for r in results:
        if isinstance(r, BaseException):
            error = error or f"{type(r).__name__}: {r}"[:500]
        else:
            outputs.append(r)
    scored = [score_output(task, x, o) for o in outputs]
    scores = [s for s, _, _ in scored]
    metrics: dict[str, float] = {}
    if method == "cot_sc":
        votes = Counter(k for _, k, _ in scored if k)
        winner = votes.most_common(1)[0][0] if votes else None
        chosen = next((s for s in scored if s[1] == winner), None)
        score = chosen[0] if chosen else 0.0
        answer = winner
        metrics = dict(chosen[2]) if chosen else {}
    else:
        score = statistics.fmean(scores) if scores else 0.0
        best = max(scored, key=lambda s: s[0], default=None)
        answer = best[1] if best else None
        for name in scored[0][2] if scored else {}:
            metrics[name] = statistics.fmean(s[2][name] for s in scored)
    return {
        "score": score,
        "solved": score >= 1.0 if task.name in ("game24", "crosswords") else None,
        "answer": answer,
        "llm_calls": usage["calls"],
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "tokens": usage["prompt_tokens"] + usage["completion_tokens"],
        "wall_time": round(time.monotonic() - began, 4),
        "stop_reason": "error" if error else "finished",
        "error": error,
        "metrics": {**metrics, "best_of_n": max(scores, default=0.0), "samples": len(outputs)},
    }


async def judge_coherency(
    task: Any,
    passage: str,
    provider: LLMProvider,
    *,
    model: str | None = None,
    n: int = 5,
    temperature: float = 0.7,
) -> float | None:
    """The paper's Creative Writing metric: mean of ``n`` model-judged coherency scores
    (1-10) with the package's ``score_prompt``; None when no sample states a score."""
    prompt = task.score_prompt(passage)
    outs = await asyncio.gather(
        *(
            provider.chat(
                [{"role": "user", "content": prompt}],
                model=model,
                options={"temperature": temperature, "seed": i, "num_predict": 300},
            )
            for i in range(n)
        )
    )
    scores = [s for s in (task.parse_score(o.text) for o in outs) if s is not None]
    return statistics.fmean(scores) if scores else None
