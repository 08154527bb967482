"""Tree-of-Thought reasoning: a pure search engine, pluggable tasks, run storage, the service.

Notebook use needs no server::

    from pygent_jupyter.services.reasoning import solve
    tree = solve("game24", "4 5 6 10", backend="ollama", model="llama3.1:8b")
"""

from __future__ import annotations

from .api import BatchReport, PuzzleResult, asolve, run_game24_batch, solve
from .engine import Node, ReasoningTree, SearchStats, ToTEngine, ToTParams
from .game24 import check_answer, load_puzzles
from .tasks import Game24Task, OpenProblemTask, Task, make_task

__all__ = [
    "BatchReport",
    "Game24Task",
    "Node",
    "OpenProblemTask",
    "PuzzleResult",
    "ReasoningTree",
    "SearchStats",
    "Task",
    "ToTEngine",
    "ToTParams",
    "asolve",
    "check_answer",
    "load_puzzles",
    "make_task",
    "run_game24_batch",
    "solve",
]
