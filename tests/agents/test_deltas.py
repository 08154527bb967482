"""`DeltaSender`: the first delta of a loop turn goes out at once, later ones in the same turn
are joined into one event at the end of the turn."""

from __future__ import annotations

import asyncio
from typing import Any

from pygent_jupyter.services.agents.deltas import DeltaSender


class _Request:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def reply(self, type_: str, data: dict[str, Any]) -> int:
        self.sent.append((type_, data))
        return len(self.sent)


async def test_a_backlog_is_joined_and_a_steady_stream_is_not() -> None:
    request = _Request()
    deltas = DeltaSender(request, "msg-1", "cv-1")  # type: ignore[arg-type]
    deltas.add("a")  # first of the turn: sent now
    assert [d["delta"] for _, d in request.sent] == ["a"]
    deltas.add("b")
    deltas.add("c")  # same turn: held back
    assert len(request.sent) == 1
    await asyncio.sleep(0)  # the turn ends
    assert [d["delta"] for _, d in request.sent] == ["a", "bc"]
    deltas.add("d")  # a new turn: sent now
    deltas.add("e")
    deltas.flush()  # before chat_response: what is held back goes out
    await asyncio.sleep(0)
    deltas.flush()  # nothing left: no empty event
    assert [d["delta"] for _, d in request.sent] == ["a", "bc", "d", "e"]
    assert {t for t, _ in request.sent} == {"chat_stream"}
    assert [d["index"] for _, d in request.sent] == [0, 1, 2, 3]
    assert all(
        d["message_id"] == "msg-1" and d["conversation_id"] == "cv-1" for _, d in request.sent
    )
