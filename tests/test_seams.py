"""Typed seams between services: wiring, absent seams, the hub as publisher, and the rule
that services never reach connections or each other by name."""

from __future__ import annotations

import ast
import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from _hub import RecordingTransport  # tests/_hub.py (tests/ is on sys.path)

import pygent_jupyter.services as services_pkg
from pygent_jupyter.aio import run_sync
from pygent_jupyter.hub import Hub
from pygent_jupyter.protocol import ErrorCode, PygentError
from pygent_jupyter.server.connections import Connection
from pygent_jupyter.services.agents import AgentsService
from pygent_jupyter.services.evolution.service import EvolutionService
from pygent_jupyter.services.mcp import MCPService
from pygent_jupyter.services.memory.access import NamespaceAccess, private_namespace
from pygent_jupyter.services.memory.service import MemoryService
from pygent_jupyter.services.metrics.service import MetricsService
from pygent_jupyter.services.notebook import NotebookService
from pygent_jupyter.services.ollama import OllamaService
from pygent_jupyter.services.reasoning.service import ReasoningService
from pygent_jupyter.services.seams import Seams, require, wire
from pygent_jupyter.storage import Database


def _peer(
    hub: Hub,
    user: str,
    client_id: str,
    topics: set[str] = frozenset(),
    **kwargs: Any,  # type: ignore[assignment]
) -> tuple[Connection, RecordingTransport]:
    transport = RecordingTransport()
    conn = Connection(transport, user, client_id=client_id, **kwargs)
    hub.open(conn)
    conn.topics |= set(topics)
    return conn, transport


async def _flushed() -> None:
    """Let the connections write what they coalesced in this loop turn."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_wire_hands_every_service_the_database_and_the_seams_the_others_offer(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "pygent.db")
    hub = Hub()
    built = [
        cls(hub)
        for cls in (
            MetricsService,
            MemoryService,
            AgentsService,
            ReasoningService,
            EvolutionService,
            OllamaService,
            MCPService,
            NotebookService,
        )
    ]
    for service in built:
        hub.register(service)
    metrics, memory, agents, reasoning, evolution, ollama, mcp, notebook = built
    seams = wire(built, db)
    try:
        assert seams == Seams(
            models=agents,  # type: ignore[arg-type]
            agent_types=agents,  # type: ignore[arg-type]
            chat_hooks=agents,  # type: ignore[arg-type]
            backends=agents,  # type: ignore[arg-type]
            monitor=ollama,  # type: ignore[arg-type]
            gpu_memory=memory,  # type: ignore[arg-type]
        )
        assert all(service.db is db for service in built)
        assert reasoning.models is agents and evolution.agent_types is agents  # type: ignore[attr-defined]
        assert memory._hooks is agents and mcp._hooks is agents  # type: ignore[attr-defined]
        assert notebook._agent_types is agents  # type: ignore[attr-defined]
        assert metrics._gpu_memory is memory and agents._monitor is ollama  # type: ignore[attr-defined]
        assert ollama.agents is agents  # type: ignore[attr-defined]
    finally:
        db.close()


def test_two_services_offering_the_same_seam_are_refused() -> None:
    hub = Hub()
    with pytest.raises(ValueError, match="both the memory and the memory service offer"):
        wire([MemoryService(hub), MemoryService(hub)], None)


def test_an_absent_seam_is_unavailable_not_an_attribute_error() -> None:
    with pytest.raises(PygentError, match=r"a language model .* is not available") as info:
        require(None, "a language model (the agents service)")
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert require(3, "three") == 3


async def test_a_command_whose_seam_is_absent_answers_unavailable(tmp_path: Path) -> None:
    """Evolution without the agents service: no model source, so ``unavailable``."""
    db = Database(tmp_path / "pygent.db")
    hub = Hub()
    hub.register(EvolutionService(hub))
    wire(hub.services.values(), db)
    await hub.start()
    try:
        conn, transport = _peer(hub, "alice", "c1")
        task_set = {"name": "t", "tasks": [{"input": "1+1?", "expected": "2"}]}
        frame = {"type": "start_evolution", "id": "e1", "data": {"task_set": task_set}}
        hub.handle_frame(conn, json.dumps(frame))
        for _ in range(100):
            replies = [e for e in transport.events() if e.get("reply_to") == "e1"]
            if replies:
                break
            await asyncio.sleep(0.02)
        assert replies[0]["type"] == "error"
        assert replies[0]["data"]["code"] == "unavailable"
        assert "no LLM backend" in replies[0]["data"]["message"]
    finally:
        await hub.stop()
        db.close()


async def test_the_hub_reaches_a_users_subscribers_of_a_topic_and_no_one_else() -> None:
    hub = Hub()
    _asker, asker = _peer(hub, "alice", "c1", {"ollama"})
    _tab, tab = _peer(hub, "alice", "c2", {"ollama"})
    _quiet, quiet = _peer(hub, "alice", "c3")
    _bob, bob = _peer(hub, "bob", "b1", {"ollama"})
    await _flushed()
    for transport in (asker, tab, quiet, bob):
        transport.frames.clear()  # the greetings
    sent = hub.publish_user_topic(
        "alice", "ollama", "ollama_metrics", {"tokens_per_s": 1.0}, except_client="c1"
    )
    assert sent == 1
    await _flushed()
    assert [e["type"] for e in tab.events()] == ["ollama_metrics"]
    assert asker.events() == [] and quiet.events() == [] and bob.events() == []


async def test_the_hub_checks_a_permission_through_the_users_connection() -> None:
    async def deny_mcp(action: str, resource: str) -> bool:
        return resource != "pygent:mcp:call"

    hub = Hub()
    _peer(hub, "alice", "c1", authorize=deny_mcp)
    _peer(hub, "bob", "b1")
    assert await hub.allowed("alice", "execute", "pygent:mcp:call") is False
    assert await hub.allowed("alice", "read", "contents") is True
    assert await hub.allowed("bob", "execute", "pygent:mcp:call") is True
    assert await hub.allowed("carol", "execute", "pygent:mcp:call") is False  # not connected


def test_services_reach_clients_and_each_other_only_through_seams() -> None:
    """No service module imports connections, reads ``.connections``/``.topics``, looks a
    service up by name (``.service(...)``), reads ``hub.db`` or probes the hub with getattr."""
    root = Path(services_pkg.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(
                "server.connections"
            ):
                found.append(f"{where} imports server.connections")
            if isinstance(node, ast.Attribute) and node.attr in ("connections", "topics"):
                found.append(f"{where} reads .{node.attr}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("service", "db")
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "hub"
            ):
                found.append(f"{where} reads hub.{node.attr}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and node.args
                and "hub" in ast.unparse(node.args[0])
            ):
                found.append(f"{where} probes the hub with {node.func.id}")
    assert found == []


def test_namespace_access_rules() -> None:
    access = NamespaceAccess(
        {"team": {"read": ["*"], "write": ["alice"]}, "ops": {"read": ["bob"], "write": []}}
    )
    assert access.resolve("alice", None, "write") == private_namespace("alice") == "user:alice"
    assert access.resolve("alice", "user:alice", "read") == "user:alice"
    assert access.resolve("bob", "team", "read") == "team"
    assert access.resolve("alice", "team", "write") == "team"
    for user, namespace, action, code in [
        ("alice", "user:bob", "read", ErrorCode.FORBIDDEN),
        ("bob", "team", "write", ErrorCode.FORBIDDEN),
        ("alice", "ops", "read", ErrorCode.FORBIDDEN),
        ("alice", "nowhere", "read", ErrorCode.NOT_FOUND),
    ]:
        with pytest.raises(PygentError) as info:
            access.resolve(user, namespace, action)
        assert info.value.code is code and info.value.field == "namespace"
    assert access.readable("bob") == ["user:bob", "team", "ops"]
    assert access.writable("bob") == ["user:bob"]
    with pytest.raises(ValueError, match="must not start with 'user:'"):
        NamespaceAccess({"user:eve": {"read": ["*"]}})


async def test_run_sync_runs_a_coroutine_from_inside_a_running_loop() -> None:
    async def answer() -> str:
        await asyncio.sleep(0)
        return threading.current_thread().name

    assert run_sync(answer(), thread_name="pygent-test") == "pygent-test"

    async def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_sync(fail())


def test_run_sync_without_a_loop_is_asyncio_run() -> None:
    async def answer() -> str:
        return threading.current_thread().name

    assert run_sync(answer()) == threading.current_thread().name
