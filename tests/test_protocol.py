"""The pure protocol: catalog, validation, error codes, docs. No server, no socket."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from pygent_jupyter.protocol import CATALOG, ErrorCode, PygentError, decode, encode
from pygent_jupyter.protocol.catalog import ENVELOPE_SCHEMA, schema_document
from pygent_jupyter.protocol.docgen import render

ROOT = Path(__file__).resolve().parents[1]
SEED_EVENTS = [
    "connection_status",
    "connection_error",
    "connection_failed",
    "chat_response",
    "typing_indicator",
    "reasoning_update",
    "reasoning_complete",
    "evolution_progress",
    "evolution_complete",
    "system_metrics",
    "system_alert",
    "mcp_server_status",
    "mcp_server_health",
    "ollama_status",
    "ollama_model_update",
    "ollama_metrics",
    "ollama_error",
    "memory_update",
    "gpu_metrics",
    "tool_discovered",
    "tool_call_result",
]
CLIENT_COMMANDS = [
    "ping",
    "subscribe",
    "unsubscribe",
    "resume",
    "cancel",
    "chat_message",
    "get_history",
    "start_reasoning",
    "stop_reasoning",
    "start_evolution",
    "stop_evolution",
    "request_system_metrics",
    "mcp_server_action",
    "mcp_call_tool",
    "memory_add",
    "memory_search",
    "memory_delete",
    "ollama_list_models",
]


def test_catalog_has_every_architecture_type():
    for t in [*SEED_EVENTS, "pong", "error", "chat_stream", "chat_history"]:
        assert CATALOG[t].direction in ("server", "local"), t
    for t in CLIENT_COMMANDS:
        assert CATALOG[t].direction == "client", t


@pytest.mark.parametrize("type_", sorted(CATALOG))
def test_schema_is_valid_and_example_conforms(type_):
    spec = CATALOG[type_]
    Draft202012Validator.check_schema(spec.schema)
    assert spec.example["type"] == type_
    Draft202012Validator(spec.schema).validate(spec.example.get("data", {}))
    assert spec.description.strip()


@pytest.mark.parametrize("type_", sorted(t for t, s in CATALOG.items() if s.direction == "client"))
def test_client_examples_decode(type_):
    message = decode(json.dumps(CATALOG[type_].example))
    assert message.type == type_


def _code(frame):
    with pytest.raises(PygentError) as info:
        decode(frame)
    return info.value


def test_bad_json():
    assert _code("{not json").code is ErrorCode.BAD_JSON
    assert _code(b"\xff\xfe").code is ErrorCode.BAD_JSON


@pytest.mark.parametrize("frame", ["[]", "3", '"ping"', "null"])
def test_non_object_is_invalid(frame):
    assert _code(frame).code is ErrorCode.INVALID


def test_missing_and_wrong_typed_fields_are_named():
    err = _code('{"data": {}}')
    assert (err.code, err.field) == (ErrorCode.INVALID, "type")
    err = _code('{"type": "subscribe", "id": "x", "data": {"topics": "metrics"}}')
    assert (err.code, err.field, err.reply_to) == (ErrorCode.INVALID, "data.topics", "x")
    err = _code('{"type": "subscribe", "data": {}}')
    assert err.field == "data.topics"
    err = _code('{"type": "ping", "data": []}')
    assert err.field == "data"
    err = _code('{"type": "ping", "id": 5}')
    assert err.field == "id"


def test_unknown_fields_rejected_where_schema_forbids():
    err = _code('{"type": "ping", "data": {"bogus": 1}}')
    assert (err.code, err.field) == (ErrorCode.INVALID, "data.bogus")
    err = _code('{"type": "ping", "data": {}, "extra": 1}')
    assert (err.code, err.field) == (ErrorCode.INVALID, "extra")


def test_unknown_type_and_server_only_type():
    assert _code('{"type": "launch_missiles"}').code is ErrorCode.UNKNOWN_TYPE
    # a server event is not a command a client may send
    assert _code('{"type": "system_alert", "data": {}}').code is ErrorCode.UNKNOWN_TYPE


def test_deep_nesting_is_an_error_not_a_crash():
    assert _code("[" * 100_000 + "]" * 100_000).code is ErrorCode.BAD_JSON
    deep = '{"type": "ping", "data": {"ts": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    assert _code(deep).code is ErrorCode.BAD_JSON


def test_encode_has_seq_ts_and_reply_to():
    event = json.loads(encode("pong", {"server_ts": 1.0}, reply_to="a", seq=3))
    assert event["reply_to"] == "a" and event["seq"] == 3 and event["ts"].endswith("Z")
    Draft202012Validator(ENVELOPE_SCHEMA).validate(event)


def test_schema_document_serves_every_type():
    doc = schema_document()
    assert set(doc["messages"]) == set(CATALOG)
    json.dumps(doc)


def test_protocol_doc_is_current():
    committed = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/protocol.md is stale: run `python -m pygent_jupyter.protocol.docgen docs/protocol.md`"
    )
    for type_ in CATALOG:
        assert f"#### `{type_}`" in committed


def test_protocol_package_is_pure():
    """protocol/ imports nothing from tornado, asyncio or any networking library."""
    banned = {"tornado", "asyncio", "websockets", "socket", "jupyter_server", "aiohttp", "httpx"}
    for path in (ROOT / "pygent_jupyter" / "protocol").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in banned, f"{path.name} imports {name}"
