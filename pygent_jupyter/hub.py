"""The Hub: routes client commands to services and delivers server events.

Contract for services (see :class:`~pygent_jupyter.services.base.Service`):

- a service maps message types to ``async def handler(request: Request) -> None``;
- the Hub validates ``data`` against the catalog *before* calling the handler, runs each
  command as its own task (at most ``max_tasks`` per connection) and turns a raised
  :class:`PygentError` into an ``error`` reply; any other exception is logged and the client
  sees ``internal`` without details;
- ``request.reply(type, data)`` sends to the requesting client only;
  ``hub.publish(user, …)`` to all of a user's connections; ``hub.broadcast(…)`` to everyone;
  ``hub.publish_topic(topic, …)`` to the topic's subscribers, lossy;
  ``hub.publish_user_topic(user, topic, …)`` to one user's subscribers of a topic;
  ``await hub.allowed(user, action, resource)`` asks Jupyter's authorizer. Services see the
  hub only as this :class:`~.services.seams.Publisher`, never its connections.

Every server event carries ``seq`` (per user, increasing) and ``ts``. Reliable events are kept
in a ring per user, bounded in count (``replay_size``) and bytes (``replay_bytes``), so that
``resume{last_seq}`` can replay what a client missed; types marked ``replay=False`` in the
catalog (token deltas: the final ``chat_response`` carries the whole answer) are not kept. A
resume whose gap was evicted, or whose replay would not fit the connection's outbox, is
answered ``resync``.

Readiness: a command reaches its service only after the service's ``start()`` returned. One
sent earlier waits up to ``ready_timeout`` seconds, then gets ``unavailable`` with
``details.retry_after``; one for a service that failed to start gets ``unavailable`` at once.
``connection_status.capabilities`` lists started services only, and a ``capabilities`` event
tells every connection when a service comes up (followed by that service's greeting).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ._version import PROTOCOL_VERSION, __version__
from .protocol import CATALOG, ErrorCode, Message, PygentError, decode
from .protocol.envelope import encode
from .protocol.session import ReplayRing, Resync
from .server.connections import Connection, ConnectionManager, in_command

if TYPE_CHECKING:
    from .services.base import Service

__all__ = ["Hub", "Request"]

log = logging.getLogger("pygent_jupyter.hub")

Handler = Callable[["Request"], Awaitable[None]]

_BUILTIN = frozenset({"ping", "subscribe", "unsubscribe", "resume", "cancel"})

D = TypeVar("D", bound=Mapping[str, Any])
"""The static type of a request's ``data``: a TypedDict from ``protocol.types``."""


_UserStream = ReplayRing
"""Per-user sequence counter and the replay ring of reliable events (the pure session core)."""


class Request(Generic[D]):
    """One client command in flight: who sent it, what it says, how to answer it.

    ``Request[ChatMessageData]`` types ``data`` as that message's TypedDict (generated in
    :mod:`pygent_jupyter.protocol.types`); a bare ``Request`` leaves it untyped. The Hub has
    validated ``data`` against the catalog before any handler sees it.
    """

    def __init__(self, hub: Hub, conn: Connection, message: Message) -> None:
        self.hub = hub
        self.connection = conn
        self.message = message
        self._held: list[tuple[str, str]] | None = None  # see hold_replies

    @property
    def user(self) -> str:
        return self.connection.user

    @property
    def data(self) -> D:
        return cast(D, self.message.data)

    @property
    def id(self) -> str | None:
        return self.message.id

    @property
    def client_id(self) -> str:
        """The requesting client's id (stable across its reconnects)."""
        return self.connection.client_id

    @property
    def closed(self) -> bool:
        """Whether the requesting connection has closed."""
        return self.connection.closed

    def with_data(self, data: dict[str, Any]) -> Request:
        """This request from the same client, carrying ``data`` (already validated) instead:
        e.g. a run's saved start request, answered again on resume."""
        return Request(self.hub, self.connection, dataclasses.replace(self.message, data=data))

    def reply(self, type_: str, data: dict[str, Any]) -> int:
        """Send an event to the requesting client (``reply_to`` this message). Returns its
        seq (0 while replies are held, see :meth:`hold_replies`)."""
        if self._held is not None:
            self._held.append((type_, encode(type_, data, reply_to=self.id)))
            return 0
        return self.hub.publish(
            self.user, type_, data, reply_to=self.id, client_id=self.connection.client_id
        )

    def hold_replies(self, until: asyncio.Future[Any]) -> None:
        """Keep this request's :meth:`reply` events until ``until`` is done, then send them in
        order; drop them if it failed or was cancelled (the handler reports that itself).

        Lets a handler start slow work (a model call) while what the client must not see
        anything before (its turn committed to the database) finishes.
        """
        held: list[tuple[str, str]] = []
        self._held = held

        def release(done: asyncio.Future[Any]) -> None:
            self._held = None
            if done.cancelled() or done.exception() is not None:
                return
            for type_, body in held:  # replies added until now, in order
                self.hub.publish_encoded(self.user, type_, body, client_id=self.client_id)

        until.add_done_callback(release)

    async def reply_large(self, type_: str, data: dict[str, Any]) -> int:
        """Like :meth:`reply`, for answers that may be megabytes (search results, history
        pages): the JSON is encoded in a worker thread, so the loop never stalls on it."""
        body = await asyncio.to_thread(encode, type_, data, reply_to=self.id)
        return self.hub.publish_encoded(self.user, type_, body, client_id=self.connection.client_id)

    async def authorize(self, resource: str, action: str = "execute") -> None:
        """Raise ``forbidden`` unless Jupyter's authorizer lets this user do ``action``."""
        if not await self.connection.authorize(action, resource):
            raise PygentError(ErrorCode.FORBIDDEN, f"you are not allowed to {action} {resource!r}")


class Hub:
    """Command routing, per-user sequencing, replay and fan-out."""

    def __init__(
        self,
        connections: ConnectionManager | None = None,
        *,
        replay_size: int = 1000,
        replay_bytes: int = 4 * 1024 * 1024,
        ready_timeout: float = 30.0,
        log: logging.Logger = log,
    ) -> None:
        self.connections = connections or ConnectionManager()
        self.replay_size = replay_size
        self.replay_bytes = replay_bytes
        self.ready_timeout = ready_timeout
        self.log = log
        self.started_at = time.time()
        self.epoch = uuid.uuid4().hex[:12]  # tells a resuming client the server restarted
        self.services: dict[str, Service] = {}
        self.unavailable: dict[str, str] = {}  # services that failed to load, with why
        self._commands: dict[str, Handler] = {}
        self._owners: dict[str, Service] = {}  # command type -> the service handling it
        self._ready: dict[str, asyncio.Event] = {}  # service name -> set once start() ended
        self._streams: dict[str, _UserStream] = {}
        self._topic_listeners: list[Callable[[str, int], None]] = []

    # -- services -------------------------------------------------------------------------

    def register(self, service: Service) -> None:
        """Route ``service.commands()`` to it. A type may have only one handler."""
        for type_, handler in service.commands().items():
            if type_ in self._commands or type_ in _BUILTIN:
                raise ValueError(f"command {type_!r} is already handled")
            self._commands[type_] = handler
            self._owners[type_] = service
        self.services[service.name] = service
        self._ready[service.name] = asyncio.Event()

    def service(self, name: str) -> Service | None:
        return self.services.get(name)

    async def start(self) -> None:
        """Start every service in order; a service that fails to start is logged and marked
        down. Each one that comes up is announced to open connections (``capabilities``)."""
        for service in self.services.values():
            try:
                await service.start()
            except Exception:
                self.log.exception("pygent service %s failed to start", service.name)
                service.start_error = "failed to start; see the server log"
            else:
                service.started = True
            self._ready[service.name].set()
            self._announce(service)

    def _announce(self, service: Service) -> None:
        """Tell every open connection that ``service`` finished starting (or failed to)."""
        if not len(self.connections):
            return
        up = service.name in self.capabilities()
        self.broadcast(
            "capabilities",
            {
                "capabilities": self.capabilities(),
                "service": service.name,
                "state": "up" if up else "down",
            },
        )
        if up:
            for conn in self.connections:
                for type_, data in service.greeting(conn.user):
                    self.send_to(conn, type_, data)

    def is_ready(self, service: Service) -> bool:
        """Whether ``service.start()`` has returned (or failed)."""
        event = self._ready.get(service.name)
        return event is None or event.is_set()

    async def wait_ready(self, service: Service) -> None:
        """Return once ``service`` started; raise ``unavailable`` if it failed to or is still
        starting after ``ready_timeout`` seconds (with ``details.retry_after``)."""
        event = self._ready.get(service.name)
        if event is not None and not event.is_set():
            try:
                await asyncio.wait_for(event.wait(), self.ready_timeout)
            except asyncio.TimeoutError:
                raise PygentError(
                    ErrorCode.UNAVAILABLE,
                    f"the {service.name} service is still starting; retry in a few seconds",
                    details={"service": service.name, "retry_after": 5},
                ) from None
        if service.start_error is not None:
            raise PygentError(
                ErrorCode.UNAVAILABLE,
                f"the {service.name} service failed to start ({service.start_error})",
                details={"service": service.name},
            )

    async def stop(self) -> None:
        for conn in self.connections:
            for task in conn.tasks.values():
                task.cancel()
        for service in reversed(list(self.services.values())):
            try:
                await service.stop()
            except Exception:
                self.log.exception("pygent service %s failed to stop cleanly", service.name)

    def capabilities(self) -> list[str]:
        """Names of the services whose ``start()`` returned and that report themselves up."""
        return [
            n
            for n, s in self.services.items()
            if s.started and self.is_ready(s) and s.health().get("state") == "up"
        ]

    def health(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "protocol_version": PROTOCOL_VERSION,
            "uptime": round(time.time() - self.started_at, 3),
            "connections": len(self.connections),
            "services": {n: s.health() for n, s in self.services.items()},
            "unavailable": dict(self.unavailable),
            "replay": {
                "users": len(self._streams),
                "events": sum(len(s.ring) for s in self._streams.values()),
                "bytes": sum(s.ring_bytes for s in self._streams.values()),
                "bytes_per_user_limit": self.replay_bytes,
            },
        }

    def on_topic_change(self, listener: Callable[[str, int], None]) -> None:
        """Call ``listener(topic, subscriber_count)`` whenever a topic's audience changes."""
        self._topic_listeners.append(listener)

    # -- events ---------------------------------------------------------------------------

    def _stream(self, user: str) -> _UserStream:
        stream = self._streams.get(user)
        if stream is None:
            stream = self._streams[user] = _UserStream()
        return stream

    def _remember(
        self, stream: _UserStream, client_id: str | None, frame: str, type_: str = ""
    ) -> None:
        spec = CATALOG.get(type_)
        if spec is not None and not spec.replay:
            return
        stream.remember(
            stream.seq, client_id, frame, max_events=self.replay_size, max_bytes=self.replay_bytes
        )

    def replay_stats(self) -> dict[str, dict[str, int]]:
        """Per user: events and bytes held for ``resume`` (for health and tests)."""
        return {
            user: {"events": len(s.ring), "bytes": s.ring_bytes, "seq": s.seq}
            for user, s in self._streams.items()
        }

    def publish(
        self,
        user: str,
        type_: str,
        data: dict[str, Any],
        *,
        reply_to: str | None = None,
        client_id: str | None = None,
    ) -> int:
        """Send a reliable event to ``user`` (only to ``client_id`` when given). Returns seq."""
        stream = self._stream(user)
        stream.seq += 1
        frame = encode(type_, data, reply_to=reply_to, seq=stream.seq)
        self._deliver(stream, user, type_, frame, client_id)
        return stream.seq

    def publish_encoded(
        self, user: str, type_: str, body: str, *, client_id: str | None = None
    ) -> int:
        """:meth:`publish` for an event already encoded (without ``seq``). Returns seq."""
        stream = self._stream(user)
        stream.seq += 1
        self._deliver(stream, user, type_, _with_seq(body, stream.seq), client_id)
        return stream.seq

    def _deliver(
        self, stream: _UserStream, user: str, type_: str, frame: str, client_id: str | None
    ) -> None:
        self._remember(stream, client_id, frame, type_)
        for conn in self.connections.of_user(user):
            if client_id is None or conn.client_id == client_id:
                conn.send(frame)

    def broadcast(self, type_: str, data: dict[str, Any]) -> None:
        """Send a reliable event to every connected user; the JSON is encoded once."""
        body = encode(type_, data)
        for user in self.connections.users():
            stream = self._stream(user)
            stream.seq += 1
            frame = _with_seq(body, stream.seq)
            self._remember(stream, None, frame, type_)
            for conn in self.connections.of_user(user):
                conn.send(frame)

    def publish_topic(self, topic: str, type_: str, data: dict[str, Any]) -> int:
        """Send a lossy event to the topic's subscribers; returns how many got it."""
        subscribers = self.connections.subscribers(topic)
        if not subscribers:
            return 0
        body = encode(type_, data)
        frames: dict[str, str] = {}
        for conn in subscribers:
            frame = frames.get(conn.user)
            if frame is None:
                stream = self._stream(conn.user)
                stream.seq += 1
                frame = frames[conn.user] = _with_seq(body, stream.seq)
            conn.send(frame, lossy_topic=topic)
        return len(subscribers)

    def publish_user_topic(
        self,
        user: str,
        topic: str,
        type_: str,
        data: dict[str, Any],
        *,
        except_client: str | None = None,
    ) -> int:
        """Send an event (sequenced, not replayed) to ``user``'s connections subscribed to
        ``topic``, except the client ``except_client``; returns how many got it."""
        sent = 0
        for conn in self.connections.of_user(user):
            if topic in conn.topics and conn.client_id != except_client:
                self.send_to(conn, type_, data)
                sent += 1
        return sent

    async def allowed(self, user: str, action: str, resource: str) -> bool:
        """Whether Jupyter's authorizer lets ``user`` do ``action`` on ``resource``, asked
        through one of their open connections (the authorizer needs a request); False when
        the user has none open."""
        for conn in self.connections.of_user(user):
            return bool(await conn.authorize(action, resource))
        return False

    # -- connection lifecycle -------------------------------------------------------------

    def open(self, conn: Connection) -> None:
        """Register ``conn`` and greet it with ``connection_status`` and service hellos."""
        self.connections.add(conn)
        stream = self._stream(conn.user)
        self.send_to(
            conn,
            "connection_status",
            {
                "state": "connected",
                "connection_id": conn.id,
                "client_id": conn.client_id,
                "user": conn.user,
                "server_version": __version__,
                "protocol_version": PROTOCOL_VERSION,
                "capabilities": self.capabilities(),
                "last_seq": stream.seq,
                "epoch": self.epoch,
            },
        )
        for service in self.services.values():
            if not service.started or not self.is_ready(service):
                continue  # greeted by _announce once it is up
            for type_, data in service.greeting(conn.user):
                self.send_to(conn, type_, data)

    def close(self, conn: Connection) -> None:
        """Forget ``conn`` (idempotent): cancel its commands, update topic audiences."""
        if self.connections.get(conn.id) is None:
            return
        topics = set(conn.topics)
        self.connections.remove(conn)
        for topic in topics:
            self._topic_changed(topic)

    def send_to(
        self, conn: Connection, type_: str, data: dict[str, Any], reply_to: str | None = None
    ) -> None:
        """Send an event to one connection (sequenced, not replayed)."""
        stream = self._stream(conn.user)
        stream.seq += 1
        conn.send(encode(type_, data, reply_to=reply_to, seq=stream.seq))

    def _error(self, conn: Connection, error: PygentError, reply_to: str | None) -> None:
        self.send_to(conn, "error", error.to_data(), reply_to=reply_to)

    def _topic_changed(self, topic: str) -> None:
        count = self.connections.subscriber_count(topic)
        for listener in self._topic_listeners:
            try:
                listener(topic, count)
            except Exception:
                self.log.exception("topic listener failed")

    # -- inbound --------------------------------------------------------------------------

    def handle_frame(self, conn: Connection, frame: str | bytes) -> None:
        """Decode, validate and dispatch one client frame. Never blocks, never raises."""
        try:
            message = decode(frame)
        except PygentError as error:
            self._error(conn, error, error.reply_to)
            return
        if message.type in _BUILTIN:
            try:
                self._builtin(conn, message)
            except PygentError as error:
                self._error(conn, error, message.id)
            return
        key = message.id or f"_{id(message)}"
        handler = self._commands.get(message.type)
        refusal = None
        if handler is None:
            refusal = PygentError(
                ErrorCode.UNAVAILABLE,
                f"{message.type!r} is not available: its service is not running on this server",
            )
        elif len(conn.tasks) >= conn.max_tasks:
            refusal = PygentError(
                ErrorCode.RATE_LIMITED,
                f"too many commands in flight on this connection (limit {conn.max_tasks})",
            )
        elif key in conn.tasks:
            refusal = PygentError(ErrorCode.CONFLICT, f"a command with id {key!r} is running")
        if refusal is not None:
            self._error(conn, refusal, message.id)
            return
        assert handler is not None
        owner = self._owners.get(message.type)
        if owner is not None and owner.start_error is not None and self.is_ready(owner):
            self._error(
                conn,
                PygentError(
                    ErrorCode.UNAVAILABLE,
                    f"the {owner.name} service failed to start ({owner.start_error})",
                    details={"service": owner.name},
                ),
                message.id,
            )
            return
        request: Request[Any] = Request(self, conn, message)
        task = asyncio.ensure_future(self._run(handler, request, key, owner))
        conn.tasks[key] = task
        task.add_done_callback(lambda _t: conn.tasks.pop(key, None))

    async def _run(
        self, handler: Handler, request: Request, key: str, owner: Service | None = None
    ) -> None:
        in_command.set(True)  # this task's context only: its replies are coalesced
        try:
            if owner is not None and not self.is_ready(owner):
                await self.wait_ready(owner)
            await handler(request)
        except PygentError as error:
            request.reply("error", error.to_data())
        except asyncio.CancelledError:
            if not request.connection.closed:
                request.reply(
                    "error", {"code": "cancelled", "message": "the request was cancelled"}
                )
        except Exception:
            self.log.exception("pygent command %s failed", request.message.type)
            request.reply(
                "error",
                {"code": "internal", "message": "internal error; see the server log"},
            )
        finally:
            # free the id before any later frame is read (the done callback runs later)
            request.connection.tasks.pop(key, None)

    def _builtin(self, conn: Connection, message: Message) -> None:
        data = message.data
        if message.type == "ping":
            reply: dict[str, Any] = {"server_ts": time.time()}
            if "ts" in data:
                reply["ts"] = data["ts"]
            self.send_to(conn, "pong", reply, reply_to=message.id)
        elif message.type in ("subscribe", "unsubscribe"):
            topics = set(data["topics"])
            changed = topics - conn.topics if message.type == "subscribe" else topics & conn.topics
            if message.type == "subscribe":
                conn.topics |= topics
            else:
                conn.topics -= topics
            self.send_to(conn, "subscribed", {"topics": sorted(conn.topics)}, message.id)
            for topic in changed:
                self._topic_changed(topic)
        elif message.type == "resume":
            self._resume(conn, int(data["last_seq"]), data.get("epoch"), message.id)
        elif message.type == "cancel":
            self._cancel(conn, data["request_id"], message.id)

    def _resume(
        self, conn: Connection, last_seq: int, epoch: str | None, reply_to: str | None
    ) -> None:
        stream = self._stream(conn.user)
        decision = stream.resume(
            last_seq,
            epoch,
            current_epoch=self.epoch,
            client_id=conn.client_id,
            max_bytes=conn.max_queue_bytes,
        )
        if isinstance(decision, Resync):
            raise PygentError(ErrorCode.RESYNC, decision.message, details=decision.details)
        for frame in decision.frames:
            conn.send(frame)
        replayed = {"replayed": len(decision.frames), "last_seq": decision.last_seq}
        self.send_to(conn, "resumed", replayed, reply_to)

    def _cancel(self, conn: Connection, request_id: str, reply_to: str | None) -> None:
        for candidate in self.connections.of_user(conn.user):
            task = candidate.tasks.get(request_id)
            if task is not None:
                task.cancel()
                return
        raise PygentError(ErrorCode.NOT_FOUND, f"no running request with id {request_id!r}")

    def command_types(self) -> Mapping[str, Handler]:
        """Every service command type and its handler."""
        return dict(self._commands)


def _with_seq(body: str, seq: int) -> str:
    """Insert ``seq`` into an encoded event without re-encoding it."""
    return f'{body[:-1]},"seq":{seq}}}'
