"""Agents and chat: the seed's `chat_message` -> `chat_response` flow, streamed."""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, arr, boolean, integer, number, obj, string

ID = string(minLength=1, maxLength=128)

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
                    },
                    required=["content"],
                ),
                "conversation_id": ID,
            },
            required=["message"],
        ),
        "Send a user turn to an agent (`general`, `coding`, `reasoning`, or a registered variant). "
        "Answered by `typing_indicator`, `chat_stream`*, `chat_response`, `typing_indicator`.",
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
            {"active": boolean(), "agentId": string(), "conversation_id": string()},
            required=["active"],
            additional=True,
        ),
        "The agent started (`active:true`) or finished (`active:false`) answering.",
        {
            "type": "typing_indicator",
            "reply_to": "m1",
            "seq": 30,
            "ts": "2026-11-27T15:00:00.010Z",
            "data": {"active": True, "agentId": "general", "conversation_id": "cv-1"},
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
        "One chunk of the answer as the model produces it.",
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
        "The whole answer, with timing and token metadata (the seed's shape, extended).",
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
                        "model": "smollm2-135m",
                        "backend": "local",
                        "prompt_tokens": 31,
                        "completion_tokens": 12,
                        "tokens_per_s": 48.0,
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
            }
        ),
        "Read a conversation's messages (newest `limit` before message number `before`). Without "
        "`conversation_id`: the user's conversations.",
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
            },
            additional=True,
        ),
        "Answer to `get_history`.",
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
                        "role": "user",
                        "content": "hi",
                        "created": "2026-11-27T14:59:00Z",
                    }
                ],
            },
        },
        domain="chat",
    ),
]
