"""`DeltaSender`: the ``chat_stream`` events of one answer, coalesced per event-loop turn.

The first delta of a loop turn goes out at once (no added latency while the model is slower
than the server); deltas that arrive later in the same turn (a backlog: several chunks read in
one socket read, or a loaded server catching up) are joined into one event at the end of the
turn, so a backlog costs one encode and one frame instead of one per token. ``index`` counts
events (0, 1, 2…); clients concatenate ``delta`` in ``seq`` order.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...hub import Request

__all__ = ["DeltaSender"]


class DeltaSender:
    """Sends ``chat_stream{message_id, delta, conversation_id, index}`` replies to ``request``.

    Call :meth:`flush` before the answer's ``chat_response`` (it sends what is pending).
    """

    def __init__(self, request: Request, message_id: str, conversation_id: str) -> None:
        self._request = request
        self._message_id = message_id
        self._conversation_id = conversation_id
        self._pending: list[str] = []
        self._in_turn = False
        self.events = 0

    def add(self, delta: str) -> None:
        if self._in_turn:
            self._pending.append(delta)
            return
        self._in_turn = True
        asyncio.get_running_loop().call_soon(self._end_turn)
        self._send(delta)

    def flush(self) -> None:
        """Send the deltas held back in this turn, as one event."""
        if self._pending:
            delta = "".join(self._pending)
            self._pending.clear()
            self._send(delta)

    def _end_turn(self) -> None:
        self._in_turn = False
        self.flush()

    def _send(self, delta: str) -> None:
        self._request.reply(
            "chat_stream",
            {
                "message_id": self._message_id,
                "delta": delta,
                "conversation_id": self._conversation_id,
                "index": self.events,
            },
        )
        self.events += 1
