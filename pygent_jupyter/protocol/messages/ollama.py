"""Ollama status, models and throughput (also reported for the embedded backend)."""

from __future__ import annotations

from ..spec import CLIENT, SERVER, MessageSpec, obj, string

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
        obj({}, additional=True),
        "Whether Ollama is reachable, its host, version and running models; on connect and on "
        "change.",
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
            },
        },
        domain="ollama",
    ),
    MessageSpec(
        "ollama_model_update",
        SERVER,
        obj({}, additional=True),
        "The model list (on change and in answer to `ollama_list_models`).",
        {
            "type": "ollama_model_update",
            "reply_to": "o1",
            "seq": 401,
            "ts": "2026-11-27T15:05:00.000Z",
            "data": {"backend": "local", "models": [{"name": "smollm2-135m-instruct"}]},
        },
        domain="ollama",
    ),
    MessageSpec(
        "ollama_metrics",
        SERVER,
        obj({}, additional=True),
        "Throughput of the last response: eval count and duration, tokens/s, load and prompt "
        "eval time.",
        {
            "type": "ollama_metrics",
            "seq": 402,
            "ts": "2026-11-27T15:05:01.000Z",
            "data": {
                "backend": "local",
                "model": "smollm2-135m-instruct",
                "eval_count": 40,
                "eval_duration_ms": 800.0,
                "tokens_per_s": 50.0,
            },
        },
        domain="ollama",
    ),
    MessageSpec(
        "ollama_error",
        SERVER,
        obj({"code": string(), "message": string()}, required=["code", "message"], additional=True),
        "An Ollama failure: `unreachable`, `model_not_found`, `server_error`, `stream_broken`.",
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
]
