"""A new conversation's first turn is committed while the model starts, and the client sees
nothing before it is durable (``Request.hold_replies``)."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from .conftest import Peer


def _chat_calls(ollama_server: Any) -> int:
    return sum(1 for _method, path, _body in ollama_server.requests if path == "/api/chat")


async def _model_asked(ollama_server: Any) -> None:
    """Wait (up to 5 s) until the model got its first chat request."""
    for _ in range(500):
        if _chat_calls(ollama_server):
            return
        await asyncio.sleep(0.01)


@pytest.fixture
def slow_commit(hub_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``add_user_message`` waits for ``gate`` (a slow disk), then fails if ``fail`` is set."""
    _hub, service = hub_env
    store = service._store()
    original = store.add_user_message
    state: dict[str, Any] = {"gate": asyncio.Event(), "fail": None}

    async def add_user_message(*args: Any, **kwargs: Any) -> Any:
        await state["gate"].wait()
        if state["fail"] is not None:
            raise state["fail"]
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, "add_user_message", add_user_message)
    return state


async def test_the_model_starts_while_the_turn_commits_and_nothing_is_sent_before(
    hub_env: Any, ollama_server: Any, slow_commit: dict[str, Any]
) -> None:
    hub, _service = hub_env
    ollama_server.script("Hello there, ada.")
    peer = Peer(hub, "ada")
    msg_id = peer.send("chat_message", {"message": {"content": "hi"}})
    await _model_asked(ollama_server)
    assert _chat_calls(ollama_server) == 1  # the model was asked before the commit finished
    await asyncio.sleep(0.3)  # its whole answer has streamed back by now
    assert peer.replies(msg_id) == []  # held: the turn is not durable yet
    slow_commit["gate"].set()
    await peer.wait_for("chat_response", reply_to=msg_id)
    await asyncio.sleep(0.05)
    replies = peer.replies(msg_id)
    types = [e["type"] for e in replies]
    assert types[0] == "typing_indicator" and replies[0]["data"]["user_message_id"]
    assert types.index("chat_response") > types.index("chat_stream")
    assert "".join(e["data"]["delta"] for e in replies if e["type"] == "chat_stream") == (
        "Hello there, ada."
    )
    seqs = [e["seq"] for e in replies]
    assert seqs == sorted(seqs)
    conv_id = replies[-1]["data"]["conversation_id"]
    history = (await peer.exchange("get_history", {"conversation_id": conv_id}, "chat_history"))[
        -1
    ]["data"]
    assert [m["content"] for m in history["messages"]] == ["hi", "Hello there, ada."]


async def test_a_failed_commit_drops_the_held_replies_and_answers_an_error(
    hub_env: Any, ollama_server: Any, slow_commit: dict[str, Any]
) -> None:
    hub, _service = hub_env
    ollama_server.script("This answer is never shown.")
    peer = Peer(hub, "ada")
    msg_id = peer.send("chat_message", {"message": {"content": "hi"}})
    await _model_asked(ollama_server)
    slow_commit["fail"] = sqlite3.OperationalError("disk I/O error")
    slow_commit["gate"].set()
    error = await peer.wait_for("error", reply_to=msg_id)
    await asyncio.sleep(0.05)
    assert [e["type"] for e in peer.replies(msg_id)] == ["error"]
    assert "Traceback" not in error["data"]["message"]
