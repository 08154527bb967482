"""Fixtures for the agents tests: the Ollama-API test server, and a Hub without HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from _hub import RecordingTransport  # tests/_hub.py (tests/ is on sys.path)

from pygent_jupyter.hub import Hub
from pygent_jupyter.server.connections import Connection
from pygent_jupyter.services.agents import AgentsService
from pygent_jupyter.services.seams import wire
from pygent_jupyter.storage import Database
from pygent_jupyter.testing import OllamaTestServer


@pytest.fixture
def ollama_server(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[OllamaTestServer]:
    """The Ollama-API test server, on the loop the async tests run on."""
    server = OllamaTestServer(models=["llama3.2:latest", "all-minilm:latest"])
    jp_asyncio_loop.run_until_complete(server.start())
    yield server
    jp_asyncio_loop.run_until_complete(server.stop())


@pytest.fixture
def ollama_config(ollama_server: OllamaTestServer) -> dict[str, Any]:
    """App config that points chat at the test server and forces the Ollama backend."""
    return {
        "OllamaProvider": {"host": ollama_server.host, "model": "llama3.2"},
        "AgentsService": {"backend": "ollama"},
        "OllamaService": {"interval": 0.2},
    }


class Peer:
    """One connection of one user to a Hub, without sockets."""

    def __init__(self, hub: Hub, user: str) -> None:
        self.hub = hub
        self.transport = RecordingTransport()
        self.conn = Connection(self.transport, user)
        self._read = 0
        self._n = 0
        hub.open(self.conn)

    def send(self, type_: str, data: dict[str, Any], id: str | None = None) -> str:
        self._n += 1
        msg_id = id or f"p{self._n}"
        self.hub.handle_frame(self.conn, json.dumps({"type": type_, "data": data, "id": msg_id}))
        return msg_id

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(f) for f in self.transport.frames]

    async def wait_for(
        self, type_: str, reply_to: str | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.events:
                if event["type"] == type_ and (
                    reply_to is None or event.get("reply_to") == reply_to
                ):
                    return event
            if loop.time() > deadline:
                raise TimeoutError(f"no {type_} (got {[e['type'] for e in self.events]})")
            await asyncio.sleep(0.005)

    def replies(self, reply_to: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("reply_to") == reply_to]

    async def exchange(
        self, type_: str, data: dict[str, Any], until: str, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Send, wait for the ``until`` reply (or an error), return all replies to it."""
        msg_id = self.send(type_, data)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            replies = self.replies(msg_id)
            if any(e["type"] in (until, "error") for e in replies):
                await asyncio.sleep(0.01)  # let trailing events of the same task arrive
                return self.replies(msg_id)
            if loop.time() > deadline:
                raise TimeoutError(f"no {until} (got {[e['type'] for e in replies]})")
            await asyncio.sleep(0.005)


@pytest.fixture
def hub_env(
    tmp_path: Any, ollama_server: OllamaTestServer, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[tuple[Hub, AgentsService]]:
    """A started Hub with the agents service on a real SQLite file, chatting with the test
    server (backend forced to Ollama)."""
    from traitlets.config import Config

    db = Database(tmp_path / "pygent.db")
    hub = Hub()
    config = Config()
    config.OllamaProvider.host = ollama_server.host
    config.OllamaProvider.model = "llama3.2"
    config.AgentsService.backend = "ollama"
    service = AgentsService(hub, config=config)
    hub.register(service)
    wire(hub.services.values(), db)
    jp_asyncio_loop.run_until_complete(hub.start())
    yield hub, service
    jp_asyncio_loop.run_until_complete(hub.stop())
    db.close()


@pytest.fixture(autouse=True)
def _restore_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agents service exports OLLAMA_HOST; keep each test's export to itself."""
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
