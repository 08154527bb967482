"""Our Game of 24 prompts vs paper mode, in the same run: the measured effect of each difference.

Three parts, each comparing the two modes (``prompts="ours"`` and ``prompts="paper"``) on the
same puzzles with the same search settings (the paper's: BFS, propose, value x 3, greedy b=5,
T=0.7), printing ratios:

- ``model``: a real model (default: the embedded SmolLM2-135M, llama.cpp on CPU) on a small
  slice of puzzles with a call budget per puzzle. Every call is recorded and classified by the
  template it was built from; reported: calls, tokens and seconds per puzzle, success, the
  share of propose-output lines that are valid steps, and the value-label parse rate of each
  mode's parser **and of both parsers on the same outputs** (so the parser's effect is
  separated from the prompt's).
- ``scripted``: models that play each mode's prompts perfectly (``tests/reasoning/scripted.py``
  oracles), for the effects that are in the search rules, not in model quality: calls per
  puzzle, dead-end calls, answer-step judge calls, cache hit rate with a per-puzzle vs a
  batch-wide value cache, success.
- ``gpt4``: the reference's published GPT-4 run (``logs/game24/gpt-4_0.7_propose1_value3_
  greedy5_start900_end1000.json`` of princeton-nlp/tree-of-thought-llm, MIT; pass its path
  with ``--gpt4-log``): value samples without an exact label (reconstructed from the summed
  values), calls the reference spent on dead ends and on non-answer lines of the answer
  step, and calls per puzzle with a batch-wide vs a per-puzzle cache, on GPT-4's own tree.

Rerun: ``.venv/bin/python benchmarks/tot_prompt_modes.py --part scripted``; ``--part model
--puzzles 2 --max-calls 16`` (about 8 minutes on a loaded 2-core CPU; ``--modes ours`` for one
mode); ``--part gpt4 --gpt4-log PATH``. Numbers: benchmarks/README.md, docs/reasoning.md.
A strong model's effects may differ from SmolLM2's: only the ``scripted`` and ``gpt4`` parts
speak for the search rules and for GPT-4.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reasoning"))

from pygent_jupyter.services.reasoning import tasks as ours_tasks  # noqa: E402
from pygent_jupyter.services.reasoning.api import arun_batch  # noqa: E402
from pygent_jupyter.services.reasoning.paper import PAPER_SETTINGS, prompts  # noqa: E402

MODES = ("ours", "paper")
SETTINGS = {k: v for k, v in PAPER_SETTINGS["game24"].items() if k != "cache_scope"}
LABELS = ("sure", "likely", "impossible")
_STEP = re.compile(r"^.*\(left:\s*[-\d./ ]+\)\s*$")


def templates(mode: str) -> dict[str, str]:
    """The prompt templates of a mode, by call kind."""
    if mode == "ours":
        return {
            "propose": ours_tasks._PROPOSE_24,
            "answer": ours_tasks._ANSWER_24,
            "value": ours_tasks._VALUE_24,
            "judge": ours_tasks._VALUE_LAST_24,
        }
    module = prompts("game24")
    return {
        "propose": module.propose_prompt,
        "answer": module.cot_prompt,
        "value": module.value_prompt,
        "judge": module.value_last_step_prompt,
    }


def classify(prompt: str, mode: str) -> str:
    """The call kind whose template (up to its first field) begins ``prompt``."""
    heads = {kind: text.split("{", 1)[0] for kind, text in templates(mode).items()}
    for kind, head in sorted(heads.items(), key=lambda kv: -len(kv[1])):
        if prompt.startswith(head):
            return kind
    return "other"


def exact_label(output: str) -> str | None:
    """The reference's reading: the last line (split on ``\\n``) is exactly a label."""
    last = output.split("\n")[-1]
    return last if last in LABELS else None


def lenient_label(output: str) -> str | None:
    """Our reading (``tasks._last_label``)."""
    return ours_tasks._last_label(output)


class Recorder:
    """Wraps a provider; records (kind, prompt, output, tokens, seconds) of every call."""

    def __init__(self, provider: Any, mode: str) -> None:
        self.provider = provider
        self.mode = mode
        self.default_model = provider.default_model
        self.serial = getattr(provider, "serial", False)
        self.calls: list[dict[str, Any]] = []

    def _record(self, prompt: str, completion: Any, began: float) -> Any:
        self.calls.append(
            {
                "kind": classify(prompt, self.mode),
                "prompt": prompt,
                "output": completion.text,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "seconds": time.monotonic() - began,
            }
        )
        return completion

    async def generate(self, prompt: str, **kwargs: Any) -> Any:
        began = time.monotonic()
        return self._record(prompt, await self.provider.generate(prompt, **kwargs), began)

    async def chat(self, messages: Any, **kwargs: Any) -> Any:
        began = time.monotonic()
        completion = await self.provider.chat(messages, **kwargs)
        return self._record(messages[-1]["content"], completion, began)


def fmt(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


# -- part 1: a real model ---------------------------------------------------------------------


async def part_model(
    provider: Any, puzzles: range, max_calls: int, modes: tuple[str, ...] = MODES
) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for mode in modes:
        rec = Recorder(provider, mode)
        began = time.monotonic()
        report = await arun_batch(
            "game24",
            puzzles,
            prompts=mode,
            provider=rec,
            record=False,
            cache_scope="batch",
            max_calls=max_calls,
            concurrency=1,  # a call budget cancels calls in flight: keep none waiting
            **SETTINGS,
        )
        wall = time.monotonic() - began
        n = len(report.results)
        kinds = Counter(c["kind"] for c in rec.calls)
        proposes = [c for c in rec.calls if c["kind"] == "propose"]
        lines = [ln for c in proposes for ln in c["output"].split("\n") if ln.strip()]
        steps = [ln for ln in lines if _STEP.match(ln.strip())]
        values = [c["output"] for c in rec.calls if c["kind"] in ("value", "judge")]
        own = exact_label if mode == "paper" else lenient_label
        out[mode] = {
            "puzzles": n,
            "calls": sum(r.llm_calls for r in report.results) / n,
            "prompt_tokens": sum(r.prompt_tokens for r in report.results) / n,
            "completion_tokens": sum(r.completion_tokens for r in report.results) / n,
            "seconds": wall / n,
            "solved": sum(bool(r.solved) for r in report.results),
            "kinds": dict(kinds),
            "lines_per_propose": len(lines) / max(1, len(proposes)),
            "valid_steps": len(steps) / max(1, len(lines)),
            "values": len(values),
            "parse_own": sum(own(v) is not None for v in values) / max(1, len(values)),
            "parse_exact": sum(exact_label(v) is not None for v in values) / max(1, len(values)),
            "parse_lenient": sum(lenient_label(v) is not None for v in values)
            / max(1, len(values)),
            "labels": dict(Counter(own(v) for v in values)),
            "dropped_lines": sum(r.dropped_lines for r in report.results) / n,
            "stop": dict(Counter(r.stop_reason for r in report.results)),
            "examples": [c["output"][:160] for c in rec.calls if c["kind"] == "value"][:2],
        }
        print(f"{mode}: {json.dumps(out[mode], default=str)}", flush=True)
    if len(out) < 2:
        return out
    o, p = out["ours"], out["paper"]
    print("\n| measure (SmolLM2) | ours | paper | ours/paper |")
    print("|---|---:|---:|---:|")
    for key, label in [
        ("calls", "calls per puzzle"),
        ("prompt_tokens", "prompt tokens per puzzle"),
        ("completion_tokens", "completion tokens per puzzle"),
        ("seconds", "seconds per puzzle"),
        ("lines_per_propose", "lines per propose output"),
        ("valid_steps", "share of propose lines that are valid steps"),
        ("parse_own", "value outputs with a label (the mode's own parser)"),
        ("parse_exact", "value outputs with a label, exact parser"),
        ("parse_lenient", "value outputs with a label, lenient parser"),
        ("dropped_lines", "dropped lines per puzzle"),
    ]:
        print(f"| {label} | {fmt(o[key])} | {fmt(p[key])} | {ratio(o[key], p[key])} |")
    print(f"| solved | {o['solved']}/{o['puzzles']} | {p['solved']}/{p['puzzles']} | |")
    return out


# -- part 2: models that play each mode's prompts perfectly ------------------------------------


async def part_scripted(puzzles: range) -> dict[str, dict]:
    from scripted import ScriptedProvider, game24_oracle, paper_game24_oracle

    oracles = {"ours": game24_oracle, "paper": paper_game24_oracle}
    out: dict[str, dict] = {}
    for mode in MODES:
        for scope in ("run", "batch"):
            rec = Recorder(ScriptedProvider(oracles[mode]()), mode)
            report = await arun_batch(
                "game24",
                puzzles,
                prompts=mode,
                provider=rec,
                record=False,
                cache_scope=scope,
                **SETTINGS,
            )
            n = len(report.results)
            calls = sum(r.llm_calls for r in report.results)
            hits = sum(r.cache_hits for r in report.results)
            value_calls = sum(c["kind"] in ("value", "judge") for c in rec.calls)
            dead = sum(
                c["kind"] == "propose" and _dead_end_propose(c["prompt"], mode) for c in rec.calls
            )
            judge_not_answer = sum(
                c["kind"] == "judge" and "answer" not in _judged(c["prompt"], mode).lower()
                for c in rec.calls
            )
            out[f"{mode}/{scope}"] = row = {
                "calls": calls / n,
                "cache_hit_rate": hits / max(1, hits + value_calls),
                "dead_end_proposes": dead / n,
                "judge_calls": sum(c["kind"] == "judge" for c in rec.calls) / n,
                "judged_non_answers": judge_not_answer / n,
                "solved": sum(bool(r.solved) for r in report.results),
                "puzzles": n,
            }
            print(f"{mode}, cache {scope}: {json.dumps(row)}", flush=True)
    print(
        "\n| scripted (perfect) model | ours, per-puzzle cache | paper, per-puzzle cache "
        "| ours/paper | ours, batch cache | paper, batch cache | ours/paper |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key in ("calls", "cache_hit_rate", "dead_end_proposes", "judge_calls", "solved"):
        a, b = out["ours/run"][key], out["paper/run"][key]
        c, d = out["ours/batch"][key], out["paper/batch"][key]
        cells = " | ".join([fmt(a), fmt(b), ratio(a, b), fmt(c), fmt(d), ratio(c, d)])
        print(f"| {key} | {cells} |")
    for mode in MODES:
        a, b = out[f"{mode}/run"]["calls"], out[f"{mode}/batch"]["calls"]
        print(f"{mode}: calls per puzzle, per-puzzle / batch cache = {ratio(a, b)}")
    return out


def _dead_end_propose(prompt: str, mode: str) -> bool:
    """A propose call for a state with one number left that is not 24 (our rule makes none)."""
    field = "Numbers:" if mode == "ours" else "Input:"
    last = [ln for ln in prompt.rstrip("\n").split("\n") if ln.startswith(field)][-1]
    numbers = last[len(field) :].split()
    return len(numbers) == 1 and numbers[0] != "24"


def _judged(prompt: str, mode: str) -> str:
    return [ln for ln in prompt.rstrip("\n").split("\n") if ln.startswith("Answer:")][-1]


# -- part 3: the reference's published GPT-4 run -----------------------------------------------


def _counts(value: float) -> tuple[int, int, int]:
    """(sure, likely, impossible) counts behind a summed value (20 / 1 / 0.001 each)."""
    sure = int(round(value, 3) // 20)
    rest = round(value - 20 * sure, 3)
    likely = int(rest + 1e-9)
    impossible = round((rest - likely) * 1000)
    return sure, likely, impossible


def _numbers(y: str) -> str:
    return y.strip().split("\n")[-1].split("left: ")[-1].split(")")[0]


def part_gpt4(path: Path) -> dict[str, Any]:
    """Counts on the reference's own GPT-4 tree (the log keeps proposals and summed values,
    not the raw value samples: a sample without an exact label shows as a missing count)."""
    log = json.loads(path.read_text())
    batch_cache: set[str] = set()
    run_calls = batch_calls = dead_calls = 0
    run_requests = batch_requests = 0  # prompts sent (the reference's n=3 is one request)
    samples = unlabeled = 0
    answer_parents = answer_lines = non_answer_lines = 0
    solved_any = solved_first = 0
    for entry in log:
        run_cache: set[str] = set()
        x = entry["steps"][0]["x"]
        for step in entry["steps"]:
            last_step = step["step"] == 3
            for y in step["ys"]:  # one propose call per state of the beam
                run_calls += 1
                batch_calls += 1
                run_requests += 1
                batch_requests += 1
                if last_step and _numbers(y) != "24":
                    dead_calls += 1
                answer_parents += last_step and _numbers(y) == "24"
            seen: set[str] = set()
            for y, value in zip(step["new_ys"], step["values"], strict=True):
                if y in seen:  # a duplicate candidate: 0 without a call
                    continue
                seen.add(y)
                lines = y.strip().split("\n")
                last = lines[-1]
                dead = last_step and _numbers("\n".join(lines[:-1])) != "24"
                if last_step and not dead:
                    answer_lines += 1
                    non_answer_lines += "answer" not in last.lower()
                if "left: " in last:
                    key = f"value|{_numbers(y)}"
                else:
                    key = f"judge|{x}|{last.lower().replace('answer: ', '')}"
                if key not in run_cache:
                    run_cache.add(key)
                    run_calls += 3
                    run_requests += 1
                if key in batch_cache:
                    continue
                batch_cache.add(key)
                batch_calls += 3
                batch_requests += 1
                dead_calls += 3 * dead
                if len(lines) < 4 or not dead:  # a value the samples alone decided
                    sure, likely, impossible = _counts(value)
                    samples += 3
                    unlabeled += 3 - (sure + likely + impossible)
        results = [bool(info.get("r")) for info in entry.get("infos") or []]
        solved_any += any(results)
        solved_first += bool(results and results[0])
    n = len(log)
    out = {
        "puzzles": n,
        "solved_best": solved_first / n,
        "solved_any_of_b": solved_any / n,
        "value_samples": samples,
        "unlabeled_share": unlabeled / max(1, samples),
        "calls_per_puzzle_batch_cache": batch_calls / n,
        "calls_per_puzzle_run_cache": run_calls / n,
        "requests_per_puzzle_batch_cache": batch_requests / n,
        "requests_per_puzzle_run_cache": run_requests / n,
        "dead_end_calls_per_puzzle": dead_calls / n,
        "dead_end_share_of_calls": dead_calls / max(1, batch_calls),
        "answer_candidates_per_parent": answer_lines / max(1, answer_parents),
        "non_answer_share_of_answer_candidates": non_answer_lines / max(1, answer_lines),
    }
    print(json.dumps(out, indent=1))
    print(
        "calls per puzzle, per-puzzle / batch cache: "
        + ratio(out["calls_per_puzzle_run_cache"], out["calls_per_puzzle_batch_cache"])
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "model", "scripted", "gpt4"], default="all")
    parser.add_argument("--start", type=int, default=900)
    parser.add_argument("--puzzles", type=int, default=3, help="model part (scripted: 10)")
    parser.add_argument("--max-calls", type=int, default=24, help="model part, per puzzle")
    parser.add_argument("--gpt4-log", type=Path, help="the reference's GPT-4 Game of 24 log")
    parser.add_argument("--backend", default="local", help="model part: local or ollama")
    parser.add_argument("--modes", default="ours,paper", help="model part: ours, paper or both")
    args = parser.parse_args()
    if args.part in ("all", "scripted"):
        asyncio.run(part_scripted(range(args.start, args.start + 10)))
    if args.part in ("all", "gpt4") and args.gpt4_log:
        part_gpt4(args.gpt4_log)
    if args.part in ("all", "model"):
        from pygent_jupyter.services.reasoning.providers import import_provider_class

        provider = import_provider_class(args.backend)()
        began = time.monotonic()
        asyncio.run(
            part_model(
                provider,
                range(args.start, args.start + args.puzzles),
                args.max_calls,
                tuple(args.modes.split(",")),
            )
        )
        if hasattr(provider, "_model"):
            provider._model().close()  # free llama.cpp before the interpreter tears down
        print(f"model part: {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
