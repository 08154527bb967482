"""Shared fixtures: a real Jupyter Server with the extension, and socket clients for it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import tornado.websocket
from tornado.httpclient import HTTPRequest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

os.environ.setdefault("PYGENT_TESTING", "1")


@pytest.fixture
def pygent_config() -> dict[str, Any]:
    """Override per test (``@pytest.fixture def pygent_config(): ...``) to configure the app."""
    return {}


@pytest.fixture
def jp_server_config(pygent_config: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ServerApp": {"jpserver_extensions": {"pygent_jupyter": True}},
        "PygentJupyter": {"db_path": str(tmp_path / "pygent.db")},
    }
    for section, values in pygent_config.items():
        config.setdefault(section, {}).update(values)
    return config


@pytest.fixture
def pygent_app(jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Any]:
    """The running PygentJupyter extension app, with its services started.

    Started on ``jp_asyncio_loop``, the loop pytest-jupyter runs every async test on (an
    async pytest-asyncio fixture would run on a loop of its own, where the services'
    background tasks never run during the test).
    """
    point = jp_serverapp.extension_manager.extensions["pygent_jupyter"].extension_points[
        "pygent_jupyter"
    ]
    app = point.app
    jp_asyncio_loop.run_until_complete(app._start_jupyter_server_extension(jp_serverapp))
    yield app
    jp_asyncio_loop.run_until_complete(app.stop_extension())


class WSClient:
    """A test client for /pygent/ws: send, receive (optionally by type), request/reply."""

    def __init__(self, conn: tornado.websocket.WebSocketClientConnection) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._n = 0

    async def send(
        self, type_: str, data: dict[str, Any] | None = None, id: str | None = None
    ) -> None:
        message: dict[str, Any] = {"type": type_, "data": data or {}}
        if id is not None:
            message["id"] = id
        await self.conn.write_message(json.dumps(message))

    async def send_raw(self, frame: str | bytes) -> None:
        await self.conn.write_message(frame, binary=isinstance(frame, bytes))

    async def _read(self, timeout: float) -> dict[str, Any] | None:
        frame = await asyncio.wait_for(self.conn.read_message(), timeout)
        if frame is None:
            return None
        event = json.loads(frame)
        self.events.append(event)
        return event

    async def recv(self, type_: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next event (of ``type_`` if given). Raises on timeout or close."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for i, event in enumerate(self._pending):
            if type_ is None or event["type"] == type_:
                return self._pending.pop(i)
        while True:
            event = await self._read(max(0.01, deadline - loop.time()))
            if event is None:
                raise ConnectionError(f"socket closed ({self.conn.close_code})")
            if type_ is None or event["type"] == type_:
                return event
            self._pending.append(event)

    async def request(
        self,
        type_: str,
        data: dict[str, Any] | None = None,
        timeout: float = 10.0,
        reply_type: str | None = None,
    ) -> dict[str, Any]:
        """Send with an id; return the first reply to it (of ``reply_type`` if given).

        An ``error`` reply raises ``AssertionError`` with its data.
        """
        self._n += 1
        msg_id = f"t{self._n}"
        await self.send(type_, data, id=msg_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, event in enumerate(self._pending):
                if event.get("reply_to") == msg_id and (
                    reply_type is None or event["type"] in (reply_type, "error")
                ):
                    self._pending.pop(i)
                    if event["type"] == "error":
                        raise AssertionError(f"error reply: {event['data']}")
                    return event
            event = await self._read(max(0.01, deadline - loop.time()))
            if event is None:
                raise ConnectionError(f"socket closed ({self.conn.close_code})")
            self._pending.append(event)

    async def close(self) -> None:
        self.conn.close()


WSFactory = Callable[..., Awaitable[WSClient]]


@pytest.fixture
def ws_client(
    pygent_app: Any,
    http_server_client: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
) -> Iterator[WSFactory]:
    """``await ws_client(headers=None, query="")``: an open, greeted WSClient.

    Connections are made inside the test, on the loop pytest-jupyter runs it on.
    """
    clients: list[WSClient] = []

    async def connect(
        headers: dict[str, str] | None = None, query: str = "", greet: bool = True
    ) -> WSClient:
        url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}pygent/ws{query}"
        request = HTTPRequest(url, headers=jp_auth_header if headers is None else headers)
        conn = await tornado.websocket.websocket_connect(request)
        client = WSClient(conn)
        clients.append(client)
        if greet:
            await client.recv("connection_status")
        return client

    yield connect
    for client in clients:
        client.conn.close()
