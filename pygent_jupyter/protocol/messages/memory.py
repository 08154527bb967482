"""The shared vector memory."""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, arr, integer, obj, string

NAMESPACE = string(minLength=1, maxLength=128, pattern="^[A-Za-z0-9_.:-]+$")

MESSAGES = [
    MessageSpec(
        "memory_add",
        CLIENT,
        obj(
            {
                "namespace": NAMESPACE,
                "items": arr(
                    obj({"text": string(minLength=1, maxLength=100_000),
                         "metadata": obj(additional=True)}, required=["text"]),
                    minItems=1,
                    maxItems=1000,
                ),
            },
            required=["items"],
        ),
        "Embed and store texts. Answered by `memory_update{kind:added}`.",
        {"type": "memory_add", "id": "a1",
         "data": {"items": [{"text": "FAISS runs on GPUs", "metadata": {"source": "notes"}}]}},
        domain="memory",
    ),
    MessageSpec(
        "memory_search",
        CLIENT,
        obj(
            {
                "query": string(minLength=1, maxLength=100_000),
                "k": integer(minimum=1, maximum=1000),
                "namespace": NAMESPACE,
                "filter": obj(additional=True),
            },
            required=["query"],
        ),
        "Semantic search. Answered by `memory_update{kind:results}`.",
        {"type": "memory_search", "id": "a2", "data": {"query": "gpu search", "k": 5}},
        domain="memory",
    ),
    MessageSpec(
        "memory_delete",
        CLIENT,
        obj({"ids": arr(integer(minimum=0), minItems=1, maxItems=10_000),
             "namespace": NAMESPACE}, required=["ids"]),
        "Delete memories by id. Answered by `memory_update{kind:deleted}`.",
        {"type": "memory_delete", "id": "a3", "data": {"ids": [12, 13]}},
        domain="memory",
    ),
    MessageSpec(
        "memory_stats",
        CLIENT,
        obj({"namespace": NAMESPACE}),
        "Counts and index kinds. Answered by `memory_update{kind:stats}`.",
        {"type": "memory_stats", "id": "a4", "data": {}},
        domain="memory",
    ),
    MessageSpec(
        "memory_update",
        SERVER,
        obj({"kind": string(enum=["added", "results", "deleted", "stats"])},
            required=["kind"], additional=True),
        "Result of a memory command, with timings.",
        {"type": "memory_update", "reply_to": "a2", "seq": 200,
         "ts": "2026-11-27T15:03:00.000Z",
         "data": {"kind": "results", "namespace": "user:alice", "took_ms": 3.1,
                  "results": [{"id": 12, "score": 0.83, "text": "FAISS runs on GPUs",
                               "metadata": {"source": "notes"}}]}},
        domain="memory",
    ),
]
