"""``PygentClient``: the reconnecting asyncio client for kernels and scripts.

Inside a kernel started by a Jupyter Server running the extension, ``await
PygentClient().connect()`` needs no arguments: the server exports ``$PYGENT_URL`` and a
kernel credential ``$PYGENT_TOKEN`` into the environment kernels inherit. Elsewhere it finds
a running server with ``jupyter_server.serverapp.list_running_servers()``, or takes ``url``
and ``token``.

    client = await PygentClient().connect()
    pong = await client.request("ping", {"ts": time.time()})
    async for event in client.stream("chat_message", {...}, until="chat_response"):
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import os
import random
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import websockets
from websockets.asyncio.client import ClientConnection

from ..protocol.session import ClientSession, Receipt
from .typed import event_data

__all__ = [
    "ConnectionFailed",
    "PygentClient",
    "PygentRequestError",
    "discover",
    "event_data",
]

log = logging.getLogger("pygent_jupyter.client")

Handler = Callable[[Any], Any]
"""``handler(event)``; annotate ``event`` with a generated ``<Type>Event`` or ``IncomingEvent``."""

ENV_URL = "PYGENT_URL"
ENV_TOKEN = "PYGENT_TOKEN"
KERNEL_TOKEN_HEADER = "X-Pygent-Token"


class PygentRequestError(Exception):
    """The server answered a request with ``error``; ``code`` is the stable error code."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.code = str(data.get("code", "internal"))
        self.message = str(data.get("message", ""))
        self.field = data.get("field")
        self.data = data
        super().__init__(f"{self.code}: {self.message}")


class ConnectionFailed(ConnectionError):
    """No connection could be made (or remade) within ``max_attempts``."""


def discover() -> tuple[str, dict[str, str]]:
    """The socket URL and auth headers for this process: env first, then running servers."""
    url = os.environ.get(ENV_URL)
    token = os.environ.get(ENV_TOKEN)
    if url and token:
        return url, {KERNEL_TOKEN_HEADER: token}
    try:
        from jupyter_server.serverapp import list_running_servers

        servers = list(list_running_servers())
    except Exception:  # jupyter_server missing or runtime dir unreadable
        servers = []
    for info in servers:
        base = str(info.get("url", "")).rstrip("/") + "/"
        scheme = "wss" if base.startswith("https") else "ws"
        ws = scheme + base[base.index(":") :] + "pygent/ws"
        headers = {"Authorization": f"token {info['token']}"} if info.get("token") else {}
        return ws, headers
    raise ConnectionFailed(
        "no Jupyter Server found: set $PYGENT_URL and $PYGENT_TOKEN, start `jupyter lab`, "
        "or pass url= and token="
    )


class PygentClient:
    """A typed-event client of ``/pygent/ws`` with request/reply, handlers and auto-reconnect.

    Events are dicts ``{"type", "data", "reply_to"?, "seq"?, "ts"?}``. Client-side connection
    changes are emitted as local ``connection_status`` (state ``reconnecting`` or
    ``disconnected``), ``connection_error`` and ``connection_failed`` events.

    The session rules (resume after a reconnect, renewing topics, dropping replayed
    duplicates, noticing a server restart, matching replies to requests) are those of
    :class:`~pygent_jupyter.protocol.session.ClientSession`; this class does the I/O. When
    the server restarted, a local ``error{code:"resync", details:{last_seq, epoch}}`` tells
    handlers to reload their state, as the server's own answer to an impossible resume does.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        client_id: str | None = None,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 15.0,
        request_timeout: float = 60.0,
        open_timeout: float = 10.0,
        max_queue: int = 10_000,
    ) -> None:
        self.url = url
        self.token = token
        self.client_id = client_id or f"py-{uuid.uuid4().hex[:12]}"
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.request_timeout = request_timeout
        self.open_timeout = open_timeout
        self.session = ClientSession()
        self.status: dict[str, Any] = {}
        self._max_queue = max_queue
        self._headers: dict[str, str] = {}
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = asyncio.Event() if _has_loop() else None
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._waiters: dict[str, asyncio.Queue[tuple[dict[str, Any], str]]] = {}
        self._inbox: asyncio.Queue[dict[str, Any]] | None = None
        self._subscribers: list[asyncio.Queue[dict[str, Any] | None]] = []
        self._ids = itertools.count(1)
        self._background: set[asyncio.Future[Any]] = set()

    @property
    def last_seq(self) -> int:
        """The newest event seq received in the server's current epoch (0: none yet)."""
        return self.session.last_seq

    @property
    def topics(self) -> set[str]:
        """Topics subscribed through this client; renewed after every reconnect."""
        return self.session.topics

    # -- connection -----------------------------------------------------------------------

    async def connect(self) -> PygentClient:
        """Open the socket (retrying with backoff) and wait for ``connection_status``."""
        if self._connected is None:
            self._connected = asyncio.Event()
        self._closing = False
        url, headers = self._resolve()
        self._headers = headers
        self.url = url
        await self._open_with_retry()
        return self

    def _resolve(self) -> tuple[str, dict[str, str]]:
        if self.url:
            headers = {"Authorization": f"token {self.token}"} if self.token else {}
            url = self.url
            if url.startswith("http"):
                url = "ws" + url[4:]
            if not urlsplit(url).path.rstrip("/").endswith("pygent/ws"):
                url = url.rstrip("/") + "/pygent/ws"
            return url, headers
        return discover()

    def _url_with_client_id(self) -> str:
        assert self.url is not None
        parts = urlsplit(self.url)
        query = (
            parts.query + ("&" if parts.query else "") + urlencode({"client_id": self.client_id})
        )
        return urlunsplit(parts._replace(query=query))

    async def _open_with_retry(self) -> None:
        attempt = 0
        while True:
            try:
                await self._open()
                return
            except (OSError, websockets.exceptions.WebSocketException, asyncio.TimeoutError) as exc:
                attempt += 1
                final = attempt >= self.max_attempts or _is_auth_failure(exc)
                delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
                delay *= 0.5 + random.random() / 2
                error = {"error": _describe(exc), "attempt": attempt}
                if not final:
                    error["retry_in"] = round(delay, 3)  # widgets count down to the next try
                self._emit_local("connection_error", error)
                if final:
                    self._emit_local(
                        "connection_failed",
                        {
                            "error": f"gave up after {attempt} attempts: {_describe(exc)}",
                            "attempts": attempt,
                        },
                    )
                    self._emit_local("connection_status", {"state": "disconnected"})
                    raise ConnectionFailed(_describe(exc)) from exc
                await asyncio.sleep(delay)

    async def _open(self) -> None:
        ws = await websockets.connect(
            self._url_with_client_id(),
            additional_headers=self._headers,
            open_timeout=self.open_timeout,
            max_size=None,
            ping_interval=20,
            ping_timeout=60,
        )
        first = json.loads(await asyncio.wait_for(ws.recv(), self.open_timeout))
        if first.get("type") != "connection_status":
            await ws.close()
            raise websockets.exceptions.InvalidMessage(f"unexpected first event {first!r}")
        self._ws = ws
        self.status = first.get("data", {})
        assert self._connected is not None
        self._connected.set()
        self._reader = asyncio.ensure_future(self._read_loop(ws))
        self.session.opened()
        receipt = self._dispatch(first)
        for message in receipt.send:  # resume{last_seq, epoch}, then topic renewal
            await ws.send(json.dumps({**message, "id": self._next_id()}))
        if receipt.resync == "server_restarted":
            self.emit_local(
                "error",
                {
                    "code": "resync",
                    "message": "the server restarted since your last connection: reload your state",
                    "details": {"last_seq": self.session.last_seq, "epoch": self.session.epoch},
                },
            )

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                try:
                    event = json.loads(frame)
                except ValueError:
                    log.warning("pygent: dropped a frame that is not JSON")
                    continue
                if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                    log.warning("pygent: dropped a frame that is not an event envelope")
                    continue
                self._dispatch(event)
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
                self.session.closed()
                if self._connected is not None:
                    self._connected.clear()
                if not self._closing:
                    self._spawn(self._reconnect(ws.close_code))

    async def _reconnect(self, code: int | None) -> None:
        self._emit_local("connection_status", {"state": "reconnecting", "close_code": code})
        try:
            await self._open_with_retry()
        except ConnectionFailed as exc:
            self._fail_waiters(exc)

    async def close(self) -> None:
        """Close the socket; no reconnect follows. Iterators over events end."""
        self._closing = True
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._fail_waiters(ConnectionError("client closed"))
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def __aenter__(self) -> PygentClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def is_connected(self) -> bool:
        return self._ws is not None

    async def wait_connected(self, timeout: float | None = None) -> None:
        assert self._connected is not None
        await asyncio.wait_for(self._connected.wait(), timeout)

    # -- events ---------------------------------------------------------------------------

    def on(self, event_type: str, handler: Handler) -> Handler:
        """Call ``handler(event)`` for each event of ``event_type`` (``"*"``: every event).
        Async handlers run as tasks. Returns ``handler`` so it can be used as a decorator arg.
        """
        self._handlers[event_type].append(handler)
        return handler

    def off(self, event_type: str, handler: Handler | None = None) -> None:
        """Remove one handler, or all handlers of ``event_type``."""
        if handler is None:
            self._handlers.pop(event_type, None)
        elif handler in self._handlers.get(event_type, []):
            self._handlers[event_type].remove(handler)

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self.events()

    async def events(self, types: Iterable[str] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every event from now on (only ``types`` if given), until :meth:`close`."""
        wanted = set(types) if types is not None else None
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self._max_queue)
        self._subscribers.append(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                if wanted is None or event["type"] in wanted:
                    yield event
        finally:
            self._subscribers.remove(queue)

    def _dispatch(self, event: dict[str, Any]) -> Receipt:
        receipt = self.session.receive(event)
        if not receipt.deliver:  # a replayed event this client already has
            return receipt
        data = event.get("data") or {}
        if event.get("type") == "connection_status" and "connection_id" in data:
            self.status = data
        if event.get("type") == "capabilities" and self.session.capabilities is not None:
            self.status = {**self.status, "capabilities": list(self.session.capabilities)}
        if receipt.reply is not None and receipt.reply.id in self._waiters:
            self._waiters[receipt.reply.id].put_nowait((event, receipt.reply.kind))
        if self._inbox is not None and not self._inbox.full():
            self._inbox.put_nowait(event)
        for queue in list(self._subscribers):
            if not queue.full():
                queue.put_nowait(event)
        for handler in [*self._handlers.get(event.get("type", ""), []), *self._handlers["*"]]:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    self._spawn(_guard(result))
            except Exception:
                log.exception("pygent event handler failed")
        return receipt

    def _spawn(self, coro: Awaitable[Any]) -> None:
        """Run ``coro`` as a task that is kept referenced until it ends."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def emit_local(self, type_: str, data: dict[str, Any], reply_to: str | None = None) -> None:
        """Deliver an event raised on this side (no ``seq``) to handlers, iterators and
        any request waiting on ``reply_to``."""
        event: dict[str, Any] = {"type": type_, "data": data, "ts": time.time()}
        if reply_to is not None:
            event["reply_to"] = reply_to
        self._dispatch(event)

    def _emit_local(self, type_: str, data: dict[str, Any]) -> None:
        self.emit_local(type_, data)

    def _note_outgoing(self, message: dict[str, Any]) -> None:
        """Remember topic subscriptions so a reconnect can renew them."""
        self.session.note_sent(message)

    def _fail_waiters(self, exc: Exception) -> None:
        self.session.fail_pending()
        for queue in self._waiters.values():
            queue.put_nowait(({"type": "_failed", "data": {"error": str(exc)}}, "error"))

    # -- requests -------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{self.client_id}-{next(self._ids)}"

    async def _send(self, message: dict[str, Any]) -> None:
        if self._ws is None:
            if self._closing:
                raise ConnectionError("client is closed")
            await self.wait_connected(self.request_timeout)
        assert self._ws is not None
        self._note_outgoing(message)
        await self._ws.send(json.dumps(message))

    async def send(self, type_: str, data: Mapping[str, Any] | None = None) -> str:
        """Send a command without waiting for a reply; returns its id."""
        msg_id = self._next_id()
        await self._send({"type": type_, "id": msg_id, "data": data or {}})
        return msg_id

    async def stream(
        self,
        type_: str,
        data: Mapping[str, Any] | None = None,
        *,
        until: str | Iterable[str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Send a command and yield every reply to it, ending after a reply of type ``until``
        (or after the first reply if ``until`` is None). ``error`` replies raise
        :class:`PygentRequestError`. ``timeout`` bounds the wait between replies.
        """
        final = {until} if isinstance(until, str) else set(until or ())
        msg_id = self._next_id()
        queue: asyncio.Queue[tuple[dict[str, Any], str]] = asyncio.Queue()
        self._waiters[msg_id] = queue
        self.session.expect(msg_id, final)
        try:
            await self._send({"type": type_, "id": msg_id, "data": data or {}})
            while True:
                event, kind = await asyncio.wait_for(queue.get(), timeout or self.request_timeout)
                if event["type"] == "_failed":
                    raise ConnectionError(event["data"]["error"])
                if kind == "error":
                    raise PygentRequestError(event.get("data", {}))
                yield event
                if kind == "final":
                    return
        finally:
            self._waiters.pop(msg_id, None)
            self.session.forget(msg_id)

    async def request(
        self,
        type_: str,
        data: Mapping[str, Any] | None = None,
        *,
        reply_type: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send a command; return its first reply (or the first of ``reply_type``)."""
        last: dict[str, Any] | None = None
        async for event in self.stream(type_, data, until=reply_type, timeout=timeout):
            last = event
        assert last is not None
        return last

    async def cancel(self, request_id: str) -> None:
        """Ask the server to cancel a running command by its id."""
        await self.send("cancel", {"request_id": request_id})

    # -- the seed's protocol-layer surface ------------------------------------------------

    async def send_message(self, message: dict[str, Any]) -> bool:
        """Send a raw envelope; False if not connected."""
        if self._ws is None:
            return False
        try:
            await self._ws.send(json.dumps(message))
        except websockets.exceptions.ConnectionClosed:
            return False
        self._note_outgoing(message)
        return True

    async def receive_message(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event received after the first call, or None on timeout."""
        if self._inbox is None:
            self._inbox = asyncio.Queue(self._max_queue)
        try:
            return await asyncio.wait_for(self._inbox.get(), timeout)
        except asyncio.TimeoutError:
            return None


async def _guard(result: Awaitable[Any]) -> None:
    try:
        await result
    except Exception:
        log.exception("pygent async event handler failed")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def _is_auth_failure(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) in (401, 403)


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
