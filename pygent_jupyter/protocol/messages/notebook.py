"""Notebook-native agents: attachments, proposals (`agent_action_request`), decisions
(`agent_action_result`), progress, the journal and undo.

The browser (or the kernel) holds the live notebook, the server holds the agent. An agent
never edits a file: each notebook tool call becomes a proposal sent to the client that owns
the chat, which applies it on its live model only after the user's decision and answers with
the outcome. See docs/agents.md, "Notebook agents".
"""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, arr, boolean, identifier, integer, obj, string

__all__ = ["ACTION_KINDS", "ATTACHMENTS", "MESSAGES"]

ACTION_KINDS = ["insert_cell", "replace_cell", "delete_cell", "run_cell", "create_notebook"]

PATH = string(minLength=1, maxLength=1024, description="a path in the server's contents")
CELL_ID = string(minLength=1, maxLength=128)
SOURCE = string(maxLength=200_000)

CELL = obj(
    {
        "id": CELL_ID,
        "cell_type": string(enum=["code", "markdown", "raw"]),
        "source": SOURCE,
        "outputs": string(maxLength=200_000, description="the cell's outputs as text"),
        "execution_count": {"type": ["integer", "null"]},
    },
    required=["id", "source"],
)

ATTACHMENT = obj(
    {
        "kind": string(enum=["notebook", "cell", "file", "variable"]),
        "path": PATH,
        "cells": {
            "type": "array",
            "maxItems": 5000,
            "description": "notebook: its cells from the live model, each shaped like `cell` "
            "(checked by the notebook service, which says which cell is wrong: validating "
            "thousands of cells here would cost more than the rest of the turn)",
        },
        "active_cell_id": CELL_ID,
        "cell": CELL,
        "name": string(minLength=1, maxLength=256, description="variable: its name"),
        "summary": string(
            maxLength=100_000, description="variable: the summary the kernel made of it"
        ),
        "truncated": boolean(description="the client already cut the summary"),
        "actions": boolean(
            description="notebook: this client applies proposals on it (default true)"
        ),
    },
    required=["kind"],
)

ATTACHMENTS = arr(
    ATTACHMENT,
    maxItems=32,
    description="what the user attached (see `agent_action_request`): the active notebook, "
    "chosen cells, files read through the server's contents, kernel variable summaries",
)

TARGET = obj(
    {"path": string(), "cell_id": string(), "after_cell_id": {"type": ["string", "null"]}},
    additional=True,
)

RESULT = obj(
    {
        "cell_ids": arr(CELL_ID, maxItems=1000, description="ids of cells the action created"),
        "outputs": string(maxLength=200_000, description="run_cell: the outputs as text"),
        "error": string(maxLength=10_000),
        "before": {"type": ["string", "null"], "maxLength": 200_000},
        "after": {"type": ["string", "null"], "maxLength": 200_000},
        "index": integer(minimum=0),
    },
)

JOURNAL_ENTRY = obj(
    {
        "id": integer(),
        "proposal_id": string(),
        "conversation_id": string(),
        "client_id": string(),
        "user": string(),
        "path": string(),
        "kind": string(enum=ACTION_KINDS),
        "target": TARGET,
        "before": {"type": ["string", "null"]},
        "after": {"type": ["string", "null"]},
        "cell_ids": arr(string()),
        "index": {"type": ["integer", "null"]},
        "created": string(),
        "undone": boolean(),
    },
    additional=True,
)

UNDO_STEP = obj(
    {
        "journal_id": integer(),
        "op": string(enum=["delete_cells", "set_source", "insert_cell", "none"]),
        "path": string(),
        "cell_ids": arr(string()),
        "cell_id": string(),
        "source": string(),
        "index": {"type": ["integer", "null"]},
        "after_cell_id": {"type": ["string", "null"]},
        "cell_type": string(),
    },
    additional=True,
)

MESSAGES = [
    MessageSpec(
        "agent_action_request",
        SERVER,
        obj(
            {
                "proposal_id": string(),
                "conversation_id": string(),
                "message_id": string(description="the answer being written"),
                "kind": string(enum=ACTION_KINDS),
                "target": TARGET,
                "source": string(description="the new source (insert, replace, create)"),
                "cell_type": string(enum=["code", "markdown"]),
                "diff": string(description="unified diff of the change, readable as is"),
                "step": integer(minimum=1),
                "max_steps": integer(minimum=1),
                "expires_at": string(description="ISO-8601; unanswered, it expires then"),
                "auto_approved": boolean(
                    description="the user opted in for this kind: apply without asking"
                ),
            },
            required=["proposal_id", "kind", "target", "diff", "expires_at"],
            additional=True,
        ),
        "An agent proposes an action on a notebook (sent only to the client that sent the "
        "chat). Nothing happens until the client answers with `agent_action_result`: it shows "
        "the diff, and on Accept applies the change to its live notebook model. Unanswered, it "
        "expires (`agent_action_expired`) and the model is told so.",
        {
            "type": "agent_action_request",
            "reply_to": "m1",
            "seq": 40,
            "ts": "2026-12-02T13:00:00Z",
            "data": {
                "proposal_id": "prop-1a2b",
                "conversation_id": "cv-1",
                "message_id": "msg-7",
                "kind": "insert_cell",
                "target": {"path": "analysis.ipynb", "after_cell_id": "c3"},
                "source": "df = pd.read_csv('data.csv')",
                "cell_type": "code",
                "diff": "--- analysis.ipynb (after cell c3)\n+++ new cell\n@@ -0,0 +1 @@\n"
                "+df = pd.read_csv('data.csv')\n",
                "step": 1,
                "max_steps": 12,
                "expires_at": "2026-12-02T13:00:55Z",
                "auto_approved": False,
            },
        },
        domain="notebook",
    ),
    MessageSpec(
        "agent_action_result",
        CLIENT,
        obj(
            {
                "proposal_id": identifier(),
                "decision": string(
                    enum=["applied", "rejected", "failed", "approved"],
                    description="applied: the client applied it (with `result`); rejected: "
                    "the user said no; failed: applying it failed (`result.error`); approved: "
                    "the server applies it (create_notebook only)",
                ),
                "reason": string(maxLength=2000, description="why, in the user's words"),
                "result": RESULT,
            },
            required=["proposal_id", "decision"],
        ),
        "The user's decision on a proposal and, when applied, what happened. Answered by "
        "`agent_action_recorded`. An unknown or expired proposal is `not_found`; only the "
        "client the proposal went to may answer it.",
        {
            "type": "agent_action_result",
            "id": "d1",
            "data": {
                "proposal_id": "prop-1a2b",
                "decision": "applied",
                "result": {"cell_ids": ["c9"], "before": None, "after": "df = ..."},
            },
        },
        domain="notebook",
    ),
    MessageSpec(
        "agent_action_recorded",
        SERVER,
        obj(
            {
                "proposal_id": string(),
                "status": string(enum=["applied", "rejected", "failed"]),
                "journal_id": {"type": ["integer", "null"]},
            },
            required=["proposal_id", "status"],
            additional=True,
        ),
        "The decision reached the agent; an applied action is in the journal under `journal_id`.",
        {
            "type": "agent_action_recorded",
            "reply_to": "d1",
            "seq": 41,
            "ts": "2026-12-02T13:00:03Z",
            "data": {"proposal_id": "prop-1a2b", "status": "applied", "journal_id": 12},
        },
        domain="notebook",
    ),
    MessageSpec(
        "agent_action_expired",
        SERVER,
        obj(
            {
                "proposal_id": string(),
                "reason": string(enum=["timeout", "cancelled"]),
            },
            required=["proposal_id", "reason"],
            additional=True,
        ),
        "A proposal is withdrawn: nobody answered in time (`timeout`), or the chat was "
        "stopped (`cancelled`). Clients remove its card; a late answer is `not_found`.",
        {
            "type": "agent_action_expired",
            "reply_to": "m1",
            "seq": 42,
            "ts": "2026-12-02T13:00:55Z",
            "data": {"proposal_id": "prop-1a2b", "reason": "timeout"},
        },
        domain="notebook",
    ),
    MessageSpec(
        "agent_progress",
        SERVER,
        obj(
            {
                "conversation_id": string(),
                "message_id": string(),
                "step": integer(minimum=0),
                "max_steps": integer(minimum=1),
                "tool": string(),
                "state": string(enum=["calling", "waiting", "done", "budget_spent"]),
            },
            required=["message_id", "step", "max_steps", "state"],
            additional=True,
        ),
        "Where an agent is in its work: which step of the budget, which tool, and whether it "
        "waits for the user's decision. Stop it with `cancel{request_id}` of the chat message.",
        {
            "type": "agent_progress",
            "reply_to": "m1",
            "seq": 39,
            "ts": "2026-12-02T13:00:00Z",
            "data": {
                "conversation_id": "cv-1",
                "message_id": "msg-7",
                "step": 1,
                "max_steps": 12,
                "tool": "notebook_insert_cell",
                "state": "waiting",
            },
        },
        domain="notebook",
    ),
    MessageSpec(
        "agent_journal_list",
        CLIENT,
        obj(
            {
                "conversation_id": identifier(),
                "path": PATH,
                "limit": integer(minimum=1, maximum=500),
            }
        ),
        "The user's applied agent actions, newest first (optionally of one conversation or "
        "notebook). Answered by `agent_journal`.",
        {"type": "agent_journal_list", "id": "j1", "data": {"conversation_id": "cv-1"}},
        domain="notebook",
    ),
    MessageSpec(
        "agent_journal",
        SERVER,
        obj({"entries": arr(JOURNAL_ENTRY)}, required=["entries"], additional=True),
        "Journal entries: who applied what, when, where, before and after.",
        {
            "type": "agent_journal",
            "reply_to": "j1",
            "seq": 50,
            "ts": "2026-12-02T13:01:00Z",
            "data": {
                "entries": [
                    {
                        "id": 12,
                        "proposal_id": "prop-1a2b",
                        "conversation_id": "cv-1",
                        "client_id": "lab-3f",
                        "user": "ada",
                        "path": "analysis.ipynb",
                        "kind": "insert_cell",
                        "target": {"path": "analysis.ipynb", "after_cell_id": "c3"},
                        "before": None,
                        "after": "df = pd.read_csv('data.csv')",
                        "cell_ids": ["c9"],
                        "index": 4,
                        "created": "2026-12-02T13:00:03Z",
                        "undone": False,
                    }
                ]
            },
        },
        domain="notebook",
    ),
    MessageSpec(
        "agent_undo",
        CLIENT,
        obj(
            {
                "conversation_id": identifier(),
                "path": PATH,
                "count": integer(minimum=1, maximum=100),
            },
            required=["conversation_id"],
        ),
        "Undo the last `count` (default 1) applied actions of a conversation (optionally in "
        "one notebook). Answered by `agent_undo_plan`: the inverse steps, newest first, which "
        "the client applies to its live notebook and confirms with `agent_undo_done`.",
        {"type": "agent_undo", "id": "u1", "data": {"conversation_id": "cv-1", "count": 1}},
        domain="notebook",
    ),
    MessageSpec(
        "agent_undo_plan",
        SERVER,
        obj(
            {"undo_id": string(), "steps": arr(UNDO_STEP)},
            required=["undo_id", "steps"],
            additional=True,
        ),
        "What to do to undo: `delete_cells` (an insert), `set_source` (a replace), "
        "`insert_cell` at `index`/after `after_cell_id` (a delete), `none` (a run or a created "
        "notebook, which undo leaves alone).",
        {
            "type": "agent_undo_plan",
            "reply_to": "u1",
            "seq": 51,
            "ts": "2026-12-02T13:02:00Z",
            "data": {
                "undo_id": "undo-9f",
                "steps": [
                    {
                        "journal_id": 12,
                        "op": "delete_cells",
                        "path": "analysis.ipynb",
                        "cell_ids": ["c9"],
                    }
                ],
            },
        },
        domain="notebook",
    ),
    MessageSpec(
        "agent_undo_done",
        CLIENT,
        obj(
            {
                "undo_id": identifier(),
                "journal_ids": arr(integer(), maxItems=100, description="the steps applied"),
                "error": string(maxLength=10_000),
            },
            required=["undo_id", "journal_ids"],
        ),
        "The client applied these undo steps; they are marked undone in the journal. Answered "
        "by `agent_journal` (the conversation's entries).",
        {
            "type": "agent_undo_done",
            "id": "u2",
            "data": {"undo_id": "undo-9f", "journal_ids": [12]},
        },
        domain="notebook",
    ),
]
