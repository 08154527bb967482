"""Link: a :class:`~pygent_jupyter.client.PygentClient` on its own event-loop thread.

A kernel's main thread is busy while a cell runs, and ipykernel runs a synchronous magic *on*
the kernel's loop, so neither can wait on a client living in that loop. The Link runs the
client on a daemon thread instead: cells may block on it (``request``, ``stream``), and
events keep flowing to widgets while they do (ipywidgets' comm messages are thread-safe).
The client reconnects and resumes by itself; widgets skip replayed events by ``seq``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["Link", "shared_link"]

T = TypeVar("T")
Handler = Callable[[dict[str, Any]], Any]

_shared: Link | None = None
_ids = itertools.count(1)


def new_id(prefix: str = "k") -> str:
    """A message id unique in this process."""
    return f"{prefix}-{threading.get_ident() % 10000}-{next(_ids)}"


_shared_lock = threading.Lock()


class Link:
    """Owns a loop thread and a client on it; every method is safe to call from any thread.

    ``client`` defaults to ``PygentClient(**client_kwargs)``, which needs no arguments
    inside a kernel started by a server with the extension.
    """

    def __init__(self, client: Any = None, **client_kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="pygent-link", daemon=True)
        self._thread.start()
        if client is None:
            from ..client import PygentClient

            async def make() -> Any:
                return PygentClient(**client_kwargs)

            client = self.call(make())
        self.client = client
        self._connected = False

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    # -- running things on the loop ---------------------------------------------------------

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the link's loop."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the link's loop and block until it finishes (or ``timeout``)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("Link.call() would deadlock on the link's own thread")
        return self.submit(coro).result(timeout)

    def connect(self, timeout: float = 30.0) -> Link:
        """Connect (once). Raises the client's ``ConnectionFailed`` when there is no server."""
        if not self._connected:
            self.call(self.client.connect(), timeout)
            self._connected = True
        return self

    @property
    def connected(self) -> bool:
        return bool(self._connected and self.client.is_connected())

    @property
    def status(self) -> dict[str, Any]:
        """The server's latest ``connection_status`` data (user, capabilities, versions)."""
        return dict(getattr(self.client, "status", {}) or {})

    # -- events -----------------------------------------------------------------------------

    def on(self, type_: str, handler: Handler) -> None:
        """Call ``handler(event)`` on the link's thread for each event of ``type_``."""
        self._soon(self.client.on, type_, handler)

    def off(self, type_: str, handler: Handler) -> None:
        self._soon(self.client.off, type_, handler)

    def _soon(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed between the check and the call
                self.loop.call_soon_threadsafe(fn, *args)

    # -- commands ---------------------------------------------------------------------------

    def send_nowait(self, type_: str, data: dict[str, Any], msg_id: str) -> None:
        """Send ``{type, data, id}`` when connected; returns at once.

        If it cannot be sent, an ``error{code:unavailable}`` replying to ``msg_id`` is
        raised locally, so whoever waits on it learns why.
        """

        async def go() -> None:
            try:
                if not self.client.is_connected():
                    await self.client.wait_connected(self.client.request_timeout)
                ok = await self.client.send_message({"type": type_, "id": msg_id, "data": data})
                if not ok:
                    raise ConnectionError("not connected")
            except Exception as exc:
                self.client.emit_local(
                    "error",
                    {
                        "code": "unavailable",
                        "message": f"could not send {type_}: {exc or type(exc).__name__}",
                    },
                    reply_to=msg_id,
                )

        if self.loop.is_closed():
            raise ConnectionError("the pygent link is closed")
        self.submit(go())

    def request(
        self,
        type_: str,
        data: dict[str, Any] | None = None,
        *,
        reply_type: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Blocking ``client.request``: the first reply (of ``reply_type``); errors raise."""
        wait = None if timeout is None else timeout + 5
        return dict(
            self.call(
                self.client.request(type_, data or {}, reply_type=reply_type, timeout=timeout), wait
            )
        )

    def stream(
        self,
        type_: str,
        data: dict[str, Any] | None = None,
        *,
        until: str | Iterable[str] | None = None,
        timeout: float | None = None,
        msg_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Blocking iterator over the replies to one command, ending after a reply of type
        ``until`` (after the first reply if None).

        ``error`` replies raise :class:`~pygent_jupyter.client.PygentRequestError`; no reply for
        ``timeout`` seconds raises ``TimeoutError``; the client giving up reconnecting raises
        ``ConnectionError``. Replies replayed after a reconnect are delivered once. Leaving
        the loop early (``break``, Ctrl-C) sends ``cancel`` for the command.
        """
        from ..client import PygentRequestError

        final = {until} if isinstance(until, str) else set(until or ())
        msg_id = msg_id or new_id(type_[:8])
        out: queue.Queue[dict[str, Any]] = queue.Queue()
        seen: set[int] = set()

        dropped = False

        def handler(event: dict[str, Any]) -> None:
            nonlocal dropped
            kind = event.get("type")
            if kind == "connection_status" and event.get("data", {}).get("state") != "connected":
                dropped = True
            elif dropped and (
                kind == "resumed"
                or (kind == "error" and (event.get("data") or {}).get("code") == "resync")
            ):
                # the replay is done (or impossible: the server restarted) and our command's
                # answer is not complete: it died with the old socket (the server cancels a
                # closed connection's commands)
                out.put({"type": "_interrupted", "data": {}})
            if event.get("reply_to") == msg_id or kind == "connection_failed":
                seq = event.get("seq")
                if isinstance(seq, int):
                    if seq in seen:
                        return
                    seen.add(seq)
                out.put(event)

        self.on("*", handler)
        self.send_nowait(type_, data or {}, msg_id)
        finished = False
        try:
            while True:
                try:
                    event = out.get(timeout=timeout)
                except queue.Empty:
                    raise TimeoutError(f"no reply to {type_} within {timeout} s") from None
                if event["type"] == "_interrupted":
                    finished = True
                    raise ConnectionError(
                        f"the connection dropped while {type_} was running; run it again"
                    )
                if event["type"] == "connection_failed":
                    finished = True
                    raise ConnectionError(str(event.get("data", {}).get("error", "")))
                if event["type"] == "error":
                    finished = True
                    raise PygentRequestError(event.get("data") or {})
                yield event
                if not final or event["type"] in final:
                    finished = True
                    return
        finally:
            self.off("*", handler)
            if not finished:
                self.send_nowait("cancel", {"request_id": msg_id}, new_id("cancel"))

    def close(self, timeout: float = 5.0) -> None:
        """Close the client and stop the loop thread."""
        if self.loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self.call(self.client.close(), timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


def shared_link(connect: bool = True, **client_kwargs: Any) -> Link:
    """The process-wide Link (created on first use), used by ``%pygent`` and the widgets."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.loop.is_closed():
            _shared = Link(**client_kwargs)
        link = _shared
    if connect:
        link.connect()
    return link


def reset_shared_link() -> None:
    """Close and forget the process-wide Link (the next use connects afresh)."""
    global _shared
    with _shared_lock:
        link, _shared = _shared, None
    if link is not None:
        link.close()
