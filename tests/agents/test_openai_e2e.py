"""End to end on the OpenAI-compatible test server, through the real `openai` client: the MCP
tool loop in chat, a Tree-of-Thought run and an evolution run naming `backend` + `model`, with
their tokens in the usage table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from evolution.scripted import KEY_PHRASE, arithmetic_responder
from reasoning.scripted import game24_oracle
from traitlets.config import Config

from pygent_jupyter.hub import Hub
from pygent_jupyter.services.agents import AgentsService
from pygent_jupyter.services.seams import wire
from pygent_jupyter.storage import Database
from pygent_jupyter.testing import OpenAITestServer, Reply

from .conftest import Peer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mcp"))
from mcp_fixtures import sdk_entry, write_config

KEY_ENV = "PYGENT_E2E_OPENAI_KEY"
SECRET = "sk-e2e-secret-value"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


@contextlib.asynccontextmanager
async def environment(
    tmp_path: Path, *services: str
) -> AsyncIterator[tuple[Hub, OpenAITestServer]]:
    """A Hub whose only configured backend is the OpenAI test server ``gpu``, plus the named
    services (``mcp``, ``reasoning``, ``evolution``)."""
    server = OpenAITestServer(models=["test-chat", "test-alt"], api_key=SECRET)
    await server.start()
    db = Database(tmp_path / "pygent.db")
    hub = Hub()
    config = Config()
    config.AgentsService.backends = [
        {
            "name": "gpu",
            "kind": "openai",
            "base_url": server.base_url,
            "api_key_env": KEY_ENV,
            "default_model": "test-chat",
        }
    ]
    hub.register(AgentsService(hub, config=config))
    if "mcp" in services:
        from pygent_jupyter.services.mcp import MCPService

        path = tmp_path / "pygent-mcp.json"
        write_config(path, {"sdk": sdk_entry()})
        config.MCPService.config_path = str(path)
        hub.register(MCPService(hub, config=config))
    if "reasoning" in services:
        from pygent_jupyter.services.reasoning.service import ReasoningService

        hub.register(ReasoningService(hub, config=config))
    if "evolution" in services:
        from pygent_jupyter.services.evolution.service import EvolutionService

        hub.register(EvolutionService(hub, config=config))
    wire(hub.services.values(), db)
    await hub.start()
    try:
        yield hub, server
    finally:
        await hub.stop()
        db.close()
        await server.stop()


def mcp_peer(hub: Hub, user: str) -> Peer:
    peer = Peer(hub, user)

    async def allow(action: str, resource: str) -> bool:
        return True

    peer.conn.authorize = allow  # type: ignore[attr-defined]
    return peer


async def test_the_mcp_tool_loop_runs_over_the_openai_backend(tmp_path: Path) -> None:
    async with environment(tmp_path, "mcp") as (hub, server):
        peer = mcp_peer(hub, "alice")
        await peer.exchange(
            "mcp_server_action",
            {"server_id": "sdk", "action": "start"},
            "mcp_server_status",
            timeout=20,
        )
        server.script(
            Reply(tool_calls=[{"function": {"name": "sdk__add", "arguments": {"a": 2, "b": 40}}}]),
            Reply("The sum is 42."),
        )
        events = await peer.exchange(
            "chat_message", {"message": {"content": "What is 2+40?"}}, "chat_response", timeout=20
        )
        response = next(e for e in events if e["type"] == "chat_response")["data"]["message"]
        assert response["content"] == "The sum is 42." and response["metadata"]["backend"] == "gpu"
        [result] = [e["data"] for e in events if e["type"] == "tool_call_result"]
        assert (result["server_id"], result["tool"], result["is_error"]) == (
            "sdk",
            "sdk__add",
            False,
        )
        assert json.loads(result["content"][0]["text"]) == {"result": 42}
        chats = [b for _m, path, b in server.requests if path == "/v1/chat/completions"]
        offered = {t["function"]["name"] for t in chats[0]["tools"]}
        assert "sdk__add" in offered and all("server_id" not in t for t in chats[0]["tools"])
        second = chats[1]["messages"]
        call_id = second[-2]["tool_calls"][0]["id"]
        assert second[-1] == {"role": "tool", "tool_call_id": call_id, "content": '{"result": 42}'}
        # tokens of both rounds are counted once, in one answer
        assert response["metadata"]["completion_tokens"] == 4


async def test_tree_of_thought_runs_on_the_named_backend_and_model(tmp_path: Path) -> None:
    oracle = game24_oracle()
    async with environment(tmp_path, "reasoning") as (hub, server):
        server.responder = lambda body: Reply(
            oracle(body["messages"][-1]["content"], {"temperature": body.get("temperature")})
        )
        peer = Peer(hub, "ada")
        events = await peer.exchange(
            "start_reasoning",
            {
                "task": "game24",
                "puzzle": "4 5 6 10",
                "backend": "gpu",
                "model": "test-alt",
                "seed": 1,
            },
            "reasoning_complete",
            timeout=30,
        )
        [done] = [e["data"] for e in events if e["type"] == "reasoning_complete"]
        assert done["solved"] is True, done
        bodies = [b for _m, path, b in server.requests if path == "/v1/chat/completions"]
        assert bodies and {b["model"] for b in bodies} == {"test-alt"}
        usage = await hub.service("agents").usage("ada")  # type: ignore[union-attr]
        [row] = usage["today"]["by_model"]
        assert row["model"] == "test-alt" and row["answers"] == len(bodies)


async def test_evolution_runs_on_the_named_backend(tmp_path: Path) -> None:
    async with environment(tmp_path, "evolution") as (hub, server):
        server.responder = lambda body: Reply(arithmetic_responder(body["messages"], {}))
        peer = Peer(hub, "ada")
        events = await peer.exchange(
            "start_evolution",
            {
                "genome": {
                    "seed_prompts": ["You are a helpful assistant.", "Think about it."],
                    "prompt_pool": ["Be polite.", KEY_PHRASE],
                    "evolve": ["system_prompt"],
                    "backend": "gpu",
                    "models": ["test-alt"],
                },
                "task_set": {
                    "name": "addition",
                    "tasks": [
                        {"input": "What is 2 + 3?", "expected": "5", "match": "exact"},
                        {"input": "What is 10 + 7?", "expected": "17", "match": "exact"},
                    ],
                },
                "population_size": 6,
                "generations": 6,
                "operators": {"mutpb": 0.9},
                "seed": 3,
                "target": 1.0,
            },
            "evolution_complete",
            timeout=60,
        )
        [done] = [e["data"] for e in events if e["type"] == "evolution_complete"]
        assert done["best"]["fitness"] == 1.0, done
        assert KEY_PHRASE in done["best"]["genome"]["system_prompt"]
        bodies = [b for _m, path, b in server.requests if path == "/v1/chat/completions"]
        assert bodies and {b["model"] for b in bodies} == {"test-alt"}
        usage = await hub.service("agents").usage("ada")  # type: ignore[union-attr]
        assert usage["today"]["answers"] == len(bodies)
        await asyncio.sleep(0)
