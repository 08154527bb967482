"""Conversation titles, search, rename and delete through the Hub (real SQLite)."""

from __future__ import annotations

from typing import Any

from .conftest import Peer


def last(replies: list[dict[str, Any]]) -> dict[str, Any]:
    return replies[-1]


async def chat(peer: Peer, ollama_server: Any, text: str, answer: str) -> str:
    ollama_server.script(answer)
    replies = await peer.exchange("chat_message", {"message": {"content": text}}, "chat_response")
    return str(last(replies)["data"]["conversation_id"])


async def test_titles_search_rename_delete(hub_env, ollama_server):
    hub, _service = hub_env
    alice, bob = Peer(hub, "alice"), Peer(hub, "bob")
    c1 = await chat(alice, ollama_server, "How do I reverse a string?", "Use s[::-1].")
    c2 = await chat(alice, ollama_server, "What is 100% of 50_000?", "It is 50000.")
    listed = last(await alice.exchange("get_history", {}, "chat_history"))["data"]
    titles = {c["id"]: c["title"] for c in listed["conversations"]}
    assert titles == {c1: "How do I reverse a string?", c2: "What is 100% of 50_000?"}

    # search: title or message text, case-insensitive, % and _ taken literally
    found = last(await alice.exchange("get_history", {"query": "S[::-1]"}, "chat_history"))
    assert [c["id"] for c in found["data"]["conversations"]] == [c1]
    assert found["data"]["query"] == "S[::-1]"
    found = last(await alice.exchange("get_history", {"query": "100%"}, "chat_history"))
    assert [c["id"] for c in found["data"]["conversations"]] == [c2]
    found = last(await alice.exchange("get_history", {"query": "0_0"}, "chat_history"))
    assert [c["id"] for c in found["data"]["conversations"]] == [c2]
    found = last(await alice.exchange("get_history", {"query": "a%b"}, "chat_history"))
    assert found["data"]["conversations"] == []
    # other users find nothing of alice's
    found = last(await bob.exchange("get_history", {"query": "reverse"}, "chat_history"))
    assert found["data"]["conversations"] == []

    # rename: whitespace collapsed; bob cannot rename alice's; empty titles are invalid
    renamed = last(
        await alice.exchange(
            "rename_conversation",
            {"conversation_id": c1, "title": "  Strings \n reversed "},
            "chat_history",
        )
    )
    assert renamed["data"]["conversations"][0]["title"] == "Strings reversed"
    err = last(
        await bob.exchange(
            "rename_conversation", {"conversation_id": c1, "title": "mine"}, "chat_history"
        )
    )
    assert err["type"] == "error" and err["data"]["code"] == "not_found"
    err = last(
        await alice.exchange(
            "rename_conversation", {"conversation_id": c1, "title": "   "}, "chat_history"
        )
    )
    assert err["type"] == "error" and err["data"]["code"] == "invalid"
    err = last(await alice.exchange("rename_conversation", {"conversation_id": c1}, "chat_history"))
    assert err["type"] == "error" and err["data"]["code"] == "invalid"

    # delete: gone with its messages; bob cannot delete; a second delete is not_found
    err = last(await bob.exchange("delete_conversation", {"conversation_id": c2}, "chat_history"))
    assert err["data"]["code"] == "not_found"
    gone = last(
        await alice.exchange("delete_conversation", {"conversation_id": c2}, "chat_history")
    )
    assert gone["data"]["deleted"] == c2
    listed = last(await alice.exchange("get_history", {}, "chat_history"))["data"]
    assert [c["id"] for c in listed["conversations"]] == [c1]
    err = last(await alice.exchange("get_history", {"conversation_id": c2}, "chat_history"))
    assert err["data"]["code"] == "not_found"
    err = last(await alice.exchange("delete_conversation", {"conversation_id": c2}, "chat_history"))
    assert err["data"]["code"] == "not_found"
