"""The session rules of ``/pygent/ws``, sans I/O: sequence numbers, epochs, resume, replies.

Like python-websockets' ``protocol.py``, these classes hold state and make decisions but
never touch a socket, a loop or a clock; the Hub, :class:`~pygent_jupyter.client.PygentClient`,
the notebook widgets and the lab extension's ``session.ts`` (a line-by-line mirror of this
file) are thin adapters around them. ``tests/protocol/session_vectors.json`` drives both
implementations with the same cases.

The rules (see ``docs/architecture.md``, "Sequence numbers…"):

- Every server event carries ``seq``, increasing per user; gaps are normal (lossy topics,
  other connections' replies). The server's ``epoch`` changes when it restarts, and with it
  the numbering starts again from 1.
- A client remembers the newest ``seq`` it saw (``last_seq``) and the ``epoch`` of the
  greeting (``connection_status``). After a reconnect, when the greeting shows the same
  epoch and a counter not behind ``last_seq``, it sends ``resume{last_seq, epoch}`` and the
  server replays what it missed. When the greeting shows a new epoch (or a counter behind
  ``last_seq``: the server restarted), nothing can be replayed: the client forgets its
  numbering (so new events are not taken for old ones) and tells its views to resync.
- Replays can repeat an event the new socket already got live, and can arrive after newer
  events: a client drops a ``seq`` it has seen, not a ``seq`` below the newest.
- Topic subscriptions belong to a socket: the client renews them after every greeting.
- The server answers ``resume`` with the ring's entries after ``last_seq`` addressed to
  everyone or to this client, then ``resumed``; or with ``error{code:"resync"}`` carrying the
  current ``last_seq`` and ``epoch`` when the epoch differs, ``last_seq`` is newer than its
  counter, the gap was evicted, or the replay would not fit the connection's outbox.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ClientSession",
    "Receipt",
    "Replay",
    "ReplayRing",
    "ReplyMatch",
    "Resync",
    "SeqFilter",
]

ResyncReason = Literal["server_restarted", "buffer_evicted"]

SEEN_WINDOW = 1024
"""How many recent seqs a client remembers to drop duplicates (older ones count as seen)."""


# -- server side ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """``resume`` accepted: send ``frames`` in order, then ``resumed{replayed, last_seq}``."""

    frames: list[str]
    last_seq: int


@dataclass(frozen=True)
class Resync:
    """``resume`` refused: answer ``error{code:"resync", message, details}``."""

    message: str
    details: dict[str, Any]


@dataclass
class ReplayRing:
    """One user's sequence counter and replay ring of reliable events (server side).

    ``ring`` holds ``(seq, client_id or None, frame)``; ``ring_bytes`` is the sum of
    ``len(frame)`` over it; ``evicted_upto`` is the highest seq no longer in it.
    """

    seq: int = 0
    ring: deque[tuple[int, str | None, str]] = field(default_factory=deque)
    ring_bytes: int = 0
    evicted_upto: int = 0

    def next_seq(self) -> int:
        """Take the next seq of this user (every server event takes one)."""
        self.seq += 1
        return self.seq

    def remember(
        self, seq: int, client_id: str | None, frame: str, *, max_events: int, max_bytes: int
    ) -> None:
        """Keep ``frame`` for replay, evicting the oldest entries past either bound."""
        self.ring.append((seq, client_id, frame))
        self.ring_bytes += len(frame)
        while self.ring and (len(self.ring) > max_events or self.ring_bytes > max_bytes):
            old_seq, _, old = self.ring.popleft()
            self.ring_bytes -= len(old)
            self.evicted_upto = old_seq

    def resume(
        self,
        last_seq: int,
        epoch: str | None,
        *,
        current_epoch: str,
        client_id: str | None,
        max_bytes: int,
    ) -> Replay | Resync:
        """Decide how to answer ``resume{last_seq, epoch}`` from ``client_id``.

        The decision is pure: the caller sends the frames (then ``resumed``) or the error.
        """
        details = {"last_seq": self.seq, "epoch": current_epoch}
        if (epoch is not None and epoch != current_epoch) or last_seq > self.seq:
            return Resync(
                "the server restarted since your last connection: reload your state", details
            )
        if last_seq < self.evicted_upto:
            return Resync(
                f"events after {last_seq} are no longer buffered (oldest kept: "
                f"{self.evicted_upto + 1}); reload your state",
                details,
            )
        frames = [
            frame
            for seq, target, frame in self.ring
            if seq > last_seq and (target is None or target == client_id)
        ]
        size = sum(map(len, frames))
        if size > max_bytes:
            return Resync(
                f"the {len(frames)} events you missed ({size} bytes) exceed what this "
                f"connection may queue ({max_bytes} bytes); reload your state",
                details,
            )
        return Replay(frames, self.seq)


# -- client side ----------------------------------------------------------------------------


class SeqFilter:
    """Duplicate filtering across reconnects and server restarts, for any event consumer.

    :meth:`accept` says whether an event's ``seq`` is new; :meth:`greeting` (on a
    ``connection_status`` from the server) forgets the numbering when the server restarted.
    """

    def __init__(self, epoch: str | None = None, window: int = SEEN_WINDOW) -> None:
        self.epoch = epoch
        self.last_seq = 0
        self._window = window
        self._floor = 0  # every seq <= floor counts as seen
        self._recent: deque[int] = deque()
        self._seen: set[int] = set()

    def accept(self, seq: Any) -> bool:
        """False for a seq seen before (a replayed duplicate); True, and remembered, else.

        Events without an integer ``seq`` (local ones) are always accepted.
        """
        if not isinstance(seq, int) or isinstance(seq, bool):
            return True
        if seq <= self._floor or seq in self._seen:
            return False
        self._seen.add(seq)
        self._recent.append(seq)
        if len(self._recent) > self._window:
            old = self._recent.popleft()
            self._seen.discard(old)
            self._floor = max(self._floor, old)
        if seq > self.last_seq:
            self.last_seq = seq
        return True

    def is_restart(self, epoch: Any, server_last_seq: Any) -> bool:
        """Whether a greeting with ``epoch`` and ``last_seq`` comes from a restarted server:
        another epoch than the known one, or a counter behind what we saw."""
        if isinstance(epoch, str) and self.epoch is not None and epoch != self.epoch:
            return True
        return isinstance(server_last_seq, int) and server_last_seq < self.last_seq

    def greeting(self, epoch: Any, server_last_seq: Any) -> bool:
        """Apply a server greeting; returns True (and forgets every seq) on a restart."""
        restarted = self.is_restart(epoch, server_last_seq)
        if restarted:
            self.reset()
        if isinstance(epoch, str):
            self.epoch = epoch
        return restarted

    def reset(self, last_seq: int = 0) -> None:
        """Forget every seq seen (a new numbering starts after ``last_seq``)."""
        self.last_seq = last_seq
        self._floor = 0
        self._recent.clear()
        self._seen.clear()


@dataclass(frozen=True)
class ReplyMatch:
    """An event answering a pending request: ``kind`` is ``reply`` (more to come),
    ``final`` or ``error`` (the request is no longer pending after the last two)."""

    id: str
    kind: Literal["reply", "final", "error"]


@dataclass
class Receipt:
    """What :meth:`ClientSession.receive` decided about one event.

    ``deliver``: hand it to handlers (False for a duplicate). ``send``: messages to send now,
    in order, without ``id`` (the adapter assigns one). ``resync``: views must reload their
    state (why). ``reply``: the pending request it answers.
    """

    deliver: bool = True
    send: list[dict[str, Any]] = field(default_factory=list)
    resync: ResyncReason | None = None
    reply: ReplyMatch | None = None

    def to_json(self) -> dict[str, Any]:
        """The shape the shared test vectors use."""
        return {
            "deliver": self.deliver,
            "send": self.send,
            "resync": self.resync,
            "reply": None if self.reply is None else {"id": self.reply.id, "kind": self.reply.kind},
        }


class ClientSession:
    """One client's view of its session with the server, across sockets.

    Inputs: :meth:`opened` (a socket opened), :meth:`receive` (every event, server or
    local), :meth:`closed` (the socket is gone), :meth:`subscribe` / :meth:`unsubscribe`,
    :meth:`expect` (a request went out), :meth:`fail_pending`. Outputs: a :class:`Receipt`
    per event, and the state: ``epoch``, ``last_seq``, ``topics``, ``capabilities``.
    """

    def __init__(self, window: int = SEEN_WINDOW) -> None:
        self.filter = SeqFilter(window=window)
        self.topics: set[str] = set()
        self.capabilities: list[str] | None = None
        self.greeted = False  # a greeting arrived on the current socket
        self._ever_greeted = False
        self._awaiting_greeting = False
        self._pending: dict[str, frozenset[str] | None] = {}

    @property
    def epoch(self) -> str | None:
        return self.filter.epoch

    @property
    def last_seq(self) -> int:
        return self.filter.last_seq

    # -- socket lifecycle -------------------------------------------------------------------

    def opened(self) -> None:
        """A socket opened: its first ``connection_status`` is the server's greeting."""
        self._awaiting_greeting = True
        self.greeted = False

    def closed(self) -> None:
        """The socket is gone; pending requests stay (their answers may be replayed)."""
        self._awaiting_greeting = False
        self.greeted = False

    # -- events -----------------------------------------------------------------------------

    def receive(self, event: Mapping[str, Any]) -> Receipt:
        """Account for one incoming event and say what to do with it."""
        receipt = Receipt()
        type_ = event.get("type")
        data = event.get("data")
        if not isinstance(data, Mapping):
            data = {}
        # a greeting or a resync may start a new numbering: before the event's own seq counts
        if type_ == "connection_status" and self._awaiting_greeting:
            self._greet(data, receipt)
        elif type_ == "error" and data.get("code") == "resync":
            receipt.resync = self._resynced(data.get("details"))
        if not self.filter.accept(event.get("seq")):
            receipt.deliver = False
            receipt.resync = None
            return receipt
        if type_ == "capabilities" and isinstance(data.get("capabilities"), list):
            self.capabilities = [str(c) for c in data["capabilities"]]
        reply_to = event.get("reply_to")
        if isinstance(reply_to, str) and reply_to in self._pending:
            final = self._pending[reply_to]
            if type_ == "error":
                kind: Literal["reply", "final", "error"] = "error"
            elif final is None or type_ in final:
                kind = "final"
            else:
                kind = "reply"
            if kind != "reply":
                del self._pending[reply_to]
            receipt.reply = ReplyMatch(reply_to, kind)
        return receipt

    def _greet(self, data: Mapping[str, Any], receipt: Receipt) -> None:
        self._awaiting_greeting = False
        self.greeted = True
        resume_from, known_epoch = self.filter.last_seq, self.filter.epoch
        if self.filter.greeting(data.get("epoch"), data.get("last_seq")):
            receipt.resync = "server_restarted"
        elif self._ever_greeted:
            resume: dict[str, Any] = {"last_seq": resume_from}
            if known_epoch is not None:
                resume["epoch"] = known_epoch
            receipt.send.append({"type": "resume", "data": resume})
        self._ever_greeted = True
        if self.topics:
            receipt.send.append({"type": "subscribe", "data": {"topics": sorted(self.topics)}})
        capabilities = data.get("capabilities")
        if isinstance(capabilities, list):
            self.capabilities = [str(c) for c in capabilities]

    def _resynced(self, details: Any) -> ResyncReason:
        """The server refused a resume: continue from its current position."""
        details = details if isinstance(details, Mapping) else {}
        epoch, last = details.get("epoch"), details.get("last_seq")
        reason: ResyncReason = "buffer_evicted"
        if isinstance(epoch, str) and self.filter.epoch is not None and epoch != self.filter.epoch:
            reason = "server_restarted"
            self.filter.reset()
        if isinstance(epoch, str):
            self.filter.epoch = epoch
        if isinstance(last, int) and last > self.filter.last_seq:
            self.filter.last_seq = last
        return reason

    # -- outgoing ---------------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str]) -> None:
        """Topics to renew after every reconnect (the caller sends ``subscribe`` itself)."""
        self.topics |= set(topics)

    def unsubscribe(self, topics: Iterable[str]) -> None:
        self.topics -= set(topics)

    def note_sent(self, message: Mapping[str, Any]) -> None:
        """Record what an outgoing message changes: ``subscribe`` / ``unsubscribe`` topics."""
        data = message.get("data")
        topics = data.get("topics") if isinstance(data, Mapping) else None
        if not isinstance(topics, list):
            return
        if message.get("type") == "subscribe":
            self.subscribe(topics)
        elif message.get("type") == "unsubscribe":
            self.unsubscribe(topics)

    def expect(self, request_id: str, final: Iterable[str] | None = None) -> None:
        """A request went out: events with ``reply_to == request_id`` answer it until one of
        type in ``final`` (the first reply when None) or an ``error``."""
        types = frozenset(final or ())
        self._pending[request_id] = types or None

    def forget(self, request_id: str) -> None:
        """Stop matching replies for ``request_id`` (the caller gave up on it)."""
        self._pending.pop(request_id, None)

    def fail_pending(self) -> list[str]:
        """Every pending request id (no answer will come); forgets them."""
        ids = list(self._pending)
        self._pending.clear()
        return ids

    @property
    def pending(self) -> list[str]:
        return list(self._pending)
