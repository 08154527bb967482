"""The shared vector memory: add, search, delete and stats, each answered by `memory_update`.

Every command works on the sender's private namespace (`user:<name>`) unless it names a
shared namespace an admin configured (`c.MemoryService.shared_namespaces`). Another user's
private namespace is `forbidden`; an unknown shared one is `not_found`.
"""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, arr, integer, number, obj, string

NAMESPACE = string(
    minLength=1,
    maxLength=128,
    pattern="^[A-Za-z0-9_.:@-]+$",
    description="`user:<you>` (the default) or a configured shared namespace.",
)

SCALAR = {"type": ["string", "number", "boolean", "null"]}

FILTER = obj(
    additional=False,
    patternProperties={
        "^[A-Za-z0-9_-]{1,64}(\\.[A-Za-z0-9_-]{1,64}){0,4}$": {
            "anyOf": [SCALAR, arr(SCALAR, minItems=1, maxItems=100)]
        }
    },
    maxProperties=16,
    description="Metadata filter: `{key: value}` equality or `{key: [values]}` (any of); all "
    "keys must match. Dotted keys reach into nested objects (`source.kind`).",
)

HIT = obj(
    {
        "id": integer(),
        "score": number(description="Cosine similarity (inner product of unit vectors)."),
        "text": string(),
        "metadata": obj(additional=True),
        "created": number(description="Unix time the memory was stored."),
        "namespace": string(),
    },
    required=["id", "score", "text", "metadata"],
    additional=True,
)

NAMESPACE_STATS = obj(
    {
        "namespace": string(),
        "count": integer(minimum=0),
        "dim": integer(),
        "embedder": string(),
        "generation": integer(),
        "saved_generation": integer(),
        "loaded_from": string(enum=["file", "rebuilt", "new"]),
        "index": string(enum=["flat", "ivf", "hnsw"]),
        "approx_param": {"type": ["integer", "null"]},
        "recall_at_10": {"type": ["number", "null"]},
        "device": string(),
        "cpu_bytes": integer(),
        "gpu_bytes": integer(),
    },
    required=["namespace", "count"],
    additional=True,
)

MESSAGES = [
    MessageSpec(
        "memory_add",
        CLIENT,
        obj(
            {
                "namespace": NAMESPACE,
                "items": arr(
                    obj(
                        {
                            "text": string(minLength=1, maxLength=100_000),
                            "metadata": obj(additional=True, maxProperties=64),
                        },
                        required=["text"],
                    ),
                    minItems=1,
                    maxItems=1000,
                ),
            },
            required=["items"],
        ),
        "Embed and store texts (a batch of up to 1000) with optional JSON metadata. They are "
        "durable in SQLite before the reply. Answered by `memory_update{kind:added}` with their "
        "ids. A namespace keeps the embedder (and dimension) it was created with: adding with "
        "another one is a `conflict`.",
        {
            "type": "memory_add",
            "id": "a1",
            "data": {
                "items": [
                    {"text": "FAISS runs on GPUs", "metadata": {"source": "notes"}},
                    {
                        "text": "IVF indexes trade recall for speed",
                        "metadata": {"source": "notes", "topic": "faiss"},
                    },
                ]
            },
        },
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
                "filter": FILTER,
            },
            required=["query"],
        ),
        "Semantic search: the `k` (default 5) stored texts closest to `query`, best first, "
        "optionally restricted by a metadata `filter` (filtered searches are exact). Answered "
        "by `memory_update{kind:results}`.",
        {
            "type": "memory_search",
            "id": "a2",
            "data": {"query": "gpu search", "k": 5, "filter": {"source": "notes"}},
        },
        domain="memory",
    ),
    MessageSpec(
        "memory_delete",
        CLIENT,
        obj(
            {
                "ids": arr(integer(minimum=0), minItems=1, maxItems=10_000),
                "namespace": NAMESPACE,
            },
            required=["ids"],
        ),
        "Delete memories by id (from your namespaces, or only from `namespace`). Ids that do "
        "not exist or that you may not delete are listed as `missing`, never deleted. "
        "Answered by `memory_update{kind:deleted}`.",
        {"type": "memory_delete", "id": "a3", "data": {"ids": [12, 13]}},
        domain="memory",
    ),
    MessageSpec(
        "memory_stats",
        CLIENT,
        obj({"namespace": NAMESPACE}),
        "Counts, index kind, recall of the approximate index, device and memory use of your "
        "namespaces (or one). Answered by `memory_update{kind:stats}`.",
        {"type": "memory_stats", "id": "a4", "data": {}},
        domain="memory",
    ),
    MessageSpec(
        "memory_update",
        SERVER,
        obj(
            {
                "kind": string(enum=["added", "results", "deleted", "stats"]),
                "namespace": string(),
                "took_ms": number(description="Server time for the whole command."),
                "embed_ms": number(),
                "store_ms": number(),
                "search_ms": number(),
                "fetch_ms": number(),
                "method": string(
                    description="What answered a search: exact-numpy, exact-faiss, exact-gpu, "
                    "exact-subset (filtered), ivf, hnsw, or empty."
                ),
                "ids": arr(integer()),
                "count": integer(minimum=0),
                "embedder": {"type": ["string", "null"]},
                "query": string(),
                "k": integer(),
                "results": arr(HIT),
                "missing": arr(integer()),
                "namespaces": {"anyOf": [obj(additional=integer()), arr(NAMESPACE_STATS)]},
                "device": string(),
                "gpus": integer(minimum=0),
                "gpu_index_bytes": obj(additional=integer()),
            },
            required=["kind"],
            additional=True,
        ),
        "Result of a memory command, with timings. `added`: `ids`, `count` (namespace total), "
        "`embedder`. `results`: `results` [{id, score, text, metadata, created, namespace}], "
        "`method`. `deleted`: `ids`, `missing`, `namespaces` {name: deleted}. `stats`: "
        "`namespaces` [per-namespace stats], `device`, `gpu_index_bytes` {gpu: bytes}.",
        {
            "type": "memory_update",
            "reply_to": "a2",
            "seq": 200,
            "ts": "2026-11-27T15:03:00.000Z",
            "data": {
                "kind": "results",
                "namespace": "user:alice",
                "query": "gpu search",
                "k": 5,
                "took_ms": 9.1,
                "embed_ms": 7.6,
                "search_ms": 0.9,
                "fetch_ms": 0.4,
                "method": "exact-numpy",
                "results": [
                    {
                        "id": 12,
                        "score": 0.83,
                        "text": "FAISS runs on GPUs",
                        "metadata": {"source": "notes"},
                        "created": 1795791780.0,
                        "namespace": "user:alice",
                    }
                ],
            },
        },
        domain="memory",
    ),
]
