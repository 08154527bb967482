"""The catalog of every message type: direction, JSON Schema (draft 2020-12) and example."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .messages import chat, core, evolution, mcp, memory, metrics, notebook, ollama, reasoning
from .spec import CLIENT, LOCAL, SERVER, MessageSpec

__all__ = ["CATALOG", "SCHEMA_DIALECT", "client_types", "schema_document", "server_types"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _build(groups: Iterable[list[MessageSpec]]) -> dict[str, MessageSpec]:
    catalog: dict[str, MessageSpec] = {}
    for group in groups:
        for spec in group:
            if spec.type in catalog:
                raise ValueError(f"message type {spec.type!r} is defined twice")
            catalog[spec.type] = spec
    return catalog


CATALOG: Mapping[str, MessageSpec] = _build(
    [
        core.MESSAGES,
        metrics.MESSAGES,
        chat.MESSAGES,
        reasoning.MESSAGES,
        evolution.MESSAGES,
        memory.MESSAGES,
        mcp.MESSAGES,
        ollama.MESSAGES,
        notebook.MESSAGES,
    ]
)


def client_types() -> list[str]:
    """Types a client may send."""
    return [t for t, s in CATALOG.items() if s.direction == CLIENT]


def server_types() -> list[str]:
    """Types the server (or a client library, for ``local`` ones) emits."""
    return [t for t, s in CATALOG.items() if s.direction in (SERVER, LOCAL)]


def schema_document() -> dict[str, Any]:
    """All schemas as one JSON document, as served by ``GET /pygent/api/schema``."""
    from .._version import PROTOCOL_VERSION, __version__

    return {
        "$schema": SCHEMA_DIALECT,
        "protocol_version": PROTOCOL_VERSION,
        "server_version": __version__,
        "envelope": ENVELOPE_SCHEMA,
        "messages": {
            t: {
                "direction": s.direction,
                "domain": s.domain,
                "lossy": s.lossy,
                "description": s.description,
                "data_schema": {"$schema": SCHEMA_DIALECT, **s.schema},
                "example": s.example,
            }
            for t, s in CATALOG.items()
        },
    }


ENVELOPE_SCHEMA: dict[str, Any] = {
    "$schema": SCHEMA_DIALECT,
    "type": "object",
    "properties": {
        "type": {"type": "string", "minLength": 1, "maxLength": 64},
        "data": {"type": "object"},
        "id": {"type": "string", "minLength": 1, "maxLength": 128},
        "reply_to": {"type": "string"},
        "seq": {"type": "integer", "minimum": 0},
        "ts": {"type": ["string", "number"]},
    },
    "required": ["type"],
    "additionalProperties": False,
}
