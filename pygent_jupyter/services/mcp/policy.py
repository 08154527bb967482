"""Pure rules of the fleet: the lifecycle state machine, restart backoff, description pins."""

from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "PinChange",
    "RestartPolicy",
    "State",
    "ToolPins",
    "check_transition",
    "tool_fingerprint",
]


class State(str, Enum):
    """A server's lifecycle state, as clients see it in ``mcp_server_status``."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"


_ALLOWED: dict[State, frozenset[State]] = {
    State.STOPPED: frozenset({State.STARTING}),
    State.STARTING: frozenset({State.RUNNING, State.FAILED, State.STOPPED}),
    State.RUNNING: frozenset({State.STOPPED, State.FAILED}),
    State.FAILED: frozenset({State.STARTING, State.STOPPED}),
}


def check_transition(old: State, new: State) -> None:
    """Raise ``ValueError`` unless ``old -> new`` is a legal lifecycle transition."""
    if new not in _ALLOWED[old]:
        raise ValueError(f"illegal MCP server transition {old.value} -> {new.value}")


@dataclass
class RestartPolicy:
    """Exponential backoff between automatic restarts, with a crash-loop cap.

    :meth:`on_failure` records a failure and returns the delay before the next restart, or
    ``None`` once ``max_failures`` failures happened within ``window`` seconds (crash loop:
    stop retrying). :meth:`reset` forgets the history (a manual start does this).
    """

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    max_failures: int = 5
    window: float = 60.0
    failures: deque[float] = field(default_factory=deque)

    def on_failure(self, now: float) -> float | None:
        self.failures.append(now)
        while self.failures and now - self.failures[0] > self.window:
            self.failures.popleft()
        if len(self.failures) >= self.max_failures:
            return None
        return min(self.maximum, self.initial * self.factor ** (len(self.failures) - 1))

    def reset(self) -> None:
        self.failures.clear()


def tool_fingerprint(tool: dict[str, Any]) -> str:
    """SHA-256 of what a model reads about a tool: its name, description and input schema."""
    payload = json.dumps(
        {
            "name": tool.get("name"),
            "description": tool.get("description") or "",
            "input_schema": tool.get("input_schema") or {},
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class PinChange:
    """A tool whose description or schema differs from the one pinned when first seen."""

    server_id: str
    tool: str
    pinned: str
    seen: str


class ToolPins:
    """Trust-on-first-use pins of tool descriptions, keyed by (server id, tool name).

    :meth:`observe` pins unseen tools and returns the tools whose fingerprint changed; a
    changed tool stays *unpinned* (untrusted) until :meth:`accept` re-pins it.
    """

    def __init__(self, pins: dict[tuple[str, str], str] | None = None) -> None:
        self.pins: dict[tuple[str, str], str] = dict(pins or {})
        self.changed: dict[tuple[str, str], str] = {}

    def observe(
        self, server_id: str, tools: list[dict[str, Any]]
    ) -> tuple[dict[tuple[str, str], str], list[PinChange]]:
        """Returns ``(new pins to store, changes)`` for one discovery of ``server_id``."""
        new: dict[tuple[str, str], str] = {}
        changes: list[PinChange] = []
        for tool in tools:
            key = (server_id, str(tool["name"]))
            seen = tool_fingerprint(tool)
            pinned = self.pins.get(key)
            if pinned is None:
                self.pins[key] = new[key] = seen
                self.changed.pop(key, None)
            elif pinned != seen:
                if self.changed.get(key) != seen:
                    changes.append(PinChange(server_id, key[1], pinned, seen))
                self.changed[key] = seen
            else:
                self.changed.pop(key, None)
        return new, changes

    def trusted(self, server_id: str, tool: str) -> bool:
        """True when the tool's current description is the pinned one."""
        return (server_id, tool) in self.pins and (server_id, tool) not in self.changed

    def accept(self, server_id: str) -> dict[tuple[str, str], str]:
        """Re-pin every changed tool of ``server_id``; returns the pins to store."""
        accepted = {k: v for k, v in self.changed.items() if k[0] == server_id}
        for key, value in accepted.items():
            self.pins[key] = value
            del self.changed[key]
        return accepted
