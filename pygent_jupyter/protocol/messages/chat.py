"""Agents and chat: the seed's `chat_message` -> `chat_response` flow, streamed."""

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
from .notebook import ATTACHMENTS

ID = identifier()

USAGE = obj(
    {
        "answers": integer(),
        "prompt_tokens": integer(),
        "completion_tokens": integer(),
        "total_tokens": integer(),
        "cost": {"type": ["number", "null"]},
        "by_model": arr(obj(additional=True)),
        "conversation_id": string(),
    },
    additional=True,
)

MESSAGES = [
    MessageSpec(
        "chat_message",
        CLIENT,
        obj(
            {
                "message": obj(
                    {
                        "content": string(minLength=1, maxLength=200_000),
                        "agentId": string(minLength=1, maxLength=64),
                        "timestamp": string(),
                        "model": string(maxLength=200),
                        "backend": string(
                            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                            description="a backend's name from `backend_status`; with `model`, "
                            "the choice sticks to the conversation",
                        ),
                    },
                    required=["content"],
                ),
                "conversation_id": ID,
                "attachments": ATTACHMENTS,
            },
            required=["message"],
        ),
        "Send a user turn to an agent (`general`, `coding`, `reasoning`, or a registered variant). "
        "Answered by `typing_indicator`, `chat_stream`*, `chat_response`, `usage`, "
        "`typing_indicator`. `backend`/`model` pick who answers (see `list_backends`); both are "
        "remembered for the conversation, so later turns without them use the same. A spent "
        'daily budget is refused with `rate_limited` (`details.reason: "budget"`).',
        {
            "type": "chat_message",
            "id": "m1",
            "data": {
                "message": {
                    "content": "Explain FAISS in one line",
                    "agentId": "general",
                    "timestamp": "2026-11-27T15:00:00Z",
                }
            },
        },
        domain="chat",
    ),
    MessageSpec(
        "typing_indicator",
        SERVER,
        obj(
            {
                "active": boolean(),
                "agentId": string(),
                "conversation_id": string(),
                "message_id": string(description="id of the answer being written"),
                "user_message_id": string(description="id under which the user's turn was saved"),
                "backend": string(description="`ollama`, `local`, or another provider's name"),
                "model": string(description="the model asked for, when one was"),
                "fallback": arr(
                    obj({"from": string(), "to": string(), "reason": string()}),
                    description="backends passed over because they are down",
                ),
            },
            required=["active"],
            additional=True,
        ),
        "The agent started (`active:true`: the user's turn is saved, with the backend that "
        "will answer, and `fallback` when a preferred backend was down and another answers) or "
        "finished (`active:false`) answering.",
        {
            "type": "typing_indicator",
            "reply_to": "m1",
            "seq": 30,
            "ts": "2026-11-27T15:00:00.010Z",
            "data": {
                "active": True,
                "agentId": "general",
                "conversation_id": "cv-1",
                "message_id": "msg-7",
                "user_message_id": "msg-6",
                "backend": "ollama",
            },
        },
        domain="chat",
    ),
    MessageSpec(
        "chat_stream",
        SERVER,
        obj(
            {
                "message_id": string(),
                "delta": string(),
                "conversation_id": string(),
                "index": integer(minimum=0),
            },
            required=["message_id", "delta"],
            additional=True,
        ),
        "One chunk of the answer as the model produces it. Not replayed by `resume`: the "
        "final `chat_response` carries the whole answer.",
        {
            "type": "chat_stream",
            "reply_to": "m1",
            "seq": 31,
            "ts": "2026-11-27T15:00:00.050Z",
            "data": {
                "message_id": "msg-7",
                "delta": "FAISS ",
                "conversation_id": "cv-1",
                "index": 0,
            },
        },
        domain="chat",
        replay=False,
    ),
    MessageSpec(
        "chat_response",
        SERVER,
        obj(
            {
                "message": obj(
                    {
                        "id": string(),
                        "type": string(enum=["agent"]),
                        "content": string(),
                        "agentId": string(),
                        "metadata": obj(
                            {
                                "processing_time": number(),
                                "confidence": {"type": ["number", "null"]},
                                "reasoning_path": arr({}),
                                "model": string(),
                                "backend": string(),
                                "prompt_tokens": integer(),
                                "completion_tokens": integer(),
                                "tokens_per_s": number(),
                                "time_to_first_token": {"type": ["number", "null"]},
                                "done_reason": {"type": ["string", "null"]},
                                "memories": arr(obj(additional=True)),
                                "tool_calls": arr(obj(additional=True)),
                                "incomplete": boolean(),
                                "reason": string(),
                                "cost": number(),
                                "currency": string(),
                                "fallback": arr(obj(additional=True)),
                            },
                            additional=True,
                        ),
                    },
                    required=["id", "type", "content", "agentId", "metadata"],
                    additional=True,
                ),
                "conversation_id": string(),
            },
            required=["message"],
            additional=True,
        ),
        "The whole answer, with timing and token metadata (the seed's shape, extended). "
        "`confidence` is the mean probability the model gave the tokens it produced "
        "(`mean(exp(logprob))`), `null` when the backend returns no log-probabilities. "
        "`memories`: context items from memory that went into the prompt; `tool_calls`: the "
        "tools the model called; `cost` (in `currency`) when the price table knows the model; "
        "`fallback` when a backend was passed over. A cancelled or failed answer has "
        "`incomplete: true` and a `reason` (`cancelled` or an error code) and is saved as such.",
        {
            "type": "chat_response",
            "reply_to": "m1",
            "seq": 40,
            "ts": "2026-11-27T15:00:01.000Z",
            "data": {
                "conversation_id": "cv-1",
                "message": {
                    "id": "msg-7",
                    "type": "agent",
                    "content": "FAISS is a library for fast vector similarity search.",
                    "agentId": "general",
                    "metadata": {
                        "processing_time": 0.82,
                        "confidence": 0.71,
                        "reasoning_path": [],
                        "model": "smollm2-135m-instruct.q4_1",
                        "backend": "local",
                        "prompt_tokens": 31,
                        "completion_tokens": 12,
                        "tokens_per_s": 48.0,
                        "time_to_first_token": 0.09,
                        "done_reason": "stop",
                    },
                },
            },
        },
        domain="chat",
    ),
    MessageSpec(
        "get_history",
        CLIENT,
        obj(
            {
                "conversation_id": ID,
                "before": integer(minimum=0),
                "limit": integer(minimum=1, maximum=500),
                "query": string(maxLength=200),
            }
        ),
        "Read a conversation's messages (newest `limit`, default 50, before message number "
        "`before`; messages are numbered `n` = 1, 2, ... in their conversation). Without "
        "`conversation_id`: the user's conversations, most recent first; with `query`, only "
        "those whose title or messages contain it (case-insensitive). Another user's "
        "conversation is `not_found`.",
        {"type": "get_history", "id": "h1", "data": {"conversation_id": "cv-1", "limit": 50}},
        domain="chat",
    ),
    MessageSpec(
        "chat_history",
        SERVER,
        obj(
            {
                "conversation_id": string(),
                "messages": arr(obj(additional=True)),
                "conversations": arr(obj(additional=True)),
                "has_more": boolean(),
                "query": string(),
                "deleted": string(),
                "titled": string(),
            },
            additional=True,
        ),
        "Answer to `get_history`: `messages` (each `{id, n, role, content, agentId, status, "
        "metadata, created}`, `status` `complete` or `incomplete`) or `conversations` (each "
        "`{id, title, agentId, created, updated, message_count}`), and `has_more`. Also the "
        "answer to `rename_conversation` (`conversations`: the renamed one) and "
        "`delete_conversation` (`deleted`: its id). Pushed unasked, with `titled` (a "
        "conversation id), when the model wrote a title for that conversation after its first "
        "exchange (`conversations`: its new row).",
        {
            "type": "chat_history",
            "reply_to": "h1",
            "seq": 50,
            "ts": "2026-11-27T15:00:02.000Z",
            "data": {
                "conversation_id": "cv-1",
                "has_more": False,
                "messages": [
                    {
                        "id": "msg-6",
                        "n": 1,
                        "role": "user",
                        "content": "hi",
                        "agentId": "general",
                        "status": "complete",
                        "metadata": {},
                        "created": "2026-11-27T14:59:00.000Z",
                    }
                ],
            },
        },
        domain="chat",
    ),
    MessageSpec(
        "rename_conversation",
        CLIENT,
        obj(
            {"conversation_id": ID, "title": string(minLength=1, maxLength=200)},
            required=("conversation_id", "title"),
        ),
        "Give one of your conversations a new title (whitespace collapsed, at most 200 "
        "characters). Answered by `chat_history` with the renamed conversation; another "
        "user's or an unknown conversation is `not_found`.",
        {
            "type": "rename_conversation",
            "id": "rn1",
            "data": {"conversation_id": "cv-1", "title": "Reversing strings"},
        },
        domain="chat",
    ),
    MessageSpec(
        "delete_conversation",
        CLIENT,
        obj({"conversation_id": ID}, required=("conversation_id",)),
        "Delete one of your conversations and all its messages. Answered by "
        "`chat_history{deleted}`; another user's or an unknown conversation is `not_found`.",
        {"type": "delete_conversation", "id": "dl1", "data": {"conversation_id": "cv-1"}},
        domain="chat",
    ),
    MessageSpec(
        "get_usage",
        CLIENT,
        obj({"conversation_id": ID}),
        "Your model usage: today's totals and, with `conversation_id`, that conversation's. "
        "Answered by `usage`.",
        {"type": "get_usage", "id": "u1", "data": {"conversation_id": "cv-1"}},
        domain="chat",
    ),
    MessageSpec(
        "usage",
        SERVER,
        obj(
            {
                "day": string(description="the UTC day the budget counts"),
                "today": USAGE,
                "conversation": USAGE,
                "currency": string(),
                "budget": obj(
                    {
                        "tokens": {"type": ["integer", "null"]},
                        "cost": {"type": ["number", "null"]},
                        "tokens_left": integer(),
                        "cost_left": number(),
                        "exceeded": boolean(),
                    },
                    additional=True,
                ),
            },
            required=["day", "today", "budget"],
            additional=True,
        ),
        "The usage gauge: tokens (and cost, when the admin's price table has the model) used "
        "today (UTC) over chat, reasoning and evolution, and in one conversation; the daily "
        "budget and what is left. Sent after each `chat_response` and in answer to `get_usage`.",
        {
            "type": "usage",
            "reply_to": "u1",
            "seq": 60,
            "ts": "2026-11-27T15:00:03.000Z",
            "data": {
                "day": "2026-11-27",
                "currency": "USD",
                "today": {
                    "answers": 3,
                    "prompt_tokens": 900,
                    "completion_tokens": 240,
                    "total_tokens": 1140,
                    "cost": 0.00028,
                    "by_model": [
                        {
                            "backend": "gpu",
                            "model": "qwen2.5-7b",
                            "answers": 3,
                            "prompt_tokens": 900,
                            "completion_tokens": 240,
                            "cost": 0.00028,
                        }
                    ],
                },
                "conversation": {
                    "conversation_id": "cv-1",
                    "answers": 1,
                    "prompt_tokens": 300,
                    "completion_tokens": 80,
                    "total_tokens": 380,
                    "cost": 0.00009,
                    "by_model": [],
                },
                "budget": {
                    "tokens": 200000,
                    "cost": None,
                    "tokens_left": 198860,
                    "exceeded": False,
                },
            },
        },
        domain="chat",
    ),
]
