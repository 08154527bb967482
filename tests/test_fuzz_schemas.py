"""Property-based fuzzing of every client message, generated from the catalog's JSON Schemas.

For each client type, Hypothesis draws valid-but-extreme instances of its ``data`` schema
(``hypothesis-jsonschema``) and hostile variants (one field replaced by NaN, Infinity,
``1e400``, a lone surrogate, an integer beyond 64 bits, ``3.0``, deep nesting, a wrong type, a
huge string), sends them to a real Jupyter Server hosting every service (models and embeddings
answered by the Ollama-API test server), and asserts:

- no reply is ever ``internal``;
- every frame the server sends parses with a strict JSON parser (no NaN/Infinity);
- the connection survives and ``ping`` is still answered, on it and on a fresh one.

Bounded: ``PYGENT_FUZZ_EXAMPLES`` examples per type (default 10); long-running commands are
stopped or cancelled after their first reply.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from pygent_jupyter.protocol import CATALOG, client_types
from pygent_jupyter.testing.ollama_server import OllamaTestServer

EXAMPLES = int(os.environ.get("PYGENT_FUZZ_EXAMPLES", "10"))
REPLY_TIMEOUT = 10.0
_OVERFLOW = "__pygent_overflow__"  # replaced by the literal 1e400 in the frame text

HOSTILE: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    _OVERFLOW,
    "\ud800",
    "ok\udfffok",
    {"\udc00": 1},
    2**64,
    -(2**70),
    3.0,
    0.5,
    json.loads("[" * 120 + "]" * 120),
    None,
    True,
    "",
    [],
    {},
    "x" * 200_000,
    -1,
    2**63 - 1,
    {"nested": {"deeper": [1, "two", None]}},
]


def _strict(frame: str) -> dict[str, Any]:
    def refuse(name: str) -> Any:
        raise ValueError(f"server sent the non-standard JSON constant {name}")

    event = json.loads(frame, parse_constant=refuse)
    assert isinstance(event, dict)
    return event


def _positions(data: Any, schema: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(container, key) pairs where a hostile value can go: every existing slot, plus every
    property the root schema names."""
    slots: list[tuple[Any, Any]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                slots.append((node, key))
                stack.append(value)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                slots.append((node, i))
                stack.append(value)
    if isinstance(data, dict):
        slots.extend((data, name) for name in schema.get("properties", {}) if name not in data)
    return slots


def _hostile_case(schema: dict[str, Any], valid: st.SearchStrategy[Any]) -> Any:
    @st.composite
    def build(draw: Any) -> tuple[str, Any]:
        data = draw(valid)
        slots = _positions(data, schema)
        value = draw(st.sampled_from(HOSTILE))
        if slots:
            container, key = draw(st.sampled_from(slots))
            container[key] = value
        else:
            data = {"unexpected": value}
        return "hostile", data

    return build()


def _strategy(type_: str) -> st.SearchStrategy[Any]:
    spec = CATALOG[type_]
    try:
        valid = from_schema(spec.schema)
    except Exception:  # a schema the generator cannot handle: the documented example
        valid = st.just(spec.example.get("data", {}))
    return st.one_of(
        valid.map(lambda d: ("valid", d)),
        _hostile_case(spec.schema, valid),
    )


def _frame(type_: str, msg_id: str, data: Any) -> str:
    text = json.dumps({"type": type_, "id": msg_id, "data": data}, allow_nan=True)
    return text.replace(f'"{_OVERFLOW}"', "1e400")


class _Fuzzer:
    """One socket, a reader that parses every frame strictly, and a request/first-reply step."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []
        self.bad_frames: list[str] = []
        self.closed = False
        self.sent: dict[str, str] = {}  # id -> the frame sent with it (for failure reports)
        self._n = 0
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            frame = await self.conn.read_message()
            if frame is None:
                self.closed = True
                return
            try:
                self.events.append(_strict(frame))
            except (ValueError, AssertionError) as exc:
                self.bad_frames.append(f"{exc}: {frame[:200]}")

    def _next_id(self) -> str:
        self._n += 1
        return f"f{self._n}"

    async def first_reply(self, msg_id: str, timeout: float) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline and not self.closed:
            for event in self.events:
                if event.get("reply_to") == msg_id:
                    return event
            await asyncio.sleep(0.005)
        return None

    async def exchange(self, type_: str, data: Any) -> tuple[str, dict[str, Any] | None]:
        msg_id = self._next_id()
        frame = _frame(type_, msg_id, data)
        self.sent[msg_id] = frame[:300]
        await self.conn.write_message(frame)
        reply = await self.first_reply(msg_id, REPLY_TIMEOUT)
        run_id = (reply or {}).get("data", {}).get("run_id")
        stop = "stop_" + type_.removeprefix("start_")
        if type_.startswith("start_") and stop in CATALOG and isinstance(run_id, str):
            await self.conn.write_message(
                json.dumps({"type": stop, "id": self._next_id(), "data": {"run_id": run_id}})
            )
        if type_ not in ("ping", "cancel", "resume", "subscribe", "unsubscribe"):
            await self.conn.write_message(
                json.dumps(
                    {"type": "cancel", "id": self._next_id(), "data": {"request_id": msg_id}}
                )
            )
        return msg_id, reply

    async def ping(self) -> dict[str, Any] | None:
        msg_id = self._next_id()
        await self.conn.write_message(json.dumps({"type": "ping", "id": msg_id, "data": {}}))
        return await self.first_reply(msg_id, 5.0)

    def internal_errors(self, msg_id: str | None = None) -> list[str]:
        """The frames (as sent) that were answered ``internal`` (only ``msg_id``'s if given)."""
        return [
            self.sent.get(str(e.get("reply_to")), f"(no reply_to) {e}")
            for e in self.events
            if e["type"] == "error"
            and e["data"].get("code") == "internal"
            and (msg_id is None or e.get("reply_to") == msg_id)
        ]


@pytest.fixture
def ollama_server(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[OllamaTestServer]:
    server = OllamaTestServer(models=["llama3.2:latest", "all-minilm:latest"])
    jp_asyncio_loop.run_until_complete(server.start())
    yield server
    jp_asyncio_loop.run_until_complete(server.stop())


@pytest.fixture
def pygent_config(ollama_server: OllamaTestServer) -> dict[str, Any]:
    """Every service, with chat, reasoning, evolution and embeddings on the test server."""
    return {
        "OllamaProvider": {"host": ollama_server.host, "model": "llama3.2", "read_timeout": 5},
        "AgentsService": {"backend": "ollama"},
        "OllamaService": {"interval": 1.0},
        "MemoryService": {
            "embedder": "ollama",
            "ollama_host": ollama_server.host,
            "ollama_model": "all-minilm",
            "ollama_read_timeout": 5,
        },
    }


def test_every_client_message_survives_schema_fuzzing(
    ws_client: Any, pygent_app: Any, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> None:
    loop = jp_asyncio_loop
    client = loop.run_until_complete(ws_client())
    fuzzer = _Fuzzer(client.conn)
    unanswered: dict[str, int] = {}
    sent: dict[str, int] = {}

    def fuzzer_for(type_: str) -> Any:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(_strategy(type_))
        def fuzz(case: tuple[str, Any]) -> None:
            _, data = case
            msg_id, reply = loop.run_until_complete(fuzzer.exchange(type_, data))
            sent[type_] = sent.get(type_, 0) + 1
            if reply is None:
                unanswered[type_] = unanswered.get(type_, 0) + 1
            assert not fuzzer.closed, f"the server closed the socket after {type_}"
            assert not fuzzer.internal_errors(msg_id), fuzzer.internal_errors(msg_id)
            assert not fuzzer.bad_frames, fuzzer.bad_frames

        return fuzz

    for type_ in client_types():
        fuzzer_for(type_)()

    assert loop.run_until_complete(fuzzer.ping()) is not None, "ping unanswered after fuzzing"
    loop.run_until_complete(asyncio.sleep(0.5))  # late events of cancelled work
    assert not fuzzer.internal_errors(), fuzzer.internal_errors()
    assert not fuzzer.bad_frames, fuzzer.bad_frames
    assert not fuzzer.closed
    fresh = loop.run_until_complete(ws_client())
    assert loop.run_until_complete(fresh.request("ping", {}))["type"] == "pong"
    assert set(sent) == set(client_types())
    # a command may stay silent until cancelled (a chat waiting on its model), but not most
    assert sum(unanswered.values()) <= sum(sent.values()) // 4, unanswered
    codes: dict[str, int] = {}
    for event in fuzzer.events:
        if event["type"] == "error":
            codes[event["data"]["code"]] = codes.get(event["data"]["code"], 0) + 1
    print(f"fuzzed {sum(sent.values())} frames; error codes {codes}; unanswered {unanswered}")
    fuzzer._reader.cancel()
