"""The shape of one catalog entry, and small helpers for writing JSON Schemas tersely."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CLIENT",
    "LOCAL",
    "SERVER",
    "MessageSpec",
    "arr",
    "boolean",
    "identifier",
    "integer",
    "number",
    "obj",
    "string",
]

Direction = Literal["client", "server", "local"]
CLIENT: Direction = "client"  # client -> server command
SERVER: Direction = "server"  # server -> client event
LOCAL: Direction = "local"  # raised by a client library itself, never on the wire from the server

Schema = dict[str, Any]


@dataclass(frozen=True)
class MessageSpec:
    """One message type: who sends it, the JSON Schema of its ``data`` and a documented example.

    ``lossy`` events (metrics) may be coalesced: a slow client only gets the latest one.
    ``replay=False`` events are not kept for ``resume`` (token deltas: a later event carries
    their content whole).
    """

    type: str
    direction: Direction
    schema: Schema
    description: str
    example: dict[str, Any]
    lossy: bool = False
    domain: str = "core"
    replay: bool = True
    tags: tuple[str, ...] = field(default_factory=tuple)


def obj(
    properties: dict[str, Schema] | None = None,
    *,
    required: tuple[str, ...] | list[str] = (),
    additional: bool | Schema = False,
    **extra: Any,
) -> Schema:
    """An object schema; unknown properties are rejected unless ``additional`` says otherwise."""
    schema: Schema = {"type": "object", "properties": properties or {}}
    if required:
        schema["required"] = list(required)
    schema["additionalProperties"] = additional
    schema.update(extra)
    return schema


def string(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def identifier(**extra: Any) -> Schema:
    """An id a client sends back (request, run, conversation): 1 to 128 characters."""
    return string(minLength=1, maxLength=128, **extra)


def integer(**extra: Any) -> Schema:
    return {"type": "integer", **extra}


def number(**extra: Any) -> Schema:
    return {"type": "number", **extra}


def boolean(**extra: Any) -> Schema:
    return {"type": "boolean", **extra}


def arr(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}
