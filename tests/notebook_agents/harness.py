"""A Hub with the agents and notebook services, a scripted tool-calling model, and socket-less
clients that see every event."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from _hub import RecordingTransport  # tests/_hub.py (tests/ is on sys.path)
from traitlets.config import Config

from pygent_jupyter.hub import Hub
from pygent_jupyter.server.connections import Connection
from pygent_jupyter.services.agents import AgentsService
from pygent_jupyter.services.notebook import NotebookService
from pygent_jupyter.services.seams import wire
from pygent_jupyter.storage import Database
from pygent_jupyter.testing.scripted_tools import ScriptedToolModel


class Client:
    """One connection of ``user`` (``client_id``); ``allow`` answers Jupyter's authorizer,
    or a set of allowed ``(resource, action)`` pairs."""

    def __init__(
        self, hub: Hub, user: str = "ada", client_id: str = "lab-1", allow: Any = True
    ) -> None:
        async def authorize(action: str, resource: str) -> bool:
            if isinstance(allow, bool):
                return allow
            return (resource, action) in allow

        self.transport = RecordingTransport()
        self.conn = Connection(self.transport, user, client_id=client_id, authorize=authorize)
        self.hub = hub
        self._n = 0
        hub.open(self.conn)

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        return [
            e for e in map(json.loads, self.transport.frames) if type_ is None or e["type"] == type_
        ]

    def send(self, type_: str, data: dict[str, Any]) -> str:
        self._n += 1
        msg_id = f"{self.conn.client_id}-m{self._n}"
        self.hub.handle_frame(self.conn, json.dumps({"type": type_, "data": data, "id": msg_id}))
        return msg_id

    async def wait(
        self, type_: str, *, reply_to: str | None = None, after: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The first event of ``type_`` (optionally replying to ``reply_to``) after the first
        ``after`` events of that type."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            found = [
                e for e in self.events(type_) if reply_to is None or e.get("reply_to") == reply_to
            ]
            if len(found) > after:
                return found[after]
            await asyncio.sleep(0.005)
        raise TimeoutError(f"no {type_} (events: {[e['type'] for e in self.events()]})")

    async def request(self, type_: str, data: dict[str, Any], until: str) -> dict[str, Any]:
        msg_id = self.send(type_, data)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while loop.time() < deadline:
            for e in self.events():
                if e.get("reply_to") == msg_id and e["type"] in (until, "error"):
                    return e
            await asyncio.sleep(0.005)
        raise TimeoutError(until)


def notebook(n: int = 3, path: str = "analysis.ipynb", active: str | None = None) -> dict[str, Any]:
    """A notebook attachment of ``n`` code cells ``c1``…``cN``."""
    cells = [
        {"id": f"c{i}", "cell_type": "code", "source": f"x{i} = {i}", "outputs": f"{i}"}
        for i in range(1, n + 1)
    ]
    att: dict[str, Any] = {"kind": "notebook", "path": path, "cells": cells}
    if active:
        att["active_cell_id"] = active
    return att


@contextlib.asynccontextmanager
async def environment(
    tmp_path: Path, model: ScriptedToolModel, **notebook_traits: Any
) -> AsyncIterator[tuple[Hub, NotebookService]]:
    db = Database(tmp_path / "pygent.db")
    hub = Hub()
    config = Config()
    config.AgentsService.backend = "local"
    for key, value in notebook_traits.items():
        setattr(config.NotebookService, key, value)
    agents = AgentsService(hub, config=config)
    hub.register(agents)
    service = NotebookService(hub, config=config)
    hub.register(service)
    wire(hub.services.values(), db)
    await hub.start()
    agents.set_provider(model)  # type: ignore[arg-type]
    try:
        yield hub, service
    finally:
        await hub.stop()
        db.close()
