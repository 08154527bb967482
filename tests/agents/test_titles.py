"""Model-written conversation titles: asked in the background after the first exchange,
cleaned and bounded, never over a rename, the first words when the model cannot."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from pygent_jupyter.hub import Hub
from pygent_jupyter.services.agents import AgentsService
from pygent_jupyter.services.agents.titles import clean_title
from pygent_jupyter.services.seams import wire
from pygent_jupyter.storage import Database
from pygent_jupyter.testing import OllamaTestServer
from pygent_jupyter.testing.ollama_server import Reply

from .conftest import Peer


def test_clean_title() -> None:
    assert clean_title('**Title:** "Reversing strings in Python."\nmore') == (
        "Reversing strings in Python"
    )
    assert clean_title("one two three four five six seven eight nine ten") == (
        "one two three four five six seven eight"
    )
    assert clean_title("  \n ") is None
    assert clean_title('""') is None
    assert len(clean_title("x" * 500) or "") == 60


@pytest.fixture
def titled_hub(
    tmp_path: Any, ollama_server: OllamaTestServer, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[Hub]:
    from traitlets.config import Config

    db = Database(tmp_path / "pygent.db")
    hub = Hub()
    config = Config()
    config.OllamaProvider.host = ollama_server.host
    config.OllamaProvider.model = "llama3.2"
    config.AgentsService.backend = "ollama"
    config.AgentsService.auto_titles = True
    hub.register(AgentsService(hub, config=config))
    wire(hub.services.values(), db)
    jp_asyncio_loop.run_until_complete(hub.start())
    yield hub
    jp_asyncio_loop.run_until_complete(hub.stop())
    db.close()


def _model(title: str) -> Any:
    def answer(body: dict[str, Any]) -> Reply:
        if "prompt" in body:  # /api/generate: the title request
            assert "Question: How do I reverse a string?" in body["prompt"]
            return Reply(title)
        return Reply("Use s[::-1].")

    return answer


async def _titled(peer: Peer, timeout: float = 5.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for e in peer.events:
            if e["type"] == "chat_history" and e["data"].get("titled"):
                return dict(e["data"])
        await asyncio.sleep(0.01)
    raise TimeoutError("no titled chat_history")


async def test_the_model_titles_a_new_conversation(titled_hub, ollama_server):
    ollama_server.responder = _model("Title: Reversing strings.")
    alice = Peer(titled_hub, "alice")
    replies = await alice.exchange(
        "chat_message", {"message": {"content": "How do I reverse a string?"}}, "chat_response"
    )
    conv = replies[-1]["data"]["conversation_id"]
    pushed = await _titled(alice)
    assert pushed["titled"] == conv
    assert pushed["conversations"][0]["title"] == "Reversing strings"
    listed = (await alice.exchange("get_history", {}, "chat_history"))[-1]["data"]
    assert listed["conversations"][0]["title"] == "Reversing strings"
    # a second exchange asks for no new title
    await alice.exchange(
        "chat_message",
        {"message": {"content": "And a list?"}, "conversation_id": conv},
        "chat_response",
    )
    await asyncio.sleep(0.2)
    assert sum(1 for e in alice.events if e["data"].get("titled")) == 1


async def test_an_unusable_title_keeps_the_first_words(titled_hub, ollama_server):
    ollama_server.responder = _model('""')
    alice = Peer(titled_hub, "alice")
    await alice.exchange(
        "chat_message", {"message": {"content": "How do I reverse a string?"}}, "chat_response"
    )
    await asyncio.sleep(0.3)
    assert not [e for e in alice.events if e["data"].get("titled")]
    listed = (await alice.exchange("get_history", {}, "chat_history"))[-1]["data"]
    assert listed["conversations"][0]["title"] == "How do I reverse a string?"
