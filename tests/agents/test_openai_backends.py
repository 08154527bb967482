"""Several named backends at once through the agents service: an OpenAI-compatible test server
next to the Ollama test server; the choice (first probe waited for, fallback announced), the
model picker's stickiness, usage and cost in SQLite, budgets, and the credential never leaving
the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from pygent_jupyter.hub import Hub
from pygent_jupyter.services.agents import AgentsService
from pygent_jupyter.services.ollama import OllamaService
from pygent_jupyter.services.seams import wire
from pygent_jupyter.storage import Database
from pygent_jupyter.testing import OllamaTestServer, OpenAITestServer, Reply

from .conftest import Peer

SECRET = "sk-pygent-test-9f8e7d6c5b4a-do-not-leak"
KEY_ENV = "PYGENT_TEST_OPENAI_KEY"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET)


@contextlib.asynccontextmanager
async def environment(
    tmp_path: Path,
    *,
    ollama: OllamaTestServer | None = None,
    ollama_first: bool = False,
    monitor: bool = False,
    **agents: Any,
) -> AsyncIterator[tuple[Hub, AgentsService, OpenAITestServer]]:
    """A Hub with the agents service (and optionally the monitor) and an OpenAI test server
    configured as backend ``gpu`` (``ollama`` listed first when ``ollama_first``)."""
    server = OpenAITestServer(models=["test-chat", "test-big"], api_key=SECRET)
    await server.start()
    db = Database(tmp_path / "pygent.db")
    hub = Hub()
    config = Config()
    gpu = {
        "name": "gpu",
        "kind": "openai",
        "base_url": server.base_url,
        "api_key_env": KEY_ENV,
        "default_model": "test-chat",
        "max_retries": 0,
    }
    backends: list[dict[str, Any]] = [gpu]
    if ollama is not None:
        config.OllamaProvider.host = ollama.host
        config.OllamaProvider.model = "llama3.2"
        backends = [{"name": "ollama", "kind": "ollama"}, gpu] if ollama_first else [gpu]
    config.AgentsService.backends = backends
    for key, value in agents.items():
        setattr(config.AgentsService, key, value)
    config.OllamaService.interval = 0.2
    config.OllamaService.backend_interval = 0.2
    service = AgentsService(hub, config=config)
    hub.register(service)
    if monitor:
        hub.register(OllamaService(hub, config=config))
    wire(hub.services.values(), db)
    await hub.start()
    try:
        yield hub, service, server
    finally:
        await hub.stop()
        db.close()
        await server.stop()


async def chat(
    peer: Peer, message: dict[str, Any], *, timeout: float = 5.0, **data: Any
) -> list[dict[str, Any]]:
    return await peer.exchange(
        "chat_message", {"message": message, **data}, "chat_response", timeout=timeout
    )


def of(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == type_]


async def test_chat_streams_from_the_openai_backend_with_usage(tmp_path: Path) -> None:
    async with environment(tmp_path) as (hub, _service, server):
        peer = Peer(hub, "ada")
        server.script(Reply("vLLM says hello"))
        events = await chat(peer, {"content": "hi"})
        deltas = [d["delta"] for d in of(events, "chat_stream")]
        assert "".join(deltas) == "vLLM says hello" and deltas[0] == "vLLM"
        [typing] = [d for d in of(events, "typing_indicator") if d["active"]]
        assert typing["backend"] == "gpu" and "fallback" not in typing
        meta = of(events, "chat_response")[0]["message"]["metadata"]
        assert meta["backend"] == "gpu" and meta["model"] == "test-chat"
        assert meta["completion_tokens"] == 3 and meta["prompt_tokens"] > 0
        [usage] = of(events, "usage")
        assert usage["today"]["total_tokens"] == meta["prompt_tokens"] + 3
        assert usage["conversation"]["answers"] == 1 and usage["budget"]["exceeded"] is False
        assert [t for t in (e["type"] for e in events)][-1] == "typing_indicator"


async def test_picked_backend_and_model_stick_to_the_conversation(tmp_path: Path) -> None:
    ollama = OllamaTestServer(models=["llama3.2:latest"])
    await ollama.start()
    try:
        async with environment(tmp_path, ollama=ollama, ollama_first=True) as (hub, _s, server):
            peer = Peer(hub, "ada")
            events = await chat(peer, {"content": "one", "backend": "gpu", "model": "test-big"})
            conv = of(events, "chat_response")[0]["conversation_id"]
            assert of(events, "chat_response")[0]["message"]["metadata"]["model"] == "test-big"
            events = await chat(peer, {"content": "two"}, conversation_id=conv)
            assert of(events, "chat_response")[0]["message"]["metadata"]["backend"] == "gpu"
            chats = [b for _m, p, b in server.requests if p == "/v1/chat/completions"]
            assert chats[-1]["model"] == "test-big"
            # a new conversation uses the default (Ollama, first in the list)
            events = await chat(peer, {"content": "three"})
            assert of(events, "chat_response")[0]["message"]["metadata"]["backend"] == "ollama"
            listed = await peer.exchange("get_history", {}, "chat_history")
            rows = {c["id"]: c for c in of(listed, "chat_history")[0]["conversations"]}
            assert (rows[conv]["backend"], rows[conv]["model"]) == ("gpu", "test-big")
            # an unknown backend is refused with a clear error
            events = await chat(peer, {"content": "x", "backend": "nope"})
            [error] = of(events, "error")
            assert error["code"] == "not_found" and "gpu" in error["message"]
    finally:
        await ollama.stop()


async def test_a_slow_first_probe_is_waited_for_not_passed_over(tmp_path: Path) -> None:
    """Ollama answers each request after 0.5 s, so its first probe is still out when the
    service has started (start waits 0.3 s here) and the first chat arrives: the chat waits
    for the probe instead of falling to the next backend (issue 12)."""
    ollama = OllamaTestServer(models=["llama3.2:latest"], latency=0.5)
    await ollama.start()
    try:
        async with environment(
            tmp_path, ollama=ollama, ollama_first=True, backend_probe_timeout=0.3
        ) as (hub, service, _srv):
            assert service.registry.states["ollama"].reachable is None  # probe still out
            assert service.provider().name == "ollama"  # and not passed over meanwhile
            peer = Peer(hub, "ada")
            ollama.script("from ollama")
            events = await chat(peer, {"content": "hi"}, timeout=10)
            message = of(events, "chat_response")[0]["message"]
            assert (
                message["metadata"]["backend"] == "ollama" and "fallback" not in message["metadata"]
            )
            assert not of(events, "backend_error") and not of(events, "ollama_error")
    finally:
        await ollama.stop()


async def test_a_probe_that_never_answers_is_bounded_and_announced(tmp_path: Path) -> None:
    ollama = OllamaTestServer(models=["llama3.2:latest"], latency=30)
    await ollama.start()
    try:
        async with environment(
            tmp_path, ollama=ollama, ollama_first=True, first_probe_wait=0.3
        ) as (hub, _s, _srv):
            peer = Peer(hub, "ada")
            loop = asyncio.get_running_loop()
            started = loop.time()
            events = await chat(peer, {"content": "hi"}, timeout=10)
            assert loop.time() - started < 3
            [typing] = [d for d in of(events, "typing_indicator") if d["active"]]
            assert typing["backend"] == "gpu"
            assert typing["fallback"][0]["from"] == "ollama"
            assert "first health probe" in typing["fallback"][0]["reason"]
            meta = of(events, "chat_response")[0]["message"]["metadata"]
            assert meta["backend"] == "gpu" and meta["fallback"][0]["to"] == "gpu"
            [announce] = of(events, "backend_error")
            assert announce["backend"] == "ollama" and announce["fallback"] == "gpu"
            assert of(events, "ollama_error")[0]["fallback"] == "gpu"
    finally:
        await ollama.stop()


async def test_a_backend_that_dies_is_rechecked_and_the_fallback_announced(
    tmp_path: Path,
) -> None:
    ollama = OllamaTestServer(models=["llama3.2:latest"])
    await ollama.start()
    async with environment(tmp_path, ollama=ollama, ollama_first=True) as (hub, service, srv):
        peer = Peer(hub, "ada")
        ollama.script("from ollama")
        events = await chat(peer, {"content": "one"})
        assert of(events, "chat_response")[0]["message"]["metadata"]["backend"] == "ollama"
        await ollama.stop()  # Ollama goes away between two messages
        srv.script("from gpu")
        events = await chat(peer, {"content": "two"})
        message = of(events, "chat_response")[0]["message"]
        assert message["content"] == "from gpu" and message["metadata"]["backend"] == "gpu"
        assert message["metadata"]["fallback"][0]["from"] == "ollama"
        assert of(events, "ollama_error")[0]["fallback"] == "gpu"
        # known down now: the next message skips it at once, and still says so
        events = await chat(peer, {"content": "two and a half"})
        [typing] = [d for d in of(events, "typing_indicator") if d["active"]]
        assert typing["backend"] == "gpu" and typing["fallback"][0]["from"] == "ollama"
        # an explicit choice is never replaced: the error is the user's to see
        events = await chat(peer, {"content": "three", "backend": "ollama"})
        assert of(events, "error")[0]["code"] == "unavailable"
        assert not of(events, "chat_stream")
        # Ollama comes back: the next re-check finds it, no fallback any more
        await ollama.restart()
        service.recheck_interval = 0.0
        ollama.script("back")
        events = await chat(peer, {"content": "four"})
        meta = of(events, "chat_response")[0]["message"]["metadata"]
        assert meta["backend"] == "ollama" and "fallback" not in meta
    await ollama.stop()


async def test_backend_errors_reach_the_chat_with_their_code(tmp_path: Path) -> None:
    async with environment(tmp_path) as (hub, _service, server):
        peer = Peer(hub, "ada")
        for fault, code, protocol in [
            ("rate_limit", "rate_limited", "rate_limited"),
            ("auth", "auth_failed", "unavailable"),
            ("http_500", "server_error", "unavailable"),
        ]:
            server.fail_next(fault)
            events = await chat(peer, {"content": "hi"})
            [failure] = of(events, "backend_error")
            assert failure["code"] == code and failure["backend"] == "gpu"
            [error] = of(events, "error")
            assert error["code"] == protocol and error["details"]["backend_code"] == code
        assert failure["kind"] == "openai"


async def test_backend_status_health_and_the_monitor(tmp_path: Path) -> None:
    async with environment(tmp_path, monitor=True) as (hub, _service, server):
        peer = Peer(hub, "ada")
        greeting = await peer.wait_for("backend_status")
        names = [b["name"] for b in greeting["data"]["backends"]]
        assert names[0] == "gpu"
        events = await peer.exchange("list_backends", {"refresh": True}, "backend_status")
        [status] = of(events, "backend_status")
        gpu = status["backends"][0]
        assert gpu["kind"] == "openai" and gpu["reachable"] is True
        assert gpu["base_url"] == server.base_url
        assert [m["name"] for m in gpu["models"]] == ["test-chat", "test-big"]
        assert all(m["backend"] == "gpu" and m["tools"] for m in gpu["models"])
        assert status["default"] == {"backend": "gpu", "model": "test-chat"}
        health = hub.health()["services"]["agents"]
        assert health["backend"] == "gpu" and health["backends"][0]["reachable"] is True
        # the server goes down: the monitor broadcasts it
        await server.stop()
        down = None
        for _ in range(100):
            errors = [e for e in peer.events if e["type"] == "backend_error"]
            if errors:
                down = errors[-1]["data"]
                break
            await asyncio.sleep(0.05)
        assert down is not None and down["backend"] == "gpu" and down["code"] == "unreachable"
        await server.restart()


async def test_usage_is_kept_per_answer_conversation_and_day_with_cost(tmp_path: Path) -> None:
    prices = {"test-chat": {"prompt": 1000.0, "completion": 2000.0}}
    async with environment(tmp_path, prices=prices, currency="EUR") as (hub, service, _server):
        ada, bob = Peer(hub, "ada"), Peer(hub, "bob")
        first = await chat(ada, {"content": "a"})
        conv = of(first, "chat_response")[0]["conversation_id"]
        meta = of(first, "chat_response")[0]["message"]["metadata"]
        expected = (meta["prompt_tokens"] * 1000 + meta["completion_tokens"] * 2000) / 1e6
        assert meta["cost"] == pytest.approx(expected) and meta["currency"] == "EUR"
        second = await chat(ada, {"content": "b"}, conversation_id=conv)
        cost2 = of(second, "chat_response")[0]["message"]["metadata"]["cost"]
        assert cost2 > expected  # the history makes the second prompt longer
        await chat(ada, {"content": "c", "model": "test-big"})  # no price: cost null
        await chat(bob, {"content": "d"})
        events = await ada.exchange("get_usage", {"conversation_id": conv}, "usage")
        [usage] = of(events, "usage")
        assert usage["conversation"]["answers"] == 2 and usage["today"]["answers"] == 3
        by_model = {m["model"]: m for m in usage["today"]["by_model"]}
        assert by_model["test-big"]["cost"] is None
        assert by_model["test-chat"]["cost"] == pytest.approx(expected + cost2)
        assert usage["today"]["cost"] == pytest.approx(expected + cost2)
        assert usage["conversation"]["cost"] == pytest.approx(expected + cost2)
        assert usage["currency"] == "EUR"
        # stored in SQLite, one row per answer, per user
        rows = service.db.run_sync(  # type: ignore[union-attr]
            lambda c: c.execute("SELECT user, COUNT(*) FROM agent_usage GROUP BY user").fetchall()
        )
        assert sorted(tuple(r) for r in rows) == [("ada", 3), ("bob", 1)]


async def test_a_spent_daily_budget_refuses_new_work(tmp_path: Path) -> None:
    async with environment(tmp_path, daily_token_budget=30) as (hub, service, server):
        peer = Peer(hub, "ada")
        server.script(" ".join(["word"] * 40))
        events = await chat(peer, {"content": "spend it"})
        assert of(events, "chat_response")
        assert of(events, "usage")[0]["budget"]["exceeded"] is True
        events = await chat(peer, {"content": "more"})
        [error] = of(events, "error")
        assert error["code"] == "rate_limited" and error["details"]["reason"] == "budget"
        assert "00:00 UTC" in error["message"] and not of(events, "typing_indicator")
        other = Peer(hub, "bob")  # budgets are per user
        assert of(await chat(other, {"content": "hi"}), "chat_response")
        # reasoning and evolution go through the same check
        with pytest.raises(Exception) as info:
            await service.resolve_provider(None, user="ada", source="reasoning")
        assert getattr(info.value, "code", None) is not None
        assert info.value.code.value == "rate_limited"  # type: ignore[attr-defined]


async def test_the_credential_never_reaches_a_client_or_a_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with environment(tmp_path, monitor=True) as (hub, _service, server):
        peer = Peer(hub, "ada")
        await chat(peer, {"content": "hi"})
        server.fail_next("auth")
        await chat(peer, {"content": "again"})
        server.fail_next("rate_limit")
        await chat(peer, {"content": "and again"})
        await peer.exchange("list_backends", {"refresh": True}, "backend_status")
        await peer.exchange("get_usage", {}, "usage")
        text = "\n".join(peer.transport.frames)
        assert SECRET not in text and KEY_ENV not in text
        assert SECRET not in json.dumps(hub.health(), default=str)
        assert SECRET not in caplog.text
        # the server did get it, as a bearer token
        assert server.requests  # and it answered, so the key matched
    assert SECRET not in caplog.text


async def test_bad_backend_config_stops_the_service_with_a_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(tmp_path / "pygent.db")
    hub = Hub()
    config = Config()
    config.AgentsService.backends = [{"name": "gpu", "kind": "openai", "api_key": "sk-x"}]
    service = AgentsService(hub, config=config)
    hub.register(service)
    wire(hub.services.values(), db)
    await hub.start()
    try:
        health = hub.health()["services"]["agents"]
        assert health["state"] == "down"
        assert "backends[0]: do not put a credential in the config" in caplog.text
        assert "sk-x" not in json.dumps(health) and "sk-x" not in caplog.text
    finally:
        await hub.stop()
        db.close()


async def test_memory_embeds_with_the_backends_embeddings(tmp_path: Path) -> None:
    from pygent_jupyter.services.memory.service import MemoryService

    server = OpenAITestServer(models=["test-chat", "test-embed"], api_key=SECRET)
    await server.start()
    db = Database(tmp_path / "pygent.db")
    hub = Hub()
    config = Config()
    config.AgentsService.backends = [
        {
            "name": "gpu",
            "base_url": server.base_url,
            "api_key_env": KEY_ENV,
            "default_model": "test-chat",
            "embed_model": "test-embed",
        }
    ]
    config.MemoryService.embed_backend = "gpu"
    config.MemoryService.embedder = "local"
    hub.register(AgentsService(hub, config=config))
    memory = MemoryService(hub, config=config)
    hub.register(memory)
    wire(hub.services.values(), db)
    await hub.start()
    try:
        assert memory.preferred is not None and memory.preferred.name == "openai:gpu/test-embed"
        embeds = [b for _m, path, b in server.requests if path == "/v1/embeddings"]
        assert embeds and embeds[0]["model"] == "test-embed"
    finally:
        await hub.stop()
        db.close()
        await server.stop()


async def test_a_missing_credential_fails_that_backend_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(KEY_ENV)
    async with environment(tmp_path) as (hub, _service, _server):
        assert "PYGENT_TEST_OPENAI_KEY is not set" in caplog.text
        peer = Peer(hub, "ada")
        events = await peer.exchange("list_backends", {"refresh": True}, "backend_status")
        gpu = of(events, "backend_status")[0]["backends"][0]
        assert gpu["reachable"] is False and gpu["error"] == "auth_failed"
        assert hub.health()["services"]["agents"]["state"] in ("up", "degraded")


async def test_ollama_list_models_answers_for_the_default_backend(tmp_path: Path) -> None:
    async with environment(tmp_path) as (hub, _service, server):
        peer = Peer(hub, "ada")
        events = await peer.exchange("ollama_list_models", {}, "ollama_model_update")
        [update] = of(events, "ollama_model_update")
        assert update["backend"] == "gpu"
        assert [m["name"] for m in update["models"]] == ["test-chat", "test-big"]
        await server.stop()
        events = await peer.exchange("ollama_list_models", {}, "ollama_model_update")
        assert of(events, "backend_error")[0]["code"] == "unreachable"
        assert of(events, "error")[0]["code"] == "unavailable"
        await server.restart()
