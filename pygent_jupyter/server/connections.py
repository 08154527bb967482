"""Connections and their bounded outboxes, indexed by id, user and topic.

Frames sent to a :class:`Connection` in one turn of the event loop are coalesced and written
together at the end of that turn (one ``send()`` syscall for a three-event reply, and no
waiting as with Nagle's algorithm); outside service commands the first frame of a turn is
written at once, so a ``pong`` never waits. While the transport keeps up, that is all.

When unflushed bytes pass ``high_water``, reliable frames wait in a bounded queue and lossy
frames keep only the newest one per topic. A client whose queue passes ``max_queue_bytes``
is closed with 1008, so one slow reader can never grow server memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Protocol

__all__ = ["CLOSE_TOO_SLOW", "Connection", "ConnectionManager", "Transport", "in_command"]

CLOSE_TOO_SLOW = 1008

in_command: ContextVar[bool] = ContextVar("pygent_in_command", default=False)
"""True inside a service command's task, whose replies tend to come in bursts: there even the
first frame of a loop turn waits for the end of the turn, to leave in one write with the rest."""


class Transport(Protocol):
    """What a connection needs from its socket (the Tornado handler implements it)."""

    def write_frames(self, frames: Sequence[str]) -> Awaitable[None]:
        """Write text frames in order; the awaitable resolves once they are flushed."""
        ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


Authorize = Callable[[str, str], Awaitable[bool]]


async def _allow_all(action: str, resource: str) -> bool:
    return True


def _flush_soon(conn: Connection) -> None:
    asyncio.get_running_loop().call_soon(conn.flush)


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
        self.schedule_flush: Callable[[Connection], None] = _flush_soon
        self._transport = transport
        self._high_water = high_water
        self._max_queue_bytes = max_queue_bytes
        self._inflight = 0
        self._sizes: deque[int] = deque()  # sizes of the writes in flight, oldest first
        self._turn_started = False
        self._batch: list[str] = []
        self._batch_bytes = 0
        self._queue: deque[str] = deque()
        self._queued_bytes = 0
        self._latest: dict[str, str] = {}
        self._on_close = on_close

    @property
    def max_queue_bytes(self) -> int:
        """Queued bytes past which this client is closed (1008) as too slow."""
        return self._max_queue_bytes

    @property
    def buffered_bytes(self) -> int:
        """Bytes accepted but not yet flushed to the socket."""
        return (
            self._inflight
            + self._batch_bytes
            + self._queued_bytes
            + sum(map(len, self._latest.values()))
        )

    def send(self, frame: str, *, lossy_topic: str | None = None) -> bool:
        """Accept ``frame`` for this client. Never blocks. False if the connection is gone.

        A lossy frame replaces an older unsent frame of the same topic.
        """
        if self.closed:
            return False
        if (
            self._inflight + self._batch_bytes < self._high_water
            and not self._queue
            and not self._latest
        ):
            if not self._turn_started:
                self._turn_started = True
                self.schedule_flush(self)
                if not in_command.get():
                    # a built-in answer or an event: write through at once
                    return self._write([frame], len(frame))
            self._batch.append(frame)
            self._batch_bytes += len(frame)
            return True
        if lossy_topic is not None:
            self._latest[lossy_topic] = frame
            return True
        if self._queued_bytes + len(frame) > self._max_queue_bytes:
            self.close(CLOSE_TOO_SLOW, "client is not reading: outbound queue overflow")
            return False
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        return True

    def flush(self) -> None:
        """End of a loop turn: write the frames that followed the first one, together."""
        self._turn_started = False
        if not self._batch or self.closed:
            return
        frames, size = self._batch, self._batch_bytes
        self._batch, self._batch_bytes = [], 0
        self._write(frames, size)

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
        self._batch, self._batch_bytes = [], 0
        self._queue.clear()
        self._queued_bytes = 0
        self._latest.clear()

    def _write(self, frames: list[str], size: int) -> bool:
        try:
            future = self._transport.write_frames(frames)
        except Exception:  # WebSocketClosedError and friends
            self.closed = True
            self._drop_buffers()
            return False
        self._inflight += size
        self._sizes.append(size)
        asyncio.ensure_future(future).add_done_callback(self._written)
        return True

    def _written(self, future: asyncio.Future[Any]) -> None:
        # a stream's writes complete in order, so this future is the oldest one in flight
        self._inflight -= self._sizes.popleft()
        if future.cancelled() or future.exception() is not None:
            self.closed = True
            self._drop_buffers()
            return
        frames: list[str] = []
        room = self._high_water - self._inflight
        while room > 0 and (self._queue or self._latest):
            if self._queue:
                frame = self._queue.popleft()
                self._queued_bytes -= len(frame)
            else:
                frame = self._latest.pop(next(iter(self._latest)))
            frames.append(frame)
            room -= len(frame)
        if frames and not self.closed:
            self._write(frames, sum(map(len, frames)))


class ConnectionManager:
    """Every open connection, by id and by user. Sends never block.

    Connections it holds flush once per loop turn through one shared callback, however many
    of them were written to (a broadcast to 5,000 clients schedules one callback, not 5,000).
    """

    def __init__(self) -> None:
        self._by_id: dict[str, Connection] = {}
        self._by_user: dict[str, dict[str, Connection]] = {}
        self._dirty: list[Connection] = []

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._by_id.values()))

    def add(self, conn: Connection) -> None:
        self._by_id[conn.id] = conn
        self._by_user.setdefault(conn.user, {})[conn.id] = conn
        conn.schedule_flush = self._mark_dirty

    def _mark_dirty(self, conn: Connection) -> None:
        if not self._dirty:
            asyncio.get_running_loop().call_soon(self.flush)
        self._dirty.append(conn)

    def flush(self) -> None:
        """Write every connection's pending frames now (normally called by the loop)."""
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()

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
