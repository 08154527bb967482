"""Tree-of-Thought reasoning runs, streamed node by node, saved and reloadable.

Parameter names follow the Tree of Thoughts paper's reference code (``method_generate``,
``n_evaluate_sample``, …). A run answers ``start_reasoning`` with ``reasoning_update`` events
(``started``, one per node change, one per step) and ends with ``reasoning_complete``.
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

RUN_ID = identifier()

NODE = obj(
    {
        "id": string(),
        "parent_id": {"type": ["string", "null"]},
        "depth": integer(minimum=0),
        "thought": string(),
        "value": {"type": ["number", "null"]},
        "status": string(enum=["proposed", "evaluated", "selected", "pruned"]),
        "step": integer(minimum=0),
        "info": obj(additional=True),
    },
    required=["id", "parent_id", "depth", "thought", "status"],
    additional=True,
)

STATS = obj(
    {
        "llm_calls": integer(minimum=0),
        "tokens": integer(minimum=0),
        "prompt_tokens": integer(minimum=0),
        "completion_tokens": integer(minimum=0),
        "cache_hits": integer(minimum=0),
        "wall_time": number(minimum=0),
        "steps": integer(minimum=0),
        "nodes": integer(minimum=0),
        "stop_reason": string(),
        "dropped_lines": integer(
            minimum=0, description="output lines that were not a usable thought (dropped)"
        ),
        "parse_errors": integer(
            minimum=0, description="model outputs a parser could not read (dropped; run goes on)"
        ),
    },
    additional=True,
)

EXAMPLE_STATS = {
    "llm_calls": 61,
    "tokens": 24310,
    "prompt_tokens": 22101,
    "completion_tokens": 2209,
    "cache_hits": 7,
    "wall_time": 6.1,
    "steps": 4,
    "nodes": 33,
    "stop_reason": "solved",
}

RUN_SUMMARY = obj(
    {
        "run_id": string(),
        "task": string(),
        "input": string(),
        "params": obj(additional=True),
        "status": string(),
        "answer": {"type": ["string", "null"]},
        "solved": {"type": ["boolean", "null"]},
        "stats": {"type": ["object", "null"]},
        "error": {"type": ["string", "null"]},
        "created": number(),
        "finished": {"type": ["number", "null"]},
    },
    required=["run_id", "task", "input", "status"],
    additional=True,
)

MESSAGES = [
    MessageSpec(
        "start_reasoning",
        CLIENT,
        obj(
            {
                "problem": string(minLength=1, maxLength=20_000),
                "task": string(enum=["game24", "open"]),
                "prompts": string(
                    enum=["ours", "paper"],
                    description="game24: `paper` uses the official tree-of-thoughts-llm "
                    "prompts and label parsing (`unavailable` when that package is missing)",
                ),
                "puzzle": string(minLength=1, maxLength=200),
                "puzzle_index": integer(minimum=0),
                "method": string(enum=["bfs", "dfs"]),
                "method_generate": string(enum=["propose", "sample"]),
                "method_evaluate": string(enum=["value", "vote"]),
                "method_select": string(enum=["greedy", "sample"]),
                "n_generate_sample": integer(minimum=1, maximum=20),
                "n_evaluate_sample": integer(minimum=1, maximum=20),
                "n_select_sample": integer(minimum=1, maximum=20),
                "max_depth": integer(minimum=1, maximum=20),
                "max_proposals": integer(minimum=1, maximum=50),
                "value_threshold": number(),
                "temperature": number(minimum=0, maximum=2),
                "model": string(minLength=1, maxLength=200),
                "backend": string(
                    pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                    description="a backend's name from `backend_status` (default: as chat)",
                ),
                "seed": integer(minimum=0, maximum=2**31 - 1),
                "max_calls": integer(minimum=1),
                "max_tokens": integer(minimum=1),
                "max_seconds": number(exclusiveMinimum=0),
            },
        ),
        "Start a Tree-of-Thought run on a free-form `problem` (task `open`: plan, steps, "
        'answer) or a Game of 24 (`task:"game24"` with `puzzle:"4 5 6 10"` or '
        "`puzzle_index` into the shipped 24.csv). `method` is `bfs` (beam of `n_select_sample`) "
        "or `dfs` (prunes children valued below `value_threshold`, backtracks). Budgets "
        "(`max_calls`, `max_tokens`, `max_seconds`) end the run early with the best path so "
        "far; the server caps them. Answered by `reasoning_update`* then `reasoning_complete`.",
        {
            "type": "start_reasoning",
            "id": "t1",
            "data": {
                "task": "game24",
                "puzzle": "4 5 6 10",
                "method": "bfs",
                "method_generate": "propose",
                "method_evaluate": "value",
                "n_evaluate_sample": 3,
                "n_select_sample": 5,
                "seed": 0,
            },
        },
        domain="reasoning",
    ),
    MessageSpec(
        "stop_reasoning",
        CLIENT,
        obj({"run_id": RUN_ID}, required=["run_id"]),
        "Stop one of your running runs. In-flight model calls are abandoned and the run's "
        "`start_reasoning` is answered by `reasoning_complete` (status `stopped`) with the "
        'best path so far; this command is answered by `reasoning_update{event:"stopping"}`.',
        {"type": "stop_reasoning", "id": "t2", "data": {"run_id": "tot-5f1c2a9b7d3e"}},
        domain="reasoning",
    ),
    MessageSpec(
        "list_reasoning_runs",
        CLIENT,
        obj({"limit": integer(minimum=1, maximum=500), "before": number()}),
        "List your saved runs, newest first (`before`: a `created` timestamp, for paging). "
        "Answered by `reasoning_runs`.",
        {"type": "list_reasoning_runs", "id": "t3", "data": {"limit": 20}},
        domain="reasoning",
    ),
    MessageSpec(
        "get_reasoning_run",
        CLIENT,
        obj({"run_id": RUN_ID}, required=["run_id"]),
        "Reload one saved run with its whole tree and parameters. Answered by `reasoning_run`.",
        {"type": "get_reasoning_run", "id": "t4", "data": {"run_id": "tot-5f1c2a9b7d3e"}},
        domain="reasoning",
    ),
    MessageSpec(
        "reasoning_update",
        SERVER,
        obj(
            {
                "run_id": string(),
                "event": string(enum=["started", "node", "step", "backtrack", "stopping"]),
                "step": integer(minimum=0),
                "node": NODE,
                "selected": arr(string()),
                "candidates": integer(minimum=0),
                "stats": obj(additional=True),
                "task": string(),
                "input": string(),
                "params": obj(additional=True),
            },
            required=["run_id", "event"],
            additional=True,
        ),
        "Progress of a run. `event`: `started` (task, input, params, root node), `node` (a "
        "node was proposed, evaluated, selected or pruned: id, parent_id, depth, thought, "
        "value, status; ids name positions: `n0.2.1` is the first child of the root's second "
        "child), `step` (a BFS step ended: the selected node ids and live stats), "
        "`backtrack` (DFS left a node's subtree) or `stopping` (answer to `stop_reasoning`).",
        {
            "type": "reasoning_update",
            "reply_to": "t1",
            "seq": 60,
            "ts": "2026-11-27T15:00:03.000Z",
            "data": {
                "run_id": "tot-5f1c2a9b7d3e",
                "event": "node",
                "step": 1,
                "node": {
                    "id": "n0.3",
                    "parent_id": "n0",
                    "depth": 1,
                    "thought": "10 - 4 = 6 (left: 5 6 6)",
                    "value": 21.0,
                    "status": "evaluated",
                    "step": 1,
                    "info": {},
                },
            },
        },
        domain="reasoning",
    ),
    MessageSpec(
        "reasoning_complete",
        SERVER,
        obj(
            {
                "run_id": string(),
                "task": string(),
                "input": string(),
                "best_path": arr(string()),
                "best_path_ids": arr(string()),
                "answer": {"type": ["string", "null"]},
                "solved": {"type": ["boolean", "null"]},
                "status": string(),
                "stats": STATS,
                "error": string(),
            },
            required=["run_id", "best_path", "answer", "solved", "stats"],
            additional=True,
        ),
        "The run ended: `status` is `finished`, `solved`, `stopped`, `budget_calls`, "
        "`budget_tokens`, `budget_time` or `error` (then `error` says why). `solved` is "
        "checked exactly when the task can check (Game of 24), null otherwise.",
        {
            "type": "reasoning_complete",
            "reply_to": "t1",
            "seq": 90,
            "ts": "2026-11-27T15:00:09.000Z",
            "data": {
                "run_id": "tot-5f1c2a9b7d3e",
                "task": "game24",
                "input": "4 5 6 10",
                "answer": "(10 - 6) + 4 * 5 = 24",
                "solved": True,
                "status": "solved",
                "best_path": [
                    "4 * 5 = 20 (left: 6 10 20)",
                    "10 - 6 = 4 (left: 4 20)",
                    "4 + 20 = 24 (left: 24)",
                    "Answer: (10 - 6) + 4 * 5 = 24",
                ],
                "best_path_ids": ["n0.2", "n0.2.3", "n0.2.3.1", "n0.2.3.1.1"],
                "stats": EXAMPLE_STATS,
            },
        },
        domain="reasoning",
    ),
    MessageSpec(
        "reasoning_runs",
        SERVER,
        obj(
            {"runs": arr(RUN_SUMMARY), "running": arr(string())}, required=["runs"], additional=True
        ),
        "Answer to `list_reasoning_runs`: saved runs (without trees) and the ids still running.",
        {
            "type": "reasoning_runs",
            "reply_to": "t3",
            "seq": 95,
            "ts": "2026-11-27T15:01:00.000Z",
            "data": {
                "running": [],
                "runs": [
                    {
                        "run_id": "tot-5f1c2a9b7d3e",
                        "task": "game24",
                        "input": "4 5 6 10",
                        "status": "solved",
                        "answer": "(10 - 6) + 4 * 5 = 24",
                        "solved": True,
                        "params": {"method": "bfs", "n_select_sample": 5},
                        "stats": EXAMPLE_STATS,
                        "error": None,
                        "created": 1795791603.2,
                        "finished": 1795791609.3,
                    }
                ],
            },
        },
        domain="reasoning",
    ),
    MessageSpec(
        "reasoning_run",
        SERVER,
        obj(
            {**RUN_SUMMARY["properties"], "tree": {"type": ["object", "null"]}},
            required=["run_id", "task", "input", "status"],
            additional=True,
        ),
        "Answer to `get_reasoning_run`: the run's summary and its whole `tree` (params, "
        "nodes, best path, stats); `tree` is null while the run is still going.",
        {
            "type": "reasoning_run",
            "reply_to": "t4",
            "seq": 96,
            "ts": "2026-11-27T15:01:01.000Z",
            "data": {
                "run_id": "tot-5f1c2a9b7d3e",
                "task": "game24",
                "input": "4 5 6 10",
                "status": "solved",
                "answer": "(10 - 6) + 4 * 5 = 24",
                "solved": True,
                "params": {"method": "bfs", "n_select_sample": 5},
                "stats": EXAMPLE_STATS,
                "error": None,
                "created": 1795791603.2,
                "finished": 1795791609.3,
                "tree": {
                    "run_id": "tot-5f1c2a9b7d3e",
                    "task": "game24",
                    "input": "4 5 6 10",
                    "params": {"method": "bfs"},
                    "root_id": "n0",
                    "best_node_id": "n0.1",
                    "best_path": ["4 * 5 = 20 (left: 6 10 20)"],
                    "answer": None,
                    "solved": False,
                    "stats": EXAMPLE_STATS,
                    "error": None,
                    "nodes": [
                        {
                            "id": "n0",
                            "parent_id": None,
                            "depth": 0,
                            "thought": "",
                            "value": None,
                            "status": "selected",
                            "step": 0,
                            "children": ["n0.1"],
                            "info": {},
                        },
                        {
                            "id": "n0.1",
                            "parent_id": "n0",
                            "depth": 1,
                            "thought": "4 * 5 = 20 (left: 6 10 20)",
                            "value": 60.0,
                            "status": "selected",
                            "step": 1,
                            "children": [],
                            "info": {},
                        },
                    ],
                },
            },
        },
        domain="reasoning",
    ),
]

_ = (boolean,)
