"""Paper mode's call schedule vs the reference implementation's, on Game of 24.

The baseline is the *reference code itself*: ``tot.methods.bfs.solve`` and
``tot.tasks.game24.Game24Task`` from the official ``tree-of-thoughts-llm`` package, run as its
``run.py`` runs a batch (one task object, so its value cache spans the batch), with its
``gpt`` replaced by a scripted model that plays the paper's prompts perfectly
(``tests/reasoning/scripted.py: paper_game24_oracle``). The same model answers our engine in
paper mode (``preset="paper"``) with the batch-wide value cache and with a per-puzzle cache.
Calls are model samples (the reference's ``gpt(prompt, n=3)`` counts 3).

Rerun: ``.venv/bin/python benchmarks/tot_paper_calls.py`` (puzzles 900-909, a few seconds);
``--puzzles 100`` for the paper's whole slice.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import types
from argparse import Namespace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "reasoning"))

from scripted import ScriptedProvider, paper_game24_oracle  # noqa: E402

from pygent_jupyter.services.reasoning import run_batch  # noqa: E402
from pygent_jupyter.services.reasoning.game24 import check_answer  # noqa: E402


def reference_modules() -> tuple[types.ModuleType, type]:
    """Import the reference's bfs and Game24Task without its obsolete API dependencies:
    ``tot.models`` (openai 0.x, backoff) is replaced before import; ``sympy`` is only used
    by ``test_output``, which this benchmark does not call, and is stubbed when missing."""
    fake_models = types.ModuleType("tot.models")
    fake_models.gpt = None  # type: ignore[attr-defined]
    sys.modules["tot.models"] = fake_models
    try:
        import sympy  # noqa: F401
    except ImportError:
        sys.modules["sympy"] = types.ModuleType("sympy")
    from tot.methods import bfs
    from tot.tasks.game24 import Game24Task

    return bfs, Game24Task


def run_reference(puzzles: range) -> list[dict]:
    bfs, game24_task = reference_modules()
    oracle = paper_game24_oracle()
    counter = {"samples": 0}

    def gpt(prompt, model="gpt-4", temperature=0.7, max_tokens=1000, n=1, stop=None):
        counter["samples"] += n
        return [oracle(prompt, {}) for _ in range(n)]

    task = game24_task()  # one task for the batch, as run.py: its value_cache spans puzzles
    args = Namespace(
        backend="gpt-4",
        temperature=0.7,
        method_generate="propose",
        method_evaluate="value",
        method_select="greedy",
        n_generate_sample=1,
        n_evaluate_sample=3,
        n_select_sample=5,
        prompt_sample=None,
    )
    rows = []
    for idx in puzzles:
        before = counter["samples"]
        bfs.gpt = gpt
        with contextlib.redirect_stdout(io.StringIO()):
            ys, _info = bfs.solve(args, task, idx, to_print=False)
        answer = ys[0].strip().split("\n")[-1] if ys else ""
        rows.append(
            {
                "index": idx,
                "calls": counter["samples"] - before,
                "solved": check_answer(task.get_input(idx), answer),
            }
        )
    return rows


def run_ours(puzzles: range, scope: str) -> list[dict]:
    provider = ScriptedProvider(paper_game24_oracle())
    report = run_batch(
        "game24", puzzles, preset="paper", provider=provider, cache_scope=scope, record=False
    )
    return [
        {"index": r.index, "calls": r.llm_calls, "solved": bool(r.solved)} for r in report.results
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=900)
    parser.add_argument("--puzzles", type=int, default=10)
    args = parser.parse_args()
    puzzles = range(args.start, args.start + args.puzzles)
    ref = run_reference(puzzles)
    batch = run_ours(puzzles, "batch")
    per = run_ours(puzzles, "run")
    print("| puzzle | reference calls | paper mode, batch cache | paper mode, per-puzzle cache |")
    print("|---|---:|---:|---:|")
    for r, b, p in zip(ref, batch, per, strict=True):
        print(f"| {r['index']} | {r['calls']} | {b['calls']} | {p['calls']} |")
    n = len(ref)
    tr, tb, tp = (sum(x["calls"] for x in rows) for rows in (ref, batch, per))
    same = sum(r["calls"] == b["calls"] for r, b in zip(ref, batch, strict=True))
    print(f"| total | {tr} | {tb} | {tp} |")
    print(
        f"\ncalls per puzzle: reference {tr / n:.1f}, batch cache {tb / n:.1f} "
        f"(ratio {tb / tr:.3f}), per-puzzle cache {tp / n:.1f} (ratio {tp / tr:.3f})"
    )
    print(f"puzzles with exactly the reference's call count (batch cache): {same}/{n}")
    solved = [sum(x["solved"] for x in rows) for rows in (ref, batch, per)]
    print(f"solved: reference {solved[0]}/{n}, batch {solved[1]}/{n}, per-puzzle {solved[2]}/{n}")
    return 0 if tb == tr else 1


if __name__ == "__main__":
    raise SystemExit(main())
