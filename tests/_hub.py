"""What the socket-less hub tests share: a transport that records the frames a
:class:`~pygent_jupyter.server.connections.Connection` writes."""

from __future__ import annotations

import json
from typing import Any


class RecordingTransport:
    """Stands in for the WebSocket handler: keeps every frame written, and the close code."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.closed: int | None = None

    async def _written(self) -> None:
        return None

    def write_frames(self, frames: Any) -> Any:
        self.frames.extend(frames)
        return self._written()

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.closed = code

    def events(self) -> list[dict[str, Any]]:
        """Every frame written, decoded."""
        return [json.loads(f) for f in self.frames]

    def replies(self, msg_id: str) -> list[dict[str, Any]]:
        """The decoded frames that answer ``msg_id``."""
        return [e for e in self.events() if e.get("reply_to") == msg_id]
