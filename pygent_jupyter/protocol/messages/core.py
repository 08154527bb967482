"""Protocol housekeeping: keepalive, topics, replay, cancellation, errors, connection state."""

from __future__ import annotations

from ..spec import CLIENT, LOCAL, SERVER, MessageSpec, arr, identifier, integer, number, obj, string

TOPIC = string(enum=["metrics", "ollama", "mcp", "memory"])
ERROR_CODES = [
    "bad_json",
    "invalid",
    "unknown_type",
    "not_found",
    "forbidden",
    "rate_limited",
    "unavailable",
    "resync",
    "timeout",
    "cancelled",
    "conflict",
    "internal",
]

MESSAGES = [
    MessageSpec(
        "ping",
        CLIENT,
        obj({"ts": number(description="client clock, echoed back")}),
        "Round-trip check. The server answers `pong` at once.",
        {"type": "ping", "id": "p1", "data": {"ts": 1764250000.123}},
    ),
    MessageSpec(
        "pong",
        SERVER,
        obj({"ts": number(), "server_ts": number()}, required=["server_ts"]),
        "Answer to `ping`: the client's `ts` echoed and the server's clock (seconds since epoch).",
        {
            "type": "pong",
            "reply_to": "p1",
            "seq": 7,
            "ts": "2026-11-27T15:00:00.000Z",
            "data": {"ts": 1764250000.123, "server_ts": 1764250000.125},
        },
    ),
    MessageSpec(
        "subscribe",
        CLIENT,
        obj({"topics": arr(TOPIC, minItems=1, uniqueItems=True)}, required=["topics"]),
        "Start receiving a topic's periodic events (e.g. `metrics`: `system_metrics`, "
        "`gpu_metrics`). Answered by `subscribed`.",
        {"type": "subscribe", "id": "s1", "data": {"topics": ["metrics"]}},
    ),
    MessageSpec(
        "unsubscribe",
        CLIENT,
        obj({"topics": arr(TOPIC, minItems=1, uniqueItems=True)}, required=["topics"]),
        "Stop receiving topics. Answered by `subscribed` with the remaining topics.",
        {"type": "unsubscribe", "id": "u1", "data": {"topics": ["metrics"]}},
    ),
    MessageSpec(
        "subscribed",
        SERVER,
        obj({"topics": arr(TOPIC)}, required=["topics"]),
        "The connection's topics after a `subscribe` or `unsubscribe`.",
        {
            "type": "subscribed",
            "reply_to": "s1",
            "seq": 8,
            "ts": "2026-11-27T15:00:00.000Z",
            "data": {"topics": ["metrics"]},
        },
    ),
    MessageSpec(
        "resume",
        CLIENT,
        obj(
            {"last_seq": integer(minimum=0), "epoch": string(minLength=1, maxLength=64)},
            required=["last_seq"],
        ),
        "After a reconnect: replay every reliable event after `last_seq` that was meant for this "
        "client, in order, then `resumed`. Pass the `epoch` from the previous "
        "`connection_status`: if the server restarted since, or some events are gone from the "
        "buffer, the answer is `error{code:resync}` (reload your state).",
        {"type": "resume", "id": "r1", "data": {"last_seq": 41, "epoch": "3f9c2a7d10be"}},
    ),
    MessageSpec(
        "resumed",
        SERVER,
        obj(
            {"replayed": integer(minimum=0), "last_seq": integer(minimum=0)},
            required=["replayed", "last_seq"],
        ),
        "Replay done: how many events were re-sent and the newest seq now.",
        {
            "type": "resumed",
            "reply_to": "r1",
            "seq": 45,
            "ts": "2026-11-27T15:00:00.000Z",
            "data": {"replayed": 3, "last_seq": 44},
        },
    ),
    MessageSpec(
        "cancel",
        CLIENT,
        obj({"request_id": identifier()}, required=["request_id"]),
        "Cancel a command still running (e.g. a streaming `chat_message`), by that message's `id`.",
        {"type": "cancel", "id": "c2", "data": {"request_id": "m1"}},
    ),
    MessageSpec(
        "error",
        SERVER,
        obj(
            {
                "code": string(enum=ERROR_CODES),
                "message": string(),
                "field": string(),
                "details": obj(additional=True),
            },
            required=["code", "message"],
        ),
        "A request failed. `code` is stable; `field` names the offending input when there is one. "
        "Never carries a traceback.",
        {
            "type": "error",
            "reply_to": "m1",
            "seq": 9,
            "ts": "2026-11-27T15:00:00.000Z",
            "data": {
                "code": "invalid",
                "message": "data.topics: [] should be non-empty",
                "field": "data.topics",
            },
        },
    ),
    MessageSpec(
        "connection_status",
        SERVER,
        obj(
            {
                "connection_id": string(),
                "client_id": string(),
                "user": string(),
                "server_version": string(),
                "protocol_version": integer(),
                "capabilities": arr(string()),
                "last_seq": integer(minimum=0),
                "epoch": string(description="changes when the server restarts"),
                "state": string(enum=["connected", "reconnecting", "disconnected"]),
            },
            required=["state"],
            additional=True,
        ),
        "Sent by the server on open (who you are, which services are up, the newest seq). "
        "Client libraries also raise it locally on state changes (`reconnecting`, "
        "`disconnected`).",
        {
            "type": "connection_status",
            "seq": 1,
            "ts": "2026-11-27T15:00:00.000Z",
            "data": {
                "state": "connected",
                "connection_id": "c-5f2a",
                "client_id": "k-91c0",
                "user": "alice",
                "server_version": "0.1.0",
                "protocol_version": 1,
                "capabilities": ["metrics"],
                "last_seq": 0,
                "epoch": "3f9c2a7d10be",
            },
        },
    ),
    MessageSpec(
        "capabilities",
        SERVER,
        obj(
            {
                "capabilities": arr(string()),
                "service": string(),
                "state": string(enum=["up", "down"]),
            },
            required=["capabilities", "service", "state"],
            additional=True,
        ),
        "A service finished starting (`up`) or failed to (`down`): `capabilities` is the new "
        "list of started services (as in `connection_status`). A service's greeting events "
        "follow its `up`. Commands sent before a service is up wait for it (bounded) or get "
        "`unavailable` with `details.retry_after` seconds.",
        {
            "type": "capabilities",
            "seq": 2,
            "ts": "2026-11-27T15:00:00.400Z",
            "data": {"capabilities": ["metrics", "memory"], "service": "memory", "state": "up"},
        },
    ),
    MessageSpec(
        "connection_error",
        LOCAL,
        obj(
            {"error": string(), "attempt": integer(minimum=0)}, required=["error"], additional=True
        ),
        "Raised locally by a client when a connection attempt or an open connection fails.",
        {"type": "connection_error", "data": {"error": "connection refused", "attempt": 2}},
    ),
    MessageSpec(
        "connection_failed",
        LOCAL,
        obj(
            {"error": string(), "attempts": integer(minimum=0)}, required=["error"], additional=True
        ),
        "Raised locally by a client when it gives up reconnecting (after `max_attempts`).",
        {"type": "connection_failed", "data": {"error": "gave up after 5 attempts", "attempts": 5}},
    ),
]
