"""Genetic-algorithm evolution of agent variants, streamed per generation."""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, integer, number, obj, string

MESSAGES = [
    MessageSpec(
        "start_evolution",
        CLIENT,
        obj(
            {
                "genome": obj(additional=True),
                "population_size": integer(minimum=2, maximum=1000),
                "generations": integer(minimum=1, maximum=10_000),
                "operators": obj(additional=True),
                "task_set": obj(additional=True),
                "seed": integer(),
                "max_evaluations": integer(minimum=1),
                "max_tokens": integer(minimum=1),
                "max_seconds": number(exclusiveMinimum=0),
            },
            additional=False,
        ),
        "Start evolving agent variants against a task set.",
        {"type": "start_evolution", "id": "e1",
         "data": {"population_size": 8, "generations": 5,
                  "task_set": {"name": "game24", "range": [900, 905]}}},
        domain="evolution",
    ),
    MessageSpec(
        "stop_evolution",
        CLIENT,
        obj({"run_id": string(minLength=1, maxLength=128)}, required=["run_id"]),
        "Stop after the evaluations in flight; completes with what it has.",
        {"type": "stop_evolution", "id": "e2", "data": {"run_id": "evo-1"}},
        domain="evolution",
    ),
    MessageSpec(
        "evolution_progress",
        SERVER,
        obj({"run_id": string(), "generation": integer()}, required=["run_id", "generation"],
            additional=True),
        "One generation's statistics.",
        {"type": "evolution_progress", "reply_to": "e1", "seq": 100,
         "ts": "2026-11-27T15:01:00.000Z",
         "data": {"run_id": "evo-1", "generation": 1, "best": 0.6, "mean": 0.41,
                  "worst": 0.1, "std": 0.12, "diversity": 0.7, "evaluations": 16,
                  "elapsed": 3.2}},
        domain="evolution",
    ),
    MessageSpec(
        "evolution_complete",
        SERVER,
        obj({"run_id": string()}, required=["run_id"], additional=True),
        "The run ended: best genome, hall of fame, improvement over generation 0.",
        {"type": "evolution_complete", "reply_to": "e1", "seq": 140,
         "ts": "2026-11-27T15:02:00.000Z",
         "data": {"run_id": "evo-1", "best": {"fitness": 0.8}, "hall_of_fame": [],
                  "improvement": 0.3, "stats": {"evaluations": 40}}},
        domain="evolution",
    ),
]
