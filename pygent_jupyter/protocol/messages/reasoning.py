"""Tree-of-Thought reasoning runs, streamed node by node."""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, arr, boolean, integer, number, obj, string

MESSAGES = [
    MessageSpec(
        "start_reasoning",
        CLIENT,
        obj(
            {
                "problem": string(minLength=1, maxLength=20_000),
                "task": string(enum=["game24", "open"]),
                "puzzle": string(maxLength=200),
                "method": string(enum=["bfs", "dfs"]),
                "generate": string(enum=["propose", "sample"]),
                "evaluate": string(enum=["value", "vote"]),
                "select": string(enum=["greedy", "sample"]),
                "n_generate_sample": integer(minimum=1, maximum=20),
                "n_evaluate_sample": integer(minimum=1, maximum=20),
                "n_select_sample": integer(minimum=1, maximum=20),
                "max_depth": integer(minimum=1, maximum=20),
                "model": string(maxLength=200),
                "seed": integer(),
                "max_calls": integer(minimum=1),
                "max_tokens": integer(minimum=1),
                "max_seconds": number(exclusiveMinimum=0),
            },
        ),
        "Start a Tree-of-Thought run on a free-form `problem` or a task puzzle "
        "(`task:\"game24\", puzzle:\"4 5 6 10\"`).",
        {"type": "start_reasoning", "id": "t1",
         "data": {"task": "game24", "puzzle": "4 5 6 10", "method": "bfs",
                  "n_select_sample": 5}},
        domain="reasoning",
    ),
    MessageSpec(
        "stop_reasoning",
        CLIENT,
        obj({"run_id": string(minLength=1, maxLength=128)}, required=["run_id"]),
        "Stop a run; it completes with the best path so far.",
        {"type": "stop_reasoning", "id": "t2", "data": {"run_id": "tot-1"}},
        domain="reasoning",
    ),
    MessageSpec(
        "reasoning_update",
        SERVER,
        obj({"run_id": string(), "event": string(), "node": obj(additional=True),
             "step": integer()}, required=["run_id"], additional=True),
        "A node was proposed, evaluated, selected or pruned, or a step finished.",
        {"type": "reasoning_update", "reply_to": "t1", "seq": 60,
         "ts": "2026-11-27T15:00:03.000Z",
         "data": {"run_id": "tot-1", "event": "node", "step": 1,
                  "node": {"id": "n3", "parent_id": "n0", "depth": 1,
                           "thought": "10 - 4 = 6 (left: 5 6 6)", "value": 21.0,
                           "status": "evaluated"}}},
        domain="reasoning",
    ),
    MessageSpec(
        "reasoning_complete",
        SERVER,
        obj({"run_id": string(), "best_path": arr({}), "answer": {"type": ["string", "null"]},
             "solved": {"type": ["boolean", "null"]}, "stats": obj(additional=True)},
            required=["run_id"], additional=True),
        "The run ended (finished, stopped or out of budget).",
        {"type": "reasoning_complete", "reply_to": "t1", "seq": 90,
         "ts": "2026-11-27T15:00:09.000Z",
         "data": {"run_id": "tot-1", "answer": "(10 - 4) * (5 - 6 + 5)", "solved": False,
                  "best_path": ["10 - 4 = 6 (left: 5 6 6)"],
                  "stats": {"llm_calls": 24, "tokens": 5120, "wall_time": 6.1}}},
        domain="reasoning",
    ),
]

_ = (boolean,)
