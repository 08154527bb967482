"""Tree-of-Thought reasoning: a pure search engine, pluggable tasks, run storage, the service.

Notebook use needs no server::

    from pygent_jupyter.services.reasoning import solve
    tree = solve("game24", "4 5 6 10", backend="ollama", model="llama3.1:8b")
    report = run_batch("game24", range(900, 910), preset="paper")   # a row of the paper's table
    runs.to_frame()                                                 # every recorded batch
"""

from __future__ import annotations

from .api import (
    BatchReport,
    ItemResult,
    ModelSpec,
    PuzzleResult,
    asolve,
    run_batch,
    run_game24_batch,
    run_item,
    solve,
)
from .engine import Node, ReasoningTree, SearchStats, ToTEngine, ToTParams, ValueCache
from .game24 import check_answer, load_puzzles
from .records import ExperimentStore, runs
from .tasks import Game24Task, OpenProblemTask, Task, make_task

__all__ = [
    "BatchReport",
    "ExperimentStore",
    "Game24Task",
    "ItemResult",
    "ModelSpec",
    "Node",
    "OpenProblemTask",
    "PuzzleResult",
    "ReasoningTree",
    "SearchStats",
    "Task",
    "ToTEngine",
    "ToTParams",
    "ValueCache",
    "asolve",
    "check_answer",
    "load_puzzles",
    "make_task",
    "run_batch",
    "run_game24_batch",
    "run_item",
    "runs",
    "solve",
]
