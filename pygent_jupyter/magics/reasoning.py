"""``%pygent reason`` and ``%pygent game24``: Tree-of-Thought runs with a live tree widget."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from ._base import MagicsBase, parse

if TYPE_CHECKING:
    from ..protocol.types import StartReasoningData

__all__ = ["ReasoningMagics"]

F = TypeVar("F", bound=Callable[..., Any])

_TOT_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--method", {"choices": ["bfs", "dfs"]}),
    ("--generate", {"choices": ["propose", "sample"]}),
    ("--evaluate", {"choices": ["value", "vote"]}),
    ("--select", {"choices": ["greedy", "sample"]}),
    ("--n-generate", {"type": int, "dest": "n_generate"}),
    ("--n-evaluate", {"type": int, "dest": "n_evaluate"}),
    ("--n-select", {"type": int, "dest": "n_select"}),
    ("--depth", {"type": int, "help": "maximum tree depth"}),
    ("--model", {}),
    ("--seed", {"type": int}),
    ("--max-calls", {"type": int, "dest": "max_calls"}),
    ("--max-tokens", {"type": int, "dest": "max_tokens"}),
    ("--max-seconds", {"type": float, "dest": "max_seconds"}),
    ("--timeout", {"type": float, "default": 600.0, "help": "seconds to wait for the run"}),
    (
        "--no-wait",
        {
            "action": "store_true",
            "dest": "no_wait",
            "help": "return at once; the tree keeps growing",
        },
    ),
]

# option attribute -> its key in ``start_reasoning`` (the catalog's names)
_WIRE_NAMES = {
    "method": "method",
    "generate": "method_generate",
    "evaluate": "method_evaluate",
    "select": "method_select",
    "n_generate": "n_generate_sample",
    "n_evaluate": "n_evaluate_sample",
    "n_select": "n_select_sample",
    "depth": "max_depth",
    "model": "model",
    "seed": "seed",
    "max_calls": "max_calls",
    "max_seconds": "max_seconds",
    "max_tokens": "max_tokens",
}


def _tot_arguments(fn: F) -> F:
    """Add the Tree-of-Thought options (shared by ``reason`` and ``game24``) to ``fn``."""
    for flag, kw in reversed(_TOT_OPTIONS):
        kw = dict(kw)
        if kw.get("action") != "store_true":
            kw.setdefault("default", None)
        fn = cast(F, argument(flag, **kw)(fn))
    return fn


class ReasoningMagics(MagicsBase):
    @staticmethod
    def _tot_options(args: Any) -> StartReasoningData:
        """The ``start_reasoning`` keys the user set on the command line."""
        options: dict[str, Any] = {
            wire: getattr(args, attr)
            for attr, wire in _WIRE_NAMES.items()
            if getattr(args, attr) is not None
        }
        return cast("StartReasoningData", options)

    def _tot(self, start: StartReasoningData, args: Any) -> Any:
        from ..widgets import ReasoningTreeWidget

        tree = self._show(ReasoningTreeWidget())
        future = tree.start(**start, **self._tot_options(args))
        if args.no_wait:
            return None
        result = future.result(args.timeout)
        tree.flush()
        if self.shell is not None:
            self.shell.user_ns["_pygent_reasoning"] = result
        return None

    @magic_arguments(name="%pygent reason")
    @argument("problem", help="the problem, quoted")
    @_tot_arguments
    def _reason_args(self, rest: str) -> None:
        """%pygent reason "<problem>" [ToT options]"""

    @magic_arguments(name="%pygent game24")
    @argument("puzzle", help='four numbers, quoted: "4 5 6 10"')
    @_tot_arguments
    def _game24_args(self, rest: str) -> None:
        """%pygent game24 "4 5 6 10" [ToT options]"""

    def _reason(self, rest: str) -> Any:
        args = parse(self._reason_args, rest)
        return self._tot({"problem": args.problem, "task": "open"}, args)

    def _game24(self, rest: str) -> Any:
        args = parse(self._game24_args, rest)
        numbers = args.puzzle.replace(",", " ").split()
        if len(numbers) != 4 or not all(n.isdigit() for n in numbers):
            raise UsageError(
                f'pygent: game24 needs four whole numbers, like "4 5 6 10"; got {args.puzzle!r}'
            )
        return self._tot({"task": "game24", "puzzle": " ".join(numbers)}, args)
