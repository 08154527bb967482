"""AgentsService behind a Hub (no HTTP): users, seams for memory and tools, agent registry,
backend choice."""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pygent_jupyter.llm import ChatChunk, Completion
from pygent_jupyter.services.agents import (
    Agent,
    AgentTurn,
    LLMAgent,
    ReasoningAgent,
    confidence,
)
from pygent_jupyter.services.agents.factory import AgentRegistry, parse_steps
from pygent_jupyter.testing import Reply

from .conftest import Peer


def first(events: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    return next(e for e in events if e["type"] == type_)


def test_confidence_is_the_mean_token_probability():
    assert confidence(None) is None and confidence([]) is None
    assert confidence([0.0, 0.0]) == 1.0
    assert confidence([-0.6931471805599453, 0.0]) == pytest.approx(0.75)
    assert confidence([float("-inf"), -0.1]) == pytest.approx(0.9048, abs=1e-4)


def test_parse_steps_reads_step_and_numbered_lines():
    text = "Let me think.\nStep 1: add\n  the numbers\nStep 2: check\nAnswer: 7"
    assert parse_steps(text) == ["add the numbers", "check", "Answer: 7"]
    assert parse_steps("1. first\n2) second") == ["first", "second"]
    assert parse_steps("no steps here") == []


async def test_users_never_see_each_others_conversations(hub_env, ollama_server):
    hub, _service = hub_env
    alice, bob = Peer(hub, "alice"), Peer(hub, "bob")
    ollama_server.script("secret answer")
    replies = await alice.exchange(
        "chat_message", {"message": {"content": "alice's secret"}}, until="chat_response"
    )
    conv = first(replies, "chat_response")["data"]["conversation_id"]
    # bob can neither read it nor list it ...
    replies = await bob.exchange("get_history", {"conversation_id": conv}, until="chat_history")
    assert replies[-1]["type"] == "error" and replies[-1]["data"]["code"] == "not_found"
    replies = await bob.exchange("get_history", {}, until="chat_history")
    assert replies[-1]["data"]["conversations"] == []
    # ... nor extend it: the same id names a new conversation of his own
    ollama_server.script("hello bob")
    await bob.exchange(
        "chat_message",
        {"conversation_id": conv, "message": {"content": "bob here"}},
        until="chat_response",
    )
    sent = ollama_server.requests[-1][2]["messages"]
    assert "alice's secret" not in str(sent)
    replies = await alice.exchange("get_history", {"conversation_id": conv}, until="chat_history")
    assert [m["content"] for m in replies[-1]["data"]["messages"]] == [
        "alice's secret",
        "secret answer",
    ]
    # events went to their own user only
    assert not any(
        e["type"] == "chat_stream" and "secret" in e["data"]["delta"] for e in bob.events
    )


async def test_context_providers_feed_prompt_and_metadata(hub_env, ollama_server):
    hub, service = hub_env
    seen = []

    async def memory(user: str, query: str) -> list[dict[str, Any]]:
        seen.append((user, query))
        return [{"content": "Ada prefers tea.", "score": 0.91, "id": "mem-1"}]

    async def broken(user: str, query: str) -> list[dict[str, Any]]:
        raise RuntimeError("index offline")

    async def slow(user: str, query: str) -> list[dict[str, Any]]:
        await asyncio.sleep(10)
        return [{"content": "never"}]

    service.context_timeout = 0.2
    remove = service.add_context_provider(memory)
    service.add_context_provider(broken)
    service.add_context_provider(slow)
    peer = Peer(hub, "ada")
    replies = await peer.exchange(
        "chat_message", {"message": {"content": "What do I drink?"}}, until="chat_response"
    )
    meta = first(replies, "chat_response")["data"]["message"]["metadata"]
    assert meta["memories"] == [{"content": "Ada prefers tea.", "score": 0.91, "id": "mem-1"}]
    assert seen == [("ada", "What do I drink?")]
    system = ollama_server.requests[-1][2]["messages"][0]["content"]
    assert "Ada prefers tea." in system and "never" not in system
    remove()
    replies = await peer.exchange(
        "chat_message", {"message": {"content": "again"}}, until="chat_response"
    )
    meta = first(replies, "chat_response")["data"]["message"]["metadata"]
    assert "memories" not in meta


async def test_tool_calls_run_in_a_bounded_loop(hub_env, ollama_server):
    hub, service = hub_env
    calls = []

    async def list_tools(user: str) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "server_id": "clock",
                "function": {
                    "name": "get_time",
                    "description": "The time in a zone",
                    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
                },
            }
        ]

    async def call_tool(user: str, name: str, arguments: dict[str, Any]) -> Any:
        calls.append((user, name, arguments))
        return {"time": "12:00", "tz": arguments.get("tz")}

    service.add_tool_provider(list_tools, call_tool, name="mcp")
    call = {"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}
    ollama_server.script(Reply("", tool_calls=[call]), "It is 12:00 UTC.")
    peer = Peer(hub, "ada")
    replies = await peer.exchange(
        "chat_message", {"message": {"content": "time?"}}, until="chat_response"
    )
    types = [e["type"] for e in replies]
    assert types.index("tool_call_result") < types.index("chat_response")
    result = first(replies, "tool_call_result")["data"]
    assert result["server_id"] == "clock" and result["tool"] == "get_time"
    assert result["arguments"] == {"tz": "UTC"} and result["is_error"] is False
    assert '"12:00"' in result["content"][0]["text"]
    assert calls == [("ada", "get_time", {"tz": "UTC"})]
    response = first(replies, "chat_response")["data"]["message"]
    assert response["content"] == "It is 12:00 UTC."
    assert response["metadata"]["tool_calls"] == [call]
    request1, second = (r[2] for r in ollama_server.requests if r[1] == "/api/chat")
    assert "server_id" not in request1["tools"][0]
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_name": "get_time",
        "content": result["content"][0]["text"],
    }
    # a model that keeps calling tools is stopped after max_tool_rounds
    service.max_tool_rounds = 2
    ollama_server.script(*[Reply("", tool_calls=[call])] * 3)
    replies = await peer.exchange(
        "chat_message", {"message": {"content": "loop"}}, until="chat_response"
    )
    assert sum(e["type"] == "tool_call_result" for e in replies) == 2
    assert not ollama_server.requests[-1][2].get("tools")  # the last round offers none


async def test_agent_types_register_per_user_and_replace_builtins(hub_env, ollama_server):
    hub, service = hub_env

    class Pirate(LLMAgent):
        pass

    def pirate(parent: Any) -> Agent:
        return Pirate(parent=parent, system_prompt="Talk like a pirate.", temperature=0.0)

    service.register_agent_type("pirate", pirate, user="ada")
    ada, bob = Peer(hub, "ada"), Peer(hub, "bob")
    await ada.exchange(
        "chat_message", {"message": {"content": "hi", "agentId": "pirate"}}, until="chat_response"
    )
    body = ollama_server.requests[-1][2]
    assert body["messages"][0]["content"] == "Talk like a pirate."
    assert body["options"]["temperature"] == 0.0
    replies = await bob.exchange(
        "chat_message", {"message": {"content": "hi", "agentId": "pirate"}}, until="chat_response"
    )
    assert replies[-1]["type"] == "error" and replies[-1]["data"]["code"] == "not_found"
    assert "general" in replies[-1]["data"]["message"]

    class Echo(Agent):
        async def respond(self, turn: AgentTurn) -> AsyncIterator[ChatChunk]:
            yield ChatChunk(delta=turn.content.upper())
            turn.metadata["reasoning_path"] = ["shouted"]
            yield ChatChunk(
                delta="",
                done=True,
                completion=Completion(
                    text=turn.content.upper(), model="echo", backend="echo", token_logprobs=[-0.2]
                ),
            )

    service.register_agent_type("general", Echo)  # replaces the builtin for everyone
    replies = await bob.exchange(
        "chat_message", {"message": {"content": "quiet"}}, until="chat_response"
    )
    message = first(replies, "chat_response")["data"]["message"]
    assert message["content"] == "QUIET" and message["metadata"]["reasoning_path"] == ["shouted"]
    assert message["metadata"]["backend"] == "echo"


async def test_builtin_reasoning_agent_fills_reasoning_path(hub_env, ollama_server):
    hub, service = hub_env
    service.register_agent_type("stepwise", ReasoningAgent)
    ollama_server.script("Step 1: 3 apples plus 2 apples.\nStep 2: that is 5.\nAnswer: 5")
    replies = await Peer(hub, "ada").exchange(
        "chat_message",
        {"message": {"content": "3+2 apples?", "agentId": "stepwise"}},
        until="chat_response",
    )
    meta = first(replies, "chat_response")["data"]["message"]["metadata"]
    assert meta["reasoning_path"] == ["3 apples plus 2 apples.", "that is 5.", "Answer: 5"]
    assert "step by step" in ollama_server.requests[-1][2]["messages"][0]["content"]


def test_entry_points_add_agent_types(monkeypatch):
    class FromPlugin(LLMAgent):
        pass

    class FakeEP:
        def __init__(self, name: str, target: Any) -> None:
            self.name, self.value, self._target = name, f"plugin:{name}", target

        def load(self) -> Any:
            if isinstance(self._target, Exception):
                raise self._target
            return self._target

    def fake_entry_points(group: str) -> list[FakeEP]:
        assert group == "pygent_jupyter.agents"
        return [FakeEP("plugin", FromPlugin), FakeEP("broken", ImportError("missing dep"))]

    monkeypatch.setattr("pygent_jupyter.services.agents.factory.entry_points", fake_entry_points)
    assert importlib.metadata  # the real function is what the module uses otherwise
    registry = AgentRegistry(None)
    assert registry.load_entry_points() == ["plugin"]
    agent = registry.get("plugin")
    assert isinstance(agent, FromPlugin) and agent.agent_id == "plugin"
    assert registry.get("plugin") is agent  # built once


async def test_backend_choice_and_provider_override(hub_env, ollama_server):
    _hub, service = hub_env
    assert service.provider() is service.ollama  # forced by the fixture
    service.backend = "local"
    assert service.provider() is service.local
    service.backend = "auto"
    service.ollama.reachable = True
    assert service.provider() is service.ollama
    service.ollama.reachable = False
    expected = service.local if service.local.available else service.ollama
    assert service.provider() is expected
    sentinel = object()
    service.set_provider(sentinel)  # type: ignore[arg-type]
    assert service.provider() is sentinel
    assert service.provider("ollama") is service.ollama
    service.set_provider(None)
    assert service.provider() is expected


async def test_health_reports_backend(hub_env):
    hub, _service = hub_env
    health = hub.health()["services"]["agents"]
    assert health["state"] == "up" and health["backend"] == "ollama"
    assert {"general", "coding", "reasoning"} <= set(health["agents"])


async def test_closing_the_socket_cancels_and_saves_the_partial_answer(hub_env, ollama_server):
    hub, service = hub_env
    ollama_server.token_delay = 0.03
    ollama_server.script(" ".join(["tok"] * 100))
    peer = Peer(hub, "ada")
    msg_id = peer.send("chat_message", {"message": {"content": "long"}})
    for _ in range(200):
        if sum(e["type"] == "chat_stream" for e in peer.replies(msg_id)) >= 2:
            break
        await asyncio.sleep(0.01)
    hub.close(peer.conn)
    await asyncio.sleep(0.1)
    conv = peer.replies(msg_id)[0]["data"]["conversation_id"]
    messages, _ = await service.store.messages("ada", conv)
    assert messages[-1]["status"] == "incomplete"
    assert messages[-1]["content"].startswith("tok tok")
    assert messages[-1]["metadata"]["reason"] == "cancelled"


async def test_metrics_reach_the_users_dashboards_too(hub_env, ollama_server):
    hub, _service = hub_env
    kernel, dashboard, idle = Peer(hub, "ada"), Peer(hub, "ada"), Peer(hub, "ada")
    stranger = Peer(hub, "bob")
    dashboard.conn.topics.add("ollama")
    stranger.conn.topics.add("ollama")
    replies = await kernel.exchange(
        "chat_message", {"message": {"content": "hi"}}, until="chat_response"
    )
    await asyncio.sleep(0.02)
    assert first(replies, "ollama_metrics")["data"]["eval_count"] > 0
    seen = [e for e in dashboard.events if e["type"] == "ollama_metrics"]
    assert len(seen) == 1 and "reply_to" not in seen[0]
    assert not any(e["type"] == "ollama_metrics" for e in idle.events + stranger.events)
