"""``%pygent evolve``: an evolution run of agent genomes with a live widget."""

from __future__ import annotations

from typing import Any

from IPython.core.magic_arguments import argument, magic_arguments

from ._base import MagicsBase, json_arg, parse

__all__ = ["DEFAULT_SEED_PROMPTS", "EvolutionMagics"]

DEFAULT_SEED_PROMPTS = (
    "You are a careful arithmetic assistant. Answer with the expression only.",
    "Solve the puzzle step by step, then give the final expression on the last line.",
)


class EvolutionMagics(MagicsBase):
    @magic_arguments(name="%pygent evolve")
    @argument("--population", type=int, default=4, help="population size")
    @argument("--generations", type=int, default=2, help="number of generations")
    @argument(
        "--task-set",
        dest="task_set",
        default="game24",
        help="task set: 'game24' (puzzles from the ToT data) or a JSON task set",
    )
    @argument(
        "--range",
        nargs=2,
        type=int,
        default=[900, 902],
        metavar=("START", "STOP"),
        help="game24 puzzle indices [START, STOP)",
    )
    @argument(
        "--prompt",
        action="append",
        dest="prompts",
        default=None,
        help="a seed system prompt (repeatable)",
    )
    @argument("--genome", default=None, help="the whole genome, JSON (overrides --prompt)")
    @argument("--seed", type=int, default=None)
    @argument("--max-evaluations", dest="max_evaluations", type=int, default=None)
    @argument("--max-seconds", dest="max_seconds", type=float, default=None)
    @argument("--timeout", type=float, default=900.0, help="seconds to wait for the run")
    @argument("--no-wait", dest="no_wait", action="store_true")
    def _evolve(self, rest: str) -> Any:
        args = parse(self._evolve, rest)
        from ..widgets import EvolutionWidget

        if args.genome:
            genome = json_arg(args.genome, "--genome")
        else:
            genome = {"seed_prompts": args.prompts or list(DEFAULT_SEED_PROMPTS)}
        if args.task_set.lstrip().startswith("{"):
            task_set = json_arg(args.task_set, "--task-set")
        else:
            task_set = {"name": args.task_set, "range": list(args.range)}
        options: dict[str, Any] = {
            "genome": genome,
            "task_set": task_set,
            "population_size": args.population,
            "generations": args.generations,
        }
        for attr in ("seed", "max_evaluations", "max_seconds"):
            if getattr(args, attr) is not None:
                options[attr] = getattr(args, attr)
        evo = self._show(EvolutionWidget())
        future = evo.start(**options)
        if not args.no_wait:
            result = future.result(args.timeout)
            evo.flush()
            if self.shell is not None:
                self.shell.user_ns["_pygent_evolution"] = result
        return None
