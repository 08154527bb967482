"""Ollama status, models and throughput (also reported for the embedded backend), and the
named backends (`list_backends`, `backend_status`, `backend_error`) of which Ollama is one."""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, arr, boolean, integer, number, obj, string

MODEL = obj({"name": string()}, additional=True)

BACKEND = obj(
    {
        "name": string(),
        "kind": string(enum=["openai", "ollama", "local", "custom"]),
        "base_url": string(),
        "reachable": {"type": ["boolean", "null"]},
        "default_model": string(),
        "tools": boolean(),
        "active": boolean(),
        "error": string(),
        "models": arr(
            obj({"name": string(), "backend": string(), "tools": boolean()}, additional=True)
        ),
    },
    required=["name", "kind", "reachable", "models"],
    additional=True,
)

MESSAGES = [
    MessageSpec(
        "ollama_list_models",
        CLIENT,
        obj({}),
        "List the models of the active backend. Answered by `ollama_model_update`.",
        {"type": "ollama_list_models", "id": "o1", "data": {}},
        domain="ollama",
    ),
    MessageSpec(
        "ollama_status",
        SERVER,
        obj(
            {
                "reachable": boolean(),
                "host": string(),
                "version": {"type": ["string", "null"]},
                "running_models": arr(MODEL),
                "backend": string(description="the backend that answers chat now"),
                "local_model": {"type": ["string", "null"]},
            },
            additional=True,
        ),
        "Whether Ollama is reachable, its host, version and running models (`/api/ps`), and "
        "which backend answers chat now (`ollama`, or `local` for the embedded model); sent on "
        "connect and on any change.",
        {
            "type": "ollama_status",
            "seq": 400,
            "ts": "2026-11-27T15:05:00.000Z",
            "data": {
                "reachable": False,
                "host": "http://127.0.0.1:11434",
                "version": None,
                "running_models": [],
                "backend": "local",
                "local_model": "smollm2-135m-instruct.q4_1",
            },
        },
        domain="ollama",
    ),
    MessageSpec(
        "ollama_model_update",
        SERVER,
        obj({"backend": string(), "host": string(), "models": arr(MODEL)}, additional=True),
        "The model list of the active backend: in answer to `ollama_list_models`, and to "
        "everyone when Ollama's list changes. Each model: `name`, and where known `size`, "
        "`digest`, `modified_at`, `family`, `parameter_size`, `quantization_level`.",
        {
            "type": "ollama_model_update",
            "reply_to": "o1",
            "seq": 401,
            "ts": "2026-11-27T15:05:00.000Z",
            "data": {
                "backend": "local",
                "models": [
                    {
                        "name": "smollm2-135m-instruct.q4_1",
                        "size": 98362432,
                        "format": "gguf",
                        "backend": "local",
                    }
                ],
            },
        },
        domain="ollama",
    ),
    MessageSpec(
        "ollama_metrics",
        SERVER,
        obj(
            {
                "backend": string(),
                "model": string(),
                "eval_count": integer(),
                "eval_duration_ms": number(),
                "prompt_eval_count": integer(),
                "prompt_eval_duration_ms": number(),
                "load_duration_ms": number(),
                "total_duration_ms": number(),
                "tokens_per_s": number(),
            },
            additional=True,
        ),
        "Throughput of the answer just given (sent to its requester after `chat_response`, and "
        "to the user's connections subscribed to the `ollama` topic): "
        "generated tokens and time, tokens/s, prompt tokens and time, model load time. Ollama's "
        "own counters for Ollama; measured around llama.cpp for the embedded model.",
        {
            "type": "ollama_metrics",
            "seq": 402,
            "ts": "2026-11-27T15:05:01.000Z",
            "data": {
                "backend": "local",
                "model": "smollm2-135m-instruct.q4_1",
                "eval_count": 40,
                "eval_duration_ms": 800.0,
                "prompt_eval_count": 31,
                "prompt_eval_duration_ms": 20.5,
                "load_duration_ms": 0.0,
                "total_duration_ms": 821.0,
                "tokens_per_s": 50.0,
            },
        },
        domain="ollama",
    ),
    MessageSpec(
        "ollama_error",
        SERVER,
        obj({"code": string(), "message": string()}, required=["code", "message"], additional=True),
        "An Ollama failure: `unreachable`, `model_not_found` (the message names the "
        "`ollama pull` command), `server_error` (HTTP 5xx or an error line), `stream_broken`, "
        "`bad_response`, `timeout`; with the `host` tried and the `model`. Sent to the requester "
        'before its `error`, or, with `fallback: "local"`, before the embedded model answers '
        "instead; broadcast when a reachable Ollama stops answering.",
        {
            "type": "ollama_error",
            "reply_to": "m1",
            "seq": 403,
            "ts": "2026-11-27T15:05:02.000Z",
            "data": {
                "code": "unreachable",
                "message": "Ollama is not reachable at http://127.0.0.1:11434",
                "host": "http://127.0.0.1:11434",
            },
        },
        domain="ollama",
    ),
    MessageSpec(
        "list_backends",
        CLIENT,
        obj({"refresh": boolean(description="probe every backend now")}),
        "List every configured backend with its health and models (for a model picker). "
        "Answered by `backend_status`.",
        {"type": "list_backends", "id": "b1", "data": {}},
        domain="ollama",
    ),
    MessageSpec(
        "backend_status",
        SERVER,
        obj(
            {
                "backends": arr(BACKEND),
                "default": obj({"backend": string(), "model": string()}, additional=True),
                "currency": string(),
            },
            required=["backends"],
            additional=True,
        ),
        "Every backend the admin configured, in order of preference: `kind` (`openai` for an "
        "OpenAI-compatible server, `ollama`, `local`), `base_url` (without credentials; none is "
        "ever sent), `reachable` (`null` before the first probe), `models` (each with its "
        "`backend` and whether it may be offered `tools`), and `default`: who answers a chat "
        "that names no backend. Sent on connect, when any of it changes, and in answer to "
        "`list_backends`.",
        {
            "type": "backend_status",
            "reply_to": "b1",
            "seq": 410,
            "ts": "2026-11-27T15:05:00.000Z",
            "data": {
                "backends": [
                    {
                        "name": "gpu",
                        "kind": "openai",
                        "base_url": "http://vllm.internal:8000/v1",
                        "reachable": True,
                        "default_model": "Qwen/Qwen2.5-7B-Instruct",
                        "tools": True,
                        "active": True,
                        "models": [
                            {"name": "Qwen/Qwen2.5-7B-Instruct", "backend": "gpu", "tools": True}
                        ],
                    },
                    {
                        "name": "local",
                        "kind": "local",
                        "reachable": True,
                        "default_model": "smollm2-135m-instruct.q4_1",
                        "tools": False,
                        "active": False,
                        "models": [
                            {
                                "name": "smollm2-135m-instruct.q4_1",
                                "backend": "local",
                                "tools": False,
                            }
                        ],
                    },
                ],
                "default": {"backend": "gpu", "model": "Qwen/Qwen2.5-7B-Instruct"},
                "currency": "USD",
            },
        },
        domain="ollama",
    ),
    MessageSpec(
        "backend_error",
        SERVER,
        obj(
            {
                "backend": string(),
                "kind": string(),
                "code": string(),
                "message": string(),
                "model": string(),
                "retry_after": number(),
                "fallback": string(description="the backend that answers instead"),
            },
            required=["backend", "code", "message"],
            additional=True,
        ),
        "A backend failure (any kind; Ollama's also come as `ollama_error`): `unreachable`, "
        "`timeout`, `model_not_found`, `bad_response`, `rate_limited` (with `retry_after` "
        "seconds when the server said), `auth_failed` (the admin's credential was refused), "
        "`server_error`, `stream_broken`, `bad_request`. Sent to the requester before its "
        "`error`; with `fallback` when another backend answers instead (never silently); "
        "broadcast when a reachable backend stops answering.",
        {
            "type": "backend_error",
            "reply_to": "m1",
            "seq": 411,
            "ts": "2026-11-27T15:05:02.000Z",
            "data": {
                "backend": "gpu",
                "kind": "openai",
                "code": "rate_limited",
                "message": "backend 'gpu' at http://vllm.internal:8000/v1 is rate limiting "
                "requests (HTTP 429)",
                "model": "Qwen/Qwen2.5-7B-Instruct",
                "retry_after": 2.0,
            },
        },
        domain="ollama",
    ),
]
