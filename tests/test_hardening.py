"""The server boundary under hostile input: strict values both ways, readiness, bounded replay,
linear-time patterns, shared resources that survive one user's bad input, operator clarity.

Pure cores are tested without a socket; the socket-level contracts on a real Jupyter Server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tornado.websocket
from _hub import RecordingTransport  # tests/_hub.py (tests/ is on sys.path)
from tornado.httpclient import HTTPClientError, HTTPRequest
from traitlets import HasTraits
from traitlets.config import Configurable

from pygent_jupyter import safe_regex
from pygent_jupyter.hub import Hub
from pygent_jupyter.protocol import PygentError, decode, encode
from pygent_jupyter.server.connections import Connection
from pygent_jupyter.services.base import Service
from pygent_jupyter.services.seams import wire
from pygent_jupyter.storage import Database, DatabaseUnusable

ROOT = Path(__file__).resolve().parent.parent


def strict_loads(frame: str) -> Any:
    """``json.loads`` that refuses NaN/Infinity as browsers' ``JSON.parse`` does."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(frame, parse_constant=refuse)


def refused(frame: str) -> PygentError:
    with pytest.raises(PygentError) as info:
        decode(frame)
    return info.value


# -- strict values in --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "field"),
    [
        ("NaN", "data.ts"),
        ("Infinity", "data.ts"),
        ("-Infinity", "data.ts"),
        ("1e400", "data.ts"),
    ],
)
def test_non_finite_numbers_are_invalid_naming_the_field(literal: str, field: str) -> None:
    error = refused(f'{{"type": "ping", "id": "n1", "data": {{"ts": {literal}}}}}')
    assert error.code.value == "invalid"
    assert error.field == field
    assert error.reply_to == "n1"


def test_lone_surrogates_are_invalid_in_values_and_keys() -> None:
    error = refused('{"type": "memory_search", "id": "s1", "data": {"query": "a\\ud800b"}}')
    assert (error.code.value, error.field, error.reply_to) == ("invalid", "data.query", "s1")
    assert "Unicode" in error.message
    error = refused('{"type": "memory_search", "id": "s2", "data": {"\\udc00": 1}}')
    assert (error.code.value, error.reply_to) == ("invalid", "s2")
    # a well-formed pair is fine
    message = decode('{"type": "memory_search", "data": {"query": "\\ud83d\\ude00"}}')
    assert message.data["query"] == "\U0001f600"


def test_integers_beyond_64_bits_are_invalid() -> None:
    error = refused(
        '{"type": "memory_delete", "id": "d1", "data": {"ids": [1, 99999999999999999999]}}'
    )
    assert (error.code.value, error.field) == ("invalid", "data.ids[1]")
    assert decode('{"type": "memory_delete", "data": {"ids": [9223372036854775807]}}')


def test_whole_number_floats_are_refused_in_integer_fields() -> None:
    """The documented rule: an ``integer`` field takes an integer literal; 3.0 is invalid."""
    error = refused('{"type": "memory_search", "id": "k1", "data": {"query": "q", "k": 3.0}}')
    assert (error.code.value, error.field, error.reply_to) == ("invalid", "data.k", "k1")
    assert decode('{"type": "memory_search", "data": {"query": "q", "k": 3}}').data["k"] == 3


def test_deep_nesting_is_invalid_not_a_crash() -> None:
    deep = "[" * 900 + "]" * 900
    error = refused(f'{{"type": "ping", "id": "d", "data": {{"ts": {deep}}}}}')
    assert error.code.value == "invalid" and error.reply_to == "d"


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "ping", "id": "e1", "bogus": 1}',
        '{"type": "no_such_type", "id": "e1"}',
        '{"type": 7, "id": "e1"}',
        '{"type": "ping", "id": "e1", "data": []}',
        '{"type": "ping", "id": "e1", "data": {"ts": "x"}}',
        '{"type": "pong", "id": "e1"}',
    ],
)
def test_envelope_errors_keep_reply_to_when_the_id_is_readable(frame: str) -> None:
    assert refused(frame).reply_to == "e1"


def test_unreadable_ids_give_no_reply_to() -> None:
    assert refused('{"type": "ping", "id": "\\ud800"}').reply_to is None
    assert refused('{"type": "ping", "id": 5}').reply_to is None


# -- strict values out -------------------------------------------------------------------


def test_encode_never_emits_nan_or_infinity() -> None:
    data = {
        "a": math.nan,
        "b": [math.inf, 1.5],
        "c": np.float32("nan"),
        "d": np.array([1.0, -np.inf]),
        "e": {"f": (math.inf,)},
    }
    event = strict_loads(encode("reasoning_update", data, seq=3))
    assert event["data"] == {
        "a": None,
        "b": [None, 1.5],
        "c": None,
        "d": [1.0, None],
        "e": {"f": [None]},
    }
    assert event["seq"] == 3


# -- linear-time patterns ----------------------------------------------------------------


def test_catastrophic_pattern_matches_in_linear_time() -> None:
    evil = "(a+)+$"
    text = "a" * 5000 + "!"
    started = time.perf_counter()
    assert safe_regex.compile(evil).search(text) is None
    assert time.perf_counter() - started < 0.5  # Python's re needs ~2^5000 steps here
    assert safe_regex.compile("ANSWER: 4\\d", ignore_case=True).search("answer: 42")
    with pytest.raises(re.error):
        safe_regex.compile("(?=look)ahead")  # RE2 has no lookaround: refused, not run
    assert safe_regex.compile("x").search("a\ud800x")  # lone surrogates in the text are fine


def test_evolution_regex_tasks_use_the_linear_engine() -> None:
    from pygent_jupyter.services.evolution.tasks import task_set_from_json

    tasks = task_set_from_json(
        {"tasks": [{"input": "q", "expected": "(a|aa)+$", "match": "regex"}]}
    )
    started = time.perf_counter()
    assert tasks.tasks[0].score("a" * 10000 + "b") == 0.0
    assert time.perf_counter() - started < 0.5
    with pytest.raises(ValueError, match="bad regex"):
        task_set_from_json({"tasks": [{"input": "q", "expected": "(\\w)\\1", "match": "regex"}]})


# -- hub: replay bounded in bytes, deltas not replayed, resync instead of 1008 -----------


def _peer(hub: Hub, user: str = "alice", **kwargs: Any) -> tuple[Connection, RecordingTransport]:
    transport = RecordingTransport()
    conn = Connection(transport, user, client_id="c1", **kwargs)
    hub.open(conn)
    return conn, transport


async def test_replay_ring_is_bounded_in_bytes_and_skips_token_deltas() -> None:
    hub = Hub(replay_size=1000, replay_bytes=200_000)
    blob = "x" * 50_000
    for i in range(20):
        hub.publish("alice", "memory_update", {"kind": "results", "blob": blob, "i": i})
    stats = hub.replay_stats()["alice"]
    assert stats["bytes"] <= 200_000 and stats["events"] == 3
    before = hub.replay_stats()["alice"]["events"]
    for i in range(100):
        hub.publish("alice", "chat_stream", {"message_id": "m", "delta": "tok ", "index": i})
    assert hub.replay_stats()["alice"]["events"] == before  # deltas never enter the ring


async def test_resume_that_cannot_fit_is_told_to_resync_not_closed() -> None:
    hub = Hub(replay_size=1000, replay_bytes=10_000_000)
    for i in range(10):
        hub.publish("alice", "memory_update", {"blob": "y" * 100_000, "i": i})
    conn, transport = _peer(hub, max_queue_bytes=300_000)
    hub.handle_frame(conn, json.dumps({"type": "resume", "id": "r1", "data": {"last_seq": 0}}))
    await asyncio.sleep(0)
    replies = [strict_loads(f) for f in transport.frames if '"reply_to":"r1"' in f]
    assert [r["data"]["code"] for r in replies] == ["resync"]
    assert replies[0]["data"]["details"]["last_seq"] >= 10
    assert transport.closed is None and not conn.closed


# -- hub: readiness ----------------------------------------------------------------------


class _SlowService(Service):
    name = "slow"

    def __init__(self, hub: Hub, gate: asyncio.Event, fail: bool = False) -> None:
        super().__init__(hub)
        self.gate = gate
        self.fail = fail
        self.ready_state: dict[str, Any] | None = None

    def commands(self) -> dict[str, Any]:
        return {"memory_stats": self.on_stats}

    async def start(self) -> None:
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("boom")
        self.ready_state = {"namespaces": 0}

    async def on_stats(self, request: Any) -> None:
        assert self.ready_state is not None  # the Hub never calls before start() returned
        request.reply("memory_update", {"kind": "stats", **self.ready_state})


def _events(transport: RecordingTransport) -> list[dict[str, Any]]:
    return [strict_loads(f) for f in transport.frames]


async def test_commands_wait_for_start_and_capabilities_follow() -> None:
    hub = Hub()
    gate = asyncio.Event()
    hub.register(_SlowService(hub, gate))
    starting = asyncio.ensure_future(hub.start())
    conn, transport = _peer(hub)
    assert _events(transport)[0]["data"]["capabilities"] == []
    hub.handle_frame(conn, json.dumps({"type": "memory_stats", "id": "q1", "data": {}}))
    await asyncio.sleep(0.05)
    assert not [e for e in _events(transport) if e.get("reply_to") == "q1"]
    gate.set()
    await starting
    await asyncio.sleep(0.01)
    events = _events(transport)
    caps = [e for e in events if e["type"] == "capabilities"]
    assert caps and caps[0]["data"] == {"capabilities": ["slow"], "service": "slow", "state": "up"}
    reply = [e for e in events if e.get("reply_to") == "q1"]
    assert [e["type"] for e in reply] == ["memory_update"]


async def test_a_service_that_never_starts_in_time_is_unavailable_with_retry_hint() -> None:
    hub = Hub(ready_timeout=0.1)
    gate = asyncio.Event()
    hub.register(_SlowService(hub, gate))
    starting = asyncio.ensure_future(hub.start())
    conn, transport = _peer(hub)
    hub.handle_frame(conn, json.dumps({"type": "memory_stats", "id": "q1", "data": {}}))
    await asyncio.sleep(0.3)
    error = next(e for e in _events(transport) if e.get("reply_to") == "q1")
    assert error["data"]["code"] == "unavailable"
    assert error["data"]["details"]["retry_after"] > 0
    gate.set()
    await starting


async def test_a_service_that_failed_to_start_is_unavailable_at_once() -> None:
    hub = Hub()
    gate = asyncio.Event()
    gate.set()
    hub.register(_SlowService(hub, gate, fail=True))
    await hub.start()
    conn, transport = _peer(hub)
    assert _events(transport)[0]["data"]["capabilities"] == []
    hub.handle_frame(conn, json.dumps({"type": "memory_stats", "id": "q1", "data": {}}))
    await asyncio.sleep(0.01)
    error = next(e for e in _events(transport) if e.get("reply_to") == "q1")
    assert error["data"]["code"] == "unavailable" and "failed to start" in error["data"]["message"]


# -- storage -----------------------------------------------------------------------------


def test_corrupt_database_names_the_file_and_the_remedy(tmp_path: Path) -> None:
    path = tmp_path / "pygent.db"
    path.write_bytes(b"this is not a database" * 200)
    with pytest.raises(DatabaseUnusable) as info:
        Database(path)
    message = str(info.value)
    assert str(path) in message and "move it aside" in message and "db_path" in message


# -- MCP: a malformed call fails alone ---------------------------------------------------


def test_mcp_arguments_are_checked_before_they_reach_the_session() -> None:
    from pygent_jupyter.services.mcp.manager import ToolInfo

    tool = ToolInfo(
        "echo",
        "",
        {
            "type": "object",
            "properties": {"text": {"type": "string", "pattern": "^(a+)+$"}},
        },
    )
    for arguments, field in [
        ({"text": "a\ud800"}, "data.arguments.text"),
        ({"x": {"y": math.nan}}, "data.arguments.x.y"),
        ({"deep": json.loads("[" * 200 + "]" * 200)}, None),
    ]:
        with pytest.raises(PygentError) as info:
            tool.validate(arguments)
        assert info.value.code.value == "invalid"
        if field:
            assert info.value.field == field
    started = time.perf_counter()
    with pytest.raises(PygentError):
        tool.validate({"text": "a" * 3000 + "!"})  # RE2: no backtracking
    assert time.perf_counter() - started < 0.5


# -- embedder: configured timeout, garbage is a clean error ------------------------------


async def _http_server(handler: Any) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(re.search(rb"content-length: *(\d+)", head.lower()).group(1))  # type: ignore[union-attr]
    await reader.readexactly(length)


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b'{"embeddings": "nope"}',
        b'{"embeddings": [[1, 2], [3]]}',
        b'{"embeddings": [[NaN, 1.0]]}',
        b'{"embeddings": []}',
        b"[1, 2, 3]",
    ],
)
async def test_ollama_embedder_maps_garbage_to_unavailable(body: bytes) -> None:
    from pygent_jupyter.services.memory.embedders import OllamaEmbedder

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server, host = await _http_server(garbage)
    try:
        with pytest.raises(PygentError) as info:
            await OllamaEmbedder(host, "m", timeout=5).embed(["hello"])
        assert info.value.code.value == "unavailable"
    finally:
        server.close()


async def test_ollama_embedder_honours_the_configured_timeout_on_a_trickling_server() -> None:
    from pygent_jupyter.services.memory.embedders import OllamaEmbedder

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
        try:
            for _ in range(100):  # a byte every 0.1 s: never idle long enough for a read timeout
                writer.write(b"x-pad: 1\r\n")
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, OSError):
            pass

    handlers: list[asyncio.Task[Any]] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        await trickle(reader, writer)

    server, host = await _http_server(tracked)
    try:
        started = time.perf_counter()
        with pytest.raises(PygentError) as info:
            await OllamaEmbedder(host, "m", timeout=0.6).embed(["hello"])
        assert info.value.code.value == "timeout"
        assert time.perf_counter() - started < 3
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def test_memory_embedder_timeouts_follow_the_ollama_provider_setting() -> None:
    from traitlets.config import Config

    from pygent_jupyter.services.memory.service import MemoryService

    config = Config()
    config.OllamaProvider.read_timeout = 7.5
    service = MemoryService(hub=Hub(), config=config)
    assert service.ollama_read_timeout == 7.5
    config.MemoryService.ollama_read_timeout = 2.0
    assert MemoryService(hub=Hub(), config=config).ollama_read_timeout == 2.0


# -- docs name real settings -------------------------------------------------------------


def _configurables() -> dict[str, type[HasTraits]]:
    import importlib
    import pkgutil

    import jupyter_server.serverapp  # noqa: F401  (ServerApp and the classes it configures)

    import pygent_jupyter

    for info in pkgutil.walk_packages(pygent_jupyter.__path__, "pygent_jupyter."):
        if ".testing" in info.name or info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:
            continue  # an optional extra that is not installed
    for module in ("IPython.core.shellapp", "jupyterhub.spawner"):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
    found: dict[str, type[HasTraits]] = {}
    todo: list[type] = [Configurable]
    while todo:
        cls = todo.pop()
        found.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return found


_NOT_INSTALLED = {"Spawner"}  # JupyterHub's, checked only where jupyterhub is installed


def test_every_setting_named_in_the_docs_is_a_real_trait() -> None:
    classes = _configurables()
    pattern = re.compile(r"\bc\.([A-Z][A-Za-z0-9_]*)\.([a-z_][A-Za-z0-9_]*)")
    files = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    wrong = []
    checked = 0
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for cls_name, trait in pattern.findall(line):
                checked += 1
                cls = classes.get(cls_name)
                if cls is None and cls_name in _NOT_INSTALLED:
                    continue  # documented for a package this environment lacks (JupyterHub)
                if cls is None or trait not in cls.class_traits(config=True):
                    wrong.append(f"{path.name}:{number}: c.{cls_name}.{trait}")
    assert checked > 50
    assert not wrong, "settings that do not exist:\n" + "\n".join(wrong)


# -- on a real server --------------------------------------------------------------------


@pytest.fixture
def pygent_config() -> dict[str, Any]:
    """The socket-level checks need the Hub, not the heavy services."""
    return {
        "PygentJupyter": {"services": ["pygent_jupyter.services.metrics.service:MetricsService"]}
    }


async def test_undecodable_client_id_closes_cleanly_with_4400(
    pygent_app: Any,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
) -> None:
    for query in ("?client_id=%ff%fe", "?client_id=" + "x" * 200, "?client_id=%0a"):
        url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}pygent/ws{query}"
        conn = await tornado.websocket.websocket_connect(HTTPRequest(url, headers=jp_auth_header))
        assert await asyncio.wait_for(conn.read_message(), 5) is None
        assert conn.close_code == 4400


async def test_refused_upgrades_log_no_traceback(
    pygent_app: Any,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}pygent/ws"
    caplog.set_level(logging.DEBUG)
    for headers in ({}, {"X-Pygent-Token": "wrong"}, {"Authorization": "token nope"}):
        with pytest.raises(HTTPClientError):
            await tornado.websocket.websocket_connect(HTTPRequest(url, headers=headers))
    tracebacks = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


async def test_strict_frames_over_the_socket(ws_client: Any) -> None:
    client = await ws_client()
    await client.send_raw('{"type": "ping", "id": "p1", "data": {"ts": NaN}}')
    event = await client.recv("error")
    assert event["reply_to"] == "p1" and event["data"]["code"] == "invalid"
    await client.send_raw('{"type": "memory_search", "id": "p2", "data": {"query": "\\udfff"}}')
    event = await client.recv("error")
    assert event["reply_to"] == "p2" and event["data"]["field"] == "data.query"
    pong = await client.request("ping", {"ts": 1.5})
    assert pong["data"]["ts"] == 1.5


class TestReplayMemoryUnderLoad:
    """150 replies of ~1 MB each to a client that left: the server keeps at most
    ``replay_buffer_bytes`` of them, and the client's resume is answered, never closed."""

    @pytest.fixture
    def pygent_config(self) -> dict[str, Any]:
        return {
            "PygentJupyter": {
                "services": ["pygent_jupyter.services.metrics.service:MetricsService"],
                "replay_buffer_bytes": 2 * 1024 * 1024,
                "max_queue_bytes": 4 * 1024 * 1024,
            }
        }

    async def test_large_replies_stay_bounded_and_resume_resyncs(
        self, ws_client: Any, pygent_app: Any
    ) -> None:
        import gc
        import tracemalloc

        hub = pygent_app.hub
        client = await ws_client(query="?client_id=big", greet=False)
        status = await client.recv("connection_status")
        user, first_seq = status["data"]["user"], status["data"]["last_seq"]
        await client.close()
        await asyncio.sleep(0.05)
        blob = "z" * 1_000_000
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(150):
                hub.publish(
                    user,
                    "memory_update",
                    {"kind": "results", "blob": blob, "i": i},
                    client_id="big",
                )
                await asyncio.sleep(0)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        stats = hub.replay_stats()[user]
        assert stats["bytes"] <= 2 * 1024 * 1024
        assert hub.health()["replay"]["bytes"] <= 2 * 1024 * 1024  # what operators see
        assert held < 4 * 1024 * 1024, f"{held / 2**20:.1f} MiB held after 150 MB of replies"

        again = await ws_client(query="?client_id=big")
        await again.send("resume", {"last_seq": first_seq}, id="r1")
        error = await again.recv("error")
        assert error["reply_to"] == "r1" and error["data"]["code"] == "resync"
        # the newest events still fit: resuming from just before them replays them
        await again.send("resume", {"last_seq": stats["seq"] - 1}, id="r2")
        replayed = await again.recv("memory_update")
        assert replayed["data"]["i"] == 149
        resumed = await again.recv("resumed")
        assert resumed["data"]["replayed"] == 1
        assert (await again.request("ping", {}))["type"] == "pong"


# -- per-user memory quotas --------------------------------------------------------------


async def test_memory_quota_refuses_adds_beyond_items_and_bytes(tmp_path: Path) -> None:
    from pygent_jupyter.services.memory.service import MemoryService

    db = Database(tmp_path / "hub.db")
    hub = Hub()
    hub.register(
        MemoryService(hub=hub, embedder="local", max_items_per_user=3, max_bytes_per_user=2000)
    )
    wire(hub.services.values(), db)
    await hub.start()
    try:
        conn, transport = _peer(hub)

        async def ask(msg_id: str, type_: str, data: dict[str, Any]) -> dict[str, Any]:
            hub.handle_frame(conn, json.dumps({"type": type_, "id": msg_id, "data": data}))
            for _ in range(600):
                for event in _events(transport):
                    if event.get("reply_to") == msg_id:
                        return event
                await asyncio.sleep(0.05)
            raise TimeoutError(msg_id)

        added = await ask("a1", "memory_add", {"items": [{"text": "one"}, {"text": "two"}]})
        assert added["type"] == "memory_update", added
        over = await ask("a2", "memory_add", {"items": [{"text": "three"}, {"text": "four"}]})
        assert over["data"]["code"] == "forbidden"
        assert over["data"]["details"] == {"quota": "items", "limit": 3, "used": 2, "requested": 2}
        assert "memory_delete" in over["data"]["message"]
        big = await ask("a3", "memory_add", {"items": [{"text": "x" * 2500}]})
        assert big["data"]["code"] == "forbidden" and big["data"]["details"]["quota"] == "bytes"
        ids = added["data"]["ids"]
        deleted = await ask("d1", "memory_delete", {"ids": ids})
        assert deleted["type"] == "memory_update"
        again = await ask("a4", "memory_add", {"items": [{"text": "three"}, {"text": "four"}]})
        assert again["type"] == "memory_update", again  # room again after a delete
    finally:
        await hub.stop()
        db.close()


class TestCorruptDatabase:
    """A damaged database file: one ERROR naming it, no traceback, the socket still answers."""

    @pytest.fixture
    def pygent_config(self, tmp_path: Path) -> dict[str, Any]:
        broken = tmp_path / "broken.db"
        broken.write_bytes(b"\x00garbage, not SQLite" * 500)
        return {"PygentJupyter": {"db_path": str(broken)}}

    async def test_operator_sees_the_file_and_clients_see_unavailable(
        self, capfd: pytest.CaptureFixture[str], ws_client: Any, pygent_app: Any, jp_fetch: Any
    ) -> None:
        client = await ws_client(greet=False)
        status = await client.recv("connection_status")
        assert status["data"]["capabilities"] == []
        await client.send("memory_stats", {}, id="m1")
        error = await client.recv("error")
        assert error["reply_to"] == "m1" and error["data"]["code"] == "unavailable"
        health = json.loads((await jp_fetch("pygent", "api", "health")).body)
        assert health["unavailable"]
        assert all("database" in why for why in health["unavailable"].values())
        log = capfd.readouterr().err  # the server's log, from its start (capfd is set up first)
        lines = [line for line in log.splitlines() if "cannot be used" in line]
        assert len(lines) == 1 and lines[0].startswith("[E ")
        assert pygent_app.db_path in lines[0] and "move it aside" in lines[0]
        assert "Traceback" not in log
