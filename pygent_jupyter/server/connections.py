"""Connections and their bounded outboxes, indexed by id, user and topic.

A :class:`Connection` writes straight to its transport while the transport keeps up. When
unflushed bytes pass ``high_water``, reliable frames wait in a bounded queue and lossy
frames keep only the newest one per topic. A client whose queue passes ``max_queue_bytes``
is closed with 1008, so one slow reader can never grow server memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

__all__ = ["CLOSE_TOO_SLOW", "Connection", "ConnectionManager", "Transport"]

CLOSE_TOO_SLOW = 1008


class Transport(Protocol):
    """What a connection needs from its socket (Tornado's WebSocketHandler fits)."""

    def write_message(self, message: str) -> Awaitable[None]: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


Authorize = Callable[[str, str], Awaitable[bool]]


async def _allow_all(action: str, resource: str) -> bool:
    return True


class Connection:
    """One open socket of one user.

    ``client_id`` is chosen by the client and stays the same across its reconnects, so that
    replies addressed to it can be replayed on the new connection.
    """

    def __init__(
        self,
        transport: Transport,
        user: str,
        *,
        client_id: str | None = None,
        authorize: Authorize = _allow_all,
        high_water: int = 256 * 1024,
        max_queue_bytes: int = 8 * 1024 * 1024,
        max_tasks: int = 8,
        on_close: Callable[[Connection], None] | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.user = user
        self.client_id = client_id or f"anon-{self.id}"
        self.topics: set[str] = set()
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self.max_tasks = max_tasks
        self.authorize = authorize
        self.closed = False
        self.close_code: int | None = None
        self._transport = transport
        self._high_water = high_water
        self._max_queue_bytes = max_queue_bytes
        self._inflight = 0
        self._queue: deque[str] = deque()
        self._queued_bytes = 0
        self._latest: dict[str, str] = {}
        self._on_close = on_close

    @property
    def buffered_bytes(self) -> int:
        """Bytes written but not yet flushed, plus bytes waiting in the queue."""
        return self._inflight + self._queued_bytes + sum(map(len, self._latest.values()))

    def send(self, frame: str, *, lossy_topic: str | None = None) -> bool:
        """Queue ``frame`` for this client. Never blocks. False if the connection is gone.

        A lossy frame replaces an older unsent frame of the same topic.
        """
        if self.closed:
            return False
        if self._inflight < self._high_water and not self._queue and not self._latest:
            return self._write(frame)
        if lossy_topic is not None:
            self._latest[lossy_topic] = frame
            return True
        if self._queued_bytes + len(frame) > self._max_queue_bytes:
            self.close(CLOSE_TOO_SLOW, "client is not reading: outbound queue overflow")
            return False
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket, drop everything queued and call ``on_close``. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._drop_buffers()
        with contextlib.suppress(Exception):  # the socket may already be gone
            self._transport.close(code, reason)
        if self._on_close is not None:
            self._on_close(self)

    def _drop_buffers(self) -> None:
        self._queue.clear()
        self._queued_bytes = 0
        self._latest.clear()

    def _write(self, frame: str) -> bool:
        size = len(frame)
        try:
            future = self._transport.write_message(frame)
        except Exception:  # WebSocketClosedError and friends
            self.closed = True
            self._drop_buffers()
            return False
        self._inflight += size
        future = asyncio.ensure_future(future)
        future.add_done_callback(lambda f, n=size: self._written(f, n))  # type: ignore[misc]
        return True

    def _written(self, future: asyncio.Future[Any], size: int) -> None:
        self._inflight -= size
        if future.cancelled() or future.exception() is not None:
            self.closed = True
            self._drop_buffers()
            return
        while self._inflight < self._high_water and not self.closed:
            if self._queue:
                frame = self._queue.popleft()
                self._queued_bytes -= len(frame)
            elif self._latest:
                frame = self._latest.pop(next(iter(self._latest)))
            else:
                return
            if not self._write(frame):
                return


class ConnectionManager:
    """Every open connection, by id and by user. Sends never block."""

    def __init__(self) -> None:
        self._by_id: dict[str, Connection] = {}
        self._by_user: dict[str, dict[str, Connection]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._by_id.values()))

    def add(self, conn: Connection) -> None:
        self._by_id[conn.id] = conn
        self._by_user.setdefault(conn.user, {})[conn.id] = conn

    def remove(self, conn: Connection) -> None:
        """Forget ``conn`` and cancel its running commands."""
        self._by_id.pop(conn.id, None)
        conns = self._by_user.get(conn.user)
        if conns is not None:
            conns.pop(conn.id, None)
            if not conns:
                del self._by_user[conn.user]
        for task in conn.tasks.values():
            task.cancel()
        conn.tasks.clear()

    def get(self, conn_id: str) -> Connection | None:
        return self._by_id.get(conn_id)

    def users(self) -> list[str]:
        return list(self._by_user)

    def of_user(self, user: str) -> list[Connection]:
        return list(self._by_user.get(user, {}).values())

    def subscribers(self, topic: str) -> list[Connection]:
        return [c for c in self._by_id.values() if topic in c.topics]

    def subscriber_count(self, topic: str) -> int:
        return sum(1 for c in self._by_id.values() if topic in c.topics)

    def send_personal(self, user: str, frame: str) -> int:
        """Send a pre-encoded frame to every connection of ``user``; returns how many took it."""
        return sum(c.send(frame) for c in self.of_user(user))

    def broadcast(self, frame: str) -> int:
        """Send one pre-encoded frame to every connection."""
        return sum(c.send(frame) for c in list(self._by_id.values()))
