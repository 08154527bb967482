"""Genetic-algorithm evolution of agent variants, streamed per generation.

Server-side runs (``start_evolution``) and in-kernel runs
(:class:`pygent_jupyter.services.evolution.Evolution`) emit the same two events, so one widget
renders both: ``evolution_progress`` (``phase: "started"`` once, then ``phase: "generation"``
per generation) and ``evolution_complete``.
"""

from __future__ import annotations

from ..spec import (
    CLIENT,
    SERVER,
    MessageSpec,
    arr,
    boolean,
    identifier,
    integer,
    number,
    obj,
    string,
)

_GENES = ["system_prompt", "model", "temperature", "top_p", "few_shot", "tools"]
_UNIT = number(minimum=0, maximum=1)
_RANGE = arr(number(minimum=0, maximum=2), minItems=2, maxItems=2)
_TEXT = string(minLength=1, maxLength=4000)

GENOME = obj(
    {
        "seed_prompts": arr(_TEXT, minItems=1, maxItems=50),
        "models": arr(string(minLength=1, maxLength=200), minItems=1, maxItems=20),
        "backend": string(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
            description="the backend (from `backend_status`) serving `models`",
        ),
        "prompt_pool": arr(_TEXT, maxItems=200),
        "temperature_range": _RANGE,
        "top_p_range": _RANGE,
        "few_shot": arr(
            obj({"input": _TEXT, "output": _TEXT}, required=["input", "output"]), maxItems=50
        ),
        "max_few_shot": integer(minimum=0, maximum=10),
        "tools": arr(string(minLength=1, maxLength=200), maxItems=50),
        "evolve": arr(string(enum=_GENES), minItems=1, uniqueItems=True),
        "gene_rate": _UNIT,
    },
)

OPERATORS = obj(
    {
        "selection": string(enum=["tournament", "roulette", "rank"]),
        "tournsize": integer(minimum=1, maximum=50),
        "rank_pressure": number(minimum=1, maximum=2),
        "cxpb": _UNIT,
        "mutpb": _UNIT,
        "elitism": integer(minimum=0, maximum=100),
        "hall_of_fame": integer(minimum=1, maximum=50),
        "llm": boolean(),
        "llm_rate": _UNIT,
        "llm_model": string(maxLength=200),
        "novelty_retries": integer(
            minimum=0,
            maximum=20,
            description="how many times a varied child that repeats an already scored genome "
            "(or an earlier child of its generation) is mutated again before it is kept as it "
            "is (default 5; 0: DEAP's plain varAnd, repeats are kept). With `llm: true` a "
            "retry may be a model call",
        ),
    }
)

TASK = obj(
    {
        "input": string(minLength=1, maxLength=20_000),
        "expected": string(minLength=1, maxLength=4000),
        "match": string(enum=["exact", "contains", "regex"]),
    },
    required=["input", "expected"],
)

TASK_SET = obj(
    {
        "name": string(minLength=1, maxLength=64),
        "range": arr(integer(minimum=0), minItems=2, maxItems=2),
        "instruction": string(maxLength=4000),
        "tasks": arr(TASK, minItems=1, maxItems=500),
    }
)

FITNESS = obj(
    {
        "cost": string(enum=["none", "penalty", "objective"]),
        "token_penalty": number(minimum=0),
        "max_answer_tokens": integer(minimum=1, maximum=8192),
        "seed": integer(),
    }
)

_EXECUTOR = string(
    enum=["inprocess", "dask"],
    description="where variants are scored: this server, or the Dask cluster the admin set "
    "as `c.EvolutionService.dask_scheduler` (default: `default_executor`)",
)

_STATS = {
    "best": {"type": ["number", "null"]},
    "mean": {"type": ["number", "null"]},
    "worst": {"type": ["number", "null"]},
    "std": {"type": ["number", "null"]},
    "diversity": {"type": ["number", "null"]},
    "crossover_success": {"type": ["number", "null"]},
    "mutation_success": {"type": ["number", "null"]},
    "selection_pressure": {"type": ["number", "null"]},
    "evaluations": integer(minimum=0),
    "generation_evaluations": integer(minimum=0),
    "tokens": integer(minimum=0),
    "elapsed": number(minimum=0),
}

MESSAGES = [
    MessageSpec(
        "start_evolution",
        CLIENT,
        obj(
            {
                "run_id": string(minLength=1, maxLength=128, pattern="^[A-Za-z0-9_.:-]+$"),
                "genome": GENOME,
                "population_size": integer(minimum=2, maximum=1000),
                "generations": integer(minimum=0, maximum=10_000),
                "operators": OPERATORS,
                "task_set": TASK_SET,
                "fitness": FITNESS,
                "seed": integer(),
                "concurrency": integer(minimum=1, maximum=256),
                "max_evaluations": integer(minimum=1),
                "max_tokens": integer(minimum=1),
                "max_seconds": number(exclusiveMinimum=0),
                "stagnation": integer(minimum=1),
                "target": number(),
                "register": integer(minimum=0, maximum=5),
                "agent_name": string(minLength=1, maxLength=40, pattern="^[A-Za-z0-9_-]+$"),
                "executor": _EXECUTOR,
            },
            additional=False,
        ),
        "Start evolving agent variants (system prompt, model, temperature, top_p, few-shot "
        "examples, tools) against a task set: a built-in one by `name` (`starter`, the "
        "default when `task_set` is absent: short classification, arithmetic and format "
        "items a small local model makes progress on; `sentiment`, `arithmetic`, `format`; "
        "`game24` with `range`) or your own `tasks`. A built-in set's examples are the "
        "few-shot pool when `genome.few_shot` is absent. Without `genome.seed_prompts` a few "
        "generic "
        "prompts seed the run; without `genome.models` the active backend's default model. "
        "Events for the run carry `reply_to` this message's id and go to all of the user's "
        "connections. `register` (default 1) best variants become agent types for this "
        'user, named `<agent_name>-<run>[-k]`. `executor: "dask"` evaluates the variants '
        "on the server's Dask cluster (`unavailable` when none is configured or reachable).",
        {
            "type": "start_evolution",
            "id": "e1",
            "data": {
                "genome": {
                    "seed_prompts": [
                        "You are a careful arithmetic assistant.",
                        "Answer with the expression only.",
                    ],
                    "models": ["qwen2.5:0.5b"],
                    "prompt_pool": ["Check that every number is used exactly once."],
                },
                "population_size": 8,
                "generations": 5,
                "operators": {"selection": "tournament", "tournsize": 3, "elitism": 1, "llm": True},
                "task_set": {"name": "game24", "range": [900, 905]},
                "fitness": {"cost": "penalty", "token_penalty": 0.01},
                "seed": 7,
                "max_seconds": 600,
            },
        },
        domain="evolution",
    ),
    MessageSpec(
        "stop_evolution",
        CLIENT,
        obj({"run_id": identifier()}, required=["run_id"]),
        "Stop a run of yours: evaluations in flight finish, no new ones start, and the run "
        "completes (`evolution_complete`, status `stopped`) with what it has. Replies "
        '`evolution_progress{phase: "stopping"}`.',
        {"type": "stop_evolution", "id": "e2", "data": {"run_id": "evo-1"}},
        domain="evolution",
    ),
    MessageSpec(
        "resume_evolution",
        CLIENT,
        obj({"run_id": identifier(), "executor": _EXECUTOR}, required=["run_id"]),
        "Continue a saved run of yours that was interrupted (server restart), stopped or "
        "failed, from its last checkpoint: evaluations saved after that checkpoint are reused, "
        "not redone, so the run goes on as if never cut. Replies `evolution_progress{phase: "
        '"started", resumed: true}` (`reply_to` this message), then the run\'s events. '
        "`conflict` for a run that is going or completed, `invalid` without a checkpoint.",
        {"type": "resume_evolution", "id": "e5", "data": {"run_id": "evo-1"}},
        domain="evolution",
    ),
    MessageSpec(
        "evolution_progress",
        SERVER,
        obj(
            {
                "run_id": string(),
                "phase": string(enum=["started", "evaluation", "generation", "stopping"]),
                "generation": integer(minimum=0),
                "generations": integer(minimum=0),
                "population_size": integer(minimum=0),
                **_STATS,
                "best_so_far": {"type": ["number", "null"]},
                "stagnation": integer(minimum=0),
                "partial": boolean(),
                "best_genome": {},
                "evaluated": integer(minimum=0),
                "to_evaluate": integer(minimum=0),
                "fitness": {"type": ["number", "null"]},
                "resumed": boolean(),
                "executor": obj(additional=True),
            },
            required=["run_id", "generation"],
            additional=True,
        ),
        "One generation's statistics: best/mean/worst/std fitness, diversity (0-1), the share "
        "of crossovers and mutations that beat their parents, selection pressure (selection "
        "intensity: how many standard deviations the selected parents' mean fitness lies above "
        "the population's), evaluations so far and elapsed seconds. `partial` marks a "
        "generation cut short by a stop or a budget. Between generation rows, `phase: "
        '"evaluation"` reports each finished evaluation as it arrives (`evaluated` of '
        "`to_evaluate` in the generation being built, its `fitness`, `best_so_far`, "
        '`evaluations`, `tokens`). `phase: "started"` carries `executor` (`kind`, and for Dask '
        "the scheduler `address` and `dashboard` link) and `resumed` after "
        "`resume_evolution`.",
        {
            "type": "evolution_progress",
            "reply_to": "e1",
            "seq": 100,
            "ts": "2026-11-27T15:01:00.000Z",
            "data": {
                "run_id": "evo-1",
                "phase": "generation",
                "generation": 1,
                "generations": 5,
                "population_size": 8,
                "best": 0.6,
                "mean": 0.41,
                "worst": 0.1,
                "std": 0.12,
                "diversity": 0.7,
                "crossover_success": 0.5,
                "mutation_success": 0.25,
                "selection_pressure": 0.62,
                "evaluations": 16,
                "generation_evaluations": 7,
                "tokens": 5120,
                "best_so_far": 0.6,
                "stagnation": 0,
                "elapsed": 3.2,
                "best_genome": {
                    "system_prompt": "Answer with the expression only.",
                    "model": "qwen2.5:0.5b",
                    "temperature": 0.2,
                    "top_p": 0.9,
                    "few_shot": [],
                    "tools": [],
                },
            },
        },
        domain="evolution",
    ),
    MessageSpec(
        "evolution_complete",
        SERVER,
        obj(
            {
                "run_id": string(),
                "status": string(enum=["completed", "stopped", "failed"]),
                "reason": string(),
                "generations": integer(minimum=0),
                "best": {"type": ["object", "null"]},
                "hall_of_fame": arr(obj(additional=True)),
                "improvement": obj(additional=True),
                "lineage": arr(obj(additional=True)),
                "stats": obj(additional=True),
                "agent_types": arr(string()),
            },
            required=["run_id"],
            additional=True,
        ),
        "The run ended (`reason`: generations, evaluations, tokens, time, stagnation, target, "
        "stopped, or error): the best variant, the hall of fame, the improvement of the best "
        "fitness over generation 0, the best variant's lineage, totals, and the agent types "
        "registered from the winners (usable as `agentId` in `chat_message`).",
        {
            "type": "evolution_complete",
            "reply_to": "e1",
            "seq": 140,
            "ts": "2026-11-27T15:02:00.000Z",
            "data": {
                "run_id": "evo-1",
                "status": "completed",
                "reason": "generations",
                "generations": 5,
                "best": {
                    "id": 31,
                    "fitness": 0.8,
                    "tokens": 2210,
                    "generation": 4,
                    "parents": [12, 17],
                    "op": "cx+mut",
                    "genome": {
                        "system_prompt": "Answer with the expression only.",
                        "model": "qwen2.5:0.5b",
                        "temperature": 0.2,
                        "top_p": 0.9,
                        "few_shot": [],
                        "tools": [],
                    },
                },
                "hall_of_fame": [],
                "improvement": {
                    "generation0_best": 0.4,
                    "final_best": 0.8,
                    "absolute": 0.4,
                    "relative": 1.0,
                },
                "lineage": [],
                "stats": {"evaluations": 40, "tokens": 51200, "elapsed": 61.5},
                "agent_types": ["evolved-evo-1"],
            },
        },
        domain="evolution",
    ),
    MessageSpec(
        "list_evolution_runs",
        CLIENT,
        obj({"limit": integer(minimum=1, maximum=200)}),
        "Your saved evolution runs, newest first. Replies `evolution_runs`.",
        {"type": "list_evolution_runs", "id": "e3", "data": {"limit": 20}},
        domain="evolution",
    ),
    MessageSpec(
        "evolution_runs",
        SERVER,
        obj({"runs": arr(obj(additional=True))}, required=["runs"], additional=True),
        "Saved runs: `run_id`, `status` (running, completed, stopped, failed, interrupted), "
        "`created`, `finished`, best fitness and generations.",
        {
            "type": "evolution_runs",
            "reply_to": "e3",
            "seq": 150,
            "ts": "2026-11-27T15:03:00.000Z",
            "data": {
                "runs": [
                    {
                        "run_id": "evo-1",
                        "status": "completed",
                        "created": 1795791600.0,
                        "finished": 1795791661.5,
                        "best_fitness": 0.8,
                        "generations": 5,
                    }
                ]
            },
        },
        domain="evolution",
    ),
    MessageSpec(
        "get_evolution_run",
        CLIENT,
        obj({"run_id": identifier()}, required=["run_id"]),
        "One saved run of yours with its config, logbook (one row per generation), genealogy "
        "(every evaluated variant: parents, operator, generation, fitness, genome) and result. "
        "Replies `evolution_run`.",
        {"type": "get_evolution_run", "id": "e4", "data": {"run_id": "evo-1"}},
        domain="evolution",
    ),
    MessageSpec(
        "evolution_run",
        SERVER,
        obj(
            {
                "run_id": string(),
                "status": string(),
                "config": obj(additional=True),
                "logbook": arr(obj(additional=True)),
                "genealogy": obj(additional=True),
                "result": {"type": ["object", "null"]},
            },
            required=["run_id", "status", "logbook", "genealogy"],
            additional=True,
        ),
        "A saved run (see `get_evolution_run`).",
        {
            "type": "evolution_run",
            "reply_to": "e4",
            "seq": 151,
            "ts": "2026-11-27T15:03:01.000Z",
            "data": {
                "run_id": "evo-1",
                "status": "completed",
                "config": {"population_size": 8, "generations": 5},
                "created": 1795791600.0,
                "finished": 1795791661.5,
                "logbook": [{"generation": 0, "best": 0.4, "mean": 0.2, "evaluations": 8}],
                "genealogy": {
                    "0": {
                        "generation": 0,
                        "parents": [],
                        "op": "init",
                        "fitness": 0.4,
                        "genome": {
                            "system_prompt": "Answer with the expression only.",
                            "model": "qwen2.5:0.5b",
                            "temperature": 0.2,
                            "top_p": 0.9,
                            "few_shot": [],
                            "tools": [],
                        },
                    }
                },
                "result": None,
            },
        },
        domain="evolution",
    ),
]
