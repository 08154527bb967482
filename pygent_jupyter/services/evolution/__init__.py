"""Evolution: a seeded, resumable genetic-algorithm engine for agent variants and any
notebook experiment, streamed as ``evolution_progress`` / ``evolution_complete`` events.

Pure core (no server needed): :mod:`.engine`, :mod:`.genomes`, :mod:`.selection`,
:mod:`.fitness`, :mod:`.tasks`, :mod:`.agent_eval`, :mod:`.llm_ops`; in-kernel API:
:mod:`.api`; the socket service: :mod:`.service` (``EvolutionService``).
"""

from __future__ import annotations

from .agent_eval import AgentVariantEvaluator, build_messages
from .api import Evolution, evolve, evolve_sync
from .engine import (
    Engine,
    EvolutionConfig,
    EvolutionResult,
    Individual,
    load_checkpoint,
    save_checkpoint,
)
from .fitness import Evaluator, FitnessResult
from .genomes import AgentGenome, AgentGenomeSpec, BitString, GenomeSpec, RealVector
from .llm_ops import LLMPromptOperator
from .selection import select_rank, select_roulette, select_tournament
from .tasks import Task, TaskSet, game24_task_set, task_set_from_json

__all__ = [
    "AgentGenome",
    "AgentGenomeSpec",
    "AgentVariantEvaluator",
    "BitString",
    "Engine",
    "Evaluator",
    "Evolution",
    "EvolutionConfig",
    "EvolutionResult",
    "FitnessResult",
    "GenomeSpec",
    "Individual",
    "LLMPromptOperator",
    "RealVector",
    "Task",
    "TaskSet",
    "build_messages",
    "evolve",
    "evolve_sync",
    "game24_task_set",
    "load_checkpoint",
    "save_checkpoint",
    "select_rank",
    "select_roulette",
    "select_tournament",
    "task_set_from_json",
]
